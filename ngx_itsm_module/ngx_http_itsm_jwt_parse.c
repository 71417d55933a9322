
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_parse.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>


#if (OPENSSL_VERSION_NUMBER < 0x30000000L)
#error "ngx_http_itsm_access_module needs OpenSSL 3 (libssl-dev >= 3.0)"
#endif


/*
 * Bearer tokens: the JWS compact form (RFC 7515), RS256 and ES256
 * signatures (RFC 7518), key sets (RFC 7517) and the claims an Entra ID
 * token carries.  Like ngx_http_itsm_sig_parse.c this file is pure, with
 * jansson and OpenSSL only (ngx_http_itsm_parse.h), so that the fuzz
 * targets build from it alone; ngx_http_itsm_jwt.c does the file reading,
 * the pools and the logging.
 *
 * Errors are static strings that name what failed, never a key.
 */


static json_t *ngx_http_itsm_jwt_json(u_char *src, size_t len, u_char *buf,
    size_t *used);
static int ngx_http_itsm_jwt_str_in(json_t *value, ngx_http_itsm_bytes_t *set,
    size_t n);
static int ngx_http_itsm_jwt_caseless(json_t *value,
    ngx_http_itsm_bytes_t *s);
static int ngx_http_itsm_jwt_time(json_t *claims, const char *name,
    double *t);
static int ngx_http_itsm_jwk_b64(json_t *jwk, const char *name,
    u_char *buf, size_t size, size_t *len);
static EVP_PKEY *ngx_http_itsm_jwk_rsa(json_t *jwk, const char **error);
static EVP_PKEY *ngx_http_itsm_jwk_ec(json_t *jwk, const char **error);
static EVP_PKEY *ngx_http_itsm_jwk_import(OSSL_PARAM_BLD *bld,
    const char *type);


/*
 * buf must hold len bytes: the decoded header, payload and signature.  On
 * success jwt->header and jwt->claims are jansson objects that
 * ngx_http_itsm_jwt_free() releases; on failure nothing is left to free.
 */

