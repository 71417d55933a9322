
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_MODULE_H_INCLUDED_
#define _NGX_HTTP_ITSM_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


#define NGX_HTTP_ITSM_DEFAULT_MAX_BODY      (256 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_MAX_DEPTH     32
#define NGX_HTTP_ITSM_DEFAULT_MAX_RESPONSE  (1024 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER   30

/* the cooldown of "on_repeat comment": at most a comment per 5 minutes */
#define NGX_HTTP_ITSM_DEFAULT_COOLDOWN      300

/* the pending deliveries' retries: every 30 s doubling up to an hour, then
 * the dead letters after 30 attempts (about a day) */
#define NGX_HTTP_ITSM_DEFAULT_ATTEMPTS      30
#define NGX_HTTP_ITSM_DEFAULT_BACKOFF       30
#define NGX_HTTP_ITSM_DEFAULT_BACKOFF_MAX   3600

/* the "due" of a dead letter: never, until requeued */
#define NGX_HTTP_ITSM_PENDING_DEAD          ((time_t) 0x7fffffff)

/* how long an alert waits for another request's claim on its key, at
 * most: claims are renewed while their request waits on the ITSM */
#define NGX_HTTP_ITSM_WAIT_MAX              300

/* the longest ticket id kept in the store */
#define NGX_HTTP_ITSM_TICKET_MAX            64

/* the longest value a connector's "header" line sends (alert text cut) */
#define NGX_HTTP_ITSM_HEADER_VALUE_MAX      4096

/* how much of an ITSM's error text is passed on to the sender and the log */
#define NGX_HTTP_ITSM_ERROR_TEXT_MAX        1024

/* how long a resolved key is kept in the store (itsm_store retention=) */
#define NGX_HTTP_ITSM_DEFAULT_RETENTION     (7 * 24 * 3600)


typedef struct ngx_http_itsm_store_s  ngx_http_itsm_store_t;
typedef struct ngx_http_itsm_zone_s   ngx_http_itsm_zone_t;


/*
 * the fields of a normalized alert, in the order of the template names
 * (ngx_http_itsm_field_names[]); every field is text, and a field the
 * source did not give has no data
 */

typedef enum {
    NGX_HTTP_ITSM_FIELD_KEY = 0,
    NGX_HTTP_ITSM_FIELD_SOURCE,
    NGX_HTTP_ITSM_FIELD_STATUS,                /* "firing" or "resolved" */
    NGX_HTTP_ITSM_FIELD_SEVERITY,              /* critical ... low */
    NGX_HTTP_ITSM_FIELD_TITLE,
    NGX_HTTP_ITSM_FIELD_DESCRIPTION,
    NGX_HTTP_ITSM_FIELD_RESOURCE,
    NGX_HTTP_ITSM_FIELD_SEVERITY_RAW,          /* as the source sent it */
    NGX_HTTP_ITSM_FIELD_GROUP_KEY,
    NGX_HTTP_ITSM_FIELD_STARTS_AT,
    NGX_HTTP_ITSM_FIELD_ENDS_AT,
    NGX_HTTP_ITSM_FIELD_LINK,
    NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS,   /* ", " between items */
    NGX_HTTP_ITSM_FIELD_TARGET_IDS,            /* ", " between ids */
    NGX_HTTP_ITSM_FIELD_EXTERNAL_URL,
    NGX_HTTP_ITSM_NFIELDS
} ngx_http_itsm_field_e;


typedef enum {
    NGX_HTTP_ITSM_FIRING = 0,
    NGX_HTTP_ITSM_RESOLVED
} ngx_http_itsm_state_e;


typedef enum {
    NGX_HTTP_ITSM_SOURCE_GENERIC = 0,
    NGX_HTTP_ITSM_SOURCE_ALERTMANAGER,
    NGX_HTTP_ITSM_SOURCE_GRAFANA,
    NGX_HTTP_ITSM_SOURCE_AZURE,
    NGX_HTTP_ITSM_SOURCE_DATADOG,
    NGX_HTTP_ITSM_NSOURCES
} ngx_http_itsm_source_e;


