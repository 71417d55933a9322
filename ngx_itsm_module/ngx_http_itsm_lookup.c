
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_conf.h"


/* verify every=: how often a connector's probe is sent */
#define NGX_HTTP_ITSM_VERIFY_EVERY      300
#define NGX_HTTP_ITSM_VERIFY_EVERY_MIN  10
#define NGX_HTTP_ITSM_VERIFY_EVERY_MAX  86400


/*
 * A lookup is a GET made just before an action, to read a value the
 * action needs and neither the alert nor the store has: the id of Jira's
 * "Done" transition, which differs from one workflow to the next and can
 * only be asked for, issue by issue.  The value is picked by name from a
 * list in the answer and reaches the action's templates as {{ lookup }}.
 *
 *   lookup ACTION GET PATH take=POINTER
 *   lookup ACTION GET PATH list=POINTER match=POINTER[|POINTER...]
 *          want=NAME[|NAME...] take=POINTER [missing=fail|skip]
 *
 * Names are compared without regard to case, in the order of "want": the
 * first name any element has wins, so "want=Done|Resolved" prefers "Done"
 * wherever it is in the list.
 */


/* how much of the offered names a "no match" error lists */
#define NGX_HTTP_ITSM_LOOKUP_OFFER_MAX  512


static char *ngx_http_itsm_lookup_param(ngx_conf_t *cf,
    ngx_http_itsm_lookup_t *lk, ngx_str_t *param);
static char *ngx_http_itsm_lookup_pointer(ngx_conf_t *cf, ngx_str_t *param,
    size_t skip, ngx_str_t *out);
static char *ngx_http_itsm_lookup_split(ngx_conf_t *cf, ngx_str_t *param,
    size_t skip, ngx_array_t *out, ngx_uint_t pointers);
static json_t *ngx_http_itsm_lookup_find(ngx_http_itsm_lookup_t *lk,
    json_t *list);
static ngx_int_t ngx_http_itsm_lookup_equal(json_t *element, ngx_str_t *match,
    ngx_str_t *want);
static void ngx_http_itsm_lookup_offered(ngx_http_itsm_lookup_t *lk,
    json_t *list, ngx_str_t *why);