int
ngx_http_itsm_jwt_parse(ngx_http_itsm_jwt_t *jwt, u_char *token, size_t len,
    u_char *buf, const char **error)
{
    u_char      *p, *last, *dot1, *dot2;
    size_t       used;
    json_t      *alg, *kid;
    ssize_t      n;
    const char  *name;

    memset(jwt, 0, sizeof(ngx_http_itsm_jwt_t));

    if (len == 0 || len > NGX_HTTP_ITSM_JWT_MAX_LEN) {
        *error = "the token is empty or longer than 16384 bytes";
        return NGX_HTTP_ITSM_DECLINED;
    }

    last = token + len;
    dot1 = NULL;
    dot2 = NULL;

    for (p = token; p < last; p++) {
        if (*p != '.') {
            continue;
        }

        if (dot1 == NULL) {
            dot1 = p;

        } else if (dot2 == NULL) {
            dot2 = p;

        } else {
            *error = "the token is not a signed JWT (more than three parts)";
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    if (dot2 == NULL) {
        *error = "the token is not a JWT (header.payload.signature)";
        return NGX_HTTP_ITSM_DECLINED;
    }

    jwt->header = ngx_http_itsm_jwt_json(token, dot1 - token, buf, &used);
    if (jwt->header == NULL) {
        *error = "the token's header is not a base64url-encoded JSON object";
        return NGX_HTTP_ITSM_DECLINED;
    }

    buf += used;

    if (json_object_get(jwt->header, "crit") != NULL) {
        *error = "the token has critical header extensions (\"crit\")";
        goto failed;
    }

    alg = json_object_get(jwt->header, "alg");
    name = json_string_value(alg);

    if (name == NULL) {
        *error = "the token's header has no \"alg\"";
        goto failed;
    }

    if (strcmp(name, "RS256") == 0) {
        jwt->alg = NGX_HTTP_ITSM_JWT_RS256;

    } else if (strcmp(name, "ES256") == 0) {
        jwt->alg = NGX_HTTP_ITSM_JWT_ES256;

    } else {
        *error = "the token's \"alg\" is not RS256 or ES256";
        goto failed;
    }

    kid = json_object_get(jwt->header, "kid");

    if (kid != NULL) {
        if (!json_is_string(kid)) {
            *error = "the token's \"kid\" is not a string";
            goto failed;
        }

        jwt->kid.data = (u_char *) json_string_value(kid);
        jwt->kid.len = json_string_length(kid);
    }

    jwt->claims = ngx_http_itsm_jwt_json(dot1 + 1, dot2 - dot1 - 1, buf,
                                         &used);
    if (jwt->claims == NULL) {
        *error = "the token's payload is not a base64url-encoded JSON object";
        goto failed;
    }

    buf += used;

    n = ngx_http_itsm_base64_decode(buf, last - dot2 - 1, dot2 + 1,
                                    last - dot2 - 1, 1);
    if (n <= 0) {
        *error = "the token's signature is not base64url";
        goto failed;
    }

    jwt->sig = buf;
    jwt->sig_len = n;

    jwt->signed_part.data = token;
    jwt->signed_part.len = dot2 - token;

    return NGX_HTTP_ITSM_OK;

failed:

    ngx_http_itsm_jwt_free(jwt);

    return NGX_HTTP_ITSM_DECLINED;
}


void
ngx_http_itsm_jwt_free(ngx_http_itsm_jwt_t *jwt)
{
    if (jwt->header) {
        json_decref(jwt->header);
        jwt->header = NULL;
    }

    if (jwt->claims) {
        json_decref(jwt->claims);
        jwt->claims = NULL;
    }
}


/* a base64url part decoded into buf and parsed; an object, or NULL */

static json_t *
ngx_http_itsm_jwt_json(u_char *src, size_t len, u_char *buf, size_t *used)
{
    json_t        *json;
    ssize_t        n;
    json_error_t   err;

    n = ngx_http_itsm_base64_decode(buf, len, src, len, 1);
    if (n <= 0) {
        return NULL;
    }

    *used = n;

    /* duplicate names make a claim ambiguous (RFC 7519 section 4) */

    json = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, &err);
    if (json == NULL) {
        return NULL;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* NGX_HTTP_ITSM_OK: the signature is right; NGX_HTTP_ITSM_DECLINED: it is
 * not; NGX_HTTP_ITSM_ERROR: OpenSSL failed */

int
ngx_http_itsm_jwt_verify(ngx_http_itsm_jwt_t *jwt, ngx_http_itsm_jwk_t *key)
{
    int            rc;
    u_char        *sig, *p;
    size_t         sig_len;
    BIGNUM        *r, *s;
    ECDSA_SIG     *ecsig;
    EVP_MD_CTX    *mctx;
    u_char         der[80];

    if (key->alg != jwt->alg) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    sig = jwt->sig;
    sig_len = jwt->sig_len;

    if (jwt->alg == NGX_HTTP_ITSM_JWT_ES256) {

        /* JWS carries r and s as 32 bytes each; OpenSSL wants DER */

        if (sig_len != 64) {
            return NGX_HTTP_ITSM_DECLINED;
        }

        ecsig = ECDSA_SIG_new();
        r = BN_bin2bn(sig, 32, NULL);
        s = BN_bin2bn(sig + 32, 32, NULL);

        if (ecsig == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(ecsig, r, s) != 1)
        {
            ECDSA_SIG_free(ecsig);
            BN_free(r);
            BN_free(s);
            return NGX_HTTP_ITSM_ERROR;
        }

        if (i2d_ECDSA_SIG(ecsig, NULL) > (int) sizeof(der)) {
            ECDSA_SIG_free(ecsig);
            return NGX_HTTP_ITSM_ERROR;
        }

        p = der;
        rc = i2d_ECDSA_SIG(ecsig, &p);
        ECDSA_SIG_free(ecsig);

        if (rc <= 0) {
            return NGX_HTTP_ITSM_ERROR;
        }

        sig = der;
        sig_len = rc;
    }

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        return NGX_HTTP_ITSM_ERROR;
    }

    rc = EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, key->pkey);

    if (rc == 1) {
        rc = EVP_DigestVerify(mctx, sig, sig_len, jwt->signed_part.data,
                              jwt->signed_part.len);
    }

    EVP_MD_CTX_free(mctx);

    /* a failed verification leaves errors on OpenSSL's queue */

    ERR_clear_error();

    return (rc == 1) ? NGX_HTTP_ITSM_OK : NGX_HTTP_ITSM_DECLINED;
}


/* the claims of a token whose signature was verified */

ngx_http_itsm_jwt_claims_e
ngx_http_itsm_jwt_claims(ngx_http_itsm_jwt_t *jwt,
    ngx_http_itsm_jwt_policy_t *policy, time_t now, const char **error)
{
    int          rc, found;
    double       t;
    size_t       i;
    json_t      *aud, *app, *roles, *role;

    if (ngx_http_itsm_jwt_str_in(json_object_get(jwt->claims, "iss"),
                                 policy->iss, policy->niss)
        != NGX_HTTP_ITSM_OK)
    {
        *error = "the token's issuer (\"iss\") is not accepted here";
        return NGX_HTTP_ITSM_JWT_INVALID;
    }

    aud = json_object_get(jwt->claims, "aud");
    found = 0;

    if (json_is_array(aud)) {
        for (i = 0; i < json_array_size(aud); i++) {
            if (ngx_http_itsm_jwt_str_in(json_array_get(aud, i),
                                         policy->aud, policy->naud)
                == NGX_HTTP_ITSM_OK)
            {
                found = 1;
                break;
            }
        }

    } else {
        found = (ngx_http_itsm_jwt_str_in(aud, policy->aud, policy->naud)
                 == NGX_HTTP_ITSM_OK);
    }

    if (!found) {
        *error = "the token's audience (\"aud\") is not this service";
        return NGX_HTTP_ITSM_JWT_INVALID;
    }

    rc = ngx_http_itsm_jwt_time(jwt->claims, "exp", &t);

    if (rc != NGX_HTTP_ITSM_OK) {
        *error = "the token has no valid expiry (\"exp\")";
        return NGX_HTTP_ITSM_JWT_INVALID;
    }

    /* RFC 7519 4.1.4: not accepted "on or after" exp (plus the leeway) */

    if ((double) now >= t + (double) policy->leeway) {
        *error = "the token has expired (\"exp\")";
        return NGX_HTTP_ITSM_JWT_EXPIRED;
    }

    rc = ngx_http_itsm_jwt_time(jwt->claims, "nbf", &t);

    if (rc == NGX_HTTP_ITSM_ERROR) {
        *error = "the token's \"nbf\" is not a number";
        return NGX_HTTP_ITSM_JWT_INVALID;
    }

    /* 4.1.5: accepted "on or after" nbf (minus the leeway) */

    if (rc == NGX_HTTP_ITSM_OK && (double) now + (double) policy->leeway < t) {
        *error = "the token is not valid yet (\"nbf\"): check the clocks";
        return NGX_HTTP_ITSM_JWT_EARLY;
    }

    if (policy->app_id.len) {

        /* "azp" in v2.0 tokens, "appid" in v1.0 tokens */

        app = json_object_get(jwt->claims, "azp");

        if (app == NULL) {
            app = json_object_get(jwt->claims, "appid");
        }

        if (!json_is_string(app)
            || ngx_http_itsm_jwt_caseless(app, &policy->app_id)
               != NGX_HTTP_ITSM_OK)
        {
            *error = "the token was issued to another application "
                     "(\"appid\"/\"azp\")";
            return NGX_HTTP_ITSM_JWT_FORBIDDEN;
        }
    }

    if (policy->role.len) {
        roles = json_object_get(jwt->claims, "roles");
        found = 0;

        for (i = 0; json_is_array(roles) && i < json_array_size(roles); i++) {
            role = json_array_get(roles, i);

            if (json_is_string(role)
                && json_string_length(role) == policy->role.len
                && strncmp(json_string_value(role),
                           (const char *) policy->role.data, policy->role.len)
                   == 0)
            {
                found = 1;
                break;
            }
        }

        if (!found) {
            *error = "the token does not carry the required role "
                     "(\"roles\")";
            return NGX_HTTP_ITSM_JWT_FORBIDDEN;
        }
    }

    return NGX_HTTP_ITSM_JWT_VALID;
}


static int
ngx_http_itsm_jwt_str_in(json_t *value, ngx_http_itsm_bytes_t *set, size_t n)
{
    size_t  i, len;

    if (!json_is_string(value)) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    len = json_string_length(value);

    for (i = 0; i < n; i++) {
        if (set[i].len == len
            && memcmp(set[i].data, json_string_value(value), len) == 0)
        {
            return NGX_HTTP_ITSM_OK;
        }
    }

    return NGX_HTTP_ITSM_DECLINED;
}


/* application ids are GUIDs, written in either case */

static int
ngx_http_itsm_jwt_caseless(json_t *value, ngx_http_itsm_bytes_t *s)
{
    size_t       i;
    u_char       c1, c2;
    const char  *v;

    if (json_string_length(value) != s->len) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    v = json_string_value(value);

    for (i = 0; i < s->len; i++) {
        c1 = (u_char) v[i];
        c2 = s->data[i];

        c1 = (c1 >= 'A' && c1 <= 'Z') ? (c1 | 0x20) : c1;
        c2 = (c2 >= 'A' && c2 <= 'Z') ? (c2 | 0x20) : c2;

        if (c1 != c2) {
            return NGX_HTTP_ITSM_DECLINED;
        }
    }

    return NGX_HTTP_ITSM_OK;
}


/* NGX_HTTP_ITSM_OK: a number; NGX_HTTP_ITSM_DECLINED: absent;
 * NGX_HTTP_ITSM_ERROR: not a number */

static int
ngx_http_itsm_jwt_time(json_t *claims, const char *name, double *t)
{
    json_t  *value;

    value = json_object_get(claims, name);

    if (value == NULL) {
        return NGX_HTTP_ITSM_DECLINED;
    }

    if (!json_is_number(value)) {
        return NGX_HTTP_ITSM_ERROR;
    }

    *t = json_number_value(value);

    return NGX_HTTP_ITSM_OK;
}


/*
 * {"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...},
 *           {"kty": "EC", "crv": "P-256", "x": ..., "y": ...}]}
 *
 * Keys of other types or curves, and keys for encryption ("use": "enc"),
 * are skipped as RFC 7517 asks; an error in a key that would be used
 * fails the whole set, with *index naming the key (0-based).
 */

int
ngx_http_itsm_jwks_parse(u_char *data, size_t len, ngx_http_itsm_jwk_t *keys,
    size_t max, size_t *n, const char **error, size_t *index)
{
    size_t         i;
    json_t        *root, *set, *jwk, *v;
    unsigned       alg;
    EVP_PKEY      *pkey;
    const char    *s, *name;
    json_error_t   err;

    *n = 0;
    *index = 0;

    root = json_loadb((const char *) data, len, 0, &err);

    if (root == NULL) {
        *error = "the key set is not valid JSON";
        return NGX_HTTP_ITSM_ERROR;
    }

    set = json_object_get(root, "keys");

    if (!json_is_array(set)) {
        *error = "the key set has no \"keys\" array";
        goto failed;
    }

    for (i = 0; i < json_array_size(set); i++) {
        *index = i;
        jwk = json_array_get(set, i);

        if (!json_is_object(jwk)) {
            *error = "a key is not a JSON object";
            goto failed;
        }

        s = json_string_value(json_object_get(jwk, "use"));

        if (s != NULL && strcmp(s, "sig") != 0) {
            continue;
        }

        s = json_string_value(json_object_get(jwk, "kty"));

        if (s == NULL) {
            *error = "a key has no \"kty\"";
            goto failed;
        }

        if (strcmp(s, "RSA") == 0) {
            alg = NGX_HTTP_ITSM_JWT_RS256;

        } else if (strcmp(s, "EC") == 0) {
            s = json_string_value(json_object_get(jwk, "crv"));

            if (s == NULL || strcmp(s, "P-256") != 0) {
                continue;
            }

            alg = NGX_HTTP_ITSM_JWT_ES256;

        } else {
            continue;
        }

        v = json_object_get(jwk, "alg");

        if (v != NULL) {
            s = json_string_value(v);

            if (s == NULL) {
                *error = "a key's \"alg\" is not a string";
                goto failed;
            }

            name = (alg == NGX_HTTP_ITSM_JWT_RS256) ? "RS256" : "ES256";

            if (strcmp(s, name) != 0) {
                continue;
            }
        }

        if (*n == max) {
            *error = "the key set has more than 64 usable keys";
            goto failed;
        }

        v = json_object_get(jwk, "kid");

        if (v != NULL) {
            if (!json_is_string(v)
                || json_string_length(v) > NGX_HTTP_ITSM_JWK_KID_MAX)
            {
                *error = "a key's \"kid\" is not a string of at most 128 "
                         "bytes";
                goto failed;
            }

            keys[*n].kid_len = json_string_length(v);
            memcpy(keys[*n].kid, json_string_value(v), keys[*n].kid_len);

        } else {
            keys[*n].kid_len = 0;
        }

        pkey = (alg == NGX_HTTP_ITSM_JWT_RS256)
               ? ngx_http_itsm_jwk_rsa(jwk, error)
               : ngx_http_itsm_jwk_ec(jwk, error);

        if (pkey == NULL) {
            goto failed;
        }

        keys[*n].alg = alg;
        keys[*n].pkey = pkey;
        (*n)++;
    }

    json_decref(root);

    if (*n == 0) {
        *index = 0;
        *error = "the key set has no RSA or P-256 signing key";
        return NGX_HTTP_ITSM_ERROR;
    }

    return NGX_HTTP_ITSM_OK;

failed:

    json_decref(root);
    ngx_http_itsm_jwks_free(keys, *n);
    *n = 0;

    return NGX_HTTP_ITSM_ERROR;
}


void
ngx_http_itsm_jwks_free(ngx_http_itsm_jwk_t *keys, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        EVP_PKEY_free(keys[i].pkey);
        keys[i].pkey = NULL;
    }
}


