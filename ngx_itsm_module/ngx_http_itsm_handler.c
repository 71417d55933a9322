
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"

#include <ngx_md5.h>


/*
 * The content handler of an alert endpoint ("itsm_pass"): checks the
 * request, reads and parses the body, normalizes the alerts, and for each
 * one: derives its correlation key, reads what the store knows of it,
 * decides the action (ngx_http_itsm_lifecycle.c), claims the key, delivers
 * the action's requests one after the other, and records the key's new
 * state.  Then it answers the sender with what happened to each alert.
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
static ngx_int_t ngx_http_itsm_handler_route(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_next(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_holders(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_alert(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_key(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_uint_t ngx_http_itsm_handler_occurrences(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_dedup(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static uint64_t ngx_http_itsm_handler_body_hash(ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_source_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id);

static ngx_int_t ngx_http_itsm_handler_refused(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_itsm_handler_claim(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_start(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_send(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_deliver(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e index,
    ngx_http_itsm_action_t *action);
static ngx_int_t ngx_http_itsm_handler_step_done(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_looked_up(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_gone(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_uint_t ngx_http_itsm_handler_unavailable(ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_queue(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_finish(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *ticket);
static ngx_int_t ngx_http_itsm_handler_wait(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_handler_wake(ngx_event_t *ev);
static void ngx_http_itsm_handler_release(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_flight_e result);
static ngx_int_t ngx_http_itsm_handler_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_found(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_joined(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_handler_renew_arm(ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_handler_renew_stop(ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_handler_renew(ngx_event_t *ev);
static ngx_int_t ngx_http_itsm_handler_read_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *pointer, ngx_str_t *id,
    ngx_str_t *why);
static ngx_uint_t ngx_http_itsm_handler_plan_has(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_action_e action);
static void ngx_http_itsm_handler_decide(ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_handler_cleanup(void *data);
static ngx_int_t ngx_http_itsm_handler_result(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *ticket);
static ngx_int_t ngx_http_itsm_handler_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_handler_store_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_itsm_handler_summary(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
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
        return ngx_http_itsm_handler_refused(r, rc);
    }

    ctx = ngx_http_itsm_handler_ctx(r, ilcf);
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


/* the state of an alert request; also for the replay location's */

