
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_H_INCLUDED_


#include "ngx_http_itsm.h"


/* State: the alert -> ticket map and the pending deliveries in LMDB
 * (ngx_http_itsm_store*.c, ngx_http_itsm_expire.c), the hot state in shared
 * memory (ngx_http_itsm_zone.c) */


/* how much of a key a callback's answer and log line show */
#define NGX_HTTP_ITSM_STORE_KEY_TEXT  256


/* how full the store is */

typedef struct {
    size_t                       size;         /* the most it can hold */
    size_t                       used;         /* bytes in use */
    size_t                       keys;
} ngx_http_itsm_store_space_t;


typedef ngx_int_t (*ngx_http_itsm_store_iter_pt)(void *data, ngx_str_t *key,
    ngx_http_itsm_record_t *rec);
typedef ngx_int_t (*ngx_http_itsm_store_due_pt)(void *data, ngx_str_t *key,
    ngx_uint_t attempts);


/* a key's pending delivery: when it is due, how often it was tried, and
 * what it holds (the queue's JSON) */

typedef struct {
    time_t                       due;
    ngx_uint_t                   attempts;
    ngx_str_t                    text;
} ngx_http_itsm_store_pending_t;

typedef ngx_int_t (*ngx_http_itsm_store_merge_pt)(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend);


/*
 * What an ITSM says of a ticket (a callback, ngx_http_itsm_callback.c),
 * in the lifecycle's words, and what the store made of it
 * (ngx_http_itsm_store_ticket.c).
 */

typedef enum {
    NGX_HTTP_ITSM_TICKET_NONE = 0,             /* nothing heard yet */
    NGX_HTTP_ITSM_TICKET_OPEN,
    NGX_HTTP_ITSM_TICKET_ACKNOWLEDGED,
    NGX_HTTP_ITSM_TICKET_RESOLVED,
    NGX_HTTP_ITSM_TICKET_CLOSED,
    NGX_HTTP_ITSM_TICKET_DELETED,
    NGX_HTTP_ITSM_TICKET_NSTATES
} ngx_http_itsm_ticket_state_e;


typedef enum {
    NGX_HTTP_ITSM_TICKET_APPLIED = 0,          /* the key's state changed */
    NGX_HTTP_ITSM_TICKET_UNCHANGED,            /* it was so already */
    NGX_HTTP_ITSM_TICKET_DUPLICATE,            /* the same event again */
    NGX_HTTP_ITSM_TICKET_STALE,                /* older than the last one */
    NGX_HTTP_ITSM_TICKET_UNKNOWN,              /* no key has this ticket */
    NGX_HTTP_ITSM_TICKET_IN_FLIGHT,            /* an alert holds the key */
    NGX_HTTP_ITSM_TICKET_NOTED                 /* a note, no state change */
} ngx_http_itsm_ticket_result_e;


