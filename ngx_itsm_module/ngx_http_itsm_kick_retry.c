
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_kick.h"


/*
 * A replay that failed: due again after a backoff, or a dead letter after
 * its last attempt; either way a line that names the connector, the key,
 * the action and the ITSM's own words.
 */


/*
 * What one failure line shows, escaped, of the error text and of the key:
 * with the rest, the line stays under nginx's NGX_MAX_ERROR_STR (2048), so
 * that its end is never cut.  What does not fit ends with "...".
 */
#define NGX_HTTP_ITSM_KICK_LOG_TEXT    1024
#define NGX_HTTP_ITSM_KICK_LOG_KEY     400
#define NGX_HTTP_ITSM_KICK_LOG_WORD    64


/* why a replay failed, for the log: the ITSM's words when it answered */

typedef struct {
    ngx_str_t                    action;       /* "-": none was tried */
    ngx_str_t                    why;          /* escaped, for the log */
    ngx_uint_t                   held;         /* not sent: the limits */
    u_char                       action_data[NGX_HTTP_ITSM_KICK_LOG_WORD];
} ngx_http_itsm_kick_error_t;


static void ngx_http_itsm_kick_error(ngx_http_itsm_kick_job_t *job,
    CURLcode res, long status, ngx_http_itsm_kick_error_t *err, u_char *buf,
    size_t size);
static u_char * ngx_http_itsm_kick_escape(u_char *p, u_char *last, u_char *src,
    size_t len);


/*
 * Due again after the backoff (doubling from itsm_retry's backoff= up to
 * its max=, with a fifth of jitter so that keys failed together do not
 * come back together), or a dead letter after the last attempt: kept, not
 * retried, counted on the status page until itsm_requeue.  Both lines name
 * the connector, the key, the action tried and the last error in the
 * ITSM's own words, so that the operator knows what to fix before
 * requeueing.
 */

void
ngx_http_itsm_kick_failed(ngx_http_itsm_kick_t *kick,
    ngx_http_itsm_kick_job_t *job, CURLcode res, long status)
{
    u_char                      *zero, *p;
    u_char                       key[NGX_HTTP_ITSM_KICK_LOG_KEY];
    u_char                       why[NGX_HTTP_ITSM_KICK_LOG_TEXT + 256];
    time_t                       backoff;
    ngx_str_t                    connector, name;
    curl_off_t                   retry;
    ngx_uint_t                   shift;
    ngx_http_itsm_main_conf_t   *imcf;
    ngx_http_itsm_kick_error_t   err;

    imcf = kick->imcf;

    /* the stored key: connector, a zero byte, the correlation key (checked
     * by ngx_http_itsm_kick_start) */

    zero = ngx_strlchr(job->key.data, job->key.data + job->key.len, '\0');

    connector.data = job->key.data;
    connector.len = zero - job->key.data;

    p = ngx_http_itsm_kick_escape(key, key + sizeof(key), zero + 1,
                                  job->key.data + job->key.len - zero - 1);
    name.data = key;
    name.len = p - key;

    ngx_http_itsm_kick_error(job, res, status, &err, why, sizeof(why));

    /*
     * Held back by the connector's limits (a pause after a 429, its rate,
     * its requests in flight, an open circuit): nothing reached the ITSM,
     * so the attempt is not counted, and it is due again when the limit
     * said it may go (the replay's Retry-After).  A circuit open for an
     * hour never makes dead letters of what waits for it.
     */

    if (err.held) {
        if (curl_easy_getinfo(job->easy, CURLINFO_RETRY_AFTER, &retry)
               != CURLE_OK
            || retry <= 0)
        {
            retry = 1;
        }

        backoff = (time_t) ngx_min(retry, (curl_off_t) imcf->backoff_max);

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "itsm: connector \"%V\", key \"%V\": %V; due again in "
                      "%T s, the attempt not counted", &connector, &name,
                      &err.why, backoff);

        ngx_http_itsm_kick_again(kick, job, ngx_time() + backoff, 0);
        return;
    }

    if (job->attempts + 1 >= imcf->attempts) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm: dead letter after %ui attempt%s: connector "
                      "\"%V\", key \"%V\", action %V, last error: %V; see "
                      "the status page, and itsm_requeue to try again",
                      job->attempts + 1, job->attempts ? "s" : "",
                      &connector, &name, &err.action, &err.why);

        ngx_http_itsm_kick_again(kick, job, NGX_HTTP_ITSM_PENDING_DEAD, 1);
        return;
    }

    shift = ngx_min(job->attempts, 20);
    backoff = imcf->backoff << shift;

    if (backoff > imcf->backoff_max || backoff <= 0) {
        backoff = imcf->backoff_max;
    }

    backoff += ngx_random() % (backoff / 5 + 1);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "itsm: attempt %ui of %ui failed: connector \"%V\", key "
                  "\"%V\", action %V, error: %V; the next in %T s",
                  job->attempts + 1, imcf->attempts, &connector, &name,
                  &err.action, &err.why, backoff);

    ngx_http_itsm_kick_again(kick, job, ngx_time() + backoff, 1);
}


