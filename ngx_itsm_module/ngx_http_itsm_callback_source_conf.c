
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_status.h"
#include "ngx_http_itsm_callback_source.h"
#include "ngx_http_itsm_callback_loc.h"


/*
 * "itsm_callback_source NAME { ... }" (http level): where a callback's
 * change goes back to, for the alerts of the ITSM connectors it names.
 *
 *   callbacks_of  CONNECTOR ...;      the ITSM connectors whose callbacks
 *                                     drive it (one source per connector)
 *   location      /_itsm/am;          the internal location that proxies to
 *                                     the source (in the callback's server)
 *   header        NAME VALUE;         as in itsm_connector
 *   max_response  SIZE;
 *   on_ticket     STATE[,STATE...] METHOD PATH [body=...]
 *                 [remember=/pointer | forget];
 *
 * STATE is the ITSM's status as the connector's callback_status maps it:
 * open, acknowledged, resolved, closed, deleted.  "remember=" keeps the
 * value at the pointer of the source's 2xx answer with the key (a
 * silence's id) and is not sent again while a value is kept; "forget"
 * runs only while a value is kept, and a 2xx (or a 404: already gone)
 * drops it.
 *
 * Not an itsm_connector: it has no create and no lifecycle, and itsm_pass
 * can never name it.
 *
 * A directive of ngx_http_itsm_callback_module (ngx_http_itsm_callback.c),
 * as the callbacks drive it: the sources are in that module's main
 * configuration, checked by its postconfiguration.
 */


/* the block's lines are read as a connector's (ngx_http_itsm_conn_lines):
 * those of the source's own find it around its "conn" */

#define ngx_http_itsm_source_from_conn(c)                                    \
    ((ngx_http_itsm_source_t *)                                              \
         ((u_char *) (c) - offsetof(ngx_http_itsm_source_t, conn)))


static ngx_http_itsm_source_main_conf_t *ngx_http_itsm_source_main_conf(
    ngx_http_request_t *r);
