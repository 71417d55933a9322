
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

#include <ngx_md5.h>


/*
 * What a callback says: its body read whole and checked (size, depth, the
 * ITSM's signature), parsed by the location's profile or its JSON Pointers
 * into an event, and handed to the store.
 */


static ngx_int_t ngx_http_itsm_callback_read(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload);
static ngx_int_t ngx_http_itsm_callback_pointers(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload,
    ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_field(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload, ngx_str_t *pointer,
    size_t max, ngx_str_t *out);


ngx_int_t
ngx_http_itsm_callback_accept(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx)
{
    off_t                      len;
    ngx_int_t                  rc;
    ngx_str_t                  text;
    ngx_uint_t                 depth;
    json_t                    *payload;
    json_error_t               err;
    ngx_http_itsm_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    rc = ngx_http_itsm_util_body(r, ilcf->max_body, &text, &len);

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_callback_too_large(r);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->sig) {
        rc = ngx_http_itsm_callback_sig_verify(r, ctx->conf->conn, ctx->sig);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_http_itsm_callback_refuse(r,
                                             NGX_HTTP_ITSM_CB_UNAUTHORIZED,
                                             NGX_HTTP_UNAUTHORIZED,
                                             "signature_invalid",
                                             "no signature of the callback "
                                             "matches its body with this "
                                             "connector's secrets");
        }
    }

    if (text.len == 0) {
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_BAD_REQUEST,
                                             "empty_body",
                                             "the callback has no body");
    }

    if (ngx_http_itsm_json_check_depth(&text, ilcf->max_depth, &depth)
        != NGX_OK)
    {
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_BAD_REQUEST,
                                             "too_deep",
                                             "the JSON is nested deeper "
                                             "than itsm_max_depth allows");
    }

    payload = json_loadb((const char *) text.data, text.len,
                         JSON_REJECT_DUPLICATES, &err);

    if (payload == NULL) {
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_BAD_REQUEST,
                                             "invalid_json",
                                             "the body is not valid JSON");
    }

    if (ngx_http_itsm_json_cleanup_add(r->pool, payload) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!json_is_object(payload)) {
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_BAD_REQUEST,
                                             "invalid_callback",
                                             "the body is not a JSON object");
    }

    rc = ngx_http_itsm_callback_read(r, ctx, payload);

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_BAD_REQUEST,
                                             "invalid_callback",
                                             ctx->invalid);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->ignored) {
        return ngx_http_itsm_callback_pass(r, ctx, NGX_HTTP_ITSM_CB_IGNORED);
    }

    if (ctx->unmapped) {
        return ngx_http_itsm_callback_pass(r, ctx, NGX_HTTP_ITSM_CB_UNMAPPED);
    }

    /* LMDB applies it at once; Redis answers later
     * (ngx_http_itsm_callback_applied goes on then) */

    ctx->op.store = ctx->store;
    ctx->op.handler = ngx_http_itsm_callback_applied;
    ctx->op.data = r;

    rc = ngx_http_itsm_store_op_ticket(&ctx->op, &ctx->conf->conn->name,
                                       &ctx->cb, r->pool);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    return ngx_http_itsm_callback_stored(r, ctx, rc);
}


/*
 * The store's answer: a store that could not take the callback is
 * answered so that the ITSM sends it again (503, Retry-After); else the
 * answer once the change is on disk (LMDB's flush; Redis has applied it
 * when it answered).
 */

ngx_int_t
ngx_http_itsm_callback_stored(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_itsm_callback_count(r, NGX_HTTP_ITSM_CB_FAILED);

        if (ngx_http_itsm_reply_retry_after(r, NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "store_unavailable",
                                         "the store cannot take the "
                                         "callback now; send it again");
    }

    /* a 2xx means the change is on disk */

    ctx->sync.seq = ngx_http_itsm_store_last_sync(ctx->store);

    if (ctx->sync.seq) {
        rc = ngx_http_itsm_store_sync(ctx->store, &ctx->sync);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            ngx_http_itsm_callback_synced(&ctx->sync, NGX_ERROR);
            return NGX_DONE;
        }
    }

    return ngx_http_itsm_callback_answer(r, ctx);
}


/*
 * What the profile reads: the ticket and the status (both needed), the
 * event's id (a retried delivery has the same) and order (a later event
 * has a greater one), both optional for the generic profile; the ITSMs'
 * own profiles read their bodies (ngx_http_itsm_callback_profile.c).
 * NGX_DECLINED: the body is not what the profile reads (ctx->invalid).
 */

