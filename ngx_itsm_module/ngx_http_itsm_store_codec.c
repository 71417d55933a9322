
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/* A key's record as bytes: version 3 written, versions 1 to 3 read. */


/*
 * 3: variable size (below); 2: fixed size, with the claim's token and
 * alert hash, the doubt of a create, how the last claim ended; 1: fixed
 * size, without them.  Records of versions 1 and 2 are read as they are,
 * every record written is of version 3.
 */
#define NGX_HTTP_ITSM_STORE_VERSION  3

/*
 * Version 3: a million keys must fit in a store of 256 MB, so a record
 * takes what it holds, not the room of its largest case (version 2 took
 * 160 bytes whatever its ticket id and times): a header of four bytes
 * (version, state with 0x80 while claimed, last_result, which of token,
 * hash and last_token follow), then varints (7 bits a byte, low first) of
 * owner, occurrences, last_status and first_seen, then the other times as
 * varints of their distance to first_seen (0: none, else the zigzagged
 * distance + 1: a few bytes each), then token, hash, last_token and note, 8
 * bytes each when not 0, then the ticket id's length and bytes.  About 50
 * bytes for an open ticket with a short id.
 */
#define NGX_HTTP_ITSM_STORE_V3_TOKEN       0x01
#define NGX_HTTP_ITSM_STORE_V3_HASH        0x02
#define NGX_HTTP_ITSM_STORE_V3_LAST_TOKEN  0x04

/* the hash of the last note commented ("comment=note"), 8 bytes after
 * last_token: a record with it is read by releases that know the flag */
#define NGX_HTTP_ITSM_STORE_V3_NOTE        0x08

/* how the claim before the last ended: its token (8 bytes, after the
 * note), then varints of its result and status and its Retry-After as a
 * time; a record with it is read by releases that know the flag */
#define NGX_HTTP_ITSM_STORE_V3_PREV        0x10


/* version 2, written by earlier releases: fixed size, host byte order */

