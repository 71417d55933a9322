
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_store_ticket.h"


/*
 * What an ITSM said of a ticket (a callback), applied to the key whose
 * ticket it is, in one write transaction with the "tickets" entry that
 * remembers the ITSM's last event:
 *
 *   resolved, closed     an open key becomes resolved (resolved_at: now):
 *                        the next firing follows on_refire (reopen within
 *                        the window, else a new ticket), never a comment
 *   open, acknowledged   a resolved key is open again
 *   deleted              the key and its entry are forgotten: the next
 *                        firing creates a ticket
 *
 * An event already applied (the same id: a retried delivery) or older than
 * the last one (its order) changes nothing.  A key an alert holds (a live
 * claim) is left to that alert: the event is most often the echo of the
 * alert's own action (RT runs its scrip inside the request that resolves
 * or reopens the ticket, before it answers); the entry remembers it, and
 * the claim's end applies it (ngx_http_itsm_store_ticket_held): the echo
 * then changes nothing, a person's change made meanwhile is not lost.
 *
 * The transaction is flushed before the caller answers (the caller waits
 * for the flush, ngx_http_itsm_store_sync): a 2xx means it is on disk.
 */


static ngx_int_t ngx_http_itsm_store_ticket_txn(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *tk, void *data);
static void ngx_http_itsm_store_ticket_name(MDB_val *k,
    ngx_http_itsm_store_ticket_t *cb);


/* NGX_OK: cb->result says what was done; NGX_ERROR */

ngx_int_t
ngx_http_itsm_store_ticket_apply(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_http_itsm_store_ticket_t *cb)
{
    u_char     buf[NGX_HTTP_ITSM_STORE_KEY_MAX + 1];
    MDB_val    tk;
    ngx_str_t  key;

    if (connector->len > 64
        || (!cb->by_key && cb->ticket.len > NGX_HTTP_ITSM_TICKET_MAX))
    {
        cb->result = NGX_HTTP_ITSM_TICKET_UNKNOWN;
        return NGX_OK;
    }

    /*
     * A profile whose ticket is the key (opsgenie's alias, up to 512
     * bytes): the entry is the record's own key, a long key hashed as the
     * store hashes it; otherwise "connector \0 ticket".
     */

    if (cb->by_key) {
        if (ngx_http_itsm_store_key(store, connector, &cb->ticket, buf, &tk)
            != NGX_OK)
        {
            cb->result = NGX_HTTP_ITSM_TICKET_UNKNOWN;
            return NGX_OK;
        }

    } else {
        ngx_http_itsm_store_ticket_key(connector, &cb->ticket, buf, &tk);
    }

    key.data = tk.mv_data;
    key.len = tk.mv_size;

    cb->result = NGX_HTTP_ITSM_TICKET_UNKNOWN;
    cb->known = NGX_HTTP_ITSM_TICKET_NONE;
    cb->before = NGX_HTTP_ITSM_KEY_NONE;
    cb->after = NGX_HTTP_ITSM_KEY_NONE;
    cb->key.data = cb->key_data;
    cb->key.len = 0;
    cb->assignee.data = cb->assignee_data;
    cb->assignee.len = 0;

    return ngx_http_itsm_store_txn(store, "callback",
                                   NGX_HTTP_ITSM_STORE_WRITE
                                   |NGX_HTTP_ITSM_STORE_DEFER,
                                   NULL, &key,
                                   ngx_http_itsm_store_ticket_txn, cb);
}


