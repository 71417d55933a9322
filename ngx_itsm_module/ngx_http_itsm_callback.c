
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

#include <ngx_md5.h>


/*
 * The callback location: "itsm_callback CONNECTOR [profile=rt|generic]
 * [ticket=/ptr] [status=/ptr] [event_id=/ptr] [order=/ptr] [note=/ptr];".
 * An ITSM posts what became of a ticket; the module maps the ITSM's status
 * onto the lifecycle (callback_status) and the store applies it to the key
 * whose ticket it is (ngx_http_itsm_store_ticket.c).
 *
 * Answers fit webhook senders, which retry and may switch off a webhook
 * that keeps failing: 200 for an event applied, for one that changes
 * nothing (a duplicate delivery, an older event, a ticket no key has, a
 * status the map does not name: each counted and logged); 401 without one
 * of the connector's tokens; 400 (JSON error) for a body that is not what
 * the profile reads; 413 over itsm_max_body; 503 with Retry-After when the
 * store cannot take it, so the sender tries again.
 *
 * A 200 means the change is on disk: the answer waits for the store's
 * flush.
 */


/* the longest event id looked at */
#define NGX_HTTP_ITSM_CALLBACK_EVENT_MAX  256


/* the outcomes counted on the status page: the store's results first */

typedef enum {
    NGX_HTTP_ITSM_CB_APPLIED = 0,
    NGX_HTTP_ITSM_CB_UNCHANGED,
    NGX_HTTP_ITSM_CB_DUPLICATE,
    NGX_HTTP_ITSM_CB_STALE,
    NGX_HTTP_ITSM_CB_UNKNOWN_TICKET,
    NGX_HTTP_ITSM_CB_IN_FLIGHT,
    NGX_HTTP_ITSM_CB_UNMAPPED,
    NGX_HTTP_ITSM_CB_IGNORED,
    NGX_HTTP_ITSM_CB_UNAUTHORIZED,
    NGX_HTTP_ITSM_CB_MALFORMED,
    NGX_HTTP_ITSM_CB_TOO_LARGE,
    NGX_HTTP_ITSM_CB_FAILED,
    NGX_HTTP_ITSM_CB_NOUTCOMES
} ngx_http_itsm_callback_outcome_e;


/*
 * The counters, in shared memory: the totals by outcome, and a slot a
 * connector (by name: a reload keeps a connector's counts, whatever its
 * place in the new configuration).
 */

#define NGX_HTTP_ITSM_CB_SLOTS    64
#define NGX_HTTP_ITSM_CB_NO_SLOT  ((ngx_uint_t) -1)

typedef struct {
    u_char                       name[64];
    size_t                       len;
    ngx_atomic_t                 count[NGX_HTTP_ITSM_CB_NOUTCOMES];
} ngx_http_itsm_callback_slot_t;


typedef struct {
    ngx_atomic_t                 count[NGX_HTTP_ITSM_CB_NOUTCOMES];
    ngx_uint_t                   nslots;
    ngx_http_itsm_callback_slot_t  slot[NGX_HTTP_ITSM_CB_SLOTS];
} ngx_http_itsm_callback_counters_t;


typedef struct {
    ngx_str_t                    name;         /* the connector's */
    ngx_http_itsm_connector_t   *conn;
    ngx_http_itsm_callback_profile_t  *profile;
    ngx_uint_t                   slot;         /* its counters' */
    ngx_str_t                    ticket;       /* JSON Pointers */
    ngx_str_t                    status;
    ngx_str_t                    event_id;
    ngx_str_t                    order;
    ngx_str_t                    note;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_callback_loc_conf_t;


typedef struct {
    ngx_array_t                  locations;    /* ..._loc_conf_t * */
    ngx_shm_zone_t              *counters;
    ngx_http_itsm_callback_counters_t  *shared;
} ngx_http_itsm_callback_main_conf_t;


typedef struct {
    ngx_http_itsm_callback_loc_conf_t  *conf;
    ngx_http_itsm_store_t        *store;
    ngx_http_itsm_store_ticket_t  cb;
    ngx_http_itsm_store_waiter_t  sync;
    ngx_str_t                     status;      /* as the ITSM wrote it */
    const char                   *invalid;     /* why the body is refused */
    void                         *sig;         /* the signature's check */
    unsigned                      unmapped:1;
    unsigned                      ignored:1;
} ngx_http_itsm_callback_ctx_t;


static ngx_int_t ngx_http_itsm_callback_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_itsm_callback_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_itsm_callback_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_callback_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_itsm_callback_pointer(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *name, ngx_str_t *pointer);
static char *ngx_http_itsm_callback_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf, ngx_http_itsm_callback_loc_conf_t *cblcf);
static ngx_int_t ngx_http_itsm_callback_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_callback_token(ngx_http_request_t *r,
    ngx_str_t *token);
