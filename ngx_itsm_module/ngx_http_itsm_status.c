
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"


/*
 * The status location ("itsm_status"): alerts by source and outcome,
 * actions by type and result, the store's keys and open tickets, and the
 * use of the store and the zone; as JSON, or in the Prometheus text
 * format with "itsm_status prometheus;" or "?format=prometheus".
 */


typedef struct {
    ngx_uint_t                   keys;
    ngx_uint_t                   open;
    ngx_uint_t                   resolved;
    ngx_uint_t                   pending;
    ngx_uint_t                   waiting;      /* queued deliveries */
    ngx_uint_t                   dead;         /* dead letters */
    size_t                       bytes;        /* the file, grown to */
    ngx_http_itsm_store_space_t  space;        /* used of size */
} ngx_http_itsm_status_store_t;


static ngx_int_t ngx_http_itsm_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_status_count_key(void *data, ngx_str_t *key,
    ngx_http_itsm_record_t *rec);
static json_t *ngx_http_itsm_status_json(ngx_http_itsm_main_conf_t *imcf,
    ngx_http_itsm_status_store_t *st);
static ngx_int_t ngx_http_itsm_status_prometheus(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_str_t *out);
static ngx_http_itsm_counters_t *ngx_http_itsm_status_counters(
    ngx_http_request_t *r);
static u_char *ngx_http_itsm_status_access(u_char *p, u_char *last);
static ngx_uint_t ngx_http_itsm_status_percent(
    ngx_http_itsm_store_space_t *space);


/* itsm_status [json|prometheus]; */

char *
ngx_http_itsm_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t                  *value;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_itsm_main_conf_t  *imcf;

    value = cf->args->elts;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (imcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"itsm_status\" needs the counters of an "
                           "\"itsm_zone\"; declare one at http level before "
                           "it, e.g. \"itsm_zone itsm:10m;\"");
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2
        && ngx_strcmp(value[1].data, "json") != 0
        && ngx_strcmp(value[1].data, "prometheus") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid itsm_status format \"%V\"; use json or "
                           "prometheus", &value[1]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "cannot be combined with another content handler";
    }

    clcf->handler = ngx_http_itsm_status_handler;

    ilcf->status_prometheus = (cf->args->nelts == 2
                               && value[1].data[0] == 'p');

    return NGX_CONF_OK;
}


void
ngx_http_itsm_status_count(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, ngx_http_itsm_outcome_e outcome)
{
    ngx_http_itsm_counters_t  *counters;

    counters = ngx_http_itsm_status_counters(r);

    if (counters) {
        (void) ngx_atomic_fetch_add(&counters->alerts[source][outcome], 1);
    }
}


void
ngx_http_itsm_status_count_action(ngx_http_request_t *r,
    ngx_http_itsm_action_e action, ngx_uint_t failed)
{
    ngx_http_itsm_counters_t  *counters;

    counters = ngx_http_itsm_status_counters(r);

    if (counters) {
        (void) ngx_atomic_fetch_add(&counters->actions[action][failed ? 1 : 0],
                                    1);
    }
}


/* itsm_access_total{result="..."}: requests the access phase judged */

static u_char *
ngx_http_itsm_status_access(u_char *p, u_char *last)
{
    json_t      *obj, *value;
    const char  *key;

    obj = ngx_http_itsm_access_status();
    if (obj == NULL) {
        return p;
    }

    p = ngx_slprintf(p, last,
                     "# HELP itsm_access_total Requests judged by the access "
                     "phase, by result.\n"
                     "# TYPE itsm_access_total counter\n");

    json_object_foreach(obj, key, value) {
        p = ngx_slprintf(p, last, "itsm_access_total{result=\"%s\"} %L\n",
                         key, (int64_t) json_integer_value(value));
    }

    json_decref(obj);

    return p;
}


static ngx_http_itsm_counters_t *
ngx_http_itsm_status_counters(ngx_http_request_t *r)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    return imcf->zone ? ngx_http_itsm_zone_counters(imcf->zone) : NULL;
}


