
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/*
 * How full the store is (the status page, the expiry's warning), and the
 * steps of the expiry of resolved keys; the timer that takes the steps and
 * the retention are in ngx_http_itsm_expire.c.
 */


static ngx_uint_t ngx_http_itsm_store_expirable(MDB_val *v, time_t before);


/* store size in use, in bytes, and the number of keys */

ngx_int_t
ngx_http_itsm_store_usage(ngx_http_itsm_store_t *store, size_t *bytes,
    size_t *keys)
{
    int           rc;
    MDB_stat      st;
    MDB_envinfo   info;

    rc = mdb_env_info(store->env, &info);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_info", rc);
    }

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    rc = mdb_stat(store->reader, store->dbi, &st);

    mdb_txn_reset(store->reader);

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_stat", rc);
    }

    *keys = st.ms_entries;
    *bytes = (info.me_last_pgno + 1) * st.ms_psize;

    return NGX_OK;
}


/*
 * One step of the expiry of resolved keys (ngx_http_itsm_expire.c): reads
 * at most "scan" records from where the last step stopped, in the read
 * transaction, then deletes those that expired at "before" in one short
 * write transaction, which reads each again (a key may have been claimed
 * or have fired since).  NGX_AGAIN: more to read; NGX_OK: the pass is over
 * (the next one starts at the first key).
 */

ngx_int_t
ngx_http_itsm_store_expire(ngx_http_itsm_store_t *store, time_t before,
    ngx_uint_t scan, ngx_uint_t *expired)
{
    int           rc;
    u_char       *found, *p;
    size_t       *lens;
    MDB_val       k, v, pv;
    MDB_txn      *txn;
    ngx_int_t     more;
    ngx_uint_t    i, n, seen;
    MDB_cursor   *cursor;

    *expired = 0;

    found = ngx_alloc(scan * (NGX_HTTP_ITSM_STORE_KEY_MAX + sizeof(size_t)),
                      store->log);
    if (found == NULL) {
        return NGX_ERROR;
    }

    lens = (size_t *) (found + scan * NGX_HTTP_ITSM_STORE_KEY_MAX);

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        ngx_free(found);
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    rc = mdb_cursor_open(store->reader, store->dbi, &cursor);
    if (rc != 0) {
        mdb_txn_reset(store->reader);
        ngx_free(found);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    if (store->expire_len) {
        k.mv_data = store->expire_pos;
        k.mv_size = store->expire_len;
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);

    } else {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    }

    n = 0;

    for (seen = 0; rc == 0 && seen < scan; seen++) {

        if (k.mv_size <= NGX_HTTP_ITSM_STORE_KEY_MAX
            && ngx_http_itsm_store_expirable(&v, before))
        {
            ngx_memcpy(found + n * NGX_HTTP_ITSM_STORE_KEY_MAX, k.mv_data,
                       k.mv_size);
            lens[n++] = k.mv_size;
        }

        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }

    /* the next step starts at the first key not read (it may be gone by
     * then: MDB_SET_RANGE finds the one after it) */

    more = (rc == 0 && k.mv_size <= NGX_HTTP_ITSM_STORE_KEY_MAX);

    if (more) {
        ngx_memcpy(store->expire_pos, k.mv_data, k.mv_size);
        store->expire_len = k.mv_size;

    } else {
        store->expire_len = 0;
    }

    mdb_cursor_close(cursor);
    mdb_txn_reset(store->reader);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        ngx_free(found);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_get", rc);
    }

    if (n == 0) {
        ngx_free(found);
        return more ? NGX_AGAIN : NGX_OK;
    }

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        ngx_free(found);
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    for (i = 0; i < n; i++) {
        p = found + i * NGX_HTTP_ITSM_STORE_KEY_MAX;

        k.mv_data = p;
        k.mv_size = lens[i];

        rc = mdb_get(txn, store->dbi, &k, &v);

        if (rc == MDB_NOTFOUND) {
            continue;
        }

        if (rc != 0) {
            goto failed;
        }

        if (!ngx_http_itsm_store_expirable(&v, before)) {
            continue;                           /* changed since */
        }

        /* a delivery waits for the key: it decides from the key's state */

        rc = mdb_get(txn, store->pending, &k, &pv);

        if (rc == 0) {
            continue;
        }

        if (rc != MDB_NOTFOUND) {
            goto failed;
        }

        rc = mdb_del(txn, store->dbi, &k, NULL);
        if (rc != 0) {
            goto failed;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm expire: connector \"%s\" key \"%*s\"", p,
                       lens[i] - ngx_strlen(p) - 1, p + ngx_strlen(p) + 1);

        (*expired)++;
    }

    ngx_free(found);

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        *expired = 0;
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    return more ? NGX_AGAIN : NGX_OK;

failed:

    mdb_txn_abort(txn);
    ngx_free(found);
    *expired = 0;

    return ngx_http_itsm_store_failed(store, "mdb_get/mdb_del", rc);
}


/*
 * A resolved key that no request holds, with no create in doubt (the next
 * create must ask the ITSM first: the record remembers it), unchanged since
 * "before".  A record of a format this code does not know is kept: it is
 * not ours to judge; so are the records of keys that never had a ticket,
 * which carry no time to count from.
 */

static ngx_uint_t
ngx_http_itsm_store_expirable(MDB_val *v, time_t before)
{
    ngx_http_itsm_record_t  rec;

    if (ngx_http_itsm_store_decode_any(v, &rec) != NGX_OK) {
        return 0;
    }

    if (rec.pending) {
        return 0;
    }

    /* a key that never got its ticket (a refused create, a doubt whose
     * alert never came again) is forgotten after the retention as well */

    if (rec.state == NGX_HTTP_ITSM_KEY_NONE) {
        return ngx_max(rec.doubt, rec.last_seen) <= before;
    }

    return rec.state == NGX_HTTP_ITSM_KEY_RESOLVED
           && rec.doubt == 0
           && ngx_max(rec.resolved_at, rec.last_seen) <= before;
}


/*
 * How full the store is.  LMDB reuses the pages that deletes freed, so the
 * file's size says little: what is used is every page up to the last one
 * written, less the pages on LMDB's free list (its table 0).
 */

ngx_int_t
ngx_http_itsm_store_space(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_space_t *space)
{
    int           rc;
    size_t        pages, free;
    MDB_val       k, v;
    MDB_stat      st;
    MDB_envinfo   info;
    MDB_cursor   *cursor;

    rc = mdb_env_info(store->env, &info);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_info", rc);
    }

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    rc = mdb_stat(store->reader, store->dbi, &st);
    if (rc != 0) {
        mdb_txn_reset(store->reader);
        return ngx_http_itsm_store_failed(store, "mdb_stat", rc);
    }

    free = 0;

    rc = mdb_cursor_open(store->reader, 0, &cursor);
    if (rc != 0) {
        mdb_txn_reset(store->reader);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    /* each entry: a count of page numbers, then the numbers */

    while (mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {
        if (v.mv_size >= sizeof(size_t)) {
            free += *(size_t *) v.mv_data;
        }
    }

    mdb_cursor_close(cursor);
    mdb_txn_reset(store->reader);

    pages = info.me_last_pgno + 1;

    space->size = info.me_mapsize;
    space->used = (pages > free ? pages - free : 0) * st.ms_psize;
    space->keys = st.ms_entries;

    return NGX_OK;
}