static char *ngx_http_itsm_source_of(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_itsm_source_location(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_itsm_source_states(ngx_conf_t *cf, ngx_str_t *list,
    ngx_uint_t *states);
static char *ngx_http_itsm_source_on_ticket(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static ngx_shm_zone_t *ngx_http_itsm_source_zone(ngx_http_request_t *r);
static ngx_shm_zone_t *ngx_http_itsm_source_counters(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_source_counts(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_source_init_counters(ngx_shm_zone_t *shm_zone,
    void *data);


typedef struct {
    ngx_atomic_t                 count[NGX_HTTP_ITSM_SOURCE_NOUTCOMES];
} ngx_http_itsm_source_counters_t;


static ngx_str_t  ngx_http_itsm_source_outcome_names[] = {
    ngx_string("sent"),
    ngx_string("skipped"),
    ngx_string("no_alert"),
    ngx_string("failed")
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_source_provider = {
    ngx_string("callback_sources"),
    ngx_string("Actions back to the alerts' sources after ITSM callbacks, "
               "by outcome."),
    ngx_string("outcome"),
    ngx_http_itsm_source_counts
};


static ngx_str_t  ngx_http_itsm_source_counters_name =
    ngx_string("itsm_callback_source_counters");

static ngx_uint_t  ngx_http_itsm_source_counters_tag;


static ngx_http_itsm_conn_cmd_t  ngx_http_itsm_source_cmds[] = {

    { ngx_string("callbacks_of"), 1, 16, ngx_http_itsm_source_of },

    /* what delivers the actions: header and max_response as a connector's */
    { ngx_string("location"), 1, 1, ngx_http_itsm_source_location },
    { ngx_string("header"), 2, 2, ngx_http_itsm_conn_header },
    { ngx_string("max_response"), 1, 1, ngx_http_itsm_conn_max_response },

    { ngx_string("on_ticket"), 3, 5, ngx_http_itsm_source_on_ticket },

    { ngx_null_string, 0, 0, NULL }
};


/* the source whose callbacks_of names "itsm", or NULL; a few at most */

ngx_http_itsm_source_t *
ngx_http_itsm_callback_source_of(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *itsm)
{
    ngx_uint_t                         i, j;
    ngx_http_itsm_source_t           **src;
    ngx_http_itsm_connector_t        **conn;
    ngx_http_itsm_source_main_conf_t  *smcf;

    smcf = ngx_http_itsm_source_main_conf(r);

    src = smcf->sources.elts;

    for (i = 0; i < smcf->sources.nelts; i++) {
        conn = src[i]->itsms.elts;

        for (j = 0; j < src[i]->itsms.nelts; j++) {
            if (conn[j] == itsm) {
                return src[i];
            }
        }
    }

    return NULL;
}


/* the sources of the request's configuration */

static ngx_http_itsm_source_main_conf_t *
ngx_http_itsm_source_main_conf(ngx_http_request_t *r)
{
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);

    return &cbmcf->source;
}


/* the counters' zone of the request's configuration */

static ngx_shm_zone_t *
ngx_http_itsm_source_zone(ngx_http_request_t *r)
{
    return ngx_http_itsm_source_main_conf(r)->counters;
}


/* "conf": ngx_http_itsm_callback_module's main configuration */

char *
ngx_http_itsm_callback_source_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_callback_main_conf_t *cbmcf = conf;

    char                              *rv;
    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_itsm_source_t            *src, **srcp;
    ngx_http_itsm_source_main_conf_t  *smcf;

    smcf = &cbmcf->source;
    value = cf->args->elts;

    if (smcf->sources.elts == NULL
        && ngx_array_init(&smcf->sources, cf->pool, 1,
                          sizeof(ngx_http_itsm_source_t *))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    srcp = smcf->sources.elts;

    for (i = 0; i < smcf->sources.nelts; i++) {
        if (srcp[i]->name.len == value[1].len
            && ngx_strncmp(srcp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_callback_source \"%V\" is already "
                               "declared; the names must be unique",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    src = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_source_t));
    if (src == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&src->of, cf->pool, 1, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&src->itsms, cf->pool, 1,
                          sizeof(ngx_http_itsm_connector_t *))
           != NGX_OK
        || ngx_http_itsm_conn_init(cf, &src->conn, &value[1]) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    src->name = value[1];
    src->file = src->conn.file;
    src->line = src->conn.line;

    srcp = ngx_array_push(&smcf->sources);
    if (srcp == NULL) {
        return NGX_CONF_ERROR;
    }

    *srcp = src;

    rv = ngx_http_itsm_conn_lines(cf, &src->conn, ngx_http_itsm_source_cmds,
                                  "itsm_callback_source");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (src->conn.location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_callback_source \"%V\" has no \"location\"; "
                           "add the prefix of the internal location that "
                           "proxies to the source, e.g. \"location "
                           "/_itsm/%V;\"", &src->name, &src->name);
        return NGX_CONF_ERROR;
    }

    if (src->of.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_callback_source \"%V\" has no "
                           "\"callbacks_of\"; name the ITSM connector whose "
                           "callbacks it follows, e.g. \"callbacks_of rt;\"",
                           &src->name);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_CALLBACK_NSTATES; i++) {
        if (src->on[i]) {
            break;
        }
    }

    if (i == NGX_HTTP_ITSM_CALLBACK_NSTATES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_callback_source \"%V\" has no \"on_ticket\" "
                           "line; add e.g. \"on_ticket resolved POST "
                           "/path body=...;\"", &src->name);
        return NGX_CONF_ERROR;
    }

    if (src->conn.max_response == NGX_CONF_UNSET_SIZE) {
        src->conn.max_response = 64 * 1024;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_source_of(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_uint_t               i;
    ngx_str_t               *name;
    ngx_http_itsm_source_t  *src;

    src = ngx_http_itsm_source_from_conn(conn);

    for (i = 1; i <= n; i++) {
        name = ngx_array_push(&src->of);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_source_location(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t  *loc;

    loc = &conn->location;

    if (loc->len) {
        return "is duplicate";
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "source location \"%V\" must be a URI prefix "
                           "starting with \"/\", e.g. /_itsm/%V", &value[1],
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    *loc = value[1];

    while (loc->len > 1 && loc->data[loc->len - 1] == '/') {
        loc->len--;
    }

    return NGX_CONF_OK;
}


/* on_ticket STATE[,STATE] METHOD PATH [body=...] [remember=/ptr | forget] */

static char *
ngx_http_itsm_source_on_ticket(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t                       arg;
    ngx_uint_t                      i, states;
    ngx_http_itsm_source_t         *src;
    ngx_http_itsm_source_action_t  *sa;

    src = ngx_http_itsm_source_from_conn(conn);

    if (ngx_http_itsm_source_states(cf, &value[1], &states) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < NGX_HTTP_ITSM_CALLBACK_NSTATES; i++) {
        if ((states & (1 << i)) && src->on[i]) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"on_ticket %V\" is duplicate in "
                               "itsm_callback_source \"%V\": one action per "
                               "state", &ngx_http_itsm_callback_state_names[i],
                               &src->name);
            return NGX_CONF_ERROR;
        }
    }

    sa = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_source_action_t));
    if (sa == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_conn_parse_method(&value[2], &sa->action.method)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid method \"%V\" in \"on_ticket\"; use one "
                           "of GET, POST, PUT, PATCH, DELETE (upper case)",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    sa->action.method_name = value[2];

    if (value[3].len == 0 || value[3].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" in \"on_ticket\": it must "
                           "start with \"/\"; it is appended to the "
                           "source's location", &value[3]);
        return NGX_CONF_ERROR;
    }

    sa->action.uri = ngx_http_itsm_tpl_compile(cf, &value[3],
                                               NGX_HTTP_ITSM_ESCAPE_URI);
    if (sa->action.uri == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 4; i <= n; i++) {

        if (ngx_http_itsm_conf_param(&value[i], "body=", &arg) && arg.len
            && sa->action.body == NULL)
        {
            if (sa->action.method & (NGX_HTTP_GET|NGX_HTTP_DELETE)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"on_ticket\" uses %V, which sends no "
                                   "body; remove \"body=\" or use POST, PUT "
                                   "or PATCH", &value[2]);
                return NGX_CONF_ERROR;
            }

            sa->action.body = ngx_http_itsm_tpl_compile_json(cf, &arg);
            if (sa->action.body == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_itsm_conf_param(&value[i], "remember=", &arg) && arg.len
            && sa->kind == NGX_HTTP_ITSM_SOURCE_RUN)
        {
            sa->remember = arg;

            if (ngx_http_itsm_json_pointer_valid(&sa->remember) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid JSON Pointer \"%V\" in "
                                   "\"remember=\": it points into the "
                                   "source's answer, e.g. remember=/silenceID",
                                   &sa->remember);
                return NGX_CONF_ERROR;
            }

            sa->kind = NGX_HTTP_ITSM_SOURCE_REMEMBER;
            continue;
        }

        if (value[i].len == 6 && ngx_strncmp(value[i].data, "forget", 6) == 0
            && sa->kind == NGX_HTTP_ITSM_SOURCE_RUN)
        {
            sa->kind = NGX_HTTP_ITSM_SOURCE_FORGET;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"on_ticket\"; "
                           "expected body=, and one of remember=/pointer or "
                           "forget", &value[i]);
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < NGX_HTTP_ITSM_CALLBACK_NSTATES; i++) {
        if (states & (1 << i)) {
            src->on[i] = sa;
        }
    }

    return NGX_CONF_OK;
}


/* "acknowledged" or "resolved,closed": the lifecycle's names */

static char *
ngx_http_itsm_source_states(ngx_conf_t *cf, ngx_str_t *list,
    ngx_uint_t *states)
{
    u_char     *p, *last, *comma;
    ngx_int_t   state;
    ngx_str_t   name;

    *states = 0;

    p = list->data;
    last = p + list->len;

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');

        name.data = p;
        name.len = (comma ? comma : last) - p;

        /* "note": a note-only event (NGX_HTTP_ITSM_CALLBACK_NOTE) */

        state = ngx_http_itsm_callback_state(&name);

        if (state == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown state \"%V\" in \"on_ticket\"; the "
                               "states are open, acknowledged, resolved, "
                               "closed, deleted, and note (a note added in "
                               "the ITSM; a comma between several)",
                               &name);
            return NGX_CONF_ERROR;
        }

        *states |= (1 << state);

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;
}


/* the connectors are known once the whole configuration is read */

ngx_int_t
ngx_http_itsm_callback_source_init(ngx_conf_t *cf)
{
    ngx_str_t                           *name;
    ngx_uint_t                           i, j, k, l;
    ngx_http_itsm_source_t             **src;
    ngx_http_itsm_connector_t           *conn, **connp, **other;
    ngx_http_itsm_main_conf_t           *imcf;
    ngx_http_itsm_source_main_conf_t    *smcf;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_itsm_callback_module);
    smcf = &cbmcf->source;

    if (smcf->sources.nelts == 0) {
        return NGX_OK;
    }

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    src = smcf->sources.elts;

    for (i = 0; i < smcf->sources.nelts; i++) {

        if (imcf->store == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_callback_source \"%V\" in %s:%ui needs "
                          "\"itsm_store\": the alert is kept there for the "
                          "way back", &src[i]->name, src[i]->file,
                          src[i]->line);
            return NGX_ERROR;
        }

        name = src[i]->of.elts;

        for (j = 0; j < src[i]->of.nelts; j++) {
            conn = ngx_http_itsm_conn_find(imcf, &name[j]);

            if (conn == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "itsm_callback_source \"%V\" in %s:%ui: "
                              "unknown connector \"%V\" in \"callbacks_of\"; "
                              "declare it with \"itsm_connector %V { ... }\"",
                              &src[i]->name, src[i]->file, src[i]->line,
                              &name[j], &name[j]);
                return NGX_ERROR;
            }

            /* one way back per connector: which one a callback takes must
             * not depend on the order of the blocks */

            for (k = 0; k <= i; k++) {
                other = src[k]->itsms.elts;

                for (l = 0; l < src[k]->itsms.nelts; l++) {
                    if (other[l] == conn) {
                        goto twice;
                    }
                }
            }

            if (conn->callback == NULL || conn->callback->tokens.nelts == 0) {
                ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                              "itsm_callback_source \"%V\" in %s:%ui: "
                              "connector \"%V\" has no \"callback_token\", "
                              "so no callback reaches it yet",
                              &src[i]->name, src[i]->file, src[i]->line,
                              &conn->name);
            }

            connp = ngx_array_push(&src[i]->itsms);
            if (connp == NULL) {
                return NGX_ERROR;
            }

            *connp = conn;
        }
    }

    smcf->counters = ngx_http_itsm_source_counters(cf);

    return smcf->counters ? NGX_OK : NGX_ERROR;

