
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"

#include <openssl/rand.h>


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


/*
 * A claim's token: unique among every claim any edge makes, since it
 * fences a claim that expired and was taken over (its old owner's commit
 * must never match the new one's).  nginx's random() is seeded from the
 * pid and the time, which two edges in containers (the same pid) started
 * in the same second share: their sequences, and tokens made from them,
 * would be equal.  So OpenSSL's generator; should it fail, a mix of what
 * this process has, hashed.  Never 0 (the record's "no claim").
 */

uint64_t
ngx_http_itsm_token(void)
{
    uint64_t         token, mix[4];
    static uint64_t  seq;

    do {
        if (RAND_bytes((u_char *) &token, sizeof(token)) != 1) {
            mix[0] = ((uint64_t) ngx_random() << 31) ^ ngx_random();
            mix[1] = (uint64_t) ngx_pid;
            mix[2] = (uint64_t) ngx_current_msec;
            mix[3] = ++seq;

            token = ngx_http_itsm_hash_end(
                        ngx_http_itsm_hash(0, (u_char *) mix, sizeof(mix)));
        }

    } while (token == 0);

    return token;
}
