
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_status.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_callback_source.h"
#include "ngx_http_itsm_callback_loc.h"


/*
 * A callback's answer once the store has it on disk, its refusals, and
 * the counters by outcome and connector that the status page shows.
 */


static ngx_int_t ngx_http_itsm_callback_set(json_t *body, const char *name,
    ngx_str_t *value);


static ngx_str_t  ngx_http_itsm_callback_outcome_names[] = {
    ngx_string("applied"),
    ngx_string("unchanged"),
    ngx_string("duplicate"),
    ngx_string("stale"),
    ngx_string("unknown_ticket"),
    ngx_string("in_flight"),
    ngx_string("noted"),
    ngx_string("unmapped"),
    ngx_string("ignored"),
    ngx_string("unauthorized"),
    ngx_string("malformed"),
    ngx_string("too_large"),
    ngx_string("failed")
};


static ngx_str_t  ngx_http_itsm_callback_key_states[] = {
    ngx_string("none"),
    ngx_string("open"),
    ngx_string("resolved")
};


void
ngx_http_itsm_callback_synced(ngx_http_itsm_store_waiter_t *w, ngx_int_t rc)
{
    ngx_http_request_t  *r = w->data;

    ngx_connection_t              *c;
    ngx_http_itsm_callback_ctx_t  *ctx;

    w->waiting = 0;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    if (rc != NGX_OK) {
        ngx_http_itsm_callback_count(r, NGX_HTTP_ITSM_CB_FAILED);

        if (ngx_http_itsm_reply_retry_after(r, NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "store_unavailable",
                                           "the store could not write the "
                                           "callback to disk; send it again");
        }

    } else {
        rc = ngx_http_itsm_callback_answer(r, ctx);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


void
ngx_http_itsm_callback_cleanup(void *data)
{
    ngx_http_itsm_callback_ctx_t  *ctx = data;

    if (ctx->store) {
        ngx_http_itsm_store_sync_cancel(ctx->store, &ctx->sync);
        ngx_http_itsm_store_op_cancel(&ctx->op);
    }
}


/* the apply answered by Redis (ngx_http_itsm_callback_accept sent it) */

void
ngx_http_itsm_callback_applied(ngx_http_itsm_store_op_t *op)
{
    ngx_http_request_t  *r = op->data;

    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_itsm_callback_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm callback: the store answered: %i", op->rc);

    rc = ngx_http_itsm_callback_stored(r, ctx, op->rc);

    if (rc == NGX_DONE) {
        return;                                 /* waits for the flush */
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* 200 {"outcome":"applied","ticket":"42","key":"db-1","status":"resolved",
 *      "state":"resolved","key_state":"resolved"} */

ngx_int_t
ngx_http_itsm_callback_answer(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx)
{
    json_t                        *body;
    ngx_int_t                      rc;
    ngx_uint_t                     outcome;
    ngx_http_itsm_store_ticket_t  *cb;

    cb = &ctx->cb;
    outcome = cb->result;

    ctx->outcome = ngx_http_itsm_callback_outcome_names[outcome];

    ngx_http_itsm_callback_count(r, outcome);

    if (outcome == NGX_HTTP_ITSM_CB_NOTED) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\" key "
                      "\"%V\": a note of %uz bytes", &ctx->conf->name,
                      &cb->ticket, &cb->key, ctx->note.len);

    } else if (outcome == NGX_HTTP_ITSM_CB_APPLIED) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\" key "
                      "\"%V\": %V (\"%V\"): the key %V -> %V",
                      &ctx->conf->name, &cb->ticket, &cb->key,
                      &ngx_http_itsm_callback_state_names[cb->state],
                      &ctx->status,
                      &ngx_http_itsm_callback_key_states[cb->before],
                      &ngx_http_itsm_callback_key_states[cb->after]);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\" "
                      "(\"%V\"): %V, nothing changes", &ctx->conf->name,
                      &cb->ticket, &ctx->status,
                      &ngx_http_itsm_callback_outcome_names[outcome]);
    }

    body = json_object();

    if (body == NULL
        || ngx_http_itsm_callback_set(body, "outcome",
                              &ngx_http_itsm_callback_outcome_names[outcome])
           != NGX_OK
        || ngx_http_itsm_callback_set(body, "ticket", &cb->ticket) != NGX_OK
        || (cb->key.len
            && ngx_http_itsm_callback_set(body, "key", &cb->key) != NGX_OK)
        || (ctx->status.len
            && ngx_http_itsm_callback_set(body, "status", &ctx->status)
               != NGX_OK)
        || (cb->assignee.len && cb->result != NGX_HTTP_ITSM_CB_UNKNOWN_TICKET
            && ngx_http_itsm_callback_set(body, "assignee", &cb->assignee)
               != NGX_OK)
        || ngx_http_itsm_callback_set(body, "state",
                              &ngx_http_itsm_callback_state_names[cb->state])
           != NGX_OK
        || (outcome == NGX_HTTP_ITSM_CB_APPLIED
            && ngx_http_itsm_callback_set(body, "key_state",
                              &ngx_http_itsm_callback_key_states[cb->after])
               != NGX_OK))
    {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_itsm_reply_json(r, NGX_HTTP_OK, body);

    /* the change is on disk and the ITSM has its answer: then back to the
     * alert's source (ngx_http_itsm_callback_source.c); also when an alert
     * holds the key, if the ITSM's state changed (the echo of the alert's
     * own resolve still expires a silence) */

    /* a note goes back once: a retried delivery is a duplicate, and a
     * note while an alert holds the key is the echo of the module's own
     * comment (RT's scrip runs inside the request that comments), which
     * must not go back to the source that sent it */

    if (outcome == NGX_HTTP_ITSM_CB_APPLIED
        || outcome == NGX_HTTP_ITSM_CB_NOTED
        || (outcome == NGX_HTTP_ITSM_CB_IN_FLIGHT && !cb->note
            && cb->known != cb->state))
    {
        rc = ngx_http_itsm_callback_source_run(r, ctx->store, ctx->conf->conn,
                                               cb, &ctx->status, &ctx->note,
                                               &ctx->event, rc);
    }

    return rc;
}


