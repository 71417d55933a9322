
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * The Redis client (itsm_redis).  hiredis 0.14 (Debian 12) parses and
 * queues; this file gives it nginx's event loop:
 *
 *   - hiredis' addRead/delRead/addWrite/delWrite/cleanup hooks act on an
 *     ngx_connection_t taken for the context's fd, whose read and write
 *     handlers call redisAsyncHandleRead/Write;
 *   - a host name is resolved by nginx's resolver (hiredis' own connect
 *     would call getaddrinfo(), which blocks the worker), and hiredis is
 *     given the address;
 *   - hiredis' async API has no timeouts: the connect (resolve, connect,
 *     AUTH, SELECT) and each command have an nginx timer; a command that
 *     times out is answered with an error and the connection is dropped,
 *     so that its late reply can never reach a caller that went away;
 *   - a connection lost is opened again after a backoff.
 *
 * Each worker records its PINGs' outcome in a small shared zone, which the
 * status page reads.
 */


#define NGX_HTTP_ITSM_REDIS_PORT             6379
#define NGX_HTTP_ITSM_REDIS_BACKOFF_MIN      100
#define NGX_HTTP_ITSM_REDIS_BACKOFF_MAX      2000
#define NGX_HTTP_ITSM_REDIS_PASSWORD_MAX     4096
#define NGX_HTTP_ITSM_REDIS_ERROR_LEN        256
#define NGX_HTTP_ITSM_REDIS_WINDOW           60      /* seconds, max_1m */


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


struct ngx_http_itsm_redis_cmd_s {
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;  /* NULL: answered, cancelled */
    void                            *data;
    char                            *text;     /* formatted, until sent */
    size_t                           len;
    ngx_event_t                      timer;
    ngx_queue_t                      queue;    /* in rd->waiting */
    unsigned                         sent:1;   /* hiredis holds it */
};


static char *ngx_http_itsm_redis_parse_address(ngx_conf_t *cf,
    ngx_http_itsm_redis_t *rd, ngx_str_t *value);
static char *ngx_http_itsm_redis_read_password(ngx_conf_t *cf,
    ngx_http_itsm_redis_t *rd, ngx_str_t *name);
static ngx_int_t ngx_http_itsm_redis_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);