static ngx_int_t
ngx_http_itsm_callback_read(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload)
{
    u_char                              digest[16];
    ngx_int_t                           rc, state;
    ngx_md5_t                           md5;
    ngx_http_itsm_callback_event_t      ev;
    ngx_http_itsm_callback_loc_conf_t  *cblcf;

    cblcf = ctx->conf;

    ngx_memzero(&ev, sizeof(ngx_http_itsm_callback_event_t));

    if (cblcf->profile->parse) {
        rc = cblcf->profile->parse(r, payload, &ev);

        if (rc == NGX_OK && cblcf->ticket.len) {
            rc = ngx_http_itsm_callback_field(r, ctx, payload, &cblcf->ticket,
                                              NGX_HTTP_ITSM_TICKET_MAX,
                                              &ev.ticket);
        }

        if (rc == NGX_DECLINED && ev.invalid) {
            ctx->invalid = ev.invalid;
        }

    } else {
        rc = ngx_http_itsm_callback_pointers(r, ctx, payload, &ev);
    }

    if (rc == NGX_DONE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\": a %V event that "
                      "says nothing of a status; ignored", &cblcf->name,
                      &cblcf->profile->name);
        ctx->ignored = 1;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->status = ev.status;
    ctx->note = ev.note;
    ctx->event = ev.event;
    ctx->cb.ticket = ev.ticket;
    ctx->cb.order = ev.order;
    ctx->cb.event = 0;
    ctx->cb.in_assignee = ev.assignee;
    ctx->cb.by_key = cblcf->profile->by_key;

    if (ev.event.len) {
        ngx_md5_init(&md5);
        ngx_md5_update(&md5, ev.event.data, ev.event.len);
        ngx_md5_final(digest, &md5);

        ngx_memcpy(&ctx->cb.event, digest, sizeof(uint64_t));
        ctx->cb.event |= 1;                     /* 0 is "none" */
    }

    if (ev.status.len == 0) {

        /* a note and no status: the key's state stays; the way back runs
         * "on_ticket note" once per event (its id, else its order) */

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm callback: ticket \"%V\" a note of %uz bytes, "
                       "event \"%V\"", &ev.ticket, ev.note.len, &ev.event);

        ctx->cb.note = 1;
        ctx->cb.state = NGX_HTTP_ITSM_CALLBACK_NOTE;

        return NGX_OK;
    }

    state = ngx_http_itsm_callback_map(cblcf->conn, &ev.status);

    if (state == NGX_ERROR && ev.fallback.len) {
        state = ngx_http_itsm_callback_map(cblcf->conn, &ev.fallback);
    }

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback: ticket \"%V\" status \"%V\" (\"%V\") "
                   "state:%i event \"%V\" order:%uL", &ev.ticket, &ev.status,
                   &ev.fallback, state, &ev.event, ev.order);

    if (state == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\": the "
                      "status \"%V\" is not in its callback_status map; "
                      "nothing changes (map it to a lifecycle state)",
                      &cblcf->name, &ev.ticket, &ev.status);
        ctx->unmapped = 1;
        return NGX_OK;
    }

    ctx->cb.state = state;

    return NGX_OK;
}


/* the rt and generic profiles: the location's JSON Pointers */

static ngx_int_t
ngx_http_itsm_callback_pointers(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload,
    ngx_http_itsm_callback_event_t *ev)
{
    off_t                               order;
    ngx_int_t                           rc;
    ngx_str_t                           text;
    ngx_http_itsm_callback_loc_conf_t  *cblcf;

    cblcf = ctx->conf;

    ngx_str_null(&text);

    rc = ngx_http_itsm_callback_field(r, ctx, payload, &cblcf->ticket,
                                      NGX_HTTP_ITSM_TICKET_MAX, &ev->ticket);

    /* a note where the ITSM sends one (note=): with no status, the event
     * is a note-only one (an RT comment, a generic "note added") */

    if (rc == NGX_OK && cblcf->note.len) {
        rc = ngx_http_itsm_callback_note(r,
                                   ngx_http_itsm_json_pointer(payload,
                                                              &cblcf->note),
                                   &ev->note);
        if (rc == NGX_DECLINED) {
            rc = NGX_OK;                        /* a note is optional */
        }
    }

    if (rc == NGX_OK
        && (ev->note.len == 0
            || ngx_http_itsm_json_pointer(payload, &cblcf->status) != NULL))
    {
        rc = ngx_http_itsm_callback_field(r, ctx, payload, &cblcf->status,
                                          NGX_HTTP_ITSM_TICKET_MAX,
                                          &ev->status);
    }

    if (rc == NGX_OK && cblcf->event_id.len) {
        rc = ngx_http_itsm_callback_field(r, ctx, payload, &cblcf->event_id,
                                          NGX_HTTP_ITSM_CALLBACK_EVENT_MAX,
                                          &ev->event);
    }

    if (rc == NGX_OK && cblcf->order.len) {
        rc = ngx_http_itsm_callback_field(r, ctx, payload, &cblcf->order, 19,
                                          &text);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (text.len) {
        order = ngx_atoof(text.data, text.len);

        if (order == NGX_ERROR) {
            ctx->invalid = "the event's order is not a whole number";
            return NGX_DECLINED;
        }

        ev->order = (uint64_t) order;
    }

    return NGX_OK;
}


/* a string or a whole number at "pointer", as text of 1 to "max" bytes */

static ngx_int_t
ngx_http_itsm_callback_field(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload, ngx_str_t *pointer,
    size_t max, ngx_str_t *out)
{
    json_t  *v;

    v = ngx_http_itsm_json_pointer(payload, pointer);

    if (v == NULL || !(json_is_string(v) || json_is_integer(v))) {
        ctx->invalid = "a field the profile reads is missing, or not a "
                       "string or a whole number";
        return NGX_DECLINED;
    }

    if (ngx_http_itsm_json_scalar(v, r->pool, out) != NGX_OK) {
        return NGX_ERROR;
    }

    if (out->len == 0 || out->len > max) {
        ctx->invalid = "a field the profile reads is empty or too long";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
