
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_H_INCLUDED_
#define _NGX_HTTP_ITSM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_itsm_conf.h"


/*
 * The module's shared types: the normalized alert, what the store knows of
 * a key, the plan of an alert, a connector and its actions, the module's
 * configuration.  Each subsystem declares its functions in a header of
 * its own (ngx_http_itsm_<subsystem>.h).
 */


#define NGX_HTTP_ITSM_DEFAULT_MAX_BODY      (256 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_MAX_DEPTH     32
#define NGX_HTTP_ITSM_DEFAULT_MAX_ALERTS    1000
#define NGX_HTTP_ITSM_DEFAULT_MAX_RESPONSE  (1024 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER   30

/* the cooldown of "on_repeat comment": at most a comment per 5 minutes */
#define NGX_HTTP_ITSM_DEFAULT_COOLDOWN      300

/* "find ... settle=": the ITSM's time to finish a create whose answer was
 * lost before it is asked for the ticket; the sender waits that long */
#define NGX_HTTP_ITSM_FIND_SETTLE           5
#define NGX_HTTP_ITSM_FIND_SETTLE_MAX       60

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
/* itsm_redis (ngx_http_itsm_redis.h) */
typedef struct ngx_http_itsm_redis_s  ngx_http_itsm_redis_t;
typedef struct ngx_http_itsm_zone_s   ngx_http_itsm_zone_t;
typedef struct ngx_http_itsm_callback_conf_s  ngx_http_itsm_callback_conf_t;


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
    NGX_HTTP_ITSM_FIELD_NOTE,                  /* a case's newest note */
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
    uint64_t                     note;         /* the new note it comments */
    unsigned                     coalesce:1;
} ngx_http_itsm_plan_t;


/* how a substituted value is escaped: chosen by where the template is used */

typedef enum {
    NGX_HTTP_ITSM_ESCAPE_JSON = 0,
    NGX_HTTP_ITSM_ESCAPE_URI,
    NGX_HTTP_ITSM_ESCAPE_HEADER,
    NGX_HTTP_ITSM_ESCAPE_FORM,                 /* a form field's value */
    NGX_HTTP_ITSM_ESCAPE_RAW                   /* a multipart part, a mail's
                                                  text (ngx_http_itsm_mail.c
                                                  makes its headers safe) */
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

    /* and how the claim before it ended: a request that joined a claim
     * may next look when another claim for the key came and went since
     * (one poll apart), and still reads its own claim's outcome here */
    uint64_t                     prev_token;
    ngx_uint_t                   prev_result;
    ngx_uint_t                   prev_status;
    time_t                       prev_retry;

    /* the hash of the last note a comment carried ("comment=note"): a
     * note is commented once, however many syncs carry it */
    uint64_t                     note;

    unsigned                     pending:1;    /* claimed */
} ngx_http_itsm_record_t;


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

    /* a body of form fields instead (ngx_http_itsm_form.c): "form" or
     * "multipart" and its ngx_http_itsm_form_field_t; NULL: none */
    ngx_array_t                 *fields;
    ngx_uint_t                   multipart;
} ngx_http_itsm_action_t;


/* a GET before an action, for a value only the ITSM knows */

