
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The content handler of an alert endpoint ("itsm_pass"): checks the
 * request, reads the body, parses it into normalized alerts, and hands
 * them to the pipeline (ngx_http_itsm_pipeline.c), which delivers each of
 * them and answers the sender.
 *
 * Answer codes follow what senders do with them: 2xx when done; 4xx for a
 * request that will never succeed (Alertmanager and Azure do not resend
 * those); 502 when the ITSM refused the ticket (a configuration problem to
 * see in the sender's log); 503 with Retry-After when the ITSM is
 * unreachable or overloaded, so the sender tries again.
 */


static ngx_int_t ngx_http_itsm_handler_refuse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *ilcf);
static ngx_int_t ngx_http_itsm_handler_is_json(ngx_http_request_t *r);
static void ngx_http_itsm_handler_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_handler_accept(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_refused(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_itsm_handler_too_large(ngx_http_request_t *r,
    off_t len, size_t max);


ngx_int_t
ngx_http_itsm_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_itsm_ctx_t       *ctx;
    ngx_http_itsm_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: an alert endpoint cannot serve a subrequest");
        return NGX_HTTP_FORBIDDEN;
    }

    rc = ngx_http_itsm_handler_refuse(r, ilcf);
    if (rc != NGX_DECLINED) {
        return ngx_http_itsm_handler_refused(r, rc);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm handler: %V alert endpoint, body of %O bytes",
                   &ngx_http_itsm_source_names[ilcf->source],
                   r->headers_in.content_length_n);

    ctx = ngx_http_itsm_pipeline_ctx(r, ilcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the reference taken by reading the body is ours until the final
     * ngx_http_finalize_request() of the alert request */

    rc = ngx_http_read_client_request_body(r, ngx_http_itsm_handler_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the checks that need no body: NGX_DECLINED lets the request through */

static ngx_int_t
ngx_http_itsm_handler_refuse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *ilcf)
{
    off_t      length;
    ngx_int_t  rc;
    ngx_str_t  allow;

    length = r->headers_in.content_length_n;

    if (r->method == NGX_HTTP_POST
        && ngx_http_itsm_handler_is_json(r)
        && length <= (off_t) ilcf->max_body)
    {
        return NGX_DECLINED;
    }

    /* discarding resets content_length_n: "length" keeps it for the answer */

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&allow, "POST");

        if (ngx_http_itsm_conf_header(r, "Allow", &allow) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_itsm_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                         "method_not_allowed",
                                         "alerts are sent with POST, not %V",
                                         &r->method_name);
    }

    if (!ngx_http_itsm_handler_is_json(r)) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                         "unsupported_media_type",
                                         "the alert must be sent with "
                                         "\"Content-Type: application/json\"");
    }

    return ngx_http_itsm_handler_too_large(r, length, ilcf->max_body);
}


/* a body over itsm_max_body: said by its length, or found while read */

static ngx_int_t
ngx_http_itsm_handler_too_large(ngx_http_request_t *r, off_t len, size_t max)
{
    return ngx_http_itsm_reply_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "body_too_large",
                                     "the body has %O bytes, more than the "
                                     "%uz allowed by itsm_max_body", len, max);
}


/* application/json or application/<anything>+json, with any parameters */

static ngx_int_t
ngx_http_itsm_handler_is_json(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_table_elt_t  *ct;

    ct = r->headers_in.content_type;

    if (ct == NULL) {
        return 0;
    }

    p = ct->value.data;
    last = p + ct->value.len;

    while (p < last && *p != ';' && *p != ' ') {
        p++;
    }

    if ((size_t) (p - ct->value.data) == sizeof("application/json") - 1
        && ngx_strncasecmp(ct->value.data, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           == 0)
    {
        return 1;
    }

    return (p - ct->value.data) > (ssize_t) sizeof("application/+json") - 1
           && ngx_strncasecmp(ct->value.data, (u_char *) "application/",
                              sizeof("application/") - 1) == 0
           && ngx_strncasecmp(p - 5, (u_char *) "+json", 5) == 0;
}


static void
ngx_http_itsm_handler_body(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_module);

    rc = ngx_http_itsm_handler_accept(r, ctx);

    if (ctx->alerts.nelts == 0) {
        rc = ngx_http_itsm_handler_refused(r, rc);
    }

    if (rc == NGX_DONE) {
        /* a delivery is in flight: ngx_http_itsm_pipeline_resume() goes on */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_itsm_handler_accept(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    off_t                    len;
    ngx_int_t                rc;
    ngx_str_t                text, error;
    json_error_t             err;

    rc = ngx_http_itsm_util_body(r, ctx->conf->max_body, &text, &len);

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_handler_too_large(r, len, ctx->conf->max_body);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (text.len == 0) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST, "empty_body",
                                         "the request has no body; send the "
                                         "alert as a JSON object");
    }

    ctx->body = text;

    rc = ngx_http_itsm_json_load(&text, ctx->conf->max_depth, &ctx->payload,
                                 &err, r->connection->log);

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST, "too_deep",
                                         "the JSON is nested deeper than %ui "
                                         "levels (itsm_max_depth)",
                                         ctx->conf->max_depth);
    }

    if (rc != NGX_OK) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_json",
                                         "the body is not valid JSON: %s "
                                         "(line %d, column %d)",
                                         err.text, err.line, err.column);
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, ctx->payload) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&error);

    if (ngx_http_itsm_source_parse(r, ctx->conf, ctx->payload, &ctx->alerts,
                                   &error)
        != NGX_OK)
    {
        ctx->alerts.nelts = 0;

        if (error.len == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_alert", "%V", &error);
    }

    if (ctx->alerts.nelts == 0) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "no_alerts",
                                         "the payload holds no alert");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm handler: %uz bytes parsed into %ui alert(s)",
                   text.len, ctx->alerts.nelts);

    return ngx_http_itsm_pipeline_start(r, ctx,
                              ctx->conf->route ? NULL : ctx->conf->connectors,
                              ctx->conf->source);
}



/* a bad request was answered: counted for the status page */

static ngx_int_t
ngx_http_itsm_handler_refused(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_itsm_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    if (rc != NGX_DONE && r->headers_out.status >= NGX_HTTP_BAD_REQUEST
        && r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        ngx_http_itsm_status_count(r, ilcf->source,
                                   NGX_HTTP_ITSM_OUTCOME_REFUSED);
    }

    return rc;
}