char *
ngx_http_itsm_lookup_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    char                    *rv;
    ngx_int_t                index;
    ngx_uint_t               i;
    ngx_http_itsm_lookup_t  *lk;

    index = ngx_http_itsm_names_action(&value[1]);

    if (index == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid action \"%V\" in \"lookup\"; use one of "
                           "create, update, comment, resolve, reopen",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (conn->lookups[index] != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lookup %V\" is duplicate in itsm_connector "
                           "\"%V\"", &value[1], &conn->name);
        return NGX_CONF_ERROR;
    }

    lk = ngx_http_itsm_lookup_create(cf, "lookup", &value[1], &value[2],
                                     &value[3]);
    if (lk == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 4; i <= n; i++) {
        rv = ngx_http_itsm_lookup_param(cf, lk, &value[i]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (lk->take.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lookup %V\" has no \"take=\": name the value "
                           "the action needs with a JSON Pointer, e.g. "
                           "take=/id", &value[1]);
        return NGX_CONF_ERROR;
    }

    if ((lk->list.len == 0) != (lk->match.nelts == 0)
        || (lk->list.len == 0) != (lk->want.nelts == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lookup %V\" needs \"list=\", \"match=\" and "
                           "\"want=\" together (or none of them), e.g. "
                           "list=/transitions match=/name|/to/name "
                           "want=Done take=/id", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (lk->skip && lk->list.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"missing=skip\" in \"lookup %V\" needs "
                           "\"list=\": only a choice in a list can be "
                           "missing", &value[1]);
        return NGX_CONF_ERROR;
    }

    conn->lookups[index] = lk;

    return NGX_CONF_OK;
}


/*
 * find GET PATH take=POINTER [settle=TIME]
 *
 * How the ITSM is asked for the ticket of a key, when a create of that
 * key may have made one whose answer was lost: a search for the key the
 * create wrote into the ticket (an RT custom field, a Jira label, the
 * ServiceNow correlation_id, the Opsgenie alias), whose answer has the
 * ticket id at "take" when there is one.  An answer without a value
 * there, or a 404, means the ITSM has none.
 *
 * "settle": a create whose answer timed out may still be at work in the
 * ITSM, and a search index may not show a new ticket at once: asked too
 * early, the ITSM says "none" and a second ticket follows.  The find is
 * sent no sooner than this after the outcome became unknown.
 */

char *
ngx_http_itsm_lookup_find_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t                arg;
    ngx_http_itsm_lookup_t  *lk;

    if (conn->find != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"find\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    lk = ngx_http_itsm_lookup_create(cf, "find", NULL, &value[1], &value[2]);
    if (lk == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[3].len <= 5 || ngx_strncmp(value[3].data, "take=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"find\"; expected "
                           "take=POINTER, the ticket id in the answer, e.g. "
                           "take=/items/0/id", &value[3]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_lookup_pointer(cf, &value[3], 5, &lk->take)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    lk->settle = NGX_HTTP_ITSM_FIND_SETTLE;

    if (n == 4) {
        if (value[4].len <= 7
            || ngx_strncmp(value[4].data, "settle=", 7) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"find\"; "
                               "expected settle=TIME, how long after a "
                               "create's answer was lost the ITSM is asked, "
                               "e.g. settle=5s", &value[4]);
            return NGX_CONF_ERROR;
        }

        arg.data = value[4].data + 7;
        arg.len = value[4].len - 7;

        if (ngx_http_itsm_conf_time(cf, &arg, 0, NGX_HTTP_ITSM_FIND_SETTLE_MAX,
                                    &lk->settle, "settle",
                                    " in \"find\"; expected 0 to 60s, "
                                    "e.g. settle=5s")
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    conn->find = lk;

    return NGX_CONF_OK;
}

/*
 * The GET request of a "lookup ACTION" ("action" set), of "find" or of
 * "verify" ("action" NULL, "what" the line's name): all only read, and
 * their path is a template appended to the connector's location.
 */

ngx_http_itsm_lookup_t *
ngx_http_itsm_lookup_create(ngx_conf_t *cf, const char *what,
    ngx_str_t *action, ngx_str_t *method, ngx_str_t *path)
{
    ngx_str_t                none = ngx_null_string;
    const char              *space;
    ngx_http_itsm_lookup_t  *lk;

    /* the messages name "lookup ACTION" or "find" */

    space = action ? " " : "";

    if (action == NULL) {
        action = &none;
    }

    if (method->len != 3 || ngx_strncmp(method->data, "GET", 3) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid method \"%V\" in \"%s%s%V\": a %s only "
                           "reads, use GET", method, what, space, action,
                           what);
        return NULL;
    }

    if (path->len == 0 || path->data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" in \"%s%s%V\": it must "
                           "start with \"/\"; it is appended to the "
                           "connector's location", path, what, space, action);
        return NULL;
    }

    lk = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_lookup_t));
    if (lk == NULL) {
        return NULL;
    }

    lk->request.method = NGX_HTTP_GET;
    lk->request.method_name = *method;
    lk->request.uri = ngx_http_itsm_tpl_compile(cf, path,
                                                NGX_HTTP_ITSM_ESCAPE_URI);
    if (lk->request.uri == NULL) {
        return NULL;
    }

    return lk;
}


