
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_callback_source.h"


/*
 * The plan's steps: each action's request (its find or lookup first, when
 * it has one), what its answer means for the key (done, failed, in doubt,
 * queued, gone), and the key's new state once every step succeeded.
 */


static ngx_int_t ngx_http_itsm_step_noted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_step_send(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_deliver(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e index,
    ngx_http_itsm_action_t *action);
static ngx_int_t ngx_http_itsm_step_held(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e index, ngx_uint_t why,
    time_t wait);
static void ngx_http_itsm_step_count(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e action,
    ngx_uint_t failed);
static ngx_int_t ngx_http_itsm_step_answer_ok(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_delivery_t *d);
static ngx_int_t ngx_http_itsm_step_queued(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_step_queue(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_gone(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_gone_doubted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_step_looked_up(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_finish(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *ticket);
static ngx_int_t ngx_http_itsm_step_committed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_itsm_step_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_step_unusable(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_found(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_step_settle(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_step_settled(ngx_event_t *ev);


ngx_int_t
ngx_http_itsm_step_start(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->plan.nsteps == 0) {
        return ngx_http_itsm_answer_result(r, ctx, NULL);
    }

    ctx->tpl.record = &ctx->record;
    ctx->record.ticket.data = ctx->record.ticket_data;
    ctx->tpl.ticket_id = ctx->record.ticket;
    ctx->step = 0;
    ctx->gone = 0;
    ctx->digest = NULL;
    ctx->held = 0;

    /* a comment carries what waits for the key: the notes of a cooldown
     * (on Redis read from the shared queue, in a later turn) */

    if (ctx->store && ngx_http_itsm_lifecycle_plan_has(&ctx->plan,
                                              NGX_HTTP_ITSM_ACTION_COMMENT))
    {
        ctx->store_then = ngx_http_itsm_step_noted;

        rc = ngx_http_itsm_held_notes(r, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_itsm_step_send(r, ctx);
}


/* on Redis: the notes held for the key read; without them (Redis did not
 * answer) no comment goes: 503 with Retry-After, as for the store's other
 * calls, and the notes wait in Redis */

static ngx_int_t
ngx_http_itsm_step_noted(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    if (ngx_http_itsm_held_noted(r, ctx, rc) != NGX_OK) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return ngx_http_itsm_answer_store_failed(r, ctx, "read");
    }

    return ngx_http_itsm_step_send(r, ctx);
}


/* the plan's current step: its lookup first, if it has one */

static ngx_int_t
ngx_http_itsm_step_send(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
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

            if (!ctx->settled) {
                ctx->settled = 1;

                if (ngx_http_itsm_step_settle(r, ctx) == NGX_AGAIN) {
                    return NGX_DONE;
                }
            }

            ctx->finding = 1;
            action = &conn->find->request;

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "itsm: connector \"%V\": the outcome of an earlier "
                          "create of key \"%V\" is unknown; asking the ITSM "
                          "for its ticket first", &conn->name, &ctx->key);

            return ngx_http_itsm_step_deliver(r, ctx, index, action);
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

    return ngx_http_itsm_step_deliver(r, ctx, index, action);
}


/*
 * A create whose answer was lost may still be at work in the ITSM (it
 * timed out at the proxy, not in the ITSM), and a search index may not
 * show a new ticket at once: a find sent then says "none" and a second
 * ticket follows.  The find waits until "settle" has passed since the
 * outcome became unknown (the doubt's time, in whole seconds: one more,
 * so that the wait is never shorter than it says).  The claim is held
 * and renewed meanwhile; identical copies join it.  NGX_AGAIN: waiting.
 */

static ngx_int_t
ngx_http_itsm_step_settle(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_msec_int_t   left;
    ngx_time_t      *tp;

    tp = ngx_timeofday();

    left = (ngx_msec_int_t) (ctx->record.doubt + ctx->connector->find->settle
                             + 1 - tp->sec) * 1000 - (ngx_msec_int_t) tp->msec;

    if (ctx->connector->find->settle == 0 || left <= 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: connector \"%V\": the earlier create of key \"%V\" "
                  "became unknown at %T; the ITSM is asked in %M ms, when "
                  "\"settle\" has passed", &ctx->connector->name, &ctx->key,
                  ctx->record.doubt, (ngx_msec_t) left);

    ctx->settle.handler = ngx_http_itsm_step_settled;
    ctx->settle.data = r->connection;    /* read by debug logging */
    ctx->settle.log = r->connection->log;

    ngx_add_timer(&ctx->settle, (ngx_msec_t) left);

    return NGX_AGAIN;
}


static void
ngx_http_itsm_step_settled(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_http_request_t   *r;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_itsm_ctx_of_event(ev, settle);
    r = ngx_http_itsm_pipeline_event_start(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm step: key \"%V\" %s", &ctx->key,
                   ctx->turn ? "has its turn under the connector's limit"
                             : "settled, asking the ITSM");

    rc = ngx_http_itsm_step_send(r, ctx);

    /* the find's subrequest is only posted: it runs at the event's end */
    ctx->event_end(r, ctx, rc);
}


/* NGX_DONE: the request is in flight; a failure to make it ends the claim */

static ngx_int_t
ngx_http_itsm_step_deliver(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_action_e index, ngx_http_itsm_action_t *action)
{
    ngx_int_t   rc;
    ngx_uint_t  why, probe;
    ngx_msec_t  ms;

    ctx->dl.connector = ctx->connector;
    ctx->dl.lookup = (ctx->finding || ctx->looking);
    ctx->dl.find = ctx->finding;
    ctx->dl.replay = ctx->attempt;

    /* the connector's limits: taken once, before the wait for a turn */

    ms = 0;
    why = 0;
    rc = NGX_OK;

    if (!ctx->turn) {
        rc = ngx_http_itsm_limit_take(r, ctx->connector, index, &ms, &why,
                                      &probe);

        if (rc != NGX_DECLINED) {
            ctx->inflight = 1;
            ctx->probe = probe;
        }
    }

    ctx->turn = 0;

    if (rc == NGX_AGAIN) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm step: key \"%V\" waits %M ms for its turn",
                       &ctx->key, ms);

        ctx->turn = 1;
        ctx->settle.handler = ngx_http_itsm_step_settled;
        ctx->settle.data = r->connection;    /* read by debug logging */
        ctx->settle.log = r->connection->log;

        ngx_add_timer(&ctx->settle, ms);

        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return ngx_http_itsm_step_held(r, ctx, index, why,
                                       (time_t) ngx_max((ms + 999) / 1000, 1));
    }

    if (ngx_http_itsm_deliver(r, &ctx->dl, index, action) != NGX_OK) {
        ngx_http_itsm_step_limit_done(r, ctx, NGX_DONE);
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (index == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->finding
        && !ctx->looking)
    {
        ctx->create_sent = 1;
    }

    return NGX_DONE;
}


/*
 * The connector's limits hold the request back (a pause after a 429, its
 * rate, its requests in flight, an open circuit): it was not sent, so
 * nothing is in doubt, and the alert fails as unavailable, to the queue
 * or to the sender with a Retry-After of the wait.
 */

static ngx_int_t
ngx_http_itsm_step_held(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_action_e index, ngx_uint_t why, time_t wait)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\": %V of key \"%V\" not sent: %s; "
                  "it may go in %T s", &ctx->connector->name,
                  &ngx_http_itsm_action_names[index], &ctx->key,
                  ngx_http_itsm_limit_said(why, 0), wait);

    ctx->dl.action = index;
    ctx->dl.status = NGX_HTTP_TOO_MANY_REQUESTS;
    ctx->dl.retry_after = wait;
    ctx->dl.response = NULL;
    ctx->dl.response_len = 0;
    ctx->dl.answered = 0;
    ctx->dl.held = 1;
    ctx->dl.held_why = why;

    return ngx_http_itsm_step_failed(r, ctx);
}


/*
 * A request to the ITSM with an outcome: counted for the status page (by
 * action) and for the connector's registry (by connector and action).
 */

static void
ngx_http_itsm_step_count(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_action_e action, ngx_uint_t failed)
{
    ngx_http_itsm_status_count_action(r, ctx->connector, action, failed);
    ngx_http_itsm_registry_count(r, ctx->connector, action, failed);
}


/*
 * A request let go by the connector's limits has ended: it is no longer
 * in flight, and its outcome tells the circuit whether the ITSM is up (an
 * answer under 500) or not.
 */

void
ngx_http_itsm_step_limit_done(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t outcome)
{
    if (!ctx->inflight) {
        return;
    }

    ctx->inflight = 0;

    ngx_http_itsm_limit_done(r, ctx->connector, ctx->probe, outcome);

    ctx->probe = 0;
}


/*
 * NGX_OK: the alert is done (or, with r->header_sent, it failed and the
 * answer was sent); NGX_DONE: its next request is in flight.
 */

ngx_int_t
ngx_http_itsm_step_done(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  id, why;

    ngx_http_itsm_step_limit_done(r, ctx,
                                  (ctx->dl.answered
                                   && ctx->dl.status
                                      < NGX_HTTP_INTERNAL_SERVER_ERROR)
                                  ? NGX_OK : NGX_ERROR);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm step %ui of %ui: %V%s answered %ui",
                   ctx->step + 1, ctx->plan.nsteps,
                   &ngx_http_itsm_action_names[ctx->dl.action],
                   ctx->finding ? " (find)" : ctx->looking ? " (lookup)" : "",
                   ctx->dl.status);

    /* a 429 pauses the whole connector, not only this request */

    if (ctx->dl.answered && ctx->dl.status == NGX_HTTP_TOO_MANY_REQUESTS) {
        ngx_http_itsm_limit_pause(r, ctx->connector, ctx->dl.retry_after);
    }

    if (ctx->finding) {
        return ngx_http_itsm_step_found(r, ctx);
    }

    /* a 2xx that says in its body that nothing was done ("answer_ok")
     * is a refusal like a 4xx: nothing was made */

    if (ctx->dl.status >= NGX_HTTP_OK
        && ctx->dl.status < NGX_HTTP_SPECIAL_RESPONSE && !ctx->looking
        && ngx_http_itsm_step_answer_ok(r, ctx->connector, &ctx->dl)
           != NGX_OK)
    {
        ngx_http_itsm_step_count(r, ctx, ctx->dl.action, 1);
        return ngx_http_itsm_step_failed(r, ctx);
    }

    if (ctx->dl.status < NGX_HTTP_OK
        || ctx->dl.status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        ngx_http_itsm_step_count(r, ctx, ctx->dl.action, 1);

        if (!ctx->gone
            && ngx_http_itsm_lifecycle_gone(ctx->connector, ctx->dl.action,
                                            ctx->dl.status, &ctx->record)
               == NGX_OK)
        {
            return ngx_http_itsm_step_gone(r, ctx);
        }

        /*
         * A create that got no answer, or a 5xx, may have been made all
         * the same (the ITSM created the ticket, then timed out or reset;
         * a gateway in front of it answered 502 or 504).  A 4xx is the
         * ITSM's own refusal: nothing was made.
         */

        if (ctx->dl.action == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->looking
            && (!ctx->dl.answered
                || ctx->dl.status >= NGX_HTTP_INTERNAL_SERVER_ERROR))
        {
            ctx->unknown = 1;
        }

        return ngx_http_itsm_step_failed(r, ctx);
    }

    if (ctx->looking) {
        rc = ngx_http_itsm_step_looked_up(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* nothing to do for this step ("missing=skip") */

    } else {
        ngx_http_itsm_step_count(r, ctx, ctx->dl.action, 0);
    }

    /* a connector that reads no ticket id (a chat) keeps none */

    if (ctx->dl.action == NGX_HTTP_ITSM_ACTION_CREATE && !ctx->looking
        && ctx->connector->ticket_id.data != NULL)
    {
        rc = ngx_http_itsm_answer_read_id(r, ctx, &ctx->connector->ticket_id,
                                           &id, &why);

        if (rc == NGX_ERROR) {
            ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
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
            ngx_http_itsm_step_unusable(r, ctx);

            return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                             "itsm_bad_response", "%V", &why);
        }

        ctx->tpl.ticket_id = id;
    }

    if (++ctx->step < ctx->plan.nsteps) {
        return ngx_http_itsm_step_send(r, ctx);
    }

    return ngx_http_itsm_step_finish(r, ctx, &ctx->tpl.ticket_id);
}


/*
 * "itsm_queue on": the ITSM cannot take the alert now, so the store keeps
 * it (the key's latest state, as for a cooldown) and the sender is told
 * it is accepted; the kick delivers it once it is due, with backoff, and
 * makes it a dead letter after itsm_retry's attempts.  Whatever steps of
 * the plan succeeded stay done: the replay decides again from the store.
 */

static ngx_int_t
ngx_http_itsm_step_queue(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    time_t     due;
    ngx_int_t  rc;

    due = ngx_time() + (ctx->dl.retry_after ? ctx->dl.retry_after
                                              : ctx->conf->retry_after);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the ITSM answered %ui; the "
                  "alert \"%V\" is queued, first retry in %T s",
                  &ctx->connector->name,
                  &ngx_http_itsm_action_names[ctx->dl.action], ctx->dl.status,
                  &ctx->key, due - ngx_time());

    /* kept before the claim ends: a request that joined it and is told
     * "queued" finds the alert in the queue.  On Redis the answer waits
     * for Redis' own: an alert answered "queued" is in Redis; the job is
     * merged with what waits, as on LMDB, so that notes held in a
     * cooldown stay */

    ctx->store_then = ngx_http_itsm_step_queued;

    rc = ngx_http_itsm_held_hold(r, ctx, due);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_step_queued(r, ctx, rc);
}


/* the alert is kept ("rc" NGX_OK, or NGX_DECLINED: the same waits) or
 * could not be (NGX_ERROR: the sender is answered as if there were no
 * queue, 503 and Retry-After) */

static ngx_int_t
ngx_http_itsm_step_queued(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm step: key \"%V\" queued: %i", &ctx->key, rc);

    if (rc == NGX_ERROR) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE);
        return ngx_http_itsm_answer_itsm_failed(r, ctx);
    }

    ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_QUEUED);

    ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_QUEUED;
    ctx->plan.reason = "the ITSM is unavailable; the alert is kept and "
                       "delivered when it answers";

    return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
}