static void ngx_http_itsm_redis_connect(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_itsm_redis_connect_to(ngx_http_itsm_redis_t *rd,
    const char *ip);
static ngx_int_t ngx_http_itsm_redis_attach(ngx_http_itsm_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_itsm_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_itsm_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_itsm_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_itsm_redis_ready(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_itsm_redis_lost(redisAsyncContext *ac);
static void ngx_http_itsm_redis_drop(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_fail(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_set_error(ngx_http_itsm_redis_t *rd,
    const char *fmt, ...);
static void ngx_http_itsm_redis_fail_waiting(ngx_http_itsm_redis_t *rd);
static void ngx_http_itsm_redis_free_cmd(ngx_http_itsm_redis_cmd_t *cmd);

static void ngx_http_itsm_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_itsm_redis_retry(ngx_event_t *ev);
static void ngx_http_itsm_redis_ping(ngx_event_t *ev);
static void ngx_http_itsm_redis_pong(void *data, redisReply *reply,
    ngx_str_t *error);
static void ngx_http_itsm_redis_cmd_timeout(ngx_event_t *ev);

static void ngx_http_itsm_redis_add_read(void *privdata);
static void ngx_http_itsm_redis_del_read(void *privdata);
static void ngx_http_itsm_redis_add_write(void *privdata);
static void ngx_http_itsm_redis_del_write(void *privdata);
static void ngx_http_itsm_redis_cleanup(void *privdata);
static void ngx_http_itsm_redis_read_handler(ngx_event_t *ev);
static void ngx_http_itsm_redis_write_handler(ngx_event_t *ev);

static uint64_t ngx_http_itsm_redis_now_us(void);
static ngx_http_itsm_redis_shm_t *ngx_http_itsm_redis_shm(
    ngx_http_itsm_redis_t *rd, ngx_slab_pool_t **shpool);
static void ngx_http_itsm_redis_health_up(ngx_http_itsm_redis_t *rd,
    uint64_t us, ngx_uint_t connected);
static void ngx_http_itsm_redis_health_down(ngx_http_itsm_redis_t *rd);
static uint64_t ngx_http_itsm_redis_max_1m(ngx_http_itsm_redis_shm_t *sh,
    time_t now);


/* a request of an itsm_redis_ping location, waiting for its PONG */

typedef struct {
    ngx_http_request_t          *request;
    ngx_http_itsm_redis_t       *rd;
    ngx_http_itsm_redis_cmd_t   *cmd;          /* NULL once answered */
    uint64_t                     sent;
} ngx_http_itsm_redis_ping_ctx_t;


static ngx_int_t ngx_http_itsm_redis_ping_handler(ngx_http_request_t *r);
static void ngx_http_itsm_redis_ping_done(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_redis_ping_reply(ngx_http_request_t *r,
    ngx_http_itsm_redis_t *rd, uint64_t us, ngx_str_t *error);
static void ngx_http_itsm_redis_ping_cleanup(void *data);


static ngx_str_t  ngx_http_itsm_redis_health_names[] = {
    ngx_string("connecting"),
    ngx_string("up"),
    ngx_string("down")
};


/*
 * itsm_redis address=HOST[:PORT]|unix:/PATH [db=N] [password_file=PATH]
 *            [prefix=STR] [connect_timeout=TIME] [timeout=TIME] [ping=TIME];
 */

char *
ngx_http_itsm_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    char                   *rv;
    size_t                  n;
    ngx_int_t               i, db;
    ngx_str_t              *value, v, name;
    ngx_msec_t             *msec;
    ngx_http_itsm_redis_t  *rd;

    if (imcf->redis) {
        return "is duplicate: one Redis for the module (see README, "
               "\"Redis (in progress)\")";
    }

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_redis_t));
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->connect_timeout = NGX_CONF_UNSET_MSEC;
    rd->timeout = NGX_CONF_UNSET_MSEC;
    rd->ping = NGX_CONF_UNSET_MSEC;
    rd->file = cf->conf_file->file.name.data;
    rd->line = cf->conf_file->line;

    value = cf->args->elts;

    for (i = 1; i < (ngx_int_t) cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "address=", 8) == 0) {
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

            rv = ngx_http_itsm_redis_parse_address(cf, rd, &v);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (db == NGX_ERROR || db > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "itsm_redis: invalid db \"%V\"; use the "
                                   "number of a Redis database, e.g. db=0 "
                                   "(0 to databases-1 of redis.conf)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            rd->db = db;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            name.data = value[i].data + 14;
            name.len = value[i].len - 14;

            rv = ngx_http_itsm_redis_read_password(cf, rd, &name);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rd->prefix.data = value[i].data + 7;
            rd->prefix.len = value[i].len - 7;

            if (rd->prefix.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "itsm_redis: empty prefix=; give the "
                                   "prefix of the module's keys, e.g. "
                                   "prefix=itsm:, or leave it out");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        msec = NULL;
        n = 0;

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            msec = &rd->connect_timeout;
            n = 16;

        } else if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            msec = &rd->timeout;
            n = 8;

        } else if (ngx_strncmp(value[i].data, "ping=", 5) == 0) {
            msec = &rd->ping;
            n = 5;
        }

        if (msec) {
            v.data = value[i].data + n;
            v.len = value[i].len - n;

            *msec = ngx_parse_time(&v, 0);

            if (*msec == (ngx_msec_t) NGX_ERROR || *msec == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "itsm_redis: invalid time \"%V\"; use "
                                   "an nginx time above 0, e.g. %*s500ms "
                                   "or %*s2s", &value[i], n, value[i].data,
                                   n, value[i].data);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "tls") == 0
            || ngx_strncmp(value[i].data, "tls=", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_redis: \"%V\": TLS is not supported: "
                               "Debian 12's hiredis %d.%d has no TLS "
                               "(hiredis_ssl came with hiredis 1.0); use a "
                               "unix socket, or a TLS tunnel (stunnel, "
                               "spiped) to the Redis host",
                               &value[i], HIREDIS_MAJOR, HIREDIS_MINOR);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_redis: unknown option \"%V\"; use "
                           "address=, db=, password_file=, prefix=, "
                           "connect_timeout=, timeout= or ping=",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rd->address.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_redis needs address=, e.g. "
                           "\"itsm_redis address=127.0.0.1:6379;\" or "
                           "\"itsm_redis address=unix:/run/redis/"
                           "redis.sock;\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(rd->connect_timeout, 1000);
    ngx_conf_init_msec_value(rd->timeout, 1000);
    ngx_conf_init_msec_value(rd->ping, 1000);

    /* the health that the status page reads, kept across reloads */

    ngx_str_set(&name, "itsm_redis");

    rd->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                         &ngx_http_itsm_module);
    if (rd->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->shm_zone->init = ngx_http_itsm_redis_init_zone;

    imcf->redis = rd;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "itsm redis: \"%V\" db %ui, timeouts %M/%M ms",
                   &rd->address, rd->db, rd->connect_timeout, rd->timeout);

    return NGX_CONF_OK;
}


/* HOST[:PORT], [IPv6][:PORT] or unix:/PATH */

static char *
ngx_http_itsm_redis_parse_address(ngx_conf_t *cf, ngx_http_itsm_redis_t *rd,
    ngx_str_t *value)
{
    u_char     *p, *last, *colon;
    ngx_int_t   port;

    rd->address = *value;

    if (value->len >= 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {

        if (value->len == 5 || value->data[5] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_redis: invalid address \"%V\"; a unix "
                               "socket needs an absolute path, e.g. "
                               "address=unix:/run/redis/redis-server.sock",
                               value);
            return NGX_CONF_ERROR;
        }

        rd->unix_path.len = value->len - 5;
        rd->unix_path.data = ngx_pnalloc(cf->pool, rd->unix_path.len + 1);
        if (rd->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(rd->unix_path.data, value->data + 5,
                           rd->unix_path.len + 1);
        return NGX_CONF_OK;
    }

    p = value->data;
    last = p + value->len;
    colon = NULL;

    if (p < last && *p == '[') {
        /* an IPv6 address: [::1]:6379 */

        p = ngx_strlchr(p, last, ']');
        if (p == NULL) {
            goto invalid;
        }

        rd->host.data = value->data + 1;
        rd->host.len = p - value->data - 1;

        p++;

        if (p < last) {
            if (*p != ':') {
                goto invalid;
            }

            colon = p;
        }

    } else {
        for (colon = last - 1; colon >= p && *colon != ':'; colon--) {
            /* void */
        }

        if (colon < p) {
            colon = NULL;
        }

        rd->host.data = p;
        rd->host.len = (colon ? colon : last) - p;
    }

    rd->port = NGX_HTTP_ITSM_REDIS_PORT;

    if (colon) {
        port = ngx_atoi(colon + 1, last - colon - 1);

        if (port < 1 || port > 65535) {
            goto invalid;
        }

        rd->port = (in_port_t) port;
    }

    if (rd->host.len == 0) {
        goto invalid;
    }

    /* hiredis takes C strings */

    p = ngx_pnalloc(cf->pool, rd->host.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, rd->host.data, rd->host.len + 1);
    rd->host.data = p;

    rd->literal = (ngx_inet_addr(rd->host.data, rd->host.len) != INADDR_NONE);

#if (NGX_HAVE_INET6)
    {
    struct in6_addr  in6;

    if (ngx_inet6_addr(rd->host.data, rd->host.len, in6.s6_addr) == NGX_OK) {
        rd->literal = 1;
    }
    }
#endif

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "itsm_redis: invalid address \"%V\"; use HOST:PORT "
                       "(e.g. address=127.0.0.1:6379, address=[::1]:6379, "
                       "address=redis.example.net:6379 with a \"resolver\") "
                       "or unix:/PATH", value);
    return NGX_CONF_ERROR;
}


/*
 * The password, read now (the workers may not be allowed to read the
 * file): one line, its end of line dropped.  The password itself is never
 * written to a log or the status page.
 */

static char *
ngx_http_itsm_redis_read_password(ngx_conf_t *cf, ngx_http_itsm_redis_t *rd,
    ngx_str_t *name)
{
    u_char           *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_str_t         path;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    path = *name;

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_redis: empty password_file=; name the file "
                           "that holds the Redis password (requirepass), "
                           "e.g. password_file=/etc/nginx/redis.pass");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "itsm_redis: cannot open password_file \"%V\"; "
                           "it must be readable by the user nginx starts as",
                           &path);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = path;
    file.log = cf->log;

    buf = NULL;
    n = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR
        && ngx_file_size(&fi) <= NGX_HTTP_ITSM_REDIS_PASSWORD_MAX)
    {
        buf = ngx_pnalloc(cf->pool, NGX_HTTP_ITSM_REDIS_PASSWORD_MAX + 1);
        if (buf) {
            n = ngx_read_file(&file, buf, NGX_HTTP_ITSM_REDIS_PASSWORD_MAX, 0);
        }
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &path);
    }

    if (buf == NULL || n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_redis: cannot read password_file \"%V\" "
                           "(more than %d bytes, or a read error); it holds "
                           "the password on one line", &path,
                           NGX_HTTP_ITSM_REDIS_PASSWORD_MAX);
        return NGX_CONF_ERROR;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_redis: password_file \"%V\" is empty; write "
                           "the Redis password (requirepass) in it, or leave "
                           "password_file= out", &path);
        return NGX_CONF_ERROR;
    }

    rd->password.data = buf;
    rd->password.len = n;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "itsm redis: password read from \"%V\"", &path);

    return NGX_CONF_OK;
}


