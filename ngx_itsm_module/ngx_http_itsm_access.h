
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_
#define _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_itsm_conf.h"
#include "ngx_http_itsm_parse.h"


/*
 * ngx_http_itsm_access_module, the access phase: what its files share.
 * The parsers it feeds untrusted bytes to are in ngx_http_itsm_parse.h;
 * what ngx_http_itsm_sig_conf.c and ngx_http_itsm_sig.c share alone is in
 * ngx_http_itsm_sig.h.  Of the main module, only ngx_http_itsm_module.c
 * includes this header, to announce its limits
 * (ngx_http_itsm_access_content_limits()).
 */


/*
 * Why the access phase refused a request.  The name of each reason is the
 * "error" code of the JSON answer, the name of its counter and a value of
 * $itsm_access_result.
 */

typedef enum {
    NGX_HTTP_ITSM_ACCESS_PASSED = 0,
    NGX_HTTP_ITSM_ACCESS_ADDRESS,
    NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
    NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
    NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH,
    NGX_HTTP_ITSM_ACCESS_TS_OLD,
    NGX_HTTP_ITSM_ACCESS_TS_FUTURE,
    NGX_HTTP_ITSM_ACCESS_REPLAYED,
    NGX_HTTP_ITSM_ACCESS_IN_FLIGHT,
    NGX_HTTP_ITSM_ACCESS_TOKEN_MISSING,
    NGX_HTTP_ITSM_ACCESS_TOKEN_INVALID,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EXPIRED,
    NGX_HTTP_ITSM_ACCESS_TOKEN_EARLY,
    NGX_HTTP_ITSM_ACCESS_TOKEN_FORBIDDEN,
    NGX_HTTP_ITSM_ACCESS_TOO_LARGE,
    NGX_HTTP_ITSM_ACCESS_INTERNAL,
    NGX_HTTP_ITSM_ACCESS_UNAVAILABLE,  /* the replay cache's Redis */
    NGX_HTTP_ITSM_ACCESS_NREASONS
} ngx_http_itsm_access_e;


/*
 * ngx_http_itsm_access_api.c: what the checks call (and the module): the
 * reasons, a refusal kept for the answer, the files a directive names,
 * and the counters.  The module calls the checks; a check calls only
 * these, never the module's files.
 */

typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   status;
} ngx_http_itsm_access_reason_t;


extern ngx_http_itsm_access_reason_t  ngx_http_itsm_access_reasons[];

ngx_http_itsm_access_e ngx_http_itsm_access_fail(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason, const char *fmt, ...);
ngx_int_t ngx_http_itsm_access_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out);
ngx_int_t ngx_http_itsm_access_line(u_char **pos, u_char *last,
    ngx_uint_t comment, ngx_str_t *line);
void ngx_http_itsm_access_count(ngx_http_request_t *r,
    ngx_http_itsm_access_e reason);
ngx_shm_zone_t *ngx_http_itsm_access_counters_zone(ngx_conf_t *cf);
ngx_int_t ngx_http_itsm_access_counters_provide(ngx_conf_t *cf);
ngx_int_t ngx_http_itsm_access_counters_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* ngx_http_itsm_allow.c: CIDR allowlists */

typedef struct {
    ngx_radix_tree_t            *tree4;
    ngx_radix_tree_t            *tree6;
    ngx_uint_t                   entries;
} ngx_http_itsm_allow_t;

char *ngx_http_itsm_allow_add(ngx_conf_t *cf, ngx_http_itsm_allow_t *allow,
    ngx_str_t *value);
ngx_int_t ngx_http_itsm_allow_match(ngx_http_itsm_allow_t *allow,
    struct sockaddr *sa);


/* ngx_http_itsm_sig_conf.c, ngx_http_itsm_sig.c: the HMAC schemes */

typedef struct ngx_http_itsm_sig_conf_s  ngx_http_itsm_sig_conf_t;

/* what one request's signature headers said */
typedef struct {
    ngx_http_itsm_sig_header_t   header;
    ngx_str_t                    id;
    ngx_str_t                    timestamp;
    time_t                       time;
    ngx_uint_t                   secret;       /* 1-based, that matched */
    size_t                       mac_len;
    u_char                       mac[NGX_HTTP_ITSM_SIG_MAX_LEN];
    unsigned                     has_time:1;
} ngx_http_itsm_sig_req_t;

/* "conf": the ngx_http_itsm_sig_conf_t * it sets */
char *ngx_http_itsm_sig_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_access_e ngx_http_itsm_sig_headers(ngx_http_request_t *r,
    ngx_http_itsm_sig_conf_t *scf, time_t tolerance,
    ngx_http_itsm_sig_req_t *sr);
ngx_http_itsm_access_e ngx_http_itsm_sig_verify(ngx_http_request_t *r,
    ngx_http_itsm_sig_conf_t *scf, ngx_http_itsm_sig_req_t *sr);
void ngx_http_itsm_sig_replay_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr, u_char *key);
void ngx_http_itsm_sig_exit(void);


/* ngx_http_itsm_token.c: a shared secret sent as is */

typedef struct ngx_http_itsm_token_conf_s  ngx_http_itsm_token_conf_t;

/* "conf": the ngx_http_itsm_token_conf_t * it sets */
char *ngx_http_itsm_token_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_access_e ngx_http_itsm_token_check(ngx_http_request_t *r,
    ngx_http_itsm_token_conf_t *tcf, ngx_uint_t *match);


/* ngx_http_itsm_jwt.c: bearer tokens against a key set */

typedef struct ngx_http_itsm_jwt_conf_s  ngx_http_itsm_jwt_conf_t;

