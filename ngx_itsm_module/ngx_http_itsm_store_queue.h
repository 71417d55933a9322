
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_QUEUE_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_QUEUE_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_redis.h"


/* The queue on Redis, shared by the edges (ngx_http_itsm_store_queue_redis.c,
 * docs/redis.md "The queue"); LMDB's is its pending table
 * (ngx_http_itsm_store_pending.c) */


ngx_http_itsm_redis_t *ngx_http_itsm_store_redis_client(
    ngx_http_itsm_store_t *store);
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_store_queue_take(
    ngx_http_itsm_store_t *store, ngx_uint_t max, time_t lease,
    uint64_t token, ngx_http_itsm_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_queue_done(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, ngx_str_t *seq);
ngx_int_t ngx_http_itsm_store_queue_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, time_t delay, ngx_uint_t counted);
ngx_int_t ngx_http_itsm_store_queue_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, time_t lease);
ngx_int_t ngx_http_itsm_store_queue_merge(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_op_t *op, ngx_pool_t *pool, ngx_str_t *connector,
    ngx_str_t *key, ngx_http_itsm_store_merge_pt merge, void *data);
ngx_int_t ngx_http_itsm_store_queue_drop(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_store_queue_requeue(
    ngx_http_itsm_store_t *store, ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_redis_handler_pt handler, void *data);
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_store_queue_dead(
    ngx_http_itsm_store_t *store, ngx_uint_t max,
    ngx_http_itsm_redis_handler_pt handler, void *data);
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_store_queue_count(
    ngx_http_itsm_store_t *store, ngx_http_itsm_redis_handler_pt handler,
    void *data);


#endif /* _NGX_HTTP_ITSM_STORE_QUEUE_H_INCLUDED_ */
