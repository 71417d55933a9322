
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_redis.h"
#include "ngx_http_itsm_store_queue.h"


/*
 * The queue on Redis (itsm_queue on with itsm_store redis, docs/redis.md,
 * "The queue"), shared by the edges: what the ITSM could not take, kept
 * until one edge's kick delivers it.  A job is named by its member
 * "connector NUL key" (the LMDB pending table's stored key) and lives in
 * the keys of one hash tag, {q}:
 *
 *   P{q}:due    zset, member -> when it is due (ms, Redis' clock)
 *   P{q}:lease  zset, member -> when the lease of the edge delivering it
 *               ends (ms)
 *   P{q}:dead   zset, member -> when it became a dead letter (ms)
 *   P{q}:data   hash, member -> the job (the held alert's JSON, held.c)
 *   P{q}:tries  hash, member -> the attempts made
 *   P{q}:seq    hash, member -> bumped by each write of it: a job changed
 *               while it was delivered is delivered again
 *   P{q}:tok    hash, member -> the token of the take that leased it
 *
 * The job's data shares the zsets' slot, unlike the records' {c:K}: each
 * script below touches the zsets and the data together (take returns the
 * job with its lease, a write sets both), and Redis Cluster runs a
 * script only on keys of one slot.  The price: the whole queue is on one
 * node of a cluster, which the queue's size (jobs wait only while an ITSM
 * is down) allows.
 *
 * Times are Redis' (TIME in the scripts): the edges' clocks may differ,
 * the lease must not.  Each script is one command, so a take is atomic:
 * a job moved from due to lease is another edge's no more; a lease that
 * ended (its edge died or stalled) is taken again the same way, with a
 * new token, and the old holder's done or retry is refused by the token
 * compare.
 */


#define NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                         \
    "local t = redis.call('TIME')\n"                                         \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/*
 * take: KEYS due lease data tries seq tok; ARGV max, lease ms, token.
 * Leases that ended first (a dead edge's jobs), then due jobs, up to max,
 * each leased until now + lease under the token.  Returns {member,
 * attempts, seq, job, ...}.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_TAKE                                        \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "local n = tonumber(ARGV[1])\n"                                          \
    "local out = {}\n"                                                       \
    "local function take(m)\n"                                               \
    "  local d = redis.call('HGET', KEYS[3], m)\n"                           \
    "  if not d then\n"                                                      \
    "    redis.call('ZREM', KEYS[2], m)\n"                                   \
    "    redis.call('HDEL', KEYS[6], m)\n"                                   \
    "    return\n"                                                           \
    "  end\n"                                                                \
    "  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), m)\n"            \
    "  redis.call('HSET', KEYS[6], m, ARGV[3])\n"                            \
    "  out[#out + 1] = m\n"                                                  \
    "  out[#out + 1] = redis.call('HGET', KEYS[4], m) or '0'\n"              \
    "  out[#out + 1] = redis.call('HGET', KEYS[5], m) or '0'\n"              \
    "  out[#out + 1] = d\n"                                                  \
    "end\n"                                                                  \
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,"   \
    " 'LIMIT', 0, n)) do take(m) end\n"                                      \
    "local left = n - #out / 4\n"                                            \
    "if left > 0 then\n"                                                     \
    "  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now," \
    " 'LIMIT', 0, left)) do\n"                                               \
    "    redis.call('ZREM', KEYS[1], m)\n"                                   \
    "    take(m)\n"                                                          \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "return out"

/*
 * done: KEYS due lease data tries seq tok; ARGV member, token, seq.
 * 0: not ours any more (the lease ended and another edge took it);
 * 1: gone; 2: changed meanwhile (seq): due again now, to send the newer.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_DONE                                        \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "local m = ARGV[1]\n"                                                    \
    "if redis.call('HGET', KEYS[6], m) ~= ARGV[2] then return 0 end\n"       \
    "redis.call('ZREM', KEYS[2], m)\n"                                       \
    "redis.call('HDEL', KEYS[6], m)\n"                                       \
    "if redis.call('HGET', KEYS[5], m) ~= ARGV[3] then\n"                    \
    "  redis.call('HSET', KEYS[4], m, 0)\n"                                  \
    "  redis.call('ZADD', KEYS[1], now, m)\n"                                \
    "  return 2\n"                                                           \
    "end\n"                                                                  \
    "redis.call('HDEL', KEYS[3], m)\n"                                       \
    "redis.call('HDEL', KEYS[4], m)\n"                                       \
    "redis.call('HDEL', KEYS[5], m)\n"                                       \
    "return 1"

/*
 * retry: KEYS due lease dead tries tok; ARGV member, token, delay ms or
 * "dead", attempts to add.  0: not ours any more; 1: due again; 2: a dead
 * letter.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_RETRY                                       \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "local m = ARGV[1]\n"                                                    \
    "if redis.call('HGET', KEYS[5], m) ~= ARGV[2] then return 0 end\n"       \
    "redis.call('ZREM', KEYS[2], m)\n"                                       \
    "redis.call('HDEL', KEYS[5], m)\n"                                       \
    "redis.call('HINCRBY', KEYS[4], m, tonumber(ARGV[4]))\n"                 \
    "if ARGV[3] == 'dead' then\n"                                            \
    "  redis.call('ZADD', KEYS[3], now, m)\n"                                \
    "  return 2\n"                                                           \
    "end\n"                                                                  \
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), m)\n"              \
    "return 1"

/* renew: KEYS lease tok; ARGV member, token, lease ms.  1: renewed */
#define NGX_HTTP_ITSM_QUEUE_REDIS_RENEW                                       \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end\n" \
    "redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[3]), ARGV[1])\n"  \
    "return 1"

