
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_VERIFY_H_INCLUDED_
#define _NGX_HTTP_ITSM_VERIFY_H_INCLUDED_


#include "ngx_http_itsm.h"


/* The verify probe of a connector's credentials (ngx_http_itsm_verify.c) */


/* ngx_http_itsm_verify.c */
ngx_int_t ngx_http_itsm_verify_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
ngx_int_t ngx_http_itsm_verify_replay(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn);


#endif /* _NGX_HTTP_ITSM_VERIFY_H_INCLUDED_ */