ngx_http_itsm_ctx_t *
ngx_http_itsm_handler_ctx(ngx_http_request_t *r, ngx_http_itsm_loc_conf_t *conf)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_itsm_ctx_t        *ctx;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->conf = conf;
    ctx->store = imcf->store;
    ctx->tpl.request = r;

    /* a claim must not outlive its request, nor a wait timer */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_itsm_handler_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_module);

    return ctx;
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

    if (ctx->alerts.nelts == 0) {
        rc = ngx_http_itsm_handler_refused(r, rc);
    }

    if (rc == NGX_DONE) {
        /* a delivery is in flight: ngx_http_itsm_handler_resume() goes on */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_itsm_handler_accept(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_str_t                text, error;
    ngx_uint_t               depth;
    json_error_t             err;

    rc = ngx_http_itsm_handler_body_text(r, ctx, &text);

    /* a body over itsm_max_body was answered already (413) */

    if (rc != NGX_OK || r->header_sent) {
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

    ctx->body = text;

    /* a key given twice is refused, not read as "the last one wins":
     * {"status": "resolved", "status": "firing"} must not open a ticket */

    ctx->payload = json_loadb((const char *) text.data, text.len,
                              JSON_REJECT_DUPLICATES, &err);

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

    if (ngx_array_init(&ctx->alerts, r->pool, 1,
                       sizeof(ngx_http_itsm_alert_t *))
        != NGX_OK
        || ngx_array_init(&ctx->results, r->pool, 1,
                          sizeof(ngx_http_itsm_result_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&error);

    if (ngx_http_itsm_alert_parse(r, ctx->conf, ctx->payload, &ctx->alerts,
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

    ctx->index = 0;

    return ngx_http_itsm_handler_run(r, ctx);
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

    /* "Content-Length: 0" leaves an empty buffer, in no memory or file */

    if (len == 0) {
        return NGX_OK;
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
 * Handles the alerts from ctx->index on, each for each of its connectors
 * (ctx->target).  NGX_DONE: a delivery or a wait is in flight and will
 * call back; otherwise the answer was sent (or an error status is returned
 * for nginx to send).
 */

ngx_int_t
ngx_http_itsm_handler_run(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;

    while (ctx->index < ctx->alerts.nelts) {

        if (!ctx->routed) {
            rc = ngx_http_itsm_handler_route(r, ctx);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        while (ctx->target < ctx->targets.nelts) {

            ctx->connector = ((ngx_http_itsm_connector_t **)
                                  ctx->targets.elts)[ctx->target];

            rc = ngx_http_itsm_handler_alert(r, ctx);

            /* an answer already sent (the ITSM or the store failed) ends
             * the request */

            if (rc != NGX_OK || r->header_sent) {
                return rc;
            }

            ctx->target++;
            ctx->seq++;
        }

        ctx->routed = 0;
        ctx->index++;
    }

    return ngx_http_itsm_handler_summary(r, ctx);
}


/* the alert in hand is done for its connector: on to the next */

static ngx_int_t
ngx_http_itsm_handler_next(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ctx->target++;
    ctx->seq++;

    return ngx_http_itsm_handler_run(r, ctx);
}


/*
 * The connectors of the alert at ctx->index: those of "itsm_pass", or
 * those its variable names for this alert (names separated by spaces or
 * commas; $itsm_* variables see the alert, so "map" can route by
 * severity, source or service).  An alert routed nowhere gets a result
 * that says so.
 */

static ngx_int_t
ngx_http_itsm_handler_route(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                      *p, *last, *start;
    ngx_str_t                    value, name;
    ngx_http_itsm_result_t      *res;
    ngx_http_itsm_connector_t  **conn;
    ngx_http_itsm_main_conf_t   *imcf;

    ctx->alert = ((ngx_http_itsm_alert_t **) ctx->alerts.elts)[ctx->index];
    ctx->connector = NULL;
    ctx->target = 0;
    ctx->routed = 1;

    if (ctx->conf->route == NULL) {
        ctx->targets = *ctx->conf->connectors;
        return NGX_OK;
    }

    if (ngx_array_init(&ctx->targets, r->pool, 2,
                       sizeof(ngx_http_itsm_connector_t *))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_complex_value(r, ctx->conf->route, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    p = value.data;
    last = p + value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ' ' && *p != ',') {
            p++;
        }

        if (p == start) {
            break;
        }

        name.data = start;
        name.len = p - start;

        conn = ngx_array_push(&ctx->targets);
        if (conn == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *conn = ngx_http_itsm_conn_find(imcf, &name);

        if (*conn == NULL) {
            ctx->targets.nelts--;
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm: alert \"%V\" is routed to \"%V\", which is "
                          "no connector",
                          &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY], &name);
        }
    }

    if (ngx_http_itsm_handler_holders(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->targets.nelts) {
        return NGX_OK;
    }

    res = ngx_array_push(&ctx->results);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(res, sizeof(ngx_http_itsm_result_t));

    res->alert = ctx->alert;
    res->key = ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY];
    res->action = NGX_HTTP_ITSM_ACTION_NONE;
    res->outcome = NGX_HTTP_ITSM_OUTCOME_IGNORED;
    res->reason = "the alert is routed to no connector";

    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_IGNORED);

    return NGX_OK;
}


/*
 * A route chosen per alert may name none of the connectors that hold a
 * ticket for the alert (a resolved alert carries no severity, a repeat's
 * severity changed): every connector with an open ticket for the alert's
 * key gets the alert as well, so that a ticket is never left open for
 * want of a route.
 */

static ngx_int_t
ngx_http_itsm_handler_holders(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_str_t                    key;
    ngx_uint_t                   i, j;
    ngx_http_itsm_record_t       rec;
    ngx_http_itsm_connector_t  **conn, **t, **p;
    ngx_http_itsm_main_conf_t   *imcf;

    if (ctx->store == NULL) {
        return NGX_OK;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    conn = imcf->connectors.elts;

    ctx->tpl.alert = ctx->alert;
    ctx->tpl.record = NULL;

    for (i = 0; i < imcf->connectors.nelts; i++) {

        t = ctx->targets.elts;

        for (j = 0; j < ctx->targets.nelts; j++) {
            if (t[j] == conn[i]) {
                break;
            }
        }

        if (j < ctx->targets.nelts) {
            continue;
        }

        ctx->connector = conn[i];

        if (ngx_http_itsm_handler_key(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        key = ctx->key;

        if (ngx_http_itsm_store_get(ctx->store, &conn[i]->name, &key, &rec)
            != NGX_OK
            || rec.state != NGX_HTTP_ITSM_KEY_OPEN)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm: alert \"%V\" goes to connector \"%V\" as well, "
                      "which holds its ticket \"%V\"",
                      &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY],
                      &conn[i]->name, &rec.ticket);

        p = ngx_array_push(&ctx->targets);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = conn[i];
    }

    ctx->connector = NULL;

    return NGX_OK;
}

/* starts, or starts again after a wait, the alert in hand for ctx->connector */

static ngx_int_t
ngx_http_itsm_handler_alert(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ctx->tpl.alert = ctx->alert;
    ctx->tpl.record = NULL;
    ngx_str_null(&ctx->tpl.ticket_id);
    ngx_str_null(&ctx->tpl.key);

    if (ngx_http_itsm_handler_key(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->tpl.key = ctx->key;

    ngx_memzero(&ctx->record, sizeof(ngx_http_itsm_record_t));

    rc = ngx_http_itsm_handler_dedup(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->store == NULL) {
        /* no memory of earlier alerts: every firing alert creates */
        ctx->tpl.occurrences = ngx_http_itsm_handler_occurrences(r, ctx);
        ngx_http_itsm_handler_decide(ctx);
        return ngx_http_itsm_handler_start(r, ctx);
    }

    rc = ngx_http_itsm_store_get(ctx->store, &conn->name, &ctx->key,
                                 &ctx->record);
    if (rc == NGX_ERROR) {
        return ngx_http_itsm_handler_store_failed(r, ctx, "read");
    }

    if (ctx->counted != ctx->seq + 1) {
        ctx->counted = ctx->seq + 1;
        ctx->tpl.occurrences = ngx_http_itsm_handler_occurrences(r, ctx);
    }

    /* the claim this request joined has ended: its outcome is ours */

    if (ctx->joined && ctx->record.last_token == ctx->joined) {
        rc = ngx_http_itsm_handler_joined(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ctx->joined = 0;

    if (ngx_http_itsm_store_busy(&ctx->record, ngx_time())) {
        return ngx_http_itsm_handler_wait(r, ctx);
    }

    ngx_http_itsm_handler_decide(ctx);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm alert \"%V\" connector \"%V\": key state:%ui "
                   "steps:%ui", &ctx->key, &conn->name, ctx->record.state,
                   ctx->plan.nsteps);

    if (ctx->plan.nsteps == 0) {
        /* nothing to change now: read only, except for a key in its
         * cooldown, whose alert is held to be sent when the cooldown ends */

        if (ctx->plan.coalesce) {
            rc = ngx_http_itsm_queue_hold(r, ctx, ctx->plan.due);

            if (rc == NGX_ERROR) {
                return ngx_http_itsm_handler_store_failed(r, ctx, "keep");
            }
        }

        ctx->tpl.record = &ctx->record;
        return ngx_http_itsm_handler_result(r, ctx, &ctx->record.ticket);
    }

    return ngx_http_itsm_handler_claim(r, ctx);
}


/* this alert counts: in the zone when there is one, else in the store */

static ngx_uint_t
ngx_http_itsm_handler_occurrences(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *p;
    ngx_str_t                   key, *name;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ctx->tpl.last_seen = ctx->record.last_seen;

    if (imcf->zone == NULL) {
        return ctx->record.occurrences + (ctx->replay ? 0 : 1);
    }

    name = &ctx->connector->name;

    key.len = name->len + 1 + ctx->key.len;
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        return ctx->record.occurrences + 1;
    }

    p = ngx_cpymem(key.data, name->data, name->len);
    *p++ = '\0';
    ngx_memcpy(p, ctx->key.data, ctx->key.len);

    /* a replay is no new occurrence: the alerts it stands for counted */

    return ngx_http_itsm_zone_hit(imcf->zone, &key, ctx->record.occurrences,
                                  &ctx->tpl.last_seen, ctx->replay ? 0 : 1);
}


/*
 * A delivery seen before (same delivery id, within the window) gets the
 * first answer again and changes nothing: NGX_OK with its result pushed.
 * NGX_DECLINED: a new delivery, ctx->dedup holds its id (may be empty).
 */

static ngx_int_t
ngx_http_itsm_handler_dedup(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *p;
    ngx_str_t                   id, *name;
    ngx_uint_t                  per_alert;
    ngx_table_elt_t            *h;
    ngx_http_itsm_answer_t      ans;
    ngx_http_itsm_result_t     *res;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ngx_str_null(&ctx->dedup);
    per_alert = 0;

    if (imcf->zone == NULL || ctx->conf->dedup_off) {
        return NGX_DECLINED;
    }

    if (ctx->conf->dedup) {
        if (ngx_http_itsm_tpl_render(ctx->conf->dedup, &ctx->tpl, r->pool,
                                     &id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        h = ngx_http_itsm_handler_header(r, "Idempotency-Key");

        if (h == NULL) {
            h = ngx_http_itsm_handler_header(r, "webhook-id");
        }

        if (h) {
            id = h->value;

            /* the sender's own id names one delivery: the same id with
             * another body is a mistake, not a retry (as Stripe has it) */

            ctx->body_hash = ngx_http_itsm_handler_body_hash(ctx);

        } else if (ngx_http_itsm_handler_source_id(r, ctx, &id) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            /* already one id per alert */
            per_alert = 1;
        }
    }

    if (id.len == 0) {
        return NGX_DECLINED;
    }

    /* "connector \0 id [\0 index]": the alerts of one delivery apart */

    name = &ctx->connector->name;

    ctx->dedup.data = ngx_pnalloc(r->pool, name->len + id.len + 2
                                           + NGX_INT_T_LEN);
    if (ctx->dedup.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->dedup.data, name->data, name->len);
    *p++ = '\0';
    p = ngx_cpymem(p, id.data, id.len);

    if (ctx->alerts.nelts > 1 && !per_alert) {
        p = ngx_sprintf(p, "%Z%ui", ctx->index);
    }

    ctx->dedup.len = p - ctx->dedup.data;

    if (ngx_http_itsm_zone_answer_get(imcf->zone, &ctx->dedup, &ans)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ctx->body_hash && ans.body && ans.body != ctx->body_hash) {
        ngx_str_set(&ctx->outcome, "refused");
        ngx_http_itsm_status_count(r, ctx->conf->source,
                                   NGX_HTTP_ITSM_OUTCOME_REFUSED);

        return ngx_http_itsm_reply_error(r, 422,
                                         "idempotency_key_reused",
                                         "the delivery id \"%V\" was used "
                                         "before with another body; a retry "
                                         "sends the same body, a new alert "
                                         "needs a new id", &id);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: delivery \"%V\" was seen before: its first answer "
                  "is given again", &id);

    res = ngx_array_push(&ctx->results);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(res, sizeof(ngx_http_itsm_result_t));

    res->alert = ctx->alert;
    res->connector = ctx->connector;
    res->key = ctx->key;
    res->action = ans.action;
    res->outcome = ans.outcome;
    res->replayed = 1;

    if (ans.ticket.len) {
        res->ticket_id.data = ngx_pstrdup(r->pool, &ans.ticket);
        if (res->ticket_id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        res->ticket_id.len = ans.ticket.len;
    }

    ctx->outcome = ngx_http_itsm_outcome_names[NGX_HTTP_ITSM_OUTCOME_DUPLICATE];
    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_DUPLICATE);

    return NGX_OK;
}


/* the hash of the request's body, as it was sent */

static uint64_t
ngx_http_itsm_handler_body_hash(ngx_http_itsm_ctx_t *ctx)
{
    u_char     digest[16];
    uint64_t   hash;
    ngx_md5_t  md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ctx->body.data, ctx->body.len);
    ngx_md5_final(digest, &md5);

    ngx_memcpy(&hash, digest, sizeof(hash));

    return hash ? hash : 1;
}

/*
 * A delivery's id when the request names none, from what each source
 * sends again for the same event: Alertmanager and Grafana resend a group
 * (fingerprint, status, startsAt), Azure retries a notification (alertId,
 * monitorCondition).  Empty: the source has none.
 */

static ngx_int_t
ngx_http_itsm_handler_source_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id)
{
    u_char                 *p;
    ngx_str_t              *f;
    ngx_http_itsm_alert_t  *alert;

    ngx_str_null(id);

    alert = ctx->alert;
    f = alert->fields;

    switch (ctx->conf->source) {

    case NGX_HTTP_ITSM_SOURCE_ALERTMANAGER:
    case NGX_HTTP_ITSM_SOURCE_GRAFANA:
    case NGX_HTTP_ITSM_SOURCE_AZURE:
        break;

    default:
        return NGX_OK;
    }

    id->data = ngx_pnalloc(r->pool, f[NGX_HTTP_ITSM_FIELD_KEY].len
                                    + f[NGX_HTTP_ITSM_FIELD_STATUS].len
                                    + f[NGX_HTTP_ITSM_FIELD_STARTS_AT].len
                                    + 2);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(id->data, "%V:%V", &f[NGX_HTTP_ITSM_FIELD_KEY],
                    &f[NGX_HTTP_ITSM_FIELD_STATUS]);

    if (ctx->conf->source != NGX_HTTP_ITSM_SOURCE_AZURE) {
        p = ngx_sprintf(p, ":%V", &f[NGX_HTTP_ITSM_FIELD_STARTS_AT]);
    }

    id->len = p - id->data;

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_itsm_handler_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
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


/* the correlation key: the connector's "key" template, or the alert's key */

static ngx_int_t
ngx_http_itsm_handler_key(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    if (conn->key) {
        if (ngx_http_itsm_tpl_render(conn->key, &ctx->tpl, r->pool, &ctx->key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->key.len) {
            return NGX_OK;
        }
    }

    ctx->key = ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY];

    return NGX_OK;
}


/*
 * The claim makes this request the only one changing the key; the
 * decision is taken again on the record as the claim found it, since
 * another request may have changed it since it was read.
 */

static ngx_int_t
ngx_http_itsm_handler_claim(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  create;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    create = ngx_http_itsm_handler_plan_has(&ctx->plan,
                                            NGX_HTTP_ITSM_ACTION_CREATE);

    rc = ngx_http_itsm_store_claim(ctx->store, &conn->name, &ctx->key,
                                   &ctx->record,
                                   ngx_http_itsm_alert_hash(ctx->alert),
                                   create);

    if (rc == NGX_BUSY) {
        return ngx_http_itsm_handler_wait(r, ctx);
    }

    if (rc != NGX_OK) {
        return ngx_http_itsm_handler_store_failed(r, ctx, "claim");
    }

    ctx->claimed = 1;
    ctx->doubt = ctx->record.doubt ? 1 : 0;
    ctx->create_sent = 0;
    ctx->unknown = 0;
    ctx->found = 0;

    ngx_http_itsm_handler_renew_arm(ctx);

    ngx_http_itsm_handler_decide(ctx);

    if (ctx->plan.nsteps == 0) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_NOTHING);
        ctx->tpl.record = &ctx->record;
        return ngx_http_itsm_handler_result(r, ctx, &ctx->record.ticket);
    }

    /* the key changed between the read and the claim, and a create is
     * to be sent after all: the claim says so first */

    if (!create && ngx_http_itsm_handler_plan_has(&ctx->plan,
                                            NGX_HTTP_ITSM_ACTION_CREATE)
        && ngx_http_itsm_store_doubt(ctx->store, &conn->name, &ctx->key,
                                     ctx->record.token)
           != NGX_OK)
    {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return ngx_http_itsm_handler_store_failed(r, ctx, "claim");
    }

    return ngx_http_itsm_handler_start(r, ctx);
}


static ngx_int_t
ngx_http_itsm_handler_start(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->plan.nsteps == 0) {
        return ngx_http_itsm_handler_result(r, ctx, NULL);
    }

    ctx->tpl.record = &ctx->record;
    ctx->record.ticket.data = ctx->record.ticket_data;
    ctx->tpl.ticket_id = ctx->record.ticket;
    ctx->step = 0;
    ctx->gone = 0;
    ctx->digest = NULL;
    ctx->held = 0;

    /* a comment carries what waits for the key: the notes of a cooldown */

    if (ctx->store && ngx_http_itsm_handler_plan_has(&ctx->plan,
                                              NGX_HTTP_ITSM_ACTION_COMMENT)
        && ngx_http_itsm_queue_notes(r, ctx) != NGX_OK)
    {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_handler_send(r, ctx);
}


/* the plan's current step: its lookup first, if it has one */

static ngx_int_t
ngx_http_itsm_handler_send(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_action_e      index;
    ngx_http_itsm_action_t     *action;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    index = ctx->plan.steps[ctx->step];

    ngx_str_null(&ctx->tpl.lookup);

    ctx->finding = 0;
    ctx->looking = 0;

    /* a comment says what was held for the key as well */

    ctx->tpl.alert = (index == NGX_HTTP_ITSM_ACTION_COMMENT && ctx->digest)
                     ? ctx->digest : ctx->alert;

    /*
     * An earlier create of this key may have made the ticket (its answer
     * was lost, its worker died): the ITSM is asked for a ticket that
     * carries the key before another create is sent.
     */

    if (index == NGX_HTTP_ITSM_ACTION_CREATE && ctx->doubt && !ctx->found) {

        if (conn->find != NULL) {
            ctx->finding = 1;
            action = &conn->find->request;

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "itsm: connector \"%V\": the outcome of an earlier "
                          "create of key \"%V\" is unknown; asking the ITSM "
                          "for its ticket first", &conn->name, &ctx->key);

            return ngx_http_itsm_handler_deliver(r, ctx, index, action);
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: connector \"%V\": the outcome of an earlier "
                      "create of key \"%V\" is unknown and the connector "
                      "has no \"find\" line to ask the ITSM: it is created "
                      "again, which makes a second ticket unless the ITSM "
                      "merges creates by itself (PagerDuty's dedup_key, "
                      "Opsgenie's alias)",
                      &conn->name, &ctx->key);

        ctx->found = 1;
    }

    if (conn->lookups[index] != NULL) {
        ctx->looking = 1;
        action = &conn->lookups[index]->request;

    } else {
        action = conn->actions[index];
    }

    return ngx_http_itsm_handler_deliver(r, ctx, index, action);
}


/* NGX_DONE: the request is in flight; a failure to make it ends the claim */

static ngx_int_t
ngx_http_itsm_handler_deliver(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_action_e index, ngx_http_itsm_action_t *action)
{
    if (ngx_http_itsm_deliver(r, ctx, index, action) != NGX_OK) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (index == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->finding
        && !ctx->looking)
    {
        ctx->create_sent = 1;
    }

    return NGX_DONE;
}


/* the alert request is woken: the subrequest has finished */

void
ngx_http_itsm_handler_resume(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_module);

    if (ctx == NULL || !ctx->delivered) {
        return;
    }

    ctx->delivered = 0;
    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_itsm_handler_step_done(r, ctx);

    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_http_itsm_handler_next(r, ctx);
    }

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * NGX_OK: the alert is done (or, with r->header_sent, it failed and the
 * answer was sent); NGX_DONE: its next request is in flight.
 */

static ngx_int_t
ngx_http_itsm_handler_step_done(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  id, why;

    if (ctx->finding) {
        return ngx_http_itsm_handler_found(r, ctx);
    }

    if (ctx->status < NGX_HTTP_OK
        || ctx->status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        ngx_http_itsm_status_count_action(r, ctx->action, 1);

        if (!ctx->gone
            && ngx_http_itsm_lifecycle_gone(ctx->connector, ctx->action,
                                            ctx->status, &ctx->record)
               == NGX_OK)
        {
            return ngx_http_itsm_handler_gone(r, ctx);
        }

        /*
         * A create that got no answer, or a 5xx, may have been made all
         * the same (the ITSM created the ticket, then timed out or reset;
         * a gateway in front of it answered 502 or 504).  A 4xx is the
         * ITSM's own refusal: nothing was made.
         */

        if (ctx->action == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->looking
            && (!ctx->answered
                || ctx->status >= NGX_HTTP_INTERNAL_SERVER_ERROR))
        {
            ctx->unknown = 1;
        }

        return ngx_http_itsm_handler_failed(r, ctx);
    }

    if (ctx->looking) {
        rc = ngx_http_itsm_handler_looked_up(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* nothing to do for this step ("missing=skip") */

    } else {
        ngx_http_itsm_status_count_action(r, ctx->action, 0);
    }

    /* a connector that reads no ticket id (a chat) keeps none */

    if (ctx->action == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->looking
        && ctx->connector->ticket_id.data != NULL)
    {
        rc = ngx_http_itsm_handler_read_id(r, ctx, &ctx->connector->ticket_id,
                                           &id, &why);

        if (rc == NGX_ERROR) {
            ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            /* the ITSM says it made the ticket, but the id cannot be used:
             * the key stays as it was, and remembers that the ticket may
             * exist, so that the next create asks the ITSM first */

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm: connector \"%V\" create of key \"%V\": %V",
                          &ctx->connector->name, &ctx->key, &why);

            ctx->unknown = 1;
            ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);

            ngx_str_set(&ctx->outcome, "failed");
            ngx_http_itsm_status_count(r, ctx->conf->source,
                                       NGX_HTTP_ITSM_OUTCOME_FAILED);

            return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                             "itsm_bad_response", "%V", &why);
        }

        ctx->tpl.ticket_id = id;
    }

    if (++ctx->step < ctx->plan.nsteps) {
        return ngx_http_itsm_handler_send(r, ctx);
    }

    return ngx_http_itsm_handler_finish(r, ctx, &ctx->tpl.ticket_id);
}


/* 408 and 429 are the ITSM asking for time, not refusing */

static ngx_uint_t
ngx_http_itsm_handler_unavailable(ngx_http_itsm_ctx_t *ctx)
{
    return (ctx->status >= NGX_HTTP_INTERNAL_SERVER_ERROR
            || ctx->status == NGX_HTTP_REQUEST_TIME_OUT
            || ctx->status == NGX_HTTP_TOO_MANY_REQUESTS
            || ctx->status < NGX_HTTP_OK);
}


/*
 * "itsm_queue on": the ITSM cannot take the alert now, so the store keeps
 * it (the key's latest state, as for a cooldown) and the sender is told
 * it is accepted; the kick delivers it once it is due, with backoff, and
 * makes it a dead letter after itsm_retry's attempts.  Whatever steps of
 * the plan succeeded stay done: the replay decides again from the store.
 */

static ngx_int_t
ngx_http_itsm_handler_queue(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    time_t  due;

    due = ngx_time() + (ctx->itsm_retry_after ? ctx->itsm_retry_after
                                              : ctx->conf->retry_after);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the ITSM answered %ui; the "
                  "alert \"%V\" is queued, first retry in %T s",
                  &ctx->connector->name,
                  &ngx_http_itsm_action_names[ctx->action], ctx->status,
                  &ctx->key, due - ngx_time());

    /* kept before the claim ends: a request that joined it and is told
     * "queued" finds the alert in the queue */

    if (ngx_http_itsm_queue_hold(r, ctx, due) == NGX_ERROR) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE);
        return ngx_http_itsm_handler_itsm_failed(r, ctx);
    }

    ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_QUEUED);

    ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_QUEUED;
    ctx->plan.reason = "the ITSM is unavailable; the alert is kept and "
                       "delivered when it answers";

    return ngx_http_itsm_handler_result(r, ctx, &ctx->record.ticket);
}


/*
 * The ITSM no longer has the key's ticket ("on_gone new"): the key
 * forgets it, and a firing alert opens a new ticket in the same claim.
 * Only once per alert: a create that meets a 404 is a failure.
 */

static ngx_int_t
ngx_http_itsm_handler_gone(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\": ticket \"%V\" of key \"%V\" no "
                  "longer exists (the ITSM answered %ui to %V%s); %s",
                  &ctx->connector->name, &ctx->record.ticket, &ctx->key,
                  ctx->status, &ngx_http_itsm_action_names[ctx->action],
                  ctx->looking ? "'s lookup" : "",
                  ctx->alert->state == NGX_HTTP_ITSM_FIRING
                  ? "a new ticket is created" : "the key forgets it");

    ctx->gone = 1;
    ctx->looking = 0;

    ngx_http_itsm_lifecycle_forget(&ctx->record, ctx->alert->state,
                                   &ctx->plan);

    ngx_str_null(&ctx->tpl.ticket_id);

    if (ctx->plan.nsteps == 0) {
        /* the key's record goes: a release of a key that had no ticket */
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_NOTHING);
        return ngx_http_itsm_handler_result(r, ctx, NULL);
    }

    /* the create that follows is one the claim did not announce */

    if (ngx_http_itsm_store_doubt(ctx->store, &ctx->connector->name,
                                  &ctx->key, ctx->record.token)
        != NGX_OK)
    {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return ngx_http_itsm_handler_store_failed(r, ctx, "claim");
    }

    ctx->step = 0;

    return ngx_http_itsm_handler_send(r, ctx);
}


