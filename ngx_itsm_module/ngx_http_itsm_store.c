
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_conf.h"

#include <ngx_md5.h>


/*
 * The alert -> ticket map: one LMDB file shared by all workers.  LMDB gives
 * multi-process transactions in one file, lock-free readers, and survives a
 * crashed worker, a reload and a restart.  The environment is opened in
 * each worker after fork (LMDB handles must not cross a fork).
 *
 * The store's files: this one opens the environment, runs the
 * transactions, builds the keys and logs the failures; the check at load
 * that the workers can open it is in ngx_http_itsm_store_check.c, the
 * records and their claims in ngx_http_itsm_store_record.c, the pending
 * deliveries in ngx_http_itsm_store_pending.c, the space and the expiry's
 * steps in ngx_http_itsm_store_space.c.
 */


typedef struct {
    MDB_dbi                      dbi;
    ngx_http_itsm_store_each_pt  handler;
    void                        *data;
} ngx_http_itsm_store_walk_t;


static ngx_int_t ngx_http_itsm_store_run(ngx_http_itsm_store_t *store,
    ngx_uint_t flags, ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_store_txn_pt handler, void *data);
#if (NGX_DEBUG)
static void ngx_http_itsm_store_debug(ngx_http_itsm_store_t *store,
    const char *what, ngx_str_t *connector, ngx_str_t *key, ngx_int_t rc);
#endif
static ngx_int_t ngx_http_itsm_store_tables(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_walk_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_delete_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_result(ngx_http_itsm_store_t *store,
    const char *what, int rc);
static ngx_int_t ngx_http_itsm_store_full(ngx_http_itsm_store_t *store,
    const char *what);


ngx_http_itsm_store_t *
ngx_http_itsm_store_create(ngx_conf_t *cf, ngx_str_t *path, size_t size,
    time_t lease)
{
    ngx_http_itsm_store_t  *store;

    store = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_store_t));
    if (store == NULL) {
        return NULL;
    }

#if (NGX_HTTP_ITSM_STORE_ASYNC_TEST)
    store->ops = &ngx_http_itsm_store_posted_ops;
#else
    store->ops = &ngx_http_itsm_store_lmdb_ops;
#endif
    store->path = *path;
    store->size = size;
    store->lease = lease;
    store->file = cf->conf_file->file.name.data;
    store->line = cf->conf_file->line;

#if (NGX_THREADS)
    /* the flushes run in nginx's "default" pool (a "thread_pool default"
     * block sizes it; one thread is all the store uses at a time) */

    store->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (store->thread_pool == NULL) {
        return NULL;
    }
#endif

    return store;
}


ngx_int_t
ngx_http_itsm_store_open(ngx_cycle_t *cycle, ngx_http_itsm_store_t *store)
{
    int  rc;

    store->log = cycle->log;

    rc = mdb_env_create(&store->env);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_create", rc);
    }

    rc = mdb_env_set_mapsize(store->env, store->size);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_set_mapsize", rc);
    }

    rc = mdb_env_set_maxdbs(store->env, 4);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_set_maxdbs", rc);
    }

    /*
     * MDB_NOSYNC: claims need no flush (a lost claim just expires); the
     * commits that record a ticket are flushed by ngx_http_itsm_store_txn()
     * (their handlers return NGX_HTTP_ITSM_STORE_SYNC), or, for claims and
     * commits, off the event loop (ngx_http_itsm_store_sync).
     * MDB_NOTLS: a worker keeps one read transaction and renews it.
     */

    rc = mdb_env_open(store->env, (char *) store->path.data,
                      MDB_NOSUBDIR|MDB_NOSYNC|MDB_NOTLS, 0600);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_open", rc);
    }

    /* readers left in the lock table by a worker that crashed */
    (void) mdb_reader_check(store->env, NULL);

    if (ngx_http_itsm_store_txn(store, "open", NGX_HTTP_ITSM_STORE_WRITE,
                                NULL, NULL, ngx_http_itsm_store_tables, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    mdb_txn_reset(store->reader);

#if (NGX_HTTP_ITSM_STORE_ASYNC_TEST)
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "itsm_store: a test build (util/build.sh async): the "
                  "store's get, claim, doubt and commit answer through a "
                  "posted event");
#endif

    return NGX_OK;
}


