
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/*
 * Every change of a key goes through a claim: a write transaction that
 * marks the key as being worked on by this process until a lease expires.
 * The first alert for a key claims it; concurrent alerts for the same key,
 * in any worker, see the claim and wait for it to be committed or released.
 * A claim whose process died is taken over at once, a stale one when its
 * lease ends, so a killed worker leaves no stuck key.
 *
 * Only transitions are written (claim, commit, release); an alert for an
 * open ticket that changes nothing reads the map and writes nothing.
 */


/* the changes of a claim, made while it is still the claim's */

#define NGX_HTTP_ITSM_STORE_DOUBT    0
#define NGX_HTTP_ITSM_STORE_RENEW    1
#define NGX_HTTP_ITSM_STORE_COMMIT   2
#define NGX_HTTP_ITSM_STORE_RELEASE  3
#define NGX_HTTP_ITSM_STORE_CLAIM    4          /* a claim itself */


/* a claim, or a change of a claim, in one write transaction */

typedef struct {
    ngx_str_t                   *key;          /* for the debug log */
    ngx_uint_t                   change;       /* NGX_HTTP_ITSM_STORE_DOUBT.. */
    uint64_t                     token;        /* the claim's */
    ngx_http_itsm_record_t       now;          /* the record as stored */
    ngx_http_itsm_record_t      *rec;          /* the record to write */

    uint64_t                     hash;         /* a claim: its alert's */
    ngx_uint_t                   create;       /* a claim made to create */
} ngx_http_itsm_store_change_t;


typedef struct {
    ngx_http_itsm_store_iter_pt  handler;
    void                        *data;
} ngx_http_itsm_store_iter_t;


