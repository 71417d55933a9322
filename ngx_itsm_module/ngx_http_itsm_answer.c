
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_queue.h"


/*
 * Answers: the result of each alert and connector, the ticket id read from
 * a create's answer, the failure answers (the ITSM's own words, the
 * store's), and the JSON summary the sender gets.
 */


static ngx_int_t ngx_http_itsm_answer_ended(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_uint_t result, ngx_uint_t status,
    time_t retry);


/*
 * The ticket id at "pointer" in the ITSM's answer: a string of 1 to 64
 * bytes without control characters, or an integer.  NGX_OK: "id" is set;
 * NGX_DECLINED: the answer has no value there; NGX_ABORT: the answer or
 * the value cannot be used; "why" then says so, for the sender and the
 * log.
 */

ngx_int_t
ngx_http_itsm_answer_read_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *pointer, ngx_str_t *id,
    ngx_str_t *why)
{
    u_char                     *data, *p, *last;
    size_t                      len;
    json_t                     *doc, *value;
    ngx_uint_t                  i;
    const char                 *wrong;
    json_error_t                err;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;

    ngx_str_null(id);

    p = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_ERROR_TEXT_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    why->data = p;
    last = p + NGX_HTTP_ITSM_ERROR_TEXT_MAX;

    if (ctx->dl.truncated) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but its "
                                "answer is larger than max_response (%uz "
                                "bytes) of connector \"%V\"; the ticket id "
                                "could not be read", ctx->dl.status,
                                conn->max_response, &conn->name)
                   - p;
        return NGX_ABORT;
    }

    data = ngx_http_itsm_deliver_response(r, &ctx->dl, &len);
    if (data == NULL && len) {
        return NGX_ERROR;
    }

    doc = json_loadb((const char *) data, len, 0, &err);

    if (doc == NULL) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but not "
                                "with JSON (%s); the ticket id could not be "
                                "read", ctx->dl.status, err.text)
                   - p;
        return NGX_ABORT;
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, doc) != NGX_OK) {
        return NGX_ERROR;
    }

    value = ngx_http_itsm_json_pointer(doc, pointer);

    if (value == NULL || json_is_null(value)) {
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but its "
                                "answer has no ticket id at \"%V\" "
                                "(ticket_id of connector \"%V\")",
                                ctx->dl.status, pointer, &conn->name)
                   - p;
        return NGX_DECLINED;
    }

    wrong = NULL;

    if (json_is_integer(value)) {
        id->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (id->data == NULL) {
            return NGX_ERROR;
        }

        id->len = ngx_sprintf(id->data, "%L",
                              (int64_t) json_integer_value(value))
                  - id->data;

    } else if (!json_is_string(value)) {
        wrong = "not a string or an integer";

    } else if (json_string_length(value) == 0) {
        wrong = "empty";

    } else if (json_string_length(value) > NGX_HTTP_ITSM_TICKET_MAX) {
        wrong = "longer than 64 bytes";

    } else {
        id->data = (u_char *) json_string_value(value);
        id->len = json_string_length(value);

        for (i = 0; i < id->len; i++) {
            if (id->data[i] < 0x20 || id->data[i] == 0x7f) {
                wrong = "holding control characters";
                break;
            }
        }
    }

    if (wrong) {
        ngx_str_null(id);
        why->len = ngx_slprintf(p, last, "the ITSM answered %ui, but the "
                                "ticket id at \"%V\" is %s (ticket_id of "
                                "connector \"%V\")", ctx->dl.status, pointer,
                                wrong, &conn->name)
                   - p;
        return NGX_ABORT;
    }

    /* the id is ours, whatever becomes of the answer's JSON */

    p = ngx_pnalloc(r->pool, id->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, id->data, id->len);
    id->data = p;

    return NGX_OK;
}


/*
 * The result of the context's alert and connector, appended to the answer:
 * "action" the step done last, "ticket" (NULL or empty: none) copied into
 * the request's pool.  NULL when out of memory.
 */

ngx_http_itsm_result_t *
ngx_http_itsm_answer_push(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_action_e action, ngx_http_itsm_outcome_e outcome,
    ngx_str_t *ticket)
{
    ngx_http_itsm_result_t  *res;

    res = ngx_array_push(&ctx->results);
    if (res == NULL) {
        return NULL;
    }

    ngx_memzero(res, sizeof(ngx_http_itsm_result_t));

    res->alert = ctx->alert;
    res->connector = ctx->connector;
    res->key = ctx->key;
    res->action = action;
    res->outcome = outcome;

    if (ticket && ticket->len) {
        res->ticket_id.data = ngx_pstrdup(r->pool, ticket);
        if (res->ticket_id.data == NULL) {
            return NULL;
        }

        res->ticket_id.len = ticket->len;
    }

    return res;
}


