
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_history.h"
#include "ngx_http_itsm_verify.h"
#include "ngx_http_itsm_store_queue.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>


/*
 * Deliveries that outlive the alert's request: an update coalesced within
 * a cooldown waits in the store (pending table) with the alert's latest
 * state, and is sent when it is due.  nginx cannot make a subrequest
 * without a client request, so a worker's timer (ngx_http_itsm_kick.c)
 * makes a small local request to the replay location ("itsm_replay"),
 * which runs the alert through the same handler and subrequest path as any
 * other: one delivery path, one place where ITSM transport is configured.
 *
 * The replay location only answers requests that carry the token of this
 * nginx instance, made at start: it must not be reachable from outside
 * anyway (listen on a unix socket or on loopback).
 */


#define NGX_HTTP_ITSM_QUEUE_TOKEN_LEN  32

/* the most dead letters GET lists (all are counted) */
#define NGX_HTTP_ITSM_QUEUE_DEAD_MAX   1000


typedef struct {
    ngx_http_request_t          *request;
    json_t                      *list;
    ngx_str_t                    history;      /* its tail */
    ngx_uint_t                   count;
    ngx_int_t                    rc;
} ngx_http_itsm_queue_dead_t;


/* itsm_requeue on Redis: the request waits for Redis' answer */

typedef struct ngx_http_itsm_queue_rwait_s  ngx_http_itsm_queue_rwait_t;

typedef ngx_int_t (*ngx_http_itsm_queue_rdone_pt)(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, redisReply *reply);

struct ngx_http_itsm_queue_rwait_s {
    ngx_http_request_t            *request;
    ngx_http_itsm_redis_cmd_t     *cmd;        /* in flight */
    ngx_http_itsm_queue_rdone_pt   done;
    ngx_http_itsm_queue_dead_t     dl;         /* GET */
    json_t                        *body;
};


static ngx_int_t ngx_http_itsm_queue_handler(ngx_http_request_t *r);
static ngx_http_itsm_queue_rwait_t *ngx_http_itsm_queue_redis_waiter(
    ngx_http_request_t *r, ngx_http_itsm_queue_rdone_pt done);
static ngx_int_t ngx_http_itsm_queue_redis_wait(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, ngx_http_itsm_redis_cmd_t *cmd);
static void ngx_http_itsm_queue_redis_cleanup(void *data);
static void ngx_http_itsm_queue_redis_answer(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_queue_requeued(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, redisReply *reply);
static ngx_int_t ngx_http_itsm_queue_listed(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, redisReply *reply);
static void ngx_http_itsm_queue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_queue_replay(ngx_http_request_t *r);
static ngx_http_itsm_alert_t *ngx_http_itsm_queue_alert(ngx_http_request_t *r,
    ngx_str_t *text, ngx_uint_t *live);
static char *ngx_http_itsm_queue_location(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_handler_pt handler, const char *what);
static ngx_int_t ngx_http_itsm_queue_requeue_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_queue_dead_list(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_queue_dead_one(void *data, ngx_str_t *stored,
    ngx_uint_t attempts);


static u_char  ngx_http_itsm_queue_token[NGX_HTTP_ITSM_QUEUE_TOKEN_LEN * 2];


/* at load, in the master: the workers it starts share the token */

ngx_int_t
ngx_http_itsm_queue_init_token(ngx_cycle_t *cycle)
{
    u_char  raw[NGX_HTTP_ITSM_QUEUE_TOKEN_LEN];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm: RAND_bytes() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(ngx_http_itsm_queue_token, raw, sizeof(raw));

    return NGX_OK;
}


ngx_str_t *
ngx_http_itsm_queue_token_value(void)
{
    static ngx_str_t  token;

    token.data = ngx_http_itsm_queue_token;
    token.len = sizeof(ngx_http_itsm_queue_token);

    return &token;
}


/* itsm_replay_url http://127.0.0.1:PORT/URI | unix:/PATH.sock:/URI; */

char *
ngx_http_itsm_queue_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (imcf->replay_url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        p = value[1].data + 5;
        last = value[1].data + value[1].len;

        p = ngx_strlchr(p, last, ':');

        if (p == NULL || p + 1 == last || p[1] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid itsm_replay_url \"%V\"; use "
                               "unix:/path/to.sock:/uri", &value[1]);
            return NGX_CONF_ERROR;
        }

        imcf->replay_socket.data = value[1].data + 5;
        imcf->replay_socket.len = p - imcf->replay_socket.data;

        /* curl wants a URL: the host is not used over a unix socket */

        imcf->replay_url.len = sizeof("http://localhost") - 1 + (last - p - 1);
        imcf->replay_url.data = ngx_pnalloc(cf->pool, imcf->replay_url.len + 1);
        if (imcf->replay_url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(imcf->replay_url.data, "http://localhost%*s%Z",
                    (size_t) (last - p - 1), p + 1);

        /* curl wants the path as a C string: a copy with its zero */

        p = ngx_pnalloc(cf->pool, imcf->replay_socket.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, imcf->replay_socket.data, imcf->replay_socket.len);
        p[imcf->replay_socket.len] = '\0';
        imcf->replay_socket.data = p;

        return NGX_CONF_OK;
    }

    if (value[1].len < sizeof("http://x/") - 1
        || ngx_strncmp(value[1].data, "http://", 7) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid itsm_replay_url \"%V\"; use "
                           "http://127.0.0.1:PORT/uri or "
                           "unix:/path/to.sock:/uri", &value[1]);
        return NGX_CONF_ERROR;
    }

    imcf->replay_url = value[1];

    return NGX_CONF_OK;
}


