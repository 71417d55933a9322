
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_PARSE_H_INCLUDED_
#define _NGX_HTTP_ITSM_PARSE_H_INCLUDED_


/*
 * The parsers of untrusted bytes: signature headers and their codecs
 * (ngx_http_itsm_sig_parse.c), bearer tokens and key sets
 * (ngx_http_itsm_jwt_parse.c), the nesting of an alert body
 * (ngx_http_itsm_json_depth.c), the redaction of an ITSM's answer
 * (ngx_http_itsm_redact.c).  They are pure: bytes in, fixed-size
 * structures out, standard C with jansson and OpenSSL, and no nginx
 * header, so that each fuzz target builds from the sources with a plain
 * cc line (fuzz/README.md).  Their types are their own; the nginx side
 * converts at the call.  (u_char is <sys/types.h>'s, as it is nginx's.)
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>


/* the results, with the values of nginx's NGX_OK, NGX_ERROR, ... */

#define NGX_HTTP_ITSM_OK              0
#define NGX_HTTP_ITSM_ERROR          -1
#define NGX_HTTP_ITSM_DONE           -4
#define NGX_HTTP_ITSM_DECLINED       -5


/* bytes that are not a C string: ngx_str_t's layout, without nginx */

typedef struct {
    size_t                       len;
    u_char                      *data;
} ngx_http_itsm_bytes_t;


/* ngx_http_itsm_sig_parse.c: signature headers, hex and base64 */

#define NGX_HTTP_ITSM_SIG_MAX_LEN     64     /* SHA-512 */
#define NGX_HTTP_ITSM_SIG_TS_MAX_LEN  12     /* digits of a unix time */

#define NGX_HTTP_ITSM_SIG_HEX         0
#define NGX_HTTP_ITSM_SIG_BASE64      1

/* a checked header: its signatures stay in it, and are decoded one at a
 * time by ngx_http_itsm_sig_next(), as many as it holds */
typedef struct {
    u_char                      *start;        /* the signatures, into input */
    u_char                      *end;
    unsigned                     list;         /* how they are listed */
    unsigned                     encoding;
    size_t                       n;            /* how many of them decode */
    ngx_http_itsm_bytes_t        timestamp;    /* Stripe's t=, into input */
} ngx_http_itsm_sig_header_t;

int ngx_http_itsm_sig_parse_standard(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h);
int ngx_http_itsm_sig_parse_stripe(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h);
int ngx_http_itsm_sig_parse_value(u_char *p, size_t len,
    ngx_http_itsm_bytes_t *prefix, unsigned encoding,
    ngx_http_itsm_sig_header_t *h);
int ngx_http_itsm_sig_next(ngx_http_itsm_sig_header_t *h, u_char **pos,
    u_char *mac, size_t *len);
int ngx_http_itsm_sig_parse_timestamp(u_char *p, size_t len, time_t *t);
int ngx_http_itsm_sig_check_id(u_char *p, size_t len);
ssize_t ngx_http_itsm_hex_decode(u_char *dst, size_t size, u_char *src,
    size_t len);
ssize_t ngx_http_itsm_base64_decode(u_char *dst, size_t size, u_char *src,
    size_t len, unsigned url);


/* ngx_http_itsm_jwt_parse.c: JWS compact form, JWKS, RS256/ES256, claims */

#define NGX_HTTP_ITSM_JWT_RS256       1
#define NGX_HTTP_ITSM_JWT_ES256       2
#define NGX_HTTP_ITSM_JWT_MAX_LEN     16384
#define NGX_HTTP_ITSM_JWK_KID_MAX     128
#define NGX_HTTP_ITSM_JWKS_MAX        64

typedef struct {
    unsigned                     alg;
    ngx_http_itsm_bytes_t        kid;          /* into header */
    ngx_http_itsm_bytes_t        signed_part;  /* header.payload, in token */
    u_char                      *sig;
    size_t                       sig_len;
    json_t                      *header;
    json_t                      *claims;
} ngx_http_itsm_jwt_t;

typedef struct {
    unsigned                     alg;          /* what the key can verify */
    size_t                       kid_len;
    u_char                       kid[NGX_HTTP_ITSM_JWK_KID_MAX];
    EVP_PKEY                    *pkey;
} ngx_http_itsm_jwk_t;

typedef struct {
    ngx_http_itsm_bytes_t       *iss;          /* one of them */
    size_t                       niss;
    ngx_http_itsm_bytes_t       *aud;          /* one of them */
    size_t                       naud;
    ngx_http_itsm_bytes_t        app_id;       /* appid (v1) or azp (v2) */
    ngx_http_itsm_bytes_t        role;         /* must be in "roles" */
    time_t                       leeway;
} ngx_http_itsm_jwt_policy_t;

/* what the claims of a token say */
typedef enum {
    NGX_HTTP_ITSM_JWT_VALID = 0,
    NGX_HTTP_ITSM_JWT_INVALID,
    NGX_HTTP_ITSM_JWT_EXPIRED,
    NGX_HTTP_ITSM_JWT_EARLY,                   /* before nbf */
    NGX_HTTP_ITSM_JWT_FORBIDDEN                /* another application/role */
} ngx_http_itsm_jwt_claims_e;

int ngx_http_itsm_jwt_parse(ngx_http_itsm_jwt_t *jwt, u_char *token,
    size_t len, u_char *buf, const char **error);
void ngx_http_itsm_jwt_free(ngx_http_itsm_jwt_t *jwt);
int ngx_http_itsm_jwt_verify(ngx_http_itsm_jwt_t *jwt,
    ngx_http_itsm_jwk_t *key);
ngx_http_itsm_jwt_claims_e ngx_http_itsm_jwt_claims(ngx_http_itsm_jwt_t *jwt,
    ngx_http_itsm_jwt_policy_t *policy, time_t now, const char **error);
int ngx_http_itsm_jwks_parse(u_char *data, size_t len,
    ngx_http_itsm_jwk_t *keys, size_t max, size_t *n, const char **error,
    size_t *index);
void ngx_http_itsm_jwks_free(ngx_http_itsm_jwk_t *keys, size_t n);


/* ngx_http_itsm_json_depth.c: how deep a JSON text nests */

int ngx_http_itsm_json_depth(u_char *p, size_t len, size_t max,
    size_t *depth);


/* ngx_http_itsm_redact.c: the values of secret names hidden, in a JSON
 * text or a form ("a=1&b=2"), for the delivery history */

typedef struct {
    size_t                       len;
    u_char                      *data;
} ngx_http_itsm_name_t;

size_t ngx_http_itsm_redact_room(const u_char *p, size_t len);
size_t ngx_http_itsm_redact(u_char *dst, const u_char *src, size_t len,
    int form, const ngx_http_itsm_name_t *names, size_t n);


#endif /* _NGX_HTTP_ITSM_PARSE_H_INCLUDED_ */
