
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_kick.h"
#include "ngx_http_itsm_store_queue.h"


/*
 * The kick: in one worker (the first; across a reload the old one stops
 * kicking, and the store's claims keep two from delivering the same key),
 * a timer looks every second for pending deliveries that are due and asks
 * the replay location to deliver each, with a local HTTP request made by
 * libcurl.  The transfers never block the worker, which also serves the
 * replay requests themselves: libcurl says which sockets it waits on and
 * when it next needs a look (its socket and timer callbacks), and each
 * socket becomes an nginx connection watched by the event loop, its
 * timeout an nginx timer.  Nothing runs between two events: a replay that
 * waits a minute for a slow ITSM costs the worker nothing meanwhile.
 *
 * A replay that fails (the ITSM is down, the store busy) is due again
 * later: 30 s, doubling up to an hour, with jitter (itsm_retry), and is a
 * dead letter after its last attempt.
 *
 * With the store on Redis the queue is shared by the edges: the kick of
 * each edge leases due jobs from Redis (ngx_http_itsm_kick_take), so that
 * one edge delivers each, and a dead edge's jobs are taken after their
 * lease.
 *
 * The same tick sends each connector's verify probe when it is due (at
 * start, so after each reload too, then every "every="), through the
 * replay location as well (ngx_http_itsm_verify.c).
 */


#define NGX_HTTP_ITSM_KICK_TICK      1000


static ngx_http_itsm_kick_t  *ngx_http_itsm_kick;


static ngx_int_t ngx_http_itsm_kick_start(ngx_http_itsm_kick_t *kick,
    ngx_str_t *key, ngx_uint_t attempts, ngx_str_t *text,
    ngx_http_itsm_kick_job_t **started);
static void ngx_http_itsm_kick_take(ngx_http_itsm_kick_t *kick);
static void ngx_http_itsm_kick_taken(void *data, redisReply *reply,
    ngx_str_t *error);
static void ngx_http_itsm_kick_verify(ngx_http_itsm_kick_t *kick);
static ngx_int_t ngx_http_itsm_kick_send(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, json_t *doc);
static void ngx_http_itsm_kick_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_itsm_kick_due(void *data, ngx_str_t *key,
    ngx_uint_t attempts);
static int ngx_http_itsm_kick_socket(CURL *easy, curl_socket_t s, int what,
    void *data, void *socketp);
static ngx_int_t ngx_http_itsm_kick_watch(ngx_event_t *ev, ngx_uint_t want);
static void ngx_http_itsm_kick_unwatch(ngx_connection_t *c);
static int ngx_http_itsm_kick_timer(CURLM *multi, long ms, void *data);
static void ngx_http_itsm_kick_event(ngx_event_t *ev);
static void ngx_http_itsm_kick_timeout(ngx_event_t *ev);
static void ngx_http_itsm_kick_action(ngx_http_itsm_kick_t *kick,
    curl_socket_t s, int mask);
static void ngx_http_itsm_kick_done(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res);
static size_t ngx_http_itsm_kick_write(char *data, size_t size, size_t n,
    void *userdata);
static void ngx_http_itsm_kick_free(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job);