/*
 * After the whole http{} block: a host name needs the "resolver" (nginx's
 * own: hiredis would call getaddrinfo(), which blocks the worker).
 */

ngx_int_t
ngx_http_itsm_redis_check(ngx_conf_t *cf, ngx_http_itsm_redis_t *rd)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (rd == NULL || rd->unix_path.len || rd->literal) {
        return NGX_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_redis (%s:%ui): address \"%V\" is a host name, "
                      "which needs a \"resolver\" at http level (e.g. "
                      "\"resolver 127.0.0.53;\"): nginx resolves it without "
                      "blocking; or give an IP address or unix:/PATH",
                      rd->file, rd->line, &rd->address);
        return NGX_ERROR;
    }

    rd->resolver = clcf->resolver;

    /* nginx merges resolver_timeout into the servers only: unset here
     * unless written at http level */

    rd->resolver_timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                           ? 30000 : clcf->resolver_timeout;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_redis_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = ngx_http_itsm_conf_zone_data(shm_zone, data ? shpool->data : NULL,
                                      sizeof(ngx_http_itsm_redis_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    /*
     * A reload keeps the counters; the state is that of the new workers,
     * which connect again (maybe elsewhere: address= may have changed).
     */

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_CONNECTING;

    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_http_itsm_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_itsm_redis_t *rd)
{
    if (rd == NULL) {
        return NGX_OK;
    }

    rd->log = cycle->log;
    rd->running = 1;
    rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
    rd->backoff = NGX_HTTP_ITSM_REDIS_BACKOFF_MIN;
    rd->error.data = rd->error_buf;
    rd->error.len = 0;

    ngx_queue_init(&rd->waiting);

    /* no timer of the client keeps a worker that is shutting down alive */

    rd->connect_timer.handler = ngx_http_itsm_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;

    rd->retry_timer.handler = ngx_http_itsm_redis_retry;
    rd->retry_timer.data = rd;
    rd->retry_timer.log = cycle->log;
    rd->retry_timer.cancelable = 1;

    rd->ping_timer.handler = ngx_http_itsm_redis_ping;
    rd->ping_timer.data = rd;
    rd->ping_timer.log = cycle->log;
    rd->ping_timer.cancelable = 1;

    /* the connection is opened from the event loop, once it runs */

    ngx_add_timer(&rd->retry_timer, 1);
    ngx_add_timer(&rd->ping_timer, rd->ping);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "itsm redis: worker client for \"%V\"", &rd->address);

    return NGX_OK;
}


void
ngx_http_itsm_redis_exit_process(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext  *ac;

    if (rd == NULL || !rd->running) {
        return;
    }

    rd->running = 0;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: worker exits, closing");

    ngx_http_itsm_redis_set_error(rd, "nginx is exiting");

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->retry_timer.timer_set) {
        ngx_del_timer(&rd->retry_timer);
    }

    if (rd->ping_timer.timer_set) {
        ngx_del_timer(&rd->ping_timer);
    }

    if (rd->resolving) {
        ngx_resolve_name_done(rd->resolving);
        rd->resolving = NULL;
    }

    ngx_http_itsm_redis_fail_waiting(rd);

    ac = rd->ac;

    if (ac) {
        /* hiredis answers what it holds with NULL: see ..._reply() */
        rd->ac = NULL;
        rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
        redisAsyncFree(ac);
    }
}


