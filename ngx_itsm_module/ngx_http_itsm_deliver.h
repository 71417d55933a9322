
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_
#define _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_


#include "ngx_http_itsm_pipeline.h"


/* Delivery (ngx_http_itsm_deliver.c): an action as a subrequest to the
 * connector's location, its answer captured */


/* ngx_http_itsm_deliver.c */
ngx_int_t ngx_http_itsm_deliver(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e index,
    ngx_http_itsm_action_t *action);
ngx_int_t ngx_http_itsm_deliver_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_ */
