
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_template_ops.h"


/*
 * Templates are compiled once, at configuration time, into a list of
 * operations: literal text, and substitutions.  A JSON body template is
 * parsed with jansson first (so a broken template fails "nginx -t") and
 * walked into the same list: a string that is exactly one placeholder
 * becomes a typed JSON value, a placeholder inside a longer string becomes
 * escaped text.  Every substitution is escaped for the place it lands in
 * (JSON string, URI component, header value), so no alert text can break
 * the body, the request line or a header.
 */


#define NGX_HTTP_ITSM_TPL_MAX_FILE  (1024 * 1024)


/* names of the facts about the key (the store's and the lookup's), in
 * expression order */

static ngx_str_t  ngx_http_itsm_tpl_record_names[] = {
    ngx_string("ticket_id"),
    ngx_string("occurrences"),
    ngx_string("first_seen"),
    ngx_string("last_seen"),
    ngx_string("lookup"),
    ngx_string("correlation_key"),
    ngx_null_string
};


typedef struct {
    ngx_conf_t                  *cf;
    ngx_http_itsm_tpl_t         *tpl;
    ngx_array_t                  pending;    /* u_char: literal being built */
} ngx_http_itsm_tpl_builder_t;


static ngx_int_t ngx_http_itsm_tpl_scan(ngx_http_itsm_tpl_builder_t *b,
    u_char *p, size_t len, ngx_uint_t in_json);
static ngx_int_t ngx_http_itsm_tpl_expr(ngx_http_itsm_tpl_builder_t *b,
    ngx_str_t *expr, ngx_http_itsm_tpl_op_type_e type);
static ngx_int_t ngx_http_itsm_tpl_filters(ngx_http_itsm_tpl_builder_t *b,
    ngx_str_t *name, ngx_http_itsm_tpl_op_t *op);
static ngx_int_t ngx_http_itsm_tpl_filter(ngx_http_itsm_tpl_builder_t *b,
    ngx_str_t *filter, ngx_http_itsm_tpl_op_t *op);
static ngx_int_t ngx_http_itsm_tpl_literal(ngx_http_itsm_tpl_builder_t *b,
    u_char *p, size_t len);
static ngx_int_t ngx_http_itsm_tpl_flush(ngx_http_itsm_tpl_builder_t *b);
static ngx_http_itsm_tpl_op_t *ngx_http_itsm_tpl_op(
    ngx_http_itsm_tpl_builder_t *b, ngx_http_itsm_tpl_op_type_e type);
static ngx_int_t ngx_http_itsm_tpl_walk(ngx_http_itsm_tpl_builder_t *b,
    json_t *node);
static ngx_int_t ngx_http_itsm_tpl_walk_string(ngx_http_itsm_tpl_builder_t *b,
    const char *s, size_t len, ngx_uint_t typed);
static ngx_int_t ngx_http_itsm_tpl_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);
static ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_create(ngx_conf_t *cf,
    ngx_http_itsm_tpl_builder_t *b, ngx_str_t *source,
    ngx_http_itsm_escape_e escape);


ngx_http_itsm_tpl_t *
ngx_http_itsm_tpl_compile(ngx_conf_t *cf, ngx_str_t *text,
    ngx_http_itsm_escape_e escape)
{
    ngx_http_itsm_tpl_builder_t  b;

    b.cf = cf;

    b.tpl = ngx_http_itsm_tpl_create(cf, &b, text, escape);
    if (b.tpl == NULL) {
        return NULL;
    }

    if (ngx_http_itsm_tpl_scan(&b, text->data, text->len, 0) != NGX_OK) {
        return NULL;
    }

    if (ngx_http_itsm_tpl_flush(&b) != NGX_OK) {
        return NULL;
    }

    return b.tpl;
}


/* "spec" is inline JSON ("{..." or "[...") or the name of a file */

