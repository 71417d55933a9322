
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_queue.h"
#include "ngx_http_itsm_store_queue.h"


/*
 * What waits for a key in the store's pending table: an alert held in a
 * cooldown (its latest state and every distinct note), or queued while
 * the ITSM was down.  The pipeline holds alerts here, gives a comment the
 * notes held, and clears what an action it sent carried; the replay
 * location (ngx_http_itsm_queue.c) reads what is due.
 */


/* notes held for a key: from this many on they go out at once rather than
 * at the cooldown's end; beyond the most, a note is not kept (logged) */
#define NGX_HTTP_ITSM_HELD_NOTES_FLUSH  50
#define NGX_HTTP_ITSM_HELD_NOTES_MAX    200


static ngx_int_t ngx_http_itsm_held_hold_merge(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend);
static ngx_int_t ngx_http_itsm_held_supersede_merge(void *data,
    ngx_str_t *old, ngx_http_itsm_store_pending_t *pend);
static u_char *ngx_http_itsm_held_time(u_char *p, time_t t);
static ngx_int_t ngx_http_itsm_held_read_merge(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend);
static ngx_int_t ngx_http_itsm_held_notes_of(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *saved);
static json_t *ngx_http_itsm_held_parse(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *text);
static ngx_uint_t ngx_http_itsm_held_member_is(json_t *doc, const char *name,
    u_char *value, size_t len);
static void ngx_http_itsm_held_note_text(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_alert_t *alert, ngx_str_t *note);
static ngx_uint_t ngx_http_itsm_held_has_note(json_t *notes,
    ngx_str_t *note);


/*
 * Holds the alert being handled as the key's pending delivery, due at
 * "due" (the end of a cooldown, or a retry of the queue):
 *
 *   {"state": 0|1, "fields": {"key": ..., ...}, "raw": {...},
 *    "hash": "<the alert's hash>", "live": true, "seq": N,
 *    "notes": [{"at": 1733480000, "text": "..."}, ...]}
 *
 * The latest alert's state wins (an update carries the latest), but what
 * each distinct alert said is kept as a note (its description, or its
 * title), so that every note reaches the ticket exactly once, in the
 * comment sent when the cooldown ends; an identical repeat only counts.
 * NGX_OK: kept; NGX_DECLINED: nothing to keep (identical to what waits);
 * on Redis NGX_AGAIN: ctx->op's handler gets one of those, or NGX_ERROR.
 *
 * On Redis the job of the shared queue is the entry (the queue's
 * ngx_http_itsm_store_queue_merge runs this same merge, again when
 * another edge wrote the job between its read and its write): repeats
 * held on two edges in one cooldown are one job, delivered once.
 */

typedef struct {
    ngx_pool_t                  *pool;         /* what the merge makes */
    ngx_log_t                   *log;
    ngx_http_itsm_ctx_t         *ctx;          /* supersede on Redis: NULL */
    time_t                       due;
    ngx_uint_t                   seq;          /* supersede: as read */
    ngx_uint_t                   notes;        /* supersede: sent */
    unsigned                     held:1;       /* supersede: ctx->held */
    unsigned                     gone:1;       /* supersede: notes whose
                                                  ticket is gone */
} ngx_http_itsm_held_merge_t;


ngx_int_t
ngx_http_itsm_held_hold(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    time_t due)
{
    ngx_int_t                    rc;
    ngx_http_itsm_held_merge_t  *m;

    /* on Redis the merge runs in a later turn of the event loop: the
     * request keeps it */

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_held_merge_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->pool = r->pool;
    m->log = r->connection->log;
    m->ctx = ctx;
    m->due = due;

    if (ngx_http_itsm_store_on_redis(ctx->store)) {
        rc = ngx_http_itsm_store_queue_merge(ctx->store, &ctx->op, r->pool,
                                             &ctx->connector->name,
                                             &ctx->key,
                                             ngx_http_itsm_held_hold_merge,
                                             m);

    } else {
        rc = ngx_http_itsm_store_pending_merge(ctx->store,
                                               &ctx->connector->name,
                                               &ctx->key,
                                               ngx_http_itsm_held_hold_merge,
                                               m);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm queue: key \"%V\" held until %T: %i",
                   &ctx->key, due, rc);

    return rc;
}


