
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_conf.h"
#include "ngx_http_itsm_connector.h"


/*
 * Outbound limits: what a connector may send its ITSM.  Two things hold a
 * request back before it is sent, for every worker at once (the state is
 * the connector's slot in shared memory, ngx_http_itsm_registry_counts.c):
 *
 *   - a 429 from the ITSM pauses the whole connector until its
 *     Retry-After (seconds or a date; 30 s without one, 1 h at most), not
 *     only the request that got it: the next ones would get 429 too, and
 *     some ITSMs lengthen the penalty for each one;
 *   - "limit rate=5r/s [burst=N]": at most that rate, as limit_req counts:
 *     up to "burst" requests above it wait in nginx for their turn (a
 *     timer of the request, no worker blocked), any more are held back.
 *
 * A request held back was not sent: nothing is in doubt, and the alert is
 * unavailable like one whose ITSM answered 503: it waits in the durable
 * queue with "itsm_queue on", else the sender is answered 503 with a
 * Retry-After of the wait.
 */


#define NGX_HTTP_ITSM_LIMIT_PAUSE      30          /* s, 429 without
                                                      Retry-After */
#define NGX_HTTP_ITSM_LIMIT_PAUSE_MAX  3600


static json_t *ngx_http_itsm_limit_by_action(ngx_uint_t *count);


/* limit rate=Nr/s|Nr/m [burst=N]; (in itsm_connector) */

char *
ngx_http_itsm_limit_line(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char      *p;
    size_t       len;
    ngx_int_t    rate, scale, burst;
    ngx_str_t    arg;
    ngx_uint_t   i;

    if (conn->limit_rate) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    rate = 0;
    burst = 0;

    for (i = 1; i <= n; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "rate=", &arg)) {
            scale = 0;

            if (arg.len > 3) {
                len = arg.len - 3;
                p = arg.data + len;

                scale = (ngx_strncmp(p, "r/s", 3) == 0) ? 1
                        : (ngx_strncmp(p, "r/m", 3) == 0) ? 60 : 0;
            }

            rate = scale ? ngx_atoi(arg.data, len) : NGX_ERROR;

            if (rate <= 0 || rate > 100000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\" in \"limit\" of "
                                   "itsm_connector \"%V\"; write 1r/s to "
                                   "100000r/s or per minute, e.g. rate=5r/s "
                                   "or rate=30r/m", &value[i], &conn->name);
                return NGX_CONF_ERROR;
            }

            /* requests a minute, times 1000: 1r/m is exact */
            rate = rate * 1000 * (60 / scale);
            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "burst=", &arg)) {
            burst = ngx_atoi(arg.data, arg.len);

            if (burst == NGX_ERROR || burst > 100000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst \"%V\" in \"limit\" of "
                                   "itsm_connector \"%V\"; write 0 to 100000 "
                                   "requests, e.g. burst=10", &value[i],
                                   &conn->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"limit\" of "
                           "itsm_connector \"%V\"; write rate=N r/s or r/m "
                           "and burst=N, e.g. \"limit rate=5r/s burst=10;\"",
                           &value[i], &conn->name);
        return NGX_CONF_ERROR;
    }

    if (rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit\" of itsm_connector \"%V\" needs a rate, "
                           "e.g. \"limit rate=5r/s burst=10;\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    conn->limit_rate = rate;
    conn->limit_burst = burst * 1000;

    return NGX_CONF_OK;
}


/*
 * Before a request of "conn" is sent: NGX_OK, it may go now; NGX_AGAIN, it
 * goes after "ms" (its turn under the rate, within the burst); NGX_BUSY,
 * the connector is paused after a 429, and NGX_DECLINED, the burst is
 * full: it is held back, and may go in "ms".  A request that may go, now
 * or after its wait, is counted against the rate.
 */

ngx_int_t
ngx_http_itsm_limit_take(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_msec_t *ms)
{
    ngx_int_t                  rc, excess;
    ngx_msec_t                 now, elapsed;
    ngx_shmtx_t               *mutex;
    ngx_msec_int_t             left;
    ngx_http_itsm_limit_sh_t  *sh;

    *ms = 0;

    sh = ngx_http_itsm_registry_limit(r, conn, &mutex);

    if (sh == NULL) {
        return NGX_OK;
    }

    rc = NGX_OK;
    excess = 0;
    now = ngx_current_msec;

    ngx_shmtx_lock(mutex);

    left = (ngx_msec_int_t) (sh->paused - now);

    if (sh->paused && left > 0) {
        *ms = (ngx_msec_t) left;
        rc = NGX_BUSY;
        goto done;
    }

    sh->paused = 0;

    if (conn->limit_rate == 0) {
        goto done;
    }

    /*
     * As limit_req counts: "excess" is how far the requests let through
     * have run ahead of the rate (in thousandths of a request), drained at
     * the rate since the last one.  A request that would take it past the
     * burst is held back; one within it waits until the rate allows it.
     * The first request finds the bucket empty.
     */

    if (sh->last) {
        elapsed = ngx_min(now - sh->last, 60000000);    /* no overflow */
        excess = sh->excess
                 - (ngx_int_t) (conn->limit_rate * elapsed / 60000) + 1000;

        if (excess < 0) {
            excess = 0;
        }
    }

    if ((ngx_uint_t) excess > conn->limit_burst) {
        *ms = (excess - conn->limit_burst) * 60000 / conn->limit_rate;
        rc = NGX_DECLINED;
        goto done;
    }

    sh->excess = excess;
    sh->last = now;

    if (excess) {
        *ms = (ngx_msec_t) excess * 60000 / conn->limit_rate;
        sh->waited[action < NGX_HTTP_ITSM_NACTIONS ? action : 0]++;
        rc = NGX_AGAIN;
    }

done:

    if (rc == NGX_BUSY || rc == NGX_DECLINED) {
        sh->held[action < NGX_HTTP_ITSM_NACTIONS ? action : 0]++;
    }

    ngx_shmtx_unlock(mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm limit \"%V\": %s, excess %i, %M ms",
                   &conn->name,
                   rc == NGX_OK ? "go" : rc == NGX_AGAIN ? "wait its turn"
                   : rc == NGX_BUSY ? "paused" : "over the burst",
                   excess, *ms);

    return rc;
}