ngx_int_t
ngx_http_itsm_kick_init(ngx_cycle_t *cycle, ngx_http_itsm_main_conf_t *imcf)
{
    ngx_uint_t                   i, verify;
    ngx_http_itsm_kick_t        *kick;
    ngx_http_itsm_connector_t  **conn;

    conn = imcf->connectors.elts;
    verify = 0;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        verify |= (conn[i]->verify != NULL);
    }

    if (imcf->replay_url.len == 0 || (imcf->store == NULL && !verify)) {
        return NGX_OK;
    }

    if (ngx_process != NGX_PROCESS_SINGLE && ngx_worker != 0) {
        return NGX_OK;
    }

    /*
     * libcurl's sockets are watched level-triggered: libcurl does not
     * promise to read a socket until it would block, so an edge could be
     * lost.  epoll and kqueue take the level flag, poll, select and
     * /dev/poll are level-triggered anyway; event ports fire once only.
     */

    if (!(ngx_event_flags & (NGX_USE_CLEAR_EVENT|NGX_USE_LEVEL_EVENT))) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "itsm: pending deliveries are not replayed with this "
                      "event method; use epoll, kqueue, poll or select");
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "itsm: curl_global_init() failed");
        return NGX_ERROR;
    }

    kick = ngx_pcalloc(cycle->pool, sizeof(ngx_http_itsm_kick_t));
    if (kick == NULL) {
        return NGX_ERROR;
    }

    kick->multi = curl_multi_init();
    if (kick->multi == NULL) {
        return NGX_ERROR;
    }

    curl_multi_setopt(kick->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_itsm_kick_socket);
    curl_multi_setopt(kick->multi, CURLMOPT_SOCKETDATA, kick);
    curl_multi_setopt(kick->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_itsm_kick_timer);
    curl_multi_setopt(kick->multi, CURLMOPT_TIMERDATA, kick);

    kick->imcf = imcf;
    ngx_queue_init(&kick->sockets);

    /* every probe is due at once: at start, and so after a reload */

    kick->verify_next = ngx_pcalloc(cycle->pool,
                                    (imcf->connectors.nelts + 1)
                                    * sizeof(time_t));
    if (kick->verify_next == NULL) {
        return NGX_ERROR;
    }

    ngx_http_itsm_util_timer(&kick->tick, ngx_http_itsm_kick_tick,
                             &kick->dummy, cycle->log);
    ngx_http_itsm_util_timer(&kick->timeout, ngx_http_itsm_kick_timeout,
                             &kick->dummy, cycle->log);

    ngx_http_itsm_kick = kick;

    ngx_add_timer(&kick->tick, NGX_HTTP_ITSM_KICK_TICK);

    return NGX_OK;
}


void
ngx_http_itsm_kick_exit(void)
{
    ngx_uint_t             i;
    ngx_queue_t           *q;
    ngx_http_itsm_kick_t  *kick;

    kick = ngx_http_itsm_kick;

    if (kick == NULL) {
        return;
    }

    /* a take in flight: what it leased is taken again after the lease */

    if (kick->take) {
        ngx_http_itsm_redis_cancel(kick->take);
        kick->take = NULL;
    }

    /* each handle removed hands its sockets back (CURL_POLL_REMOVE) */

    for (i = 0; i < kick->njobs; i++) {
        ngx_http_itsm_kick_free(kick, kick->jobs[i]);
    }

    kick->njobs = 0;

    /* none is left unless libcurl forgot one: its fd is libcurl's still */

    while (!ngx_queue_empty(&kick->sockets)) {
        q = ngx_queue_head(&kick->sockets);
        ngx_http_itsm_kick_unwatch(ngx_queue_data(q, ngx_connection_t, queue));
    }

    if (kick->timeout.timer_set) {
        ngx_del_timer(&kick->timeout);
    }

    /* what libcurl still does at its cleanup is not ours to watch */

    curl_multi_setopt(kick->multi, CURLMOPT_SOCKETFUNCTION,
                      (curl_socket_callback) NULL);
    curl_multi_setopt(kick->multi, CURLMOPT_TIMERFUNCTION,
                      (curl_multi_timer_callback) NULL);

    curl_multi_cleanup(kick->multi);
    curl_global_cleanup();

    ngx_http_itsm_kick = NULL;
}


