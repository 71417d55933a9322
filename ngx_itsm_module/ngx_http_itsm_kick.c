
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"

#include <curl/curl.h>


/*
 * The kick: in one worker (the first; across a reload the old one stops
 * kicking, and the store's claims keep two from delivering the same key),
 * a timer looks every second for pending deliveries that are due and asks
 * the replay location to deliver each, with a local HTTP request made by
 * libcurl.  The transfers are driven from nginx's event loop by a short
 * timer while any is running; they never block the worker, which also
 * serves the replay requests themselves.
 *
 * A replay that fails (the ITSM is down, the store busy) is due again
 * later: 30 s, doubling up to an hour, with jitter (itsm_retry), and is a
 * dead letter after its last attempt.
 */


#define NGX_HTTP_ITSM_KICK_TICK      1000
#define NGX_HTTP_ITSM_KICK_DRIVE     10
#define NGX_HTTP_ITSM_KICK_INFLIGHT  16


typedef struct {
    CURL                        *easy;
    struct curl_slist           *headers;
    u_char                      *body;
    ngx_str_t                    key;          /* the stored key */
    ngx_uint_t                   attempts;
} ngx_http_itsm_kick_job_t;


typedef struct {
    ngx_http_itsm_main_conf_t   *imcf;
    CURLM                       *multi;
    ngx_event_t                  tick;
    ngx_event_t                  drive;
    ngx_connection_t             dummy;        /* ev->data for debug logs */
    ngx_http_itsm_kick_job_t    *jobs[NGX_HTTP_ITSM_KICK_INFLIGHT];
    ngx_uint_t                   njobs;
} ngx_http_itsm_kick_t;


static void ngx_http_itsm_kick_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_itsm_kick_due(void *data, ngx_str_t *key,
    ngx_uint_t attempts);
static ngx_int_t ngx_http_itsm_kick_start(ngx_http_itsm_kick_t *kick,
    ngx_str_t *key, ngx_uint_t attempts);
static void ngx_http_itsm_kick_drive(ngx_event_t *ev);
static void ngx_http_itsm_kick_done(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res);
static void ngx_http_itsm_kick_failed(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res, long status);
static void ngx_http_itsm_kick_free(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job);


static ngx_http_itsm_kick_t  *ngx_http_itsm_kick;


ngx_int_t
ngx_http_itsm_kick_init(ngx_cycle_t *cycle, ngx_http_itsm_main_conf_t *imcf)
{
    ngx_http_itsm_kick_t  *kick;

    if (imcf->store == NULL || imcf->replay_url.len == 0) {
        return NGX_OK;
    }

    if (ngx_process != NGX_PROCESS_SINGLE && ngx_worker != 0) {
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

    kick->imcf = imcf;
    kick->dummy.fd = (ngx_socket_t) -1;

    kick->tick.handler = ngx_http_itsm_kick_tick;
    kick->tick.data = &kick->dummy;
    kick->tick.log = cycle->log;
    kick->tick.cancelable = 1;

    kick->drive.handler = ngx_http_itsm_kick_drive;
    kick->drive.data = &kick->dummy;
    kick->drive.log = cycle->log;
    kick->drive.cancelable = 1;

    ngx_http_itsm_kick = kick;

    ngx_add_timer(&kick->tick, NGX_HTTP_ITSM_KICK_TICK);

    return NGX_OK;
}


void
ngx_http_itsm_kick_exit(void)
{
    ngx_uint_t             i;
    ngx_http_itsm_kick_t  *kick;

    kick = ngx_http_itsm_kick;

    if (kick == NULL) {
        return;
    }

    for (i = 0; i < kick->njobs; i++) {
        ngx_http_itsm_kick_free(kick, kick->jobs[i]);
    }

    kick->njobs = 0;

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

    (void) ngx_http_itsm_store_pending_due(kick->imcf->store, ngx_time(),
                                           ngx_http_itsm_kick_due, kick);

    if (kick->njobs && !kick->drive.timer_set) {
        ngx_add_timer(&kick->drive, NGX_HTTP_ITSM_KICK_DRIVE);
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

    if (ngx_http_itsm_kick_start(kick, key, attempts) != NGX_OK) {
        return NGX_DONE;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_kick_start(ngx_http_itsm_kick_t *kick, ngx_str_t *key,
    ngx_uint_t attempts)
{
    u_char                    *zero, *header;
    json_t                    *doc;
    ngx_str_t                 *token;
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


static void
ngx_http_itsm_kick_drive(ngx_event_t *ev)
{
    int                        running, left;
    CURLMsg                   *msg;
    ngx_http_itsm_kick_t      *kick;
    ngx_http_itsm_kick_job_t  *job;

    kick = ngx_http_itsm_kick;

    if (kick == NULL) {
        return;
    }

    (void) curl_multi_perform(kick->multi, &running);

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

    if (kick->njobs) {
        ngx_add_timer(&kick->drive, NGX_HTTP_ITSM_KICK_DRIVE);
    }
}


static void
ngx_http_itsm_kick_done(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res)
{
    long        status;
    ngx_uint_t  i;

    status = 0;
    curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);

    if (res != CURLE_OK || status < 200 || status >= 300) {
        ngx_http_itsm_kick_failed(kick, job, res, status);
    }

    for (i = 0; i < kick->njobs; i++) {
        if (kick->jobs[i] == job) {
            kick->jobs[i] = kick->jobs[--kick->njobs];
            break;
        }
    }

    ngx_http_itsm_kick_free(kick, job);
}


/*
 * Due again after the backoff (doubling from itsm_retry's backoff= up to
 * its max=, with a fifth of jitter so that keys failed together do not
 * come back together), or a dead letter after the last attempt: kept, not
 * retried, counted on the status page until itsm_requeue.
 */

static void
ngx_http_itsm_kick_failed(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res, long status)
{
    time_t                      backoff;
    ngx_uint_t                  shift;
    ngx_http_itsm_main_conf_t  *imcf;

    imcf = kick->imcf;

    if (job->attempts + 1 >= imcf->attempts) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm: a pending delivery failed %ui times (%s, "
                      "status %l) and is now a dead letter: see the status "
                      "page, and itsm_requeue to try again",
                      job->attempts + 1,
                      res == CURLE_OK ? "replay answered"
                                      : curl_easy_strerror(res),
                      status);

        (void) ngx_http_itsm_store_pending_retry(imcf->store, &job->key,
                                                 NGX_HTTP_ITSM_PENDING_DEAD);
        return;
    }

    shift = ngx_min(job->attempts, 20);
    backoff = imcf->backoff << shift;

    if (backoff > imcf->backoff_max || backoff <= 0) {
        backoff = imcf->backoff_max;
    }

    backoff += ngx_random() % (backoff / 5 + 1);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "itsm: a pending delivery failed (%s, status %l); "
                  "attempt %ui of %ui, the next in %T s",
                  res == CURLE_OK ? "replay answered"
                                  : curl_easy_strerror(res),
                  status, job->attempts + 1, imcf->attempts, backoff);

    (void) ngx_http_itsm_store_pending_retry(imcf->store, &job->key,
                                             ngx_time() + backoff);
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
    ngx_free(job);
}
