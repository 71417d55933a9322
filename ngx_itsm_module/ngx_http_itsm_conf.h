
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CONF_H_INCLUDED_
#define _NGX_HTTP_ITSM_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the bounds of a number directive, its post handler's: {
 * ngx_http_itsm_conf_check_bounds, LOW, HIGH } */
typedef struct {
    ngx_conf_post_handler_pt     post_handler;
    ngx_uint_t                   low;
    ngx_uint_t                   high;
} ngx_http_itsm_conf_bounds_t;

/*
 * What the directive handlers of the module's nginx modules (the main
 * one, ngx_http_itsm_callback_module, ngx_http_itsm_access_module) share:
 * the "name=VALUE" parameters of a directive, times and sizes, the row of
 * a table of names,
 * a list of token digests, a header of their answers or of a request,
 * the adding of the
 * $variables of a module and the value one of them gives, and the content
 * handler of a location.
 */


ngx_uint_t ngx_http_itsm_conf_param(ngx_str_t *value, const char *name,
    ngx_str_t *arg);
ngx_int_t ngx_http_itsm_conf_split(ngx_str_t *text, u_char sep,
    ngx_str_t *name, ngx_str_t *value);
ngx_int_t ngx_http_itsm_conf_zone(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, ngx_str_t *size, const char *hint);
void *ngx_http_itsm_conf_zone_data(ngx_shm_zone_t *shm_zone, void *data,
    size_t size);
void *ngx_http_itsm_conf_row(void *rows, size_t size, ngx_str_t *name);
ngx_int_t ngx_http_itsm_conf_digest_index(ngx_array_t *digests,
    ngx_uint_t n, u_char *digest);
ngx_int_t ngx_http_itsm_conf_time(ngx_conf_t *cf, ngx_str_t *arg,
    time_t min, time_t max, time_t *t, const char *what, const char *hint);
ngx_int_t ngx_http_itsm_conf_size(ngx_conf_t *cf, ngx_str_t *arg, size_t min,
    size_t max, size_t *size, const char *what, const char *hint);
ngx_table_elt_t *ngx_http_itsm_conf_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_table_elt_t *ngx_http_itsm_conf_header_in(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *count);
ngx_int_t ngx_http_itsm_conf_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
void ngx_http_itsm_conf_variable_value(ngx_http_variable_value_t *v,
    ngx_str_t *value);
ngx_int_t ngx_http_itsm_conf_variable_number(ngx_http_request_t *r,
    int64_t n, ngx_str_t *value);
char *ngx_http_itsm_conf_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_itsm_conf_content(ngx_conf_t *cf, ngx_http_handler_pt handler);


#endif /* _NGX_HTTP_ITSM_CONF_H_INCLUDED_ */
