
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_status.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_callback_source.h"
#include "ngx_http_itsm_callback_loc.h"


/*
 * The callback location: "itsm_callback CONNECTOR [profile=rt|generic]
 * [ticket=/ptr] [status=/ptr] [event_id=/ptr] [order=/ptr] [note=/ptr];".
 * An ITSM posts what became of a ticket; the module maps the ITSM's status
 * onto the lifecycle (callback_status) and the store applies it to the key
 * whose ticket it is (ngx_http_itsm_store_ticket.c).
 *
 * Answers fit webhook senders, which retry and may switch off a webhook
 * that keeps failing: 200 for an event applied, for one that changes
 * nothing (a duplicate delivery, an older event, a ticket no key has, a
 * status the map does not name: each counted and logged); 401 without one
 * of the connector's tokens; 400 (JSON error) for a body that is not what
 * the profile reads; 413 over itsm_max_body; 503 with Retry-After when the
 * store cannot take it, so the sender tries again.
 *
 * A 200 means the change is on disk: the answer waits for the store's
 * flush.
 */


static ngx_int_t ngx_http_itsm_callback_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_callback_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_itsm_callback_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_callback_init_locations(ngx_conf_t *cf);
static void *ngx_http_itsm_callback_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_itsm_callback_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_callback_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_itsm_callback_pointer(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *pointer);
static char *ngx_http_itsm_callback_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_callback_loc_conf_t *cblcf);
static ngx_int_t ngx_http_itsm_callback_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_callback_turn_away(ngx_http_request_t *r,
    char *header, ngx_str_t *value);
static ngx_int_t ngx_http_itsm_callback_token(ngx_http_request_t *r,
    ngx_str_t *token);
static void ngx_http_itsm_callback_body(ngx_http_request_t *r);


/*
 * The location's NAME=/pointer parameters, and where Request Tracker's
 * scrip (util/rt-callback.pl) puts each: {"ticket": "42", "old_status":
 * "open", "status": "resolved", "transaction": "917", ...}; transaction
 * ids only grow.
 */

typedef struct {
    ngx_str_t                    name;
    size_t                       offset;
    ngx_str_t                    rt;
} ngx_http_itsm_callback_param_t;


