
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_parse.h"


/*
 * jansson refuses documents nested deeper than its compiled-in limit
 * (2048), which is far too deep for an alert and costs a recursion per
 * level; this linear scan rejects them before any parsing or allocation.
 * Pure (ngx_http_itsm_parse.h): fuzz/fuzz_json_depth.c builds from it.
 */

int
ngx_http_itsm_json_depth(u_char *p, size_t len, size_t max, size_t *depth)
{
    u_char  *last;
    size_t   level, in_string;

    level = 0;
    in_string = 0;
    last = p + len;

    for ( /* void */ ; p < last; p++) {

        if (in_string) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (*p) {

        case '"':
            in_string = 1;
            break;

        case '{':
        case '[':
            if (++level > max) {
                *depth = level;
                return NGX_HTTP_ITSM_DECLINED;
            }
            break;

        case '}':
        case ']':
            if (level) {
                level--;
            }
            break;
        }
    }

    *depth = level;

    return NGX_HTTP_ITSM_OK;
}
