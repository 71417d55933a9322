
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>


/*
 * HMAC signatures over the raw request body.  Every scheme is described
 * the same way: where the signature is, how it is written, and the signed
 * content as a template of literal text, {id}, {timestamp} and {body}:
 *
 *   standard_webhooks  webhook-signature: v1,<base64> ...
 *                      {id}.{timestamp}.{body}, key = base64 of whsec_...
 *   github, jira       X-Hub-Signature-256 / X-Hub-Signature: sha256=<hex>
 *                      {body}
 *   slack              X-Slack-Signature: v0=<hex>, X-Slack-Request-Timestamp
 *                      v0:{timestamp}:{body}
 *   stripe             Stripe-Signature: t=<ts>,v1=<hex>,...
 *                      {timestamp}.{body}, key = the whole whsec_ string
 *   grafana            X-Grafana-Alerting-Signature: <hex>
 *                      {body}, or {timestamp}:{body} with timestamp_header=
 *   generic            header=, algorithm=, encoding=, prefix=, content=,
 *                      timestamp_header=, id_header=
 *
 * Several secrets may be active at once (rotation): the MAC is computed
 * with each and compared, in constant time, with each signature sent.
 * Secrets are never logged; messages name a secret by its position.
 *
 * HMAC (RFC 2104) is computed from digest states keyed once at load, the
 * digest of key^ipad and of key^opad, copied per request into contexts
 * each worker keeps: no MAC object is made or freed per request.
 */


#define NGX_HTTP_ITSM_SIG_SECRETS_MAX  16
#define NGX_HTTP_ITSM_SIG_FILE_CHUNK   16384
#define NGX_HTTP_ITSM_SIG_BLOCK_MAX    128     /* SHA-512's block */


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


#define NGX_HTTP_ITSM_SIG_P_HEADER     0x01
#define NGX_HTTP_ITSM_SIG_P_TS         0x02
#define NGX_HTTP_ITSM_SIG_P_ID         0x04
#define NGX_HTTP_ITSM_SIG_P_ALGORITHM  0x08
#define NGX_HTTP_ITSM_SIG_P_ENCODING   0x10
#define NGX_HTTP_ITSM_SIG_P_PREFIX     0x20
#define NGX_HTTP_ITSM_SIG_P_CONTENT    0x40


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


static ngx_int_t ngx_http_itsm_sig_param(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_sig_content(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *text);
static ngx_int_t ngx_http_itsm_sig_secret(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *value, ngx_array_t *fixed);
static ngx_int_t ngx_http_itsm_sig_fixed(ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *text, ngx_pool_t *pool, ngx_array_t *fixed);
ngx_int_t ngx_http_itsm_sig_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *secret, ngx_pool_t *pool, ngx_str_t *key);
ngx_int_t ngx_http_itsm_sig_hmac_key(EVP_MD *md, ngx_str_t *key,
    EVP_MD_CTX *inner, EVP_MD_CTX *outer);
static void ngx_http_itsm_sig_wipe(void *data);
static void ngx_http_itsm_sig_cleanup(void *data);
static void ngx_http_itsm_sig_md_cleanup(void *data);
static ngx_table_elt_t *ngx_http_itsm_sig_find(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *count);
static ngx_int_t ngx_http_itsm_sig_update(EVP_MD_CTX **ctxs, ngx_uint_t n,
    u_char *data, size_t len);
static ngx_int_t ngx_http_itsm_sig_body(ngx_http_request_t *r,
    EVP_MD_CTX **ctxs, ngx_uint_t n);


