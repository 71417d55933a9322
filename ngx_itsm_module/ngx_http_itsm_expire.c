
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The store's lifetime: a resolved key (and a key that never got a
 * ticket: a refused create, a doubt whose alert never came back) is
 * forgotten once "itsm_store retention=" has passed since it last changed,
 * so that a store of a fixed size holds the keys of a fixed time, not of
 * the edge's whole life.  Open
 * keys, claimed keys and keys with a waiting delivery are never expired.
 * Nothing the lifecycle needs goes: a refire within "on_refire reopen
 * window=" needs the resolved key, so the default retention is 7 days or
 * the longest window, and nginx -t refuses a retention= shorter than a
 * window.
 *
 * One worker (the first, as for the kick) walks the store in small steps
 * on a timer: each step reads at most NGX_HTTP_ITSM_EXPIRE_SCAN records in
 * a read transaction (no lock) and deletes the expired ones in one short
 * write transaction that checks each again, so the event loop is never held
 * for long and the workers' claims wait at most one step.  A pass over the
 * whole store ends with a look at its use: a warning before it is full.
 */


#define NGX_HTTP_ITSM_EXPIRE_SCAN       512     /* records per step */
#define NGX_HTTP_ITSM_EXPIRE_STEP       100     /* ms between steps */
#define NGX_HTTP_ITSM_EXPIRE_PASS       60      /* s between passes, at most */
#define NGX_HTTP_ITSM_EXPIRE_FIRST      1000    /* ms: the first pass */

/* the store is this full (percent): warned, at most every WARN_EVERY s */
#define NGX_HTTP_ITSM_EXPIRE_WARN       80
#define NGX_HTTP_ITSM_EXPIRE_WARN_EVERY 600


typedef struct {
    ngx_http_itsm_main_conf_t   *imcf;
    ngx_event_t                  event;
    ngx_connection_t             dummy;        /* ev->data for debug logs */
    ngx_uint_t                   expired;      /* in this pass */
    time_t                       warned;
} ngx_http_itsm_expire_t;


static void ngx_http_itsm_expire_step(ngx_event_t *ev);
static void ngx_http_itsm_expire_pass_done(ngx_http_itsm_expire_t *exp);


static ngx_http_itsm_expire_t  *ngx_http_itsm_expire;


/*
 * At load: a resolved key must outlive every reopen window, else a refire
 * within the window would find no ticket to reopen and open a second one.
 * Without retention=, the retention is 7 days or the longest window.
 */

char *
ngx_http_itsm_expire_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf)
{
    time_t                       longest;
    ngx_uint_t                   i;
    ngx_http_itsm_connector_t  **conn;

    if (imcf->store == NULL) {
        return NGX_CONF_OK;
    }

    conn = imcf->connectors.elts;

    if (imcf->retention == NGX_CONF_UNSET) {
        longest = NGX_HTTP_ITSM_DEFAULT_RETENTION;

        for (i = 0; i < imcf->connectors.nelts; i++) {
            if (conn[i]->on_refire == NGX_HTTP_ITSM_ACTION_REOPEN) {
                longest = ngx_max(longest, conn[i]->reopen_window);
            }
        }

        imcf->retention = longest;

        return NGX_CONF_OK;
    }

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (conn[i]->on_refire != NGX_HTTP_ITSM_ACTION_REOPEN
            || conn[i]->reopen_window <= imcf->retention)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui) reopens a ticket "
                      "within %T s of its resolve (on_refire reopen "
                      "window=), but \"itsm_store\" (%s:%ui) forgets a "
                      "resolved key after retention=%T s: set retention= "
                      "at least as long as the window, or shorten the "
                      "window", &conn[i]->name, conn[i]->file, conn[i]->line,
                      conn[i]->reopen_window, imcf->store_file,
                      imcf->store_line, imcf->retention);

        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_itsm_expire_init(ngx_cycle_t *cycle, ngx_http_itsm_main_conf_t *imcf)
{
    ngx_http_itsm_expire_t  *exp;

    if (imcf->store == NULL) {
        return NGX_OK;
    }

    /* one worker is enough; two would only find less to do */

    if (ngx_process != NGX_PROCESS_SINGLE && ngx_worker != 0) {
        return NGX_OK;
    }

    exp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_itsm_expire_t));
    if (exp == NULL) {
        return NGX_ERROR;
    }

    exp->imcf = imcf;

    ngx_http_itsm_util_timer(&exp->event, ngx_http_itsm_expire_step,
                             &exp->dummy, cycle->log);

    ngx_http_itsm_expire = exp;

    ngx_add_timer(&exp->event, NGX_HTTP_ITSM_EXPIRE_FIRST);

    return NGX_OK;
}


static void
ngx_http_itsm_expire_step(ngx_event_t *ev)
{
    ngx_int_t                   rc;
    ngx_uint_t                  n;
    ngx_http_itsm_expire_t     *exp;
    ngx_http_itsm_counters_t   *counters;
    ngx_http_itsm_main_conf_t  *imcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    exp = ngx_http_itsm_expire;
    imcf = exp->imcf;

    n = 0;

    rc = ngx_http_itsm_store_expire(imcf->store, ngx_time() - imcf->retention,
                                    NGX_HTTP_ITSM_EXPIRE_SCAN, &n);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "itsm expire: step rc:%i expired:%ui", rc, n);

    if (n) {
        exp->expired += n;

        if (imcf->zone) {
            counters = ngx_http_itsm_zone_counters(imcf->zone);
            (void) ngx_atomic_fetch_add(&counters->expired, n);
        }
    }

    if (rc == NGX_AGAIN) {
        ngx_add_timer(ev, NGX_HTTP_ITSM_EXPIRE_STEP);
        return;
    }

    /* the pass is over (or failed: tried again with the next one) */

    ngx_http_itsm_expire_pass_done(exp);

    ngx_add_timer(ev, (ngx_msec_t) 1000
                      * ngx_max(1, ngx_min(NGX_HTTP_ITSM_EXPIRE_PASS,
                                           imcf->retention / 2)));
}


static void
ngx_http_itsm_expire_pass_done(ngx_http_itsm_expire_t *exp)
{
    time_t                        now;
    ngx_uint_t                    percent;
    ngx_http_itsm_main_conf_t    *imcf;
    ngx_http_itsm_store_space_t   space;

    imcf = exp->imcf;

    if (exp->expired) {
        ngx_log_error(NGX_LOG_INFO, exp->event.log, 0,
                      "itsm_store: %ui key%s expired (resolved, or never "
                      "ticketed; retention=%T s)", exp->expired,
                      exp->expired == 1 ? "" : "s",
                      imcf->retention);
        exp->expired = 0;
    }

    if (ngx_http_itsm_store_space(imcf->store, &space) != NGX_OK
        || space.size == 0)
    {
        return;
    }

    percent = (ngx_uint_t) (space.used * 100 / space.size);
    now = ngx_time();

    if (percent < NGX_HTTP_ITSM_EXPIRE_WARN
        || now - exp->warned < NGX_HTTP_ITSM_EXPIRE_WARN_EVERY)
    {
        return;
    }

    exp->warned = now;

    ngx_log_error(NGX_LOG_WARN, exp->event.log, 0,
                  "itsm_store (%s:%ui) is %ui%% full (%uz of %uz bytes, %uz "
                  "keys) after expiring what retention=%T s allows: when it "
                  "is full, every alert that changes a key gets 503; raise "
                  "size= or lower retention= (see README, \"Sizing the "
                  "store\")", imcf->store_file, imcf->store_line, percent,
                  space.used, space.size, space.keys, imcf->retention);
}