/* itsm_replay; */

char *
ngx_http_itsm_queue_replay_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_itsm_queue_location(cf, cmd, ngx_http_itsm_queue_handler,
                                        "delivers what waits in the store");
}


/* a location whose content handler works on the store */

static char *
ngx_http_itsm_queue_location(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_handler_pt handler, const char *what)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (imcf->store == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" %s: declare \"itsm_store\" at http "
                           "level before it", &cmd->name, what);
        return NGX_CONF_ERROR;
    }

    return ngx_http_itsm_conf_content(cf, handler);
}


static ngx_int_t
ngx_http_itsm_queue_handler(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_str_t        *token;
    ngx_table_elt_t  *h;

    if (r != r->main || r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    token = ngx_http_itsm_queue_token_value();
    h = ngx_http_itsm_util_header(r, "X-Itsm-Replay-Token");

    if (h == NULL
        || h->value.len != token->len
        || CRYPTO_memcmp(h->value.data, token->data, token->len) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_itsm_reply_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                         "the replay location only answers "
                                         "this nginx's own requests");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_itsm_queue_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_itsm_queue_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_itsm_queue_replay(r);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/* body: {"connector": NAME, "key": KEY}, or {"verify": NAME} */

static ngx_int_t
ngx_http_itsm_queue_replay(ngx_http_request_t *r)
{
    off_t                       len;
    json_t                     *doc, *verify;
    time_t                      due;
    ngx_int_t                   rc;
    ngx_str_t                   text, name, key, saved;
    ngx_uint_t                  attempts, live;
    json_error_t                err;
    ngx_http_itsm_source_e      source;
    ngx_http_itsm_ctx_t        *ctx;
    ngx_http_itsm_alert_t      *alert, **a;
    ngx_array_t                *connectors;
    ngx_http_itsm_loc_conf_t   *conf;
    ngx_http_itsm_connector_t  *conn, **cp;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    /* on Redis the body carries the job whole (notes held in a cooldown
     * make it long): in several buffers, or in a file past
     * client_body_buffer_size.  No limit but the token's: only this
     * nginx's kick sends here */

    rc = ngx_http_itsm_util_body(r, NGX_MAX_SIZE_T_VALUE, &text, &len);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_HTTP_BAD_REQUEST : rc;
    }

    if (text.len == 0) {
        return NGX_HTTP_BAD_REQUEST;
    }

    doc = json_loadb((const char *) text.data, text.len, 0, &err);
    if (doc == NULL) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, doc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* {"verify": NAME}: the connector's verify probe (..._verify.c) */

    verify = json_object_get(doc, "verify");

    if (ngx_http_itsm_json_scalar(verify ? verify
                                         : json_object_get(doc, "connector"),
                                  r->pool, &name)
        != NGX_OK
        || (verify == NULL
            && ngx_http_itsm_json_scalar(json_object_get(doc, "key"),
                                         r->pool, &key)
               != NGX_OK))
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    conn = ngx_http_itsm_conn_find(imcf, &name);
    if (conn == NULL) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_NOT_FOUND,
                                         "unknown_connector",
                                         "no connector \"%V\" (any more)",
                                         &name);
    }

    if (verify) {
        return ngx_http_itsm_verify_replay(r, conn);
    }

    if (ngx_http_itsm_store_on_redis(imcf->store)) {

        /* the kick took the job from Redis with its lease and sends it
         * whole: {"connector", "key", "job": "<JSON>", "attempts": N};
         * a body without one is no job (nothing is read here) */

        if (ngx_http_itsm_json_scalar(json_object_get(doc, "job"), r->pool,
                                      &saved)
            != NGX_OK)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

        attempts = (ngx_uint_t) json_integer_value(json_object_get(doc,
                                                               "attempts"));

    } else if (ngx_http_itsm_store_pending_get(imcf->store, &conn->name,
                                               &key, r->pool, &due,
                                               &attempts, &saved)
               != NGX_OK)
    {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_OK, "nothing_pending",
                                         "nothing waits for key \"%V\"",
                                         &key);
    }

    alert = ngx_http_itsm_queue_alert(r, &saved, &live);
    if (alert == NULL) {
        /* unreadable: dropped rather than retried for ever */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the pending state of key \"%V\" is unreadable "
                      "and is dropped", &key);
        if (!ngx_http_itsm_store_on_redis(imcf->store)) {
            (void) ngx_http_itsm_store_pending_del(imcf->store, &conn->name,
                                                   &key);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* on Redis the kick removes it: a 2xx says the job is done with */
        return ngx_http_itsm_reply_error(r, NGX_HTTP_OK, "unreadable",
                                         "the job of key \"%V\" is "
                                         "unreadable and is dropped", &key);
    }

    /* the held alert goes to the one connector it waits for, as the alert
     * of its own source; the replay location's settings (Retry-After)
     * stand for the endpoint's */

    conf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    connectors = ngx_array_create(r->pool, 1,
                                  sizeof(ngx_http_itsm_connector_t *));
    if (connectors == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cp = ngx_array_push(connectors);
    if (cp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *cp = conn;

    if (ngx_http_itsm_names_source(&alert->fields[NGX_HTTP_ITSM_FIELD_SOURCE],
                                   &source)
        != NGX_OK)
    {
        source = conf->source;
    }

    ctx = ngx_http_itsm_pipeline_ctx(r, conf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->replay = 1;
    ctx->attempt = attempts + 1;
    ctx->notes_only = live ? 0 : 1;

    a = ngx_array_push(&ctx->alerts);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *a = alert;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: delivering the pending state of key \"%V\" "
                  "(attempt %ui)", &key, attempts + 1);

    return ngx_http_itsm_pipeline_start(r, ctx, connectors, source);
}


static ngx_http_itsm_alert_t *
ngx_http_itsm_queue_alert(ngx_http_request_t *r, ngx_str_t *text,
    ngx_uint_t *live)
{
    json_t                 *doc, *fields, *v;
    ngx_uint_t              i;
    json_error_t            err;
    ngx_http_itsm_alert_t  *alert;

    doc = json_loadb((const char *) text->data, text->len, 0, &err);
    if (doc == NULL) {
        return NULL;
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, doc) != NGX_OK) {
        return NULL;
    }

    fields = json_object_get(doc, "fields");
    if (!json_is_object(fields)) {
        return NULL;
    }

    alert = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_alert_t));
    if (alert == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
        v = json_object_get(fields,
                            (const char *) ngx_http_itsm_field_names[i].data);

        if (v && ngx_http_itsm_json_scalar(v, r->pool, &alert->fields[i])
                 == NGX_ERROR)
        {
            return NULL;
        }
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len == 0) {
        return NULL;
    }

    alert->state = json_integer_value(json_object_get(doc, "state"))
                   ? NGX_HTTP_ITSM_RESOLVED : NGX_HTTP_ITSM_FIRING;

    v = json_object_get(doc, "raw");
    alert->raw = v ? v : doc;

    *live = ngx_http_itsm_held_live(doc);

    return alert;
}


