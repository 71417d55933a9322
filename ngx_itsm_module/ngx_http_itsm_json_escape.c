
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_json_parse.h"


/*
 * Text as the inside of a JSON string: byte for byte the output of
 * nginx's ngx_escape_json() (\" \\ \n \r \t \b \f, \u00XX in capitals for
 * the other control characters, every other byte as it is: the text is
 * UTF-8 checked already), at a table lookup a byte and one copy a run of
 * plain bytes.  Template values are alert text, a description of
 * kilobytes, escaped once to size the result and once to write it, where
 * nginx's loop of branches took about 22 instructions a byte
 * (bench/PROFILE.md).  fuzz/fuzz_json_escape.c holds it to those rules.
 */


/* what a byte grows by: 1 for \" \\ \n \r \t \b \f, 5 for \u00XX */

static const u_char  ngx_http_itsm_json_extra[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
    /* 0x60 - 0xff: 0 */
};


uintptr_t
ngx_http_itsm_json_escape(u_char *dst, u_char *src, size_t size)
{
    u_char  ch, *last, *run;
    size_t  len;

    last = src + size;

    if (dst == NULL) {
        len = 0;

        while (src < last) {
            len += ngx_http_itsm_json_extra[*src++];
        }

        return (uintptr_t) len;
    }

    while (src < last) {

        run = src;

        while (src < last && ngx_http_itsm_json_extra[*src] == 0) {
            src++;
        }

        memcpy(dst, run, src - run);
        dst += src - run;

        if (src == last) {
            break;
        }

        ch = *src++;
        *dst++ = '\\';

        switch (ch) {
        case '"':  *dst++ = '"'; break;
        case '\\': *dst++ = '\\'; break;
        case '\n': *dst++ = 'n'; break;
        case '\r': *dst++ = 'r'; break;
        case '\t': *dst++ = 't'; break;
        case '\b': *dst++ = 'b'; break;
        case '\f': *dst++ = 'f'; break;
        default:
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = (u_char) ('0' + (ch >> 4));
            ch &= 0xf;
            *dst++ = (u_char) ((ch < 10) ? ('0' + ch) : ('A' + ch - 10));
        }
    }

    return (uintptr_t) dst;
}
