
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"



/*
 * Delivery ids: a delivery seen again within the window gets its first
 * answer again and changes nothing.  The id is the sender's own header
 * (bound to the body it came with), a template's, or what the source
 * sends again for the same event.
 */


static uint64_t ngx_http_itsm_dedup_body_hash(ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_dedup_source_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id);


/*
 * A delivery seen before (same delivery id, within the window) gets the
 * first answer again and changes nothing: NGX_OK with its result pushed.
 * NGX_DECLINED: a new delivery, ctx->dedup holds its id (may be empty).
 */

ngx_int_t
ngx_http_itsm_dedup_check(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *p;
    ngx_str_t                   id, *name;
    ngx_uint_t                  per_alert;
    ngx_table_elt_t            *h;
    ngx_http_itsm_answer_t      ans;
    ngx_http_itsm_result_t     *res;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ngx_str_null(&ctx->dedup);
    per_alert = 0;

    /* a replay is not a delivery of its own: what it stands for was */

    if (imcf->zone == NULL || ctx->conf->dedup_off || ctx->replay) {
        return NGX_DECLINED;
    }

    if (ctx->conf->dedup) {
        if (ngx_http_itsm_tpl_render(ctx->conf->dedup, &ctx->tpl, r->pool,
                                     &id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        h = ngx_http_itsm_util_header(r, "Idempotency-Key");

        if (h == NULL) {
            h = ngx_http_itsm_util_header(r, "webhook-id");
        }

        if (h) {
            id = h->value;

            /* the sender's own id names one delivery: the same id with
             * another body is a mistake, not a retry (as Stripe has it) */

            ctx->body_hash = ngx_http_itsm_dedup_body_hash(ctx);

        } else if (ngx_http_itsm_dedup_source_id(r, ctx, &id) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            /* already one id per alert */
            per_alert = 1;
        }
    }

    if (id.len == 0) {
        return NGX_DECLINED;
    }

    /* "connector \0 id [\0 index]": the alerts of one delivery apart */

    name = &ctx->connector->name;

    ctx->dedup.data = ngx_pnalloc(r->pool, name->len + id.len + 2
                                           + NGX_INT_T_LEN);
    if (ctx->dedup.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->dedup.data, name->data, name->len);
    *p++ = '\0';
    p = ngx_cpymem(p, id.data, id.len);

    if (ctx->alerts.nelts > 1 && !per_alert) {
        p = ngx_sprintf(p, "%Z%ui", ctx->index);
    }

    ctx->dedup.len = p - ctx->dedup.data;

    if (ngx_http_itsm_zone_answer_get(imcf->zone, &ctx->dedup, &ans)
        != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm dedup: delivery \"%V\" is new", &id);
        return NGX_DECLINED;
    }

    if (ctx->body_hash && ans.body && ans.body != ctx->body_hash) {
        ngx_str_set(&ctx->outcome, "refused");
        ngx_http_itsm_status_count(r, ctx->source,
                                   NGX_HTTP_ITSM_OUTCOME_REFUSED);

        return ngx_http_itsm_reply_error(r, 422,
                                         "idempotency_key_reused",
                                         "the delivery id \"%V\" was used "
                                         "before with another body; a retry "
                                         "sends the same body, a new alert "
                                         "needs a new id", &id);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: delivery \"%V\" was seen before: its first answer "
                  "is given again", &id);

    res = ngx_http_itsm_answer_push(r, ctx, ans.action, ans.outcome,
                                    &ans.ticket);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res->replayed = 1;

    ctx->outcome = ngx_http_itsm_outcome_names[NGX_HTTP_ITSM_OUTCOME_DUPLICATE];
    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_DUPLICATE);

    return NGX_OK;
}


/* the hash of the request's body, as it was sent */

static uint64_t
ngx_http_itsm_dedup_body_hash(ngx_http_itsm_ctx_t *ctx)
{
    return ngx_http_itsm_hash_end(ngx_http_itsm_hash(0, ctx->body.data,
                                                     ctx->body.len));
}


/*
 * A delivery's id when the request names none, from what each source
 * sends again for the same event: Alertmanager and Grafana resend a group
 * (fingerprint, status, startsAt), Azure retries a notification (alertId,
 * monitorCondition).  Empty: the source has none.
 */

static ngx_int_t
ngx_http_itsm_dedup_source_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *id)
{
    u_char                 *p;
    ngx_str_t              *f;
    ngx_http_itsm_alert_t  *alert;

    ngx_str_null(id);

    alert = ctx->alert;
    f = alert->fields;

    switch (ctx->source) {

    case NGX_HTTP_ITSM_SOURCE_ALERTMANAGER:
    case NGX_HTTP_ITSM_SOURCE_GRAFANA:
    case NGX_HTTP_ITSM_SOURCE_AZURE:
        break;

    default:
        return NGX_OK;
    }

    id->data = ngx_pnalloc(r->pool, f[NGX_HTTP_ITSM_FIELD_KEY].len
                                    + f[NGX_HTTP_ITSM_FIELD_STATUS].len
                                    + f[NGX_HTTP_ITSM_FIELD_STARTS_AT].len
                                    + 2);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(id->data, "%V:%V", &f[NGX_HTTP_ITSM_FIELD_KEY],
                    &f[NGX_HTTP_ITSM_FIELD_STATUS]);

    if (ctx->source != NGX_HTTP_ITSM_SOURCE_AZURE) {
        p = ngx_sprintf(p, ":%V", &f[NGX_HTTP_ITSM_FIELD_STARTS_AT]);
    }

    id->len = p - id->data;

    return NGX_OK;
}


/*
 * itsm_dedup off | TEMPLATE [window=TIME];
 *
 * The id of a delivery, so that a delivery seen again gets the first
 * answer and changes nothing.  Without the directive: the Idempotency-Key
 * or the webhook-id (Standard Webhooks) header of the request.
 */

char *
ngx_http_itsm_dedup_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t  *value, s;

    if (ilcf->dedup_off != NGX_CONF_UNSET
        || ilcf->dedup != NGX_CONF_UNSET_PTR)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameter after \"off\"";
        }

        ilcf->dedup_off = 1;
        return NGX_CONF_OK;
    }

    ilcf->dedup_off = 0;
    ilcf->dedup = ngx_http_itsm_tpl_compile(cf, &value[1],
                                            NGX_HTTP_ITSM_ESCAPE_HEADER);
    if (ilcf->dedup == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (!ngx_http_itsm_conf_param(&value[2], "window=", &s)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"; expected "
                               "window=TIME", &value[2]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_itsm_conf_time(cf, &s, 0, NGX_MAX_TIME_T_VALUE,
                                    &ilcf->dedup_window, "window",
                                    "; e.g. window=1h")
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