typedef enum {
    NGX_HTTP_ITSM_ACTION_CREATE = 0,
    NGX_HTTP_ITSM_ACTION_UPDATE,
    NGX_HTTP_ITSM_ACTION_COMMENT,
    NGX_HTTP_ITSM_ACTION_RESOLVE,
    NGX_HTTP_ITSM_ACTION_REOPEN,
    NGX_HTTP_ITSM_NACTIONS,
    NGX_HTTP_ITSM_ACTION_NONE = NGX_HTTP_ITSM_NACTIONS
} ngx_http_itsm_action_e;


/* what happened to an alert, as the answer and the status page name it */

typedef enum {
    NGX_HTTP_ITSM_OUTCOME_CREATED = 0,
    NGX_HTTP_ITSM_OUTCOME_COMMENTED,
    NGX_HTTP_ITSM_OUTCOME_UPDATED,
    NGX_HTTP_ITSM_OUTCOME_RESOLVED,
    NGX_HTTP_ITSM_OUTCOME_REOPENED,
    NGX_HTTP_ITSM_OUTCOME_DUPLICATE,
    NGX_HTTP_ITSM_OUTCOME_COOLDOWN,
    NGX_HTTP_ITSM_OUTCOME_IGNORED,
    NGX_HTTP_ITSM_OUTCOME_LEFT_OPEN,
    NGX_HTTP_ITSM_OUTCOME_QUEUED,              /* kept, delivered later */
    NGX_HTTP_ITSM_OUTCOME_FAILED,              /* the ITSM or the store */
    NGX_HTTP_ITSM_OUTCOME_REFUSED,             /* a bad request */
    NGX_HTTP_ITSM_NOUTCOMES
} ngx_http_itsm_outcome_e;


/* what one alert does: up to two requests, then the answer's outcome */

typedef struct {
    ngx_http_itsm_action_e       steps[2];
    ngx_uint_t                   nsteps;
    ngx_http_itsm_outcome_e      outcome;
    const char                  *reason;
    time_t                       due;          /* coalesced: when to send */
    unsigned                     coalesce:1;
} ngx_http_itsm_plan_t;


/* how a substituted value is escaped: chosen by where the template is used */

typedef enum {
    NGX_HTTP_ITSM_ESCAPE_JSON = 0,
    NGX_HTTP_ITSM_ESCAPE_URI,
    NGX_HTTP_ITSM_ESCAPE_HEADER
} ngx_http_itsm_escape_e;


typedef struct {
    ngx_str_t                    fields[NGX_HTTP_ITSM_NFIELDS];
    ngx_http_itsm_state_e        state;
    json_t                      *raw;          /* the alert's own object */
    uint64_t                     hash;         /* of the fields; 0: not yet */
} ngx_http_itsm_alert_t;


/* what the store knows of a key (a connector's correlation key) */

typedef enum {
    NGX_HTTP_ITSM_KEY_NONE = 0,
    NGX_HTTP_ITSM_KEY_OPEN,                    /* a ticket is open */
    NGX_HTTP_ITSM_KEY_RESOLVED                 /* its ticket was resolved */
} ngx_http_itsm_key_state_e;


/*
 * How the last claim of a key ended: what requests that joined it (an
 * identical alert that arrived while it was in flight) answer, without
 * sending anything themselves.
 */

typedef enum {
    NGX_HTTP_ITSM_FLIGHT_NONE = 0,
    NGX_HTTP_ITSM_FLIGHT_DONE,                 /* the plan was carried out */
    NGX_HTTP_ITSM_FLIGHT_NOTHING,              /* nothing was sent */
    NGX_HTTP_ITSM_FLIGHT_REFUSED,              /* the ITSM refused (4xx) */
    NGX_HTTP_ITSM_FLIGHT_UNAVAILABLE,          /* 5xx, 408, 429, no answer */
    NGX_HTTP_ITSM_FLIGHT_QUEUED,               /* kept in the queue */
    NGX_HTTP_ITSM_FLIGHT_FAILED                /* a bad answer, a lookup */
} ngx_http_itsm_flight_e;


