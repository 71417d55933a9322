
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_json_parse.h"


/*
 * Text as the inside of a JSON string: byte for byte the output of
 * nginx's ngx_escape_json() (\" \\ \n \r \t \b \f, \u00XX in capitals for
 * the other control characters, every other byte as it is: the text is
 * UTF-8 checked already), eight plain bytes a step, a table lookup a byte
 * only in a word that has one to escape, and one copy a run of plain
 * bytes.  Template values are alert text, a description of kilobytes,
 * escaped once to size the result and once to write it, where nginx's
 * loop of branches took about 22 instructions a byte and a lookup a byte
 * about 11 (bench/PROFILE.md).  fuzz/fuzz_json_escape.c holds it to those
 * rules.
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
    u_char    ch, *last, *run;
    size_t    len;
    uint64_t  w, m;

    last = src + size;

    if (dst == NULL) {
        len = 0;

        while (last - src >= 8) {
            memcpy(&w, src, 8);
            m = ngx_http_itsm_json_word(w);

#if (NGX_HTTP_ITSM_JSON_CTZ)
            /* only the marked bytes are looked up */

            while (m) {
                ch = src[ngx_http_itsm_json_first(m)];
                len += ngx_http_itsm_json_extra[ch];
                m &= m - 1;
            }
#else
            if (m) {
                for (run = src; run < src + 8; run++) {
                    len += ngx_http_itsm_json_extra[*run];
                }
            }
#endif

            src += 8;
        }

        while (src < last) {
            len += ngx_http_itsm_json_extra[*src++];
        }

        return (uintptr_t) len;
    }

    while (src < last) {

        /* a run of plain bytes, eight a step, to the next one to escape */

        run = src;

        while (last - src >= 8) {
            memcpy(&w, src, 8);
            m = ngx_http_itsm_json_word(w);

            if (m) {
#if (NGX_HTTP_ITSM_JSON_CTZ)
                src += ngx_http_itsm_json_first(m);
#endif
                break;
            }

            src += 8;
        }

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
