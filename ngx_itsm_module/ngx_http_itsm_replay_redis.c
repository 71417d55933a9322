
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_access.h"
#include "ngx_http_itsm_redis.h"

#include <openssl/rand.h>


/*
 * The signature replay cache on Redis ("itsm_signature_replay redis;"):
 * the same states as the zone's (ngx_http_itsm_replay.c), in a key that
 * every edge behind a load balancer sees, <prefix>{s}:<hex of the key>.
 *
 *   - a new delivery: SET key "pending <edge> <token>" NX PX lease GET,
 *     one round trip that either takes the key or returns what holds it
 *     (Redis 7.0: NX with GET); the access phase waits for the answer
 *     without blocking the worker;
 *   - while the request runs, the lease is renewed every lease/3 (a
 *     request may wait on the ITSM for minutes; the key must not expire
 *     under it), but only while the value still carries our token;
 *   - when the request is freed: a 2xx makes it "done <edge> <token>" for
 *     as long as the delivery can be replayed, any other answer (or a
 *     client gone) deletes it; both only if the value still carries our
 *     token: a key taken over by another edge after our lease ran out is
 *     never touched by its old owner.
 *
 * An edge that dies leaves its pending key to expire after the lease: a
 * copy is then processed afresh.  The scripts compare the whole pending
 * value, which holds the token (a random 128-bit one per request).
 */


/* KEYS[1] the key; ARGV[1] our pending value, ARGV[2] the done value,
 * ARGV[3] its PX */
#define NGX_HTTP_ITSM_REPLAY_REDIS_DONE                                      \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "                         \
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end "       \
    "return 0"

/* KEYS[1] the key; ARGV[1] our pending value */
#define NGX_HTTP_ITSM_REPLAY_REDIS_DEL                                       \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "                         \
    "return redis.call('DEL', KEYS[1]) end return 0"

/* KEYS[1] the key; ARGV[1] our pending value, ARGV[2] the lease (ms) */
#define NGX_HTTP_ITSM_REPLAY_REDIS_RENEW                                     \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "                         \
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"

#define NGX_HTTP_ITSM_REPLAY_REDIS_TOKEN_LEN  16


typedef struct {
    ngx_http_request_t          *request;      /* NULL once it is gone */
    ngx_http_itsm_redis_t       *rd;
    ngx_http_itsm_redis_cmd_t   *cmd;          /* the SET or a renewal */
    ngx_msec_t                   lease;
    int64_t                      expire_ms;    /* done until */
    ngx_uint_t                   status;       /* the first header's */
    ngx_str_t                    key;
    ngx_str_t                    value;        /* "pending <edge> <token>" */
    ngx_str_t                    done;         /* "done <edge> <token>" */
    ngx_event_t                  renew;
    ngx_http_itsm_replay_redis_pt  handler;
    unsigned                     owner:1;      /* we took the key */
} ngx_http_itsm_replay_redis_t;


static void ngx_http_itsm_replay_redis_set_done(void *data,
    redisReply *reply, ngx_str_t *error);
static void ngx_http_itsm_replay_redis_renew(ngx_event_t *ev);
static void ngx_http_itsm_replay_redis_renewed(void *data,
    redisReply *reply, ngx_str_t *error);
static void ngx_http_itsm_replay_redis_ended(void *data, redisReply *reply,
    ngx_str_t *error);
static int64_t ngx_http_itsm_replay_redis_now_ms(void);


/* the http-level itsm_redis, or NULL: for the directive's check */

void *
ngx_http_itsm_replay_redis_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_itsm_module);

    return imcf->redis;
}


/*
 * Sends the SET; NGX_AGAIN: "handler" is called with NGX_OK (new, ours
 * now), NGX_DECLINED (done: a replay), NGX_BUSY (pending elsewhere) or
 * NGX_ERROR (Redis failed: the error is logged), never from within this
 * call.  NGX_ERROR: Redis is known down or out of memory; logged.
 */

