
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_TEMPLATE_H_INCLUDED_
#define _NGX_HTTP_ITSM_TEMPLATE_H_INCLUDED_


#include "ngx_http_itsm.h"


/* Templates: compiled at load (ngx_http_itsm_template.c), rendered with
 * the escaping of where they are used (ngx_http_itsm_template_render.c) */


/* ngx_http_itsm_template.c */
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile(ngx_conf_t *cf,
    ngx_str_t *text, ngx_http_itsm_escape_e escape);
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile_json(ngx_conf_t *cf,
    ngx_str_t *spec);

/* ngx_http_itsm_template_render.c */
ngx_int_t ngx_http_itsm_tpl_render(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_HTTP_ITSM_TEMPLATE_H_INCLUDED_ */