ngx_int_t
ngx_http_itsm_answer_result(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_str_t *ticket)
{
    ngx_http_itsm_result_t  *res;

    res = ngx_http_itsm_answer_push(r, ctx,
                                    ctx->plan.nsteps
                                    ? ctx->plan.steps[ctx->plan.nsteps - 1]
                                    : NGX_HTTP_ITSM_ACTION_NONE,
                                    ctx->plan.outcome, ticket);
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res->reason = ctx->plan.reason;

    ctx->outcome = ngx_http_itsm_outcome_names[res->outcome];
    ctx->tpl.ticket_id = res->ticket_id;

    ngx_http_itsm_status_count(r, ctx->source, res->outcome);

    /*
     * What was pending for the key is superseded by a change sent, by a
     * replay with nothing left to send, and by a resolved alert (a queued
     * create or reopen must not come after it); not by a firing duplicate,
     * which says nothing new and is the path to keep cheap.
     */

    if (ctx->store
        && res->outcome != NGX_HTTP_ITSM_OUTCOME_QUEUED
        && !ctx->plan.coalesce
        && (ctx->replay || ctx->plan.nsteps
            || ctx->alert->state == NGX_HTTP_ITSM_RESOLVED))
    {
        (void) ngx_http_itsm_held_supersede(r, ctx);
    }

    if (ctx->dedup.len) {
        ngx_http_itsm_answer_t      ans;
        ngx_http_itsm_main_conf_t  *imcf;

        imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

        ans.action = res->action;
        ans.outcome = res->outcome;
        ans.body = ctx->body_hash;
        ans.ticket = res->ticket_id;

        if (ctx->dedup_key.len) {
            /* itsm_store redis: shared by the edges */
            ngx_http_itsm_dedup_answered(r, ctx, &ans);

        } else {
            ngx_http_itsm_zone_answer_put(imcf->zone, &ctx->dedup,
                                          ctx->conf->dedup_window, &ans);
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_itsm_answer_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *data;
    size_t                      len;
    json_t                     *body, *text;
    time_t                      retry;
    ngx_str_t                   esc;
    ngx_uint_t                  status, unavailable;
    ngx_http_itsm_connector_t  *conn;

    conn = ctx->connector;
    status = ctx->dl.status;

    unavailable = ngx_http_itsm_answer_unavailable(ctx);

    data = ngx_http_itsm_deliver_response(r, &ctx->dl, &len);
    if (data == NULL && len) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->dl.answered) {
        text = ngx_http_itsm_json_text(r->pool, data, len,
                                       NGX_HTTP_ITSM_ERROR_TEXT_MAX);

    } else if (ctx->dl.held) {
        status = 0;
        text = json_string(ngx_http_itsm_limit_said(ctx->dl.held_why, 1));

    } else {
        text = json_string("no answer from the ITSM: the connection was "
                           "refused, reset or timed out (see the error log)");
    }

    /* the ITSM's words escaped as JSON: a line break in them cannot
     * forge a line of the error log */

    esc.len = 0;
    esc.data = NULL;

    if (text) {
        esc.len = json_string_length(text);
        esc.len += ngx_escape_json(NULL, (u_char *) json_string_value(text),
                                   esc.len);
        esc.data = ngx_pnalloc(r->pool, esc.len ? esc.len : 1);
        if (esc.data == NULL) {
            json_decref(text);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_escape_json(esc.data, (u_char *) json_string_value(text),
                        json_string_length(text));
    }

    if (!ctx->dl.held) {   /* ngx_http_itsm_step_held() said why */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: connector \"%V\" %V: the ITSM answered %ui: "
                      "\"%V\"", &conn->name,
                      &ngx_http_itsm_action_names[ctx->dl.action], status,
                      &esc);
    }

    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    body = json_pack("{s:s, s:s%, s:s%, s:i, s:o*}",
                     "error", unavailable ? "itsm_unavailable"
                                          : "itsm_rejected",
                     "connector", conn->name.data, conn->name.len,
                     "action", ngx_http_itsm_action_names[ctx->dl.action].data,
                     ngx_http_itsm_action_names[ctx->dl.action].len,
                     "itsm_status", (int) status,
                     "itsm_error", text);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!unavailable) {
        return ngx_http_itsm_reply_json(r, NGX_HTTP_BAD_GATEWAY, body);
    }

    retry = ctx->dl.retry_after ? ctx->dl.retry_after
                                  : ctx->conf->retry_after;

    if (ngx_http_itsm_reply_retry_after(r, retry) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, body);
}


