
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_history.h"
#include "ngx_http_itsm_mail.h"


/*
 * Delivery: one action of a connector becomes an nginx subrequest to the
 * connector's internal location, which proxy_passes to the ITSM, so the
 * transport (upstreams, keepalive, TLS, timeouts, credentials) stays
 * nginx's own.
 *
 * The subrequest's answer is captured by the body filter below rather than
 * with NGX_HTTP_SUBREQUEST_IN_MEMORY: an in-memory subrequest whose answer
 * exceeds subrequest_output_buffer_size makes nginx close the alert
 * sender's connection; the filter instead keeps up to the connector's
 * max_response bytes and notes that the rest was cut off.
 */


static ngx_int_t ngx_http_itsm_deliver_setup(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_itsm_delivery_t *d,
    ngx_http_itsm_action_t *action, ngx_str_t *body, ngx_str_t *type);
static ngx_int_t ngx_http_itsm_deliver_push_header(ngx_http_request_t *sr,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_deliver_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_http_itsm_delivery_t *ngx_http_itsm_deliver_capturing(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_deliver_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_deliver_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_itsm_deliver_keep(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d, ngx_buf_t *b);
static time_t ngx_http_itsm_deliver_retry_after(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* "action" is the connector's action "index", or the lookup before it */

ngx_int_t
ngx_http_itsm_deliver(ngx_http_request_t *r, ngx_http_itsm_delivery_t *d,
    ngx_http_itsm_action_e index, ngx_http_itsm_action_t *action)
{
    u_char                      *p, *q;
    ngx_str_t                    path, uri, args, body, type;
#if (NGX_DEBUG)
    ngx_str_t                    shown;
#endif
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;
    ngx_http_itsm_connector_t   *conn;

    conn = d->connector;

    /* before the templates: $itsm_action names the action they send */

    d->action = index;

    if (ngx_http_itsm_tpl_render(action->uri, d->tpl, r->pool, &path)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    uri.len = conn->location.len + path.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, conn->location.data, conn->location.len);
    ngx_memcpy(p, path.data, path.len);

    ngx_str_null(&args);

    q = ngx_strlchr(uri.data, uri.data + uri.len, '?');
    if (q) {
        args.data = q + 1;
        args.len = uri.data + uri.len - args.data;
        uri.len = q - uri.data;
    }

    ngx_str_null(&body);
    ngx_str_null(&type);

    if (action->fields) {
        /* form fields: the body and its content type together (the
         * multipart boundary) */

        if (ngx_http_itsm_form_render(r, conn, action, d->tpl, &body, &type)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (action->body
               && ngx_http_itsm_tpl_render(action->body, d->tpl, r->pool,
                                           &body)
                  != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_itsm_deliver_done;
    ps->data = d;

    d->method = action->method_name;
    d->uri = uri;
    d->args = args;
    d->body = body;
    d->start = ngx_current_msec;
    d->status = 0;
    d->response = NULL;
    d->last = &d->response;
    d->response_len = 0;
    d->retry_after = 0;
    d->delivered = 0;
    d->answered = 0;
    d->truncated = 0;
    d->held = 0;
    d->held_why = 0;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm deliver: %V%s %V \"%V?%V\"",
                   &ngx_http_itsm_action_names[index],
                   d->lookup ? " lookup" : "", &action->method_name,
                   &uri, &args);

#if (NGX_DEBUG)

    /* the body may hold a secret (a routing key): hidden as the delivery
     * history hides it; the copy only when the debug log is on (Debian's
     * nginx is built --with-debug) */

    if (r->connection->log->log_level & NGX_LOG_DEBUG_HTTP) {
        shown = body;
        ngx_http_itsm_history_hide(r, &shown);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm deliver body: %*s", shown.len, shown.data);
    }
#endif

    if (ngx_http_subrequest(r, &uri, args.len ? &args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the connector's location may be in another server than the alert's
     * (the replay server has none): look it up where it is */

    ngx_http_itsm_layout_place(r, sr, conn);

    /*
     * The action's path as rendered (its placeholders URL-escaped once):
     * proxy_pass without a URI part sends it as is.  With a URI part, proxy
     * builds the path from the subrequest's URI and escapes it again.
     */

    sr->unparsed_uri = path;
    sr->valid_unparsed_uri = 1;

    if (ngx_http_itsm_deliver_setup(r, sr, d, action,
                                    (action->body || action->fields) ? &body
                                                                     : NULL,
                                    type.len ? &type : NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The subrequest starts as a shallow copy of the alert request: its own
 * method, its own body, and a header list of its own, so that neither the
 * sender's body nor its headers (signatures, tokens) reach the ITSM.
 * "type": the body's own content type (form fields), which the
 * connector's Content-Type header does not replace; NULL: the connector's,
 * else JSON.
 */

static ngx_int_t
ngx_http_itsm_deliver_setup(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_itsm_delivery_t *d, ngx_http_itsm_action_t *action,
    ngx_str_t *body, ngx_str_t *type)
{
    ngx_buf_t                  *b;
    ngx_str_t                   name, value;
    ngx_uint_t                  i, content_type;
    ngx_chain_t                *cl;
    ngx_http_itsm_header_t     *h;
    ngx_http_request_body_t    *rb;
    ngx_http_itsm_connector_t  *conn;

    conn = d->connector;

    sr->method = action->method;
    sr->method_name = action->method_name;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    sr->headers_in.server = r->headers_in.server;
    /* proxy sends Content-Length from content_length_n; a POST without a
     * body template still says "Content-Length: 0" */

    if (body) {
        sr->headers_in.content_length_n = body->len;

    } else {
        sr->headers_in.content_length_n =
                 (action->method & (NGX_HTTP_GET|NGX_HTTP_DELETE)) ? -1 : 0;
    }

    if (ngx_list_init(&sr->headers_in.headers, r->pool,
                      conn->headers.nelts + 2, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    content_type = 0;
    h = conn->headers.elts;

    for (i = 0; i < conn->headers.nelts; i++) {

        if (type
            && h[i].name.len == sizeof("Content-Type") - 1
            && ngx_strncasecmp(h[i].name.data, (u_char *) "Content-Type",
                               h[i].name.len)
               == 0)
        {
            continue;
        }

        if (ngx_http_itsm_tpl_render(h[i].value, d->tpl, r->pool, &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* alert text has no length limit of its own, a header line has:
         * a 1 MB title must not become a 1 MB header the ITSM refuses */

        if (value.len > NGX_HTTP_ITSM_HEADER_VALUE_MAX) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "itsm: header \"%V\" of connector \"%V\" cut from "
                          "%uz to %d bytes", &h[i].name, &conn->name,
                          value.len, NGX_HTTP_ITSM_HEADER_VALUE_MAX);

            value.len = ngx_http_itsm_deliver_utf8_cut(value.data,
                                              NGX_HTTP_ITSM_HEADER_VALUE_MAX);
        }

        if (ngx_http_itsm_deliver_push_header(sr, &h[i].name, &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (h[i].name.len == sizeof("Content-Type") - 1
            && ngx_strncasecmp(h[i].name.data, (u_char *) "Content-Type",
                               h[i].name.len)
               == 0)
        {
            content_type = 1;
        }
    }

    if (body == NULL) {
        sr->request_body = NULL;
        return NGX_OK;
    }

    if (!content_type) {
        ngx_str_set(&name, "Content-Type");
        ngx_str_set(&value, "application/json");

        if (type) {
            value = *type;
        }

        if (ngx_http_itsm_deliver_push_header(sr, &name, &value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    /* a temporary buffer sets b->start, which proxy needs to resend the
     * body to the next upstream server */

    b = ngx_create_temp_buf(r->pool, body->len ? body->len : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, body->data, body->len);
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    sr->request_body = rb;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_deliver_push_header(ngx_http_request_t *sr, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(sr->pool, name->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, name->data, name->len);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * Called when the subrequest finishes, and again if nginx goes on to make
 * an error page for it.  It only records what happened and wakes the alert
 * request; returning NGX_OK keeps a failed ITSM call from finalizing the
 * sender's request with nginx's own error page.
 */

static ngx_int_t
ngx_http_itsm_deliver_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_itsm_delivery_t *d = data;

    if (d->delivered) {
        return NGX_OK;
    }

    d->delivered = 1;

    if (d->status == 0) {
        /* no answer reached the header filter: connection refused, timed
         * out or reset; proxy finalizes with 502 or 504 */

        d->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                      ? (ngx_uint_t) rc : NGX_HTTP_BAD_GATEWAY;

    } else if (rc == NGX_ERROR) {
        /* the answer broke off half-way */
        d->status = NGX_HTTP_BAD_GATEWAY;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "itsm deliver done: rc:%i status:%ui", rc, d->status);

    ngx_http_itsm_history_write(sr->parent, d);

    sr->parent->write_event_handler = d->done;

    return NGX_OK;
}


ngx_int_t
ngx_http_itsm_deliver_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_itsm_deliver_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_itsm_deliver_body_filter;

    return NGX_OK;
}


/* post_subrequest survives internal redirects inside the ITSM location */

static ngx_http_itsm_delivery_t *
ngx_http_itsm_deliver_capturing(ngx_http_request_t *r)
{
    if (r == r->main
        || r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_itsm_deliver_done)
    {
        return NULL;
    }

    return r->post_subrequest->data;
}


static ngx_int_t
ngx_http_itsm_deliver_header_filter(ngx_http_request_t *r)
{
    ngx_http_itsm_delivery_t  *d;

    d = ngx_http_itsm_deliver_capturing(r);

    if (d == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /* the copy filter, which runs before this one, then reads any part of
     * the answer that proxy buffered to a temporary file */
    r->filter_need_in_memory = 1;

    d->answered = 1;
    d->status = r->headers_out.status;
    d->retry_after = ngx_http_itsm_deliver_retry_after(r);

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_deliver_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t          *cl;
    ngx_http_itsm_delivery_t  *d;

    d = ngx_http_itsm_deliver_capturing(r);

    if (d == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (ngx_http_itsm_deliver_keep(r, d, cl->buf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_deliver_keep(ngx_http_request_t *r, ngx_http_itsm_delivery_t *d,
    ngx_buf_t *b)
{
    size_t        size;
    ngx_buf_t    *copy;
    ngx_chain_t  *cl;

    size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

    if (size == 0 && b->in_file && b->file_last > b->file_pos) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: an ITSM answer arrived in a file buffer and "
                      "was not read");
        d->truncated = 1;
    }

    if (size > d->connector->max_response - d->response_len) {
        size = d->connector->max_response - d->response_len;
        d->truncated = 1;
    }

    if (size) {
        copy = ngx_create_temp_buf(r->pool, size);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        copy->last = ngx_cpymem(copy->last, b->pos, size);

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = copy;
        cl->next = NULL;

        *d->last = cl;
        d->last = &cl->next;
        d->response_len += size;
    }

    /* consumed: lets proxy reuse its buffers */

    b->pos = b->last;

    if (b->in_file) {
        b->file_pos = b->file_last;
    }

    return NGX_OK;
}


/* the ITSM's Retry-After, in seconds; 0: none, or one that cannot be read */

static time_t
ngx_http_itsm_deliver_retry_after(ngx_http_request_t *r)
{
    time_t            date;
    ngx_int_t         n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Retry-After") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               h[i].key.len)
               != 0)
        {
            continue;
        }

        /* delay-seconds, or an HTTP-date (RFC 9110 10.2.3): the seconds
         * until then, at least 1 (a date past is "now, again") */

        n = ngx_atoi(h[i].value.data, h[i].value.len);

        if (n != NGX_ERROR) {
            return (time_t) n;
        }

        date = ngx_parse_http_time(h[i].value.data, h[i].value.len);

        if (date == NGX_ERROR) {
            return 0;
        }

        return ngx_max(date - ngx_time(), 1);
    }
}
