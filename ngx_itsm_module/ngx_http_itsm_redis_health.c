
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis_int.h"
#include "ngx_http_itsm_json.h"


/*
 * The client's health: each worker's PING every ping=, its outcome in a
 * small shared zone, which the status page reads (JSON and Prometheus).
 */


static void ngx_http_itsm_redis_pong(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_http_itsm_redis_shm_t *ngx_http_itsm_redis_shm(
    ngx_http_itsm_redis_t *rd, ngx_slab_pool_t **shpool);
static void ngx_http_itsm_redis_health_up(ngx_http_itsm_redis_t *rd,
    uint64_t us, ngx_uint_t connected);
static uint64_t ngx_http_itsm_redis_max_1m(ngx_http_itsm_redis_shm_t *sh,
    time_t now);
static void ngx_http_itsm_redis_version(void *data, redisReply *reply,
    ngx_str_t *error);


static ngx_str_t  ngx_http_itsm_redis_health_names[] = {
    ngx_string("connecting"),
    ngx_string("up"),
    ngx_string("down")
};

ngx_int_t
ngx_http_itsm_redis_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = ngx_http_itsm_conf_zone_data(shm_zone, data ? shpool->data : NULL,
                                      sizeof(ngx_http_itsm_redis_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    /*
     * A reload keeps the counters; the state is that of the new workers,
     * which connect again (maybe elsewhere: address= may have changed).
     */

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_CONNECTING;

    shm_zone->data = sh;

    return NGX_OK;
}

/* every ping=: a PING whose round trip the status page shows */

void
ngx_http_itsm_redis_ping(ngx_event_t *ev)
{
    ngx_http_itsm_redis_t *rd = ev->data;

    if (!rd->running || ngx_exiting) {
        return;
    }

    if (!rd->ping_timer.timer_set) {
        ngx_add_timer(&rd->ping_timer, rd->ping);
    }

    if (rd->state != NGX_HTTP_ITSM_REDIS_READY || rd->ping_cmd) {
        return;
    }

    rd->ping_sent = ngx_http_itsm_redis_now_us();
    rd->ping_cmd = ngx_http_itsm_redis_command(rd, ngx_http_itsm_redis_pong,
                                               rd, "PING");
}


static void
ngx_http_itsm_redis_pong(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_redis_t *rd = data;

    uint64_t  us;

    rd->ping_cmd = NULL;

    if (reply == NULL) {
        /* timed out or lost: recorded already */
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS
        || reply->len != 4 || ngx_strncmp(reply->str, "PONG", 4) != 0)
    {
        ngx_http_itsm_redis_set_error(rd, "PING failed: %*s",
                                      (size_t) reply->len,
                                      reply->str ? reply->str : "");
        ngx_http_itsm_redis_drop(rd);
        return;
    }

    us = ngx_http_itsm_redis_now_us() - rd->ping_sent;

    if (us == 0) {
        us = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: PONG after %uLus", us);

    if (rd->down) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "redis %V: up", &rd->address);
    }

    rd->down = 0;
    rd->backoff = NGX_HTTP_ITSM_REDIS_BACKOFF_MIN;

    /* "connects": the connections that answered, each once, by any worker */

    ngx_http_itsm_redis_health_up(rd, us, !rd->alive);

    rd->alive = 1;
}

/*
 * The server's version, asked once per connection (INFO server): what the
 * module sends needs Redis 7.0 ("SET ... NX ... GET" for the delivery ids
 * and the signature replay cache is refused before 7.0; "ZADD LT" for the
 * shared queue before 6.2).  An older one is said in the error log and on
 * the status page, before the first delivery id fails on it; nothing is
 * refused here: the commands' own errors are answered as they come.
 */

void
ngx_http_itsm_redis_version_ask(ngx_http_itsm_redis_t *rd)
{
    (void) ngx_http_itsm_redis_command(rd, ngx_http_itsm_redis_version, rd,
                                       "INFO server");
}


static void
ngx_http_itsm_redis_version(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_redis_t *rd = data;

    u_char                     *p, *v, *last;
    ngx_int_t                   major, minor;
    ngx_uint_t                  ok;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    if (reply == NULL) {
        /* timed out or lost: the next connection asks again */
        return;
    }

    v = NULL;
    last = NULL;

    if (reply->type == REDIS_REPLY_STRING) {
        last = (u_char *) reply->str + reply->len;
        p = ngx_strlcasestrn((u_char *) reply->str, last,
                             (u_char *) "redis_version:",
                             sizeof("redis_version:") - 1 - 1);
        if (p) {
            v = p + sizeof("redis_version:") - 1;
            for (p = v; p < last && *p != '\r' && *p != '\n'; p++) {
                /* void */
            }
            last = p;
        }
    }

    if (v == NULL || last == v
        || (size_t) (last - v) > NGX_HTTP_ITSM_REDIS_VERSION_LEN)
    {
        /* INFO renamed away, or a proxy that answers it its own way */
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "redis %V: cannot tell its version (INFO server: "
                      "%*s); the module needs Redis %d.%d or later",
                      &rd->address,
                      (size_t) ngx_min(reply->len, 80),
                      reply->str ? reply->str : "",
                      NGX_HTTP_ITSM_REDIS_NEED_MAJOR,
                      NGX_HTTP_ITSM_REDIS_NEED_MINOR);
        return;
    }

    /* "7.0.15": major and minor */

    major = 0;
    minor = 0;

    for (p = v; p < last && *p >= '0' && *p <= '9'; p++) {
        major = major * 10 + (*p - '0');
        if (major > 1000) {
            break;
        }
    }

    if (p < last && *p == '.') {
        for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
            minor = minor * 10 + (*p - '0');
            if (minor > 1000) {
                break;
            }
        }
    }

    ok = (major > NGX_HTTP_ITSM_REDIS_NEED_MAJOR
          || (major == NGX_HTTP_ITSM_REDIS_NEED_MAJOR
              && minor >= NGX_HTTP_ITSM_REDIS_NEED_MINOR));

    if (ok) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: %V is Redis %*s", &rd->address,
                       (size_t) (last - v), v);

    } else {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis %V is Redis %*s, older than %d.%d, which the "
                      "module needs: delivery ids and the signature replay "
                      "cache use \"SET ... NX ... GET\" (7.0), the shared "
                      "queue \"ZADD LT\" (6.2); upgrade Redis",
                      &rd->address, (size_t) (last - v), v,
                      NGX_HTTP_ITSM_REDIS_NEED_MAJOR,
                      NGX_HTTP_ITSM_REDIS_NEED_MINOR);
    }

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->version_len = last - v;
    ngx_memcpy(sh->version, v, sh->version_len);
    sh->version_ok = ok;

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the health, in the zone */