static ngx_http_itsm_sig_scheme_t  ngx_http_itsm_sig_schemes[] = {

    { ngx_string("standard_webhooks"), NGX_HTTP_ITSM_SIG_PARSE_STANDARD,
      { ngx_string("webhook-signature"), ngx_null_string },
      { ngx_string("webhook-id"), ngx_null_string },
      ngx_string("webhook-timestamp"),
      ngx_null_string, NGX_HTTP_ITSM_SIG_BASE64,
      ngx_string("{id}.{timestamp}.{body}"), 1, 0 },

    { ngx_string("github"), NGX_HTTP_ITSM_SIG_PARSE_VALUE,
      { ngx_string("X-Hub-Signature-256"), ngx_string("X-Hub-Signature") },
      { ngx_string("X-GitHub-Delivery"),
        ngx_string("X-Atlassian-Webhook-Identifier") },
      ngx_null_string,
      ngx_string("sha256="), NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("{body}"), 0, 0 },

    { ngx_string("jira"), NGX_HTTP_ITSM_SIG_PARSE_VALUE,
      { ngx_string("X-Hub-Signature"), ngx_null_string },
      { ngx_string("X-Atlassian-Webhook-Identifier"), ngx_null_string },
      ngx_null_string,
      ngx_string("sha256="), NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("{body}"), 0, 0 },

    { ngx_string("slack"), NGX_HTTP_ITSM_SIG_PARSE_VALUE,
      { ngx_string("X-Slack-Signature"), ngx_null_string },
      { ngx_null_string, ngx_null_string },
      ngx_string("X-Slack-Request-Timestamp"),
      ngx_string("v0="), NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("v0:{timestamp}:{body}"), 0, 0 },

    { ngx_string("stripe"), NGX_HTTP_ITSM_SIG_PARSE_STRIPE,
      { ngx_string("Stripe-Signature"), ngx_null_string },
      { ngx_null_string, ngx_null_string },
      ngx_null_string,
      ngx_null_string, NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("{timestamp}.{body}"), 0, 0 },

    { ngx_string("grafana"), NGX_HTTP_ITSM_SIG_PARSE_VALUE,
      { ngx_string("X-Grafana-Alerting-Signature"), ngx_null_string },
      { ngx_null_string, ngx_null_string },
      ngx_null_string,
      ngx_null_string, NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("{body}"), 0,
      NGX_HTTP_ITSM_SIG_P_HEADER|NGX_HTTP_ITSM_SIG_P_TS },

    { ngx_string("generic"), NGX_HTTP_ITSM_SIG_PARSE_VALUE,
      { ngx_null_string, ngx_null_string },
      { ngx_null_string, ngx_null_string },
      ngx_null_string,
      ngx_null_string, NGX_HTTP_ITSM_SIG_HEX,
      ngx_string("{body}"), 0,
      NGX_HTTP_ITSM_SIG_P_HEADER|NGX_HTTP_ITSM_SIG_P_TS
      |NGX_HTTP_ITSM_SIG_P_ID|NGX_HTTP_ITSM_SIG_P_ALGORITHM
      |NGX_HTTP_ITSM_SIG_P_ENCODING|NGX_HTTP_ITSM_SIG_P_PREFIX
      |NGX_HTTP_ITSM_SIG_P_CONTENT },

    { ngx_null_string, 0, { ngx_null_string, ngx_null_string },
      { ngx_null_string, ngx_null_string }, ngx_null_string,
      ngx_null_string, 0, ngx_null_string, 0, 0 }
};