typedef struct {
    ngx_uint_t                   state;        /* ngx_http_itsm_key_state_e */
    ngx_uint_t                   owner;        /* pid holding the claim */
    time_t                       lease_until;
    time_t                       first_seen;
    time_t                       last_seen;
    time_t                       last_action;  /* last comment or update */
    time_t                       resolved_at;
    ngx_uint_t                   occurrences;
    ngx_str_t                    ticket;
    u_char                       ticket_data[NGX_HTTP_ITSM_TICKET_MAX];

    /*
     * The claim: its token (a claim taken over, and the request that made
     * it, can no longer commit or release), and the content hash of the
     * alert it acts for (identical alerts join it).
     */
    uint64_t                     token;
    uint64_t                     hash;

    /* a create was sent then and its outcome is unknown (no answer, a 5xx,
     * a 2xx without a ticket id): the next create asks the ITSM first */
    time_t                       doubt;

    /* how the last claim ended (ngx_http_itsm_flight_e) */
    uint64_t                     last_token;
    ngx_uint_t                   last_result;
    ngx_uint_t                   last_status;  /* the ITSM's HTTP status */
    time_t                       last_retry;   /* its Retry-After */

    unsigned                     pending:1;    /* claimed */
} ngx_http_itsm_record_t;


/* how full the store is */

typedef struct {
    size_t                       size;         /* the most it can hold */
    size_t                       used;         /* bytes in use */
    size_t                       keys;
} ngx_http_itsm_store_space_t;


typedef ngx_int_t (*ngx_http_itsm_store_iter_pt)(void *data, ngx_str_t *key,
    ngx_http_itsm_record_t *rec);
typedef ngx_int_t (*ngx_http_itsm_store_due_pt)(void *data, ngx_str_t *key,
    ngx_uint_t attempts);


/* a key's pending delivery: when it is due, how often it was tried, and
 * what it holds (the queue's JSON) */

typedef struct {
    time_t                       due;
    ngx_uint_t                   attempts;
    ngx_str_t                    text;
} ngx_http_itsm_store_pending_t;

typedef ngx_int_t (*ngx_http_itsm_store_merge_pt)(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend);


/* what a template may substitute: filled by the handler for one render */

typedef struct {
    ngx_http_request_t          *request;
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_record_t      *record;       /* NULL without a store */
    ngx_str_t                    ticket_id;
    ngx_str_t                    lookup;       /* read by the action's lookup */
    ngx_str_t                    key;          /* the correlation key */
    ngx_uint_t                   occurrences;  /* this alert included */
    time_t                       last_seen;    /* before this alert */
} ngx_http_itsm_tpl_ctx_t;


typedef struct {
    ngx_array_t                  ops;          /* ngx_http_itsm_tpl_op_t */
    ngx_http_itsm_escape_e       escape;
    ngx_str_t                    source;       /* the template text */
} ngx_http_itsm_tpl_t;


typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_tpl_t         *value;
} ngx_http_itsm_header_t;


typedef struct {
    ngx_uint_t                   method;
    ngx_str_t                    method_name;
    ngx_http_itsm_tpl_t         *uri;
    ngx_http_itsm_tpl_t         *body;         /* NULL: no request body */
} ngx_http_itsm_action_t;


/* a GET before an action, for a value only the ITSM knows */

