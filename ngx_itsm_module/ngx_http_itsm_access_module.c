
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"


/*
 * ngx_http_itsm_access_module: the access phase of an alert endpoint.
 *
 *   1. the client address against an allowlist (itsm_allow);
 *   2. a shared token (itsm_token);
 *   3. a bearer JWT against a key set (itsm_jwt, itsm_jwt_preset);
 *   4. the signature headers and their timestamp (itsm_signature);
 *   5. the whole body, read here, and its HMAC over the raw bytes;
 *   6. the delivery against the ones already seen (itsm_signature_replay).
 */


#define NGX_HTTP_ITSM_ACCESS_TOLERANCE   300
#define NGX_HTTP_ITSM_ACCESS_MAX_BODY    (256 * 1024)
#define NGX_HTTP_ITSM_ACCESS_RETRY_AFTER 30


static ngx_int_t ngx_http_itsm_access_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_itsm_access_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_access_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_itsm_access_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_itsm_access_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_access_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_itsm_access_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_itsm_access_off(ngx_conf_t *cf, ngx_command_t *cmd);
static void ngx_http_itsm_access_used(ngx_conf_t *cf);
static void ngx_http_itsm_access_limits(
    ngx_http_itsm_access_loc_conf_t *alcf);
static char *ngx_http_itsm_access_replay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_access_jwt_preset(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_itsm_access_tolerance_check(ngx_conf_t *cf, void *post,
    void *data);
static void ngx_http_itsm_access_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_itsm_access_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_itsm_access_tolerance_post = {
    ngx_http_itsm_access_tolerance_check
};


/* what reads the parameters of a check (ngx_http_itsm_access_check) */

typedef struct {
    char  *(*conf)(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
} ngx_http_itsm_access_check_t;


static ngx_http_itsm_access_check_t  ngx_http_itsm_access_token_check = {
    ngx_http_itsm_token_conf
};


static ngx_http_itsm_access_check_t  ngx_http_itsm_access_sig_check = {
    ngx_http_itsm_sig_conf
};


static ngx_command_t  ngx_http_itsm_access_commands[] = {

    { ngx_string("itsm_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_allow_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, allow_log_level),
      &ngx_http_itsm_access_log_levels },

    { ngx_string("itsm_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_check,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, token),
      &ngx_http_itsm_access_token_check },

    { ngx_string("itsm_signature"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_check,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, sig),
      &ngx_http_itsm_access_sig_check },

    { ngx_string("itsm_signature_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, tolerance),
      &ngx_http_itsm_access_tolerance_post },

    { ngx_string("itsm_signature_replay_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_itsm_replay_zone,
      0,
      0,
      NULL },

    { ngx_string("itsm_signature_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_itsm_access_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_access_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, max_body),
      NULL },

    { ngx_string("itsm_access_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_access_loc_conf_t, retry_after),
      NULL },

    { ngx_string("itsm_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_jwt_preset"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_access_jwt_preset,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_access_module_ctx = {
    ngx_http_itsm_access_preconfiguration, /* preconfiguration */
    ngx_http_itsm_access_postconfiguration, /* postconfiguration */

    ngx_http_itsm_access_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_access_create_loc_conf,  /* create location configuration */
    ngx_http_itsm_access_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_access_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_access_module_ctx,      /* module context */
    ngx_http_itsm_access_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_itsm_access_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HTTP_ITSM_ACCESS_VAR_RESULT  0
#define NGX_HTTP_ITSM_ACCESS_VAR_SECRET  1
#define NGX_HTTP_ITSM_ACCESS_VAR_ID      2


static ngx_http_variable_t  ngx_http_itsm_access_vars[] = {

    { ngx_string("itsm_access_result"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_secret"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_SECRET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_id"), NULL, ngx_http_itsm_access_variable,
      NGX_HTTP_ITSM_ACCESS_VAR_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_access_counters"), NULL,
      ngx_http_itsm_access_counters_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_itsm_access_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    value;
    ngx_uint_t                   n;
    ngx_http_itsm_access_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_itsm_access_module);

    ngx_str_null(&value);

    if (ctx) {
        switch (data) {

        case NGX_HTTP_ITSM_ACCESS_VAR_RESULT:
            if (ctx->done) {
                value = ngx_http_itsm_access_reasons[ctx->result].name;
            }
            break;

        case NGX_HTTP_ITSM_ACCESS_VAR_SECRET:
            n = (ctx->sig && ctx->sig->secret) ? ctx->sig->secret
                                               : ctx->token;
            if (n == 0) {
                break;
            }

            if (ngx_http_itsm_conf_variable_number(r, n, &value) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        default: /* NGX_HTTP_ITSM_ACCESS_VAR_ID */
            if (ctx->sig && ctx->sig->id.len) {
                value = ctx->sig->id;
            }
            break;
        }
    }

    ngx_http_itsm_conf_variable_value(v, &value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_access_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_itsm_conf_variables(cf, ngx_http_itsm_access_vars)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_access_counters_provide(cf);
}


static ngx_int_t
ngx_http_itsm_access_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                         i;
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_itsm_replay_ref_t        *ref;
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);

    ref = amcf->replay_refs.elts;

    for (i = 0; i < amcf->replay_refs.nelts; i++) {
        if (ref[i].zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_signature_replay: unknown zone \"%V\" in "
                          "%s:%ui; declare it at http level with "
                          "\"itsm_signature_replay_zone %V:1m;\"",
                          &ref[i].zone->shm.name, ref[i].file, ref[i].line,
                          &ref[i].zone->shm.name);
            return NGX_ERROR;
        }
    }

    if (ngx_http_itsm_replay_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!amcf->used) {
        return NGX_OK;
    }

    amcf->counters = ngx_http_itsm_access_counters_zone(cf);
    if (amcf->counters == NULL) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_itsm_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_itsm_access_handler;

    return NGX_OK;
}


static void *
ngx_http_itsm_access_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_access_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->replay_refs, cf->pool, 2,
                       sizeof(ngx_http_itsm_replay_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_itsm_access_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_access_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_access_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->allow = NGX_CONF_UNSET_PTR;
    conf->allow_log_level = NGX_CONF_UNSET_UINT;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->sig = NGX_CONF_UNSET_PTR;
    conf->tolerance = NGX_CONF_UNSET;
    conf->replay = NGX_CONF_UNSET_PTR;
    conf->replay_ttl = NGX_CONF_UNSET;
    conf->replay_lease = NGX_CONF_UNSET_MSEC;
    conf->jwt = NGX_CONF_UNSET_PTR;
    conf->enabled = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->retry_after = NGX_CONF_UNSET;
    conf->content_max_body = NGX_CONF_UNSET_SIZE;
    conf->content_retry_after = NGX_CONF_UNSET;

    ngx_http_itsm_access_limits(conf);

    return conf;
}


static char *
ngx_http_itsm_access_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_itsm_access_loc_conf_t *prev = parent;
    ngx_http_itsm_access_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->allow, prev->allow, NULL);
    ngx_conf_merge_uint_value(conf->allow_log_level, prev->allow_log_level,
                              NGX_LOG_ERR);
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->sig, prev->sig, NULL);
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance,
                             NGX_HTTP_ITSM_ACCESS_TOLERANCE);
    /* the zone or Redis: inherited together, or set here together */

    if (conf->replay == NGX_CONF_UNSET_PTR) {
        conf->replay_redis = prev->replay_redis;
        conf->replay_lease = prev->replay_lease;
    }

    ngx_conf_merge_ptr_value(conf->replay, prev->replay, NULL);
    ngx_conf_merge_msec_value(conf->replay_lease, prev->replay_lease,
                              NGX_HTTP_ITSM_REPLAY_LEASE);
    ngx_conf_merge_sec_value(conf->replay_ttl, prev->replay_ttl,
                             conf->tolerance);
    ngx_conf_merge_ptr_value(conf->jwt, prev->jwt, NULL);

    if (conf->jwt && ngx_http_itsm_jwt_merge(cf, conf->jwt) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->replay_file && (conf->replay || conf->replay_redis)
        && conf->sig == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_signature_replay in %s:%ui acts on signed "
                      "deliveries only; add itsm_signature to the location",
                      conf->replay_file, conf->replay_line);
        return NGX_CONF_ERROR;
    }

    conf->enabled = (conf->allow || conf->token || conf->sig || conf->jwt);

    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              NGX_CONF_UNSET_SIZE);
    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after,
                             NGX_CONF_UNSET);

    ngx_http_itsm_access_limits(conf);

    return NGX_CONF_OK;
}


/*
 * A content handler that reads the body itself (itsm_pass) announces, for
 * the block being merged, the largest body it accepts (and the directive
 * that sets it) and the Retry-After it sends.  The access phase keeps to
 * them there, so that an alert endpoint has one limit, unless the block
 * has itsm_access_max_body or itsm_access_retry_after.  Nothing of the
 * content handler's configuration is read: without an announcement the
 * access phase has its own defaults.
 */

void
ngx_http_itsm_access_content_limits(ngx_conf_t *cf, size_t max_body,
    ngx_str_t *directive, time_t retry_after)
{
    ngx_http_itsm_access_loc_conf_t  *alcf;

    alcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_itsm_access_module);

    alcf->content_max_body = max_body;
    alcf->content_directive = *directive;
    alcf->content_retry_after = retry_after;

    /* the module merging first may be either one (the order of modules) */

    ngx_http_itsm_access_limits(alcf);
}


static void
ngx_http_itsm_access_limits(ngx_http_itsm_access_loc_conf_t *alcf)
{
    if (alcf->max_body != NGX_CONF_UNSET_SIZE) {
        alcf->body_limit = alcf->max_body;
        ngx_str_set(&alcf->body_directive, "itsm_access_max_body");

    } else if (alcf->content_max_body != NGX_CONF_UNSET_SIZE) {
        alcf->body_limit = alcf->content_max_body;
        alcf->body_directive = alcf->content_directive;

    } else {
        alcf->body_limit = NGX_HTTP_ITSM_ACCESS_MAX_BODY;
        ngx_str_set(&alcf->body_directive, "itsm_access_max_body");
    }

    if (alcf->retry_after != NGX_CONF_UNSET) {
        alcf->retry = alcf->retry_after;

    } else if (alcf->content_retry_after != NGX_CONF_UNSET) {
        alcf->retry = alcf->content_retry_after;

    } else {
        alcf->retry = NGX_HTTP_ITSM_ACCESS_RETRY_AFTER;
    }
}


/* "itsm_allow 192.0.2.0/24 2001:db8::/32 file=<path> ...;" or "off" */

static char *
ngx_http_itsm_access_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts != 2 || alcf->allow != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" cannot be combined with addresses "
                               "in the same block", &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->allow = NULL;
        return NGX_CONF_OK;
    }

    if (alcf->allow == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" cannot be combined with addresses in "
                           "the same block", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (alcf->allow == NGX_CONF_UNSET_PTR) {
        alcf->allow = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_allow_t));
        if (alcf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_itsm_allow_add(cf, alcf->allow, &value[i])
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    ngx_http_itsm_access_used(cf);

    return NGX_CONF_OK;
}


/*
 * "itsm_token $variable TOKEN|file=PATH ...;" and "itsm_signature <scheme>
 * ... secret=...;", or "... off;": the check whose configuration is the
 * pointer at cmd->offset, its parameters read by the function of
 * cmd->post (ngx_http_itsm_token.c, ngx_http_itsm_sig_conf.c)
 */

static char *
ngx_http_itsm_access_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    void                          **field;
    ngx_int_t                       rc;
    ngx_http_itsm_access_check_t   *check;

    field = (void **) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    rc = ngx_http_itsm_access_off(cf, cmd);

    if (rc != NGX_DECLINED) {
        *field = NULL;
        return (rc == NGX_OK) ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    check = cmd->post;

    if (check->conf(cf, cmd, field) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_itsm_access_used(cf);

    return NGX_CONF_OK;
}


/* NGX_OK: "DIRECTIVE off;"; NGX_DECLINED: not "off"; NGX_ERROR: "off"
 * with more parameters */

static ngx_int_t
ngx_http_itsm_access_off(ngx_conf_t *cf, ngx_command_t *cmd)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (value[1].len != 3 || ngx_strncmp(value[1].data, "off", 3) != 0) {
        return NGX_DECLINED;
    }

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" takes no parameters", &cmd->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the access phase has work: its handlers and counters are set up */

static void
ngx_http_itsm_access_used(ngx_conf_t *cf)
{
    ngx_http_itsm_access_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);
    amcf->used = 1;
}


/* "itsm_jwt ...;" (ngx_http_itsm_jwt.c) or "itsm_jwt off;" */

static char *
ngx_http_itsm_access_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    char       *rv;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts != 2 || alcf->jwt != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" takes no parameters and cannot be "
                               "combined with itsm_jwt_preset", &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->jwt = NULL;
        return NGX_CONF_OK;
    }

    rv = ngx_http_itsm_jwt_conf(cf, cmd, &alcf->jwt);

    if (rv == NGX_CONF_OK) {
        ngx_http_itsm_access_used(cf);
    }

    return rv;
}


