
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"

#include <ngx_md5.h>

#include <sys/wait.h>


/*
 * The alert -> ticket map: one LMDB file shared by all workers.  LMDB gives
 * multi-process transactions in one file, lock-free readers, and survives a
 * crashed worker, a reload and a restart.  The environment is opened in
 * each worker after fork (LMDB handles must not cross a fork).
 *
 * The store's files: this one opens the environment (and checks at load
 * that the workers can), builds the keys and logs the failures; the
 * records and their claims are in ngx_http_itsm_store_record.c, the
 * pending deliveries in ngx_http_itsm_store_pending.c, the space and the
 * expiry's steps in ngx_http_itsm_store_space.c.
 */


/* what the workers' user may do with the store (a check at load) */

typedef struct {
    int                          step;         /* ..._PROBE_* */
    int                          err;          /* errno */
    int                          mdb;          /* LMDB's code */
    size_t                       at;           /* the path checked, cut */
} ngx_http_itsm_store_probe_t;

#define NGX_HTTP_ITSM_STORE_PROBE_OK     0
#define NGX_HTTP_ITSM_STORE_PROBE_ID     1     /* setgid, initgroups, setuid */
#define NGX_HTTP_ITSM_STORE_PROBE_REACH  2     /* a directory above */
#define NGX_HTTP_ITSM_STORE_PROBE_DIR    3     /* the store's directory */
#define NGX_HTTP_ITSM_STORE_PROBE_FILE   4     /* the data file */
#define NGX_HTTP_ITSM_STORE_PROBE_LOCK   5     /* the lock file */
#define NGX_HTTP_ITSM_STORE_PROBE_OPEN   6     /* mdb_env_open */


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
static ngx_int_t ngx_http_itsm_store_full(ngx_http_itsm_store_t *store,
    const char *what);
static ngx_int_t ngx_http_itsm_store_check_user(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store, u_char *dir);
static void ngx_http_itsm_store_probe(ngx_http_itsm_store_t *store,
    u_char *dir, ngx_http_itsm_store_probe_t *res);
static int ngx_http_itsm_store_try(ngx_http_itsm_store_t *store);


ngx_http_itsm_store_t *
ngx_http_itsm_store_create(ngx_conf_t *cf, ngx_str_t *path, size_t size,
    time_t lease)
{
    ngx_http_itsm_store_t  *store;

    store = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_store_t));
    if (store == NULL) {
        return NULL;
    }

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


/*
 * At load ("nginx -t" included): the directory must exist and be writable
 * by the workers, and an existing file must be a store that opens.  As
 * root, the directory and the file are handed to the workers' user, as
 * nginx does with its temporary directories.
 */

ngx_int_t
ngx_http_itsm_store_check(ngx_cycle_t *cycle, ngx_http_itsm_store_t *store)
{
    int                rc;
    u_char            *p, dir[NGX_MAX_PATH];
    ngx_err_t          err;
    ngx_core_conf_t   *ccf;
    ngx_file_info_t    fi;

    p = ngx_cpystrn(dir, store->path.data,
                    ngx_min(store->path.len + 1, NGX_MAX_PATH));

    while (p > dir && *p != '/') {
        p--;
    }

    *p = '\0';

    if (p == dir) {
        ngx_cpystrn(dir, (u_char *) "/", 2);
    }

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        err = ngx_errno;

        /* there, but a directory above it is closed to this user */

        if (err == NGX_EACCES
            && ngx_http_itsm_store_check_user(cycle, store, dir) != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "itsm_store: the directory \"%s\" of \"%V\" does not "
                      "exist (in %s:%ui); create it, owned by the user the "
                      "nginx workers run as", dir, &store->path,
                      store->file, store->line);
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        if (chown((char *) dir, ccf->user, -1) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: chown(\"%s\") failed", dir);
            return NGX_ERROR;
        }

        /* the data file and its lock file, when they exist */

        (void) chown((char *) store->path.data, ccf->user, -1);

        p = ngx_pnalloc(cycle->pool, store->path.len + sizeof("-lock"));
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%V-lock%Z", &store->path);
        (void) chown((char *) p, ccf->user, -1);

    } else if (access((char *) dir, W_OK) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "itsm_store: the directory \"%s\" is not writable "
                      "(in %s:%ui); the store and its lock file are "
                      "created there", dir, store->file, store->line);
        return NGX_ERROR;
    }

    /* what the master (often root) can do, the workers may not */

    if (ngx_http_itsm_store_check_user(cycle, store, dir) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_info(store->path.data, &fi) == NGX_FILE_ERROR) {
        return NGX_OK;                          /* created by the workers */
    }

    rc = ngx_http_itsm_store_try(store);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm_store: \"%V\" cannot be opened: %s (in %s:%ui); "
                      "if it is not an itsm store, choose another path",
                      &store->path, mdb_strerror(rc), store->file, store->line);
        return NGX_ERROR;
    }

    return NGX_OK;
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


