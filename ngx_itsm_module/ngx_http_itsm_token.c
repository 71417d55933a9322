
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


/*
 * itsm_token: a shared secret sent as is, for the senders that cannot
 * sign (Alertmanager's bearer credentials, a Datadog custom header, the
 * token in an Azure webhook's query string).
 *
 *   itsm_token $http_authorization "Bearer 6f1c...";
 *   itsm_token $http_x_itsm_token file=/etc/nginx/itsm/datadog.tokens;
 *
 * Only SHA-256 digests of the accepted tokens are kept, and the request's
 * token is compared with every one of them by CRYPTO_memcmp(): the time
 * taken tells neither how much of a token was right nor its length, which
 * an "if ($http_x_token != ...)" in nginx.conf would.
 */


#define NGX_HTTP_ITSM_TOKEN_MIN   16
#define NGX_HTTP_ITSM_TOKEN_MAX   4096


struct ngx_http_itsm_token_conf_s {
    ngx_http_complex_value_t     value;        /* where the token is */
    ngx_array_t                  digests;      /* u_char[SHA256] each */
};


static char *ngx_http_itsm_token_add(ngx_conf_t *cf,
    ngx_http_itsm_token_conf_t *tcf, ngx_str_t *token, ngx_str_t *where);
static char *ngx_http_itsm_token_file(ngx_conf_t *cf,
    ngx_http_itsm_token_conf_t *tcf, ngx_str_t *name);


char *
ngx_http_itsm_token_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_token_conf_t **tcfp = conf;

    char                              *rv;
    ngx_str_t                         *value, name;
    ngx_uint_t                         i;
    ngx_http_itsm_token_conf_t        *tcf;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    tcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_token_conf_t));
    if (tcf == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &tcf->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (tcf->value.lengths == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" in \"%V\" is not a variable: the first "
                           "parameter says where the request carries the "
                           "token, e.g. $http_authorization, "
                           "$http_x_itsm_token or $arg_token",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&tcf->digests, cf->pool, 2, SHA256_DIGEST_LENGTH)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "file=", &name) && name.len) {
            rv = ngx_http_itsm_token_file(cf, tcf, &name);

        } else {
            rv = ngx_http_itsm_token_add(cf, tcf, &value[i], NULL);

            /* only its digest is kept: the argument does not keep it */

            ngx_explicit_memzero(value[i].data, value[i].len);
        }

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (tcf->digests.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" accepts no token: give at least one, "
                           "or file= with one token per line", &cmd->name);
        return NGX_CONF_ERROR;
    }

    *tcfp = tcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_token_add(ngx_conf_t *cf, ngx_http_itsm_token_conf_t *tcf,
    ngx_str_t *token, ngx_str_t *where)
{
    u_char     *digest;
    ngx_int_t   i;
    ngx_str_t   empty = ngx_null_string;

    /* the token itself is never logged, only where it came from */

    if (token->len < NGX_HTTP_ITSM_TOKEN_MIN
        || token->len > NGX_HTTP_ITSM_TOKEN_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a token of itsm_token%s%V has %uz bytes; use "
                           "%d to %d, e.g. the output of "
                           "\"openssl rand -hex 32\"",
                           where ? " in " : "", where ? where : &empty,
                           token->len, NGX_HTTP_ITSM_TOKEN_MIN,
                           NGX_HTTP_ITSM_TOKEN_MAX);
        return NGX_CONF_ERROR;
    }

    digest = ngx_array_push(&tcf->digests);
    if (digest == NULL) {
        return NGX_CONF_ERROR;
    }

    if (EVP_Digest(token->data, token->len, digest, NULL, EVP_sha256(), NULL)
        != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "EVP_Digest() failed");
        return NGX_CONF_ERROR;
    }

    /* each token once: $itsm_access_secret names the one that matched */

    i = ngx_http_itsm_conf_digest_index(&tcf->digests,
                                        tcf->digests.nelts - 1, digest);

    if (i != NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token %ui of itsm_token%s%V is the same as "
                           "token %ui; list each token once",
                           tcf->digests.nelts, where ? " in " : "",
                           where ? where : &empty, (ngx_uint_t) i + 1);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one token per line; empty lines and lines starting with "#" are skipped,
 * so that a rotation can list the old token next to the new one */

static char *
ngx_http_itsm_token_file(ngx_conf_t *cf, ngx_http_itsm_token_conf_t *tcf,
    ngx_str_t *name)
{
    char       *rv;
    u_char     *p, *last, *eol;
    ngx_str_t   text, line;

    if (ngx_http_itsm_access_read_file(cf, name, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    p = text.data;
    last = text.data + text.len;

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        line.data = p;
        line.len = eol - p;

        while (line.len
               && (line.data[line.len - 1] == '\r'
                   || line.data[line.len - 1] == ' '
                   || line.data[line.len - 1] == '\t'))
        {
            line.len--;
        }

        p = eol + 1;

        if (line.len == 0 || line.data[0] == '#') {
            continue;
        }

        rv = ngx_http_itsm_token_add(cf, tcf, &line, name);

        if (rv != NGX_CONF_OK) {
            break;
        }
    }

    /*
     * The file's text holds the tokens: not left in the pool, whether the
     * file was good or not.  Only digests were taken from it, never a
     * pointer into it.
     */

    ngx_explicit_memzero(text.data, text.len);

    return rv;
}


/* *match: the number of the token that matched, for $itsm_access_secret */

ngx_http_itsm_access_e
ngx_http_itsm_token_check(ngx_http_request_t *r,
    ngx_http_itsm_token_conf_t *tcf, ngx_uint_t *match)
{
    u_char      *digest;
    ngx_str_t    token;
    ngx_uint_t   i, n, eq;
    u_char       got[SHA256_DIGEST_LENGTH];

    if (ngx_http_complex_value(r, &tcf->value, &token) != NGX_OK) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "the token could not be read");
    }

    if (token.len == 0) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING,
                                         "the request carries no token "
                                         "(expected in %V)",
                                         &tcf->value.value);
    }

    if (EVP_Digest(token.data, token.len, got, NULL, EVP_sha256(), NULL)
        != 1)
    {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "EVP_Digest() failed");
    }

    /* every digest is compared: no early exit; which one matched is kept
     * for $itsm_access_secret, so that a rotation shows when the old
     * token is no longer sent */

    n = 0;
    digest = tcf->digests.elts;

    for (i = 0; i < tcf->digests.nelts; i++) {
        eq = (CRYPTO_memcmp(got, digest + i * SHA256_DIGEST_LENGTH,
                            SHA256_DIGEST_LENGTH)
              == 0);
        n |= eq * (i + 1);
    }

    if (!n) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
                                         "the token in %V is not one this "
                                         "endpoint accepts",
                                         &tcf->value.value);
    }

    *match = n;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: the token in %V is token #%ui",
                   &tcf->value.value, n);

    return NGX_HTTP_ITSM_ACCESS_PASSED;
}
