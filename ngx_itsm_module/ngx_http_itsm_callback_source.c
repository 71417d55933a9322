
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_callback_source.h"
#include "ngx_http_itsm_callback_loc.h"

#include <ngx_md5.h>


/*
 * Back to the source.  Two moments:
 *
 * 1. When an alert's request to the ITSM is recorded (create, update,
 *    comment, resolve, reopen) for a connector that an
 *    itsm_callback_source follows, the alert is kept in the store
 *    ("sources": its fields and its raw JSON), since a callback arrives
 *    long after the alert request is gone and the source's API needs the
 *    alert's own words (Alertmanager's labels, Azure's alert id, the SIEM
 *    case's id and its latest title and severity).  Only transitions
 *    write: a duplicate or a comment held by the cooldown writes nothing.
 *
 * 2. When a callback has changed what the ITSM says of a ticket (outcome
 *    "applied") and its answer is sent, the source's on_ticket action for
 *    the mapped state runs as a subrequest of the callback request,
 *    through the source's internal location (proxy_pass): the delivery
 *    path of every ITSM request.
 *
 * Why after the answer: the ITSM's webhook must not wait on the source
 * (RT's scrip waits 3 s, PagerDuty 5 s, and they retry or switch the
 * webhook off), and the change is durable before the answer (the
 * callback waits for the store's flush).  The ITSM has its whole 200
 * while the source is asked; the request ends when the source answers or
 * its location's proxy timeouts end it.  The source's location needs
 * "proxy_ignore_client_abort on": an ITSM that closes its connection once
 * it has the answer must not cut the way back.
 *
 * A failed way back (no answer, a 4xx, a 5xx, a 429) is logged with the
 * source's own words and counted ("callback_sources" on the status page),
 * not retried: the next change of the ticket runs the way back again, and
 * a retry queue for silences and case states would act on a change that
 * may be stale by the time it is retried.
 *
 * What the templates of on_ticket see: the alert's fields ({{ title }},
 * {{ configuration_items }}, ...), {{ ticket_id }}, {{ correlation_key }},
 * and JSON Pointers into this object:
 *
 *   /alert        the alert's raw JSON as it came
 *   /labels       /alert/labels (Alertmanager, Grafana)
 *   /matchers     those labels as Alertmanager matchers, by name:
 *                 [{"name", "value", "isRegex": false, "isEqual": true}]
 *   /callback     {"connector", "ticket", "key", "state" (mapped;
 *                  "note" for a note-only event), "status" (the ITSM's),
 *                  "assignee" and "note" (when the ITSM's profile gives
 *                  them), "event" (the delivery's id, if any),
 *                  "event_uuid", "time", "expires"}
 *                 event_uuid: the MD5 of connector, ticket and the event's
 *                 id (else its order) in a UUID's shape: the same for a
 *                 retried delivery, so a source's PUT by it is idempotent
 *                 time: now; expires: now + the store's retention (the
 *                 key is forgotten then, and with it what undoes it)
 *   /remembered   what a "remember=" action kept (a silence's id)
 *   /arm          the Azure resource id of the alert (/alert/id, else
 *                 /alert/data/essentials/alertId) by segment, names in
 *                 lower case: subscriptions, resourcegroups, workspaces,
 *                 incidents, alerts, providers (the last)
 */


typedef struct {
    ngx_http_itsm_source_t         *src;
    ngx_http_itsm_source_action_t  *sa;
    ngx_http_itsm_store_t          *store;
    ngx_str_t                       itsm;      /* the ITSM connector's name */
    ngx_str_t                       ticket;
    ngx_str_t                       key;
    ngx_str_t                       assignee;  /* the ITSM's, if known */
    ngx_uint_t                      state;
    ngx_str_t                       event;     /* the delivery's id */
    u_char                          uuid[36];  /* the event's, as a UUID */
    json_t                         *entry;     /* as stored */
    json_t                         *view;      /* what templates see */
    ngx_http_itsm_alert_t           alert;
    ngx_http_itsm_tpl_ctx_t         tpl;
    ngx_http_itsm_delivery_t        dl;
    ngx_http_itsm_store_source_op_t  op;       /* Redis: the keep */
} ngx_http_itsm_source_ctx_t;


/* on Redis, the callback's request while the kept alert is read */

