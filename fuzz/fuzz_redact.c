
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: ngx_http_itsm_redact() (ngx_http_itsm_redact.c), which
 * hides secret values in what an ITSM answered before the delivery history
 * writes it.  The first byte chooses a query string or a body; the rest
 * is the text.  The copy goes to exactly the room
 * ngx_http_itsm_redact_room() announces (AddressSanitizer catches a byte
 * more), and with no names listed the copy is the text itself.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_itsm_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


static ngx_http_itsm_name_t  names[] = {
    { 5, (u_char *) "token" },
    { 1, (u_char *) "a" },
    { 6, (u_char *) "Secret" },
};


int
LLVMFuzzerTestOneInput(const u_char *data, size_t size)
{
    int      form;
    size_t   room, len;
    u_char  *dst;

    if (size == 0) {
        return 0;
    }

    form = data[0] & 1;
    data++;
    size--;

    room = ngx_http_itsm_redact_room(data, size);

    dst = malloc(room);
    CHECK(dst != NULL);

    len = ngx_http_itsm_redact(dst, data, size, form, names, 3);
    CHECK(len <= room);

    len = ngx_http_itsm_redact(dst, data, size, form, names, 0);
    CHECK(len == size);
    CHECK(size == 0 || memcmp(dst, data, size) == 0);

    free(dst);

    return 0;
}
