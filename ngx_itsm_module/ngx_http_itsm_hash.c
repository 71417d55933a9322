
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"


/*
 * A 64-bit hash of bytes, for identity inside the module: whether two
 * alerts say the same (single flight, held repeats), whether an
 * Idempotency-Key came again with the same body, whether a case's note
 * is new.  Not cryptographic, and never a name on disk that must stay
 * stable (the store's long keys keep MD5): nginx's MD5, about ten
 * instructions a byte, was a tenth of a create's instructions for a 1 KiB
 * alert (bench/PROFILE.md); this takes eight bytes a step.
 *
 * Each word is scrambled on its own (multiply, xorshift, multiply) and
 * folded into the state by a rotation and a multiply; the length goes in
 * first, so that chained calls (the fields of an alert, one after the
 * other) stay apart and a zero-padded tail is unambiguous; the end mixes
 * the state again so that every input bit reaches every output bit.
 */


#define NGX_HTTP_ITSM_HASH_K1  0x9e3779b97f4a7c15ULL
#define NGX_HTTP_ITSM_HASH_K2  0xbf58476d1ce4e5b9ULL
#define NGX_HTTP_ITSM_HASH_K3  0x94d049bb133111ebULL


static ngx_inline uint64_t
ngx_http_itsm_hash_word(uint64_t h, uint64_t w)
{
    w *= NGX_HTTP_ITSM_HASH_K2;
    w ^= w >> 31;
    w *= NGX_HTTP_ITSM_HASH_K3;

    h ^= w;
    h = (h << 27) | (h >> 37);

    return h * NGX_HTTP_ITSM_HASH_K1 + 0x52dce729;
}


/* "h": 0 to start, or the state of the bytes hashed before */

uint64_t
ngx_http_itsm_hash(uint64_t h, const u_char *p, size_t len)
{
    uint64_t       w;
    const u_char  *last;

    last = p + len;

    h = ngx_http_itsm_hash_word(h, (uint64_t) len);

    while (last - p >= 8) {
        ngx_memcpy(&w, p, 8);
        h = ngx_http_itsm_hash_word(h, w);
        p += 8;
    }

    if (p < last) {
        w = 0;
        ngx_memcpy(&w, p, last - p);
        h = ngx_http_itsm_hash_word(h, w);
    }

    return h;
}


/* the state as the hash: never 0, which callers keep for "none" */

uint64_t
ngx_http_itsm_hash_end(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;

    return h ? h : 1;
}