/* the retry timer: (re)open the connection */

static void
ngx_http_itsm_redis_retry(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    if (!rd->running || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_itsm_redis_connect(rd);
}


static void
ngx_http_itsm_redis_connect(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext   *ac;
    ngx_resolver_ctx_t  *ctx;

    if (rd->state != NGX_HTTP_ITSM_REDIS_IDLE) {
        return;
    }

    ngx_add_timer(&rd->connect_timer, rd->connect_timeout);

    if (rd->unix_path.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: connect to unix:%s", rd->unix_path.data);

        rd->state = NGX_HTTP_ITSM_REDIS_CONNECTING;

        ac = redisAsyncConnectUnix((char *) rd->unix_path.data);

        if (ngx_http_itsm_redis_attach(rd, ac) != NGX_OK) {
            ngx_http_itsm_redis_fail(rd);
        }

        return;
    }

    if (rd->literal) {
        ngx_http_itsm_redis_connect_to(rd, (char *) rd->host.data);
        return;
    }

    /* a host name: nginx's resolver, never hiredis' getaddrinfo() */

    ctx = ngx_resolve_start(rd->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\": no "
                                      "resolver", &rd->host);
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    ctx->name = rd->host;
    ctx->handler = ngx_http_itsm_redis_resolved;
    ctx->data = rd;
    ctx->timeout = rd->resolver_timeout;

    rd->state = NGX_HTTP_ITSM_REDIS_RESOLVING;
    rd->resolving = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: resolving \"%V\"", &rd->host);

    /* the handler may have run already, from the resolver's cache */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        rd->resolving = NULL;
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\"",
                                      &rd->host);
        ngx_http_itsm_redis_fail(rd);
    }
}


static void
ngx_http_itsm_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_itsm_redis_t *rd = ctx->data;

    u_char  text[NGX_SOCKADDR_STRLEN + 1];
    size_t  len;

    rd->resolving = NULL;

    if (ctx->state) {
        ngx_http_itsm_redis_set_error(rd, "cannot resolve \"%V\": %s",
                                      &rd->host,
                                      ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    /* the first address; a lost connection resolves again */

    len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);
    text[len] = '\0';

    ngx_resolve_name_done(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: \"%V\" is %s", &rd->host, text);

    ngx_http_itsm_redis_connect_to(rd, (char *) text);
}


static void
ngx_http_itsm_redis_connect_to(ngx_http_itsm_redis_t *rd, const char *ip)
{
    redisAsyncContext  *ac;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: connect to %s port %d", ip, (int) rd->port);

    rd->state = NGX_HTTP_ITSM_REDIS_CONNECTING;

    /* an IP address: hiredis' getaddrinfo() does not block on it */

    ac = redisAsyncConnect(ip, rd->port);

    if (ngx_http_itsm_redis_attach(rd, ac) != NGX_OK) {
        ngx_http_itsm_redis_fail(rd);
    }
}


/* hiredis' context on an nginx connection */

static ngx_int_t
ngx_http_itsm_redis_attach(ngx_http_itsm_redis_t *rd, redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    if (ac == NULL) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        ngx_http_itsm_redis_set_error(rd, "cannot connect: no free "
                                      "connection (worker_connections)");
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_itsm_redis_read_handler;
    c->write->handler = ngx_http_itsm_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_itsm_redis_add_read;
    ac->ev.delRead = ngx_http_itsm_redis_del_read;
    ac->ev.addWrite = ngx_http_itsm_redis_add_write;
    ac->ev.delWrite = ngx_http_itsm_redis_del_write;
    ac->ev.cleanup = ngx_http_itsm_redis_cleanup;

    rd->ac = ac;

    /* the connect's end is the first write event (hiredis' addWrite here) */

    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_itsm_redis_disconnected);
    (void) redisAsyncSetConnectCallback(ac, ngx_http_itsm_redis_connected);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: connecting on fd %d, connection %p",
                   ac->c.fd, c);

    return NGX_OK;
}


static void
ngx_http_itsm_redis_connected(const redisAsyncContext *cac, int status)
{
    redisAsyncContext  *ac = (redisAsyncContext *) cac;

    ngx_http_itsm_redis_t  *rd;

    rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        rd->ac = NULL;
        ngx_http_itsm_redis_set_error(rd, "cannot connect: %s",
                                      ac->errstr[0] ? ac->errstr : "failed");
        ngx_http_itsm_redis_fail(rd);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0, "itsm redis: connected");

    /* AUTH and SELECT before anything else: queued commands wait */

    rd->state = NGX_HTTP_ITSM_REDIS_HANDSHAKE;
    rd->handshake = 0;

    if (rd->password.len) {
        if (redisAsyncCommand(ac, ngx_http_itsm_redis_handshake, rd,
                              "AUTH %b", rd->password.data,
                              rd->password.len)
            != REDIS_OK)
        {
            goto failed;
        }

        rd->handshake++;
    }

    if (rd->db) {
        if (redisAsyncCommand(ac, ngx_http_itsm_redis_handshake, rd,
                              "SELECT %d", (int) rd->db)
            != REDIS_OK)
        {
            goto failed;
        }

        rd->handshake++;
    }

    if (rd->handshake == 0) {
        ngx_http_itsm_redis_ready(rd);
    }

    return;

failed:

    ngx_http_itsm_redis_set_error(rd, "cannot send the handshake: %s",
                                  ac->errstr[0] ? ac->errstr : "failed");
    ngx_http_itsm_redis_drop(rd);
}


static void
ngx_http_itsm_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_itsm_redis_t  *rd;

    rd = ac->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: disconnected, status %d", status);

    ngx_http_itsm_redis_lost((redisAsyncContext *) ac);
}


/* the replies to AUTH and SELECT */

