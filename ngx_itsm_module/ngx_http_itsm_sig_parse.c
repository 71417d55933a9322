
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_parse.h"


/*
 * Parsers of the signature headers that senders put on a webhook.  These
 * see untrusted bytes first, so they are kept pure: bytes in, a fixed-size
 * struct out, no allocation and no nginx header (ngx_http_itsm_parse.h),
 * which lets the fuzz targets in fuzz/ build from this file alone.
 *
 * Every function returns NGX_HTTP_ITSM_OK, or NGX_HTTP_ITSM_DECLINED for
 * input it refuses.
 */


/*
 * How a header lists its signatures.  There is no limit on how many: a
 * parser checks the header and counts those that decode, and
 * ngx_http_itsm_sig_next() decodes them one at a time when they are
 * compared, so that the right signature is found wherever it is.  The
 * work is bounded by the header's size, which nginx bounds
 * (large_client_header_buffers).
 */

#define NGX_HTTP_ITSM_SIG_LIST_STANDARD  0     /* "v1,<b64> v1,<b64>" */
#define NGX_HTTP_ITSM_SIG_LIST_STRIPE    1     /* "t=..,v1=<hex>,v1=.." */
#define NGX_HTTP_ITSM_SIG_LIST_VALUE     2     /* one, the whole value */


static void ngx_http_itsm_sig_header_init(ngx_http_itsm_sig_header_t *h,
    u_char *start, u_char *end, unsigned list, unsigned encoding);
static u_char *ngx_http_itsm_sig_skip_space(u_char *p, u_char *last);
static int ngx_http_itsm_hex_digit(u_char c);
static u_char *ngx_http_itsm_sig_list_item(u_char *p, u_char *last,
    u_char **item, u_char **end);
static size_t ngx_http_itsm_sig_count(ngx_http_itsm_sig_header_t *h);
static int ngx_http_itsm_sig_decode(unsigned encoding, u_char *p, size_t len,
    u_char *mac, size_t *n);


/*
 * Both base64 alphabets in one table: a character's six bits, marked
 * B64_STD when base64 has it and B64_URL when base64url has it (both but
 * for "+/" and "-_"); 0, no mark, is no character of either.
 */

#define NGX_HTTP_ITSM_B64_STD   0x40
#define NGX_HTTP_ITSM_B64_URL   0x80
#define NGX_HTTP_ITSM_B64_BITS  0x3f

static const u_char  ngx_http_itsm_b64[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x7e, 0x00, 0xbe, 0x00, 0x7f,
    0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb,
    0xfc, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
    0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce,
    0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
    0xd7, 0xd8, 0xd9, 0x00, 0x00, 0x00, 0x00, 0xbf,
    0x00, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0,
    0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
    0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0,
    0xf1, 0xf2, 0xf3, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* 0x80 - 0xff: 0 */
};


/*
 * "v1,<base64> v1,<base64> v1a,<base64>": Standard Webhooks.  Entries of
 * other versions (v1a is ed25519) are skipped; at least one v1 entry must
 * decode.
 */

int
ngx_http_itsm_sig_parse_standard(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h)
{
    ngx_http_itsm_sig_header_init(h, p, p + len,
                                  NGX_HTTP_ITSM_SIG_LIST_STANDARD,
                                  NGX_HTTP_ITSM_SIG_BASE64);

    h->n = ngx_http_itsm_sig_count(h);

    return h->n ? NGX_HTTP_ITSM_OK : NGX_HTTP_ITSM_DECLINED;
}


/*
 * "t=<unix time>,v1=<hex>[,v1=<hex>][,v0=<hex>]": Stripe.  Exactly one t=;
 * v1 entries are kept, other schemes skipped.
 */

int
ngx_http_itsm_sig_parse_stripe(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h)
{
    u_char  *last, *item, *end;

    ngx_http_itsm_sig_header_init(h, p, p + len,
                                  NGX_HTTP_ITSM_SIG_LIST_STRIPE,
                                  NGX_HTTP_ITSM_SIG_HEX);

    last = p + len;

    while (p < last) {
        p = ngx_http_itsm_sig_list_item(p, last, &item, &end);

        if (end - item > 2 && item[0] == 't' && item[1] == '=') {

            if (h->timestamp.data) {
                return NGX_HTTP_ITSM_DECLINED;
            }

            h->timestamp.data = item + 2;
            h->timestamp.len = end - item - 2;
        }
    }

    h->n = ngx_http_itsm_sig_count(h);

    if (h->timestamp.data == NULL || h->n == 0) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    return NGX_HTTP_ITSM_OK;
}


/* "[<prefix>]<hex or base64>": GitHub, Jira, Slack, Grafana, generic */