typedef struct {
    ngx_http_itsm_action_t       request;
    ngx_str_t                    list;         /* JSON Pointer to an array */
    ngx_array_t                  match;        /* ngx_str_t: JSON Pointers */
    ngx_array_t                  want;         /* ngx_str_t: by preference */
    ngx_str_t                    take;         /* JSON Pointer to the value */
    ngx_flag_t                   skip;         /* no match: no action */
    time_t                       settle;       /* find: the ITSM's time to
                                                  finish a lost create */
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
    ngx_flag_t                   repeat_note;      /* "comment=note" */
    time_t                       cooldown;
    ngx_flag_t                   cooldown_default;
    ngx_uint_t                   on_resolve;   /* RESOLVE, COMMENT, NONE */
    ngx_flag_t                   resolve_comment;
    ngx_uint_t                   on_refire;    /* REOPEN, CREATE */
    time_t                       reopen_window;
    ngx_flag_t                   reopen_comment;
    ngx_uint_t                   on_gone;      /* CREATE, NONE (fail) */

    /* callback_token, callback_status (ngx_http_itsm_callback_conf.c);
     * NULL: none written */
    ngx_http_itsm_callback_conf_t  *callback;

    u_char                      *file;
    ngx_uint_t                   line;

    /* who owns it and what it is for (ngx_http_itsm_registry.c) */
    ngx_str_t                    owner;
    ngx_str_t                    description;
    ngx_str_t                    events;
    ngx_uint_t                   slot;         /* of its counters
                                                  (..._registry_counts.c) */
    ngx_uint_t                   limit_rate;   /* limit rate=: requests a
                                                  minute x 1000; 0: none */
    ngx_uint_t                   limit_burst;  /* burst=, x 1000 */
    ngx_uint_t                   limit_conn;   /* conn=: in flight at once;
                                                  0: any */
    ngx_uint_t                   limit_breaker;    /* breaker=: failures in
                                                      a row; 0: none */
    time_t                       limit_open;   /* open=: the circuit's */

    /* answer_ok TEXT: a 2xx whose body does not start with it is a
     * refusal (ngx_http_itsm_mail.c); empty: any 2xx is done */
    ngx_str_t                    answer_ok;

    /* mail from= to= subject= body= (ngx_http_itsm_mail.c): the message
     * a form field "@mail" carries; NULL: none */
    ngx_http_itsm_tpl_t         *mail[4];

    /* verify GET PATH every=TIME (ngx_http_itsm_verify.c); NULL: none */
    ngx_http_itsm_lookup_t      *verify;
    time_t                       verify_every;

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
    void                        *history;      /* itsm_delivery_log: NULL
                                                  off (..._history_t) */
    u_char                      *history_api_file;  /* an itsm_history */
    ngx_uint_t                   history_api_line;
    ngx_shm_zone_t              *counted;      /* each connector's requests
                                                  (..._registry_counts.c) */
    ngx_http_itsm_redis_t       *redis;        /* itsm_redis: nothing uses
                                                  it yet but its health */
} ngx_http_itsm_main_conf_t;


/* the location's itsm_max_alerts, itsm_state_map and itsm_severity_map:
 * the dispatch hands them to the source (ngx_http_itsm_source.c) */

typedef struct {
    ngx_uint_t                   max_alerts;
    ngx_array_t                 *states;       /* ngx_http_itsm_alert_word_t */
    ngx_array_t                 *severities;   /* ngx_http_itsm_alert_word_t */
} ngx_http_itsm_source_conf_t;


typedef struct {
    ngx_array_t                 *connectors;   /* itsm_pass NAME ... */
    ngx_http_complex_value_t    *route;        /* itsm_pass $variable */
    ngx_uint_t                   source;       /* ngx_http_itsm_source_e */
    ngx_str_t                   *pointers;     /* per field, generic source */
    ngx_http_itsm_source_conf_t  source_conf;

    size_t                       max_body;
    ngx_uint_t                   max_depth;
    time_t                       retry_after;
    ngx_flag_t                   queue;        /* itsm_queue */
    u_char                      *queue_file;   /* where it was set */
    ngx_uint_t                   queue_line;
    ngx_flag_t                   status_prometheus;
    size_t                       history_window;   /* itsm_history */

    ngx_http_itsm_tpl_t         *dedup;        /* delivery id template */
    ngx_flag_t                   dedup_off;
    time_t                       dedup_window;

    u_char                      *file;         /* where itsm_pass is */
    ngx_uint_t                   line;

    u_char                      *loc_file;     /* where the block starts, */
    ngx_uint_t                   loc_line;     /* for nginx -t's messages */
} ngx_http_itsm_loc_conf_t;


extern ngx_module_t  ngx_http_itsm_module;

/* ngx_http_itsm_names.c: the names, by the enums above, and their lookups */
extern ngx_str_t     ngx_http_itsm_action_names[];
extern ngx_str_t     ngx_http_itsm_outcome_names[];
extern ngx_str_t     ngx_http_itsm_source_names[];
extern ngx_str_t     ngx_http_itsm_field_names[];
extern ngx_str_t     ngx_http_itsm_state_names[];
extern ngx_str_t     ngx_http_itsm_severity_names[];

ngx_int_t ngx_http_itsm_names_action(ngx_str_t *name);
ngx_int_t ngx_http_itsm_names_field(ngx_str_t *name);
char *ngx_http_itsm_names_field_list(ngx_pool_t *pool);
ngx_int_t ngx_http_itsm_names_source(ngx_str_t *name,
    ngx_http_itsm_source_e *source);

/* ngx_http_itsm_hash.c: a 64-bit hash for identity, not for secrets */
uint64_t ngx_http_itsm_hash(uint64_t h, const u_char *p, size_t len);
uint64_t ngx_http_itsm_hash_end(uint64_t h);
uint64_t ngx_http_itsm_token(void);


#endif /* _NGX_HTTP_ITSM_H_INCLUDED_ */