uint64_t
ngx_http_itsm_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static ngx_http_itsm_redis_shm_t *
ngx_http_itsm_redis_shm(ngx_http_itsm_redis_t *rd, ngx_slab_pool_t **shpool)
{
    if (rd->shm_zone == NULL || rd->shm_zone->shm.addr == NULL) {
        return NULL;
    }

    *shpool = (ngx_slab_pool_t *) rd->shm_zone->shm.addr;

    return rd->shm_zone->data;
}


static void
ngx_http_itsm_redis_health_up(ngx_http_itsm_redis_t *rd, uint64_t us,
    ngx_uint_t connected)
{
    time_t                         now;
    ngx_slab_pool_t               *shpool;
    ngx_http_itsm_redis_shm_t     *sh;
    ngx_http_itsm_redis_second_t  *s;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return;
    }

    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_UP;
    sh->last_us = us;

    s = &sh->second[now % NGX_HTTP_ITSM_REDIS_WINDOW];

    if (s->sec != now) {
        s->sec = now;
        s->max_us = 0;
    }

    if (us > s->max_us) {
        s->max_us = us;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (connected) {
        (void) ngx_atomic_fetch_add(&sh->connects, 1);
    }
}


void
ngx_http_itsm_redis_health_down(ngx_http_itsm_redis_t *rd)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->health = NGX_HTTP_ITSM_REDIS_HEALTH_DOWN;
    sh->error_len = ngx_min(rd->error.len, NGX_HTTP_ITSM_REDIS_ERROR_LEN);
    ngx_memcpy(sh->error, rd->error.data, sh->error_len);

    ngx_shmtx_unlock(&shpool->mutex);

    (void) ngx_atomic_fetch_add(&sh->failures, 1);
}


