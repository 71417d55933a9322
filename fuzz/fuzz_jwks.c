
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: key sets (ngx_http_itsm_jwks_parse()).  A key set is
 * read from a file the administrator refreshes from the issuer, so it is
 * input from outside too.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_itsm_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc;
    u_char               *text;
    size_t                i, n, index;
    const char           *error;
    ngx_http_itsm_jwk_t   keys[4];

    text = malloc(size ? size : 1);
    memcpy(text, data, size);

    error = NULL;
    rc = ngx_http_itsm_jwks_parse(text, size, keys, 4, &n, &error, &index);

    if (rc == NGX_HTTP_ITSM_OK) {
        CHECK(n > 0 && n <= 4);

        for (i = 0; i < n; i++) {
            CHECK(keys[i].pkey != NULL && keys[i].kid_len <= 128);
            CHECK(keys[i].alg == NGX_HTTP_ITSM_JWT_RS256
                  || keys[i].alg == NGX_HTTP_ITSM_JWT_ES256);
        }

        ngx_http_itsm_jwks_free(keys, n);

    } else {
        CHECK(n == 0 && error != NULL);
    }

    free(text);

    return 0;
}
