
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include <stdlib.h>

#include "ngx_http_itsm_json_parser.h"


/*
 * The strings of ngx_http_itsm_json_parse(), where most of an alert's
 * bytes are: scanned eight at a time while none needs a look, handed over
 * in place when there is no escape, else decoded once into the parser's
 * scratch space; UTF-8 checked a sequence at a time, as jansson checks it.
 */


static int ngx_http_itsm_json_parse_escaped(ngx_http_itsm_json_parser_t *jp,
    u_char *start, u_char **value, size_t *len);
static u_char *ngx_http_itsm_json_parse_run(u_char *p, u_char *last);
static u_char *ngx_http_itsm_json_parse_copy(u_char *p, u_char *last,
    u_char **dst);
static int ngx_http_itsm_json_parse_utf8(u_char **pp, u_char *last);
static int ngx_http_itsm_json_parse_hex4(u_char *p, uint32_t *value);


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


/*
 * The bytes of a word (eight, loaded from memory) that a string cannot
 * hold as they are: ngx_http_itsm_json_word()'s (a byte under 0x20, a
 * quote, a backslash) and a byte of 0x80 or more (UTF-8, checked a
 * sequence at a time); a word of plain bytes gives 0.
 */

static inline uint64_t
ngx_http_itsm_json_special(uint64_t w)
{
    return ngx_http_itsm_json_word(w) | (w & NGX_HTTP_ITSM_JSON_HIGHS);
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
            return p + ngx_http_itsm_json_first(special);
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
            special = ngx_http_itsm_json_first(special);
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

int
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
