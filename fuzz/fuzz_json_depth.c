
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: the nesting check run on every alert body before it
 * is parsed (ngx_http_itsm_json_depth(), ngx_http_itsm_json_depth.c).  A
 * body it lets through must not be refused by jansson for its depth.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_itsm_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc;
    u_char        *copy;
    size_t         depth;
    json_t        *json;
    json_error_t   err;

    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);

    rc = ngx_http_itsm_json_depth(copy, size, 32, &depth);

    CHECK(rc == NGX_HTTP_ITSM_OK || rc == NGX_HTTP_ITSM_DECLINED);
    CHECK(rc != NGX_HTTP_ITSM_OK || depth <= 32);

    if (rc == NGX_HTTP_ITSM_OK) {
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
