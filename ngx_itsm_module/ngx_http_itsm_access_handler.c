
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"


/*
 * The handler of the access phase: it runs the checks that
 * ngx_http_itsm_access_module configured, in the order listed there.
 *
 * Cheapest first; the body is read only when a signature is configured.
 * A refusal is answered here, with a JSON error, and the request is
 * finalized: nothing reaches the content handler.  A request that passes
 * goes on with NGX_DECLINED, never NGX_OK, so that with "satisfy any" the
 * checks stay mandatory and nginx's own allow/deny and auth_basic still
 * run.  The same handler also sits in the PRECONTENT phase, in case
 * another module's access handler ran first and ended the ACCESS phase.
 */


static void ngx_http_itsm_access_body_handler(ngx_http_request_t *r);
static ngx_http_itsm_access_e ngx_http_itsm_access_before_body(
    ngx_http_request_t *r, ngx_http_itsm_access_loc_conf_t *alcf,
    ngx_http_itsm_access_ctx_t *ctx);
static ngx_http_itsm_access_e ngx_http_itsm_access_after_body(
    ngx_http_request_t *r, ngx_http_itsm_access_loc_conf_t *alcf,
    ngx_http_itsm_access_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_access_replay_redis(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx);
static void ngx_http_itsm_access_redis_answered(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_http_itsm_access_e ngx_http_itsm_access_redis_result(
    ngx_http_request_t *r, ngx_http_itsm_access_ctx_t *ctx);
static time_t ngx_http_itsm_access_replay_expire(
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx);
static ngx_http_itsm_access_e ngx_http_itsm_access_replay_result(
    ngx_http_request_t *r, ngx_int_t rc, ngx_uint_t redis);
static ngx_int_t ngx_http_itsm_access_deny(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_access_answer(ngx_http_request_t *r,
    ngx_uint_t status, const char *member, ngx_str_t *code,
    ngx_str_t *message);
static ngx_int_t ngx_http_itsm_access_challenge(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason);


ngx_int_t
ngx_http_itsm_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_http_itsm_access_e            reason;
    ngx_http_itsm_access_ctx_t       *ctx;
    ngx_http_itsm_access_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_access_module);

    if (!alcf->enabled || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_access_module);

    if (ctx) {
        if (ctx->done) {
            return (ctx->result == NGX_HTTP_ITSM_ACCESS_PASSED)
                   ? NGX_DECLINED : NGX_DONE;
        }

        if (ctx->reading) {
            return NGX_DONE;
        }

        if (ctx->waiting) {
            return NGX_AGAIN;
        }

        if (ctx->answered) {
            /* re-entered once Redis answered */
            goto answered;
        }

        /* re-entered once the body has been read */
        goto body;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_access_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_access_module);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: checking the request");

    reason = ngx_http_itsm_access_before_body(r, alcf, ctx);

    if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
        return ngx_http_itsm_access_deny(r, alcf, ctx);
    }

    if (alcf->sig == NULL) {
        goto passed;
    }

    /*
     * The whole body, in memory or in a temporary file; it stays in
     * r->request_body for the content handler, whose own call to
     * ngx_http_read_client_request_body() then returns at once.
     */

    ctx->reading = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_itsm_access_body_handler);

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->done = 1;
        ctx->result = NGX_HTTP_ITSM_ACCESS_INTERNAL;
        return rc;
    }

    /* the reference taken by reading the body is not ours to keep */

    ngx_http_finalize_request(r, NGX_DONE);

    if (ctx->reading) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: waiting for the body");

        ctx->async = 1;
        return NGX_DONE;
    }

body:

    ctx->body = 1;

    reason = ngx_http_itsm_access_after_body(r, alcf, ctx);

    if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
        return ngx_http_itsm_access_deny(r, alcf, ctx);
    }

    if (alcf->replay_redis) {
        rc = ngx_http_itsm_access_replay_redis(r, alcf, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

answered:

        reason = ngx_http_itsm_access_redis_result(r, ctx);

        if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
            return ngx_http_itsm_access_deny(r, alcf, ctx);
        }
    }

passed:

    ctx->done = 1;
    ngx_http_itsm_access_count(r, NGX_HTTP_ITSM_ACCESS_PASSED);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: passed, secret #%ui",
                   ctx->sig ? ctx->sig->secret : 0);

    return NGX_DECLINED;
}


