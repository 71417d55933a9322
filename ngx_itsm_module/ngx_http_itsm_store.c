
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"

#include <ngx_md5.h>

#include <lmdb.h>

#include <sys/wait.h>


/*
 * The alert -> ticket map: one LMDB file shared by all workers.  LMDB gives
 * multi-process transactions in one file, lock-free readers, and survives a
 * crashed worker, a reload and a restart.  The environment is opened in
 * each worker after fork (LMDB handles must not cross a fork).
 *
 * Every change of a key goes through a claim: a write transaction that
 * marks the key as being worked on by this process until a lease expires.
 * The first alert for a key claims it; concurrent alerts for the same key,
 * in any worker, see the claim and wait for it to be committed or released.
 * A claim whose process died is taken over at once, a stale one when its
 * lease ends, so a killed worker leaves no stuck key.
 *
 * Only transitions are written (claim, commit, release); an alert for an
 * open ticket that changes nothing reads the map and writes nothing.
 *
 * A second table holds the pending deliveries: the latest state of a key
 * whose update waits for the end of a cooldown (or for a retry), with the
 * time it is due; a worker's timer hands due ones to the replay location
 * (ngx_http_itsm_kick.c).
 */


/* 2: the claim's token and alert hash, the doubt of a create, how the
 * last claim ended; records of version 1 are read as they are */
#define NGX_HTTP_ITSM_STORE_VERSION  2

/* LMDB's default maximum key size is 511 bytes */
#define NGX_HTTP_ITSM_STORE_KEY_MAX  400


struct ngx_http_itsm_store_s {
    ngx_str_t                    path;
    size_t                       size;
    time_t                       lease;

    MDB_env                     *env;
    MDB_dbi                      dbi;          /* "keys" */
    MDB_dbi                      pending;      /* "pending" */
    MDB_txn                     *reader;     /* reset between reads */
    ngx_log_t                   *log;

    u_char                      *file;
    ngx_uint_t                   line;

    /* the expiry's position: the next key of the pass (none: the first) */
    u_char                       expire_pos[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    size_t                       expire_len;

    time_t                       full_logged;  /* "is full", once a minute */
};


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


/* the record as stored: fixed size, host byte order */

typedef struct {
    uint8_t                      version;
    uint8_t                      state;        /* | 0x80 while claimed */
    uint8_t                      ticket_len;
    uint8_t                      last_result;
    uint32_t                     owner;
    int64_t                      lease_until;
    int64_t                      first_seen;
    int64_t                      last_seen;
    int64_t                      last_action;
    int64_t                      resolved_at;
    uint32_t                     occurrences;
    uint16_t                     last_status;
    uint16_t                     reserved;
    uint64_t                     token;
    uint64_t                     hash;
    int64_t                      doubt;
    uint64_t                     last_token;
    int64_t                      last_retry;
    u_char                       ticket[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_store_rec_t;


/* version 1, written by earlier releases */

typedef struct {
    uint8_t                      version;
    uint8_t                      state;
    uint8_t                      ticket_len;
    uint8_t                      reserved;
    uint32_t                     owner;
    int64_t                      lease_until;
    int64_t                      first_seen;
    int64_t                      last_seen;
    int64_t                      last_action;
    int64_t                      resolved_at;
    uint32_t                     occurrences;
    u_char                       ticket[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_store_rec_v1_t;


static ngx_int_t ngx_http_itsm_store_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, u_char *buf, MDB_val *k);
static void ngx_http_itsm_store_decode(ngx_http_itsm_store_rec_t *src,
    ngx_http_itsm_record_t *rec);
static void ngx_http_itsm_store_encode(ngx_http_itsm_record_t *rec,
    ngx_http_itsm_store_rec_t *dst);
static ngx_int_t ngx_http_itsm_store_decode_any(MDB_val *v,
    ngx_http_itsm_record_t *rec);
static ngx_int_t ngx_http_itsm_store_read(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *rec);
static ngx_int_t ngx_http_itsm_store_owned(ngx_http_itsm_store_t *store,
    MDB_txn **txn, MDB_val *k, uint64_t token, ngx_http_itsm_record_t *rec);
static ngx_int_t ngx_http_itsm_store_put(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *rec, ngx_uint_t sync);
static uint64_t ngx_http_itsm_store_token(void);
static ngx_int_t ngx_http_itsm_store_failed(ngx_http_itsm_store_t *store,
    const char *what, int rc);
static ngx_int_t ngx_http_itsm_store_pending_walk(
    ngx_http_itsm_store_t *store, ngx_http_itsm_store_walk_pt handler,
    void *data);
static ngx_int_t ngx_http_itsm_store_due(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head);
static ngx_int_t ngx_http_itsm_store_count(void *data, ngx_str_t *key,
    ngx_http_itsm_store_pend_t *head);
static ngx_uint_t ngx_http_itsm_store_expirable(MDB_val *v, time_t before);
static ngx_int_t ngx_http_itsm_store_full(ngx_http_itsm_store_t *store,
    const char *what);
static ngx_int_t ngx_http_itsm_store_check_user(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store, u_char *dir);
static void ngx_http_itsm_store_probe(ngx_http_itsm_store_t *store,
    u_char *dir, ngx_http_itsm_store_probe_t *res);


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
    MDB_env           *env;
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

    rc = mdb_env_create(&env);

    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, store->size);
    }

    if (rc == 0) {
        rc = mdb_env_open(env, (char *) store->path.data,
                          MDB_NOSUBDIR|MDB_RDONLY|MDB_NOTLS, 0600);
    }

    if (env) {
        mdb_env_close(env);
    }

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
    int       rc;
    MDB_txn  *txn;

    store->log = cycle->log;

    rc = mdb_env_create(&store->env);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_create", rc);
    }