static ngx_int_t
ngx_http_itsm_status_handler(ngx_http_request_t *r)
{
    u_char                        *data;
    size_t                         len;
    json_t                        *doc;
    ngx_int_t                      rc;
    ngx_str_t                      format, text;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    ngx_http_itsm_loc_conf_t      *ilcf;
    ngx_http_itsm_main_conf_t     *imcf;
    ngx_http_itsm_status_store_t   st;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    ngx_memzero(&st, sizeof(ngx_http_itsm_status_store_t));

    if (imcf->store
        && (ngx_http_itsm_store_iterate(imcf->store,
                                        ngx_http_itsm_status_count_key, &st)
            != NGX_OK
            || ngx_http_itsm_store_usage(imcf->store, &st.bytes, &len)
               != NGX_OK
            || ngx_http_itsm_store_pending_count(imcf->store, &st.waiting,
                                                 &st.dead)
               != NGX_OK
            || ngx_http_itsm_store_space(imcf->store, &st.space) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) != NGX_OK) {
        ngx_str_null(&format);
    }

    if ((format.len == 10
         && ngx_strncmp(format.data, "prometheus", 10) == 0)
        || (format.len == 0 && ilcf->status_prometheus))
    {
        if (ngx_http_itsm_status_prometheus(r, imcf, &st, &text) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");

    } else {
        doc = ngx_http_itsm_status_json(imcf, &st);
        if (doc == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        data = ngx_http_itsm_json_dump(doc, r->pool, &len);
        json_decref(doc);

        if (data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        text.data = data;
        text.len = len;

        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = text.len + 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, text.len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, text.data, text.len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_itsm_status_count_key(void *data, ngx_str_t *key,
    ngx_http_itsm_record_t *rec)
{
    ngx_http_itsm_status_store_t *st = data;

    st->keys++;

    if (rec->pending) {
        st->pending++;
    }

    if (rec->state == NGX_HTTP_ITSM_KEY_OPEN) {
        st->open++;

    } else if (rec->state == NGX_HTTP_ITSM_KEY_RESOLVED) {
        st->resolved++;
    }

    return NGX_OK;
}


static json_t *
ngx_http_itsm_status_json(ngx_http_itsm_main_conf_t *imcf,
    ngx_http_itsm_status_store_t *st)
{
    size_t                     size, free;
    json_t                    *doc, *alerts, *by, *actions;
    ngx_uint_t                 s, o, a, keys;
    ngx_http_itsm_counters_t  *c;

    c = ngx_http_itsm_zone_counters(imcf->zone);

    alerts = json_object();
    actions = json_object();

    if (alerts == NULL || actions == NULL) {
        json_decref(alerts);
        json_decref(actions);
        return NULL;
    }

    for (s = 0; s < NGX_HTTP_ITSM_NSOURCES; s++) {
        by = json_object();
        if (by == NULL) {
            goto failed;
        }

        for (o = 0; o < NGX_HTTP_ITSM_NOUTCOMES; o++) {
            json_object_set_new(by,
                (const char *) ngx_http_itsm_outcome_names[o].data,
                json_integer(c->alerts[s][o]));
        }

        json_object_set_new(alerts,
                            (const char *) ngx_http_itsm_source_names[s].data,
                            by);
    }

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {
        json_object_set_new(actions,
                            (const char *) ngx_http_itsm_action_names[a].data,
                            json_pack("{s:I, s:I}",
                                      "ok", (json_int_t) c->actions[a][0],
                                      "failed", (json_int_t) c->actions[a][1]));
    }

    ngx_http_itsm_zone_usage(imcf->zone, &size, &free, &keys);

    doc = json_pack("{s:o, s:o, s:{s:I, s:I, s:I}}",
                    "alerts", alerts, "actions", actions,
                    "zone", "bytes", (json_int_t) size,
                    "free_bytes", (json_int_t) free,
                    "keys", (json_int_t) keys);
    if (doc == NULL) {
        return NULL;
    }

    /* the access phase's refusals, by reason (docs/access.md) */

    json_object_set_new(doc, "access", ngx_http_itsm_access_status());

    /*
     * The store's use: "used_bytes" of "size_bytes" (its size=), in
     * percent, so that a store growing full is seen before it refuses
     * writes; "expired": resolved keys forgotten after "retention" (in
     * seconds: retention=, or its default).
     */

    if (imcf->store) {
        json_object_set_new(doc, "store",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                                      "s:I, s:I, s:I, s:I, s:I}",
                                      "keys", (json_int_t) st->keys,
                                      "open_tickets", (json_int_t) st->open,
                                      "resolved_tickets",
                                      (json_int_t) st->resolved,
                                      "claimed", (json_int_t) st->pending,
                                      "queued", (json_int_t) st->waiting,
                                      "dead_letters", (json_int_t) st->dead,
                                      "bytes", (json_int_t) st->bytes,
                                      "size_bytes",
                                      (json_int_t) st->space.size,
                                      "used_bytes",
                                      (json_int_t) st->space.used,
                                      "used_percent",
                                      (json_int_t) ngx_http_itsm_status_percent(
                                                                  &st->space),
                                      "expired", (json_int_t) c->expired,
                                      "retention",
                                      (json_int_t) imcf->retention));
    }

    return doc;

failed:

    json_decref(alerts);
    json_decref(actions);
    return NULL;
}


static ngx_int_t
ngx_http_itsm_status_prometheus(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_str_t *out)
{
    u_char                    *p, *last;
    size_t                     size, free, len;
    ngx_uint_t                 s, o, a, keys;
    ngx_http_itsm_counters_t  *c;

    c = ngx_http_itsm_zone_counters(imcf->zone);

    len = 2048 + NGX_HTTP_ITSM_NSOURCES * NGX_HTTP_ITSM_NOUTCOMES * 128
          + NGX_HTTP_ITSM_NACTIONS * 2 * 128
          + NGX_HTTP_ITSM_ACCESS_NREASONS * 128;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    last = p + len;

    p = ngx_slprintf(p, last,
                     "# HELP itsm_alerts_total Alerts received, by source "
                     "and outcome.\n"
                     "# TYPE itsm_alerts_total counter\n");

    for (s = 0; s < NGX_HTTP_ITSM_NSOURCES; s++) {
        for (o = 0; o < NGX_HTTP_ITSM_NOUTCOMES; o++) {
            p = ngx_slprintf(p, last,
                             "itsm_alerts_total{source=\"%V\",outcome=\"%V\"}"
                             " %uA\n", &ngx_http_itsm_source_names[s],
                             &ngx_http_itsm_outcome_names[o],
                             c->alerts[s][o]);
        }
    }

    p = ngx_slprintf(p, last,
                     "# HELP itsm_actions_total Requests sent to ITSMs, by "
                     "action and result.\n"
                     "# TYPE itsm_actions_total counter\n");

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {
        p = ngx_slprintf(p, last,
                         "itsm_actions_total{action=\"%V\",result=\"ok\"} %uA\n"
                         "itsm_actions_total{action=\"%V\",result=\"failed\"} "
                         "%uA\n",
                         &ngx_http_itsm_action_names[a], c->actions[a][0],
                         &ngx_http_itsm_action_names[a], c->actions[a][1]);
    }

    p = ngx_http_itsm_status_access(p, last);

    ngx_http_itsm_zone_usage(imcf->zone, &size, &free, &keys);

    p = ngx_slprintf(p, last,
                     "# TYPE itsm_zone_bytes gauge\nitsm_zone_bytes %uz\n"
                     "# TYPE itsm_zone_free_bytes gauge\n"
                     "itsm_zone_free_bytes %uz\n"
                     "# TYPE itsm_zone_keys gauge\nitsm_zone_keys %ui\n",
                     size, free, keys);

    if (imcf->store) {
        p = ngx_slprintf(p, last,
                         "# TYPE itsm_store_keys gauge\nitsm_store_keys %ui\n"
                         "# TYPE itsm_tickets_open gauge\n"
                         "itsm_tickets_open %ui\n"
                         "# TYPE itsm_tickets_resolved gauge\n"
                         "itsm_tickets_resolved %ui\n"
                         "# TYPE itsm_store_claimed gauge\n"
                         "itsm_store_claimed %ui\n"
                         "# HELP itsm_queue_waiting Deliveries kept in the "
                         "store, to be sent when due.\n"
                         "# TYPE itsm_queue_waiting gauge\n"
                         "itsm_queue_waiting %ui\n"
                         "# HELP itsm_queue_dead Deliveries that failed "
                         "every attempt (itsm_requeue sends them again).\n"
                         "# TYPE itsm_queue_dead gauge\n"
                         "itsm_queue_dead %ui\n"
                         "# TYPE itsm_store_bytes gauge\n"
                         "itsm_store_bytes %uz\n"
                         "# HELP itsm_store_size_bytes The most the store "
                         "can hold (itsm_store size=).\n"
                         "# TYPE itsm_store_size_bytes gauge\n"
                         "itsm_store_size_bytes %uz\n"
                         "# HELP itsm_store_used_bytes What the store uses; "
                         "at its size, writes fail.\n"
                         "# TYPE itsm_store_used_bytes gauge\n"
                         "itsm_store_used_bytes %uz\n"
                         "# HELP itsm_store_expired_total Resolved keys "
                         "forgotten after retention=.\n"
                         "# TYPE itsm_store_expired_total counter\n"
                         "itsm_store_expired_total %uA\n"
                         "# HELP itsm_store_retention_seconds How long a "
                         "resolved key is kept.\n"
                         "# TYPE itsm_store_retention_seconds gauge\n"
                         "itsm_store_retention_seconds %T\n",
                         st->keys, st->open, st->resolved, st->pending,
                         st->waiting, st->dead, st->bytes, st->space.size,
                         st->space.used, c->expired, imcf->retention);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/* rounded down: 100 only when nothing is left */

static ngx_uint_t
ngx_http_itsm_status_percent(ngx_http_itsm_store_space_t *space)
{
    if (space->size == 0) {
        return 0;
    }

    return (ngx_uint_t) (space->used * 100 / space->size);
}
