
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_REDIS_H_INCLUDED_
#define _NGX_HTTP_ITSM_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_itsm.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <jansson.h>


/*
 * An asynchronous Redis client on nginx's event loop (itsm_redis): one
 * connection per worker, hiredis' async API driven by an ngx_connection_t,
 * host names resolved by nginx's resolver, connect and command timeouts on
 * nginx timers, AUTH and SELECT before anything else, a PING every ping=
 * whose outcome the status page shows.  Nothing stores alerts in it yet:
 * this is the foundation of the Redis store (issue 14).
 */

/* ngx_http_itsm_redis_t: ngx_http_itsm.h */
typedef struct ngx_http_itsm_redis_cmd_s  ngx_http_itsm_redis_cmd_t;


/*
 * The answer to a command: either "reply" (hiredis', freed by hiredis once
 * the handler returns: copy what is kept; a Redis error is a reply of type
 * REDIS_REPLY_ERROR) or "error" (no answer: timed out, connection lost,
 * nginx exiting), never both.  Called once, never from within
 * ngx_http_itsm_redis_command(); after it, the command's handle is gone.
 */
typedef void (*ngx_http_itsm_redis_handler_pt)(void *data, redisReply *reply,
    ngx_str_t *error);


/*
 * Sends a command (hiredis' format: "SET %b %b", ...).  A command given
 * while the connection is being opened waits for it (AUTH and SELECT go
 * first); its timeout= counts from now.  NULL when it cannot be sent: Redis
 * is known down (waiting to reconnect; ngx_http_itsm_redis_error() says
 * why), not a worker, or out of memory; the handler is then never called.
 */
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_redis_command(
    ngx_http_itsm_redis_t *rd, ngx_http_itsm_redis_handler_pt handler,
    void *data, const char *fmt, ...);

/*
 * A Lua script: "fmt" is "EVAL %s NUMKEYS ..." and its first argument the
 * script's text, a string that lasts as long as the process (a literal);
 * sent as EVALSHA, and as EVAL again when Redis answers NOSCRIPT (see
 * ngx_http_itsm_redis_script.c).  Otherwise as ngx_http_itsm_redis_command().
 */
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_redis_script(
    ngx_http_itsm_redis_t *rd, ngx_http_itsm_redis_handler_pt handler,
    void *data, const char *fmt, ...);

/*
 * The caller went away (its request was finalized): the handler is not
 * called, and a late reply is dropped.  Only before the handler ran.
 */
void ngx_http_itsm_redis_cancel(ngx_http_itsm_redis_cmd_t *cmd);

/* the last error of this worker's connection ("" when none) */
ngx_str_t *ngx_http_itsm_redis_error(ngx_http_itsm_redis_t *rd);

/* the key prefix (prefix=) */
ngx_str_t *ngx_http_itsm_redis_prefix(ngx_http_itsm_redis_t *rd);

/* a command's timeout (timeout=): a WAIT must end before it */
ngx_msec_t ngx_http_itsm_redis_timeout(ngx_http_itsm_redis_t *rd);


char *ngx_http_itsm_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_itsm_redis_ping_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_itsm_redis_check(ngx_conf_t *cf,
    ngx_http_itsm_redis_t *rd);
ngx_int_t ngx_http_itsm_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_itsm_redis_t *rd);
void ngx_http_itsm_redis_exit_process(ngx_http_itsm_redis_t *rd);

/* the status page: "redis": {...}, and its Prometheus lines */
json_t *ngx_http_itsm_redis_status_json(ngx_http_itsm_redis_t *rd);
u_char *ngx_http_itsm_redis_status_prometheus(u_char *p, u_char *last,
    ngx_http_itsm_redis_t *rd);

#define NGX_HTTP_ITSM_REDIS_PROMETHEUS_LEN  1536


#endif /* _NGX_HTTP_ITSM_REDIS_H_INCLUDED_ */
