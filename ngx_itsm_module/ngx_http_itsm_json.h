
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_JSON_H_INCLUDED_
#define _NGX_HTTP_ITSM_JSON_H_INCLUDED_


#include "ngx_http_itsm.h"


/* JSON helpers (ngx_http_itsm_json.c): alert bodies parsed, pointers,
 * scalars as text, dumps into a pool, jansson values freed with a pool */


/* ngx_http_itsm_json_utf8_clean(): NUL becomes a space; every control
 * character (NUL among them) does; a character cut short at the end is
 * left out rather than replaced by "?" */
#define NGX_HTTP_ITSM_UTF8_NUL      0x01
#define NGX_HTTP_ITSM_UTF8_CONTROL  0x02
#define NGX_HTTP_ITSM_UTF8_CUT      0x04


/* ngx_http_itsm_json.c */
ngx_int_t ngx_http_itsm_json_check_depth(ngx_str_t *text, ngx_uint_t max,
    ngx_uint_t *depth);
ngx_int_t ngx_http_itsm_json_load(ngx_str_t *text, ngx_uint_t max_depth,
    json_t **value, json_error_t *err, ngx_log_t *log);
json_t *ngx_http_itsm_json_pointer(json_t *root, ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_pointer_valid(ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_pointer_conf(ngx_conf_t *cf, ngx_str_t *pointer,
    const char *where, const char *example);
ngx_int_t ngx_http_itsm_json_scalar(json_t *value, ngx_pool_t *pool,
    ngx_str_t *out);
u_char *ngx_http_itsm_json_dump(json_t *value, ngx_pool_t *pool,
    size_t *len);
json_t *ngx_http_itsm_json_text(ngx_pool_t *pool, u_char *data, size_t len,
    size_t max);
size_t ngx_http_itsm_json_utf8_clean(u_char *dst, u_char *src, size_t len,
    ngx_uint_t flags);
ngx_int_t ngx_http_itsm_json_cleanup_add(ngx_pool_t *pool, json_t *value);


#endif /* _NGX_HTTP_ITSM_JSON_H_INCLUDED_ */
