
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_conf.h"
#include "ngx_http_itsm_json_parse.h"
#include "ngx_http_itsm_parse.h"
#include "ngx_http_itsm_history.h"


/*
 * The delivery history: "what exactly did we send, and what did the ITSM
 * say?".  Each request the module makes (an action, the lookup or find
 * before it, a state carried back to an alert's source) ends here once,
 * when its answer is in (ngx_http_itsm_deliver.c), and is written as one
 * JSON line:
 *
 *   {"time":"2026-12-06T22:45:01.123Z","connector":"jira",
 *    "action":"create","step":"action","key":"db-1","ticket":"",
 *    "method":"POST","uri":"/_itsm/jira/rest/api/3/issue","status":201,
 *    "ms":87,"request":"{...}","request_bytes":912,
 *    "response":"{...}","response_bytes":88}
 *
 * A delivery from the queue says which attempt it is ("replay":N, before
 * "status"); a cut answer adds "response_cut":true, no answer at all an
 * "error".
 *
 * Headers are never written (they carry the credentials); the values of
 * members named in the redact list (a default list of the usual secret
 * names, and the directive's own) are written as "[redacted]", in JSON
 * bodies, form bodies and the query string.  Bodies are cut at "body="
 * bytes, never inside a UTF-8 character.  The file is opened as nginx
 * opens an access log: by the master, reopened on USR1.
 */


static ngx_int_t ngx_http_itsm_history_names(ngx_conf_t *cf,
    ngx_http_itsm_history_t *h, ngx_str_t *list);
static ngx_int_t ngx_http_itsm_history_redact(ngx_pool_t *pool,
    ngx_str_t *text, ngx_uint_t form, ngx_array_t *names);
static u_char *ngx_http_itsm_history_string(u_char *p, const char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_itsm_history_utf8(ngx_pool_t *pool,
    ngx_str_t *text);


/* names whose values are secrets wherever they appear */

static ngx_http_itsm_name_t  ngx_http_itsm_history_secrets[] = {
    ngx_string("password"),
    ngx_string("secret"),
    ngx_string("token"),
    ngx_string("api_key"),
    ngx_string("apikey"),
    ngx_string("api_token"),
    ngx_string("routing_key"),
    ngx_string("integration_key"),
    ngx_string("service_key"),
    ngx_string("client_secret"),
    ngx_string("access_token"),
    ngx_string("refresh_token"),
    ngx_string("authorization"),
    { 0, NULL }
};


/*
 * itsm_delivery_log PATH [body=SIZE] [redact=NAME[,NAME...]] | off;
 */

char *
ngx_http_itsm_history_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    ngx_str_t                *value, arg;
    ngx_uint_t                i;
    ngx_http_itsm_name_t     *name;
    ngx_http_itsm_history_t  *h;

    if (imcf->history != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {

        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"itsm_delivery_log off\" takes no "
                               "parameters");
            return NGX_CONF_ERROR;
        }

        imcf->history = NULL;
        return NGX_CONF_OK;
    }

    h = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_history_t));
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&h->redact, cf->pool, 16,
                       sizeof(ngx_http_itsm_name_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 0; ngx_http_itsm_history_secrets[i].len; i++) {
        name = ngx_array_push(&h->redact);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = ngx_http_itsm_history_secrets[i];
    }

    h->path = value[1];
    h->body = NGX_HTTP_ITSM_HISTORY_BODY;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "body=", &arg)) {

            if (ngx_http_itsm_conf_size(cf, &arg, 0,
                                        NGX_HTTP_ITSM_HISTORY_BODY_MAX,
                                        &h->body, "body size",
                                        " in \"itsm_delivery_log\"; expected "
                                        "0 to 64k, e.g. body=4k (0 writes no "
                                        "bodies)")
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "redact=", &arg)) {

            if (ngx_http_itsm_history_names(cf, h, &arg) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in "
                           "\"itsm_delivery_log\"; expected body=SIZE or "
                           "redact=NAME[,NAME...]", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* opened (and reopened on USR1) with the access logs */

    h->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (h->file == NULL) {
        return NGX_CONF_ERROR;
    }

    imcf->history = h;

    return NGX_CONF_OK;
}


/* "a,b,c": names of JSON members or form fields, each 1-64 bytes */

static ngx_int_t
ngx_http_itsm_history_names(ngx_conf_t *cf, ngx_http_itsm_history_t *h,
    ngx_str_t *list)
{
    u_char                *p, *last, *comma;
    ngx_http_itsm_name_t  *name;

    p = list->data;
    last = p + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma == p || comma - p > 64) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redact=\"%V\" in "
                               "\"itsm_delivery_log\"; expected names of "
                               "1 to 64 bytes separated by commas, e.g. "
                               "redact=routing_key,api_key", list);
            return NGX_ERROR;
        }

        name = ngx_array_push(&h->redact);
        if (name == NULL) {
            return NGX_ERROR;
        }

        name->data = p;
        name->len = comma - p;

        if (comma == last) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


