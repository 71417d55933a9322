
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_REDIS_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_REDIS_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_redis.h"


/* What the records' file (ngx_http_itsm_store_redis.c) shares with the
 * callbacks' (ngx_http_itsm_store_ticket_redis.c). */


/* the keys of an alert key, built on the caller's stack: the claim, the
 * record and the ticket entry, all in the slot of {c:K} */

typedef struct {
    ngx_str_t                    c;
    ngx_str_t                    r;
    ngx_str_t                    t;
    u_char                       c_data[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                       r_data[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                       t_data[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
} ngx_http_itsm_store_redis_keys_t;


/*
 * The longest key text a record keeps.  Redis names a key by its hash
 * (the key's text is in the record), so this is no limit of Redis: LMDB
 * takes any key (hashed past NGX_HTTP_ITSM_STORE_KEY_MAX), and so must
 * this store, at least as long as the keys the sources and profiles make
 * (Opsgenie's alias: 512 bytes).
 */
#define NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX  4096


/* the ticket index: P{t:c:T}, ticket T of connector c -> the key's text */
#define NGX_HTTP_ITSM_STORE_REDIS_INDEX_MAX                                   \
    (NGX_HTTP_ITSM_STORE_KEY_MAX + NGX_HTTP_ITSM_TICKET_MAX + 128)


ngx_int_t ngx_http_itsm_store_redis_keys(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_store_redis_keys_t *keys);
/* another key of the slot: the way back's :s (store_source_redis.c) */
ngx_int_t ngx_http_itsm_store_redis_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, u_char suffix, u_char *buf,
    ngx_str_t *out);
ngx_int_t ngx_http_itsm_store_redis_index_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *ticket, u_char *buf, ngx_str_t *ik);
ngx_int_t ngx_http_itsm_store_redis_decode(ngx_http_itsm_store_t *store,
    redisReply *claim, redisReply *record, long long pttl,
    ngx_http_itsm_record_t *rec);

/* ngx_http_itsm_store_ticket_redis.c */
ngx_int_t ngx_http_itsm_store_ticket_redis(ngx_http_itsm_store_op_t *op,
    ngx_pool_t *pool);


#endif /* _NGX_HTTP_ITSM_STORE_REDIS_H_INCLUDED_ */
