
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/*
 * A second table holds the pending deliveries: the latest state of a key
 * whose update waits for the end of a cooldown (or for a retry), with the
 * time it is due; a worker's timer hands due ones to the replay location
 * (ngx_http_itsm_kick.c).
 */


/* a pending delivery as stored: then the alert as JSON */

typedef struct {
    int64_t                      due;
    uint32_t                     attempts;
    uint32_t                     len;
} ngx_http_itsm_store_pend_t;


/* a walk over the pending deliveries: "each" sees every one that reads
 * as one, with its head */

typedef struct ngx_http_itsm_store_pend_walk_s  ngx_http_itsm_store_pend_walk_t;

typedef ngx_int_t (*ngx_http_itsm_store_pend_each_pt)(
    ngx_http_itsm_store_t *store, MDB_cursor *cursor, MDB_val *k, MDB_val *v,
    ngx_http_itsm_store_pend_t *head, ngx_http_itsm_store_pend_walk_t *walk);

struct ngx_http_itsm_store_pend_walk_s {
    ngx_http_itsm_store_pend_each_pt   each;
    time_t                             now;
    ngx_uint_t                        *n;        /* count, requeue */
    ngx_http_itsm_store_due_pt         handler;  /* due */
    void                              *data;
    ngx_str_t                         *connector; /* requeue: only these */
    ngx_str_t                         *key;
};


/* an operation on a key's pending delivery */

typedef struct {
    time_t                         due;
    ngx_uint_t                     attempts;
    ngx_str_t                     *text;       /* the alert, as JSON */
    ngx_pool_t                    *pool;       /* get: the text's copy */
    ngx_http_itsm_store_merge_pt   handler;    /* merge */
    void                          *data;
} ngx_http_itsm_store_pend_op_t;


static ngx_int_t ngx_http_itsm_store_pending_merge_txn(
    ngx_http_itsm_store_t *store, MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_pending_get_txn(
    ngx_http_itsm_store_t *store, MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_pending_retry_txn(
    ngx_http_itsm_store_t *store, MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_pending_walk(ngx_http_itsm_store_t *store,
    const char *what, ngx_uint_t flags, ngx_http_itsm_store_pend_each_pt each,
    ngx_http_itsm_store_pend_walk_t *walk);
static ngx_int_t ngx_http_itsm_store_pending_entry(
    ngx_http_itsm_store_t *store, MDB_cursor *cursor, MDB_val *k, MDB_val *v,
    void *data);
static ngx_int_t ngx_http_itsm_store_due(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v,
    ngx_http_itsm_store_pend_t *head, ngx_http_itsm_store_pend_walk_t *walk);
static ngx_int_t ngx_http_itsm_store_count(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v,
    ngx_http_itsm_store_pend_t *head, ngx_http_itsm_store_pend_walk_t *walk);
static ngx_uint_t ngx_http_itsm_store_pend_match(ngx_http_itsm_store_t *store,
    MDB_val *k, ngx_http_itsm_store_pend_walk_t *walk);
static ngx_int_t ngx_http_itsm_store_requeue(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v,
    ngx_http_itsm_store_pend_t *head, ngx_http_itsm_store_pend_walk_t *walk);
static ngx_int_t ngx_http_itsm_store_pending_read(MDB_val *v,
    ngx_http_itsm_store_pend_t *head, ngx_str_t *text);
static ngx_int_t ngx_http_itsm_store_pending_write(
    ngx_http_itsm_store_t *store, MDB_txn *txn, MDB_val *k, time_t due,
    ngx_uint_t attempts, ngx_str_t *text);
static u_char *ngx_http_itsm_store_pending_copy(ngx_http_itsm_store_t *store,
    MDB_val *v, ngx_http_itsm_store_pend_t *head, MDB_val *nv);


/*
 * Changes the key's pending delivery in one write transaction, so that
 * two requests holding alerts of one key at once (two workers) both get
 * theirs in: "handler" sees the entry as it is (NULL text: none) and
 * returns NGX_OK with the new text, due and attempts to write it,
 * NGX_DONE to delete the entry, NGX_DECLINED to leave it as it is.
 */

ngx_int_t
ngx_http_itsm_store_pending_merge(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_store_merge_pt handler,
    void *data)
{
    ngx_http_itsm_store_pend_op_t  op;

    op.handler = handler;
    op.data = data;

    return ngx_http_itsm_store_txn(store, "pending merge",
                                   NGX_HTTP_ITSM_STORE_WRITE, connector, key,
                                   ngx_http_itsm_store_pending_merge_txn, &op);
}


static ngx_int_t
ngx_http_itsm_store_pending_merge_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data)
{
    ngx_http_itsm_store_pend_op_t  *op = data;

    MDB_val                        v;
    ngx_int_t                      rc, rv;
    ngx_str_t                      text, *old;
    ngx_http_itsm_store_pend_t     head;
    ngx_http_itsm_store_pending_t  pend;

    old = NULL;
    ngx_memzero(&pend, sizeof(pend));

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->pending, k, &v);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK
        && ngx_http_itsm_store_pending_read(&v, &head, &text) == NGX_OK)
    {
        old = &text;

        pend.due = head.due;
        pend.attempts = head.attempts;
    }

    rv = op->handler(op->data, old, &pend);

    if (rv == NGX_DECLINED || (rv == NGX_DONE && old == NULL)) {
        return NGX_DECLINED;
    }

    if (rv == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rv == NGX_DONE) {
        rc = ngx_http_itsm_store_mdb_del(store, txn, store->pending, k);

        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
    }

    if (ngx_http_itsm_store_pending_write(store, txn, k, pend.due,
                                          pend.attempts, &pend.text)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* an alert kept is an alert the sender was told is taken */

    return (rv == NGX_OK) ? NGX_HTTP_ITSM_STORE_SYNC : NGX_OK;
}


/* NGX_OK and the pending state copied into "pool"; NGX_DECLINED: none */

ngx_int_t
ngx_http_itsm_store_pending_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, time_t *due,
    ngx_uint_t *attempts, ngx_str_t *alert)
{
    ngx_int_t                      rc;
    ngx_http_itsm_store_pend_op_t  op;

    op.text = alert;
    op.pool = pool;

    rc = ngx_http_itsm_store_txn(store, "pending get",
                                 NGX_HTTP_ITSM_STORE_READ, connector, key,
                                 ngx_http_itsm_store_pending_get_txn, &op);

    if (rc == NGX_OK) {
        *due = op.due;
        *attempts = op.attempts;
    }

    return rc;
}