static void
ngx_http_itsm_redis_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_itsm_redis_t *rd = privdata;

    redisReply  *reply = r;

    if (rd->ac != ac) {
        return;
    }

    if (reply == NULL) {
        ngx_http_itsm_redis_lost(ac);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* the password is never part of the message */

        ngx_http_itsm_redis_set_error(rd, "%s failed: %*s",
                                      (rd->password.len && rd->handshake
                                       == (ngx_uint_t) (rd->db ? 2 : 1))
                                      ? "AUTH" : "SELECT",
                                      (size_t) reply->len, reply->str);
        ngx_http_itsm_redis_drop(rd);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: handshake step done, %ui left",
                   rd->handshake - 1);

    if (--rd->handshake == 0) {
        ngx_http_itsm_redis_ready(rd);
    }
}


/* the connection is usable: what waited goes, and a first PING */

static void
ngx_http_itsm_redis_ready(ngx_http_itsm_redis_t *rd)
{
    ngx_queue_t                *q;
    ngx_http_itsm_redis_cmd_t  *cmd;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->state = NGX_HTTP_ITSM_REDIS_READY;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0, "itsm redis: ready");

    while (!ngx_queue_empty(&rd->waiting) && rd->ac) {
        q = ngx_queue_head(&rd->waiting);
        cmd = ngx_queue_data(q, ngx_http_itsm_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (redisAsyncFormattedCommand(rd->ac, ngx_http_itsm_redis_reply, cmd,
                                       cmd->text, cmd->len)
            != REDIS_OK)
        {
            ngx_queue_insert_head(&rd->waiting, q);
            ngx_http_itsm_redis_set_error(rd, "cannot send a command");
            ngx_http_itsm_redis_drop(rd);
            return;
        }

        redisFreeCommand(cmd->text);
        cmd->text = NULL;
        cmd->sent = 1;
    }

    if (rd->ping_cmd == NULL) {
        ngx_http_itsm_redis_ping(&rd->ping_timer);
    }
}


/* a command's answer from hiredis, or NULL when hiredis lets it go */

static void
ngx_http_itsm_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_itsm_redis_cmd_t *cmd = privdata;

    redisReply                      *reply = r;
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;

    rd = cmd->rd;

    if (reply == NULL && rd->ac == ac) {
        /* the connection is going: the error for this command and others */
        ngx_http_itsm_redis_lost(ac);
    }

    handler = cmd->handler;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    cmd->handler = NULL;

    /* cancelled or timed out: its caller is gone, the reply is dropped */

    if (handler) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: reply %p to command %p", reply, cmd);

        if (reply) {
            handler(cmd->data, reply, NULL);

        } else {
            handler(cmd->data, NULL, &rd->error);
        }
    }

    ngx_http_itsm_redis_free_cmd(cmd);
}


/*
 * hiredis found the connection broken (or gave up on it): the first of its
 * callbacks to run records why; the others see it is no longer rd->ac.
 */

static void
ngx_http_itsm_redis_lost(redisAsyncContext *ac)
{
    ngx_http_itsm_redis_t *rd = ac->data;

    if (rd->ac != ac) {
        return;
    }

    rd->ac = NULL;

    ngx_http_itsm_redis_set_error(rd, "connection lost: %s",
                                  ac->err && ac->errstr[0]
                                  ? ac->errstr : "closed by the server");
    ngx_http_itsm_redis_fail(rd);
}


/* we drop the connection (timeout, a failed AUTH): the error is set */

static void
ngx_http_itsm_redis_drop(ngx_http_itsm_redis_t *rd)
{
    redisAsyncContext  *ac;

    ac = rd->ac;
    rd->ac = NULL;

    ngx_http_itsm_redis_fail(rd);

    if (ac) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: dropping context %p", ac);

        /* within a hiredis callback, hiredis frees it when that returns */
        redisAsyncFree(ac);
    }
}


/*
 * Down, rd->error says why: the commands that waited are answered, the
 * status page says so, and a reconnect is due after the backoff.
 */

static void
ngx_http_itsm_redis_fail(ngx_http_itsm_redis_t *rd)
{
    ngx_uint_t  level;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->resolving) {
        ngx_resolve_name_done(rd->resolving);
        rd->resolving = NULL;
    }

    rd->state = NGX_HTTP_ITSM_REDIS_IDLE;
    rd->ping_cmd = NULL;
    rd->alive = 0;

    /* once a line at error level per outage; the retries at info */

    level = rd->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, rd->log, 0,
                  "%V; reconnecting in %Mms", &rd->error, rd->backoff);

    rd->down = 1;

    ngx_http_itsm_redis_health_down(rd);

    if (rd->running && !ngx_exiting) {
        if (rd->retry_timer.timer_set) {
            ngx_del_timer(&rd->retry_timer);
        }

        ngx_add_timer(&rd->retry_timer, rd->backoff);

        rd->backoff = ngx_min(rd->backoff * 2,
                              NGX_HTTP_ITSM_REDIS_BACKOFF_MAX);
    }

    ngx_http_itsm_redis_fail_waiting(rd);
}


static void
ngx_http_itsm_redis_set_error(ngx_http_itsm_redis_t *rd, const char *fmt,
    ...)
{
    u_char   *p, *last;
    va_list   args;

    p = rd->error_buf;
    last = rd->error_buf + NGX_HTTP_ITSM_REDIS_ERROR_LEN;

    p = ngx_slprintf(p, last, "redis %V: ", &rd->address);

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    rd->error.data = rd->error_buf;
    rd->error.len = p - rd->error_buf;
}


/* the commands that never reached hiredis: answered with rd->error */

