
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_status.h"


/*
 * Each connector's requests to its ITSM, by action and result, counted in
 * shared memory by all workers: what the connector registry
 * (itsm_connectors) and the status page (JSON and Prometheus, labelled by
 * connector) show, whether or not a delivery log is kept.  A connector
 * keeps its slot, by name, across reloads.  A request counts once it has
 * an outcome: "ok" when the ITSM answered 2xx, "failed" when it answered
 * anything else or did not answer.  The lookups and finds that come
 * before an action count as that action.
 */


typedef struct {
    ngx_http_itsm_status_slots_t  slots;
    ngx_atomic_t                  sent[NGX_HTTP_ITSM_STATUS_SLOTS]
                                      [NGX_HTTP_ITSM_NACTIONS][2];
    ngx_http_itsm_limit_sh_t      limit[NGX_HTTP_ITSM_STATUS_SLOTS];
    ngx_http_itsm_verify_sh_t     verify[NGX_HTTP_ITSM_STATUS_SLOTS];
} ngx_http_itsm_registry_counters_t;


static ngx_int_t ngx_http_itsm_registry_init_counters(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_itsm_registry_requests(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_registry_failures(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_registry_held(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_registry_counts(ngx_http_request_t *r,
    ngx_array_t *counts, ngx_uint_t which);
static ngx_int_t ngx_http_itsm_registry_probes(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_http_itsm_registry_counters_t *ngx_http_itsm_registry_slot(
    ngx_http_request_t *r, ngx_http_itsm_connector_t *conn,
    ngx_shmtx_t **mutex);
static ngx_http_itsm_registry_counters_t *ngx_http_itsm_registry_counters(
    ngx_http_itsm_main_conf_t *imcf);


static ngx_http_itsm_status_provider_t  ngx_http_itsm_registry_requests_pv = {
    ngx_string("connector_requests"),
    ngx_string("Requests sent to the ITSM, by connector and action."),
    ngx_string("action"),
    ngx_http_itsm_registry_requests
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_registry_failures_pv = {
    ngx_string("connector_failures"),
    ngx_string("Requests the ITSM refused or did not answer, by connector "
               "and action."),
    ngx_string("action"),
    ngx_http_itsm_registry_failures
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_registry_held_pv = {
    ngx_string("connector_held"),
    ngx_string("Requests not sent: held back by the connector's limit or "
               "its pause after a 429, by connector and action."),
    ngx_string("action"),
    ngx_http_itsm_registry_held
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_registry_probes_pv = {
    ngx_string("connector_verify_probes"),
    ngx_string("Verify probes of the connector's credentials, by result."),
    ngx_string("result"),
    ngx_http_itsm_registry_probes
};


/* what ngx_http_itsm_registry_counts() counts */
#define NGX_HTTP_ITSM_REGISTRY_REQUESTS  0
#define NGX_HTTP_ITSM_REGISTRY_FAILURES  1
#define NGX_HTTP_ITSM_REGISTRY_HELD      2


static ngx_str_t   ngx_http_itsm_registry_group = ngx_string("connector");

static ngx_str_t   ngx_http_itsm_registry_zone_name =
    ngx_string("itsm_connector_counters_v3");

static ngx_uint_t  ngx_http_itsm_registry_tag;


/* at postconfiguration: the zone, and the status page's two providers */

ngx_int_t
ngx_http_itsm_registry_counts_init(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf)
{
    ngx_uint_t                   i;
    ngx_http_itsm_connector_t  **conn;

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        conn[i]->slot = NGX_HTTP_ITSM_STATUS_NO_SLOT;

        /* said here, where "nginx -t" shows it; the slots a reload
         * finds taken are said at init */

        if (conn[i]->name.len > NGX_HTTP_ITSM_STATUS_NAME_MAX
            || i >= NGX_HTTP_ITSM_STATUS_SLOTS)
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "itsm_connector \"%V\" (%s:%ui): its requests "
                          "are counted in the totals only (more than %d "
                          "connectors, or a name longer than %d bytes)",
                          &conn[i]->name, conn[i]->file, conn[i]->line,
                          NGX_HTTP_ITSM_STATUS_SLOTS,
                          NGX_HTTP_ITSM_STATUS_NAME_MAX);
        }
    }

    if (imcf->connectors.nelts == 0) {
        return NGX_OK;
    }

    imcf->counted = ngx_http_itsm_status_counters_zone(cf,
                                        &ngx_http_itsm_registry_zone_name,
                                        &ngx_http_itsm_registry_tag,
                                        ngx_http_itsm_registry_init_counters);
    if (imcf->counted == NULL) {
        return NGX_ERROR;
    }

    imcf->counted->data = imcf;

    if (ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_registry_requests_pv,
                                        &ngx_http_itsm_registry_group)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_registry_failures_pv,
                                        &ngx_http_itsm_registry_group)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_registry_held_pv,
                                        &ngx_http_itsm_registry_group)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the probes' series only where a connector is probed */

    for (i = 0; i < imcf->connectors.nelts; i++) {
        if (conn[i]->verify) {
            return ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_registry_probes_pv,
                                        &ngx_http_itsm_registry_group);
        }
    }

    return NGX_OK;
}


/*
 * The zone's data is this configuration's main conf until init; then the
 * counters (a reload's or a restart's: the slab's own) and each connector
 * gets its slot.
 */

static ngx_int_t
ngx_http_itsm_registry_init_counters(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                          i;
    ngx_http_itsm_connector_t         **conn;
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_registry_counters_t  *counters;

    imcf = shm_zone->data;

    counters = ngx_http_itsm_conf_zone_data(shm_zone, data,
                                 sizeof(ngx_http_itsm_registry_counters_t));
    if (counters == NULL) {
        return NGX_ERROR;
    }

    shm_zone->data = counters;

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        conn[i]->slot = ngx_http_itsm_status_slot(&counters->slots,
                                                  &conn[i]->name);

        if (conn[i]->slot == NGX_HTTP_ITSM_STATUS_NO_SLOT
            && conn[i]->name.len <= NGX_HTTP_ITSM_STATUS_NAME_MAX
            && i < NGX_HTTP_ITSM_STATUS_SLOTS)
        {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "itsm_connector \"%V\": its requests are counted "
                          "in the totals only: the connectors of earlier "
                          "configurations hold the %d slots until a restart",
                          &conn[i]->name, NGX_HTTP_ITSM_STATUS_SLOTS);
        }
    }

    return NGX_OK;
}


