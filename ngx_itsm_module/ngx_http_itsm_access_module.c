
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"
#include "ngx_http_itsm_status.h"


/*
 * ngx_http_itsm_access_module: the access phase of an alert endpoint.
 *
 *   1. the client address against an allowlist (itsm_allow);
 *   2. a shared token (itsm_token);
 *   3. a bearer JWT against a key set (itsm_jwt, itsm_jwt_preset);
 *   4. the signature headers and their timestamp (itsm_signature);
 *   5. the whole body, read here, and its HMAC over the raw bytes;
 *   6. the delivery against the ones already seen (itsm_signature_replay).
 *
 * Cheapest first; the body is read only when a signature is configured.
 * A refusal is answered here, with a JSON error, and the request is
 * finalized: nothing reaches the content handler.  A request that passes
 * goes on with NGX_DECLINED, never NGX_OK, so that with "satisfy any" the
 * checks stay mandatory and nginx's own allow/deny and auth_basic still
 * run.  The same handler also sits in the PRECONTENT phase, in case
 * another module's access handler ran first and ended the ACCESS phase.
 */


#define NGX_HTTP_ITSM_ACCESS_TOLERANCE   300
#define NGX_HTTP_ITSM_ACCESS_MAX_BODY    (256 * 1024)
#define NGX_HTTP_ITSM_ACCESS_RETRY_AFTER 30

typedef struct {
    ngx_http_itsm_allow_t       *allow;
    ngx_uint_t                   allow_log_level;
    ngx_http_itsm_token_conf_t  *token;
    ngx_http_itsm_sig_conf_t    *sig;
    time_t                       tolerance;
    ngx_shm_zone_t              *replay;
    time_t                       replay_ttl;
    ngx_http_itsm_jwt_conf_t    *jwt;
    ngx_flag_t                   enabled;

    u_char                      *replay_file;  /* set in a location */
    ngx_uint_t                   replay_line;

    size_t                       max_body;     /* itsm_access_max_body */
    time_t                       retry_after;  /* itsm_access_retry_after */

    /* what the location's content handler announced
     * (ngx_http_itsm_access_content_limits()) */
    size_t                       content_max_body;
    time_t                       content_retry_after;
    ngx_str_t                    content_directive;

    /* in effect: our own setting, else the content handler's, else ours
     * by default */
    size_t                       body_limit;
    ngx_str_t                    body_directive;   /* for the 413 */
    time_t                       retry;
} ngx_http_itsm_access_loc_conf_t;


static void ngx_http_itsm_access_body_handler(ngx_http_request_t *r);
static ngx_http_itsm_access_e ngx_http_itsm_access_before_body(
    ngx_http_request_t *r, ngx_http_itsm_access_loc_conf_t *alcf,
    ngx_http_itsm_access_ctx_t *ctx);