static ngx_int_t
ngx_http_itsm_store_pending_get_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data)
{
    ngx_http_itsm_store_pend_op_t  *op = data;

    MDB_val                      v;
    ngx_int_t                    rc;
    ngx_str_t                    text, *alert;
    ngx_http_itsm_store_pend_t   head;

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->pending, k, &v);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_itsm_store_pending_read(&v, &head, &text) != NGX_OK) {
        return NGX_DECLINED;
    }

    alert = op->text;

    alert->len = text.len;
    alert->data = ngx_pnalloc(op->pool, alert->len + 1);

    if (alert->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(alert->data, text.data, alert->len);

    op->due = head.due;
    op->attempts = head.attempts;

    return NGX_OK;
}


/* NGX_OK: deleted; NGX_DECLINED: there was none */

ngx_int_t
ngx_http_itsm_store_pending_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key)
{
    return ngx_http_itsm_store_delete(store, "pending del", store->pending,
                                      connector, key);
}


/* a pending delivery that failed is due again at "due" ("key" as stored),
 * one more attempt counted unless it was not "counted" (held back unsent
 * by the connector's limits: nothing was tried) */

ngx_int_t
ngx_http_itsm_store_pending_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *key, time_t due, ngx_uint_t counted)
{
    ngx_http_itsm_store_pend_op_t  op;

    op.due = due;
    op.attempts = counted;

    return ngx_http_itsm_store_txn(store, "pending retry",
                                   NGX_HTTP_ITSM_STORE_WRITE, NULL, key,
                                   ngx_http_itsm_store_pending_retry_txn, &op);
}


static ngx_int_t
ngx_http_itsm_store_pending_retry_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data)
{
    ngx_http_itsm_store_pend_op_t  *op = data;

    u_char                      *copy;
    MDB_val                      v, nv;
    ngx_int_t                    rc;
    ngx_http_itsm_store_pend_t   head;

    if (mdb_get(txn, store->pending, k, &v) != 0
        || ngx_http_itsm_store_pending_read(&v, &head, NULL) != NGX_OK)
    {
        /* delivered or replaced meanwhile */
        return NGX_DECLINED;
    }

    head.due = op->due;
    head.attempts += op->attempts;             /* 0: not counted */

    copy = ngx_http_itsm_store_pending_copy(store, &v, &head, &nv);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_mdb_put(store, txn, store->pending, k, &nv, 0);

    ngx_free(copy);

    return rc;
}