typedef struct {
    ngx_http_itsm_store_source_op_t  op;
    ngx_http_request_t             *request;
    ngx_http_itsm_source_t         *src;
    ngx_http_itsm_connector_t      *itsm;
    ngx_http_itsm_store_ticket_t   *cb;
    ngx_str_t                      *status;
    ngx_str_t                      *note;
    ngx_str_t                      *event;
} ngx_http_itsm_source_wait_t;


static ngx_int_t ngx_http_itsm_source_wait(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_source_t *src,
    ngx_http_itsm_connector_t *itsm, ngx_http_itsm_store_ticket_t *cb,
    ngx_str_t *status, ngx_str_t *note, ngx_str_t *event, ngx_int_t rc);
static void ngx_http_itsm_source_got(ngx_http_itsm_store_source_op_t *op);
static void ngx_http_itsm_source_cancel(void *data);
static ngx_int_t ngx_http_itsm_source_go(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_source_t *src,
    ngx_http_itsm_connector_t *itsm, ngx_http_itsm_store_ticket_t *cb,
    ngx_str_t *status, ngx_str_t *note, ngx_str_t *event, ngx_int_t found,
    ngx_str_t *text, ngx_int_t rc);
static void ngx_http_itsm_source_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);
static ngx_http_itsm_source_ctx_t *ngx_http_itsm_source_ctx(
    ngx_http_request_t *r);
static void ngx_http_itsm_source_done(ngx_http_request_t *r);
static void ngx_http_itsm_source_kept(ngx_http_itsm_store_source_op_t *op);
static void ngx_http_itsm_source_sent(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_itsm_source_finish(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_source_keep(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_source_view(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_str_t *status, ngx_str_t *note);
static json_t *ngx_http_itsm_source_matchers(json_t *labels);
static json_t *ngx_http_itsm_source_arm(json_t *raw);
static json_t *ngx_http_itsm_source_time(time_t t);
static json_t *ngx_http_itsm_source_string(ngx_str_t *s);
static void ngx_http_itsm_source_uuid(ngx_http_itsm_source_ctx_t *ctx,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb);


/*
 * The pipeline's side (ngx_http_itsm_step.c), once a key's commit is
 * made.  Never fails the alert: a key whose alert could not be kept skips
 * its way back, and says so then.
 */

void
ngx_http_itsm_callback_source_remember(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_connector_t *itsm,
    ngx_str_t *key, ngx_http_itsm_alert_t *alert)
{
    u_char                  *data;
    size_t                   len;
    json_t                  *entry, *fields, *old, *kept;
    ngx_str_t                text;
    json_error_t             err;
    ngx_http_itsm_source_t  *src;

    if (store == NULL || alert == NULL) {
        return;
    }

    src = ngx_http_itsm_callback_source_of(r, itsm);
    if (src == NULL) {
        return;
    }

    entry = json_object();
    fields = ngx_http_itsm_alert_fields_json(alert);

    if (entry == NULL || fields == NULL) {
        json_decref(fields);
        goto failed;
    }

    /* jansson takes "fields" even when it fails */

    if (json_object_set_new(entry, "fields", fields) != 0) {
        goto failed;
    }

    if (json_object_set_new(entry, "state",
                json_string(alert->state == NGX_HTTP_ITSM_RESOLVED
                            ? "resolved" : "firing"))
        != 0)
    {
        goto failed;
    }

    /* what an earlier ticket of the key left in the source (a silence not
     * expired yet) is still the key's to undo: on LMDB read here and
     * written again; on Redis a field of its own that the put leaves as
     * it is (ngx_http_itsm_store_source_redis.c), nothing to wait for */

    if (!ngx_http_itsm_store_on_redis(store)
        && ngx_http_itsm_store_source_get(store, &itsm->name, key, r->pool,
                                          &text)
           == NGX_OK)
    {
        old = json_loadb((const char *) text.data, text.len, 0, &err);
        kept = old ? json_object_get(old, "remembered") : NULL;

        if (json_is_string(kept)) {
            (void) json_object_set(entry, "remembered", kept);
        }

        json_decref(old);
    }

    if (alert->raw && json_object_set(entry, "raw", alert->raw) != 0) {
        goto failed;
    }

    data = ngx_http_itsm_json_dump(entry, r->pool, &len);

    if (data && len > NGX_HTTP_ITSM_SOURCE_ENTRY_MAX) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm callback source \"%V\": the alert of key \"%V\" "
                      "is %uz bytes, more than %d: its raw JSON is not kept, "
                      "only its fields", &src->name, key, len,
                      NGX_HTTP_ITSM_SOURCE_ENTRY_MAX);

        (void) json_object_del(entry, "raw");
        data = ngx_http_itsm_json_dump(entry, r->pool, &len);
    }

    json_decref(entry);
    entry = NULL;

    if (data == NULL || len > NGX_HTTP_ITSM_SOURCE_ENTRY_MAX) {
        goto failed;
    }

    text.data = data;
    text.len = len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback source \"%V\": key \"%V\" kept, %uz bytes",
                   &src->name, key, len);

    if (ngx_http_itsm_store_on_redis(store)) {
        /* sent and forgotten: the alert does not fail for it (as on LMDB),
         * and a failure is logged when Redis answers */
        ngx_http_itsm_store_source_redis_put(store, &itsm->name, key, &text);
        return;
    }

    if (ngx_http_itsm_store_source_put(store, &itsm->name, key, &text)
        == NGX_OK)
    {
        return;
    }

failed:

    json_decref(entry);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm callback source \"%V\": the alert of key \"%V\" is "
                  "not kept: its ticket's callbacks will not go back to the "
                  "source", &src->name, key);
}


