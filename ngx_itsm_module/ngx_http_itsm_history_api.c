
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_conf.h"
#include "ngx_http_itsm_json_parse.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_history.h"


/*
 * itsm_history [window=SIZE];
 *
 * "What happened to this alert, this connector, the last failures?": the
 * newest lines of the delivery history (itsm_delivery_log), newest first,
 * as one JSON answer:
 *
 *   GET /itsm/history?key=db-1&connector=jira&failed=1&limit=20
 *   {"deliveries":[{...},{...}],"scanned":120,"whole_file":true}
 *
 * The file is the record; the location reads its last "window" bytes (a
 * bounded read of a file the page cache holds, like a static file) and
 * keeps the lines that match: "key" and "connector" exactly, "failed"
 * those whose status is not a 2xx.  "scanned" says how many lines the
 * window held, "whole_file" whether it reached the file's start.  The
 * lines hold bodies (secrets redacted): restrict the location like the
 * status page.
 */


#define NGX_HTTP_ITSM_HISTORY_WINDOW      (1024 * 1024)
#define NGX_HTTP_ITSM_HISTORY_WINDOW_MAX  (64 * 1024 * 1024)
#define NGX_HTTP_ITSM_HISTORY_LIMIT       50
#define NGX_HTTP_ITSM_HISTORY_LIMIT_MAX   1000

/* what stands on each side of a field's value in a line of the history
 * (ngx_http_itsm_history.c writes them in this order) */
#define NGX_HTTP_ITSM_HISTORY_KEY        ",\"key\":\"", "\",\"ticket\":"
#define NGX_HTTP_ITSM_HISTORY_CONNECTOR  ",\"connector\":\"", "\",\"action\":"


typedef struct {
    ngx_str_t                    key;          /* ,"key":"...","ticket": */
    ngx_str_t                    connector;    /* ,"connector":"...", */
    ngx_uint_t                   failed;
    ngx_uint_t                   limit;
} ngx_http_itsm_history_query_t;


static ngx_int_t ngx_http_itsm_history_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_history_query(ngx_http_request_t *r,
    ngx_http_itsm_history_query_t *q);
static ngx_int_t ngx_http_itsm_history_scan(ngx_http_itsm_history_query_t *q,
    ngx_str_t *text, ngx_array_t *found, ngx_uint_t *scanned);
static ngx_int_t ngx_http_itsm_history_needle(ngx_http_request_t *r,
    const char *name, const char *before, const char *after,
    ngx_str_t *out);
static ngx_int_t ngx_http_itsm_history_needle_of(ngx_pool_t *pool,
    ngx_str_t *value, const char *before, const char *after, ngx_str_t *out);
static ngx_int_t ngx_http_itsm_history_read(ngx_http_request_t *r,
    ngx_http_itsm_history_t *h, size_t window, ngx_str_t *text,
    ngx_uint_t *whole);
static ngx_uint_t ngx_http_itsm_history_match(ngx_http_itsm_history_query_t *q,
    u_char *line, size_t len);
static u_char *ngx_http_itsm_history_find(u_char *p, u_char *last,
    u_char *s, size_t len);


