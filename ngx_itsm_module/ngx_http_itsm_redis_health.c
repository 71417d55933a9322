
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
 *           "connects": 1, "failures": 0}
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
    size_t                      error_len;

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

    ngx_shmtx_unlock(&shpool->mutex);

    obj = json_pack("{s:s%, s:s, s:s%, s:{s:I, s:I}, s:I, s:I}",
                    "address", (char *) rd->address.data, rd->address.len,
                    "state",
                    (char *) ngx_http_itsm_redis_health_names[health].data,
                    "last_error", (char *) error, error_len,
                    "latency_us", "last", (json_int_t) last,
                    "max_1m", (json_int_t) max,
                    "connects", (json_int_t) sh->connects,
                    "failures", (json_int_t) sh->failures);

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