static void ngx_http_itsm_callback_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_itsm_callback_accept(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_callback_read(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload);
static ngx_int_t ngx_http_itsm_callback_pointers(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload,
    ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_field(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx, json_t *payload, ngx_str_t *pointer,
    size_t max, ngx_str_t *out);
static void ngx_http_itsm_callback_synced(ngx_http_itsm_store_waiter_t *w,
    ngx_int_t rc);
static void ngx_http_itsm_callback_cleanup(void *data);
static ngx_int_t ngx_http_itsm_callback_answer(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx);
static ngx_int_t ngx_http_itsm_callback_set(json_t *body, const char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_itsm_callback_refuse(ngx_http_request_t *r,
    ngx_uint_t outcome, ngx_uint_t status, const char *code,
    const char *message);
static void ngx_http_itsm_callback_count(ngx_http_request_t *r,
    ngx_uint_t outcome);
static ngx_int_t ngx_http_itsm_callback_counts(ngx_http_request_t *r,
    ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_callback_connector_counts(
    ngx_http_request_t *r, ngx_array_t *counts);
static ngx_int_t ngx_http_itsm_callback_init_counters(
    ngx_shm_zone_t *shm_zone, void *data);


static ngx_str_t  ngx_http_itsm_callback_outcome_names[] = {
    ngx_string("applied"),
    ngx_string("unchanged"),
    ngx_string("duplicate"),
    ngx_string("stale"),
    ngx_string("unknown_ticket"),
    ngx_string("in_flight"),
    ngx_string("unmapped"),
    ngx_string("ignored"),
    ngx_string("unauthorized"),
    ngx_string("malformed"),
    ngx_string("too_large"),
    ngx_string("failed")
};


static ngx_str_t  ngx_http_itsm_callback_key_states[] = {
    ngx_string("none"),
    ngx_string("open"),
    ngx_string("resolved")
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_callback_provider = {
    ngx_string("callbacks"),
    ngx_string("ITSM callbacks, by outcome."),
    ngx_string("outcome"),
    ngx_http_itsm_callback_counts
};


static ngx_http_itsm_status_provider_t  ngx_http_itsm_callback_by_connector = {
    ngx_string("callbacks_by_connector"),
    ngx_string("ITSM callbacks, by connector and outcome."),
    ngx_string("outcome"),
    ngx_http_itsm_callback_connector_counts
};


static ngx_str_t  ngx_http_itsm_callback_connector_label =
    ngx_string("connector");


/* the layout of the counters changed with the slots: a new zone's name */
static ngx_str_t  ngx_http_itsm_callback_counters_name =
    ngx_string("itsm_callback_counters_v2");

static ngx_uint_t  ngx_http_itsm_callback_counters_tag;


static ngx_command_t  ngx_http_itsm_callback_commands[] = {

    { ngx_string("itsm_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_callback_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_callback_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_itsm_callback_postconfiguration, /* postconfiguration */

    ngx_http_itsm_callback_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_callback_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_callback_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_callback_module_ctx,    /* module context */
    ngx_http_itsm_callback_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_itsm_callback_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_callback_main_conf_t));
    if (cbmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cbmcf->locations, cf->pool, 2,
                       sizeof(ngx_http_itsm_callback_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cbmcf;
}


static void *
ngx_http_itsm_callback_create_loc_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_callback_loc_conf_t));
}


static char *
ngx_http_itsm_callback_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_itsm_callback_loc_conf_t *cblcf = conf;

    char                                 *rv;
    ngx_str_t                            *value, name;
    ngx_uint_t                            i;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_itsm_callback_loc_conf_t   **locp;
    ngx_http_itsm_callback_main_conf_t   *cbmcf;

    if (cblcf->name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&name, "generic");

    cblcf->name = value[1];
    cblcf->profile = ngx_http_itsm_callback_profile(&name);
    cblcf->file = cf->conf_file->file.name.data;
    cblcf->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "profile=", 8) == 0) {
            name.data = value[i].data + 8;
            name.len = value[i].len - 8;

            cblcf->profile = ngx_http_itsm_callback_profile(&name);

            if (cblcf->profile == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown itsm_callback profile \"%V\"; "
                                   "the profiles are: rt, jira, servicenow, "
                                   "pagerduty, opsgenie, generic", &name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ticket=", 7) == 0) {
            rv = ngx_http_itsm_callback_pointer(cf, &value[i], &value[i],
                                                &cblcf->ticket);

        } else if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            rv = ngx_http_itsm_callback_pointer(cf, &value[i], &value[i],
                                                &cblcf->status);

        } else if (ngx_strncmp(value[i].data, "event_id=", 9) == 0) {
            rv = ngx_http_itsm_callback_pointer(cf, &value[i], &value[i],
                                                &cblcf->event_id);

        } else if (ngx_strncmp(value[i].data, "order=", 6) == 0) {
            rv = ngx_http_itsm_callback_pointer(cf, &value[i], &value[i],
                                                &cblcf->order);

        } else if (ngx_strncmp(value[i].data, "note=", 5) == 0) {
            rv = ngx_http_itsm_callback_pointer(cf, &value[i], &value[i],
                                                &cblcf->note);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid itsm_callback parameter \"%V\"; "
                               "expected profile=, ticket=, status=, "
                               "event_id=, order= or note=", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    /* what Request Tracker's scrip posts (util/rt-callback.pl):
     * {"ticket": "42", "old_status": "open", "status": "resolved",
     *  "transaction": "917", ...}; transaction ids only grow */

    if (cblcf->profile->name.len == 2) {                /* "rt" */
        if (cblcf->ticket.len == 0) {
            ngx_str_set(&cblcf->ticket, "/ticket");
        }

        if (cblcf->status.len == 0) {
            ngx_str_set(&cblcf->status, "/status");
        }

        if (cblcf->event_id.len == 0) {
            ngx_str_set(&cblcf->event_id, "/transaction");
        }

        if (cblcf->order.len == 0) {
            ngx_str_set(&cblcf->order, "/transaction");
        }
    }

    /* the ITSMs' own profiles read their bodies themselves; a ticket=
     * of the location names another field as the ticket */

    if (cblcf->profile->parse == NULL
        && (cblcf->ticket.len == 0 || cblcf->status.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_callback \"%V\" with profile=generic needs "
                           "where the ticket and the status are: e.g. "
                           "\"ticket=/issue/key status=/issue/status\"",
                           &cblcf->name);
        return NGX_CONF_ERROR;
    }

    cbmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_itsm_callback_module);

    locp = ngx_array_push(&cbmcf->locations);
    if (locp == NULL) {
        return NGX_CONF_ERROR;
    }

    *locp = cblcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_itsm_callback_handler;

    return NGX_CONF_OK;
}


/* NAME=/pointer */

static char *
ngx_http_itsm_callback_pointer(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, ngx_str_t *pointer)
{
    u_char  *eq;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    pointer->data = eq + 1;
    pointer->len = value->data + value->len - pointer->data;

    if (pointer->len == 0
        || ngx_http_itsm_json_pointer_valid(pointer) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON Pointer in \"%V\" of itsm_callback; "
                           "write it as \"/a/b\" (RFC 6901)", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* once the whole configuration is read: the connectors are known */

static ngx_int_t
ngx_http_itsm_callback_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                           i;
    ngx_http_itsm_main_conf_t           *imcf;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_itsm_callback_module);

    if (cbmcf->locations.nelts == 0) {
        return NGX_OK;
    }

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {
        if (ngx_http_itsm_callback_check(cf, imcf, loc[i]) != NGX_CONF_OK) {
            return NGX_ERROR;
        }
    }

    cbmcf->counters = ngx_shared_memory_add(cf,
                                        &ngx_http_itsm_callback_counters_name,
                                        8 * ngx_pagesize,
                                        &ngx_http_itsm_callback_counters_tag);
    if (cbmcf->counters == NULL) {
        return NGX_ERROR;
    }

    cbmcf->counters->init = ngx_http_itsm_callback_init_counters;
    cbmcf->counters->data = cbmcf;

    if (ngx_http_itsm_status_provide(cf, &ngx_http_itsm_callback_provider)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_status_provide_grouped(cf,
                                        &ngx_http_itsm_callback_by_connector,
                                        &ngx_http_itsm_callback_connector_label);
}


static char *
ngx_http_itsm_callback_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf,
    ngx_http_itsm_callback_loc_conf_t *cblcf)
{
    ngx_http_itsm_connector_t  *conn;

    conn = ngx_http_itsm_conn_find(imcf, &cblcf->name);

    if (conn == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback: unknown connector \"%V\" in %s:%ui; "
                      "declare it with \"itsm_connector %V { ... }\" at "
                      "http level", &cblcf->name, cblcf->file, cblcf->line,
                      &cblcf->name);
        return NGX_CONF_ERROR;
    }

    if (imcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback \"%V\" in %s:%ui needs \"itsm_store\": "
                      "a callback changes what the store knows of a key",
                      &cblcf->name, cblcf->file, cblcf->line);
        return NGX_CONF_ERROR;
    }

    if (conn->callback == NULL
        || (conn->callback->tokens.nelts == 0 && conn->callback->sig == NULL))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_callback \"%V\" in %s:%ui: the connector has no "
                      "\"callback_token\"; run \"build/itsm-token new %V\", "
                      "give the token to the ITSM and put the "
                      "\"callback_token sha256:...;\" line it prints in "
                      "\"itsm_connector %V\" (%s:%ui)", &cblcf->name,
                      cblcf->file, cblcf->line, &cblcf->name, &cblcf->name,
                      conn->file, conn->line);
        return NGX_CONF_ERROR;
    }

    if (conn->callback->statuses.nelts == 0) {

        if (cblcf->profile->preset.len) {
            if (ngx_http_itsm_callback_preset(cf, conn,
                                              &cblcf->profile->preset)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_callback \"%V\" in %s:%ui: the connector "
                          "maps no ITSM status; add e.g. \"callback_status "
                          "Open=open Done=resolved;\" to \"itsm_connector "
                          "%V\" (%s:%ui)", &cblcf->name, cblcf->file,
                          cblcf->line, &cblcf->name, conn->file, conn->line);
            return NGX_CONF_ERROR;
        }
    }

    cblcf->conn = conn;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_itsm_callback_handler(ngx_http_request_t *r)
{
    off_t                               length;
    ngx_int_t                           rc, signed_rc;
    void                               *sig;
    ngx_str_t                           token;
    ngx_table_elt_t                    *allow;
    ngx_http_cleanup_t                 *cln;
    ngx_http_itsm_loc_conf_t           *ilcf;
    ngx_http_itsm_main_conf_t          *imcf;
    ngx_http_itsm_callback_ctx_t       *ctx;
    ngx_http_itsm_callback_loc_conf_t  *cblcf;

    cblcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_callback_module);
    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_module);
    imcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_module);

    if (r != r->main) {
        return NGX_HTTP_FORBIDDEN;
    }

    length = r->headers_in.content_length_n;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        allow = ngx_list_push(&r->headers_out.headers);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        allow->hash = 1;
        ngx_str_set(&allow->key, "Allow");
        ngx_str_set(&allow->value, "POST");

        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_MALFORMED,
                                             NGX_HTTP_NOT_ALLOWED,
                                             "method_not_allowed",
                                             "callbacks are sent with POST");
    }

    /*
     * who calls first: a stranger learns nothing from the body's checks.
     * A connector with callback_signature must sign every callback (its
     * MAC is checked once the body is read); else its token decides.
     */

    sig = NULL;

    signed_rc = ngx_http_itsm_callback_sig_headers(r, cblcf->conn, &sig);

    if (signed_rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&token);

    if (signed_rc == NGX_ABORT
        || (signed_rc == NGX_DECLINED
            && (ngx_http_itsm_callback_token(r, &token) != NGX_OK
                || !ngx_http_itsm_callback_token_valid(cblcf->conn, &token))))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        allow = ngx_list_push(&r->headers_out.headers);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        allow->hash = 1;
        ngx_str_set(&allow->key, "WWW-Authenticate");
        ngx_str_set(&allow->value, "Bearer realm=\"itsm callback\"");

        if (signed_rc == NGX_ABORT) {
            return ngx_http_itsm_callback_refuse(r,
                                             NGX_HTTP_ITSM_CB_UNAUTHORIZED,
                                             NGX_HTTP_UNAUTHORIZED,
                                             "signature_invalid",
                                             "the callback is not signed "
                                             "with this connector's "
                                             "callback_signature");
        }

        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_UNAUTHORIZED,
                                             NGX_HTTP_UNAUTHORIZED,
                                             token.len ? "token_invalid"
                                                       : "token_missing",
                                             token.len
                                             ? "the token is not one of this "
                                               "connector's callback tokens"
                                             : "send a callback token of "
                                               "this connector in "
                                               "\"Authorization: Bearer\" or "
                                               "\"X-ITSM-Token\"");
    }

    if (length > (off_t) ilcf->max_body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_TOO_LARGE,
                                             NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                             "body_too_large",
                                             "the body is larger than "
                                             "itsm_max_body allows");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_callback_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = cblcf;
    ctx->sig = sig;
    ctx->store = imcf->store;
    ctx->sync.handler = ngx_http_itsm_callback_synced;
    ctx->sync.data = r;

    /* a request that ends while it waits for the flush leaves the queue */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_itsm_callback_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_itsm_callback_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm callback: connector \"%V\", %s", &cblcf->name,
                   sig ? "signature headers read" : "token accepted");

    rc = ngx_http_read_client_request_body(r, ngx_http_itsm_callback_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* "Authorization: Bearer TOKEN" or "X-ITSM-Token: TOKEN" */

static ngx_int_t
ngx_http_itsm_callback_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    ngx_str_null(token);

    h = r->headers_in.authorization;

    if (h && h->value.len > sizeof("Bearer ") - 1
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           == 0)
    {
        token->data = h->value.data + sizeof("Bearer ") - 1;
        token->len = h->value.len - (sizeof("Bearer ") - 1);

        while (token->len && token->data[0] == ' ') {
            token->data++;
            token->len--;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = ngx_http_itsm_util_header(r, "X-ITSM-Token");

    if (h && h->value.len) {
        *token = h->value;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_itsm_callback_body(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_itsm_callback_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    rc = ngx_http_itsm_callback_accept(r, ctx);

    if (rc == NGX_DONE) {
        return;                                 /* waits for the flush */
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
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
        return ngx_http_itsm_callback_refuse(r, NGX_HTTP_ITSM_CB_TOO_LARGE,
                                             NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                             "body_too_large",
                                             "the body is larger than "
                                             "itsm_max_body allows");
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
        ngx_http_itsm_callback_count(r, NGX_HTTP_ITSM_CB_IGNORED);

        return ngx_http_itsm_reply_raw(r, NGX_HTTP_OK, (u_char *)
                                       "{\"outcome\":\"ignored\"}",
                                       sizeof("{\"outcome\":\"ignored\"}")
                                       - 1);
    }

    if (ctx->unmapped) {
        ngx_http_itsm_callback_count(r, NGX_HTTP_ITSM_CB_UNMAPPED);

        return ngx_http_itsm_reply_raw(r, NGX_HTTP_OK, (u_char *)
                                       "{\"outcome\":\"unmapped\"}",
                                       sizeof("{\"outcome\":\"unmapped\"}")
                                       - 1);
    }

    if (ngx_http_itsm_store_ticket_apply(ctx->store, &ctx->conf->conn->name,
                                         &ctx->cb)
        != NGX_OK)
    {
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

    if (rc == NGX_OK) {
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



static void
ngx_http_itsm_callback_synced(ngx_http_itsm_store_waiter_t *w, ngx_int_t rc)
{
    ngx_http_request_t  *r = w->data;

    ngx_connection_t              *c;
    ngx_http_itsm_callback_ctx_t  *ctx;

    w->waiting = 0;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_itsm_callback_module);

    if (rc != NGX_OK) {
        ngx_http_itsm_callback_count(r, NGX_HTTP_ITSM_CB_FAILED);

        if (ngx_http_itsm_reply_retry_after(r, NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = ngx_http_itsm_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "store_unavailable",
                                           "the store could not write the "
                                           "callback to disk; send it again");
        }

    } else {
        rc = ngx_http_itsm_callback_answer(r, ctx);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_itsm_callback_cleanup(void *data)
{
    ngx_http_itsm_callback_ctx_t  *ctx = data;

    if (ctx->store) {
        ngx_http_itsm_store_sync_cancel(ctx->store, &ctx->sync);
    }
}


/* 200 {"outcome":"applied","ticket":"42","key":"db-1","status":"resolved",
 *      "state":"resolved","key_state":"resolved"} */

static ngx_int_t
ngx_http_itsm_callback_answer(ngx_http_request_t *r,
    ngx_http_itsm_callback_ctx_t *ctx)
{
    json_t                        *body;
    ngx_int_t                      rc;
    ngx_uint_t                     outcome;
    ngx_http_itsm_store_ticket_t  *cb;

    cb = &ctx->cb;
    outcome = cb->result;

    ngx_http_itsm_callback_count(r, outcome);

    if (outcome == NGX_HTTP_ITSM_CB_APPLIED) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\" key "
                      "\"%V\": %V (\"%V\"): the key %V -> %V",
                      &ctx->conf->name, &cb->ticket, &cb->key,
                      &ngx_http_itsm_callback_state_names[cb->state],
                      &ctx->status,
                      &ngx_http_itsm_callback_key_states[cb->before],
                      &ngx_http_itsm_callback_key_states[cb->after]);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "itsm callback: connector \"%V\" ticket \"%V\" "
                      "(\"%V\"): %V, nothing changes", &ctx->conf->name,
                      &cb->ticket, &ctx->status,
                      &ngx_http_itsm_callback_outcome_names[outcome]);
    }

    body = json_object();

    if (body == NULL
        || ngx_http_itsm_callback_set(body, "outcome",
                              &ngx_http_itsm_callback_outcome_names[outcome])
           != NGX_OK
        || ngx_http_itsm_callback_set(body, "ticket", &cb->ticket) != NGX_OK
        || (cb->key.len
            && ngx_http_itsm_callback_set(body, "key", &cb->key) != NGX_OK)
        || ngx_http_itsm_callback_set(body, "status", &ctx->status) != NGX_OK
        || (cb->assignee.len && cb->result != NGX_HTTP_ITSM_CB_UNKNOWN_TICKET
            && ngx_http_itsm_callback_set(body, "assignee", &cb->assignee)
               != NGX_OK)
        || ngx_http_itsm_callback_set(body, "state",
                              &ngx_http_itsm_callback_state_names[cb->state])
           != NGX_OK
        || (outcome == NGX_HTTP_ITSM_CB_APPLIED
            && ngx_http_itsm_callback_set(body, "key_state",
                              &ngx_http_itsm_callback_key_states[cb->after])
               != NGX_OK))
    {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_itsm_reply_json(r, NGX_HTTP_OK, body);

    /* the change is on disk and the ITSM has its answer: then back to the
     * alert's source (ngx_http_itsm_callback_source.c); also when an alert
     * holds the key, if the ITSM's state changed (the echo of the alert's
     * own resolve still expires a silence) */

    if (outcome == NGX_HTTP_ITSM_CB_APPLIED
        || (outcome == NGX_HTTP_ITSM_CB_IN_FLIGHT && cb->known != cb->state))
    {
        rc = ngx_http_itsm_callback_source_run(r, ctx->store, ctx->conf->conn,
                                               cb, &ctx->status, NULL, rc);
    }

    return rc;
}


static ngx_int_t
ngx_http_itsm_callback_set(json_t *body, const char *name, ngx_str_t *value)
{
    json_t  *v;

    v = json_stringn((const char *) value->data, value->len);

    if (v == NULL || json_object_set_new(body, name, v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_callback_refuse(ngx_http_request_t *r, ngx_uint_t outcome,
    ngx_uint_t status, const char *code, const char *message)
{
    ngx_http_itsm_callback_count(r, outcome);

    return ngx_http_itsm_reply_error(r, status, code, "%s", message);
}


static void
ngx_http_itsm_callback_count(ngx_http_request_t *r, ngx_uint_t outcome)
{
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_loc_conf_t   *cblcf;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);
    cblcf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    if (counters == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&counters->count[outcome], 1);

    if (cblcf->slot != NGX_HTTP_ITSM_CB_NO_SLOT) {
        (void) ngx_atomic_fetch_add(&counters->slot[cblcf->slot]
                                    .count[outcome], 1);
    }
}


static ngx_int_t
ngx_http_itsm_callback_counts(ngx_http_request_t *r, ngx_array_t *counts)
{
    ngx_uint_t                           i;
    ngx_http_itsm_status_count_t        *c;
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    c = ngx_array_push_n(counts, NGX_HTTP_ITSM_CB_NOUTCOMES);
    if (c == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_CB_NOUTCOMES; i++) {
        c[i].name = ngx_http_itsm_callback_outcome_names[i];
        c[i].value = counters ? counters->count[i] : 0;
        ngx_str_null(&c[i].group);
    }

    return NGX_OK;
}


/* each connector of this configuration with a callback location, once */

static ngx_int_t
ngx_http_itsm_callback_connector_counts(ngx_http_request_t *r,
    ngx_array_t *counts)
{
    ngx_uint_t                           i, j, o, seen;
    ngx_http_itsm_status_count_t        *c;
    ngx_http_itsm_callback_slot_t       *slot;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = ngx_http_get_module_main_conf(r, ngx_http_itsm_callback_module);

    counters = cbmcf->shared;

    if (counters == NULL) {
        return NGX_OK;
    }

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {

        if (loc[i]->slot == NGX_HTTP_ITSM_CB_NO_SLOT) {
            continue;
        }

        seen = 0;

        for (j = 0; j < i; j++) {
            seen |= (loc[j]->slot == loc[i]->slot);
        }

        if (seen) {
            continue;
        }

        slot = &counters->slot[loc[i]->slot];

        c = ngx_array_push_n(counts, NGX_HTTP_ITSM_CB_NOUTCOMES);
        if (c == NULL) {
            return NGX_ERROR;
        }

        for (o = 0; o < NGX_HTTP_ITSM_CB_NOUTCOMES; o++) {
            c[o].name = ngx_http_itsm_callback_outcome_names[o];
            c[o].value = slot->count[o];
            c[o].group = loc[i]->name;
        }
    }

    return NGX_OK;
}


/*
 * The zone's data is this configuration's main conf until init: then the
 * counters are found (a reload: the old configuration's; a restart of the
 * workers: the slab's) and each location gets its connector's slot.
 */

static ngx_int_t
ngx_http_itsm_callback_init_counters(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_itsm_callback_main_conf_t  *ocbmcf = data;

    ngx_uint_t                           i, s;
    ngx_slab_pool_t                     *shpool;
    ngx_http_itsm_callback_slot_t       *slot;
    ngx_http_itsm_callback_loc_conf_t  **loc;
    ngx_http_itsm_callback_counters_t   *counters;
    ngx_http_itsm_callback_main_conf_t  *cbmcf;

    cbmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ocbmcf) {
        counters = ocbmcf->shared;              /* a reload keeps them */

    } else if (shm_zone->shm.exists) {
        counters = shpool->data;

    } else {
        counters = ngx_slab_calloc(shpool,
                                   sizeof(ngx_http_itsm_callback_counters_t));
        if (counters == NULL) {
            return NGX_ERROR;
        }

        shpool->data = counters;
    }

    cbmcf->shared = counters;

    loc = cbmcf->locations.elts;

    for (i = 0; i < cbmcf->locations.nelts; i++) {
        loc[i]->slot = NGX_HTTP_ITSM_CB_NO_SLOT;

        if (loc[i]->name.len > sizeof(counters->slot[0].name)) {
            continue;
        }

        for (s = 0; s < counters->nslots; s++) {
            slot = &counters->slot[s];

            if (slot->len == loc[i]->name.len
                && ngx_memcmp(slot->name, loc[i]->name.data, slot->len) == 0)
            {
                break;
            }
        }

        if (s == counters->nslots) {
            if (s == NGX_HTTP_ITSM_CB_SLOTS) {
                continue;                       /* counted in the totals */
            }

            slot = &counters->slot[s];
            ngx_memcpy(slot->name, loc[i]->name.data, loc[i]->name.len);
            slot->len = loc[i]->name.len;
            counters->nslots++;
        }

        loc[i]->slot = s;
    }

    return NGX_OK;
}