ngx_int_t
ngx_http_itsm_replay_redis_check(ngx_http_request_t *r, void *redis,
    ngx_msec_t lease, u_char *key, time_t expire,
    ngx_http_itsm_replay_redis_pt handler)
{
    u_char                        *p;
    ngx_str_t                     *prefix, host;
    ngx_pool_cleanup_t            *cln;
    ngx_http_itsm_replay_redis_t  *rr;
    u_char                         token[NGX_HTTP_ITSM_REPLAY_REDIS_TOKEN_LEN];
    u_char                         hex[2 * NGX_HTTP_ITSM_REPLAY_KEY_LEN];

    ngx_hex_dump(hex, key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);

    /* the same request again, after an internal redirect: ours already */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_itsm_replay_redis_cleanup) {
            rr = cln->data;

            if (rr->owner
                && ngx_memcmp(rr->key.data + rr->key.len - sizeof(hex), hex,
                              sizeof(hex))
                   == 0)
            {
                ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "itsm access: replay on redis: this request, "
                               "again");
                return NGX_OK;
            }
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_itsm_replay_redis_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rr = cln->data;
    ngx_memzero(rr, sizeof(ngx_http_itsm_replay_redis_t));

    rr->request = r;
    rr->rd = redis;
    rr->lease = lease;
    rr->handler = handler;

    /* as the zone: remembered through the last second it can be replayed */
    rr->expire_ms = (int64_t) expire * 1000;

    prefix = ngx_http_itsm_redis_prefix(rr->rd);

    rr->key.len = prefix->len + sizeof("{s}:") - 1
                  + 2 * NGX_HTTP_ITSM_REPLAY_KEY_LEN;
    rr->key.data = ngx_pnalloc(r->pool, rr->key.len);
    if (rr->key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(rr->key.data, prefix->data, prefix->len);
    p = ngx_cpymem(p, "{s}:", sizeof("{s}:") - 1);
    ngx_memcpy(p, hex, sizeof(hex));

    /* the token tells our own value from a later owner's */

    if (RAND_bytes(token, sizeof(token)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "itsm: RAND_bytes() failed for a replay token");
        return NGX_ERROR;
    }

    host = ngx_cycle->hostname;

    rr->value.data = ngx_pnalloc(r->pool, sizeof("pending ") - 1 + host.len
                                 + 1 + NGX_INT64_LEN + 1
                                 + 2 * sizeof(token));
    if (rr->value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(rr->value.data, "pending %V:%P ", &host, ngx_pid);
    p = ngx_hex_dump(p, token, sizeof(token));
    rr->value.len = p - rr->value.data;

    /* what a 2xx makes of it: the same edge and token */

    rr->done.len = rr->value.len - (sizeof("pending") - sizeof("done"));
    rr->done.data = ngx_pnalloc(r->pool, rr->done.len);
    if (rr->done.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(rr->done.data, "done", sizeof("done") - 1);
    ngx_memcpy(p, rr->value.data + sizeof("pending") - 1,
               rr->value.len - (sizeof("pending") - 1));

    cln->handler = ngx_http_itsm_replay_redis_cleanup;

    rr->renew.handler = ngx_http_itsm_replay_redis_renew;
    rr->renew.data = rr;
    rr->renew.log = r->connection->log;

    rr->cmd = ngx_http_itsm_redis_command(rr->rd,
                                          ngx_http_itsm_replay_redis_set_done,
                                          rr, "SET %b %b NX PX %llu GET",
                                          rr->key.data, rr->key.len,
                                          rr->value.data, rr->value.len,
                                          (unsigned long long) rr->lease);
    if (rr->cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the replay cache on redis is unavailable: %V",
                      ngx_http_itsm_redis_error(rr->rd));
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: replay on redis: SET %V \"%V\" NX PX %M",
                   &rr->key, &rr->value, rr->lease);

    return NGX_AGAIN;
}


static void
ngx_http_itsm_replay_redis_set_done(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_replay_redis_t *rr = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = rr->request;
    rr->cmd = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the replay cache on redis is unavailable: %V",
                      error);
        rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_NIL) {
        /* the key was free: ours, pending, for a lease that we renew */
        rr->owner = 1;
        ngx_add_timer(&rr->renew, ngx_max(rr->lease / 3, 1));

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: replay on redis: new, in flight");
        rc = NGX_OK;

    } else if (reply->type == REDIS_REPLY_STRING
               && reply->len >= sizeof("done ") - 1
               && ngx_strncmp(reply->str, "done ", sizeof("done ") - 1) == 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: replay on redis: accepted before: %*s",
                       (size_t) reply->len, reply->str);
        rc = NGX_DECLINED;

    } else if (reply->type == REDIS_REPLY_STRING
               && reply->len >= sizeof("pending ") - 1
               && ngx_strncmp(reply->str, "pending ", sizeof("pending ") - 1)
                  == 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: replay on redis: in flight: %*s",
                       (size_t) reply->len, reply->str);
        rc = NGX_BUSY;

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm: the replay cache on redis answered %s%*s",
                      reply->type == REDIS_REPLY_ERROR ? "an error: " : "",
                      reply->str ? (size_t) reply->len : 0,
                      reply->str ? reply->str : "");
        rc = NGX_ERROR;
    }

    rr->handler(r, rc);
}


/* every lease/3: the key must not expire under a request still running */

