
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis_int.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The Redis client (itsm_redis).  hiredis 0.14 (Debian 12) parses and
 * queues; this file gives it nginx's event loop:
 *
 *   - hiredis' addRead/delRead/addWrite/delWrite/cleanup hooks act on an
 *     ngx_connection_t taken for the context's fd, whose read and write
 *     handlers call redisAsyncHandleRead/Write;
 *   - a host name is resolved by nginx's resolver (hiredis' own connect
 *     would call getaddrinfo(), which blocks the worker), and hiredis is
 *     given the address;
 *   - hiredis' async API has no timeouts: the connect (resolve, connect,
 *     AUTH, SELECT) and each command have an nginx timer; a command that
 *     times out is answered with an error and the connection is dropped,
 *     so that its late reply can never reach a caller that went away;
 *   - a connection lost is opened again after a backoff.
 *
 * Each worker records its PINGs' outcome in a small shared zone, which the
 * status page reads.
 */


static void ngx_http_itsm_redis_connect(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_itsm_redis_connect_to(ngx_http_itsm_redis_t *rd,
    const char *ip);
static ngx_int_t ngx_http_itsm_redis_attach(ngx_http_itsm_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_itsm_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_itsm_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_itsm_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_itsm_redis_ready(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_lost(redisAsyncContext *ac);
static void ngx_http_itsm_redis_fail(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_fail_waiting(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_free_cmd(ngx_http_itsm_redis_cmd_t *cmd);
static void ngx_http_itsm_redis_sent(ngx_http_itsm_redis_cmd_t *cmd);
static void ngx_http_itsm_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_itsm_redis_retry(ngx_event_t *ev);
static void ngx_http_itsm_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_itsm_redis_add_read(void *privdata);
static void ngx_http_itsm_redis_del_read(void *privdata);
static void ngx_http_itsm_redis_add_write(void *privdata);
static void ngx_http_itsm_redis_del_write(void *privdata);
static void ngx_http_itsm_redis_cleanup(void *privdata);
static void ngx_http_itsm_redis_read_handler(ngx_event_t *ev);
static void ngx_http_itsm_redis_write_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_itsm_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_itsm_redis_t *rd)
{
    if (rd == NULL) {
        return NGX_OK;
    }

    rd->log = cycle->log;
    rd->running = 1;
    rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
    rd->backoff = NGX_HTTP_ITSM_REDIS_BACKOFF_MIN;
    rd->error.data = rd->error_buf;
    rd->error.len = 0;

    ngx_queue_init(&rd->waiting);

    /* no timer of the client keeps a worker that is shutting down alive */

    rd->connect_timer.handler = ngx_http_itsm_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;

    rd->retry_timer.handler = ngx_http_itsm_redis_retry;
    rd->retry_timer.data = rd;
    rd->retry_timer.log = cycle->log;
    rd->retry_timer.cancelable = 1;

    rd->ping_timer.handler = ngx_http_itsm_redis_ping;
    rd->ping_timer.data = rd;
    rd->ping_timer.log = cycle->log;
    rd->ping_timer.cancelable = 1;

    /* the connection is opened from the event loop, once it runs */

    ngx_add_timer(&rd->retry_timer, 1);
    ngx_add_timer(&rd->ping_timer, rd->ping);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "itsm redis: worker client for \"%V\"", &rd->address);

    return NGX_OK;
}


void
ngx_http_itsm_redis_exit_process(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext  *ac;

    if (rd == NULL || !rd->running) {
        return;
    }

    rd->running = 0;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: worker exits, closing");

    ngx_http_itsm_redis_set_error(rd, "nginx is exiting");

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->retry_timer.timer_set) {
        ngx_del_timer(&rd->retry_timer);
    }

    if (rd->ping_timer.timer_set) {
        ngx_del_timer(&rd->ping_timer);
    }

    if (rd->resolving) {
        ngx_resolve_name_done(rd->resolving);
        rd->resolving = NULL;
    }

    ngx_http_itsm_redis_fail_waiting(rd);

    ac = rd->ac;

    if (ac) {
        /* hiredis answers what it holds with NULL: see ..._reply() */
        rd->ac = NULL;
        rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
        redisAsyncFree(ac);
    }
}


/* the retry timer: (re)open the connection */

static void
ngx_http_itsm_redis_retry(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    if (!rd->running || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_itsm_redis_connect(rd);
}


static void
ngx_http_itsm_redis_connect(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext   *ac;
    ngx_resolver_ctx_t  *ctx;

    if (rd->state != NGX_HTTP_ITSM_REDIS_IDLE) {
        return;
    }

    ngx_add_timer(&rd->connect_timer, rd->connect_timeout);

    if (rd->unix_path.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: connect to unix:%s", rd->unix_path.data);

        rd->state = NGX_HTTP_ITSM_REDIS_CONNECTING;

        ac = redisAsyncConnectUnix((char *) rd->unix_path.data);

        if (ngx_http_itsm_redis_attach(rd, ac) != NGX_OK) {
            ngx_http_itsm_redis_fail(rd);
        }

        return;
    }

    if (rd->literal) {
        ngx_http_itsm_redis_connect_to(rd, (char *) rd->host.data);
        return;
    }

    /* a host name: nginx's resolver, never hiredis' getaddrinfo() */

    ctx = ngx_resolve_start(rd->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\": no "
                                      "resolver", &rd->host);
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    ctx->name = rd->host;
    ctx->handler = ngx_http_itsm_redis_resolved;
    ctx->data = rd;
    ctx->timeout = rd->resolver_timeout;

    rd->state = NGX_HTTP_ITSM_REDIS_RESOLVING;
    rd->resolving = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: resolving \"%V\"", &rd->host);

    /* the handler may have run already, from the resolver's cache */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        rd->resolving = NULL;
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\"",
                                      &rd->host);
        ngx_http_itsm_redis_fail(rd);
    }
}


