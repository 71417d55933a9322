
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _ITSMCTL_RENDER_H_INCLUDED_
#define _ITSMCTL_RENDER_H_INCLUDED_


/* "itsmctl render": the module's own template files, compiled against
 * nginx's headers with the shim of itsmctl_shim.c for the core calls */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_template.h"

#include "itsmctl.h"


#define ITSMCTL_MAX_VARS  64


typedef struct {
    ngx_str_t   name;
    ngx_str_t   value;
} itsmctl_var_t;


void itsmctl_shim_init(time_t now, itsmctl_var_t *vars, ngx_uint_t nvars);


#endif /* _ITSMCTL_RENDER_H_INCLUDED_ */