static ngx_int_t
ngx_http_itsm_callback_set(json_t *body, const char *name, ngx_str_t *value)
{
    json_t  *v;

    v = json_stringn((const char *) value->data, value->len);

    if (v == NULL || json_object_set_new(body, name, v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * An event the location takes and leaves as it is (one the profile
 * ignores, a status the map does not name): a 200, so that the ITSM does
 * not send it again, counted and answered {"outcome":"<outcome>"}.
 */

ngx_int_t
ngx_http_itsm_callback_pass(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, ngx_uint_t outcome)
{
    u_char  *body, *last;

    ngx_http_itsm_callback_count(r, outcome);
    ctx->outcome = ngx_http_itsm_callback_outcome_names[outcome];

    body = ngx_pnalloc(r->pool, sizeof("{\"outcome\":\"\"}") - 1
                                + ctx->outcome.len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(body, "{\"outcome\":\"%V\"}", &ctx->outcome);

    return ngx_http_itsm_reply_raw(r, NGX_HTTP_OK, body, last - body);
}


ngx_int_t
ngx_http_itsm_callback_refuse(ngx_http_request_t *r, ngx_uint_t outcome,
    ngx_uint_t status, const char *code, const char *message)
{
    ngx_http_itsm_callback_ctx_t  *ctx;

    /* refused before the body was read: a context for the variables */

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_callback_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_itsm_callback_module);
    }

    ctx->outcome = ngx_http_itsm_callback_outcome_names[outcome];

    ngx_http_itsm_callback_count(r, outcome);

    return ngx_http_itsm_reply_error(r, status, code, "%s", message);
}


/* a body over itsm_max_body: said by its length, or found while read */

ngx_int_t
ngx_http_itsm_callback_too_large(ngx_http_request_t *r)
{
    return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_TOO_LARGE,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body_too_large",
                                         "the body is larger than "
                                         "itsm_max_body allows");
}


void
ngx_http_itsm_callback_count(ngx_http_request_t *r, ngx_uint_t outcome)
{
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_loc_conf_t   *cblcf;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);
    cblcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    if (counters == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&counters->count[outcome], 1);

    if (cblcf->slot != NGX_HTTP_ITSM_CB_NO_SLOT) {
        (void) ngx_atomic_fetch_add(&counters->slot[cblcf->slot][outcome], 1);
    }
}


ngx_int_t
ngx_http_itsm_callback_counts(ngx_http_request_t *r, ngx_array_t *counts)
{
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    return ngx_http_itsm_status_counts(counts,
                                       ngx_http_itsm_callback_outcome_names,
                                       counters ? counters->count : NULL,
                                       NGX_HTTP_ITSM_CB_NOUTCOMES);
}


/* each connector of this configuration with a callback location, once */

ngx_int_t
ngx_http_itsm_callback_connector_counts(ngx_http_request_t *r,
    ngx_array_t *counts)
{
    ngx_uint_t                           i, j, o, seen;
    ngx_atomic_t                        *slot;
    ngx_http_itsm_status_count_t        *c;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    if (counters == NULL) {
        return NGX_OK;
    }

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {

        if (loc[i]->slot == NGX_HTTP_ITSM_CB_NO_SLOT) {
            continue;
        }

        seen = 0;

        for (j = 0; j < i; j++) {
            seen |= (loc[j]->slot == loc[i]->slot);
        }

        if (seen) {
            continue;
        }

        slot = counters->slot[loc[i]->slot];

        c = ngx_array_push_n(counts, NGX_HTTP_ITSM_CB_NOUTCOMES);
        if (c == NULL) {
            return NGX_ERROR;
        }

        for (o = 0; o < NGX_HTTP_ITSM_CB_NOUTCOMES; o++) {
            c[o].name = ngx_http_itsm_callback_outcome_names[o];
            c[o].value = slot[o];
            c[o].group = loc[i]->name;
        }
    }

    return NGX_OK;
}


/*
 * The zone's data is this configuration's main conf: at init the counters
 * are found (ngx_http_itsm_conf_zone_data: a reload keeps them) and
 * each location gets its connector's slot.
 */

ngx_int_t
ngx_http_itsm_callback_init_counters(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                           i;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = shm_zone->data;

    counters = ngx_http_itsm_conf_zone_data(shm_zone, data,
                                 sizeof(ngx_http_itsm_callback_counters_t));
    if (counters == NULL) {
        return NGX_ERROR;
    }

    cbmcf->shared = counters;

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {
        loc[i]->slot = ngx_http_itsm_status_slot(&counters->slots,
                                                 &loc[i]->name);
    }

    return NGX_OK;
}