    rc = mdb_env_set_mapsize(store->env, store->size);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_set_mapsize", rc);
    }

    rc = mdb_env_set_maxdbs(store->env, 2);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_set_maxdbs", rc);
    }

    /*
     * MDB_NOSYNC: claims need no flush (a lost claim just expires); the
     * commits that record a ticket call mdb_env_sync() themselves.
     * MDB_NOTLS: a worker keeps one read transaction and renews it.
     */

    rc = mdb_env_open(store->env, (char *) store->path.data,
                      MDB_NOSUBDIR|MDB_NOSYNC|MDB_NOTLS, 0600);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_env_open", rc);
    }

    /* readers left in the lock table by a worker that crashed */
    (void) mdb_reader_check(store->env, NULL);

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &store->dbi);

    if (rc == 0) {
        rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &store->pending);
    }

    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_dbi_open", rc);
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    rc = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    mdb_txn_reset(store->reader);

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


/* NGX_OK: found; NGX_DECLINED: no record; NGX_ERROR */

ngx_int_t
ngx_http_itsm_store_get(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, ngx_http_itsm_record_t *rec)
{
    int        rc;
    u_char     buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val    k;
    ngx_int_t  found;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    found = ngx_http_itsm_store_read(store, store->reader, &k, rec);

    mdb_txn_reset(store->reader);

    return found;
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

ngx_int_t
ngx_http_itsm_store_claim(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, ngx_http_itsm_record_t *rec, uint64_t hash,
    ngx_uint_t create)
{
    int                      rc;
    u_char                   buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    time_t                   now;
    MDB_val                  k;
    MDB_txn                 *txn;
    ngx_int_t                found;
    ngx_http_itsm_record_t   claim;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    found = ngx_http_itsm_store_read(store, txn, &k, rec);

    if (found == NGX_ERROR) {
        mdb_txn_abort(txn);
        return NGX_ERROR;
    }

    now = ngx_time();

    if (found == NGX_DECLINED) {
        ngx_memzero(rec, sizeof(ngx_http_itsm_record_t));
        rec->state = NGX_HTTP_ITSM_KEY_NONE;

    } else if (ngx_http_itsm_store_busy(rec, now)) {
        mdb_txn_abort(txn);
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
    rec->token = ngx_http_itsm_store_token();

    claim = *rec;

    claim.pending = 1;
    claim.owner = ngx_pid;
    /* ngx_time() counts whole seconds: one more, so that a lease is never
     * shorter than it says */
    claim.lease_until = now + store->lease + 1;
    claim.hash = hash;

    if (create && claim.doubt == 0) {
        claim.doubt = now;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: claim \"%V\" token:%uL doubt:%T",
                   key, claim.token, claim.doubt);

    return ngx_http_itsm_store_put(store, txn, &k, &claim,
                                   create && rec->doubt == 0);
}


/* the claim is about to send a create after all: it says so, on disk */

ngx_int_t
ngx_http_itsm_store_doubt(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, uint64_t token)
{
    u_char                   buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                  k;
    MDB_txn                 *txn;
    ngx_int_t                rc;
    ngx_http_itsm_record_t   rec;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_owned(store, &txn, &k, token, &rec);
    if (rc != NGX_OK) {
        return rc;
    }

    if (rec.doubt) {
        mdb_txn_abort(txn);
        return NGX_OK;
    }

    rec.doubt = ngx_time();

    return ngx_http_itsm_store_put(store, txn, &k, &rec, 1);
}


/*
 * A claim lives as long as its request: while the request waits on the
 * ITSM, its lease is renewed, so that no other request takes the key
 * over however long the ITSM takes.  NGX_DECLINED: the claim was lost.
 */

ngx_int_t
ngx_http_itsm_store_renew(ngx_http_itsm_store_t *store, ngx_str_t *connector,
    ngx_str_t *key, uint64_t token)
{
    u_char                   buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                  k;
    MDB_txn                 *txn;
    ngx_int_t                rc;
    ngx_http_itsm_record_t   rec;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_owned(store, &txn, &k, token, &rec);
    if (rc != NGX_OK) {
        return rc;
    }

    rec.lease_until = ngx_time() + store->lease + 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: renew \"%V\" until %T", key, rec.lease_until);

    return ngx_http_itsm_store_put(store, txn, &k, &rec, 0);
}


/*
 * The claim ends with the new state of the key, flushed to disk.
 * NGX_DECLINED: the claim ("rec->token") was taken over meanwhile, and the
 * record is left to its new owner.
 */

ngx_int_t
ngx_http_itsm_store_commit(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec)
{
    u_char                   buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                  k;
    MDB_txn                 *txn;
    ngx_int_t                rc;
    ngx_http_itsm_record_t   now;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_owned(store, &txn, &k, rec->token, &now);
    if (rc != NGX_OK) {
        return rc;
    }

    rec->pending = 0;
    rec->owner = 0;
    rec->lease_until = 0;
    rec->doubt = 0;
    rec->hash = now.hash;
    rec->last_token = rec->token;
    rec->last_result = NGX_HTTP_ITSM_FLIGHT_DONE;
    rec->last_status = 0;
    rec->last_retry = 0;
    rec->token = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: commit \"%V\" state:%ui", key, rec->state);

    return ngx_http_itsm_store_put(store, txn, &k, rec, 1);
}