/* itsm_retry [attempts=N] [backoff=TIME] [max=TIME]; */

char *
ngx_http_itsm_queue_retry_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    time_t      *t;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }

            imcf->attempts = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "backoff=", 8) == 0) {
            t = &imcf->backoff;
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

        } else if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            t = &imcf->backoff_max;
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

        } else {
            goto invalid;
        }

        *t = ngx_parse_time(&s, 1);

        if (*t == (time_t) NGX_ERROR || *t < 1) {
            goto invalid;
        }
    }

    if (imcf->backoff > imcf->backoff_max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"itsm_retry\": backoff= is longer than max=");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"itsm_retry\"; expected "
                       "attempts=N (at least 1), backoff=TIME, max=TIME, "
                       "e.g. attempts=30 backoff=30s max=1h", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * itsm_requeue: the dead letters, for operators.  GET lists them (the
 * connector, the key, the attempts, and the last failed request of the
 * delivery history when there is one: what the ITSM said); POST puts them
 * back in the queue, due now, with their attempts counted from zero: all
 * of them, or those of ?connector= and ?key=; the answer says how many.
 * Like the status page, a location to restrict to operators.
 */

char *
ngx_http_itsm_queue_requeue_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_itsm_queue_location(cf, cmd,
                                        ngx_http_itsm_queue_requeue_handler,
                                        "acts on the store's dead letters");
}


