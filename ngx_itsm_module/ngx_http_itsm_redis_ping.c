
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis_int.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The itsm_redis_ping location.
 */


/* a request of an itsm_redis_ping location, waiting for its PONG */

typedef struct {
    ngx_http_request_t          *request;
    ngx_http_itsm_redis_t       *rd;
    ngx_http_itsm_redis_cmd_t   *cmd;          /* NULL once answered */
    uint64_t                     sent;
} ngx_http_itsm_redis_ping_ctx_t;


static ngx_int_t ngx_http_itsm_redis_ping_handler(ngx_http_request_t *r);
static void ngx_http_itsm_redis_ping_done(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_redis_ping_reply(ngx_http_request_t *r,
    ngx_http_itsm_redis_t *rd, uint64_t us, ngx_str_t *error);
static void ngx_http_itsm_redis_ping_cleanup(void *data);


/*
 * itsm_redis_ping: a location that PINGs Redis for each request, e.g. for
 * a load balancer's health check of an edge: 200 {"state": "up",
 * "latency_us": N} or 503 {"state": "down", "error": "..."}.  It is also
 * the first user of ngx_http_itsm_redis_command() from a request: a client
 * that goes away cancels its command (its reply, if it comes, is dropped).
 */

char *
ngx_http_itsm_redis_ping_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (imcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"itsm_redis_ping\" needs an \"itsm_redis\"; "
                           "declare it at http level before the server, "
                           "e.g. \"itsm_redis address=127.0.0.1:6379;\"");
        return NGX_CONF_ERROR;
    }

    return ngx_http_itsm_conf_content(cf, ngx_http_itsm_redis_ping_handler);
}


static ngx_int_t
ngx_http_itsm_redis_ping_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_itsm_main_conf_t       *imcf;
    ngx_http_itsm_redis_ping_ctx_t  *ctx;

    rc = ngx_http_itsm_reply_read_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_redis_ping_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->rd = imcf->redis;
    ctx->sent = ngx_http_itsm_redis_now_us();

    ctx->cmd = ngx_http_itsm_redis_command(ctx->rd,
                                           ngx_http_itsm_redis_ping_done,
                                           ctx, "PING");

    if (ctx->cmd == NULL) {
        /* known down: answered now */
        return ngx_http_itsm_redis_ping_reply(r, ctx->rd, 0,
                                              ngx_http_itsm_redis_error(
                                                                   ctx->rd));
    }

    /* the request may end first (the client went away): then the
     * command is cancelled, and its reply dropped */

    cln->handler = ngx_http_itsm_redis_ping_cleanup;
    cln->data = ctx;

    /* a client that closes is seen while the PING is out */
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_itsm_redis_ping_done(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_redis_ping_ctx_t *ctx = data;

    uint64_t             us;
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->cmd = NULL;

    us = ngx_http_itsm_redis_now_us() - ctx->sent;

    if (reply
        && (reply->type != REDIS_REPLY_STATUS || reply->len != 4
            || ngx_strncmp(reply->str, "PONG", 4) != 0))
    {
        text.data = (u_char *) reply->str;
        text.len = reply->str ? reply->len : 0;
        error = &text;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm redis: ping of the request: %s, %uLus",
                   error ? "failed" : "PONG", us);

    rc = ngx_http_itsm_redis_ping_reply(r, ctx->rd, error ? 0 : us, error);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_itsm_redis_ping_reply(ngx_http_request_t *r,
    ngx_http_itsm_redis_t *rd, uint64_t us, ngx_str_t *error)
{
    json_t  *body;

    if (error) {
        body = json_pack("{s:s%, s:s, s:s%}",
                         "address", (char *) rd->address.data,
                         rd->address.len, "state", "down",
                         "error", error->data ? (char *) error->data : "",
                         error->len);

    } else {
        body = json_pack("{s:s%, s:s, s:I}",
                         "address", (char *) rd->address.data,
                         rd->address.len, "state", "up",
                         "latency_us", (json_int_t) (us ? us : 1));
    }

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, error ? NGX_HTTP_SERVICE_UNAVAILABLE
                                             : NGX_HTTP_OK, body);
}


static void
ngx_http_itsm_redis_ping_cleanup(void *data)
{
    ngx_http_itsm_redis_ping_ctx_t *ctx = data;

    if (ctx->cmd) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "itsm redis: request gone, its PING %p cancelled",
                       ctx->cmd);

        ngx_http_itsm_redis_cancel(ctx->cmd);
        ctx->cmd = NULL;
    }
}