/*
 * The lookup of the current step answered: its value is picked and the
 * action itself is sent (NGX_DONE); NGX_DECLINED: nothing matched and the
 * lookup says the action is then not needed; otherwise the sender's answer
 * was sent and its rc is returned.
 */

static ngx_int_t
ngx_http_itsm_handler_looked_up(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *data;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_str_t                   why;
    ngx_http_itsm_lookup_t     *lk;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    lk = conn->lookups[ctx->action];

    data = ngx_http_itsm_handler_response(r, ctx, &len);
    if (data == NULL && len) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->truncated) {
        rc = NGX_ABORT;
        ngx_str_set(&why, "the answer is larger than the connector's "
                          "max_response");

    } else {
        rc = ngx_http_itsm_lookup_pick(lk, data, len, r->pool,
                                       &ctx->tpl.lookup, &why);
    }

    if (rc == NGX_ERROR) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm lookup %V: \"%V\"",
                       &ngx_http_itsm_action_names[ctx->action],
                       &ctx->tpl.lookup);

        ctx->looking = 0;

        return ngx_http_itsm_handler_deliver(r, ctx, ctx->action,
                                             conn->actions[ctx->action]);
    }

    /* a warning: the ticket was moved by hand, or the wanted names do not
     * fit the ITSM's workflow, and only the log tells the two apart */

    if (rc == NGX_DECLINED && lk->skip) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: connector \"%V\" skips %V of ticket \"%V\": "
                      "%V", &conn->name,
                      &ngx_http_itsm_action_names[ctx->action],
                      &ctx->tpl.ticket_id, &why);
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the lookup of ticket \"%V\" "
                  "failed: %V", &conn->name,
                  &ngx_http_itsm_action_names[ctx->action],
                  &ctx->tpl.ticket_id, &why);

    ngx_http_itsm_status_count_action(r, ctx->action, 1);
    ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                     "itsm_lookup_failed",
                                     "connector \"%V\" could not %V ticket "
                                     "\"%V\": the ITSM answered %ui to the "
                                     "lookup, but %V", &conn->name,
                                     &ngx_http_itsm_action_names[ctx->action],
                                     &ctx->tpl.ticket_id, ctx->status, &why);
}