static ngx_http_itsm_callback_param_t  ngx_http_itsm_callback_params[] = {
    { ngx_string("ticket="),
      offsetof(ngx_http_itsm_callback_loc_conf_t, ticket),
      ngx_string("/ticket") },
    { ngx_string("status="),
      offsetof(ngx_http_itsm_callback_loc_conf_t, status),
      ngx_string("/status") },
    { ngx_string("event_id="),
      offsetof(ngx_http_itsm_callback_loc_conf_t, event_id),
      ngx_string("/transaction") },
    { ngx_string("order="),
      offsetof(ngx_http_itsm_callback_loc_conf_t, order),
      ngx_string("/transaction") },
    { ngx_string("note="),                      /* a comment's content */
      offsetof(ngx_http_itsm_callback_loc_conf_t, note),
      ngx_string("/note") },
    { ngx_null_string, 0, ngx_null_string }
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_callback_provider = {
    ngx_string("callbacks"),
    ngx_string("ITSM callbacks, by outcome."),
    ngx_string("outcome"),
    ngx_http_itsm_callback_counts
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_callback_by_connector = {
    ngx_string("callbacks_by_connector"),
    ngx_string("ITSM callbacks, by connector and outcome."),
    ngx_string("outcome"),
    ngx_http_itsm_callback_connector_counts
};


static ngx_str_t  ngx_http_itsm_callback_connector_label =
    ngx_string("connector");


/* the layout of the counters changed (the slots, then "noted", then the
 * slots' names apart): a new zone's name */
static ngx_str_t  ngx_http_itsm_callback_counters_name =
    ngx_string("itsm_callback_counters_v4");

static ngx_uint_t  ngx_http_itsm_callback_counters_tag;


static ngx_command_t  ngx_http_itsm_callback_commands[] = {

    { ngx_string("itsm_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_callback_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_callback_source"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_itsm_callback_source_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_callback_module_ctx = {
    ngx_http_itsm_callback_preconfiguration, /* preconfiguration */
    ngx_http_itsm_callback_postconfiguration, /* postconfiguration */

    ngx_http_itsm_callback_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_callback_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_callback_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_callback_module_ctx,    /* module context */
    ngx_http_itsm_callback_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * What a callback said and became, for access_log and headers of the
 * callback location: empty (not found) before the body is read, and for
 * what a request did not say.
 */

typedef enum {
    NGX_HTTP_ITSM_CB_VAR_TICKET = 0,
    NGX_HTTP_ITSM_CB_VAR_STATUS,
    NGX_HTTP_ITSM_CB_VAR_STATE,
    NGX_HTTP_ITSM_CB_VAR_ASSIGNEE,
    NGX_HTTP_ITSM_CB_VAR_OUTCOME
} ngx_http_itsm_callback_var_e;


static ngx_http_variable_t  ngx_http_itsm_callback_vars[] = {

    { ngx_string("itsm_callback_ticket"), NULL,
      ngx_http_itsm_callback_variable, NGX_HTTP_ITSM_CB_VAR_TICKET,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_callback_status"), NULL,
      ngx_http_itsm_callback_variable, NGX_HTTP_ITSM_CB_VAR_STATUS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_callback_state"), NULL,
      ngx_http_itsm_callback_variable, NGX_HTTP_ITSM_CB_VAR_STATE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_callback_assignee"), NULL,
      ngx_http_itsm_callback_variable, NGX_HTTP_ITSM_CB_VAR_ASSIGNEE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_callback_outcome"), NULL,
      ngx_http_itsm_callback_variable, NGX_HTTP_ITSM_CB_VAR_OUTCOME,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_itsm_callback_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_itsm_conf_variables(cf, ngx_http_itsm_callback_vars);
}


static ngx_int_t
ngx_http_itsm_callback_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                      *s;
    ngx_uint_t                      i;
    ngx_http_itsm_callback_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_itsm_callback_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_ITSM_CB_VAR_TICKET:
        s = &ctx->cb.ticket;
        break;

    case NGX_HTTP_ITSM_CB_VAR_STATUS:
        s = &ctx->status;
        break;

    case NGX_HTTP_ITSM_CB_VAR_STATE:

        /* mapped (or "note"); nothing for a status the map lacks */

        s = (ctx->cb.state && ctx->cb.state < NGX_HTTP_ITSM_CALLBACK_NSTATES
             && !ctx->unmapped)
            ? &ngx_http_itsm_callback_state_names[ctx->cb.state] : NULL;
        break;

    case NGX_HTTP_ITSM_CB_VAR_ASSIGNEE:

        /* the one the store keeps once applied, else the event's own */

        s = ctx->cb.assignee.len ? &ctx->cb.assignee : &ctx->cb.in_assignee;
        break;

    default: /* NGX_HTTP_ITSM_CB_VAR_OUTCOME */
        s = &ctx->outcome;
        break;
    }

    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* the ITSM's words may go into a header (add_header): a control
     * character (a CR LF would split the answer) makes the value empty */

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            v->not_found = 1;
            return NGX_OK;
        }
    }

    ngx_http_itsm_conf_variable_value(v, s);

    return NGX_OK;
}


static void *
ngx_http_itsm_callback_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_callback_main_conf_t));
    if (cbmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cbmcf->locations, cf->pool, 2,
                       sizeof(ngx_http_itsm_callback_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cbmcf;
}


static void *
ngx_http_itsm_callback_create_loc_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_callback_loc_conf_t));
}


static char *
ngx_http_itsm_callback_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_callback_loc_conf_t *cblcf = conf;

    char                                 *rv;
    ngx_str_t                            *value, name, *pointer;
    ngx_uint_t                            i;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_itsm_callback_param_t       *param;
    ngx_http_itsm_callback_loc_conf_t   **locp;
    ngx_http_itsm_callback_main_conf_t   *cbmcf;

    if (cblcf->name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&name, "generic");

    cblcf->name = value[1];
    cblcf->profile = ngx_http_itsm_callback_profile(&name);
    cblcf->file = cf->conf_file->file.name.data;
    cblcf->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "profile=", 8) == 0) {
            name.data = value[i].data + 8;
            name.len = value[i].len - 8;

            cblcf->profile = ngx_http_itsm_callback_profile(&name);

            if (cblcf->profile == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown itsm_callback profile \"%V\"; "
                                   "the profiles are: rt, jira, servicenow, "
                                   "pagerduty, opsgenie, generic", &name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        for (param = ngx_http_itsm_callback_params; param->name.len; param++)
        {
            if (ngx_strncmp(value[i].data, param->name.data, param->name.len)
                == 0)
            {
                break;
            }
        }

        if (param->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid itsm_callback parameter \"%V\"; "
                               "expected profile=, ticket=, status=, "
                               "event_id=, order= or note=", &value[i]);
            return NGX_CONF_ERROR;
        }

        pointer = (ngx_str_t *) ((u_char *) cblcf + param->offset);

        rv = ngx_http_itsm_callback_pointer(cf, &value[i], pointer);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    /* what Request Tracker's scrip posts, where the location names
     * nothing else */

    if (cblcf->profile->name.len == 2) {                /* "rt" */
        for (param = ngx_http_itsm_callback_params; param->name.len; param++)
        {
            pointer = (ngx_str_t *) ((u_char *) cblcf + param->offset);

            if (pointer->len == 0) {
                *pointer = param->rt;
            }
        }
    }

    /* the ITSMs' own profiles read their bodies themselves; a ticket=
     * of the location names another field as the ticket */

    if (cblcf->profile->parse == NULL
        && (cblcf->ticket.len == 0 || cblcf->status.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_callback \"%V\" with profile=generic needs "
                           "where the ticket and the status are: e.g. "
                           "\"ticket=/issue/key status=/issue/status\"",
                           &cblcf->name);
        return NGX_CONF_ERROR;
    }

    cbmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_itsm_callback_module);

    locp = ngx_array_push(&cbmcf->locations);
    if (locp == NULL) {
        return NGX_CONF_ERROR;
    }

    *locp = cblcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_itsm_callback_handler;

    return NGX_CONF_OK;
}