/* a worker's contexts for the MACs of one request, one a secret */
static EVP_MD_CTX  *ngx_http_itsm_sig_work[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
static EVP_MD_CTX  *ngx_http_itsm_sig_outer[NGX_HTTP_ITSM_SIG_SECRETS_MAX];


/* "itsm_signature <scheme> [param=value ...] secret=... [secret=...]" */

char *
ngx_http_itsm_sig_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_sig_conf_t **sigp)
{
    ngx_str_t                   *value, content;
    ngx_uint_t                   i;
    ngx_array_t                 *fixed;
    ngx_pool_cleanup_t          *cln;
    ngx_http_itsm_secret_t      *secret;
    ngx_http_itsm_sig_conf_t    *scf;
    ngx_http_itsm_sig_scheme_t  *scheme;

    value = cf->args->elts;

    for (scheme = ngx_http_itsm_sig_schemes; scheme->name.len; scheme++) {
        if (scheme->name.len == value[1].len
            && ngx_strncmp(scheme->name.data, value[1].data, value[1].len)
               == 0)
        {
            break;
        }
    }

    if (scheme->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown signature scheme \"%V\"; one of: "
                           "standard_webhooks, github, jira, slack, stripe, "
                           "grafana, generic", &value[1]);
        return NGX_CONF_ERROR;
    }

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_sig_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    scf->scheme = scheme;
    scf->header[0] = scheme->header[0];
    scf->header[1] = scheme->header[1];
    scf->id_header[0] = scheme->id_header[0];
    scf->id_header[1] = scheme->id_header[1];
    scf->ts_header = scheme->ts_header;
    scf->prefix = scheme->prefix;
    scf->encoding = scheme->encoding;
    scf->digest = "SHA256";
    scf->mac_len = 32;

    if (ngx_array_init(&scf->secrets, cf->pool, 2,
                       sizeof(ngx_http_itsm_secret_t))
        != NGX_OK
        || ngx_array_init(&scf->parts, cf->pool, 4,
                          sizeof(ngx_http_itsm_sig_part_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* in the pool, not on the stack: its cleanup runs after this returns */

    fixed = ngx_array_create(cf->temp_pool, 2, sizeof(ngx_str_t));
    if (fixed == NULL) {
        return NGX_CONF_ERROR;
    }

    /* whatever path this takes, the keys do not outlive the configuration */

    cln = ngx_pool_cleanup_add(cf->temp_pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_itsm_sig_wipe;
    cln->data = fixed;

    ngx_str_null(&content);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {
            if (ngx_http_itsm_sig_secret(cf, scf, &value[i], fixed)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "content=", 8) == 0
            && (scheme->params & NGX_HTTP_ITSM_SIG_P_CONTENT))
        {
            content.data = value[i].data + 8;
            content.len = value[i].len - 8;
            continue;
        }

        if (ngx_http_itsm_sig_param(cf, scf, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (scf->secrets.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" has no secret; add secret=<value>, "
                           "secret=file:<path> or secret=$variable (several "
                           "for rotation)", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (scf->header[0].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V generic\" needs header=<name> of the header "
                           "that carries the signature", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (content.data == NULL) {
        content = scheme->content;

        /* grafana signs "<timestamp>:<body>" once a timestamp header is set */

        if (scf->ts_header.len && scheme->ts_header.len == 0
            && scheme->parse == NGX_HTTP_ITSM_SIG_PARSE_VALUE
            && !(scheme->params & NGX_HTTP_ITSM_SIG_P_CONTENT))
        {
            ngx_str_set(&content, "{timestamp}:{body}");
        }
    }

    if (ngx_http_itsm_sig_content(cf, scf, &content) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the fixed secrets become keyed digest states, copied per request */

    scf->md = EVP_MD_fetch(NULL, scf->digest, NULL);
    if (scf->md == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OpenSSL has no %s (EVP_MD_fetch failed)",
                           scf->digest);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_MD_free(scf->md);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_itsm_sig_md_cleanup;
    cln->data = scf->md;

    secret = scf->secrets.elts;
    value = fixed->elts;

    for (i = 0; i < scf->secrets.nelts; i++) {

        if (secret[i].value) {
            continue;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        secret[i].inner = EVP_MD_CTX_new();
        secret[i].outer = EVP_MD_CTX_new();

        cln->handler = ngx_http_itsm_sig_cleanup;
        cln->data = &secret[i];

        if (secret[i].inner == NULL || secret[i].outer == NULL
            || ngx_http_itsm_sig_hmac_key(scf->md, value++, secret[i].inner,
                                          secret[i].outer)
               != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "cannot key HMAC-%s with secret #%ui",
                               scf->digest, i + 1);
            return NGX_CONF_ERROR;
        }
    }

    /* the key bytes are in the digest states now */

    ngx_http_itsm_sig_wipe(fixed);

    *sigp = scf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_itsm_sig_param(ngx_conf_t *cf, ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *value)
{
    u_char      *eq;
    ngx_str_t    name, arg;
    ngx_uint_t   params;

    params = scf->scheme->params;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    if (eq == NULL) {
        goto invalid;
    }

    name.data = value->data;
    name.len = eq - value->data;
    arg.data = eq + 1;
    arg.len = value->data + value->len - arg.data;

    if (name.len == 6 && ngx_strncmp(name.data, "header", 6) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_HEADER))
    {
        if (arg.len == 0) {
            goto empty;
        }

        scf->header[0] = arg;
        return NGX_OK;
    }

    if (name.len == 16 && ngx_strncmp(name.data, "timestamp_header", 16) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_TS))
    {
        if (arg.len == 0) {
            goto empty;
        }

        scf->ts_header = arg;
        return NGX_OK;
    }

    if (name.len == 9 && ngx_strncmp(name.data, "id_header", 9) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_ID))
    {
        if (arg.len == 0) {
            goto empty;
        }

        scf->id_header[0] = arg;
        return NGX_OK;
    }

    if (name.len == 6 && ngx_strncmp(name.data, "prefix", 6) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_PREFIX))
    {
        scf->prefix = arg;
        return NGX_OK;
    }

    if (name.len == 8 && ngx_strncmp(name.data, "encoding", 8) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_ENCODING))
    {
        if (arg.len == 3 && ngx_strncmp(arg.data, "hex", 3) == 0) {
            scf->encoding = NGX_HTTP_ITSM_SIG_HEX;
            return NGX_OK;
        }

        if (arg.len == 6 && ngx_strncmp(arg.data, "base64", 6) == 0) {
            scf->encoding = NGX_HTTP_ITSM_SIG_BASE64;
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown signature encoding \"%V\"; hex or base64",
                           &arg);
        return NGX_ERROR;
    }

    if (name.len == 9 && ngx_strncmp(name.data, "algorithm", 9) == 0
        && (params & NGX_HTTP_ITSM_SIG_P_ALGORITHM))
    {
        if (arg.len == 4 && ngx_strncmp(arg.data, "sha1", 4) == 0) {
            scf->digest = "SHA1";
            scf->mac_len = 20;
            return NGX_OK;
        }

        if (arg.len == 6 && ngx_strncmp(arg.data, "sha256", 6) == 0) {
            scf->digest = "SHA256";
            scf->mac_len = 32;
            return NGX_OK;
        }

        if (arg.len == 6 && ngx_strncmp(arg.data, "sha512", 6) == 0) {
            scf->digest = "SHA512";
            scf->mac_len = 64;
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown signature algorithm \"%V\"; one of: sha1, "
                           "sha256, sha512", &arg);
        return NGX_ERROR;
    }

invalid:

    if (params == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; the %V scheme takes "
                           "only secret=", value, &scf->scheme->name);

    } else if (params & NGX_HTTP_ITSM_SIG_P_CONTENT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; the %V scheme takes "
                           "header=, algorithm=, encoding=, prefix=, "
                           "content=, timestamp_header=, id_header= and "
                           "secret=", value, &scf->scheme->name);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; the %V scheme takes "
                           "header=, timestamp_header= and secret=",
                           value, &scf->scheme->name);
    }

    return NGX_ERROR;

empty:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" needs a header name", value);
    return NGX_ERROR;
}


