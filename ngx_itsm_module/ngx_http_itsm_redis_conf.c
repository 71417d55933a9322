
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis_int.h"


/*
 * The itsm_redis directive: the address, the password file, the options,
 * and the checks of nginx -t.
 */


static char *ngx_http_itsm_redis_parse_address(ngx_conf_t *cf,
    ngx_http_itsm_redis_t *rd, ngx_str_t *value);
static char *ngx_http_itsm_redis_read_password(ngx_conf_t *cf,
    ngx_http_itsm_redis_t *rd, ngx_str_t *name);


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
