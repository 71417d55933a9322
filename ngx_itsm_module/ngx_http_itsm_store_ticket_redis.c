
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_store_ticket.h"
#include "ngx_http_itsm_store_redis.h"


/*
 * A callback applied on Redis (itsm_store redis, docs/redis.md): what
 * LMDB does in one write transaction (ngx_http_itsm_store_ticket.c) done
 * as an optimistic change of the key's slot:
 *
 *   1. the index P{t:c:T} names the key (written before each commit of a
 *      record with a ticket, ngx_http_itsm_store_redis.c); a profile
 *      whose ticket is the key (opsgenie's alias) has none;
 *   2. one script reads the claim, the record and the ticket entry of the
 *      key's slot ({c:K}: :c, :r, :t);
 *   3. the same decision as LMDB's (ngx_http_itsm_store_ticket_seen,
 *      _decide) runs here, in C;
 *   4. a compare-and-set script writes the new record and entry only if
 *      the claim, the record and the entry are as read; else the read is
 *      made again, NGX_HTTP_ITSM_STORE_TICKET_TRIES times at most (a key
 *      that busy is answered as a store that cannot take the callback:
 *      the ITSM sends it again).
 *
 * The index is in another slot than the key (Redis Cluster runs a script
 * on one slot only), so it is never written with the record: a stale
 * index (the key expired, or has another ticket since) is found by the
 * record's ticket and removed here, as LMDB does.
 *
 * The entry is the LMDB entry as text, with the ticket it is of, so that
 * the commit script can read its state and HELD flag without C:
 * "t1 state flags order event updated ticketlen assigneelen\n" ticket
 * assignee (order and updated decimal, event in hex).
 */


#define NGX_HTTP_ITSM_STORE_TICKET_TRIES  5

#define NGX_HTTP_ITSM_STORE_TICKET_ENTRY                                      \
    (64 + NGX_HTTP_ITSM_TICKET_MAX * 2 + NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX     \
     + 128)


/* KEYS: :c, :r, :t */
#define NGX_HTTP_ITSM_STORE_TICKET_READ                                       \
    "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]),"        \
    " redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[3])}"

/*
 * KEYS: :c, :r, :t; ARGV: the claim, record and entry as read ("": none),
 * "w" (write) or "d" (the key and its entry deleted), the record's new
 * codec ("": unchanged), the new entry, the record's expiry in ms (0:
 * kept).  The header and the key's text are the record's own: only what
 * the callback changes (the codec's state) is replaced.  The entry lives
 * as long as its record.  0: changed since the read; 1: written.
 */
#define NGX_HTTP_ITSM_STORE_TICKET_CAS                                        \
    "if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1]"                       \
    " or (redis.call('GET', KEYS[2]) or '') ~= ARGV[2]"                      \
    " or (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then return 0 end\n"  \
    "if ARGV[4] == 'd' then redis.call('DEL', KEYS[2], KEYS[3])"             \
    " return 1 end\n"                                                        \
    "if ARGV[5] ~= '' then\n"                                                \
    "  local r = ARGV[2]\n"                                                  \
    "  local nl = string.find(r, '\\n', 1, true)\n"                          \
    "  local kl = tonumber(string.match(string.sub(r, 1, nl - 1),"           \
    " '(%d+)$'))\n"                                                          \
    "  redis.call('SET', KEYS[2], string.sub(r, 1, nl + kl) .. ARGV[5])\n"   \
    "  if ARGV[7] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[7]) end\n" \
    "end\n"                                                                  \
    "redis.call('SET', KEYS[3], ARGV[6])\n"                                  \
    "local ttl = redis.call('PTTL', KEYS[2])\n"                              \
    "if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end\n"              \
    "return 1"

/* KEYS: the index; ARGV: the key's text: removed only if still this
 * key's (another key may have the ticket since) */
#define NGX_HTTP_ITSM_STORE_TICKET_UNINDEX                                    \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then"                          \
    " return redis.call('DEL', KEYS[1]) end return 0"


typedef enum {
    NGX_HTTP_ITSM_STORE_TICKET_STEP_INDEX = 0,
    NGX_HTTP_ITSM_STORE_TICKET_STEP_READ,
    NGX_HTTP_ITSM_STORE_TICKET_STEP_WRITE,
    NGX_HTTP_ITSM_STORE_TICKET_STEP_UNINDEX
} ngx_http_itsm_store_ticket_step_e;