/* every request of the plan succeeded: the key's new state is recorded */

/* every request of the plan succeeded: the key's new state is recorded */

static ngx_int_t
ngx_http_itsm_handler_finish(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_str_t *ticket)
{
    ngx_int_t                   rc;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ngx_http_itsm_lifecycle_apply(&ctx->plan, &ctx->record, ticket,
                                  ctx->tpl.occurrences);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: connector \"%V\" %V ticket \"%V\" for alert \"%V\"",
                  &conn->name, &ngx_http_itsm_outcome_names[ctx->plan.outcome],
                  &ctx->record.ticket, &ctx->key);

    if (ctx->claimed) {
        ctx->claimed = 0;
        ngx_http_itsm_handler_renew_stop(ctx);

        rc = ngx_http_itsm_store_commit(ctx->store, &conn->name, &ctx->key,
                                        &ctx->record);

        if (rc != NGX_OK) {
            /* the ITSM has the change, the store could not record it: the
             * sender is still told, the log says what to repair */
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "itsm: ticket \"%V\" of key \"%V\" is not recorded "
                          "in the store%s", &ctx->record.ticket, &ctx->key,
                          rc == NGX_DECLINED ? ": the claim was taken over"
                                             : "");
        }
    }

    return ngx_http_itsm_handler_result(r, ctx, &ctx->record.ticket);
}


