
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_
#define _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_


#include "ngx_http_itsm.h"


/* Delivery (ngx_http_itsm_deliver.c): an action as a subrequest to the
 * connector's location, its answer captured */


/*
 * One request to an ITSM: what the caller gives (the connector, what its
 * templates see, where to resume) and what the delivery found (the ITSM's
 * status, its Retry-After, its answer up to the connector's max_response).
 * The delivery writes only here; the caller reads it once "done" runs.
 */

typedef struct {
    ngx_http_itsm_connector_t   *connector;
    ngx_http_itsm_tpl_ctx_t     *tpl;
    ngx_http_event_handler_pt    done;         /* the alert request resumes */

    ngx_http_itsm_action_e       action;       /* what was sent */
    ngx_uint_t                   status;       /* the ITSM's HTTP status */
    time_t                       retry_after;  /* its Retry-After */
    ngx_chain_t                 *response;     /* its answer */
    ngx_chain_t                **last;
    size_t                       response_len;

    /* what was sent, for the delivery history */
    ngx_str_t                    method;
    ngx_str_t                    uri;          /* the subrequest's */
    ngx_str_t                    args;
    ngx_str_t                    body;
    ngx_msec_t                   start;
    ngx_uint_t                   replay;       /* its attempt, 0: none */
    ngx_uint_t                   held_why;     /* not sent: why
                                                  (ngx_http_itsm_limit_why_e) */

    unsigned                     lookup:1;     /* a lookup or find, for logs */
    unsigned                     find:1;       /* ... a find */
    unsigned                     verify:1;     /* ... a verify probe */
    unsigned                     delivered:1;  /* post_subrequest ran */
    unsigned                     answered:1;   /* the ITSM sent a status */
    unsigned                     truncated:1;
    unsigned                     held:1;       /* not sent: the connector's
                                                  limits (..._limit.c) */
} ngx_http_itsm_delivery_t;


/* ngx_http_itsm_deliver.c */
ngx_int_t ngx_http_itsm_deliver(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d, ngx_http_itsm_action_e index,
    ngx_http_itsm_action_t *action);
ngx_int_t ngx_http_itsm_deliver_filter_init(ngx_conf_t *cf);

/* ngx_http_itsm_deliver_answer.c */
u_char *ngx_http_itsm_deliver_response(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d, size_t *len);
size_t ngx_http_itsm_deliver_utf8_cut(u_char *p, size_t max);


#endif /* _NGX_HTTP_ITSM_DELIVER_H_INCLUDED_ */