/* one request of "conn" with an outcome */

void
ngx_http_itsm_registry_count(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_uint_t failed)
{
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_registry_counters_t  *counters;

    if (conn->slot == NGX_HTTP_ITSM_STATUS_NO_SLOT
        || action >= NGX_HTTP_ITSM_NACTIONS)
    {
        return;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    counters = ngx_http_itsm_registry_counters(imcf);

    if (counters == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&counters->sent[conn->slot][action]
                                                [failed ? 1 : 0], 1);
}


/*
 * The registry's figures of one connector: {"create": {"ok": 3,
 * "failed": 1}, ...}, each action it has.
 */

json_t *
ngx_http_itsm_registry_sent(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn)
{
    json_t                             *sent;
    ngx_uint_t                          a;
    ngx_atomic_t                       *n;
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_registry_counters_t  *counters;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    counters = ngx_http_itsm_registry_counters(imcf);

    sent = json_object();
    if (sent == NULL) {
        return NULL;
    }

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {

        if (conn->actions[a] == NULL) {
            continue;
        }

        n = (counters && conn->slot != NGX_HTTP_ITSM_STATUS_NO_SLOT)
            ? counters->sent[conn->slot][a] : NULL;

        if (json_object_setn_new(sent,
                          (const char *) ngx_http_itsm_action_names[a].data,
                          ngx_http_itsm_action_names[a].len,
                          json_pack("{s:I,s:I}",
                                    "ok", (json_int_t) (n ? n[0] : 0),
                                    "failed", (json_int_t) (n ? n[1] : 0)))
            != 0)
        {
            json_decref(sent);
            return NULL;
        }
    }

    return sent;
}


static ngx_int_t
ngx_http_itsm_registry_requests(ngx_http_request_t *r, ngx_array_t *counts)
{
    return ngx_http_itsm_registry_counts(r, counts,
                                         NGX_HTTP_ITSM_REGISTRY_REQUESTS);
}


static ngx_int_t
ngx_http_itsm_registry_failures(ngx_http_request_t *r, ngx_array_t *counts)
{
    return ngx_http_itsm_registry_counts(r, counts,
                                         NGX_HTTP_ITSM_REGISTRY_FAILURES);
}


static ngx_int_t
ngx_http_itsm_registry_held(ngx_http_request_t *r, ngx_array_t *counts)
{
    return ngx_http_itsm_registry_counts(r, counts,
                                         NGX_HTTP_ITSM_REGISTRY_HELD);
}


/* each connector's actions: all its requests, its failures, or what its
 * limits held back */

static ngx_int_t
ngx_http_itsm_registry_counts(ngx_http_request_t *r, ngx_array_t *counts,
    ngx_uint_t which)
{
    ngx_uint_t                          i, a;
    ngx_atomic_t                       *n;
    ngx_http_itsm_connector_t         **conn;
    ngx_http_itsm_status_count_t       *c;
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_registry_counters_t  *counters;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    counters = ngx_http_itsm_registry_counters(imcf);

    if (counters == NULL) {
        return NGX_OK;
    }

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (conn[i]->slot == NGX_HTTP_ITSM_STATUS_NO_SLOT) {
            continue;
        }

        for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {

            if (conn[i]->actions[a] == NULL) {
                continue;
            }

            c = ngx_array_push(counts);
            if (c == NULL) {
                return NGX_ERROR;
            }

            n = counters->sent[conn[i]->slot][a];

            c->name = ngx_http_itsm_action_names[a];
            c->value = (which == NGX_HTTP_ITSM_REGISTRY_REQUESTS)
                       ? n[0] + n[1]
                       : (which == NGX_HTTP_ITSM_REGISTRY_FAILURES)
                       ? n[1] : counters->limit[conn[i]->slot].held[a];
            c->group = conn[i]->name;
        }
    }

    return NGX_OK;
}


