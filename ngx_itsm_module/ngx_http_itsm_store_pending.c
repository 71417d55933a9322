
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


typedef ngx_int_t (*ngx_http_itsm_store_walk_pt)(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head);


typedef struct {
    time_t                       now;
    ngx_http_itsm_store_due_pt   handler;
    void                        *data;
} ngx_http_itsm_store_due_t;


static ngx_int_t ngx_http_itsm_store_pending_walk(
    ngx_http_itsm_store_t *store, ngx_http_itsm_store_walk_pt handler,
    void *data);
static ngx_int_t ngx_http_itsm_store_due(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head);
static ngx_int_t ngx_http_itsm_store_count(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head);


/* the latest state of "key", delivered at "due" (a cooldown's end) */

ngx_int_t
ngx_http_itsm_store_pending_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, time_t due, ngx_uint_t attempts,
    ngx_str_t *alert)
{
    int                          rc;
    u_char                       buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                      k, v;
    MDB_txn                     *txn;
    ngx_http_itsm_store_pend_t   head;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    head.due = due;
    head.attempts = (uint32_t) attempts;
    head.len = (uint32_t) alert->len;

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    v.mv_size = sizeof(head) + alert->len;
    v.mv_data = NULL;

    /* MDB_RESERVE: LMDB gives the space, the value is written in place */

    rc = mdb_put(txn, store->pending, &k, &v, MDB_RESERVE);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_put", rc);
    }

    ngx_memcpy(v.mv_data, &head, sizeof(head));
    ngx_memcpy((u_char *) v.mv_data + sizeof(head), alert->data, alert->len);

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    rc = mdb_env_sync(store->env, 1);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_sync", rc);
    }

    return NGX_OK;
}


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
    int                          rc;
    u_char                       buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                      k, v;
    MDB_txn                     *txn;
    ngx_int_t                    rv;
    ngx_str_t                    text, *old;
    ngx_http_itsm_store_pend_t   head;
    ngx_http_itsm_store_pending_t  pend;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    old = NULL;
    ngx_memzero(&pend, sizeof(pend));

    rc = mdb_get(txn, store->pending, &k, &v);

    if (rc == 0 && v.mv_size >= sizeof(head)) {
        ngx_memcpy(&head, v.mv_data, sizeof(head));

        text.data = (u_char *) v.mv_data + sizeof(head);
        text.len = ngx_min(head.len, v.mv_size - sizeof(head));
        old = &text;

        pend.due = head.due;
        pend.attempts = head.attempts;

    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_get", rc);
    }

    rv = handler(data, old, &pend);

    if (rv == NGX_DECLINED || (rv == NGX_DONE && old == NULL)) {
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    if (rv == NGX_ERROR) {
        mdb_txn_abort(txn);
        return NGX_ERROR;
    }

    if (rv == NGX_DONE) {
        rc = mdb_del(txn, store->pending, &k, NULL);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return ngx_http_itsm_store_failed(store, "mdb_del", rc);
        }

    } else {
        head.due = pend.due;
        head.attempts = (uint32_t) pend.attempts;
        head.len = (uint32_t) pend.text.len;

        v.mv_size = sizeof(head) + pend.text.len;
        v.mv_data = NULL;

        rc = mdb_put(txn, store->pending, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return ngx_http_itsm_store_failed(store, "mdb_put", rc);
        }

        ngx_memcpy(v.mv_data, &head, sizeof(head));
        ngx_memcpy((u_char *) v.mv_data + sizeof(head), pend.text.data,
                   pend.text.len);
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    /* an alert kept is an alert the sender was told is taken */

    if (rv == NGX_OK) {
        rc = mdb_env_sync(store->env, 1);
        if (rc != 0) {
            return ngx_http_itsm_store_failed(store, "mdb_env_sync", rc);
        }
    }

    return NGX_OK;
}


/* NGX_OK and the pending state copied into "pool"; NGX_DECLINED: none */

ngx_int_t
ngx_http_itsm_store_pending_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, time_t *due,
    ngx_uint_t *attempts, ngx_str_t *alert)
{
    int                          rc;
    u_char                       buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                      k, v;
    ngx_int_t                    found;
    ngx_http_itsm_store_pend_t   head;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    found = NGX_DECLINED;
    rc = mdb_get(store->reader, store->pending, &k, &v);

    if (rc == 0 && v.mv_size >= sizeof(head)) {
        ngx_memcpy(&head, v.mv_data, sizeof(head));

        alert->len = ngx_min(head.len, v.mv_size - sizeof(head));
        alert->data = ngx_pnalloc(pool, alert->len + 1);

        if (alert->data == NULL) {
            found = NGX_ERROR;

        } else {
            ngx_memcpy(alert->data, (u_char *) v.mv_data + sizeof(head),
                       alert->len);
            *due = head.due;
            *attempts = head.attempts;
            found = NGX_OK;
        }

    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        found = ngx_http_itsm_store_failed(store, "mdb_get", rc);
    }

    mdb_txn_reset(store->reader);

    return found;
}


ngx_int_t
ngx_http_itsm_store_pending_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key)
{
    int       rc;
    u_char    buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val   k;
    MDB_txn  *txn;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    rc = mdb_del(txn, store->pending, &k, NULL);

    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_del", rc);
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    return NGX_OK;
}


/* a pending delivery that failed is due again at "due" ("key" as stored) */