/*
 * Another request holds the key's claim: look again shortly, backing off
 * up to 200 ms, until the claim is committed, released or expires.
 */

/*
 * Another request holds the key's claim: look again shortly, backing off
 * up to 200 ms, until the claim is committed or released, or its request
 * is gone.  An alert identical to the one the claim acts for joins it: it
 * sends nothing of its own and is answered with the claim's outcome.
 */

static ngx_int_t
ngx_http_itsm_handler_wait(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->wait.handler == NULL) {
        ctx->wait.handler = ngx_http_itsm_handler_wake;
        ctx->wait.data = r->connection;    /* read by debug logging */
        ctx->wait.log = r->connection->log;
    }

    if (!ctx->replay && ctx->record.pending
        && ctx->record.hash == ngx_http_itsm_alert_hash(ctx->alert))
    {
        ctx->joined = ctx->record.token;
    }

    /* a live claim is renewed while its request waits on the ITSM, and
     * ends with it: waiting much longer than an ITSM's timeouts means
     * the store is stuck */

    if (ctx->wait_until == 0) {
        ctx->wait_until = ngx_time() + NGX_HTTP_ITSM_WAIT_MAX;
        ctx->wait_delay = 5;

    } else {
        ctx->wait_delay = ngx_min(ctx->wait_delay * 2, 200);
    }

    if (ngx_time() > ctx->wait_until) {
        return ngx_http_itsm_handler_store_failed(r, ctx, "wait for");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm: key \"%V\" is claimed, waiting %M ms%s",
                   &ctx->key, ctx->wait_delay,
                   ctx->joined ? " (joined)" : "");

    ngx_add_timer(&ctx->wait, ctx->wait_delay);

    return NGX_DONE;
}


static void
ngx_http_itsm_handler_wake(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = (ngx_http_itsm_ctx_t *)
              ((u_char *) ev - offsetof(ngx_http_itsm_ctx_t, wait));
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    rc = ngx_http_itsm_handler_alert(r, ctx);

    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_http_itsm_handler_next(r, ctx);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    /* a subrequest started here is only posted */
    ngx_http_run_posted_requests(c);
}


/* the claim ends with the key as it was: nothing was changed */