char *
ngx_http_itsm_history_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t                  *value, arg;
    ngx_http_itsm_main_conf_t  *imcf;

    value = cf->args->elts;

    ilcf->history_window = NGX_HTTP_ITSM_HISTORY_WINDOW;

    if (cf->args->nelts == 2) {

        if (!ngx_http_itsm_conf_param(&value[1], "window=", &arg)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"itsm_history\"; "
                               "expected window=SIZE, e.g. window=4m",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_itsm_conf_size(cf, &arg, 4096,
                                    NGX_HTTP_ITSM_HISTORY_WINDOW_MAX,
                                    &ilcf->history_window, "window",
                                    " in \"itsm_history\"; expected 4k to "
                                    "64m, e.g. window=4m")
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    /* the file is itsm_delivery_log's, which may come later in http{}:
     * its presence is checked once the configuration is read */

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (imcf->history_api_file == NULL) {
        imcf->history_api_file = cf->conf_file->file.name.data;
        imcf->history_api_line = cf->conf_file->line;
    }

    return ngx_http_itsm_conf_content(cf, ngx_http_itsm_history_handler);
}


/* once http{} is read: no itsm_delivery_log is no history, and an
 * itsm_history location then has nothing to read */

ngx_int_t
ngx_http_itsm_history_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf)
{
    if (imcf->history == NGX_CONF_UNSET_PTR) {
        imcf->history = NULL;
    }

    if (imcf->history == NULL && imcf->history_api_file) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"itsm_history\" in %s:%ui reads the delivery history, "
                      "and there is none: add \"itsm_delivery_log PATH;\" to "
                      "the http block", imcf->history_api_file,
                      imcf->history_api_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_history_handler(ngx_http_request_t *r)
{
    u_char                         *out, *o;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                       text;
    ngx_uint_t                      whole, scanned, n, i;
    ngx_array_t                     found;
    ngx_str_t                      *f;
    ngx_http_itsm_history_t        *h;
    ngx_http_itsm_loc_conf_t       *ilcf;
    ngx_http_itsm_main_conf_t      *imcf;
    ngx_http_itsm_history_query_t   q;

    rc = ngx_http_itsm_reply_read_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);
    h = imcf->history;

    rc = ngx_http_itsm_history_query(r, &q);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_itsm_history_read(r, h, ilcf->history_window, &text, &whole)
        != NGX_OK)
    {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "history_unreadable",
                                         "the delivery history \"%V\" could "
                                         "not be read; see the error log",
                                         &h->path);
    }

    if (ngx_array_init(&found, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK
        || ngx_http_itsm_history_scan(&q, &text, &found, &scanned) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;
    f = found.elts;

    for (i = 0; i < found.nelts; i++) {
        len += f[i].len + 1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm history: %ui of %ui lines, whole file: %ui",
                   found.nelts, scanned, whole);

    out = ngx_pnalloc(r->pool, len + sizeof("{\"deliveries\":[],\"scanned\":"
                                             ",\"whole_file\":false}")
                               + NGX_INT_T_LEN);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o = ngx_cpymem(out, "{\"deliveries\":[", sizeof("{\"deliveries\":[") - 1);

    f = found.elts;
    n = found.nelts;

    for (i = 0; i < n; i++) {
        if (i) {
            *o++ = ',';
        }

        o = ngx_cpymem(o, f[i].data, f[i].len);
    }

    o = ngx_sprintf(o, "],\"scanned\":%ui,\"whole_file\":%s}", scanned,
                    whole ? "true" : "false");

    return ngx_http_itsm_reply_raw(r, NGX_HTTP_OK, out, o - out);
}


/*
 * The lines of "text" that match "q", newest first, up to its limit, into
 * "found" (ngx_str_t, without their LF); "scanned": the lines "text" holds.
 */

static ngx_int_t
ngx_http_itsm_history_scan(ngx_http_itsm_history_query_t *q, ngx_str_t *text,
    ngx_array_t *found, ngx_uint_t *scanned)
{
    u_char     *p, *end, *line;
    ngx_str_t  *f;

    *scanned = 0;
    end = text->data + text->len;

    while (end > text->data && found->nelts < q->limit) {

        /* the line ending at "end" (its LF left out) */

        if (end[-1] == LF) {
            end--;
        }

        line = end;

        while (line > text->data && line[-1] != LF) {
            line--;
        }

        if (end > line) {
            (*scanned)++;

            if (ngx_http_itsm_history_match(q, line, end - line)) {
                f = ngx_array_push(found);
                if (f == NULL) {
                    return NGX_ERROR;
                }

                f->data = line;
                f->len = end - line;
            }
        }

        end = line;
    }

    /* the limit was reached: the lines before are counted all the same */

    for (p = text->data; p < end; p++) {
        if (*p == LF) {
            (*scanned)++;
        }
    }

    return NGX_OK;
}


/*
 * For the dead letters' list (ngx_http_itsm_queue.c) and the connectors'
 * (ngx_http_itsm_registry.c): the history's last window (empty without
 * itsm_delivery_log) ...
 */

ngx_int_t
ngx_http_itsm_history_tail(ngx_http_request_t *r, ngx_str_t *text)
{
    ngx_uint_t                  whole;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    if (imcf->history == NULL) {
        ngx_str_null(text);
        return NGX_OK;
    }

    return ngx_http_itsm_history_read(r, imcf->history,
                                      NGX_HTTP_ITSM_HISTORY_WINDOW, text,
                                      &whole);
}


/* ... then its lines of "connector" (and "key", unless NULL), "failed"
 * ones only if asked, newest first, up to "limit", into "found"
 * (ngx_str_t) */

ngx_int_t
ngx_http_itsm_history_lines(ngx_http_request_t *r, ngx_str_t *text,
    ngx_str_t *connector, ngx_str_t *key, ngx_uint_t failed, ngx_uint_t limit,
    ngx_array_t *found)
{
    ngx_uint_t                     scanned;
    ngx_http_itsm_history_query_t  q;

    if (ngx_array_init(found, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (text->len == 0) {
        return NGX_OK;
    }

    ngx_memzero(&q, sizeof(ngx_http_itsm_history_query_t));

    q.limit = limit;
    q.failed = failed;

    if ((key && ngx_http_itsm_history_needle_of(r->pool, key,
                                                NGX_HTTP_ITSM_HISTORY_KEY,
                                                &q.key)
                != NGX_OK)
        || ngx_http_itsm_history_needle_of(r->pool, connector,
                                           NGX_HTTP_ITSM_HISTORY_CONNECTOR,
                                           &q.connector)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_history_scan(&q, text, found, &scanned);
}


/* ?key=K&connector=NAME&failed=1&limit=N */

static ngx_int_t
ngx_http_itsm_history_query(ngx_http_request_t *r,
    ngx_http_itsm_history_query_t *q)
{
    ngx_int_t  n;
    ngx_str_t  arg;

    ngx_memzero(q, sizeof(ngx_http_itsm_history_query_t));

    q->limit = NGX_HTTP_ITSM_HISTORY_LIMIT;

    if (ngx_http_arg(r, (u_char *) "limit", 5, &arg) == NGX_OK) {
        n = ngx_atoi(arg.data, arg.len);

        if (n < 1 || n > NGX_HTTP_ITSM_HISTORY_LIMIT_MAX) {
            return ngx_http_itsm_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                             "bad_limit",
                                             "limit= takes 1 to %d",
                                             NGX_HTTP_ITSM_HISTORY_LIMIT_MAX);
        }

        q->limit = n;
    }

    if (ngx_http_arg(r, (u_char *) "failed", 6, &arg) == NGX_OK) {
        q->failed = (arg.len == 1 && arg.data[0] == '1');
    }

    if (ngx_http_itsm_history_needle(r, "key", NGX_HTTP_ITSM_HISTORY_KEY,
                                     &q->key)
        != NGX_OK
        || ngx_http_itsm_history_needle(r, "connector",
                                        NGX_HTTP_ITSM_HISTORY_CONNECTOR,
                                        &q->connector)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * The bytes a line holds when its field "name" is the argument: the
 * argument URL-decoded, escaped as the history escapes it, between the
 * field's neighbours.  Quotes in a body are escaped (\"), so the needle
 * can only match the field itself.
 */

static ngx_int_t
ngx_http_itsm_history_needle(ngx_http_request_t *r, const char *name,
    const char *before, const char *after, ngx_str_t *out)
{
    ngx_str_t  value;

    ngx_str_null(out);

    if (ngx_http_itsm_util_arg(r, name, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.data == NULL) {
        return NGX_OK;
    }

    return ngx_http_itsm_history_needle_of(r->pool, &value, before, after,
                                           out);
}


static ngx_int_t
ngx_http_itsm_history_needle_of(ngx_pool_t *pool, ngx_str_t *value,
    const char *before, const char *after, ngx_str_t *out)
{
    u_char  *p;
    size_t   nb, na;

    nb = ngx_strlen(before);
    na = ngx_strlen(after);

    out->data = ngx_pnalloc(pool, nb + na + value->len
                            + ngx_http_itsm_json_escape(NULL, value->data,
                                                        value->len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, before, nb);
    p = (u_char *) ngx_http_itsm_json_escape(p, value->data, value->len);
    p = ngx_cpymem(p, after, na);

    out->len = p - out->data;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_itsm_history_match(ngx_http_itsm_history_query_t *q, u_char *line,
    size_t len)
{
    u_char      *p;
    ngx_int_t    status;

    if (q->key.len
        && ngx_http_itsm_history_find(line, line + len, q->key.data,
                                      q->key.len)
           == NULL)
    {
        return 0;
    }

    if (q->connector.len
        && ngx_http_itsm_history_find(line, line + len, q->connector.data,
                                      q->connector.len)
           == NULL)
    {
        return 0;
    }

    if (!q->failed) {
        return 1;
    }

    p = ngx_http_itsm_history_find(line, line + len, (u_char *) ",\"status\":",
                                   sizeof(",\"status\":") - 1);
    if (p == NULL) {
        return 0;
    }

    p += sizeof(",\"status\":") - 1;

    status = ngx_atoi(p, ngx_min(3, (size_t) (line + len - p)));

    return (status < 200 || status > 299);
}


/* "s" in [p, last), exactly */

static u_char *
ngx_http_itsm_history_find(u_char *p, u_char *last, u_char *s, size_t len)
{
    while (p + len <= last) {
        p = ngx_strlchr(p, last - len + 1, s[0]);

        if (p == NULL) {
            return NULL;
        }

        if (ngx_memcmp(p, s, len) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


/*
 * The last "window" bytes of the file, from the first whole line in
 * them.  A file not there yet (nothing delivered since it was rotated) is
 * an empty history.
 */

static ngx_int_t
ngx_http_itsm_history_read(ngx_http_request_t *r, ngx_http_itsm_history_t *h,
    size_t window, ngx_str_t *text, ngx_uint_t *whole)
{
    u_char          *p, *name;
    off_t            size, off;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_str_null(text);
    *whole = 1;

    name = ngx_pnalloc(r->pool, h->file->name.len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name, h->file->name.data, h->file->name.len + 1);

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {

        if (ngx_errno == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%s\" (itsm_history) failed", name);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name.data = name;
    file.name.len = h->file->name.len;
    file.log = r->connection->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" (itsm_history) failed", name);
        goto failed;
    }

    size = ngx_file_size(&fi);
    off = (size > (off_t) window) ? size - (off_t) window : 0;

    *whole = (off == 0);

    /* one byte before the window: whether its first line begins at its
     * start (that byte is a LF) or inside it */

    if (off) {
        off--;
    }

    if (size == 0) {
        goto done;
    }

    p = ngx_pnalloc(r->pool, (size_t) (size - off));
    if (p == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, p, (size_t) (size - off), off);

    if (n == NGX_ERROR) {
        goto failed;
    }

    text->data = p;
    text->len = n;

    /* from the first line that begins in the window */

    if (off) {
        p = ngx_strlchr(text->data, text->data + text->len, LF);
        p = p ? p + 1 : text->data + text->len;

        text->len -= p - text->data;
        text->data = p;
    }

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name);
    }

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}