/* the tables, created in the first worker's first transaction ("tickets":
 * ngx_http_itsm_store_ticket*.c, "sources": ngx_http_itsm_store_source.c) */

static ngx_int_t
ngx_http_itsm_store_tables(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    int  rc;

    rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &store->dbi);

    if (rc == 0) {
        rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &store->pending);
    }

    if (rc == 0) {
        rc = mdb_dbi_open(txn, "tickets", MDB_CREATE, &store->tickets);
    }

    if (rc == 0) {
        rc = mdb_dbi_open(txn, "sources", MDB_CREATE, &store->sources);
    }

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_dbi_open", rc);
    }

    return NGX_OK;
}


void
ngx_http_itsm_store_close(ngx_http_itsm_store_t *store)
{
    if (store->env == NULL) {
        return;
    }

    if (store->reader) {
        mdb_txn_abort(store->reader);
        store->reader = NULL;
    }

    mdb_env_sync(store->env, 1);
    mdb_env_close(store->env);
    store->env = NULL;
}


/*
 * Every read and every write of the store: "handler" runs in a
 * transaction, with the key "connector \0 key" (no connector: "key" as
 * stored; neither: no key).
 *
 * NGX_HTTP_ITSM_STORE_READ: in the worker's read transaction, renewed for
 * "handler" and reset after it, so that it holds no old snapshot between
 * reads; what "handler" returns is returned.
 *
 * NGX_HTTP_ITSM_STORE_WRITE: in a write transaction (LMDB has one writer at
 * a time, across the workers), committed or aborted as "handler" says (see
 * NGX_HTTP_ITSM_STORE_SYNC).  The store is opened with MDB_NOSYNC: a commit
 * that must survive a crash (a ticket recorded, an alert the sender is told
 * is taken, a create that may be in flight) is flushed here, before the
 * caller answers anyone.
 *
 * A failing LMDB call is logged where it fails; with --with-debug, each
 * transaction is logged with "what" it is for, its key and its result.
 */

