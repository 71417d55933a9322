
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
 *     A create may take the whole burst, the other actions half of it:
 *     when the budget runs short, a new problem still gets its ticket
 *     while the twelfth update of a known one waits;
 *   - "conn=N": at most N requests in flight to the ITSM at once;
 *   - "breaker=N [open=TIME]": after N failures in a row (no answer, or
 *     5xx), the circuit opens: nothing is sent for "open" (30 s); then
 *     one request goes as a probe while the others are held, and its
 *     outcome closes the circuit or opens it again.
 *
 * A request held back was not sent: nothing is in doubt, and the alert is
 * unavailable like one whose ITSM answered 503: it waits in the durable
 * queue with "itsm_queue on", else the sender is answered 503 with a
 * Retry-After of the wait.
 */


#define NGX_HTTP_ITSM_LIMIT_PAUSE      30          /* s, 429 without
                                                      Retry-After */
#define NGX_HTTP_ITSM_LIMIT_PAUSE_MAX  3600
#define NGX_HTTP_ITSM_LIMIT_OPEN_TIME  30          /* s, open= */
#define NGX_HTTP_ITSM_LIMIT_PROBE_MAX  300000      /* ms: a probe that long
                                                      is taken over */


typedef struct {
    const char                  *name;
    ngx_int_t                    max;
    size_t                       offset;   /* in ngx_http_itsm_connector_t */
} ngx_http_itsm_limit_number_t;


static json_t *ngx_http_itsm_limit_by_action(ngx_uint_t *count);
static ngx_int_t ngx_http_itsm_limit_number(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_str_t *arg,
    ngx_http_itsm_limit_number_t *num);
static ngx_uint_t ngx_http_itsm_limit_inflight(ngx_http_itsm_limit_sh_t *sh);


/* the numbers of "limit": conn=N and breaker=N, 1 to max */

static ngx_http_itsm_limit_number_t  ngx_http_itsm_limit_numbers[] = {
    { "conn=", 10000, offsetof(ngx_http_itsm_connector_t, limit_conn) },
    { "breaker=", 1000, offsetof(ngx_http_itsm_connector_t, limit_breaker) },
    { NULL, 0, 0 }
};


/* why a request was held back: for the log, and for the sender */

static const char  *ngx_http_itsm_limit_says[][2] = {
    { "", "" },
    { "the connector is paused after a 429",
      "not sent: the connector is paused after the ITSM answered 429 (see "
      "Retry-After)" },
    { "over the connector's limit rate=",
      "not sent: the connector's limit rate= is reached (see Retry-After)" },
    { "the connector's limit conn= is in flight",
      "not sent: as many requests as the connector's limit conn= allows are "
      "in flight (see Retry-After)" },
    { "the connector's circuit is open",
      "not sent: the connector's circuit is open after failures in a row "
      "(limit breaker=; see Retry-After)" },
    { "another request probes the connector's open circuit",
      "not sent: another request probes whether the ITSM is back (limit "
      "breaker=; see Retry-After)" }
};


/* limit [rate=Nr/s|Nr/m [burst=N]] [conn=N] [breaker=N [open=TIME]];
 * (in itsm_connector) */