int
ngx_http_itsm_sig_parse_value(u_char *p, size_t len,
    ngx_http_itsm_bytes_t *prefix, unsigned encoding,
    ngx_http_itsm_sig_header_t *h)
{
    size_t    i;
    u_char   *last, c1, c2;

    last = p + len;

    ngx_http_itsm_sig_header_init(h, p, p, NGX_HTTP_ITSM_SIG_LIST_VALUE,
                                  encoding);
    h->n = 0;

    p = ngx_http_itsm_sig_skip_space(p, last);

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if ((size_t) (last - p) < prefix->len) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    /* the prefix is compared without regard to case: "sha256=" or "SHA256=" */

    for (i = 0; i < prefix->len; i++) {
        c1 = p[i];
        c2 = prefix->data[i];

        c1 = (c1 >= 'A' && c1 <= 'Z') ? (c1 | 0x20) : c1;
        c2 = (c2 >= 'A' && c2 <= 'Z') ? (c2 | 0x20) : c2;

        if (c1 != c2) {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    h->start = p + prefix->len;
    h->end = last;

    h->n = ngx_http_itsm_sig_count(h);

    return h->n ? NGX_HTTP_ITSM_OK : NGX_HTTP_ITSM_DECLINED;
}


/*
 * The next signature of a checked header that decodes: into mac (room for
 * NGX_HTTP_ITSM_SIG_MAX_LEN bytes) and *len, NGX_HTTP_ITSM_OK;
 * NGX_HTTP_ITSM_DONE after the last.  *pos is where to go on from, NULL
 * for the first.
 */

int
ngx_http_itsm_sig_next(ngx_http_itsm_sig_header_t *h, u_char **pos,
    u_char *mac, size_t *len)
{
    u_char  *p, *last, *item, *end;

    p = *pos ? *pos : h->start;
    last = h->end;

    if (h->list == NGX_HTTP_ITSM_SIG_LIST_VALUE) {
        *pos = last;

        if (p != h->start) {
            return NGX_HTTP_ITSM_DONE;
        }

        return ngx_http_itsm_sig_decode(h->encoding, p, last - p, mac, len)
               == NGX_HTTP_ITSM_OK ? NGX_HTTP_ITSM_OK : NGX_HTTP_ITSM_DONE;
    }

    while (p < last) {

        if (h->list == NGX_HTTP_ITSM_SIG_LIST_STANDARD) {

            /* entries of other versions (v1a is ed25519) are skipped */

            p = ngx_http_itsm_sig_skip_space(p, last);

            item = p;

            while (p < last && *p != ' ' && *p != '\t') {
                p++;
            }

            end = p;

            if (!(end - item > 3
                  && item[0] == 'v' && item[1] == '1' && item[2] == ','))
            {
                continue;
            }

        } else {

            /* t= and entries of other schemes (v0=) are skipped */

            p = ngx_http_itsm_sig_list_item(p, last, &item, &end);

            if (!(end - item > 3
                  && item[0] == 'v' && item[1] == '1' && item[2] == '='))
            {
                continue;
            }
        }

        if (ngx_http_itsm_sig_decode(h->encoding, item + 3, end - item - 3,
                                     mac, len)
            == NGX_HTTP_ITSM_OK)
        {
            *pos = p;
            return NGX_HTTP_ITSM_OK;
        }
    }

    *pos = last;

    return NGX_HTTP_ITSM_DONE;
}


/* a unix time in seconds: digits only, no sign, no fraction */

int
ngx_http_itsm_sig_parse_timestamp(u_char *p, size_t len, time_t *t)
{
    size_t  i;
    time_t  value;

    if (len == 0 || len > NGX_HTTP_ITSM_SIG_TS_MAX_LEN) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    value = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_HTTP_ITSM_DECLINED;
        }

        value = value * 10 + (p[i] - '0');
    }

    *t = value;

    return NGX_HTTP_ITSM_OK;
}


/*
 * A delivery id that goes into signed content: printable ASCII without
 * spaces and, as the Standard Webhooks specification asks, without "."
 * (the separator of the signed content).
 */

int
ngx_http_itsm_sig_check_id(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > 256) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '.') {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    return NGX_HTTP_ITSM_OK;
}


/* case-insensitive hex; the length of what was written, or -1 */