static void
ngx_http_itsm_access_body_handler(ngx_http_request_t *r)
{
    ngx_http_itsm_access_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_access_module);

    ctx->reading = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: body read, async:%ui c:%ud",
                   (ngx_uint_t) ctx->async, r->main->count);

    if (!ctx->async) {
        /* called from ngx_http_read_client_request_body() itself */
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_http_itsm_access_e
ngx_http_itsm_access_before_body(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx)
{
    ngx_http_itsm_access_e  reason;

    if (alcf->allow
        && ngx_http_itsm_allow_match(alcf->allow, r->connection->sockaddr)
           != NGX_OK)
    {
        ngx_log_error(alcf->allow_log_level, r->connection->log, 0,
                      "itsm: client %V is not in the itsm_allow list",
                      &r->connection->addr_text);

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_ADDRESS,
                                         "the client address %V is not "
                                         "allowed to send here",
                                         &r->connection->addr_text);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: address %V %s", &r->connection->addr_text,
                   alcf->allow ? "in itsm_allow" : "not checked");

    if (alcf->token) {
        reason = ngx_http_itsm_token_check(r, alcf->token, &ctx->token);

        if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
            return reason;
        }
    }

    if (alcf->jwt) {
        reason = ngx_http_itsm_jwt_check(r, alcf->jwt);

        if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
            return reason;
        }
    }

    if (alcf->sig == NULL) {
        return NGX_HTTP_ITSM_ACCESS_PASSED;
    }

    ctx->sig = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_sig_req_t));
    if (ctx->sig == NULL) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "out of memory");
    }

    reason = ngx_http_itsm_sig_headers(r, alcf->sig, alcf->tolerance,
                                       ctx->sig);

    if (reason != NGX_HTTP_ITSM_ACCESS_PASSED) {
        return reason;
    }

    /* the body is read only up to the limit, announced or not */

    if (r->headers_in.content_length_n > (off_t) alcf->body_limit) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOO_LARGE,
                                         "the body has %O bytes, more than "
                                         "the %uz allowed by %V",
                                         r->headers_in.content_length_n,
                                         alcf->body_limit,
                                         &alcf->body_directive);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: reading the body, at most %uz bytes (%V)",
                   alcf->body_limit, &alcf->body_directive);

    return NGX_HTTP_ITSM_ACCESS_PASSED;
}


static ngx_http_itsm_access_e
ngx_http_itsm_access_after_body(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx)
{
    off_t                   len;
    time_t                  expire;
    ngx_int_t               rc;
    ngx_chain_t            *cl;
    ngx_http_itsm_access_e  reason;
    u_char                  key[NGX_HTTP_ITSM_REPLAY_KEY_LEN];

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > (off_t) alcf->body_limit) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOO_LARGE,
                                         "the body has %O bytes, more than "
                                         "the %uz allowed by %V",
                                         len, alcf->body_limit,
                                         &alcf->body_directive);
    }

    reason = ngx_http_itsm_sig_verify(r, alcf->sig, ctx->sig);

    if (reason != NGX_HTTP_ITSM_ACCESS_PASSED || alcf->replay == NULL) {
        return reason;
    }

    /* only an authentic delivery is remembered: nobody can poison the cache
     * with the ids of deliveries to come */

    ngx_http_itsm_sig_replay_key(alcf->sig, ctx->sig, key);

    expire = ngx_http_itsm_access_replay_expire(alcf, ctx);

    rc = ngx_http_itsm_replay_check(r, alcf->replay, key, expire);

    return ngx_http_itsm_access_replay_result(r, rc, 0);
}


/*
 * The replay cache on Redis: the access phase waits for its answer without
 * blocking the worker, as auth_request waits for its subrequest: the
 * handler returns NGX_AGAIN (the phase is left, the request kept), and the
 * answer runs the phases again from this one.  A client that goes away
 * meanwhile is noticed (ngx_http_test_reading) and its request freed; the
 * replay cache's cleanup then cancels the command.
 */

static ngx_int_t
ngx_http_itsm_access_replay_redis(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx)
{
    time_t     expire;
    ngx_int_t  rc;
    u_char     key[NGX_HTTP_ITSM_REPLAY_KEY_LEN];

    ngx_http_itsm_sig_replay_key(alcf->sig, ctx->sig, key);

    expire = ngx_http_itsm_access_replay_expire(alcf, ctx);

    rc = ngx_http_itsm_replay_redis_check(r, alcf->replay_redis,
                                          alcf->replay_lease, key, expire,
                                          ngx_http_itsm_access_redis_answered);

    if (rc == NGX_AGAIN) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: waiting for redis");

        ctx->waiting = 1;
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;
        return NGX_AGAIN;
    }

    ctx->replay_rc = rc;
    return rc;
}


