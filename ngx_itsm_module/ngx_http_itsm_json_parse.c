
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ngx_http_itsm_json_parse.h"


/*
 * A parser of alert bodies that builds the jansson values
 * json_loadb(JSON_REJECT_DUPLICATES) builds, several times faster.
 *
 * jansson reads its input a byte at a time through a callback, copies
 * each byte of a string into a growing buffer and then walks that buffer
 * again to decode it: about 140 instructions a byte of a typical alert,
 * 70-80% of the duplicate path (bench/PROFILE.md).  Here the bytes of a
 * string are scanned eight at a time while none of them needs a look
 * (a quote, a backslash, a control character, a byte of UTF-8), a string
 * without escapes goes to jansson in one copy, and one with escapes is
 * decoded once, into scratch space.
 *
 * It accepts only what jansson accepts, and gives the same values, the
 * members of an object in the same order.  Anything else -- bad syntax,
 * invalid UTF-8, "\u0000", a lone surrogate, a key given twice, an
 * integer out of json_int_t, a real out of a double or too long to
 * convert here, a NUL byte -- is declined: the caller runs json_loadb()
 * then, and the sender gets jansson's message, as before this parser.
 * Nesting deeper than max_depth is declined with *deep set, counted as
 * ngx_http_itsm_json_depth() counts it (objects and arrays), so that the
 * depth scan is needed only for what is declined.
 *
 * fuzz/fuzz_json_parse.c holds it to that against jansson itself.
 */


#if (JANSSON_VERSION_HEX < 0x020e00)

/*
 * The parser builds objects with json_object_setn_new_nocheck(), which is
 * jansson 2.14's: with an older jansson it declines every body, and
 * json_loadb() parses them all, as before it.
 */

json_t *
ngx_http_itsm_json_parse(u_char *p, size_t len, size_t max_depth, int *deep)
{
    *deep = 0;

    return NULL;
}

#else


typedef struct {
    u_char      *p;
    u_char      *last;
    u_char      *scratch;           /* decoded strings, bump-allocated */
    u_char      *scratch_pos;
    size_t       size;              /* of the text: no decoded string is
                                       longer than its text */
    size_t       depth;
    size_t       max_depth;
    int          deep;
} ngx_http_itsm_json_parser_t;


