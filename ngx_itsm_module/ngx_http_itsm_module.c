
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_history.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_access.h"
#include "ngx_http_itsm_verify.h"
#include "ngx_http_itsm_redis.h"


/*
 * "itsm_pass" may name a connector that is declared later in the file, so
 * the name is kept with the place it was written and resolved once the
 * whole configuration is read.
 */

typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_loc_conf_t    *conf;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_conn_ref_t;


static ngx_int_t ngx_http_itsm_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_itsm_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_itsm_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_itsm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_itsm_queue_flag(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_field(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_itsm_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_itsm_init_process(ngx_cycle_t *cycle);
static void ngx_http_itsm_exit_process(ngx_cycle_t *cycle);


static ngx_http_itsm_conf_bounds_t  ngx_http_itsm_max_depth_bounds = {
    ngx_http_itsm_conf_check_bounds, 1, 1024
};

static ngx_http_itsm_conf_bounds_t  ngx_http_itsm_max_alerts_bounds = {
    ngx_http_itsm_conf_check_bounds, 1, 100000
};


static ngx_command_t  ngx_http_itsm_commands[] = {

    { ngx_string("itsm_connector"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_itsm_conn_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1234,
      ngx_http_itsm_store_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_redis_ping"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_itsm_redis_ping_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_replay_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_itsm_queue_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_replay"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_itsm_queue_replay_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_delivery_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_history_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_history"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_itsm_history_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_connectors"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_itsm_registry_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_itsm_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_itsm_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_source"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_itsm_source,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_max_alerts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, source_conf.max_alerts),
      &ngx_http_itsm_max_alerts_bounds },

    { ngx_string("itsm_state_map"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_source_map,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, source_conf.states),
      ngx_http_itsm_state_names },

    { ngx_string("itsm_severity_map"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_source_map,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, source_conf.severities),
      ngx_http_itsm_severity_names },

    { ngx_string("itsm_field"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_itsm_field,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_dedup"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_itsm_dedup_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, max_body),
      NULL },

    { ngx_string("itsm_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, max_depth),
      &ngx_http_itsm_max_depth_bounds },

    { ngx_string("itsm_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, retry_after),
      NULL },

    { ngx_string("itsm_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_itsm_queue_flag,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_loc_conf_t, queue),
      NULL },

    { ngx_string("itsm_retry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_queue_retry_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("itsm_requeue"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_itsm_queue_requeue_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_module_ctx = {
    ngx_http_itsm_preconfiguration,        /* preconfiguration */
    ngx_http_itsm_postconfiguration,       /* postconfiguration */

    ngx_http_itsm_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_create_loc_conf,         /* create location configuration */
    ngx_http_itsm_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_module_ctx,             /* module context */
    ngx_http_itsm_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_itsm_init_module,             /* init module */
    ngx_http_itsm_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_itsm_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* at load, in the master (and for "nginx -t"): is the store usable */

static ngx_int_t
ngx_http_itsm_init_module(ngx_cycle_t *cycle)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_itsm_module);

    if (imcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_itsm_queue_init_token(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (imcf->store == NULL) {
        return NGX_OK;
    }

    /* Redis is checked by the edges' connection (itsm_redis) */

    if (ngx_http_itsm_store_on_redis(imcf->store)) {
        return NGX_OK;
    }

    return ngx_http_itsm_store_check(cycle, imcf->store);
}


/* LMDB handles must not cross a fork: each worker opens its own */

static ngx_int_t
ngx_http_itsm_init_process(ngx_cycle_t *cycle)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_itsm_module);

    /* the cache manager and loader (helper processes) serve no alerts */

    if (imcf == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ngx_http_itsm_registry_worker(imcf);

    if (ngx_http_itsm_redis_init_process(cycle, imcf->redis) != NGX_OK) {
        return NGX_ERROR;
    }

    if (imcf->store == NULL) {
        return NGX_OK;
    }

    /*
     * A worker whose init fails exits with code 2, and the master does not
     * start it again: with no worker left, nginx accepts connections and
     * answers none.  What the master can check is checked at load
     * (ngx_http_itsm_store_check, as the workers' user); this line names
     * what is left.
     */

    /* on Redis: no file to open, no expiry walk (Redis' TTL); the kick
     * takes the due jobs of the queue the edges share */

    if (ngx_http_itsm_store_on_redis(imcf->store)) {
        ngx_http_itsm_store_redis_open(imcf->store, cycle->log,
                                       imcf->retention);
        return ngx_http_itsm_kick_init(cycle, imcf);
    }

    /* the flushes' tasks first: the store's open already commits */

    if (ngx_http_itsm_store_sync_init(cycle, imcf->store) != NGX_OK
        || ngx_http_itsm_store_open(cycle, imcf->store) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm_store (%s:%ui): this worker cannot open the "
                      "store (see the line above) and exits; nginx cannot "
                      "start it again and serves no request with it: fix "
                      "the cause and restart nginx",
                      imcf->store_file, imcf->store_line);
        return NGX_ERROR;
    }

    if (ngx_http_itsm_expire_init(cycle, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_itsm_kick_init(cycle, imcf);
}


static void
ngx_http_itsm_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_itsm_module);

    ngx_http_itsm_kick_exit();

    if (imcf) {
        ngx_http_itsm_redis_exit_process(imcf->redis);
    }

    if (imcf == NULL || imcf->store == NULL) {
        return;
    }

    ngx_http_itsm_store_close(imcf->store);
}


static ngx_int_t
ngx_http_itsm_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_itsm_variables_add(cf);
}


static ngx_int_t
ngx_http_itsm_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                   i;
    ngx_http_itsm_conn_ref_t    *ref;
    ngx_http_itsm_connector_t  **conn, **connp;
    ngx_http_itsm_main_conf_t   *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (ngx_http_itsm_history_check(cf, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a cooldown keeps the latest state of an alert to send it when the
     * cooldown ends: that needs the store and the replay location */

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (conn[i]->cooldown == 0
            || conn[i]->on_repeat == NGX_HTTP_ITSM_ACTION_NONE
            || (imcf->store && imcf->replay_url.len))
        {
            continue;
        }

        if (conn[i]->cooldown_default) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_connector \"%V\" (%s:%ui): \"on_repeat "
                          "comment\" holds the repeats of an alert for a "
                          "cooldown (5m unless \"cooldown=\" says otherwise) "
                          "and comments once when it ends, which needs "
                          "\"itsm_store\" and \"itsm_replay_url\" with a "
                          "location \"itsm_replay;\" (see README); or write "
                          "\"on_repeat comment cooldown=0;\" to comment on "
                          "every repeat", &conn[i]->name, conn[i]->file,
                          conn[i]->line);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui): \"on_repeat ... "
                      "cooldown=\" sends the latest state of an alert when "
                      "the cooldown ends, which needs \"itsm_store\" and "
                      "\"itsm_replay_url\" with a location \"itsm_replay;\" "
                      "(see README)", &conn[i]->name, conn[i]->file,
                      conn[i]->line);
        return NGX_ERROR;
    }

    if (ngx_http_itsm_verify_check(cf, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_redis_check(cf, imcf->redis) != NGX_OK) {
        return NGX_ERROR;
    }

    if (imcf->store && ngx_http_itsm_store_on_redis(imcf->store)) {

        if (imcf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"itsm_store redis\" in %s:%ui needs "
                          "\"itsm_redis\" at http level: the server the "
                          "records are kept on", imcf->store_file,
                          imcf->store_line);
            return NGX_ERROR;
        }

        ngx_http_itsm_store_redis_set(imcf->store, imcf->redis);
    }

    if (ngx_http_itsm_expire_check(cf, imcf) != NGX_CONF_OK) {
        return NGX_ERROR;
    }

    ref = imcf->references.elts;

    for (i = 0; i < imcf->references.nelts; i++) {

        connp = ngx_array_push(ref[i].conf->connectors);
        if (connp == NULL) {
            return NGX_ERROR;
        }

        *connp = ngx_http_itsm_conn_find(imcf, &ref[i].name);

        if (*connp == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_pass: unknown connector \"%V\" in %s:%ui; "
                          "declare it with \"itsm_connector %V { ... }\" "
                          "at http level",
                          &ref[i].name, ref[i].file, ref[i].line,
                          &ref[i].name);
            return NGX_ERROR;
        }
    }

    /* every alert endpoint and the replay location reach the connectors'
     * locations, in their own server or in the one that has them */

    if (ngx_http_itsm_layout_check(cf, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_registry_counts_init(cf, imcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_itsm_deliver_filter_init(cf);
}


static void *
ngx_http_itsm_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_main_conf_t));
    if (imcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&imcf->connectors, cf->pool, 4,
                       sizeof(ngx_http_itsm_connector_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&imcf->references, cf->pool, 4,
                       sizeof(ngx_http_itsm_conn_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    imcf->attempts = NGX_HTTP_ITSM_DEFAULT_ATTEMPTS;
    imcf->backoff = NGX_HTTP_ITSM_DEFAULT_BACKOFF;
    imcf->backoff_max = NGX_HTTP_ITSM_DEFAULT_BACKOFF_MAX;
    imcf->retention = NGX_CONF_UNSET;
    imcf->history = NGX_CONF_UNSET_PTR;

    return imcf;
}


static void *
ngx_http_itsm_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->connectors = NULL;
     *     conf->route = NULL;
     *     conf->pointers = NULL;
     *     conf->file = NULL;
     *     conf->line = 0;
     */

    conf->source = NGX_CONF_UNSET_UINT;
    conf->source_conf.max_alerts = NGX_CONF_UNSET_UINT;
    conf->source_conf.states = NGX_CONF_UNSET_PTR;
    conf->source_conf.severities = NGX_CONF_UNSET_PTR;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->max_depth = NGX_CONF_UNSET_UINT;
    conf->retry_after = NGX_CONF_UNSET;
    conf->queue = NGX_CONF_UNSET;
    conf->dedup_off = NGX_CONF_UNSET;
    conf->dedup_window = NGX_CONF_UNSET;
    conf->dedup = NGX_CONF_UNSET_PTR;

    /* the "location" line: nginx keeps none (ngx_http_itsm_layout.c) */
    conf->loc_file = cf->conf_file->file.name.data;
    conf->loc_line = cf->conf_file->line;

    return conf;
}


static char *
ngx_http_itsm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_itsm_loc_conf_t *prev = parent;
    ngx_http_itsm_loc_conf_t *conf = child;

    ngx_uint_t                  i;
    ngx_str_t                  *inherited, directive;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_itsm_main_conf_t  *imcf;

    ngx_conf_merge_uint_value(conf->source, prev->source,
                              NGX_HTTP_ITSM_SOURCE_GENERIC);
    ngx_conf_merge_uint_value(conf->source_conf.max_alerts,
                              prev->source_conf.max_alerts,
                              NGX_HTTP_ITSM_DEFAULT_MAX_ALERTS);
    ngx_conf_merge_ptr_value(conf->source_conf.states,
                             prev->source_conf.states, NULL);
    ngx_conf_merge_ptr_value(conf->source_conf.severities,
                             prev->source_conf.severities, NULL);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              NGX_HTTP_ITSM_DEFAULT_MAX_BODY);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth,
                              NGX_HTTP_ITSM_DEFAULT_MAX_DEPTH);
    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after,
                             NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER);
    ngx_conf_merge_value(conf->queue, prev->queue, 0);

    if (conf->queue_file == NULL) {
        conf->queue_file = prev->queue_file;
        conf->queue_line = prev->queue_line;
    }

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    if (conf->queue
        && (imcf->store == NULL || imcf->replay_url.len == 0))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"itsm_queue on\" in %s:%ui keeps what the ITSM could "
                      "not take in the store and delivers it later through "
                      "the replay location: declare \"itsm_store\" and "
                      "\"itsm_replay_url\" at http level, and a location "
                      "with \"itsm_replay\"",
                      conf->queue_file, conf->queue_line);
        return NGX_CONF_ERROR;
    }

    /* on Redis the queue is shared by the edges
     * (ngx_http_itsm_store_queue_redis.c) */

    ngx_conf_merge_ptr_value(conf->dedup, prev->dedup, NULL);
    ngx_conf_merge_value(conf->dedup_off, prev->dedup_off, 0);
    ngx_conf_merge_sec_value(conf->dedup_window, prev->dedup_window, 3600);

    /* field pointers are merged one by one: "itsm_field title /x" in a
     * location keeps the other fields of the enclosing level */

    if (prev->pointers == NULL) {
        prev->pointers = ngx_http_itsm_generic_pointers(cf);
        if (prev->pointers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    inherited = prev->pointers;

    if (conf->pointers == NULL) {
        conf->pointers = inherited;

    } else {
        for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
            if (conf->pointers[i].data == NULL) {
                conf->pointers[i] = inherited[i];
            }
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_itsm_handler
        && (off_t) conf->max_body > clcf->client_max_body_size
        && clcf->client_max_body_size != 0)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "itsm_max_body %uz is larger than client_max_body_size "
                      "%O for the location at %s:%ui: bodies between the two "
                      "get nginx's HTML 413 page instead of a JSON error; "
                      "raise client_max_body_size",
                      conf->max_body, clcf->client_max_body_size,
                      conf->file, conf->line);
    }

    /* the access phase, which may read the body before this module, keeps
     * to the same limit and Retry-After (ngx_http_itsm_access.h) */

    ngx_str_set(&directive, "itsm_max_body");

    ngx_http_itsm_access_content_limits(cf, conf->max_body, &directive,
                                        conf->retry_after);

    return NGX_CONF_OK;
}