static void
ngx_http_itsm_redis_fail_waiting(ngx_http_itsm_redis_t *rd)
{
    ngx_queue_t                     *q;
    ngx_http_itsm_redis_cmd_t       *cmd;
    ngx_http_itsm_redis_handler_pt   handler;

    while (!ngx_queue_empty(&rd->waiting)) {
        q = ngx_queue_head(&rd->waiting);
        cmd = ngx_queue_data(q, ngx_http_itsm_redis_cmd_t, queue);

        ngx_queue_remove(q);

        handler = cmd->handler;
        cmd->handler = NULL;

        if (handler) {
            handler(cmd->data, NULL, &rd->error);
        }

        ngx_http_itsm_redis_free_cmd(cmd);
    }
}


static void
ngx_http_itsm_redis_free_cmd(ngx_http_itsm_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->text) {
        redisFreeCommand(cmd->text);
    }

    ngx_free(cmd);
}


ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_redis_command(ngx_http_itsm_redis_t *rd,
    ngx_http_itsm_redis_handler_pt handler, void *data, const char *fmt, ...)
{
    int                         len;
    char                       *text;
    va_list                     args;
    ngx_http_itsm_redis_cmd_t  *cmd;

    if (rd == NULL || !rd->running) {
        return NULL;
    }

    /* known down: the caller answers now rather than after a timeout */

    if (rd->state == NGX_HTTP_ITSM_REDIS_IDLE) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: command refused, down: %V", &rd->error);
        return NULL;
    }

    cmd = ngx_calloc(sizeof(ngx_http_itsm_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    len = redisvFormatCommand(&text, fmt, args);
    va_end(args);

    if (len < 0) {
        ngx_free(cmd);
        return NULL;
    }

    cmd->rd = rd;
    cmd->handler = handler;
    cmd->data = data;
    cmd->text = text;
    cmd->len = len;

    cmd->timer.handler = ngx_http_itsm_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;
    cmd->timer.cancelable = 1;

    if (rd->state != NGX_HTTP_ITSM_REDIS_READY) {
        ngx_queue_insert_tail(&rd->waiting, &cmd->queue);

    } else {
        if (redisAsyncFormattedCommand(rd->ac, ngx_http_itsm_redis_reply, cmd,
                                       text, len)
            != REDIS_OK)
        {
            ngx_http_itsm_redis_free_cmd(cmd);
            return NULL;
        }

        redisFreeCommand(cmd->text);
        cmd->text = NULL;
        cmd->sent = 1;
    }

    ngx_add_timer(&cmd->timer, rd->timeout);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: command %p, %d bytes, %s", cmd, len,
                   cmd->sent ? "sent" : "waits for the connection");

    return cmd;
}


void
ngx_http_itsm_redis_cancel(ngx_http_itsm_redis_cmd_t *cmd)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cmd->rd->log, 0,
                   "itsm redis: command %p cancelled", cmd);

    cmd->handler = NULL;
    cmd->data = NULL;

    if (cmd->sent) {
        /* hiredis holds it: ..._reply() frees it, whatever comes */

        if (cmd->timer.timer_set) {
            ngx_del_timer(&cmd->timer);
        }

        return;
    }

    ngx_queue_remove(&cmd->queue);
    ngx_http_itsm_redis_free_cmd(cmd);
}


ngx_str_t *
ngx_http_itsm_redis_error(ngx_http_itsm_redis_t *rd)
{
    return &rd->error;
}


ngx_str_t *
ngx_http_itsm_redis_prefix(ngx_http_itsm_redis_t *rd)
{
    return &rd->prefix;
}


/*
 * A command that timed out: its caller gets the error now; the connection
 * is dropped, since its reply may still come and the replies after it
 * would be taken for the wrong commands.
 */

static void
ngx_http_itsm_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_itsm_redis_cmd_t *cmd = ev->data;

    void                            *data;
    ngx_str_t                        error;
    ngx_http_itsm_redis_t           *rd;
    ngx_http_itsm_redis_handler_pt   handler;
    u_char                           buf[NGX_HTTP_ITSM_REDIS_ERROR_LEN];

    rd = cmd->rd;
    handler = cmd->handler;
    data = cmd->data;

    cmd->handler = NULL;

    ngx_http_itsm_redis_set_error(rd, "timed out after %Mms", rd->timeout);

    /* the error of this command, whatever the drop writes over rd->error */

    error.len = ngx_min(rd->error.len, sizeof(buf));
    error.data = ngx_cpymem(buf, rd->error.data, error.len) - error.len;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: command %p timed out", cmd);

    if (cmd->sent) {
        /* frees cmd: hiredis calls ..._reply() with NULL */
        ngx_http_itsm_redis_drop(rd);

    } else {
        ngx_queue_remove(&cmd->queue);
        ngx_http_itsm_redis_free_cmd(cmd);
    }

    if (handler) {
        handler(data, NULL, &error);
    }
}


static void
ngx_http_itsm_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    ngx_http_itsm_redis_set_error(rd, "%s timed out after %Mms",
                                  rd->state == NGX_HTTP_ITSM_REDIS_RESOLVING
                                  ? "resolving" :
                                  rd->state == NGX_HTTP_ITSM_REDIS_HANDSHAKE
                                  ? "AUTH/SELECT" : "connect",
                                  rd->connect_timeout);
    ngx_http_itsm_redis_drop(rd);
}


/* every ping=: a PING whose round trip the status page shows */

static void
ngx_http_itsm_redis_ping(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    if (!rd->running || ngx_exiting) {
        return;
    }

    if (!rd->ping_timer.timer_set) {
        ngx_add_timer(&rd->ping_timer, rd->ping);
    }

    if (rd->state != NGX_HTTP_ITSM_REDIS_READY || rd->ping_cmd) {
        return;
    }

    rd->ping_sent = ngx_http_itsm_redis_now_us();
    rd->ping_cmd = ngx_http_itsm_redis_command(rd, ngx_http_itsm_redis_pong,
                                               rd, "PING");
}