typedef struct {
    ngx_http_itsm_action_t       request;
    ngx_str_t                    list;         /* JSON Pointer to an array */
    ngx_array_t                  match;        /* ngx_str_t: JSON Pointers */
    ngx_array_t                  want;         /* ngx_str_t: by preference */
    ngx_str_t                    take;         /* JSON Pointer to the value */
    ngx_flag_t                   skip;         /* no match: no action */
} ngx_http_itsm_lookup_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    location;     /* internal location prefix */
    ngx_http_itsm_action_t      *actions[NGX_HTTP_ITSM_NACTIONS];
    ngx_http_itsm_lookup_t      *lookups[NGX_HTTP_ITSM_NACTIONS];
    ngx_http_itsm_lookup_t      *find;         /* the ticket of a key */
    ngx_array_t                  headers;      /* ngx_http_itsm_header_t */
    ngx_str_t                    ticket_id;    /* JSON Pointer */
    size_t                       max_response;
    ngx_http_itsm_tpl_t         *key;          /* correlation key */

    ngx_uint_t                   on_repeat;    /* NONE, COMMENT, UPDATE */
    ngx_flag_t                   repeat_comment;   /* "update comment" */
    time_t                       cooldown;
    ngx_flag_t                   cooldown_default;
    ngx_uint_t                   on_resolve;   /* RESOLVE, COMMENT, NONE */
    ngx_flag_t                   resolve_comment;
    ngx_uint_t                   on_refire;    /* REOPEN, CREATE */
    time_t                       reopen_window;
    ngx_flag_t                   reopen_comment;
    ngx_uint_t                   on_gone;      /* CREATE, NONE (fail) */

    u_char                      *file;
    ngx_uint_t                   line;

    /* the servers whose locations take its paths (ngx_http_itsm_layout.c):
     * ngx_http_core_srv_conf_t * */
    ngx_array_t                 *servers;
} ngx_http_itsm_connector_t;


/* an answer kept for a delivery that may come again */

