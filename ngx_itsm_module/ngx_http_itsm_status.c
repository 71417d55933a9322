
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_status.h"
#include "ngx_http_itsm_store_queue.h"
#include "ngx_http_itsm_redis.h"


/*
 * The status location ("itsm_status"): alerts by source and outcome,
 * actions by type and result, the store's keys and open tickets, and the
 * use of the store and the zone, and the counters other modules provide
 * (ngx_http_itsm_status_provide()); as JSON, or in the Prometheus text
 * format with "itsm_status prometheus;" or "?format=prometheus".
 */


#define NGX_HTTP_ITSM_STATUS_PROVIDERS_MAX  8


typedef struct {
    ngx_uint_t                   keys;
    ngx_uint_t                   open;
    ngx_uint_t                   resolved;
    ngx_uint_t                   pending;
    ngx_uint_t                   waiting;      /* queued deliveries */
    ngx_uint_t                   dead;         /* dead letters */
    ngx_uint_t                   queue_known;  /* on Redis: it answered */
    size_t                       bytes;        /* the file, grown to */
    ngx_http_itsm_store_space_t  space;        /* used of size */
} ngx_http_itsm_status_store_t;


/* the page waiting for the queue's counts on Redis */

typedef struct {
    ngx_http_request_t            *request;
    ngx_http_itsm_redis_cmd_t     *cmd;        /* in flight */
    ngx_http_itsm_status_store_t   st;
} ngx_http_itsm_status_waiter_t;


/* what a provider counted for one request of the page */

typedef struct {
    ngx_http_itsm_status_provider_t  *provider;
    ngx_str_t                        *group;   /* its group label, if any */
    ngx_array_t                       counts;  /* ngx_http_itsm_status_count_t */
} ngx_http_itsm_status_part_t;


static ngx_int_t ngx_http_itsm_status_handler(ngx_http_request_t *r);
static void ngx_http_itsm_status_cleanup(void *data);
static void ngx_http_itsm_status_counted(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_status_send(ngx_http_request_t *r,
    ngx_http_itsm_status_store_t *st);
static ngx_int_t ngx_http_itsm_status_count_key(void *data, ngx_str_t *key,
    ngx_http_itsm_record_t *rec);
static ngx_int_t ngx_http_itsm_status_parts(ngx_http_request_t *r,
    ngx_array_t *parts);
static json_t *ngx_http_itsm_status_json(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_array_t *parts);
static ngx_int_t ngx_http_itsm_status_json_parts(ngx_http_request_t *r,
    json_t *doc, ngx_array_t *parts);
static ngx_int_t ngx_http_itsm_status_prometheus(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_array_t *parts, ngx_str_t *out);
static u_char *ngx_http_itsm_status_prometheus_parts(u_char *p, u_char *last,
    ngx_array_t *parts);
static char *ngx_http_itsm_status_cstr(ngx_pool_t *pool, ngx_str_t *s);
static ngx_http_itsm_counters_t *ngx_http_itsm_status_counters(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_itsm_status_percent(
    ngx_http_itsm_store_space_t *space);


/*
 * The providers are static structures of the modules of this .so: the
 * table keeps nothing of a configuration's pools, so a reload that fails
 * cannot leave it pointing into freed memory.  Each configuration
 * registers its providers again, and a provider keeps its place.
 */

static ngx_http_itsm_status_provider_t
    *ngx_http_itsm_status_providers[NGX_HTTP_ITSM_STATUS_PROVIDERS_MAX];
static ngx_uint_t  ngx_http_itsm_status_nproviders;
static ngx_str_t   ngx_http_itsm_status_groups[NGX_HTTP_ITSM_STATUS_PROVIDERS_MAX];


/* itsm_status [json|prometheus]; */

char *
ngx_http_itsm_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t                  *value;
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

    ilcf->status_prometheus = (cf->args->nelts == 2
                               && value[1].data[0] == 'p');

    return ngx_http_itsm_conf_content(cf, ngx_http_itsm_status_handler);
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
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_uint_t failed)
{
    ngx_http_itsm_counters_t  *counters;

    counters = ngx_http_itsm_status_counters(r);

    if (counters) {
        (void) ngx_atomic_fetch_add(&counters->actions[action][failed ? 1 : 0],
                                    1);
    }
}


/* a module's counters on the status page, from its configuration */

ngx_int_t
ngx_http_itsm_status_provide(ngx_conf_t *cf,
    ngx_http_itsm_status_provider_t *provider)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_http_itsm_status_nproviders; i++) {
        if (ngx_http_itsm_status_providers[i] == provider) {
            return NGX_OK;
        }
    }

    if (ngx_http_itsm_status_nproviders == NGX_HTTP_ITSM_STATUS_PROVIDERS_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d counter providers for itsm_status",
                           NGX_HTTP_ITSM_STATUS_PROVIDERS_MAX);
        return NGX_ERROR;
    }

    ngx_http_itsm_status_providers[ngx_http_itsm_status_nproviders++] =
                                                                      provider;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "itsm status: counters of \"%V\" registered",
                   &provider->name);

    return NGX_OK;
}