/*
 * The claim ends with the key as it was: nothing was changed.  "result"
 * is what the requests that joined it read; a create whose outcome is
 * unknown leaves the key in doubt, so that the next create asks the ITSM.
 */

static void
ngx_http_itsm_handler_release(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_flight_e result)
{
    ngx_int_t                rc;
    ngx_http_itsm_record_t  *rec;

    if (!ctx->claimed) {
        return;
    }

    ctx->claimed = 0;
    ngx_http_itsm_handler_renew_stop(ctx);

    rec = &ctx->record;

    rec->last_result = result;
    rec->last_status = ctx->status;
    rec->last_retry = ctx->itsm_retry_after;

    if (ctx->unknown && rec->doubt == 0) {
        rec->doubt = ngx_time();
    }

    rc = ngx_http_itsm_store_release(ctx->store, &ctx->connector->name,
                                     &ctx->key, rec);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                      "itsm: the claim of key \"%V\" could not be released; "
                      "it is taken over when its lease ends", &ctx->key);
    }
}


static void
ngx_http_itsm_handler_cleanup(void *data)
{
    ngx_http_itsm_ctx_t *ctx = data;

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    /* the request ended with its create in flight (the sender went away,
     * the worker is shutting down): the ITSM may make the ticket */

    if (ctx->claimed && ctx->create_sent) {
        ctx->unknown = 1;
    }

    ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
}


/*
 * A request of the plan failed: with "itsm_queue on" an ITSM that cannot
 * take the alert now gets it later from the queue; otherwise the sender
 * is told (502 for a refusal, 503 and Retry-After when it may try again).
 */

static ngx_int_t
ngx_http_itsm_handler_failed(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_uint_t  unavailable;

    unavailable = ngx_http_itsm_handler_unavailable(ctx);

    if (ctx->conf->queue && !ctx->replay && ctx->store && unavailable) {
        return ngx_http_itsm_handler_queue(r, ctx);
    }

    ngx_http_itsm_handler_release(ctx, unavailable
                                       ? NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE
                                       : NGX_HTTP_ITSM_FLIGHT_REFUSED);

    return ngx_http_itsm_handler_itsm_failed(r, ctx);
}


/*
 * The find answered: the ticket an earlier create of the key made (its
 * answer was lost) is taken as the key's ticket, and not created again;
 * when the ITSM has none (an empty result, or 404), the create is sent.
 */

static ngx_int_t
ngx_http_itsm_handler_found(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   id, why;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ctx->finding = 0;
    ctx->found = 1;

    if (ctx->status == NGX_HTTP_NOT_FOUND) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm: connector \"%V\": no ticket of key \"%V\" in "
                      "the ITSM (404); it is created", &conn->name, &ctx->key);

        return ngx_http_itsm_handler_send(r, ctx);
    }

    if (ctx->status < NGX_HTTP_OK
        || ctx->status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        /* the doubt stays: the next attempt asks again */
        ngx_http_itsm_status_count_action(r, ctx->action, 1);
        return ngx_http_itsm_handler_failed(r, ctx);
    }

    rc = ngx_http_itsm_handler_read_id(r, ctx, &conn->find->take, &id, &why);

    if (rc == NGX_ERROR) {
        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the key's old ticket (resolved, beyond the reopen window) is not the
     * one a new create made */

    if (rc == NGX_OK && ctx->record.ticket.len == id.len
        && ngx_strncmp(ctx->record.ticket.data, id.data, id.len) == 0)
    {
        rc = NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm: connector \"%V\": no ticket of key \"%V\" in "
                      "the ITSM; it is created", &conn->name, &ctx->key);

        return ngx_http_itsm_handler_send(r, ctx);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: connector \"%V\" find of key \"%V\": %V",
                      &conn->name, &ctx->key, &why);

        ngx_http_itsm_handler_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);

        ngx_str_set(&ctx->outcome, "failed");
        ngx_http_itsm_status_count(r, ctx->conf->source,
                                   NGX_HTTP_ITSM_OUTCOME_FAILED);

        return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                         "itsm_bad_response",
                                         "the ITSM's answer to the find of "
                                         "the key's ticket cannot be read: "
                                         "%V", &why);
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\": ticket \"%V\" of key \"%V\" was "
                  "made by an earlier create whose answer was lost; it is "
                  "not created again", &conn->name, &id, &ctx->key);

    ctx->tpl.ticket_id = id;
    ctx->plan.reason = "an earlier create of this key made the ticket, but "
                       "its answer was lost; the ticket was found in the ITSM";

    if (++ctx->step < ctx->plan.nsteps) {
        return ngx_http_itsm_handler_send(r, ctx);
    }

    return ngx_http_itsm_handler_finish(r, ctx, &ctx->tpl.ticket_id);
}


/*
 * The claim this request joined (an identical alert, in flight when this
 * one came) has ended: its outcome answers this alert too, and nothing is
 * sent for it.  NGX_DECLINED: that claim sent nothing, this alert is
 * decided on its own.
 */

static ngx_int_t
ngx_http_itsm_handler_joined(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    time_t                      retry;
    json_t                     *body;
    ngx_uint_t                  unavailable;
    ngx_http_itsm_record_t     *rec;
    ngx_http_itsm_connector_t  *conn;

    rec = &ctx->record;
    conn = ctx->connector;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm: key \"%V\": the joined claim ended, result:%ui",
                   &ctx->key, rec->last_result);

    ngx_memzero(&ctx->plan, sizeof(ngx_http_itsm_plan_t));

    switch (rec->last_result) {

    case NGX_HTTP_ITSM_FLIGHT_DONE:
        ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_DUPLICATE;
        ctx->plan.reason = "an identical alert for this key was being "
                           "delivered when this one came; it joined it";
        ctx->tpl.record = rec;
        return ngx_http_itsm_handler_result(r, ctx, &rec->ticket);

    case NGX_HTTP_ITSM_FLIGHT_QUEUED:
        ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_QUEUED;
        ctx->plan.reason = "an identical alert for this key was being "
                           "delivered when this one came, and is queued";
        ctx->tpl.record = rec;
        return ngx_http_itsm_handler_result(r, ctx, &rec->ticket);

    case NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE:
    case NGX_HTTP_ITSM_FLIGHT_REFUSED:
    case NGX_HTTP_ITSM_FLIGHT_FAILED:
        break;

    default:
        return NGX_DECLINED;
    }

    unavailable = (rec->last_result == NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE);

    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    body = json_pack("{s:s, s:s%, s:i, s:s}",
                     "error", unavailable ? "itsm_unavailable"
                              : (rec->last_result
                                 == NGX_HTTP_ITSM_FLIGHT_REFUSED)
                                ? "itsm_rejected" : "itsm_bad_response",
                     "connector", conn->name.data, conn->name.len,
                     "itsm_status", (int) rec->last_status,
                     "itsm_error", "an identical alert for this key was being "
                     "delivered when this one came, and failed; see the "
                     "error log for the ITSM's answer");
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!unavailable) {
        return ngx_http_itsm_reply_json(r, NGX_HTTP_BAD_GATEWAY, body);
    }

    retry = rec->last_retry ? rec->last_retry : ctx->conf->retry_after;

    if (ngx_http_itsm_reply_retry_after(r, retry) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, body);
}