/* "{id}.{timestamp}.{body}": literal text and placeholders, one {body} */

static ngx_int_t
ngx_http_itsm_sig_content(ngx_conf_t *cf, ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *text)
{
    u_char                    *p, *last, *start, *close;
    ngx_str_t                  name;
    ngx_uint_t                 bodies;
    ngx_http_itsm_sig_part_t  *part;

    p = text->data;
    last = p + text->len;
    start = p;
    bodies = 0;

    while (p < last) {

        if (*p != '{') {
            p++;
            continue;
        }

        close = ngx_strlchr(p, last, '}');

        if (close == NULL) {
            p++;
            continue;
        }

        name.data = p + 1;
        name.len = close - p - 1;

        if (p > start) {
            part = ngx_array_push(&scf->parts);
            if (part == NULL) {
                return NGX_ERROR;
            }

            part->type = NGX_HTTP_ITSM_SIG_LITERAL;
            part->text.data = start;
            part->text.len = p - start;
        }

        part = ngx_array_push(&scf->parts);
        if (part == NULL) {
            return NGX_ERROR;
        }

        ngx_str_null(&part->text);

        if (name.len == 4 && ngx_strncmp(name.data, "body", 4) == 0) {
            part->type = NGX_HTTP_ITSM_SIG_BODY;
            bodies++;

        } else if (name.len == 2 && ngx_strncmp(name.data, "id", 2) == 0) {
            part->type = NGX_HTTP_ITSM_SIG_ID;
            scf->signed_id = 1;

        } else if (name.len == 9
                   && ngx_strncmp(name.data, "timestamp", 9) == 0)
        {
            part->type = NGX_HTTP_ITSM_SIG_TIMESTAMP;
            scf->signed_ts = 1;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown placeholder \"{%V}\" in content=\"%V\";"
                               " use {body}, {timestamp} and {id}",
                               &name, text);
            return NGX_ERROR;
        }

        p = close + 1;
        start = p;
    }

    if (p > start) {
        part = ngx_array_push(&scf->parts);
        if (part == NULL) {
            return NGX_ERROR;
        }

        part->type = NGX_HTTP_ITSM_SIG_LITERAL;
        part->text.data = start;
        part->text.len = p - start;
    }

    if (bodies != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "content=\"%V\" must contain {body} exactly once",
                           text);
        return NGX_ERROR;
    }

    if (scf->signed_ts && scf->ts_header.len == 0
        && scf->scheme->parse != NGX_HTTP_ITSM_SIG_PARSE_STRIPE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "content=\"%V\" signs {timestamp}: add "
                           "timestamp_header=<name>", text);
        return NGX_ERROR;
    }

    if (scf->signed_id && scf->id_header[0].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "content=\"%V\" signs {id}: add id_header=<name>",
                           text);
        return NGX_ERROR;
    }

    /* a timestamp or id that is not signed could be changed at will */

    if (scf->ts_header.len && !scf->signed_ts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "timestamp_header=%V is not signed: add "
                           "{timestamp} to content=, or the timestamp "
                           "protects nothing", &scf->ts_header);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* secret=<value>, secret=file:<path> (one secret a line), secret=$var */

static ngx_int_t
ngx_http_itsm_sig_secret(ngx_conf_t *cf, ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *value, ngx_array_t *fixed)
{
    u_char                            *p, *last, *eol, *end;
    ngx_int_t                          rc;
    ngx_str_t                          arg, text, name, one;
    ngx_uint_t                         line, before;
    ngx_http_itsm_secret_t            *secret;
    ngx_http_compile_complex_value_t   ccv;

    arg.data = value->data + 7;
    arg.len = value->len - 7;

    if (arg.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret #%ui is empty", scf->secrets.nelts + 1);
        return NGX_ERROR;
    }

    if (arg.data[0] == '$') {
        secret = ngx_array_push(&scf->secrets);
        if (secret == NULL) {
            return NGX_ERROR;
        }

        secret->inner = NULL;
        secret->outer = NULL;

        secret->value = ngx_palloc(cf->pool,
                                   sizeof(ngx_http_complex_value_t));
        if (secret->value == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &arg;
        ccv.complex_value = secret->value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_ERROR;
        }

        goto check;
    }

    if (arg.len > 5 && ngx_strncmp(arg.data, "file:", 5) == 0) {
        name.data = arg.data + 5;
        name.len = arg.len - 5;

        if (ngx_http_itsm_access_read_file(cf, &name, &text) != NGX_OK) {
            return NGX_ERROR;
        }

        before = scf->secrets.nelts;
        p = text.data;
        last = p + text.len;
        rc = NGX_OK;

        for (line = 1; p < last; line++, p = eol + 1) {
            eol = ngx_strlchr(p, last, '\n');
            if (eol == NULL) {
                eol = last;
            }

            end = eol;

            while (p < end && (*p == ' ' || *p == '\t')) {
                p++;
            }

            while (end > p
                   && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            {
                end--;
            }

            if (p == end || *p == '#') {
                continue;
            }

            one.data = p;
            one.len = end - p;

            rc = ngx_http_itsm_sig_fixed(scf, &one, cf->temp_pool, fixed);

            if (rc == NGX_DECLINED) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the secret on line %ui of \"%V\" is not a "
                                   "whsec_ secret (\"whsec_\" and base64); "
                                   "the %V scheme needs one",
                                   line, &name, &scf->scheme->name);
            }

            if (rc != NGX_OK) {
                break;
            }
        }

        /* the keys are copies: the file's text is not left in the pool */

        ngx_explicit_memzero(text.data, text.len);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        if (scf->secrets.nelts == before) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" holds no secret (one a line; lines "
                               "starting with # are comments)", &name);
            return NGX_ERROR;
        }

        goto check;
    }

    rc = ngx_http_itsm_sig_fixed(scf, &arg, cf->temp_pool, fixed);

    /* the key is a copy: the argument does not keep the secret either */

    ngx_explicit_memzero(arg.data, arg.len);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret #%ui is not a whsec_ secret (\"whsec_\" "
                           "and base64); the %V scheme needs one",
                           scf->secrets.nelts + 1, &scf->scheme->name);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