/*
 * drop: KEYS due dead data tries seq; ARGV member.  What waits for the
 * key (due, or a dead letter) is superseded by an action sent for it, or
 * by a resolved alert (a queued create must not come after the resolve):
 * gone.  A job being delivered (leased) is left to its edge, as LMDB
 * leaves a replay in flight.  1: dropped; 0: nothing waited.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_DROP                                        \
    "local m = ARGV[1]\n"                                                    \
    "if redis.call('ZREM', KEYS[1], m) + redis.call('ZREM', KEYS[2], m)"     \
    " == 0 then return 0 end\n"                                              \
    "redis.call('HDEL', KEYS[3], m)\n"                                       \
    "redis.call('HDEL', KEYS[4], m)\n"                                       \
    "redis.call('HDEL', KEYS[5], m)\n"                                       \
    "return 1"

/*
 * requeue: KEYS due dead tries; ARGV connector, key ("": any).  Every
 * dead letter that matches is due now with its attempts from zero.
 * Returns how many.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_REQUEUE                                     \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "local n = 0\n"                                                          \
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"          \
    "  local z = string.find(m, '\\0', 1, true)\n"                           \
    "  if z and (ARGV[1] == '' or string.sub(m, 1, z - 1) == ARGV[1])\n"     \
    "     and (ARGV[2] == '' or string.sub(m, z + 1) == ARGV[2]) then\n"     \
    "    redis.call('ZREM', KEYS[2], m)\n"                                   \
    "    redis.call('HSET', KEYS[3], m, 0)\n"                                \
    "    redis.call('ZADD', KEYS[1], now, m)\n"                              \
    "    n = n + 1\n"                                                        \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "return n"

/* dead: KEYS dead tries; ARGV the most listed.  {count, member, attempts,
 * ...}, the oldest first */
