
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The claim of a key by the request that works on it: renewed while the
 * request waits on the ITSM, released with the key as it was (and how the
 * claim ended, for the requests that joined it) when nothing changed.
 */


static void ngx_http_itsm_claim_renew(ngx_event_t *ev);


/*
 * The claim ends with the key as it was: nothing was changed.  "result"
 * is what the requests that joined it read; a create whose outcome is
 * unknown leaves the key in doubt, so that the next create asks the ITSM.
 */

void
ngx_http_itsm_claim_release(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_flight_e result)
{
    ngx_int_t                rc;
    ngx_http_itsm_record_t  *rec;

    if (!ctx->claimed) {
        return;
    }

    ctx->claimed = 0;
    ngx_http_itsm_claim_renew_stop(ctx);

    rec = &ctx->record;

    rec->last_result = result;
    rec->last_status = ctx->dl.status;
    rec->last_retry = ctx->dl.retry_after;

    /* the doubt counts from when the outcome became unknown: the find's
     * "settle" gives the ITSM its time from then */

    if (ctx->unknown) {
        rec->doubt = ngx_time();
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "itsm pipeline: key \"%V\" released, result:%ui doubt:%T",
                   &ctx->key, (ngx_uint_t) result, rec->doubt);

    rc = ngx_http_itsm_store_release(ctx->store, &ctx->connector->name,
                                     &ctx->key, rec);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                      "itsm: the claim of key \"%V\" could not be released; "
                      "it is taken over when its lease ends", &ctx->key);
    }
}


/*
 * A claim lives as long as its request: its lease is renewed every third
 * of it while the request waits on the ITSM, so that a slow ITSM (longer
 * than the lease) never lets a second request take the key over.  A
 * worker that dies stops renewing, and its claim is taken over at once
 * (its pid is gone) or when the lease ends.
 */

void
ngx_http_itsm_claim_renew_arm(ngx_http_itsm_ctx_t *ctx)
{
    ngx_msec_t  period;

    if (ctx->renew.handler == NULL) {
        ctx->renew.handler = ngx_http_itsm_claim_renew;
        ctx->renew.data = ctx->request->connection;
        ctx->renew.log = ctx->request->connection->log;
    }

    period = (ngx_msec_t) ngx_http_itsm_store_lease(ctx->store) * 1000 / 3;

    ngx_add_timer(&ctx->renew, ngx_max(period, 500));
}


void
ngx_http_itsm_claim_renew_stop(ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->renew.timer_set) {
        ngx_del_timer(&ctx->renew);
    }
}


static void
ngx_http_itsm_claim_renew(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_itsm_ctx_of_event(ev, renew);

    if (!ctx->claimed) {
        return;
    }

    rc = ngx_http_itsm_store_renew(ctx->store, &ctx->connector->name,
                                   &ctx->key, ctx->record.token);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "itsm pipeline: key \"%V\" claim renewed: %i",
                   &ctx->key, rc);

    if (rc == NGX_OK) {
        ngx_http_itsm_claim_renew_arm(ctx);
        return;
    }

    if (rc == NGX_ERROR) {
        /* the store failed: try again, the lease still runs */
        ngx_http_itsm_claim_renew_arm(ctx);
        return;
    }

    /* taken over: nothing of this claim is written any more */
    ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                  "itsm: the claim of key \"%V\" was taken over while its "
                  "request waited on the ITSM", &ctx->key);

    ctx->claimed = 0;
}