check:

    if (scf->secrets.nelts > NGX_HTTP_ITSM_SIG_SECRETS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d secrets; keep only those in use",
                           NGX_HTTP_ITSM_SIG_SECRETS_MAX);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a fixed secret: its key into "fixed", its slot into scf->secrets */

static ngx_int_t
ngx_http_itsm_sig_fixed(ngx_http_itsm_sig_conf_t *scf, ngx_str_t *text,
    ngx_pool_t *pool, ngx_array_t *fixed)
{
    ngx_int_t                rc;
    ngx_str_t                key, *k;
    ngx_http_itsm_secret_t  *secret;

    rc = ngx_http_itsm_sig_key(scf, text, pool, &key);

    if (rc != NGX_OK) {
        return rc;
    }

    /* in "fixed" first, where the key is wiped whatever happens next */

    k = ngx_array_push(fixed);
    if (k == NULL) {
        ngx_explicit_memzero(key.data, key.len);
        return NGX_ERROR;
    }

    *k = key;

    secret = ngx_array_push(&scf->secrets);
    if (secret == NULL) {
        return NGX_ERROR;
    }

    secret->inner = NULL;
    secret->outer = NULL;
    secret->value = NULL;

    return NGX_OK;
}


/*
 * The HMAC key of a secret: a copy of its bytes, or the base64 after
 * "whsec_" decoded, in memory of the pool given.  Never a pointer into the
 * secret's text: the callers wipe that text (a secret file's buffer, the
 * directive's argument) as soon as they have the key, and a key that
 * pointed into it would be wiped with it, leaving an all-zero HMAC key
 * that anybody can sign with.
 */

