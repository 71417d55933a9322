
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"
#include "ngx_http_itsm_status.h"


/*
 * What the checks of the access phase (allow, token, sig, jwt) and the
 * module call: the reasons of a refusal and how one is kept for the
 * answer, the files a directive names, and the counters.  The module
 * calls the checks, and the checks call only this file: nothing here
 * calls the module or a check.
 */


#define NGX_HTTP_ITSM_ACCESS_FILE_MAX    (16 * 1024 * 1024)
#define NGX_HTTP_ITSM_ACCESS_MESSAGE_MAX 512


typedef struct {
    ngx_atomic_t                 count[NGX_HTTP_ITSM_ACCESS_NREASONS];
} ngx_http_itsm_access_counters_t;


static ngx_http_itsm_access_counters_t *ngx_http_itsm_access_counters(
    ngx_http_itsm_access_main_conf_t *amcf);
static ngx_int_t ngx_http_itsm_access_status(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_access_init_counters(ngx_shm_zone_t *shm_zone,
    void *data);


ngx_http_itsm_access_reason_t  ngx_http_itsm_access_reasons[] = {
    { ngx_string("passed"), NGX_OK },
    { ngx_string("address_not_allowed"), NGX_HTTP_FORBIDDEN },
    { ngx_string("signature_missing"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("signature_malformed"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("signature_mismatch"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("timestamp_too_old"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("timestamp_in_future"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("duplicate"), NGX_HTTP_OK },
    { ngx_string("delivery_in_flight"), NGX_HTTP_SERVICE_UNAVAILABLE },
    { ngx_string("token_missing"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("token_invalid"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("token_expired"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("token_not_yet_valid"), NGX_HTTP_UNAUTHORIZED },
    { ngx_string("token_forbidden"), NGX_HTTP_FORBIDDEN },
    { ngx_string("body_too_large"), NGX_HTTP_REQUEST_ENTITY_TOO_LARGE },
    { ngx_string("internal_error"), NGX_HTTP_INTERNAL_SERVER_ERROR },
    { ngx_string("replay_cache_unavailable"), NGX_HTTP_SERVICE_UNAVAILABLE }
};


static ngx_str_t  ngx_http_itsm_access_counters_name =
    ngx_string("itsm_access_counters");


/* the counters on the status page: itsm_access_total{result="..."} */

static ngx_http_itsm_status_provider_t  ngx_http_itsm_access_provider = {
    ngx_string("access"),
    ngx_string("Requests judged by the access phase, by result."),
    ngx_string("result"),
    ngx_http_itsm_access_status
};


/* the tag of the counters zone */
static ngx_uint_t  ngx_http_itsm_access_counters_tag;


/* keeps why the request is refused, for the answer; returns the reason */

ngx_http_itsm_access_e
ngx_http_itsm_access_fail(ngx_http_request_t *r, ngx_http_itsm_access_e reason,
    const char *fmt, ...)
{
    u_char                      *p;
    va_list                      args;
    ngx_http_itsm_access_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_access_module);

    ctx->result = reason;

    p = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_ACCESS_MESSAGE_MAX);
    if (p == NULL) {
        ngx_str_set(&ctx->error, "refused");
        return reason;
    }

    ctx->error.data = p;

    va_start(args, fmt);
    p = ngx_vslprintf(p, p + NGX_HTTP_ITSM_ACCESS_MESSAGE_MAX, fmt, args);
    va_end(args);

    ctx->error.len = p - ctx->error.data;

    return reason;
}


/*
 * Reads a file named in the configuration (relative to the configuration
 * prefix) whole, into the temporary pool.  A caller that reads secrets
 * from it keeps copies or digests, never pointers into the text, and
 * zeroes the text when done with it (ngx_explicit_memzero), whether the
 * file was good or not.
 */

ngx_int_t
ngx_http_itsm_access_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    if (name->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "an empty file name");
        return NGX_ERROR;
    }

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_ITSM_ACCESS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is larger than 16m", path.data);
        goto failed;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->temp_pool, out->len + 1);
    if (out->data == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, out->data, out->len);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", path.data);
        goto failed;
    }

    if ((size_t) n != out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           ngx_read_fd_n " \"%s\" returned only %z bytes "
                           "instead of %uz", path.data, n, out->len);
        goto failed;
    }

    out->data[out->len] = '\0';

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path.data);
    }

    return NGX_OK;

failed:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path.data);
    }

    return NGX_ERROR;
}


