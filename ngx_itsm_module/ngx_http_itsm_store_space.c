
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


/* how the store's pages are used */

typedef struct {
    MDB_envinfo                  info;
    MDB_stat                     st;           /* the keys' table */
    ngx_uint_t                   walk;         /* count the free pages */
    size_t                       free;         /* pages on the free list */
} ngx_http_itsm_store_pages_t;


/* one step of the expiry: the keys read, to be deleted if still expired */

typedef struct {
    time_t                       before;
    ngx_uint_t                   scan;         /* at most, records read */
    u_char                      *found;        /* keys, KEY_MAX bytes each */
    size_t                      *lens;
    ngx_uint_t                   n;
    ngx_uint_t                   expired;
    ngx_uint_t                   more;         /* the pass goes on */
} ngx_http_itsm_store_expire_t;


static ngx_int_t ngx_http_itsm_store_pages(ngx_http_itsm_store_t *store,
    const char *what, ngx_http_itsm_store_pages_t *pg);
static ngx_int_t ngx_http_itsm_store_pages_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_free_pages(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data);
static ngx_int_t ngx_http_itsm_store_expire_scan(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_expire_delete(
    ngx_http_itsm_store_t *store, MDB_txn *txn, MDB_val *k, void *data);
static ngx_uint_t ngx_http_itsm_store_expirable(MDB_val *v, time_t before);


/* store size in use, in bytes, and the number of keys */

ngx_int_t
ngx_http_itsm_store_usage(ngx_http_itsm_store_t *store, size_t *bytes,
    size_t *keys)
{
    ngx_http_itsm_store_pages_t  pg;

    pg.walk = 0;

    if (ngx_http_itsm_store_pages(store, "usage", &pg) != NGX_OK) {
        return NGX_ERROR;
    }

    *keys = pg.st.ms_entries;
    *bytes = (pg.info.me_last_pgno + 1) * pg.st.ms_psize;

    return NGX_OK;
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
    size_t                       pages;
    ngx_http_itsm_store_pages_t  pg;

    pg.walk = 1;

    if (ngx_http_itsm_store_pages(store, "space", &pg) != NGX_OK) {
        return NGX_ERROR;
    }

    pages = pg.info.me_last_pgno + 1;

    space->size = pg.info.me_mapsize;
    space->used = (pages > pg.free ? pages - pg.free : 0) * pg.st.ms_psize;
    space->keys = pg.st.ms_entries;

    return NGX_OK;
}


/* the environment's pages, the keys' table, and (with "walk") the pages
 * on the free list, in one read */

static ngx_int_t
ngx_http_itsm_store_pages(ngx_http_itsm_store_t *store, const char *what,
    ngx_http_itsm_store_pages_t *pg)
{
    int  rc;

    rc = mdb_env_info(store->env, &pg->info);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_info", rc);
    }

    pg->free = 0;

    return ngx_http_itsm_store_txn(store, what, NGX_HTTP_ITSM_STORE_READ, NULL,
                                   NULL, ngx_http_itsm_store_pages_txn, pg);
}


static ngx_int_t
ngx_http_itsm_store_pages_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_http_itsm_store_pages_t  *pg = data;

    int  rc;

    rc = mdb_stat(txn, store->dbi, &pg->st);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_stat", rc);
    }

    if (!pg->walk) {
        return NGX_OK;
    }

    return ngx_http_itsm_store_each(store, txn, 0,
                                    ngx_http_itsm_store_free_pages,
                                    &pg->free);
}


/* an entry of the free list: a count of page numbers, then the numbers */

