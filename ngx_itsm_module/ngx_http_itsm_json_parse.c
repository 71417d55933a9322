
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ngx_http_itsm_json_parser.h"


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
 * decoded once, into scratch space (ngx_http_itsm_json_string.c).
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


static json_t *ngx_http_itsm_json_parse_value(ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_object(
    ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_array(ngx_http_itsm_json_parser_t *jp);
static int ngx_http_itsm_json_parse_open(ngx_http_itsm_json_parser_t *jp,
    u_char close);
static int ngx_http_itsm_json_parse_next(ngx_http_itsm_json_parser_t *jp,
    u_char close);
static json_t *ngx_http_itsm_json_parse_number(
    ngx_http_itsm_json_parser_t *jp);
static json_t *ngx_http_itsm_json_parse_word(ngx_http_itsm_json_parser_t *jp,
    const char *word, size_t len, json_t *value);


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