static void
ngx_http_itsm_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_itsm_redis_t *rd = ctx->data;

    u_char  text[NGX_SOCKADDR_STRLEN + 1];
    size_t  len;

    rd->resolving = NULL;

    if (ctx->state) {
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\": %s",
                                      &rd->host,
                                      ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    /* the first address; a lost connection resolves again */

    len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);
    text[len] = '\0';

    ngx_resolve_name_done(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: \"%V\" is %s", &rd->host, text);

    ngx_http_itsm_redis_connect_to(rd, (char *) text);
}


static void
ngx_http_itsm_redis_connect_to(ngx_http_itsm_redis_t *rd, const char *ip)
{
    redisAsyncContext  *ac;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: connect to %s port %d", ip, (int) rd->port);

    rd->state = NGX_HTTP_ITSM_REDIS_CONNECTING;

    /* an IP address: hiredis' getaddrinfo() does not block on it */

    ac = redisAsyncConnect(ip, rd->port);

    if (ngx_http_itsm_redis_attach(rd, ac) != NGX_OK) {
        ngx_http_itsm_redis_fail(rd);
    }
}


/* hiredis' context on an nginx connection */

static ngx_int_t
ngx_http_itsm_redis_attach(ngx_http_itsm_redis_t *rd, redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    if (ac == NULL) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: no free "
                                      "connection (worker_connections)");
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_itsm_redis_read_handler;
    c->write->handler = ngx_http_itsm_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_itsm_redis_add_read;
    ac->ev.delRead = ngx_http_itsm_redis_del_read;
    ac->ev.addWrite = ngx_http_itsm_redis_add_write;
    ac->ev.delWrite = ngx_http_itsm_redis_del_write;
    ac->ev.cleanup = ngx_http_itsm_redis_cleanup;

    rd->ac = ac;

    /* the connect's end is the first write event (hiredis' addWrite here) */

    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_itsm_redis_disconnected);
    (void) redisAsyncSetConnectCallback(ac, ngx_http_itsm_redis_connected);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: connecting on fd %d, connection %p",
                   ac->c.fd, c);

    return NGX_OK;
}