typedef struct {
    uint8_t                      version;
    uint8_t                      state;        /* | 0x80 while claimed */
    uint8_t                      ticket_len;
    uint8_t                      last_result;
    uint32_t                     owner;
    int64_t                      lease_until;
    int64_t                      first_seen;
    int64_t                      last_seen;
    int64_t                      last_action;
    int64_t                      resolved_at;
    uint32_t                     occurrences;
    uint16_t                     last_status;
    uint16_t                     reserved;
    uint64_t                     token;
    uint64_t                     hash;
    int64_t                      doubt;
    uint64_t                     last_token;
    int64_t                      last_retry;
    u_char                       ticket[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_store_rec_t;


/* version 1, written by earlier releases */

typedef struct {
    uint8_t                      version;
    uint8_t                      state;
    uint8_t                      ticket_len;
    uint8_t                      reserved;
    uint32_t                     owner;
    int64_t                      lease_until;
    int64_t                      first_seen;
    int64_t                      last_seen;
    int64_t                      last_action;
    int64_t                      resolved_at;
    uint32_t                     occurrences;
    u_char                       ticket[NGX_HTTP_ITSM_TICKET_MAX];
} ngx_http_itsm_store_rec_v1_t;


static void ngx_http_itsm_store_decode(ngx_http_itsm_store_rec_t *src,
    ngx_http_itsm_record_t *rec);
static ngx_int_t ngx_http_itsm_store_decode_v3(u_char *p, u_char *last,
    ngx_http_itsm_record_t *rec);
static u_char *ngx_http_itsm_store_decode_prev(u_char *p, u_char *last,
    ngx_http_itsm_record_t *rec, time_t base);
static u_char *ngx_http_itsm_store_put_time(u_char *p, time_t t, time_t base);
static uint64_t ngx_http_itsm_store_zigzag(int64_t n);
static int64_t ngx_http_itsm_store_unzigzag(uint64_t n);
static u_char *ngx_http_itsm_store_varint(u_char *p, uint64_t n);
static u_char *ngx_http_itsm_store_get_varint(u_char *p, u_char *last,
    uint64_t *n);
static u_char *ngx_http_itsm_store_get_u64(u_char *p, u_char *last,
    uint64_t *n);


/* a record of the current version, or of version 1 */

ngx_int_t
ngx_http_itsm_store_decode_any(MDB_val *v, ngx_http_itsm_record_t *rec)
{
    ngx_http_itsm_store_rec_t     raw;
    ngx_http_itsm_store_rec_v1_t  r;

    if (v->mv_size > 0
        && ((u_char *) v->mv_data)[0] == NGX_HTTP_ITSM_STORE_VERSION)
    {
        return ngx_http_itsm_store_decode_v3(v->mv_data,
                                            (u_char *) v->mv_data + v->mv_size,
                                            rec);
    }

    if (v->mv_size == sizeof(ngx_http_itsm_store_rec_t)
        && ((u_char *) v->mv_data)[0] == 2)
    {
        ngx_http_itsm_store_decode(v->mv_data, rec);
        return NGX_OK;
    }

    if (v->mv_size != sizeof(ngx_http_itsm_store_rec_v1_t)
        || ((u_char *) v->mv_data)[0] != 1)
    {
        return NGX_DECLINED;
    }

    /* LMDB data is not aligned for us */
    ngx_memcpy(&r, v->mv_data, sizeof(r));

    /* read as a record of the current version, its new fields zero */

    ngx_memzero(&raw, sizeof(raw));

    raw.state = r.state;
    raw.ticket_len = r.ticket_len;
    raw.owner = r.owner;
    raw.lease_until = r.lease_until;
    raw.first_seen = r.first_seen;
    raw.last_seen = r.last_seen;
    raw.last_action = r.last_action;
    raw.resolved_at = r.resolved_at;
    raw.occurrences = r.occurrences;
    ngx_memcpy(raw.ticket, r.ticket, sizeof(r.ticket));

    ngx_http_itsm_store_decode(&raw, rec);

    return NGX_OK;
}


static void
ngx_http_itsm_store_decode(ngx_http_itsm_store_rec_t *src,
    ngx_http_itsm_record_t *rec)
{
    ngx_http_itsm_store_rec_t  r;

    /* LMDB data is not aligned for us */
    ngx_memcpy(&r, src, sizeof(r));

    rec->state = r.state & 0x7f;
    rec->pending = (r.state & 0x80) ? 1 : 0;
    rec->owner = r.owner;
    rec->lease_until = r.lease_until;
    rec->first_seen = r.first_seen;
    rec->last_seen = r.last_seen;
    rec->last_action = r.last_action;
    rec->resolved_at = r.resolved_at;
    rec->occurrences = r.occurrences;

    rec->token = r.token;
    rec->hash = r.hash;
    rec->doubt = r.doubt;
    rec->last_token = r.last_token;
    rec->last_result = r.last_result;
    rec->last_status = r.last_status;
    rec->last_retry = r.last_retry;

    rec->ticket.len = ngx_min(r.ticket_len, NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(rec->ticket_data, r.ticket, rec->ticket.len);
    rec->ticket.data = rec->ticket_data;
}


/* version 3 (see above): returns the end of what was written */

u_char *
ngx_http_itsm_store_encode(ngx_http_itsm_record_t *rec, u_char *p)
{
    u_char  *flags;
    size_t   len;
    time_t   base;

    base = rec->first_seen;

    *p++ = NGX_HTTP_ITSM_STORE_VERSION;
    *p++ = (u_char) (rec->state | (rec->pending ? 0x80 : 0));
    *p++ = (u_char) rec->last_result;
    flags = p++;

    *flags = (rec->token ? NGX_HTTP_ITSM_STORE_V3_TOKEN : 0)
             | (rec->hash ? NGX_HTTP_ITSM_STORE_V3_HASH : 0)
             | (rec->last_token ? NGX_HTTP_ITSM_STORE_V3_LAST_TOKEN : 0)
             | (rec->note ? NGX_HTTP_ITSM_STORE_V3_NOTE : 0)
             | (rec->prev_token ? NGX_HTTP_ITSM_STORE_V3_PREV : 0);

    p = ngx_http_itsm_store_varint(p, rec->owner);
    p = ngx_http_itsm_store_varint(p, rec->occurrences);
    p = ngx_http_itsm_store_varint(p, rec->last_status);
    p = ngx_http_itsm_store_varint(p, ngx_http_itsm_store_zigzag(base));

    p = ngx_http_itsm_store_put_time(p, rec->lease_until, base);
    p = ngx_http_itsm_store_put_time(p, rec->last_seen, base);
    p = ngx_http_itsm_store_put_time(p, rec->last_action, base);
    p = ngx_http_itsm_store_put_time(p, rec->resolved_at, base);
    p = ngx_http_itsm_store_put_time(p, rec->doubt, base);
    p = ngx_http_itsm_store_put_time(p, rec->last_retry, base);

    if (rec->token) {
        p = ngx_cpymem(p, &rec->token, sizeof(uint64_t));
    }

    if (rec->hash) {
        p = ngx_cpymem(p, &rec->hash, sizeof(uint64_t));
    }

    if (rec->last_token) {
        p = ngx_cpymem(p, &rec->last_token, sizeof(uint64_t));
    }

    if (rec->note) {
        p = ngx_cpymem(p, &rec->note, sizeof(uint64_t));
    }

    if (rec->prev_token) {
        p = ngx_cpymem(p, &rec->prev_token, sizeof(uint64_t));
        p = ngx_http_itsm_store_varint(p, rec->prev_result);
        p = ngx_http_itsm_store_varint(p, rec->prev_status);
        p = ngx_http_itsm_store_put_time(p, rec->prev_retry, base);
    }

    len = ngx_min(rec->ticket.len, NGX_HTTP_ITSM_TICKET_MAX);

    *p++ = (u_char) len;

    return ngx_cpymem(p, rec->ticket.data, len);
}


/* NGX_OK, or NGX_DECLINED for bytes that are not a record of version 3 */

static ngx_int_t
ngx_http_itsm_store_decode_v3(u_char *p, u_char *last,
    ngx_http_itsm_record_t *rec)
{
    u_char      flags;
    size_t      len;
    uint64_t    n[4];
    time_t      base, *times[6];
    ngx_uint_t  i;

    if (last - p < 4) {
        return NGX_DECLINED;
    }

    ngx_memzero(rec, sizeof(ngx_http_itsm_record_t));

    rec->state = p[1] & 0x7f;
    rec->pending = (p[1] & 0x80) ? 1 : 0;
    rec->last_result = p[2];
    flags = p[3];
    p += 4;

    for (i = 0; i < 4; i++) {
        p = ngx_http_itsm_store_get_varint(p, last, &n[i]);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    rec->owner = (ngx_uint_t) n[0];
    rec->occurrences = (ngx_uint_t) n[1];
    rec->last_status = (ngx_uint_t) n[2];
    base = ngx_http_itsm_store_unzigzag(n[3]);
    rec->first_seen = base;

    times[0] = &rec->lease_until;
    times[1] = &rec->last_seen;
    times[2] = &rec->last_action;
    times[3] = &rec->resolved_at;
    times[4] = &rec->doubt;
    times[5] = &rec->last_retry;

    for (i = 0; i < 6; i++) {
        p = ngx_http_itsm_store_get_varint(p, last, &n[0]);
        if (p == NULL) {
            return NGX_DECLINED;
        }

        *times[i] = n[0] ? base + ngx_http_itsm_store_unzigzag(n[0] - 1) : 0;
    }

    if (flags & NGX_HTTP_ITSM_STORE_V3_TOKEN) {
        p = ngx_http_itsm_store_get_u64(p, last, &rec->token);
    }

    if (p && (flags & NGX_HTTP_ITSM_STORE_V3_HASH)) {
        p = ngx_http_itsm_store_get_u64(p, last, &rec->hash);
    }

    if (p && (flags & NGX_HTTP_ITSM_STORE_V3_LAST_TOKEN)) {
        p = ngx_http_itsm_store_get_u64(p, last, &rec->last_token);
    }

    if (p && (flags & NGX_HTTP_ITSM_STORE_V3_NOTE)) {
        p = ngx_http_itsm_store_get_u64(p, last, &rec->note);
    }

    if (p && (flags & NGX_HTTP_ITSM_STORE_V3_PREV)) {
        p = ngx_http_itsm_store_decode_prev(p, last, rec, base);
    }

    if (p == NULL || p == last) {
        return NGX_DECLINED;
    }

    len = *p++;

    if (len > NGX_HTTP_ITSM_TICKET_MAX || (size_t) (last - p) != len) {
        return NGX_DECLINED;
    }

    ngx_memcpy(rec->ticket_data, p, len);
    rec->ticket.data = rec->ticket_data;
    rec->ticket.len = len;

    return NGX_OK;
}


/* a time: 0 (none), or its zigzagged distance to "base", + 1 */

/* the claim before the last: its token, result, status and Retry-After */

static u_char *
ngx_http_itsm_store_decode_prev(u_char *p, u_char *last,
    ngx_http_itsm_record_t *rec, time_t base)
{
    uint64_t    n[3];
    ngx_uint_t  i;

    p = ngx_http_itsm_store_get_u64(p, last, &rec->prev_token);

    for (i = 0; p && i < 3; i++) {
        p = ngx_http_itsm_store_get_varint(p, last, &n[i]);
    }

    if (p == NULL) {
        return NULL;
    }

    rec->prev_result = (ngx_uint_t) n[0];
    rec->prev_status = (ngx_uint_t) n[1];
    rec->prev_retry = n[2] ? base + ngx_http_itsm_store_unzigzag(n[2] - 1) : 0;

    return p;
}


static u_char *
ngx_http_itsm_store_put_time(u_char *p, time_t t, time_t base)
{
    if (t == 0) {
        return ngx_http_itsm_store_varint(p, 0);
    }

    return ngx_http_itsm_store_varint(p,
                                      ngx_http_itsm_store_zigzag(t - base) + 1);
}


/* a signed number as an unsigned one whose size follows its magnitude */

static uint64_t
ngx_http_itsm_store_zigzag(int64_t n)
{
    return ((uint64_t) n << 1) ^ (uint64_t) (n >> 63);
}


static int64_t
ngx_http_itsm_store_unzigzag(uint64_t n)
{
    return (int64_t) (n >> 1) ^ -(int64_t) (n & 1);
}


/* 7 bits a byte, the lowest first; at most 10 bytes */

static u_char *
ngx_http_itsm_store_varint(u_char *p, uint64_t n)
{
    while (n >= 0x80) {
        *p++ = (u_char) (n | 0x80);
        n >>= 7;
    }

    *p++ = (u_char) n;

    return p;
}


/* NULL: past "last", or longer than 10 bytes */

static u_char *
ngx_http_itsm_store_get_varint(u_char *p, u_char *last, uint64_t *n)
{
    ngx_uint_t  shift;

    *n = 0;

    for (shift = 0; shift < 64 && p < last; shift += 7) {
        *n |= (uint64_t) (*p & 0x7f) << shift;

        if ((*p++ & 0x80) == 0) {
            return p;
        }
    }

    return NULL;
}


static u_char *
ngx_http_itsm_store_get_u64(u_char *p, u_char *last, uint64_t *n)
{
    if (last - p < (ssize_t) sizeof(uint64_t)) {
        return NULL;
    }

    /* LMDB data is not aligned for us */
    ngx_memcpy(n, p, sizeof(uint64_t));

    return p + sizeof(uint64_t);
}