static ngx_int_t
ngx_http_itsm_held_hold_merge(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend)
{
    ngx_http_itsm_held_merge_t *m = data;

    u_char                  hash[16];
    json_t                 *doc, *prev, *notes, *fields;
    ngx_str_t               note;
    ngx_uint_t              seq;
    ngx_http_itsm_ctx_t    *ctx;
    ngx_http_itsm_alert_t  *alert;

    ctx = m->ctx;
    alert = ctx->alert;

    ngx_sprintf(hash, "%016xL", ngx_http_itsm_alert_hash(alert));

    prev = (old != NULL) ? ngx_http_itsm_held_parse(m->pool, m->log, old)
                         : NULL;

    seq = 0;
    notes = NULL;

    if (prev != NULL) {
        if (ngx_http_itsm_held_live(prev)
            && ngx_http_itsm_held_member_is(prev, "hash", hash, 16))
        {
            return NGX_DECLINED;
        }

        seq = (ngx_uint_t) json_integer_value(json_object_get(prev, "seq"));
        notes = json_object_get(prev, "notes");

        if (m->due < pend->due) {
            pend->due = m->due;
        }

    } else {
        pend->due = m->due;
        pend->attempts = 0;
    }

    notes = json_is_array(notes) ? json_deep_copy(notes) : json_array();
    if (notes == NULL) {
        return NGX_ERROR;
    }

    /* notes only for a repeat held in a cooldown (an alert queued because
     * the ITSM is down is sent whole by the action it waits for), and only
     * for a connector that can comment: only a comment carries them */

    ngx_http_itsm_held_note_text(ctx, alert, &note);

    if (note.len && ctx->plan.coalesce
        && ctx->connector->actions[NGX_HTTP_ITSM_ACTION_COMMENT]
        && !ngx_http_itsm_held_has_note(notes, &note))
    {
        if (json_array_size(notes) >= NGX_HTTP_ITSM_HELD_NOTES_MAX) {
            ngx_log_error(NGX_LOG_ERR, m->log, 0,
                          "itsm: key \"%V\" holds %d notes already; a "
                          "further one is not kept", &ctx->key,
                          NGX_HTTP_ITSM_HELD_NOTES_MAX);

        } else if (json_array_append_new(notes,
                       json_pack("{s:I, s:s%}", "at", (json_int_t) ngx_time(),
                                 "text", note.data, note.len))
                   != 0)
        {
            json_decref(notes);
            return NGX_ERROR;
        }
    }

    /* many notes: they go out now rather than at the cooldown's end */

    if (json_array_size(notes) >= NGX_HTTP_ITSM_HELD_NOTES_FLUSH) {
        pend->due = ngx_min(pend->due, ngx_time());
    }

    fields = ngx_http_itsm_alert_fields_json(alert);
    if (fields == NULL) {
        json_decref(notes);
        return NGX_ERROR;
    }

    doc = json_pack("{s:i, s:o, s:O?, s:s%, s:b, s:I, s:o}",
                    "state", (int) alert->state, "fields", fields,
                    "raw", alert->raw, "hash", hash, (size_t) 16,
                    "live", 1, "seq", (json_int_t) (seq + 1),
                    "notes", notes);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    pend->text.data = ngx_http_itsm_json_dump(doc, m->pool, &pend->text.len);
    json_decref(doc);

    return pend->text.data ? NGX_OK : NGX_ERROR;
}


/*
 * Before a comment is sent, the notes held for the key (in a cooldown)
 * go into it: the alert the comment's templates see is the alert itself
 * with, as its description, every note held and its own, each once and
 * timed.  NGX_OK (ctx->digest set when there were notes), or NGX_ERROR.
 *
 * On Redis the key's job is read from the shared queue (the notes may
 * have been held on another edge): NGX_AGAIN, and ctx->op's handler is
 * called; ngx_http_itsm_held_noted() then does the rest.
 */