ngx_http_itsm_tpl_t *
ngx_http_itsm_tpl_compile_json(ngx_conf_t *cf, ngx_str_t *spec)
{
    json_t                       *root;
    ngx_str_t                     text, name;
    json_error_t                  err;
    ngx_http_itsm_tpl_builder_t   b;

    if (spec->len && (spec->data[0] == '{' || spec->data[0] == '[')) {
        text = *spec;
        ngx_str_set(&name, "inline body");

    } else {
        name = *spec;

        if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
            return NULL;
        }

        if (ngx_http_itsm_tpl_read_file(cf, &name, &text) != NGX_OK) {
            return NULL;
        }
    }

    root = json_loadb((const char *) text.data, text.len,
                      JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON in body template \"%V\": %s "
                           "(template line %d, column %d)",
                           &name, err.text, err.line, err.column);
        return NULL;
    }

    b.cf = cf;

    b.tpl = ngx_http_itsm_tpl_create(cf, &b, &text, NGX_HTTP_ITSM_ESCAPE_JSON);
    if (b.tpl == NULL) {
        json_decref(root);
        return NULL;
    }

    if (ngx_http_itsm_tpl_walk(&b, root) != NGX_OK
        || ngx_http_itsm_tpl_flush(&b) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "in body template \"%V\"", &name);
        json_decref(root);
        return NULL;
    }

    json_decref(root);

    return b.tpl;
}


static ngx_http_itsm_tpl_t *
ngx_http_itsm_tpl_create(ngx_conf_t *cf, ngx_http_itsm_tpl_builder_t *b,
    ngx_str_t *source, ngx_http_itsm_escape_e escape)
{
    ngx_http_itsm_tpl_t  *tpl;

    tpl = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_tpl_t));
    if (tpl == NULL) {
        return NULL;
    }

    if (ngx_array_init(&tpl->ops, cf->pool, 8, sizeof(ngx_http_itsm_tpl_op_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&b->pending, cf->temp_pool, 64, 1) != NGX_OK) {
        return NULL;
    }

    tpl->escape = escape;
    tpl->source = *source;

    return tpl;
}


/*
 * Splits text into literals and "{{ expr }}" substitutions.  In a JSON
 * string the literal parts were unescaped by jansson, so they are escaped
 * again on the way out; in a form value they are escaped as the values
 * are ("Alerts <a@example.com>" is written as it reads).
 */