ngx_int_t
ngx_http_itsm_sig_key(ngx_http_itsm_sig_conf_t *scf, ngx_str_t *secret,
    ngx_pool_t *pool, ngx_str_t *key)
{
    u_char     *p;
    size_t      len;
    ssize_t     n;

    if (!scf->scheme->whsec) {
        key->data = ngx_pnalloc(pool, secret->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(key->data, secret->data, secret->len);
        key->len = secret->len;

        return NGX_OK;
    }

    p = secret->data;
    len = secret->len;

    if (len > 6 && ngx_strncmp(p, "whsec_", 6) == 0) {
        p += 6;
        len -= 6;
    }

    key->data = ngx_pnalloc(pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_itsm_base64_decode(key->data, len, p, len, 0);

    if (n <= 0) {
        ngx_explicit_memzero(key->data, len);
        return NGX_DECLINED;
    }

    key->len = n;

    return NGX_OK;
}


/* at the end of a worker: its MAC contexts */

void
ngx_http_itsm_sig_exit(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_ITSM_SIG_SECRETS_MAX; i++) {
        EVP_MD_CTX_free(ngx_http_itsm_sig_work[i]);
        EVP_MD_CTX_free(ngx_http_itsm_sig_outer[i]);
        ngx_http_itsm_sig_work[i] = NULL;
        ngx_http_itsm_sig_outer[i] = NULL;
    }
}


/* the digests of key^ipad and key^opad (RFC 2104) */

ngx_int_t
ngx_http_itsm_sig_hmac_key(EVP_MD *md, ngx_str_t *key, EVP_MD_CTX *inner,
    EVP_MD_CTX *outer)
{
    int           block;
    size_t        i, len;
    ngx_int_t     rc;
    unsigned int  n;
    u_char        k[NGX_HTTP_ITSM_SIG_BLOCK_MAX];
    u_char        pad[NGX_HTTP_ITSM_SIG_BLOCK_MAX];

    block = EVP_MD_get_block_size(md);

    if (block <= 0 || block > NGX_HTTP_ITSM_SIG_BLOCK_MAX) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    ngx_memzero(k, sizeof(k));

    if (key->len > (size_t) block) {
        if (EVP_Digest(key->data, key->len, k, &n, md, NULL) != 1) {
            goto done;
        }

    } else {
        ngx_memcpy(k, key->data, key->len);
    }

    len = block;

    for (i = 0; i < len; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    if (EVP_DigestInit_ex(inner, md, NULL) != 1
        || EVP_DigestUpdate(inner, pad, len) != 1)
    {
        goto done;
    }

    for (i = 0; i < len; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    if (EVP_DigestInit_ex(outer, md, NULL) != 1
        || EVP_DigestUpdate(outer, pad, len) != 1)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_explicit_memzero(k, sizeof(k));
    ngx_explicit_memzero(pad, sizeof(pad));
    ERR_clear_error();

    return rc;
}


/* zeroes the keys of an array of them (ngx_str_t) */

static void
ngx_http_itsm_sig_wipe(void *data)
{
    ngx_array_t *keys = data;

    ngx_str_t   *key;
    ngx_uint_t   i;

    key = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        ngx_explicit_memzero(key[i].data, key[i].len);
    }
}


static void
ngx_http_itsm_sig_cleanup(void *data)
{
    ngx_http_itsm_secret_t *secret = data;

    EVP_MD_CTX_free(secret->inner);
    EVP_MD_CTX_free(secret->outer);
}


static void
ngx_http_itsm_sig_md_cleanup(void *data)
{
    EVP_MD_free(data);
}


/*
 * The checks that need no body: the signature, id and timestamp headers
 * are there and well formed, and the timestamp is within the tolerance.
 */

ngx_http_itsm_access_e
ngx_http_itsm_sig_headers(ngx_http_request_t *r, ngx_http_itsm_sig_conf_t *scf,
    time_t tolerance, ngx_http_itsm_sig_req_t *sr)
{
    time_t            now, skew;
    ngx_int_t         rc;
    ngx_str_t        *name;
    ngx_uint_t        i, count;
    ngx_table_elt_t  *h, *ts;

    h = NULL;
    name = NULL;
    count = 0;

    for (i = 0; i < 2 && scf->header[i].len; i++) {
        h = ngx_http_itsm_sig_find(r, &scf->header[i], &count);
        if (h) {
            name = &scf->header[i];
            break;
        }
    }

    if (h == NULL) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                         "the request has no \"%V\" header; "
                                         "it must be signed (%V)",
                                         &scf->header[0], &scf->scheme->name);
    }

    if (count > 1) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the \"%V\" header appears %ui "
                                         "times", name, count);
    }

    switch (scf->scheme->parse) {

    case NGX_HTTP_ITSM_SIG_PARSE_STANDARD:
        rc = ngx_http_itsm_sig_parse_standard(h->value.data, h->value.len,
                                              &sr->header);
        break;

    case NGX_HTTP_ITSM_SIG_PARSE_STRIPE:
        rc = ngx_http_itsm_sig_parse_stripe(h->value.data, h->value.len,
                                            &sr->header);
        break;

    default:
        rc = ngx_http_itsm_sig_parse_value(h->value.data, h->value.len,
                                           &scf->prefix, scf->encoding,
                                           &sr->header);
        break;
    }

    if (rc != NGX_OK) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the \"%V\" header is not a %V "
                                         "signature%s%V%s", name,
                                         &scf->scheme->name,
                                         scf->prefix.len ? " (\"" : "",
                                         &scf->prefix,
                                         scf->prefix.len
                                         ? "\" and the MAC)" : "");
    }

    /* the delivery id */

    for (i = 0; i < 2 && scf->id_header[i].len; i++) {
        h = ngx_http_itsm_sig_find(r, &scf->id_header[i], &count);

        if (h == NULL) {
            continue;
        }

        if (count > 1
            || ngx_http_itsm_sig_check_id(h->value.data, h->value.len)
               != NGX_OK)
        {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                             "the \"%V\" header is not one "
                                             "delivery id (1 to 256 "
                                             "printable characters, no "
                                             "spaces and no \".\")",
                                             &scf->id_header[i]);
        }

        sr->id = h->value;
        break;
    }

    if (scf->signed_id && sr->id.len == 0) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                         "the request has no \"%V\" header; "
                                         "the %V signature covers it",
                                         &scf->id_header[0],
                                         &scf->scheme->name);
    }

    /* the timestamp */

    if (!scf->signed_ts) {
        return NGX_HTTP_ITSM_ACCESS_PASSED;
    }

    if (scf->scheme->parse == NGX_HTTP_ITSM_SIG_PARSE_STRIPE) {
        sr->timestamp = sr->header.timestamp;

    } else {
        ts = ngx_http_itsm_sig_find(r, &scf->ts_header, &count);

        if (ts == NULL) {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                             "the request has no \"%V\" "
                                             "header; the %V signature "
                                             "covers it", &scf->ts_header,
                                             &scf->scheme->name);
        }

        if (count > 1) {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                             "the \"%V\" header appears %ui "
                                             "times", &scf->ts_header, count);
        }

        sr->timestamp = ts->value;
    }

    if (ngx_http_itsm_sig_parse_timestamp(sr->timestamp.data,
                                          sr->timestamp.len, &sr->time)
        != NGX_OK)
    {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the signature timestamp is not a "
                                         "unix time in seconds");
    }

    sr->has_time = 1;

    now = ngx_time();

    if (sr->time < now - tolerance) {
        skew = now - sr->time;

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TS_OLD,
                                         "the signature timestamp is %T s "
                                         "old, more than the %T s allowed "
                                         "(itsm_signature_tolerance): a "
                                         "replay, a late resend, or clock "
                                         "skew between the sender and this "
                                         "server", skew, tolerance);
    }

    if (sr->time > now + tolerance) {
        skew = sr->time - now;

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TS_FUTURE,
                                         "the signature timestamp is %T s in "
                                         "the future, more than the %T s "
                                         "allowed (itsm_signature_tolerance):"
                                         " clock skew, the sender's clock or "
                                         "this server's is wrong",
                                         skew, tolerance);
    }

    return NGX_HTTP_ITSM_ACCESS_PASSED;
}


