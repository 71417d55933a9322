
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_access.h"


/*
 * The hot, ephemeral state in an nginx shared memory zone ("itsm_zone"):
 * how often each key fired, the answers given to deliveries that may come
 * again (idempotency), both in one rbtree with an LRU, as limit_req keeps
 * its states; and the counters of the status page.  It survives a reload;
 * it need not survive a restart: a key's count then starts again from what
 * the store recorded at its last transition.
 */


#define NGX_HTTP_ITSM_ZONE_COUNT   0
#define NGX_HTTP_ITSM_ZONE_ANSWER  1


typedef struct {
    u_char                       color;
    u_char                       kind;
    u_char                       len;
    u_char                       ticket_len;   /* answer */
    u_char                       action;       /* answer */
    u_char                       outcome;      /* answer */
    ngx_queue_t                  queue;
    time_t                       time;         /* last seen, or expiry */
    ngx_uint_t                   occurrences;
    uint64_t                     body;         /* answer: the body's hash */
    u_char                       data[1];      /* key, then ticket */
} ngx_http_itsm_zone_node_t;


/* a node's key: what ngx_http_itsm_zone_cmp() orders */
typedef struct {
    ngx_uint_t                   kind;
    ngx_str_t                    key;
} ngx_http_itsm_zone_key_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;        /* LRU, most recent first */
    ngx_uint_t                   nodes;
    ngx_http_itsm_counters_t     counters;
} ngx_http_itsm_zone_sh_t;


struct ngx_http_itsm_zone_s {
    ngx_http_itsm_zone_sh_t     *sh;
    ngx_slab_pool_t             *shpool;
    ngx_shm_zone_t              *shm_zone;
};


static ngx_int_t ngx_http_itsm_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_itsm_zone_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_itsm_zone_cmp(void *key,
    ngx_rbtree_node_t *node);
static ngx_http_itsm_zone_node_t *ngx_http_itsm_zone_lookup(
    ngx_http_itsm_zone_t *zone, ngx_uint_t kind, ngx_str_t *key,
    uint32_t hash);
static ngx_http_itsm_zone_node_t *ngx_http_itsm_zone_alloc(
    ngx_http_itsm_zone_t *zone, ngx_uint_t kind, ngx_str_t *key,
    uint32_t hash, size_t extra);
static void ngx_http_itsm_zone_free(ngx_http_itsm_zone_t *zone,
    ngx_http_itsm_zone_node_t *zn);
static void ngx_http_itsm_zone_evict(ngx_http_itsm_zone_t *zone);


/* itsm_zone NAME:SIZE; */

char *
ngx_http_itsm_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    ssize_t                size;
    ngx_str_t             *value, name, s;
    ngx_http_itsm_zone_t  *zone;

    if (imcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_itsm_conf_zone(cf, &value[1], &name, &s,
                                "expected NAME:SIZE, e.g. itsm:10m")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small or its size \"%V\" is "
                           "invalid; use at least %uzk",
                           &name, &s, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_itsm_module);
    if (zone->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the shared memory zone \"%V\" is already used",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_http_itsm_zone_init;
    zone->shm_zone->data = zone;

    imcf->zone = zone;

    return NGX_CONF_OK;
}


/* a reload keeps the zone, and the counts */

static ngx_int_t
ngx_http_itsm_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_itsm_zone_t  *zone;

    zone = shm_zone->data;

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    zone->sh = ngx_http_itsm_replay_zone_head(shm_zone, data,
                                              sizeof(ngx_http_itsm_zone_sh_t),
                                              ngx_http_itsm_zone_insert,
                                              "itsm_zone");

    return (zone->sh == NULL) ? NGX_ERROR : NGX_OK;
}


ngx_http_itsm_counters_t *
ngx_http_itsm_zone_counters(ngx_http_itsm_zone_t *zone)
{
    return &zone->sh->counters;
}