#define NGX_HTTP_ITSM_QUEUE_REDIS_DEAD                                        \
    "local out = {redis.call('ZCARD', KEYS[1])}\n"                           \
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0,"                    \
    " tonumber(ARGV[1]) - 1)) do\n"                                          \
    "  out[#out + 1] = m\n"                                                  \
    "  out[#out + 1] = redis.call('HGET', KEYS[2], m) or '0'\n"              \
    "end\n"                                                                  \
    "return out"

/* count: KEYS due lease dead.  {waiting (due and leased), dead} */
#define NGX_HTTP_ITSM_QUEUE_REDIS_COUNT                                       \
    "return {redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]),"   \
    " redis.call('ZCARD', KEYS[3])}"


/*
 * The cooldown holds (held.c) change a job by read, merge in C, write:
 * the merge is held.c's own (the one LMDB's pending table runs), so the
 * JSON is never taken apart in Lua.  Two edges holding repeats of one key
 * at once: the write is a compare-and-set on the job's seq (bumped by
 * every write), the loser reads again and merges with the winner's job.
 *
 * read: KEYS data seq; ARGV member.  {1 or 0 (a job waits), job, seq}
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_READ                                        \
    "local d = redis.call('HGET', KEYS[1], ARGV[1])\n"                       \
    "local s = redis.call('HGET', KEYS[2], ARGV[1]) or ''\n"                 \
    "if not d then return {0, '', s} end\n"                                  \
    "return {1, d, s}"

/*
 * write: KEYS due lease dead data tries seq; ARGV member, seq as read,
 * "put" or "del", job, delay ms (-1: where it waits).  0: the job changed
 * since it was read (read and merge again); 1: written.  A job being
 * delivered (leased) stays its edge's: "put" bumps its seq, so that its
 * done puts it back due now with the newer state; "del" leaves it to that
 * done, which removes it (its seq is unchanged).  A dead letter put again
 * waits again, with its attempts from zero.
 */
#define NGX_HTTP_ITSM_QUEUE_REDIS_WRITE                                       \
    NGX_HTTP_ITSM_QUEUE_REDIS_NOW                                            \
    "local m = ARGV[1]\n"                                                    \
    "if (redis.call('HGET', KEYS[6], m) or '') ~= ARGV[2] then"              \
    " return 0 end\n"                                                        \
    "local leased = redis.call('ZSCORE', KEYS[2], m)\n"                      \
    "if ARGV[3] == 'del' then\n"                                             \
    "  if leased then return 1 end\n"                                        \
    "  redis.call('ZREM', KEYS[1], m)\n"                                     \
    "  redis.call('ZREM', KEYS[3], m)\n"                                     \
    "  redis.call('HDEL', KEYS[4], m)\n"                                     \
    "  redis.call('HDEL', KEYS[5], m)\n"                                     \
    "  redis.call('HDEL', KEYS[6], m)\n"                                     \
    "  return 1\n"                                                           \
    "end\n"                                                                  \
    "redis.call('HSET', KEYS[4], m, ARGV[4])\n"                              \
    "redis.call('HINCRBY', KEYS[6], m, 1)\n"                                 \
    "local d = tonumber(ARGV[5])\n"                                          \
    "if leased or d < 0 then return 1 end\n"                                 \
    "if redis.call('ZREM', KEYS[3], m) == 1 then\n"                          \
    "  redis.call('HSET', KEYS[5], m, 0)\n"                                  \
    "end\n"                                                                  \
    "redis.call('HSETNX', KEYS[5], m, 0)\n"                                  \
    "redis.call('ZADD', KEYS[1], 'LT', now + d, m)\n"                        \
    "return 1"

/* a merge that keeps losing the compare is given up (logged): the
 * caller answers as for a store that failed */
#define NGX_HTTP_ITSM_QUEUE_REDIS_MERGE_TRIES  16


/* the queue's keys, in the order of ngx_http_itsm_queue_redis_names */

enum {
    NGX_HTTP_ITSM_QR_DUE = 0,
    NGX_HTTP_ITSM_QR_LEASE,
    NGX_HTTP_ITSM_QR_DEAD,
    NGX_HTTP_ITSM_QR_DATA,
    NGX_HTTP_ITSM_QR_TRIES,
    NGX_HTTP_ITSM_QR_SEQ,
    NGX_HTTP_ITSM_QR_TOK,
    NGX_HTTP_ITSM_QR_NKEYS
};

static const char  *ngx_http_itsm_queue_redis_names[] = {
    "due", "lease", "dead", "data", "tries", "seq", "tok"
};


typedef struct {
    ngx_str_t                    k[NGX_HTTP_ITSM_QR_NKEYS];
    u_char                       data[NGX_HTTP_ITSM_QR_NKEYS][128];
} ngx_http_itsm_queue_redis_keys_t;


/* a merge in flight: read, the caller's merge, write; again on a conflict */

typedef struct {
    ngx_http_itsm_store_t         *store;
    ngx_http_itsm_store_op_t      *op;         /* NULL: nothing waits */
    ngx_pool_t                    *pool;       /* no op: ours, freed after */
    ngx_http_itsm_store_merge_pt   merge;
    void                          *data;
    ngx_str_t                      key;        /* for the log */
    ngx_str_t                      member;
    ngx_str_t                      seq;        /* as read */
    ngx_int_t                      rc;         /* the merge's */
    ngx_uint_t                     tries;
    u_char                         member_data[NGX_HTTP_ITSM_STORE_KEY_MAX];
    u_char                         seq_data[NGX_INT64_LEN + 1];
} ngx_http_itsm_queue_redis_merge_t;


static ngx_int_t ngx_http_itsm_queue_redis_keys(ngx_http_itsm_store_t *store,
    ngx_http_itsm_queue_redis_keys_t *keys);
static ngx_int_t ngx_http_itsm_queue_redis_member(ngx_str_t *connector,
    ngx_str_t *key, u_char *buf, ngx_str_t *m);
static void ngx_http_itsm_queue_redis_forgotten(void *data,
    redisReply *reply, ngx_str_t *error);
static void ngx_http_itsm_queue_redis_dropped(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_queue_redis_read(
    ngx_http_itsm_queue_redis_merge_t *mg);
static void ngx_http_itsm_queue_redis_read_answer(void *data,
    redisReply *reply, ngx_str_t *error);
static void ngx_http_itsm_queue_redis_written(void *data, redisReply *reply,
    ngx_str_t *error);
static void ngx_http_itsm_queue_redis_merged(
    ngx_http_itsm_queue_redis_merge_t *mg, ngx_int_t rc);


/* "P{q}:due" ...: the prefix is checked short by itsm_redis (prefix=) */

static ngx_int_t
ngx_http_itsm_queue_redis_keys(ngx_http_itsm_store_t *store,
    ngx_http_itsm_queue_redis_keys_t *keys)
{
    ngx_uint_t   i;
    ngx_str_t   *prefix;

    prefix = ngx_http_itsm_redis_prefix(store->redis);

    if (prefix->len > 64) {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm queue redis: the prefix \"%V\" is too long",
                      prefix);
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_QR_NKEYS; i++) {
        keys->k[i].data = keys->data[i];
        keys->k[i].len = ngx_sprintf(keys->data[i], "%V{q}:%s", prefix,
                                     ngx_http_itsm_queue_redis_names[i])
                         - keys->data[i];
    }

    return NGX_OK;
}


/* the member: connector, a zero byte, the key (as LMDB's stored key) */

static ngx_int_t
ngx_http_itsm_queue_redis_member(ngx_str_t *connector, ngx_str_t *key,
    u_char *buf, ngx_str_t *m)
{
    if (connector->len + 1 + key->len > NGX_HTTP_ITSM_STORE_KEY_MAX) {
        return NGX_ERROR;
    }

    m->data = buf;
    m->len = ngx_cpymem(ngx_cpymem(buf, connector->data, connector->len)
                        + 1, key->data, key->len)
             - buf;
    buf[connector->len] = '\0';

    return NGX_OK;
}


/*
 * The kick's take: up to "max" jobs leased to this edge for "lease"
 * seconds under "token" (16 hex digits); the handler gets the script's
 * flat array (see above).  NULL: not sent.
 */

ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_store_queue_take(ngx_http_itsm_store_t *store, ngx_uint_t max,
    time_t lease, uint64_t token, ngx_http_itsm_redis_handler_pt handler,
    void *data)
{
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NULL;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm queue redis: take %ui, lease %T s, token %016xL",
                   max, lease, token);

    return ngx_http_itsm_redis_script(store->redis, handler, data,
               "EVAL %s 6 %b %b %b %b %b %b %lu %lld %016llx",
               NGX_HTTP_ITSM_QUEUE_REDIS_TAKE,
               keys.k[NGX_HTTP_ITSM_QR_DUE].data,
               keys.k[NGX_HTTP_ITSM_QR_DUE].len,
               keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
               keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
               keys.k[NGX_HTTP_ITSM_QR_DATA].data,
               keys.k[NGX_HTTP_ITSM_QR_DATA].len,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
               keys.k[NGX_HTTP_ITSM_QR_SEQ].data,
               keys.k[NGX_HTTP_ITSM_QR_SEQ].len,
               keys.k[NGX_HTTP_ITSM_QR_TOK].data,
               keys.k[NGX_HTTP_ITSM_QR_TOK].len,
               (unsigned long) max, (long long) lease * 1000,
               (unsigned long long) token);
}