static void
ngx_http_itsm_redis_connected(const redisAsyncContext *cac, int status)
{
    redisAsyncContext  *ac = (redisAsyncContext *) cac;

    ngx_http_itsm_redis_t  *rd;

    rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        rd->ac = NULL;
        ngx_http_itsm_redis_set_error(rd, "cannot connect: %s",
                                      ac->errstr[0] ? ac->errstr : "failed");
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0, "itsm redis: connected");

    /* AUTH and SELECT before anything else: queued commands wait */

    rd->state = NGX_HTTP_ITSM_REDIS_HANDSHAKE;
    rd->handshake = 0;

    if (rd->password.len) {
        if (redisAsyncCommand(ac, ngx_http_itsm_redis_handshake, rd,
                              "AUTH %b", rd->password.data,
                              rd->password.len)
            != REDIS_OK)
        {
            goto failed;
        }

        rd->handshake++;
    }

    if (rd->db) {
        if (redisAsyncCommand(ac, ngx_http_itsm_redis_handshake, rd,
                              "SELECT %d", (int) rd->db)
            != REDIS_OK)
        {
            goto failed;
        }

        rd->handshake++;
    }

    if (rd->handshake == 0) {
        ngx_http_itsm_redis_ready(rd);
    }

    return;

failed:

    ngx_http_itsm_redis_set_error(rd, "cannot send the handshake: %s",
                                  ac->errstr[0] ? ac->errstr : "failed");
    ngx_http_itsm_redis_drop(rd);
}


static void
ngx_http_itsm_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_itsm_redis_t  *rd;

    rd = ac->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: disconnected, status %d", status);

    ngx_http_itsm_redis_lost((redisAsyncContext *) ac);
}


/* the replies to AUTH and SELECT */

static void
ngx_http_itsm_redis_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_itsm_redis_t *rd = privdata;

    redisReply  *reply = r;

    if (rd->ac != ac) {
        return;
    }

    if (reply == NULL) {
        ngx_http_itsm_redis_lost(ac);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* the password is never part of the message */

        ngx_http_itsm_redis_set_error(rd, "%s failed: %*s",
                                      (rd->password.len && rd->handshake
                                       == (ngx_uint_t) (rd->db ? 2 : 1))
                                      ? "AUTH" : "SELECT",
                                      (size_t) reply->len, reply->str);
        ngx_http_itsm_redis_drop(rd);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: handshake step done, %ui left",
                   rd->handshake - 1);

    if (--rd->handshake == 0) {
        ngx_http_itsm_redis_ready(rd);
    }
}


/* the connection is usable: what waited goes, and a first PING */

static void
ngx_http_itsm_redis_ready(ngx_http_itsm_redis_t *rd)
{
    ngx_queue_t                *q;
    ngx_http_itsm_redis_cmd_t  *cmd;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->state = NGX_HTTP_ITSM_REDIS_READY;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0, "itsm redis: ready");

    while (!ngx_queue_empty(&rd->waiting) && rd->ac) {
        q = ngx_queue_head(&rd->waiting);
        cmd = ngx_queue_data(q, ngx_http_itsm_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (redisAsyncFormattedCommand(rd->ac, ngx_http_itsm_redis_reply, cmd,
                                       cmd->text, cmd->len)
            != REDIS_OK)
        {
            ngx_queue_insert_head(&rd->waiting, q);
            ngx_http_itsm_redis_set_error(rd, "cannot send a command");
            ngx_http_itsm_redis_drop(rd);
            return;
        }

        ngx_http_itsm_redis_sent(cmd);
    }

    if (rd->ping_cmd == NULL) {
        ngx_http_itsm_redis_ping(&rd->ping_timer);
    }

    /* which Redis this is, once per connection: it may be another one */

    ngx_http_itsm_redis_version_ask(rd);
}


