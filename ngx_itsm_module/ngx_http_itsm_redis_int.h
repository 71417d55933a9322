
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_REDIS_INT_H_INCLUDED_
#define _NGX_HTTP_ITSM_REDIS_INT_H_INCLUDED_


#include "ngx_http_itsm_redis.h"


/*
 * The Redis client's insides, shared by its files: the connection
 * (ngx_http_itsm_redis.c), the directive (_conf.c), the health zone and
 * its PING timer (_health.c), the itsm_redis_ping location (_ping.c).
 */


#define NGX_HTTP_ITSM_REDIS_PORT             6379
#define NGX_HTTP_ITSM_REDIS_BACKOFF_MIN      100
#define NGX_HTTP_ITSM_REDIS_BACKOFF_MAX      2000
#define NGX_HTTP_ITSM_REDIS_PASSWORD_MAX     4096
#define NGX_HTTP_ITSM_REDIS_ERROR_LEN        256
#define NGX_HTTP_ITSM_REDIS_WINDOW           60      /* seconds, max_1m */
#define NGX_HTTP_ITSM_REDIS_VERSION_LEN      32

/* the oldest Redis the module works with (docs/redis.md, "Redis 7") */
#define NGX_HTTP_ITSM_REDIS_NEED_MAJOR       7
#define NGX_HTTP_ITSM_REDIS_NEED_MINOR       0


typedef enum {
    NGX_HTTP_ITSM_REDIS_IDLE = 0,      /* down, a reconnect is due */
    NGX_HTTP_ITSM_REDIS_RESOLVING,
    NGX_HTTP_ITSM_REDIS_CONNECTING,
    NGX_HTTP_ITSM_REDIS_HANDSHAKE,     /* AUTH and SELECT sent */
    NGX_HTTP_ITSM_REDIS_READY
} ngx_http_itsm_redis_state_e;


/* what the status page shows: in the zone, written by every worker */

typedef enum {
    NGX_HTTP_ITSM_REDIS_HEALTH_CONNECTING = 0,
    NGX_HTTP_ITSM_REDIS_HEALTH_UP,
    NGX_HTTP_ITSM_REDIS_HEALTH_DOWN
} ngx_http_itsm_redis_health_e;


typedef struct {
    time_t                       sec;
    uint64_t                     max_us;
} ngx_http_itsm_redis_second_t;


typedef struct {
    ngx_uint_t                   health;
    uint64_t                     last_us;
    ngx_http_itsm_redis_second_t second[NGX_HTTP_ITSM_REDIS_WINDOW];
    ngx_atomic_t                 connects;
    ngx_atomic_t                 failures;
    size_t                       error_len;
    u_char                       error[NGX_HTTP_ITSM_REDIS_ERROR_LEN];
    size_t                       version_len;  /* 0: not known yet */
    u_char                       version[NGX_HTTP_ITSM_REDIS_VERSION_LEN];
    ngx_uint_t                   version_ok;
} ngx_http_itsm_redis_shm_t;


struct ngx_http_itsm_redis_s {
    /* the configuration */
    ngx_str_t                    address;      /* as written */
    ngx_str_t                    host;         /* null-terminated */
    in_port_t                    port;
    ngx_str_t                    unix_path;    /* null-terminated, or empty */
    unsigned                     literal:1;    /* host is an IP address */
    ngx_uint_t                   db;
    ngx_str_t                    password;     /* never logged */
    ngx_str_t                    prefix;
    ngx_msec_t                   connect_timeout;
    ngx_msec_t                   timeout;
    ngx_msec_t                   ping;
    ngx_resolver_t              *resolver;
    ngx_msec_t                   resolver_timeout;
    ngx_shm_zone_t              *shm_zone;
    u_char                      *file;
    ngx_uint_t                   line;

    /* a worker's connection, from init_process */
    ngx_log_t                   *log;
    ngx_uint_t                   running;
    ngx_http_itsm_redis_state_e  state;
    redisAsyncContext           *ac;
    ngx_resolver_ctx_t          *resolving;
    ngx_uint_t                   handshake;    /* replies still awaited */
    ngx_queue_t                  waiting;      /* not handed to hiredis yet */
    ngx_event_t                  connect_timer;
    ngx_event_t                  retry_timer;
    ngx_event_t                  ping_timer;
    ngx_msec_t                   backoff;
    ngx_http_itsm_redis_cmd_t   *ping_cmd;
    uint64_t                     ping_sent;    /* us, monotonic */
    ngx_uint_t                   down;         /* logged as down already */
    ngx_uint_t                   alive;        /* this connection PONGed */
    ngx_str_t                    error;
    u_char                       error_buf[NGX_HTTP_ITSM_REDIS_ERROR_LEN];
};


/* a script's text and its SHA1 (ngx_http_itsm_redis_script.c) */

typedef struct {
    const char                      *text;
    size_t                           len;
    u_char                           sha[40];  /* hex */
} ngx_http_itsm_redis_script_t;


struct ngx_http_itsm_redis_cmd_s {
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;  /* NULL: answered, cancelled */
    void                            *data;
    ngx_http_itsm_redis_script_t    *script;   /* EVALSHA: EVAL on NOSCRIPT */
    char                            *text;     /* formatted, until sent
                                                  (a script's: answered) */
    size_t                           len;
    ngx_event_t                      timer;
    ngx_queue_t                      queue;    /* in rd->waiting */
    unsigned                         sent:1;   /* hiredis holds it */
};


/* the connection (ngx_http_itsm_redis.c) */
ngx_http_itsm_redis_cmd_t *ngx_http_itsm_redis_send(ngx_http_itsm_redis_t *rd,
    ngx_http_itsm_redis_handler_pt handler, void *data,
    ngx_http_itsm_redis_script_t *script, char *text, size_t len);
void ngx_http_itsm_redis_drop(ngx_http_itsm_redis_t *rd);
void ngx_http_itsm_redis_set_error(ngx_http_itsm_redis_t *rd,
    const char *fmt, ...);

/* scripts (ngx_http_itsm_redis_script.c) */
ngx_int_t ngx_http_itsm_redis_script_again(ngx_http_itsm_redis_cmd_t *cmd);
void ngx_http_itsm_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);

/* the health (ngx_http_itsm_redis_health.c) */
ngx_int_t ngx_http_itsm_redis_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
void ngx_http_itsm_redis_ping(ngx_event_t *ev);
uint64_t ngx_http_itsm_redis_now_us(void);
void ngx_http_itsm_redis_health_down(ngx_http_itsm_redis_t *rd);
void ngx_http_itsm_redis_version_ask(ngx_http_itsm_redis_t *rd);


#endif /* _NGX_HTTP_ITSM_REDIS_INT_H_INCLUDED_ */