/*
 * A leased job ("member" as taken) delivered: gone unless it changed
 * meanwhile; sent and forgotten: a done lost leaves the job to be taken
 * again after its lease, and the store's record makes that delivery find
 * the work done (a duplicate sends nothing).
 */

ngx_int_t
ngx_http_itsm_store_queue_done(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, ngx_str_t *seq)
{
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm queue redis: done, token %016xL", token);

    if (ngx_http_itsm_redis_script(store->redis,
            ngx_http_itsm_queue_redis_forgotten, (void *) "done",
            "EVAL %s 6 %b %b %b %b %b %b %b %016llx %b",
            NGX_HTTP_ITSM_QUEUE_REDIS_DONE,
            keys.k[NGX_HTTP_ITSM_QR_DUE].data,
            keys.k[NGX_HTTP_ITSM_QR_DUE].len,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
            keys.k[NGX_HTTP_ITSM_QR_DATA].data,
            keys.k[NGX_HTTP_ITSM_QR_DATA].len,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
            keys.k[NGX_HTTP_ITSM_QR_SEQ].data,
            keys.k[NGX_HTTP_ITSM_QR_SEQ].len,
            keys.k[NGX_HTTP_ITSM_QR_TOK].data,
            keys.k[NGX_HTTP_ITSM_QR_TOK].len,
            member->data, member->len, (unsigned long long) token,
            seq->data, seq->len)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm queue redis: a delivered job could not be "
                      "removed (%V); it is taken again after its lease",
                      ngx_http_itsm_redis_error(store->redis));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a leased job failed: due again in "delay" seconds, or a dead letter
 * ("delay" NGX_HTTP_ITSM_PENDING_DEAD); "counted" attempts added */

ngx_int_t
ngx_http_itsm_store_queue_retry(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, time_t delay, ngx_uint_t counted)
{
    u_char                            when[NGX_INT64_LEN + 1], *p;
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    if (delay == NGX_HTTP_ITSM_PENDING_DEAD) {
        p = ngx_cpymem(when, "dead", 4);

    } else {
        p = ngx_sprintf(when, "%L", (int64_t) delay * 1000);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm queue redis: retry, token %016xL, in %*s ms",
                   token, (size_t) (p - when), when);

    if (ngx_http_itsm_redis_script(store->redis,
            ngx_http_itsm_queue_redis_forgotten, (void *) "retry",
            "EVAL %s 5 %b %b %b %b %b %b %016llx %b %lu",
            NGX_HTTP_ITSM_QUEUE_REDIS_RETRY,
            keys.k[NGX_HTTP_ITSM_QR_DUE].data,
            keys.k[NGX_HTTP_ITSM_QR_DUE].len,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
            keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
            keys.k[NGX_HTTP_ITSM_QR_DEAD].len,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
            keys.k[NGX_HTTP_ITSM_QR_TOK].data,
            keys.k[NGX_HTTP_ITSM_QR_TOK].len,
            member->data, member->len, (unsigned long long) token,
            when, (size_t) (p - when), (unsigned long) counted)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm queue redis: a failed job could not be put "
                      "back (%V); it is taken again after its lease",
                      ngx_http_itsm_redis_error(store->redis));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a job still being delivered keeps its lease (the kick, every tick) */

ngx_int_t
ngx_http_itsm_store_queue_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *member, uint64_t token, time_t lease)
{
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_redis_script(store->redis,
            ngx_http_itsm_queue_redis_forgotten, (void *) "renew",
            "EVAL %s 2 %b %b %b %016llx %lld",
            NGX_HTTP_ITSM_QUEUE_REDIS_RENEW,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
            keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
            keys.k[NGX_HTTP_ITSM_QR_TOK].data,
            keys.k[NGX_HTTP_ITSM_QR_TOK].len,
            member->data, member->len, (unsigned long long) token,
            (long long) lease * 1000)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_itsm_queue_redis_forgotten(void *data, redisReply *reply,
    ngx_str_t *error)
{
    char *what = data;

    ngx_uint_t  level;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm queue redis: a job's %s got no answer (%V); "
                      "the job is taken again after its lease", what, error);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm queue redis: a job's %s failed: %*s", what,
                      (size_t) reply->len, reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        level = (ngx_strcmp(what, "renew") == 0) ? NGX_LOG_WARN
                                                  : NGX_LOG_CRIT;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "itsm queue redis: a job's lease ran out while this "
                      "edge delivered it, and another edge took it; its "
                      "%s is refused", what);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm queue redis: %s answered %i", what,
                   (ngx_int_t) (reply->type == REDIS_REPLY_INTEGER
                                ? reply->integer : -1));
}