/*
 * The callback's side (ngx_http_itsm_callback.c): its answer is sent
 * ("rc" is what sending it returned, and what the caller finalizes the
 * request with).  Starts the action of the mapped state, if any, as a
 * subrequest: the request then ends once the source has answered.
 */

ngx_int_t
ngx_http_itsm_callback_source_run(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_connector_t *itsm,
    ngx_http_itsm_store_ticket_t *cb, ngx_str_t *status, ngx_str_t *note,
    ngx_str_t *event, ngx_int_t rc)
{
    ngx_int_t                        found;
    ngx_str_t                        text;
    ngx_http_itsm_source_t          *src;

    if ((rc != NGX_OK && rc != NGX_AGAIN) || cb->key.len == 0
        || r->connection->error)
    {
        return rc;
    }

    src = ngx_http_itsm_callback_source_of(r, itsm);
    if (src == NULL) {
        return rc;
    }

    if (ngx_http_itsm_store_on_redis(store)) {
        return ngx_http_itsm_source_wait(r, store, src, itsm, cb, status,
                                         note, event, rc);
    }

    found = ngx_http_itsm_store_source_get(store, &itsm->name, &cb->key,
                                           r->pool, &text);

    return ngx_http_itsm_source_go(r, store, src, itsm, cb, status, note,
                                   event, found, &text, rc);
}


/*
 * On Redis the kept alert answers later: the callback's answer goes out
 * meanwhile (the caller finalizes with "rc"), and the request is held by
 * one more reference until Redis answers (ngx_http_itsm_source_got).  Not
 * sent: nothing goes back, as for LMDB's store error; the ITSM has had its
 * answer, which is true: the callback is applied.
 */

static ngx_int_t
ngx_http_itsm_source_wait(ngx_http_request_t *r, ngx_http_itsm_store_t *store,
    ngx_http_itsm_source_t *src, ngx_http_itsm_connector_t *itsm,
    ngx_http_itsm_store_ticket_t *cb, ngx_str_t *status, ngx_str_t *note,
    ngx_str_t *event, ngx_int_t rc)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_itsm_source_wait_t  *w;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_source_wait_t));
    if (w == NULL) {
        return rc;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return rc;
    }

    w->request = r;
    w->src = src;
    w->itsm = itsm;
    w->cb = cb;
    w->status = status;
    w->note = note;
    w->event = event;

    w->op.store = store;
    w->op.connector = &itsm->name;
    w->op.key = &cb->key;
    w->op.pool = r->pool;
    w->op.handler = ngx_http_itsm_source_got;
    w->op.data = w;

    /* a request that ends first drops Redis' late answer */

    cln->handler = ngx_http_itsm_source_cancel;
    cln->data = &w->op;

    if (ngx_http_itsm_store_source_redis_get(&w->op) != NGX_AGAIN) {
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        return rc;
    }

    r->main->count++;

    return rc;
}