static ngx_int_t
ngx_http_itsm_tpl_scan(ngx_http_itsm_tpl_builder_t *b, u_char *p, size_t len,
    ngx_uint_t in_json)
{
    u_char     *last, *open, *close;
    ngx_str_t   lit, expr, esc;

    last = p + len;

    while (p < last) {

        open = ngx_strlcasestrn(p, last, (u_char *) "{{", 2 - 1);

        lit.data = p;
        lit.len = (open ? open : last) - p;

        if (lit.len) {
            if (in_json || b->tpl->escape == NGX_HTTP_ITSM_ESCAPE_FORM) {
                if (ngx_http_itsm_tpl_escape(in_json
                                             ? NGX_HTTP_ITSM_ESCAPE_JSON
                                             : NGX_HTTP_ITSM_ESCAPE_FORM,
                                             &lit, b->cf->pool, &esc)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                lit = esc;
            }

            if (ngx_http_itsm_tpl_literal(b, lit.data, lit.len) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (open == NULL) {
            break;
        }

        close = ngx_strlcasestrn(open + 2, last, (u_char *) "}}", 2 - 1);

        if (close == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                               "unterminated \"{{\" in template \"%V\"",
                               &b->tpl->source);
            return NGX_ERROR;
        }

        expr.data = open + 2;
        expr.len = close - expr.data;

        if (ngx_http_itsm_tpl_expr(b, &expr, NGX_HTTP_ITSM_OP_TEXT)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = close + 2;
    }

    return NGX_OK;
}


/*
 * "name | filter | filter": the filters are cut off "name" into "op".
 *
 *   default:'TEXT'   a missing, null or empty value becomes TEXT
 *   slack            &, < and > as &amp; &lt; &gt;, so alert text cannot
 *                    mention @channel or make a link in Slack's mrkdwn
 *   sha256           the value as the 64 hex digits of its SHA-256
 *   truncate:N       at most N bytes, cut on a UTF-8 character (and never
 *                    inside an entity of "slack") and ended with "..."
 *                    (U+2026) when cut
 */

static ngx_int_t
ngx_http_itsm_tpl_filters(ngx_http_itsm_tpl_builder_t *b, ngx_str_t *name,
    ngx_http_itsm_tpl_op_t *op)
{
    u_char     *p, *last, *start;
    ngx_str_t   filter;
    ngx_uint_t  quoted;

    last = name->data + name->len;

    p = ngx_strlchr(name->data, last, '|');
    if (p == NULL) {
        return NGX_OK;
    }

    name->len = p - name->data;

    while (name->len && name->data[name->len - 1] == ' ') {
        name->len--;
    }

    while (p < last) {
        for (p++; p < last && *p == ' '; p++) { /* void */ }

        start = p;
        quoted = 0;

        for ( /* void */ ; p < last; p++) {
            if (*p == '\'') {
                quoted = !quoted;

            } else if (*p == '|' && !quoted) {
                break;
            }
        }

        if (quoted) {
            ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                               "unterminated quote in filter \"%*s\" of "
                               "template \"%V\"", p - start, start,
                               &b->tpl->source);
            return NGX_ERROR;
        }

        filter.data = start;
        filter.len = p - start;

        while (filter.len && filter.data[filter.len - 1] == ' ') {
            filter.len--;
        }

        if (ngx_http_itsm_tpl_filter(b, &filter, op) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_tpl_filter(ngx_http_itsm_tpl_builder_t *b, ngx_str_t *filter,
    ngx_http_itsm_tpl_op_t *op)
{
    ngx_int_t  n;
    ngx_str_t  arg;

    if (filter->len == sizeof("slack") - 1
        && ngx_strncmp(filter->data, "slack", filter->len) == 0)
    {
        op->slack = 1;
        return NGX_OK;
    }

    if (filter->len == sizeof("sha256") - 1
        && ngx_strncmp(filter->data, "sha256", filter->len) == 0)
    {
        op->sha256 = 1;
        return NGX_OK;
    }

    if (filter->len > sizeof("truncate:") - 1
        && ngx_strncmp(filter->data, "truncate:", sizeof("truncate:") - 1)
           == 0)
    {
        n = ngx_atoi(filter->data + sizeof("truncate:") - 1,
                     filter->len - (sizeof("truncate:") - 1));

        if (n == NGX_ERROR || n < 8) {
            ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                               "invalid filter \"%V\" in template \"%V\": "
                               "truncate takes a number of bytes, at least 8",
                               filter, &b->tpl->source);
            return NGX_ERROR;
        }

        op->truncate = n;
        return NGX_OK;
    }

    if (filter->len >= sizeof("default:''") - 1
        && ngx_strncmp(filter->data, "default:'", sizeof("default:'") - 1)
           == 0
        && filter->data[filter->len - 1] == '\'')
    {
        arg.data = filter->data + sizeof("default:'") - 1;
        arg.len = filter->len - (sizeof("default:''") - 1);

        /* the template text may be freed after compilation */

        op->dflt.data = ngx_pstrdup(b->cf->pool, &arg);
        if (op->dflt.data == NULL && arg.len) {
            return NGX_ERROR;
        }

        op->dflt.len = arg.len;
        op->has_default = 1;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                       "unknown filter \"%V\" in template \"%V\"; use "
                       "default:'TEXT', truncate:N, slack or sha256",
                       filter, &b->tpl->source);

    return NGX_ERROR;
}


/*
 * expr:  a field of the alert (title, severity, ...), "ticket_id",
 *        "occurrences", "first_seen", "last_seen", "lookup",
 *        "correlation_key" (the connector's key; the alert's by default),
 *        "$variable" (any nginx variable) or "/json/pointer" into the
 *        alert's own object in the payload.
 */

static ngx_int_t
ngx_http_itsm_tpl_expr(ngx_http_itsm_tpl_builder_t *b, ngx_str_t *expr,
    ngx_http_itsm_tpl_op_type_e type)
{
    ngx_int_t                index;
    ngx_str_t                name, *record;
    ngx_http_itsm_tpl_op_t  *op;

    name = *expr;

    while (name.len && name.data[0] == ' ') {
        name.data++;
        name.len--;
    }

    while (name.len && name.data[name.len - 1] == ' ') {
        name.len--;
    }

    if (ngx_http_itsm_tpl_flush(b) != NGX_OK) {
        return NGX_ERROR;
    }

    op = ngx_http_itsm_tpl_op(b, type);
    if (op == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_tpl_filters(b, &name, op) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the name may point into a parsed template that is freed after
     * compilation */

    op->name.data = ngx_pstrdup(b->cf->pool, &name);
    if (op->name.data == NULL && name.len) {
        return NGX_ERROR;
    }

    op->name.len = name.len;

    if (name.len > 1 && name.data[0] == '$') {
        name.data++;
        name.len--;

        index = ngx_http_get_variable_index(b->cf, &name);
        if (index == NGX_ERROR) {
            return NGX_ERROR;
        }

        op->expr = NGX_HTTP_ITSM_EXPR_VARIABLE;
        op->index = index;
        return NGX_OK;
    }

    if (name.len && name.data[0] == '/') {
        if (ngx_http_itsm_json_pointer_valid(&name) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                               "invalid JSON Pointer \"%V\" in template "
                               "\"%V\"", &name, &b->tpl->source);
            return NGX_ERROR;
        }

        /* the pointer is the name as written, kept above */

        op->text = op->name;
        op->expr = NGX_HTTP_ITSM_EXPR_POINTER;
        return NGX_OK;
    }

    record = ngx_http_itsm_conf_row(ngx_http_itsm_tpl_record_names,
                                    sizeof(ngx_str_t), &name);
    if (record) {
        op->expr = NGX_HTTP_ITSM_EXPR_TICKET
                   + (record - ngx_http_itsm_tpl_record_names);
        return NGX_OK;
    }

    index = ngx_http_itsm_names_field(&name);

    if (index == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                           "unknown name \"%V\" in template \"%V\"; use an "
                           "alert field (%s), ticket_id, occurrences, "
                           "first_seen, last_seen, lookup, correlation_key, "
                           "$variable or a "
                           "/json/pointer", &name, &b->tpl->source,
                           ngx_http_itsm_names_field_list(b->cf->pool));
        return NGX_ERROR;
    }

    op->expr = NGX_HTTP_ITSM_EXPR_FIELD;
    op->index = index;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_tpl_literal(ngx_http_itsm_tpl_builder_t *b, u_char *p,
    size_t len)
{
    u_char  *dst;

    if (len == 0) {
        return NGX_OK;
    }

    dst = ngx_array_push_n(&b->pending, len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst, p, len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_tpl_flush(ngx_http_itsm_tpl_builder_t *b)
{
    ngx_http_itsm_tpl_op_t  *op;

    if (b->pending.nelts == 0) {
        return NGX_OK;
    }

    op = ngx_http_itsm_tpl_op(b, NGX_HTTP_ITSM_OP_LITERAL);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->text.len = b->pending.nelts;
    op->text.data = ngx_pnalloc(b->cf->pool, op->text.len);
    if (op->text.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(op->text.data, b->pending.elts, op->text.len);

    b->pending.nelts = 0;

    return NGX_OK;
}


/* a new op of "type" at the end of the template, zeroed but for its type */

static ngx_http_itsm_tpl_op_t *
ngx_http_itsm_tpl_op(ngx_http_itsm_tpl_builder_t *b,
    ngx_http_itsm_tpl_op_type_e type)
{
    ngx_http_itsm_tpl_op_t  *op;

    op = ngx_array_push(&b->tpl->ops);
    if (op == NULL) {
        return NULL;
    }

    ngx_memzero(op, sizeof(ngx_http_itsm_tpl_op_t));
    op->type = type;

    return op;
}


static ngx_int_t
ngx_http_itsm_tpl_walk(ngx_http_itsm_tpl_builder_t *b, json_t *node)
{
    u_char      *dump;
    size_t       i, len;
    json_t      *value;
    ngx_uint_t   first;
    const char  *key;

    switch (json_typeof(node)) {

    case JSON_OBJECT:
        if (ngx_http_itsm_tpl_literal(b, (u_char *) "{", 1) != NGX_OK) {
            return NGX_ERROR;
        }

        first = 1;

        json_object_foreach(node, key, value) {

            if (!first
                && ngx_http_itsm_tpl_literal(b, (u_char *) ",", 1) != NGX_OK)
            {
                return NGX_ERROR;
            }

            first = 0;

            if (ngx_http_itsm_tpl_walk_string(b, key, ngx_strlen(key), 0)
                != NGX_OK
                || ngx_http_itsm_tpl_literal(b, (u_char *) ":", 1) != NGX_OK
                || ngx_http_itsm_tpl_walk(b, value) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return ngx_http_itsm_tpl_literal(b, (u_char *) "}", 1);

    case JSON_ARRAY:
        if (ngx_http_itsm_tpl_literal(b, (u_char *) "[", 1) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < json_array_size(node); i++) {

            if (i && ngx_http_itsm_tpl_literal(b, (u_char *) ",", 1) != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ngx_http_itsm_tpl_walk(b, json_array_get(node, i)) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        return ngx_http_itsm_tpl_literal(b, (u_char *) "]", 1);

    case JSON_STRING:
        return ngx_http_itsm_tpl_walk_string(b, json_string_value(node),
                                             json_string_length(node), 1);

    default:
        dump = ngx_http_itsm_json_dump(node, b->cf->temp_pool, &len);
        if (dump == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_itsm_tpl_literal(b, dump, len);
    }
}


static ngx_int_t
ngx_http_itsm_tpl_walk_string(ngx_http_itsm_tpl_builder_t *b, const char *s,
    size_t len, ngx_uint_t typed)
{
    u_char     *p, *last;
    ngx_str_t   expr;

    p = (u_char *) s;
    last = p + len;

    /* "{{ name }}" and nothing else: the value keeps its JSON type */

    if (typed
        && len > 4
        && p[0] == '{' && p[1] == '{'
        && last[-2] == '}' && last[-1] == '}'
        && ngx_strlcasestrn(p + 2, last - 2, (u_char *) "{{", 2 - 1) == NULL
        && ngx_strlcasestrn(p + 2, last - 2, (u_char *) "}}", 2 - 1) == NULL)
    {
        expr.data = p + 2;
        expr.len = len - 4;

        return ngx_http_itsm_tpl_expr(b, &expr, NGX_HTTP_ITSM_OP_VALUE);
    }

    if (ngx_http_itsm_tpl_literal(b, (u_char *) "\"", 1) != NGX_OK
        || ngx_http_itsm_tpl_scan(b, p, len, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_tpl_literal(b, (u_char *) "\"", 1);
}


static ngx_int_t
ngx_http_itsm_tpl_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open body template \"%V\"; paths are "
                           "relative to the nginx configuration directory",
                           name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_ITSM_TPL_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "body template \"%V\" is larger than 1m", name);
        goto done;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->pool, text->len + 1);
    if (text->data == NULL) {
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, text->data, text->len, 0);

    if (n == NGX_ERROR || (size_t) n != text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read body template \"%V\"", name);
        goto done;
    }

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return rc;
}
