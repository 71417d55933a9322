
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/*
 * The store's flushes.  The store is opened with MDB_NOSYNC: a commit that
 * must survive a crash of the machine is followed by mdb_env_sync().  For
 * a claim made to create and for a commit, the request waits for it off
 * the event loop: a flush in a thread of nginx's pool covers every commit
 * made before it started (a group commit), and wakes the requests it
 * covers; a commit made while flushes run that do not cover it starts
 * one more, up to NGX_HTTP_ITSM_STORE_FLUSHES at once.  The rest are
 * flushed at once, in the event loop.
 */

#if (NGX_THREADS)

/* the flush handed to a thread of the pool */

typedef struct {
    ngx_http_itsm_store_t       *store;
    MDB_env                     *env;
    ngx_uint_t                   upto;         /* the commits it covers */
    int                          rc;
    ngx_atomic_t                 synced;       /* the thread is done */
    ngx_atomic_t                 since;        /* its sync began, in us */
} ngx_http_itsm_store_flush_ctx_t;


/* a flush that has waited on the disk this long (us) is worth another
 * beside it: fdatasync on tmpfs takes a few microseconds, on a disk most
 * of a millisecond or more */
#define NGX_HTTP_ITSM_STORE_FLUSH_SLOW  250

static ngx_int_t ngx_http_itsm_store_flush_post(ngx_http_itsm_store_t *store);
static ngx_uint_t ngx_http_itsm_store_flush_busy(ngx_http_itsm_store_t *store);
static ngx_atomic_uint_t ngx_http_itsm_store_flush_us(void);
static void ngx_http_itsm_store_flush_thread(void *data, ngx_log_t *log);
static void ngx_http_itsm_store_flush_done(ngx_event_t *ev);
static void ngx_http_itsm_store_flush_wake(ngx_http_itsm_store_t *store,
    ngx_int_t rc);

#endif


/* in each worker, when the store opens: the task the flushes run as */

ngx_int_t
ngx_http_itsm_store_sync_init(ngx_cycle_t *cycle, ngx_http_itsm_store_t *store)
{
    ngx_queue_init(&store->waiters);

#if (NGX_THREADS)
    ngx_uint_t                        i;
    ngx_thread_task_t                *task;
    ngx_http_itsm_store_flush_ctx_t  *fc;

    for (i = 0; i < NGX_HTTP_ITSM_STORE_FLUSHES; i++) {
        task = ngx_thread_task_alloc(cycle->pool,
                                     sizeof(ngx_http_itsm_store_flush_ctx_t));
        if (task == NULL) {
            return NGX_ERROR;
        }

        fc = task->ctx;
        fc->store = store;

        task->handler = ngx_http_itsm_store_flush_thread;
        task->event.handler = ngx_http_itsm_store_flush_done;
        task->event.data = task;
        task->event.log = cycle->log;

        store->tasks[i] = task;
    }
#endif

    return NGX_OK;
}


/* the commit of the last transaction whose flush its caller waits for
 * (a claim for a create, a commit); 0: none, or it is on disk already */

ngx_uint_t
ngx_http_itsm_store_last_sync(ngx_http_itsm_store_t *store)
{
    return store->last_sync;
}


/*
 * NGX_OK: commit w->seq is on disk; NGX_AGAIN: w->handler is called when
 * it is (or with NGX_ERROR when a flush failed); NGX_ERROR.  A flush runs
 * in a thread of the pool and covers every commit made before it started;
 * a commit that none under way covers starts one more, or, when
 * NGX_HTTP_ITSM_STORE_FLUSHES run, waits for the next.
 */

ngx_int_t
ngx_http_itsm_store_sync(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_waiter_t *w)
{
    /* on Redis a command answered is applied: nothing to wait for */

    if (w->seq <= store->flushed || store->on_redis) {
        return NGX_OK;
    }

#if (NGX_THREADS)

    ngx_queue_insert_tail(&store->waiters, &w->queue);
    w->waiting = 1;

    if (w->seq > store->flushing
        && (store->running == 0 || ngx_http_itsm_store_flush_busy(store))
        && ngx_http_itsm_store_flush_post(store) != NGX_OK
        && store->running == 0)
    {
        /* nothing under way would ever wake it */
        ngx_queue_remove(&w->queue);
        w->waiting = 0;
        return NGX_ERROR;
    }

    return NGX_AGAIN;

#else

    return ngx_http_itsm_store_flush_now(store);

#endif
}


/* a request that ends while it waits */

void
ngx_http_itsm_store_sync_cancel(ngx_http_itsm_store_t *store,
    ngx_http_itsm_store_waiter_t *w)
{
    if (w->waiting) {
        ngx_queue_remove(&w->queue);
        w->waiting = 0;
    }
}