/*
 * What waits in the queue for the key is superseded (held.c): sent and
 * not waited for, like the claim's release.  A drop lost (Redis down)
 * leaves the job, which the replay then delivers against the record.
 */

ngx_int_t
ngx_http_itsm_store_queue_drop(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key)
{
    u_char                            buf[NGX_HTTP_ITSM_STORE_KEY_MAX];
    ngx_str_t                         m;
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK
        || ngx_http_itsm_queue_redis_member(connector, key, buf, &m)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm queue redis: drop what waits for \"%V\" of \"%V\"",
                   key, connector);

    if (ngx_http_itsm_redis_script(store->redis,
            ngx_http_itsm_queue_redis_dropped, NULL,
            "EVAL %s 5 %b %b %b %b %b %b",
            NGX_HTTP_ITSM_QUEUE_REDIS_DROP,
            keys.k[NGX_HTTP_ITSM_QR_DUE].data,
            keys.k[NGX_HTTP_ITSM_QR_DUE].len,
            keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
            keys.k[NGX_HTTP_ITSM_QR_DEAD].len,
            keys.k[NGX_HTTP_ITSM_QR_DATA].data,
            keys.k[NGX_HTTP_ITSM_QR_DATA].len,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
            keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
            keys.k[NGX_HTTP_ITSM_QR_SEQ].data,
            keys.k[NGX_HTTP_ITSM_QR_SEQ].len,
            m.data, m.len)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "dropped: %V", key,
                      ngx_http_itsm_redis_error(store->redis));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_itsm_queue_redis_dropped(void *data, redisReply *reply,
    ngx_str_t *error)
{
    if (error) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm queue redis: a drop got no answer (%V); what "
                      "waited is delivered against the record", error);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm queue redis: a drop failed: %*s",
                      (size_t) reply->len, reply->str);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm queue redis: drop answered %i",
                   (ngx_int_t) (reply->type == REDIS_REPLY_INTEGER
                                ? reply->integer : -1));
}