typedef struct {
    ngx_http_itsm_store_ticket_t     *cb;
    ngx_pool_t                       *pool;
    ngx_str_t                         key;      /* the alert key's text */
    ngx_str_t                         claim;    /* as read, for the CAS */
    ngx_str_t                         record;
    ngx_str_t                         entry;
    ngx_uint_t                        step;
    ngx_uint_t                        tries;
    ngx_uint_t                        indexed;  /* the index named the key */
    ngx_uint_t                        touched;  /* the record changed */
    ngx_uint_t                        state;    /* the record's new state */
    ngx_str_t                         ik;       /* the index's key */
} ngx_http_itsm_store_ticket_redis_t;


static ngx_int_t ngx_http_itsm_store_ticket_redis_read(
    ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_ticket_redis_decided(
    ngx_http_itsm_store_op_t *op, redisReply *reply);
static void ngx_http_itsm_store_ticket_redis_answer(void *data,
    redisReply *reply, ngx_str_t *error);
static ngx_int_t ngx_http_itsm_store_ticket_redis_sent(
    ngx_http_itsm_store_op_t *op, ngx_http_itsm_redis_cmd_t *cmd);
static ngx_int_t ngx_http_itsm_store_ticket_redis_copy(ngx_pool_t *pool,
    redisReply *reply, ngx_str_t *s);
static ngx_int_t ngx_http_itsm_store_ticket_entry_decode(ngx_str_t *s,
    ngx_str_t *ticket, ngx_http_itsm_store_ticket_rec_t *entry,
    ngx_str_t *assignee);
static u_char *ngx_http_itsm_store_ticket_entry_encode(u_char *p,
    ngx_http_itsm_store_ticket_rec_t *entry, ngx_str_t *ticket,
    ngx_str_t *assignee);
static void ngx_http_itsm_store_ticket_redis_forgotten(void *data,
    redisReply *reply, ngx_str_t *error);


/* NGX_AGAIN (op->handler is called with op->rc: NGX_OK, cb->result says
 * what was done, or NGX_ERROR), NGX_OK (decided at once), NGX_ERROR */

ngx_int_t
ngx_http_itsm_store_ticket_redis(ngx_http_itsm_store_op_t *op,
    ngx_pool_t *pool)
{
    ngx_http_itsm_store_ticket_t        *cb;
    ngx_http_itsm_store_ticket_redis_t  *tr;

    cb = op->ticket;

    cb->result = NGX_HTTP_ITSM_TICKET_UNKNOWN;
    cb->known = NGX_HTTP_ITSM_TICKET_NONE;
    cb->before = NGX_HTTP_ITSM_KEY_NONE;
    cb->after = NGX_HTTP_ITSM_KEY_NONE;
    cb->key.data = cb->key_data;
    cb->key.len = 0;
    cb->assignee.data = cb->assignee_data;
    cb->assignee.len = 0;

    if (op->connector->len > 64
        || cb->ticket.len > (cb->by_key ? NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX
                                        : NGX_HTTP_ITSM_TICKET_MAX))
    {
        return NGX_OK;                          /* no key has it */
    }

    tr = ngx_pcalloc(pool, sizeof(ngx_http_itsm_store_ticket_redis_t));
    if (tr == NULL) {
        return NGX_ERROR;
    }

    tr->cb = cb;
    tr->pool = pool;
    op->state = tr;

    /* a profile whose ticket is the key: the key is known, no index */

    if (cb->by_key) {
        tr->key = cb->ticket;
        op->key = &tr->key;

        return ngx_http_itsm_store_ticket_redis_read(op);
    }

    op->key = &cb->ticket;

    tr->ik.data = ngx_pnalloc(pool, NGX_HTTP_ITSM_STORE_REDIS_INDEX_MAX);
    if (tr->ik.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_store_redis_index_key(op->store, op->connector,
                                            &cb->ticket, tr->ik.data, &tr->ik)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    tr->step = NGX_HTTP_ITSM_STORE_TICKET_STEP_INDEX;

    return ngx_http_itsm_store_ticket_redis_sent(op,
               ngx_http_itsm_redis_command(op->store->redis,
                   ngx_http_itsm_store_ticket_redis_answer, op, "GET %b",
                   tr->ik.data, tr->ik.len));
}


static ngx_int_t
ngx_http_itsm_store_ticket_redis_read(ngx_http_itsm_store_op_t *op)
{
    ngx_http_itsm_store_redis_keys_t     keys;
    ngx_http_itsm_store_ticket_redis_t  *tr = op->state;

    if (ngx_http_itsm_store_redis_keys(op->store, op->connector, &tr->key,
                                       &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    tr->step = NGX_HTTP_ITSM_STORE_TICKET_STEP_READ;
    tr->tries++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: ticket \"%V\" read, try %ui",
                   &tr->cb->ticket, tr->tries);

    return ngx_http_itsm_store_ticket_redis_sent(op,
               ngx_http_itsm_redis_script(op->store->redis,
                   ngx_http_itsm_store_ticket_redis_answer, op,
                   "EVAL %s 3 %b %b %b", NGX_HTTP_ITSM_STORE_TICKET_READ,
                   keys.c.data, keys.c.len, keys.r.data, keys.r.len,
                   keys.t.data, keys.t.len));
}


/*
 * The slot as read: LMDB's decision, then what it wrote sent as one
 * compare-and-set.  NGX_OK: nothing to write (cb->result says why).
 */

static ngx_int_t
ngx_http_itsm_store_ticket_redis_decided(ngx_http_itsm_store_op_t *op,
    redisReply *reply)
{
    u_char                              *p, *e;
    u_char                               raw[NGX_HTTP_ITSM_STORE_V3_MAX];
    u_char                              *entry;
    time_t                               now;
    ngx_int_t                            rc, found;
    ngx_str_t                            ticket, assignee;
    ngx_msec_t                           expire;
    ngx_http_itsm_record_t               rec;
    ngx_http_itsm_store_ticket_t        *cb;
    ngx_http_itsm_store_redis_keys_t     keys;
    ngx_http_itsm_store_ticket_rec_t     ent;
    ngx_http_itsm_store_ticket_redis_t  *tr = op->state;

    cb = tr->cb;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4
        || ngx_http_itsm_store_ticket_redis_copy(tr->pool, reply->element[0],
                                                 &tr->claim)
           != NGX_OK
        || ngx_http_itsm_store_ticket_redis_copy(tr->pool, reply->element[1],
                                                 &tr->record)
           != NGX_OK
        || ngx_http_itsm_store_ticket_redis_copy(tr->pool, reply->element[3],
                                                 &tr->entry)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the entry is this ticket's, or the key's has moved on: a new one */

    ngx_memzero(&ent, sizeof(ngx_http_itsm_store_ticket_rec_t));
    ngx_str_null(&assignee);

    if (tr->entry.len
        && (ngx_http_itsm_store_ticket_entry_decode(&tr->entry, &ticket, &ent,
                                                    &assignee)
            != NGX_OK
            || ticket.len != cb->ticket.len
            || ngx_memcmp(ticket.data, cb->ticket.data, ticket.len) != 0))
    {
        ngx_memzero(&ent, sizeof(ngx_http_itsm_store_ticket_rec_t));
        ngx_str_null(&assignee);
    }

    cb->result = NGX_HTTP_ITSM_TICKET_UNKNOWN;
    cb->before = NGX_HTTP_ITSM_KEY_NONE;
    cb->after = NGX_HTTP_ITSM_KEY_NONE;
    cb->key.len = ngx_min(tr->key.len, NGX_HTTP_ITSM_STORE_KEY_TEXT);
    ngx_memcpy(cb->key_data, tr->key.data, cb->key.len);
    cb->assignee.len = ngx_min(assignee.len, NGX_HTTP_ITSM_TICKET_MAX);
    ngx_memcpy(cb->assignee_data, assignee.data, cb->assignee.len);
    cb->known = ent.state;

    if (ngx_http_itsm_store_ticket_seen(cb, &ent) == NGX_DONE) {
        return NGX_OK;
    }

    found = ngx_http_itsm_store_redis_decode(op->store, reply->element[0],
                                             reply->element[1],
                                             reply->element[2]->integer,
                                             &rec);
    if (found == NGX_ERROR) {
        return NGX_ERROR;
    }

    now = ngx_time();

    rc = ngx_http_itsm_store_ticket_decide(op->store->log, cb, &ent,
                                           found == NGX_OK && tr->record.len
                                           ? &rec : NULL, now);

    if (rc == NGX_DECLINED) {

        /* the key expired, or has another ticket: the index is stale */

        if (!tr->indexed) {
            return NGX_OK;
        }

        tr->step = NGX_HTTP_ITSM_STORE_TICKET_STEP_UNINDEX;

        return ngx_http_itsm_store_ticket_redis_sent(op,
                   ngx_http_itsm_redis_script(op->store->redis,
                       ngx_http_itsm_store_ticket_redis_answer, op,
                       "EVAL %s 1 %b %b", NGX_HTTP_ITSM_STORE_TICKET_UNINDEX,
                       tr->ik.data, tr->ik.len, tr->key.data, tr->key.len));
    }

    if (ngx_http_itsm_store_redis_keys(op->store, op->connector, &tr->key,
                                       &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the record's codec when its state changed; it is written without
     * the claim (a record that changes has none: ..._decide) */

    p = raw;
    expire = 0;
    tr->touched = (rc == NGX_OK && cb->after != cb->before);
    tr->state = cb->after;

    if (tr->touched) {
        rec.pending = 0;
        rec.owner = 0;
        rec.lease_until = 0;
        rec.token = 0;
        p = ngx_http_itsm_store_encode(&rec, raw);

        if (rec.state == NGX_HTTP_ITSM_KEY_RESOLVED) {
            expire = (ngx_msec_t) op->store->retention * 1000;
        }
    }

    entry = ngx_pnalloc(tr->pool, NGX_HTTP_ITSM_STORE_TICKET_ENTRY);
    if (entry == NULL) {
        return NGX_ERROR;
    }

    e = ngx_http_itsm_store_ticket_entry_encode(entry, &ent, &cb->ticket,
                                                &cb->assignee);

    tr->step = NGX_HTTP_ITSM_STORE_TICKET_STEP_WRITE;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: ticket \"%V\" %s, key state %ui -> %ui",
                   &cb->ticket, rc == NGX_ABORT ? "deleted" : "written",
                   cb->before, cb->after);

    return ngx_http_itsm_store_ticket_redis_sent(op,
               ngx_http_itsm_redis_script(op->store->redis,
                   ngx_http_itsm_store_ticket_redis_answer, op,
                   "EVAL %s 3 %b %b %b %b %b %b %s %b %b %llu",
                   NGX_HTTP_ITSM_STORE_TICKET_CAS,
                   keys.c.data, keys.c.len, keys.r.data, keys.r.len,
                   keys.t.data, keys.t.len,
                   tr->claim.data, tr->claim.len,
                   tr->record.data, tr->record.len,
                   tr->entry.data, tr->entry.len,
                   rc == NGX_ABORT ? "d" : "w",
                   raw, (size_t) (p - raw),
                   entry, (size_t) (e - entry),
                   (unsigned long long) expire));
}


static void
ngx_http_itsm_store_ticket_redis_answer(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_op_t *op = data;

    ngx_int_t                            rc;
    ngx_http_itsm_store_ticket_redis_t  *tr = op->state;

    op->backend = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: no answer for the callback of "
                      "ticket \"%V\": %V", &tr->cb->ticket, error);
        rc = NGX_ERROR;
        goto done;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the callback of ticket \"%V\": %*s",
                      &tr->cb->ticket, (size_t) reply->len, reply->str);
        rc = NGX_ERROR;
        goto done;
    }

    switch (tr->step) {

    case NGX_HTTP_ITSM_STORE_TICKET_STEP_INDEX:

        if (reply->type == REDIS_REPLY_NIL) {
            rc = NGX_OK;                        /* no key has this ticket */
            break;
        }

        if (reply->type != REDIS_REPLY_STRING
            || ngx_http_itsm_store_ticket_redis_copy(tr->pool, reply, &tr->key)
               != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }

        tr->indexed = 1;
        op->key = &tr->key;
        rc = ngx_http_itsm_store_ticket_redis_read(op);
        break;

    case NGX_HTTP_ITSM_STORE_TICKET_STEP_READ:

        rc = ngx_http_itsm_store_ticket_redis_decided(op, reply);
        break;

    case NGX_HTTP_ITSM_STORE_TICKET_STEP_WRITE:

        if (reply->type != REDIS_REPLY_INTEGER) {
            rc = NGX_ERROR;
            break;
        }

        if (reply->integer == 0) {

            /* the key changed between the read and the write (an alert,
             * another callback, on this edge or another): read again */

            if (tr->tries >= NGX_HTTP_ITSM_STORE_TICKET_TRIES) {
                ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                              "itsm_store redis: the key of ticket \"%V\" "
                              "changed under each of %ui tries to apply its "
                              "callback; the ITSM is asked to send it again",
                              &tr->cb->ticket, tr->tries);
                rc = NGX_ERROR;
                break;
            }

            rc = ngx_http_itsm_store_ticket_redis_read(op);
            break;
        }

        /* the index lives as long as the key's record: resolved keys are
         * forgotten after retention=, open ones kept (fire and forget: an
         * index that outlives its record is found stale) */

        if (tr->indexed && tr->touched) {
            if (tr->state == NGX_HTTP_ITSM_KEY_RESOLVED) {
                (void) ngx_http_itsm_redis_command(op->store->redis,
                           ngx_http_itsm_store_ticket_redis_forgotten, NULL,
                           "PEXPIRE %b %llu", tr->ik.data, tr->ik.len,
                           (unsigned long long) op->store->retention * 1000);
            } else {
                (void) ngx_http_itsm_redis_command(op->store->redis,
                           ngx_http_itsm_store_ticket_redis_forgotten, NULL,
                           "PERSIST %b", tr->ik.data, tr->ik.len);
            }
        }

        rc = NGX_OK;
        break;

    default: /* NGX_HTTP_ITSM_STORE_TICKET_STEP_UNINDEX */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                       "itsm store redis: stale index of ticket \"%V\" "
                       "removed", &tr->cb->ticket);
        rc = NGX_OK;
        break;
    }

