
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_
#define _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_


/*
 * The JSON work done on every alert's bytes, pure as the parsers of
 * ngx_http_itsm_parse.h are (no nginx header: fuzz/ builds each from its
 * source with a plain cc line):
 *
 * - ngx_http_itsm_json_parse.c: a parser of alert bodies that builds the
 *   values json_loadb(JSON_REJECT_DUPLICATES) would, or declines (its
 *   strings in ngx_http_itsm_json_string.c);
 * - ngx_http_itsm_json_escape.c: text as the inside of a JSON string, the
 *   same bytes as nginx's ngx_escape_json(), for templates.
 */


#include "ngx_http_itsm_parse.h"


/*
 * NULL: declined, for whatever reason -- the caller asks jansson, whose
 * message the sender gets -- and *deep is 1 when the reason was nesting
 * deeper than max_depth (counted as ngx_http_itsm_json_depth() counts).
 */
json_t *ngx_http_itsm_json_parse(u_char *p, size_t len, size_t max_depth,
    int *deep);

/* dst NULL: how many bytes the escapes add; else the end of what was
 * written (ngx_escape_json()'s contract) */
uintptr_t ngx_http_itsm_json_escape(u_char *dst, u_char *src, size_t size);


/*
 * Eight bytes at a time, for both (a word loaded from memory): the bytes a
 * JSON string cannot hold as they are -- a control character (below
 * 0x20), a quote or a backslash -- each marked by the high bit of its
 * byte, exactly (no carry crosses a byte: the low seven bits plus 0x60 or
 * 0x7f stay below 0x100).  A byte is below 0x20 when its high bit is clear
 * and its low seven bits plus 0x60 do not reach 0x80; equal to c when
 * x ^ c is zero, i.e. its low seven bits plus 0x7f do not reach 0x80 and
 * its high bit is clear.
 */

#define NGX_HTTP_ITSM_JSON_ONES   0x0101010101010101ULL
#define NGX_HTTP_ITSM_JSON_LOWS   0x7f7f7f7f7f7f7f7fULL
#define NGX_HTTP_ITSM_JSON_HIGHS  0x8080808080808080ULL

#define ngx_http_itsm_json_zero(v)                                           \
    (~((((v) & NGX_HTTP_ITSM_JSON_LOWS) + NGX_HTTP_ITSM_JSON_LOWS) | (v))     \
     & NGX_HTTP_ITSM_JSON_HIGHS)

static inline uint64_t
ngx_http_itsm_json_word(uint64_t w)
{
    return (~(((w & NGX_HTTP_ITSM_JSON_LOWS) + NGX_HTTP_ITSM_JSON_ONES * 0x60)
              | w)
            & NGX_HTTP_ITSM_JSON_HIGHS)
           | ngx_http_itsm_json_zero(w ^ (NGX_HTTP_ITSM_JSON_ONES * '"'))
           | ngx_http_itsm_json_zero(w ^ (NGX_HTTP_ITSM_JSON_ONES * '\\'));
}


/* a marked byte's offset in its word: the lowest mark is the first byte
 * in memory on a little-endian machine; elsewhere a byte loop finds it */

#if (defined __GNUC__ && defined __BYTE_ORDER__                              \
     && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define NGX_HTTP_ITSM_JSON_CTZ    1
#define ngx_http_itsm_json_first(m)  ((size_t) __builtin_ctzll(m) >> 3)
#else
#define NGX_HTTP_ITSM_JSON_CTZ    0
#endif


#endif /* _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_ */
