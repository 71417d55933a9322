
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"


/*
 * The content handler of an alert endpoint ("itsm_pass"): checks the
 * request, reads and parses the body, normalizes the alert, decides the
 * action, delivers it, and answers the sender with what happened.
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
static ngx_int_t ngx_http_itsm_handler_body_text(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *text);
static ngx_int_t ngx_http_itsm_handler_outcome(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_ticket_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id);
static ngx_int_t ngx_http_itsm_handler_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_summary(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_uint_t status, const char *summary,
    const char *action, const char *reason);
static u_char *ngx_http_itsm_handler_response(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, size_t *len);


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
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = ilcf;
    ctx->tpl.request = r;

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_module);

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
    off_t             length;
    ngx_int_t         rc;
    ngx_table_elt_t  *allow;

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
        allow = ngx_list_push(&r->headers_out.headers);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        allow->hash = 1;
        ngx_str_set(&allow->key, "Allow");
        ngx_str_set(&allow->value, "POST");

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

    return ngx_http_itsm_reply_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "body_too_large",
                                     "the body has %O bytes, more than the "
                                     "%uz allowed by itsm_max_body",
                                     length, ilcf->max_body);
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

    if (rc == NGX_DONE) {
        /* a delivery is in flight: ngx_http_itsm_handler_resume() goes on */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_itsm_handler_accept(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t      rc;
    ngx_str_t      text, error;
    ngx_uint_t     depth;
    json_error_t   err;

    rc = ngx_http_itsm_handler_body_text(r, ctx, &text);
    if (rc != NGX_OK) {
        return rc;
    }

    if (text.len == 0) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST, "empty_body",
                                         "the request has no body; send the "
                                         "alert as a JSON object");
    }

    if (ngx_http_itsm_json_check_depth(&text, ctx->conf->max_depth, &depth)
        != NGX_OK)
    {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST, "too_deep",
                                         "the JSON is nested deeper than %ui "
                                         "levels (itsm_max_depth)",
                                         ctx->conf->max_depth);
    }

    ctx->payload = json_loadb((const char *) text.data, text.len, 0, &err);

    if (ctx->payload == NULL) {
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

    ctx->alert = ngx_http_itsm_alert_generic(r, ctx->payload,
                                             ctx->conf->pointers, &error);
    if (ctx->alert == NULL) {
        if (error.len == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_alert", "%V", &error);
    }

    ctx->tpl.alert = ctx->alert;

    if (ctx->alert->state == NGX_HTTP_ITSM_RESOLVED) {
        ngx_str_set(&ctx->outcome, "ignored");

        return ngx_http_itsm_handler_summary(r, ctx, NGX_HTTP_OK, "ignored",
                                             "none",
                                             "the alert is resolved and no "
                                             "ticket is open for its key");
    }

    if (ngx_http_itsm_deliver(r, ctx, NGX_HTTP_ITSM_ACTION_CREATE) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/*
 * The body in one piece: it may sit in several memory buffers, or in a
 * temporary file when it exceeded client_body_buffer_size.
 */

static ngx_int_t
ngx_http_itsm_handler_body_text(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *text)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(text);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > (off_t) ctx->conf->max_body) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body_too_large",
                                         "the body has %O bytes, more than "
                                         "the %uz allowed by itsm_max_body",
                                         len, ctx->conf->max_body);
    }

    b = r->request_body->bufs->buf;

    if (r->request_body->bufs->next == NULL && ngx_buf_in_memory(b)) {
        text->data = b->pos;
        text->len = b->last - b->pos;
        return NGX_OK;
    }

    text->data = ngx_pnalloc(r->pool, len ? len : 1);
    if (text->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = text->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

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


/* the alert request is woken: the subrequest has finished */

void
ngx_http_itsm_handler_resume(ngx_http_request_t *r)
{
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_module);

    if (ctx == NULL || !ctx->delivered) {
        return;
    }

    ctx->delivered = 0;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_itsm_handler_outcome(r, ctx));
}


static ngx_int_t
ngx_http_itsm_handler_outcome(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   id;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->conf->connector;

    if (ctx->status < NGX_HTTP_OK
        || ctx->status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return ngx_http_itsm_handler_itsm_failed(r, ctx);
    }

    rc = ngx_http_itsm_handler_ticket_id(r, ctx, &id);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->tpl.ticket_id = id;
    ngx_str_set(&ctx->outcome, "created");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: connector \"%V\" created ticket \"%V\" for "
                  "alert \"%V\"", &conn->name, &id,
                  &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY]);

    return ngx_http_itsm_handler_summary(r, ctx, NGX_HTTP_CREATED, "created",
                                         "create", NULL);
}


/* the ticket id read from the create answer by the connector's pointer */

