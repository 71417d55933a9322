
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_redis.h"



/*
 * Delivery ids: a delivery seen again within the window gets its first
 * answer again and changes nothing.  The id is the sender's own header
 * (bound to the body it came with), a template's, or what the source
 * sends again for the same event.
 */


static ngx_uint_t ngx_http_itsm_dedup_on_redis(
    ngx_http_itsm_main_conf_t *imcf);
static uint64_t ngx_http_itsm_dedup_body_hash(ngx_http_itsm_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_dedup_seen(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_answer_t *ans, ngx_str_t *id);
static ngx_int_t ngx_http_itsm_dedup_redis(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_main_conf_t *imcf);
static void ngx_http_itsm_dedup_redis_got(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_dedup_redis_read(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_itsm_dedup_unavailable(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
static void ngx_http_itsm_dedup_redis_written(void *data, redisReply *reply,
    ngx_str_t *error);
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
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ngx_str_null(&ctx->dedup);
    ngx_str_null(&ctx->dedup_key);
    ctx->dedup_owner = 0;
    per_alert = 0;

    /* a replay is not a delivery of its own: what it stands for was.
     * With "itsm_store redis" the ids are Redis' (every edge sees them),
     * so no zone is needed for them */

    if ((imcf->zone == NULL && !ngx_http_itsm_dedup_on_redis(imcf))
        || ctx->conf->dedup_off || ctx->replay)
    {
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
    ctx->dedup_id = id;

    if (ngx_http_itsm_dedup_on_redis(imcf)) {
        return ngx_http_itsm_dedup_redis(r, ctx, imcf);
    }

    if (ngx_http_itsm_zone_answer_get(imcf->zone, &ctx->dedup, &ans)
        != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm dedup: delivery \"%V\" is new", &id);
        return NGX_DECLINED;
    }

    return ngx_http_itsm_dedup_seen(r, ctx, &ans, &id);
}


/*
 * A delivery whose id was seen with an answer (the zone's or Redis'): its
 * first answer again, or 422 when the sender's own id comes with another
 * body.
 */

static ngx_int_t
ngx_http_itsm_dedup_seen(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_answer_t *ans, ngx_str_t *id)
{
    ngx_http_itsm_result_t  *res;

    if (ctx->body_hash && ans->body && ans->body != ctx->body_hash) {
        ngx_str_set(&ctx->outcome, "refused");
        ngx_http_itsm_status_count(r, ctx->source,
                                   NGX_HTTP_ITSM_OUTCOME_REFUSED);

        return ngx_http_itsm_reply_error(r, 422,
                                         "idempotency_key_reused",
                                         "the delivery id \"%V\" was used "
                                         "before with another body; a retry "
                                         "sends the same body, a new alert "
                                         "needs a new id", id);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "itsm: delivery \"%V\" was seen before: its first answer "
                  "is given again", id);

    res = ngx_http_itsm_answer_push(r, ctx, ans->action, ans->outcome,
                                    &ans->ticket);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res->replayed = 1;

    ctx->outcome = ngx_http_itsm_outcome_names[NGX_HTTP_ITSM_OUTCOME_DUPLICATE];
    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_DUPLICATE);

    return NGX_OK;
}


/*
 * Delivery ids in Redis (itsm_store redis): every edge sees them, so a
 * retry that lands on another edge is still a duplicate.  One key per id,
 * P{d:CONNECTOR:ID[:INDEX]}, in its own slot:
 *
 *   "p BODY"                        a copy is in flight (SET NX PX window:
 *                                   the first copy writes it, and owns the
 *                                   first answer)
 *   "a BODY ACTION OUTCOME TICKET"  its first answer (SET XX PX window by
 *                                   the owner, as the zone keeps it for
 *                                   "window" from the answer)
 *
 * BODY is the hash of the body for the sender's own id (16 hex, 0: none),
 * so a reused Idempotency-Key is refused (422) on every edge.  A copy that
 * finds "p" goes on as one does on one edge when the zone has no answer
 * yet: the store's claim joins the copies, nothing is sent twice.  Redis
 * unreachable: 503 with Retry-After, as for the store.
 */

static ngx_uint_t
ngx_http_itsm_dedup_on_redis(ngx_http_itsm_main_conf_t *imcf)
{
    return imcf->store && imcf->redis
           && ngx_http_itsm_store_on_redis(imcf->store);
}


static ngx_int_t
ngx_http_itsm_dedup_redis(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_main_conf_t *imcf)
{
    u_char                     *p, *v;
    size_t                      len;
    ngx_str_t                  *prefix;
    ngx_msec_int_t              window;
    ngx_http_itsm_redis_cmd_t  *cmd;

    prefix = ngx_http_itsm_redis_prefix(imcf->redis);

    len = prefix->len + sizeof("{d:}") - 1 + ctx->dedup.len;

    ctx->dedup_key.data = ngx_pnalloc(r->pool, len);
    if (ctx->dedup_key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->dedup_key.data, prefix->data, prefix->len);
    p = ngx_cpymem(p, "{d:", 3);

    /* the id's parts apart by ':' rather than NUL, for redis-cli's eyes */
    for (v = ctx->dedup.data; v < ctx->dedup.data + ctx->dedup.len; v++) {
        *p++ = *v ? *v : ':';
    }

    *p++ = '}';
    ctx->dedup_key.len = p - ctx->dedup_key.data;

    v = ngx_pnalloc(r->pool, sizeof("p ") - 1 + 16);
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(v, "p %016xL", ctx->body_hash);

    window = ngx_max((ngx_msec_int_t) ctx->conf->dedup_window * 1000, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm dedup: delivery \"%V\" looked up in redis as \"%V\"",
                   &ctx->dedup_id, &ctx->dedup_key);

    /* SET NX GET (Redis 7.0): the pending mark written if there is none,
     * what was there returned, in one command */

    cmd = ngx_http_itsm_redis_command(imcf->redis,
                                      ngx_http_itsm_dedup_redis_got, ctx,
                                      "SET %b %b NX PX %lld GET",
                                      ctx->dedup_key.data,
                                      ctx->dedup_key.len,
                                      v, (size_t) (p - v), (long long) window);
    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm dedup: delivery \"%V\" could not be looked up "
                      "in redis: %V", &ctx->dedup_id,
                      ngx_http_itsm_redis_error(imcf->redis));
        return ngx_http_itsm_dedup_unavailable(r, ctx);
    }

    ctx->dedup_cmd = cmd;

    return NGX_AGAIN;
}