void
ngx_http_itsm_history_write(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d)
{
    size_t                      len;
    u_char                     *line, *p, *resp;
    ngx_tm_t                    tm;
    ngx_str_t                   uri, args, request, response, key, ticket,
                                step, *action;
    ngx_time_t                 *tp;
    ngx_msec_int_t              ms;
    ngx_http_itsm_history_t    *h;
    ngx_http_itsm_main_conf_t  *imcf;

    static time_t               failed;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    h = imcf->history;

    if (h == NULL) {
        return;
    }

    /* what was asked: the path, with the query string's secrets hidden */

    uri = d->uri;
    args = d->args;

    if (args.len) {
        if (ngx_http_itsm_history_redact(r->pool, &args, 1, &h->redact)
            != NGX_OK)
        {
            return;
        }

        uri.len = d->uri.len + 1 + args.len;
        uri.data = ngx_pnalloc(r->pool, uri.len);
        if (uri.data == NULL) {
            return;
        }

        p = ngx_cpymem(uri.data, d->uri.data, d->uri.len);
        *p++ = '?';
        ngx_memcpy(p, args.data, args.len);
    }

    request = d->body;

    if (request.len > h->body) {
        request.len = ngx_http_itsm_deliver_utf8_cut(request.data, h->body);
    }

    response.len = 0;
    response.data = NULL;

    if (h->body && d->response_len) {
        resp = ngx_http_itsm_deliver_response(r, d, &len);
        if (resp == NULL) {
            return;
        }

        response.data = resp;
        response.len = (len > h->body)
                       ? ngx_http_itsm_deliver_utf8_cut(resp, h->body) : len;
    }

    if (ngx_http_itsm_history_redact(r->pool, &request, 0, &h->redact)
           != NGX_OK
        || ngx_http_itsm_history_redact(r->pool, &response, 0, &h->redact)
           != NGX_OK
        || ngx_http_itsm_history_utf8(r->pool, &response) != NGX_OK
        || ngx_http_itsm_history_utf8(r->pool, &request) != NGX_OK)
    {
        return;
    }

    /* a verify probe serves no action: it is its own */

    action = &ngx_http_itsm_action_names[d->action];

    if (d->verify) {
        ngx_str_set(&step, "verify");
        action = &step;

    } else if (d->find) {
        ngx_str_set(&step, "find");

    } else if (d->lookup) {
        ngx_str_set(&step, "lookup");

    } else {
        ngx_str_set(&step, "action");
    }

    key = d->tpl->key;
    ticket = d->tpl->ticket_id;

    len = sizeof("{\"time\":\"2026-12-06T22:45:01.123Z\",\"connector\":\"\","
                 "\"action\":\"\",\"step\":\"\",\"key\":\"\",\"ticket\":\"\","
                 "\"method\":\"\",\"uri\":\"\",\"replay\":,\"status\":,"
                 "\"ms\":,"
                 "\"request\":\"\",\"request_bytes\":,\"response\":\"\","
                 "\"response_bytes\":,\"response_cut\":true,"
                 "\"error\":\"\"}\n")
          + 5 * NGX_INT_T_LEN
          + d->connector->name.len
          + action->len + step.len
          + d->method.len
          + key.len + ngx_http_itsm_json_escape(NULL, key.data, key.len)
          + ticket.len
          + ngx_http_itsm_json_escape(NULL, ticket.data, ticket.len)
          + uri.len + ngx_http_itsm_json_escape(NULL, uri.data, uri.len)
          + request.len
          + ngx_http_itsm_json_escape(NULL, request.data, request.len)
          + response.len
          + ngx_http_itsm_json_escape(NULL, response.data, response.len)
          + sizeof("no answer from the ITSM: the connection was refused, "
                   "reset or timed out");

    line = ngx_pnalloc(r->pool, len);
    if (line == NULL) {
        return;
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    ms = (ngx_msec_int_t) (ngx_current_msec - d->start);

    p = ngx_sprintf(line, "{\"time\":\"%4d-%02d-%02dT%02d:%02d:%02d.%03MZ\"",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                    (ngx_msec_t) tp->msec);

    /* connector and action names are plain words: checked at load */

    p = ngx_sprintf(p, ",\"connector\":\"%V\",\"action\":\"%V\","
                    "\"step\":\"%V\"", &d->connector->name,
                    action, &step);

    p = ngx_http_itsm_history_string(p, "key", &key);
    p = ngx_http_itsm_history_string(p, "ticket", &ticket);

    p = ngx_sprintf(p, ",\"method\":\"%V\"", &d->method);
    p = ngx_http_itsm_history_string(p, "uri", &uri);

    /* a delivery from the queue: which attempt */

    if (d->replay) {
        p = ngx_sprintf(p, ",\"replay\":%ui", d->replay);
    }

    p = ngx_sprintf(p, ",\"status\":%ui,\"ms\":%M", d->status,
                    (ngx_msec_t) ngx_max(ms, 0));

    p = ngx_http_itsm_history_string(p, "request", &request);
    p = ngx_sprintf(p, ",\"request_bytes\":%uz", d->body.len);

    p = ngx_http_itsm_history_string(p, "response", &response);
    p = ngx_sprintf(p, ",\"response_bytes\":%uz", d->response_len);

    if (d->truncated) {
        p = ngx_cpymem(p, ",\"response_cut\":true",
                       sizeof(",\"response_cut\":true") - 1);
    }

    if (!d->answered) {
        p = ngx_cpymem(p, ",\"error\":\"no answer from the ITSM: the "
                       "connection was refused, reset or timed out\"",
                       sizeof(",\"error\":\"no answer from the ITSM: the "
                              "connection was refused, reset or timed "
                              "out\"") - 1);
    }

    *p++ = '}';
    *p++ = LF;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm history: %V %V, %uz bytes",
                   &d->connector->name, action, (size_t) (p - line));

    /* one write() of the whole line: O_APPEND keeps lines of several
     * workers whole */

    if (ngx_write_fd(h->file->fd, line, p - line) != p - line
        && ngx_time() - failed >= 60)
    {
        failed = ngx_time();
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "itsm: \"itsm_delivery_log\" could not write to \"%V\" "
                      "(said at most once a minute)", &h->path);
    }
}