/* a command's answer from hiredis, or NULL when hiredis lets it go */

void
ngx_http_itsm_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_itsm_redis_cmd_t *cmd = privdata;

    redisReply                      *reply = r;
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;

    rd = cmd->rd;

    if (reply == NULL && rd->ac == ac) {
        /* the connection is going: the error for this command and others */
        ngx_http_itsm_redis_lost(ac);
    }

    /*
     * EVALSHA of a script that this Redis does not have (restarted, failed
     * over, SCRIPT FLUSH): the same command again as EVAL, which loads it
     * for the next ones; the caller sees only the second answer, within
     * the same timeout.  A command without a handler (written and
     * forgotten, or cancelled) is sent again too: EVAL would have run it.
     */

    if (reply && cmd->script && rd->ac == ac
        && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        if (ngx_http_itsm_redis_script_again(cmd) == NGX_OK) {
            return;
        }
    }

    handler = cmd->handler;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    cmd->handler = NULL;

    /* cancelled or timed out: its caller is gone, the reply is dropped */

    if (handler) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: reply %p to command %p", reply, cmd);

        if (reply) {
            handler(cmd->data, reply, NULL);

        } else {
            handler(cmd->data, NULL, &rd->error);
        }
    }

    ngx_http_itsm_redis_free_cmd(cmd);
}


/*
 * hiredis found the connection broken (or gave up on it): the first of its
 * callbacks to run records why; the others see it is no longer rd->ac.
 */

static void
ngx_http_itsm_redis_lost(redisAsyncContext *ac)
{
    ngx_http_itsm_redis_t *rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    rd->ac = NULL;

    ngx_http_itsm_redis_set_error(rd, "connection lost: %s",
                                  ac->err && ac->errstr[0]
                                  ? ac->errstr : "closed by the server");
    ngx_http_itsm_redis_fail(rd);
}


/* we drop the connection (timeout, a failed AUTH): the error is set */

void
ngx_http_itsm_redis_drop(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext  *ac;

    ac = rd->ac;
    rd->ac = NULL;

    ngx_http_itsm_redis_fail(rd);

    if (ac) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: dropping context %p", ac);

        /* within a hiredis callback, hiredis frees it when that returns */
        redisAsyncFree(ac);
    }
}


/*
 * Down, rd->error says why: the commands that waited are answered, the
 * status page says so, and a reconnect is due after the backoff.
 */

static void
ngx_http_itsm_redis_fail(ngx_http_itsm_redis_t *rd)
{
    ngx_uint_t  level;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->resolving) {
        ngx_resolve_name_done(rd->resolving);
        rd->resolving = NULL;
    }

    rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
    rd->ping_cmd = NULL;
    rd->alive = 0;

    /* once a line at error level per outage; the retries at info */

    level = rd->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, rd->log, 0,
                  "%V; reconnecting in %Mms", &rd->error, rd->backoff);

    rd->down = 1;

    ngx_http_itsm_redis_health_down(rd);

    if (rd->running && !ngx_exiting) {
        if (rd->retry_timer.timer_set) {
            ngx_del_timer(&rd->retry_timer);
        }

        ngx_add_timer(&rd->retry_timer, rd->backoff);

        rd->backoff = ngx_min(rd->backoff * 2,
                              NGX_HTTP_ITSM_REDIS_BACKOFF_MAX);
    }

    ngx_http_itsm_redis_fail_waiting(rd);
}


void
ngx_http_itsm_redis_set_error(ngx_http_itsm_redis_t *rd, const char *fmt,
    ...)
{
    u_char   *p, *last;
    va_list   args;

    p = rd->error_buf;
    last = rd->error_buf + NGX_HTTP_ITSM_REDIS_ERROR_LEN;

    p = ngx_slprintf(p, last, "redis %V: ", &rd->address);

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    rd->error.data = rd->error_buf;
    rd->error.len = p - rd->error_buf;
}