static ngx_http_itsm_access_e ngx_http_itsm_access_after_body(
    ngx_http_request_t *r, ngx_http_itsm_access_loc_conf_t *alcf,
    ngx_http_itsm_access_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_access_deny(ngx_http_request_t *r,
    ngx_http_itsm_access_loc_conf_t *alcf, ngx_http_itsm_access_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_access_answer(ngx_http_request_t *r,
    ngx_uint_t status, const char *member, ngx_str_t *code,
    ngx_str_t *message);
static ngx_int_t ngx_http_itsm_access_challenge(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason);
static ngx_table_elt_t *ngx_http_itsm_access_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_access_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_itsm_access_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_access_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_itsm_access_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_itsm_access_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_access_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_itsm_access_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_itsm_access_off(ngx_conf_t *cf, ngx_command_t *cmd);
static void ngx_http_itsm_access_used(ngx_conf_t *cf);
static void ngx_http_itsm_access_limits(
    ngx_http_itsm_access_loc_conf_t *alcf);
static char *ngx_http_itsm_access_signature(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_itsm_access_replay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_jwt_preset(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_itsm_access_tolerance_check(ngx_conf_t *cf, void *post,
    void *data);
static void ngx_http_itsm_access_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_itsm_access_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_itsm_access_tolerance_post = {
    ngx_http_itsm_access_tolerance_check
};


static ngx_command_t  ngx_http_itsm_access_commands[] = {

    { ngx_string("itsm_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_allow_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, allow_log_level),
      &ngx_http_itsm_access_log_levels },

    { ngx_string("itsm_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_signature"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_signature,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_signature_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, tolerance),
      &ngx_http_itsm_access_tolerance_post },

    { ngx_string("itsm_signature_replay_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_itsm_replay_zone,
      0,
      0,
      NULL },

    { ngx_string("itsm_signature_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_itsm_access_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_access_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, max_body),
      NULL },

    { ngx_string("itsm_access_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, retry_after),
      NULL },

    { ngx_string("itsm_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_jwt_preset"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_jwt_preset,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_access_module_ctx = {
    ngx_http_itsm_access_preconfiguration, /* preconfiguration */
    ngx_http_itsm_access_postconfiguration, /* postconfiguration */

    ngx_http_itsm_access_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_access_create_loc_conf,  /* create location configuration */
    ngx_http_itsm_access_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_access_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_access_module_ctx,      /* module context */
    ngx_http_itsm_access_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_itsm_access_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HTTP_ITSM_ACCESS_VAR_RESULT  0
#define NGX_HTTP_ITSM_ACCESS_VAR_SECRET  1
#define NGX_HTTP_ITSM_ACCESS_VAR_ID      2


static ngx_http_variable_t  ngx_http_itsm_access_vars[] = {

    { ngx_string("itsm_access_result"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_secret"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_SECRET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_id"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_counters"), NULL,
      ngx_http_itsm_access_counters_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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

        /* re-entered once the body has been read */
        goto body;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_access_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_access_module);

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

    /*
     * A node is remembered while its expiry is later than now.  A signed
     * timestamp is accepted up to and including time + tolerance
     * (ngx_http_itsm_sig_headers()), so the copy must be remembered
     * through that second too: expiry one second after it.  A ttl
     * remembers the delivery for ttl seconds, this one included.
     */

    expire = ctx->sig->has_time ? ctx->sig->time + alcf->tolerance + 1
                                : ngx_time() + alcf->replay_ttl;

    rc = ngx_http_itsm_replay_check(r, alcf->replay, key, expire);

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

    default:
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "the replay cache failed; see the "
                                         "error log");
    }
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

    if (ctx->result == NGX_HTTP_ITSM_ACCESS_IN_FLIGHT) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        value.data = p;
        value.len = ngx_sprintf(p, "%T", alcf->retry) - p;

        if (ngx_http_itsm_access_header(r, "Retry-After", &value) == NULL) {
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

    h = ngx_http_itsm_access_header(r, "WWW-Authenticate", &value);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_itsm_access_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return h;
}


static ngx_int_t
ngx_http_itsm_access_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_str_t                    value;
    ngx_uint_t                   n;
    ngx_http_itsm_access_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_itsm_access_module);

    ngx_str_null(&value);

    if (ctx) {
        switch (data) {

        case NGX_HTTP_ITSM_ACCESS_VAR_RESULT:
            if (ctx->done) {
                value = ngx_http_itsm_access_reasons[ctx->result].name;
            }
            break;

        case NGX_HTTP_ITSM_ACCESS_VAR_SECRET:
            n = (ctx->sig && ctx->sig->secret) ? ctx->sig->secret
                                               : ctx->token;
            if (n == 0) {
                break;
            }

            p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            value.data = p;
            value.len = ngx_sprintf(p, "%ui", n) - p;
            break;

        default: /* NGX_HTTP_ITSM_ACCESS_VAR_ID */
            if (ctx->sig && ctx->sig->id.len) {
                value = ctx->sig->id;
            }
            break;
        }
    }

    if (value.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_access_preconfiguration(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_itsm_access_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return ngx_http_itsm_access_counters_provide(cf);
}


static ngx_int_t
ngx_http_itsm_access_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                         i;
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_itsm_replay_ref_t        *ref;
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);

    ref = amcf->replay_refs.elts;

    for (i = 0; i < amcf->replay_refs.nelts; i++) {
        if (ref[i].zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_signature_replay: unknown zone \"%V\" in "
                          "%s:%ui; declare it at http level with "
                          "\"itsm_signature_replay_zone %V:1m;\"",
                          &ref[i].zone->shm.name, ref[i].file, ref[i].line,
                          &ref[i].zone->shm.name);
            return NGX_ERROR;
        }
    }

    if (ngx_http_itsm_replay_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!amcf->used) {
        return NGX_OK;
    }

    if (ngx_http_itsm_access_counters_zone(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_itsm_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_itsm_access_handler;

    return NGX_OK;
}


static void *
ngx_http_itsm_access_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_access_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->replay_refs, cf->pool, 2,
                       sizeof(ngx_http_itsm_replay_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_itsm_access_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_access_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_access_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->allow = NGX_CONF_UNSET_PTR;
    conf->allow_log_level = NGX_CONF_UNSET_UINT;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->sig = NGX_CONF_UNSET_PTR;
    conf->tolerance = NGX_CONF_UNSET;
    conf->replay = NGX_CONF_UNSET_PTR;
    conf->replay_ttl = NGX_CONF_UNSET;
    conf->jwt = NGX_CONF_UNSET_PTR;
    conf->enabled = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->retry_after = NGX_CONF_UNSET;
    conf->content_max_body = NGX_CONF_UNSET_SIZE;
    conf->content_retry_after = NGX_CONF_UNSET;

    ngx_http_itsm_access_limits(conf);

    return conf;
}


static char *
ngx_http_itsm_access_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_itsm_access_loc_conf_t *prev = parent;
    ngx_http_itsm_access_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->allow, prev->allow, NULL);
    ngx_conf_merge_uint_value(conf->allow_log_level, prev->allow_log_level,
                              NGX_LOG_ERR);
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->sig, prev->sig, NULL);
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance,
                             NGX_HTTP_ITSM_ACCESS_TOLERANCE);
    ngx_conf_merge_ptr_value(conf->replay, prev->replay, NULL);
    ngx_conf_merge_sec_value(conf->replay_ttl, prev->replay_ttl,
                             conf->tolerance);
    ngx_conf_merge_ptr_value(conf->jwt, prev->jwt, NULL);

    if (conf->jwt && ngx_http_itsm_jwt_merge(cf, conf->jwt) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->replay_file && conf->replay && conf->sig == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_signature_replay in %s:%ui acts on signed "
                      "deliveries only; add itsm_signature to the location",
                      conf->replay_file, conf->replay_line);
        return NGX_CONF_ERROR;
    }

    conf->enabled = (conf->allow || conf->token || conf->sig || conf->jwt);

    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              NGX_CONF_UNSET_SIZE);
    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after,
                             NGX_CONF_UNSET);

    ngx_http_itsm_access_limits(conf);

    return NGX_CONF_OK;
}


/*
 * A content handler that reads the body itself (itsm_pass) announces, for
 * the block being merged, the largest body it accepts (and the directive
 * that sets it) and the Retry-After it sends.  The access phase keeps to
 * them there, so that an alert endpoint has one limit, unless the block
 * has itsm_access_max_body or itsm_access_retry_after.  Nothing of the
 * content handler's configuration is read: without an announcement the
 * access phase has its own defaults.
 */

void
ngx_http_itsm_access_content_limits(ngx_conf_t *cf, size_t max_body,
    ngx_str_t *directive, time_t retry_after)
{
    ngx_http_itsm_access_loc_conf_t  *alcf;

    alcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_itsm_access_module);

    alcf->content_max_body = max_body;
    alcf->content_directive = *directive;
    alcf->content_retry_after = retry_after;

    /* the module merging first may be either one (the order of modules) */

    ngx_http_itsm_access_limits(alcf);
}


static void
ngx_http_itsm_access_limits(ngx_http_itsm_access_loc_conf_t *alcf)
{
    if (alcf->max_body != NGX_CONF_UNSET_SIZE) {
        alcf->body_limit = alcf->max_body;
        ngx_str_set(&alcf->body_directive, "itsm_access_max_body");

    } else if (alcf->content_max_body != NGX_CONF_UNSET_SIZE) {
        alcf->body_limit = alcf->content_max_body;
        alcf->body_directive = alcf->content_directive;

    } else {
        alcf->body_limit = NGX_HTTP_ITSM_ACCESS_MAX_BODY;
        ngx_str_set(&alcf->body_directive, "itsm_access_max_body");
    }

    if (alcf->retry_after != NGX_CONF_UNSET) {
        alcf->retry = alcf->retry_after;

    } else if (alcf->content_retry_after != NGX_CONF_UNSET) {
        alcf->retry = alcf->content_retry_after;

    } else {
        alcf->retry = NGX_HTTP_ITSM_ACCESS_RETRY_AFTER;
    }
}


/* "itsm_allow 192.0.2.0/24 2001:db8::/32 file=<path> ...;" or "off" */

static char *
ngx_http_itsm_access_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts != 2 || alcf->allow != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" cannot be combined with addresses "
                               "in the same block", &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->allow = NULL;
        return NGX_CONF_OK;
    }

    if (alcf->allow == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" cannot be combined with addresses in "
                           "the same block", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (alcf->allow == NGX_CONF_UNSET_PTR) {
        alcf->allow = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_allow_t));
        if (alcf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_itsm_allow_add(cf, alcf->allow, &value[i])
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    ngx_http_itsm_access_used(cf);

    return NGX_CONF_OK;
}


/* itsm_token $variable TOKEN|file=PATH ...; itsm_token off; */

static char *
ngx_http_itsm_access_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_int_t  rc;

    if (alcf->token != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    rc = ngx_http_itsm_access_off(cf, cmd);

    if (rc != NGX_DECLINED) {
        alcf->token = NULL;
        return (rc == NGX_OK) ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_token_conf(cf, cmd, &alcf->token) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_itsm_access_used(cf);

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_access_signature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_int_t  rc;

    if (alcf->sig != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    rc = ngx_http_itsm_access_off(cf, cmd);

    if (rc != NGX_DECLINED) {
        alcf->sig = NULL;
        return (rc == NGX_OK) ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_sig_conf(cf, cmd, &alcf->sig) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_itsm_access_used(cf);

    return NGX_CONF_OK;
}


/* NGX_OK: "DIRECTIVE off;"; NGX_DECLINED: not "off"; NGX_ERROR: "off"
 * with more parameters */

static ngx_int_t
ngx_http_itsm_access_off(ngx_conf_t *cf, ngx_command_t *cmd)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (value[1].len != 3 || ngx_strncmp(value[1].data, "off", 3) != 0) {
        return NGX_DECLINED;
    }

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" takes no parameters", &cmd->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the access phase has work: its handlers and counters are set up */

static void
ngx_http_itsm_access_used(ngx_conf_t *cf)
{
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);
    amcf->used = 1;
}


/* "itsm_jwt ...;" (ngx_http_itsm_jwt.c) or "itsm_jwt off;" */

static char *
ngx_http_itsm_access_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    char       *rv;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts != 2 || alcf->jwt != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" takes no parameters and cannot be "
                               "combined with itsm_jwt_preset", &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->jwt = NULL;
        return NGX_CONF_OK;
    }

    rv = ngx_http_itsm_jwt_conf(cf, cmd, &alcf->jwt);

    if (rv == NGX_CONF_OK) {
        ngx_http_itsm_access_used(cf);
    }

    return rv;
}


static char *
ngx_http_itsm_access_jwt_preset(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    char  *rv;

    rv = ngx_http_itsm_jwt_preset(cf, cmd, &alcf->jwt);

    if (rv == NGX_CONF_OK) {
        ngx_http_itsm_access_used(cf);
    }

    return rv;
}


/* "itsm_signature_replay zone=<name> [ttl=<time>];", or "... off;" */

static char *
ngx_http_itsm_access_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_http_itsm_replay_ref_t        *ref;
    ngx_http_itsm_access_main_conf_t  *amcf;

    if (alcf->replay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" takes no parameters", &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->replay = NULL;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0 && value[i].len > 5) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            alcf->replay = ngx_http_itsm_replay_zone_ref(cf, &s);
            if (alcf->replay == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            alcf->replay_ttl = ngx_parse_time(&s, 1);

            if (alcf->replay_ttl == (time_t) NGX_ERROR
                || alcf->replay_ttl == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\"; e.g. ttl=10m", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; write "
                           "\"%V zone=<name> [ttl=<time>]\"",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (alcf->replay == NGX_CONF_UNSET_PTR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have the zone=<name> of an "
                           "itsm_signature_replay_zone", &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);

    ref = ngx_array_push(&amcf->replay_refs);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->zone = alcf->replay;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    if (cf->cmd_type & NGX_HTTP_LOC_CONF) {
        alcf->replay_file = ref->file;
        alcf->replay_line = ref->line;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_access_tolerance_check(ngx_conf_t *cf, void *post, void *data)
{
    time_t *t = data;

    if (*t < 1) {
        return "must be at least 1s";
    }

    return NGX_CONF_OK;
}


static void
ngx_http_itsm_access_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_itsm_sig_exit();
}
