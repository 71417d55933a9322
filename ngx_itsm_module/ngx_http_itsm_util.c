
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_pipeline.h"


/* small helpers that belong to no one concern: of the request path, and
 * of the timers no request owns */


ngx_table_elt_t *
ngx_http_itsm_util_header(ngx_http_request_t *r, const char *name)
{
    ngx_str_t  key;

    key.data = (u_char *) name;
    key.len = ngx_strlen(name);

    return ngx_http_itsm_conf_header_in(r, &key, NULL);
}


/*
 * The body in one piece: it may sit in several memory buffers, or in a
 * temporary file when it exceeded client_body_buffer_size.  A body in one
 * memory buffer is not copied.  NGX_DECLINED: it has more than "max" bytes
 * ("len" says how many), and nothing was read.
 */

ngx_int_t
ngx_http_itsm_util_body(ngx_http_request_t *r, size_t max, ngx_str_t *text,
    off_t *len)
{
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(text);
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        *len += ngx_buf_size(cl->buf);
    }

    /* "Content-Length: 0" leaves an empty buffer, in no memory or file */

    if (*len == 0) {
        return NGX_OK;
    }

    if (*len > (off_t) max) {
        return NGX_DECLINED;
    }

    b = r->request_body->bufs->buf;

    if (r->request_body->bufs->next == NULL && ngx_buf_in_memory(b)) {
        text->data = b->pos;
        text->len = b->last - b->pos;
        return NGX_OK;
    }

    text->data = ngx_pnalloc(r->pool, *len);
    if (text->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = text->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_size(b) == 0) {
            continue;
        }

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm: cannot read the request body from \"%V\"",
                          &b->file->name);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    text->len = p - text->data;

    return NGX_OK;
}


/*
 * A timer of the module's own that no request owns (the kick's, the
 * expiry's): "dummy" stands for its connection, so that nginx's debug
 * log of the event has one (an fd of -1), and the timer is cancelable, so
 * that it never holds up a worker that is shutting down.
 */

void
ngx_http_itsm_util_timer(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_connection_t *dummy, ngx_log_t *log)
{
    dummy->fd = (ngx_socket_t) -1;

    ev->handler = handler;
    ev->data = dummy;
    ev->log = log;
    ev->cancelable = 1;
}


/* the query string's argument "name", URL-decoded; data NULL when the
 * request has none */

ngx_int_t
ngx_http_itsm_util_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    ngx_str_null(value);

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    value->data = ngx_pnalloc(r->pool, arg.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, NGX_UNESCAPE_URI);
    value->len = dst - value->data;

    return NGX_OK;
}
