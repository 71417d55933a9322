
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: the nesting check run on every alert body before it
 * is parsed (ngx_http_itsm_json_check_depth(), ngx_http_itsm_json.c).  A
 * body it lets through must not be refused by jansson for its depth.
 */


#include "ngx_http_itsm_module.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *copy;
    json_t        *json;
    ngx_str_t      text;
    ngx_int_t      rc;
    ngx_uint_t     depth;
    json_error_t   err;

    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);

    text.data = copy;
    text.len = size;

    rc = ngx_http_itsm_json_check_depth(&text, 32, &depth);

    CHECK(rc == NGX_OK || rc == NGX_DECLINED);
    CHECK(rc != NGX_OK || depth <= 32);

    if (rc == NGX_OK) {
        json = json_loadb((const char *) copy, size, 0, &err);

        if (json) {
            json_decref(json);

        } else {
            CHECK(err.position >= 0);
        }
    }

    free(copy);

    return 0;
}
