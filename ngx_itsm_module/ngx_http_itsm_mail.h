
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_MAIL_H_INCLUDED_
#define _NGX_HTTP_ITSM_MAIL_H_INCLUDED_


#include "ngx_http_itsm.h"


/* Bodies beyond JSON: form fields, urlencoded or multipart
 * (ngx_http_itsm_form.c), and an email message (ngx_http_itsm_mail.c),
 * for the web services that take email requests */


#define NGX_HTTP_ITSM_FORM_FIELDS_MAX  16


/* a field of a "form" or "multipart" action: "name=TEMPLATE", or
 * "name=@mail", the connector's message */

typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_tpl_t         *value;        /* NULL: the message */
} ngx_http_itsm_form_field_t;


/* ngx_http_itsm_form.c */
char *ngx_http_itsm_form_fields(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_form_check(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
ngx_int_t ngx_http_itsm_form_render(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_str_t *body, ngx_str_t *type);

/* ngx_http_itsm_mail.c */
char *ngx_http_itsm_mail_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_mail_render(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_tpl_ctx_t *tctx,
    ngx_str_t *out);
ngx_int_t ngx_http_itsm_mail_subject(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *out);
char *ngx_http_itsm_mail_answer_ok_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);


#endif /* _NGX_HTTP_ITSM_MAIL_H_INCLUDED_ */