/*
 * The replay location's answer to a failed delivery is the sender's error
 * JSON: {"error": "itsm_unavailable", "connector": ..., "action": ...,
 * "itsm_status": 503, "itsm_error": "<the ITSM's text>"}; other failures
 * (the store, an unknown connector) are {"error": ..., "message": ...}.
 * Everything that reaches the log is escaped: the ITSM's text and the key
 * come from outside and must not forge log lines.
 */

static void
ngx_http_itsm_kick_error(ngx_http_itsm_kick_job_t *job, CURLcode res,
    long status, ngx_http_itsm_kick_error_t *err, u_char *buf, size_t size)
{
    u_char        *p, *last;
    json_t        *doc, *action, *itsm_status, *text, *code;
    json_error_t   jerr;

    ngx_str_set(&err->action, "-");
    err->held = 0;

    p = buf;
    last = buf + size;

    if (job->unwatched) {
        p = ngx_slprintf(p, last, "the replay's socket could not be watched "
                         "(see the alert above)");
        goto done;
    }

    if (res != CURLE_OK) {
        p = ngx_slprintf(p, last, "the replay location did not answer (%s)",
                         curl_easy_strerror(res));
        goto done;
    }

    doc = NULL;

    if (job->answer_len && !job->truncated) {
        doc = json_loadb((const char *) job->answer, job->answer_len, 0,
                         &jerr);
    }

    if (!json_is_object(doc)) {
        p = ngx_slprintf(p, last, "the replay location answered %l", status);

        if (job->answer_len) {
            p = ngx_slprintf(p, last, ": \"");
            p = ngx_http_itsm_kick_escape(p,
                                          ngx_min(last - 1,
                                                  p + NGX_HTTP_ITSM_KICK_LOG_TEXT),
                                          job->answer, job->answer_len);

            /* a truncated answer is always longer than what is shown:
             * it ends with "..." */

            p = ngx_slprintf(p, last, "\"");
        }

        json_decref(doc);
        goto done;
    }

    action = json_object_get(doc, "action");

    if (json_is_string(action) && json_string_length(action)) {
        err->action.data = err->action_data;
        err->action.len = ngx_http_itsm_kick_escape(err->action_data,
                                  err->action_data + sizeof(err->action_data),
                                  (u_char *) json_string_value(action),
                                  json_string_length(action))
                          - err->action_data;
    }

    itsm_status = json_object_get(doc, "itsm_status");
    text = json_object_get(doc, "itsm_error");
    code = json_object_get(doc, "error");

    /* "itsm_status": 0 and "not sent: ...": the limits held it back */

    err->held = (json_is_integer(itsm_status)
                 && json_integer_value(itsm_status) == 0
                 && json_is_string(text)
                 && ngx_strncmp(json_string_value(text), "not sent: ",
                                sizeof("not sent: ") - 1)
                    == 0);

    if (err->held) {
        p = ngx_slprintf(p, last, "held back by the connector's limits");

    } else if (json_is_integer(itsm_status)) {
        p = ngx_slprintf(p, last, "the ITSM answered %L",
                         (int64_t) json_integer_value(itsm_status));

    } else {
        p = ngx_slprintf(p, last, "the replay location answered %l", status);

        if (json_is_string(code)) {
            p = ngx_slprintf(p, last, " ");
            p = ngx_http_itsm_kick_escape(p,
                                          p + NGX_HTTP_ITSM_KICK_LOG_WORD,
                                          (u_char *) json_string_value(code),
                                          json_string_length(code));
        }

        text = json_object_get(doc, "message");
    }

    if (json_is_string(text)) {
        p = ngx_slprintf(p, last, ": \"");
        p = ngx_http_itsm_kick_escape(p,
                                      ngx_min(last - 1,
                                              p + NGX_HTTP_ITSM_KICK_LOG_TEXT),
                                      (u_char *) json_string_value(text),
                                      json_string_length(text));
        p = ngx_slprintf(p, last, "\"");
    }

    json_decref(doc);

done:

    err->why.data = buf;
    err->why.len = p - buf;
}


/*
 * Bytes from outside, for a log line: quotes and backslashes escaped,
 * control bytes as \xHH, so that a line cannot be cut or forged; UTF-8 is
 * kept as it is.  At most "last - p" bytes are written (at least 3 must
 * fit); what does not fit is replaced by "...".
 */

static u_char *
ngx_http_itsm_kick_escape(u_char *p, u_char *last, u_char *src, size_t len)
{
    u_char  c;
    size_t  n;

    static u_char  hex[] = "0123456789abcdef";

    while (len) {
        c = *src;

        if (c == '"' || c == '\\') {
            n = 2;

        } else if (c < 0x20 || c == 0x7f) {
            n = 4;

        } else {
            n = 1;
        }

        /* room for this byte, and for "..." if more is to come */

        if ((size_t) (last - p) < n + (len > 1 ? 3 : 0)) {
            break;
        }

        if (n == 2) {
            *p++ = '\\';
            *p++ = c;

        } else if (n == 4) {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }

        src++;
        len--;
    }

    if (len) {
        p = ngx_cpymem(p, "...", 3);
    }

    return p;
}
