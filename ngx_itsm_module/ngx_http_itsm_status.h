
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STATUS_H_INCLUDED_
#define _NGX_HTTP_ITSM_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Counters another module shows on the status page (itsm_status), without
 * the page knowing that module: a provider registers at configuration time
 * and is asked for its counts at each request of the page.  A provider
 * named "access" with the label "result" shows as
 *
 *     "access": {"passed": 12, ...}                          (JSON)
 *     itsm_access_total{result="passed"} 12                  (Prometheus)
 */

typedef struct {
    ngx_str_t                    name;         /* the label's value */
    ngx_atomic_uint_t            value;
    ngx_str_t                    group;        /* the group label's value
                                                  (read only for a provider
                                                  registered with one) */
} ngx_http_itsm_status_count_t;


/* pushes the counts (ngx_http_itsm_status_count_t) onto the array */
typedef ngx_int_t (*ngx_http_itsm_status_counts_pt)(ngx_http_request_t *r,
    ngx_array_t *counts);


typedef struct {
    ngx_str_t                    name;         /* the JSON member, the metric
                                                  itsm_<name>_total */
    ngx_str_t                    help;         /* the metric's HELP text */
    ngx_str_t                    label;
    ngx_http_itsm_status_counts_pt  counts;
} ngx_http_itsm_status_provider_t;


ngx_int_t ngx_http_itsm_status_provide(ngx_conf_t *cf,
    ngx_http_itsm_status_provider_t *provider);

/*
 * A provider whose counts have a second label, outside the first:
 * "callbacks_by_connector" with the group label "connector" shows as
 *   "callbacks_by_connector": {"jira": {"applied": 3, ...}, ...}
 *   itsm_callbacks_by_connector_total{connector="jira",outcome="applied"} 3
 */
ngx_int_t ngx_http_itsm_status_provide_grouped(ngx_conf_t *cf,
    ngx_http_itsm_status_provider_t *provider, ngx_str_t *group_label);
/*
 * Counters kept by name in a zone (a connector's: a reload keeps its
 * counts, whatever its place in the new configuration): the names of the
 * slots taken, NGX_HTTP_ITSM_STATUS_SLOTS at most.
 */

#define NGX_HTTP_ITSM_STATUS_SLOTS     64
#define NGX_HTTP_ITSM_STATUS_NAME_MAX  64
#define NGX_HTTP_ITSM_STATUS_NO_SLOT   ((ngx_uint_t) -1)

typedef struct {
    ngx_uint_t                   n;
    struct {
        u_char                   data[NGX_HTTP_ITSM_STATUS_NAME_MAX];
        size_t                   len;
    }                            name[NGX_HTTP_ITSM_STATUS_SLOTS];
} ngx_http_itsm_status_slots_t;


ngx_uint_t ngx_http_itsm_status_slot(ngx_http_itsm_status_slots_t *slots,
    ngx_str_t *name);
ngx_int_t ngx_http_itsm_status_counts(ngx_array_t *counts, ngx_str_t *names,
    ngx_atomic_t *count, ngx_uint_t n);
ngx_shm_zone_t *ngx_http_itsm_status_counters_zone(ngx_conf_t *cf,
    ngx_str_t *name, void *tag, ngx_shm_zone_init_pt init);
ngx_int_t ngx_http_itsm_status_counters_init(ngx_shm_zone_t *shm_zone,
    void *data, size_t size);


#endif /* _NGX_HTTP_ITSM_STATUS_H_INCLUDED_ */