static ngx_int_t
ngx_http_itsm_handler_ticket_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id)
{
    u_char                     *data;
    size_t                      len;
    json_t                     *doc, *value;
    ngx_int_t                   rc;
    json_error_t                err;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->conf->connector;

    ngx_str_null(id);

    if (conn->ticket_id.data == NULL) {
        return NGX_OK;
    }

    if (ctx->truncated) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the answer of connector \"%V\" is larger than "
                      "its max_response %uz", &conn->name, conn->max_response);

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                         "itsm_bad_response",
                                         "the ITSM answered %ui, but its "
                                         "answer is larger than max_response "
                                         "(%uz bytes) of connector \"%V\"; the "
                                         "ticket id could not be read",
                                         ctx->status, conn->max_response,
                                         &conn->name);
    }

    data = ngx_http_itsm_handler_response(r, ctx, &len);
    if (data == NULL && len) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    doc = json_loadb((const char *) data, len, 0, &err);

    if (doc == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the answer of connector \"%V\" is not JSON: %s",
                      &conn->name, err.text);

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                         "itsm_bad_response",
                                         "the ITSM answered %ui, but not with "
                                         "JSON (%s); the ticket id could not "
                                         "be read", ctx->status, err.text);
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, doc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value = ngx_http_itsm_json_pointer(doc, &conn->ticket_id);

    rc = (value == NULL) ? NGX_DECLINED
                         : ngx_http_itsm_json_scalar(value, r->pool, id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED || id->len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: no ticket id at \"%V\" in the answer of "
                      "connector \"%V\"", &conn->ticket_id, &conn->name);

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                         "itsm_bad_response",
                                         "the ITSM answered %ui, but its "
                                         "answer has no ticket id at \"%V\" "
                                         "(ticket_id of connector \"%V\")",
                                         ctx->status, &conn->ticket_id,
                                         &conn->name);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_handler_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *data;
    size_t                      len;
    json_t                     *body, *text;
    time_t                      retry;
    ngx_uint_t                  status, unavailable;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->conf->connector;
    status = ctx->status;

    /* 408 and 429 are the ITSM asking for time, not refusing */

    unavailable = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                   || status == NGX_HTTP_REQUEST_TIME_OUT
                   || status == NGX_HTTP_TOO_MANY_REQUESTS
                   || status < NGX_HTTP_OK);

    data = ngx_http_itsm_handler_response(r, ctx, &len);
    if (data == NULL && len) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->answered) {
        text = ngx_http_itsm_json_text(r->pool, data, len,
                                       NGX_HTTP_ITSM_ERROR_TEXT_MAX);

    } else {
        text = json_string("no answer from the ITSM: the connection was "
                           "refused, reset or timed out (see the error log)");
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the ITSM answered %ui: \"%s\"",
                  &conn->name, &ngx_http_itsm_action_names[ctx->action],
                  status, text ? json_string_value(text) : "");

    ngx_str_set(&ctx->outcome, "failed");

    body = json_pack("{s:s, s:s%, s:s%, s:i, s:o*}",
                     "error", unavailable ? "itsm_unavailable"
                                          : "itsm_rejected",
                     "connector", conn->name.data, conn->name.len,
                     "action", ngx_http_itsm_action_names[ctx->action].data,
                     ngx_http_itsm_action_names[ctx->action].len,
                     "itsm_status", (int) status,
                     "itsm_error", text);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!unavailable) {
        return ngx_http_itsm_reply_json(r, NGX_HTTP_BAD_GATEWAY, body);
    }

    retry = ctx->itsm_retry_after ? ctx->itsm_retry_after
                                  : ctx->conf->retry_after;

    if (ngx_http_itsm_reply_retry_after(r, retry) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, body);
}


/*
 * {"status": "created", "alerts": [{"key": ..., "action": "create",
 *  "outcome": "created", "connector": "rt", "ticket_id": "20"}]}
 */

static ngx_int_t
ngx_http_itsm_handler_summary(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_uint_t status, const char *summary, const char *action,
    const char *reason)
{
    json_t                     *body, *alert;
    ngx_str_t                  *key;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->conf->connector;
    key = &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY];

    alert = json_pack("{s:s%, s:s, s:s%, s:s%}",
                      "key", key->data, key->len,
                      "action", action,
                      "outcome", ctx->outcome.data, ctx->outcome.len,
                      "connector", conn->name.data, conn->name.len);
    if (alert == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->tpl.ticket_id.len
        && json_object_set_new(alert, "ticket_id",
                               json_stringn(
                                   (const char *) ctx->tpl.ticket_id.data,
                                   ctx->tpl.ticket_id.len))
           != 0)
    {
        json_decref(alert);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reason && json_object_set_new(alert, "reason", json_string(reason))
                  != 0)
    {
        json_decref(alert);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = json_pack("{s:s, s:[o]}", "status", summary, "alerts", alert);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, status, body);
}


/* the captured answer in one piece */

static u_char *
ngx_http_itsm_handler_response(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    size_t *len)
{
    u_char       *data, *p;
    ngx_chain_t  *cl;

    *len = ctx->response_len;

    if (ctx->response == NULL) {
        return NULL;
    }

    if (ctx->response->next == NULL) {
        return ctx->response->buf->pos;
    }

    data = ngx_pnalloc(r->pool, ctx->response_len);
    if (data == NULL) {
        return NULL;
    }

    p = data;

    for (cl = ctx->response; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return data;
}