ngx_int_t
ngx_http_itsm_status_provide_grouped(ngx_conf_t *cf,
    ngx_http_itsm_status_provider_t *provider, ngx_str_t *group_label)
{
    ngx_uint_t  i;

    if (ngx_http_itsm_status_provide(cf, provider) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_http_itsm_status_nproviders; i++) {
        if (ngx_http_itsm_status_providers[i] == provider) {
            ngx_http_itsm_status_groups[i] = *group_label;
        }
    }

    return NGX_OK;
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
    size_t                          len;
    ngx_int_t                       rc;
    ngx_pool_cleanup_t             *cln;
    ngx_http_itsm_main_conf_t      *imcf;
    ngx_http_itsm_status_store_t    st;
    ngx_http_itsm_status_waiter_t  *w;

    rc = ngx_http_itsm_reply_read_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    ngx_memzero(&st, sizeof(ngx_http_itsm_status_store_t));

    /*
     * On Redis the queue's counts are Redis' (ZCARD of the shared zsets):
     * the page waits for one script; Redis unreachable, they show as null
     * and the page is sent at once with the client's health, which says
     * why.
     */

    if (imcf->store && ngx_http_itsm_store_on_redis(imcf->store)) {
        w = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_status_waiter_t));
        cln = ngx_pool_cleanup_add(r->pool, 0);

        if (w == NULL || cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        w->request = r;

        w->cmd = ngx_http_itsm_store_queue_count(imcf->store,
                                                 ngx_http_itsm_status_counted,
                                                 w);
        if (w->cmd == NULL) {
            return ngx_http_itsm_status_send(r, &st);
        }

        cln->handler = ngx_http_itsm_status_cleanup;
        cln->data = w;

        r->main->count++;

        return NGX_DONE;
    }

    /* on Redis: no walk of the keys (shared by every edge, and many),
     * no LMDB figures */

    if (imcf->store && !ngx_http_itsm_store_on_redis(imcf->store)
        && (ngx_http_itsm_store_iterate(imcf->store,
                                        ngx_http_itsm_status_count_key, &st)
            != NGX_OK
            || ngx_http_itsm_store_usage(imcf->store, &st.bytes, &len)
               != NGX_OK
            || ngx_http_itsm_store_pending_count(imcf->store, NULL,
                                                 &st.waiting, &st.dead)
               != NGX_OK
            || ngx_http_itsm_store_space(imcf->store, &st.space) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_itsm_status_send(r, &st);
}


static void
ngx_http_itsm_status_cleanup(void *data)
{
    ngx_http_itsm_status_waiter_t *w = data;

    if (w->cmd) {
        ngx_http_itsm_redis_cancel(w->cmd);
        w->cmd = NULL;
    }
}


/* the queue's counts on Redis: {waiting, dead} */

static void
ngx_http_itsm_status_counted(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_status_waiter_t *w = data;

    ngx_http_request_t  *r;

    w->cmd = NULL;
    r = w->request;

    if (error == NULL && reply->type == REDIS_REPLY_ARRAY
        && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        w->st.waiting = (ngx_uint_t) reply->element[0]->integer;
        w->st.dead = (ngx_uint_t) reply->element[1]->integer;
        w->st.queue_known = 1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm status: the queue on redis: %ui waiting, %ui dead "
                   "(known: %ui)", w->st.waiting, w->st.dead,
                   w->st.queue_known);

    ngx_http_finalize_request(r, ngx_http_itsm_status_send(r, &w->st));
}


static ngx_int_t
ngx_http_itsm_status_send(ngx_http_request_t *r,
    ngx_http_itsm_status_store_t *stp)
{
    u_char                        *data;
    size_t                         len;
    json_t                        *doc;
    ngx_int_t                      rc;
    ngx_str_t                      format, text;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    ngx_array_t                    parts;
    ngx_http_itsm_loc_conf_t      *ilcf;
    ngx_http_itsm_main_conf_t     *imcf;
    ngx_http_itsm_status_store_t   st;

    st = *stp;

    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);

    if (ngx_http_itsm_status_parts(r, &parts) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) != NGX_OK) {
        ngx_str_null(&format);
    }

    if ((format.len == 10
         && ngx_strncmp(format.data, "prometheus", 10) == 0)
        || (format.len == 0 && ilcf->status_prometheus))
    {
        if (ngx_http_itsm_status_prometheus(r, imcf, &st, &parts, &text)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");

    } else {
        doc = ngx_http_itsm_status_json(r, imcf, &st, &parts);
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


/* the providers' counts, asked once for the page */

static ngx_int_t
ngx_http_itsm_status_parts(ngx_http_request_t *r, ngx_array_t *parts)
{
    ngx_uint_t                        i;
    ngx_http_itsm_status_part_t      *part;
    ngx_http_itsm_status_provider_t  *provider;

    if (ngx_array_init(parts, r->pool, ngx_http_itsm_status_nproviders + 1,
                       sizeof(ngx_http_itsm_status_part_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_http_itsm_status_nproviders; i++) {
        provider = ngx_http_itsm_status_providers[i];

        part = ngx_array_push(parts);
        if (part == NULL) {
            return NGX_ERROR;
        }

        part->provider = provider;
        part->group = &ngx_http_itsm_status_groups[i];

        if (ngx_array_init(&part->counts, r->pool, 16,
                           sizeof(ngx_http_itsm_status_count_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (provider->counts(r, &part->counts) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm status: %ui counters of \"%V\"",
                       part->counts.nelts, &provider->name);
    }

    return NGX_OK;
}


static json_t *
ngx_http_itsm_status_json(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_array_t *parts)
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

    /* the providers' counters, e.g. the access phase's results */

    if (ngx_http_itsm_status_json_parts(r, doc, parts) != NGX_OK) {
        json_decref(doc);
        return NULL;
    }

    /*
     * The store's use: "used_bytes" of "size_bytes" (its size=), in
     * percent, so that a store growing full is seen before it refuses
     * writes; "expired": resolved keys forgotten after "retention" (in
     * seconds: retention=, or its default).
     */

    if (imcf->store && ngx_http_itsm_store_on_redis(imcf->store)) {
        /* the queue's counts: null when Redis did not answer */

        json_object_set_new(doc, "store",
                            json_pack("{s:s, s:I, s:I, s:o, s:o}",
                                      "backend", "redis",
                                      "lease", (json_int_t)
                                      ngx_http_itsm_store_lease(imcf->store),
                                      "retention",
                                      (json_int_t) imcf->retention,
                                      "queued", st->queue_known
                                      ? json_integer((json_int_t) st->waiting)
                                      : json_null(),
                                      "dead_letters", st->queue_known
                                      ? json_integer((json_int_t) st->dead)
                                      : json_null()));

    } else if (imcf->store) {
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

    /* the Redis client's health: its PINGs (ngx_http_itsm_redis.c) */

    if (imcf->redis
        && json_object_set_new(doc, "redis",
                               ngx_http_itsm_redis_status_json(imcf->redis))
           != 0)
    {
        json_decref(doc);
        return NULL;
    }

    return doc;

failed:

    json_decref(alerts);
    json_decref(actions);
    return NULL;
}


/* "<name>": {"<label value>": count, ...} for each provider */

static ngx_int_t
ngx_http_itsm_status_json_parts(ngx_http_request_t *r, json_t *doc,
    ngx_array_t *parts)
{
    char                          *name, *group;
    json_t                        *obj, *in;
    ngx_uint_t                     i, j;
    ngx_http_itsm_status_part_t   *part;
    ngx_http_itsm_status_count_t  *count;

    part = parts->elts;

    for (i = 0; i < parts->nelts; i++) {
        obj = json_object();
        if (obj == NULL) {
            return NGX_ERROR;
        }

        count = part[i].counts.elts;

        for (j = 0; j < part[i].counts.nelts; j++) {
            name = ngx_http_itsm_status_cstr(r->pool, &count[j].name);

            in = obj;

            /* a provider with two labels: one object a group */

            if (part[i].group->len) {
                group = ngx_http_itsm_status_cstr(r->pool, &count[j].group);

                in = group ? json_object_get(obj, group) : NULL;

                if (group && in == NULL) {
                    in = json_object();

                    if (in && json_object_set_new(obj, group, in) != 0) {
                        in = NULL;
                    }
                }

                if (in == NULL) {
                    json_decref(obj);
                    return NGX_ERROR;
                }
            }

            if (name == NULL
                || json_object_set_new(in, name,
                                       json_integer((json_int_t)
                                                    count[j].value))
                   != 0)
            {
                json_decref(obj);
                return NGX_ERROR;
            }
        }

        name = ngx_http_itsm_status_cstr(r->pool, &part[i].provider->name);

        if (name == NULL || json_object_set_new(doc, name, obj) != 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_status_prometheus(ngx_http_request_t *r,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_status_store_t *st,
    ngx_array_t *parts, ngx_str_t *out)
{
    u_char                       *p, *last;
    size_t                        size, free, len;
    ngx_uint_t                    s, o, a, i, keys;
    ngx_http_itsm_counters_t     *c;
    ngx_http_itsm_status_part_t  *part;

    c = ngx_http_itsm_zone_counters(imcf->zone);

    len = 2048 + NGX_HTTP_ITSM_NSOURCES * NGX_HTTP_ITSM_NOUTCOMES * 128
          + NGX_HTTP_ITSM_NACTIONS * 2 * 128
          + NGX_HTTP_ITSM_REDIS_PROMETHEUS_LEN;

    part = parts->elts;

    for (i = 0; i < parts->nelts; i++) {
        len += 256 + part[i].provider->help.len
               + part[i].counts.nelts * (128 + part[i].provider->name.len
                                         + part[i].provider->label.len
                                         + 2 * part[i].group->len
                                         + 64);
    }

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

    p = ngx_http_itsm_status_prometheus_parts(p, last, parts);

    ngx_http_itsm_zone_usage(imcf->zone, &size, &free, &keys);

    p = ngx_slprintf(p, last,
                     "# TYPE itsm_zone_bytes gauge\nitsm_zone_bytes %uz\n"
                     "# TYPE itsm_zone_free_bytes gauge\n"
                     "itsm_zone_free_bytes %uz\n"
                     "# TYPE itsm_zone_keys gauge\nitsm_zone_keys %ui\n",
                     size, free, keys);

    if (imcf->store && !ngx_http_itsm_store_on_redis(imcf->store)) {
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

    if (imcf->store && ngx_http_itsm_store_on_redis(imcf->store)
        && st->queue_known)
    {
        p = ngx_slprintf(p, last,
                         "# HELP itsm_queue_waiting Deliveries kept in the "
                         "store, to be sent when due.\n"
                         "# TYPE itsm_queue_waiting gauge\n"
                         "itsm_queue_waiting %ui\n"
                         "# HELP itsm_queue_dead Deliveries that failed "
                         "every attempt (itsm_requeue sends them again).\n"
                         "# TYPE itsm_queue_dead gauge\n"
                         "itsm_queue_dead %ui\n", st->waiting, st->dead);
    }

    if (imcf->redis) {
        p = ngx_http_itsm_redis_status_prometheus(p, last, imcf->redis);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/* itsm_<name>_total{<label>="..."}: each provider's counters */

static u_char *
ngx_http_itsm_status_prometheus_parts(u_char *p, u_char *last,
    ngx_array_t *parts)
{
    ngx_uint_t                        i, j;
    ngx_http_itsm_status_part_t      *part;
    ngx_http_itsm_status_count_t     *count;
    ngx_http_itsm_status_provider_t  *pv;

    part = parts->elts;

    for (i = 0; i < parts->nelts; i++) {
        pv = part[i].provider;
        count = part[i].counts.elts;

        p = ngx_slprintf(p, last,
                         "# HELP itsm_%V_total %V\n"
                         "# TYPE itsm_%V_total counter\n",
                         &pv->name, &pv->help, &pv->name);

        for (j = 0; j < part[i].counts.nelts; j++) {
            if (part[i].group->len) {
                p = ngx_slprintf(p, last,
                                 "itsm_%V_total{%V=\"%V\",%V=\"%V\"} %uA\n",
                                 &pv->name, part[i].group,
                                 &count[j].group, &pv->label, &count[j].name,
                                 count[j].value);
                continue;
            }

            p = ngx_slprintf(p, last, "itsm_%V_total{%V=\"%V\"} %uA\n",
                             &pv->name, &pv->label, &count[j].name,
                             count[j].value);
        }
    }

    return p;
}


/* jansson takes names as C strings */

static char *
ngx_http_itsm_status_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    (void) ngx_cpystrn(p, s->data, s->len + 1);

    return (char *) p;
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


/*
 * The counts of a provider without a group label: the "n" counters
 * "count" (NULL while its zone has no memory yet: zeros), named "names".
 */

ngx_int_t
ngx_http_itsm_status_counts(ngx_array_t *counts, ngx_str_t *names,
    ngx_atomic_t *count, ngx_uint_t n)
{
    ngx_uint_t                     i;
    ngx_http_itsm_status_count_t  *c;

    c = ngx_array_push_n(counts, n);
    if (c == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        c[i].name = names[i];
        c[i].value = count ? count[i] : 0;
        ngx_str_null(&c[i].group);
    }

    return NGX_OK;
}


/*
 * The slot of "name": the one it had (in this cycle or the one before a
 * reload), else the next free one; NO_SLOT for a name longer than a slot
 * holds or when all are taken (the totals still count it).  Called at
 * init, before the workers start.
 */

ngx_uint_t
ngx_http_itsm_status_slot(ngx_http_itsm_status_slots_t *slots,
    ngx_str_t *name)
{
    ngx_uint_t  s;

    if (name->len > sizeof(slots->name[0].data)) {
        return NGX_HTTP_ITSM_STATUS_NO_SLOT;
    }

    for (s = 0; s < slots->n; s++) {
        if (slots->name[s].len == name->len
            && ngx_memcmp(slots->name[s].data, name->data, name->len) == 0)
        {
            return s;
        }
    }

    if (s == NGX_HTTP_ITSM_STATUS_SLOTS) {
        return NGX_HTTP_ITSM_STATUS_NO_SLOT;
    }

    ngx_memcpy(slots->name[s].data, name->data, name->len);
    slots->name[s].len = name->len;
    slots->n++;

    return s;
}


/*
 * The zone of the counters that a provider reads, "name", of the caller's
 * own "tag": 16 pages, room enough for a module's counters (the largest,
 * the connector registry's, takes about 34 KB for its 64 connectors).
 * "init" calls ngx_http_itsm_status_counters_init() with their size.
 */

ngx_shm_zone_t *
ngx_http_itsm_status_counters_zone(ngx_conf_t *cf, ngx_str_t *name,
    void *tag, ngx_shm_zone_init_pt init)
{
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, name, 16 * ngx_pagesize, tag);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = init;

    return zone;
}


/*
 * The init of a zone of counters that a provider reads: the zone's data
 * is the counters.
 */

ngx_int_t
ngx_http_itsm_status_counters_init(ngx_shm_zone_t *shm_zone, void *data,
    size_t size)
{
    shm_zone->data = ngx_http_itsm_conf_zone_data(shm_zone, data, size);

    return (shm_zone->data == NULL) ? NGX_ERROR : NGX_OK;
}