static void
ngx_http_itsm_kick_tick(ngx_event_t *ev)
{
    ngx_http_itsm_kick_t  *kick;

    kick = ngx_http_itsm_kick;

    if (kick == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* a transfer added is started from libcurl's timer, set to 0 */

    ngx_http_itsm_kick_verify(kick);

    if (kick->imcf->store && ngx_http_itsm_store_on_redis(kick->imcf->store))
    {
        ngx_http_itsm_kick_take(kick);

    } else if (kick->imcf->store) {
        (void) ngx_http_itsm_store_pending_due(kick->imcf->store, ngx_time(),
                                               ngx_http_itsm_kick_due, kick);
    }

    ngx_add_timer(&kick->tick, NGX_HTTP_ITSM_KICK_TICK);
}


static ngx_int_t
ngx_http_itsm_kick_due(void *data, ngx_str_t *key, ngx_uint_t attempts)
{
    ngx_http_itsm_kick_t *kick = data;

    ngx_uint_t  i;

    if (kick->njobs == NGX_HTTP_ITSM_KICK_INFLIGHT) {
        return NGX_DONE;
    }

    for (i = 0; i < kick->njobs; i++) {
        if (kick->jobs[i]->key.len == key->len
            && ngx_memcmp(kick->jobs[i]->key.data, key->data, key->len) == 0)
        {
            return NGX_OK;                      /* already on its way */
        }
    }

    if (ngx_http_itsm_kick_start(kick, key, attempts, NULL, NULL)
        != NGX_OK)
    {
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * On Redis (the queue shared by the edges): one script leases the due jobs
 * to this edge, as many as there are free places, and those whose lease
 * ran out (an edge that died); each comes with its job, sent whole to the
 * replay location.  The jobs on their way keep their lease first: a
 * delivery slower than the lease is not taken by another edge meanwhile.
 * Redis unreachable: nothing is taken, the queue pauses (the status page
 * and itsm_redis_ping show why) and goes on when Redis is back.
 */

static void
ngx_http_itsm_kick_take(ngx_http_itsm_kick_t *kick)
{
    time_t                  lease;
    ngx_uint_t              i;
    ngx_http_itsm_store_t  *store;

    store = kick->imcf->store;
    lease = ngx_http_itsm_store_lease(store);

    /* once a second: a delivery done runs the tick at once as well */

    for (i = 0; kick->renewed != ngx_time() && i < kick->njobs; i++) {
        if (kick->jobs[i]->token) {
            (void) ngx_http_itsm_store_queue_renew(store, &kick->jobs[i]->key,
                                                   kick->jobs[i]->token,
                                                   lease);
        }
    }

    kick->renewed = ngx_time();

    if (kick->take || kick->njobs == NGX_HTTP_ITSM_KICK_INFLIGHT) {
        return;
    }

    /* a token per take: a job taken again after its lease ended is
     * another take's, and the old one's done or retry is refused */

    do {
        /* 0 reads as "a job of LMDB's" (ngx_http_itsm_kick_again) */
        kick->take_token = ngx_http_itsm_token();
    } while (kick->take_token == 0);

    kick->take = ngx_http_itsm_store_queue_take(store,
                     NGX_HTTP_ITSM_KICK_INFLIGHT - kick->njobs, lease,
                     kick->take_token, ngx_http_itsm_kick_taken, kick);

    if (kick->take == NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "itsm kick: redis unreachable, the queue pauses");
    }
}


/* the take's answer: {member, attempts, seq, job, ...} */

static void
ngx_http_itsm_kick_taken(void *data, redisReply *reply, ngx_str_t *error)
{
    ngx_http_itsm_kick_t *kick = data;

    size_t                     i;
    uint64_t                   token;
    ngx_str_t                  key, text;
    ngx_int_t                  attempts;
    redisReply               **e;
    ngx_http_itsm_kick_job_t  *job;

    kick->take = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "itsm: the queue's take got no answer from redis (%V); "
                      "the queue pauses until it answers", error);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "itsm: the queue's take on redis failed: %*s",
                      (size_t) (reply->type == REDIS_REPLY_ERROR
                                ? reply->len : 0), reply->str);
        return;
    }

    e = reply->element;
    token = 0;

    for (i = 0; i + 3 < reply->elements; i += 4) {

        if (e[i]->type != REDIS_REPLY_STRING
            || e[i + 1]->type != REDIS_REPLY_STRING
            || e[i + 2]->type != REDIS_REPLY_STRING
            || e[i + 3]->type != REDIS_REPLY_STRING
            || e[i + 2]->len > NGX_INT64_LEN)
        {
            continue;
        }

        key.data = (u_char *) e[i]->str;
        key.len = e[i]->len;
        text.data = (u_char *) e[i + 3]->str;
        text.len = e[i + 3]->len;

        attempts = ngx_atoi((u_char *) e[i + 1]->str, e[i + 1]->len);
        if (attempts == NGX_ERROR) {
            attempts = 0;
        }

        job = NULL;

        if (ngx_http_itsm_kick_start(kick, &key, (ngx_uint_t) attempts, &text,
                                     &job)
            != NGX_OK
            || job == NULL)
        {
            /* leased but not sent: taken again after its lease */
            continue;
        }

        job->seq_len = e[i + 2]->len;
        ngx_memcpy(job->seq, e[i + 2]->str, job->seq_len);

        token = kick->take_token;
        job->token = token;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm kick: took %uz jobs from redis, token %016xL",
                   reply->elements / 4, token);
}


