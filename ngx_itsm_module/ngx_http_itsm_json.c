
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_parse.h"
#include "ngx_http_itsm_json_parse.h"


/* the longest object key a JSON Pointer segment may name */
#define NGX_HTTP_ITSM_JSON_MAX_KEY  256

/* json_object_getn(), by length, is jansson 2.14's; before it, a key is
 * looked up as a C string */
#if (JANSSON_VERSION_HEX >= 0x020e00)
#define NGX_HTTP_ITSM_JSON_GETN     1
#else
#define NGX_HTTP_ITSM_JSON_GETN     0
#endif


static void ngx_http_itsm_json_cleanup(void *data);


/* the nesting of an alert body: the pure scan of ngx_http_itsm_json_depth.c */

ngx_int_t
ngx_http_itsm_json_check_depth(ngx_str_t *text, ngx_uint_t max,
    ngx_uint_t *depth)
{
    int     rc;
    size_t  d;

    rc = ngx_http_itsm_json_depth(text->data, text->len, max, &d);

    *depth = d;

    return (rc == NGX_HTTP_ITSM_OK) ? NGX_OK : NGX_DECLINED;
}


/*
 * An alert body as jansson values: the fast parser of
 * ngx_http_itsm_json_parse.c, and jansson for what it declines.  The
 * answers stay jansson's: NGX_DECLINED for nesting deeper than max_depth
 * (checked before validity, as the depth scan did ahead of jansson
 * before), NGX_ERROR for anything jansson refuses, with its message in
 * *err.  A key given twice is refused, not read as "the last one wins":
 * {"status": "resolved", "status": "firing"} must not open a ticket.
 */