/*
 * The ITSM no longer has the key's ticket ("on_gone new"): the key
 * forgets it, and a firing alert opens a new ticket in the same claim.
 * Only once per alert: a create that meets a 404 is a failure.
 */

static ngx_int_t
ngx_http_itsm_step_gone(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\": ticket \"%V\" of key \"%V\" no "
                  "longer exists (the ITSM answered %ui to %V%s); %s",
                  &ctx->connector->name, &ctx->record.ticket, &ctx->key,
                  ctx->dl.status, &ngx_http_itsm_action_names[ctx->dl.action],
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
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_NOTHING);
        return ngx_http_itsm_answer_result(r, ctx, NULL);
    }

    /* the create that follows is one the claim did not announce: the
     * store's answer goes on in ngx_http_itsm_step_gone_doubted(), now or
     * when the store answers later (ctx->op's handler, the pipeline's) */

    ctx->store_then = ngx_http_itsm_step_gone_doubted;

    rc = ngx_http_itsm_store_op_doubt(&ctx->op, &ctx->connector->name,
                                      &ctx->key, ctx->record.token);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_step_gone_doubted(r, ctx, rc);
}


/* the claim says the create after a gone ticket is on its way ("rc" as
 * the doubt says): the plan starts again from its first step */

static ngx_int_t
ngx_http_itsm_step_gone_doubted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return ngx_http_itsm_answer_store_failed(r, ctx, "claim");
    }

    ctx->step = 0;

    return ngx_http_itsm_step_send(r, ctx);
}