#if (NGX_THREADS)

static ngx_int_t
ngx_http_itsm_store_flush_post(ngx_http_itsm_store_t *store)
{
    ngx_uint_t                        i;
    ngx_thread_task_t                *task;
    ngx_http_itsm_store_flush_ctx_t  *fc;

    task = NULL;

    for (i = 0; i < NGX_HTTP_ITSM_STORE_FLUSHES; i++) {
        if (!store->tasks[i]->event.active) {
            task = store->tasks[i];
            break;
        }
    }

    if (task == NULL) {
        return NGX_BUSY;
    }

    fc = task->ctx;
    fc->env = store->env;
    fc->upto = store->committed;
    fc->rc = 0;
    fc->synced = 0;
    fc->since = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: flush up to commit %ui (on disk: %ui, "
                   "flushes under way: %ui)",
                   fc->upto, store->flushed, store->running);

    if (ngx_thread_task_post(store->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    store->running++;
    store->flushing = fc->upto;

    return NGX_OK;
}


/*
 * Whether another flush is worth starting while some run: room for one,
 * and one of them has waited on the disk for FLUSH_SLOW already.  Else
 * (not started yet, done in its thread, or a store on tmpfs, where a
 * flush takes microseconds) the end of those under way starts the next:
 * one more now would cost a thread's round trip and CPU and cover no
 * commit sooner.
 */

static ngx_uint_t
ngx_http_itsm_store_flush_busy(ngx_http_itsm_store_t *store)
{
    ngx_uint_t                        i;
    ngx_atomic_uint_t                 now;
    ngx_http_itsm_store_flush_ctx_t  *fc;

    if (store->running >= NGX_HTTP_ITSM_STORE_FLUSHES) {
        return 0;
    }

    now = ngx_http_itsm_store_flush_us();

    for (i = 0; i < NGX_HTTP_ITSM_STORE_FLUSHES; i++) {
        fc = store->tasks[i]->ctx;

        if (store->tasks[i]->event.active && !fc->synced && fc->since
            && now - fc->since >= NGX_HTTP_ITSM_STORE_FLUSH_SLOW)
        {
            return 1;
        }
    }

    return 0;
}


/* a monotonic clock in microseconds, for the event loop and the threads */

static ngx_atomic_uint_t
ngx_http_itsm_store_flush_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_atomic_uint_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* in a thread of the pool: the one call of the store that may block */

static void
ngx_http_itsm_store_flush_thread(void *data, ngx_log_t *log)
{
    ngx_http_itsm_store_flush_ctx_t  *fc = data;

    fc->since = ngx_http_itsm_store_flush_us();
    ngx_memory_barrier();

    fc->rc = mdb_env_sync(fc->env, 1);

    ngx_memory_barrier();
    fc->synced = 1;
}


/* back in the event loop: the requests whose commit is on disk go on */

static void
ngx_http_itsm_store_flush_done(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    ngx_queue_t                      *q;
    ngx_thread_task_t                *task;
    ngx_http_itsm_store_t            *store;
    ngx_http_itsm_store_flush_ctx_t  *fc;
    ngx_http_itsm_store_waiter_t     *w;

    task = ev->data;
    fc = task->ctx;
    store = fc->store;

    store->running--;

    rc = NGX_OK;

    if (fc->rc != 0) {
        rc = ngx_http_itsm_store_failed(store, "mdb_env_sync", fc->rc);

    } else if (fc->upto > store->flushed) {
        store->flushed = fc->upto;
    }

    ngx_http_itsm_store_flush_wake(store, rc);

    /* commits made since the last flush started: one more covers them
     * all, unless a request woken above started it already */

    for (q = ngx_queue_head(&store->waiters);
         q != ngx_queue_sentinel(&store->waiters);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_itsm_store_waiter_t, queue);

        if (w->seq > store->flushing) {
            if (ngx_http_itsm_store_flush_post(store) == NGX_ERROR
                && store->running == 0)
            {
                ngx_http_itsm_store_flush_wake(store, NGX_ERROR);
            }

            break;
        }
    }
}


/* the waiters whose commit is on disk now; every one of them on an error */

static void
ngx_http_itsm_store_flush_wake(ngx_http_itsm_store_t *store, ngx_int_t rc)
{
    ngx_queue_t                   *q, *next;
    ngx_http_itsm_store_waiter_t  *w;

    for (q = ngx_queue_head(&store->waiters);
         q != ngx_queue_sentinel(&store->waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_itsm_store_waiter_t, queue);

        if (rc == NGX_OK && w->seq > store->flushed) {
            continue;
        }

        ngx_queue_remove(q);
        w->waiting = 0;

        w->handler(w, rc);
    }
}

#endif