static char *
ngx_http_itsm_lookup_param(ngx_conf_t *cf, ngx_http_itsm_lookup_t *lk,
    ngx_str_t *param)
{
    ngx_str_t  arg;

    if (ngx_strncmp(param->data, "list=", 5) == 0) {
        return ngx_http_itsm_lookup_pointer(cf, param, 5, &lk->list);
    }

    if (ngx_strncmp(param->data, "take=", 5) == 0) {
        return ngx_http_itsm_lookup_pointer(cf, param, 5, &lk->take);
    }

    if (ngx_strncmp(param->data, "match=", 6) == 0) {
        return ngx_http_itsm_lookup_split(cf, param, 6, &lk->match, 1);
    }

    if (ngx_strncmp(param->data, "want=", 5) == 0) {
        return ngx_http_itsm_lookup_split(cf, param, 5, &lk->want, 0);
    }

    /* what a lookup that finds no wanted name does: fail, or skip */

    if (ngx_http_itsm_conf_param(param, "missing=", &arg)
        && (ngx_strcmp(arg.data, "fail") == 0
            || ngx_strcmp(arg.data, "skip") == 0))
    {
        lk->skip = (arg.data[0] == 's');
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"lookup\"; expected "
                       "list=, match=, want=, take= or missing=fail|skip",
                       param);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_itsm_lookup_pointer(ngx_conf_t *cf, ngx_str_t *param, size_t skip,
    ngx_str_t *out)
{
    ngx_str_t  pointer;

    pointer.data = param->data + skip;
    pointer.len = param->len - skip;

    if (out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%*s\" is duplicate in \"lookup\"", skip,
                           param->data);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_json_pointer_conf(cf, &pointer, "lookup", "/transitions")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    *out = pointer;

    return NGX_CONF_OK;
}


/* "a|b|c": names, or JSON Pointers when "pointers" is set */

static char *
ngx_http_itsm_lookup_split(ngx_conf_t *cf, ngx_str_t *param, size_t skip,
    ngx_array_t *out, ngx_uint_t pointers)
{
    u_char     *p, *last, *bar;
    ngx_str_t  *item;

    if (out->nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%*s\" is duplicate in \"lookup\"", skip,
                           param->data);
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(out, cf->pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = param->data + skip;
    last = param->data + param->len;

    for ( ;; ) {
        bar = ngx_strlchr(p, last, '|');
        if (bar == NULL) {
            bar = last;
        }

        item = ngx_array_push(out);
        if (item == NULL) {
            return NGX_CONF_ERROR;
        }

        item->data = p;
        item->len = bar - p;

        if (item->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty item in \"%V\" of \"lookup\"", param);
            return NGX_CONF_ERROR;
        }

        if (pointers && ngx_http_itsm_json_pointer_valid(item) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid JSON Pointer \"%V\" in \"%V\" of "
                               "\"lookup\": it must start with \"/\"",
                               item, param);
            return NGX_CONF_ERROR;
        }

        if (bar == last) {
            return NGX_CONF_OK;
        }

        p = bar + 1;
    }
}


/*
 * Reads the lookup's answer.  NGX_OK: "out" is the value; NGX_DECLINED:
 * no element has a wanted name ("why" lists what the ITSM offers);
 * NGX_ABORT: the answer is not what the lookup expects ("why" says how);
 * NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_itsm_lookup_pick(ngx_http_itsm_lookup_t *lk, u_char *data,
    size_t len, ngx_pool_t *pool, ngx_str_t *out, ngx_str_t *why)
{
    u_char        *p;
    json_t        *doc, *list, *element, *value;
    ngx_int_t      rc;
    json_error_t   err;

    p = ngx_pnalloc(pool, NGX_HTTP_ITSM_ERROR_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    why->data = p;
    why->len = 0;

    doc = json_loadb((const char *) data, len, 0, &err);

    if (doc == NULL) {
        why->len = ngx_snprintf(p, NGX_HTTP_ITSM_ERROR_TEXT_MAX,
                                "the answer is not JSON (%s)", err.text)
                   - p;
        return NGX_ABORT;
    }

    if (ngx_http_itsm_json_cleanup_add(pool, doc) != NGX_OK) {
        return NGX_ERROR;
    }

    element = doc;

    if (lk->list.len) {
        list = ngx_http_itsm_json_pointer(doc, &lk->list);

        if (list == NULL || !json_is_array(list)) {
            why->len = ngx_snprintf(p, NGX_HTTP_ITSM_ERROR_TEXT_MAX,
                                    "the answer has no list at \"%V\"",
                                    &lk->list)
                       - p;
            return NGX_ABORT;
        }

        element = ngx_http_itsm_lookup_find(lk, list);

        if (element == NULL) {
            ngx_http_itsm_lookup_offered(lk, list, why);
            return NGX_DECLINED;
        }
    }

    value = ngx_http_itsm_json_pointer(element, &lk->take);

    rc = (value == NULL) ? NGX_DECLINED
                         : ngx_http_itsm_json_scalar(value, pool, out);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED || out->len == 0) {
        why->len = ngx_snprintf(p, NGX_HTTP_ITSM_ERROR_TEXT_MAX,
                                "the answer has no value at \"%V\"%s",
                                &lk->take,
                                lk->list.len ? " of the element found" : "")
                   - p;
        return NGX_ABORT;
    }

    return NGX_OK;
}


static json_t *
ngx_http_itsm_lookup_find(ngx_http_itsm_lookup_t *lk, json_t *list)
{
    size_t       i;
    json_t      *element;
    ngx_str_t   *want, *match;
    ngx_uint_t   w, m;

    want = lk->want.elts;
    match = lk->match.elts;

    for (w = 0; w < lk->want.nelts; w++) {

        json_array_foreach(list, i, element) {

            for (m = 0; m < lk->match.nelts; m++) {
                if (ngx_http_itsm_lookup_equal(element, &match[m], &want[w])
                    == NGX_OK)
                {
                    return element;
                }
            }
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_itsm_lookup_equal(json_t *element, ngx_str_t *match,
    ngx_str_t *want)
{
    json_t  *value;

    value = ngx_http_itsm_json_pointer(element, match);

    if (value == NULL || !json_is_string(value)
        || json_string_length(value) != want->len)
    {
        return NGX_DECLINED;
    }

    if (ngx_strncasecmp((u_char *) json_string_value(value), want->data,
                        want->len)
        != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "no transition named Done; the ITSM offers: "Start", "Close"" */