typedef struct {
    ngx_str_t                    ticket;
    ngx_uint_t                   state;        /* ..._TICKET_OPEN ... */
    uint64_t                     order;        /* 0: the event has none */
    uint64_t                     event;        /* its id's hash; 0: none */
    ngx_str_t                    in_assignee;  /* the event's, if any */
    unsigned                     by_key:1;     /* the ticket is the key */
    unsigned                     note:1;       /* a note only: no state */

    /* what the store made of it */
    ngx_uint_t                   result;       /* ..._TICKET_APPLIED ... */
    ngx_uint_t                   known;        /* the ITSM's state before */
    ngx_uint_t                   before;       /* the key's (KEY_OPEN ...) */
    ngx_uint_t                   after;
    ngx_str_t                    key;          /* the correlation key */
    ngx_str_t                    assignee;     /* the one kept */
    u_char                       key_data[NGX_HTTP_ITSM_STORE_KEY_TEXT];
    u_char                       assignee_data[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_store_ticket_t;


/* a request waiting for its commit to reach the disk */

typedef struct ngx_http_itsm_store_waiter_s  ngx_http_itsm_store_waiter_t;

typedef void (*ngx_http_itsm_store_synced_pt)(
    ngx_http_itsm_store_waiter_t *w, ngx_int_t rc);

struct ngx_http_itsm_store_waiter_s {
    ngx_queue_t                  queue;
    ngx_uint_t                   seq;          /* the commit it waits for */
    ngx_http_itsm_store_synced_pt  handler;
    void                        *data;
    unsigned                     waiting:1;
};


/*
 * A call of the store whose answer may come later.  LMDB answers at once;
 * a store across the network (Redis, docs/redis.md) answers from the
 * event loop.  The caller keeps the op, and what it points to, until the
 * call ends: an entry point (ngx_http_itsm_store_op.c) returns what the
 * call came to when it ended at once, or NGX_AGAIN, and op->handler is
 * then called with op->rc set, from the event loop, never from inside the
 * entry point.  A request that ends meanwhile cancels the call
 * (ngx_http_itsm_store_op_cancel): the handler is never called, and what
 * the call may have done is the backend's to undo or let expire (a claim
 * that was won expires by its lease).
 */

typedef struct ngx_http_itsm_store_op_s  ngx_http_itsm_store_op_t;

typedef void (*ngx_http_itsm_store_op_pt)(ngx_http_itsm_store_op_t *op);

/* which call an op is, for the backends and the debug log */
#define NGX_HTTP_ITSM_STORE_OP_GET     0
#define NGX_HTTP_ITSM_STORE_OP_CLAIM   1
#define NGX_HTTP_ITSM_STORE_OP_DOUBT   2
#define NGX_HTTP_ITSM_STORE_OP_COMMIT  3
#define NGX_HTTP_ITSM_STORE_OP_QUEUE   4     /* on Redis: a job kept */
#define NGX_HTTP_ITSM_STORE_OP_TICKET  5     /* a callback applied */

struct ngx_http_itsm_store_op_s {
    ngx_http_itsm_store_op_pt    handler;      /* after NGX_AGAIN */
    void                        *data;
    ngx_int_t                    rc;           /* the result after NGX_AGAIN */
    void                        *backend;      /* the backend's handle while
                                                  the call is in flight (for
                                                  cancel); NULL otherwise */
    ngx_http_itsm_store_t       *store;        /* set once by the caller */

    /* what the call acts on, set by the entry point */
    ngx_uint_t                   what;         /* NGX_HTTP_ITSM_STORE_OP_... */
    ngx_str_t                   *connector;
    ngx_str_t                   *key;
    ngx_http_itsm_record_t      *rec;          /* get, claim: read into;
                                                  commit: written */
    uint64_t                     token;        /* doubt: the claim's */
    uint64_t                     hash;         /* claim: its alert's */
    ngx_uint_t                   create;       /* claim: made to create */
    ngx_http_itsm_store_ticket_t *ticket;      /* a callback's event */
    void                        *state;        /* the backend's, across the
                                                  steps of one call */

    /* what it came to besides rc: the commit whose flush the caller waits
     * for (ngx_http_itsm_store_sync) before it goes on; 0: none */
    ngx_uint_t                   sync;
};


/*
 * A backend's calls, chosen when the store is configured: each returns
 * what the call came to, or NGX_AGAIN after it kept op->backend; "cancel"
 * is called only for an op in flight.  Renew and release are no such
 * calls: they stay fire and forget (ngx_http_itsm_store_renew, _release),
 * since nothing waits for them: a renew that fails leaves the lease to
 * run out, a release that fails leaves the claim to its lease.
 */

typedef ngx_int_t (*ngx_http_itsm_store_call_pt)(ngx_http_itsm_store_op_t *op);

typedef struct {
    ngx_http_itsm_store_call_pt  get;
    ngx_http_itsm_store_call_pt  claim;
    ngx_http_itsm_store_call_pt  doubt;
    ngx_http_itsm_store_call_pt  commit;
    void                       (*cancel)(ngx_http_itsm_store_op_t *op);
} ngx_http_itsm_store_ops_t;


/* ngx_http_itsm_store.c */
char *ngx_http_itsm_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_store_t *ngx_http_itsm_store_create(ngx_conf_t *cf,
    ngx_str_t *path, size_t size, time_t lease);
ngx_int_t ngx_http_itsm_store_open(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store);
void ngx_http_itsm_store_close(ngx_http_itsm_store_t *store);

/* ngx_http_itsm_store_redis.c: itsm_store redis */
ngx_uint_t ngx_http_itsm_store_on_redis(ngx_http_itsm_store_t *store);
void ngx_http_itsm_store_redis_set(ngx_http_itsm_store_t *store,
    ngx_http_itsm_redis_t *redis);
void ngx_http_itsm_store_redis_open(ngx_http_itsm_store_t *store,
    ngx_log_t *log, time_t retention);

/* ngx_http_itsm_store_check.c */
ngx_int_t ngx_http_itsm_store_check(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store);


/* ngx_http_itsm_store_sync.c */
ngx_int_t ngx_http_itsm_store_sync_init(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store);
ngx_uint_t ngx_http_itsm_store_last_sync(ngx_http_itsm_store_t *store);
ngx_int_t ngx_http_itsm_store_sync(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_waiter_t *w);
void ngx_http_itsm_store_sync_cancel(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_waiter_t *w);

/* ngx_http_itsm_store_op.c: the calls that may answer later */
ngx_int_t ngx_http_itsm_store_op_get(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_op_claim(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec,
    uint64_t hash, ngx_uint_t create);
ngx_int_t ngx_http_itsm_store_op_doubt(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token);
ngx_int_t ngx_http_itsm_store_op_commit(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_op_ticket(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb, ngx_pool_t *pool);
void ngx_http_itsm_store_op_cancel(ngx_http_itsm_store_op_t *op);

/* ngx_http_itsm_store_record.c */
ngx_int_t ngx_http_itsm_store_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token);
ngx_int_t ngx_http_itsm_store_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before);
ngx_int_t ngx_http_itsm_store_iterate(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_iter_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_busy(ngx_http_itsm_record_t *rec, time_t now);
time_t ngx_http_itsm_store_lease(ngx_http_itsm_store_t *store);

/* ngx_http_itsm_store_ticket.c */
ngx_int_t ngx_http_itsm_store_ticket_apply(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb);

/* ngx_http_itsm_store_pending.c */
ngx_int_t ngx_http_itsm_store_pending_merge(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_store_merge_pt handler,
    void *data);
ngx_int_t ngx_http_itsm_store_pending_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, time_t *due,
    ngx_uint_t *attempts, ngx_str_t *alert);
ngx_int_t ngx_http_itsm_store_pending_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);
ngx_int_t ngx_http_itsm_store_pending_due(ngx_http_itsm_store_t *store,
    time_t now, ngx_http_itsm_store_due_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_pending_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *key, time_t due, ngx_uint_t counted);
ngx_int_t ngx_http_itsm_store_pending_count(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_uint_t *waiting, ngx_uint_t *dead);
ngx_int_t ngx_http_itsm_store_pending_requeue(ngx_http_itsm_store_t *store,
    time_t now, ngx_str_t *connector, ngx_str_t *key, ngx_uint_t *n);


/* ngx_http_itsm_store_space.c */
ngx_int_t ngx_http_itsm_store_usage(ngx_http_itsm_store_t *store,
    size_t *bytes, size_t *keys);
ngx_int_t ngx_http_itsm_store_space(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_space_t *space);
ngx_int_t ngx_http_itsm_store_expire(ngx_http_itsm_store_t *store,
    time_t before, ngx_uint_t scan, ngx_uint_t *expired);

/* ngx_http_itsm_expire.c */
char *ngx_http_itsm_expire_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
ngx_int_t ngx_http_itsm_expire_init(ngx_cycle_t *cycle,
    ngx_http_itsm_main_conf_t *imcf);

/* ngx_http_itsm_zone.c */
char *ngx_http_itsm_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_counters_t *ngx_http_itsm_zone_counters(
    ngx_http_itsm_zone_t *zone);
ngx_uint_t ngx_http_itsm_zone_hit(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t base, time_t *last_seen, ngx_uint_t add);
ngx_int_t ngx_http_itsm_zone_answer_get(ngx_http_itsm_zone_t *zone,
    ngx_str_t *key, ngx_http_itsm_answer_t *ans);
void ngx_http_itsm_zone_answer_put(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    time_t window, ngx_http_itsm_answer_t *ans);
void ngx_http_itsm_zone_usage(ngx_http_itsm_zone_t *zone, size_t *size,
    size_t *free, ngx_uint_t *keys);


#endif /* _NGX_HTTP_ITSM_STORE_H_INCLUDED_ */
