
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_STORE_TICKET_H_INCLUDED_
#define _NGX_HTTP_ITSM_STORE_TICKET_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/* What the two files of the "tickets" table share
 * (ngx_http_itsm_store_ticket_index.c, ngx_http_itsm_store_ticket.c). */


#define NGX_HTTP_ITSM_STORE_TICKET_VERSION  1

/* "connector \0 ticket" */
#define NGX_HTTP_ITSM_STORE_TICKET_KEY  (64 + 1 + NGX_HTTP_ITSM_TICKET_MAX)


/*
 * The entry's state came while an alert held the key (a person changed the
 * ticket while the module's own request was under way): the claim's end
 * applies it to the key (ngx_http_itsm_store_ticket_held), so that it is
 * not lost under the alert's outcome.
 */
#define NGX_HTTP_ITSM_STORE_TICKET_HELD  0x01


/* an entry as stored (host byte order), followed by the assignee the
 * ITSM named (none in entries of phase 1: the same layout) and the
 * record's key */

typedef struct {
    uint8_t                      version;
    uint8_t                      state;        /* ..._TICKET_OPEN ... */
    uint16_t                     assignee;     /* its length, bytes after
                                                  this, before the key */
    uint32_t                     flags;        /* 0 in earlier entries */
    uint64_t                     order;        /* the last event's */
    uint64_t                     event;        /* its id's hash */
    int64_t                      updated;      /* when it came */
} ngx_http_itsm_store_ticket_rec_t;


/* ngx_http_itsm_store_ticket.c: what an event makes of a key, for both
 * backends */
ngx_int_t ngx_http_itsm_store_ticket_seen(ngx_http_itsm_store_ticket_t *cb,
    ngx_http_itsm_store_ticket_rec_t *entry);
ngx_int_t ngx_http_itsm_store_ticket_decide(ngx_log_t *log,
    ngx_http_itsm_store_ticket_t *cb, ngx_http_itsm_store_ticket_rec_t *entry,
    ngx_http_itsm_record_t *rec, time_t now);
void ngx_http_itsm_store_ticket_state(ngx_http_itsm_record_t *rec,
    ngx_uint_t state, time_t now);

/* ngx_http_itsm_store_ticket_index.c */
ngx_int_t ngx_http_itsm_store_ticket_connector(MDB_val *k, ngx_str_t *conn);
void ngx_http_itsm_store_ticket_key(ngx_str_t *conn, ngx_str_t *ticket,
    u_char *buf, MDB_val *tk);
ngx_int_t ngx_http_itsm_store_ticket_decode(MDB_val *v,
    ngx_http_itsm_store_ticket_rec_t *entry, MDB_val *key,
    ngx_str_t *assignee);
ngx_int_t ngx_http_itsm_store_ticket_is(MDB_val *v, MDB_val *k);
ngx_int_t ngx_http_itsm_store_ticket_put(ngx_http_itsm_store_t *store,
    MDB_txn *txn, MDB_val *tk, ngx_http_itsm_store_ticket_rec_t *entry,
    MDB_val *k, ngx_str_t *assignee);


#endif /* _NGX_HTTP_ITSM_STORE_TICKET_H_INCLUDED_ */