/*
 * Calls "handler" with each pending delivery due at "now" ("key" is the
 * stored key: connector, a zero byte, the correlation key), until it
 * returns something else than NGX_OK; with each dead letter when "now" is
 * NGX_HTTP_ITSM_PENDING_DEAD.
 */

ngx_int_t
ngx_http_itsm_store_pending_due(ngx_http_itsm_store_t *store, time_t now,
    ngx_http_itsm_store_due_pt handler, void *data)
{
    ngx_http_itsm_store_pend_walk_t  walk;

    walk.now = now;
    walk.handler = handler;
    walk.data = data;

    return ngx_http_itsm_store_pending_walk(store, "pending due",
                                            NGX_HTTP_ITSM_STORE_READ,
                                            ngx_http_itsm_store_due, &walk);
}


static ngx_int_t
ngx_http_itsm_store_due(ngx_http_itsm_store_t *store, MDB_cursor *cursor,
    MDB_val *k, MDB_val *v, ngx_http_itsm_store_pend_t *head,
    ngx_http_itsm_store_pend_walk_t *walk)
{
    ngx_str_t  key;

    /* "now" NGX_HTTP_ITSM_PENDING_DEAD: the dead letters only, for the
     * operators' list */

    if (walk->now == NGX_HTTP_ITSM_PENDING_DEAD
        ? head->due != NGX_HTTP_ITSM_PENDING_DEAD : head->due > walk->now)
    {
        return NGX_OK;
    }

    key.data = k->mv_data;
    key.len = k->mv_size;

    return (walk->handler(walk->data, &key, head->attempts) == NGX_OK)
           ? NGX_OK : NGX_DONE;
}


/* how many deliveries wait, and how many of them are dead letters; of
 * "connector" only, or all (NULL) */

ngx_int_t
ngx_http_itsm_store_pending_count(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_uint_t *waiting, ngx_uint_t *dead)
{
    ngx_uint_t                       count[2];
    ngx_http_itsm_store_pend_walk_t  walk;

    count[0] = 0;
    count[1] = 0;

    walk.n = count;
    walk.connector = connector;
    walk.key = NULL;

    if (ngx_http_itsm_store_pending_walk(store, "pending count",
                                         NGX_HTTP_ITSM_STORE_READ,
                                         ngx_http_itsm_store_count, &walk)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *waiting = count[0];
    *dead = count[1];

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_count(ngx_http_itsm_store_t *store, MDB_cursor *cursor,
    MDB_val *k, MDB_val *v, ngx_http_itsm_store_pend_t *head,
    ngx_http_itsm_store_pend_walk_t *walk)
{
    if (ngx_http_itsm_store_pend_match(store, k, walk)) {
        walk->n[head->due == NGX_HTTP_ITSM_PENDING_DEAD]++;
    }

    return NGX_OK;
}


/*
 * Whether the entry "k" is one of those the walk asks for: its connector,
 * and its key as it would be stored for that connector (a long key is
 * stored by its hash); all without either.
 */

static ngx_uint_t
ngx_http_itsm_store_pend_match(ngx_http_itsm_store_t *store, MDB_val *k,
    ngx_http_itsm_store_pend_walk_t *walk)
{
    MDB_val    mine;
    ngx_str_t  connector, key;
    u_char     buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];

    if (walk->connector == NULL && walk->key == NULL) {
        return 1;
    }

    if (ngx_http_itsm_store_key_split(k, &connector, &key) != NGX_OK) {
        return 0;
    }

    if (walk->connector
        && (walk->connector->len != connector.len
            || ngx_strncmp(walk->connector->data, connector.data,
                           connector.len)
               != 0))
    {
        return 0;
    }

    if (walk->key
        && (ngx_http_itsm_store_key(store, &connector, walk->key, buf, &mine)
               != NGX_OK
            || mine.mv_size != k->mv_size
            || ngx_memcmp(mine.mv_data, k->mv_data, k->mv_size) != 0))
    {
        return 0;
    }

    return 1;
}


/*
 * Every dead letter due at "now" again, its attempts counted anew; with
 * "connector" or "key" (else NULL), only those of that connector or key.
 */

ngx_int_t
ngx_http_itsm_store_pending_requeue(ngx_http_itsm_store_t *store, time_t now,
    ngx_str_t *connector, ngx_str_t *key, ngx_uint_t *n)
{
    ngx_http_itsm_store_pend_walk_t  walk;

    *n = 0;

    walk.now = now;
    walk.n = n;
    walk.connector = connector;
    walk.key = key;

    return ngx_http_itsm_store_pending_walk(store, "pending requeue",
                                            NGX_HTTP_ITSM_STORE_WRITE,
                                            ngx_http_itsm_store_requeue,
                                            &walk);
}


static ngx_int_t
ngx_http_itsm_store_requeue(ngx_http_itsm_store_t *store, MDB_cursor *cursor,
    MDB_val *k, MDB_val *v, ngx_http_itsm_store_pend_t *head,
    ngx_http_itsm_store_pend_walk_t *walk)
{
    int       rc;
    u_char   *copy;
    MDB_val   nv;

    if (head->due != NGX_HTTP_ITSM_PENDING_DEAD
        || !ngx_http_itsm_store_pend_match(store, k, walk))
    {
        return NGX_OK;
    }

    head->due = walk->now;
    head->attempts = 0;

    copy = ngx_http_itsm_store_pending_copy(store, v, head, &nv);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    rc = mdb_cursor_put(cursor, k, &nv, MDB_CURRENT);

    ngx_free(copy);

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_cursor_put", rc);
    }

    (*walk->n)++;

    return NGX_OK;
}