static void
ngx_http_itsm_source_got(ngx_http_itsm_store_source_op_t *op)
{
    ngx_http_itsm_source_wait_t *w = op->data;

    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_itsm_callback_ctx_t  *cbctx;

    r = w->request;
    c = r->connection;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm callback source \"%V\": the kept alert answered, "
                   "request done:%ud", &w->src->name, r->done);

    (void) ngx_http_itsm_source_go(r, op->store, w->src, w->itsm, w->cb,
                                   w->status, w->note, w->event, op->rc,
                                   &op->text, NGX_OK);

    cbctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    /*
     * The reference taken while Redis was asked.  A request whose answer
     * was sent whole is finalized already ("done"): its own reference is
     * gone, and this one is what the way back's end finalizes
     * (ngx_http_itsm_source_finish), as LMDB's request's own.  Else (no
     * way back, or an answer still being written) it is dropped here.
     */

    if (cbctx->source == NULL || !r->done) {
        ngx_http_finalize_request(r, NGX_DONE);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_itsm_source_cancel(void *data)
{
    ngx_http_itsm_store_source_op_t *op = data;

    ngx_http_itsm_store_source_redis_cancel(op);
}


/*
 * What the kept alert came to ("found": NGX_OK with "text", NGX_DECLINED,
 * NGX_ERROR): the action of the mapped state starts, if any.  Returns
 * "rc".
 */

static ngx_int_t
ngx_http_itsm_source_go(ngx_http_request_t *r, ngx_http_itsm_store_t *store,
    ngx_http_itsm_source_t *src, ngx_http_itsm_connector_t *itsm,
    ngx_http_itsm_store_ticket_t *cb, ngx_str_t *status, ngx_str_t *note,
    ngx_str_t *event, ngx_int_t found, ngx_str_t *text, ngx_int_t rc)
{
    json_t                          *kept;
    json_error_t                     err;
    ngx_pool_cleanup_t              *cln;
    ngx_http_itsm_source_ctx_t      *ctx;
    ngx_http_itsm_callback_ctx_t    *cbctx;
    ngx_http_itsm_source_action_t   *sa;

    sa = (cb->state < NGX_HTTP_ITSM_CALLBACK_NSTATES) ? src->on[cb->state]
                                                       : NULL;

    if (found == NGX_ERROR) {
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        return rc;
    }

    if (sa == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm callback source \"%V\": nothing on \"%V\"",
                       &src->name,
                       &ngx_http_itsm_callback_state_names[cb->state]);
        goto nothing;
    }

    if (found == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm callback source \"%V\": ticket \"%V\" key "
                      "\"%V\" %V: the store keeps no alert of the key (its "
                      "ticket was opened before \"callbacks_of %V\", or "
                      "the alert could not be kept): nothing goes back to "
                      "the source", &src->name, &cb->ticket, &cb->key,
                      &ngx_http_itsm_callback_state_names[cb->state],
                      &itsm->name);
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_NO_ALERT);
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_source_ctx_t));
    if (ctx == NULL) {
        return rc;
    }

    ctx->entry = json_loadb((const char *) text->data, text->len, 0, &err);

    if (ctx->entry == NULL || !json_is_object(ctx->entry)
        || ngx_http_itsm_json_cleanup_add(r->pool, ctx->entry) != NGX_OK)
    {
        json_decref(ctx->entry);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm callback source \"%V\": the kept alert of key "
                      "\"%V\" is not readable", &src->name, &cb->key);
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        return rc;
    }

    kept = json_object_get(ctx->entry, "remembered");

    if ((sa->kind == NGX_HTTP_ITSM_SOURCE_REMEMBER && kept != NULL)
        || (sa->kind == NGX_HTTP_ITSM_SOURCE_FORGET && kept == NULL))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback source \"%V\": ticket \"%V\" key "
                      "\"%V\" %V: skipped, %s", &src->name, &cb->ticket,
                      &cb->key, &ngx_http_itsm_callback_state_names[cb->state],
                      kept ? "the source's earlier answer is still kept"
                           : "nothing is kept to undo");
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_SKIPPED);
        goto nothing;
    }

    ctx->src = src;
    ctx->sa = sa;
    ctx->store = store;
    ctx->itsm = itsm->name;
    ctx->ticket = cb->ticket;
    ctx->key = cb->key;
    ctx->assignee = cb->assignee;
    ctx->state = cb->state;
    ctx->event = *event;

    ngx_http_itsm_source_uuid(ctx, &itsm->name, cb);

    if (ngx_http_itsm_source_view(r, ctx, status, note) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm callback source \"%V\": ticket \"%V\" key \"%V\": "
                      "what the templates see could not be made",
                      &src->name, &cb->ticket, &cb->key);
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        return rc;
    }

    ctx->tpl.request = r;
    ctx->tpl.alert = &ctx->alert;
    ctx->tpl.ticket_id = ctx->ticket;
    ctx->tpl.key = ctx->key;

    ctx->dl.connector = &src->conn;
    ctx->dl.tpl = &ctx->tpl;
    ctx->dl.done = ngx_http_itsm_source_done;

    if (ngx_http_itsm_store_on_redis(store)) {
        /* the keep once the source answered: a request that ends first
         * drops Redis' late answer */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return rc;
        }

        cln->handler = ngx_http_itsm_source_cancel;
        cln->data = &ctx->op;
    }

    /* the callback's request carries it until the source answers */

    cbctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);
    cbctx->source = ctx;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback source \"%V\": key \"%V\" %V: %V",
                   &src->name, &ctx->key,
                   &ngx_http_itsm_callback_state_names[ctx->state],
                   &sa->action.method_name);

    if (ngx_http_itsm_deliver(r, &ctx->dl, NGX_HTTP_ITSM_ACTION_UPDATE,
                              &sa->action)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm callback source \"%V\": the request to the "
                      "source could not be made", &src->name);
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);

        /* no way back runs: nothing will finalize it */
        cbctx->source = NULL;
        return rc;
    }

    return rc;

