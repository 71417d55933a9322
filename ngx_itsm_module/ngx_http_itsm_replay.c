
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"


/*
 * The deliveries already seen, in a shared memory zone
 * ("itsm_signature_replay_zone name:size;") so that every worker sees them
 * and they survive a reload.
 * A node is keyed by a SHA-256 of the delivery (ngx_http_itsm_sig_replay_
 * key()), sits in a red-black tree for lookups and in a queue for expiry
 * and eviction, as limit_req does.
 *
 * A new delivery is "pending" while its request runs.  When the request
 * ends, a 2xx answer makes it "done" until it can no longer be replayed
 * (its timestamp leaves the tolerance window, or the ttl passes); any
 * other answer forgets it, so that the sender's resend is handled afresh.
 *
 * A pending node is never taken over while its request may still wait on
 * the ITSM, however long that takes (a proxy_read_timeout of minutes): a
 * copy would be delivered a second time.  Its request is alive while the
 * worker that owns it is (the request's cleanup ends the node), so a copy
 * takes the node over only once that worker is gone (kill(pid, 0) says
 * ESRCH: it crashed or was killed), and, in case its pid was reused by
 * another process, after NGX_HTTP_ITSM_REPLAY_PENDING_MAX seconds.  The
 * owner is looked for when a copy arrives and every
 * NGX_HTTP_ITSM_REPLAY_PENDING seconds when the node reaches the tail of
 * the expiry queue.
 */


#define NGX_HTTP_ITSM_REPLAY_PENDING      120
#define NGX_HTTP_ITSM_REPLAY_PENDING_MAX  3600

#define NGX_HTTP_ITSM_REPLAY_NEW      0
#define NGX_HTTP_ITSM_REPLAY_DONE     1


typedef struct {
    u_char                       color;
    u_char                       state;
    u_short                      dummy;
    ngx_pid_t                    pid;          /* the pending request's */
    ngx_queue_t                  queue;
    time_t                       expire;
    time_t                       done_expire;
    time_t                       start;        /* of the pending request */
    ngx_atomic_uint_t            conn;
    ngx_uint_t                   req;
    u_char                       key[NGX_HTTP_ITSM_REPLAY_KEY_LEN];
} ngx_http_itsm_replay_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
} ngx_http_itsm_replay_shctx_t;


typedef struct {
    ngx_http_itsm_replay_shctx_t  *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_itsm_replay_ctx_t;


typedef struct {
    ngx_shm_zone_t              *zone;
    ngx_uint_t                   status;       /* the status sent */
    ngx_atomic_uint_t            conn;
    ngx_uint_t                   req;
    u_char                       key[NGX_HTTP_ITSM_REPLAY_KEY_LEN];
} ngx_http_itsm_replay_cln_t;


static ngx_int_t ngx_http_itsm_replay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_itsm_replay_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_itsm_replay_cmp(void *key,
    ngx_rbtree_node_t *node);
static ngx_http_itsm_replay_node_t *ngx_http_itsm_replay_lookup(
    ngx_http_itsm_replay_ctx_t *ctx, u_char *key);
static void ngx_http_itsm_replay_delete(ngx_http_itsm_replay_ctx_t *ctx,
    ngx_http_itsm_replay_node_t *rn);
static void ngx_http_itsm_replay_expire(ngx_http_itsm_replay_ctx_t *ctx,
    time_t now, ngx_uint_t force);
static ngx_uint_t ngx_http_itsm_replay_live(ngx_http_itsm_replay_node_t *rn,
    time_t now);
static void ngx_http_itsm_replay_cleanup(void *data);
static ngx_int_t ngx_http_itsm_replay_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_uint_t                        ngx_http_itsm_replay_used;

/* the tag of the zones: this file's own, so that it needs nothing of the
 * module's file */
static ngx_uint_t                        ngx_http_itsm_replay_tag;


/* "itsm_signature_replay_zone name:size;" at http level */

char *
ngx_http_itsm_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                      size;
    ngx_str_t                   *value, name, s;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_itsm_replay_ctx_t  *ctx;

    value = cf->args->elts;

    if (ngx_http_itsm_conf_zone(cf, &value[1], &name, &s,
                                "write name:size, e.g. "
                                "itsm_signature_replay_zone webhooks:1m")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"; e.g. 1m", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small; at least %uz bytes "
                           "(1m holds about 8000 ids)", &value[1],
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_replay_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_itsm_replay_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already declared",
                           &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_itsm_replay_init_zone;
    shm_zone->data = ctx;

    ngx_http_itsm_replay_used = 1;

    return NGX_CONF_OK;
}


/* a reference from "itsm_signature_replay zone=name", checked later */

ngx_shm_zone_t *
ngx_http_itsm_replay_zone_ref(ngx_conf_t *cf, ngx_str_t *name)
{
    return ngx_shared_memory_add(cf, name, 0, &ngx_http_itsm_replay_tag);
}


/* a reload keeps the zone, and what it has seen */

static ngx_int_t
ngx_http_itsm_replay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_itsm_replay_ctx_t  *ctx;

    ctx = shm_zone->data;

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ctx->sh = ngx_http_itsm_replay_zone_head(shm_zone, data,
                                          sizeof(ngx_http_itsm_replay_shctx_t),
                                          ngx_http_itsm_replay_insert_value,
                                          "itsm_signature_replay_zone");

    return (ctx->sh == NULL) ? NGX_ERROR : NGX_OK;
}