/*
 * The lookup of the current step answered: its value is picked and the
 * action itself is sent (NGX_DONE); NGX_DECLINED: nothing matched and the
 * lookup says the action is then not needed; otherwise the sender's answer
 * was sent and its rc is returned.
 */

static ngx_int_t
ngx_http_itsm_step_looked_up(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *data;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_str_t                   why;
    ngx_http_itsm_lookup_t     *lk;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    lk = conn->lookups[ctx->dl.action];

    data = ngx_http_itsm_deliver_response(r, &ctx->dl, &len);
    if (data == NULL && len) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->dl.truncated) {
        rc = NGX_ABORT;
        ngx_str_set(&why, "the answer is larger than the connector's "
                          "max_response");

    } else {
        rc = ngx_http_itsm_lookup_pick(lk, data, len, r->pool,
                                       &ctx->tpl.lookup, &why);
    }

    if (rc == NGX_ERROR) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm lookup %V: \"%V\"",
                       &ngx_http_itsm_action_names[ctx->dl.action],
                       &ctx->tpl.lookup);

        ctx->looking = 0;

        return ngx_http_itsm_step_deliver(r, ctx, ctx->dl.action,
                                             conn->actions[ctx->dl.action]);
    }

    /* a warning: the ticket was moved by hand, or the wanted names do not
     * fit the ITSM's workflow, and only the log tells the two apart */

    if (rc == NGX_DECLINED && lk->skip) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: connector \"%V\" skips %V of ticket \"%V\": "
                      "%V", &conn->name,
                      &ngx_http_itsm_action_names[ctx->dl.action],
                      &ctx->tpl.ticket_id, &why);
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm: connector \"%V\" %V: the lookup of ticket \"%V\" "
                  "failed: %V", &conn->name,
                  &ngx_http_itsm_action_names[ctx->dl.action],
                  &ctx->tpl.ticket_id, &why);

    ngx_http_itsm_step_count(r, ctx, ctx->dl.action, 1);
    ngx_http_itsm_step_unusable(r, ctx);

    return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                     "itsm_lookup_failed",
                                     "connector \"%V\" could not %V ticket "
                                     "\"%V\": the ITSM answered %ui to the "
                                     "lookup, but %V", &conn->name,
                                     &ngx_http_itsm_action_names
                                         [ctx->dl.action],
                                     &ctx->tpl.ticket_id, ctx->dl.status,
                                     &why);
}