static void
ngx_http_itsm_lookup_offered(ngx_http_itsm_lookup_t *lk, json_t *list,
    ngx_str_t *why)
{
    u_char     *p, *last;
    size_t      i;
    json_t     *element, *name;
    ngx_str_t  *want, *match;
    ngx_uint_t  k;

    want = lk->want.elts;
    match = lk->match.elts;

    p = why->data;
    last = p + NGX_HTTP_ITSM_ERROR_TEXT_MAX;

    p = ngx_slprintf(p, last, "no element of \"%V\" has ", &lk->list);

    for (k = 0; k < lk->match.nelts; k++) {
        p = ngx_slprintf(p, last, "%s\"%V\"", k ? " or " : "", &match[k]);
    }

    p = ngx_slprintf(p, last, " equal to ");

    for (k = 0; k < lk->want.nelts; k++) {
        p = ngx_slprintf(p, last, "%s\"%V\"", k ? " or " : "", &want[k]);
    }

    p = ngx_slprintf(p, last, "; the ITSM offers:");

    json_array_foreach(list, i, element) {
        name = ngx_http_itsm_json_pointer(element, &match[0]);

        if (name == NULL || !json_is_string(name)) {
            continue;
        }

        if (p - why->data > NGX_HTTP_ITSM_LOOKUP_OFFER_MAX) {
            p = ngx_slprintf(p, last, " ...");
            break;
        }

        p = ngx_slprintf(p, last, "%s \"%*s\"", i ? "," : "",
                         json_string_length(name), json_string_value(name));
    }

    if (json_array_size(list) == 0) {
        p = ngx_slprintf(p, last, " nothing");
    }

    why->len = p - why->data;
}


/* verify GET PATH [every=TIME] */

char *
ngx_http_itsm_verify_line(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t  arg;

    if (conn->verify != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"verify\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_strlcasestrn(value[2].data, value[2].data + value[2].len,
                         (u_char *) "{{", 2 - 1)
        != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" in \"verify\": the probe "
                           "carries no alert, write the path without "
                           "placeholders, e.g. verify GET /rest/api/3/myself",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    conn->verify = ngx_http_itsm_lookup_create(cf, "verify", NULL, &value[1],
                                               &value[2]);
    if (conn->verify == NULL) {
        return NGX_CONF_ERROR;
    }

    conn->verify_every = NGX_HTTP_ITSM_VERIFY_EVERY;

    if (n < 3) {
        return NGX_CONF_OK;
    }

    if (!ngx_http_itsm_conf_param(&value[3], "every=", &arg)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"verify\"; expected "
                           "every=TIME, how often the probe is sent, e.g. "
                           "every=5m", &value[3]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_conf_time(cf, &arg, NGX_HTTP_ITSM_VERIFY_EVERY_MIN,
                                NGX_HTTP_ITSM_VERIFY_EVERY_MAX,
                                &conn->verify_every, "every",
                                " in \"verify\"; expected 10s to 1d, "
                                "e.g. every=5m")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