ngx_int_t
ngx_http_itsm_store_pending_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *key, time_t due)
{
    int                          rc;
    u_char                      *copy;
    MDB_val                      k, v;
    MDB_txn                     *txn;
    ngx_http_itsm_store_pend_t   head;

    k.mv_data = key->data;
    k.mv_size = key->len;

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    rc = mdb_get(txn, store->pending, &k, &v);

    if (rc != 0 || v.mv_size < sizeof(head)) {
        /* delivered or replaced meanwhile */
        mdb_txn_abort(txn);
        return NGX_DECLINED;
    }

    /* a copy: the value LMDB returned is not ours to write to */

    copy = ngx_alloc(v.mv_size, store->log);
    if (copy == NULL) {
        mdb_txn_abort(txn);
        return NGX_ERROR;
    }

    ngx_memcpy(copy, v.mv_data, v.mv_size);
    ngx_memcpy(&head, copy, sizeof(head));

    head.due = due;
    head.attempts++;

    ngx_memcpy(copy, &head, sizeof(head));
    v.mv_data = copy;

    rc = mdb_put(txn, store->pending, &k, &v, 0);

    ngx_free(copy);

    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_put", rc);
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    return NGX_OK;
}


/*
 * Calls "handler" with each pending delivery due at "now" ("key" is the
 * stored key: connector, a zero byte, the correlation key), until it
 * returns something else than NGX_OK.
 */

ngx_int_t
ngx_http_itsm_store_pending_due(ngx_http_itsm_store_t *store, time_t now,
    ngx_http_itsm_store_due_pt handler, void *data)
{
    ngx_http_itsm_store_due_t  due;

    due.now = now;
    due.handler = handler;
    due.data = data;

    return ngx_http_itsm_store_pending_walk(store, ngx_http_itsm_store_due,
                                            &due);
}


static ngx_int_t
ngx_http_itsm_store_due(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head)
{
    ngx_http_itsm_store_due_t *due = data;

    if (head->due > due->now) {
        return NGX_OK;
    }

    return due->handler(due->data, key, head->attempts);
}


/* every pending delivery, in a read transaction, until "handler" says
 * something else than NGX_OK */

static ngx_int_t
ngx_http_itsm_store_pending_walk(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_walk_pt handler, void *data)
{
    int                          rc;
    MDB_val                      k, v;
    ngx_str_t                    key;
    MDB_cursor                  *cursor;
    ngx_http_itsm_store_pend_t   head;

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    rc = mdb_cursor_open(store->reader, store->pending, &cursor);
    if (rc != 0) {
        mdb_txn_reset(store->reader);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    while (mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {

        if (v.mv_size < sizeof(head)) {
            continue;
        }

        ngx_memcpy(&head, v.mv_data, sizeof(head));

        key.data = k.mv_data;
        key.len = k.mv_size;

        if (handler(data, &key, &head) != NGX_OK) {
            break;
        }
    }

    mdb_cursor_close(cursor);
    mdb_txn_reset(store->reader);

    return NGX_OK;
}


/* how many deliveries wait, and how many of them are dead letters */

ngx_int_t
ngx_http_itsm_store_pending_count(ngx_http_itsm_store_t *store,
    ngx_uint_t *waiting, ngx_uint_t *dead)
{
    ngx_uint_t  count[2];

    count[0] = 0;
    count[1] = 0;

    if (ngx_http_itsm_store_pending_walk(store, ngx_http_itsm_store_count,
                                         count)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *waiting = count[0];
    *dead = count[1];

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_count(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head)
{
    ngx_uint_t *count = data;

    count[head->due == NGX_HTTP_ITSM_PENDING_DEAD]++;

    return NGX_OK;
}


/* every dead letter due at "now" again, its attempts counted anew */

ngx_int_t
ngx_http_itsm_store_pending_requeue(ngx_http_itsm_store_t *store, time_t now,
    ngx_uint_t *n)
{
    int                          rc;
    u_char                      *copy;
    MDB_val                      k, v, nv;
    MDB_txn                     *txn;
    MDB_cursor                  *cursor;
    ngx_http_itsm_store_pend_t   head;

    *n = 0;

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    rc = mdb_cursor_open(txn, store->pending, &cursor);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    while (mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {

        if (v.mv_size < sizeof(head)) {
            continue;
        }

        ngx_memcpy(&head, v.mv_data, sizeof(head));

        if (head.due != NGX_HTTP_ITSM_PENDING_DEAD) {
            continue;
        }

        head.due = now;
        head.attempts = 0;

        /* a copy: the value LMDB returned is not ours to write to */

        copy = ngx_alloc(v.mv_size, store->log);
        if (copy == NULL) {
            mdb_cursor_close(cursor);
            mdb_txn_abort(txn);
            return NGX_ERROR;
        }

        ngx_memcpy(copy, v.mv_data, v.mv_size);
        ngx_memcpy(copy, &head, sizeof(head));

        nv.mv_data = copy;
        nv.mv_size = v.mv_size;

        rc = mdb_cursor_put(cursor, &k, &nv, MDB_CURRENT);

        ngx_free(copy);

        if (rc != 0) {
            mdb_cursor_close(cursor);
            mdb_txn_abort(txn);
            return ngx_http_itsm_store_failed(store, "mdb_cursor_put", rc);
        }

        (*n)++;
    }

    mdb_cursor_close(cursor);

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    return NGX_OK;
}