/* every request of the plan succeeded: the key's new state is recorded */

static ngx_int_t
ngx_http_itsm_step_finish(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_str_t *ticket)
{
    ngx_int_t                   rc;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ngx_http_itsm_lifecycle_apply(&ctx->plan, &ctx->record, ticket,
                                  ctx->tpl.occurrences);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm step: plan done, key \"%V\" now state:%ui "
                   "ticket:\"%V\"", &ctx->key, ctx->record.state,
                   &ctx->record.ticket);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: connector \"%V\" %V ticket \"%V\" for alert \"%V\"",
                  &conn->name, &ngx_http_itsm_outcome_names[ctx->plan.outcome],
                  &ctx->record.ticket, &ctx->key);

    if (!ctx->claimed) {
        return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
    }

    /* the claim ends with the commit: a request that goes away while the
     * commit is in flight releases nothing (the commit is made, or the
     * claim ends by its lease) */

    ctx->claimed = 0;
    ngx_http_itsm_claim_renew_stop(ctx);

    ctx->store_then = ngx_http_itsm_step_committed;

    rc = ngx_http_itsm_store_op_commit(&ctx->op, &conn->name, &ctx->key,
                                       &ctx->record);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_step_committed(r, ctx, rc);
}


/*
 * The commit answered ("rc" as the commit says): the result is given once
 * the key's new state is on disk.
 */