static json_t *ngx_http_itsm_json_parse_value(ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_object(
    ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_array(ngx_http_itsm_json_parser_t *jp);
static int ngx_http_itsm_json_parse_open(ngx_http_itsm_json_parser_t *jp,
    u_char close);
static int ngx_http_itsm_json_parse_next(ngx_http_itsm_json_parser_t *jp,
    u_char close);
static int ngx_http_itsm_json_parse_string(ngx_http_itsm_json_parser_t *jp,
    u_char **value, size_t *len);
static int ngx_http_itsm_json_parse_escaped(ngx_http_itsm_json_parser_t *jp,
    u_char *start, u_char **value, size_t *len);
static u_char *ngx_http_itsm_json_parse_run(u_char *p, u_char *last);
static u_char *ngx_http_itsm_json_parse_copy(u_char *p, u_char *last,
    u_char **dst);
static int ngx_http_itsm_json_parse_utf8(u_char **pp, u_char *last);
static int ngx_http_itsm_json_parse_hex4(u_char *p, uint32_t *value);
static json_t *ngx_http_itsm_json_parse_number(
    ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_word(ngx_http_itsm_json_parser_t *jp,
    const char *word, size_t len, json_t *value);


/* 1: a byte that stands for itself in a string (0x20-0x7f but " and \) */

static const u_char  ngx_http_itsm_json_plain[256] = {
    /* 0x00 - 0x1f: control characters, refused in a string */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20 - 0x7f, but 0x22 (") and 0x5c (\) */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80 - 0xff: UTF-8, checked a sequence at a time */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/* eight bytes in a word: each byte of ONES is 1, of HIGHS 0x80 */

#define NGX_HTTP_ITSM_JSON_ONES   0x0101010101010101ULL
#define NGX_HTTP_ITSM_JSON_HIGHS  0x8080808080808080ULL

/* the first special byte of a word is its lowest set mark's: its index is
 * the count of trailing zeros over 8 when the first byte in memory is the
 * lowest of the word (else a byte loop finds it) */

#if (defined __GNUC__ && defined __BYTE_ORDER__                              \
     && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define NGX_HTTP_ITSM_JSON_CTZ    1
#else
#define NGX_HTTP_ITSM_JSON_CTZ    0
#endif


#define ngx_http_itsm_json_skip_ws(jp)                                        \
    while ((jp)->p < (jp)->last                                              \
           && (*(jp)->p == ' ' || *(jp)->p == '\n' || *(jp)->p == '\r'       \
               || *(jp)->p == '\t'))                                         \
    {                                                                        \
        (jp)->p++;                                                           \
    }


json_t *
ngx_http_itsm_json_parse(u_char *p, size_t len, size_t max_depth, int *deep)
{
    json_t                       *value;
    ngx_http_itsm_json_parser_t   jp;

    jp.p = p;
    jp.last = p + len;
    jp.scratch = NULL;
    jp.scratch_pos = NULL;
    jp.size = len;
    jp.depth = 0;
    jp.max_depth = max_depth;
    jp.deep = 0;

    ngx_http_itsm_json_skip_ws(&jp);

    /* an object or an array, as json_loadb() without JSON_DECODE_ANY */

    value = NULL;

    if (jp.p < jp.last && (*jp.p == '{' || *jp.p == '[')) {
        value = ngx_http_itsm_json_parse_value(&jp);
    }

    if (value) {
        ngx_http_itsm_json_skip_ws(&jp);

        /* nothing after the value but white space */

        if (jp.p != jp.last) {
            json_decref(value);
            value = NULL;
        }
    }

    free(jp.scratch);

    *deep = jp.deep;

    return value;
}


/* jp->p is on the first byte of the value (no white space) */

static json_t *
ngx_http_itsm_json_parse_value(ngx_http_itsm_json_parser_t *jp)
{
    u_char  *s;
    size_t   len;

    if (jp->p == jp->last) {
        return NULL;
    }

    switch (*jp->p) {

    case '{':
        return ngx_http_itsm_json_parse_object(jp);

    case '[':
        return ngx_http_itsm_json_parse_array(jp);

    case '"':
        if (ngx_http_itsm_json_parse_string(jp, &s, &len)
            != NGX_HTTP_ITSM_OK)
        {
            return NULL;
        }

        /* checked UTF-8, no NUL */
        return json_stringn_nocheck((const char *) s, len);

    case 't':
        return ngx_http_itsm_json_parse_word(jp, "true", 4, json_true());

    case 'f':
        return ngx_http_itsm_json_parse_word(jp, "false", 5, json_false());

    case 'n':
        return ngx_http_itsm_json_parse_word(jp, "null", 4, json_null());

    default:
        if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9')) {
            return ngx_http_itsm_json_parse_number(jp);
        }

        return NULL;
    }
}


static json_t *
ngx_http_itsm_json_parse_object(ngx_http_itsm_json_parser_t *jp)
{
    int      rc;
    u_char  *key;
    size_t   len, size;
    json_t  *object, *value;

    rc = ngx_http_itsm_json_parse_open(jp, '}');
    if (rc == NGX_HTTP_ITSM_DECLINED) {
        return NULL;
    }

    object = json_object();
    if (object == NULL || rc == NGX_HTTP_ITSM_DONE) {
        return object;
    }

    for ( ;; ) {

        if (jp->p == jp->last || *jp->p != '"'
            || ngx_http_itsm_json_parse_string(jp, &key, &len)
               != NGX_HTTP_ITSM_OK)
        {
            goto failed;
        }

        ngx_http_itsm_json_skip_ws(jp);

        if (jp->p == jp->last || *jp->p != ':') {
            goto failed;
        }

        jp->p++;
        ngx_http_itsm_json_skip_ws(jp);

        value = ngx_http_itsm_json_parse_value(jp);
        if (value == NULL) {
            goto failed;
        }

        /*
         * A key given twice replaces the member and leaves the size as it
         * was: declined, jansson refuses it by name (JSON_REJECT_DUPLICATES;
         * {"status": "resolved", "status": "firing"} must not open a
         * ticket).  One lookup a key instead of a get and then a set.
         */

        size = json_object_size(object);

        if (json_object_setn_new_nocheck(object, (const char *) key, len,
                                         value)
            != 0
            || json_object_size(object) == size)
        {
            goto failed;
        }

        rc = ngx_http_itsm_json_parse_next(jp, '}');

        if (rc == NGX_HTTP_ITSM_DONE) {
            return object;
        }

        if (rc != NGX_HTTP_ITSM_OK) {
            goto failed;
        }
    }

failed:

    json_decref(object);
    return NULL;
}


static json_t *
ngx_http_itsm_json_parse_array(ngx_http_itsm_json_parser_t *jp)
{
    int      rc;
    json_t  *array, *value;

    rc = ngx_http_itsm_json_parse_open(jp, ']');
    if (rc == NGX_HTTP_ITSM_DECLINED) {
        return NULL;
    }

    array = json_array();
    if (array == NULL || rc == NGX_HTTP_ITSM_DONE) {
        return array;
    }

    for ( ;; ) {

        value = ngx_http_itsm_json_parse_value(jp);

        /* json_array_append_new() takes the value even when it fails */

        if (value == NULL || json_array_append_new(array, value) != 0) {
            goto failed;
        }

        rc = ngx_http_itsm_json_parse_next(jp, ']');

        if (rc == NGX_HTTP_ITSM_DONE) {
            return array;
        }

        if (rc != NGX_HTTP_ITSM_OK) {
            goto failed;
        }
    }

failed:

    json_decref(array);
    return NULL;
}


/*
 * jp->p is on the "{" or "[" of an object or an array: one level deeper,
 * declined past max_depth; NGX_HTTP_ITSM_DONE when "close" follows at
 * once (an empty one), else NGX_HTTP_ITSM_OK on its first member
 */

static int
ngx_http_itsm_json_parse_open(ngx_http_itsm_json_parser_t *jp, u_char close)
{
    if (++jp->depth > jp->max_depth) {
        jp->deep = 1;
        return NGX_HTTP_ITSM_DECLINED;
    }

    jp->p++;
    ngx_http_itsm_json_skip_ws(jp);

    if (jp->p < jp->last && *jp->p == close) {
        jp->p++;
        jp->depth--;
        return NGX_HTTP_ITSM_DONE;
    }

    return NGX_HTTP_ITSM_OK;
}


/*
 * After a member or an element: "," and NGX_HTTP_ITSM_OK on the next one,
 * or "close" and NGX_HTTP_ITSM_DONE, one level up; anything else declined
 */

static int
ngx_http_itsm_json_parse_next(ngx_http_itsm_json_parser_t *jp, u_char close)
{
    ngx_http_itsm_json_skip_ws(jp);

    if (jp->p == jp->last) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    if (*jp->p == close) {
        jp->p++;
        jp->depth--;
        return NGX_HTTP_ITSM_DONE;
    }

    if (*jp->p != ',') {
        return NGX_HTTP_ITSM_DECLINED;
    }

    jp->p++;
    ngx_http_itsm_json_skip_ws(jp);

    return NGX_HTTP_ITSM_OK;
}


/*
 * The bytes of a word (eight, loaded from memory) that a string cannot
 * hold as they are: the high bit of each such byte is set in the result,
 * and a word of plain bytes gives 0.  Marked: a byte under 0x20, a quote
 * or a backslash (their xor is 0), a byte of 0x80 or more.  A borrow only
 * ever marks bytes after a marked one, so the lowest mark is always a
 * true one.
 */

static inline uint64_t
ngx_http_itsm_json_special(uint64_t w)
{
    uint64_t  q, b;

    q = w ^ (0x22 * NGX_HTTP_ITSM_JSON_ONES);               /* " */
    b = w ^ (0x5c * NGX_HTTP_ITSM_JSON_ONES);               /* \ */

    return (((w - 0x20 * NGX_HTTP_ITSM_JSON_ONES) & ~w)
            | ((q - NGX_HTTP_ITSM_JSON_ONES) & ~q)
            | ((b - NGX_HTTP_ITSM_JSON_ONES) & ~b)
            | w)
           & NGX_HTTP_ITSM_JSON_HIGHS;
}


/*
 * The bytes from p on that stand for themselves in a string, up to the
 * first that does not (or last): eight at a time while a word holds none
 * of the others, then one at a time to find it.
 */

static u_char *
ngx_http_itsm_json_parse_run(u_char *p, u_char *last)
{
    uint64_t  w, special;

    while (last - p >= 8) {
        memcpy(&w, p, 8);

        special = ngx_http_itsm_json_special(w);

        if (special) {
#if (NGX_HTTP_ITSM_JSON_CTZ)
            /* the first byte in memory is the lowest of the word */
            return p + (__builtin_ctzll(special) >> 3);
#else
            break;
#endif
        }

        p += 8;
    }

    while (p < last && ngx_http_itsm_json_plain[*p]) {
        p++;
    }

    return p;
}


/*
 * The same, copying the run to dst as it goes, a word at a time: a whole
 * word is stored even when only its first bytes belong to the run (the
 * next bytes written overwrite the rest).  The scratch space has room for
 * it: dst is never further into the scratch space than p is into the
 * text, both as long, and a word is stored only when the text has eight
 * bytes left.  Returns the end of the run in the text; *dst moves past
 * its copy.
 */

static u_char *
ngx_http_itsm_json_parse_copy(u_char *p, u_char *last, u_char **dst)
{
    u_char    *d;
    uint64_t   w, special;

    d = *dst;

    while (last - p >= 8) {
        memcpy(&w, p, 8);
        memcpy(d, &w, 8);

        special = ngx_http_itsm_json_special(w);

        if (special) {
#if (NGX_HTTP_ITSM_JSON_CTZ)
            special = __builtin_ctzll(special) >> 3;
            *dst = d + special;
            return p + special;
#else
            break;
#endif
        }

        p += 8;
        d += 8;
    }

    while (p < last && ngx_http_itsm_json_plain[*p]) {
        *d++ = *p++;
    }

    *dst = d;

    return p;
}


/*
 * jp->p is on the opening quote.  *value points into the text itself when
 * the string has no escapes, else into the scratch space.
 */

static int
ngx_http_itsm_json_parse_string(ngx_http_itsm_json_parser_t *jp,
    u_char **value, size_t *len)
{
    u_char  *p, *start, *last;

    start = ++jp->p;
    p = start;
    last = jp->last;

    for ( ;; ) {

        p = ngx_http_itsm_json_parse_run(p, last);

        if (p == last) {
            return NGX_HTTP_ITSM_DECLINED;      /* no closing quote */
        }

        if (*p == '"') {
            *value = start;
            *len = p - start;
            jp->p = p + 1;
            return NGX_HTTP_ITSM_OK;
        }

        if (*p == '\\') {
            jp->p = p;
            return ngx_http_itsm_json_parse_escaped(jp, start, value, len);
        }

        if (*p < 0x80) {
            return NGX_HTTP_ITSM_DECLINED;      /* a control character */
        }

        if (ngx_http_itsm_json_parse_utf8(&p, last) != NGX_HTTP_ITSM_OK) {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }
}


/* a string with escapes: jp->p is on the first backslash */

static int
ngx_http_itsm_json_parse_escaped(ngx_http_itsm_json_parser_t *jp,
    u_char *start, u_char **value, size_t *len)
{
    u_char    *p, *last, *dst, *run;
    uint32_t   ch, low;

    if (jp->scratch == NULL) {
        jp->scratch = malloc(jp->size);
        if (jp->scratch == NULL) {
            return NGX_HTTP_ITSM_ERROR;
        }

        jp->scratch_pos = jp->scratch;
    }

    p = jp->p;
    last = jp->last;

    /* decoded, a string is never longer than its text: the scratch space,
     * as long as the whole text, holds every string of it */

    memcpy(jp->scratch_pos, start, p - start);
    dst = jp->scratch_pos + (p - start);
    *value = jp->scratch_pos;

    for ( ;; ) {

        p = ngx_http_itsm_json_parse_copy(p, last, &dst);

        if (p == last) {
            return NGX_HTTP_ITSM_DECLINED;
        }

        if (*p == '"') {
            break;
        }

        if (*p >= 0x80) {
            run = p;

            if (ngx_http_itsm_json_parse_utf8(&p, last) != NGX_HTTP_ITSM_OK) {
                return NGX_HTTP_ITSM_DECLINED;
            }

            memcpy(dst, run, p - run);
            dst += p - run;
            continue;
        }

        if (*p != '\\' || last - p < 2) {
            return NGX_HTTP_ITSM_DECLINED;      /* a control character */
        }

        p++;

        switch (*p++) {
        case '"':  *dst++ = '"'; continue;
        case '\\': *dst++ = '\\'; continue;
        case '/':  *dst++ = '/'; continue;
        case 'b':  *dst++ = '\b'; continue;
        case 'f':  *dst++ = '\f'; continue;
        case 'n':  *dst++ = '\n'; continue;
        case 'r':  *dst++ = '\r'; continue;
        case 't':  *dst++ = '\t'; continue;
        case 'u':  break;
        default:   return NGX_HTTP_ITSM_DECLINED;
        }

        if (last - p < 4
            || ngx_http_itsm_json_parse_hex4(p, &ch) != NGX_HTTP_ITSM_OK)
        {
            return NGX_HTTP_ITSM_DECLINED;
        }

        p += 4;

        /* "\u0000": jansson refuses it without JSON_ALLOW_NUL; a low
         * surrogate alone is no character */

        if (ch == 0 || (ch >= 0xdc00 && ch <= 0xdfff)) {
            return NGX_HTTP_ITSM_DECLINED;
        }

        if (ch >= 0xd800 && ch <= 0xdbff) {

            /* a high surrogate: a low one must follow, as "\uXXXX" */

            if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                || ngx_http_itsm_json_parse_hex4(p + 2, &low)
                   != NGX_HTTP_ITSM_OK
                || low < 0xdc00 || low > 0xdfff)
            {
                return NGX_HTTP_ITSM_DECLINED;
            }

            p += 6;
            ch = 0x10000 + ((ch - 0xd800) << 10) + (low - 0xdc00);
        }

        if (ch < 0x80) {
            *dst++ = (u_char) ch;

        } else if (ch < 0x800) {
            *dst++ = (u_char) (0xc0 | (ch >> 6));
            *dst++ = (u_char) (0x80 | (ch & 0x3f));

        } else if (ch < 0x10000) {
            *dst++ = (u_char) (0xe0 | (ch >> 12));
            *dst++ = (u_char) (0x80 | ((ch >> 6) & 0x3f));
            *dst++ = (u_char) (0x80 | (ch & 0x3f));

        } else {
            *dst++ = (u_char) (0xf0 | (ch >> 18));
            *dst++ = (u_char) (0x80 | ((ch >> 12) & 0x3f));
            *dst++ = (u_char) (0x80 | ((ch >> 6) & 0x3f));
            *dst++ = (u_char) (0x80 | (ch & 0x3f));
        }
    }

    *len = dst - *value;
    jp->scratch_pos = dst;
    jp->p = p + 1;

    return NGX_HTTP_ITSM_OK;
}


/*
 * One UTF-8 sequence at *pp (its first byte 0x80 or more), well formed as
 * jansson's utf8_check_full() wants it: no overlong form, no surrogate,
 * nothing above U+10FFFF.
 */

static int
ngx_http_itsm_json_parse_utf8(u_char **pp, u_char *last)
{
    u_char  *p;
    u_char   lo, hi;
    size_t   n, i;

    p = *pp;
    lo = 0x80;
    hi = 0xbf;

    if (*p >= 0xc2 && *p <= 0xdf) {
        n = 1;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 2;

        if (*p == 0xe0) {
            lo = 0xa0;                          /* overlong */

        } else if (*p == 0xed) {
            hi = 0x9f;                          /* a surrogate */
        }

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        n = 3;

        if (*p == 0xf0) {
            lo = 0x90;                          /* overlong */

        } else if (*p == 0xf4) {
            hi = 0x8f;                          /* past U+10FFFF */
        }

    } else {
        return NGX_HTTP_ITSM_DECLINED;
    }

    if ((size_t) (last - p) <= n) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    p++;

    if (*p < lo || *p > hi) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    *pp = p + n;

    return NGX_HTTP_ITSM_OK;
}


static int
ngx_http_itsm_json_parse_hex4(u_char *p, uint32_t *value)
{
    u_char    c;
    size_t    i;
    uint32_t  v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (v << 4) | ((c | 0x20) - 'a' + 10);

        } else {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    *value = v;

    return NGX_HTTP_ITSM_OK;
}


/*
 * JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.  An
 * integer becomes a json_integer (declined out of json_int_t's range,
 * which jansson refuses), anything else a json_real through strtod(), as
 * jansson converts it: declined when it overflows a double (jansson
 * refuses it), kept when it underflows (jansson keeps it).  nginx never
 * calls setlocale(): the decimal point is ".".
 */

#define NGX_HTTP_ITSM_JSON_REAL_LEN  64

static json_t *
ngx_http_itsm_json_parse_number(ngx_http_itsm_json_parser_t *jp)
{
    int        negative, integer;
    char      *end;
    u_char    *p, *last, *start;
    u_char     buf[NGX_HTTP_ITSM_JSON_REAL_LEN + 1];
    double     real;
    uint64_t   n, max;

    p = jp->p;
    last = jp->last;
    start = p;
    negative = 0;
    integer = 1;

    if (*p == '-') {
        negative = 1;
        p++;
    }

    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p == '0') {
        p++;

        if (p < last && *p >= '0' && *p <= '9') {
            return NULL;                        /* a leading zero */
        }

    } else {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && *p == '.') {
        integer = 0;
        p++;

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        integer = 0;
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || *p < '0' || *p > '9') {
            return NULL;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    jp->p = p;

    if (integer) {

        /* json_int_t is long long: a magnitude up to 2^63 - 1, or 2^63
         * when negative ("-0" is the integer 0, as strtoll() reads it) */

        max = negative ? (uint64_t) 1 << 63 : ((uint64_t) 1 << 63) - 1;
        n = 0;

        for (p = start + negative; p < jp->p; p++) {
            if (n > (max - (uint64_t) (*p - '0')) / 10) {
                return NULL;
            }

            n = n * 10 + (*p - '0');
        }

        if (negative) {
            return json_integer(n == (uint64_t) 1 << 63
                                ? (json_int_t) (-9223372036854775807LL - 1)
                                : -(json_int_t) n);
        }

        return json_integer((json_int_t) n);
    }

    if ((size_t) (jp->p - start) > NGX_HTTP_ITSM_JSON_REAL_LEN) {
        return NULL;
    }

    memcpy(buf, start, jp->p - start);
    buf[jp->p - start] = '\0';

    errno = 0;
    real = strtod((char *) buf, &end);

    if ((u_char *) end != buf + (jp->p - start)
        || ((real == HUGE_VAL || real == -HUGE_VAL) && errno == ERANGE))
    {
        return NULL;
    }

    return json_real(real);
}


/* "true", "false", "null": the word, not followed by more letters (jansson
 * reads "truex" as one invalid word) */

static json_t *
ngx_http_itsm_json_parse_word(ngx_http_itsm_json_parser_t *jp,
    const char *word, size_t len, json_t *value)
{
    u_char  *p;

    p = jp->p;

    if ((size_t) (jp->last - p) < len || memcmp(p, word, len) != 0) {
        return NULL;
    }

    p += len;

    if (p < jp->last
        && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    {
        return NULL;
    }

    jp->p = p;

    return value;
}


#endif /* JANSSON_VERSION_HEX >= 2.14 */