static void
ngx_http_itsm_access_redis_answered(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t            *c;
    ngx_http_itsm_access_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_access_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm access: redis answered, rc:%i", rc);

    ctx->waiting = 0;
    ctx->answered = 1;
    ctx->replay_rc = rc;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_http_itsm_access_e
ngx_http_itsm_access_redis_result(ngx_http_request_t *r,
    ngx_http_itsm_access_ctx_t *ctx)
{
    ctx->answered = 0;

    return ngx_http_itsm_access_replay_result(r, ctx->replay_rc, 1);
}


/*
 * A delivery is remembered while its expiry is later than now.  A signed
 * timestamp is accepted up to and including time + tolerance
 * (ngx_http_itsm_sig_headers()), so the copy must be remembered through
 * that second too: expiry one second after it.  A ttl remembers the
 * delivery for ttl seconds, this one included.  The zone and Redis alike.
 */

static time_t
ngx_http_itsm_access_replay_expire(ngx_http_itsm_access_loc_conf_t *alcf,
    ngx_http_itsm_access_ctx_t *ctx)
{
    return ctx->sig->has_time ? ctx->sig->time + alcf->tolerance + 1
                              : ngx_time() + alcf->replay_ttl;
}


/* what the replay cache's answer (the zone's or Redis') means */

static ngx_http_itsm_access_e
ngx_http_itsm_access_replay_result(ngx_http_request_t *r, ngx_int_t rc,
    ngx_uint_t redis)
{
    switch (rc) {

    case NGX_OK:
        return NGX_HTTP_ITSM_ACCESS_PASSED;

    case NGX_DECLINED:
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_REPLAYED,
                                         "this delivery was already "
                                         "accepted; it is not processed "
                                         "again");

    case NGX_BUSY:
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_IN_FLIGHT,
                                         "the same delivery is being "
                                         "processed right now; send it "
                                         "again later if that fails");
    }

    if (redis) {
        /* never processed unchecked: the sender tries again later */
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_UNAVAILABLE,
                                         "the replay cache (redis) is "
                                         "unavailable; see the error log; "
                                         "send it again later");
    }

    return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                     "the replay cache failed; see the "
                                     "error log");
}


/* the refusal is answered here, so that no "satisfy any" can overrule it */

static ngx_int_t
ngx_http_itsm_access_deny(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_str_t                       value;
    ngx_http_itsm_access_reason_t  *reason;

    ctx->done = 1;
    reason = &ngx_http_itsm_access_reasons[ctx->result];

    ngx_http_itsm_access_count(r, ctx->result);

    if (!ctx->body) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }
    }

    if (ngx_http_itsm_access_challenge(r, ctx->result) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    if (ctx->result == NGX_HTTP_ITSM_ACCESS_IN_FLIGHT
        || ctx->result == NGX_HTTP_ITSM_ACCESS_UNAVAILABLE)
    {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        /* Redis' answer: at least a second, whatever the location says */

        value.data = p;
        value.len = ngx_sprintf(p, "%T",
                                (ctx->result
                                 == NGX_HTTP_ITSM_ACCESS_UNAVAILABLE)
                                ? ngx_max(alcf->retry, 1) : alcf->retry)
                    - p;

        if (ngx_http_itsm_conf_header(r, "Retry-After", &value) == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }
    }

    /* a replay: the delivery was handled, the sender must not send it
     * again; it is told so with a 200 */

    rc = ngx_http_itsm_access_answer(r, reason->status,
                                     (ctx->result
                                      == NGX_HTTP_ITSM_ACCESS_REPLAYED)
                                     ? "status" : "error",
                                     &reason->name, &ctx->error);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * The answer: JSON, as the content handler's are, {"error": "<reason>",
 * "message": "..."} (or "status" for a duplicate), sent by the module
 * itself so that it is the same in front of any content handler.
 */

static ngx_int_t
ngx_http_itsm_access_answer(ngx_http_request_t *r, ngx_uint_t status,
    const char *member, ngx_str_t *code, ngx_str_t *message)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_complex_value_t   cv;

    static ngx_str_t  type = ngx_string("application/json");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: answering %ui %V: %V", status, code, message);

    len = sizeof("{\"\":\"\",\"message\":\"\"}\n") - 1
          + ngx_strlen(member) + code->len + message->len
          + ngx_escape_json(NULL, message->data, message->len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = p;

    p = ngx_sprintf(p, "{\"%s\":\"%V\",\"message\":\"", member, code);
    p = (u_char *) ngx_escape_json(p, message->data, message->len);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    cv.value.len = p - cv.value.data;

    return ngx_http_send_response(r, status, &type, &cv);
}


/* WWW-Authenticate for bearer tokens (RFC 6750 section 3) */

static ngx_int_t
ngx_http_itsm_access_challenge(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason)
{
    ngx_str_t         value;
    ngx_table_elt_t  *h;

    if (reason < NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING
        || reason > NGX_HTTP_ITSM_ACCESS_TOKEN_FORBIDDEN)
    {
        return NGX_OK;
    }

    switch (reason) {

    case NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING:
        ngx_str_set(&value, "Bearer realm=\"itsm\"");
        break;

    case NGX_HTTP_ITSM_ACCESS_TOKEN_FORBIDDEN:
        ngx_str_set(&value,
                    "Bearer realm=\"itsm\", error=\"insufficient_scope\"");
        break;

    default:
        ngx_str_set(&value,
                    "Bearer realm=\"itsm\", error=\"invalid_token\"");
        break;
    }

    h = ngx_http_itsm_conf_header(r, "WWW-Authenticate", &value);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return NGX_OK;
}
