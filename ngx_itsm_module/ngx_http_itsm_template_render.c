
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_json_parse.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_template_ops.h"

#include <openssl/sha.h>


/*
 * A compiled template rendered for one alert: each substitution resolved
 * (a field of the alert, a fact of its key, an nginx variable, a JSON
 * Pointer into the alert's own object), its filters applied, and escaped
 * for the place it lands in (JSON string, URI component, header value).
 */


/* a resolved substitution */

typedef struct {
    ngx_str_t                    str;
    json_t                      *json;   /* set for non-string values */
    unsigned                     found:1;
    unsigned                     number:1;   /* str is a JSON number */
} ngx_http_itsm_tpl_val_t;


static void ngx_http_itsm_tpl_resolve(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val);
static void ngx_http_itsm_tpl_resolve_record(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool,
    ngx_http_itsm_tpl_val_t *val);
static ngx_int_t ngx_http_itsm_tpl_apply(ngx_http_itsm_tpl_op_t *op,
    ngx_http_itsm_tpl_val_t *val, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_dump(ngx_http_itsm_tpl_val_t *val,
    ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_truncate(ngx_str_t *s, size_t max,
    ngx_uint_t entities, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_sha256(ngx_str_t *s, ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_escape_slack(ngx_str_t *s,
    ngx_pool_t *pool);
static ngx_int_t ngx_http_itsm_tpl_piece(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_op_t *op, ngx_http_itsm_tpl_val_t *val,
    ngx_pool_t *pool, ngx_str_t *piece);
static ngx_int_t ngx_http_itsm_tpl_escape_dots(ngx_str_t *src,
    ngx_pool_t *pool, ngx_str_t *dst);


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

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, tctx->request->connection->log,
                           0, "itsm template: {{ %V }}%s", &op[i].name,
                           val.found ? "" : " not found");

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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, tctx->request->connection->log, 0,
                   "itsm template: rendered %uz bytes, escaped for %s", len,
                   tpl->escape == NGX_HTTP_ITSM_ESCAPE_JSON ? "JSON"
                   : tpl->escape == NGX_HTTP_ITSM_ESCAPE_URI ? "a URI"
                   : tpl->escape == NGX_HTTP_ITSM_ESCAPE_FORM ? "a form"
                   : tpl->escape == NGX_HTTP_ITSM_ESCAPE_RAW ? "nothing"
                   : "a header");

    return NGX_OK;
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

    /* text the alert or the request has, or not (no data) */

    case NGX_HTTP_ITSM_EXPR_FIELD:
        val->str = tctx->alert->fields[op->index];
        break;

    case NGX_HTTP_ITSM_EXPR_TICKET:
        val->str = tctx->ticket_id;
        break;

    case NGX_HTTP_ITSM_EXPR_LOOKUP:
        val->str = tctx->lookup;
        break;

    case NGX_HTTP_ITSM_EXPR_CORRELATION:
        val->str = tctx->key;
        break;

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

    val->found = (val->str.data != NULL);
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

    if (val->json && ngx_http_itsm_tpl_dump(val, pool) != NGX_OK) {
        return NGX_ERROR;
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


/* a value that is not a string (an object, an array, a number from the
 * alert's JSON) as its JSON text */

static ngx_int_t
ngx_http_itsm_tpl_dump(ngx_http_itsm_tpl_val_t *val, ngx_pool_t *pool)
{
    val->str.data = ngx_http_itsm_json_dump(val->json, pool, &val->str.len);
    if (val->str.data == NULL) {
        return NGX_ERROR;
    }

    val->json = NULL;

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
        if (ngx_http_itsm_tpl_dump(val, pool) != NGX_OK) {
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


ngx_int_t
ngx_http_itsm_tpl_escape(ngx_http_itsm_escape_e escape, ngx_str_t *src,
    ngx_pool_t *pool, ngx_str_t *dst)
{
    size_t      i, len;
    u_char      ch;
    uintptr_t   n;

    switch (escape) {

    case NGX_HTTP_ITSM_ESCAPE_JSON:
        n = ngx_http_itsm_json_escape(NULL, src->data, src->len);
        len = src->len + n;
        break;

    case NGX_HTTP_ITSM_ESCAPE_URI:
        if (ngx_http_itsm_tpl_escape_dots(src, pool, dst) != NGX_DECLINED) {
            return dst->data ? NGX_OK : NGX_ERROR;
        }

        /* fall through */

    case NGX_HTTP_ITSM_ESCAPE_FORM:

        /* a form value as well: all but the unreserved characters, so
         * "&", "=" and "+" of the text stay in it */

        n = ngx_escape_uri(NULL, src->data, src->len,
                           NGX_ESCAPE_URI_COMPONENT);
        len = src->len + 2 * n;
        break;

    default: /* NGX_HTTP_ITSM_ESCAPE_HEADER, NGX_HTTP_ITSM_ESCAPE_RAW */
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
        ngx_http_itsm_json_escape(dst->data, src->data, src->len);
        break;

    case NGX_HTTP_ITSM_ESCAPE_URI:
    case NGX_HTTP_ITSM_ESCAPE_FORM:
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
