
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_queue.h"


/*
 * The pipeline: each alert of a request, for each of its connectors: the
 * route, the delivery id (ngx_http_itsm_dedup.c), the correlation key,
 * what the store knows of the key, the decision (ngx_http_itsm_lifecycle.c),
 * the claim of the key (or a wait for another request's claim, which an
 * identical alert joins), and the plan's steps (ngx_http_itsm_step.c).
 * One entry point serves the content handler and the replay location.
 */


static ngx_int_t ngx_http_itsm_pipeline_route(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_holders(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_holder(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_itsm_pipeline_holder_read(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_pipeline_routed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_alert(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_known(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_pipeline_held(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_uint_t ngx_http_itsm_pipeline_occurrences(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_key(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_claim(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_claimed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_pipeline_doubted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_pipeline_plan(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_pipeline_wait(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_pipeline_wake(ngx_event_t *ev);
static void ngx_http_itsm_pipeline_cleanup(void *data);
static void ngx_http_itsm_pipeline_decide(ngx_http_itsm_ctx_t *ctx);


static void ngx_http_itsm_pipeline_resume(ngx_http_request_t *r);


static void ngx_http_itsm_pipeline_synced(ngx_http_itsm_store_waiter_t *w,
    ngx_int_t rc);
static void ngx_http_itsm_pipeline_stored(ngx_http_itsm_store_op_t *op);


/* the state of an alert request; also for the replay location's */

ngx_http_itsm_ctx_t *
ngx_http_itsm_pipeline_ctx(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf)
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
    ctx->event_end = ngx_http_itsm_pipeline_event_end;

    /* its alerts (one for a replay) and their results */

    if (ngx_array_init(&ctx->alerts, r->pool, 1,
                       sizeof(ngx_http_itsm_alert_t *))
        != NGX_OK
        || ngx_array_init(&ctx->results, r->pool, 1,
                          sizeof(ngx_http_itsm_result_t))
           != NGX_OK)
    {
        return NULL;
    }

    /* a delivery resumes the pipeline, which goes on from its steps */

    ctx->dl.tpl = &ctx->tpl;
    ctx->dl.done = ngx_http_itsm_pipeline_resume;

    /* and so does the store, once a claim or a commit is on disk */

    ctx->sync.handler = ngx_http_itsm_pipeline_synced;
    ctx->sync.data = ctx;
    ctx->conf = conf;
    ctx->store = imcf->store;

    /* and so does a call of the store that answers later (none of LMDB's) */

    ctx->op.handler = ngx_http_itsm_pipeline_stored;
    ctx->op.data = ctx;
    ctx->op.store = imcf->store;

    ctx->holder_op.handler = ngx_http_itsm_pipeline_holder_read;
    ctx->holder_op.data = ctx;
    ctx->holder_op.store = imcf->store;
    ctx->tpl.request = r;

    /* a claim must not outlive its request, nor a wait timer */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_itsm_pipeline_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_module);

    return ctx;
}


/*
 * The one entry point: the content handler (alerts of an endpoint, its
 * connectors or its route) and the replay location (a held alert, for the
 * one connector it waits for) both hand their alerts in here.
 */

ngx_int_t
ngx_http_itsm_pipeline_start(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_array_t *connectors, ngx_uint_t source)
{
    ctx->connectors = connectors;
    ctx->source = source;
    ctx->index = 0;
    ctx->target = 0;
    ctx->routed = 0;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: %ui alert(s) from %V, %s%s",
                   ctx->alerts.nelts, &ngx_http_itsm_source_names[source],
                   connectors ? "fixed connectors" : "routed",
                   ctx->replay ? ", a replay" : "");

    return ngx_http_itsm_pipeline_run(r, ctx);
}

/*
 * Handles the alerts from ctx->index on, each for each of its connectors
 * (ctx->target).  NGX_DONE: a delivery or a wait is in flight and will
 * call back; otherwise the answer was sent (or an error status is returned
 * for nginx to send).
 */

ngx_int_t
ngx_http_itsm_pipeline_run(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;

    while (ctx->index < ctx->alerts.nelts) {

        if (!ctx->routed) {
            rc = ngx_http_itsm_pipeline_route(r, ctx);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        while (ctx->target < ctx->targets.nelts) {

            ctx->connector = ((ngx_http_itsm_connector_t **)
                                  ctx->targets.elts)[ctx->target];

            rc = ngx_http_itsm_pipeline_alert(r, ctx);

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

    return ngx_http_itsm_answer_summary(r, ctx);
}


/* the alert in hand is done for its connector: on to the next */

ngx_int_t
ngx_http_itsm_pipeline_next(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ctx->target++;
    ctx->seq++;

    return ngx_http_itsm_pipeline_run(r, ctx);
}


/*
 * The connectors of the alert at ctx->index: those of "itsm_pass", or
 * those its variable names for this alert (names separated by spaces or
 * commas; $itsm_* variables see the alert, so "map" can route by
 * severity, source or service).  An alert routed nowhere gets a result
 * that says so.
 */

static ngx_int_t
ngx_http_itsm_pipeline_route(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                      *p, *last, *start;
    ngx_str_t                    value, name;
    ngx_http_itsm_connector_t  **conn;
    ngx_http_itsm_main_conf_t   *imcf;

    ctx->alert = ((ngx_http_itsm_alert_t **) ctx->alerts.elts)[ctx->index];
    ctx->connector = NULL;
    ctx->target = 0;
    ctx->routed = 1;

    if (ctx->connectors) {
        ctx->targets = *ctx->connectors;
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: alert \"%V\" routed to \"%V\"",
                   &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY], &value);

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

    ctx->holder = 0;

    return ngx_http_itsm_pipeline_holders(r, ctx);
}


/* the alert's connectors are known: one routed nowhere gets a result that
 * says so */

static ngx_int_t
ngx_http_itsm_pipeline_routed(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_result_t  *res;

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

    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_IGNORED);

    return NGX_OK;
}


/*
 * A route chosen per alert may name none of the connectors that hold a
 * ticket for the alert (a resolved alert carries no severity, a repeat's
 * severity changed): every connector with an open ticket for the alert's
 * key gets the alert as well, so that a ticket is never left open for
 * want of a route.  The connectors are read from ctx->holder on: a read
 * the store answers later goes on from the next one
 * (ngx_http_itsm_pipeline_holder_read).  NGX_OK: the route is complete;
 * NGX_DONE: a read is in flight; otherwise an error status.
 */

static ngx_int_t
ngx_http_itsm_pipeline_holders(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_uint_t                   j;
    ngx_http_itsm_connector_t  **conn, **t;
    ngx_http_itsm_main_conf_t   *imcf;

    if (ctx->store == NULL) {
        return ngx_http_itsm_pipeline_routed(r, ctx);
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    conn = imcf->connectors.elts;

    ctx->tpl.alert = ctx->alert;
    ctx->tpl.record = NULL;

    for ( /* void */ ; ctx->holder < imcf->connectors.nelts; ctx->holder++) {

        t = ctx->targets.elts;

        for (j = 0; j < ctx->targets.nelts; j++) {
            if (t[j] == conn[ctx->holder]) {
                break;
            }
        }

        if (j < ctx->targets.nelts) {
            continue;
        }

        ctx->connector = conn[ctx->holder];

        if (ngx_http_itsm_pipeline_key(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_itsm_store_op_get(&ctx->holder_op,
                                        &ctx->connector->name, &ctx->key,
                                        &ctx->holder_rec);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (ngx_http_itsm_pipeline_holder(r, ctx, rc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ctx->connector = NULL;

    return ngx_http_itsm_pipeline_routed(r, ctx);
}


/* the key's record at connector ctx->connector was read ("rc"): an open
 * ticket there takes the alert as well */

static ngx_int_t
ngx_http_itsm_pipeline_holder(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_http_itsm_connector_t  **p;

    if (rc != NGX_OK || ctx->holder_rec.state != NGX_HTTP_ITSM_KEY_OPEN) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: alert \"%V\" goes to connector \"%V\" as well, "
                  "which holds its ticket \"%V\"",
                  &ctx->alert->fields[NGX_HTTP_ITSM_FIELD_KEY],
                  &ctx->connector->name, &ctx->holder_rec.ticket);

    p = ngx_array_push(&ctx->targets);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = ctx->connector;

    return NGX_OK;
}


/*
 * The store answered a read of the route's later: the route goes on from
 * the next connector, and once it is complete the alert goes to its
 * connectors as the content handler would have sent it on (the route is
 * taken before any alert in hand, so this is no continuation of one).
 */

static void
ngx_http_itsm_pipeline_holder_read(ngx_http_itsm_store_op_t *op)
{
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = op->data;
    r = ngx_http_itsm_pipeline_event_start(ctx);
    c = r->connection;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm pipeline: key \"%V\" of connector \"%V\" read "
                   "for the route: %i", &ctx->key, &ctx->connector->name,
                   op->rc);

    if (ngx_http_itsm_pipeline_holder(r, ctx, op->rc) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        ctx->holder++;

        rc = ngx_http_itsm_pipeline_holders(r, ctx);

        if (rc == NGX_OK) {
            rc = ngx_http_itsm_pipeline_run(r, ctx);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* starts, or starts again after a wait, the alert in hand for ctx->connector */

static ngx_int_t
ngx_http_itsm_pipeline_alert(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ctx->tpl.alert = ctx->alert;
    ctx->tpl.record = NULL;
    ngx_str_null(&ctx->tpl.ticket_id);
    ngx_str_null(&ctx->tpl.key);

    if (ngx_http_itsm_pipeline_key(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->tpl.key = ctx->key;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: alert %ui, connector \"%V\", key \"%V\"",
                   ctx->index, &conn->name, &ctx->key);

    ngx_memzero(&ctx->record, sizeof(ngx_http_itsm_record_t));

    rc = ngx_http_itsm_dedup_check(r, ctx);

    if (rc == NGX_AGAIN) {
        /* the delivery id is looked up in Redis: its answer goes on with
         * ngx_http_itsm_pipeline_deduped() */
        return NGX_DONE;
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_itsm_pipeline_deduped(r, ctx);
}


/* a new delivery (or one whose copy is still in flight): the store is read */

ngx_int_t
ngx_http_itsm_pipeline_deduped(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    if (ctx->store == NULL) {
        /* no memory of earlier alerts: every firing alert creates */
        ctx->tpl.occurrences = ngx_http_itsm_pipeline_occurrences(r, ctx);
        ngx_http_itsm_pipeline_decide(ctx);
        return ngx_http_itsm_step_start(r, ctx);
    }

    ctx->store_then = ngx_http_itsm_pipeline_known;

    rc = ngx_http_itsm_store_op_get(&ctx->op, &conn->name, &ctx->key,
                                    &ctx->record);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_pipeline_known(r, ctx, rc);
}


/*
 * What the store knows of the key was read ("rc" as the get says): an
 * alert that joined a claim takes its outcome, a key claimed by another
 * request is waited for, and the alert is decided; a change claims the
 * key first.
 */

static ngx_int_t
ngx_http_itsm_pipeline_known(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc == NGX_ERROR) {
        return ngx_http_itsm_answer_store_failed(r, ctx, "read");
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: key \"%V\" %s, state:%ui ticket:\"%V\" "
                   "claimed:%ui", &ctx->key,
                   rc == NGX_OK ? "known" : "new", ctx->record.state,
                   &ctx->record.ticket, (ngx_uint_t) ctx->record.pending);

    if (ctx->counted != ctx->seq + 1) {
        ctx->counted = ctx->seq + 1;
        ctx->tpl.occurrences = ngx_http_itsm_pipeline_occurrences(r, ctx);
    }

    /* the claim this request joined has ended: its outcome is ours */

    if (ctx->joined) {
        rc = ngx_http_itsm_answer_joined(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ctx->joined = 0;

    if (ngx_http_itsm_store_busy(&ctx->record, ngx_time())) {
        return ngx_http_itsm_pipeline_wait(r, ctx);
    }

    ngx_http_itsm_pipeline_decide(ctx);

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm alert \"%V\" connector \"%V\": key state:%ui "
                   "steps:%ui, decided \"%V\" (%s)", &ctx->key,
                   &ctx->connector->name,
                   ctx->record.state, ctx->plan.nsteps,
                   &ngx_http_itsm_outcome_names[ctx->plan.outcome],
                   ctx->plan.reason ? ctx->plan.reason : "-");

    if (ctx->plan.nsteps == 0) {
        /* nothing to change now: read only, except for a key in its
         * cooldown, whose alert is held to be sent when the cooldown ends */

        if (ctx->plan.coalesce) {
            /* on Redis the sender is answered once Redis has the hold */

            ctx->store_then = ngx_http_itsm_pipeline_held;

            rc = ngx_http_itsm_held_hold(r, ctx, ctx->plan.due);

            if (rc == NGX_AGAIN) {
                return NGX_DONE;
            }

            return ngx_http_itsm_pipeline_held(r, ctx, rc);
        }

        ctx->tpl.record = &ctx->record;
        return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
    }

    return ngx_http_itsm_pipeline_claim(r, ctx);
}


/*
 * A repeat in its key's cooldown was held ("rc" NGX_OK), was the same as
 * what is held (NGX_DECLINED), or could not be kept (NGX_ERROR: 503 with
 * Retry-After, the sender sends it again).
 */

static ngx_int_t
ngx_http_itsm_pipeline_held(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: key \"%V\" held: %i", &ctx->key, rc);

    if (rc == NGX_ERROR) {
        return ngx_http_itsm_answer_store_failed(r, ctx, "keep");
    }

    ctx->tpl.record = &ctx->record;
    return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
}


/* this alert counts: in the zone when there is one, else in the store */

static ngx_uint_t
ngx_http_itsm_pipeline_occurrences(ngx_http_request_t *r,
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


/* the correlation key: the connector's "key" template, or the alert's key */

static ngx_int_t
ngx_http_itsm_pipeline_key(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
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
ngx_http_itsm_pipeline_claim(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  create;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    create = ngx_http_itsm_lifecycle_plan_has(&ctx->plan,
                                            NGX_HTTP_ITSM_ACTION_CREATE);

    ctx->store_then = ngx_http_itsm_pipeline_claimed;

    rc = ngx_http_itsm_store_op_claim(&ctx->op, &conn->name, &ctx->key,
                                      &ctx->record,
                                      ngx_http_itsm_alert_hash(ctx->alert),
                                      create);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_pipeline_claimed(r, ctx, rc);
}


/* the claim answered ("rc" as the claim says; ctx->op.create: it was made
 * to create) */

static ngx_int_t
ngx_http_itsm_pipeline_claimed(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_uint_t                  create;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    create = ctx->op.create;

    ctx->sync.seq = ctx->op.sync;

    if (rc == NGX_BUSY) {
        return ngx_http_itsm_pipeline_wait(r, ctx);
    }

    if (rc != NGX_OK) {
        return ngx_http_itsm_answer_store_failed(r, ctx, "claim");
    }

    ctx->claimed = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: key \"%V\" claimed, token:%uL doubt:%T",
                   &ctx->key, ctx->record.token, ctx->record.doubt);
    ctx->doubt = ctx->record.doubt ? 1 : 0;
    ctx->create_sent = 0;
    ctx->unknown = 0;
    ctx->found = 0;
    ctx->settled = 0;
    ctx->turn = 0;

    ngx_http_itsm_claim_renew_arm(ctx);

    ngx_http_itsm_pipeline_decide(ctx);

    if (ctx->plan.nsteps == 0) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_NOTHING);
        ctx->tpl.record = &ctx->record;
        return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
    }

    /* the key changed between the read and the claim, and a create is
     * to be sent after all: the claim says so first */

    if (!create && ngx_http_itsm_lifecycle_plan_has(&ctx->plan,
                                            NGX_HTTP_ITSM_ACTION_CREATE))
    {
        ctx->store_then = ngx_http_itsm_pipeline_doubted;

        rc = ngx_http_itsm_store_op_doubt(&ctx->op, &conn->name, &ctx->key,
                                          ctx->record.token);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        return ngx_http_itsm_pipeline_doubted(r, ctx, rc);
    }

    return ngx_http_itsm_pipeline_plan(r, ctx);
}


/* the claim says a create is on its way ("rc" as the doubt says) */

static ngx_int_t
ngx_http_itsm_pipeline_doubted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return ngx_http_itsm_answer_store_failed(r, ctx, "claim");
    }

    return ngx_http_itsm_pipeline_plan(r, ctx);
}


/* the key is claimed: the plan's steps start */

static ngx_int_t
ngx_http_itsm_pipeline_plan(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;

    /* a claim made for a create is on disk before the create is sent:
     * whoever takes the key over after a crash knows the ITSM may have
     * the ticket */

    if (ctx->sync.seq) {
        ctx->sync_then = NGX_HTTP_ITSM_SYNC_START;

        rc = ngx_http_itsm_store_sync(ctx->store, &ctx->sync);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
            return ngx_http_itsm_answer_store_failed(r, ctx, "claim");
        }
    }

    return ngx_http_itsm_step_start(r, ctx);
}


/*
 * Another request holds the key's claim: look again shortly, backing off
 * up to 200 ms, until the claim is committed or released, or its request
 * is gone.  An alert identical to the one the claim acts for joins it: it
 * sends nothing of its own and is answered with the claim's outcome.
 */

static ngx_int_t
ngx_http_itsm_pipeline_wait(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->wait.handler == NULL) {
        ctx->wait.handler = ngx_http_itsm_pipeline_wake;
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
        return ngx_http_itsm_answer_store_failed(r, ctx, "wait for");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm: key \"%V\" is claimed, waiting %M ms%s",
                   &ctx->key, ctx->wait_delay,
                   ctx->joined ? " (joined)" : "");

    ngx_add_timer(&ctx->wait, ctx->wait_delay);

    return NGX_DONE;
}


static void
ngx_http_itsm_pipeline_wake(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_itsm_ctx_of_event(ev, wait);
    r = ngx_http_itsm_pipeline_event_start(ctx);

    rc = ngx_http_itsm_pipeline_alert(r, ctx);

    ngx_http_itsm_pipeline_event_end(r, ctx, rc);
}


static void
ngx_http_itsm_pipeline_cleanup(void *data)
{
    ngx_http_itsm_ctx_t *ctx = data;

    /* a call of the store in flight: its answer would find no request
     * (a claim it won is let go below, or ends by its lease when the
     * store had not answered yet) */

    ngx_http_itsm_store_op_cancel(&ctx->op);
    ngx_http_itsm_store_op_cancel(&ctx->holder_op);
    ngx_http_itsm_dedup_cancel(ctx);

    if (ctx->sync.waiting) {
        ngx_http_itsm_store_sync_cancel(ctx->store, &ctx->sync);
    }

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    if (ctx->settle.timer_set) {
        ngx_del_timer(&ctx->settle);
    }

    /* a request the limits let go that never ended (the sender went
     * away while it waited for its turn or for the ITSM) */

    ngx_http_itsm_step_limit_done(ctx->request, ctx, NGX_DONE);

    /* the request ended with its create in flight (the sender went away,
     * the worker is shutting down): the ITSM may make the ticket */

    if (ctx->claimed && ctx->create_sent) {
        ctx->unknown = 1;
    }

    /* the request was given up, not failed by the ITSM: those that joined
     * it decide on their own (a create in doubt is looked up) */

    ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_NOTHING);
}


/*
 * What the alert does to the key's ticket (ngx_http_itsm_lifecycle.c); a
 * held entry whose state an action superseded still has its notes, which
 * go to the ticket as a comment of their own.
 */

static void
ngx_http_itsm_pipeline_decide(ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_plan_t       *plan;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    plan = &ctx->plan;

    if (!ctx->notes_only) {
        ngx_http_itsm_lifecycle_decide(conn, &ctx->record, ctx->alert,
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


/* the alert request is woken: the subrequest has finished */

static void
ngx_http_itsm_pipeline_resume(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_module);

    if (ctx == NULL || !ctx->dl.delivered) {
        return;
    }

    ctx->dl.delivered = 0;
    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_itsm_step_done(r, ctx);

    ngx_http_itsm_pipeline_went_on(r, ctx, rc);
}


/*
 * The claim or the commit this request waited for is on disk (or the flush
 * failed): the plan starts, or the result is given, and the pipeline goes
 * on as after a delivery.
 */

static void
ngx_http_itsm_pipeline_synced(ngx_http_itsm_store_waiter_t *w, ngx_int_t rc)
{
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = w->data;
    r = ngx_http_itsm_pipeline_event_start(ctx);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: key \"%V\" commit %ui on disk: %i",
                   &ctx->key, w->seq, rc);

    if (ctx->sync_then == NGX_HTTP_ITSM_SYNC_START) {

        if (rc != NGX_OK) {
            ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
            rc = ngx_http_itsm_answer_store_failed(r, ctx, "claim");

        } else {
            rc = ngx_http_itsm_step_start(r, ctx);
        }

    } else {

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "itsm: ticket \"%V\" of key \"%V\" may not be on "
                          "disk", &ctx->record.ticket, &ctx->key);
        }

        rc = ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
    }

    ngx_http_itsm_pipeline_event_end(r, ctx, rc);
}


/*
 * A call of the store for the alert in hand answered later (a store across
 * the network; LMDB answers at once, and what follows its calls runs in
 * the caller's turn): what follows it runs now, and the pipeline goes on
 * as after a delivery.
 */

static void
ngx_http_itsm_pipeline_stored(ngx_http_itsm_store_op_t *op)
{
    ngx_int_t             rc;
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = op->data;
    r = ngx_http_itsm_pipeline_event_start(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm pipeline: key \"%V\" the store answered: %i",
                   &ctx->key, op->rc);

    rc = ctx->store_then(r, ctx, op->rc);

    ngx_http_itsm_pipeline_event_end(r, ctx, rc);
}


/*
 * The pipeline goes on after an event (a delivery's answer, a flush, a
 * timer): "rc" is what the alert in hand came to (NGX_OK: done, and the
 * next alert or connector is taken; NGX_DONE: it waits again); anything
 * else, or the answer sent, ends the request.
 */

void
ngx_http_itsm_pipeline_went_on(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc)
{
    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_http_itsm_pipeline_next(r, ctx);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * The end of such an event: the pipeline goes on, and what it started (a
 * subrequest) is only posted, so the posted requests of the connection
 * run now, as nginx runs them after a request's own handlers.
 */

void
ngx_http_itsm_pipeline_event_end(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t  *c;

    /* the request may be freed by its finalization */
    c = r->connection;

    ngx_http_itsm_pipeline_went_on(r, ctx, rc);

    ngx_http_run_posted_requests(c);
}
