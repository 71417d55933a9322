
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_LAYOUT_H_INCLUDED_
#define _NGX_HTTP_ITSM_LAYOUT_H_INCLUDED_


#include "ngx_http_itsm.h"


/* What the layout's files share (ngx_http_itsm_layout*.c); the rest of
 * the module calls the check and the placement (ngx_http_itsm_connector.h) */


typedef struct {
    ngx_conf_t                  *cf;
    ngx_http_itsm_main_conf_t   *imcf;
    ngx_http_core_srv_conf_t    *server;       /* being walked */
    u_char                      *used;         /* per connector */
} ngx_http_itsm_layout_walk_t;


/* the paths of a connector: its actions, their lookups, its find */
#define NGX_HTTP_ITSM_LAYOUT_NPATHS  (2 * NGX_HTTP_ITSM_NACTIONS + 1)


/* how the endpoints use a connector */
#define NGX_HTTP_ITSM_LAYOUT_USED    1
#define NGX_HTTP_ITSM_LAYOUT_QUEUED  2   /* work can wait for a replay: an
                                            endpoint with "itsm_queue on",
                                            or the connector's cooldown */


extern ngx_str_t  ngx_http_itsm_layout_empty;


/* ngx_http_itsm_layout_find.c */
ngx_int_t ngx_http_itsm_layout_reach(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_http_core_srv_conf_t *cscf,
    const char *who);
ngx_http_core_loc_conf_t *ngx_http_itsm_layout_find(
    ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri);
ngx_uint_t ngx_http_itsm_layout_covers(ngx_http_core_loc_conf_t *clcf,
    ngx_http_itsm_connector_t *conn);

/* ngx_http_itsm_layout_replay.c */
ngx_int_t ngx_http_itsm_layout_replay(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf, u_char *used);


#endif /* _NGX_HTTP_ITSM_LAYOUT_H_INCLUDED_ */