/*
 * One more occurrence of "key" ("add" 1; 0 only reads): returns the count
 * including this one, and
 * in "last_seen" when it was seen before (unchanged for a key it does not
 * know).
 * "base" is what the store recorded, for a key the zone does not know
 * (after a restart, or evicted).  When the zone is full, the least
 * recently seen key is evicted; if that fails, the count is not kept and
 * base + 1 is returned.
 */

ngx_uint_t
ngx_http_itsm_zone_hit(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t base, time_t *last_seen, ngx_uint_t add)
{
    uint32_t                    hash;
    ngx_uint_t                  n;
    ngx_http_itsm_zone_node_t  *zn;

    if (key->len > 255) {
        return base + 1;
    }

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_itsm_zone_lookup(zone, NGX_HTTP_ITSM_ZONE_COUNT, key, hash);

    if (zn) {
        if (zn->occurrences < base) {
            zn->occurrences = base;
        }

        zn->occurrences += add;
        n = zn->occurrences;
        *last_seen = zn->time;

        if (add) {
            zn->time = ngx_time();
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return n;
    }

    zn = ngx_http_itsm_zone_alloc(zone, NGX_HTTP_ITSM_ZONE_COUNT, key, hash, 0);

    if (zn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return base + 1;
    }

    zn->occurrences = base + add;
    zn->time = ngx_time();
    n = zn->occurrences;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/*
 * The answer given to a delivery: "key" names it (a delivery id), for
 * "window" seconds.  NGX_OK and "ans" filled when there is one.
 */

ngx_int_t
ngx_http_itsm_zone_answer_get(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    ngx_http_itsm_answer_t *ans)
{
    uint32_t                    hash;
    ngx_int_t                   rc;
    ngx_http_itsm_zone_node_t  *zn;

    if (key->len > 255) {
        return NGX_DECLINED;
    }

    hash = ngx_crc32_short(key->data, key->len);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_itsm_zone_lookup(zone, NGX_HTTP_ITSM_ZONE_ANSWER, key, hash);

    if (zn && zn->time < ngx_time()) {
        ngx_http_itsm_zone_free(zone, zn);
        zn = NULL;
    }

    if (zn) {
        ans->action = zn->action;
        ans->outcome = zn->outcome;
        ans->body = zn->body;
        ans->ticket.len = zn->ticket_len;
        ngx_memcpy(ans->ticket_data, zn->data + zn->len, zn->ticket_len);
        ans->ticket.data = ans->ticket_data;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_itsm_zone_answer_put(ngx_http_itsm_zone_t *zone, ngx_str_t *key,
    time_t window, ngx_http_itsm_answer_t *ans)
{
    size_t                      tlen;
    uint32_t                    hash;
    ngx_http_itsm_zone_node_t  *zn;

    if (key->len > 255) {
        return;
    }

    hash = ngx_crc32_short(key->data, key->len);
    tlen = ngx_min(ans->ticket.len, NGX_HTTP_ITSM_TICKET_MAX);

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_itsm_zone_lookup(zone, NGX_HTTP_ITSM_ZONE_ANSWER, key, hash);

    if (zn && zn->time >= ngx_time()) {
        /* the first answer stays: a concurrent copy finished later */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    if (zn == NULL) {
        zn = ngx_http_itsm_zone_alloc(zone, NGX_HTTP_ITSM_ZONE_ANSWER, key,
                                      hash, NGX_HTTP_ITSM_TICKET_MAX);
    }

    if (zn) {
        zn->action = (u_char) ans->action;
        zn->outcome = (u_char) ans->outcome;
        zn->body = ans->body;
        zn->ticket_len = (u_char) tlen;
        ngx_memcpy(zn->data + zn->len, ans->ticket.data, tlen);
        zn->time = ngx_time() + window;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the zone's use, for the status page */

void
ngx_http_itsm_zone_usage(ngx_http_itsm_zone_t *zone, size_t *size,
    size_t *free, ngx_uint_t *keys)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    *size = zone->shm_zone->shm.size;
    *free = zone->shpool->pfree * ngx_pagesize;
    *keys = zone->sh->nodes;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the zone is locked by the caller; the node found becomes the most
 * recently used */

static ngx_http_itsm_zone_node_t *
ngx_http_itsm_zone_lookup(ngx_http_itsm_zone_t *zone, ngx_uint_t kind,
    ngx_str_t *key, uint32_t hash)
{
    ngx_rbtree_node_t          *node;
    ngx_http_itsm_zone_key_t    zk;
    ngx_http_itsm_zone_node_t  *zn;

    zk.kind = kind;
    zk.key = *key;

    node = ngx_http_itsm_replay_zone_find(&zone->sh->rbtree, hash, &zk,
                                          ngx_http_itsm_zone_cmp);
    if (node == NULL) {
        return NULL;
    }

    zn = (ngx_http_itsm_zone_node_t *) &node->color;

    ngx_queue_remove(&zn->queue);
    ngx_queue_insert_head(&zone->sh->queue, &zn->queue);

    return zn;
}


/* a new node; when the zone is full, the least recently used go first */

static ngx_http_itsm_zone_node_t *
ngx_http_itsm_zone_alloc(ngx_http_itsm_zone_t *zone, ngx_uint_t kind,
    ngx_str_t *key, uint32_t hash, size_t extra)
{
    size_t                      size;
    ngx_rbtree_node_t          *node;
    ngx_http_itsm_zone_node_t  *zn;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_itsm_zone_node_t, data)
           + key->len + extra;

    node = ngx_slab_alloc_locked(zone->shpool, size);

    if (node == NULL) {
        ngx_http_itsm_zone_evict(zone);

        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node == NULL) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "itsm: could not allocate a node%s",
                          zone->shpool->log_ctx);
            return NULL;
        }
    }

    node->key = hash;

    zn = (ngx_http_itsm_zone_node_t *) &node->color;
    ngx_memzero(zn, offsetof(ngx_http_itsm_zone_node_t, data));
    zn->kind = (u_char) kind;
    zn->len = (u_char) key->len;
    ngx_memcpy(zn->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->queue, &zn->queue);
    zone->sh->nodes++;

    return zn;
}


static void
ngx_http_itsm_zone_free(ngx_http_itsm_zone_t *zone,
    ngx_http_itsm_zone_node_t *zn)
{
    ngx_http_itsm_replay_zone_free(&zone->sh->rbtree, zone->shpool, zn,
                                   &zn->queue);
    zone->sh->nodes--;
}


static void
ngx_http_itsm_zone_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_http_itsm_zone_key_t    zk;
    ngx_http_itsm_zone_node_t  *zn;

    zn = (ngx_http_itsm_zone_node_t *) &node->color;

    zk.kind = zn->kind;
    zk.key.len = zn->len;
    zk.key.data = zn->data;

    ngx_http_itsm_replay_zone_insert(temp, node, sentinel, &zk,
                                     ngx_http_itsm_zone_cmp);
}


/* by kind, then by key */

static ngx_int_t
ngx_http_itsm_zone_cmp(void *key, ngx_rbtree_node_t *node)
{
    ngx_http_itsm_zone_key_t *zk = key;

    ngx_http_itsm_zone_node_t  *zn;

    zn = (ngx_http_itsm_zone_node_t *) &node->color;

    if (zk->kind != zn->kind) {
        return (ngx_int_t) zk->kind - zn->kind;
    }

    return ngx_memn2cmp(zk->key.data, zn->data, zk->key.len, (size_t) zn->len);
}


/* frees the least recently seen keys to make room: a few at a time */

static void
ngx_http_itsm_zone_evict(ngx_http_itsm_zone_t *zone)
{
    ngx_uint_t                  n;
    ngx_queue_t                *q;
    ngx_http_itsm_zone_node_t  *zn;

    for (n = 0; n < 4; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        zn = ngx_queue_data(q, ngx_http_itsm_zone_node_t, queue);

        ngx_http_itsm_zone_free(zone, zn);
    }
}