static uint64_t
ngx_http_itsm_redis_max_1m(ngx_http_itsm_redis_shm_t *sh, time_t now)
{
    uint64_t    max;
    ngx_uint_t  i;

    max = 0;

    for (i = 0; i < NGX_HTTP_ITSM_REDIS_WINDOW; i++) {
        if (sh->second[i].sec > now - NGX_HTTP_ITSM_REDIS_WINDOW
            && sh->second[i].max_us > max)
        {
            max = sh->second[i].max_us;
        }
    }

    return max;
}


/*
 * "redis": {"address": ..., "state": "up", "last_error": "",
 *           "latency_us": {"last": 180, "max_1m": 950},
 *           "connects": 1, "failures": 0, "version": "7.0.15",
 *           "version_ok": true}
 */

json_t *
ngx_http_itsm_redis_status_json(ngx_http_itsm_redis_t *rd)
{
    json_t                     *obj;
    uint64_t                    last, max;
    ngx_uint_t                  health;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;
    u_char                      error[NGX_HTTP_ITSM_REDIS_ERROR_LEN];
    u_char                      version[NGX_HTTP_ITSM_REDIS_VERSION_LEN];
    size_t                      error_len, version_len;
    ngx_uint_t                  version_ok;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return NULL;
    }

    ngx_shmtx_lock(&shpool->mutex);

    health = sh->health;
    last = sh->last_us;
    max = ngx_http_itsm_redis_max_1m(sh, ngx_time());
    error_len = sh->error_len;
    ngx_memcpy(error, sh->error, error_len);
    version_len = sh->version_len;
    ngx_memcpy(version, sh->version, version_len);
    version_ok = sh->version_ok;

    ngx_shmtx_unlock(&shpool->mutex);

    /* "version": the last connection's server, null before it answered;
     * "version_ok": false when older than the module needs */

    obj = json_pack("{s:s%, s:s, s:s%, s:{s:I, s:I}, s:I, s:I, s:o, s:o}",
                    "address", (char *) rd->address.data, rd->address.len,
                    "state",
                    (char *) ngx_http_itsm_redis_health_names[health].data,
                    "last_error", (char *) error, error_len,
                    "latency_us", "last", (json_int_t) last,
                    "max_1m", (json_int_t) max,
                    "connects", (json_int_t) sh->connects,
                    "failures", (json_int_t) sh->failures,
                    "version", version_len
                               ? json_stringn((char *) version, version_len)
                               : json_null(),
                    "version_ok", version_len ? json_boolean(version_ok)
                                              : json_null());

    return obj;
}


u_char *
ngx_http_itsm_redis_status_prometheus(u_char *p, u_char *last,
    ngx_http_itsm_redis_t *rd)
{
    uint64_t                    us, max;
    ngx_uint_t                  health;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_redis_shm_t  *sh;

    sh = ngx_http_itsm_redis_shm(rd, &shpool);
    if (sh == NULL) {
        return p;
    }

    ngx_shmtx_lock(&shpool->mutex);

    health = sh->health;
    us = sh->last_us;
    max = ngx_http_itsm_redis_max_1m(sh, ngx_time());

    ngx_shmtx_unlock(&shpool->mutex);

    return ngx_slprintf(p, last,
                        "# HELP itsm_redis_up Whether Redis answered the last "
                        "PING (itsm_redis).\n"
                        "# TYPE itsm_redis_up gauge\n"
                        "itsm_redis_up %d\n"
                        "# TYPE itsm_redis_latency_last_microseconds gauge\n"
                        "itsm_redis_latency_last_microseconds %uL\n"
                        "# HELP itsm_redis_latency_max_1m_microseconds The "
                        "slowest PING of the last minute.\n"
                        "# TYPE itsm_redis_latency_max_1m_microseconds gauge\n"
                        "itsm_redis_latency_max_1m_microseconds %uL\n"
                        "# TYPE itsm_redis_connects_total counter\n"
                        "itsm_redis_connects_total %uA\n"
                        "# TYPE itsm_redis_failures_total counter\n"
                        "itsm_redis_failures_total %uA\n",
                        health == NGX_HTTP_ITSM_REDIS_HEALTH_UP ? 1 : 0,
                        us, max, sh->connects, sh->failures);
}
