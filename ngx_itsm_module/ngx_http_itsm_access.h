
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_
#define _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <openssl/evp.h>


/*
 * Why the access phase refused a request.  The name of each reason is the
 * "error" code of the JSON answer, the name of its counter and a value of
 * $itsm_access_result.
 */

typedef enum {
    NGX_HTTP_ITSM_ACCESS_PASSED = 0,
    NGX_HTTP_ITSM_ACCESS_ADDRESS,
    NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
    NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
    NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH,
    NGX_HTTP_ITSM_ACCESS_TS_OLD,
    NGX_HTTP_ITSM_ACCESS_TS_FUTURE,
    NGX_HTTP_ITSM_ACCESS_REPLAYED,
    NGX_HTTP_ITSM_ACCESS_IN_FLIGHT,
    NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING,
    NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EXPIRED,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EARLY,
    NGX_HTTP_ITSM_ACCESS_TOKEN_FORBIDDEN,
    NGX_HTTP_ITSM_ACCESS_TOO_LARGE,
    NGX_HTTP_ITSM_ACCESS_INTERNAL,
    NGX_HTTP_ITSM_ACCESS_NREASONS
} ngx_http_itsm_access_e;


/* ngx_http_itsm_sig_parse.c: pure parsers of signature headers (no pools,
 * no nginx functions: the fuzz targets link them alone) */

#define NGX_HTTP_ITSM_SIG_MAX_LEN     64     /* SHA-512 */
#define NGX_HTTP_ITSM_SIG_TS_MAX_LEN  12     /* digits of a unix time */

#define NGX_HTTP_ITSM_SIG_HEX         0
#define NGX_HTTP_ITSM_SIG_BASE64      1

/* a checked header: its signatures stay in it, and are decoded one at a
 * time by ngx_http_itsm_sig_next(), as many as it holds */
typedef struct {
    u_char                      *start;        /* the signatures, into input */
    u_char                      *end;
    ngx_uint_t                   list;         /* how they are listed */
    ngx_uint_t                   encoding;
    ngx_uint_t                   n;            /* how many of them decode */
    ngx_str_t                    timestamp;    /* Stripe's t=, into input */
} ngx_http_itsm_sig_header_t;

ngx_int_t ngx_http_itsm_sig_parse_standard(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h);
ngx_int_t ngx_http_itsm_sig_parse_stripe(u_char *p, size_t len,
    ngx_http_itsm_sig_header_t *h);
ngx_int_t ngx_http_itsm_sig_parse_value(u_char *p, size_t len,
    ngx_str_t *prefix, ngx_uint_t encoding, ngx_http_itsm_sig_header_t *h);
ngx_int_t ngx_http_itsm_sig_next(ngx_http_itsm_sig_header_t *h,
    u_char **pos, u_char *mac, size_t *len);
ngx_int_t ngx_http_itsm_sig_parse_timestamp(u_char *p, size_t len,
    time_t *t);
ngx_int_t ngx_http_itsm_sig_check_id(u_char *p, size_t len);
ssize_t ngx_http_itsm_hex_decode(u_char *dst, size_t size, u_char *src,
    size_t len);
ssize_t ngx_http_itsm_base64_decode(u_char *dst, size_t size, u_char *src,
    size_t len, ngx_uint_t url);


/* ngx_http_itsm_jwt.c: JWS compact form, JWKS, RS256/ES256, claims; pure
 * as well (jansson and OpenSSL only) */

#define NGX_HTTP_ITSM_JWT_RS256       1
#define NGX_HTTP_ITSM_JWT_ES256       2
#define NGX_HTTP_ITSM_JWT_MAX_LEN     16384
#define NGX_HTTP_ITSM_JWK_KID_MAX     128
#define NGX_HTTP_ITSM_JWKS_MAX        64

typedef struct {
    ngx_uint_t                   alg;
    ngx_str_t                    kid;          /* into header */
    ngx_str_t                    signed_part;  /* header.payload, in token */
    u_char                      *sig;
    size_t                       sig_len;
    json_t                      *header;
    json_t                      *claims;
} ngx_http_itsm_jwt_t;

