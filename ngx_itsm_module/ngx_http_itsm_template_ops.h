
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_TEMPLATE_OPS_H_INCLUDED_
#define _NGX_HTTP_ITSM_TEMPLATE_OPS_H_INCLUDED_


#include "ngx_http_itsm.h"


/* What a template compiles to (ngx_http_itsm_template.c) and is rendered
 * from (ngx_http_itsm_template_render.c): private to those two files */


typedef enum {
    NGX_HTTP_ITSM_OP_LITERAL = 0,
    NGX_HTTP_ITSM_OP_TEXT,               /* escaped text inside a string */
    NGX_HTTP_ITSM_OP_VALUE               /* a whole JSON value */
} ngx_http_itsm_tpl_op_type_e;


typedef enum {
    NGX_HTTP_ITSM_EXPR_FIELD = 0,
    NGX_HTTP_ITSM_EXPR_TICKET,
    NGX_HTTP_ITSM_EXPR_OCCURRENCES,
    NGX_HTTP_ITSM_EXPR_FIRST_SEEN,
    NGX_HTTP_ITSM_EXPR_LAST_SEEN,
    NGX_HTTP_ITSM_EXPR_LOOKUP,
    NGX_HTTP_ITSM_EXPR_CORRELATION,
    NGX_HTTP_ITSM_EXPR_VARIABLE,
    NGX_HTTP_ITSM_EXPR_POINTER
} ngx_http_itsm_tpl_expr_e;


typedef struct {
    ngx_http_itsm_tpl_op_type_e  type;
    ngx_http_itsm_tpl_expr_e     expr;
    ngx_uint_t                   index;  /* field or variable index */
    ngx_str_t                    text;   /* literal, or JSON Pointer */
    ngx_str_t                    name;   /* as written, for the debug log */

    /* filters, applied in the order default, slack, truncate whatever
     * order they are written in, so that truncate bounds what is sent */
    ngx_str_t                    dflt;       /* | default:'TEXT' */
    size_t                       truncate;   /* | truncate:N, 0: none */
    unsigned                     has_default:1;
    unsigned                     slack:1;    /* | slack */
    unsigned                     sha256:1;   /* | sha256 */
} ngx_http_itsm_tpl_op_t;


/* ngx_http_itsm_template_render.c */
ngx_int_t ngx_http_itsm_tpl_escape(ngx_http_itsm_escape_e escape,
    ngx_str_t *src, ngx_pool_t *pool, ngx_str_t *dst);


#endif /* _NGX_HTTP_ITSM_TEMPLATE_OPS_H_INCLUDED_ */
