
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CONNECTOR_H_INCLUDED_
#define _NGX_HTTP_ITSM_CONNECTOR_H_INCLUDED_


#include "ngx_http_itsm.h"


/* Connectors: their block (ngx_http_itsm_connector.c), lookups and finds
 * (ngx_http_itsm_lookup.c), the lifecycle policy (ngx_http_itsm_lifecycle.c)
 * and where their locations are (ngx_http_itsm_layout.c) */


/* a line of a block of connector settings, "NAME ARG...": its handler
 * gets the arguments after NAME, n of them */

typedef char *(*ngx_http_itsm_conn_set_pt)(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   min_args;
    ngx_uint_t                   max_args;
    ngx_http_itsm_conn_set_pt    set;
} ngx_http_itsm_conn_cmd_t;


/* ngx_http_itsm_connector.c */
char *ngx_http_itsm_conn_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_itsm_conn_init(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *name);
char *ngx_http_itsm_conn_lines(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_conn_cmd_t *cmds,
    char *block);
char *ngx_http_itsm_conn_header(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_conn_parse_method(ngx_str_t *name,
    ngx_uint_t *method);
char *ngx_http_itsm_conn_max_response(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_http_itsm_connector_t *ngx_http_itsm_conn_find(
    ngx_http_itsm_main_conf_t *imcf, ngx_str_t *name);

/* ngx_http_itsm_lookup.c */
char *ngx_http_itsm_lookup_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_registry_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_registry_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * A connector's outbound limits in shared memory (ngx_http_itsm_limit.c),
 * under the zone's mutex: the rate's bucket, the pause after a 429, and
 * the requests that waited their turn and that were held back.
 */

/* the workers whose requests in flight are counted one by one (a worker
 * that starts again in a place zeroes its count: a crash leaks nothing) */
#define NGX_HTTP_ITSM_LIMIT_WORKERS  64

typedef struct {
    ngx_msec_t                   last;         /* the last request let go */
    ngx_int_t                    excess;       /* over the rate, x 1000 */
    ngx_msec_t                   paused;       /* until then; 0: not */
    ngx_uint_t                   pauses;
    ngx_uint_t                   waited[NGX_HTTP_ITSM_NACTIONS];
    ngx_uint_t                   held[NGX_HTTP_ITSM_NACTIONS];

    /* conn=: the requests in flight, by worker */
    int32_t                      inflight[NGX_HTTP_ITSM_LIMIT_WORKERS];

    /* breaker=: failures in a row, and the circuit they opened */
    ngx_uint_t                   failures;
    ngx_msec_t                   open;         /* until then; 0: closed */
    ngx_msec_t                   probing;      /* the probe's start, 0: none */
    ngx_uint_t                   opens;
} ngx_http_itsm_limit_sh_t;


/* why a request was held back (ngx_http_itsm_limit_take) */

typedef enum {
    NGX_HTTP_ITSM_LIMIT_PAUSED = 1,            /* after a 429 */
    NGX_HTTP_ITSM_LIMIT_RATE,                  /* over rate= and burst= */
    NGX_HTTP_ITSM_LIMIT_CONN,                  /* conn= in flight */
    NGX_HTTP_ITSM_LIMIT_OPEN,                  /* the circuit is open */
    NGX_HTTP_ITSM_LIMIT_PROBING                /* ... another request
                                                  probes it */
} ngx_http_itsm_limit_why_e;


/* the last verify probe of a connector, in the same zone, under its mutex
 * (ngx_http_itsm_verify.c) */

#define NGX_HTTP_ITSM_VERIFY_TEXT_MAX  256

typedef struct {
    time_t                       at;           /* 0: not probed yet */
    time_t                       last_ok;
    ngx_uint_t                   status;       /* the ITSM's HTTP status */
    ngx_msec_t                   ms;
    ngx_uint_t                   ok;
    ngx_uint_t                   probes;
    ngx_uint_t                   failures;
    size_t                       error_len;
    u_char                       error[NGX_HTTP_ITSM_VERIFY_TEXT_MAX];
} ngx_http_itsm_verify_sh_t;


/* ngx_http_itsm_limit.c */
char *ngx_http_itsm_limit_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_limit_take(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_msec_t *ms, ngx_uint_t *why, ngx_uint_t *probe);
void ngx_http_itsm_limit_done(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_uint_t probe, ngx_int_t outcome);
const char *ngx_http_itsm_limit_said(ngx_uint_t why, ngx_uint_t answer);
void ngx_http_itsm_limit_pause(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, time_t retry_after);
json_t *ngx_http_itsm_limit_json(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn);

/* ngx_http_itsm_registry_counts.c */
ngx_http_itsm_limit_sh_t *ngx_http_itsm_registry_limit(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_shmtx_t **mutex);
ngx_http_itsm_verify_sh_t *ngx_http_itsm_registry_verify(
    ngx_http_request_t *r, ngx_http_itsm_connector_t *conn,
    ngx_shmtx_t **mutex);
void ngx_http_itsm_registry_worker(ngx_http_itsm_main_conf_t *imcf);
ngx_int_t ngx_http_itsm_registry_counts_init(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
void ngx_http_itsm_registry_count(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_uint_t failed);
json_t *ngx_http_itsm_registry_sent(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn);
ngx_http_itsm_lookup_t *ngx_http_itsm_lookup_create(ngx_conf_t *cf,
    const char *what, ngx_str_t *action, ngx_str_t *method, ngx_str_t *path);
char *ngx_http_itsm_verify_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lookup_find_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_lookup_pick(ngx_http_itsm_lookup_t *lk, u_char *data,
    size_t len, ngx_pool_t *pool, ngx_str_t *out, ngx_str_t *why);

/* ngx_http_itsm_lifecycle.c */
char *ngx_http_itsm_lifecycle_on_repeat(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_resolve(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_refire(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_gone(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_check(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
void ngx_http_itsm_lifecycle_decide(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_record_t *rec, ngx_http_itsm_alert_t *alert, ngx_uint_t due,
    ngx_http_itsm_plan_t *plan);
uint64_t ngx_http_itsm_lifecycle_note(ngx_http_itsm_connector_t *conn,
    uint64_t last, ngx_http_itsm_alert_t *alert);
ngx_int_t ngx_http_itsm_lifecycle_gone(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_action_e action, ngx_uint_t status,
    ngx_http_itsm_record_t *rec);
void ngx_http_itsm_lifecycle_forget(ngx_http_itsm_record_t *rec,
    ngx_http_itsm_state_e state, ngx_http_itsm_plan_t *plan);
void ngx_http_itsm_lifecycle_apply(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_record_t *rec, ngx_str_t *ticket, ngx_uint_t occurrences);
ngx_uint_t ngx_http_itsm_lifecycle_plan_has(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_action_e action);

/* ngx_http_itsm_layout.c */
ngx_int_t ngx_http_itsm_layout_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
void ngx_http_itsm_layout_place(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_itsm_connector_t *conn);


#endif /* _NGX_HTTP_ITSM_CONNECTOR_H_INCLUDED_ */