/* a job that failed is due again at "due", or a dead letter */

void
ngx_http_itsm_kick_again(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, time_t due, ngx_uint_t counted)
{
    ngx_http_itsm_store_t  *store;

    store = kick->imcf->store;

    if (job->token) {
        (void) ngx_http_itsm_store_queue_retry(store, &job->key, job->token,
                                   due == NGX_HTTP_ITSM_PENDING_DEAD
                                   ? NGX_HTTP_ITSM_PENDING_DEAD
                                   : ngx_max(due - ngx_time(), 0),
                                   counted);
        return;
    }

    (void) ngx_http_itsm_store_pending_retry(store, &job->key, due, counted);
}


static ngx_int_t
ngx_http_itsm_kick_start(ngx_http_itsm_kick_t *kick, ngx_str_t *key,
    ngx_uint_t attempts, ngx_str_t *text, ngx_http_itsm_kick_job_t **started)
{
    u_char                    *zero;
    json_t                    *doc;
    ngx_http_itsm_kick_job_t  *job;

    zero = ngx_strlchr(key->data, key->data + key->len, '\0');
    if (zero == NULL) {
        return NGX_OK;                          /* not a key of ours: skip */
    }

    job = ngx_calloc(sizeof(ngx_http_itsm_kick_job_t), ngx_cycle->log);
    if (job == NULL) {
        return NGX_ERROR;
    }

    job->key.data = ngx_alloc(key->len, ngx_cycle->log);
    if (job->key.data == NULL) {
        ngx_free(job);
        return NGX_ERROR;
    }

    ngx_memcpy(job->key.data, key->data, key->len);
    job->key.len = key->len;
    job->attempts = attempts;

    doc = json_pack("{s:s%, s:s%}",
                    "connector", key->data, (size_t) (zero - key->data),
                    "key", zero + 1, (size_t) (key->data + key->len - zero - 1));

    /* on Redis the job goes with it: the replay location reads nothing */

    if (doc && text
        && (json_object_set_new(doc, "job",
                                json_stringn((char *) text->data, text->len))
            != 0
            || json_object_set_new(doc, "attempts",
                                   json_integer((json_int_t) attempts))
               != 0))
    {
        json_decref(doc);
        doc = NULL;
    }

    if (started) {
        *started = job;
    }

    if (ngx_http_itsm_kick_send(kick, job, doc) != NGX_OK) {
        if (started) {
            *started = NULL;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the probes that are due, each connector's once at a time */

static void
ngx_http_itsm_kick_verify(ngx_http_itsm_kick_t *kick)
{
    json_t                      *doc;
    ngx_uint_t                   i, j;
    ngx_http_itsm_kick_job_t    *job;
    ngx_http_itsm_connector_t  **conn;

    conn = kick->imcf->connectors.elts;

    for (i = 0; i < kick->imcf->connectors.nelts; i++) {

        if (conn[i]->verify == NULL || kick->verify_next[i] > ngx_time()
            || kick->njobs == NGX_HTTP_ITSM_KICK_INFLIGHT)
        {
            continue;
        }

        for (j = 0; j < kick->njobs; j++) {
            if (kick->jobs[j]->verify == conn[i]) {
                break;
            }
        }

        if (j < kick->njobs) {
            continue;                           /* still on its way */
        }

        kick->verify_next[i] = ngx_time() + conn[i]->verify_every;

        job = ngx_calloc(sizeof(ngx_http_itsm_kick_job_t), ngx_cycle->log);
        if (job == NULL) {
            return;
        }

        job->verify = conn[i];

        doc = json_pack("{s:s%}", "verify", conn[i]->name.data,
                        conn[i]->name.len);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "itsm kick: verify probe of connector \"%V\"",
                       &conn[i]->name);

        if (ngx_http_itsm_kick_send(kick, job, doc) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "itsm: the verify probe of connector \"%V\" could "
                          "not be sent; it is tried again in %T s",
                          &conn[i]->name, conn[i]->verify_every);
        }
    }
}


/* a job's request to the replay location, its body "doc" (NULL: no
 * memory); the job is freed when it cannot be sent */

static ngx_int_t
ngx_http_itsm_kick_send(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, json_t *doc)
{
    u_char     *header;
    ngx_str_t  *token;

    if (doc == NULL) {
        goto failed;
    }

    job->body = (u_char *) json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (job->body == NULL) {
        goto failed;
    }

    token = ngx_http_itsm_queue_token_value();

    header = ngx_alloc(sizeof("X-Itsm-Replay-Token: ") + token->len,
                       ngx_cycle->log);
    if (header == NULL) {
        goto failed;
    }

    (void) ngx_sprintf(header, "X-Itsm-Replay-Token: %V%Z", token);

    job->headers = curl_slist_append(NULL, (char *) header);
    job->headers = curl_slist_append(job->headers,
                                     "Content-Type: application/json");
    ngx_free(header);

    job->easy = curl_easy_init();
    if (job->easy == NULL || job->headers == NULL) {
        goto failed;
    }

    curl_easy_setopt(job->easy, CURLOPT_URL,
                     (char *) kick->imcf->replay_url.data);
    curl_easy_setopt(job->easy, CURLOPT_POSTFIELDS, (char *) job->body);
    curl_easy_setopt(job->easy, CURLOPT_HTTPHEADER, job->headers);
    curl_easy_setopt(job->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(job->easy, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(job->easy, CURLOPT_PRIVATE, job);
    curl_easy_setopt(job->easy, CURLOPT_WRITEFUNCTION,
                     ngx_http_itsm_kick_write);
    curl_easy_setopt(job->easy, CURLOPT_WRITEDATA, job);

    if (kick->imcf->replay_socket.len) {
        curl_easy_setopt(job->easy, CURLOPT_UNIX_SOCKET_PATH,
                         (char *) kick->imcf->replay_socket.data);
    }

    if (curl_multi_add_handle(kick->multi, job->easy) != CURLM_OK) {
        goto failed;
    }

    kick->jobs[kick->njobs++] = job;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm kick: %s", job->body);

    return NGX_OK;

failed:

    if (job->easy) {
        curl_easy_cleanup(job->easy);
    }

    curl_slist_free_all(job->headers);
    free(job->body);
    ngx_free(job->key.data);
    ngx_free(job);

    return NGX_ERROR;
}


/*
 * libcurl's socket callback: "what" is all it now waits for on socket s.
 * The first time, s becomes an nginx connection (remembered by libcurl as
 * socketp), whose read and write events are then added or deleted to
 * match.  CURL_POLL_REMOVE comes before libcurl closes s or keeps it idle
 * in its connection cache: the connection is freed, the fd left to
 * libcurl.
 *
 * The callback never returns -1: libcurl would mark the multi handle dead
 * for good.  A socket that cannot be watched (worker_connections used up,
 * epoll_ctl() failed; both are logged) fails its transfer instead, as a
 * replay that did not answer: retried with backoff.
 */

static int
ngx_http_itsm_kick_socket(CURL *easy, curl_socket_t s, int what, void *data,
    void *socketp)
{
    ngx_http_itsm_kick_t *kick = data;

    ngx_connection_t          *c;
    ngx_http_itsm_kick_job_t  *job;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm kick: socket %d wants %d, connection %p",
                   s, what, c);

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            ngx_http_itsm_kick_unwatch(c);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, ngx_cycle->log);
        if (c == NULL) {
            goto failed;
        }

        c->data = kick;
        c->read->handler = ngx_http_itsm_kick_event;
        c->write->handler = ngx_http_itsm_kick_event;
        c->read->log = c->log;
        c->write->log = c->log;

        /* the queue link is nginx's for reusable connections, and this
         * one never is: it lists the connections to free at exit */

        ngx_queue_insert_tail(&kick->sockets, &c->queue);

        (void) curl_multi_assign(kick->multi, s, c);
    }

    if (ngx_http_itsm_kick_watch(c->read, what & CURL_POLL_IN) != NGX_OK
        || ngx_http_itsm_kick_watch(c->write, what & CURL_POLL_OUT) != NGX_OK)
    {
        goto failed;
    }

    return 0;

failed:

    job = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &job);

    if (job) {
        job->unwatched = 1;
    }

    return 0;
}


