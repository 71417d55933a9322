
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"


/*
 * itsm_jwt and itsm_jwt_preset: their configuration (the key set read at
 * load, the policy of issuers, audiences, application and role) and the
 * check of a request's bearer token.  The token itself is parsed and
 * verified by the pure code of ngx_http_itsm_jwt_parse.c.
 */


#define NGX_HTTP_ITSM_JWT_LEEWAY         60

#define NGX_HTTP_ITSM_AZURE_APP_ID    "461e8683-5575-4561-ac7f-899cc907d62a"
#define NGX_HTTP_ITSM_AZURE_ROLE      "ActionGroupsSecureWebhook"


/* the directives a block gave, once each */
#define NGX_HTTP_ITSM_JWT_LINE         0x01    /* itsm_jwt */
#define NGX_HTTP_ITSM_JWT_PRESET_LINE  0x02    /* itsm_jwt_preset */


struct ngx_http_itsm_jwt_conf_s {
    ngx_http_itsm_jwk_t         *keys;
    ngx_uint_t                   nkeys;
    ngx_array_t                  iss;          /* ngx_http_itsm_bytes_t */
    ngx_array_t                  aud;          /* ngx_http_itsm_bytes_t */
    ngx_str_t                    app_id;
    ngx_http_itsm_jwt_policy_t   policy;       /* the above, for the check */
    ngx_str_t                    jwks;
    ngx_str_t                    tenant;

    u_char                      *file;
    ngx_uint_t                   line;

    ngx_uint_t                   lines;        /* NGX_HTTP_ITSM_JWT_*_LINE */
};


static char *ngx_http_itsm_jwt_line(ngx_conf_t *cf,
    ngx_http_itsm_jwt_conf_t **jcfp, ngx_uint_t line);
static ngx_int_t ngx_http_itsm_jwt_jwks(ngx_conf_t *cf,
    ngx_http_itsm_jwt_conf_t *jcf, ngx_str_t *path);
static void ngx_http_itsm_jwt_jwks_cleanup(void *data);
static ngx_int_t ngx_http_itsm_jwt_guid(ngx_str_t *s);


/* what each result of the claims check is refused as */

static ngx_http_itsm_access_e  ngx_http_itsm_jwt_reasons[] = {
    NGX_HTTP_ITSM_ACCESS_PASSED,               /* NGX_HTTP_ITSM_JWT_VALID */
    NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EXPIRED,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EARLY,
    NGX_HTTP_ITSM_ACCESS_TOKEN_FORBIDDEN
};


/* the bearer token of a request against the key set and the policy */