/* every pending delivery, in a transaction of its own ("what" and "flags"
 * as for ngx_http_itsm_store_txn), to "each" with its head, while it
 * returns NGX_OK; an entry too short to be one is skipped */

static ngx_int_t
ngx_http_itsm_store_pending_walk(ngx_http_itsm_store_t *store,
    const char *what, ngx_uint_t flags, ngx_http_itsm_store_pend_each_pt each,
    ngx_http_itsm_store_pend_walk_t *walk)
{
    walk->each = each;

    return ngx_http_itsm_store_walk(store, what, flags, store->pending,
                                    ngx_http_itsm_store_pending_entry, walk);
}


static ngx_int_t
ngx_http_itsm_store_pending_entry(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data)
{
    ngx_http_itsm_store_pend_walk_t  *walk = data;

    ngx_http_itsm_store_pend_t  head;

    if (ngx_http_itsm_store_pending_read(v, &head, NULL) != NGX_OK) {
        return NGX_OK;
    }

    return walk->each(store, cursor, k, v, &head, walk);
}


/* a pending delivery as read: its head and (unless "text" is NULL) its
 * alert, in LMDB's memory; NGX_DECLINED: too short to be one */

static ngx_int_t
ngx_http_itsm_store_pending_read(MDB_val *v, ngx_http_itsm_store_pend_t *head,
    ngx_str_t *text)
{
    if (v->mv_size < sizeof(ngx_http_itsm_store_pend_t)) {
        return NGX_DECLINED;
    }

    /* LMDB data is not aligned for us */
    ngx_memcpy(head, v->mv_data, sizeof(ngx_http_itsm_store_pend_t));

    if (text) {
        text->data = (u_char *) v->mv_data + sizeof(ngx_http_itsm_store_pend_t);
        text->len = ngx_min(head->len,
                            v->mv_size - sizeof(ngx_http_itsm_store_pend_t));
    }

    return NGX_OK;
}


/* writes the pending delivery of "k" in the transaction */

static ngx_int_t
ngx_http_itsm_store_pending_write(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, time_t due, ngx_uint_t attempts, ngx_str_t *text)
{
    MDB_val                      v;
    ngx_http_itsm_store_pend_t   head;

    head.due = due;
    head.attempts = (uint32_t) attempts;
    head.len = (uint32_t) text->len;

    v.mv_size = sizeof(head) + text->len;
    v.mv_data = NULL;

    /* MDB_RESERVE: LMDB gives the space, the value is written in place */

    if (ngx_http_itsm_store_mdb_put(store, txn, store->pending, k, &v,
                                    MDB_RESERVE)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(v.mv_data, &head, sizeof(head));
    ngx_memcpy((u_char *) v.mv_data + sizeof(head), text->data, text->len);

    return NGX_OK;
}


/* "v" with "head" in place of its own, in a copy ("nv"; the caller frees
 * it): the value LMDB returned is not ours to write to */

static u_char *
ngx_http_itsm_store_pending_copy(ngx_http_itsm_store_t *store, MDB_val *v,
    ngx_http_itsm_store_pend_t *head, MDB_val *nv)
{
    u_char  *copy;

    copy = ngx_alloc(v->mv_size, store->log);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, v->mv_data, v->mv_size);
    ngx_memcpy(copy, head, sizeof(ngx_http_itsm_store_pend_t));

    nv->mv_data = copy;
    nv->mv_size = v->mv_size;

    return copy;
}
