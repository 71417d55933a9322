
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_store_ticket.h"


/*
 * The "tickets" table: a connector's ticket -> the key whose ticket it is,
 * and what the ITSM last said of it (its callbacks,
 * ngx_http_itsm_store_ticket.c).  An entry is written in the transaction
 * that commits the key's ticket (ngx_http_itsm_store_record.c calls
 * ngx_http_itsm_store_ticket_index), so the index never names a ticket
 * the store does not have; an entry whose key moved on to another ticket
 * is deleted then, or, when the key was expired meanwhile, by the first
 * callback that finds it stale.
 *
 * This file reads and writes the table only; it calls nothing of the
 * record's file (which calls it).
 */


ngx_int_t
ngx_http_itsm_store_ticket_index(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *before, ngx_http_itsm_record_t *rec)
{
    u_char                            buf[NGX_HTTP_ITSM_STORE_TICKET_KEY];
    MDB_val                           tk, v;
    ngx_int_t                         rc;
    ngx_str_t                         conn;
    ngx_http_itsm_store_ticket_rec_t  entry;

    if (ngx_http_itsm_store_ticket_connector(k, &conn) != NGX_OK) {
        return NGX_OK;                          /* not a key of ours */
    }

    /* the key's former ticket: no longer its own */

    if (before->ticket.len
        && (before->ticket.len != rec->ticket.len
            || ngx_memcmp(before->ticket.data, rec->ticket.data,
                          rec->ticket.len) != 0))
    {
        ngx_http_itsm_store_ticket_key(&conn, &before->ticket, buf, &tk);

        rc = ngx_http_itsm_store_mdb_get(store, txn, store->tickets, &tk, &v);

        if (rc == NGX_OK
            && ngx_http_itsm_store_ticket_decode(&v, &entry, NULL, NULL)
               == NGX_OK
            && ngx_http_itsm_store_ticket_is(&v, k))
        {
            rc = ngx_http_itsm_store_mdb_del(store, txn, store->tickets, &tk);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (rec->ticket.len == 0) {
        return NGX_OK;
    }

    ngx_http_itsm_store_ticket_key(&conn, &rec->ticket, buf, &tk);

    rc = ngx_http_itsm_store_mdb_get(store, txn, store->tickets, &tk, &v);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && ngx_http_itsm_store_ticket_is(&v, k)) {
        return NGX_OK;                          /* indexed already */
    }

    /* a new ticket of the key: nothing heard of it yet */

    ngx_memzero(&entry, sizeof(entry));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: index ticket \"%V\" of connector \"%V\"",
                   &rec->ticket, &conn);

    return ngx_http_itsm_store_ticket_put(store, txn, &tk, &entry, k, NULL);
}


/*
 * The end of a claim (its commit or release, in its transaction, before
 * the record is written): a state the ITSM sent of the key's ticket while
 * the claim held the key is applied now, as a callback would have
 * (ngx_http_itsm_store_ticket.c): resolved or closed resolves an open key,
 * open or acknowledged reopens a resolved one, deleted forgets the ticket.
 * The echo of the alert's own action changes nothing; a person's change
 * made meanwhile wins, as the newest event the ITSM sent.  Both entries
 * that can name the key are looked at: its ticket's, and the key's own
 * (a profile whose ticket is the key, opsgenie's alias).
 */