/* itsm_requeue's POST: every dead letter (of "connector", of "key":
 * NULL for any) due now; the handler gets how many (an integer) */

ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_store_queue_requeue(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_redis_handler_pt handler, void *data)
{
    ngx_str_t                         none = ngx_null_string;
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NULL;
    }

    if (connector == NULL) {
        connector = &none;
    }

    if (key == NULL) {
        key = &none;
    }

    return ngx_http_itsm_redis_script(store->redis, handler, data,
               "EVAL %s 3 %b %b %b %b %b",
               NGX_HTTP_ITSM_QUEUE_REDIS_REQUEUE,
               keys.k[NGX_HTTP_ITSM_QR_DUE].data,
               keys.k[NGX_HTTP_ITSM_QR_DUE].len,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].len,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
               connector->data, connector->len, key->data, key->len);
}


/* itsm_requeue's GET: {count, member, attempts, ...}, at most "max" */

ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_store_queue_dead(ngx_http_itsm_store_t *store, ngx_uint_t max,
    ngx_http_itsm_redis_handler_pt handler, void *data)
{
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NULL;
    }

    return ngx_http_itsm_redis_script(store->redis, handler, data,
               "EVAL %s 2 %b %b %lu", NGX_HTTP_ITSM_QUEUE_REDIS_DEAD,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].len,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
               keys.k[NGX_HTTP_ITSM_QR_TRIES].len, (unsigned long) max);
}


/* the status page: {waiting, dead} by ZCARD */

ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_store_queue_count(ngx_http_itsm_store_t *store,
    ngx_http_itsm_redis_handler_pt handler, void *data)
{
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(store, &keys) != NGX_OK) {
        return NULL;
    }

    return ngx_http_itsm_redis_script(store->redis, handler, data,
               "EVAL %s 3 %b %b %b", NGX_HTTP_ITSM_QUEUE_REDIS_COUNT,
               keys.k[NGX_HTTP_ITSM_QR_DUE].data,
               keys.k[NGX_HTTP_ITSM_QR_DUE].len,
               keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
               keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
               keys.k[NGX_HTTP_ITSM_QR_DEAD].len);
}



/*
 * The key's job changed by "merge" (held.c's, as LMDB's
 * ngx_http_itsm_store_pending_merge runs it): called with the job as read
 * (NULL: none waits) and a pending entry whose due is NGX_MAX_TIME_T_VALUE
 * ("where it waits"), it returns NGX_OK (the entry's text written, due
 * then, the earlier due kept), NGX_DONE (the job removed), NGX_DECLINED
 * (nothing to write) or NGX_ERROR.  It may run more than once: another
 * edge's write between the read and the write makes the write miss, and
 * the merge runs again on the newer job.
 *
 * With an op: NGX_AGAIN, op->handler gets the merge's last answer in
 * op->rc (NGX_ERROR as well when Redis did not answer); "pool" is the
 * caller's.  Without one (sent and forgotten, like the drop): "pool" is
 * given to the merge, which destroys it once done.  NGX_ERROR: not sent.
 */

