
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_store_redis.h"


/*
 * The calls of the store that the pipeline waits for (get, claim, doubt,
 * commit), whatever the backend: each fills the op with what it acts on
 * and hands it to the backend's table (ngx_http_itsm_store_ops_t, chosen
 * when the store is configured).  LMDB answers at once (its table is in
 * ngx_http_itsm_store_record.c); a backend across the network answers
 * NGX_AGAIN and calls op->handler later.  See ngx_http_itsm_store.h.
 */


static ngx_int_t ngx_http_itsm_store_op_call(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_store_call_pt call);

#if (NGX_HTTP_ITSM_STORE_ASYNC_TEST)

/*
 * The test build (util/build.sh async): LMDB's calls answered through a
 * posted event instead of at once, so that every continuation of the
 * pipeline runs from the op's handler as it will for a backend across the
 * network.  The call itself runs when the event does, not before: the
 * store may change meanwhile, as it may while a network call is on its
 * way, and a cancel means it never runs.
 */

typedef struct {
    ngx_event_t                  event;
    ngx_http_itsm_store_op_t    *op;
    ngx_http_itsm_store_call_pt  call;         /* LMDB's */
} ngx_http_itsm_store_posted_t;

static ngx_int_t ngx_http_itsm_store_posted_get(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_posted_claim(
    ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_posted_doubt(
    ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_posted_commit(
    ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_post(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_store_call_pt call);
static void ngx_http_itsm_store_posted(ngx_event_t *ev);
static void ngx_http_itsm_store_posted_cancel(ngx_http_itsm_store_op_t *op);

const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_posted_ops = {
    ngx_http_itsm_store_posted_get,
    ngx_http_itsm_store_posted_claim,
    ngx_http_itsm_store_posted_doubt,
    ngx_http_itsm_store_posted_commit,
    ngx_http_itsm_store_posted_cancel
};

#endif


#if (NGX_DEBUG)
static const char  *ngx_http_itsm_store_op_names[] = {
    "get", "claim", "doubt", "commit", "queue", "ticket"
};
#endif


/* NGX_OK: found; NGX_DECLINED: no record; NGX_ERROR; NGX_AGAIN */

ngx_int_t
ngx_http_itsm_store_op_get(ngx_http_itsm_store_op_t *op, ngx_str_t *connector,
    ngx_str_t *key, ngx_http_itsm_record_t *rec)
{
    op->what = NGX_HTTP_ITSM_STORE_OP_GET;
    op->connector = connector;
    op->key = key;
    op->rec = rec;

    return ngx_http_itsm_store_op_call(op, op->store->ops->get);
}


/*
 * NGX_OK: claimed ("rec" as the claim found the key, op->sync the flush
 * to wait for when it was made to create); NGX_BUSY: another live request
 * holds it ("rec" holds that claim); NGX_ERROR; NGX_AGAIN
 */

ngx_int_t
ngx_http_itsm_store_op_claim(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec,
    uint64_t hash, ngx_uint_t create)
{
    op->what = NGX_HTTP_ITSM_STORE_OP_CLAIM;
    op->connector = connector;
    op->key = key;
    op->rec = rec;
    op->hash = hash;
    op->create = create;

    return ngx_http_itsm_store_op_call(op, op->store->ops->claim);
}


/* NGX_OK: the claim "token" says a create is on its way, on disk;
 * NGX_DECLINED: the claim was taken over; NGX_ERROR; NGX_AGAIN */

ngx_int_t
ngx_http_itsm_store_op_doubt(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token)
{
    op->what = NGX_HTTP_ITSM_STORE_OP_DOUBT;
    op->connector = connector;
    op->key = key;
    op->rec = NULL;
    op->token = token;

    return ngx_http_itsm_store_op_call(op, op->store->ops->doubt);
}


/* NGX_OK: the claim of rec->token ended with "rec" (op->sync the flush to
 * wait for); NGX_DECLINED: the claim was taken over; NGX_ERROR; NGX_AGAIN */

ngx_int_t
ngx_http_itsm_store_op_commit(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec)
{
    op->what = NGX_HTTP_ITSM_STORE_OP_COMMIT;
    op->connector = connector;
    op->key = key;
    op->rec = rec;

    return ngx_http_itsm_store_op_call(op, op->store->ops->commit);
}


/*
 * A callback's event applied to the key whose ticket it is
 * (ngx_http_itsm_store_ticket.c): NGX_OK, cb->result says what was done;
 * NGX_ERROR; NGX_AGAIN on Redis (ngx_http_itsm_store_ticket_redis.c).
 * LMDB applies it at once, in its own transaction, as before: the
 * caller then waits for the flush (ngx_http_itsm_store_sync).
 */

ngx_int_t
ngx_http_itsm_store_op_ticket(ngx_http_itsm_store_op_t *op,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb, ngx_pool_t *pool)
{
    ngx_int_t  rc;

    op->what = NGX_HTTP_ITSM_STORE_OP_TICKET;
    op->connector = connector;
    op->key = &cb->ticket;
    op->ticket = cb;
    op->sync = 0;

    if (!ngx_http_itsm_store_on_redis(op->store)) {
        return ngx_http_itsm_store_ticket_apply(op->store, connector, cb);
    }

    rc = ngx_http_itsm_store_ticket_redis(op, pool);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store: ticket \"%V\": %i", &cb->ticket, rc);

    return rc;
}


static ngx_int_t
ngx_http_itsm_store_op_call(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_store_call_pt call)
{
    ngx_int_t  rc;

    op->sync = 0;

    rc = call(op);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store: %s \"%V\": %i%s",
                   ngx_http_itsm_store_op_names[op->what], op->key, rc,
                   rc == NGX_AGAIN ? " (answered later)" : "");

    return rc;
}


/*
 * A request that ends while its call is in flight: the backend forgets
 * the op and never calls its handler; a call that ended, or never went
 * out, has nothing to cancel.
 */

void
ngx_http_itsm_store_op_cancel(ngx_http_itsm_store_op_t *op)
{
    if (op->backend == NULL) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store: %s \"%V\" cancelled",
                   ngx_http_itsm_store_op_names[op->what], op->key);

    op->store->ops->cancel(op);
    op->backend = NULL;
}


#if (NGX_HTTP_ITSM_STORE_ASYNC_TEST)

static ngx_int_t
ngx_http_itsm_store_posted_get(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_post(op, ngx_http_itsm_store_lmdb_ops.get);
}


static ngx_int_t
ngx_http_itsm_store_posted_claim(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_post(op, ngx_http_itsm_store_lmdb_ops.claim);
}


static ngx_int_t
ngx_http_itsm_store_posted_doubt(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_post(op, ngx_http_itsm_store_lmdb_ops.doubt);
}


static ngx_int_t
ngx_http_itsm_store_posted_commit(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_post(op, ngx_http_itsm_store_lmdb_ops.commit);
}


static ngx_int_t
ngx_http_itsm_store_post(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_store_call_pt call)
{
    ngx_http_itsm_store_posted_t  *p;

    p = ngx_calloc(sizeof(ngx_http_itsm_store_posted_t), op->store->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->op = op;
    p->call = call;

    p->event.handler = ngx_http_itsm_store_posted;
    p->event.data = p;
    p->event.log = op->store->log;

    op->backend = p;

    ngx_post_event(&p->event, &ngx_posted_events);

    return NGX_AGAIN;
}


/* the posted event: the call is made now, and its caller goes on */

static void
ngx_http_itsm_store_posted(ngx_event_t *ev)
{
    ngx_http_itsm_store_posted_t  *p = ev->data;

    ngx_http_itsm_store_op_t  *op;

    op = p->op;

    /* the handler may make the next call with the same op */
    op->backend = NULL;

    op->rc = p->call(op);

    ngx_free(p);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store: %s \"%V\" answered later (async test): %i",
                   ngx_http_itsm_store_op_names[op->what], op->key, op->rc);

    op->handler(op);
}


static void
ngx_http_itsm_store_posted_cancel(ngx_http_itsm_store_op_t *op)
{
    ngx_http_itsm_store_posted_t  *p = op->backend;

    if (p->event.posted) {
        ngx_delete_posted_event(&p->event);
    }

    ngx_free(p);
}

#endif
