
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target, differential: the fast parser of alert bodies
 * (ngx_http_itsm_json_parse(), ngx_http_itsm_json_parse.c) against
 * jansson's json_loadb(JSON_REJECT_DUPLICATES), which it stands in for.
 *
 * - What it accepts, jansson accepts, with an equal value (json_equal)
 *   whose members are in the same order (the same text once dumped).
 * - What it declines as too deep, the depth scan refuses too (the module
 *   answers "too_deep" from either).
 * - What it declines otherwise, jansson refuses, but for what it leaves
 *   to jansson on purpose: a real of more than 64 characters, and a NUL
 *   byte (jansson reads "[9\0]" as an array).  The module parses those
 *   with jansson, so its answer is jansson's for every input.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_itsm_json_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)

#define MAX_DEPTH  32


/* a run of number characters longer than the parser converts itself */

static int
long_number(const uint8_t *data, size_t size)
{
    size_t  i, run;

    run = 0;

    for (i = 0; i < size; i++) {
        if ((data[i] >= '0' && data[i] <= '9') || data[i] == '.'
            || data[i] == 'e' || data[i] == 'E' || data[i] == '+'
            || data[i] == '-')
        {
            if (++run > 64) {
                return 1;
            }

        } else {
            run = 0;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            deep;
    char          *a, *b;
    u_char        *copy;
    size_t         depth;
    json_t        *ours, *theirs;
    json_error_t   err;

    /* a copy of its own size: ASan sees a read past the end */

    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);

    ours = ngx_http_itsm_json_parse(copy, size, MAX_DEPTH, &deep);

    CHECK(ours == NULL || !deep);

    if (deep) {
        CHECK(ngx_http_itsm_json_depth(copy, size, MAX_DEPTH, &depth)
              == NGX_HTTP_ITSM_DECLINED);
    }

    theirs = json_loadb((const char *) copy, size, JSON_REJECT_DUPLICATES,
                        &err);

    if (ours) {
        CHECK(theirs != NULL);
        CHECK(json_equal(ours, theirs));

        a = json_dumps(ours, JSON_COMPACT|JSON_ENCODE_ANY);
        b = json_dumps(theirs, JSON_COMPACT|JSON_ENCODE_ANY);
        CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
        free(a);
        free(b);

        CHECK(ngx_http_itsm_json_depth(copy, size, MAX_DEPTH, &depth)
              == NGX_HTTP_ITSM_OK);

        json_decref(ours);

    } else if (theirs && !deep) {
        CHECK(ngx_http_itsm_json_depth(copy, size, MAX_DEPTH, &depth)
                  == NGX_HTTP_ITSM_DECLINED
              || long_number(data, size)
              || memchr(data, '\0', size) != NULL);
    }

    if (theirs) {
        json_decref(theirs);
    }

    free(copy);

    return 0;
}