ngx_http_itsm_access_e
ngx_http_itsm_jwt_check(ngx_http_request_t *r, ngx_http_itsm_jwt_conf_t *jcf)
{
    int                          rc;
    u_char                      *buf;
    ngx_str_t                    token;
    ngx_uint_t                   i, tried;
    const char                  *error;
    ngx_table_elt_t             *h;
    ngx_http_itsm_jwk_t         *key;
    ngx_http_itsm_jwt_t          jwt;
    ngx_http_itsm_jwt_claims_e   claims;

    h = r->headers_in.authorization;

    if (h == NULL) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING,
                                         "the request has no "
                                         "\"Authorization: Bearer\" token");
    }

    token = h->value;

    if (token.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING,
                                         "the Authorization header does not "
                                         "carry a Bearer token");
    }

    token.data += sizeof("Bearer ") - 1;
    token.len -= sizeof("Bearer ") - 1;

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    while (token.len && token.data[token.len - 1] == ' ') {
        token.len--;
    }

    buf = ngx_pnalloc(r->pool, token.len ? token.len : 1);
    if (buf == NULL) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "out of memory");
    }

    if (ngx_http_itsm_jwt_parse(&jwt, token.data, token.len, buf, &error)
        != NGX_HTTP_ITSM_OK)
    {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
                                         "%s", error);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: bearer token, %s, kid \"%*s\"",
                   (jwt.alg == NGX_HTTP_ITSM_JWT_RS256) ? "RS256" : "ES256",
                   jwt.kid.len, jwt.kid.data);

    /* the key named by "kid", or any key of the algorithm without one */

    key = jcf->keys;
    tried = 0;
    rc = NGX_HTTP_ITSM_DECLINED;

    for (i = 0; i < jcf->nkeys; i++) {

        if (key[i].alg != jwt.alg) {
            continue;
        }

        if (jwt.kid.data
            && (key[i].kid_len != jwt.kid.len
                || ngx_memcmp(key[i].kid, jwt.kid.data, jwt.kid.len) != 0))
        {
            continue;
        }

        tried++;

        rc = ngx_http_itsm_jwt_verify(&jwt, &key[i]);

        if (rc != NGX_HTTP_ITSM_DECLINED) {
            break;
        }
    }

    if (tried == 0) {
        ngx_http_itsm_jwt_free(&jwt);

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
                                         "the token's key (\"kid\") is not in "
                                         "the key set of this endpoint; if "
                                         "the issuer rotated its keys, "
                                         "refresh the JWKS file and reload");
    }

    if (rc == NGX_HTTP_ITSM_ERROR) {
        ngx_http_itsm_jwt_free(&jwt);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm_jwt: OpenSSL failed to verify a signature");

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "the token could not be checked; "
                                         "see the error log");
    }

    if (rc != NGX_HTTP_ITSM_OK) {
        ngx_http_itsm_jwt_free(&jwt);

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
                                         "the token's signature is wrong");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: the token's signature verifies (%ui key%s "
                   "tried)", tried, tried == 1 ? "" : "s");

    claims = ngx_http_itsm_jwt_claims(&jwt, &jcf->policy, ngx_time(), &error);

    ngx_http_itsm_jwt_free(&jwt);

    if (claims != NGX_HTTP_ITSM_JWT_VALID) {
        return ngx_http_itsm_access_fail(r, ngx_http_itsm_jwt_reasons[claims],
                                         "%s", error);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: the token's claims are accepted");

    return NGX_HTTP_ITSM_ACCESS_PASSED;
}


/* "itsm_jwt jwks=<file> aud=<id> [aud=...] iss=<url> [iss=...]
 *  [leeway=<time>];" */

