
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_pipeline.h"


/*
 * $itsm_* variables, for log_format, map and the ITSM location's
 * proxy_set_header.  They read the alert request's context, also from its
 * subrequests (r->main), and are never cached: one request carries several
 * deliveries.
 */


#define NGX_HTTP_ITSM_VAR_TICKET_ID   NGX_HTTP_ITSM_NFIELDS
#define NGX_HTTP_ITSM_VAR_ACTION      (NGX_HTTP_ITSM_NFIELDS + 1)
#define NGX_HTTP_ITSM_VAR_OUTCOME     (NGX_HTTP_ITSM_NFIELDS + 2)
#define NGX_HTTP_ITSM_VAR_CONNECTOR   (NGX_HTTP_ITSM_NFIELDS + 3)
#define NGX_HTTP_ITSM_VAR_ITSM_STATUS (NGX_HTTP_ITSM_NFIELDS + 4)
#define NGX_HTTP_ITSM_VAR_OCCURRENCES (NGX_HTTP_ITSM_NFIELDS + 5)
#define NGX_HTTP_ITSM_VAR_FIRST_SEEN  (NGX_HTTP_ITSM_NFIELDS + 6)
#define NGX_HTTP_ITSM_VAR_LAST_SEEN   (NGX_HTTP_ITSM_NFIELDS + 7)
#define NGX_HTTP_ITSM_VAR_METHOD      (NGX_HTTP_ITSM_NFIELDS + 8)


static ngx_int_t ngx_http_itsm_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_itsm_vars[] = {

    { ngx_string("itsm_key"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_source"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_SOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_status"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_severity"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_SEVERITY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_title"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_TITLE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_resource"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_RESOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_severity_raw"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_SEVERITY_RAW, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_group_key"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_GROUP_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_starts_at"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_STARTS_AT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_ends_at"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_ENDS_AT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_link"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_LINK, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_configuration_items"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_target_ids"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_TARGET_IDS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_external_url"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_EXTERNAL_URL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_note"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_FIELD_NOTE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_ticket_id"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_TICKET_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_action"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_ACTION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_outcome"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_OUTCOME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_connector"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_CONNECTOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_upstream_status"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_ITSM_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_occurrences"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_OCCURRENCES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_first_seen"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_FIRST_SEEN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_last_seen"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_LAST_SEEN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("itsm_request_method"), NULL, ngx_http_itsm_variable,
      NGX_HTTP_ITSM_VAR_METHOD, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_itsm_variables_add(ngx_conf_t *cf)
{
    return ngx_http_itsm_conf_variables(cf, ngx_http_itsm_vars);
}


static ngx_int_t
ngx_http_itsm_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    int64_t               n;
    ngx_str_t             value;
    ngx_http_itsm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_itsm_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_str_null(&value);

    switch (data) {

    case NGX_HTTP_ITSM_VAR_TICKET_ID:
        value = ctx->tpl.ticket_id;
        break;

    case NGX_HTTP_ITSM_VAR_ACTION:
        if (ctx->dl.verify) {
            ngx_str_set(&value, "verify");   /* a probe serves no action */

        } else if (ctx->alert) {
            value = ngx_http_itsm_action_names[ctx->dl.action];
        }
        break;

    case NGX_HTTP_ITSM_VAR_OUTCOME:
        value = ctx->outcome;
        break;

    case NGX_HTTP_ITSM_VAR_CONNECTOR:
        if (ctx->connector) {
            value = ctx->connector->name;
        }
        break;

    case NGX_HTTP_ITSM_VAR_METHOD:

        /*
         * The method of the request to the ITSM, which $request_method
         * cannot give: in a subrequest it is the main request's (the
         * alert's POST).  In the ITSM location (log_subrequest on) it is
         * the subrequest's own, a lookup's GET included; in the alert's
         * location, that of the last action sent.
         */

        if (r != r->main) {
            value = r->method_name;

        } else if (ctx->alert && ctx->connector && ctx->dl.status
                   && ctx->connector->actions[ctx->dl.action])
        {
            value = ctx->connector->actions[ctx->dl.action]->method_name;
        }

        break;

    case NGX_HTTP_ITSM_VAR_OCCURRENCES:
    case NGX_HTTP_ITSM_VAR_FIRST_SEEN:
    case NGX_HTTP_ITSM_VAR_LAST_SEEN:
        if (ctx->alert == NULL || ctx->tpl.occurrences == 0) {
            break;
        }

        /* the times in Unix time, for log_format and map */

        if (data == NGX_HTTP_ITSM_VAR_OCCURRENCES) {
            n = ctx->tpl.occurrences;

        } else if (data == NGX_HTTP_ITSM_VAR_LAST_SEEN) {
            n = ctx->tpl.last_seen;

        } else {
            n = ctx->record.first_seen;
        }

        if (ngx_http_itsm_conf_variable_number(r, n, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_ITSM_VAR_ITSM_STATUS:
        if (ctx->dl.status == 0) {
            break;
        }

        if (ngx_http_itsm_conf_variable_number(r, ctx->dl.status, &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    default:
        if (ctx->alert) {
            value = ctx->alert->fields[data];
        }
        break;
    }

    ngx_http_itsm_conf_variable_value(v, &value);

    return NGX_OK;
}
