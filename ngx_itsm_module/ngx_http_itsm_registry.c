
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_history.h"
#include "ngx_http_itsm_store.h"


/*
 * The connector registry: "which integrations exist, who owns them, and
 * do they still work?".  A connector says who owns it, what it is for and
 * the events it serves (its owner, description and events lines); the
 * rest is read from the configuration (where it is declared, its
 * location, its actions, whether it finds lost creates and takes
 * callbacks, the kind of credential its headers carry, never the value)
 * and from the delivery history (its last success and its last failure
 * in the ITSM's own words, and its requests by action and result in the
 * history's last window).  The itsm_connectors location answers it as
 * JSON.
 */


#define NGX_HTTP_ITSM_REGISTRY_TEXT_MAX  256

/* a byte of an Authorization scheme's name */
#define ngx_http_itsm_registry_word(c)                                       \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                \
     || ((c) >= '0' && (c) <= '9') || (c) == '-' || (c) == '_')

/* the lines of the history a connector's figures are read from */
#define NGX_HTTP_ITSM_REGISTRY_LINES     100000


static ngx_int_t ngx_http_itsm_registry_handler(ngx_http_request_t *r);
static json_t *ngx_http_itsm_registry_one(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_str_t *history);
static ngx_int_t ngx_http_itsm_registry_queue(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, json_t *one);
static json_t *ngx_http_itsm_registry_verify_json(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn);
static void ngx_http_itsm_registry_time(time_t t, u_char *buf);
static json_t *ngx_http_itsm_registry_auth(ngx_http_itsm_connector_t *conn);
static ngx_uint_t ngx_http_itsm_registry_secret_name(ngx_str_t *name);
static ngx_int_t ngx_http_itsm_registry_recent(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_str_t *history, json_t *one);
static ngx_int_t ngx_http_itsm_registry_field(ngx_str_t *line,
    const char *name, ngx_str_t *value);
static json_t *ngx_http_itsm_registry_str(ngx_str_t *s);


/* owner TEXT; description TEXT; events TEXT; (in itsm_connector) */

char *
ngx_http_itsm_registry_line(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    json_t     *text;
    ngx_str_t  *field;

    switch (value[0].data[0]) {

    case 'o':
        field = &conn->owner;
        break;

    case 'd':
        field = &conn->description;
        break;

    default: /* 'e' */
        field = &conn->events;
    }

    if (field->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is duplicate in itsm_connector \"%V\"",
                           &value[0], &conn->name);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0 || value[1].len > NGX_HTTP_ITSM_REGISTRY_TEXT_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" of itsm_connector \"%V\" takes 1 to %d "
                           "bytes of text, e.g. %V \"team-ops@example.com\"",
                           &value[0], &conn->name,
                           NGX_HTTP_ITSM_REGISTRY_TEXT_MAX, &value[0]);
        return NGX_CONF_ERROR;
    }

    /* the registry answers it as a JSON string */

    text = json_stringn((char *) value[1].data, value[1].len);

    if (text == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" of itsm_connector \"%V\" is not UTF-8 "
                           "text", &value[0], &conn->name);
        return NGX_CONF_ERROR;
    }

    json_decref(text);

    *field = value[1];

    return NGX_CONF_OK;
}


/* itsm_connectors; */

char *
ngx_http_itsm_registry_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_itsm_conf_content(cf, ngx_http_itsm_registry_handler);
}