/* the MAC over the signed content with each secret, against each signature */

ngx_http_itsm_access_e
ngx_http_itsm_sig_verify(ngx_http_request_t *r, ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr)
{
    size_t                     len, slen;
    u_char                    *pos;
    ngx_int_t                  key_rc;
    ngx_str_t                  value, key, *text;
    ngx_uint_t                 i, n, body;
    unsigned int               dlen, mlen;
    EVP_MD_CTX                *work[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    EVP_MD_CTX                *outer[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    ngx_uint_t                 index[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    ngx_http_itsm_secret_t    *secret;
    ngx_http_itsm_sig_part_t  *part;
    ngx_http_itsm_access_e     rc;
    u_char                     inner[EVP_MAX_MD_SIZE];
    u_char                     mac[EVP_MAX_MD_SIZE];
    u_char                     sig[NGX_HTTP_ITSM_SIG_MAX_LEN];

    secret = scf->secrets.elts;
    n = 0;
    rc = NGX_HTTP_ITSM_ACCESS_INTERNAL;

    for (i = 0; i < scf->secrets.nelts; i++) {

        if (ngx_http_itsm_sig_work[n] == NULL) {
            ngx_http_itsm_sig_work[n] = EVP_MD_CTX_new();
            ngx_http_itsm_sig_outer[n] = EVP_MD_CTX_new();

            if (ngx_http_itsm_sig_work[n] == NULL
                || ngx_http_itsm_sig_outer[n] == NULL)
            {
                EVP_MD_CTX_free(ngx_http_itsm_sig_work[n]);
                ngx_http_itsm_sig_work[n] = NULL;
                goto failed;
            }
        }

        work[n] = ngx_http_itsm_sig_work[n];

        if (secret[i].inner) {
            if (EVP_MD_CTX_copy_ex(work[n], secret[i].inner) != 1) {
                goto failed;
            }

            outer[n] = secret[i].outer;

        } else {
            if (ngx_http_complex_value(r, secret[i].value, &value) != NGX_OK)
            {
                goto done;
            }

            if (value.len == 0) {
                continue;
            }

            key_rc = ngx_http_itsm_sig_key(scf, &value, r->pool, &key);

            if (key_rc == NGX_ERROR) {
                goto done;
            }

            if (key_rc != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "itsm_signature: secret #%ui (a variable) is "
                              "not a whsec_ secret; it is skipped", i + 1);
                continue;
            }

            outer[n] = ngx_http_itsm_sig_outer[n];

            key_rc = ngx_http_itsm_sig_hmac_key(scf->md, &key, work[n],
                                                outer[n]);

            ngx_explicit_memzero(key.data, key.len);

            if (key_rc != NGX_OK) {
                goto failed;
            }
        }

        index[n++] = i + 1;
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm_signature: every secret of this location is an "
                      "empty variable; no request can be verified");
        goto done;
    }

    part = scf->parts.elts;
    body = 0;

    for (i = 0; i < scf->parts.nelts; i++) {

        switch (part[i].type) {

        case NGX_HTTP_ITSM_SIG_ID:
            text = &sr->id;
            break;

        case NGX_HTTP_ITSM_SIG_TIMESTAMP:
            text = &sr->timestamp;
            break;

        case NGX_HTTP_ITSM_SIG_BODY:
            if (ngx_http_itsm_sig_body(r, work, n) != NGX_OK) {
                goto done;
            }

            body = 1;
            continue;

        default:
            text = &part[i].text;
            break;
        }

        if (ngx_http_itsm_sig_update(work, n, text->data, text->len)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (!body) {
        goto done;
    }

    rc = NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH;

    for (i = 0; i < n; i++) {

        /* H(key^opad | H(key^ipad | content)) */

        if (EVP_DigestFinal_ex(work[i], inner, &dlen) != 1
            || EVP_MD_CTX_copy_ex(work[i], outer[i]) != 1
            || EVP_DigestUpdate(work[i], inner, dlen) != 1
            || EVP_DigestFinal_ex(work[i], mac, &mlen) != 1)
        {
            goto failed;
        }

        len = mlen;

        /* every signature of the header, however many: one that decodes
         * to a MAC of this length and these bytes, compared whole */

        pos = NULL;

        while (ngx_http_itsm_sig_next(&sr->header, &pos, sig, &slen)
               == NGX_OK)
        {
            if (slen == len && CRYPTO_memcmp(sig, mac, len) == 0) {
                sr->secret = index[i];
                sr->mac_len = len;
                ngx_memcpy(sr->mac, mac, len);

                rc = NGX_HTTP_ITSM_ACCESS_PASSED;
                goto done;
            }
        }
    }

    goto done;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm_signature: OpenSSL failed to compute HMAC-%s",
                  scf->digest);

    rc = NGX_HTTP_ITSM_ACCESS_INTERNAL;

done:

    ngx_explicit_memzero(inner, sizeof(inner));
    ngx_explicit_memzero(mac, sizeof(mac));
    ngx_explicit_memzero(sig, sizeof(sig));

    if (rc == NGX_HTTP_ITSM_ACCESS_INTERNAL) {
        ERR_clear_error();

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "the signature could not be "
                                         "checked; see the error log");
    }

    if (rc == NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH,
                                         "no %V signature in the request "
                                         "matches the body with any of the "
                                         "secrets of this endpoint",
                                         &scf->scheme->name);
    }

    return rc;
}