/*
 * Level-triggered (NGX_LEVEL_EVENT): an event fires as long as the socket
 * is readable (writable) and libcurl waits for it, whatever libcurl read.
 */

static ngx_int_t
ngx_http_itsm_kick_watch(ngx_event_t *ev, ngx_uint_t want)
{
    ngx_int_t  event;

    event = ev->write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (want && !ev->active) {
        return ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    }

    if (!want && ev->active) {

        /* posted (accept_mutex) before libcurl changed its mind */

        if (ev->posted) {
            ngx_delete_posted_event(ev);
        }

        return ngx_del_event(ev, event, NGX_LEVEL_EVENT);
    }

    return NGX_OK;
}


/* the fd stays open: it is libcurl's to close or to keep */

static void
ngx_http_itsm_kick_unwatch(ngx_connection_t *c)
{
    (void) ngx_http_itsm_kick_watch(c->read, 0);
    (void) ngx_http_itsm_kick_watch(c->write, 0);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_queue_remove(&c->queue);

    ngx_free_connection(c);

    /* an event of this fd still to come in this loop's pass is stale */

    c->fd = (ngx_socket_t) -1;
}


/*
 * libcurl's timer callback: ms from now, libcurl wants a look (0: as soon
 * as possible, but not from within the callback); -1: no timer.  The old
 * timer is deleted first: ngx_add_timer() keeps one that differs by less
 * than NGX_TIMER_LAZY_DELAY (300 ms), and "now" must not wait that long.
 */

