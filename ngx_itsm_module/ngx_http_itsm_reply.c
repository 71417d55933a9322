
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * Answers to the alert sender.  Every answer is JSON, errors included:
 * {"error": "<code>", "message": "<what was wrong and what to do>"}, so
 * that a sender's delivery log says more than a status code.
 */


#define NGX_HTTP_ITSM_REPLY_MESSAGE_MAX  2048


static ngx_int_t ngx_http_itsm_reply_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);


ngx_int_t
ngx_http_itsm_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char     *p, *body;
    size_t      len, mlen, code_len;
    va_list     args;
    uintptr_t   n;
    u_char      msg[NGX_HTTP_ITSM_REPLY_MESSAGE_MAX];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    mlen = p - msg;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: answering %ui %s: %*s", status, code, mlen, msg);

    n = ngx_escape_json(NULL, msg, mlen);
    code_len = ngx_strlen(code);

    len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
          + code_len + mlen + n;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_cpymem(p, code, code_len);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, msg, mlen);
    p = ngx_cpymem(p, "\"}", 2);

    return ngx_http_itsm_reply_send(r, status, body, p - body);
}


ngx_int_t
ngx_http_itsm_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    u_char  *data;
    size_t   len;

    data = ngx_http_itsm_json_dump(body, r->pool, &len);

    json_decref(body);

    if (data == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_itsm_reply_send(r, status, data, len);
}


ngx_int_t
ngx_http_itsm_reply_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    return ngx_http_itsm_reply_send(r, status, data, len);
}


ngx_int_t
ngx_http_itsm_reply_retry_after(ngx_http_request_t *r, time_t seconds)
{
    ngx_str_t  value;

    value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%T", seconds) - value.data;

    if (ngx_http_itsm_conf_header(r, "Retry-After", &value) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the read-only locations (status page, history): GET or HEAD, any body
 * discarded; else the status to answer with */

ngx_int_t
ngx_http_itsm_reply_read_only(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


static ngx_int_t
ngx_http_itsm_reply_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len + 1;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