static ngx_int_t
ngx_http_itsm_step_committed(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    if (rc != NGX_OK) {
        /* the ITSM has the change, the store could not record it: the
         * sender is still told, the log says what to repair */
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "itsm: ticket \"%V\" of key \"%V\" is not recorded "
                      "in the store%s", &ctx->record.ticket, &ctx->key,
                      rc == NGX_DECLINED ? ": the claim was taken over"
                                         : "");

    } else {
        ctx->sync.seq = ctx->op.sync;

        /* what a callback's way back to the source will need (its own
         * transaction: the commit's flush is the one waited for) */
        ngx_http_itsm_callback_source_remember(r, ctx->store, conn,
                                               &ctx->key, ctx->alert);
    }

    if (rc == NGX_OK && ctx->sync.seq) {

        /* a 2xx means durable: the result waits for the commit to
         * reach the disk, off the event loop */

        ctx->sync_then = NGX_HTTP_ITSM_SYNC_RESULT;

        rc = ngx_http_itsm_store_sync(ctx->store, &ctx->sync);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "itsm: ticket \"%V\" of key \"%V\" may not "
                          "be on disk", &ctx->record.ticket, &ctx->key);
        }
    }

    return ngx_http_itsm_answer_result(r, ctx, &ctx->record.ticket);
}