/*
 * A claim lives as long as its request: its lease is renewed every third
 * of it while the request waits on the ITSM, so that a slow ITSM (longer
 * than the lease) never lets a second request take the key over.  A
 * worker that dies stops renewing, and its claim is taken over at once
 * (its pid is gone) or when the lease ends.
 */

static void
ngx_http_itsm_handler_renew_arm(ngx_http_itsm_ctx_t *ctx)
{
    ngx_msec_t  period;

    if (ctx->renew.handler == NULL) {
        ctx->renew.handler = ngx_http_itsm_handler_renew;
        ctx->renew.data = ctx->request->connection;
        ctx->renew.log = ctx->request->connection->log;
    }

    period = (ngx_msec_t) ngx_http_itsm_store_lease(ctx->store) * 1000 / 3;

    ngx_add_timer(&ctx->renew, ngx_max(period, 500));
}


static void
ngx_http_itsm_handler_renew_stop(ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->renew.timer_set) {
        ngx_del_timer(&ctx->renew);
    }
}


static void
ngx_http_itsm_handler_renew(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = (ngx_http_itsm_ctx_t *)
              ((u_char *) ev - offsetof(ngx_http_itsm_ctx_t, renew));

    if (!ctx->claimed) {
        return;
    }

    rc = ngx_http_itsm_store_renew(ctx->store, &ctx->connector->name,
                                   &ctx->key, ctx->record.token);

    if (rc == NGX_OK) {
        ngx_http_itsm_handler_renew_arm(ctx);
        return;
    }

    if (rc == NGX_ERROR) {
        /* the store failed: try again, the lease still runs */
        ngx_http_itsm_handler_renew_arm(ctx);
        return;
    }

    /* taken over: nothing of this claim is written any more */
    ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                  "itsm: the claim of key \"%V\" was taken over while its "
                  "request waited on the ITSM", &ctx->key);

    ctx->claimed = 0;
}


/*
 * The ticket id at "pointer" in the ITSM's answer: a string of 1 to 64
 * bytes without control characters, or an integer.  NGX_OK: "id" is set;
 * NGX_DECLINED: the answer has no value there; NGX_ABORT: the answer or
 * the value cannot be used; "why" then says so, for the sender and the
 * log.
 */

static ngx_int_t
ngx_http_itsm_handler_read_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *pointer, ngx_str_t *id,
    ngx_str_t *why)
{
    u_char                     *data, *p, *last;
    size_t                      len;
    json_t                     *doc, *value;
    ngx_uint_t                  i;
    const char                 *wrong;
    json_error_t                err;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ngx_str_null(id);

    p = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_ERROR_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    why->data = p;
    last = p + NGX_HTTP_ITSM_ERROR_TEXT_MAX;

    if (ctx->truncated) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but its "
                                "answer is larger than max_response (%uz "
                                "bytes) of connector \"%V\"; the ticket id "
                                "could not be read", ctx->status,
                                conn->max_response, &conn->name)
                   - p;
        return NGX_ABORT;
    }

    data = ngx_http_itsm_handler_response(r, ctx, &len);
    if (data == NULL && len) {
        return NGX_ERROR;
    }

    doc = json_loadb((const char *) data, len, 0, &err);

    if (doc == NULL) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but not "
                                "with JSON (%s); the ticket id could not be "
                                "read", ctx->status, err.text)
                   - p;
        return NGX_ABORT;
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, doc) != NGX_OK) {
        return NGX_ERROR;
    }

    value = ngx_http_itsm_json_pointer(doc, pointer);

    if (value == NULL || json_is_null(value)) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but its "
                                "answer has no ticket id at \"%V\" "
                                "(ticket_id of connector \"%V\")",
                                ctx->status, pointer, &conn->name)
                   - p;
        return NGX_DECLINED;
    }

    wrong = NULL;

    if (json_is_integer(value)) {
        id->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (id->data == NULL) {
            return NGX_ERROR;
        }

        id->len = ngx_sprintf(id->data, "%L",
                              (int64_t) json_integer_value(value))
                  - id->data;

    } else if (!json_is_string(value)) {
        wrong = "not a string or an integer";

    } else if (json_string_length(value) == 0) {
        wrong = "empty";

    } else if (json_string_length(value) > NGX_HTTP_ITSM_TICKET_MAX) {
        wrong = "longer than 64 bytes";

    } else {
        id->data = (u_char *) json_string_value(value);
        id->len = json_string_length(value);

        for (i = 0; i < id->len; i++) {
            if (id->data[i] < 0x20 || id->data[i] == 0x7f) {
                wrong = "holding control characters";
                break;
            }
        }
    }

    if (wrong) {
        ngx_str_null(id);
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but the "
                                "ticket id at \"%V\" is %s (ticket_id of "
                                "connector \"%V\")", ctx->status, pointer,
                                wrong, &conn->name)
                   - p;
        return NGX_ABORT;
    }

    /* the id is ours, whatever becomes of the answer's JSON */

    p = ngx_pnalloc(r->pool, id->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, id->data, id->len);
    id->data = p;

    return NGX_OK;
}


/*
 * What the alert does to the key's ticket (ngx_http_itsm_lifecycle.c); a
 * held entry whose state an action superseded still has its notes, which
 * go to the ticket as a comment of their own.
 */

static void
ngx_http_itsm_handler_decide(ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_plan_t       *plan;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    plan = &ctx->plan;

    if (!ctx->notes_only) {
        ngx_http_itsm_lifecycle_decide(conn, &ctx->record, ctx->alert->state,
                                       ctx->replay, plan);
        return;
    }

    ngx_memzero(plan, sizeof(ngx_http_itsm_plan_t));

    if (ctx->record.ticket.len == 0
        || conn->actions[NGX_HTTP_ITSM_ACTION_COMMENT] == NULL)
    {
        plan->outcome = NGX_HTTP_ITSM_OUTCOME_IGNORED;
        plan->reason = "the notes held for the key have no ticket to go to";
        return;
    }

    plan->steps[plan->nsteps++] = NGX_HTTP_ITSM_ACTION_COMMENT;
    plan->outcome = NGX_HTTP_ITSM_OUTCOME_COMMENTED;
    plan->reason = "the notes held during the cooldown";
}

/* the plan has a step of "action" */