/*
 * What identifies a delivery in the replay cache: its id when the id is
 * signed (Standard Webhooks; a sender's resend keeps the id), otherwise
 * the MAC itself, since an unsigned id header can be changed at will.
 */

void
ngx_http_itsm_sig_replay_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr, u_char *key)
{
    u_char        sep;
    unsigned int  len;
    EVP_MD_CTX   *md;

    md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto failed;
    }

    if (scf->signed_id) {
        sep = 'i';

        if (EVP_DigestUpdate(md, &sep, 1) != 1
            || EVP_DigestUpdate(md, scf->scheme->name.data,
                                scf->scheme->name.len) != 1
            || EVP_DigestUpdate(md, "\n", 1) != 1
            || EVP_DigestUpdate(md, sr->id.data, sr->id.len) != 1)
        {
            goto failed;
        }

    } else {
        sep = 'm';

        if (EVP_DigestUpdate(md, &sep, 1) != 1
            || EVP_DigestUpdate(md, sr->mac, sr->mac_len) != 1)
        {
            goto failed;
        }
    }

    len = NGX_HTTP_ITSM_REPLAY_KEY_LEN;

    if (EVP_DigestFinal_ex(md, key, &len) != 1) {
        goto failed;
    }

    EVP_MD_CTX_free(md);
    return;

failed:

    /* not reached in practice; a key of the MAC bytes still works */

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    ngx_memzero(key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);
    ngx_memcpy(key, sr->mac, ngx_min(sr->mac_len,
                                     NGX_HTTP_ITSM_REPLAY_KEY_LEN));
}


static ngx_table_elt_t *
ngx_http_itsm_sig_find(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    *count = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            if (found == NULL) {
                found = &h[i];
            }

            (*count)++;
        }
    }

    return found;
}


static ngx_int_t
ngx_http_itsm_sig_update(EVP_MD_CTX **ctxs, ngx_uint_t n, u_char *data,
    size_t len)
{
    ngx_uint_t  i;

    if (len == 0) {
        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(ctxs[i], data, len) != 1) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the raw body: memory buffers, or the temporary file it was written to */

static ngx_int_t
ngx_http_itsm_sig_body(ngx_http_request_t *r, EVP_MD_CTX **ctxs,
    ngx_uint_t n)
{
    off_t         off;
    u_char       *buf;
    ssize_t       size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    buf = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (ngx_http_itsm_sig_update(ctxs, n, b->pos, b->last - b->pos)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!b->in_file) {
            continue;
        }

        if (buf == NULL) {
            buf = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_SIG_FILE_CHUNK);
            if (buf == NULL) {
                return NGX_ERROR;
            }
        }

        for (off = b->file_pos; off < b->file_last; off += size) {
            size = ngx_read_file(b->file, buf,
                                 (size_t) ngx_min(NGX_HTTP_ITSM_SIG_FILE_CHUNK,
                                                  b->file_last - off),
                                 off);

            if (size == NGX_ERROR || size == 0) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "itsm_signature: cannot read the request body "
                              "from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            if (ngx_http_itsm_sig_update(ctxs, n, buf, size) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}