typedef struct {
    ngx_uint_t                   action;
    ngx_uint_t                   outcome;
    uint64_t                     body;         /* the body's hash: 0 none */
    ngx_str_t                    ticket;
    u_char                       ticket_data[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_answer_t;


/* the status page's counters, in the zone */

typedef struct {
    ngx_atomic_t                 alerts[NGX_HTTP_ITSM_NSOURCES]
                                       [NGX_HTTP_ITSM_NOUTCOMES];
    ngx_atomic_t                 actions[NGX_HTTP_ITSM_NACTIONS][2];
    ngx_atomic_t                 expired;      /* resolved keys expired */
} ngx_http_itsm_counters_t;


typedef struct {
    ngx_array_t                  connectors;   /* ngx_http_itsm_connector_t * */
    ngx_array_t                  references;   /* ngx_http_itsm_conn_ref_t */
    ngx_http_itsm_store_t       *store;        /* NULL: no itsm_store */
    ngx_http_itsm_zone_t        *zone;         /* NULL: no itsm_zone */
    ngx_str_t                    replay_url;   /* itsm_replay_url */
    ngx_str_t                    replay_socket;
    ngx_uint_t                   attempts;     /* itsm_retry */
    time_t                       backoff;
    time_t                       backoff_max;
    time_t                       retention;    /* itsm_store retention= */
    u_char                      *store_file;   /* where itsm_store is */
    ngx_uint_t                   store_line;
} ngx_http_itsm_main_conf_t;


typedef struct {
    ngx_array_t                 *connectors;   /* itsm_pass NAME ... */
    ngx_http_complex_value_t    *route;        /* itsm_pass $variable */
    ngx_uint_t                   source;       /* ngx_http_itsm_source_e */
    ngx_str_t                   *pointers;     /* per field, generic source */

    size_t                       max_body;
    ngx_uint_t                   max_depth;
    time_t                       retry_after;
    ngx_flag_t                   queue;        /* itsm_queue */
    u_char                      *queue_file;   /* where it was set */
    ngx_uint_t                   queue_line;
    ngx_flag_t                   status_prometheus;

    ngx_http_itsm_tpl_t         *dedup;        /* delivery id template */
    ngx_flag_t                   dedup_off;
    time_t                       dedup_window;

    u_char                      *file;         /* where itsm_pass is */
    ngx_uint_t                   line;

    u_char                      *loc_file;     /* where the block starts, */
    ngx_uint_t                   loc_line;     /* for nginx -t's messages */
} ngx_http_itsm_loc_conf_t;


/* what happened to one alert, for the answer */

typedef struct {
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_connector_t   *connector;    /* NULL: routed nowhere */
    ngx_str_t                    key;          /* correlation key */
    ngx_http_itsm_action_e       action;       /* the plan's last step */
    ngx_http_itsm_outcome_e      outcome;
    ngx_str_t                    ticket_id;
    const char                  *reason;
    unsigned                     replayed:1;   /* a delivery seen before */
} ngx_http_itsm_result_t;


/* the state of one inbound alert request, kept in the main request's ctx */

typedef struct {
    ngx_http_request_t          *request;
    ngx_http_itsm_loc_conf_t    *conf;
    ngx_http_itsm_store_t       *store;
    json_t                      *payload;
    ngx_array_t                  alerts;       /* ngx_http_itsm_alert_t * */
    ngx_array_t                  results;      /* ngx_http_itsm_result_t */
    ngx_uint_t                   index;        /* the alert being handled */
    ngx_array_t                  targets;      /* its connectors */
    ngx_uint_t                   target;       /* the one being handled */
    ngx_uint_t                   seq;          /* (alert, connector) count */

    /* the alert being handled, for one of its connectors */
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_connector_t   *connector;
    ngx_http_itsm_tpl_ctx_t      tpl;
    ngx_str_t                    key;
    ngx_str_t                    dedup;        /* delivery id, if any */
    ngx_str_t                    body;         /* the request's, as sent */
    uint64_t                     body_hash;    /* for a header's id */
    ngx_http_itsm_record_t       record;       /* before the claim */
    ngx_http_itsm_plan_t         plan;
    ngx_uint_t                   step;
    ngx_uint_t                   counted;      /* seq + 1 once counted */
    ngx_event_t                  wait;         /* for another's claim */
    ngx_msec_t                   wait_delay;
    time_t                       wait_until;
    uint64_t                     joined;       /* the claim it waits on */
    ngx_uint_t                   held_seq;     /* the held entry it sends */
    ngx_uint_t                   held_notes;   /* how many of its notes */
    ngx_http_itsm_alert_t       *digest;       /* the alert, for comments */
    ngx_event_t                  renew;        /* keeps our claim alive */

    /* the delivery in flight */
    ngx_http_itsm_action_e       action;
    ngx_uint_t                   status;       /* the ITSM's HTTP status */
    ngx_chain_t                 *response;     /* captured response body */
    ngx_chain_t                **last;
    size_t                       response_len;
    time_t                       itsm_retry_after;

    /* for $itsm_* variables */
    ngx_str_t                    outcome;

    unsigned                     claimed:1;
    unsigned                     doubt:1;      /* an earlier create may have
                                                  made the ticket */
    unsigned                     finding:1;    /* the find is in flight */
    unsigned                     found:1;      /* find answered: not again */
    unsigned                     create_sent:1;
    unsigned                     unknown:1;    /* the create's outcome */
    unsigned                     looking:1;    /* the lookup is in flight */
    unsigned                     gone:1;       /* the ticket was gone */
    unsigned                     routed:1;     /* targets are set */
    unsigned                     replay:1;     /* a pending delivery */
    unsigned                     notes_only:1; /* held notes, no state */
    unsigned                     held:1;       /* sends the held notes */
    unsigned                     delivered:1;  /* post_subrequest ran */
    unsigned                     answered:1;   /* the ITSM sent a status */
    unsigned                     truncated:1;
} ngx_http_itsm_ctx_t;


/* ngx_http_itsm_connector.c */
char *ngx_http_itsm_conn_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_connector_t *ngx_http_itsm_conn_find(
    ngx_http_itsm_main_conf_t *imcf, ngx_str_t *name);
ngx_int_t ngx_http_itsm_conn_action_index(ngx_str_t *name);

/* ngx_http_itsm_lookup.c */
char *ngx_http_itsm_lookup_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lookup_find_directive(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_lookup_pick(ngx_http_itsm_lookup_t *lk, u_char *data,
    size_t len, ngx_pool_t *pool, ngx_str_t *out, ngx_str_t *why);

/* ngx_http_itsm_store.c */
ngx_http_itsm_store_t *ngx_http_itsm_store_create(ngx_conf_t *cf,
    ngx_str_t *path, size_t size, time_t lease);
ngx_int_t ngx_http_itsm_store_check(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store);
ngx_int_t ngx_http_itsm_store_open(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store);
void ngx_http_itsm_store_close(ngx_http_itsm_store_t *store);
ngx_int_t ngx_http_itsm_store_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_claim(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec,
    uint64_t hash, ngx_uint_t create);
ngx_int_t ngx_http_itsm_store_doubt(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token);
ngx_int_t ngx_http_itsm_store_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token);
ngx_int_t ngx_http_itsm_store_commit(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec);
ngx_int_t ngx_http_itsm_store_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before);
ngx_int_t ngx_http_itsm_store_iterate(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_iter_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_usage(ngx_http_itsm_store_t *store,
    size_t *bytes, size_t *keys);
ngx_int_t ngx_http_itsm_store_busy(ngx_http_itsm_record_t *rec, time_t now);
time_t ngx_http_itsm_store_lease(ngx_http_itsm_store_t *store);
ngx_int_t ngx_http_itsm_store_pending_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, time_t due, ngx_uint_t attempts,
    ngx_str_t *alert);
ngx_int_t ngx_http_itsm_store_pending_merge(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_store_merge_pt handler,
    void *data);
ngx_int_t ngx_http_itsm_store_pending_get(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_pool_t *pool, time_t *due,
    ngx_uint_t *attempts, ngx_str_t *alert);
ngx_int_t ngx_http_itsm_store_pending_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key);
ngx_int_t ngx_http_itsm_store_pending_due(ngx_http_itsm_store_t *store,
    time_t now, ngx_http_itsm_store_due_pt handler, void *data);