done:

    if (rc == NGX_AGAIN) {
        return;                                 /* the next step is sent */
    }

    op->rc = rc;
    op->handler(op);
}


static ngx_int_t
ngx_http_itsm_store_ticket_redis_sent(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_redis_cmd_t *cmd)
{
    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the callback of ticket \"%V\" could "
                      "not be sent: %V",
                      &((ngx_http_itsm_store_ticket_redis_t *) op->state)
                          ->cb->ticket,
                      ngx_http_itsm_redis_error(op->store->redis));
        return NGX_ERROR;
    }

    op->backend = cmd;

    return NGX_AGAIN;
}


/* a string of the reply, kept past it ("" for nil) */

static ngx_int_t
ngx_http_itsm_store_ticket_redis_copy(ngx_pool_t *pool, redisReply *reply,
    ngx_str_t *s)
{
    if (reply->type == REDIS_REPLY_NIL) {
        ngx_str_set(s, "");
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    s->len = reply->len;
    s->data = ngx_pnalloc(pool, reply->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, reply->str, reply->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_store_ticket_entry_decode(ngx_str_t *s, ngx_str_t *ticket,
    ngx_http_itsm_store_ticket_rec_t *entry, ngx_str_t *assignee)
{
    u_char      *p, *last, *nl;
    uint64_t     n[7];
    ngx_uint_t   i;

    p = s->data;
    last = p + s->len;

    nl = ngx_strlchr(p, last, '\n');

    if (nl == NULL || s->len < 3 || ngx_strncmp(p, "t1 ", 3) != 0) {
        return NGX_DECLINED;
    }

    p += 3;

    /* state flags order event updated ticketlen assigneelen: the event
     * in hex, the rest decimal */

    for (i = 0; i < 7; i++) {
        n[i] = 0;

        while (p < nl && *p == ' ') {
            p++;
        }

        if (p == nl) {
            return NGX_DECLINED;
        }

        while (p < nl && *p != ' ') {
            if (i == 3) {
                n[i] = n[i] * 16 + (*p >= 'a' ? *p - 'a' + 10 : *p - '0');
            } else {
                n[i] = n[i] * 10 + (*p - '0');
            }
            p++;
        }
    }

    if (n[5] > NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX
        || n[6] > NGX_HTTP_ITSM_TICKET_MAX
        || (size_t) (last - nl - 1) != n[5] + n[6])
    {
        return NGX_DECLINED;
    }

    entry->state = (uint8_t) n[0];
    entry->flags = (uint32_t) n[1];
    entry->order = n[2];
    entry->event = n[3];
    entry->updated = (int64_t) n[4];

    ticket->data = nl + 1;
    ticket->len = n[5];
    assignee->data = nl + 1 + n[5];
    assignee->len = n[6];

    return NGX_OK;
}


static u_char *
ngx_http_itsm_store_ticket_entry_encode(u_char *p,
    ngx_http_itsm_store_ticket_rec_t *entry, ngx_str_t *ticket,
    ngx_str_t *assignee)
{
    p = ngx_sprintf(p, "t1 %ui %ui %uL %016xL %L %uz %uz\n",
                    (ngx_uint_t) entry->state, (ngx_uint_t) entry->flags,
                    entry->order, entry->event, (int64_t) entry->updated,
                    ticket->len, assignee->len);
    p = ngx_cpymem(p, ticket->data, ticket->len);

    return ngx_cpymem(p, assignee->data, assignee->len);
}


static void
ngx_http_itsm_store_ticket_redis_forgotten(void *data, redisReply *reply,
    ngx_str_t *error)
{
    if (error || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "itsm_store redis: the expiry of a ticket index was "
                      "not changed; it is found stale or refreshed by the "
                      "key's next commit");
    }
}