nothing:

    /* a deleted ticket's key is forgotten, and what was kept of it */

    if (cb->state == NGX_HTTP_ITSM_TICKET_DELETED && found == NGX_OK) {
        ngx_http_itsm_source_del(store, &itsm->name, &cb->key);
    }

    return rc;
}


static void
ngx_http_itsm_source_del(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key)
{
    if (ngx_http_itsm_store_on_redis(store)) {
        ngx_http_itsm_store_source_redis_del(store, connector, key);
        return;
    }

    (void) ngx_http_itsm_store_source_del(store, connector, key);
}


/* an action's state, on the callback's request while it runs */

static ngx_http_itsm_source_ctx_t *
ngx_http_itsm_source_ctx(ngx_http_request_t *r)
{
    ngx_http_itsm_callback_ctx_t  *cbctx;

    cbctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    return cbctx->source;
}


/* the source answered, or could not be reached: the request ends */

static void
ngx_http_itsm_source_done(ngx_http_request_t *r)
{
    u_char                      *data;
    size_t                       len;
    json_t                      *answer, *v;
    ngx_int_t                    rc;
    ngx_str_t                    value, text;
    ngx_uint_t                   ok;
    json_error_t                 err;
    ngx_http_itsm_delivery_t    *d;
    ngx_http_itsm_source_ctx_t  *ctx;

    ctx = ngx_http_itsm_source_ctx(r);
    d = &ctx->dl;

    r->write_event_handler = ngx_http_request_empty_handler;

    ok = (d->status >= 200 && d->status < 300);

    /* what is to be undone is gone already */

    if (ctx->sa->kind == NGX_HTTP_ITSM_SOURCE_FORGET
        && d->status == NGX_HTTP_NOT_FOUND)
    {
        ok = 1;
    }

    data = ngx_http_itsm_deliver_response(r, d, &len);

    if (!ok) {
        text.data = data;
        text.len = ngx_min(len, NGX_HTTP_ITSM_ERROR_TEXT_MAX);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm callback source \"%V\": ticket \"%V\" key \"%V\" "
                      "%V: %V answered %ui%s%s%*s%s", &ctx->src->name,
                      &ctx->ticket, &ctx->key,
                      &ngx_http_itsm_callback_state_names[ctx->state],
                      &ctx->sa->action.method_name, d->status,
                      d->answered ? "" : " (no answer)",
                      text.len ? ": \"" : "", text.len, text.data,
                      text.len ? "\"" : "");

        if (d->retry_after) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm callback source \"%V\": the source asks to "
                          "wait %T s; the next change of ticket \"%V\" "
                          "tries again", &ctx->src->name, d->retry_after,
                          &ctx->ticket);
        }

        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        goto done;
    }

    if (ctx->sa->kind == NGX_HTTP_ITSM_SOURCE_REMEMBER) {
        answer = data ? json_loadb((const char *) data, len, 0, &err) : NULL;
        v = answer ? ngx_http_itsm_json_pointer(answer, &ctx->sa->remember)
                   : NULL;

        ngx_str_null(&value);

        if (v && (json_is_string(v) || json_is_integer(v))
            && ngx_http_itsm_json_scalar(v, r->pool, &value) != NGX_OK)
        {
            ngx_str_null(&value);
        }

        json_decref(answer);

        if (value.len == 0 || value.len > NGX_HTTP_ITSM_SOURCE_REMEMBER_MAX) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "itsm callback source \"%V\": ticket \"%V\" key "
                          "\"%V\" %V: %V answered %ui, but without a value "
                          "of 1 to %d bytes at \"%V\": nothing to undo "
                          "later", &ctx->src->name, &ctx->ticket, &ctx->key,
                          &ngx_http_itsm_callback_state_names[ctx->state],
                          &ctx->sa->action.method_name, d->status,
                          NGX_HTTP_ITSM_SOURCE_REMEMBER_MAX,
                          &ctx->sa->remember);
            ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
            goto done;
        }

        rc = ngx_http_itsm_source_keep(r, ctx, &value);

    } else if (ctx->sa->kind == NGX_HTTP_ITSM_SOURCE_FORGET) {
        rc = ngx_http_itsm_source_keep(r, ctx, NULL);

    } else {
        rc = NGX_OK;
    }

    if (rc == NGX_AGAIN) {
        return;                         /* Redis: ngx_http_itsm_source_kept */
    }

    ngx_http_itsm_source_sent(r, ctx, rc);
    return;