static ngx_int_t
ngx_http_itsm_queue_requeue_handler(ngx_http_request_t *r)
{
    json_t                        *body;
    ngx_int_t                      rc;
    ngx_str_t                      connector, key;
    ngx_uint_t                     n;
    ngx_http_itsm_main_conf_t     *imcf;
    ngx_http_itsm_queue_rwait_t   *w;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_itsm_queue_dead_list(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                         "method_not_allowed",
                                         "GET lists the dead letters, POST "
                                         "puts them back in the queue");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    if (ngx_http_itsm_util_arg(r, "connector", &connector) != NGX_OK
        || ngx_http_itsm_util_arg(r, "key", &key) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_itsm_store_on_redis(imcf->store)) {
        w = ngx_http_itsm_queue_redis_waiter(r,
                                             ngx_http_itsm_queue_requeued);
        if (w == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_itsm_queue_redis_wait(r, w,
                   ngx_http_itsm_store_queue_requeue(imcf->store,
                       connector.data ? &connector : NULL,
                       key.data ? &key : NULL,
                       ngx_http_itsm_queue_redis_answer, w));
    }

    if (ngx_http_itsm_store_pending_requeue(imcf->store, ngx_time(),
                                            connector.data ? &connector : NULL,
                                            key.data ? &key : NULL, &n)
        != NGX_OK)
    {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "store_failed",
                                         "the store could not be written; "
                                         "see the error log");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "itsm: %ui dead letters put back in the queue", n);

    body = json_pack("{s:i}", "requeued", (json_int_t) n);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_OK, body);
}


/*
 * {"dead_letters":[{"connector":"rt","key":"db-1","attempts":30,
 *   "last_failure":{...a line of the delivery history...}}],"count":1}
 *
 * At most NGX_HTTP_ITSM_QUEUE_DEAD_MAX listed; "count" is how many there
 * are.  The last failure is looked for in the history's last megabyte.
 */



static ngx_int_t
ngx_http_itsm_queue_dead_list(ngx_http_request_t *r)
{
    json_t                       *body;
    ngx_http_itsm_main_conf_t    *imcf;
    ngx_http_itsm_queue_dead_t    dl;
    ngx_http_itsm_queue_rwait_t  *w;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    dl.request = r;
    dl.count = 0;
    dl.rc = NGX_OK;

    if (ngx_http_itsm_history_tail(r, &dl.history) != NGX_OK) {
        ngx_str_null(&dl.history);
    }

    body = json_object();
    dl.list = json_array();

    if (body == NULL || dl.list == NULL
        || json_object_set_new(body, "dead_letters", dl.list) != 0
        || ngx_http_itsm_json_cleanup_add(r->pool, body) != NGX_OK)
    {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_itsm_store_on_redis(imcf->store)) {
        w = ngx_http_itsm_queue_redis_waiter(r, ngx_http_itsm_queue_listed);
        if (w == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        w->dl = dl;
        w->body = body;

        return ngx_http_itsm_queue_redis_wait(r, w,
                   ngx_http_itsm_store_queue_dead(imcf->store,
                       NGX_HTTP_ITSM_QUEUE_DEAD_MAX,
                       ngx_http_itsm_queue_redis_answer, w));
    }

    if (ngx_http_itsm_store_pending_due(imcf->store,
                                        NGX_HTTP_ITSM_PENDING_DEAD,
                                        ngx_http_itsm_queue_dead_one, &dl)
        != NGX_OK
        || dl.rc != NGX_OK)
    {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "store_failed",
                                         "the store could not be read; "
                                         "see the error log");
    }

    if (json_object_set_new(body, "count", json_integer(dl.count)) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_OK, json_incref(body));
}