static ngx_int_t
ngx_http_itsm_store_ticket_txn(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *tk, void *data)
{
    ngx_http_itsm_store_ticket_t  *cb = data;

    u_char                            kbuf[NGX_HTTP_ITSM_STORE_KEY_MAX];
    time_t                            now;
    MDB_val                           v, k, key;
    ngx_int_t                         rc, found;
    ngx_str_t                         assignee;
    ngx_uint_t                        indexed;
    ngx_http_itsm_record_t            rec;
    ngx_http_itsm_store_ticket_rec_t  entry;

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->tickets, tk, &v);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    indexed = (rc == NGX_OK);
    ngx_str_null(&assignee);

    if (indexed) {
        if (ngx_http_itsm_store_ticket_decode(&v, &entry, &key, &assignee)
            != NGX_OK)
        {
            return NGX_DONE;
        }

    } else if (cb->by_key) {

        /* a profile whose ticket is the key (opsgenie's alias): the
         * record's key "connector \0 key" is the entry's own */

        ngx_memzero(&entry, sizeof(ngx_http_itsm_store_ticket_rec_t));
        key = *tk;

    } else {
        return NGX_DONE;
    }

    /* the entry's bytes are LMDB's until the first write */

    ngx_memcpy(kbuf, key.mv_data, key.mv_size);
    k.mv_data = kbuf;
    k.mv_size = key.mv_size;

    cb->assignee.len = ngx_min(assignee.len, NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(cb->assignee_data, assignee.data, cb->assignee.len);

    ngx_http_itsm_store_ticket_name(&k, cb);

    if (cb->by_key) {
        /* the key itself, not the hash a long key is stored under */
        cb->key.len = ngx_min(cb->ticket.len, NGX_HTTP_ITSM_STORE_KEY_TEXT);
        ngx_memcpy(cb->key_data, cb->ticket.data, cb->key.len);
    }

    cb->known = entry.state;

    if (ngx_http_itsm_store_ticket_seen(cb, &entry) == NGX_DONE) {
        return NGX_DONE;
    }

    found = ngx_http_itsm_store_record_get(store, txn, &k, &rec);

    if (found == NGX_ERROR) {
        return NGX_ERROR;
    }

    now = ngx_time();

    rc = ngx_http_itsm_store_ticket_decide(store->log, cb, &entry,
                                           found == NGX_OK ? &rec : NULL,
                                           now);

    switch (rc) {

    case NGX_DECLINED:

        /* the key was expired, or has another ticket since: the entry is
         * stale, and the ticket no key's */

        if (!indexed) {
            return NGX_DONE;
        }

        if (ngx_http_itsm_store_mdb_del(store, txn, store->tickets, tk)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_ABORT:

        if (ngx_http_itsm_store_mdb_del(store, txn, store->dbi, &k) != NGX_OK
            || (indexed
                && ngx_http_itsm_store_mdb_del(store, txn, store->tickets, tk)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }

        return NGX_HTTP_ITSM_STORE_SYNC;
    }

    if (cb->after != cb->before
        && ngx_http_itsm_store_record_put(store, txn, &k, &rec) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_store_ticket_put(store, txn, tk, &entry, &k,
                                       &cb->assignee)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_HTTP_ITSM_STORE_SYNC;
}


/*
 * What the store makes of an event, whatever the backend keeps it in
 * (LMDB here, Redis in ngx_http_itsm_store_ticket_redis.c): the two
 * functions below decide, the backend reads before and writes after.
 *
 * NGX_DONE: the same event again, or one older than the last: nothing is
 * written (cb->result says which).
 */

ngx_int_t
ngx_http_itsm_store_ticket_seen(ngx_http_itsm_store_ticket_t *cb,
    ngx_http_itsm_store_ticket_rec_t *entry)
{
    if (cb->event && entry->event == cb->event) {
        cb->result = NGX_HTTP_ITSM_TICKET_DUPLICATE;
        return NGX_DONE;
    }

    if (cb->order && entry->order
        && (cb->order < entry->order
            || (cb->order == entry->order && cb->event == 0)))
    {
        cb->result = (cb->order == entry->order)
                     ? NGX_HTTP_ITSM_TICKET_DUPLICATE
                     : NGX_HTTP_ITSM_TICKET_STALE;
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * The event applied to the key's record "rec" (NULL: the key has none)
 * and to its entry, both changed in place:
 *
 *   NGX_DECLINED  the key was expired, or has another ticket since: the
 *                 entry is stale (the backend deletes its index)
 *   NGX_ABORT     deleted: the key and its entries are forgotten
 *   NGX_OK        the entry is written, and the record when cb->after
 *                 differs from cb->before
 */

ngx_int_t
ngx_http_itsm_store_ticket_decide(ngx_log_t *log,
    ngx_http_itsm_store_ticket_t *cb, ngx_http_itsm_store_ticket_rec_t *entry,
    ngx_http_itsm_record_t *rec, time_t now)
{
    if (rec == NULL
        || (!cb->by_key
            && (rec->ticket.len != cb->ticket.len
                || ngx_memcmp(rec->ticket.data, cb->ticket.data,
                              cb->ticket.len)
                   != 0)))
    {
        cb->key.len = 0;
        return NGX_DECLINED;
    }

    cb->before = rec->state;
    cb->after = rec->state;

    if (ngx_http_itsm_store_busy(rec, now)) {
        cb->result = NGX_HTTP_ITSM_TICKET_IN_FLIGHT;
        goto remember;
    }

    /* a note changes no state; its id and order are remembered like any
     * event's, so that its retried delivery is a duplicate */

    if (cb->note) {
        cb->result = NGX_HTTP_ITSM_TICKET_NOTED;
        goto remember;
    }

    if (cb->state == NGX_HTTP_ITSM_TICKET_DELETED) {
        cb->after = NGX_HTTP_ITSM_KEY_NONE;
        cb->result = NGX_HTTP_ITSM_TICKET_APPLIED;
        return NGX_ABORT;
    }

    ngx_http_itsm_store_ticket_state(rec, cb->state, now);

    cb->after = rec->state;

    if (cb->after != cb->before) {
        cb->result = NGX_HTTP_ITSM_TICKET_APPLIED;

    } else {
        cb->result = (entry->state != cb->state)
                     ? NGX_HTTP_ITSM_TICKET_APPLIED
                     : NGX_HTTP_ITSM_TICKET_UNCHANGED;
    }

remember:

    /* the assignee the ITSM named last; an event naming none keeps it */

    if (cb->in_assignee.len) {
        cb->assignee.len = ngx_min(cb->in_assignee.len,
                                   NGX_HTTP_ITSM_TICKET_MAX);
        ngx_memcpy(cb->assignee_data, cb->in_assignee.data,
                   cb->assignee.len);
    }

    cb->assignee.data = cb->assignee_data;

    if (!cb->note) {
        entry->state = (uint8_t) cb->state;

        /* a state the key could not take now: the claim's end takes it */

        if (cb->result == NGX_HTTP_ITSM_TICKET_IN_FLIGHT) {
            entry->flags |= NGX_HTTP_ITSM_STORE_TICKET_HELD;

        } else {
            entry->flags &= ~NGX_HTTP_ITSM_STORE_TICKET_HELD;
        }
    }

    entry->order = ngx_max(entry->order, cb->order);
    entry->event = cb->event;
    entry->updated = now;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "itsm store: ticket \"%V\" itsm state:%ui key state:%ui "
                   "result:%ui", &cb->ticket, cb->state, cb->after,
                   cb->result);

    return NGX_OK;
}


/*
 * The key's state after what the ITSM said of its ticket, a callback's
 * or one held until the claim's end: resolved or closed resolves an open
 * key, open or acknowledged reopens a resolved one, deleted forgets the
 * ticket (a callback deletes the whole record instead).
 */

void
ngx_http_itsm_store_ticket_state(ngx_http_itsm_record_t *rec,
    ngx_uint_t state, time_t now)
{
    switch (state) {

    case NGX_HTTP_ITSM_TICKET_OPEN:
    case NGX_HTTP_ITSM_TICKET_ACKNOWLEDGED:

        if (rec->state == NGX_HTTP_ITSM_KEY_RESOLVED) {
            rec->state = NGX_HTTP_ITSM_KEY_OPEN;
            rec->resolved_at = 0;
        }

        break;

    case NGX_HTTP_ITSM_TICKET_RESOLVED:
    case NGX_HTTP_ITSM_TICKET_CLOSED:

        if (rec->state == NGX_HTTP_ITSM_KEY_OPEN) {
            rec->state = NGX_HTTP_ITSM_KEY_RESOLVED;
            rec->resolved_at = now;
        }

        break;

    case NGX_HTTP_ITSM_TICKET_DELETED:

        rec->state = NGX_HTTP_ITSM_KEY_NONE;
        rec->ticket.len = 0;
        rec->resolved_at = 0;
        rec->last_action = 0;
        break;

    default:
        break;
    }
}


/* the correlation key of "connector \0 key", for the answer and the log */

static void
ngx_http_itsm_store_ticket_name(MDB_val *k, ngx_http_itsm_store_ticket_t *cb)
{
    ngx_str_t  conn, key;

    if (ngx_http_itsm_store_key_split(k, &conn, &key) != NGX_OK) {
        cb->key.len = 0;
        return;
    }

    cb->key.len = ngx_min(key.len, NGX_HTTP_ITSM_STORE_KEY_TEXT);
    ngx_memcpy(cb->key_data, key.data, cb->key.len);
}
