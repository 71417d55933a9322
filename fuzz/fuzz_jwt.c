
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * libFuzzer target: bearer tokens (ngx_http_itsm_jwt_parse.c).  The input is
 * the token text, or, when it starts with 0x01, "header NUL claims NUL
 * signature" that the target encodes into a token itself, so that the
 * fuzzer can work on the JSON the base64url would hide.  The token is
 * parsed, verified against each key of a fixed key set (one RSA, one P-256
 * key: fuzz/jwks-fixture.json) and its claims are checked against a fixed
 * policy, at a fixed time.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_http_itsm_parse.h"

#include "jwks_fixture.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


#define BYTES(s)  { sizeof(s) - 1, (u_char *) s }

static ngx_http_itsm_jwk_t         keys[NGX_HTTP_ITSM_JWKS_MAX];
static size_t                      nkeys;
static ngx_http_itsm_jwt_policy_t  policy;
static ngx_http_itsm_bytes_t       iss[] = {
    BYTES("https://issuer.test/"),
    BYTES("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/")
};
static ngx_http_itsm_bytes_t       aud[] = {
    BYTES("api://itsm"),
    BYTES("9f3b1c2d-aaaa-4bbb-8ccc-123456789abc")
};
static ngx_http_itsm_bytes_t       app_id =
    BYTES("461e8683-5575-4561-ac7f-899cc907d62a");
static ngx_http_itsm_bytes_t       role = BYTES("ActionGroupsSecureWebhook");


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t       index;
    const char  *error;

    if (ngx_http_itsm_jwks_parse((u_char *) jwks_fixture,
                                 sizeof(jwks_fixture) - 1, keys,
                                 NGX_HTTP_ITSM_JWKS_MAX, &nkeys, &error,
                                 &index)
        != NGX_HTTP_ITSM_OK)
    {
        fprintf(stderr, "fuzz_jwt: the fixture key set: %s\n", error);
        abort();
    }

    policy.iss = iss;
    policy.niss = 2;
    policy.aud = aud;
    policy.naud = 2;
    policy.app_id = app_id;
    policy.role = role;
    policy.leeway = 60;

    return 0;
}


static u_char *
b64url(u_char *p, const u_char *src, size_t len)
{
    size_t  n;

    n = EVP_EncodeBlock(p, src, (int) len);

    while (n && p[n - 1] == '=') {
        n--;
    }

    for (len = 0; len < n; len++) {
        p[len] = (p[len] == '+') ? '-' : (p[len] == '/') ? '_' : p[len];
    }

    return p + n;
}


/* "\x01" header NUL claims NUL signature: header.claims.signature */

static size_t
structured(const uint8_t *data, size_t size, u_char *token)
{
    u_char         *p;
    size_t          i, start, part;
    const uint8_t  *parts[3];
    size_t          lens[3];

    part = 0;
    start = 1;

    for (i = 1; i < size && part < 2; i++) {
        if (data[i] == '\0') {
            parts[part] = data + start;
            lens[part++] = i - start;
            start = i + 1;
        }
    }

    if (part < 2) {
        return 0;
    }

    parts[2] = data + start;
    lens[2] = size - start;

    p = token;

    for (i = 0; i < 3; i++) {
        if (i) {
            *p++ = '.';
        }

        p = b64url(p, parts[i], lens[i]);
    }

    return p - token;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc;
    u_char                      *token, *buf;
    size_t                       i, verified;
    const char                  *error;
    ngx_http_itsm_jwt_t          jwt;
    ngx_http_itsm_jwt_claims_e   claims;

    if (size && data[0] == 0x01) {
        token = malloc(2 * size + 8);
        size = structured(data, size, token);

        if (size == 0) {
            free(token);
            return 0;
        }

    } else {
        token = malloc(size ? size : 1);
        memcpy(token, data, size);
    }

    buf = malloc(size ? size : 1);

    error = NULL;
    rc = ngx_http_itsm_jwt_parse(&jwt, token, size, buf, &error);

    if (rc != NGX_HTTP_ITSM_OK) {
        CHECK(error != NULL && jwt.header == NULL && jwt.claims == NULL);
        goto done;
    }

    CHECK(jwt.alg == NGX_HTTP_ITSM_JWT_RS256
          || jwt.alg == NGX_HTTP_ITSM_JWT_ES256);
    CHECK(jwt.signed_part.data == token
          && jwt.signed_part.len < size);
    CHECK(jwt.sig >= buf && jwt.sig + jwt.sig_len <= buf + size);

    verified = 0;

    for (i = 0; i < nkeys; i++) {
        if (ngx_http_itsm_jwt_verify(&jwt, &keys[i]) == NGX_HTTP_ITSM_OK) {
            verified++;
        }
    }

    /* a token is signed by one key at most */
    CHECK(verified <= 1);

    /* claims are checked whether or not the signature was right, so that
     * the fuzzer reaches them without forging signatures */

    error = NULL;
    claims = ngx_http_itsm_jwt_claims(&jwt, &policy, 1700000000, &error);
    CHECK(claims == NGX_HTTP_ITSM_JWT_VALID || error != NULL);

    ngx_http_itsm_jwt_free(&jwt);

done:

    free(token);
    free(buf);

    return 0;
}