static ngx_int_t
ngx_http_itsm_queue_dead_one(void *data, ngx_str_t *stored,
    ngx_uint_t attempts)
{
    ngx_http_itsm_queue_dead_t *dl = data;

    u_char        *zero;
    json_t        *one, *last;
    ngx_str_t      connector, key, *line;
    ngx_array_t    found;
    json_error_t   err;

    dl->count++;

    if (dl->count > NGX_HTTP_ITSM_QUEUE_DEAD_MAX) {
        return NGX_OK;
    }

    /* the stored key: connector, a zero byte, the correlation key */

    zero = ngx_strlchr(stored->data, stored->data + stored->len, '\0');
    if (zero == NULL) {
        return NGX_OK;
    }

    connector.data = stored->data;
    connector.len = zero - stored->data;
    key.data = zero + 1;
    key.len = stored->data + stored->len - key.data;

    one = json_pack("{s:s%,s:s%,s:i}", "connector", connector.data,
                    connector.len, "key", key.data, key.len,
                    "attempts", (json_int_t) attempts);
    if (one == NULL || json_array_append_new(dl->list, one) != 0) {
        dl->rc = NGX_ERROR;
        return NGX_ERROR;
    }

    /* the newest failed request of the key */

    if (ngx_http_itsm_history_lines(dl->request, &dl->history, &connector,
                                    &key, 1, 1, &found)
        != NGX_OK)
    {
        dl->rc = NGX_ERROR;
        return NGX_ERROR;
    }

    if (found.nelts) {
        line = found.elts;
        last = json_loadb((char *) line->data, line->len, 0, &err);

        if (last && json_object_set_new(one, "last_failure", last) != 0) {
            dl->rc = NGX_ERROR;
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * itsm_requeue on Redis: the request waits for the script's answer; a
 * request that goes away meanwhile cancels it (its pool's cleanup).
 */

static ngx_http_itsm_queue_rwait_t *
ngx_http_itsm_queue_redis_waiter(ngx_http_request_t *r,
    ngx_http_itsm_queue_rdone_pt done)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_itsm_queue_rwait_t  *w;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_queue_rwait_t));
    if (w == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_itsm_queue_redis_cleanup;
    cln->data = w;

    w->request = r;
    w->done = done;

    return w;
}


static ngx_int_t
ngx_http_itsm_queue_redis_wait(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, ngx_http_itsm_redis_cmd_t *cmd)
{
    ngx_http_itsm_main_conf_t  *imcf;

    if (cmd == NULL) {
        imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

        return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "store_failed", "Redis could not be asked: %V",
                   ngx_http_itsm_redis_error(
                       ngx_http_itsm_store_redis_client(imcf->store)));
    }

    w->cmd = cmd;
    r->main->count++;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm requeue: waiting for redis");

    return NGX_DONE;
}


static void
ngx_http_itsm_queue_redis_cleanup(void *data)
{
    ngx_http_itsm_queue_rwait_t *w = data;

    if (w->cmd) {
        ngx_http_itsm_redis_cancel(w->cmd);
        w->cmd = NULL;
    }
}


static void
ngx_http_itsm_queue_redis_answer(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_queue_rwait_t *w = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    w->cmd = NULL;
    r = w->request;

    if (error || reply->type == REDIS_REPLY_ERROR) {
        if (error) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm requeue: redis did not answer: %V", error);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm requeue: redis failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        rc = ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "store_failed",
                                       "Redis did not answer; see the error "
                                       "log");

    } else {
        rc = w->done(r, w, reply);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_itsm_queue_requeued(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, redisReply *reply)
{
    json_t  *body;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "itsm: %L dead letters put back in the queue",
                  (int64_t) reply->integer);

    body = json_pack("{s:I}", "requeued", (json_int_t) reply->integer);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_OK, body);
}


/* {count, member, attempts, ...}: the same list as LMDB's */

static ngx_int_t
ngx_http_itsm_queue_listed(ngx_http_request_t *r,
    ngx_http_itsm_queue_rwait_t *w, redisReply *reply)
{
    size_t       i;
    ngx_str_t    member;
    ngx_uint_t   count;
    redisReply  *m, *a;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    count = (ngx_uint_t) reply->element[0]->integer;

    w->dl.request = r;

    for (i = 1; i + 1 < reply->elements; i += 2) {
        m = reply->element[i];
        a = reply->element[i + 1];

        if (m->type != REDIS_REPLY_STRING || a->type != REDIS_REPLY_STRING) {
            continue;
        }

        member.data = (u_char *) m->str;
        member.len = m->len;

        if (ngx_http_itsm_queue_dead_one(&w->dl, &member,
                (ngx_uint_t) ngx_atoi((u_char *) a->str, a->len))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (json_object_set_new(w->body, "count", json_integer(count)) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_OK, json_incref(w->body));
}