#if (NGX_DEBUG)

/* the key only, never a value: a pending delivery holds the whole alert */

static void
ngx_http_itsm_store_debug(ngx_http_itsm_store_t *store, const char *what,
    ngx_str_t *connector, ngx_str_t *key, ngx_int_t rc)
{
    u_char     *zero;
    ngx_str_t   conn, k;

    if (key == NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: %s rc:%i", what, rc);
        return;
    }

    if (connector == NULL) {

        /* a key as stored: the connector, a zero byte, the key */

        zero = ngx_strlchr(key->data, key->data + key->len, '\0');

        if (zero == NULL) {
            ngx_str_null(&conn);
            k = *key;

        } else {
            conn.data = key->data;
            conn.len = zero - key->data;
            k.data = zero + 1;
            k.len = key->data + key->len - k.data;
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


ngx_int_t
ngx_http_itsm_store_failed(ngx_http_itsm_store_t *store, const char *what,
    int rc)
{
    if (rc == MDB_MAP_FULL) {
        return ngx_http_itsm_store_full(store, what);
    }

    ngx_log_error(NGX_LOG_ALERT, store->log, 0,
                  "itsm_store: %s(\"%V\") failed: %s%s", what, &store->path,
                  mdb_strerror(rc),
                  rc == MDB_MAP_FULL ? "; raise the size= of itsm_store" : "");
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


/*
 * At load, as the user the workers will run as: the master is often root
 * and reaches what they cannot, and a worker that cannot open the store
 * exits for good, leaving an nginx that accepts connections and answers
 * none.  As root, a child process takes the workers' identity (as nginx
 * does: setgid, initgroups, setuid) and reports through a pipe; otherwise
 * the check runs here, as the user nginx runs as.
 */

static ngx_int_t
ngx_http_itsm_store_check_user(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store, u_char *dir)
{
    int                          fd[2];
    u_char                       path[NGX_MAX_PATH];
    ssize_t                      n;
    ngx_pid_t                    pid;
    const char                  *user, *what;
    struct passwd               *pw;
    ngx_core_conf_t             *ccf;
    ngx_http_itsm_store_probe_t  res;

    static const char  *ids[] = { "setgid", "initgroups", "setuid" };

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_memzero(&res, sizeof(ngx_http_itsm_store_probe_t));

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {

        if (ccf->user == 0) {
            return NGX_OK;                      /* the workers run as root */
        }

        user = ccf->username;

        if (pipe(fd) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: pipe() failed");
            return NGX_ERROR;
        }

        pid = fork();

        if (pid == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: fork() failed");
            close(fd[0]);
            close(fd[1]);
            return NGX_ERROR;
        }

        if (pid == 0) {
            close(fd[0]);

            if (setgid(ccf->group) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 0;

            } else if (initgroups(ccf->username, ccf->group) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 1;

            } else if (setuid(ccf->user) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 2;

            } else {
                ngx_http_itsm_store_probe(store, dir, &res);
            }

            if (res.step == NGX_HTTP_ITSM_STORE_PROBE_ID) {
                res.err = errno;
            }

            n = write(fd[1], &res, sizeof(res));
            _exit(n == sizeof(res) ? 0 : 1);
        }

        close(fd[1]);

        do {
            n = read(fd[0], &res, sizeof(res));
        } while (n == -1 && ngx_errno == NGX_EINTR);

        close(fd[0]);

        /* SIGCHLD is blocked while the master reads a configuration */

        while (waitpid(pid, NULL, 0) == -1 && ngx_errno == NGX_EINTR) {
            /* void */
        }

        if (n != sizeof(res)) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "itsm_store: the check of \"%V\" as the workers' "
                          "user \"%s\" did not finish (in %s:%ui)",
                          &store->path, user, store->file, store->line);
            return NGX_ERROR;
        }

    } else {
        pw = getpwuid(geteuid());
        user = pw ? pw->pw_name : "(this user)";

        ngx_http_itsm_store_probe(store, dir, &res);
    }

    switch (res.step) {

    case NGX_HTTP_ITSM_STORE_PROBE_OK:
        return NGX_OK;

    case NGX_HTTP_ITSM_STORE_PROBE_ID:
        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: cannot check \"%V\" as the workers' user "
                      "\"%s\": %s() failed", &store->path, user,
                      ids[res.at < 3 ? res.at : 0]);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_REACH:
        ngx_cpystrn(path, dir, ngx_min(res.at + 1, sizeof(path)));

        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot reach "
                      "\"%V\": it may not enter \"%s\" (in %s:%ui); give it "
                      "search (x) permission on every directory above the "
                      "store, e.g. \"chmod o+x %s\", or move the store",
                      user, &store->path, path, store->file, store->line,
                      path);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_DIR:
        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot create "
                      "files in \"%s\" (in %s:%ui); the store and its lock "
                      "file are created there: make the directory writable "
                      "by that user", user, dir, store->file, store->line);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_FILE:
    case NGX_HTTP_ITSM_STORE_PROBE_LOCK:
        what = (res.step == NGX_HTTP_ITSM_STORE_PROBE_LOCK) ? "-lock" : "";

        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot read and "
                      "write \"%V%s\" (in %s:%ui); give the file to that "
                      "user", user, &store->path, what, store->file,
                      store->line);
        return NGX_ERROR;

    default: /* NGX_HTTP_ITSM_STORE_PROBE_OPEN */
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm_store: \"%V\" cannot be opened by the workers' "
                      "user \"%s\": %s (in %s:%ui); if it is not an itsm "
                      "store, choose another path", &store->path, user,
                      mdb_strerror(res.mdb), store->file, store->line);
        return NGX_ERROR;
    }
}