/*
 * An answer that is not UTF-8 (an ITSM that answers in Latin-1, a binary
 * error page) would make the line invalid JSON: each byte that does not
 * begin a valid UTF-8 character is written as the character of its value
 * (0xe9 as U+00E9, Latin-1's reading), the rest as it is.  A text that is
 * UTF-8 is left alone.
 */

static ngx_int_t
ngx_http_itsm_history_utf8(ngx_pool_t *pool, ngx_str_t *text)
{
    u_char    *p, *q, *last, *copy, *d;
    uint32_t   ch;

    p = text->data;
    last = p + text->len;

    while (p < last) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        q = p;
        ch = ngx_utf8_decode(&q, last - p);

        if (ch > 0x10ffff) {
            break;
        }

        p = q;
    }

    if (p == last) {
        return NGX_OK;
    }

    copy = ngx_pnalloc(pool, text->len * 2);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    d = ngx_cpymem(copy, text->data, p - text->data);

    while (p < last) {
        if (*p < 0x80) {
            *d++ = *p++;
            continue;
        }

        q = p;
        ch = ngx_utf8_decode(&q, last - p);

        if (ch <= 0x10ffff) {
            d = ngx_cpymem(d, p, q - p);
            p = q;
            continue;
        }

        /* U+0080..U+00FF in two bytes */

        *d++ = (u_char) (0xc0 | (*p >> 6));
        *d++ = (u_char) (0x80 | (*p & 0x3f));
        p++;
    }

    text->data = copy;
    text->len = d - copy;

    return NGX_OK;
}


/* ,"name":"value" with the value escaped */

static u_char *
ngx_http_itsm_history_string(u_char *p, const char *name, ngx_str_t *value)
{
    p = ngx_sprintf(p, ",\"%s\":\"", name);
    p = (u_char *) ngx_http_itsm_json_escape(p, value->data, value->len);
    *p++ = '"';

    return p;
}


/*
 * A copy of "text" with the values of "names" (ngx_http_itsm_name_t)
 * replaced (ngx_http_itsm_redact.c): a query string ("form") or a body,
 * JSON or a form.
 */

static ngx_int_t
ngx_http_itsm_history_redact(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t form, ngx_array_t *names)
{
    u_char  *copy;

    if (text->len == 0) {
        return NGX_OK;
    }

    copy = ngx_pnalloc(pool, ngx_http_itsm_redact_room(text->data,
                                                       text->len));
    if (copy == NULL) {
        return NGX_ERROR;
    }

    text->len = ngx_http_itsm_redact(copy, text->data, text->len, form,
                                     names->elts, names->nelts);
    text->data = copy;

    return NGX_OK;
}


/*
 * "text" as the history would write it, for the debug log: with the
 * directive's names, or the default ones without it.  Empty when there is
 * no memory for the copy.
 */

void
ngx_http_itsm_history_hide(ngx_http_request_t *r, ngx_str_t *text)
{
    ngx_array_t                 defaults;
    ngx_http_itsm_history_t    *h;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    h = imcf->history;

    /* the default names as an array that is not grown */

    defaults.elts = ngx_http_itsm_history_secrets;
    defaults.nelts = sizeof(ngx_http_itsm_history_secrets)
                     / sizeof(ngx_http_itsm_name_t) - 1;

    if (ngx_http_itsm_history_redact(r->pool, text, 0,
                                     h ? &h->redact : &defaults)
        != NGX_OK)
    {
        text->len = 0;
    }
}