/* NAME=/pointer */

static char *
ngx_http_itsm_callback_pointer(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *pointer)
{
    u_char  *eq;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    pointer->data = eq + 1;
    pointer->len = value->data + value->len - pointer->data;

    if (pointer->len == 0
        || ngx_http_itsm_json_pointer_valid(pointer) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON Pointer in \"%V\" of itsm_callback; "
                           "write it as \"/a/b\" (RFC 6901)", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Once the whole configuration is read, the connectors are known: the
 * callback locations, then the ways back to the sources
 * (ngx_http_itsm_callback_source_conf.c).
 */

static ngx_int_t
ngx_http_itsm_callback_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_itsm_callback_init_locations(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_itsm_callback_source_init(cf);
}


static ngx_int_t
ngx_http_itsm_callback_init_locations(ngx_conf_t *cf)
{
    ngx_uint_t                           i;
    ngx_http_itsm_main_conf_t           *imcf;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_itsm_callback_module);

    if (cbmcf->locations.nelts == 0) {
        return NGX_OK;
    }

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {
        if (ngx_http_itsm_callback_check(cf, imcf, loc[i]) != NGX_CONF_OK) {
            return NGX_ERROR;
        }
    }

    cbmcf->counters = ngx_http_itsm_status_counters_zone(cf,
                                        &ngx_http_itsm_callback_counters_name,
                                        &ngx_http_itsm_callback_counters_tag,
                                        ngx_http_itsm_callback_init_counters);
    if (cbmcf->counters == NULL) {
        return NGX_ERROR;
    }

    cbmcf->counters->data = cbmcf;

    if (ngx_http_itsm_status_provide(cf, &ngx_http_itsm_callback_provider)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_callback_by_connector,
                                        &ngx_http_itsm_callback_connector_label);
}


static char *
ngx_http_itsm_callback_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf,
    ngx_http_itsm_callback_loc_conf_t *cblcf)
{
    ngx_http_itsm_connector_t  *conn;

    conn = ngx_http_itsm_conn_find(imcf, &cblcf->name);

    if (conn == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback: unknown connector \"%V\" in %s:%ui; "
                      "declare it with \"itsm_connector %V { ... }\" at "
                      "http level", &cblcf->name, cblcf->file, cblcf->line,
                      &cblcf->name);
        return NGX_CONF_ERROR;
    }

    if (imcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback \"%V\" in %s:%ui needs \"itsm_store\": "
                      "a callback changes what the store knows of a key",
                      &cblcf->name, cblcf->file, cblcf->line);
        return NGX_CONF_ERROR;
    }

    if (conn->callback == NULL
        || (conn->callback->tokens.nelts == 0 && conn->callback->sig == NULL))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback \"%V\" in %s:%ui: the connector has no "
                      "\"callback_token\"; run \"build/itsm-token new %V\", "
                      "give the token to the ITSM and put the "
                      "\"callback_token sha256:...;\" line it prints in "
                      "\"itsm_connector %V\" (%s:%ui)", &cblcf->name,
                      cblcf->file, cblcf->line, &cblcf->name, &cblcf->name,
                      conn->file, conn->line);
        return NGX_CONF_ERROR;
    }

    if (conn->callback->statuses.nelts == 0) {

        if (cblcf->profile->preset.len) {
            if (ngx_http_itsm_callback_preset(cf, conn,
                                              &cblcf->profile->preset)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_callback \"%V\" in %s:%ui: the connector "
                          "maps no ITSM status; add e.g. \"callback_status "
                          "Open=open Done=resolved;\" to \"itsm_connector "
                          "%V\" (%s:%ui)", &cblcf->name, cblcf->file,
                          cblcf->line, &cblcf->name, conn->file, conn->line);
            return NGX_CONF_ERROR;
        }
    }

    cblcf->conn = conn;

    return NGX_CONF_OK;
}