static void
ngx_http_itsm_redis_pong(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_redis_t *rd = data;

    uint64_t  us;

    rd->ping_cmd = NULL;

    if (reply == NULL) {
        /* timed out or lost: recorded already */
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS
        || reply->len != 4 || ngx_strncmp(reply->str, "PONG", 4) != 0)
    {
        ngx_http_itsm_redis_set_error(rd, "PING failed: %*s",
                                      (size_t) reply->len,
                                      reply->str ? reply->str : "");
        ngx_http_itsm_redis_drop(rd);
        return;
    }

    us = ngx_http_itsm_redis_now_us() - rd->ping_sent;

    if (us == 0) {
        us = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: PONG after %uLus", us);

    if (rd->down) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "redis %V: up", &rd->address);
    }

    rd->down = 0;
    rd->backoff = NGX_HTTP_ITSM_REDIS_BACKOFF_MIN;

    /* "connects": the connections that answered, each once, by any worker */

    ngx_http_itsm_redis_health_up(rd, us, !rd->alive);

    rd->alive = 1;
}


/*
 * The adapter.  Level-triggered events, not nginx's usual edge-triggered
 * ones: hiredis reads at most 16 KB per redisAsyncHandleRead() and tells
 * nothing of EAGAIN, so an edge could be consumed with replies left in the
 * socket; a level event comes back until hiredis has read them all, and
 * delWrite stops the write event once its buffer is sent.
 */

static void
ngx_http_itsm_redis_add_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->read->active
        && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "itsm redis: cannot add the read event");
    }
}


static void
ngx_http_itsm_redis_del_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_itsm_redis_add_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->write->active
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "itsm redis: cannot add the write event");
    }
}


static void
ngx_http_itsm_redis_del_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is freeing its context (and closes the fd after this): the
 * nginx connection goes, without a close of its own.
 */

static void
ngx_http_itsm_redis_cleanup(void *privdata)
{
    ngx_connection_t *c = privdata;

    redisAsyncContext  *ac;

    ac = c->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm redis: cleanup of connection %p", c);

    ngx_http_itsm_redis_lost(ac);

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ac->ev.data = NULL;
    ac->ev.addRead = NULL;
    ac->ev.delRead = NULL;
    ac->ev.addWrite = NULL;
    ac->ev.delWrite = NULL;
    ac->ev.cleanup = NULL;

    ngx_free_connection(c);

    /* hiredis closes the fd; nginx's exit check must not see it open */
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_http_itsm_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "itsm redis: readable");

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_itsm_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "itsm redis: writable");

    redisAsyncHandleWrite(c->data);
}


/* the health, in the zone */

static uint64_t
ngx_http_itsm_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static ngx_http_itsm_redis_shm_t *
ngx_http_itsm_redis_shm(ngx_http_itsm_redis_t *rd, ngx_slab_pool_t **shpool)
{
    if (rd->shm_zone == NULL || rd->shm_zone->shm.addr == NULL) {
        return NULL;
    }

    *shpool = (ngx_slab_pool_t *) rd->shm_zone->shm.addr;

    return rd->shm_zone->data;
}


static void
ngx_http_itsm_redis_health_up(ngx_http_itsm_redis_t *rd, uint64_t us,
    ngx_uint_t connected)
{
    time_t                         now;
    ngx_slab_pool_t               *shpool;
    ngx_http_itsm_redis_shm_t     *sh;
    ngx_http_itsm_redis_second_t  *s;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return;
    }

    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_UP;
    sh->last_us = us;

    s = &sh->second[now % NGX_HTTP_ITSM_REDIS_WINDOW];

    if (s->sec != now) {
        s->sec = now;
        s->max_us = 0;
    }

    if (us > s->max_us) {
        s->max_us = us;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (connected) {
        (void) ngx_atomic_fetch_add(&sh->connects, 1);
    }
}


static void
ngx_http_itsm_redis_health_down(ngx_http_itsm_redis_t *rd)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_DOWN;
    sh->error_len = ngx_min(rd->error.len, NGX_HTTP_ITSM_REDIS_ERROR_LEN);
    ngx_memcpy(sh->error, rd->error.data, sh->error_len);

    ngx_shmtx_unlock(&shpool->mutex);

    (void) ngx_atomic_fetch_add(&sh->failures, 1);
}


static uint64_t
ngx_http_itsm_redis_max_1m(ngx_http_itsm_redis_shm_t *sh, time_t now)
{
    uint64_t    max;
    ngx_uint_t  i;

    max = 0;

    for (i = 0; i < NGX_HTTP_ITSM_REDIS_WINDOW; i++) {
        if (sh->second[i].sec > now - NGX_HTTP_ITSM_REDIS_WINDOW
            && sh->second[i].max_us > max)
        {
            max = sh->second[i].max_us;
        }
    }

    return max;
}


/*
 * "redis": {"address": ..., "state": "up", "last_error": "",
 *           "latency_us": {"last": 180, "max_1m": 950},
 *           "connects": 1, "failures": 0}
 */

json_t *
ngx_http_itsm_redis_status_json(ngx_http_itsm_redis_t *rd)
{
    json_t                     *obj;
    uint64_t                    last, max;
    ngx_uint_t                  health;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;
    u_char                      error[NGX_HTTP_ITSM_REDIS_ERROR_LEN];
    size_t                      error_len;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return NULL;
    }

    ngx_shmtx_lock(&shpool->mutex);

    health = sh->health;
    last = sh->last_us;
    max = ngx_http_itsm_redis_max_1m(sh, ngx_time());
    error_len = sh->error_len;
    ngx_memcpy(error, sh->error, error_len);

    ngx_shmtx_unlock(&shpool->mutex);

    obj = json_pack("{s:s%, s:s, s:s%, s:{s:I, s:I}, s:I, s:I}",
                    "address", (char *) rd->address.data, rd->address.len,
                    "state",
                    (char *) ngx_http_itsm_redis_health_names[health].data,
                    "last_error", (char *) error, error_len,
                    "latency_us", "last", (json_int_t) last,
                    "max_1m", (json_int_t) max,
                    "connects", (json_int_t) sh->connects,
                    "failures", (json_int_t) sh->failures);

    return obj;
}