static ngx_int_t
ngx_http_itsm_registry_handler(ngx_http_request_t *r)
{
    json_t                      *body, *list, *one;
    ngx_int_t                    rc;
    ngx_str_t                    history;
    ngx_uint_t                   i;
    ngx_http_itsm_connector_t  **conn;
    ngx_http_itsm_main_conf_t   *imcf;

    rc = ngx_http_itsm_reply_read_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    /* one read of the history for all connectors */

    if (ngx_http_itsm_history_tail(r, &history) != NGX_OK) {
        ngx_str_null(&history);
    }

    body = json_object();
    list = json_array();

    if (body == NULL || list == NULL
        || json_object_set_new(body, "connectors", list) != 0
        || ngx_http_itsm_json_cleanup_add(r->pool, body) != NGX_OK)
    {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        one = ngx_http_itsm_registry_one(r, conn[i], &history);

        if (one == NULL || json_array_append_new(list, one) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (json_object_set_new(body, "history", json_boolean(imcf->history))
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_OK, json_incref(body));
}


static json_t *
ngx_http_itsm_registry_one(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_str_t *history)
{
    u_char      *p, declared[NGX_MAX_PATH + NGX_INT_T_LEN + 2];
    json_t      *one, *actions;
    ngx_uint_t   a;

    p = ngx_snprintf(declared, sizeof(declared), "%s:%ui", conn->file,
                     conn->line);

    actions = json_array();
    if (actions == NULL) {
        return NULL;
    }

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {
        if (conn->actions[a]
            && json_array_append_new(actions,
                        ngx_http_itsm_registry_str(
                                           &ngx_http_itsm_action_names[a]))
               != 0)
        {
            json_decref(actions);
            return NULL;
        }
    }

    one = json_pack("{s:o,s:o,s:o,s:o,s:s#,s:o,s:o,s:b,s:b,s:o,s:o,s:o,s:o}",
                    "name", ngx_http_itsm_registry_str(&conn->name),
                    "owner", ngx_http_itsm_registry_str(&conn->owner),
                    "description",
                    ngx_http_itsm_registry_str(&conn->description),
                    "events", ngx_http_itsm_registry_str(&conn->events),
                    "declared", declared, (int) (p - declared),
                    "location", ngx_http_itsm_registry_str(&conn->location),
                    "actions", actions,
                    "find", conn->find != NULL,
                    "callbacks", conn->callback != NULL,
                    "auth", ngx_http_itsm_registry_auth(conn),
                    "sent", ngx_http_itsm_registry_sent(r, conn),
                    "limit", ngx_http_itsm_limit_json(r, conn),
                    "verify", ngx_http_itsm_registry_verify_json(r, conn));

    if (one == NULL) {
        return NULL;
    }

    if (ngx_http_itsm_registry_recent(r, conn, history, one) != NGX_OK
        || ngx_http_itsm_registry_queue(r, conn, one) != NGX_OK)
    {
        json_decref(one);
        return NULL;
    }

    return one;
}


/* what waits for the connector in the store: "queued" (due again) and
 * "dead_letters"; null without a store, or when it cannot be read */

static ngx_int_t
ngx_http_itsm_registry_queue(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, json_t *one)
{
    ngx_uint_t                  waiting, dead;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    /* on Redis the queue is one for all connectors: its counts by
     * connector would need a walk of it (the status page has the totals) */

    if (imcf->store == NULL
        || ngx_http_itsm_store_on_redis(imcf->store)
        || ngx_http_itsm_store_pending_count(imcf->store, &conn->name,
                                             &waiting, &dead)
           != NGX_OK)
    {
        return (json_object_set_new(one, "queued", json_null()) == 0
                && json_object_set_new(one, "dead_letters", json_null()) == 0)
               ? NGX_OK : NGX_ERROR;
    }

    return (json_object_set_new(one, "queued",
                                json_integer((json_int_t) waiting))
            == 0
            && json_object_set_new(one, "dead_letters",
                                   json_integer((json_int_t) dead))
               == 0)
           ? NGX_OK : NGX_ERROR;
}


/*
 * The credentials the connector's header lines carry, by kind, never by
 * value: "Authorization: Basic" (the scheme), "Authorization: (no
 * scheme)", or a header whose name says it holds a key or a token.  None:
 * the credential is the location's (proxy_set_header), which the module
 * does not read.
 */

static json_t *
ngx_http_itsm_registry_auth(ngx_http_itsm_connector_t *conn)
{
    u_char                  *p, *last;
    json_t                  *list;
    ngx_str_t                scheme, *name;
    ngx_uint_t               i;
    ngx_http_itsm_header_t  *h;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    h = conn->headers.elts;

    for (i = 0; i < conn->headers.nelts; i++) {
        name = &h[i].name;

        if (name->len == sizeof("Authorization") - 1
            && ngx_strncasecmp(name->data, (u_char *) "Authorization",
                               name->len)
               == 0)
        {
            /*
             * The scheme: the value's first word, when a space follows it
             * (the credential) and it is a word (Basic, Bearer, Token,
             * GenieKey); a value of one word is the credential itself,
             * and only its presence is said.
             */

            p = h[i].value->source.data;
            last = p + h[i].value->source.len;

            scheme.data = p;

            while (p < last && p - scheme.data <= 20
                   && ngx_http_itsm_registry_word(*p))
            {
                p++;
            }

            scheme.len = p - scheme.data;

            if (scheme.len == 0 || scheme.len > 20 || p == last
                || *p != ' ')
            {
                ngx_str_set(&scheme, "(no scheme)");
            }

            if (json_array_append_new(list,
                           json_pack("s+#", "Authorization: ",
                                     (char *) scheme.data, (int) scheme.len))
                != 0)
            {
                json_decref(list);
                return NULL;
            }

            continue;
        }

        if (ngx_http_itsm_registry_secret_name(name)) {
            if (json_array_append_new(list,
                           json_pack("s+#", "header ", (char *) name->data,
                                     (int) name->len))
                != 0)
            {
                json_decref(list);
                return NULL;
            }
        }
    }

    return list;
}


/* a header name that says it carries a credential: X-Api-Key,
 * X-Auth-Token, X-Redmine-API-Key, Ocp-Apim-Subscription-Key, ...; not
 * X-Key (an alert's key) */

static ngx_uint_t
ngx_http_itsm_registry_secret_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    static ngx_str_t  words[] = {
        ngx_string("api-key"), ngx_string("apikey"), ngx_string("api_key"),
        ngx_string("token"), ngx_string("secret"), ngx_string("auth"),
        ngx_string("subscription-key"), ngx_string("access-key"),
        ngx_null_string
    };

    for (i = 0; words[i].len; i++) {
        if (ngx_strlcasestrn(name->data, name->data + name->len,
                             words[i].data, words[i].len - 1)
            != NULL)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * From the history's last window: the connector's requests by action and
 * result ("ok" a 2xx, "failed" anything else), its newest success and its
 * newest failure (whole lines of the history), or null.
 */

static ngx_int_t
ngx_http_itsm_registry_recent(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_str_t *history, json_t *one)
{
    json_t        *requests, *by, *last_ok, *last_failed;
    ngx_int_t      status;
    ngx_str_t     *line, action, st;
    ngx_uint_t     i, ok;
    ngx_array_t    found;
    json_error_t   err;

    if (ngx_http_itsm_history_lines(r, history, &conn->name, NULL, 0,
                                    NGX_HTTP_ITSM_REGISTRY_LINES, &found)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    requests = json_object();
    if (requests == NULL
        || json_object_set_new(one, "requests", requests) != 0)
    {
        return NGX_ERROR;
    }

    last_ok = NULL;
    last_failed = NULL;
    line = found.elts;

    for (i = 0; i < found.nelts; i++) {

        if (ngx_http_itsm_registry_field(&line[i], "action", &action)
            != NGX_OK
            || ngx_http_itsm_registry_field(&line[i], "status", &st)
               != NGX_OK)
        {
            continue;
        }

        status = ngx_atoi(st.data, st.len);
        ok = (status >= 200 && status <= 299);

        /* "create":{"ok":N,"failed":N} */

        by = json_object_getn(requests, (char *) action.data, action.len);

        if (by == NULL) {
            by = json_pack("{s:i,s:i}", "ok", 0, "failed", 0);

            if (by == NULL
                || json_object_setn_new(requests, (char *) action.data,
                                        action.len, by)
                   != 0)
            {
                return NGX_ERROR;
            }
        }

        if (json_object_set_new(by, ok ? "ok" : "failed",
                     json_integer(json_integer_value(
                              json_object_get(by, ok ? "ok" : "failed")) + 1))
            != 0)
        {
            return NGX_ERROR;
        }

        /* newest first: the first of each is the last */

        if (ok && last_ok == NULL) {
            last_ok = json_loadb((char *) line[i].data, line[i].len, 0, &err);

        } else if (!ok && last_failed == NULL) {
            last_failed = json_loadb((char *) line[i].data, line[i].len, 0,
                                     &err);
        }
    }

    if (json_object_set_new(one, "last_success",
                            last_ok ? last_ok : json_null())
        != 0
        || json_object_set_new(one, "last_failure",
                               last_failed ? last_failed : json_null())
           != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A field of a history line: "action" (a word, after ,"action":") or
 * "status" (digits, after ,"status":).  The line is the module's own.
 */

static ngx_int_t
ngx_http_itsm_registry_field(ngx_str_t *line, const char *name,
    ngx_str_t *value)
{
    u_char  *p, *last, needle[32];
    size_t   len;

    len = ngx_sprintf(needle, ",\"%s\":", name) - needle;
    last = line->data + line->len;

    p = ngx_strlcasestrn(line->data, last, needle, len - 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    p += len;

    if (p < last && *p == '"') {
        p++;
    }

    value->data = p;

    while (p < last
           && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
    {
        p++;
    }

    value->len = p - value->data;

    return value->len ? NGX_OK : NGX_DECLINED;
}


/* a string, or null when it is empty (a line not written) */

static json_t *
ngx_http_itsm_registry_str(ngx_str_t *s)
{
    if (s->len == 0) {
        return json_null();
    }

    return json_stringn((char *) s->data, s->len);
}


/*
 * The registry's view: {"at": TIME, "verified": true, "status": 200,
 * "ms": 41, "last_verified": TIME, "probes": N, "failures": M, "error":
 * "..."}, or null before the first probe; none without "verify".
 */

static json_t *
ngx_http_itsm_registry_verify_json(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn)
{
    u_char                      at[sizeof("2026-12-07T06:00:00Z")];
    u_char                      last[sizeof("2026-12-07T06:00:00Z")];
    json_t                     *one;
    ngx_shmtx_t                *mutex;
    ngx_http_itsm_verify_sh_t  *v, copy;

    if (conn->verify == NULL) {
        return json_null();
    }

    v = ngx_http_itsm_registry_verify(r, conn, &mutex);
    if (v == NULL) {
        return json_null();
    }

    ngx_shmtx_lock(mutex);
    copy = *v;
    ngx_shmtx_unlock(mutex);

    if (copy.at == 0) {
        return json_pack("{s:s#,s:n}", "path",
                         conn->verify->request.uri->source.data,
                         (int) conn->verify->request.uri->source.len,
                         "at");
    }

    ngx_http_itsm_registry_time(copy.at, at);
    ngx_http_itsm_registry_time(copy.last_ok, last);

    one = json_pack("{s:s#,s:s,s:b,s:i,s:I,s:s?,s:I,s:I,s:o}",
                    "path", conn->verify->request.uri->source.data,
                    (int) conn->verify->request.uri->source.len,
                    "at", (char *) at,
                    "verified", (int) copy.ok,
                    "status", (int) copy.status,
                    "ms", (json_int_t) copy.ms,
                    "last_verified", copy.last_ok ? (char *) last : NULL,
                    "probes", (json_int_t) copy.probes,
                    "failures", (json_int_t) copy.failures,
                    "error", ngx_http_itsm_json_text(r->pool, copy.error,
                                                     copy.error_len,
                                                     copy.error_len));

    return one;
}


/* "2026-12-07T06:00:00Z" and its NUL */

static void
ngx_http_itsm_registry_time(time_t t, u_char *buf)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    (void) ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}
