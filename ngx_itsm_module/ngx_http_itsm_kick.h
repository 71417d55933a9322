
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_KICK_H_INCLUDED_
#define _NGX_HTTP_ITSM_KICK_H_INCLUDED_


#include "ngx_http_itsm.h"

#include <curl/curl.h>

#include "ngx_http_itsm_redis.h"


/* What the kick's files share (ngx_http_itsm_kick*.c); the module starts
 * and stops the kick through ngx_http_itsm_queue.h */


#define NGX_HTTP_ITSM_KICK_INFLIGHT  16

/*
 * The replay location's answer is kept for the log line of a failure: its
 * JSON names the action and carries the ITSM's own error text (at most
 * NGX_HTTP_ITSM_ERROR_TEXT_MAX characters, escaped up to 6 bytes each).
 */
#define NGX_HTTP_ITSM_KICK_ANSWER_MAX  (8 * 1024)


typedef struct {
    CURL                        *easy;
    struct curl_slist           *headers;
    u_char                      *body;
    ngx_str_t                    key;          /* the stored key */
    ngx_uint_t                   attempts;
    u_char                      *answer;       /* the replay's answer */
    size_t                       answer_len;
    ngx_http_itsm_connector_t   *verify;       /* a verify probe's: no key */
    uint64_t                     token;        /* on Redis: the take's */
    u_char                       seq[NGX_INT64_LEN];  /* on Redis: as taken */
    size_t                       seq_len;
    unsigned                     truncated:1;
    unsigned                     unwatched:1;  /* a socket could not be */
} ngx_http_itsm_kick_job_t;


typedef struct {
    ngx_http_itsm_main_conf_t   *imcf;
    CURLM                       *multi;
    ngx_event_t                  tick;
    ngx_event_t                  timeout;      /* libcurl's timer */
    ngx_connection_t             dummy;        /* ev->data for debug logs */
    ngx_queue_t                  sockets;      /* watched for libcurl */
    ngx_http_itsm_kick_job_t    *jobs[NGX_HTTP_ITSM_KICK_INFLIGHT];
    ngx_uint_t                   njobs;
    time_t                      *verify_next;  /* by connector: when its
                                                  probe is due (0: now) */
    ngx_http_itsm_redis_cmd_t   *take;         /* on Redis: in flight */
    uint64_t                     take_token;   /* its token */
    time_t                       renewed;      /* the leases, last */
} ngx_http_itsm_kick_t;


/* ngx_http_itsm_kick.c */
void ngx_http_itsm_kick_again(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, time_t due, ngx_uint_t counted);

/* ngx_http_itsm_kick_retry.c */
void ngx_http_itsm_kick_failed(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res, long status);


#endif /* _NGX_HTTP_ITSM_KICK_H_INCLUDED_ */