/* each probed connector's probes: ok and failed */

static ngx_int_t
ngx_http_itsm_registry_probes(ngx_http_request_t *r, ngx_array_t *counts)
{
    ngx_uint_t                     i, failed;
    ngx_shmtx_t                   *mutex;
    ngx_http_itsm_connector_t    **conn;
    ngx_http_itsm_verify_sh_t     *v;
    ngx_http_itsm_status_count_t  *c;
    ngx_http_itsm_main_conf_t     *imcf;

    static ngx_str_t  results[] = { ngx_string("ok"), ngx_string("failed") };

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (conn[i]->verify == NULL) {
            continue;
        }

        v = ngx_http_itsm_registry_verify(r, conn[i], &mutex);
        if (v == NULL) {
            continue;
        }

        for (failed = 0; failed < 2; failed++) {
            c = ngx_array_push(counts);
            if (c == NULL) {
                return NGX_ERROR;
            }

            c->name = results[failed];
            c->value = failed ? v->failures : v->probes - v->failures;
            c->group = conn[i]->name;
        }
    }

    return NGX_OK;
}


/* the connector's limits, and the mutex they are read and written under */

ngx_http_itsm_limit_sh_t *
ngx_http_itsm_registry_limit(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_shmtx_t **mutex)
{
    ngx_http_itsm_registry_counters_t  *counters;

    counters = ngx_http_itsm_registry_slot(r, conn, mutex);

    return counters ? &counters->limit[conn->slot] : NULL;
}


/* the connector's last verify probe, under the same mutex */

ngx_http_itsm_verify_sh_t *
ngx_http_itsm_registry_verify(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_shmtx_t **mutex)
{
    ngx_http_itsm_registry_counters_t  *counters;

    counters = ngx_http_itsm_registry_slot(r, conn, mutex);

    return counters ? &counters->verify[conn->slot] : NULL;
}


/*
 * At a worker's start: its place in each connector's count of requests in
 * flight starts at 0.  A worker that died with requests in flight leaves
 * them counted until the one the master starts in its place comes here.
 */

void
ngx_http_itsm_registry_worker(ngx_http_itsm_main_conf_t *imcf)
{
    ngx_uint_t                          i;
    ngx_shmtx_t                        *mutex;
    ngx_http_itsm_connector_t         **conn;
    ngx_http_itsm_registry_counters_t  *counters;

    counters = ngx_http_itsm_registry_counters(imcf);

    if (counters == NULL) {
        return;
    }

    mutex = &((ngx_slab_pool_t *) imcf->counted->shm.addr)->mutex;
    conn = imcf->connectors.elts;

    ngx_shmtx_lock(mutex);

    for (i = 0; i < imcf->connectors.nelts; i++) {
        if (conn[i]->slot != NGX_HTTP_ITSM_STATUS_NO_SLOT) {
            counters->limit[conn[i]->slot]
                .inflight[ngx_worker % NGX_HTTP_ITSM_LIMIT_WORKERS] = 0;
        }
    }

    ngx_shmtx_unlock(mutex);
}


/* the zone's counters when the connector has a slot there, and its mutex */

static ngx_http_itsm_registry_counters_t *
ngx_http_itsm_registry_slot(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_shmtx_t **mutex)
{
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_registry_counters_t  *counters;

    if (conn->slot == NGX_HTTP_ITSM_STATUS_NO_SLOT) {
        return NULL;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    counters = ngx_http_itsm_registry_counters(imcf);

    if (counters == NULL) {
        return NULL;
    }

    *mutex = &((ngx_slab_pool_t *) imcf->counted->shm.addr)->mutex;

    return counters;
}


static ngx_http_itsm_registry_counters_t *
ngx_http_itsm_registry_counters(ngx_http_itsm_main_conf_t *imcf)
{
    return imcf->counted ? imcf->counted->data : NULL;
}