ngx_int_t
ngx_http_itsm_store_queue_merge(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_op_t *op, ngx_pool_t *pool, ngx_str_t *connector,
    ngx_str_t *key, ngx_http_itsm_store_merge_pt merge, void *data)
{
    ngx_http_itsm_queue_redis_merge_t  *mg;

    if (op) {
        op->what = NGX_HTTP_ITSM_STORE_OP_QUEUE;
        op->connector = connector;
        op->key = key;
    }

    mg = ngx_pcalloc(pool, sizeof(ngx_http_itsm_queue_redis_merge_t));
    if (mg == NULL) {
        goto failed;
    }

    mg->store = store;
    mg->op = op;
    mg->pool = pool;
    mg->merge = merge;
    mg->data = data;

    mg->key.len = key->len;
    mg->key.data = ngx_pstrdup(pool, key);
    if (mg->key.data == NULL) {
        goto failed;
    }

    if (ngx_http_itsm_queue_redis_member(connector, key, mg->member_data,
                                         &mg->member)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm queue redis: merge \"%V\" of \"%V\"", key,
                   connector);

    if (ngx_http_itsm_queue_redis_read(mg) != NGX_OK) {
        goto failed;
    }

    return op ? NGX_AGAIN : NGX_OK;

failed:

    if (op == NULL) {
        ngx_destroy_pool(pool);
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_itsm_queue_redis_read(ngx_http_itsm_queue_redis_merge_t *mg)
{
    ngx_http_itsm_redis_cmd_t        *cmd;
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (ngx_http_itsm_queue_redis_keys(mg->store, &keys) != NGX_OK) {
        return NGX_ERROR;
    }

    cmd = ngx_http_itsm_redis_script(mg->store->redis,
              ngx_http_itsm_queue_redis_read_answer, mg,
              "EVAL %s 2 %b %b %b", NGX_HTTP_ITSM_QUEUE_REDIS_READ,
              keys.k[NGX_HTTP_ITSM_QR_DATA].data,
              keys.k[NGX_HTTP_ITSM_QR_DATA].len,
              keys.k[NGX_HTTP_ITSM_QR_SEQ].data,
              keys.k[NGX_HTTP_ITSM_QR_SEQ].len,
              mg->member.data, mg->member.len);

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "read: %V", &mg->key,
                      ngx_http_itsm_redis_error(mg->store->redis));
        return NGX_ERROR;
    }

    if (mg->op) {
        mg->op->backend = cmd;
    }

    return NGX_OK;
}