ngx_int_t
ngx_http_itsm_held_notes(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx)
{
    time_t                       due;
    ngx_str_t                    saved;
    ngx_uint_t                   attempts;
    ngx_http_itsm_held_merge_t  *m;

    ctx->digest = NULL;
    ctx->held = 0;
    ngx_str_null(&ctx->held_text);

    if (ngx_http_itsm_store_on_redis(ctx->store)) {

        /* a connector that never holds (no cooldown, or nothing on a
         * repeat) has no notes: no round trip to Redis for its comments */

        if (ctx->connector->cooldown == 0
            || ctx->connector->on_repeat == NGX_HTTP_ITSM_ACTION_NONE)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "itsm queue: connector \"%V\" holds no notes",
                           &ctx->connector->name);
            return NGX_OK;
        }

        m = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_held_merge_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->pool = r->pool;
        m->log = r->connection->log;
        m->ctx = ctx;

        return ngx_http_itsm_store_queue_merge(ctx->store, &ctx->op, r->pool,
                                               &ctx->connector->name,
                                               &ctx->key,
                                               ngx_http_itsm_held_read_merge,
                                               m);
    }

    if (ngx_http_itsm_store_pending_get(ctx->store, &ctx->connector->name,
                                        &ctx->key, r->pool, &due,
                                        &attempts, &saved)
        != NGX_OK)
    {
        return NGX_OK;
    }

    return ngx_http_itsm_held_notes_of(r, ctx, &saved);
}


/* on Redis: the job read ("rc" NGX_DECLINED: read, NGX_ERROR: Redis did
 * not answer, and the comment is not sent without the notes it owes) */

ngx_int_t
ngx_http_itsm_held_noted(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm queue: key \"%V\" job read on redis: %i, %uz bytes",
                   &ctx->key, rc, ctx->held_text.len);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ctx->held_text.len == 0) {
        return NGX_OK;
    }

    return ngx_http_itsm_held_notes_of(r, ctx, &ctx->held_text);
}


/* a read only: the job is kept for the request, nothing written */

