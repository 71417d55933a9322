
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"

#include <openssl/sha.h>


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


typedef enum {
    NGX_HTTP_ITSM_OP_LITERAL = 0,
    NGX_HTTP_ITSM_OP_TEXT,               /* escaped text inside a string */
    NGX_HTTP_ITSM_OP_VALUE               /* a whole JSON value */
} ngx_http_itsm_tpl_op_type_e;


typedef enum {
    NGX_HTTP_ITSM_EXPR_FIELD = 0,
    NGX_HTTP_ITSM_EXPR_TICKET,
    NGX_HTTP_ITSM_EXPR_OCCURRENCES,
    NGX_HTTP_ITSM_EXPR_FIRST_SEEN,
    NGX_HTTP_ITSM_EXPR_LAST_SEEN,
    NGX_HTTP_ITSM_EXPR_LOOKUP,
    NGX_HTTP_ITSM_EXPR_CORRELATION,
    NGX_HTTP_ITSM_EXPR_VARIABLE,
    NGX_HTTP_ITSM_EXPR_POINTER
} ngx_http_itsm_tpl_expr_e;


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
    ngx_http_itsm_tpl_op_type_e  type;
    ngx_http_itsm_tpl_expr_e     expr;
    ngx_uint_t                   index;  /* field or variable index */
    ngx_str_t                    text;   /* literal, or JSON Pointer */

    /* filters, applied in the order default, slack, truncate whatever
     * order they are written in, so that truncate bounds what is sent */
    ngx_str_t                    dflt;       /* | default:'TEXT' */
    size_t                       truncate;   /* | truncate:N, 0: none */
    unsigned                     has_default:1;
    unsigned                     slack:1;    /* | slack */
    unsigned                     sha256:1;   /* | sha256 */
} ngx_http_itsm_tpl_op_t;


/* a resolved substitution */

typedef struct {
    ngx_str_t                    str;
    json_t                      *json;   /* set for non-string values */
    unsigned                     found:1;
    unsigned                     number:1;   /* str is a JSON number */
} ngx_http_itsm_tpl_val_t;


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
static ngx_int_t ngx_http_itsm_tpl_walk(ngx_http_itsm_tpl_builder_t *b,
    json_t *node);
static ngx_int_t ngx_http_itsm_tpl_walk_string(ngx_http_itsm_tpl_builder_t *b,
    const char *s, size_t len, ngx_uint_t typed);
static ngx_int_t ngx_http_itsm_tpl_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);
static ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_create(ngx_conf_t *cf,
    ngx_http_itsm_tpl_builder_t *b, ngx_str_t *source,
    ngx_http_itsm_escape_e escape);
