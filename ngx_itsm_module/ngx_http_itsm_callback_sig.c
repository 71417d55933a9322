
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_access.h"
#include "ngx_http_itsm_callback.h"


/*
 * A connector's "callback_signature SCHEME secret=... [secret=...];": the
 * ITSM signs its callbacks with its own scheme, checked by the access
 * phase's code (ngx_http_itsm_sig_conf.c reads the line, ngx_http_itsm_sig.c
 * checks the request), not by HMAC code of its own:
 *
 *   jira       X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>
 *              (a Jira Cloud admin webhook with a secret)
 *   pagerduty  X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...] (webhooks v3;
 *              several while PagerDuty rotates the secret: any may match)
 *   github, standard_webhooks, ...   any scheme of itsm_signature
 *
 * Secrets are written as for itsm_signature: secret=VALUE,
 * secret=file:PATH, several for rotation.  When a connector has the line,
 * every callback of it must be signed: a callback token alone is refused
 * (the signature is the stronger proof, and a token would be a second,
 * weaker way in).
 */


/* itsm_signature's check of timestamps, for the schemes that sign one */
#define NGX_HTTP_ITSM_CALLBACK_SIG_TOLERANCE  300


static ngx_http_itsm_access_ctx_t *ngx_http_itsm_callback_sig_ctx(
    ngx_http_request_t *r);


static ngx_command_t  ngx_http_itsm_callback_sig_cmd = {
    ngx_string("callback_signature"), 0, NULL, 0, 0, NULL
};


char *
ngx_http_itsm_callback_signature_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    char                      *rv;
    ngx_str_t                 *arg;
    ngx_uint_t                 i;
    ngx_array_t               *args, *saved;
    ngx_http_itsm_sig_conf_t  *scf;

    if (conn->callback && conn->callback->sig) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"callback_signature\" is duplicate in "
                           "itsm_connector \"%V\"; give all the secrets on "
                           "one line (several secret= while rotating)",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_callback_conf(cf, conn) == NULL) {
        return NGX_CONF_ERROR;
    }

    scf = NULL;
    saved = cf->args;

    /*
     * PagerDuty's header is a list of "v1=<hex>": the generic scheme finds
     * the header and keys the secrets; the list is read at the request
     * (ngx_http_itsm_callback_sig_headers), as Stripe's v1 entries are.
     */

    if (value[1].len == sizeof("pagerduty") - 1
        && ngx_strncmp(value[1].data, "pagerduty", value[1].len) == 0)
    {
        args = ngx_array_create(cf->temp_pool, n + 2, sizeof(ngx_str_t));
        if (args == NULL) {
            return NGX_CONF_ERROR;
        }

        arg = ngx_array_push_n(args, 3);
        if (arg == NULL) {
            return NGX_CONF_ERROR;
        }

        arg[0] = value[0];
        ngx_str_set(&arg[1], "generic");
        ngx_str_set(&arg[2], "header=X-PagerDuty-Signature");

        for (i = 2; i <= n; i++) {
            if (ngx_strncmp(value[i].data, "secret=", 7) != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"callback_signature pagerduty\" of "
                                   "itsm_connector \"%V\" takes only "
                                   "secret= (several while rotating), not "
                                   "\"%V\"", &conn->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            arg = ngx_array_push(args);
            if (arg == NULL) {
                return NGX_CONF_ERROR;
            }

            *arg = value[i];
        }

        conn->callback->sig_list = 1;
        cf->args = args;
    }

    rv = ngx_http_itsm_sig_conf(cf, &ngx_http_itsm_callback_sig_cmd, &scf);

    cf->args = saved;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    conn->callback->sig = scf;
    conn->callback->sig_scheme = value[1];

    return NGX_CONF_OK;
}


/*
 * Before the body: the signature header is there and well formed.
 * NGX_DECLINED: the connector signs nothing (the token decides);
 * NGX_OK: *state is what the check after the body needs; NGX_ABORT: no
 * or a malformed signature (logged); NGX_ERROR.
 */