static ngx_int_t
ngx_http_itsm_held_read_merge(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend)
{
    ngx_http_itsm_held_merge_t *m = data;

    if (old == NULL) {
        return NGX_DECLINED;
    }

    m->ctx->held_text.data = ngx_pnalloc(m->pool, old->len);
    if (m->ctx->held_text.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(m->ctx->held_text.data, old->data, old->len);
    m->ctx->held_text.len = old->len;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_itsm_held_notes_of(ngx_http_request_t *r, ngx_http_itsm_ctx_t *ctx,
    ngx_str_t *saved)
{
    u_char                 *p;
    size_t                  len;
    json_t                 *doc, *notes, *n, *text;
    time_t                  at;
    ngx_str_t               own, t;
    ngx_uint_t              i, count, add;
    ngx_http_itsm_alert_t  *digest;

    doc = ngx_http_itsm_held_parse(r->pool, r->connection->log, saved);
    if (doc == NULL) {
        return NGX_OK;
    }

    notes = json_object_get(doc, "notes");
    count = json_is_array(notes) ? json_array_size(notes) : 0;

    ctx->held = 1;
    ctx->held_seq = (ngx_uint_t) json_integer_value(json_object_get(doc,
                                                                    "seq"));
    ctx->held_notes = count;

    if (count == 0) {
        return NGX_OK;
    }

    ngx_http_itsm_held_note_text(ctx, ctx->alert, &own);

    add = (own.len && !ngx_http_itsm_held_has_note(notes, &own)) ? 1 : 0;

    /* one note: the comment says it as it is */

    len = 0;

    for (i = 0; i < count; i++) {
        text = json_object_get(json_array_get(notes, i), "text");
        len += sizeof("[1970-01-01T00:00:00Z] \n\n") - 1
               + json_string_length(text);
    }

    len += sizeof("[1970-01-01T00:00:00Z] ") - 1 + own.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    t.data = p;

    for (i = 0; i < count; i++) {
        n = json_array_get(notes, i);
        text = json_object_get(n, "text");
        at = (time_t) json_integer_value(json_object_get(n, "at"));

        if (count + add > 1) {
            p = ngx_http_itsm_held_time(p, at);
        }

        p = ngx_cpymem(p, json_string_value(text), json_string_length(text));

        if (i + 1 < count || add) {
            *p++ = '\n';
            *p++ = '\n';
        }
    }

    if (add) {
        p = ngx_http_itsm_held_time(p, ngx_time());
        p = ngx_cpymem(p, own.data, own.len);
    }

    t.len = p - t.data;

    digest = ngx_palloc(r->pool, sizeof(ngx_http_itsm_alert_t));
    if (digest == NULL) {
        return NGX_ERROR;
    }

    *digest = *ctx->alert;
    digest->fields[NGX_HTTP_ITSM_FIELD_DESCRIPTION] = t;

    ctx->digest = digest;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm queue: key \"%V\" comment carries %ui held notes "
                   "(seq %ui)", &ctx->key, count, ctx->held_seq);

    return NGX_OK;
}


/* "[2026-12-06T12:00:00Z] " */

static u_char *
ngx_http_itsm_held_time(u_char *p, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ngx_sprintf(p, "[%4d-%02d-%02dT%02d:%02d:%02dZ] ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/*
 * An action for the key was sent: what it carried no longer waits.  The
 * held state is superseded by it (a queued create or reopen must not come
 * after a resolve); held notes it did not carry stay, to be sent as a
 * comment of their own; notes held since it read them stay as well.
 */

ngx_int_t
ngx_http_itsm_held_supersede(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx)
{
    ngx_pool_t                  *pool;
    ngx_http_itsm_held_merge_t   m, *mp;

    m.ctx = NULL;
    m.due = 0;
    m.seq = ctx->held ? ctx->held_seq : 0;
    m.notes = ctx->digest ? ctx->held_notes : 0;
    m.held = ctx->held;
    m.gone = (ctx->notes_only && ctx->plan.nsteps == 0) ? 1 : 0;

    /*
     * On Redis the same merge on the shared queue's job, sent and not
     * waited for (as the claim's release): the answer is the request's
     * already.  It outlives the request, so it has a pool of its own.  A
     * job being delivered stays its edge's: its done removes it, or puts
     * it back when this merge kept newer notes (ngx_http_itsm_store_queue_
     * redis.c).  A merge lost (Redis down) leaves the job, which is then
     * delivered against the record.
     */

    if (ngx_http_itsm_store_on_redis(ctx->store)) {
        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        mp = ngx_palloc(pool, sizeof(ngx_http_itsm_held_merge_t));
        if (mp == NULL) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        *mp = m;
        mp->pool = pool;
        mp->log = ngx_cycle->log;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm queue: key \"%V\" superseded on redis "
                       "(seq %ui, notes %ui)", &ctx->key, m.seq, m.notes);

        return ngx_http_itsm_store_queue_merge(ctx->store, NULL, pool,
                                        &ctx->connector->name, &ctx->key,
                                        ngx_http_itsm_held_supersede_merge,
                                        mp);
    }

    m.pool = r->pool;
    m.log = r->connection->log;

    return ngx_http_itsm_store_pending_merge(ctx->store,
                                      &ctx->connector->name, &ctx->key,
                                      ngx_http_itsm_held_supersede_merge, &m);
}


static ngx_int_t
ngx_http_itsm_held_supersede_merge(void *data, ngx_str_t *old,
    ngx_http_itsm_store_pending_t *pend)
{
    ngx_http_itsm_held_merge_t *m = data;

    json_t      *doc, *notes, *rest;
    size_t       i, count;
    ngx_uint_t   seq, live;

    if (old == NULL) {
        return NGX_DECLINED;
    }

    doc = ngx_http_itsm_held_parse(m->pool, m->log, old);
    if (doc == NULL) {
        return NGX_DONE;
    }

    seq = (ngx_uint_t) json_integer_value(json_object_get(doc, "seq"));
    notes = json_object_get(doc, "notes");
    count = json_is_array(notes) ? json_array_size(notes) : 0;

    if (m->gone) {
        /* held notes whose ticket is gone: nothing will take them */
        return NGX_DONE;
    }

    if (m->held && seq == m->seq) {
        /* nothing came since the action read the entry: done with */
        return NGX_DONE;
    }

    /*
     * Held since the action read the entry: newer than the action, it
     * stays as it is, but for the notes the action carried.  Not read by
     * the action (not a comment): its state is superseded, its notes wait.
     */

    live = m->held ? ngx_http_itsm_held_live(doc) : 0;

    if (count <= m->notes && !live) {
        return NGX_DONE;
    }

    rest = json_array();
    if (rest == NULL) {
        return NGX_ERROR;
    }

    for (i = m->notes; i < count; i++) {
        if (json_array_append(rest, json_array_get(notes, i)) != 0) {
            json_decref(rest);
            return NGX_ERROR;
        }
    }

    if (json_object_set_new(doc, "notes", rest) != 0
        || json_object_set_new(doc, "seq", json_integer(seq + 1)) != 0
        || json_object_set_new(doc, "live", json_boolean(live)) != 0)
    {
        return NGX_ERROR;
    }

    pend->text.data = ngx_http_itsm_json_dump(doc, m->pool, &pend->text.len);

    return pend->text.data ? NGX_OK : NGX_ERROR;
}


/* the entry's JSON, freed with "pool"; NULL: unreadable */

static json_t *
ngx_http_itsm_held_parse(ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *text)
{
    json_t        *doc;
    json_error_t   err;

    doc = json_loadb((const char *) text->data, text->len, 0, &err);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "itsm: a pending delivery is unreadable: %s",
                      doc ? "not an object" : err.text);
        return NULL;
    }

    if (ngx_http_itsm_json_cleanup_add(pool, doc) != NGX_OK) {
        json_decref(doc);
        return NULL;
    }

    return doc;
}