char *ngx_http_itsm_jwt_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp);
char *ngx_http_itsm_jwt_preset(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_itsm_jwt_conf_t **jcfp);
char *ngx_http_itsm_jwt_merge(ngx_conf_t *cf, ngx_http_itsm_jwt_conf_t *jcf);
ngx_http_itsm_access_e ngx_http_itsm_jwt_check(ngx_http_request_t *r,
    ngx_http_itsm_jwt_conf_t *jcf);


/* ngx_http_itsm_replay.c: seen delivery ids in shared memory */

#define NGX_HTTP_ITSM_REPLAY_KEY_LEN  32       /* SHA-256 of the id */

char *ngx_http_itsm_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_shm_zone_t *ngx_http_itsm_replay_zone_ref(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_int_t ngx_http_itsm_replay_check(ngx_http_request_t *r,
    ngx_shm_zone_t *zone, u_char *key, time_t expire);
ngx_int_t ngx_http_itsm_replay_filter_init(ngx_conf_t *cf);
void ngx_http_itsm_replay_filter_use(void);

/* ngx_http_itsm_replay_redis.c: the same on Redis, shared by edges;
 * "redis" is the ngx_http_itsm_redis_t of the http-level itsm_redis */

#define NGX_HTTP_ITSM_REPLAY_LEASE  30000      /* ms, lease= */

typedef void (*ngx_http_itsm_replay_redis_pt)(ngx_http_request_t *r,
    ngx_int_t rc);

void *ngx_http_itsm_replay_redis_conf(ngx_conf_t *cf);
ngx_int_t ngx_http_itsm_replay_redis_check(ngx_http_request_t *r,
    void *redis, ngx_msec_t lease, u_char *key, time_t expire,
    ngx_http_itsm_replay_redis_pt handler);
void ngx_http_itsm_replay_redis_status(void *data, ngx_uint_t status);
void ngx_http_itsm_replay_redis_cleanup(void *data);

/* what the shared zones of the module begin with (this one's, and
 * itsm_zone's in ngx_http_itsm_zone.c), their making, and their tree */
typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;        /* LRU, most recent first */
} ngx_http_itsm_zone_head_t;

typedef ngx_int_t (*ngx_http_itsm_zone_cmp_pt)(void *key,
    ngx_rbtree_node_t *node);

void *ngx_http_itsm_replay_zone_head(ngx_shm_zone_t *shm_zone, void *data,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive);
ngx_rbtree_node_t *ngx_http_itsm_replay_zone_find(ngx_rbtree_t *tree,
    ngx_rbtree_key_t hash, void *key, ngx_http_itsm_zone_cmp_pt cmp);
void ngx_http_itsm_replay_zone_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel, void *key,
    ngx_http_itsm_zone_cmp_pt cmp);
void ngx_http_itsm_replay_zone_free(ngx_rbtree_t *tree,
    ngx_slab_pool_t *shpool, void *data, ngx_queue_t *q);


/*
 * The module (ngx_http_itsm_access_module.c: directives, configuration,
 * variables; ngx_http_itsm_access_handler.c: the phase handler).
 */

typedef struct {
    ngx_http_itsm_access_e       result;
    ngx_str_t                    error;        /* the JSON message */
    ngx_http_itsm_sig_req_t     *sig;
    ngx_uint_t                   token;        /* 1-based, that matched */

    unsigned                     reading:1;    /* the body is being read */
    unsigned                     async:1;
    unsigned                     body:1;       /* the body was read */
    unsigned                     done:1;
    unsigned                     waiting:1;    /* for Redis' answer */
    unsigned                     answered:1;   /* Redis answered */
    ngx_int_t                    replay_rc;    /* what it said */
} ngx_http_itsm_access_ctx_t;


typedef struct {
    ngx_shm_zone_t              *zone;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_replay_ref_t;


typedef struct {
    ngx_http_itsm_allow_t       *allow;
    ngx_uint_t                   allow_log_level;
    ngx_http_itsm_token_conf_t  *token;
    ngx_http_itsm_sig_conf_t    *sig;
    time_t                       tolerance;
    ngx_shm_zone_t              *replay;
    time_t                       replay_ttl;
    void                        *replay_redis; /* "itsm_signature_replay
                                                  redis": itsm_redis */
    ngx_msec_t                   replay_lease;
    ngx_http_itsm_jwt_conf_t    *jwt;
    ngx_flag_t                   enabled;

    u_char                      *replay_file;  /* set in a location */
    ngx_uint_t                   replay_line;

    size_t                       max_body;     /* itsm_access_max_body */
    time_t                       retry_after;  /* itsm_access_retry_after */

    /* what the location's content handler announced
     * (ngx_http_itsm_access_content_limits()) */
    size_t                       content_max_body;
    time_t                       content_retry_after;
    ngx_str_t                    content_directive;

    /* in effect: our own setting, else the content handler's, else ours
     * by default */
    size_t                       body_limit;
    ngx_str_t                    body_directive;   /* for the 413 */
    time_t                       retry;
} ngx_http_itsm_access_loc_conf_t;


typedef struct {
    ngx_shm_zone_t              *counters;
    ngx_array_t                  replay_refs;  /* ngx_http_itsm_replay_ref_t */
    ngx_flag_t                   used;
} ngx_http_itsm_access_main_conf_t;


ngx_int_t ngx_http_itsm_access_handler(ngx_http_request_t *r);

/* for a content handler that reads the body itself (the main module) */
void ngx_http_itsm_access_content_limits(ngx_conf_t *cf, size_t max_body,
    ngx_str_t *directive, time_t retry_after);

extern ngx_module_t  ngx_http_itsm_access_module;


#endif /* _NGX_HTTP_ITSM_ACCESS_H_INCLUDED_ */