/*
 * The claim ends with the key as it was before it: "before" is the record
 * the claim found, with the claim's token, how it ended (last_result,
 * last_status, last_retry) and, when a create may have reached the ITSM,
 * its doubt.  A key that never had a ticket keeps a record all the same:
 * the requests that joined the claim read how it ended there.
 */

ngx_int_t
ngx_http_itsm_store_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before)
{
    u_char                   buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val                  k;
    MDB_txn                 *txn;
    ngx_int_t                rc;
    ngx_http_itsm_record_t   now;

    if (ngx_http_itsm_store_key(store, connector, key, buf, &k) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_store_owned(store, &txn, &k, before->token, &now);
    if (rc != NGX_OK) {
        return rc;
    }

    before->pending = 0;
    before->owner = 0;
    before->lease_until = 0;
    before->last_token = before->token;
    before->token = 0;

    /* a key without a ticket has no other time: the retention counts
     * from its last claim */

    if (before->state == NGX_HTTP_ITSM_KEY_NONE) {
        before->last_seen = ngx_time();
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: release \"%V\" result:%ui doubt:%T",
                   key, before->last_result, before->doubt);

    return ngx_http_itsm_store_put(store, txn, &k, before,
                                   before->doubt && !now.doubt);
}


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


/* calls "handler" for every record; used by the status page */

ngx_int_t
ngx_http_itsm_store_iterate(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_iter_pt handler, void *data)
{
    int                      rc;
    MDB_val                  k, v;
    ngx_str_t                key;
    MDB_cursor              *cursor;
    ngx_http_itsm_record_t   rec;

    rc = mdb_txn_renew(store->reader);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_renew", rc);
    }

    rc = mdb_cursor_open(store->reader, store->dbi, &cursor);
    if (rc != 0) {
        mdb_txn_reset(store->reader);
        return ngx_http_itsm_store_failed(store, "mdb_cursor_open", rc);
    }

    while (mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {

        if (ngx_http_itsm_store_decode_any(&v, &rec) != NGX_OK) {
            continue;
        }

        key.data = k.mv_data;
        key.len = k.mv_size;

        if (handler(data, &key, &rec) != NGX_OK) {
            break;
        }
    }

    mdb_cursor_close(cursor);
    mdb_txn_reset(store->reader);

    return NGX_OK;
}


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


/* "connector \0 key"; keys too long for LMDB are replaced by their hash */

static ngx_int_t
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


static ngx_int_t
ngx_http_itsm_store_read(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *rec)
{
    int      rc;
    MDB_val  v;

    rc = mdb_get(txn, store->dbi, k, &v);

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_get", rc);
    }

    if (ngx_http_itsm_store_decode_any(&v, rec) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store: a record of an unknown format in \"%V\" "
                      "is ignored", &store->path);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a record of the current version, or of version 1 */

static ngx_int_t
ngx_http_itsm_store_decode_any(MDB_val *v, ngx_http_itsm_record_t *rec)
{
    ngx_http_itsm_store_rec_v1_t  r;

    if (v->mv_size == sizeof(ngx_http_itsm_store_rec_t)
        && ((u_char *) v->mv_data)[0] == NGX_HTTP_ITSM_STORE_VERSION)
    {
        ngx_http_itsm_store_decode(v->mv_data, rec);
        return NGX_OK;
    }

    if (v->mv_size != sizeof(ngx_http_itsm_store_rec_v1_t)
        || ((u_char *) v->mv_data)[0] != 1)
    {
        return NGX_DECLINED;
    }

    /* LMDB data is not aligned for us */
    ngx_memcpy(&r, v->mv_data, sizeof(r));

    ngx_memzero(rec, sizeof(ngx_http_itsm_record_t));

    rec->state = r.state & 0x7f;
    rec->pending = (r.state & 0x80) ? 1 : 0;
    rec->owner = r.owner;
    rec->lease_until = r.lease_until;
    rec->first_seen = r.first_seen;
    rec->last_seen = r.last_seen;
    rec->last_action = r.last_action;
    rec->resolved_at = r.resolved_at;
    rec->occurrences = r.occurrences;

    rec->ticket.len = ngx_min(r.ticket_len, NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(rec->ticket_data, r.ticket, rec->ticket.len);
    rec->ticket.data = rec->ticket_data;

    return NGX_OK;
}


/*
 * Opens a write transaction on the key's record if its claim is still
 * "token"'s: NGX_OK with *txn open and "rec" read; NGX_DECLINED when the
 * claim was taken over (or the record went), with nothing left open.
 */

static ngx_int_t
ngx_http_itsm_store_owned(ngx_http_itsm_store_t *store, MDB_txn **txn,
    MDB_val *k, uint64_t token, ngx_http_itsm_record_t *rec)
{
    int        rc;
    ngx_int_t  found;

    rc = mdb_txn_begin(store->env, NULL, 0, txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_begin", rc);
    }

    found = ngx_http_itsm_store_read(store, *txn, k, rec);

    if (found == NGX_OK && rec->pending && rec->token == token) {
        return NGX_OK;
    }

    mdb_txn_abort(*txn);

    if (found == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_ERR, store->log, 0,
                  "itsm_store: a claim in \"%V\" was taken over while its "
                  "request still worked on it (its worker did not renew it "
                  "in time); its change is not written", &store->path);

    return NGX_DECLINED;
}


/* writes "rec" and commits the transaction; "sync": flushed to disk */

static ngx_int_t
ngx_http_itsm_store_put(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *rec, ngx_uint_t sync)
{
    int                         rc;
    MDB_val                     v;
    ngx_http_itsm_store_rec_t   raw;

    ngx_http_itsm_store_encode(rec, &raw);

    v.mv_data = &raw;
    v.mv_size = sizeof(raw);

    rc = mdb_put(txn, store->dbi, k, &v, 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return ngx_http_itsm_store_failed(store, "mdb_put", rc);
    }

    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_txn_commit", rc);
    }

    if (sync) {
        rc = mdb_env_sync(store->env, 1);
        if (rc != 0) {
            return ngx_http_itsm_store_failed(store, "mdb_env_sync", rc);
        }
    }

    return NGX_OK;
}


/* a claim's token: never 0, never the same twice in a worker, and unlikely
 * to be another worker's */

static uint64_t
ngx_http_itsm_store_token(void)
{
    uint64_t           token;
    static uint64_t    seq;

    do {
        token = ((uint64_t) ngx_random() << 33)
                ^ ((uint64_t) ngx_random() << 2)
                ^ ((uint64_t) ngx_pid << 40)
                ^ ++seq;
    } while (token == 0);

    return token;
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

    if ((ngx_pid_t) rec->owner == ngx_pid) {
        return 1;
    }

    return !(kill((ngx_pid_t) rec->owner, 0) == -1 && ngx_errno == NGX_ESRCH);
}


static void
ngx_http_itsm_store_decode(ngx_http_itsm_store_rec_t *src,
    ngx_http_itsm_record_t *rec)
{
    ngx_http_itsm_store_rec_t  r;

    /* LMDB data is not aligned for us */
    ngx_memcpy(&r, src, sizeof(r));

    rec->state = r.state & 0x7f;
    rec->pending = (r.state & 0x80) ? 1 : 0;
    rec->owner = r.owner;
    rec->lease_until = r.lease_until;
    rec->first_seen = r.first_seen;
    rec->last_seen = r.last_seen;
    rec->last_action = r.last_action;
    rec->resolved_at = r.resolved_at;
    rec->occurrences = r.occurrences;

    rec->token = r.token;
    rec->hash = r.hash;
    rec->doubt = r.doubt;
    rec->last_token = r.last_token;
    rec->last_result = r.last_result;
    rec->last_status = r.last_status;
    rec->last_retry = r.last_retry;

    rec->ticket.len = ngx_min(r.ticket_len, NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(rec->ticket_data, r.ticket, rec->ticket.len);
    rec->ticket.data = rec->ticket_data;
}


static void
ngx_http_itsm_store_encode(ngx_http_itsm_record_t *rec,
    ngx_http_itsm_store_rec_t *dst)
{
    ngx_memzero(dst, sizeof(ngx_http_itsm_store_rec_t));

    dst->version = NGX_HTTP_ITSM_STORE_VERSION;
    dst->state = (uint8_t) (rec->state | (rec->pending ? 0x80 : 0));
    dst->owner = rec->owner;
    dst->lease_until = rec->lease_until;
    dst->first_seen = rec->first_seen;
    dst->last_seen = rec->last_seen;
    dst->last_action = rec->last_action;
    dst->resolved_at = rec->resolved_at;
    dst->occurrences = rec->occurrences;
    dst->token = rec->token;
    dst->hash = rec->hash;
    dst->doubt = rec->doubt;
    dst->last_token = rec->last_token;
    dst->last_result = (uint8_t) rec->last_result;
    dst->last_status = (uint16_t) rec->last_status;
    dst->last_retry = rec->last_retry;
    dst->ticket_len = (uint8_t) ngx_min(rec->ticket.len,
                                        NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(dst->ticket, rec->ticket.data, dst->ticket_len);
}


static ngx_int_t
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
    MDB_env  *env;

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

    env = NULL;
    rc = mdb_env_create(&env);

    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, store->size);
    }

    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, 2);
    }

    if (rc == 0) {
        rc = mdb_env_open(env, (char *) store->path.data,
                          MDB_NOSUBDIR|MDB_RDONLY|MDB_NOTLS, 0600);
    }

    if (env) {
        mdb_env_close(env);
    }

    if (rc != 0) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_OPEN;
        res->mdb = rc;
    }
}