done:

    ngx_http_itsm_source_finish(r, ctx);
}


static void
ngx_http_itsm_source_kept(ngx_http_itsm_store_source_op_t *op)
{
    ngx_http_request_t *r = op->data;

    ngx_connection_t            *c;
    ngx_http_itsm_source_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_itsm_source_ctx(r);

    if (op->rc == NGX_DECLINED) {
        if (ctx->sa->kind == NGX_HTTP_ITSM_SOURCE_REMEMBER) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "itsm callback source \"%V\": ticket \"%V\" key "
                          "\"%V\": the kept alert went while the source "
                          "was asked: what it answered is not kept, "
                          "nothing to undo later", &ctx->src->name,
                          &ctx->ticket, &ctx->key);

        } else {
            /* nothing is left to forget */
            op->rc = NGX_OK;
        }
    }

    ngx_http_itsm_source_sent(r, ctx, op->rc);
    ngx_http_run_posted_requests(c);
}


/* the source took the action; "rc": what keeping its answer came to */

static void
ngx_http_itsm_source_sent(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_FAILED);
        ngx_http_itsm_source_finish(r, ctx);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "itsm callback source \"%V\": ticket \"%V\" key \"%V\" "
                  "%V: %V answered %ui", &ctx->src->name, &ctx->ticket,
                  &ctx->key, &ngx_http_itsm_callback_state_names[ctx->state],
                  &ctx->sa->action.method_name, ctx->dl.status);

    ngx_http_itsm_callback_source_count(r, NGX_HTTP_ITSM_SOURCE_SENT);

    ngx_http_itsm_source_finish(r, ctx);
}


static void
ngx_http_itsm_source_finish(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx)
{
    if (ctx->state == NGX_HTTP_ITSM_TICKET_DELETED) {
        ngx_http_itsm_source_del(ctx->store, &ctx->itsm, &ctx->key);
    }

    /* the answer went out before the way back started */

    ngx_http_finalize_request(r, NGX_OK);
}


/* the kept entry with "value" remembered, or without (NULL) */

static ngx_int_t
ngx_http_itsm_source_keep(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_str_t *value)
{
    u_char     *data;
    size_t      len;
    ngx_str_t   text;

    if (ngx_http_itsm_store_on_redis(ctx->store)) {
        ctx->op.store = ctx->store;
        ctx->op.connector = &ctx->itsm;
        ctx->op.key = &ctx->key;
        ctx->op.pool = r->pool;
        ctx->op.handler = ngx_http_itsm_source_kept;
        ctx->op.data = r;

        /* NGX_AGAIN, or NGX_ERROR logged */
        return ngx_http_itsm_store_source_redis_keep(&ctx->op, value);
    }

    if (value) {
        if (json_object_set_new(ctx->entry, "remembered",
                                ngx_http_itsm_source_string(value))
            != 0)
        {
            return NGX_ERROR;
        }

    } else {
        (void) json_object_del(ctx->entry, "remembered");
    }

    data = ngx_http_itsm_json_dump(ctx->entry, r->pool, &len);
    if (data == NULL) {
        return NGX_ERROR;
    }

    text.data = data;
    text.len = len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback source \"%V\": key \"%V\" remembers "
                   "\"%V\"", &ctx->src->name, &ctx->key,
                   value ? value : &ctx->ticket);

    return ngx_http_itsm_store_source_put(ctx->store, &ctx->itsm, &ctx->key,
                                          &text);
}