static ngx_int_t ngx_http_itsm_store_lmdb_get(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_lmdb_claim(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_lmdb_doubt(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_lmdb_commit(
    ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_claim_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_change_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_change(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_uint_t change,
    ngx_http_itsm_record_t *rec, uint64_t token, uint64_t hash,
    ngx_uint_t create);
static ngx_int_t ngx_http_itsm_store_iterate_each(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data);
static ngx_int_t ngx_http_itsm_store_get_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);


/*
 * The LMDB backend of the calls that may answer later
 * (ngx_http_itsm_store_op.c): every one answers at once, in the caller's
 * turn of the event loop, so it has nothing to cancel.
 */

const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_lmdb_ops = {
    ngx_http_itsm_store_lmdb_get,
    ngx_http_itsm_store_lmdb_claim,
    ngx_http_itsm_store_lmdb_doubt,
    ngx_http_itsm_store_lmdb_commit,
    NULL
};


/* NGX_OK: found; NGX_DECLINED: no record; NGX_ERROR */

static ngx_int_t
ngx_http_itsm_store_lmdb_get(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_txn(op->store, "get", NGX_HTTP_ITSM_STORE_READ,
                                   op->connector, op->key,
                                   ngx_http_itsm_store_get_txn, op->rec);
}


static ngx_int_t
ngx_http_itsm_store_get_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    return ngx_http_itsm_store_record_get(store, txn, k, data);
}


/*
 * NGX_OK: claimed; "rec" holds the record as it was before (state NONE
 * when there was none), with the claim's token.  NGX_BUSY: another live
 * request holds the claim; "rec" holds that claim.
 *
 * "create": the claim is made to create a ticket.  The claim then says so
 * ("doubt"), and is flushed to disk before the create is sent: if the
 * worker dies with the create in flight, whoever takes the claim over
 * knows that the ITSM may have the ticket, and asks it first.
 */

static ngx_int_t
ngx_http_itsm_store_lmdb_claim(ngx_http_itsm_store_op_t *op)
{
    ngx_int_t  rc;

    rc = ngx_http_itsm_store_change(op->store, op->connector, op->key,
                                    NGX_HTTP_ITSM_STORE_CLAIM, op->rec, 0,
                                    op->hash, op->create);

    /* a claim made to create: its flush is the caller's to wait for */
    op->sync = op->store->last_sync;

    return rc;
}


static ngx_int_t
ngx_http_itsm_store_claim_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_http_itsm_store_change_t  *op = data;

    time_t                   now;
    ngx_int_t                found;
    ngx_http_itsm_record_t  *rec, *claim;

    rec = op->rec;
    claim = &op->now;

    found = ngx_http_itsm_store_record_get(store, txn, k, rec);

    if (found == NGX_ERROR) {
        return NGX_ERROR;
    }

    now = ngx_time();

    if (found == NGX_DECLINED) {
        ngx_memzero(rec, sizeof(ngx_http_itsm_record_t));
        rec->state = NGX_HTTP_ITSM_KEY_NONE;

    } else if (ngx_http_itsm_store_busy(rec, now)) {
        return NGX_BUSY;
    }

    /*
     * A claim keeps the key's state and ticket: taking over a dead or late
     * owner's claim finds the key as it was before that claim, and its
     * doubt, if the dead owner had a create in flight.
     */

    rec->pending = 0;
    rec->owner = 0;
    rec->lease_until = 0;
    rec->token = ngx_http_itsm_token();

    *claim = *rec;

    claim->pending = 1;
    claim->owner = ngx_pid;
    /* ngx_time() counts whole seconds: one more, so that a lease is never
     * shorter than it says */
    claim->lease_until = now + store->lease + 1;
    claim->hash = op->hash;

    if (op->create && claim->doubt == 0) {
        claim->doubt = now;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: claim \"%V\" token:%uL doubt:%T",
                   op->key, claim->token, claim->doubt);

    if (ngx_http_itsm_store_record_put(store, txn, k, claim) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a claim made to create is flushed: see above */

    return (op->create && rec->doubt == 0) ? NGX_HTTP_ITSM_STORE_SYNC : NGX_OK;
}


/*
 * The changes of a claim: NGX_DECLINED when the claim ("token") was taken
 * over meanwhile, and the record is left to its new owner.
 *
 * doubt: the claim is about to send a create after all: it says so, on
 * disk.
 *
 * renew: a claim lives as long as its request: while the request waits on
 * the ITSM, its lease is renewed, so that no other request takes the key
 * over however long the ITSM takes.
 *
 * commit: the claim ends with the new state of the key, flushed to disk.
 *
 * release: the claim ends with the key as it was before it: "before" is
 * the record the claim found, with the claim's token, how it ended
 * (last_result, last_status, last_retry) and, when a create may have
 * reached the ITSM, its doubt.  A key that never had a ticket keeps a
 * record all the same: the requests that joined the claim read how it
 * ended there.
 */

static ngx_int_t
ngx_http_itsm_store_lmdb_doubt(ngx_http_itsm_store_op_t *op)
{
    return ngx_http_itsm_store_change(op->store, op->connector, op->key,
                                      NGX_HTTP_ITSM_STORE_DOUBT, NULL,
                                      op->token, 0, 0);
}


/* fire and forget: see ngx_http_itsm_store_ops_t */

ngx_int_t
ngx_http_itsm_store_renew(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, uint64_t token)
{
    if (store->on_redis) {
        return ngx_http_itsm_store_redis_renew(store, connector, key, token);
    }

    return ngx_http_itsm_store_change(store, connector, key,
                                      NGX_HTTP_ITSM_STORE_RENEW, NULL, token,
                                      0, 0);
}


static ngx_int_t
ngx_http_itsm_store_lmdb_commit(ngx_http_itsm_store_op_t *op)
{
    ngx_int_t  rc;

    rc = ngx_http_itsm_store_change(op->store, op->connector, op->key,
                                    NGX_HTTP_ITSM_STORE_COMMIT, op->rec,
                                    op->rec->token, 0, 0);

    /* the commit's flush: the caller's to wait for before it answers */
    op->sync = op->store->last_sync;

    return rc;
}


/* fire and forget: see ngx_http_itsm_store_ops_t */

ngx_int_t
ngx_http_itsm_store_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before)
{
    if (store->on_redis) {
        return ngx_http_itsm_store_redis_release(store, connector, key,
                                                 before);
    }

    return ngx_http_itsm_store_change(store, connector, key,
                                      NGX_HTTP_ITSM_STORE_RELEASE, before,
                                      before->token, 0, 0);
}


/*
 * A claim or a change of a claim of "key", in its write transaction.
 * "rec": the record to write, or for a claim the record as it was (doubt
 * and renew: NULL, the record as stored); "token": the claim's, of a
 * change; "hash" and "create": of a claim.
 */

static ngx_int_t
ngx_http_itsm_store_change(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, ngx_uint_t change, ngx_http_itsm_record_t *rec,
    uint64_t token, uint64_t hash, ngx_uint_t create)
{
    ngx_uint_t                    flags;
    ngx_http_itsm_store_change_t  op;
    ngx_http_itsm_store_txn_pt    handler;

    static const char  *changes[] = { "doubt", "renew", "commit", "release",
                                      "claim" };

    op.key = key;
    op.change = change;
    op.token = token;
    op.rec = rec ? rec : &op.now;
    op.hash = hash;
    op.create = create;

    flags = NGX_HTTP_ITSM_STORE_WRITE;
    handler = ngx_http_itsm_store_change_txn;

    if (op.change == NGX_HTTP_ITSM_STORE_CLAIM) {
        handler = ngx_http_itsm_store_claim_txn;
    }

    /* the flush of a claim (for a create) and of a commit is its caller's
     * to wait for; a doubt or a release in doubt is flushed at once */

    if (op.change == NGX_HTTP_ITSM_STORE_CLAIM
        || op.change == NGX_HTTP_ITSM_STORE_COMMIT)
    {
        flags |= NGX_HTTP_ITSM_STORE_DEFER;
    }

    return ngx_http_itsm_store_txn(store, changes[op.change], flags,
                                   connector, key, handler, &op);
}


static ngx_int_t
ngx_http_itsm_store_change_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_http_itsm_store_change_t  *op = data;

    ngx_int_t                rc;
    ngx_http_itsm_record_t  *now, *rec;

    now = &op->now;
    rec = op->rec;

    rc = ngx_http_itsm_store_record_get(store, txn, k, now);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || !now->pending || now->token != op->token) {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store: a claim in \"%V\" was taken over while its "
                      "request still worked on it (its worker did not renew "
                      "it in time); its change is not written", &store->path);
        return NGX_DECLINED;
    }

    switch (op->change) {

    case NGX_HTTP_ITSM_STORE_DOUBT:

        if (now->doubt) {
            return NGX_DONE;
        }

        now->doubt = ngx_time();
        rc = NGX_HTTP_ITSM_STORE_SYNC;
        break;

    case NGX_HTTP_ITSM_STORE_RENEW:

        now->lease_until = ngx_time() + store->lease + 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: renew \"%V\" until %T", op->key,
                       now->lease_until);

        rc = NGX_OK;
        break;

    case NGX_HTTP_ITSM_STORE_COMMIT:

        rec->pending = 0;
        rec->owner = 0;
        rec->lease_until = 0;
        rec->doubt = 0;
        rec->hash = now->hash;
        rec->last_token = rec->token;
        rec->last_result = NGX_HTTP_ITSM_FLIGHT_DONE;
        rec->last_status = 0;
        rec->last_retry = 0;
        rec->token = 0;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: commit \"%V\" state:%ui", op->key,
                       rec->state);

        rc = NGX_HTTP_ITSM_STORE_SYNC;
        break;

    default: /* NGX_HTTP_ITSM_STORE_RELEASE */

        rec->pending = 0;
        rec->owner = 0;
        rec->lease_until = 0;
        rec->last_token = rec->token;
        rec->token = 0;

        /* a key without a ticket has no other time: the retention counts
         * from its last claim */

        if (rec->state == NGX_HTTP_ITSM_KEY_NONE) {
            rec->last_seen = ngx_time();
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: release \"%V\" result:%ui doubt:%T",
                       op->key, rec->last_result, rec->doubt);

        /* a doubt the record on disk does not have yet is flushed */

        rc = (rec->doubt && !now->doubt) ? NGX_HTTP_ITSM_STORE_SYNC : NGX_OK;
    }

    if (op->change == NGX_HTTP_ITSM_STORE_COMMIT
        || op->change == NGX_HTTP_ITSM_STORE_RELEASE)
    {
        /* the claim before this one keeps how it ended (see the record) */

        rec->prev_token = now->last_token;
        rec->prev_result = now->last_result;
        rec->prev_status = now->last_status;
        rec->prev_retry = now->last_retry;

        /* what the ITSM said of the ticket while the claim held the key */

        if (ngx_http_itsm_store_ticket_held(store, txn, k, rec) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_itsm_store_record_put(store, txn, k, rec) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the ticket -> key index, in the same transaction as the ticket */

    if (op->change == NGX_HTTP_ITSM_STORE_COMMIT
        && ngx_http_itsm_store_ticket_index(store, txn, k, now, rec) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return rc;
}


/* calls "handler" for every record; used by the status page */

ngx_int_t
ngx_http_itsm_store_iterate(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_iter_pt handler, void *data)
{
    ngx_http_itsm_store_iter_t  iter;

    iter.handler = handler;
    iter.data = data;

    return ngx_http_itsm_store_walk(store, "iterate", NGX_HTTP_ITSM_STORE_READ,
                                    store->dbi,
                                    ngx_http_itsm_store_iterate_each, &iter);
}


static ngx_int_t
ngx_http_itsm_store_iterate_each(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data)
{
    ngx_http_itsm_store_iter_t  *iter = data;

    ngx_str_t               key;
    ngx_http_itsm_record_t  rec;

    if (ngx_http_itsm_store_decode_any(v, &rec) != NGX_OK) {
        return NGX_OK;
    }

    key.data = k->mv_data;
    key.len = k->mv_size;

    return (iter->handler(iter->data, &key, &rec) == NGX_OK) ? NGX_OK
                                                             : NGX_DONE;
}


/*
 * The record of "k" in "txn", read and written in this file's transactions
 * and in other store files' (the callbacks, ngx_http_itsm_store_ticket.c):
 * NGX_OK: found; NGX_DECLINED: no record; NGX_ERROR.
 */

ngx_int_t
ngx_http_itsm_store_record_get(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *rec)
{
    MDB_val    v;
    ngx_int_t  rc;

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->dbi, k, &v);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_itsm_store_decode_any(&v, rec) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store: a record of an unknown format in \"%V\" "
                      "is ignored", &store->path);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* writes "rec" in the transaction (committed by the caller's helper) */

ngx_int_t
ngx_http_itsm_store_record_put(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *rec)
{
    u_char   raw[NGX_HTTP_ITSM_STORE_V3_MAX];
    MDB_val  v;

    v.mv_data = raw;
    v.mv_size = ngx_http_itsm_store_encode(rec, raw) - raw;

    return ngx_http_itsm_store_mdb_put(store, txn, store->dbi, k, &v, 0);
}


time_t
ngx_http_itsm_store_lease(ngx_http_itsm_store_t *store)
{
    return store->lease;
}


/* a live claim of another request: not over its lease, and its process
 * still there (a killed worker's claim is taken over at once) */

ngx_int_t
ngx_http_itsm_store_busy(ngx_http_itsm_record_t *rec, time_t now)
{
    if (!rec->pending || rec->lease_until <= now) {
        return 0;
    }

    /* a claim on Redis (owner 0) may be another edge's, whose process
     * this one cannot see: it lives until its lease ends, which Redis
     * counts (ngx_http_itsm_store_redis.c) */

    if (rec->owner == 0 || (ngx_pid_t) rec->owner == ngx_pid) {
        return 1;
    }

    return !(kill((ngx_pid_t) rec->owner, 0) == -1 && ngx_errno == NGX_ESRCH);
}