twice:

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "itsm_callback_source \"%V\" in %s:%ui: connector \"%V\" "
                  "already has a way back; one itsm_callback_source per "
                  "connector", &src[i]->name, src[i]->file, src[i]->line,
                  &name[j]);

    return NGX_ERROR;
}


static ngx_shm_zone_t *
ngx_http_itsm_source_counters(ngx_conf_t *cf)
{
    ngx_shm_zone_t  *zone;

    zone = ngx_http_itsm_status_counters_zone(cf,
                                        &ngx_http_itsm_source_counters_name,
                                        &ngx_http_itsm_source_counters_tag,
                                        ngx_http_itsm_source_init_counters);
    if (zone == NULL
        || ngx_http_itsm_status_provide(cf, &ngx_http_itsm_source_provider)
           != NGX_OK)
    {
        return NULL;
    }

    return zone;
}


void
ngx_http_itsm_callback_source_count(ngx_http_request_t *r,
    ngx_uint_t outcome)
{
    ngx_shm_zone_t                   *zone;
    ngx_http_itsm_source_counters_t  *counters;

    zone = ngx_http_itsm_source_zone(r);

    if (zone == NULL || zone->data == NULL) {
        return;
    }

    counters = zone->data;

    (void) ngx_atomic_fetch_add(&counters->count[outcome], 1);
}


static ngx_int_t
ngx_http_itsm_source_counts(ngx_http_request_t *r, ngx_array_t *counts)
{
    ngx_shm_zone_t                   *zone;
    ngx_http_itsm_source_counters_t  *counters;

    zone = ngx_http_itsm_source_zone(r);
    counters = zone ? zone->data : NULL;

    return ngx_http_itsm_status_counts(counts,
                                       ngx_http_itsm_source_outcome_names,
                                       counters ? counters->count : NULL,
                                       NGX_HTTP_ITSM_SOURCE_NOUTCOMES);
}


static ngx_int_t
ngx_http_itsm_source_init_counters(ngx_shm_zone_t *shm_zone, void *data)
{
    return ngx_http_itsm_status_counters_init(shm_zone, data,
                                              sizeof(ngx_http_itsm_source_counters_t));
}