/* the alert as kept, and the object the templates' pointers read */

static ngx_int_t
ngx_http_itsm_source_view(ngx_http_request_t *r,
    ngx_http_itsm_source_ctx_t *ctx, ngx_str_t *status, ngx_str_t *note)
{
    time_t                      now;
    json_t                     *fields, *v, *raw, *labels, *cbk, *kept;
    ngx_uint_t                  i;
    ngx_http_itsm_main_conf_t  *imcf;

    fields = json_object_get(ctx->entry, "fields");

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
        v = json_object_get(fields,
                            (const char *) ngx_http_itsm_field_names[i].data);

        if (json_is_string(v)) {
            ctx->alert.fields[i].data = (u_char *) json_string_value(v);
            ctx->alert.fields[i].len = json_string_length(v);
        }
    }

    v = json_object_get(ctx->entry, "state");

    ctx->alert.state = (json_is_string(v)
                        && ngx_strcmp(json_string_value(v), "resolved") == 0)
                       ? NGX_HTTP_ITSM_RESOLVED : NGX_HTTP_ITSM_FIRING;

    ctx->view = json_object();
    if (ctx->view == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, ctx->view) != NGX_OK) {
        json_decref(ctx->view);
        return NGX_ERROR;
    }

    ctx->alert.raw = ctx->view;

    raw = json_object_get(ctx->entry, "raw");

    if (raw && json_object_set(ctx->view, "alert", raw) != 0) {
        return NGX_ERROR;
    }

    labels = json_is_object(raw) ? json_object_get(raw, "labels") : NULL;

    if (json_is_object(labels)) {
        if (json_object_set(ctx->view, "labels", labels) != 0) {
            return NGX_ERROR;
        }

        /* none: the labels cannot be matchers; the source refuses what
         * lacks them, and says so in the log */

        v = ngx_http_itsm_source_matchers(labels);

        if (v && json_object_set_new(ctx->view, "matchers", v) != 0) {
            return NGX_ERROR;
        }
    }

    v = ngx_http_itsm_source_arm(raw);

    if (v && json_object_set_new(ctx->view, "arm", v) != 0) {
        return NGX_ERROR;
    }

    kept = json_object_get(ctx->entry, "remembered");

    if (kept && json_object_set(ctx->view, "remembered", kept) != 0) {
        return NGX_ERROR;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    now = ngx_time();

    cbk = json_object();

    if (cbk == NULL
        || json_object_set_new(ctx->view, "callback", cbk) != 0
        || json_object_set_new(cbk, "connector",
                               ngx_http_itsm_source_string(&ctx->itsm)) != 0
        || json_object_set_new(cbk, "ticket",
                               ngx_http_itsm_source_string(&ctx->ticket)) != 0
        || json_object_set_new(cbk, "key",
                               ngx_http_itsm_source_string(&ctx->key)) != 0
        || json_object_set_new(cbk, "state",
                               ngx_http_itsm_source_string(
                                &ngx_http_itsm_callback_state_names[ctx->state]))
           != 0
        || json_object_set_new(cbk, "status",
                               ngx_http_itsm_source_string(status)) != 0
        || (note && note->len
            && json_object_set_new(cbk, "note",
                                   ngx_http_itsm_source_string(note)) != 0)
        || (ctx->event.len
            && json_object_set_new(cbk, "event",
                                   ngx_http_itsm_source_string(&ctx->event))
               != 0)
        || json_object_set_new(cbk, "event_uuid",
                               json_stringn((const char *) ctx->uuid, 36))
           != 0
        || (ctx->assignee.len
            && json_object_set_new(cbk, "assignee",
                                   ngx_http_itsm_source_string(&ctx->assignee))
               != 0)
        || json_object_set_new(cbk, "time",
                               ngx_http_itsm_source_time(now)) != 0
        || json_object_set_new(cbk, "expires",
                               ngx_http_itsm_source_time(now
                                                      + imcf->retention))
           != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * MD5(connector \0 ticket \0 event id, else "order:N") as
 * xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: a name the source can key an
 * idempotent PUT on (a Sentinel comment's id), the same for the event's
 * every delivery.
 */

static void
ngx_http_itsm_source_uuid(ngx_http_itsm_source_ctx_t *ctx,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb)
{
    u_char      digest[16], hex[32], order[NGX_INT64_LEN + 6], *p, *last;
    ngx_md5_t   md5;
    ngx_uint_t  i;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, connector->data, connector->len);
    ngx_md5_update(&md5, "", 1);
    ngx_md5_update(&md5, cb->ticket.data, cb->ticket.len);
    ngx_md5_update(&md5, "", 1);

    if (ctx->event.len) {
        ngx_md5_update(&md5, ctx->event.data, ctx->event.len);

    } else {
        last = ngx_sprintf(order, "order:%uL", cb->order);
        ngx_md5_update(&md5, order, last - order);
    }

    ngx_md5_final(digest, &md5);
    ngx_hex_dump(hex, digest, 16);

    p = ctx->uuid;

    for (i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) {
            *p++ = '-';
        }

        *p++ = hex[i];
    }
}


/*
 * {"b": "2", "a": "1"} -> [{"name": "a", "value": "1", ...}, {"name": "b",
 * ...}]: Alertmanager's matchers, sorted, so the bytes sent are known.
 * Every label or none: a silence that left one out would silence more
 * alerts than this one.  NULL: a label is not a string, or more than 64.
 */

static json_t *
ngx_http_itsm_source_matchers(json_t *labels)
{
    size_t       n, i, j;
    json_t      *list, *m, *v;
    const char  *name, *names[64], *t;

    n = 0;

    json_object_foreach(labels, name, v) {
        if (!json_is_string(v) || n == 64) {
            return NULL;
        }

        names[n++] = name;
    }

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        m = json_pack("{s:s, s:O, s:b, s:b}", "name", names[i], "value",
                      json_object_get(labels, names[i]), "isRegex", 0,
                      "isEqual", 1);

        if (m == NULL || json_array_append_new(list, m) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


/*
 * "/subscriptions/S/resourceGroups/G/providers/P/workspaces/W/providers/
 * Microsoft.SecurityInsights/Incidents/I" -> {"subscriptions": "S",
 * "resourcegroups": "G", ...}: each part alone, so that a path template
 * URL-escapes each part and no id can add a segment of its own
 */

static json_t *
ngx_http_itsm_source_arm(json_t *raw)
{
    u_char      *p, *last, *slash, *name;
    u_char       lc[65];
    size_t       nlen;
    json_t      *id, *arm, *v;
    ngx_str_t    ptr, value;
    ngx_uint_t   i;

    if (!json_is_object(raw)) {
        return NULL;
    }

    id = json_object_get(raw, "id");

    if (!json_is_string(id)) {
        ngx_str_set(&ptr, "/data/essentials/alertId");
        id = ngx_http_itsm_json_pointer(raw, &ptr);
    }

    if (!json_is_string(id)
        || ngx_strncasecmp((u_char *) json_string_value(id),
                           (u_char *) "/subscriptions/", 15) != 0)
    {
        return NULL;
    }

    arm = json_object();
    if (arm == NULL) {
        return NULL;
    }

    p = (u_char *) json_string_value(id) + 1;
    last = (u_char *) json_string_value(id) + json_string_length(id);

    while (p < last) {
        slash = ngx_strlchr(p, last, '/');

        if (slash == NULL) {
            break;
        }

        name = p;
        nlen = slash - p;

        p = slash + 1;
        slash = ngx_strlchr(p, last, '/');

        value.data = p;
        value.len = (slash ? slash : last) - p;

        p = slash ? slash + 1 : last;

        if (nlen == 0 || nlen > 64 || value.len == 0) {
            continue;
        }

        for (i = 0; i < nlen; i++) {
            lc[i] = ngx_tolower(name[i]);
        }

        lc[nlen] = '\0';

        v = ngx_http_itsm_source_string(&value);

        if (v == NULL || json_object_set_new(arm, (char *) lc, v) != 0) {
            break;
        }
    }

    return arm;
}


static json_t *
ngx_http_itsm_source_time(time_t t)
{
    u_char    buf[sizeof("1970-09-28T12:00:00Z")];
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    (void) ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    return json_string((char *) buf);
}


static json_t *
ngx_http_itsm_source_string(ngx_str_t *s)
{
    return json_stringn(s->data ? (const char *) s->data : "", s->len);
}
