
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"


/*
 * jansson refuses documents nested deeper than its compiled-in limit
 * (2048), which is far too deep for an alert and costs a recursion per
 * level; this linear scan rejects them before any parsing or allocation.
 */

ngx_int_t
ngx_http_itsm_json_check_depth(ngx_str_t *text, ngx_uint_t max,
    ngx_uint_t *depth)
{
    u_char      *p, *last;
    ngx_uint_t   level, in_string;

    level = 0;
    in_string = 0;
    last = text->data + text->len;

    for (p = text->data; p < last; p++) {

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
                return NGX_DECLINED;
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

    return NGX_OK;
}