/* Redis answered the look-up: the alert goes on as the pipeline's would */

static void
ngx_http_itsm_dedup_redis_got(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    ctx->dedup_cmd = NULL;
    r = ngx_http_itsm_pipeline_event_start(ctx);

    if (error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm dedup: no answer from redis for delivery "
                      "\"%V\": %V", &ctx->dedup_id, error);
        rc = ngx_http_itsm_dedup_unavailable(r, ctx);

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm dedup: redis refused the look-up of delivery "
                      "\"%V\": %*s", &ctx->dedup_id,
                      (size_t) reply->len, reply->str);
        rc = ngx_http_itsm_dedup_unavailable(r, ctx);

    } else {
        rc = ngx_http_itsm_dedup_redis_read(r, ctx, reply);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_itsm_pipeline_deduped(r, ctx);
    }

    ngx_http_itsm_pipeline_event_end(r, ctx, rc);
}


/* 16 hex digits (the body's hash) at "p"; "last" past them */

static ngx_int_t
ngx_http_itsm_dedup_hex(u_char *p, u_char *last, uint64_t *v)
{
    u_char  c;

    if (last - p < 16) {
        return NGX_ERROR;
    }

    *v = 0;

    for (last = p + 16; p < last; p++) {
        c = (u_char) (*p | 0x20);

        if (c >= '0' && c <= '9') {
            *v = (*v << 4) | (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            *v = (*v << 4) | (c - 'a' + 10);

        } else {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_dedup_redis_read(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, redisReply *reply)
{
    u_char                  *p, *last, *f;
    ngx_int_t                n;
    ngx_http_itsm_answer_t   ans;

    if (reply->type == REDIS_REPLY_NIL) {
        /* ours: the first copy, whose answer is kept */
        ctx->dedup_owner = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm dedup: delivery \"%V\" is new", &ctx->dedup_id);
        return NGX_DECLINED;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->len < 2) {
        goto invalid;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    ngx_memzero(&ans, offsetof(ngx_http_itsm_answer_t, ticket_data));

    if (p[1] != ' '
        || ngx_http_itsm_dedup_hex(p + 2, last, &ans.body) != NGX_OK)
    {
        goto invalid;
    }

    if (p[0] == 'p') {
        /* a copy in flight, here or on another edge: a reused id is
         * refused already; else it goes on and the store joins them */

        if (ctx->body_hash && ans.body && ans.body != ctx->body_hash) {
            return ngx_http_itsm_dedup_seen(r, ctx, &ans, &ctx->dedup_id);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm: a copy of delivery \"%V\" is in flight: this "
                      "one goes on, and the store's claim joins them",
                      &ctx->dedup_id);
        return NGX_DECLINED;
    }

    if (p[0] != 'a') {
        goto invalid;
    }

    /* "a BODY ACTION OUTCOME TICKET" */

    p += 2 + 16;

    for (n = 0; n < 2; n++) {
        if (p == last || *p++ != ' ') {
            goto invalid;
        }

        f = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (n == 0) {
            ans.action = ngx_atoi(f, p - f);

        } else {
            ans.outcome = ngx_atoi(f, p - f);
        }
    }

    if ((ngx_int_t) ans.action == NGX_ERROR
        || ans.action > NGX_HTTP_ITSM_ACTION_NONE
        || (ngx_int_t) ans.outcome == NGX_ERROR
        || ans.outcome >= NGX_HTTP_ITSM_NOUTCOMES
        || p == last || *p++ != ' '
        || (size_t) (last - p) > NGX_HTTP_ITSM_TICKET_MAX)
    {
        goto invalid;
    }

    ans.ticket.len = last - p;
    ans.ticket.data = ans.ticket_data;
    ngx_memcpy(ans.ticket_data, p, ans.ticket.len);

    return ngx_http_itsm_dedup_seen(r, ctx, &ans, &ctx->dedup_id);

invalid:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm dedup: the redis key \"%V\" of delivery \"%V\" holds "
                  "what this module does not write; is prefix= shared with "
                  "something else?", &ctx->dedup_key, &ctx->dedup_id);

    return ngx_http_itsm_dedup_unavailable(r, ctx);
}


/* as for a store that cannot be read: 503 with Retry-After, nothing sent */

static ngx_int_t
ngx_http_itsm_dedup_unavailable(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->source, NGX_HTTP_ITSM_OUTCOME_FAILED);

    if (ngx_http_itsm_reply_retry_after(r, ctx->conf->retry_after) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "store_unavailable",
                                     "could not look up the delivery id "
                                     "\"%V\" in the store; try again later",
                                     &ctx->dedup_id);
}


/*
 * The first answer of a delivery whose pending mark this request wrote:
 * kept for "window" (fire and forget: when it is lost, a retry finds the
 * pending mark and goes on, and the store makes it a duplicate).
 */

void
ngx_http_itsm_dedup_answered(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_answer_t *ans)
{
    u_char                     *v, *p;
    size_t                      tlen;
    ngx_msec_int_t              window;
    ngx_http_itsm_main_conf_t  *imcf;

    if (!ctx->dedup_owner) {
        /* another copy wrote the mark: the first answer is its */
        return;
    }

    ctx->dedup_owner = 0;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    tlen = ngx_min(ans->ticket.len, NGX_HTTP_ITSM_TICKET_MAX);

    v = ngx_pnalloc(r->pool, sizeof("a  ") - 1 + 16 + 2 * NGX_INT_T_LEN + 1
                             + tlen);
    if (v == NULL) {
        return;
    }

    p = ngx_sprintf(v, "a %016xL %ui %ui %*s", ans->body, ans->action,
                    ans->outcome, tlen, ans->ticket.data);

    window = ngx_max((ngx_msec_int_t) ctx->conf->dedup_window * 1000, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm dedup: the answer of delivery \"%V\" kept: \"%*s\"",
                   &ctx->dedup_id, p - v, v);

    if (ngx_http_itsm_redis_command(imcf->redis,
                                    ngx_http_itsm_dedup_redis_written, NULL,
                                    "SET %b %b XX PX %lld",
                                    ctx->dedup_key.data, ctx->dedup_key.len,
                                    v, (size_t) (p - v), (long long) window)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm dedup: the answer of delivery \"%V\" could not "
                      "be kept in redis (%V): a retry goes to the store",
                      &ctx->dedup_id,
                      ngx_http_itsm_redis_error(imcf->redis));
    }
}


static void
ngx_http_itsm_dedup_redis_written(void *data, redisReply *reply,
    ngx_str_t *error)
{
    if (error) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm dedup: an answer kept in redis got no answer "
                      "(%V): a retry goes to the store", error);

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm dedup: redis refused to keep an answer: %*s",
                      (size_t) reply->len, reply->str);
    }
}


/* the request went away while its look-up was in flight */

void
ngx_http_itsm_dedup_cancel(ngx_http_itsm_ctx_t *ctx)
{
    if (ctx->dedup_cmd) {
        ngx_http_itsm_redis_cancel(ctx->dedup_cmd);
        ctx->dedup_cmd = NULL;
    }
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