ngx_int_t
ngx_http_itsm_json_load(ngx_str_t *text, ngx_uint_t max_depth,
    json_t **value, json_error_t *err, ngx_log_t *log)
{
    int         deep;
    ngx_uint_t  depth;

    *value = ngx_http_itsm_json_parse(text->data, text->len, max_depth,
                                      &deep);

    if (*value) {
        return NGX_OK;
    }

    /* the parser stops at the first level too deep; the scan tells
     * whatever else it declined apart */

    if (deep
        || ngx_http_itsm_json_check_depth(text, max_depth, &depth) != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "itsm json: nested deeper than %ui", max_depth);
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                   "itsm json: the fast parser declined, jansson parses");

    *value = json_loadb((const char *) text->data, text->len,
                        JSON_REJECT_DUPLICATES, err);

    return *value ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_itsm_json_pointer_valid(ngx_str_t *pointer)
{
    size_t  i;

    if (pointer->len == 0) {
        return NGX_OK;
    }

    if (pointer->data[0] != '/') {
        return NGX_ERROR;
    }

    for (i = 0; i < pointer->len; i++) {
        if (pointer->data[i] == '~'
            && (i + 1 == pointer->len
                || (pointer->data[i + 1] != '0'
                    && pointer->data[i + 1] != '1')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The JSON Pointer of a directive's parameter ("ticket_id", "take=" of
 * "lookup"): NGX_ERROR, after "invalid JSON Pointer "<pointer>" in
 * "<where>": it must start with "/" (RFC 6901), e.g. <example>" is
 * logged, when it is not one.
 */

ngx_int_t
ngx_http_itsm_json_pointer_conf(ngx_conf_t *cf, ngx_str_t *pointer,
    const char *where, const char *example)
{
    if (ngx_http_itsm_json_pointer_valid(pointer) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON Pointer \"%V\" in \"%s\": it must "
                           "start with \"/\" (RFC 6901), e.g. %s",
                           pointer, where, example);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* RFC 6901; the pointer was checked by ngx_http_itsm_json_pointer_valid() */

json_t *
ngx_http_itsm_json_pointer(json_t *root, ngx_str_t *pointer)
{
    u_char     *p, *last, *end, *seg;
    u_char      key[NGX_HTTP_ITSM_JSON_MAX_KEY + 1];
    size_t      n;
    json_t     *node;
    ngx_int_t   index;
    ngx_uint_t  tilde;

    node = root;
    p = pointer->data;
    last = p + pointer->len;

    while (node && p < last) {

        p++;                                    /* the "/" */

        tilde = 0;

        for (end = p; end < last && *end != '/'; end++) {
            tilde |= (*end == '~');
        }

        /*
         * A segment without "~" is looked up where it is, by its length:
         * no copy, no strlen() (every field of every alert goes through
         * here, bench/PROFILE.md); one with "~0" or "~1" is decoded first.
         */

        seg = p;
        n = end - p;

        if (!NGX_HTTP_ITSM_JSON_GETN || tilde) {

            for (n = 0; p < end; p++) {

                if (n == NGX_HTTP_ITSM_JSON_MAX_KEY) {
                    return NULL;
                }

                if (*p == '~') {
                    p++;
                    key[n++] = (*p == '1') ? '/' : '~';

                } else {
                    key[n++] = *p;
                }
            }

            key[n] = '\0';
            seg = key;

        } else if (n > NGX_HTTP_ITSM_JSON_MAX_KEY) {
            return NULL;
        }

        p = end;

        if (json_is_object(node)) {
#if (NGX_HTTP_ITSM_JSON_GETN)
            node = json_object_getn(node, (const char *) seg, n);
#else
            node = json_object_get(node, (const char *) seg);
#endif
            continue;
        }

        if (json_is_array(node)) {
            if (n == 0 || (n > 1 && seg[0] == '0')) {
                return NULL;
            }

            index = ngx_atoi(seg, n);
            if (index == NGX_ERROR) {
                return NULL;
            }

            node = json_array_get(node, index);
            continue;
        }

        return NULL;
    }

    return node;
}


/*
 * A scalar as text: senders are lenient about types (a severity of 3, an
 * id sent as a number), so numbers and booleans are accepted where text
 * is expected.  NGX_DECLINED for null, objects and arrays.
 */

ngx_int_t
ngx_http_itsm_json_scalar(json_t *value, ngx_pool_t *pool, ngx_str_t *out)
{
    switch (json_typeof(value)) {

    case JSON_STRING:
        out->len = json_string_length(value);
        out->data = ngx_pnalloc(pool, out->len + 1);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(out->data, json_string_value(value), out->len);
        out->data[out->len] = '\0';
        return NGX_OK;

    case JSON_INTEGER:
    case JSON_REAL:
    case JSON_TRUE:
    case JSON_FALSE:
        out->data = ngx_http_itsm_json_dump(value, pool, &out->len);
        return out->data ? NGX_OK : NGX_ERROR;

    default:
        return NGX_DECLINED;
    }
}


u_char *
ngx_http_itsm_json_dump(json_t *value, ngx_pool_t *pool, size_t *len)
{
    u_char  *buf;
    size_t   size;

    size = json_dumpb(value, NULL, 0, JSON_COMPACT|JSON_ENCODE_ANY);
    if (size == 0) {
        return NULL;
    }

    buf = ngx_pnalloc(pool, size);
    if (buf == NULL) {
        return NULL;
    }

    *len = json_dumpb(value, (char *) buf, size, JSON_COMPACT|JSON_ENCODE_ANY);

    return buf;
}


/*
 * Text from elsewhere (an ITSM's error page) as a JSON string: at most
 * "max" bytes, cut at a character boundary, invalid UTF-8 replaced by "?"
 * (jansson refuses invalid UTF-8, and the text must still reach the log).
 */

json_t *
ngx_http_itsm_json_text(ngx_pool_t *pool, u_char *data, size_t len,
    size_t max)
{
    u_char  *text;
    size_t   n;

    if (len > max) {
        len = max;
    }

    text = ngx_pnalloc(pool, len + 1);
    if (text == NULL) {
        return NULL;
    }

    n = ngx_http_itsm_json_utf8_clean(text, data, len,
                                      len == max ? NGX_HTTP_ITSM_UTF8_CUT : 0);

    return json_stringn((const char *) text, n);
}


/*
 * "src" as UTF-8 text, for jansson and for a mail message: bytes that are
 * not UTF-8 become "?"; with NGX_HTTP_ITSM_UTF8_NUL a NUL becomes a space,
 * with NGX_HTTP_ITSM_UTF8_CONTROL every control character does; with
 * NGX_HTTP_ITSM_UTF8_CUT a character the end of "src" cut short is left
 * out rather than replaced.  Returns the length written to "dst", at most
 * "len".
 */

size_t
ngx_http_itsm_json_utf8_clean(u_char *dst, u_char *src, size_t len,
    ngx_uint_t flags)
{
    u_char    *p, *last, *start, *d;
    uint32_t   ch;

    p = src;
    last = src + len;
    d = dst;

    while (p < last) {

        if (*p < 0x80) {
            *d++ = (((flags & NGX_HTTP_ITSM_UTF8_NUL) && *p == '\0')
                    || ((flags & NGX_HTTP_ITSM_UTF8_CONTROL)
                        && (*p < 0x20 || *p == 0x7f)))
                   ? ' ' : *p;
            p++;
            continue;
        }

        start = p;
        ch = ngx_utf8_decode(&p, last - p);

        if (ch > 0x10ffff) {

            /* ngx_utf8_decode() says 0xfffffffe, and does not move "p",
             * for a character whose bytes run past "last" */

            if (ch == 0xfffffffe && (flags & NGX_HTTP_ITSM_UTF8_CUT)) {
                break;                          /* cut by "max" */
            }

            *d++ = '?';
            p = start + 1;
            continue;
        }

        d = ngx_cpymem(d, start, p - start);
    }

    return d - dst;
}


/* jansson allocates with malloc(): tie a document's life to a pool */

ngx_int_t
ngx_http_itsm_json_cleanup_add(ngx_pool_t *pool, json_t *value)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(value);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_itsm_json_cleanup;
    cln->data = value;

    return NGX_OK;
}


static void
ngx_http_itsm_json_cleanup(void *data)
{
    json_decref(data);
}
