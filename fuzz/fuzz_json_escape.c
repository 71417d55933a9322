
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: ngx_http_itsm_json_escape()
 * (ngx_http_itsm_json_escape.c), which templates use in place of nginx's
 * ngx_escape_json(), against a plain byte-at-a-time escape of the same
 * rules (\" \\ \n \r \t \b \f, \u00XX in capitals for the other control
 * characters, every other byte as it is): the size it announces, the
 * bytes it writes, and the end it returns.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_itsm_json_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


static size_t
reference(u_char *dst, const u_char *src, size_t size)
{
    size_t  i, n;
    u_char  ch;

    n = 0;

    for (i = 0; i < size; i++) {
        ch = src[i];

        if (ch == '"' || ch == '\\') {
            dst[n++] = '\\';
            dst[n++] = ch;

        } else if (ch >= 0x20) {
            dst[n++] = ch;

        } else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b'
                   || ch == '\f')
        {
            dst[n++] = '\\';
            dst[n++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't'
                       : ch == '\b' ? 'b' : 'f';

        } else {
            n += sprintf((char *) dst + n, "\\u%04X", ch);
        }
    }

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *src, *a, *b, *end;
    size_t   n, m;

    src = malloc(size ? size : 1);
    memcpy(src, data, size);

    a = malloc(6 * size + 8);
    b = malloc(6 * size + 8);

    n = reference(a, src, size);
    m = size + ngx_http_itsm_json_escape(NULL, src, size);

    CHECK(n == m);

    end = (u_char *) ngx_http_itsm_json_escape(b, src, size);

    CHECK((size_t) (end - b) == n);
    CHECK(memcmp(a, b, n) == 0);

    free(src);
    free(a);
    free(b);

    return 0;
}