ngx_int_t
ngx_http_itsm_store_txn(ngx_http_itsm_store_t *store, const char *what,
    ngx_uint_t flags, ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_store_txn_pt handler, void *data)
{
    ngx_int_t  rc;

    /* a store on Redis has no LMDB environment: what would reach it is
     * refused by nginx -t (ngx_http_itsm_store_redis_check); this is the
     * net under that check */

    if (store->on_redis) {
        ngx_log_error(NGX_LOG_ALERT, store->log, 0,
                      "itsm_store redis: \"%s\" needs an LMDB store",
                      what);
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_run(store, flags, connector, key, handler, data);

#if (NGX_DEBUG)
    ngx_http_itsm_store_debug(store, what, connector, key, rc);
#endif

    return rc;
}


static ngx_int_t
ngx_http_itsm_store_run(ngx_http_itsm_store_t *store, ngx_uint_t flags,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_store_txn_pt handler,
    void *data)
{
    int        rc;
    u_char     buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val    k;
    MDB_txn   *txn;
    ngx_int_t  rv;

    k.mv_data = NULL;
    k.mv_size = 0;

    store->last_sync = 0;

    if (connector) {
        if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (key) {
        k.mv_data = key->data;
        k.mv_size = key->len;
    }

    if (flags & NGX_HTTP_ITSM_STORE_READ) {
        rc = mdb_txn_renew(store->reader);
        if (rc != 0) {
            return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
        }

        rv = handler(store, store->reader, &k, data);

        mdb_txn_reset(store->reader);

        return rv;
    }

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    /* before the transaction writes anything, and while no other can */

    ngx_http_itsm_store_space_ahead(store);

    rv = handler(store, txn, &k, data);

    if (rv != NGX_OK && rv != NGX_HTTP_ITSM_STORE_SYNC) {
        mdb_txn_abort(txn);
        return (rv == NGX_DONE) ? NGX_OK : rv;
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    store->last_sync = 0;

    if (rv != NGX_HTTP_ITSM_STORE_SYNC) {
        return NGX_OK;
    }

    store->committed++;

#if (NGX_THREADS)

    /* the caller waits for this commit's flush, off the event loop */

    if (flags & NGX_HTTP_ITSM_STORE_DEFER) {
        store->last_sync = store->committed;
        return NGX_OK;
    }

#endif

    return ngx_http_itsm_store_flush_now(store);
}


/*
 * Calls "handler" with every entry of the table "dbi", in the order of the
 * keys, in a transaction of its own ("what" and "flags" as for
 * ngx_http_itsm_store_txn), while it returns NGX_OK; NGX_DONE ends the walk
 * (NGX_OK is returned), anything else ends it and is returned.
 */

ngx_int_t
ngx_http_itsm_store_walk(ngx_http_itsm_store_t *store, const char *what,
    ngx_uint_t flags, MDB_dbi dbi, ngx_http_itsm_store_each_pt handler,
    void *data)
{
    ngx_http_itsm_store_walk_t  walk;

    walk.dbi = dbi;
    walk.handler = handler;
    walk.data = data;

    return ngx_http_itsm_store_txn(store, what, flags, NULL, NULL,
                                   ngx_http_itsm_store_walk_txn, &walk);
}


static ngx_int_t
ngx_http_itsm_store_walk_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_http_itsm_store_walk_t  *walk = data;

    return ngx_http_itsm_store_each(store, txn, walk->dbi, walk->handler,
                                    walk->data);
}


/* the same, in the transaction "txn" */

ngx_int_t
ngx_http_itsm_store_each(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_dbi dbi, ngx_http_itsm_store_each_pt handler, void *data)
{
    int          rc;
    MDB_val      k, v;
    ngx_int_t    rv;
    MDB_cursor  *cursor;

    rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    rv = NGX_OK;

    while (rv == NGX_OK && mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {
        rv = handler(store, cursor, &k, &v, data);
    }

    mdb_cursor_close(cursor);

    return (rv == NGX_DONE) ? NGX_OK : rv;
}


/*
 * Deletes the key "connector \0 key" (no connector: "key" as stored) from
 * the table "dbi", in a transaction of its own: NGX_OK, NGX_DECLINED (there
 * was none), NGX_ERROR.
 */

ngx_int_t
ngx_http_itsm_store_delete(ngx_http_itsm_store_t *store, const char *what,
    MDB_dbi dbi, ngx_str_t *connector, ngx_str_t *key)
{
    return ngx_http_itsm_store_txn(store, what, NGX_HTTP_ITSM_STORE_WRITE,
                                   connector, key,
                                   ngx_http_itsm_store_delete_txn, &dbi);
}


static ngx_int_t
ngx_http_itsm_store_delete_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    MDB_dbi  *dbi = data;

    return ngx_http_itsm_store_mdb_del(store, txn, *dbi, k);
}


/*
 * The tables' reads and writes in "txn": LMDB's calls, with a missing key
 * as NGX_DECLINED and any other failure logged (NGX_ERROR), so that each
 * table's file says what a missing key means to it.  The value a get
 * returns is LMDB's: valid until the transaction writes or ends.
 */

ngx_int_t
ngx_http_itsm_store_mdb_get(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    return ngx_http_itsm_store_result(store, "mdb_get",
                                      mdb_get(txn, dbi, k, v));
}


ngx_int_t
ngx_http_itsm_store_mdb_put(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned int flags)
{
    return ngx_http_itsm_store_result(store, "mdb_put",
                                      mdb_put(txn, dbi, k, v, flags));
}


ngx_int_t
ngx_http_itsm_store_mdb_del(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_dbi dbi, MDB_val *k)
{
    return ngx_http_itsm_store_result(store, "mdb_del",
                                      mdb_del(txn, dbi, k, NULL));
}


/* LMDB's answer "rc" to "what" */

static ngx_int_t
ngx_http_itsm_store_result(ngx_http_itsm_store_t *store, const char *what,
    int rc)
{
    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, what, rc);
    }

    return NGX_OK;
}