ngx_int_t
ngx_http_itsm_callback_sig_headers(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, void **state)
{
    u_char                      *p, *last;
    ngx_table_elt_t             *h;
    ngx_http_itsm_sig_req_t     *sr;
    ngx_http_itsm_access_e       reason;
    ngx_http_itsm_access_ctx_t  *actx;

    if (conn->callback == NULL || conn->callback->sig == NULL) {
        return NGX_DECLINED;
    }

    actx = ngx_http_itsm_callback_sig_ctx(r);
    if (actx == NULL) {
        return NGX_ERROR;
    }

    sr = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_sig_req_t));
    if (sr == NULL) {
        return NGX_ERROR;
    }

    *state = sr;

    if (!conn->callback->sig_list) {
        reason = ngx_http_itsm_sig_headers(r, conn->callback->sig,
                                           NGX_HTTP_ITSM_CALLBACK_SIG_TOLERANCE,
                                           sr);
        if (reason == NGX_HTTP_ITSM_ACCESS_PASSED) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\": %V", &conn->name,
                      &actx->error);

        return (reason == NGX_HTTP_ITSM_ACCESS_INTERNAL) ? NGX_ERROR
                                                         : NGX_ABORT;
    }

    /*
     * "v1=<hex>[,v1=<hex>...]": Stripe's list without its "t=" (PagerDuty
     * signs no time), read by the access phase's parser of that list with
     * a "t=0," put before it; each v1 entry is tried at the check
     */

    h = ngx_http_itsm_util_header(r, "X-PagerDuty-Signature");

    if (h == NULL || h->value.len == 0
        || h->value.len > 16 * (3 + 2 * NGX_HTTP_ITSM_SIG_MAX_LEN + 1))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\": no (or an overlong) "
                      "\"X-PagerDuty-Signature\" header; it must be signed",
                      &conn->name);
        return NGX_ABORT;
    }

    p = ngx_pnalloc(r->pool, sizeof("t=0,") - 1 + h->value.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_cpymem(p, "t=0,", sizeof("t=0,") - 1);
    last = ngx_cpymem(last, h->value.data, h->value.len);

    if (ngx_http_itsm_sig_parse_stripe(p, last - p, &sr->header)
        != NGX_HTTP_ITSM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\": the "
                      "\"X-PagerDuty-Signature\" header has no v1=<hex> "
                      "signature", &conn->name);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/* after the body: NGX_OK a secret's MAC matches; NGX_ABORT; NGX_ERROR */

ngx_int_t
ngx_http_itsm_callback_sig_verify(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, void *state)
{
    ngx_http_itsm_access_e       reason;
    ngx_http_itsm_access_ctx_t  *actx;

    actx = ngx_http_itsm_callback_sig_ctx(r);
    if (actx == NULL) {
        return NGX_ERROR;
    }

    reason = ngx_http_itsm_sig_verify(r, conn->callback->sig, state);

    if (reason == NGX_HTTP_ITSM_ACCESS_PASSED) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm callback: connector \"%V\": the %V signature "
                       "matches", &conn->name, &conn->callback->sig_scheme);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm callback: connector \"%V\": %V", &conn->name,
                  &actx->error);

    return (reason == NGX_HTTP_ITSM_ACCESS_INTERNAL) ? NGX_ERROR : NGX_ABORT;
}


/*
 * The access phase's checks keep their refusal in its context; a callback
 * location may have no access checks of its own, so the context is made
 * here when there is none (marked done: the access phase is over).
 */

static ngx_http_itsm_access_ctx_t *
ngx_http_itsm_callback_sig_ctx(ngx_http_request_t *r)
{
    ngx_http_itsm_access_ctx_t  *actx;

    actx = ngx_http_get_module_ctx(r, ngx_http_itsm_access_module);

    if (actx) {
        return actx;
    }

    actx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_access_ctx_t));
    if (actx == NULL) {
        return NULL;
    }

    actx->done = 1;

    ngx_http_set_ctx(r, actx, ngx_http_itsm_access_module);

    return actx;
}
