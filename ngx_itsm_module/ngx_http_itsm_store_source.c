
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_callback_source.h"


/*
 * The "sources" table: what the way back to an alert's source needs of a
 * key ("connector \0 key", as in "keys"): the alert as it came (its fields
 * and raw JSON) and what the source's answers left to remember (an
 * Alertmanager silence's id, to expire it later).  The entry is JSON text,
 * written by ngx_http_itsm_callback_source.c; a table of its own, so that
 * the fixed-size records of "keys" stay as they are and a connector
 * without a way back costs nothing.
 *
 * Not flushed on its own: the commit of the key it goes with, or the
 * callback, flushes it soon enough, and a lost entry costs one skipped way
 * back, which is logged.
 */


typedef struct {
    ngx_pool_t                  *pool;
    ngx_str_t                   *text;
} ngx_http_itsm_store_source_ctx_t;


static ngx_int_t ngx_http_itsm_store_source_read(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);
static ngx_int_t ngx_http_itsm_store_source_write(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *k, void *data);


/* NGX_OK: "text" is the entry, in "pool"; NGX_DECLINED: none; NGX_ERROR */

ngx_int_t
ngx_http_itsm_store_source_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *text)
{
    ngx_http_itsm_store_source_ctx_t  ctx;

    ngx_str_null(text);

    ctx.pool = pool;
    ctx.text = text;

    return ngx_http_itsm_store_txn(store, "source get",
                                   NGX_HTTP_ITSM_STORE_READ, connector, key,
                                   ngx_http_itsm_store_source_read, &ctx);
}


ngx_int_t
ngx_http_itsm_store_source_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_str_t *text)
{
    return ngx_http_itsm_store_txn(store, "source put",
                                   NGX_HTTP_ITSM_STORE_WRITE, connector, key,
                                   ngx_http_itsm_store_source_write, text);
}


/* NGX_OK: deleted; NGX_DECLINED: there was none */

ngx_int_t
ngx_http_itsm_store_source_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key)
{
    return ngx_http_itsm_store_delete(store, "source del", store->sources,
                                      connector, key);
}


static ngx_int_t
ngx_http_itsm_store_source_read(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_http_itsm_store_source_ctx_t  *ctx = data;

    MDB_val    v;
    ngx_int_t  rc;

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->sources, k, &v);

    if (rc != NGX_OK) {
        return rc;
    }

    /* LMDB's bytes are valid only until the read transaction ends */

    ctx->text->data = ngx_pnalloc(ctx->pool, v.mv_size ? v.mv_size : 1);
    if (ctx->text->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->text->data, v.mv_data, v.mv_size);
    ctx->text->len = v.mv_size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_source_write(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, void *data)
{
    ngx_str_t  *text = data;

    int      rc;
    MDB_val  v;

    v.mv_data = text->data;
    v.mv_size = text->len;

    rc = mdb_put(txn, store->sources, k, &v, 0);

    if (rc == MDB_MAP_FULL) {
        ngx_log_error(NGX_LOG_WARN, store->log, 0,
                      "itsm store \"%V\" is full: the alert is not kept for "
                      "the way back to its source", &store->path);
        return NGX_DECLINED;
    }

    if (rc != 0) {
        return ngx_http_itsm_store_failed(store, "mdb_put", rc);
    }

    return NGX_OK;
}