u_char *
ngx_http_itsm_redis_status_prometheus(u_char *p, u_char *last,
    ngx_http_itsm_redis_t *rd)
{
    uint64_t                    us, max;
    ngx_uint_t                  health;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return p;
    }

    ngx_shmtx_lock(&shpool->mutex);

    health = sh->health;
    us = sh->last_us;
    max = ngx_http_itsm_redis_max_1m(sh, ngx_time());

    ngx_shmtx_unlock(&shpool->mutex);

    return ngx_slprintf(p, last,
                        "# HELP itsm_redis_up Whether Redis answered the last "
                        "PING (itsm_redis).\n"
                        "# TYPE itsm_redis_up gauge\n"
                        "itsm_redis_up %d\n"
                        "# TYPE itsm_redis_latency_last_microseconds gauge\n"
                        "itsm_redis_latency_last_microseconds %uL\n"
                        "# HELP itsm_redis_latency_max_1m_microseconds The "
                        "slowest PING of the last minute.\n"
                        "# TYPE itsm_redis_latency_max_1m_microseconds gauge\n"
                        "itsm_redis_latency_max_1m_microseconds %uL\n"
                        "# TYPE itsm_redis_connects_total counter\n"
                        "itsm_redis_connects_total %uA\n"
                        "# TYPE itsm_redis_failures_total counter\n"
                        "itsm_redis_failures_total %uA\n",
                        health == NGX_HTTP_ITSM_REDIS_HEALTH_UP ? 1 : 0,
                        us, max, sh->connects, sh->failures);
}


/*
 * itsm_redis_ping: a location that PINGs Redis for each request, e.g. for
 * a load balancer's health check of an edge: 200 {"state": "up",
 * "latency_us": N} or 503 {"state": "down", "error": "..."}.  It is also
 * the first user of ngx_http_itsm_redis_command() from a request: a client
 * that goes away cancels its command (its reply, if it comes, is dropped).
 */

char *
ngx_http_itsm_redis_ping_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (imcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"itsm_redis_ping\" needs an \"itsm_redis\"; "
                           "declare it at http level before the server, "
                           "e.g. \"itsm_redis address=127.0.0.1:6379;\"");
        return NGX_CONF_ERROR;
    }

    return ngx_http_itsm_conf_content(cf, ngx_http_itsm_redis_ping_handler);
}


static ngx_int_t
ngx_http_itsm_redis_ping_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_itsm_main_conf_t       *imcf;
    ngx_http_itsm_redis_ping_ctx_t  *ctx;

    rc = ngx_http_itsm_reply_read_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_redis_ping_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->rd = imcf->redis;
    ctx->sent = ngx_http_itsm_redis_now_us();

    ctx->cmd = ngx_http_itsm_redis_command(ctx->rd,
                                           ngx_http_itsm_redis_ping_done,
                                           ctx, "PING");

    if (ctx->cmd == NULL) {
        /* known down: answered now */
        return ngx_http_itsm_redis_ping_reply(r, ctx->rd, 0,
                                              ngx_http_itsm_redis_error(
                                                                   ctx->rd));
    }

    /* the request may end first (the client went away): then the
     * command is cancelled, and its reply dropped */

    cln->handler = ngx_http_itsm_redis_ping_cleanup;
    cln->data = ctx;

    /* a client that closes is seen while the PING is out */
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_itsm_redis_ping_done(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_redis_ping_ctx_t *ctx = data;

    uint64_t             us;
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->cmd = NULL;

    us = ngx_http_itsm_redis_now_us() - ctx->sent;

    if (reply
        && (reply->type != REDIS_REPLY_STATUS || reply->len != 4
            || ngx_strncmp(reply->str, "PONG", 4) != 0))
    {
        text.data = (u_char *) reply->str;
        text.len = reply->str ? reply->len : 0;
        error = &text;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "itsm redis: ping of the request: %s, %uLus",
                   error ? "failed" : "PONG", us);

    rc = ngx_http_itsm_redis_ping_reply(r, ctx->rd, error ? 0 : us, error);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_itsm_redis_ping_reply(ngx_http_request_t *r,
    ngx_http_itsm_redis_t *rd, uint64_t us, ngx_str_t *error)
{
    json_t  *body;

    if (error) {
        body = json_pack("{s:s%, s:s, s:s%}",
                         "address", (char *) rd->address.data,
                         rd->address.len, "state", "down",
                         "error", error->data ? (char *) error->data : "",
                         error->len);

    } else {
        body = json_pack("{s:s%, s:s, s:I}",
                         "address", (char *) rd->address.data,
                         rd->address.len, "state", "up",
                         "latency_us", (json_int_t) (us ? us : 1));
    }

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, error ? NGX_HTTP_SERVICE_UNAVAILABLE
                                             : NGX_HTTP_OK, body);
}


static void
ngx_http_itsm_redis_ping_cleanup(void *data)
{
    ngx_http_itsm_redis_ping_ctx_t *ctx = data;

    if (ctx->cmd) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "itsm redis: request gone, its PING %p cancelled",
                       ctx->cmd);

        ngx_http_itsm_redis_cancel(ctx->cmd);
        ctx->cmd = NULL;
    }
}