char *
ngx_http_itsm_limit_line(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char                        *p;
    size_t                         len;
    ngx_int_t                      rate, scale, burst;
    ngx_str_t                      arg;
    ngx_uint_t                     i, open;
    ngx_http_itsm_limit_number_t  *num;

    if (conn->limit_rate || conn->limit_conn || conn->limit_breaker) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    conn->limit_open = NGX_HTTP_ITSM_LIMIT_OPEN_TIME;

    rate = 0;
    burst = 0;
    open = 0;

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

        for (num = ngx_http_itsm_limit_numbers; num->name; num++) {
            if (ngx_http_itsm_conf_param(&value[i], num->name, &arg)) {
                break;
            }
        }

        if (num->name) {
            if (ngx_http_itsm_limit_number(cf, conn, &value[i], &arg, num)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "open=", &arg)) {
            if (ngx_http_itsm_conf_time(cf, &arg, 1, 3600, &conn->limit_open,
                                        "open", " in \"limit\"; expected 1s "
                                        "to 1h, e.g. open=30s")
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            open = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"limit\" of "
                           "itsm_connector \"%V\"; write rate=N r/s or r/m "
                           "and burst=N, conn=N, breaker=N and open=TIME, "
                           "e.g. \"limit rate=5r/s burst=10 conn=4;\"",
                           &value[i], &conn->name);
        return NGX_CONF_ERROR;
    }

    if (rate == 0 && (burst || (!conn->limit_conn && !conn->limit_breaker)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"limit\" of itsm_connector \"%V\" needs a rate "
                           "(a burst is above a rate), conn= or breaker=, "
                           "e.g. \"limit rate=5r/s burst=10;\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    if (open && !conn->limit_breaker) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"open=\" in \"limit\" of itsm_connector \"%V\" "
                           "is how long the circuit of breaker= stays open: "
                           "add breaker=N, e.g. breaker=5 open=30s",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    conn->limit_rate = rate;
    conn->limit_burst = burst * 1000;

    return NGX_CONF_OK;
}


/* one of ngx_http_itsm_limit_numbers ("value", its number "arg"): 1 to
 * its max, into the connector */

static ngx_int_t
ngx_http_itsm_limit_number(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_str_t *arg, ngx_http_itsm_limit_number_t *num)
{
    ngx_int_t  v;

    v = ngx_atoi(arg->data, arg->len);

    if (v <= 0 || v > num->max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" in \"limit\" of itsm_connector "
                           "\"%V\"; write 1 to %i, e.g. conn=4 or breaker=5",
                           value, &conn->name, num->max);
        return NGX_ERROR;
    }

    *(ngx_uint_t *) ((u_char *) conn + num->offset) = v;

    return NGX_OK;
}


/*
 * Before a request of "conn" is sent: NGX_OK, it may go now; NGX_AGAIN, it
 * goes after "ms" (its turn under the rate, within the burst); NGX_DECLINED,
 * it is held back for "why" (ngx_http_itsm_limit_why_e) and may go in
 * "ms".  A request that may go, now or after its wait, is counted against
 * the rate and in flight; "probe" is set when it probes an open circuit.
 * Each request that may go has its ngx_http_itsm_limit_done().
 */

ngx_int_t
ngx_http_itsm_limit_take(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_msec_t *ms, ngx_uint_t *why, ngx_uint_t *probe)
{
    ngx_int_t                  rc, excess;
    ngx_uint_t                 burst;
    ngx_msec_t                 now, elapsed;
    ngx_shmtx_t               *mutex;
    ngx_msec_int_t             left;
    ngx_http_itsm_limit_sh_t  *sh;

    *ms = 0;
    *why = 0;
    *probe = 0;

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
        *why = NGX_HTTP_ITSM_LIMIT_PAUSED;
        goto done;
    }

    sh->paused = 0;

    /* an open circuit: nothing, then one probe at a time */

    if (conn->limit_breaker && sh->open) {
        left = (ngx_msec_int_t) (sh->open - now);

        if (left > 0) {
            *ms = (ngx_msec_t) left;
            *why = NGX_HTTP_ITSM_LIMIT_OPEN;
            goto done;
        }

        if (sh->probing
            && now - sh->probing < NGX_HTTP_ITSM_LIMIT_PROBE_MAX)
        {
            *ms = 1000;
            *why = NGX_HTTP_ITSM_LIMIT_PROBING;
            goto done;
        }
    }

    if (conn->limit_conn
        && ngx_http_itsm_limit_inflight(sh) >= conn->limit_conn)
    {
        *ms = 1000;
        *why = NGX_HTTP_ITSM_LIMIT_CONN;
        goto done;
    }

    if (conn->limit_rate) {

        /*
         * As limit_req counts: "excess" is how far the requests let
         * through have run ahead of the rate (in thousandths of a
         * request), drained at the rate since the last one.  A request
         * that would take it past its burst is held back; one within it
         * waits until the rate allows it.  The first request finds the
         * bucket empty.
         */

        if (sh->last) {
            elapsed = ngx_min(now - sh->last, 60000000);    /* no overflow */
            excess = sh->excess
                     - (ngx_int_t) (conn->limit_rate * elapsed / 60000)
                     + 1000;

            if (excess < 0) {
                excess = 0;
            }
        }

        burst = (action == NGX_HTTP_ITSM_ACTION_CREATE)
                ? conn->limit_burst : conn->limit_burst / 2;

        if ((ngx_uint_t) excess > burst) {
            *ms = (excess - burst) * 60000 / conn->limit_rate;
            *why = NGX_HTTP_ITSM_LIMIT_RATE;
            goto done;
        }

        sh->excess = excess;
        sh->last = now;

        if (excess) {
            *ms = (ngx_msec_t) excess * 60000 / conn->limit_rate;
            sh->waited[action < NGX_HTTP_ITSM_NACTIONS ? action : 0]++;
            rc = NGX_AGAIN;
        }
    }

    /* it goes: in flight from now (its wait included), and the probe of
     * an open circuit whose time is up */

    if (conn->limit_conn) {
        sh->inflight[ngx_worker % NGX_HTTP_ITSM_LIMIT_WORKERS]++;
    }

    if (conn->limit_breaker && sh->open) {
        sh->probing = now ? now : 1;
        *probe = 1;
    }

done:

    if (*why) {
        rc = NGX_DECLINED;
        sh->held[action < NGX_HTTP_ITSM_NACTIONS ? action : 0]++;
    }

    ngx_shmtx_unlock(mutex);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm limit \"%V\": %s%s, excess %i, %M ms",
                   &conn->name,
                   rc == NGX_OK ? "go" : rc == NGX_AGAIN ? "wait its turn"
                   : ngx_http_itsm_limit_says[*why][0],
                   *probe ? " (the probe)" : "", excess, *ms);

    return rc;
}