/* a refusal before the body is read discards it; "header" (Allow,
 * WWW-Authenticate) says how to call */

static ngx_int_t
ngx_http_itsm_callback_turn_away(ngx_http_request_t *r, char *header,
    ngx_str_t *value)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (header != NULL
        && ngx_http_itsm_conf_header(r, header, value) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_callback_handler(ngx_http_request_t *r)
{
    off_t                               length;
    ngx_int_t                           rc, signed_rc;
    void                               *sig;
    ngx_str_t                           token, value;
    ngx_http_cleanup_t                 *cln;
    ngx_http_itsm_loc_conf_t           *ilcf;
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_callback_ctx_t       *ctx;
    ngx_http_itsm_callback_loc_conf_t  *cblcf;

    cblcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_callback_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);
    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    if (r != r->main) {
        return NGX_HTTP_FORBIDDEN;
    }

    length = r->headers_in.content_length_n;

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&value, "POST");

        rc = ngx_http_itsm_callback_turn_away(r, "Allow", &value);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_NOT_ALLOWED,
                                             "method_not_allowed",
                                             "callbacks are sent with POST");
    }

    /*
     * who calls first: a stranger learns nothing from the body's checks.
     * A connector with callback_signature must sign every callback (its
     * MAC is checked once the body is read); else its token decides.
     */

    sig = NULL;

    signed_rc = ngx_http_itsm_callback_sig_headers(r, cblcf->conn, &sig);

    if (signed_rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&token);

    if (signed_rc == NGX_ABORT
        || (signed_rc == NGX_DECLINED
            && (ngx_http_itsm_callback_token(r, &token) != NGX_OK
                || !ngx_http_itsm_callback_token_valid(cblcf->conn, &token))))
    {
        ngx_str_set(&value, "Bearer realm=\"itsm callback\"");

        rc = ngx_http_itsm_callback_turn_away(r, "WWW-Authenticate", &value);
        if (rc != NGX_OK) {
            return rc;
        }

        if (signed_rc == NGX_ABORT) {
            return ngx_http_itsm_callback_refuse(r,
                                             NGX_HTTP_ITSM_CB_UNAUTHORIZED,
                                             NGX_HTTP_UNAUTHORIZED,
                                             "signature_invalid",
                                             "the callback is not signed "
                                             "with this connector's "
                                             "callback_signature");
        }

        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_UNAUTHORIZED,
                                             NGX_HTTP_UNAUTHORIZED,
                                             token.len ? "token_invalid"
                                                       : "token_missing",
                                             token.len
                                             ? "the token is not one of this "
                                               "connector's callback tokens"
                                             : "send a callback token of "
                                               "this connector in "
                                               "\"Authorization: Bearer\" or "
                                               "\"X-ITSM-Token\"");
    }

    if (length > (off_t) ilcf->max_body) {
        rc = ngx_http_itsm_callback_turn_away(r, NULL, NULL);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_itsm_callback_too_large(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_callback_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = cblcf;
    ctx->sig = sig;
    ctx->store = imcf->store;
    ctx->sync.handler = ngx_http_itsm_callback_synced;
    ctx->sync.data = r;

    /* a request that ends while it waits for the flush leaves the queue */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_itsm_callback_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_callback_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback: connector \"%V\", %s", &cblcf->name,
                   sig ? "signature headers read" : "token accepted");

    rc = ngx_http_read_client_request_body(r, ngx_http_itsm_callback_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* "Authorization: Bearer TOKEN" or "X-ITSM-Token: TOKEN" */

static ngx_int_t
ngx_http_itsm_callback_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    ngx_str_null(token);

    h = r->headers_in.authorization;

    if (h && h->value.len > sizeof("Bearer ") - 1
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           == 0)
    {
        token->data = h->value.data + sizeof("Bearer ") - 1;
        token->len = h->value.len - (sizeof("Bearer ") - 1);

        while (token->len && token->data[0] == ' ') {
            token->data++;
            token->len--;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = ngx_http_itsm_util_header(r, "X-ITSM-Token");

    if (h && h->value.len) {
        *token = h->value;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_itsm_callback_body(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_itsm_callback_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    rc = ngx_http_itsm_callback_accept(r, ctx);

    if (rc == NGX_DONE) {
        return;                                 /* waits for the flush */
    }

    ngx_http_finalize_request(r, rc);
}


