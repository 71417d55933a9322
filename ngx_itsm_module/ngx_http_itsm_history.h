
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_HISTORY_H_INCLUDED_
#define _NGX_HTTP_ITSM_HISTORY_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_parse.h"


/* The delivery history (ngx_http_itsm_history.c): every request to an
 * ITSM or back to a source, as one JSON line of "itsm_delivery_log" */


#define NGX_HTTP_ITSM_HISTORY_BODY       2048
#define NGX_HTTP_ITSM_HISTORY_BODY_MAX   (64 * 1024)


typedef struct {
    ngx_open_file_t             *file;
    ngx_str_t                    path;         /* as configured, for logs */
    size_t                       body;         /* the most kept of a body */
    ngx_array_t                  redact;       /* ngx_http_itsm_name_t */
} ngx_http_itsm_history_t;


/* ngx_http_itsm_history.c */
char *ngx_http_itsm_history_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_itsm_history_write(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d);
void ngx_http_itsm_history_hide(ngx_http_request_t *r, ngx_str_t *text);

/* ngx_http_itsm_history_api.c */
char *ngx_http_itsm_history_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_itsm_history_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
ngx_int_t ngx_http_itsm_history_tail(ngx_http_request_t *r, ngx_str_t *text);
ngx_int_t ngx_http_itsm_history_lines(ngx_http_request_t *r,
    ngx_str_t *text, ngx_str_t *connector, ngx_str_t *key, ngx_uint_t failed,
    ngx_uint_t limit, ngx_array_t *found);


#endif /* _NGX_HTTP_ITSM_HISTORY_H_INCLUDED_ */