static char *
ngx_http_itsm_access_jwt_preset(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    char  *rv;

    rv = ngx_http_itsm_jwt_preset(cf, cmd, &alcf->jwt);

    if (rv == NGX_CONF_OK) {
        ngx_http_itsm_access_used(cf);
    }

    return rv;
}


/*
 * "itsm_signature_replay zone=<name> [ttl=<time>];",
 * "itsm_signature_replay redis [ttl=<time>] [lease=<time>];", or "... off;"
 */

static char *
ngx_http_itsm_access_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_access_loc_conf_t *alcf = conf;

    ngx_int_t                          rc;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_http_itsm_replay_ref_t        *ref;
    ngx_http_itsm_access_main_conf_t  *amcf;

    if (alcf->replay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_http_itsm_access_off(cf, cmd);

    if (rc != NGX_DECLINED) {
        alcf->replay = NULL;
        return (rc == NGX_OK) ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (i == 1 && value[i].len == 5
            && ngx_strncmp(value[i].data, "redis", 5) == 0)
        {
            alcf->replay_redis = ngx_http_itsm_replay_redis_conf(cf);

            if (alcf->replay_redis == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V redis\" needs an \"itsm_redis\"; "
                                   "declare it at http level before the "
                                   "server, e.g. \"itsm_redis "
                                   "address=127.0.0.1:6379;\"", &cmd->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (alcf->replay_redis
            && ngx_http_itsm_conf_param(&value[i], "lease=", &s))
        {
            alcf->replay_lease = ngx_parse_time(&s, 0);

            if (alcf->replay_lease == (ngx_msec_t) NGX_ERROR
                || alcf->replay_lease < 3)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid lease \"%V\"; e.g. lease=30s",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "zone=", &s) && s.len) {

            alcf->replay = ngx_http_itsm_replay_zone_ref(cf, &s);
            if (alcf->replay == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "ttl=", &s)) {

            if (ngx_http_itsm_conf_time(cf, &s, 1, NGX_MAX_TIME_T_VALUE,
                                        &alcf->replay_ttl, "ttl",
                                        "; e.g. ttl=10m")
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; write "
                           "\"%V zone=<name> [ttl=<time>]\" or "
                           "\"%V redis [ttl=<time>] [lease=<time>]\"",
                           &value[i], &cmd->name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (alcf->replay_redis) {

        if (alcf->replay != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes either redis or zone=, not "
                               "both", &cmd->name);
            return NGX_CONF_ERROR;
        }

        /* the zone's place holds nothing: Redis does it */
        alcf->replay = NULL;

        ngx_http_itsm_replay_filter_use();

        if (cf->cmd_type & NGX_HTTP_LOC_CONF) {
            alcf->replay_file = cf->conf_file->file.name.data;
            alcf->replay_line = cf->conf_file->line;
        }

        return NGX_CONF_OK;
    }

    if (alcf->replay == NGX_CONF_UNSET_PTR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have the zone=<name> of an "
                           "itsm_signature_replay_zone", &cmd->name);
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_itsm_access_module);

    ref = ngx_array_push(&amcf->replay_refs);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->zone = alcf->replay;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    if (cf->cmd_type & NGX_HTTP_LOC_CONF) {
        alcf->replay_file = ref->file;
        alcf->replay_line = ref->line;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_access_tolerance_check(ngx_conf_t *cf, void *post, void *data)
{
    time_t *t = data;

    if (*t < 1) {
        return "must be at least 1s";
    }

    return NGX_CONF_OK;
}


static void
ngx_http_itsm_access_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_itsm_sig_exit();
}