#if (NGX_DEBUG)

/* the key only, never a value: a pending delivery holds the whole alert */

static void
ngx_http_itsm_store_debug(ngx_http_itsm_store_t *store, const char *what,
    ngx_str_t *connector, ngx_str_t *key, ngx_int_t rc)
{
    MDB_val    v;
    ngx_str_t  conn, k;

    if (key == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: %s rc:%i", what, rc);
        return;
    }

    if (connector == NULL) {

        /* a key as stored: the connector, a zero byte, the key */

        v.mv_data = key->data;
        v.mv_size = key->len;

        if (ngx_http_itsm_store_key_split(&v, &conn, &k) != NGX_OK) {
            ngx_str_null(&conn);
            k = *key;
        }

        connector = &conn;
        key = &k;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: %s \"%V\" \"%V\" rc:%i",
                   what, connector, key, rc);
}

#endif


/* "connector \0 key"; keys too long for LMDB are replaced by their hash */

ngx_int_t
ngx_http_itsm_store_key(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, u_char *buf, MDB_val *k)
{
    u_char     *p;
    u_char      digest[16];
    ngx_md5_t   md5;

    if (connector->len > 64) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, connector->data, connector->len);
    *p++ = '\0';

    if (connector->len + 1 + key->len <= NGX_HTTP_ITSM_STORE_KEY_MAX) {
        p = ngx_cpymem(p, key->data, key->len);

    } else {
        ngx_md5_init(&md5);
        ngx_md5_update(&md5, key->data, key->len);
        ngx_md5_final(digest, &md5);

        p = ngx_cpymem(p, "md5:", 4);
        p = ngx_hex_dump(p, digest, sizeof(digest));
    }

    k->mv_data = buf;
    k->mv_size = p - buf;

    return NGX_OK;
}


/* the other way: the connector and the key (or its hash) of a key as
 * stored; NGX_DECLINED: it has no zero byte */

ngx_int_t
ngx_http_itsm_store_key_split(MDB_val *k, ngx_str_t *connector,
    ngx_str_t *key)
{
    u_char  *p, *last, *zero;

    p = k->mv_data;
    last = p + k->mv_size;

    zero = ngx_strlchr(p, last, '\0');

    if (zero == NULL) {
        return NGX_DECLINED;
    }

    connector->data = p;
    connector->len = zero - p;

    key->data = zero + 1;
    key->len = last - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_itsm_store_failed(ngx_http_itsm_store_t *store, const char *what,
    int rc)
{
    if (rc == MDB_MAP_FULL) {
        return ngx_http_itsm_store_full(store, what);
    }

    ngx_log_error(NGX_LOG_ALERT, store->log, 0,
                  "itsm_store: %s(\"%V\") failed: %s", what, &store->path,
                  mdb_strerror(rc));
    return NGX_ERROR;
}


/*
 * The store is full: every write fails until the expiry frees space, so
 * the line is written at most once a minute (per worker), not once per
 * alert.
 */

static ngx_int_t
ngx_http_itsm_store_full(ngx_http_itsm_store_t *store, const char *what)
{
    time_t  now;

    now = ngx_time();

    if (store->full_logged && now - store->full_logged < 60) {
        return NGX_ERROR;
    }

    store->full_logged = now;

    ngx_log_error(NGX_LOG_ALERT, store->log, 0,
                  "itsm_store: \"%V\" is full (size=%uz, in %s:%ui): %s "
                  "failed, and every alert that changes a key gets 503 until "
                  "resolved keys expire; raise size= or lower retention= "
                  "(see README, \"Sizing the store\"); logged at most once a "
                  "minute", &store->path, store->size, store->file,
                  store->line, what);

    return NGX_ERROR;
}


/* every commit so far to the disk, in the event loop: the rare commits
 * that cannot wait (a release in doubt, a held alert) */

ngx_int_t
ngx_http_itsm_store_flush_now(ngx_http_itsm_store_t *store)
{
    int         rc;
    ngx_uint_t  committed;

    committed = store->committed;

    rc = mdb_env_sync(store->env, 1);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_sync", rc);
    }

    if (committed > store->flushed) {
        store->flushed = committed;
    }

    return NGX_OK;
}