typedef struct {
    ngx_uint_t                   alg;          /* what the key can verify */
    size_t                       kid_len;
    u_char                       kid[NGX_HTTP_ITSM_JWK_KID_MAX];
    EVP_PKEY                    *pkey;
} ngx_http_itsm_jwk_t;

typedef struct {
    ngx_array_t                  iss;          /* ngx_str_t */
    ngx_array_t                  aud;          /* ngx_str_t */
    ngx_str_t                    app_id;       /* appid (v1) or azp (v2) */
    ngx_str_t                    role;         /* must be in "roles" */
    time_t                       leeway;
} ngx_http_itsm_jwt_policy_t;

ngx_int_t ngx_http_itsm_jwt_parse(ngx_http_itsm_jwt_t *jwt, u_char *token,
    size_t len, u_char *buf, const char **error);
void ngx_http_itsm_jwt_free(ngx_http_itsm_jwt_t *jwt);
ngx_int_t ngx_http_itsm_jwt_verify(ngx_http_itsm_jwt_t *jwt,
    ngx_http_itsm_jwk_t *key);
ngx_http_itsm_access_e ngx_http_itsm_jwt_claims(ngx_http_itsm_jwt_t *jwt,
    ngx_http_itsm_jwt_policy_t *policy, time_t now, const char **error);
ngx_int_t ngx_http_itsm_jwks_parse(u_char *data, size_t len,
    ngx_http_itsm_jwk_t *keys, ngx_uint_t max, ngx_uint_t *n,
    const char **error, ngx_uint_t *index);
void ngx_http_itsm_jwks_free(ngx_http_itsm_jwk_t *keys, ngx_uint_t n);


/* ngx_http_itsm_allow.c: CIDR allowlists */

typedef struct {
    ngx_radix_tree_t            *tree4;
    ngx_radix_tree_t            *tree6;
    ngx_uint_t                   entries;
} ngx_http_itsm_allow_t;

char *ngx_http_itsm_allow_add(ngx_conf_t *cf, ngx_http_itsm_allow_t *allow,
    ngx_str_t *value);
ngx_int_t ngx_http_itsm_allow_match(ngx_http_itsm_allow_t *allow,
    struct sockaddr *sa);


/* ngx_http_itsm_sig.c: the HMAC schemes */

typedef struct ngx_http_itsm_sig_conf_s  ngx_http_itsm_sig_conf_t;

/* what one request's signature headers said */
typedef struct {
    ngx_http_itsm_sig_header_t   header;
    ngx_str_t                    id;
    ngx_str_t                    timestamp;
    time_t                       time;
    ngx_uint_t                   secret;       /* 1-based, that matched */
    size_t                       mac_len;
    u_char                       mac[NGX_HTTP_ITSM_SIG_MAX_LEN];
    unsigned                     has_time:1;
} ngx_http_itsm_sig_req_t;

char *ngx_http_itsm_sig_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_sig_conf_t **sigp);
ngx_http_itsm_access_e ngx_http_itsm_sig_headers(ngx_http_request_t *r,
    ngx_http_itsm_sig_conf_t *scf, time_t tolerance,
    ngx_http_itsm_sig_req_t *sr);
ngx_http_itsm_access_e ngx_http_itsm_sig_verify(ngx_http_request_t *r,
    ngx_http_itsm_sig_conf_t *scf, ngx_http_itsm_sig_req_t *sr);
void ngx_http_itsm_sig_replay_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr, u_char *key);
void ngx_http_itsm_sig_exit(void);


/* ngx_http_itsm_token.c: a shared secret sent as is */

typedef struct ngx_http_itsm_token_conf_s  ngx_http_itsm_token_conf_t;

char *ngx_http_itsm_token_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_token_conf_t **tcfp);
ngx_http_itsm_access_e ngx_http_itsm_token_check(ngx_http_request_t *r,
    ngx_http_itsm_token_conf_t *tcf, ngx_uint_t *match);