static int
ngx_http_itsm_kick_timer(CURLM *multi, long ms, void *data)
{
    ngx_http_itsm_kick_t *kick = data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "itsm kick: timer %l ms", ms);

    if (kick->timeout.timer_set) {
        ngx_del_timer(&kick->timeout);
    }

    if (ms >= 0) {
        ngx_add_timer(&kick->timeout, (ngx_msec_t) ms);
    }

    return 0;
}


static void
ngx_http_itsm_kick_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "itsm kick: socket %d %s", c->fd,
                   ev->write ? "writable" : "readable");

    /* c may be freed within: only its fd is passed */

    ngx_http_itsm_kick_action(c->data, c->fd,
                              ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN);
}


static void
ngx_http_itsm_kick_timeout(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0, "itsm kick: timeout");

    if (ngx_http_itsm_kick == NULL) {
        return;
    }

    ngx_http_itsm_kick_action(ngx_http_itsm_kick, CURL_SOCKET_TIMEOUT, 0);
}


/*
 * Lets libcurl act on socket s (or on its timeouts), then finishes the
 * transfers it is done with, and fails those with a socket that could not
 * be watched (they would wait for CURLOPT_TIMEOUT otherwise).
 */

static void
ngx_http_itsm_kick_action(ngx_http_itsm_kick_t *kick, curl_socket_t s,
    int mask)
{
    int                        running, left;
    CURLMsg                   *msg;
    CURLMcode                  rc;
    ngx_uint_t                 i;
    ngx_http_itsm_kick_job_t  *job;

    rc = curl_multi_socket_action(kick->multi, s, mask, &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "itsm: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    while ((msg = curl_multi_info_read(kick->multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        job = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &job);

        if (job) {
            ngx_http_itsm_kick_done(kick, job, msg->data.result);
        }
    }

    i = 0;

    while (i < kick->njobs) {
        job = kick->jobs[i];

        if (job->unwatched) {
            /* done takes it off the list: jobs[i] is another one then */
            ngx_http_itsm_kick_done(kick, job, CURLE_ABORTED_BY_CALLBACK);
            continue;
        }

        i++;
    }
}