/* the commands that never reached hiredis: answered with rd->error */

static void
ngx_http_itsm_redis_fail_waiting(ngx_http_itsm_redis_t *rd)
{
    ngx_queue_t                     *q;
    ngx_http_itsm_redis_cmd_t       *cmd;
    ngx_http_itsm_redis_handler_pt   handler;

    while (!ngx_queue_empty(&rd->waiting)) {
        q = ngx_queue_head(&rd->waiting);
        cmd = ngx_queue_data(q, ngx_http_itsm_redis_cmd_t, queue);

        ngx_queue_remove(q);

        handler = cmd->handler;
        cmd->handler = NULL;

        if (handler) {
            handler(cmd->data, NULL, &rd->error);
        }

        ngx_http_itsm_redis_free_cmd(cmd);
    }
}


static void
ngx_http_itsm_redis_free_cmd(ngx_http_itsm_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->text) {
        redisFreeCommand(cmd->text);
    }

    ngx_free(cmd);
}


ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_redis_command(ngx_http_itsm_redis_t *rd,
    ngx_http_itsm_redis_handler_pt handler, void *data, const char *fmt, ...)
{
    int       len;
    char     *text;
    va_list   args;

    if (rd == NULL || !rd->running) {
        return NULL;
    }

    /* known down: the caller answers now rather than after a timeout */

    if (rd->state == NGX_HTTP_ITSM_REDIS_IDLE) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: command refused, down: %V", &rd->error);
        return NULL;
    }

    va_start(args, fmt);
    len = redisvFormatCommand(&text, fmt, args);
    va_end(args);

    if (len < 0) {
        return NULL;
    }

    return ngx_http_itsm_redis_send(rd, handler, data, NULL, text, len);
}


/*
 * A formatted command (hiredis' redisvFormatCommand(), which "text" is
 * freed with, here, whatever happens), sent now or queued until the
 * connection is ready; "script": see ngx_http_itsm_redis_script.c.
 */

ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_redis_send(ngx_http_itsm_redis_t *rd,
    ngx_http_itsm_redis_handler_pt handler, void *data,
    ngx_http_itsm_redis_script_t *script, char *text, size_t len)
{
    ngx_http_itsm_redis_cmd_t  *cmd;

    cmd = ngx_calloc(sizeof(ngx_http_itsm_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        redisFreeCommand(text);
        return NULL;
    }

    cmd->rd = rd;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->text = text;
    cmd->len = len;

    cmd->timer.handler = ngx_http_itsm_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;
    cmd->timer.cancelable = 1;

    if (rd->state != NGX_HTTP_ITSM_REDIS_READY) {
        ngx_queue_insert_tail(&rd->waiting, &cmd->queue);

    } else {
        if (redisAsyncFormattedCommand(rd->ac, ngx_http_itsm_redis_reply, cmd,
                                       text, len)
            != REDIS_OK)
        {
            ngx_http_itsm_redis_free_cmd(cmd);
            return NULL;
        }

        ngx_http_itsm_redis_sent(cmd);
    }

    ngx_add_timer(&cmd->timer, rd->timeout);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: command %p, %uz bytes, %s", cmd, len,
                   cmd->sent ? "sent" : "waits for the connection");

    return cmd;
}


/* hiredis has a copy: ours goes, unless a NOSCRIPT answer may need it */

static void
ngx_http_itsm_redis_sent(ngx_http_itsm_redis_cmd_t *cmd)
{
    if (cmd->script == NULL) {
        redisFreeCommand(cmd->text);
        cmd->text = NULL;
    }

    cmd->sent = 1;
}