static void
ngx_http_itsm_queue_redis_read_answer(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_queue_redis_merge_t *mg = data;

    long long                       delay;
    ngx_int_t                       rc;
    ngx_str_t                       old;
    redisReply                    **e;
    ngx_http_itsm_redis_cmd_t      *cmd;
    ngx_http_itsm_store_pending_t   pend;
    ngx_http_itsm_queue_redis_keys_t  keys;

    if (mg->op) {
        mg->op->backend = NULL;
    }

    if (error) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "read: %V", &mg->key, error);
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || e[0]->type != REDIS_REPLY_INTEGER
        || e[1]->type != REDIS_REPLY_STRING
        || e[2]->type != REDIS_REPLY_STRING
        || e[2]->len > NGX_INT64_LEN)
    {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "read: %*s", &mg->key,
                      (size_t) (reply->type == REDIS_REPLY_ERROR
                                ? reply->len : 0), reply->str);
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    mg->seq.data = mg->seq_data;
    mg->seq.len = ngx_cpymem(mg->seq_data, e[2]->str, e[2]->len)
                  - mg->seq_data;

    old.data = (u_char *) e[1]->str;
    old.len = e[1]->len;

    pend.due = NGX_MAX_TIME_T_VALUE;
    pend.attempts = 0;
    ngx_str_null(&pend.text);

    rc = mg->merge(mg->data, e[0]->integer ? &old : NULL, &pend);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, mg->store->log, 0,
                   "itsm queue redis: \"%V\" read (seq \"%V\", %s), "
                   "merged: %i", &mg->key, &mg->seq,
                   e[0]->integer ? "a job waits" : "none", rc);

    mg->rc = rc;

    if (rc == NGX_DECLINED || rc == NGX_ERROR
        || (rc == NGX_DONE && e[0]->integer == 0))
    {
        ngx_http_itsm_queue_redis_merged(mg, rc);
        return;
    }

    if (rc != NGX_DONE && rc != NGX_OK) {
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    if (ngx_http_itsm_queue_redis_keys(mg->store, &keys) != NGX_OK) {
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    /* the due time as a delay on Redis' clock: the edges' may differ */

    if (rc == NGX_DONE || pend.due == NGX_MAX_TIME_T_VALUE) {
        delay = -1;

    } else {
        delay = (long long) ngx_max(pend.due - ngx_time(), 0) * 1000;
    }

    cmd = ngx_http_itsm_redis_script(mg->store->redis,
              ngx_http_itsm_queue_redis_written, mg,
              "EVAL %s 6 %b %b %b %b %b %b %b %b %s %b %lld",
              NGX_HTTP_ITSM_QUEUE_REDIS_WRITE,
              keys.k[NGX_HTTP_ITSM_QR_DUE].data,
              keys.k[NGX_HTTP_ITSM_QR_DUE].len,
              keys.k[NGX_HTTP_ITSM_QR_LEASE].data,
              keys.k[NGX_HTTP_ITSM_QR_LEASE].len,
              keys.k[NGX_HTTP_ITSM_QR_DEAD].data,
              keys.k[NGX_HTTP_ITSM_QR_DEAD].len,
              keys.k[NGX_HTTP_ITSM_QR_DATA].data,
              keys.k[NGX_HTTP_ITSM_QR_DATA].len,
              keys.k[NGX_HTTP_ITSM_QR_TRIES].data,
              keys.k[NGX_HTTP_ITSM_QR_TRIES].len,
              keys.k[NGX_HTTP_ITSM_QR_SEQ].data,
              keys.k[NGX_HTTP_ITSM_QR_SEQ].len,
              mg->member.data, mg->member.len, mg->seq.data, mg->seq.len,
              rc == NGX_DONE ? "del" : "put",
              pend.text.data ? (char *) pend.text.data : "",
              pend.text.len, delay);

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "written: %V", &mg->key,
                      ngx_http_itsm_redis_error(mg->store->redis));
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    if (mg->op) {
        mg->op->backend = cmd;
    }
}


static void
ngx_http_itsm_queue_redis_written(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_queue_redis_merge_t *mg = data;

    if (mg->op) {
        mg->op->backend = NULL;
    }

    if (error) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "written: %V", &mg->key, error);
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" could not be "
                      "written: %*s", &mg->key,
                      (size_t) (reply->type == REDIS_REPLY_ERROR
                                ? reply->len : 0), reply->str);
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    if (reply->integer == 1) {
        ngx_http_itsm_queue_redis_merged(mg, mg->rc);
        return;
    }

    /* another write came between: merged again with the newer job */

    if (++mg->tries >= NGX_HTTP_ITSM_QUEUE_REDIS_MERGE_TRIES) {
        ngx_log_error(NGX_LOG_ERR, mg->store->log, 0,
                      "itsm queue redis: what waits for \"%V\" changed %d "
                      "times while it was merged; given up", &mg->key,
                      NGX_HTTP_ITSM_QUEUE_REDIS_MERGE_TRIES);
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, mg->store->log, 0,
                   "itsm queue redis: \"%V\" changed since read (try %ui), "
                   "read again", &mg->key, mg->tries);

    if (ngx_http_itsm_queue_redis_read(mg) != NGX_OK) {
        ngx_http_itsm_queue_redis_merged(mg, NGX_ERROR);
    }
}


static void
ngx_http_itsm_queue_redis_merged(ngx_http_itsm_queue_redis_merge_t *mg,
    ngx_int_t rc)
{
    ngx_http_itsm_store_op_t  *op;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, mg->store->log, 0,
                   "itsm queue redis: merge of \"%V\" ended: %i",
                   &mg->key, rc);

    op = mg->op;

    if (op == NULL) {
        ngx_destroy_pool(mg->pool);
        return;
    }

    op->rc = rc;
    op->handler(op);
}


/* the store's Redis client, for the queue's callers */

ngx_http_itsm_redis_t *
ngx_http_itsm_store_redis_client(ngx_http_itsm_store_t *store)
{
    return store->redis;
}
