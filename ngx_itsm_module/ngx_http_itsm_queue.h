
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_QUEUE_H_INCLUDED_
#define _NGX_HTTP_ITSM_QUEUE_H_INCLUDED_


#include "ngx_http_itsm_pipeline.h"


/* Work that outlives a request: what is held or queued for a key
 * (ngx_http_itsm_held.c), the replay location that delivers it and the
 * requeue (ngx_http_itsm_queue.c), the kick that asks for the replays
 * (ngx_http_itsm_kick.c) */


/* ngx_http_itsm_queue.c */
ngx_int_t ngx_http_itsm_queue_init_token(ngx_cycle_t *cycle);
ngx_str_t *ngx_http_itsm_queue_token_value(void);
char *ngx_http_itsm_queue_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_itsm_queue_replay_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_itsm_queue_retry_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_itsm_queue_requeue_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* ngx_http_itsm_held.c */
ngx_int_t ngx_http_itsm_held_hold(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, time_t due);
ngx_int_t ngx_http_itsm_held_notes(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_held_noted(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
ngx_int_t ngx_http_itsm_held_supersede(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_uint_t ngx_http_itsm_held_live(json_t *doc);

/* ngx_http_itsm_kick.c */
ngx_int_t ngx_http_itsm_kick_init(ngx_cycle_t *cycle,
    ngx_http_itsm_main_conf_t *imcf);
void ngx_http_itsm_kick_exit(void);


#endif /* _NGX_HTTP_ITSM_QUEUE_H_INCLUDED_ */