ngx_int_t
ngx_http_itsm_answer_store_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, const char *why)
{
    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    if (ngx_http_itsm_reply_retry_after(r, ctx->conf->retry_after) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "store_unavailable",
                                     "could not %s the state of key \"%V\" "
                                     "in the store; try again later",
                                     why, &ctx->key);
}


static ngx_str_t  ngx_http_itsm_outcome_processed = ngx_string("processed");


/*
 * {"status": "created", "alerts": [{"key": ..., "action": "create",
 *  "outcome": "created", "connector": "rt", "ticket_id": "20"}]}
 *
 * 201 when a ticket was created, 200 otherwise.
 */

ngx_int_t
ngx_http_itsm_answer_summary(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    u_char                     *p, *body;
    size_t                      len;
    ngx_str_t                  *status_name;
    ngx_uint_t                  i, status, replayed, queued;
    ngx_http_itsm_result_t     *res;

    /*
     * Formatted by hand rather than built with jansson: this answer is on
     * the path of every duplicate, where an allocation per field shows.
     */

    res = ctx->results.elts;
    status = NGX_HTTP_OK;
    replayed = 0;
    queued = 0;

    status_name = &ngx_http_itsm_outcome_names[res[0].outcome];

    len = sizeof("{\"status\":\"processed\",\"alerts\":[]}") - 1
          + status_name->len;

    for (i = 0; i < ctx->results.nelts; i++) {
        len += sizeof("{\"key\":\"\",\"action\":\"\",\"outcome\":\"\","
                      "\"connector\":\"\",\"ticket_id\":\"\","
                      "\"reason\":\"\",\"replayed\":true},") - 1
               + res[i].key.len + ngx_escape_json(NULL, res[i].key.data,
                                                  res[i].key.len)
               + ngx_http_itsm_action_names[res[i].action].len
               + ngx_http_itsm_outcome_names[res[i].outcome].len
               + (res[i].connector ? res[i].connector->name.len : 0)
               + res[i].ticket_id.len
               + ngx_escape_json(NULL, res[i].ticket_id.data,
                                 res[i].ticket_id.len)
               + (res[i].reason ? ngx_strlen(res[i].reason) : 0);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"%V\",\"alerts\":[",
                    ctx->results.nelts == 1 ? status_name
                    : &ngx_http_itsm_outcome_processed);

    for (i = 0; i < ctx->results.nelts; i++) {

        p = ngx_cpymem(p, i ? ",{\"key\":\"" : "{\"key\":\"",
                       i ? sizeof(",{\"key\":\"") - 1
                         : sizeof("{\"key\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, res[i].key.data, res[i].key.len);

        p = ngx_sprintf(p, "\",\"action\":\"%V\",\"outcome\":\"%V\"",
                        &ngx_http_itsm_action_names[res[i].action],
                        &ngx_http_itsm_outcome_names[res[i].outcome]);

        if (res[i].connector) {
            p = ngx_sprintf(p, ",\"connector\":\"%V\"",
                            &res[i].connector->name);
        }

        if (res[i].ticket_id.len) {
            p = ngx_cpymem(p, ",\"ticket_id\":\"",
                           sizeof(",\"ticket_id\":\"") - 1);
            p = (u_char *) ngx_escape_json(p, res[i].ticket_id.data,
                                           res[i].ticket_id.len);
            *p++ = '"';
        }

        if (res[i].reason) {
            p = ngx_sprintf(p, ",\"reason\":\"%s\"", res[i].reason);
        }

        /* the first answer again, and nothing sent this time */

        if (res[i].replayed) {
            p = ngx_cpymem(p, ",\"replayed\":true",
                           sizeof(",\"replayed\":true") - 1);
        }

        *p++ = '}';

        if (res[i].action == NGX_HTTP_ITSM_ACTION_CREATE
            && res[i].outcome != NGX_HTTP_ITSM_OUTCOME_QUEUED
            && !res[i].replayed)
        {
            status = NGX_HTTP_CREATED;
        }

        replayed += res[i].replayed;
        queued += (res[i].outcome == NGX_HTTP_ITSM_OUTCOME_QUEUED);
    }

    *p++ = ']';
    *p++ = '}';

    /* a delivery seen before: 200 and the first answer again */

    if (replayed == ctx->results.nelts) {
        status = NGX_HTTP_OK;
    }

    /* accepted, not yet done */

    if (status == NGX_HTTP_OK && queued) {
        status = NGX_HTTP_ACCEPTED;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm answer: %ui, %ui result(s), %ui replayed",
                   status, ctx->results.nelts, replayed);

    return ngx_http_itsm_reply_raw(r, status, body, p - body);
}


/* 408 and 429 are the ITSM asking for time, not refusing */

ngx_uint_t
ngx_http_itsm_answer_unavailable(ngx_http_itsm_ctx_t *ctx)
{
    return (ctx->dl.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
            || ctx->dl.status == NGX_HTTP_REQUEST_TIME_OUT
            || ctx->dl.status == NGX_HTTP_TOO_MANY_REQUESTS
            || ctx->dl.status < NGX_HTTP_OK);
}


/*
 * The claim this request joined (an identical alert, in flight when this
 * one came) has ended: its outcome answers this alert too, and nothing is
 * sent for it.  It is the last claim of the key to end, or the one before
 * when another claim (a different alert that waited too) came and went
 * since this request looked: deciding on its own then would act a second
 * time.  NGX_DECLINED: that claim sent nothing, or is neither of the two,
 * and this alert is decided on its own.
 */

ngx_int_t
ngx_http_itsm_answer_joined(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_itsm_record_t  *rec;

    rec = &ctx->record;

    if (rec->last_token == ctx->joined) {
        return ngx_http_itsm_answer_ended(r, ctx, rec->last_result,
                                          rec->last_status, rec->last_retry);
    }

    if (rec->prev_token == ctx->joined) {
        return ngx_http_itsm_answer_ended(r, ctx, rec->prev_result,
                                          rec->prev_status, rec->prev_retry);
    }

    if (!rec->pending || rec->token != ctx->joined) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: key \"%V\": the claim this alert joined is "
                      "neither of the last two to end (others came and went "
                      "before it looked again): it is decided on its own",
                      &ctx->key);
    }

    return NGX_DECLINED;
}


