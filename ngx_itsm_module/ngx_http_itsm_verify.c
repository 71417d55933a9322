
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_verify.h"


/*
 * The verify probe: "do the connector's credentials still work?" asked
 * before an alert needs the answer.  A connector's "verify GET PATH" is
 * sent at start, after each reload and then every "every=" (5m) by the
 * kick (ngx_http_itsm_kick.c), through the replay location like a held
 * alert: the probe is an nginx subrequest to the connector's location,
 * so it goes out with the same proxy, headers and credentials as the
 * alerts do.  Its outcome (when, the ITSM's status, how long it took, and
 * the ITSM's own words when it failed) is kept in shared memory for the
 * registry (itsm_connectors, ngx_http_itsm_registry.c) and the status page.
 * The "verify" line itself is read with the lookups' (..._lookup.c).
 *
 * A 2xx is verified; anything else, or no answer, is not.  The probe
 * reads only (GET) and carries no alert, so its path has no placeholder.
 */


static void ngx_http_itsm_verify_done(ngx_http_request_t *r);
static void ngx_http_itsm_verify_keep(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_delivery_t *d,
    u_char *text, size_t len);


/* the probe is sent by the kick through the replay location, which
 * needs the store */

ngx_int_t
ngx_http_itsm_verify_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf)
{
    ngx_uint_t                   i;
    ngx_http_itsm_connector_t  **conn;

    conn = imcf->connectors.elts;

    /*
     * A store on Redis is enough too: the probe reads and writes nothing
     * in the store (the replay location answers {"verify": NAME} before
     * it looks at the store), and its outcome stays in this edge's
     * shared memory on purpose.  Each edge probes the ITSM with its own
     * credentials over its own network path, so each edge's registry
     * answers "can this edge deliver?"; one outcome shared in Redis
     * would let a verified edge hide one whose credentials or route are
     * wrong.  t/509 runs two edges on one Redis.
     */

    if (imcf->replay_url.len && imcf->store) {
        return NGX_OK;
    }

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (conn[i]->verify == NULL) {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui): \"verify\" is sent "
                      "through the replay location: declare \"itsm_store\" "
                      "and \"itsm_replay_url\" at http level and a location "
                      "with \"itsm_replay;\" (see README)", &conn[i]->name,
                      conn[i]->file, conn[i]->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* in the replay location: the probe of "conn", as a subrequest */

ngx_int_t
ngx_http_itsm_verify_replay(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn)
{
    ngx_http_itsm_ctx_t       *ctx;
    ngx_http_itsm_loc_conf_t  *conf;

    if (conn->verify == NULL) {
        return ngx_http_itsm_reply_error(r, NGX_HTTP_NOT_FOUND,
                                         "no_verify",
                                         "connector \"%V\" has no \"verify\" "
                                         "(any more)", &conn->name);
    }

    conf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    ctx = ngx_http_itsm_pipeline_ctx(r, conf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* no alert: an empty one, which the path does not use */

    ctx->alert = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_alert_t));
    if (ctx->alert == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->connector = conn;
    ctx->tpl.alert = ctx->alert;
    ctx->dl.connector = conn;
    ctx->dl.done = ngx_http_itsm_verify_done;
    ctx->dl.lookup = 1;
    ctx->dl.verify = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm verify: connector \"%V\": GET \"%V\"", &conn->name,
                   &conn->verify->request.uri->source);

    if (ngx_http_itsm_deliver(r, &ctx->dl, NGX_HTTP_ITSM_ACTION_CREATE,
                              &conn->verify->request)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* the ITSM answered the probe, or could not be reached */

static void
ngx_http_itsm_verify_done(ngx_http_request_t *r)
{
    u_char                     *data;
    size_t                      len;
    json_t                     *body;
    ngx_uint_t                  ok;
    ngx_http_itsm_ctx_t        *ctx;
    ngx_http_itsm_delivery_t   *d;
    ngx_http_itsm_connector_t  *conn;

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_module);
    d = &ctx->dl;
    conn = ctx->connector;

    ok = (d->status >= 200 && d->status < 300);

    /* the ITSM's words, as many bytes as the slot keeps: the registry
     * cuts them at a character and replaces what is not UTF-8 */

    data = ngx_http_itsm_deliver_response(r, d, &len);
    len = ok ? 0 : ngx_min(len, NGX_HTTP_ITSM_VERIFY_TEXT_MAX);

    ngx_http_itsm_verify_keep(r, conn, d, data, len);

    if (ok) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm verify: connector \"%V\" verified (%ui)",
                      &conn->name, d->status);

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm verify: connector \"%V\" failed its probe: the "
                      "ITSM answered %ui%s%s%*s%s", &conn->name, d->status,
                      d->answered ? "" : " (no answer)",
                      len ? ": \"" : "", len, data, len ? "\"" : "");
    }

    body = json_pack("{s:s%, s:b, s:i}",
                     "connector", conn->name.data, conn->name.len,
                     "verified", (int) ok, "itsm_status", (int) d->status);

    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_itsm_reply_json(r, NGX_HTTP_OK,
                                                          body));
}


/* the probe's outcome, in the connector's slot */

static void
ngx_http_itsm_verify_keep(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_delivery_t *d,
    u_char *text, size_t len)
{
    ngx_shmtx_t                *mutex;
    ngx_http_itsm_verify_sh_t  *v;

    v = ngx_http_itsm_registry_verify(r, conn, &mutex);
    if (v == NULL) {
        return;
    }

    ngx_shmtx_lock(mutex);

    v->at = ngx_time();
    v->status = d->status;
    v->ms = ngx_current_msec - d->start;
    v->ok = (d->status >= 200 && d->status < 300);
    v->probes++;

    if (v->ok) {
        v->last_ok = v->at;

    } else {
        v->failures++;
    }

    v->error_len = len;
    ngx_memcpy(v->error, text, len);

    ngx_shmtx_unlock(mutex);
}