/*
 * The head of one of the module's shared zones (this one, and itsm_zone
 * in ngx_http_itsm_zone.c), whose own structure of "size" bytes begins
 * with an rbtree, its sentinel and an LRU queue: the one the zone has
 * when it exists already, or when a reload keeps it ("data", the old
 * cycle's, is not NULL: nginx gives the same memory again), else a new
 * one, zeroed, its tree and queue empty, the slab pool's messages naming
 * the zone "in DIRECTIVE "name"".  NULL: no room.
 */

void *
ngx_http_itsm_replay_zone_head(ngx_shm_zone_t *shm_zone, void *data,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive)
{
    size_t                      len;
    ngx_slab_pool_t            *shpool;
    ngx_http_itsm_zone_head_t  *head;

    head = ngx_http_itsm_conf_zone_data(shm_zone, data, size);

    /* a head kept or found has its tree; a new one is zeroed */

    if (head == NULL || head->rbtree.root != NULL) {
        return head;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ngx_rbtree_init(&head->rbtree, &head->sentinel, insert);
    ngx_queue_init(&head->queue);

    len = sizeof(" in  \"\"") + ngx_strlen(directive)
          + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NULL;
    }

    ngx_sprintf(shpool->log_ctx, " in %s \"%V\"%Z", directive,
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return head;
}


/*
 * The node of "key" in the tree of such a zone, or NULL.  A node's rbtree
 * key is a hash of its own key; "cmp" orders "key" against the key of a
 * node of the same hash, as memcmp() does.
 */

ngx_rbtree_node_t *
ngx_http_itsm_replay_zone_find(ngx_rbtree_t *tree, ngx_rbtree_key_t hash,
    void *key, ngx_http_itsm_zone_cmp_pt cmp)
{
    ngx_int_t           rc;
    ngx_rbtree_node_t  *node, *sentinel;

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        rc = cmp(key, node);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the insert of such a zone's tree: "key" is the new node's own key */

void
ngx_http_itsm_replay_zone_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel, void *key,
    ngx_http_itsm_zone_cmp_pt cmp)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            p = (cmp(key, temp) < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Frees a node of such a zone, the zone locked: "data" is the node's own
 * structure (at its rbtree node's color), "q" its place in the queue.
 */

void
ngx_http_itsm_replay_zone_free(ngx_rbtree_t *tree, ngx_slab_pool_t *shpool,
    void *data, ngx_queue_t *q)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) data - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(q);
    ngx_rbtree_delete(tree, node);
    ngx_slab_free_locked(shpool, node);
}


static void
ngx_http_itsm_replay_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_itsm_replay_node_t  *rn;

    rn = (ngx_http_itsm_replay_node_t *) &node->color;

    ngx_http_itsm_replay_zone_insert(temp, node, sentinel, rn->key,
                                     ngx_http_itsm_replay_cmp);
}


static ngx_int_t
ngx_http_itsm_replay_cmp(void *key, ngx_rbtree_node_t *node)
{
    ngx_http_itsm_replay_node_t  *rn;

    rn = (ngx_http_itsm_replay_node_t *) &node->color;

    return ngx_memcmp(key, rn->key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);
}


/*
 * NGX_OK: a new delivery, now pending; NGX_DECLINED: already done (a
 * replay); NGX_BUSY: another request is handling it right now.
 */