/* in the workers' identity: no logging, the result goes back in "res" */

static void
ngx_http_itsm_store_probe(ngx_http_itsm_store_t *store, u_char *dir,
    ngx_http_itsm_store_probe_t *res)
{
    int       rc;
    u_char    c, path[NGX_MAX_PATH];
    size_t    i, len;

    len = ngx_strlen(dir);

    if (len + sizeof("-lock") > NGX_MAX_PATH
        || store->path.len + sizeof("-lock") > NGX_MAX_PATH)
    {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_DIR;
        res->err = NGX_ENAMETOOLONG;
        return;
    }

    ngx_memcpy(path, dir, len + 1);

    /* every directory from the top down to the store's own: the first one
     * this user may not enter is the one to name */

    for (i = 1; i <= len; i++) {

        if (i < len && path[i] != '/') {
            continue;
        }

        c = path[i];
        path[i] = '\0';

        if (access((char *) path, X_OK) == -1) {
            res->step = NGX_HTTP_ITSM_STORE_PROBE_REACH;
            res->err = errno;
            res->at = i;
            return;
        }

        path[i] = c;
    }

    if (access((char *) dir, W_OK|X_OK) == -1) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_DIR;
        res->err = errno;
        return;
    }

    if (access((char *) store->path.data, F_OK) == -1) {
        return;                                 /* created by the workers */
    }

    if (access((char *) store->path.data, R_OK|W_OK) == -1) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_FILE;
        res->err = errno;
        return;
    }

    ngx_sprintf(path, "%V-lock%Z", &store->path);

    if (access((char *) path, F_OK) == 0
        && access((char *) path, R_OK|W_OK) == -1)
    {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_LOCK;
        res->err = errno;
        return;
    }

    /* as the workers open it (read-only here): a lock file made now is
     * theirs */

    rc = ngx_http_itsm_store_try(store);

    if (rc != 0) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_OPEN;
        res->mdb = rc;
    }
}


/* the store opened read-only, as the workers open it, and closed: LMDB's
 * code (0: it opens) */

static int
ngx_http_itsm_store_try(ngx_http_itsm_store_t *store)
{
    int       rc;
    MDB_env  *env;

    env = NULL;
    rc = mdb_env_create(&env);

    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, store->size);
    }

    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, 4);
    }

    if (rc == 0) {
        rc = mdb_env_open(env, (char *) store->path.data,
                          MDB_NOSUBDIR|MDB_RDONLY|MDB_NOTLS, 0600);
    }

    if (env) {
        mdb_env_close(env);
    }

    return rc;
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