/* itsm_queue on|off; where it was said, for the check at merge time, when
 * itsm_store and itsm_replay_url are known wherever they are written */

static char *
ngx_http_itsm_queue_flag(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        ilcf->queue_file = cf->conf_file->file.name.data;
        ilcf->queue_line = cf->conf_file->line;
    }

    return rv;
}


static char *
ngx_http_itsm_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_itsm_conn_ref_t          *ref;
    ngx_http_compile_complex_value_t   ccv;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_itsm_main_conf_t  *imcf;

    if (ilcf->file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be combined with another content "
                           "handler (proxy_pass, return-like modules) in the "
                           "same location; give the alert endpoint a "
                           "location of its own", &cmd->name);
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_itsm_handler;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    ilcf->file = cf->conf_file->file.name.data;
    ilcf->line = cf->conf_file->line;

    /* "itsm_pass $route;": connector names from a variable, per alert */

    if (cf->args->nelts == 2 && ngx_http_script_variables_count(&value[1])) {
        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ilcf->route = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (ilcf->route == NULL) {
            return NGX_CONF_ERROR;
        }

        ccv.cf = cf;
        ccv.value = &value[1];
        ccv.complex_value = ilcf->route;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    ilcf->connectors = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(ngx_http_itsm_connector_t *));
    if (ilcf->connectors == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_script_variables_count(&value[i])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" takes either connector names or one "
                               "variable, not both", &cmd->name);
            return NGX_CONF_ERROR;
        }

        ref = ngx_array_push(&imcf->references);
        if (ref == NULL) {
            return NGX_CONF_ERROR;
        }

        ref->name = value[i];
        ref->conf = ilcf;
        ref->file = ilcf->file;
        ref->line = ilcf->line;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_source(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_str_t               *value;
    ngx_http_itsm_source_e   source;

    if (ilcf->source != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_itsm_names_source(&value[1], &source) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown alert source \"%V\"; supported: "
                           "generic, alertmanager, grafana, azure, datadog",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ilcf->source = source;

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_loc_conf_t *ilcf = conf;

    ngx_int_t   field;
    ngx_str_t  *value;

    value = cf->args->elts;

    field = ngx_http_itsm_names_field(&value[1]);

    if (field == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown alert field \"%V\"; one of: %s",
                           &value[1], ngx_http_itsm_names_field_list(cf->pool));
        return NGX_CONF_ERROR;
    }

    if (field == NGX_HTTP_ITSM_FIELD_SOURCE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the alert field \"source\" is set by "
                           "\"itsm_source\", not read from the payload");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_json_pointer_valid(&value[2]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON Pointer \"%V\": it must be empty or "
                           "start with \"/\" (RFC 6901), e.g. /labels/alertname",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (ilcf->pointers == NULL) {
        ilcf->pointers = ngx_pcalloc(cf->pool,
                                     NGX_HTTP_ITSM_NFIELDS * sizeof(ngx_str_t));
        if (ilcf->pointers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ilcf->pointers[field].data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "alert field \"%V\" is mapped twice", &value[1]);
        return NGX_CONF_ERROR;
    }

    ilcf->pointers[field] = value[2];

    return NGX_CONF_OK;
}