/*
 * itsm_store PATH [size=SIZE] [lease=TIME] [retention=TIME];
 * itsm_store redis [lease=TIME] [retention=TIME] [replicas=N];
 *
 * retention: how long a resolved key is kept (ngx_http_itsm_expire.c);
 * unset, it is 7 days or the longest reopen window; set, nginx -t checks
 * it against every connector's reopen window.
 */

char *
ngx_http_itsm_store_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    size_t       size;
    time_t       lease, retention;
    ngx_int_t    rc, replicas;
    ngx_str_t   *value, path, s;
    ngx_uint_t   i, redis;

    if (imcf->store != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    path = value[1];

    /* "redis": the records on the itsm_redis server, shared by the edges
     * (ngx_http_itsm_store_redis.c); a file named "redis" is "./redis" */

    redis = (path.len == 5 && ngx_strncmp(path.data, "redis", 5) == 0);

    if (!redis && ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 64 * 1024 * 1024;
    lease = 60;
    retention = NGX_CONF_UNSET;
    replicas = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (!redis && ngx_http_itsm_conf_param(&value[i], "size=", &s)) {
            if (ngx_http_itsm_conf_size(cf, &s, 1024 * 1024,
                                        NGX_MAX_SIZE_T_VALUE, &size,
                                        "itsm_store size",
                                        ": use at least 1m, e.g. size=64m")
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "lease=", &s)) {
            rc = ngx_http_itsm_conf_time(cf, &s, 1, NGX_MAX_TIME_T_VALUE,
                                         &lease, "itsm_store lease",
                                         ": use a time longer than the "
                                         "ITSM's timeouts, e.g. lease=60s");

        } else if (ngx_http_itsm_conf_param(&value[i], "retention=", &s)) {
            rc = ngx_http_itsm_conf_time(cf, &s, 1, NGX_MAX_TIME_T_VALUE,
                                         &retention, "itsm_store retention",
                                         ": how long a resolved key is kept, "
                                         "at least 1s, e.g. retention=7d");

        } else if (ngx_http_itsm_conf_param(&value[i], "replicas=", &s)) {

            /* a file on this edge has no replica to wait for */

            if (!redis) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" is for \"itsm_store redis\" "
                                   "(the Redis replicas a claim to create "
                                   "waits for); an LMDB store has none",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            replicas = ngx_atoi(s.data, s.len);

            if (replicas == NGX_ERROR || replicas > 64) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": the number of Redis "
                                   "replicas that must have a claim to "
                                   "create before the ITSM is asked, 0 to "
                                   "64, e.g. replicas=1", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"; expected %s",
                               &value[i],
                               redis ? "lease=, retention= or replicas="
                                     : "size=, lease= or retention=");
            return NGX_CONF_ERROR;
        }

        if (rc != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    imcf->store = ngx_http_itsm_store_create(cf, &path, size, lease);
    if (imcf->store == NULL) {
        return NGX_CONF_ERROR;
    }

    if (redis) {
        /* the client is found after the configuration is read (itsm_redis
         * may come later): ngx_http_itsm_store_redis_check */
        imcf->store->ops = &ngx_http_itsm_store_redis_ops;
        imcf->store->on_redis = 1;
        imcf->store->replicas = replicas;
    }

    imcf->retention = retention;
    imcf->store_file = cf->conf_file->file.name.data;
    imcf->store_line = cf->conf_file->line;

    return NGX_CONF_OK;
}