/* ngx_http_itsm_jwt.c: bearer tokens against a key set */

typedef struct ngx_http_itsm_jwt_conf_s  ngx_http_itsm_jwt_conf_t;

char *ngx_http_itsm_jwt_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp);
char *ngx_http_itsm_jwt_preset(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp);
char *ngx_http_itsm_jwt_merge(ngx_conf_t *cf, ngx_http_itsm_jwt_conf_t *jcf);
ngx_http_itsm_access_e ngx_http_itsm_jwt_check(ngx_http_request_t *r,
    ngx_http_itsm_jwt_conf_t *jcf);


/* ngx_http_itsm_replay.c: seen delivery ids in shared memory */

#define NGX_HTTP_ITSM_REPLAY_KEY_LEN  32       /* SHA-256 of the id */

char *ngx_http_itsm_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_shm_zone_t *ngx_http_itsm_replay_zone_ref(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_int_t ngx_http_itsm_replay_check(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, u_char *key, time_t expire);
ngx_int_t ngx_http_itsm_replay_filter_init(ngx_conf_t *cf);


/* ngx_http_itsm_access_module.c */

typedef struct {
    ngx_http_itsm_access_e       result;
    ngx_str_t                    error;        /* the JSON message */
    ngx_http_itsm_sig_req_t     *sig;
    ngx_uint_t                   token;        /* 1-based, that matched */

    unsigned                     reading:1;    /* the body is being read */
    unsigned                     async:1;
    unsigned                     body:1;       /* the body was read */
    unsigned                     done:1;
} ngx_http_itsm_access_ctx_t;

typedef struct {
    ngx_shm_zone_t              *zone;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_replay_ref_t;


typedef struct {
    ngx_http_itsm_allow_t       *allow;
    ngx_uint_t                   allow_log_level;
    ngx_http_itsm_token_conf_t  *token;
    ngx_http_itsm_sig_conf_t    *sig;
    time_t                       tolerance;
    ngx_shm_zone_t              *replay;
    time_t                       replay_ttl;
    ngx_http_itsm_jwt_conf_t    *jwt;
    ngx_flag_t                   enabled;

    u_char                      *replay_file;  /* set in a location */
    ngx_uint_t                   replay_line;

    size_t                       max_body;     /* itsm_access_max_body */
    time_t                       retry_after;  /* itsm_access_retry_after */

    /* what the location's content handler announced
     * (ngx_http_itsm_access_content_limits()) */
    size_t                       content_max_body;
    time_t                       content_retry_after;
    ngx_str_t                    content_directive;

    /* in effect: our own setting, else the content handler's, else ours
     * by default */
    size_t                       body_limit;
    ngx_str_t                    body_directive;   /* for the 413 */
    time_t                       retry;
} ngx_http_itsm_access_loc_conf_t;


typedef struct {
    ngx_shm_zone_t              *counters;
    ngx_array_t                  replay_refs;  /* ngx_http_itsm_replay_ref_t */
    ngx_flag_t                   used;
} ngx_http_itsm_access_main_conf_t;


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   status;
} ngx_http_itsm_access_reason_t;


extern ngx_http_itsm_access_reason_t  ngx_http_itsm_access_reasons[];

ngx_http_itsm_access_e ngx_http_itsm_access_fail(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason, const char *fmt, ...);
ngx_int_t ngx_http_itsm_access_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out);
void ngx_http_itsm_access_count(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason);
ngx_int_t ngx_http_itsm_access_counters_zone(ngx_conf_t *cf,
    ngx_http_itsm_access_main_conf_t *amcf);
ngx_int_t ngx_http_itsm_access_counters_provide(ngx_conf_t *cf);
ngx_int_t ngx_http_itsm_access_counters_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
void ngx_http_itsm_access_content_limits(ngx_conf_t *cf, size_t max_body,
    ngx_str_t *directive, time_t retry_after);
ngx_int_t ngx_http_itsm_access_handler(ngx_http_request_t *r);

extern ngx_module_t  ngx_http_itsm_access_module;


#endif /* _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_ */