void
ngx_http_itsm_redis_cancel(ngx_http_itsm_redis_cmd_t *cmd)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cmd->rd->log, 0,
                   "itsm redis: command %p cancelled", cmd);

    cmd->handler = NULL;
    cmd->data = NULL;

    if (cmd->sent) {
        /* hiredis holds it: ..._reply() frees it, whatever comes */

        if (cmd->timer.timer_set) {
            ngx_del_timer(&cmd->timer);
        }

        return;
    }

    ngx_queue_remove(&cmd->queue);
    ngx_http_itsm_redis_free_cmd(cmd);
}


ngx_str_t *
ngx_http_itsm_redis_error(ngx_http_itsm_redis_t *rd)
{
    return &rd->error;
}


ngx_str_t *
ngx_http_itsm_redis_prefix(ngx_http_itsm_redis_t *rd)
{
    return &rd->prefix;
}


ngx_msec_t
ngx_http_itsm_redis_timeout(ngx_http_itsm_redis_t *rd)
{
    return rd->timeout;
}


/*
 * A command that timed out: its caller gets the error now; the connection
 * is dropped, since its reply may still come and the replies after it
 * would be taken for the wrong commands.
 */

static void
ngx_http_itsm_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_itsm_redis_cmd_t *cmd = ev->data;

    void                            *data;
    ngx_str_t                        error;
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;
    u_char                           buf[NGX_HTTP_ITSM_REDIS_ERROR_LEN];

    rd = cmd->rd;
    handler = cmd->handler;
    data = cmd->data;

    cmd->handler = NULL;

    ngx_http_itsm_redis_set_error(rd, "timed out after %Mms", rd->timeout);

    /* the error of this command, whatever the drop writes over rd->error */

    error.len = ngx_min(rd->error.len, sizeof(buf));
    error.data = ngx_cpymem(buf, rd->error.data, error.len) - error.len;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: command %p timed out", cmd);

    if (cmd->sent) {
        /* frees cmd: hiredis calls ..._reply() with NULL */
        ngx_http_itsm_redis_drop(rd);

    } else {
        ngx_queue_remove(&cmd->queue);
        ngx_http_itsm_redis_free_cmd(cmd);
    }

    if (handler) {
        handler(data, NULL, &error);
    }
}


static void
ngx_http_itsm_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    ngx_http_itsm_redis_set_error(rd, "%s timed out after %Mms",
                                  rd->state == NGX_HTTP_ITSM_REDIS_RESOLVING
                                  ? "resolving" :
                                  rd->state == NGX_HTTP_ITSM_REDIS_HANDSHAKE
                                  ? "AUTH/SELECT" : "connect",
                                  rd->connect_timeout);
    ngx_http_itsm_redis_drop(rd);
}

/*
 * The adapter.  Level-triggered events, not nginx's usual edge-triggered
 * ones: hiredis reads at most 16 KB per redisAsyncHandleRead() and tells
 * nothing of EAGAIN, so an edge could be consumed with replies left in the
 * socket; a level event comes back until hiredis has read them all, and
 * delWrite stops the write event once its buffer is sent.
 */

static void
ngx_http_itsm_redis_add_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->read->active
        && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "itsm redis: cannot add the read event");
    }
}


static void
ngx_http_itsm_redis_del_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_itsm_redis_add_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->write->active
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "itsm redis: cannot add the write event");
    }
}


static void
ngx_http_itsm_redis_del_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is freeing its context (and closes the fd after this): the
 * nginx connection goes, without a close of its own.
 */

static void
ngx_http_itsm_redis_cleanup(void *privdata)
{
    ngx_connection_t *c = privdata;

    redisAsyncContext  *ac;

    ac = c->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm redis: cleanup of connection %p", c);

    ngx_http_itsm_redis_lost(ac);

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ac->ev.data = NULL;
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;

    ngx_free_connection(c);

    /* hiredis closes the fd; nginx's exit check must not see it open */
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_http_itsm_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "itsm redis: readable");

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_itsm_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "itsm redis: writable");

    redisAsyncHandleWrite(c->data);
}