static ngx_uint_t
ngx_http_itsm_handler_plan_has(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_action_e action)
{
    ngx_uint_t  i;

    for (i = 0; i < plan->nsteps; i++) {
        if (plan->steps[i] == action) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_itsm_handler_result(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_str_t *ticket)
{
    ngx_http_itsm_result_t  *res;

    res = ngx_array_push(&ctx->results);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(res, sizeof(ngx_http_itsm_result_t));

    res->alert = ctx->alert;
    res->connector = ctx->connector;
    res->key = ctx->key;
    res->action = ctx->plan.nsteps ? ctx->plan.steps[ctx->plan.nsteps - 1]
                                   : NGX_HTTP_ITSM_ACTION_NONE;
    res->outcome = ctx->plan.outcome;
    res->reason = ctx->plan.reason;

    if (ticket && ticket->len) {
        res->ticket_id.data = ngx_pstrdup(r->pool, ticket);
        if (res->ticket_id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        res->ticket_id.len = ticket->len;
    }

    ctx->outcome = ngx_http_itsm_outcome_names[res->outcome];
    ctx->tpl.ticket_id = res->ticket_id;

    ngx_http_itsm_status_count(r, ctx->conf->source, res->outcome);

    /*
     * What was pending for the key is superseded by a change sent, by a
     * replay with nothing left to send, and by a resolved alert (a queued
     * create or reopen must not come after it); not by a firing duplicate,
     * which says nothing new and is the path to keep cheap.
     */

    if (ctx->store
        && res->outcome != NGX_HTTP_ITSM_OUTCOME_QUEUED
        && !ctx->plan.coalesce
        && (ctx->replay || ctx->plan.nsteps
            || ctx->alert->state == NGX_HTTP_ITSM_RESOLVED))
    {
        (void) ngx_http_itsm_queue_supersede(r, ctx);
    }

    if (ctx->dedup.len) {
        ngx_http_itsm_answer_t      ans;
        ngx_http_itsm_main_conf_t  *imcf;

        imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

        ans.action = res->action;
        ans.outcome = res->outcome;
        ans.body = ctx->body_hash;
        ans.ticket = res->ticket_id;

        ngx_http_itsm_zone_answer_put(imcf->zone, &ctx->dedup,
                                      ctx->conf->dedup_window, &ans);
    }

    return NGX_OK;
}


/*
 * The ticket id read from the create answer by the connector's pointer.
 * NGX_OK with "id" set (empty when the connector reads no id), or the
 * sender's answer was sent and its rc is returned.
 */



static ngx_int_t
ngx_http_itsm_handler_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *data;
    size_t                      len;
    json_t                     *body, *text;
    time_t                      retry;
    ngx_str_t                   esc;
    ngx_uint_t                  status, unavailable;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    status = ctx->status;

    unavailable = ngx_http_itsm_handler_unavailable(ctx);

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

    /* the ITSM's words escaped as JSON: a line break in them cannot
     * forge a line of the error log */

    esc.len = 0;
    esc.data = NULL;

    if (text) {
        esc.len = json_string_length(text);
        esc.len += ngx_escape_json(NULL, (u_char *) json_string_value(text),
                                   esc.len);
        esc.data = ngx_pnalloc(r->pool, esc.len ? esc.len : 1);
        if (esc.data == NULL) {
            json_decref(text);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_escape_json(esc.data, (u_char *) json_string_value(text),
                        json_string_length(text));
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the ITSM answered %ui: \"%V\"",
                  &conn->name, &ngx_http_itsm_action_names[ctx->action],
                  status, &esc);

    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

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


static ngx_int_t
ngx_http_itsm_handler_store_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, const char *why)
{
    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->conf->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    if (ngx_http_itsm_reply_retry_after(r, ctx->conf->retry_after) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "store_unavailable",
                                     "could not %s the state of key \"%V\" "
                                     "in the store; try again later",
                                     why, &ctx->key);
}


static ngx_str_t  ngx_http_itsm_outcome_processed = ngx_string("processed");


/*
 * {"status": "created", "alerts": [{"key": ..., "action": "create",
 *  "outcome": "created", "connector": "rt", "ticket_id": "20"}]}
 *
 * 201 when a ticket was created, 200 otherwise.
 */

static ngx_int_t
ngx_http_itsm_handler_summary(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *p, *body;
    size_t                      len;
    ngx_str_t                  *status_name;
    ngx_uint_t                  i, status, replayed, queued;
    ngx_http_itsm_result_t     *res;

    /*
     * Formatted by hand rather than built with jansson: this answer is on
     * the path of every duplicate, where an allocation per field shows.
     */

    res = ctx->results.elts;
    status = NGX_HTTP_OK;
    replayed = 0;
    queued = 0;

    status_name = &ngx_http_itsm_outcome_names[res[0].outcome];

    len = sizeof("{\"status\":\"processed\",\"alerts\":[]}") - 1
          + status_name->len;

    for (i = 0; i < ctx->results.nelts; i++) {
        len += sizeof("{\"key\":\"\",\"action\":\"\",\"outcome\":\"\","
                      "\"connector\":\"\",\"ticket_id\":\"\","
                      "\"reason\":\"\",\"replayed\":true},") - 1
               + res[i].key.len + ngx_escape_json(NULL, res[i].key.data,
                                                  res[i].key.len)
               + ngx_http_itsm_action_names[res[i].action].len
               + ngx_http_itsm_outcome_names[res[i].outcome].len
               + (res[i].connector ? res[i].connector->name.len : 0)
               + res[i].ticket_id.len
               + ngx_escape_json(NULL, res[i].ticket_id.data,
                                 res[i].ticket_id.len)
               + (res[i].reason ? ngx_strlen(res[i].reason) : 0);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"%V\",\"alerts\":[",
                    ctx->results.nelts == 1 ? status_name
                    : &ngx_http_itsm_outcome_processed);

    for (i = 0; i < ctx->results.nelts; i++) {

        p = ngx_cpymem(p, i ? ",{\"key\":\"" : "{\"key\":\"",
                       i ? sizeof(",{\"key\":\"") - 1
                         : sizeof("{\"key\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, res[i].key.data, res[i].key.len);

        p = ngx_sprintf(p, "\",\"action\":\"%V\",\"outcome\":\"%V\"",
                        &ngx_http_itsm_action_names[res[i].action],
                        &ngx_http_itsm_outcome_names[res[i].outcome]);

        if (res[i].connector) {
            p = ngx_sprintf(p, ",\"connector\":\"%V\"",
                            &res[i].connector->name);
        }

        if (res[i].ticket_id.len) {
            p = ngx_cpymem(p, ",\"ticket_id\":\"",
                           sizeof(",\"ticket_id\":\"") - 1);
            p = (u_char *) ngx_escape_json(p, res[i].ticket_id.data,
                                           res[i].ticket_id.len);
            *p++ = '"';
        }

        if (res[i].reason) {
            p = ngx_sprintf(p, ",\"reason\":\"%s\"", res[i].reason);
        }

        /* the first answer again, and nothing sent this time */

        if (res[i].replayed) {
            p = ngx_cpymem(p, ",\"replayed\":true",
                           sizeof(",\"replayed\":true") - 1);
        }

        *p++ = '}';

        if (res[i].action == NGX_HTTP_ITSM_ACTION_CREATE
            && res[i].outcome != NGX_HTTP_ITSM_OUTCOME_QUEUED
            && !res[i].replayed)
        {
            status = NGX_HTTP_CREATED;
        }

        replayed += res[i].replayed;
        queued += (res[i].outcome == NGX_HTTP_ITSM_OUTCOME_QUEUED);
    }

    *p++ = ']';
    *p++ = '}';

    /* a delivery seen before: 200 and the first answer again */

    if (replayed == ctx->results.nelts) {
        status = NGX_HTTP_OK;
    }

    /* accepted, not yet done */

    if (status == NGX_HTTP_OK && queued) {
        status = NGX_HTTP_ACCEPTED;
    }

    return ngx_http_itsm_reply_raw(r, status, body, p - body);
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