static int
ngx_http_itsm_jwk_b64(json_t *jwk, const char *name, u_char *buf,
    size_t size, size_t *len)
{
    json_t   *v;
    ssize_t   n;

    v = json_object_get(jwk, name);

    if (!json_is_string(v)) {
        return NGX_HTTP_ITSM_ERROR;
    }

    n = ngx_http_itsm_base64_decode(buf, size,
                                    (u_char *) json_string_value(v),
                                    json_string_length(v), 1);
    if (n <= 0) {
        return NGX_HTTP_ITSM_ERROR;
    }

    *len = n;

    return NGX_HTTP_ITSM_OK;
}


static EVP_PKEY *
ngx_http_itsm_jwk_rsa(json_t *jwk, const char **error)
{
    size_t           nlen, elen;
    BIGNUM          *bn, *be;
    EVP_PKEY        *pkey;
    OSSL_PARAM_BLD  *bld;
    u_char           n[1024], e[8];

    if (ngx_http_itsm_jwk_b64(jwk, "n", n, sizeof(n), &nlen)
        != NGX_HTTP_ITSM_OK
        || ngx_http_itsm_jwk_b64(jwk, "e", e, sizeof(e), &elen)
           != NGX_HTTP_ITSM_OK)
    {
        *error = "an RSA key has no valid base64url \"n\" and \"e\"";
        return NULL;
    }

    pkey = NULL;

    bn = BN_bin2bn(n, nlen, NULL);
    be = BN_bin2bn(e, elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn == NULL || be == NULL || bld == NULL) {
        goto failed;
    }

    if (BN_num_bits(bn) < 2048) {
        *error = "an RSA key is shorter than 2048 bits";
        goto done;
    }

    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
    {
        pkey = ngx_http_itsm_jwk_import(bld, "RSA");
    }

    if (pkey != NULL) {
        goto done;
    }

failed:

    *error = "an RSA key could not be imported";

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    ERR_clear_error();

    return pkey;
}