/* a 429: the whole connector waits for "retry_after" (0: none given) */

void
ngx_http_itsm_limit_pause(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, time_t retry_after)
{
    ngx_msec_t                 until;
    ngx_shmtx_t               *mutex;
    ngx_http_itsm_limit_sh_t  *sh;

    sh = ngx_http_itsm_registry_limit(r, conn, &mutex);

    if (sh == NULL) {
        return;
    }

    if (retry_after <= 0) {
        retry_after = NGX_HTTP_ITSM_LIMIT_PAUSE;
    }

    retry_after = ngx_min(retry_after, NGX_HTTP_ITSM_LIMIT_PAUSE_MAX);
    until = ngx_current_msec + (ngx_msec_t) retry_after * 1000;

    ngx_shmtx_lock(mutex);

    /* a later pause than one already set wins; never a shorter one */

    if (sh->paused == 0 || (ngx_msec_int_t) (until - sh->paused) > 0) {
        sh->paused = until ? until : 1;
    }

    sh->pauses++;

    ngx_shmtx_unlock(mutex);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: connector \"%V\": the ITSM answered 429; nothing is "
                  "sent to it for %T s", &conn->name, retry_after);
}


/* {"create": 3}: the actions counted, each that has a count */

static json_t *
ngx_http_itsm_limit_by_action(ngx_uint_t *count)
{
    json_t      *by;
    ngx_uint_t   a;

    by = json_object();
    if (by == NULL) {
        return NULL;
    }

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {
        if (count[a]
            && json_object_setn_new(by,
                          (const char *) ngx_http_itsm_action_names[a].data,
                          ngx_http_itsm_action_names[a].len,
                          json_integer((json_int_t) count[a]))
               != 0)
        {
            json_decref(by);
            return NULL;
        }
    }

    return by;
}


/*
 * The registry's view: {"rate": "5r/s", "burst": 10, "paused_for": 12,
 * "pauses": 1, "waited": {"create": 9}, "held": {"create": 3}}; "rate"
 * null without a limit line.
 */

json_t *
ngx_http_itsm_limit_json(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn)
{
    u_char                     rate[NGX_INT_T_LEN + 8], *p;
    json_t                    *one;
    ngx_shmtx_t               *mutex;
    ngx_msec_int_t             left;
    ngx_http_itsm_limit_sh_t  *sh, copy;

    sh = ngx_http_itsm_registry_limit(r, conn, &mutex);

    ngx_memzero(&copy, sizeof(ngx_http_itsm_limit_sh_t));

    if (sh) {
        ngx_shmtx_lock(mutex);
        copy = *sh;
        ngx_shmtx_unlock(mutex);
    }

    left = copy.paused ? (ngx_msec_int_t) (copy.paused - ngx_current_msec)
                       : 0;

    /* a rate in whole requests a second, else a minute */

    p = rate;

    if (conn->limit_rate && conn->limit_rate % 60000 == 0) {
        p = ngx_sprintf(rate, "%uir/s", conn->limit_rate / 60000);

    } else if (conn->limit_rate) {
        p = ngx_sprintf(rate, "%uir/m", conn->limit_rate / 1000);
    }

    one = json_pack("{s:s%,s:I,s:I,s:I,s:o,s:o}",
                    "rate", (char *) rate, (size_t) (p - rate),
                    "burst", (json_int_t) (conn->limit_burst / 1000),
                    "paused_for",
                    (json_int_t) (left > 0 ? (left + 999) / 1000 : 0),
                    "pauses", (json_int_t) copy.pauses,
                    "waited", ngx_http_itsm_limit_by_action(copy.waited),
                    "held", ngx_http_itsm_limit_by_action(copy.held));

    if (one && conn->limit_rate == 0) {
        (void) json_object_set_new(one, "rate", json_null());
    }

    return one;
}