ngx_int_t
ngx_http_itsm_store_ticket_held(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_http_itsm_record_t *rec)
{
    u_char                            buf[NGX_HTTP_ITSM_STORE_TICKET_KEY];
    u_char                            kbuf[NGX_HTTP_ITSM_STORE_KEY_MAX];
    MDB_val                           tk[2], v, key;
    ngx_int_t                         rc;
    ngx_str_t                         conn, assignee;
    ngx_uint_t                        i, n, before;
    ngx_http_itsm_store_ticket_rec_t  entry;

    if (ngx_http_itsm_store_ticket_connector(k, &conn) != NGX_OK) {
        return NGX_OK;
    }

    /* the key's own entry is looked at even without a ticket id: a
     * profile that names keys (opsgenie's preset reads no ticket id) */

    n = 0;

    if (rec->ticket.len) {
        ngx_http_itsm_store_ticket_key(&conn, &rec->ticket, buf, &tk[n++]);
    }

    tk[n++] = *k;

    for (i = 0; i < n; i++) {

        rc = ngx_http_itsm_store_mdb_get(store, txn, store->tickets, &tk[i],
                                         &v);

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_itsm_store_ticket_decode(&v, &entry, &key, &assignee)
            != NGX_OK
            || !(entry.flags & NGX_HTTP_ITSM_STORE_TICKET_HELD)
            || key.mv_size != k->mv_size
            || key.mv_size > NGX_HTTP_ITSM_STORE_KEY_MAX
            || ngx_memcmp(key.mv_data, k->mv_data, k->mv_size) != 0)
        {
            continue;
        }

        before = rec->state;

        ngx_http_itsm_store_ticket_state(rec, entry.state, ngx_time());

        if (rec->state != before) {
            ngx_log_error(NGX_LOG_NOTICE, store->log, 0,
                          "itsm: ticket \"%*s\" of connector \"%V\": the "
                          "ITSM's change that came while an alert held its "
                          "key is applied now (key state %ui -> %ui)",
                          (size_t) (tk[i].mv_size - conn.len - 1),
                          (u_char *) tk[i].mv_data + conn.len + 1, &conn,
                          before, rec->state);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: held itsm state:%ui key state:%ui -> %ui",
                       (ngx_uint_t) entry.state, before, rec->state);

        /* the entry's bytes are LMDB's until the first write */

        ngx_memcpy(kbuf, key.mv_data, key.mv_size);
        key.mv_data = kbuf;

        entry.flags &= ~NGX_HTTP_ITSM_STORE_TICKET_HELD;

        if (ngx_http_itsm_store_ticket_put(store, txn, &tk[i], &entry, &key,
                                           &assignee)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the connector of a stored key "connector \0 key"; NGX_DECLINED: none */

ngx_int_t
ngx_http_itsm_store_ticket_connector(MDB_val *k, ngx_str_t *conn)
{
    ngx_str_t  key;

    return (ngx_http_itsm_store_key_split(k, conn, &key) == NGX_OK
            && conn->len)
           ? NGX_OK : NGX_DECLINED;
}


/* "connector \0 ticket": both are short (64 bytes at most each) */

void
ngx_http_itsm_store_ticket_key(ngx_str_t *conn, ngx_str_t *ticket,
    u_char *buf, MDB_val *tk)
{
    u_char  *p;

    p = ngx_cpymem(buf, conn->data, ngx_min(conn->len, 64));
    *p++ = '\0';
    p = ngx_cpymem(p, ticket->data,
                   ngx_min(ticket->len, NGX_HTTP_ITSM_TICKET_MAX));

    tk->mv_data = buf;
    tk->mv_size = p - buf;
}


/* an entry as stored: the fixed part, then the record's key */

ngx_int_t
ngx_http_itsm_store_ticket_decode(MDB_val *v,
    ngx_http_itsm_store_ticket_rec_t *entry, MDB_val *key,
    ngx_str_t *assignee)
{
    u_char  *p;

    if (v->mv_size <= sizeof(ngx_http_itsm_store_ticket_rec_t)) {
        return NGX_DECLINED;
    }

    /* LMDB data is not aligned for us */
    ngx_memcpy(entry, v->mv_data, sizeof(ngx_http_itsm_store_ticket_rec_t));

    if (entry->version != NGX_HTTP_ITSM_STORE_TICKET_VERSION
        || entry->assignee > NGX_HTTP_ITSM_TICKET_MAX
        || v->mv_size <= sizeof(ngx_http_itsm_store_ticket_rec_t)
                         + entry->assignee
        || v->mv_size > sizeof(ngx_http_itsm_store_ticket_rec_t)
                        + entry->assignee + NGX_HTTP_ITSM_STORE_KEY_MAX)
    {
        return NGX_DECLINED;
    }

    p = (u_char *) v->mv_data + sizeof(ngx_http_itsm_store_ticket_rec_t);

    if (assignee) {
        assignee->data = p;
        assignee->len = entry->assignee;
    }

    if (key) {
        key->mv_data = p + entry->assignee;
        key->mv_size = v->mv_size - sizeof(ngx_http_itsm_store_ticket_rec_t)
                       - entry->assignee;
    }

    return NGX_OK;
}


/* does the entry "v" name the record key "k" */

ngx_int_t
ngx_http_itsm_store_ticket_is(MDB_val *v, MDB_val *k)
{
    MDB_val                           key;
    ngx_http_itsm_store_ticket_rec_t  entry;

    if (ngx_http_itsm_store_ticket_decode(v, &entry, &key, NULL) != NGX_OK) {
        return 0;
    }

    return key.mv_size == k->mv_size
           && ngx_memcmp(key.mv_data, k->mv_data, k->mv_size) == 0;
}


ngx_int_t
ngx_http_itsm_store_ticket_put(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *tk, ngx_http_itsm_store_ticket_rec_t *entry, MDB_val *k,
    ngx_str_t *assignee)
{
    u_char  *p;
    u_char   buf[sizeof(ngx_http_itsm_store_ticket_rec_t)
                 + NGX_HTTP_ITSM_TICKET_MAX + NGX_HTTP_ITSM_STORE_KEY_MAX];
    MDB_val  v;

    if (k->mv_size > NGX_HTTP_ITSM_STORE_KEY_MAX) {
        return NGX_ERROR;
    }

    entry->version = NGX_HTTP_ITSM_STORE_TICKET_VERSION;
    entry->assignee = assignee ? ngx_min(assignee->len,
                                         NGX_HTTP_ITSM_TICKET_MAX)
                               : 0;

    p = ngx_cpymem(buf, entry, sizeof(ngx_http_itsm_store_ticket_rec_t));

    if (entry->assignee) {
        p = ngx_cpymem(p, assignee->data, entry->assignee);
    }

    p = ngx_cpymem(p, k->mv_data, k->mv_size);

    v.mv_data = buf;
    v.mv_size = p - buf;

    return ngx_http_itsm_store_mdb_put(store, txn, store->tickets, tk, &v, 0);
}


/*
 * A key the expiry deletes: the entries that name it go with it, its
 * ticket's and the one a profile that names keys themselves (opsgenie's
 * alias) keeps under the key; so a callback about the ticket later is an
 * unknown ticket, and the table does not grow with keys long gone.
 * "ticket" may point into LMDB's pages: both entry keys are made before
 * the first write.
 */

ngx_int_t
ngx_http_itsm_store_ticket_forget(ngx_http_itsm_store_t *store, MDB_txn *txn,
    MDB_val *k, ngx_str_t *ticket)
{
    u_char      buf[2][NGX_HTTP_ITSM_STORE_TICKET_KEY];
    MDB_val     tk[2], v;
    ngx_int_t   rc;
    ngx_str_t   conn, key;
    ngx_uint_t  i, n;

    if (ngx_http_itsm_store_ticket_connector(k, &conn) != NGX_OK) {
        return NGX_OK;
    }

    n = 0;

    if (ticket->len && ticket->len <= NGX_HTTP_ITSM_TICKET_MAX) {
        ngx_http_itsm_store_ticket_key(&conn, ticket, buf[n], &tk[n]);
        n++;
    }

    key.data = conn.data + conn.len + 1;
    key.len = k->mv_size - conn.len - 1;

    if (key.len && key.len <= NGX_HTTP_ITSM_TICKET_MAX
        && (ticket->len != key.len
            || ngx_memcmp(ticket->data, key.data, key.len) != 0))
    {
        ngx_http_itsm_store_ticket_key(&conn, &key, buf[n], &tk[n]);
        n++;
    }

    for (i = 0; i < n; i++) {
        rc = ngx_http_itsm_store_mdb_get(store, txn, store->tickets, &tk[i],
                                         &v);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED || !ngx_http_itsm_store_ticket_is(&v, k)) {
            continue;                           /* none, or another key's */
        }

        if (ngx_http_itsm_store_mdb_del(store, txn, store->tickets, &tk[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, store->log, 0,
                       "itsm store: ticket entry of expired key removed "
                       "(%ui)", i);
    }

    return NGX_OK;
}