static EVP_PKEY *
ngx_http_itsm_jwk_ec(json_t *jwk, const char **error)
{
    size_t           xlen, ylen;
    EVP_PKEY        *pkey;
    OSSL_PARAM_BLD  *bld;
    u_char           pub[65];

    /* 0x04 | x | y: an uncompressed point */

    if (ngx_http_itsm_jwk_b64(jwk, "x", pub + 1, 32, &xlen)
        != NGX_HTTP_ITSM_OK
        || ngx_http_itsm_jwk_b64(jwk, "y", pub + 33, 32, &ylen)
           != NGX_HTTP_ITSM_OK
        || xlen != 32 || ylen != 32)
    {
        *error = "a P-256 key has no valid 32-byte \"x\" and \"y\"";
        return NULL;
    }

    pub[0] = 0x04;

    pkey = NULL;

    bld = OSSL_PARAM_BLD_new();

    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           "prime256v1", 0) == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            pub, sizeof(pub)) == 1)
    {
        pkey = ngx_http_itsm_jwk_import(bld, "EC");
    }

    if (pkey == NULL) {
        *error = "a P-256 key could not be imported (not a point on the "
                 "curve?)";
    }

    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();

    return pkey;
}


/* a public key of "type" ("RSA", "EC") from the parameters built for it */

static EVP_PKEY *
ngx_http_itsm_jwk_import(OSSL_PARAM_BLD *bld, const char *type)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *pctx;

    pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || pctx == NULL
        || EVP_PKEY_fromdata_init(pctx) != 1
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);

    return pkey;
}