ngx_int_t
ngx_http_itsm_replay_check(ngx_http_request_t *r, ngx_shm_zone_t *zone,
    u_char *key, time_t expire)
{
    size_t                        n;
    time_t                        now, until;
    ngx_pid_t                     pid;
    ngx_uint_t                    tries;
    ngx_rbtree_node_t            *node;
    ngx_pool_cleanup_t           *cln;
    ngx_http_itsm_replay_ctx_t   *ctx;
    ngx_http_itsm_replay_cln_t   *rc;
    ngx_http_itsm_replay_node_t  *rn;

    ctx = zone->data;
    now = ngx_time();

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_itsm_replay_cln_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rc = cln->data;
    rc->zone = zone;
    rc->status = 0;
    rc->conn = r->connection->number;
    rc->req = r->connection->requests;
    ngx_memcpy(rc->key, key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_itsm_replay_expire(ctx, now, 0);

    rn = ngx_http_itsm_replay_lookup(ctx, key);

    if (rn && rn->state == NGX_HTTP_ITSM_REPLAY_DONE && rn->expire > now) {
        until = rn->expire;
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: replay: accepted before, remembered "
                       "until %T", until);

        return NGX_DECLINED;
    }

    if (rn && rn->state == NGX_HTTP_ITSM_REPLAY_NEW) {

        if (rn->pid == ngx_pid && rn->conn == rc->conn && rn->req == rc->req)
        {
            /* this very request, verified again after a redirect */
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "itsm access: replay: this request, again");

            return NGX_OK;
        }

        if (ngx_http_itsm_replay_live(rn, now)) {
            pid = rn->pid;
            until = rn->start;
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "itsm access: replay: in flight in worker %P "
                           "for %T s", pid, now - until);

            return NGX_BUSY;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "itsm: a delivery in flight for %T s in worker %P "
                      "is handled again: that worker is gone, or the "
                      "delivery waited %d s%s",
                      now - rn->start, rn->pid,
                      NGX_HTTP_ITSM_REPLAY_PENDING_MAX, ctx->shpool->log_ctx);
    }

    if (rn == NULL) {

        n = offsetof(ngx_rbtree_node_t, color)
            + sizeof(ngx_http_itsm_replay_node_t);

        for (tries = 0; /* void */; tries++) {
            node = ngx_slab_alloc_locked(ctx->shpool, n);

            if (node) {
                break;
            }

            if (tries == 8 || ngx_queue_empty(&ctx->sh->queue)) {
                ngx_shmtx_unlock(&ctx->shpool->mutex);

                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "itsm: could not allocate a node%s",
                              ctx->shpool->log_ctx);
                return NGX_ERROR;
            }

            if (tries == 0) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "itsm: the replay zone is full; delivery ids "
                              "are forgotten before their time%s: make it "
                              "larger", ctx->shpool->log_ctx);
            }

            ngx_http_itsm_replay_expire(ctx, now, 1);
        }

        rn = (ngx_http_itsm_replay_node_t *) &node->color;

        ngx_memcpy(rn->key, key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);
        ngx_memcpy(&node->key, key, sizeof(ngx_rbtree_key_t));

        ngx_rbtree_insert(&ctx->sh->rbtree, node);

    } else {
        /* expired, or pending for a worker that is gone: taken over */
        ngx_queue_remove(&rn->queue);
    }

    rn->state = NGX_HTTP_ITSM_REPLAY_NEW;
    rn->pid = ngx_pid;
    rn->conn = rc->conn;
    rn->req = rc->req;
    rn->start = now;
    rn->expire = now + NGX_HTTP_ITSM_REPLAY_PENDING;
    rn->done_expire = expire;

    ngx_queue_insert_head(&ctx->sh->queue, &rn->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    cln->handler = ngx_http_itsm_replay_cleanup;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: replay: new, in flight; remembered until "
                   "%T if answered 2xx", expire);

    return NGX_OK;
}


/* "itsm_signature_replay redis" needs the filter too */

void
ngx_http_itsm_replay_filter_use(void)
{
    ngx_http_itsm_replay_used = 1;
}


/*
 * The status the sender saw is the one of the first response header that
 * went out; r->headers_out.status may be changed later (an error after the
 * header was sent), or never set at all (the client went away).
 */

