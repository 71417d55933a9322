
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"

#include <lmdb.h>


/* What the store's files (ngx_http_itsm_store*.c) share, and no other file
 * sees: the LMDB environment, the key as stored, the failure log. */


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


/* ngx_http_itsm_store.c */
ngx_int_t ngx_http_itsm_store_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, u_char *buf, MDB_val *k);
ngx_int_t ngx_http_itsm_store_failed(ngx_http_itsm_store_t *store,
    const char *what, int rc);

/* ngx_http_itsm_store_record.c */
ngx_int_t ngx_http_itsm_store_decode_any(MDB_val *v,
    ngx_http_itsm_record_t *rec);


#endif /* _NGX_HTTP_ITSM_STORE_LMDB_H_INCLUDED_ */