/*
 * A request that went has ended: "outcome" NGX_OK when the ITSM answered
 * (any status but 5xx: it is up), NGX_ERROR when it did not or answered
 * 5xx, NGX_DONE when the request ended before (no outcome).
 */

void
ngx_http_itsm_limit_done(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_uint_t probe, ngx_int_t outcome)
{
    int32_t                   *n;
    ngx_shmtx_t               *mutex;
    ngx_uint_t                 opened;
    ngx_http_itsm_limit_sh_t  *sh;

    /* nothing to count without conn= or breaker=: no second lock of the
     * zone for each request */

    if (!conn->limit_conn && !conn->limit_breaker) {
        return;
    }

    sh = ngx_http_itsm_registry_limit(r, conn, &mutex);

    if (sh == NULL) {
        return;
    }

    opened = 0;

    ngx_shmtx_lock(mutex);

    /* never below 0: after a reload the new worker in this place started
     * its count again while this one's requests were in flight */

    n = &sh->inflight[ngx_worker % NGX_HTTP_ITSM_LIMIT_WORKERS];

    if (conn->limit_conn && *n > 0) {
        (*n)--;
    }

    if (conn->limit_breaker && outcome != NGX_DONE) {

        if (outcome == NGX_OK) {
            sh->failures = 0;

            if (probe) {
                sh->open = 0;
                sh->probing = 0;
            }

        } else if (probe || ++sh->failures >= conn->limit_breaker) {
            sh->open = ngx_current_msec + conn->limit_open * 1000;
            sh->open = sh->open ? sh->open : 1;
            sh->probing = 0;
            sh->failures = 0;
            sh->opens++;
            opened = 1;
        }

    } else if (probe) {
        sh->probing = 0;                        /* another may probe */
    }

    ngx_shmtx_unlock(mutex);

    if (opened) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: connector \"%V\": %s; nothing is sent to the "
                      "ITSM for %T s, then one request probes it",
                      &conn->name,
                      probe ? "the probe of the open circuit failed"
                            : "failures in a row reached limit breaker=",
                      conn->limit_open);
    }
}


/* why == 0: none; "answer": the text for the sender, else for the log */

const char *
ngx_http_itsm_limit_said(ngx_uint_t why, ngx_uint_t answer)
{
    return ngx_http_itsm_limit_says[why][answer ? 1 : 0];
}


static ngx_uint_t
ngx_http_itsm_limit_inflight(ngx_http_itsm_limit_sh_t *sh)
{
    ngx_uint_t  i, n;

    n = 0;

    for (i = 0; i < NGX_HTTP_ITSM_LIMIT_WORKERS; i++) {
        n += (sh->inflight[i] > 0) ? (ngx_uint_t) sh->inflight[i] : 0;
    }

    return n;
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

    /* conn= and breaker=, only where they are set */

    if (one && conn->limit_conn
        && (json_object_set_new(one, "conn",
                                json_integer((json_int_t) conn->limit_conn))
            != 0
            || json_object_set_new(one, "in_flight",
                       json_integer((json_int_t)
                                    ngx_http_itsm_limit_inflight(&copy)))
               != 0))
    {
        json_decref(one);
        return NULL;
    }

    if (one && conn->limit_breaker) {
        left = copy.open ? (ngx_msec_int_t) (copy.open - ngx_current_msec)
                         : 0;

        if (json_object_set_new(one, "breaker",
                        json_pack("{s:I,s:I,s:I,s:I,s:b}",
                                  "failures_in_a_row",
                                  (json_int_t) copy.failures,
                                  "open_for",
                                  (json_int_t) (left > 0 ? (left + 999) / 1000
                                                         : 0),
                                  "opens", (json_int_t) copy.opens,
                                  "of", (json_int_t) conn->limit_breaker,
                                  "probing", copy.probing != 0))
            != 0)
        {
            json_decref(one);
            return NULL;
        }
    }

    return one;
}