ngx_int_t
ngx_http_itsm_replay_filter_init(ngx_conf_t *cf)
{
    if (ngx_http_itsm_replay_used) {
        ngx_http_next_header_filter = ngx_http_top_header_filter;
        ngx_http_top_header_filter = ngx_http_itsm_replay_header_filter;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_replay_header_filter(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *c;
    ngx_http_itsm_replay_cln_t  *rc;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /* the cleanup outlives the module ctx, which a redirect clears */

    for (c = r->pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_http_itsm_replay_cleanup) {
            rc = c->data;

            if (rc->status == 0) {
                rc->status = r->headers_out.status;
            }

        } else if (c->handler == ngx_http_itsm_replay_redis_cleanup) {
            ngx_http_itsm_replay_redis_status(c->data,
                                              r->headers_out.status);
        }
    }

    return ngx_http_next_header_filter(r);
}


/* when the request is freed: remember a delivery that got a 2xx */

static void
ngx_http_itsm_replay_cleanup(void *data)
{
    ngx_http_itsm_replay_cln_t *rc = data;

    time_t                        now;
    ngx_uint_t                    status;
    ngx_http_itsm_replay_ctx_t   *ctx;
    ngx_http_itsm_replay_node_t  *rn;

    ctx = rc->zone->data;
    status = rc->status;
    now = ngx_time();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    rn = ngx_http_itsm_replay_lookup(ctx, rc->key);

    if (rn == NULL
        || rn->state != NGX_HTTP_ITSM_REPLAY_NEW
        || rn->pid != ngx_pid || rn->conn != rc->conn || rn->req != rc->req)
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        rn->state = NGX_HTTP_ITSM_REPLAY_DONE;
        rn->expire = ngx_max(rn->done_expire, now + 1);

        ngx_queue_remove(&rn->queue);
        ngx_queue_insert_head(&ctx->sh->queue, &rn->queue);

    } else {
        ngx_http_itsm_replay_delete(ctx, rn);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    /* the request is gone: the cycle's log */

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm access: replay: the delivery was answered %ui: %s",
                   status,
                   (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE)
                   ? "remembered" : "forgotten");
}


static ngx_http_itsm_replay_node_t *
ngx_http_itsm_replay_lookup(ngx_http_itsm_replay_ctx_t *ctx, u_char *key)
{
    ngx_rbtree_key_t    hash;
    ngx_rbtree_node_t  *node;

    ngx_memcpy(&hash, key, sizeof(ngx_rbtree_key_t));

    node = ngx_http_itsm_replay_zone_find(&ctx->sh->rbtree, hash, key,
                                          ngx_http_itsm_replay_cmp);

    return node ? (ngx_http_itsm_replay_node_t *) &node->color : NULL;
}


static void
ngx_http_itsm_replay_delete(ngx_http_itsm_replay_ctx_t *ctx,
    ngx_http_itsm_replay_node_t *rn)
{
    ngx_http_itsm_replay_zone_free(&ctx->sh->rbtree, ctx->shpool, rn,
                                   &rn->queue);
}


/*
 * Drops up to three expired nodes from the tail; with force (the zone is
 * full), one at least.  A pending node whose request is still alive is
 * not expired: it goes back to the head, to be looked at again in
 * NGX_HTTP_ITSM_REPLAY_PENDING seconds.
 */

static void
ngx_http_itsm_replay_expire(ngx_http_itsm_replay_ctx_t *ctx, time_t now,
    ngx_uint_t force)
{
    ngx_uint_t                    n;
    ngx_queue_t                  *q;
    ngx_http_itsm_replay_node_t  *rn;

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        rn = ngx_queue_data(q, ngx_http_itsm_replay_node_t, queue);

        if (!force && rn->expire > now) {
            return;
        }

        if (!force && ngx_http_itsm_replay_live(rn, now)) {
            rn->expire = now + NGX_HTTP_ITSM_REPLAY_PENDING;
            ngx_queue_remove(&rn->queue);
            ngx_queue_insert_head(&ctx->sh->queue, &rn->queue);
            continue;
        }

        force = 0;

        ngx_http_itsm_replay_delete(ctx, rn);
    }
}


/* a pending node whose request may still be waiting on the ITSM */

static ngx_uint_t
ngx_http_itsm_replay_live(ngx_http_itsm_replay_node_t *rn, time_t now)
{
    if (rn->state != NGX_HTTP_ITSM_REPLAY_NEW) {
        return 0;
    }

    if (now - rn->start >= NGX_HTTP_ITSM_REPLAY_PENDING_MAX) {
        return 0;
    }

    /* in this worker, a pending node's request is running: its cleanup
     * would have ended the node */

    if (rn->pid == ngx_pid) {
        return 1;
    }

    /* EPERM: a process of another user, which nginx workers are not, but
     * then it is alive */

    if (kill(rn->pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 0;
    }

    return 1;
}
