
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_SIG_H_INCLUDED_
#define _NGX_HTTP_ITSM_SIG_H_INCLUDED_


#include "ngx_http_itsm_access.h"


/*
 * What the configuration of itsm_signature (ngx_http_itsm_sig_conf.c) and
 * its check (ngx_http_itsm_sig.c) share; the rest of the access module
 * sees ngx_http_itsm_sig_conf_t as an opaque type.
 */


#define NGX_HTTP_ITSM_SIG_SECRETS_MAX  16


typedef enum {
    NGX_HTTP_ITSM_SIG_PARSE_STANDARD = 0,
    NGX_HTTP_ITSM_SIG_PARSE_STRIPE,
    NGX_HTTP_ITSM_SIG_PARSE_VALUE
} ngx_http_itsm_sig_parse_e;


typedef enum {
    NGX_HTTP_ITSM_SIG_LITERAL = 0,
    NGX_HTTP_ITSM_SIG_ID,
    NGX_HTTP_ITSM_SIG_TIMESTAMP,
    NGX_HTTP_ITSM_SIG_BODY
} ngx_http_itsm_sig_part_e;


typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_sig_parse_e    parse;
    ngx_str_t                    header[2];
    ngx_str_t                    id_header[2];
    ngx_str_t                    ts_header;
    ngx_str_t                    prefix;
    ngx_uint_t                   encoding;
    ngx_str_t                    content;
    ngx_uint_t                   whsec;        /* key = base64 of whsec_ */
    ngx_uint_t                   params;       /* NGX_HTTP_ITSM_SIG_P_* */
} ngx_http_itsm_sig_scheme_t;


typedef struct {
    ngx_http_itsm_sig_part_e     type;
    ngx_str_t                    text;
} ngx_http_itsm_sig_part_t;


typedef struct {
    EVP_MD_CTX                  *inner;        /* keyed, for a fixed secret */
    EVP_MD_CTX                  *outer;
    ngx_http_complex_value_t    *value;        /* secret=$variable */
} ngx_http_itsm_secret_t;


struct ngx_http_itsm_sig_conf_s {
    ngx_http_itsm_sig_scheme_t  *scheme;
    ngx_str_t                    header[2];
    ngx_str_t                    id_header[2];
    ngx_str_t                    ts_header;
    ngx_str_t                    prefix;
    ngx_uint_t                   encoding;
    char                        *digest;
    EVP_MD                      *md;
    size_t                       mac_len;
    ngx_array_t                  parts;        /* ngx_http_itsm_sig_part_t */
    ngx_array_t                  secrets;      /* ngx_http_itsm_secret_t */
    ngx_uint_t                   signed_id;    /* {id} is signed */
    ngx_uint_t                   signed_ts;    /* {timestamp} is signed */
};


ngx_int_t ngx_http_itsm_sig_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *secret, ngx_pool_t *pool, ngx_str_t *key);
ngx_int_t ngx_http_itsm_sig_hmac_key(EVP_MD *md, ngx_str_t *key,
    EVP_MD_CTX *inner, EVP_MD_CTX *outer);


#endif /* _NGX_HTTP_ITSM_SIG_H_INCLUDED_ */