ngx_int_t ngx_http_itsm_store_pending_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *key, time_t due);
ngx_int_t ngx_http_itsm_store_pending_count(ngx_http_itsm_store_t *store,
    ngx_uint_t *waiting, ngx_uint_t *dead);
ngx_int_t ngx_http_itsm_store_expire(ngx_http_itsm_store_t *store,
    time_t before, ngx_uint_t scan, ngx_uint_t *expired);
ngx_int_t ngx_http_itsm_store_space(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_space_t *space);
ngx_int_t ngx_http_itsm_store_pending_requeue(ngx_http_itsm_store_t *store,
    time_t now, ngx_uint_t *n);

/* ngx_http_itsm_queue.c */
ngx_int_t ngx_http_itsm_queue_init_token(ngx_cycle_t *cycle);
ngx_str_t *ngx_http_itsm_queue_token_value(void);
char *ngx_http_itsm_queue_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_itsm_queue_replay_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_itsm_queue_hold(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, time_t due);
ngx_int_t ngx_http_itsm_queue_notes(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_queue_supersede(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
char *ngx_http_itsm_queue_retry_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_itsm_queue_requeue_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* ngx_http_itsm_expire.c */
char *ngx_http_itsm_expire_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
ngx_int_t ngx_http_itsm_expire_init(ngx_cycle_t *cycle,
    ngx_http_itsm_main_conf_t *imcf);

/* ngx_http_itsm_kick.c */
ngx_int_t ngx_http_itsm_kick_init(ngx_cycle_t *cycle,
    ngx_http_itsm_main_conf_t *imcf);
void ngx_http_itsm_kick_exit(void);

/* ngx_http_itsm_lifecycle.c */
char *ngx_http_itsm_lifecycle_on_repeat(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_resolve(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_refire(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_on_gone(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_lifecycle_check(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
void ngx_http_itsm_lifecycle_decide(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_record_t *rec, ngx_http_itsm_state_e state, ngx_uint_t due,
    ngx_http_itsm_plan_t *plan);
void ngx_http_itsm_lifecycle_apply(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_record_t *rec, ngx_str_t *ticket, ngx_uint_t occurrences);
ngx_int_t ngx_http_itsm_lifecycle_gone(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_action_e action, ngx_uint_t status,
    ngx_http_itsm_record_t *rec);
void ngx_http_itsm_lifecycle_forget(ngx_http_itsm_record_t *rec,
    ngx_http_itsm_state_e state, ngx_http_itsm_plan_t *plan);

/* ngx_http_itsm_zone.c */
char *ngx_http_itsm_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_counters_t *ngx_http_itsm_zone_counters(
    ngx_http_itsm_zone_t *zone);
ngx_uint_t ngx_http_itsm_zone_hit(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t base, time_t *last_seen, ngx_uint_t add);
ngx_int_t ngx_http_itsm_zone_answer_get(ngx_http_itsm_zone_t *zone,
    ngx_str_t *key, ngx_http_itsm_answer_t *ans);
void ngx_http_itsm_zone_answer_put(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    time_t window, ngx_http_itsm_answer_t *ans);
void ngx_http_itsm_zone_usage(ngx_http_itsm_zone_t *zone, size_t *size,
    size_t *free, ngx_uint_t *keys);

/* ngx_http_itsm_status.c */
char *ngx_http_itsm_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_itsm_status_count(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, ngx_http_itsm_outcome_e outcome);
void ngx_http_itsm_status_count_action(ngx_http_request_t *r,
    ngx_http_itsm_action_e action, ngx_uint_t failed);

/* ngx_http_itsm_template.c */
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile(ngx_conf_t *cf,
    ngx_str_t *text, ngx_http_itsm_escape_e escape);
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile_json(ngx_conf_t *cf,
    ngx_str_t *spec);
ngx_int_t ngx_http_itsm_tpl_render(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool, ngx_str_t *out);

/* ngx_http_itsm_json.c */
ngx_int_t ngx_http_itsm_json_check_depth(ngx_str_t *text, ngx_uint_t max,
    ngx_uint_t *depth);
json_t *ngx_http_itsm_json_pointer(json_t *root, ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_pointer_valid(ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_scalar(json_t *value, ngx_pool_t *pool,
    ngx_str_t *out);
u_char *ngx_http_itsm_json_dump(json_t *value, ngx_pool_t *pool,
    size_t *len);
json_t *ngx_http_itsm_json_text(ngx_pool_t *pool, u_char *data, size_t len,
    size_t max);
ngx_int_t ngx_http_itsm_json_cleanup_add(ngx_pool_t *pool, json_t *value);

/* ngx_http_itsm_alert.c */
extern ngx_str_t  ngx_http_itsm_field_names[];
ngx_int_t ngx_http_itsm_alert_field(ngx_str_t *name);
char *ngx_http_itsm_alert_field_list(ngx_pool_t *pool);
ngx_int_t ngx_http_itsm_alert_source(ngx_str_t *name,
    ngx_http_itsm_source_e *source);
ngx_str_t *ngx_http_itsm_alert_default_pointers(ngx_conf_t *cf);
ngx_http_itsm_alert_t *ngx_http_itsm_alert_generic(ngx_http_request_t *r,
    json_t *payload, ngx_str_t *pointers, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error);
ngx_http_itsm_alert_t *ngx_http_itsm_alert_create(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *raw);
uint64_t ngx_http_itsm_alert_hash(ngx_http_itsm_alert_t *alert);
ngx_int_t ngx_http_itsm_alert_push(ngx_array_t *alerts,
    ngx_http_itsm_alert_t *alert, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_check_count(ngx_http_request_t *r,
    size_t n, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_text(ngx_http_request_t *r, json_t *obj,
    const char *name, ngx_str_t *where, ngx_str_t *out, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_set(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_uint_t field, json_t *obj,
    const char *name, ngx_str_t *where, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_member(ngx_http_request_t *r, json_t *obj,
    const char *name, json_type type, ngx_str_t *where, json_t **out,
    ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_join(ngx_http_request_t *r, json_t *list,
    ngx_str_t *where, ngx_str_t *out, ngx_str_t *first, ngx_str_t *error);
int ngx_http_itsm_alert_clip(ngx_str_t *value);
ngx_int_t ngx_http_itsm_alert_state(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_str_t *raw);
ngx_int_t ngx_http_itsm_alert_bad_state(ngx_http_request_t *r,
    ngx_str_t *raw, ngx_str_t *pointer, ngx_str_t *error);
void ngx_http_itsm_alert_set_state(ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_state_e state);
void ngx_http_itsm_alert_severity(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_str_t *raw);
ngx_int_t ngx_http_itsm_alert_missing_key(ngx_http_request_t *r,
    ngx_str_t *where, const char *name, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_error(ngx_http_request_t *r, ngx_str_t *error,
    const char *fmt, ...);

/* ngx_http_itsm_source_alertmanager.c (Alertmanager and Grafana) */
ngx_int_t ngx_http_itsm_alertmanager_parse(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error);

/* ngx_http_itsm_source_azure.c */
ngx_int_t ngx_http_itsm_azure_parse(ngx_http_request_t *r, json_t *payload,
    ngx_array_t *alerts, ngx_str_t *error);

/* ngx_http_itsm_source_datadog.c */
ngx_int_t ngx_http_itsm_datadog_parse(ngx_http_request_t *r, json_t *payload,
    ngx_array_t *alerts, ngx_str_t *error);

/* ngx_http_itsm_handler.c */
ngx_int_t ngx_http_itsm_handler(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_itsm_handler_header(ngx_http_request_t *r,
    const char *name);

/* ngx_http_itsm_pipeline.c */
ngx_http_itsm_ctx_t *ngx_http_itsm_pipeline_ctx(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf);
ngx_int_t ngx_http_itsm_pipeline_run(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_pipeline_next(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_pipeline_release(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_flight_e result);
void ngx_http_itsm_pipeline_renew_stop(ngx_http_itsm_ctx_t *ctx);
ngx_uint_t ngx_http_itsm_pipeline_plan_has(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_action_e action);

/* ngx_http_itsm_dedup.c */
ngx_int_t ngx_http_itsm_dedup_check(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);

/* ngx_http_itsm_step.c */
ngx_int_t ngx_http_itsm_step_start(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_step_resume(ngx_http_request_t *r);
ngx_uint_t ngx_http_itsm_step_unavailable(ngx_http_itsm_ctx_t *ctx);

/* ngx_http_itsm_answer.c */
ngx_int_t ngx_http_itsm_answer_read_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *pointer, ngx_str_t *id,
    ngx_str_t *why);
ngx_int_t ngx_http_itsm_answer_result(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *ticket);
ngx_int_t ngx_http_itsm_answer_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_answer_store_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, const char *why);
ngx_int_t ngx_http_itsm_answer_summary(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
u_char *ngx_http_itsm_answer_response(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, size_t *len);

/* ngx_http_itsm_deliver.c */
ngx_int_t ngx_http_itsm_deliver(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e index,
    ngx_http_itsm_action_t *action);
ngx_int_t ngx_http_itsm_deliver_filter_init(ngx_conf_t *cf);

/* ngx_http_itsm_layout.c */
ngx_int_t ngx_http_itsm_layout_check(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf);
void ngx_http_itsm_layout_place(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_itsm_connector_t *conn);

/* ngx_http_itsm_reply.c */
ngx_int_t ngx_http_itsm_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_http_itsm_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body);
ngx_int_t ngx_http_itsm_reply_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
ngx_int_t ngx_http_itsm_reply_retry_after(ngx_http_request_t *r,
    time_t seconds);

/* ngx_http_itsm_variables.c */
ngx_int_t ngx_http_itsm_variables_add(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_itsm_module;
extern ngx_str_t     ngx_http_itsm_action_names[];
extern ngx_str_t     ngx_http_itsm_outcome_names[];
extern ngx_str_t     ngx_http_itsm_source_names[];


#endif /* _NGX_HTTP_ITSM_MODULE_H_INCLUDED_ */