/* entries of earlier releases have no "live": they hold a state */

ngx_uint_t
ngx_http_itsm_held_live(json_t *doc)
{
    json_t  *live;

    live = json_object_get(doc, "live");

    return live == NULL || json_is_true(live);
}


static ngx_uint_t
ngx_http_itsm_held_member_is(json_t *doc, const char *name, u_char *value,
    size_t len)
{
    json_t  *v;

    v = json_object_get(doc, name);

    return json_is_string(v) && json_string_length(v) == len
           && ngx_strncmp(json_string_value(v), value, len) == 0;
}


/*
 * What an alert says as a note: its description, or its title.  Nothing
 * with "comment=note": there a note is the alert's field "note", and a new
 * one is commented at once, never held (ngx_http_itsm_lifecycle.c).
 */

static void
ngx_http_itsm_held_note_text(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_alert_t *alert, ngx_str_t *note)
{
    if (ctx->connector->repeat_note) {
        ngx_str_null(note);
        return;
    }

    *note = alert->fields[NGX_HTTP_ITSM_FIELD_DESCRIPTION];

    if (note->len == 0) {
        *note = alert->fields[NGX_HTTP_ITSM_FIELD_TITLE];
    }
}


static ngx_uint_t
ngx_http_itsm_held_has_note(json_t *notes, ngx_str_t *note)
{
    size_t   i;
    json_t  *text;

    for (i = 0; i < json_array_size(notes); i++) {
        text = json_object_get(json_array_get(notes, i), "text");

        if (json_is_string(text) && json_string_length(text) == note->len
            && ngx_strncmp(json_string_value(text), note->data, note->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}
