
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"

#include <lmdb.h>


/* What the store's files (ngx_http_itsm_store*.c) share, and no other file
 * sees: the LMDB environment, the transactions, the failure log. */


/*
 * Flushes under way at once, at most.  A commit made while one runs does
 * not wait for it to end before its own starts: on a journaling
 * filesystem the second writes its pages and asks the disk to flush
 * while the first still waits on the device, so a create waits about one
 * flush for its claim and one for its commit, not one and a half each.
 */
#define NGX_HTTP_ITSM_STORE_FLUSHES  4

/* LMDB's default maximum key size is 511 bytes */
#define NGX_HTTP_ITSM_STORE_KEY_MAX  400


struct ngx_http_itsm_store_s {
    /* the calls that may answer later (ngx_http_itsm_store_op.c), chosen
     * when the store is configured: LMDB's answer at once */
    const ngx_http_itsm_store_ops_t  *ops;

    ngx_str_t                    path;
    size_t                       size;
    time_t                       lease;

    /* itsm_store redis (ngx_http_itsm_store_redis.c): the client, set
     * after the configuration is read; no LMDB environment is opened */
    ngx_http_itsm_redis_t       *redis;
    unsigned                     on_redis:1;
    time_t                       retention;
    ngx_uint_t                   replicas;     /* replicas=: WAIT for them
                                                  after a claim to create */

    MDB_env                     *env;
    MDB_dbi                      dbi;          /* "keys" */
    MDB_dbi                      pending;      /* "pending" */
    MDB_dbi                      tickets;      /* "tickets": ticket -> key */
    MDB_dbi                      sources;      /* "sources": the way back */
    MDB_txn                     *reader;     /* reset between reads */
    ngx_log_t                   *log;

    u_char                      *file;
    ngx_uint_t                   line;

    /* the expiry's position: the next key of the pass (none: the first) */
    u_char                       expire_pos[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    size_t                       expire_len;

    time_t                       full_logged;  /* "is full", once a minute */

    /* the room written ahead of LMDB's last page (store_space.c): the
     * file's size as last seen, and whether writing it failed */
    off_t                        ahead;
    size_t                       psize;
    time_t                       ahead_logged;

    /*
     * The commits that must reach the disk are counted ("committed"); a
     * flush (mdb_env_sync) covers every commit made before it started.
     * With nginx's thread pool the flushes of claims and commits run off
     * the event loop, up to NGX_HTTP_ITSM_STORE_FLUSHES at once, and the
     * requests waiting for them go on when theirs is done: a group commit
     * of whatever came meanwhile.
     */
    ngx_uint_t                   committed;
    ngx_uint_t                   flushed;
    ngx_uint_t                   last_sync;    /* of the last commit, or 0 */
    ngx_queue_t                  waiters;
#if (NGX_THREADS)
    ngx_thread_pool_t           *thread_pool;
    ngx_thread_task_t           *tasks[NGX_HTTP_ITSM_STORE_FLUSHES];
    ngx_uint_t                   running;      /* flushes under way */
    ngx_uint_t                   flushing;     /* what they cover, at most */
#endif
};


/* a transaction of the store (ngx_http_itsm_store_txn) */
#define NGX_HTTP_ITSM_STORE_WRITE    0
#define NGX_HTTP_ITSM_STORE_READ     MDB_RDONLY

/*
 * What a write transaction's handler returns: NGX_OK, commit;
 * NGX_HTTP_ITSM_STORE_SYNC, commit and flush to disk; NGX_DONE, nothing to
 * write (abort, and NGX_OK is returned); anything else, abort and return it.
 */
#define NGX_HTTP_ITSM_STORE_SYNC     1

/* a flag of ngx_http_itsm_store_txn: the flush a SYNC commit needs is left
 * to its caller (ngx_http_itsm_store_sync), who waits for it off the
 * event loop; without threads it is made at once all the same */
#define NGX_HTTP_ITSM_STORE_DEFER    0x80000000


/* runs in a transaction, with the key it was given ("k") */
typedef ngx_int_t (*ngx_http_itsm_store_txn_pt)(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);

/* one entry of a table, under a cursor */
typedef ngx_int_t (*ngx_http_itsm_store_each_pt)(ngx_http_itsm_store_t *store,
    MDB_cursor *cursor, MDB_val *k, MDB_val *v, void *data);


/* the largest record of version 3 (ngx_http_itsm_store_codec.c): the
 * header, 4 varints, 6 times, 4 ids, the claim before the last (an id, 3
 * varints), the ticket id */
#define NGX_HTTP_ITSM_STORE_V3_MAX                                           \
    (4 + 4 * 10 + 6 * 10 + 4 * 8 + (8 + 3 * 10) + 1                        \
     + NGX_HTTP_ITSM_TICKET_MAX)


/* ngx_http_itsm_store.c */
ngx_int_t ngx_http_itsm_store_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, u_char *buf, MDB_val *k);
ngx_int_t ngx_http_itsm_store_key_split(MDB_val *k, ngx_str_t *connector,
    ngx_str_t *key);
ngx_int_t ngx_http_itsm_store_txn(ngx_http_itsm_store_t *store,
    const char *what, ngx_uint_t flags, ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_store_txn_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_walk(ngx_http_itsm_store_t *store,
    const char *what, ngx_uint_t flags, MDB_dbi dbi,
    ngx_http_itsm_store_each_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_each(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_dbi dbi, ngx_http_itsm_store_each_pt handler,
    void *data);
ngx_int_t ngx_http_itsm_store_delete(ngx_http_itsm_store_t *store,
    const char *what, MDB_dbi dbi, ngx_str_t *connector, ngx_str_t *key);
ngx_int_t ngx_http_itsm_store_mdb_get(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
ngx_int_t ngx_http_itsm_store_mdb_put(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned int flags);
ngx_int_t ngx_http_itsm_store_mdb_del(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_dbi dbi, MDB_val *k);
ngx_int_t ngx_http_itsm_store_failed(ngx_http_itsm_store_t *store,
    const char *what, int rc);
ngx_int_t ngx_http_itsm_store_flush_now(ngx_http_itsm_store_t *store);

/* ngx_http_itsm_store_ahead.c */
void ngx_http_itsm_store_space_ahead(ngx_http_itsm_store_t *store);

/* ngx_http_itsm_store_record.c */
extern const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_lmdb_ops;

#if (NGX_HTTP_ITSM_STORE_ASYNC_TEST)
/* ngx_http_itsm_store_op.c: LMDB's answers posted (util/build.sh async) */
extern const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_posted_ops;
#endif

ngx_int_t ngx_http_itsm_store_record_get(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_record_put(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *rec);

/* ngx_http_itsm_store_ticket_index.c */
ngx_int_t ngx_http_itsm_store_ticket_held(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_ticket_index(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_http_itsm_record_t *before,
    ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_ticket_forget(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, ngx_str_t *ticket);

/* ngx_http_itsm_store_codec.c */
ngx_int_t ngx_http_itsm_store_decode_any(MDB_val *v,
    ngx_http_itsm_record_t *rec);
u_char *ngx_http_itsm_store_encode(ngx_http_itsm_record_t *rec, u_char *p);


/* ngx_http_itsm_store_redis.c */
extern const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_redis_ops;
ngx_int_t ngx_http_itsm_store_redis_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before);
ngx_int_t ngx_http_itsm_store_redis_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token);


#endif /* _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_ */