static ngx_int_t
ngx_http_itsm_store_free_pages(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data)
{
    size_t  *free = data;

    if (v->mv_size >= sizeof(size_t)) {
        *free += *(size_t *) v->mv_data;
    }

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
    ngx_int_t                     rc;
    ngx_http_itsm_store_expire_t  ex;

    *expired = 0;

    ex.found = ngx_alloc(scan * (NGX_HTTP_ITSM_STORE_KEY_MAX + sizeof(size_t)),
                         store->log);
    if (ex.found == NULL) {
        return NGX_ERROR;
    }

    ex.lens = (size_t *) (ex.found + scan * NGX_HTTP_ITSM_STORE_KEY_MAX);
    ex.before = before;
    ex.scan = scan;
    ex.n = 0;
    ex.expired = 0;
    ex.more = 0;

    rc = ngx_http_itsm_store_txn(store, "expire scan",
                                 NGX_HTTP_ITSM_STORE_READ, NULL, NULL,
                                 ngx_http_itsm_store_expire_scan, &ex);

    if (rc == NGX_OK && ex.n) {
        rc = ngx_http_itsm_store_txn(store, "expire delete",
                                     NGX_HTTP_ITSM_STORE_WRITE, NULL, NULL,
                                     ngx_http_itsm_store_expire_delete, &ex);
    }

    ngx_free(ex.found);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    *expired = ex.expired;

    return ex.more ? NGX_AGAIN : NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_expire_scan(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *nokey, void *data)
{
    ngx_http_itsm_store_expire_t  *ex = data;

    int           rc;
    MDB_val       k, v;
    ngx_uint_t    seen;
    MDB_cursor   *cursor;

    rc = mdb_cursor_open(txn, store->dbi, &cursor);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    if (store->expire_len) {
        k.mv_data = store->expire_pos;
        k.mv_size = store->expire_len;
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);

    } else {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    }

    for (seen = 0; rc == 0 && seen < ex->scan; seen++) {

        if (k.mv_size <= NGX_HTTP_ITSM_STORE_KEY_MAX
            && ngx_http_itsm_store_expirable(&v, ex->before))
        {
            ngx_memcpy(ex->found + ex->n * NGX_HTTP_ITSM_STORE_KEY_MAX,
                       k.mv_data, k.mv_size);
            ex->lens[ex->n++] = k.mv_size;
        }

        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }

    /* the next step starts at the first key not read (it may be gone by
     * then: MDB_SET_RANGE finds the one after it) */

    ex->more = (rc == 0 && k.mv_size <= NGX_HTTP_ITSM_STORE_KEY_MAX);

    if (ex->more) {
        ngx_memcpy(store->expire_pos, k.mv_data, k.mv_size);
        store->expire_len = k.mv_size;

    } else {
        store->expire_len = 0;
    }

    mdb_cursor_close(cursor);

    if (rc != 0 && rc != MDB_NOTFOUND) {
        return ngx_http_itsm_store_failed(store, "mdb_cursor_get", rc);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_expire_delete(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *nokey, void *data)
{
    ngx_http_itsm_store_expire_t  *ex = data;

    u_char                  *p;
    MDB_val                  k, v, pv;
    ngx_int_t                rc;
    ngx_uint_t               i;
    ngx_http_itsm_record_t   rec;

    for (i = 0; i < ex->n; i++) {
        p = ex->found + i * NGX_HTTP_ITSM_STORE_KEY_MAX;

        k.mv_data = p;
        k.mv_size = ex->lens[i];

        rc = ngx_http_itsm_store_mdb_get(store, txn, store->dbi, &k, &v);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED
            || !ngx_http_itsm_store_expirable(&v, ex->before))
        {
            continue;                           /* gone or changed since */
        }

        /* a delivery waits for the key: it decides from the key's state */

        rc = ngx_http_itsm_store_mdb_get(store, txn, store->pending, &k, &pv);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        /* the "tickets" entries that name the key go with it */

        if (ngx_http_itsm_store_decode_any(&v, &rec) == NGX_OK
            && ngx_http_itsm_store_ticket_forget(store, txn, &k, &rec.ticket)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* and what the way back kept of its alert (a silence's id):
         * a key made anew starts without it (ngx_http_itsm_store_source.c) */

        if (ngx_http_itsm_store_mdb_del(store, txn, store->sources, &k)
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        if (ngx_http_itsm_store_mdb_del(store, txn, store->dbi, &k) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm expire: connector \"%s\" key \"%*s\"", p,
                       ex->lens[i] - ngx_strlen(p) - 1, p + ngx_strlen(p) + 1);

        ex->expired++;
    }

    return NGX_OK;
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
