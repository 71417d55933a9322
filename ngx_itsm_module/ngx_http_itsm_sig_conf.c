
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_sig.h"


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
 */


#define NGX_HTTP_ITSM_SIG_P_HEADER     0x01
#define NGX_HTTP_ITSM_SIG_P_TS         0x02
#define NGX_HTTP_ITSM_SIG_P_ID         0x04
#define NGX_HTTP_ITSM_SIG_P_ALGORITHM  0x08
#define NGX_HTTP_ITSM_SIG_P_ENCODING   0x10
#define NGX_HTTP_ITSM_SIG_P_PREFIX     0x20
#define NGX_HTTP_ITSM_SIG_P_CONTENT    0x40


static ngx_int_t ngx_http_itsm_sig_param(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_sig_content(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *text);
static ngx_int_t ngx_http_itsm_sig_literal(ngx_http_itsm_sig_conf_t *scf,
    u_char *start, u_char *end);
static ngx_int_t ngx_http_itsm_sig_secret(ngx_conf_t *cf,
    ngx_http_itsm_sig_conf_t *scf, ngx_str_t *value, ngx_array_t *fixed);
static ngx_int_t ngx_http_itsm_sig_fixed(ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *text, ngx_pool_t *pool, ngx_array_t *fixed);
static void ngx_http_itsm_sig_wipe(void *data);
static void ngx_http_itsm_sig_cleanup(void *data);
static void ngx_http_itsm_sig_md_cleanup(void *data);


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


/*
 * The parameters of the generic scheme (and of grafana) that name a text:
 * "header" set, a header's name, which cannot be empty.
 */

typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   param;        /* NGX_HTTP_ITSM_SIG_P_* */
    size_t                       offset;       /* of its ngx_str_t */
    ngx_uint_t                   header;
} ngx_http_itsm_sig_text_t;


static ngx_http_itsm_sig_text_t  ngx_http_itsm_sig_texts[] = {
    { ngx_string("header"), NGX_HTTP_ITSM_SIG_P_HEADER,
      offsetof(ngx_http_itsm_sig_conf_t, header), 1 },
    { ngx_string("timestamp_header"), NGX_HTTP_ITSM_SIG_P_TS,
      offsetof(ngx_http_itsm_sig_conf_t, ts_header), 1 },
    { ngx_string("id_header"), NGX_HTTP_ITSM_SIG_P_ID,
      offsetof(ngx_http_itsm_sig_conf_t, id_header), 1 },
    { ngx_string("prefix"), NGX_HTTP_ITSM_SIG_P_PREFIX,
      offsetof(ngx_http_itsm_sig_conf_t, prefix), 0 },
    { ngx_null_string, 0, 0, 0 }
};


/* algorithm=: the digest of the HMAC and the length of its MAC */

typedef struct {
    ngx_str_t                    name;
    char                        *digest;
    size_t                       mac_len;
} ngx_http_itsm_sig_algorithm_t;


static ngx_http_itsm_sig_algorithm_t  ngx_http_itsm_sig_algorithms[] = {
    { ngx_string("sha1"), "SHA1", 20 },
    { ngx_string("sha256"), "SHA256", 32 },
    { ngx_string("sha512"), "SHA512", 64 },
    { ngx_null_string, NULL, 0 }
};


/* "itsm_signature <scheme> [param=value ...] secret=... [secret=...]" */

char *
ngx_http_itsm_sig_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_sig_conf_t **sigp = conf;

    ngx_str_t                   *value, content;
    ngx_uint_t                   i;
    ngx_array_t                 *fixed;
    ngx_pool_cleanup_t          *cln;
    ngx_http_itsm_secret_t      *secret;
    ngx_http_itsm_sig_conf_t    *scf;
    ngx_http_itsm_sig_scheme_t  *scheme;

    value = cf->args->elts;

    scheme = ngx_http_itsm_conf_row(ngx_http_itsm_sig_schemes,
                                    sizeof(ngx_http_itsm_sig_scheme_t),
                                    &value[1]);
    if (scheme == NULL) {
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

        if ((scheme->params & NGX_HTTP_ITSM_SIG_P_CONTENT)
            && ngx_http_itsm_conf_param(&value[i], "content=", &content))
        {
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
    ngx_str_t                       name, arg;
    ngx_uint_t                      params;
    ngx_http_itsm_sig_text_t       *t;
    ngx_http_itsm_sig_algorithm_t  *a;

    params = scf->scheme->params;

    if (ngx_http_itsm_conf_split(value, '=', &name, &arg) != NGX_OK) {
        goto invalid;
    }

    t = ngx_http_itsm_conf_row(ngx_http_itsm_sig_texts,
                               sizeof(ngx_http_itsm_sig_text_t), &name);

    if (t && (params & t->param)) {

        if (t->header && arg.len == 0) {
            goto empty;
        }

        *(ngx_str_t *) ((u_char *) scf + t->offset) = arg;
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
        a = ngx_http_itsm_conf_row(ngx_http_itsm_sig_algorithms,
                                   sizeof(ngx_http_itsm_sig_algorithm_t),
                                   &arg);
        if (a) {
            scf->digest = a->digest;
            scf->mac_len = a->mac_len;
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

        if (ngx_http_itsm_sig_literal(scf, start, p) != NGX_OK) {
            return NGX_ERROR;
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

    if (ngx_http_itsm_sig_literal(scf, start, p) != NGX_OK) {
        return NGX_ERROR;
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


/* the literal text from "start" to "end" of content=, when there is any */

static ngx_int_t
ngx_http_itsm_sig_literal(ngx_http_itsm_sig_conf_t *scf, u_char *start,
    u_char *end)
{
    ngx_http_itsm_sig_part_t  *part;

    if (end == start) {
        return NGX_OK;
    }

    part = ngx_array_push(&scf->parts);
    if (part == NULL) {
        return NGX_ERROR;
    }

    part->type = NGX_HTTP_ITSM_SIG_LITERAL;
    part->text.data = start;
    part->text.len = end - start;

    return NGX_OK;
}


/* secret=<value>, secret=file:<path> (one secret a line), secret=$var */

static ngx_int_t
ngx_http_itsm_sig_secret(ngx_conf_t *cf, ngx_http_itsm_sig_conf_t *scf,
    ngx_str_t *value, ngx_array_t *fixed)
{
    u_char                            *p, *last;
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

        for (line = 1;
             ngx_http_itsm_access_line(&p, last, 0, &one) == NGX_OK;
             line++)
        {
            /* a secret may have a "#": only a whole line is a comment */

            if (one.len == 0 || one.data[0] == '#') {
                continue;
            }

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