/*
 * The lines of a file read by ngx_http_itsm_access_read_file(), one at a
 * time: the line at "*pos" without the blanks around it and a "\r" at
 * its end, and "*pos" moved to the next line; NGX_DONE after the last.
 * With "comment", a "#" anywhere starts a comment to the end of the line.
 */

ngx_int_t
ngx_http_itsm_access_line(u_char **pos, u_char *last, ngx_uint_t comment,
    ngx_str_t *line)
{
    u_char  *p, *eol, *end;

    p = *pos;

    if (p >= last) {
        return NGX_DONE;
    }

    eol = ngx_strlchr(p, last, '\n');
    if (eol == NULL) {
        eol = last;
    }

    *pos = eol + 1;

    end = comment ? ngx_strlchr(p, eol, '#') : NULL;
    if (end == NULL) {
        end = eol;
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p
           && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    {
        end--;
    }

    line->data = p;
    line->len = end - p;

    return NGX_OK;
}


void
ngx_http_itsm_access_count(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason)
{
    ngx_http_itsm_access_counters_t  *counters;

    counters = ngx_http_itsm_access_counters(
                   ngx_http_get_module_main_conf(r,
                                                 ngx_http_itsm_access_module));

    if (counters) {
        (void) ngx_atomic_fetch_add(&counters->count[reason], 1);
    }
}


/* the counters of the running configuration, if it has any */

static ngx_http_itsm_access_counters_t *
ngx_http_itsm_access_counters(ngx_http_itsm_access_main_conf_t *amcf)
{
    if (amcf == NULL || amcf->counters == NULL) {
        return NULL;
    }

    return amcf->counters->data;
}


/* the counters for the status page, by result; 0 without an access phase */

static ngx_int_t
ngx_http_itsm_access_status(ngx_http_request_t *r, ngx_array_t *counts)
{
    ngx_uint_t                        i;
    ngx_http_itsm_status_count_t     *c;
    ngx_http_itsm_access_counters_t  *counters;

    counters = ngx_http_itsm_access_counters(
                   ngx_http_get_module_main_conf(r,
                                                 ngx_http_itsm_access_module));

    c = ngx_array_push_n(counts, NGX_HTTP_ITSM_ACCESS_NREASONS);
    if (c == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_ACCESS_NREASONS; i++) {
        c[i].name = ngx_http_itsm_access_reasons[i].name;
        c[i].value = counters ? counters->count[i] : 0;
    }

    return NGX_OK;
}


/* {"passed":12,"address_not_allowed":0,...} */

ngx_int_t
ngx_http_itsm_access_counters_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                           *p;
    size_t                            len;
    ngx_uint_t                        i;
    ngx_http_itsm_access_counters_t  *counters;

    counters = ngx_http_itsm_access_counters(
                   ngx_http_get_module_main_conf(r,
                                                 ngx_http_itsm_access_module));

    len = 2;

    for (i = 0; i < NGX_HTTP_ITSM_ACCESS_NREASONS; i++) {
        len += ngx_http_itsm_access_reasons[i].name.len + 4 + NGX_ATOMIC_T_LEN;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    *p++ = '{';

    for (i = 0; i < NGX_HTTP_ITSM_ACCESS_NREASONS; i++) {
        p = ngx_sprintf(p, "%s\"%V\":%uA", i ? "," : "",
                        &ngx_http_itsm_access_reasons[i].name,
                        counters ? counters->count[i] : 0);
    }

    *p++ = '}';

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* the counters of the access phase, in shared memory */

ngx_shm_zone_t *
ngx_http_itsm_access_counters_zone(ngx_conf_t *cf)
{
    return ngx_http_itsm_status_counters_zone(cf,
                                        &ngx_http_itsm_access_counters_name,
                                        &ngx_http_itsm_access_counters_tag,
                                        ngx_http_itsm_access_init_counters);
}


/* ... and on the status page */

ngx_int_t
ngx_http_itsm_access_counters_provide(ngx_conf_t *cf)
{
    return ngx_http_itsm_status_provide(cf, &ngx_http_itsm_access_provider);
}


static ngx_int_t
ngx_http_itsm_access_init_counters(ngx_shm_zone_t *shm_zone, void *data)
{
    return ngx_http_itsm_status_counters_init(shm_zone, data,
                                              sizeof(ngx_http_itsm_access_counters_t));
}