static void ngx_http_itsm_tpl_resolve(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val);
static void ngx_http_itsm_tpl_resolve_record(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val);
static ngx_int_t ngx_http_itsm_tpl_apply(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_val_t *val, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_truncate(ngx_str_t *s, size_t max,
    ngx_uint_t entities, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_sha256(ngx_str_t *s, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_escape_slack(ngx_str_t *s,
    ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_piece(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_op_t *op, ngx_http_itsm_tpl_val_t *val,
    ngx_pool_t *pool, ngx_str_t *piece);
static ngx_int_t ngx_http_itsm_tpl_escape(ngx_http_itsm_escape_e escape,
    ngx_str_t *src, ngx_pool_t *pool, ngx_str_t *dst);
static ngx_int_t ngx_http_itsm_tpl_escape_dots(ngx_str_t *src,
    ngx_pool_t *pool, ngx_str_t *dst);


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


ngx_int_t
ngx_http_itsm_tpl_render(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                   *p;
    size_t                    len;
    ngx_uint_t                i;
    ngx_str_t                *pieces;
    ngx_http_itsm_tpl_op_t   *op;
    ngx_http_itsm_tpl_val_t   val;

    op = tpl->ops.elts;

    pieces = ngx_palloc(pool, tpl->ops.nelts * sizeof(ngx_str_t));
    if (pieces == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < tpl->ops.nelts; i++) {

        if (op[i].type == NGX_HTTP_ITSM_OP_LITERAL) {
            pieces[i] = op[i].text;

        } else {
            ngx_http_itsm_tpl_resolve(&op[i], tctx, pool, &val);

            if (ngx_http_itsm_tpl_apply(&op[i], &val, pool) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ngx_http_itsm_tpl_piece(tpl, &op[i], &val, pool, &pieces[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        len += pieces[i].len;
    }

    out->data = ngx_pnalloc(pool, len ? len : 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < tpl->ops.nelts; i++) {
        p = ngx_cpymem(p, pieces[i].data, pieces[i].len);
    }

    out->len = len;

    return NGX_OK;
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
 * again on the way out.
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
            if (in_json) {
                if (ngx_http_itsm_tpl_escape(NGX_HTTP_ITSM_ESCAPE_JSON, &lit,
                                             b->cf->pool, &esc)
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
    ngx_str_t                name;
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

    op = ngx_array_push(&b->tpl->ops);
    if (op == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(op, sizeof(ngx_http_itsm_tpl_op_t));
    op->type = type;

    if (ngx_http_itsm_tpl_filters(b, &name, op) != NGX_OK) {
        return NGX_ERROR;
    }

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

        /* the name may point into a parsed template that is freed after
         * compilation */

        op->text.data = ngx_pstrdup(b->cf->pool, &name);
        if (op->text.data == NULL) {
            return NGX_ERROR;
        }

        op->text.len = name.len;
        op->expr = NGX_HTTP_ITSM_EXPR_POINTER;
        return NGX_OK;
    }

    for (index = 0; ngx_http_itsm_tpl_record_names[index].len; index++) {
        if (ngx_http_itsm_tpl_record_names[index].len == name.len
            && ngx_strncmp(ngx_http_itsm_tpl_record_names[index].data,
                           name.data, name.len)
               == 0)
        {
            op->expr = NGX_HTTP_ITSM_EXPR_TICKET + index;
            return NGX_OK;
        }
    }

    index = ngx_http_itsm_alert_field(&name);

    if (index == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, b->cf, 0,
                           "unknown name \"%V\" in template \"%V\"; use an "
                           "alert field (%s), ticket_id, occurrences, "
                           "first_seen, last_seen, lookup, correlation_key, "
                           "$variable or a "
                           "/json/pointer", &name, &b->tpl->source,
                           ngx_http_itsm_alert_field_list(b->cf->pool));
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

    op = ngx_array_push(&b->tpl->ops);
    if (op == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(op, sizeof(ngx_http_itsm_tpl_op_t));
    op->type = NGX_HTTP_ITSM_OP_LITERAL;

    op->text.len = b->pending.nelts;
    op->text.data = ngx_pnalloc(b->cf->pool, op->text.len);
    if (op->text.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(op->text.data, b->pending.elts, op->text.len);

    b->pending.nelts = 0;

    return NGX_OK;
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


static void
ngx_http_itsm_tpl_resolve(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val)
{
    json_t                     *json;
    ngx_http_variable_value_t  *vv;

    ngx_memzero(val, sizeof(ngx_http_itsm_tpl_val_t));

    switch (op->expr) {

    case NGX_HTTP_ITSM_EXPR_FIELD:
        val->str = tctx->alert->fields[op->index];
        val->found = (val->str.data != NULL);
        return;

    case NGX_HTTP_ITSM_EXPR_TICKET:
        val->str = tctx->ticket_id;
        val->found = (val->str.data != NULL);
        return;

    case NGX_HTTP_ITSM_EXPR_LOOKUP:
        val->str = tctx->lookup;
        val->found = (val->str.data != NULL);
        return;

    case NGX_HTTP_ITSM_EXPR_CORRELATION:
        val->str = tctx->key;
        val->found = (val->str.data != NULL);
        return;

    case NGX_HTTP_ITSM_EXPR_OCCURRENCES:
    case NGX_HTTP_ITSM_EXPR_FIRST_SEEN:
    case NGX_HTTP_ITSM_EXPR_LAST_SEEN:
        ngx_http_itsm_tpl_resolve_record(op, tctx, pool, val);
        return;

    case NGX_HTTP_ITSM_EXPR_VARIABLE:
        /* flushed: one request renders for many alerts, and volatile maps
         * and $itsm_* variables change between them */
        vv = ngx_http_get_flushed_variable(tctx->request, op->index);

        if (vv == NULL || vv->not_found) {
            return;
        }

        val->str.data = vv->data;
        val->str.len = vv->len;
        val->found = 1;
        return;

    default: /* NGX_HTTP_ITSM_EXPR_POINTER */
        json = ngx_http_itsm_json_pointer(tctx->alert->raw, &op->text);

        if (json == NULL || json_is_null(json)) {
            return;
        }

        val->found = 1;

        if (json_is_string(json)) {
            val->str.data = (u_char *) json_string_value(json);
            val->str.len = json_string_length(json);
            return;
        }

        val->json = json;
        return;
    }
}


static void
ngx_http_itsm_tpl_resolve_record(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val)
{
    u_char                  *p;
    time_t                   t;
    ngx_tm_t                 tm;
    ngx_http_itsm_record_t  *rec;

    p = ngx_pnalloc(pool, sizeof("1970-09-28T12:00:00Z"));
    if (p == NULL) {
        return;
    }

    val->str.data = p;

    if (op->expr == NGX_HTTP_ITSM_EXPR_OCCURRENCES) {
        val->str.len = ngx_sprintf(p, "%ui", tctx->occurrences) - p;
        val->number = 1;
        val->found = 1;
        return;
    }

    /* a key the store does not know yet is seen for the first time now */

    rec = tctx->record;

    if (op->expr == NGX_HTTP_ITSM_EXPR_LAST_SEEN) {
        t = tctx->last_seen;

    } else {
        t = rec ? rec->first_seen : 0;
    }

    if (t == 0) {
        t = ngx_time();
    }

    ngx_gmtime(t, &tm);

    val->str.len = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                               tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                               tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                   - p;
    val->found = 1;
}


/* the op's filters on a resolved value */

static ngx_int_t
ngx_http_itsm_tpl_apply(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_val_t *val, ngx_pool_t *pool)
{
    if (op->has_default
        && (!val->found
            || (val->json == NULL && !val->number && val->str.len == 0)))
    {
        val->found = 1;
        val->number = 0;
        val->json = NULL;
        val->str = op->dflt;
    }

    if (!val->found || (op->truncate == 0 && !op->slack && !op->sha256)) {
        return NGX_OK;
    }

    /* a whole value that is not a string keeps its JSON type, unless it
     * is hashed */

    if (op->type == NGX_HTTP_ITSM_OP_VALUE && (val->json || val->number)
        && !op->sha256)
    {
        return NGX_OK;
    }

    if (val->json) {
        val->str.data = ngx_http_itsm_json_dump(val->json, pool,
                                                &val->str.len);
        if (val->str.data == NULL) {
            return NGX_ERROR;
        }

        val->json = NULL;
    }

    val->number = 0;

    if (op->sha256 && ngx_http_itsm_tpl_sha256(&val->str, pool) != NGX_OK) {
        return NGX_ERROR;
    }

    if (op->slack && ngx_http_itsm_tpl_escape_slack(&val->str, pool) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (op->truncate) {
        return ngx_http_itsm_tpl_truncate(&val->str, op->truncate,
                                          op->slack, pool);
    }

    return NGX_OK;
}


/* at most "max" bytes, the last three of them "..." (U+2026) when cut */

static ngx_int_t
ngx_http_itsm_tpl_truncate(ngx_str_t *s, size_t max, ngx_uint_t entities,
    ngx_pool_t *pool)
{
    u_char  *p;
    size_t   len, i;

    if (s->len <= max) {
        return NGX_OK;
    }

    len = max - 3;

    /* back to the first byte of a UTF-8 character */

    while (len && (s->data[len] & 0xc0) == 0x80) {
        len--;
    }

    /* not inside "&amp;", "&lt;" or "&gt;": before its "&" */

    if (entities) {
        for (i = len; i > 0 && len - i < sizeof("&amp;") - 1; i--) {
            if (s->data[i - 1] == ';') {
                break;
            }

            if (s->data[i - 1] == '&') {
                len = i - 1;
                break;
            }
        }
    }

    p = ngx_pnalloc(pool, len + 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, len);
    ngx_memcpy(p + len, "\xe2\x80\xa6", 3);

    s->data = p;
    s->len = len + 3;

    return NGX_OK;
}


/*
 * "| sha256": the value as 64 hex digits.  What a ticket carries to be
 * found again (a Jira label, a ServiceNow correlation_id, an RT custom
 * field): safe in any query language and any field, whatever the alert's
 * key holds, and of a fixed length.
 */

static ngx_int_t
ngx_http_itsm_tpl_sha256(ngx_str_t *s, ngx_pool_t *pool)
{
    u_char  *p;
    u_char   md[SHA256_DIGEST_LENGTH];

    if (SHA256(s->data, s->len, md) == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, 2 * SHA256_DIGEST_LENGTH);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->len = ngx_hex_dump(p, md, SHA256_DIGEST_LENGTH) - p;
    s->data = p;

    return NGX_OK;
}

static ngx_int_t
ngx_http_itsm_tpl_escape_slack(ngx_str_t *s, ngx_pool_t *pool)
{
    u_char  *p, *dst;
    size_t   i, len;

    len = s->len;

    for (i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '&':
            len += sizeof("&amp;") - 2;
            break;
        case '<':
        case '>':
            len += sizeof("&lt;") - 2;
            break;
        }
    }

    if (len == s->len) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(pool, len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    p = dst;

    for (i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '&':
            p = ngx_cpymem(p, "&amp;", sizeof("&amp;") - 1);
            break;
        case '<':
            p = ngx_cpymem(p, "&lt;", sizeof("&lt;") - 1);
            break;
        case '>':
            p = ngx_cpymem(p, "&gt;", sizeof("&gt;") - 1);
            break;
        default:
            *p++ = s->data[i];
        }
    }

    s->data = dst;
    s->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_tpl_piece(ngx_http_itsm_tpl_t *tpl, ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_val_t *val, ngx_pool_t *pool, ngx_str_t *piece)
{
    u_char     *p;
    ngx_str_t   esc;

    if (!val->found) {
        if (op->type == NGX_HTTP_ITSM_OP_VALUE) {
            ngx_str_set(piece, "null");

        } else {
            ngx_str_null(piece);
        }

        return NGX_OK;
    }

    if (val->number && op->type == NGX_HTTP_ITSM_OP_VALUE) {
        *piece = val->str;
        return NGX_OK;
    }

    if (val->json) {
        val->str.data = ngx_http_itsm_json_dump(val->json, pool,
                                                &val->str.len);
        if (val->str.data == NULL) {
            return NGX_ERROR;
        }

        if (op->type == NGX_HTTP_ITSM_OP_VALUE) {
            *piece = val->str;
            return NGX_OK;
        }
    }

    if (ngx_http_itsm_tpl_escape(tpl->escape, &val->str, pool, &esc)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (op->type == NGX_HTTP_ITSM_OP_TEXT) {
        *piece = esc;
        return NGX_OK;
    }

    /* a string as a whole JSON value */

    piece->len = esc.len + 2;
    piece->data = ngx_pnalloc(pool, piece->len);
    if (piece->data == NULL) {
        return NGX_ERROR;
    }

    p = piece->data;
    *p++ = '"';
    p = ngx_cpymem(p, esc.data, esc.len);
    *p = '"';

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_tpl_escape(ngx_http_itsm_escape_e escape, ngx_str_t *src,
    ngx_pool_t *pool, ngx_str_t *dst)
{
    size_t      i, len;
    u_char      ch;
    uintptr_t   n;

    switch (escape) {

    case NGX_HTTP_ITSM_ESCAPE_JSON:
        n = ngx_escape_json(NULL, src->data, src->len);
        len = src->len + n;
        break;

    case NGX_HTTP_ITSM_ESCAPE_URI:
        if (ngx_http_itsm_tpl_escape_dots(src, pool, dst) != NGX_DECLINED) {
            return dst->data ? NGX_OK : NGX_ERROR;
        }

        n = ngx_escape_uri(NULL, src->data, src->len,
                           NGX_ESCAPE_URI_COMPONENT);
        len = src->len + 2 * n;
        break;

    default: /* NGX_HTTP_ITSM_ESCAPE_HEADER */
        n = 0;
        len = src->len;
        break;
    }

    if (n == 0 && escape != NGX_HTTP_ITSM_ESCAPE_HEADER) {
        *dst = *src;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, len ? len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    dst->len = len;

    switch (escape) {

    case NGX_HTTP_ITSM_ESCAPE_JSON:
        ngx_escape_json(dst->data, src->data, src->len);
        break;

    case NGX_HTTP_ITSM_ESCAPE_URI:
        ngx_escape_uri(dst->data, src->data, src->len,
                       NGX_ESCAPE_URI_COMPONENT);
        break;

    default:
        /* a header value cannot carry CR, LF or other controls: a line
         * break would let alert text inject a header of its own */

        for (i = 0; i < src->len; i++) {
            ch = src->data[i];
            dst->data[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : ch;
        }

        break;
    }

    return NGX_OK;
}


/*
 * "." and ".." are unreserved, so URI escaping keeps them, but as a whole
 * path segment they are dot segments that servers resolve: an alert key
 * ".." in "/v2/alerts/{{ key }}/notes" would name another resource.
 */

static ngx_int_t
ngx_http_itsm_tpl_escape_dots(ngx_str_t *src, ngx_pool_t *pool,
    ngx_str_t *dst)
{
    size_t  i;

    if (src->len == 0 || src->len > 2) {
        return NGX_DECLINED;
    }

    for (i = 0; i < src->len; i++) {
        if (src->data[i] != '.') {
            return NGX_DECLINED;
        }
    }

    dst->len = 3 * src->len;
    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, "%2E%2E", dst->len);

    return NGX_OK;
}