/*
 * A request of the plan failed: with "itsm_queue on" an ITSM that cannot
 * take the alert now gets it later from the queue; otherwise the sender
 * is told (502 for a refusal, 503 and Retry-After when it may try again).
 */

static ngx_int_t
ngx_http_itsm_step_failed(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_uint_t  unavailable;

    unavailable = ngx_http_itsm_answer_unavailable(ctx);

    if (ctx->conf->queue && !ctx->replay && ctx->store && unavailable) {
        return ngx_http_itsm_step_queue(r, ctx);
    }

    ngx_http_itsm_claim_release(ctx, unavailable
                                       ? NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE
                                       : NGX_HTTP_ITSM_FLIGHT_REFUSED);

    return ngx_http_itsm_answer_itsm_failed(r, ctx);
}


/*
 * The ITSM answered, but what it said cannot be used (an id that is not
 * one, a lookup or find that failed): the claim is let go as failed, and
 * the alert counts as failed; the caller answers the sender (502).
 */

static void
ngx_http_itsm_step_unusable(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);

    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->source, NGX_HTTP_ITSM_OUTCOME_FAILED);
}


/*
 * The find answered: the ticket an earlier create of the key made (its
 * answer was lost) is taken as the key's ticket, and not created again;
 * when the ITSM has none (an empty result, or 404), the create is sent.
 */

static ngx_int_t
ngx_http_itsm_step_found(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   id, why;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ctx->finding = 0;
    ctx->found = 1;

    if (ctx->dl.status == NGX_HTTP_NOT_FOUND) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm: connector \"%V\": no ticket of key \"%V\" in "
                      "the ITSM (404); it is created", &conn->name, &ctx->key);

        return ngx_http_itsm_step_send(r, ctx);
    }

    if (ctx->dl.status < NGX_HTTP_OK
        || ctx->dl.status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        /* the doubt stays: the next attempt asks again */
        ngx_http_itsm_step_count(r, ctx, ctx->dl.action, 1);
        return ngx_http_itsm_step_failed(r, ctx);
    }

    rc = ngx_http_itsm_answer_read_id(r, ctx, &conn->find->take, &id, &why);

    if (rc == NGX_ERROR) {
        ngx_http_itsm_claim_release(ctx, NGX_HTTP_ITSM_FLIGHT_FAILED);
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

        return ngx_http_itsm_step_send(r, ctx);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: connector \"%V\" find of key \"%V\": %V",
                      &conn->name, &ctx->key, &why);

        ngx_http_itsm_step_unusable(r, ctx);

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
        return ngx_http_itsm_step_send(r, ctx);
    }

    return ngx_http_itsm_step_finish(r, ctx, &ctx->tpl.ticket_id);
}


/* NGX_OK: the 2xx answer starts as the connector's "answer_ok" says (or
 * it has none; the line is read in ngx_http_itsm_mail.c) */

static ngx_int_t
ngx_http_itsm_step_answer_ok(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_delivery_t *d)
{
    u_char  *data;
    size_t   len;

    if (conn->answer_ok.len == 0) {
        return NGX_OK;
    }

    data = ngx_http_itsm_deliver_response(r, d, &len);

    if (data && len >= conn->answer_ok.len
        && ngx_strncmp(data, conn->answer_ok.data, conn->answer_ok.len) == 0)
    {
        return NGX_OK;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm: connector \"%V\": a %ui answer without \"answer_ok\"",
                   &conn->name, d->status);

    return NGX_DECLINED;
}