static void
ngx_http_itsm_replay_redis_renew(ngx_event_t *ev)
{
    ngx_http_itsm_replay_redis_t *rr = ev->data;

    if (rr->cmd) {
        /* the last renewal is still unanswered: try again later */
        ngx_add_timer(&rr->renew, ngx_max(rr->lease / 3, 1));
        return;
    }

    rr->cmd = ngx_http_itsm_redis_script(rr->rd,
                                          ngx_http_itsm_replay_redis_renewed,
                                          rr, "EVAL %s 1 %b %b %llu",
                                          NGX_HTTP_ITSM_REPLAY_REDIS_RENEW,
                                          rr->key.data, rr->key.len,
                                          rr->value.data, rr->value.len,
                                          (unsigned long long) rr->lease);

    if (rr->cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "itsm: the lease of a delivery in flight could not be "
                      "renewed on redis: %V",
                      ngx_http_itsm_redis_error(rr->rd));
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "itsm access: replay on redis: renewing %V for %M ms",
                   &rr->key, rr->lease);

    ngx_add_timer(&rr->renew, ngx_max(rr->lease / 3, 1));
}


static void
ngx_http_itsm_replay_redis_renewed(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_replay_redis_t *rr = data;

    rr->cmd = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, rr->renew.log, 0,
                      "itsm: the lease of a delivery in flight could not be "
                      "renewed on redis: %V", error);
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        ngx_log_error(NGX_LOG_WARN, rr->renew.log, 0,
                      "itsm: the delivery in flight lost its key %V on "
                      "redis (its lease ran out): a copy may be processed "
                      "meanwhile", &rr->key);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rr->renew.log, 0,
                   "itsm access: replay on redis: lease renewed");
}


/* the replay filter's header filter: the status the sender saw */

void
ngx_http_itsm_replay_redis_status(void *data, ngx_uint_t status)
{
    ngx_http_itsm_replay_redis_t *rr = data;

    if (rr->status == 0) {
        rr->status = status;
    }
}


/* when the request is freed: "done" after a 2xx, else deleted */

void
ngx_http_itsm_replay_redis_cleanup(void *data)
{
    ngx_http_itsm_replay_redis_t *rr = data;

    int64_t     px;
    ngx_uint_t  ok, set;

    rr->request = NULL;

    if (rr->renew.timer_set) {
        ngx_del_timer(&rr->renew);
    }

    /* a SET still unanswered may have taken the key: deleted as ours */

    set = (rr->cmd != NULL && !rr->owner);

    if (rr->cmd) {
        ngx_http_itsm_redis_cancel(rr->cmd);
        rr->cmd = NULL;
    }

    if (!rr->owner && !set) {
        return;
    }

    ok = (rr->owner
          && rr->status >= NGX_HTTP_OK
          && rr->status < NGX_HTTP_SPECIAL_RESPONSE);

    if (ok) {
        /* as the zone: at least a second, the delivery is done */
        px = ngx_max(rr->expire_ms - ngx_http_itsm_replay_redis_now_ms(),
                     1000);

        if (ngx_http_itsm_redis_script(rr->rd,
                                        ngx_http_itsm_replay_redis_ended,
                                        NULL, "EVAL %s 1 %b %b %b %lld",
                                        NGX_HTTP_ITSM_REPLAY_REDIS_DONE,
                                        rr->key.data, rr->key.len,
                                        rr->value.data, rr->value.len,
                                        rr->done.data, rr->done.len,
                                        (long long) px)
            == NULL)
        {
            goto failed;
        }

    } else {
        if (ngx_http_itsm_redis_script(rr->rd,
                                        ngx_http_itsm_replay_redis_ended,
                                        NULL, "EVAL %s 1 %b %b",
                                        NGX_HTTP_ITSM_REPLAY_REDIS_DEL,
                                        rr->key.data, rr->key.len,
                                        rr->value.data, rr->value.len)
            == NULL)
        {
            goto failed;
        }
    }

    /* the request is gone: the cycle's log */

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm access: replay on redis: the delivery was answered "
                   "%ui: %s %V", rr->status, ok ? "remembered" : "forgotten",
                   &rr->key);

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "itsm: the replay cache on redis could not %s %V: %V; "
                  "it expires after its lease",
                  ok ? "remember" : "forget", &rr->key,
                  ngx_http_itsm_redis_error(rr->rd));
}


static void
ngx_http_itsm_replay_redis_ended(void *data, redisReply *reply,
    ngx_str_t *error)
{
    if (error) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm: the replay cache on redis could not end a "
                      "delivery: %V; its key expires after its lease", error);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm: the replay cache on redis could not end a "
                      "delivery: %*s", (size_t) reply->len, reply->str);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm access: replay on redis: ended, %s",
                   (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
                   ? "ours" : "taken over meanwhile: left as it is");
}


static int64_t
ngx_http_itsm_replay_redis_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}
