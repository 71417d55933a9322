
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: the parsers of signature headers and their codecs
 * (ngx_http_itsm_sig_parse.c).  The first byte chooses the parser, the
 * rest is the header value, copied to a buffer of its exact size so that
 * AddressSanitizer sees any read past it.  Besides memory errors, the
 * target checks the parsers' promises and that the decoders invert
 * OpenSSL's encoder.
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_http_itsm_parse.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


/*
 * A checked header: its span lies in the input, and walking it with
 * ngx_http_itsm_sig_next() yields exactly n signatures of 1 to 64 bytes,
 * moving forward every time, ending at its end; for an accepted header,
 * at least one.
 */

static void
check_header(int rc, ngx_http_itsm_sig_header_t *h, u_char *p, size_t n)
{
    u_char  *pos, *prev;
    size_t   len, count;
    u_char   mac[NGX_HTTP_ITSM_SIG_MAX_LEN];

    CHECK(rc != NGX_HTTP_ITSM_OK || h->n > 0);

    if (h->timestamp.data) {
        CHECK(h->timestamp.data >= p
              && h->timestamp.data + h->timestamp.len <= p + n);
    }

    if (rc != NGX_HTTP_ITSM_OK) {
        return;
    }

    CHECK(h->start >= p && h->start <= h->end && h->end <= p + n);

    count = 0;
    pos = NULL;
    prev = h->start;

    while (ngx_http_itsm_sig_next(h, &pos, mac, &len) == NGX_HTTP_ITSM_OK) {
        CHECK(len > 0 && len <= NGX_HTTP_ITSM_SIG_MAX_LEN);
        CHECK(pos > prev || (pos == h->end && count == 0));
        CHECK(pos <= h->end);
        prev = pos;
        count++;
    }

    CHECK(count == h->n);
    CHECK(pos == h->end);

    /* done stays done */

    CHECK(ngx_http_itsm_sig_next(h, &pos, mac, &len) == NGX_HTTP_ITSM_DONE);
}


static void
roundtrip(const u_char *data, size_t size)
{
    u_char   *enc, *dec;
    size_t    i, elen;
    ssize_t   n;

    if (size > 4096) {
        return;
    }

    enc = malloc(4 * (size / 3 + 1) + 1);
    dec = malloc(size + 1);

    elen = EVP_EncodeBlock(enc, data, (int) size);

    n = ngx_http_itsm_base64_decode(dec, size, enc, elen, 0);
    CHECK(n == (ssize_t) size && memcmp(dec, data, size) == 0);

    /* base64url without padding */

    while (elen && enc[elen - 1] == '=') {
        elen--;
    }

    for (i = 0; i < elen; i++) {
        enc[i] = (enc[i] == '+') ? '-' : (enc[i] == '/') ? '_' : enc[i];
    }

    n = ngx_http_itsm_base64_decode(dec, size, enc, elen, 1);
    CHECK(n == (ssize_t) size && memcmp(dec, data, size) == 0);

    /* the same text is not standard base64 once it has - or _ */

    if (memchr(enc, '-', elen) || memchr(enc, '_', elen)) {
        CHECK(ngx_http_itsm_base64_decode(dec, size, enc, elen, 0) == -1);
    }

    free(enc);
    free(dec);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc;
    u_char                      *p, *out;
    time_t                       t;
    ssize_t                      n;
    ngx_http_itsm_bytes_t        prefix;
    ngx_http_itsm_sig_header_t   h;

    static ngx_http_itsm_bytes_t  sha256 = { 7, (u_char *) "sha256=" };
    static ngx_http_itsm_bytes_t  v0 = { 3, (u_char *) "v0=" };
    static ngx_http_itsm_bytes_t  none = { 0, NULL };

    if (size < 1) {
        return 0;
    }

    p = malloc(size);
    memcpy(p, data + 1, size - 1);
    size--;

    memset(&h, 0xa5, sizeof(h));
    h.timestamp.data = NULL;

    switch (data[0] % 8) {

    case 0:
        rc = ngx_http_itsm_sig_parse_standard(p, size, &h);
        check_header(rc, &h, p, size);
        break;

    case 1:
        rc = ngx_http_itsm_sig_parse_stripe(p, size, &h);
        check_header(rc, &h, p, size);

        if (rc == NGX_HTTP_ITSM_OK) {
            CHECK(h.timestamp.data != NULL);
            (void) ngx_http_itsm_sig_parse_timestamp(h.timestamp.data,
                                                     h.timestamp.len, &t);
        }
        break;

    case 2:
        prefix = (data[0] & 0x80) ? v0 : sha256;
        rc = ngx_http_itsm_sig_parse_value(p, size, &prefix,
                                           NGX_HTTP_ITSM_SIG_HEX, &h);
        check_header(rc, &h, p, size);
        CHECK(rc != NGX_HTTP_ITSM_OK || h.n == 1);
        break;

    case 3:
        prefix = none;
        rc = ngx_http_itsm_sig_parse_value(p, size, &prefix,
                                           NGX_HTTP_ITSM_SIG_BASE64, &h);
        check_header(rc, &h, p, size);
        break;

    case 4:
        rc = ngx_http_itsm_sig_parse_timestamp(p, size, &t);
        CHECK(rc != NGX_HTTP_ITSM_OK || (t >= 0 && size <= 12));
        break;

    case 5:
        rc = ngx_http_itsm_sig_check_id(p, size);
        CHECK(rc != NGX_HTTP_ITSM_OK || memchr(p, '.', size) == NULL);
        break;

    case 6:
        out = malloc(size + 1);

        n = ngx_http_itsm_base64_decode(out, size, p, size, data[0] & 0x80);
        CHECK(n <= (ssize_t) size);

        n = ngx_http_itsm_hex_decode(out, size / 2, p, size);
        CHECK(n == -1 || (size_t) n * 2 == size);

        /* too small an output buffer must be refused, not overrun */

        if (size > 4) {
            free(out);
            out = malloc(size / 4);
            n = ngx_http_itsm_base64_decode(out, size / 4, p, size, 0);
            CHECK(n <= (ssize_t) (size / 4));
        }

        free(out);
        break;

    default:
        roundtrip(p, size);
        break;
    }

    free(p);

    return 0;
}
