
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CALLBACK_SOURCE_H_INCLUDED_
#define _NGX_HTTP_ITSM_CALLBACK_SOURCE_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_deliver.h"


/*
 * Back to the source: when a callback changes what the ITSM says of a
 * ticket, an action toward the alert's source (an Alertmanager silence, a
 * SIEM case's status, an Azure alert's state), sent through the same
 * delivery path as the ITSM's requests.
 *
 *   ngx_http_itsm_callback_source_conf.c  "itsm_callback_source NAME {...}"
 *   ngx_http_itsm_callback_source.c       what is remembered of an alert,
 *                                         the action after the callback's
 *                                         answer, its counters
 *   ngx_http_itsm_store_source.c          the store's "sources" table
 *   ngx_http_itsm_store_source_redis.c    the same on Redis ("P{c:K}:s")
 *
 * Data flows one way: the pipeline (ngx_http_itsm_step.c) and the callback
 * location (ngx_http_itsm_callback.c) call in; this calls the delivery, the
 * templates and the store, never back up.  It is part of
 * ngx_http_itsm_callback_module: its sources are in that module's main
 * configuration, and an action's state, while it runs, in the callback
 * request's context (ngx_http_itsm_callback_loc.h).
 */


/* the most of an alert kept for the way back (its fields and raw JSON) */
#define NGX_HTTP_ITSM_SOURCE_ENTRY_MAX  (64 * 1024)

/* the longest value remembered from a source's answer (a silence id) */
#define NGX_HTTP_ITSM_SOURCE_REMEMBER_MAX  256


typedef enum {
    NGX_HTTP_ITSM_SOURCE_RUN = 0,              /* always */
    NGX_HTTP_ITSM_SOURCE_REMEMBER,             /* keeps a value it returns */
    NGX_HTTP_ITSM_SOURCE_FORGET                /* undoes what was kept */
} ngx_http_itsm_source_kind_e;


typedef struct {
    ngx_http_itsm_action_t       action;
    ngx_uint_t                   kind;         /* ..._SOURCE_RUN ... */
    ngx_str_t                    remember;     /* JSON Pointer in the answer */
} ngx_http_itsm_source_action_t;


/* what became of a way back, counted on the status page */

typedef enum {
    NGX_HTTP_ITSM_SOURCE_SENT = 0,             /* the source took it */
    NGX_HTTP_ITSM_SOURCE_SKIPPED,              /* remember= kept, or
                                                  nothing to forget */
    NGX_HTTP_ITSM_SOURCE_NO_ALERT,             /* no alert kept of the key */
    NGX_HTTP_ITSM_SOURCE_FAILED,
    NGX_HTTP_ITSM_SOURCE_NOUTCOMES
} ngx_http_itsm_source_outcome_e;


/* "itsm_callback_source NAME { ... }" */

typedef struct {
    ngx_str_t                    name;
    ngx_array_t                  of;           /* ngx_str_t: ITSM connectors */
    ngx_array_t                  itsms;        /* their connectors (_t *) */

    /* what delivers its actions: the location, headers, max_response (the
     * fields of a connector the delivery reads) */
    ngx_http_itsm_connector_t    conn;

    /* by the ITSM's mapped state (ngx_http_itsm_ticket_state_e), and
     * NGX_HTTP_ITSM_CALLBACK_NOTE for a note-only event */
    ngx_http_itsm_source_action_t  *on[NGX_HTTP_ITSM_TICKET_NSTATES + 1];

    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_source_t;


/*
 * ngx_http_itsm_callback_source_conf.c: "itsm_callback_source" is a
 * directive of ngx_http_itsm_callback_module, whose main configuration
 * holds the sources, and whose postconfiguration checks them
 */
typedef struct {
    ngx_array_t                  sources;      /* ngx_http_itsm_source_t *,
                                                  from the first block on */
    ngx_shm_zone_t              *counters;     /* NULL: no source */
} ngx_http_itsm_source_main_conf_t;

char *ngx_http_itsm_callback_source_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_itsm_callback_source_init(ngx_conf_t *cf);
ngx_http_itsm_source_t *ngx_http_itsm_callback_source_of(
    ngx_http_request_t *r, ngx_http_itsm_connector_t *itsm);
void ngx_http_itsm_callback_source_count(ngx_http_request_t *r,
    ngx_uint_t outcome);

/* ngx_http_itsm_callback_source.c */
void ngx_http_itsm_callback_source_remember(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_connector_t *itsm,
    ngx_str_t *key, ngx_http_itsm_alert_t *alert);
ngx_int_t ngx_http_itsm_callback_source_run(ngx_http_request_t *r,
    ngx_http_itsm_store_t *store, ngx_http_itsm_connector_t *itsm,
    ngx_http_itsm_store_ticket_t *cb, ngx_str_t *status, ngx_str_t *note,
    ngx_str_t *event, ngx_int_t rc);

/* ngx_http_itsm_store_source.c: "connector \0 key" -> the entry (JSON) */
ngx_int_t ngx_http_itsm_store_source_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *text);
ngx_int_t ngx_http_itsm_store_source_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_str_t *text);
ngx_int_t ngx_http_itsm_store_source_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);

/*
 * ngx_http_itsm_store_source_redis.c: the same on Redis ("P{c:K}:s"); the
 * calls the caller waits for answer later through an op
 */
typedef struct ngx_http_itsm_store_source_op_s
    ngx_http_itsm_store_source_op_t;

typedef void (*ngx_http_itsm_store_source_handler_pt)(
    ngx_http_itsm_store_source_op_t *op);

struct ngx_http_itsm_store_source_op_s {
    ngx_http_itsm_store_t       *store;
    ngx_str_t                   *connector;
    ngx_str_t                   *key;
    ngx_pool_t                  *pool;         /* get: "text" in it */
    ngx_str_t                    text;         /* get: the entry */
    ngx_int_t                    rc;           /* as the handler sees it */
    ngx_http_itsm_store_source_handler_pt  handler;
    void                        *data;
    void                        *backend;      /* the command in flight */
    unsigned                     remember:1;   /* keep: a value, not none */
};

ngx_int_t ngx_http_itsm_store_source_redis_get(
    ngx_http_itsm_store_source_op_t *op);
ngx_int_t ngx_http_itsm_store_source_redis_keep(
    ngx_http_itsm_store_source_op_t *op, ngx_str_t *value);
void ngx_http_itsm_store_source_redis_cancel(
    ngx_http_itsm_store_source_op_t *op);
void ngx_http_itsm_store_source_redis_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_str_t *text);
void ngx_http_itsm_store_source_redis_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);


#endif /* _NGX_HTTP_ITSM_CALLBACK_SOURCE_H_INCLUDED_ */