ssize_t
ngx_http_itsm_hex_decode(u_char *dst, size_t size, u_char *src, size_t len)
{
    int     hi, lo;
    size_t  i;

    if (len % 2 || len / 2 > size) {
        return -1;
    }

    for (i = 0; i < len; i += 2) {

        hi = ngx_http_itsm_hex_digit(src[i]);
        lo = ngx_http_itsm_hex_digit(src[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        dst[i / 2] = (u_char) (hi << 4 | lo);
    }

    return len / 2;
}


/* the value of a hex digit of either case, or -1 */

static int
ngx_http_itsm_hex_digit(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c < 'a' || c > 'f') {
        return -1;
    }

    return c - 'a' + 10;
}


/*
 * Base64 (RFC 4648 section 4, "+/") or base64url (section 5, "-_"), with
 * or without "=" padding; the length of what was written, or -1.
 */

ssize_t
ngx_http_itsm_base64_decode(u_char *dst, size_t size, u_char *src,
    size_t len, unsigned url)
{
    size_t    i, n, out;
    u_char    a, b, c, d, mark;
    uint32_t  acc;

    n = 0;

    while (len && src[len - 1] == '=' && n < 2) {
        len--;
        n++;
    }

    if (n && (len + n) % 4) {
        return -1;
    }

    if (len % 4 == 1) {
        return -1;
    }

    out = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);

    if (out > size) {
        return -1;
    }

    /* the other alphabet's two characters lack this one's mark */

    mark = url ? NGX_HTTP_ITSM_B64_URL : NGX_HTTP_ITSM_B64_STD;
    out = 0;

    /* four characters, three bytes, one check of the four */

    for (i = 0; i + 4 <= len; i += 4) {
        a = ngx_http_itsm_b64[src[i]];
        b = ngx_http_itsm_b64[src[i + 1]];
        c = ngx_http_itsm_b64[src[i + 2]];
        d = ngx_http_itsm_b64[src[i + 3]];

        if ((a & b & c & d & mark) == 0) {
            return -1;
        }

        acc = (uint32_t) (a & NGX_HTTP_ITSM_B64_BITS) << 18
              | (uint32_t) (b & NGX_HTTP_ITSM_B64_BITS) << 12
              | (uint32_t) (c & NGX_HTTP_ITSM_B64_BITS) << 6
              | (uint32_t) (d & NGX_HTTP_ITSM_B64_BITS);

        dst[out++] = (u_char) (acc >> 16);
        dst[out++] = (u_char) (acc >> 8);
        dst[out++] = (u_char) acc;
    }

    acc = 0;

    for ( /* void */ ; i < len; i++) {
        a = ngx_http_itsm_b64[src[i]];

        if ((a & mark) == 0) {
            return -1;
        }

        acc = acc << 6 | (uint32_t) (a & NGX_HTTP_ITSM_B64_BITS);
    }

    switch (len % 4) {

    case 2:
        dst[out++] = (u_char) (acc >> 4);
        break;

    case 3:
        dst[out++] = (u_char) (acc >> 10);
        dst[out++] = (u_char) (acc >> 2);
        break;
    }

    return out;
}


/* a checked header's signatures, from "start" to "end", before a parser
 * has counted them (and found a timestamp) */

static void
ngx_http_itsm_sig_header_init(ngx_http_itsm_sig_header_t *h, u_char *start,
    u_char *end, unsigned list, unsigned encoding)
{
    h->start = start;
    h->end = end;
    h->list = list;
    h->encoding = encoding;
    h->timestamp.len = 0;
    h->timestamp.data = NULL;
}


static u_char *
ngx_http_itsm_sig_skip_space(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/*
 * The entry of a comma-separated list (Stripe's) at "p", without the
 * spaces around it: from "*item" to "*end".  Returns where the entry
 * after it starts.
 */

static u_char *
ngx_http_itsm_sig_list_item(u_char *p, u_char *last, u_char **item,
    u_char **end)
{
    u_char  *e;

    p = ngx_http_itsm_sig_skip_space(p, last);

    *item = p;

    while (p < last && *p != ',') {
        p++;
    }

    e = p;

    while (e > *item && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }

    *end = e;

    if (p < last) {
        p++;                                     /* the "," */
    }

    return p;
}


/* how many signatures of a header decode */

static size_t
ngx_http_itsm_sig_count(ngx_http_itsm_sig_header_t *h)
{
    u_char  *pos;
    size_t   len, n;
    u_char   mac[NGX_HTTP_ITSM_SIG_MAX_LEN];

    n = 0;
    pos = NULL;

    while (ngx_http_itsm_sig_next(h, &pos, mac, &len) == NGX_HTTP_ITSM_OK) {
        n++;
    }

    return n;
}


/* a signature of 1 to NGX_HTTP_ITSM_SIG_MAX_LEN bytes, or
 * NGX_HTTP_ITSM_DECLINED */

static int
ngx_http_itsm_sig_decode(unsigned encoding, u_char *p, size_t len,
    u_char *mac, size_t *n)
{
    ssize_t  rc;

    if (encoding == NGX_HTTP_ITSM_SIG_HEX) {
        rc = ngx_http_itsm_hex_decode(mac, NGX_HTTP_ITSM_SIG_MAX_LEN, p, len);

    } else {
        rc = ngx_http_itsm_base64_decode(mac, NGX_HTTP_ITSM_SIG_MAX_LEN, p,
                                         len, 0);
    }

    if (rc <= 0) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    *n = rc;

    return NGX_HTTP_ITSM_OK;
}
