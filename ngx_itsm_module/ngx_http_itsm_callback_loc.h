
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CALLBACK_LOC_H_INCLUDED_
#define _NGX_HTTP_ITSM_CALLBACK_LOC_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_callback_source.h"
#include "ngx_http_itsm_status.h"


/* What the callback location's files share: ngx_http_itsm_callback.c (the
 * module, its directive, the request), ngx_http_itsm_callback_read.c (what
 * the body says), ngx_http_itsm_callback_answer.c (the answer, the
 * counters) */


/* the longest event id looked at */
#define NGX_HTTP_ITSM_CALLBACK_EVENT_MAX  256


/* the outcomes counted on the status page: the store's results first */

typedef enum {
    NGX_HTTP_ITSM_CB_APPLIED = 0,
    NGX_HTTP_ITSM_CB_UNCHANGED,
    NGX_HTTP_ITSM_CB_DUPLICATE,
    NGX_HTTP_ITSM_CB_STALE,
    NGX_HTTP_ITSM_CB_UNKNOWN_TICKET,
    NGX_HTTP_ITSM_CB_IN_FLIGHT,
    NGX_HTTP_ITSM_CB_NOTED,
    NGX_HTTP_ITSM_CB_UNMAPPED,
    NGX_HTTP_ITSM_CB_IGNORED,
    NGX_HTTP_ITSM_CB_UNAUTHORIZED,
    NGX_HTTP_ITSM_CB_MALFORMED,
    NGX_HTTP_ITSM_CB_TOO_LARGE,
    NGX_HTTP_ITSM_CB_FAILED,
    NGX_HTTP_ITSM_CB_NOUTCOMES
} ngx_http_itsm_callback_outcome_e;


/*
 * The counters, in shared memory: the totals by outcome, and a slot a
 * connector (by name: a reload keeps a connector's counts, whatever its
 * place in the new configuration).
 */

#define NGX_HTTP_ITSM_CB_NO_SLOT  NGX_HTTP_ITSM_STATUS_NO_SLOT

typedef struct {
    ngx_atomic_t                 count[NGX_HTTP_ITSM_CB_NOUTCOMES];
    ngx_http_itsm_status_slots_t  slots;
    ngx_atomic_t                 slot[NGX_HTTP_ITSM_STATUS_SLOTS]
                                     [NGX_HTTP_ITSM_CB_NOUTCOMES];
} ngx_http_itsm_callback_counters_t;


typedef struct {
    ngx_str_t                    name;         /* the connector's */
    ngx_http_itsm_connector_t   *conn;
    ngx_http_itsm_callback_profile_t  *profile;
    ngx_uint_t                   slot;         /* its counters' */
    ngx_str_t                    ticket;       /* JSON Pointers */
    ngx_str_t                    status;
    ngx_str_t                    event_id;
    ngx_str_t                    order;
    ngx_str_t                    note;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_callback_loc_conf_t;


typedef struct {
    ngx_array_t                  locations;    /* ..._loc_conf_t * */
    ngx_shm_zone_t              *counters;
    ngx_http_itsm_callback_counters_t  *shared;
    ngx_http_itsm_source_main_conf_t    source;  /* itsm_callback_source */
} ngx_http_itsm_callback_main_conf_t;


typedef struct {
    ngx_http_itsm_callback_loc_conf_t  *conf;
    ngx_http_itsm_store_t        *store;
    ngx_http_itsm_store_ticket_t  cb;
    ngx_http_itsm_store_waiter_t  sync;
    ngx_http_itsm_store_op_t      op;          /* the apply, on Redis */
    ngx_str_t                     status;      /* as the ITSM wrote it */
    const char                   *invalid;     /* why the body is refused */
    void                         *sig;         /* the signature's check */
    ngx_str_t                     note;        /* cut to ..._NOTE_MAX */
    ngx_str_t                     event;       /* the delivery's id */
    ngx_str_t                     outcome;     /* for $itsm_callback_* */
    void                         *source;      /* the way back's, while it
                                                  runs (..._source.c) */
    unsigned                      unmapped:1;
    unsigned                      ignored:1;
} ngx_http_itsm_callback_ctx_t;


extern ngx_module_t  ngx_http_itsm_callback_module;


/* ngx_http_itsm_callback_read.c */
ngx_int_t ngx_http_itsm_callback_accept(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx);

/* ngx_http_itsm_callback_answer.c */
void ngx_http_itsm_callback_synced(ngx_http_itsm_store_waiter_t *w,
    ngx_int_t rc);
void ngx_http_itsm_callback_cleanup(void *data);
ngx_int_t ngx_http_itsm_callback_stored(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, ngx_int_t rc);
void ngx_http_itsm_callback_applied(ngx_http_itsm_store_op_t *op);
ngx_int_t ngx_http_itsm_callback_answer(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx);
ngx_int_t ngx_http_itsm_callback_pass(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, ngx_uint_t outcome);
ngx_int_t ngx_http_itsm_callback_refuse(ngx_http_request_t *r,
    ngx_uint_t outcome, ngx_uint_t status, const char *code,
    const char *message);
ngx_int_t ngx_http_itsm_callback_too_large(ngx_http_request_t *r);
void ngx_http_itsm_callback_count(ngx_http_request_t *r, ngx_uint_t outcome);
ngx_int_t ngx_http_itsm_callback_counts(ngx_http_request_t *r,
    ngx_array_t *counts);
ngx_int_t ngx_http_itsm_callback_connector_counts(ngx_http_request_t *r,
    ngx_array_t *counts);
ngx_int_t ngx_http_itsm_callback_init_counters(ngx_shm_zone_t *shm_zone,
    void *data);


#endif /* _NGX_HTTP_ITSM_CALLBACK_LOC_H_INCLUDED_ */