/* the joined claim ended so: "result", "status" and "retry" as the key's
 * record keeps them */

static ngx_int_t
ngx_http_itsm_answer_ended(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_uint_t result, ngx_uint_t status, time_t retry)
{
    json_t                     *body;
    ngx_uint_t                  unavailable;
    ngx_http_itsm_record_t     *rec;
    ngx_http_itsm_connector_t  *conn;

    rec = &ctx->record;
    conn = ctx->connector;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm: key \"%V\": the joined claim ended, result:%ui",
                   &ctx->key, result);

    ngx_memzero(&ctx->plan, sizeof(ngx_http_itsm_plan_t));

    switch (result) {

    case NGX_HTTP_ITSM_FLIGHT_DONE:
    case NGX_HTTP_ITSM_FLIGHT_QUEUED:

        /* the joined delivery's result is this alert's */

        if (result == NGX_HTTP_ITSM_FLIGHT_DONE) {
            ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_DUPLICATE;
            ctx->plan.reason = "an identical alert for this key was being "
                               "delivered when this one came; it joined it";

        } else {
            ctx->plan.outcome = NGX_HTTP_ITSM_OUTCOME_QUEUED;
            ctx->plan.reason = "an identical alert for this key was being "
                               "delivered when this one came, and is queued";
        }

        ctx->tpl.record = rec;
        return ngx_http_itsm_answer_result(r, ctx, &rec->ticket);

    case NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE:
    case NGX_HTTP_ITSM_FLIGHT_REFUSED:
    case NGX_HTTP_ITSM_FLIGHT_FAILED:
        break;

    default:
        return NGX_DECLINED;
    }

    unavailable = (result == NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE);

    ngx_str_set(&ctx->outcome, "failed");
    ngx_http_itsm_status_count(r, ctx->source,
                               NGX_HTTP_ITSM_OUTCOME_FAILED);

    body = json_pack("{s:s, s:s%, s:i, s:s}",
                     "error", unavailable ? "itsm_unavailable"
                              : (result == NGX_HTTP_ITSM_FLIGHT_REFUSED)
                                ? "itsm_rejected" : "itsm_bad_response",
                     "connector", conn->name.data, conn->name.len,
                     "itsm_status", (int) status,
                     "itsm_error", "an identical alert for this key was being "
                     "delivered when this one came, and failed; see the "
                     "error log for the ITSM's answer");
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!unavailable) {
        return ngx_http_itsm_reply_json(r, NGX_HTTP_BAD_GATEWAY, body);
    }

    if (retry == 0) {
        retry = ctx->conf->retry_after;
    }

    if (ngx_http_itsm_reply_retry_after(r, retry) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_reply_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, body);
}