char *
ngx_http_itsm_jwt_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp)
{
    char                      *rv;
    ngx_str_t                 *value, arg;
    ngx_uint_t                 i;
    ngx_array_t               *claims;
    ngx_http_itsm_bytes_t     *s;
    ngx_http_itsm_jwt_conf_t  *jcf;

    value = cf->args->elts;

    rv = ngx_http_itsm_jwt_line(cf, jcfp, NGX_HTTP_ITSM_JWT_LINE);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    jcf = *jcfp;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "jwks=", &arg)) {

            if (jcf->keys) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "only one jwks= file; put every key in "
                                   "its \"keys\" array");
                return NGX_CONF_ERROR;
            }

            if (ngx_http_itsm_jwt_jwks(cf, jcf, &arg) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "leeway=", &arg)) {

            if (ngx_http_itsm_conf_time(cf, &arg, 0, 3600,
                                        &jcf->policy.leeway, "leeway",
                                        "; a time up to 1h, e.g. leeway=60s")
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        /* an issuer or an audience the token may name, one a parameter */

        if (ngx_http_itsm_conf_param(&value[i], "iss=", &arg) && arg.len) {
            claims = &jcf->iss;

        } else if (ngx_http_itsm_conf_param(&value[i], "aud=", &arg)
                   && arg.len)
        {
            claims = &jcf->aud;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"; %V takes jwks=, "
                               "iss=, aud= and leeway=", &value[i],
                               &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(claims);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        s->data = arg.data;
        s->len = arg.len;
    }

    if (jcf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs jwks=<file> with the issuer's public "
                           "keys (a JWKS document)", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (jcf->aud.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs aud=<audience>: the application id "
                           "(or api:// URI) the tokens are issued for",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "itsm_jwt_preset azure_secure_webhook tenant=<id> [app_id=<id>];":
 * tokens of Entra ID (v1.0 and v2.0) for an Azure Monitor action group's
 * Secure Webhook; appid/azp must be the action groups' application and
 * roles must hold ActionGroupsSecureWebhook.
 */

char *
ngx_http_itsm_jwt_preset(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp)
{
    char                      *rv;
    u_char                    *p;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_itsm_bytes_t     *iss;
    ngx_http_itsm_jwt_conf_t  *jcf;

    value = cf->args->elts;

    if (value[1].len != sizeof("azure_secure_webhook") - 1
        || ngx_strncmp(value[1].data, "azure_secure_webhook",
                       value[1].len) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown preset \"%V\"; the only one is "
                           "azure_secure_webhook", &value[1]);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_itsm_jwt_line(cf, jcfp, NGX_HTTP_ITSM_JWT_PRESET_LINE);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    jcf = *jcfp;
    ngx_str_set(&jcf->app_id, NGX_HTTP_ITSM_AZURE_APP_ID);
    ngx_str_set(&jcf->policy.role, NGX_HTTP_ITSM_AZURE_ROLE);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "tenant=", &jcf->tenant)) {

            if (ngx_http_itsm_jwt_guid(&jcf->tenant) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "tenant=\"%V\" is not a directory (tenant) "
                                   "id such as "
                                   "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                   &jcf->tenant);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "app_id=", &jcf->app_id)) {

            if (ngx_http_itsm_jwt_guid(&jcf->app_id) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "app_id=\"%V\" is not an application id "
                                   "(a GUID); the default is Azure's action "
                                   "group application "
                                   NGX_HTTP_ITSM_AZURE_APP_ID,
                                   &jcf->app_id);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; %V %V takes tenant= "
                           "and app_id=", &value[i], &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (jcf->tenant.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" needs tenant=<your directory (tenant) "
                           "id>: the issuer is pinned to it", &cmd->name,
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* the v1.0 and the v2.0 issuer of the tenant */

    iss = ngx_array_push_n(&jcf->iss, 2);
    if (iss == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, sizeof("https://sts.windows.net//") - 1
                              + jcf->tenant.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    iss[0].data = p;
    iss[0].len = ngx_sprintf(p, "https://sts.windows.net/%V/", &jcf->tenant)
                 - p;

    p = ngx_pnalloc(cf->pool,
                    sizeof("https://login.microsoftonline.com//v2.0") - 1
                    + jcf->tenant.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    iss[1].data = p;
    iss[1].len = ngx_sprintf(p, "https://login.microsoftonline.com/%V/v2.0",
                             &jcf->tenant)
                 - p;

    return NGX_CONF_OK;
}


/*
 * An itsm_jwt* directive ("line", NGX_HTTP_ITSM_JWT_*_LINE) of a block:
 * the block's jwt configuration into "*jcfp", made by its first such
 * directive; "is duplicate" when the block gave this one already.
 */

static char *
ngx_http_itsm_jwt_line(ngx_conf_t *cf, ngx_http_itsm_jwt_conf_t **jcfp,
    ngx_uint_t line)
{
    ngx_http_itsm_jwt_conf_t  *jcf;

    if (*jcfp == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"itsm_jwt off\" cannot be combined with other "
                           "itsm_jwt directives in the same block");
        return NGX_CONF_ERROR;
    }

    jcf = *jcfp;

    if (jcf == NGX_CONF_UNSET_PTR) {
        jcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_jwt_conf_t));
        if (jcf == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_array_init(&jcf->iss, cf->pool, 2,
                           sizeof(ngx_http_itsm_bytes_t))
            != NGX_OK
            || ngx_array_init(&jcf->aud, cf->pool, 2,
                              sizeof(ngx_http_itsm_bytes_t))
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        jcf->policy.leeway = NGX_HTTP_ITSM_JWT_LEEWAY;
        jcf->file = cf->conf_file->file.name.data;
        jcf->line = cf->conf_file->line;

        *jcfp = jcf;
    }

    if (jcf->lines & line) {
        return "is duplicate";
    }

    jcf->lines |= line;

    return NGX_CONF_OK;
}


/* the key set is read at load, so a reload (HUP) reads it again */

static ngx_int_t
ngx_http_itsm_jwt_jwks(ngx_conf_t *cf, ngx_http_itsm_jwt_conf_t *jcf,
    ngx_str_t *path)
{
    size_t                n, index;
    ngx_str_t             text;
    const char           *error;
    ngx_pool_cleanup_t   *cln;
    ngx_http_itsm_jwk_t  *keys;

    if (ngx_http_itsm_access_read_file(cf, path, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    keys = ngx_pcalloc(cf->temp_pool,
                       NGX_HTTP_ITSM_JWKS_MAX * sizeof(ngx_http_itsm_jwk_t));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_jwks_parse(text.data, text.len, keys,
                                 NGX_HTTP_ITSM_JWKS_MAX, &n, &error, &index)
        != NGX_HTTP_ITSM_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_jwt: \"%V\": %s (key %uz)", path, error,
                           index);
        return NGX_ERROR;
    }

    jcf->keys = ngx_palloc(cf->pool, n * sizeof(ngx_http_itsm_jwk_t));
    if (jcf->keys == NULL) {
        ngx_http_itsm_jwks_free(keys, n);
        return NGX_ERROR;
    }

    ngx_memcpy(jcf->keys, keys, n * sizeof(ngx_http_itsm_jwk_t));
    jcf->nkeys = n;
    jcf->jwks = *path;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_http_itsm_jwks_free(jcf->keys, n);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_itsm_jwt_jwks_cleanup;
    cln->data = jcf;

    return NGX_OK;
}


static void
ngx_http_itsm_jwt_jwks_cleanup(void *data)
{
    ngx_http_itsm_jwt_conf_t *jcf = data;

    ngx_http_itsm_jwks_free(jcf->keys, jcf->nkeys);
}


/* a block's jwt configuration is complete once the block is read */

char *
ngx_http_itsm_jwt_merge(ngx_conf_t *cf, ngx_http_itsm_jwt_conf_t *jcf)
{
    if (!(jcf->lines & NGX_HTTP_ITSM_JWT_LINE)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_jwt_preset in %s:%ui needs \"itsm_jwt "
                      "jwks=<file> aud=<your API's application id>\" "
                      "in the same block", jcf->file, jcf->line);
        return NGX_CONF_ERROR;
    }

    if (jcf->iss.nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_jwt in %s:%ui has no iss=; pin the issuer "
                      "(or use itsm_jwt_preset azure_secure_webhook "
                      "tenant=<id>)", jcf->file, jcf->line);
        return NGX_CONF_ERROR;
    }

    /* the policy of the pure check points into the block's settings */

    jcf->policy.iss = jcf->iss.elts;
    jcf->policy.niss = jcf->iss.nelts;
    jcf->policy.aud = jcf->aud.elts;
    jcf->policy.naud = jcf->aud.nelts;
    jcf->policy.app_id.len = jcf->app_id.len;
    jcf->policy.app_id.data = jcf->app_id.data;

    return NGX_CONF_OK;
}


/* 8-4-4-4-12 hex digits */

static ngx_int_t
ngx_http_itsm_jwt_guid(ngx_str_t *s)
{
    u_char      c;
    ngx_uint_t  i;

    if (s->len != 36) {
        return NGX_DECLINED;
    }

    for (i = 0; i < 36; i++) {
        c = s->data[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        c |= 0x20;

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