static void
ngx_http_itsm_kick_done(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res)
{
    long        status;
    ngx_str_t   seq;
    ngx_uint_t  i;

    status = 0;
    curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);

    if (job->verify) {

        /* the probe's outcome is the replay location's to keep; here
         * only a replay location that did not answer */

        if (res != CURLE_OK || status != NGX_HTTP_OK) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "itsm: the verify probe of connector \"%V\" got "
                          "no answer from the replay location (%s, HTTP "
                          "%l); it is tried again in %T s",
                          &job->verify->name, curl_easy_strerror(res),
                          status, job->verify->verify_every);
        }

    } else if (res != CURLE_OK || status < 200 || status >= 300) {
        ngx_http_itsm_kick_failed(kick, job, res, status);

    } else {

        /* on Redis the job is done with: removed from the queue, unless
         * it changed meanwhile (then due again at once) */

        if (job->token) {
            seq.data = job->seq;
            seq.len = job->seq_len;

            (void) ngx_http_itsm_store_queue_done(kick->imcf->store,
                                                  &job->key, job->token,
                                                  &seq);
        }
    }

    if (!job->verify && res == CURLE_OK && status >= 200 && status < 300
        && !ngx_exiting && !ngx_quit && !ngx_terminate)
    {

        /*
         * A delivery done frees a place: the next due ones are looked for
         * at once, not at the next tick, so that a queue drains at the
         * speed the ITSM answers.  The tick's timer set to 0 runs once
         * in the next turn of the event loop, however many end in this
         * one.  A failure leaves it to the tick: the ITSM is not pressed
         * harder for failing.
         */

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "itsm kick: a replay done, the next due looked for "
                       "at once");

        ngx_add_timer(&kick->tick, 0);
    }

    for (i = 0; i < kick->njobs; i++) {
        if (kick->jobs[i] == job) {
            kick->jobs[i] = kick->jobs[--kick->njobs];
            break;
        }
    }

    ngx_http_itsm_kick_free(kick, job);
}


/* the replay's answer, kept up to NGX_HTTP_ITSM_KICK_ANSWER_MAX bytes */

static size_t
ngx_http_itsm_kick_write(char *data, size_t size, size_t n, void *userdata)
{
    ngx_http_itsm_kick_job_t *job = userdata;

    size_t  len, room;

    len = size * n;

    if (job->answer == NULL) {
        job->answer = ngx_alloc(NGX_HTTP_ITSM_KICK_ANSWER_MAX,
                                ngx_cycle->log);
        if (job->answer == NULL) {
            return 0;                           /* curl fails the transfer */
        }
    }

    room = NGX_HTTP_ITSM_KICK_ANSWER_MAX - job->answer_len;

    if (len > room) {
        job->truncated = 1;
    }

    ngx_memcpy(job->answer + job->answer_len, data, ngx_min(len, room));
    job->answer_len += ngx_min(len, room);

    /* the rest is read and dropped: the answer's status still counts */

    return len;
}


static void
ngx_http_itsm_kick_free(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job)
{
    curl_multi_remove_handle(kick->multi, job->easy);
    curl_easy_cleanup(job->easy);
    curl_slist_free_all(job->headers);
    free(job->body);
    ngx_free(job->key.data);

    if (job->answer) {
        ngx_free(job->answer);
    }

    ngx_free(job);
}
