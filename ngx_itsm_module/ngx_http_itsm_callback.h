
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_
#define _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_


#include "ngx_http_itsm.h"


/*
 * ITSM callbacks: what people did in the ITSM, told back to the module.
 * A connector's callback tokens and status map (ngx_http_itsm_callback_conf.c,
 * lines of "itsm_connector"), the callback location (ngx_http_itsm_callback.c,
 * "itsm_callback"), and the store's side (ngx_http_itsm_store_ticket*.c).
 */


/* the SHA-256 of a callback token */
#define NGX_HTTP_ITSM_CALLBACK_HASH_LEN  32


/* one line of the status map: the ITSM's status -> the lifecycle's */

typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   state;        /* ngx_http_itsm_ticket_state_e */
} ngx_http_itsm_callback_status_t;


struct ngx_http_itsm_callback_conf_s {
    ngx_array_t                  tokens;       /* u_char[32]: their hashes */
    ngx_array_t                  statuses;     /* ..._callback_status_t */
};


/* ngx_http_itsm_callback_conf.c */
extern ngx_str_t  ngx_http_itsm_callback_state_names[];

char *ngx_http_itsm_callback_token_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_callback_status_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_callback_preset(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *profile);
ngx_int_t ngx_http_itsm_callback_map(ngx_http_itsm_connector_t *conn,
    ngx_str_t *status);
ngx_int_t ngx_http_itsm_callback_token_valid(ngx_http_itsm_connector_t *conn,
    ngx_str_t *token);


#endif /* _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_ */
