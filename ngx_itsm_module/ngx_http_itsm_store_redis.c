
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_redis.h"
#include "ngx_http_itsm_store_ticket.h"
#include "ngx_http_itsm_store_redis.h"


/*
 * The records of the alert -> ticket map on Redis (itsm_store redis,
 * docs/redis.md), so that several nginx edges share them.  Two keys per
 * alert key, in one hash slot:
 *
 *   P{c:K}:c  the claim, "token hash owner", SET NX PX lease: a claim
 *             whose edge died ends with its lease, with no walk;
 *   P{c:K}:r  the record: a header line, the key's text, then the LMDB
 *             store's codec bytes (ngx_http_itsm_store_codec.c);
 *   P{c:K}:t  what the ITSM last said of the key's ticket (its callbacks,
 *             ngx_http_itsm_store_ticket_redis.c).
 *
 * and, in a slot of its own, the ticket index P{t:c:T} (ticket T of
 * connector c -> the key's text), written before a commit of a record
 * with a ticket, so that a callback never finds a ticket whose index is
 * missing.
 *
 * The header carries, as text, what the scripts must change without
 * decoding the codec: "r1 doubt hash last_token last_result last_status
 * last_retry prev_token prev_result prev_status prev_retry keylen\n"
 * (tokens and hashes in hex).  It wins over the codec's copy of the same
 * fields when read.
 *
 * Every change of a claim is a script that first compares the claim's
 * token (fencing): a request whose claim expired and was taken over can
 * never commit, doubt or release over its successor's work.
 *
 * Get, claim, doubt and commit answer later (NGX_AGAIN, op->handler);
 * renew and release are sent and forgotten: a failure leaves the claim to
 * its lease.  A command answered is applied: Redis has no flush to wait
 * for (README: appendfsync always for "a 2xx means durable").
 */


#define NGX_HTTP_ITSM_STORE_REDIS_HEADER  256


/* KEYS: :c, :r */
#define NGX_HTTP_ITSM_STORE_REDIS_GET                                         \
    "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]),"        \
    " redis.call('PTTL', KEYS[1])}"

/*
 * KEYS: :c, :r; ARGV: token, hash, owner, lease ms, create, now, the
 * record to start from when there is none.  Refused: {0, claim, record,
 * pttl}; won: {1, record before}.  A claim made to create writes its doubt
 * into the record in the same script: an edge that takes the key over
 * after this one died knows that the ITSM may have the ticket.
 */
#define NGX_HTTP_ITSM_STORE_REDIS_CLAIM                                       \
    "local cur = redis.call('GET', KEYS[1])\n"                               \
    "local rec = redis.call('GET', KEYS[2])\n"                               \
    "if cur then return {0, cur, rec, redis.call('PTTL', KEYS[1])} end\n"    \
    "redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3],"\
    " 'PX', ARGV[4])\n"                                                      \
    "if ARGV[5] == '1' then\n"                                               \
    "  local r = rec or ARGV[7]\n"                                           \
    "  local nl = string.find(r, '\\n', 1, true)\n"                          \
    "  local f = {}\n"                                                       \
    "  for w in string.gmatch(string.sub(r, 4, nl - 1), '%S+') do"           \
    " f[#f + 1] = w end\n"                                                   \
    "  if f[1] == '0' then\n"                                                \
    "    f[1] = ARGV[6]\n"                                                   \
    "    redis.call('SET', KEYS[2], 'r1 ' .. table.concat(f, ' ')"           \
    " .. string.sub(r, nl))\n"                                               \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "return {1, rec}"

/* KEYS: :c, :r; ARGV: token, now, the record to start from.
 * 0: not our claim; 1: doubt written; 2: it was there */
#define NGX_HTTP_ITSM_STORE_REDIS_DOUBT                                       \
    "local cur = redis.call('GET', KEYS[1])\n"                               \
    "if not cur or string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then"  \
    " return 0 end\n"                                                        \
    "local r = redis.call('GET', KEYS[2]) or ARGV[3]\n"                      \
    "local nl = string.find(r, '\\n', 1, true)\n"                            \
    "local f = {}\n"                                                         \
    "for w in string.gmatch(string.sub(r, 4, nl - 1), '%S+') do"             \
    " f[#f + 1] = w end\n"                                                   \
    "if f[1] ~= '0' then return 2 end\n"                                     \
    "f[1] = ARGV[2]\n"                                                       \
    "redis.call('SET', KEYS[2], 'r1 ' .. table.concat(f, ' ')"               \
    " .. string.sub(r, nl))\n"                                               \
    "return 1"

/*
 * commit and release: KEYS: :c, :r, :t; ARGV: token, doubt, hash ("-":
 * the claim's), "how this claim ended" (4 fields), the key's text and
 * codec bytes, retention ms (0: kept), the record's ticket, then the
 * codec and retention of the record after a held "open", "resolved" and
 * "deleted" ("": as the record is).  The claim's end becomes the record's
 * last, and the last the previous (a request that joined an older claim
 * still reads its outcome).  A state the ITSM sent while the claim held
 * the key (the entry's HELD flag, 1) is applied now, as LMDB's
 * ngx_http_itsm_store_ticket_held does: the ticket states 1, 2 (open,
 * acknowledged), 3, 4 (resolved, closed), 5 (deleted) pick the record
 * C made for them.  The entry lives as long as the record.  0: not our
 * claim (fenced); 1: written; 10, 11, 12: written with a held open,
 * resolved, deleted that changed the record.
 */
#define NGX_HTTP_ITSM_STORE_REDIS_END                                         \
    "local cur = redis.call('GET', KEYS[1])\n"                               \
    "if not cur or string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then"  \
    " return 0 end\n"                                                        \
    "local prev = '0 0 0 0'\n"                                               \
    "local old = redis.call('GET', KEYS[2])\n"                               \
    "if old then\n"                                                          \
    "  local nl = string.find(old, '\\n', 1, true)\n"                        \
    "  local f = {}\n"                                                       \
    "  for w in string.gmatch(string.sub(old, 4, nl - 1), '%S+') do"         \
    " f[#f + 1] = w end\n"                                                   \
    "  prev = f[3] .. ' ' .. f[4] .. ' ' .. f[5] .. ' ' .. f[6]\n"           \
    "end\n"                                                                  \
    "local hash = ARGV[3]\n"                                                 \
    "if hash == '-' then hash = string.match(cur, '^%S+ (%S+)') end\n"       \
    "local codec, exp, held = ARGV[6], ARGV[7], 1\n"                         \
    "local t = redis.call('GET', KEYS[3])\n"                                 \
    "if t then\n"                                                            \
    "  local nl = string.find(t, '\\n', 1, true)\n"                          \
    "  local f = {}\n"                                                       \
    "  for w in string.gmatch(string.sub(t, 4, nl - 1), '%S+') do"           \
    " f[#f + 1] = w end\n"                                                   \
    "  local tk = string.sub(t, nl + 1, nl + tonumber(f[6]))\n"              \
    "  local fl = tonumber(f[2])\n"                                          \
    "  if fl % 2 == 1 and (tk == ARGV[8] or tk == ARGV[5]) then\n"           \
    "    local s, v = tonumber(f[1]), 0\n"                                   \
    "    if s == 1 or s == 2 then v = 9"                                     \
    " elseif s == 3 or s == 4 then v = 11 elseif s == 5 then v = 13 end\n"  \
    "    if v > 0 and ARGV[v] ~= '' then"                                    \
    " codec = ARGV[v]; exp = ARGV[v + 1]; held = 10 + (v - 9) / 2 end\n"    \
    "    f[2] = tostring(fl - 1)\n"                                          \
    "    redis.call('SET', KEYS[3], 't1 ' .. table.concat(f, ' ')"           \
    " .. string.sub(t, nl))\n"                                               \
    "  end\n"                                                                \
    "  if exp ~= '0' then redis.call('PEXPIRE', KEYS[3], exp)"               \
    " else redis.call('PERSIST', KEYS[3]) end\n"                             \
    "end\n"                                                                  \
    "redis.call('SET', KEYS[2], 'r1 ' .. ARGV[2] .. ' ' .. hash .. ' '"      \
    " .. ARGV[4] .. ' ' .. prev .. ' ' .. #ARGV[5] .. '\\n' .. ARGV[5]"      \
    " .. codec)\n"                                                           \
    "if exp ~= '0' then redis.call('PEXPIRE', KEYS[2], exp) end\n"           \
    "redis.call('DEL', KEYS[1])\n"                                           \
    "return held"

/* KEYS: :c; ARGV: token, lease ms */
#define NGX_HTTP_ITSM_STORE_REDIS_RENEW                                       \
    "local cur = redis.call('GET', KEYS[1])\n"                               \
    "if not cur or string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then"  \
    " return 0 end\n"                                                        \
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2])"


static ngx_int_t ngx_http_itsm_store_redis_get(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_redis_claim(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_redis_doubt(ngx_http_itsm_store_op_t *op);
static ngx_int_t ngx_http_itsm_store_redis_commit(
    ngx_http_itsm_store_op_t *op);
static void ngx_http_itsm_store_redis_cancel(ngx_http_itsm_store_op_t *op);
static void ngx_http_itsm_store_redis_answer(void *data, redisReply *reply,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_store_redis_got(ngx_http_itsm_store_op_t *op,
    redisReply *reply);
static u_char *ngx_http_itsm_store_redis_empty(u_char *p, ngx_str_t *key);
static ngx_int_t ngx_http_itsm_store_redis_end(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec,
    ngx_uint_t commit, ngx_http_itsm_redis_handler_pt handler, void *data);
static void ngx_http_itsm_store_redis_forgotten(void *data,
    redisReply *reply, ngx_str_t *error);
static ngx_int_t ngx_http_itsm_store_redis_wait(ngx_http_itsm_store_op_t *op);
static void ngx_http_itsm_store_redis_waited(void *data, redisReply *reply,
    ngx_str_t *error);
static void ngx_http_itsm_store_redis_indexed(void *data, redisReply *reply,
    ngx_str_t *error);


static ngx_str_t  ngx_http_itsm_store_redis_noerr = ngx_string("");


const ngx_http_itsm_store_ops_t  ngx_http_itsm_store_redis_ops = {
    ngx_http_itsm_store_redis_get,
    ngx_http_itsm_store_redis_claim,
    ngx_http_itsm_store_redis_doubt,
    ngx_http_itsm_store_redis_commit,
    ngx_http_itsm_store_redis_cancel
};


/* Redis unreachable: the caller answers as for a store that failed (503
 * with Retry-After), never a create without a claim */

static ngx_int_t
ngx_http_itsm_store_redis_sent(ngx_http_itsm_store_op_t *op,
    ngx_http_itsm_redis_cmd_t *cmd)
{
    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the %s of \"%V\" could not be sent: "
                      "%V",
                      op->what == NGX_HTTP_ITSM_STORE_OP_GET ? "get"
                      : op->what == NGX_HTTP_ITSM_STORE_OP_CLAIM ? "claim"
                      : op->what == NGX_HTTP_ITSM_STORE_OP_DOUBT ? "doubt"
                      : "commit", op->key,
                      ngx_http_itsm_redis_error(op->store->redis));
        return NGX_ERROR;
    }

    op->backend = cmd;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_itsm_store_redis_get(ngx_http_itsm_store_op_t *op)
{
    ngx_http_itsm_store_redis_keys_t  keys;

    if (ngx_http_itsm_store_redis_keys(op->store, op->connector, op->key,
                                       &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_itsm_store_redis_sent(op,
               ngx_http_itsm_redis_script(op->store->redis,
                   ngx_http_itsm_store_redis_answer, op, "EVAL %s 2 %b %b",
                   NGX_HTTP_ITSM_STORE_REDIS_GET, keys.c.data, keys.c.len,
                   keys.r.data, keys.r.len));
}


static ngx_int_t
ngx_http_itsm_store_redis_claim(ngx_http_itsm_store_op_t *op)
{
    u_char                            *p;
    u_char                             empty[NGX_HTTP_ITSM_STORE_REDIS_HEADER
                                          + NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX];
    ngx_http_itsm_store_redis_keys_t   keys;

    if (ngx_http_itsm_store_redis_keys(op->store, op->connector, op->key,
                                       &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the token is kept in the op until the answer puts it in the record */
    op->token = ngx_http_itsm_token();

    p = ngx_http_itsm_store_redis_empty(empty, op->key);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: claim \"%V\" token:%016xL create:%ui",
                   op->key, op->token, op->create);

    return ngx_http_itsm_store_redis_sent(op,
               ngx_http_itsm_redis_script(op->store->redis,
                   ngx_http_itsm_store_redis_answer, op,
                   "EVAL %s 2 %b %b %016llx %016llx %b:%d %lld %d %lld %b",
                   NGX_HTTP_ITSM_STORE_REDIS_CLAIM, keys.c.data, keys.c.len,
                   keys.r.data, keys.r.len,
                   (unsigned long long) op->token,
                   (unsigned long long) op->hash,
                   /* the host name is not null-terminated */
                   ngx_cycle->hostname.data, ngx_cycle->hostname.len,
                   (int) ngx_pid,
                   (long long) op->store->lease * 1000, (int) op->create,
                   (long long) ngx_time(), empty, (size_t) (p - empty)));
}


static ngx_int_t
ngx_http_itsm_store_redis_doubt(ngx_http_itsm_store_op_t *op)
{
    u_char                            *p;
    u_char                             empty[NGX_HTTP_ITSM_STORE_REDIS_HEADER
                                          + NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX];
    ngx_http_itsm_store_redis_keys_t   keys;

    if (ngx_http_itsm_store_redis_keys(op->store, op->connector, op->key,
                                       &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_itsm_store_redis_empty(empty, op->key);

    return ngx_http_itsm_store_redis_sent(op,
               ngx_http_itsm_redis_script(op->store->redis,
                   ngx_http_itsm_store_redis_answer, op,
                   "EVAL %s 2 %b %b %016llx %lld %b",
                   NGX_HTTP_ITSM_STORE_REDIS_DOUBT, keys.c.data, keys.c.len,
                   keys.r.data, keys.r.len, (unsigned long long) op->token,
                   (long long) ngx_time(), empty, (size_t) (p - empty)));
}


/*
 * A commit of a record with a ticket writes the ticket's index first,
 * and the record only once Redis has the index: the index is in another
 * slot (no script can write both), and a callback must never find a
 * ticket the index does not name.  An index without its commit is
 * harmless (a callback finds the record without the ticket and removes
 * it); a failed index write is a failed commit: the sender is answered
 * 503 and sends again, the claim ends by its release or lease (with its
 * doubt, so that the next copy asks the ITSM first).  The index lives as
 * long as the record: a resolved key is forgotten after retention=.
 */

static ngx_int_t
ngx_http_itsm_store_redis_commit(ngx_http_itsm_store_op_t *op)
{
    u_char                     buf[NGX_HTTP_ITSM_STORE_REDIS_INDEX_MAX];
    ngx_int_t                  rc;
    ngx_str_t                  ik;
    ngx_http_itsm_record_t    *rec;
    ngx_http_itsm_redis_cmd_t *cmd;

    rec = op->rec;

    if (rec->ticket.len == 0) {
        rc = ngx_http_itsm_store_redis_end(op->store, op->connector, op->key,
                                           rec, 1,
                                           ngx_http_itsm_store_redis_answer,
                                           op);

        return rc == NGX_ERROR ? NGX_ERROR : NGX_AGAIN;
    }

    if (ngx_http_itsm_store_redis_index_key(op->store, op->connector,
                                            &rec->ticket, buf, &ik)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: index ticket \"%V\" of \"%V\"",
                   &rec->ticket, op->key);

    if (rec->state == NGX_HTTP_ITSM_KEY_OPEN) {
        cmd = ngx_http_itsm_redis_command(op->store->redis,
                                          ngx_http_itsm_store_redis_indexed,
                                          op, "SET %b %b", ik.data, ik.len,
                                          op->key->data, op->key->len);
    } else {
        cmd = ngx_http_itsm_redis_command(op->store->redis,
                                          ngx_http_itsm_store_redis_indexed,
                                          op, "SET %b %b PX %llu",
                                          ik.data, ik.len,
                                          op->key->data, op->key->len,
                                          (unsigned long long)
                                          op->store->retention * 1000);
    }

    return ngx_http_itsm_store_redis_sent(op, cmd);
}


static void
ngx_http_itsm_store_redis_indexed(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_op_t *op = data;

    op->backend = NULL;

    if (error || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the index of ticket \"%V\" (key "
                      "\"%V\") was not written (%*s): its commit is not "
                      "sent", &op->rec->ticket, op->key,
                      error ? error->len : (size_t) reply->len,
                      error ? error->data : (u_char *) reply->str);
        op->rc = NGX_ERROR;
        op->handler(op);
        return;
    }

    if (ngx_http_itsm_store_redis_end(op->store, op->connector, op->key,
                                      op->rec, 1,
                                      ngx_http_itsm_store_redis_answer, op)
        != NGX_OK)
    {
        op->rc = NGX_ERROR;
        op->handler(op);
    }
}


static void
ngx_http_itsm_store_redis_cancel(ngx_http_itsm_store_op_t *op)
{
    ngx_http_itsm_redis_cancel(op->backend);
}


/*
 * The end of a claim: "commit" with the key's new state, or a release
 * with the record as the claim found it (how it ended in last_*).  The
 * record's fields the claim owns are set here as LMDB's change does
 * (ngx_http_itsm_store_record.c), then written by the script only if the
 * claim is still ours.
 */

static ngx_int_t
ngx_http_itsm_store_redis_end(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *rec,
    ngx_uint_t commit, ngx_http_itsm_redis_handler_pt handler, void *data)
{
    u_char                            *p;
    u_char                             hash[17], last[128];
    u_char                             raw[NGX_HTTP_ITSM_STORE_V3_MAX];
    u_char                             held[3][NGX_HTTP_ITSM_STORE_V3_MAX];
    size_t                             hlen[3];
    uint64_t                           token;
    ngx_uint_t                         i;
    ngx_msec_t                         expire, hexp[3];
    ngx_http_itsm_record_t             w, x;
    ngx_http_itsm_store_redis_keys_t   keys;
    ngx_http_itsm_redis_cmd_t         *cmd;

    if (ngx_http_itsm_store_redis_keys(store, connector, key, &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    w = *rec;
    w.ticket.data = w.ticket_data;
    token = rec->token;

    w.pending = 0;
    w.owner = 0;
    w.lease_until = 0;
    w.last_token = token;
    w.token = 0;

    if (commit) {
        w.doubt = 0;
        w.last_result = NGX_HTTP_ITSM_FLIGHT_DONE;
        w.last_status = 0;
        w.last_retry = 0;

        /* the claim's hash: the script reads it from the claim */
        ngx_cpystrn(hash, (u_char *) "-", sizeof(hash));

    } else {
        if (w.state == NGX_HTTP_ITSM_KEY_NONE) {
            w.last_seen = ngx_time();
        }

        ngx_sprintf(hash, "%016xL%Z", w.hash);
    }

    /* the header's fields win over the codec's (see above) */
    w.prev_token = 0;

    p = ngx_sprintf(last, "%016xL %ui %ui %T", w.last_token, w.last_result,
                    w.last_status, w.last_retry);

    /* a resolved key, or one that never had a ticket, is forgotten by
     * Redis after retention=: no expiry walk on Redis */

    expire = 0;

    if (w.state == NGX_HTTP_ITSM_KEY_RESOLVED
        || w.state == NGX_HTTP_ITSM_KEY_NONE)
    {
        expire = (ngx_msec_t) store->retention * 1000;
    }

    /* the record after a state the ITSM sent while the claim held the
     * key (open, resolved, deleted), for the script to pick: the same
     * change as LMDB's at a claim's end (ngx_http_itsm_store_ticket_held) */

    for (i = 0; i < 3; i++) {
        x = w;
        x.ticket.data = x.ticket_data;

        ngx_http_itsm_store_ticket_state(&x,
                                         i == 0 ? NGX_HTTP_ITSM_TICKET_OPEN
                                         : i == 1
                                           ? NGX_HTTP_ITSM_TICKET_RESOLVED
                                           : NGX_HTTP_ITSM_TICKET_DELETED,
                                         ngx_time());

        hlen[i] = 0;
        hexp[i] = 0;

        if (x.state != w.state || x.ticket.len != w.ticket.len) {
            hlen[i] = ngx_http_itsm_store_encode(&x, held[i]) - held[i];

            if (x.state == NGX_HTTP_ITSM_KEY_RESOLVED
                || x.state == NGX_HTTP_ITSM_KEY_NONE)
            {
                hexp[i] = (ngx_msec_t) store->retention * 1000;
            }
        }
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store redis: %s \"%V\" token:%016xL state:%ui "
                   "expire:%M", commit ? "commit" : "release", key, token,
                   w.state, expire);

    cmd = ngx_http_itsm_redis_script(store->redis, handler, data,
              "EVAL %s 3 %b %b %b %016llx %lld %s %b %b %b %llu %b"
              " %b %llu %b %llu %b %llu",
              NGX_HTTP_ITSM_STORE_REDIS_END, keys.c.data, keys.c.len,
              keys.r.data, keys.r.len, keys.t.data, keys.t.len,
              (unsigned long long) token,
              (long long) w.doubt, hash, last, (size_t) (p - last),
              key->data, key->len,
              raw, (size_t) (ngx_http_itsm_store_encode(&w, raw) - raw),
              (unsigned long long) expire,
              w.ticket.data, w.ticket.len,
              held[0], hlen[0], (unsigned long long) hexp[0],
              held[1], hlen[1], (unsigned long long) hexp[1],
              held[2], hlen[2], (unsigned long long) hexp[2]);

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store redis: the %s of \"%V\" could not be sent: "
                      "%V", commit ? "commit" : "release", key,
                      ngx_http_itsm_redis_error(store->redis));
        return NGX_ERROR;
    }

    if (data) {
        ((ngx_http_itsm_store_op_t *) data)->backend = cmd;
    }

    return NGX_OK;
}


/* fire and forget: a release that fails leaves the claim to its lease */

ngx_int_t
ngx_http_itsm_store_redis_release(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_http_itsm_record_t *before)
{
    return ngx_http_itsm_store_redis_end(store, connector, key, before, 0,
                                         ngx_http_itsm_store_redis_forgotten,
                                         NULL);
}


ngx_int_t
ngx_http_itsm_store_redis_renew(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, uint64_t token)
{
    ngx_http_itsm_store_redis_keys_t  keys;

    if (ngx_http_itsm_store_redis_keys(store, connector, key, &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store redis: renew \"%V\" token:%016xL", key, token);

    if (ngx_http_itsm_redis_script(store->redis,
                                    ngx_http_itsm_store_redis_forgotten,
                                    NULL, "EVAL %s 1 %b %016llx %lld",
                                    NGX_HTTP_ITSM_STORE_REDIS_RENEW,
                                    keys.c.data, keys.c.len,
                                    (unsigned long long) token,
                                    (long long) store->lease * 1000)
        == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store redis: the claim of \"%V\" could not be "
                      "renewed: %V", key,
                      ngx_http_itsm_redis_error(store->redis));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_itsm_store_redis_forgotten(void *data, redisReply *reply,
    ngx_str_t *error)
{
    if (error) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm_store redis: a renew or release got no answer "
                      "(%V): the claim is left to its lease", error);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm_store redis: a renew or release failed: %*s",
                      (size_t) reply->len, reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "itsm_store redis: a claim was taken over while its "
                      "request still worked on it (its lease ran out); its "
                      "renew or release is refused");
    }
}


/* the answer of get, claim, doubt, commit: the op's handler goes on */

static void
ngx_http_itsm_store_redis_answer(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_op_t *op = data;

    op->backend = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: no answer for \"%V\": %V",
                      op->key, error);
        op->rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: \"%V\": %*s", op->key,
                      (size_t) reply->len, reply->str);
        op->rc = NGX_ERROR;

    } else {
        op->rc = ngx_http_itsm_store_redis_got(op, reply);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: \"%V\" answered: %i", op->key, op->rc);

    if (op->what == NGX_HTTP_ITSM_STORE_OP_CLAIM && op->rc == NGX_OK
        && op->create && op->store->replicas
        && ngx_http_itsm_store_redis_wait(op) == NGX_AGAIN)
    {
        return;
    }

    op->handler(op);
}


/*
 * replicas=N: a claim won to create waits until N replicas have it (and
 * the doubt its script wrote) before the ITSM is asked.  Redis replicates
 * after it answers: a failover right after the claim could otherwise
 * lose the claim and its doubt, and a copy on the new primary would
 * create a second ticket without looking for the first (find).  Once a
 * replica has the doubt, any later loss leaves it behind, and the next
 * claim looks the ticket up first.  WAIT's own timeout is half the
 * command's, so that its answer comes before the client gives up.
 */

static ngx_int_t
ngx_http_itsm_store_redis_wait(ngx_http_itsm_store_op_t *op)
{
    ngx_msec_t                  timeout;
    ngx_http_itsm_redis_cmd_t  *cmd;

    timeout = ngx_http_itsm_redis_timeout(op->store->redis) / 2;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: claim \"%V\" waits for %ui "
                   "replicas, %M ms", op->key, op->store->replicas, timeout);

    cmd = ngx_http_itsm_redis_command(op->store->redis,
                                      ngx_http_itsm_store_redis_waited, op,
                                      "WAIT %lu %lu",
                                      (unsigned long) op->store->replicas,
                                      (unsigned long) (timeout ? timeout : 1));

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the WAIT for the claim of \"%V\" "
                      "could not be sent: %V", op->key,
                      ngx_http_itsm_redis_error(op->store->redis));

        (void) ngx_http_itsm_store_redis_release(op->store, op->connector,
                                                 op->key, op->rec);
        op->rc = NGX_ERROR;
        return NGX_ERROR;
    }

    op->backend = cmd;

    return NGX_AGAIN;
}


static void
ngx_http_itsm_store_redis_waited(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_op_t *op = data;

    long long  acked;

    op->backend = NULL;

    acked = (error == NULL && reply->type == REDIS_REPLY_INTEGER)
            ? reply->integer : -1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: claim \"%V\" reached %L replicas",
                   op->key, (int64_t) acked);

    if (acked < (long long) op->store->replicas) {

        /* the create is not sent: the claim goes, and its doubt with it
         * (the record as the claim found it), and the sender is answered
         * 503 with Retry-After: its retry tries again */

        if (acked < 0) {
            ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                          "itsm_store redis: the WAIT for the claim of \"%V\" "
                          "failed: %V%*s", op->key,
                          error ? error : &ngx_http_itsm_store_redis_noerr,
                          error ? (size_t) 0 : (size_t) reply->len,
                          error ? "" : reply->str);
        } else {
            ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                          "itsm_store redis: the claim of \"%V\" reached %L "
                          "of the %ui replicas of \"replicas=\" in time: "
                          "the ticket is not created now (a failover could "
                          "lose the claim); check the replicas "
                          "(INFO replication)", op->key, (int64_t) acked,
                          op->store->replicas);
        }

        (void) ngx_http_itsm_store_redis_release(op->store, op->connector,
                                                 op->key, op->rec);
        op->rc = NGX_ERROR;
    }

    op->handler(op);
}


static ngx_int_t
ngx_http_itsm_store_redis_got(ngx_http_itsm_store_op_t *op, redisReply *reply)
{
    ngx_int_t  rc;

    switch (op->what) {

    case NGX_HTTP_ITSM_STORE_OP_GET:

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
            break;
        }

        return ngx_http_itsm_store_redis_decode(op->store,
                                                reply->element[0],
                                                reply->element[1],
                                                reply->element[2]->integer,
                                                op->rec);

    case NGX_HTTP_ITSM_STORE_OP_CLAIM:

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
            break;
        }

        if (reply->element[0]->integer == 0 && reply->elements == 4) {
            /* another live request holds it: the record with its claim */
            rc = ngx_http_itsm_store_redis_decode(op->store,
                                                  reply->element[1],
                                                  reply->element[2],
                                                  reply->element[3]->integer,
                                                  op->rec);
            return rc == NGX_ERROR ? NGX_ERROR : NGX_BUSY;
        }

        /* won: the record as it was before, with our token */

        rc = ngx_http_itsm_store_redis_decode(op->store, NULL,
                                              reply->elements > 1
                                              ? reply->element[1] : NULL,
                                              0, op->rec);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_memzero(op->rec, sizeof(ngx_http_itsm_record_t));
            op->rec->ticket.data = op->rec->ticket_data;
            op->rec->state = NGX_HTTP_ITSM_KEY_NONE;
        }

        op->rec->pending = 0;
        op->rec->owner = 0;
        op->rec->lease_until = 0;
        op->rec->token = op->token;

        return NGX_OK;

    case NGX_HTTP_ITSM_STORE_OP_DOUBT:
    case NGX_HTTP_ITSM_STORE_OP_COMMIT:

        if (reply->type != REDIS_REPLY_INTEGER) {
            break;
        }

        if (reply->integer >= 10 && reply->integer <= 12) {
            ngx_log_error(NGX_LOG_NOTICE, op->store->log, 0,
                          "itsm: ticket \"%V\" of connector \"%V\": the "
                          "ITSM's change that came while an alert held its "
                          "key is applied now (key state %ui -> %ui)",
                          op->rec->ticket.len ? &op->rec->ticket : op->key,
                          op->connector, op->rec->state,
                          (ngx_uint_t) (reply->integer == 10
                                        ? NGX_HTTP_ITSM_KEY_OPEN
                                        : reply->integer == 11
                                          ? NGX_HTTP_ITSM_KEY_RESOLVED
                                          : NGX_HTTP_ITSM_KEY_NONE));
        }

        if (reply->integer == 0) {
            ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                          "itsm_store redis: a claim of \"%V\" was taken over "
                          "while its request still worked on it (its lease "
                          "ran out); its %s is not written", op->key,
                          op->what == NGX_HTTP_ITSM_STORE_OP_DOUBT
                          ? "doubt" : "commit");
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                  "itsm_store redis: an unexpected answer for \"%V\"",
                  op->key);

    return NGX_ERROR;
}


/* P{connector:16-hex hash of key}:c and :r */

ngx_int_t
ngx_http_itsm_store_redis_keys(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key,
    ngx_http_itsm_store_redis_keys_t *keys)
{
    uint64_t    h;
    ngx_str_t  *prefix;

    prefix = ngx_http_itsm_redis_prefix(store->redis);

    if (key->len > NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX
        || prefix->len + connector->len + 32 > NGX_HTTP_ITSM_STORE_KEY_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store redis: the key \"%V\" is too long",
                      key);
        return NGX_ERROR;
    }

    h = ngx_http_itsm_hash_end(ngx_http_itsm_hash(0, key->data, key->len));

    keys->c.data = keys->c_data;
    keys->c.len = ngx_sprintf(keys->c_data, "%V{%V:%016xL}:c", prefix,
                              connector, h)
                  - keys->c_data;

    keys->r.data = keys->r_data;
    keys->r.len = keys->c.len;
    ngx_memcpy(keys->r_data, keys->c_data, keys->c.len);
    keys->r_data[keys->r.len - 1] = 'r';

    keys->t.data = keys->t_data;
    keys->t.len = keys->c.len;
    ngx_memcpy(keys->t_data, keys->c_data, keys->c.len);
    keys->t_data[keys->t.len - 1] = 't';

    return NGX_OK;
}


/* P{t:connector:ticket}: in a slot of its own, read and written alone */

ngx_int_t
ngx_http_itsm_store_redis_index_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *ticket, u_char *buf, ngx_str_t *ik)
{
    ngx_str_t  *prefix;

    prefix = ngx_http_itsm_redis_prefix(store->redis);

    if (prefix->len + connector->len + ticket->len + 8
        > NGX_HTTP_ITSM_STORE_REDIS_INDEX_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "itsm_store redis: the ticket \"%V\" is too long",
                      ticket);
        return NGX_ERROR;
    }

    ik->data = buf;
    ik->len = ngx_sprintf(buf, "%V{t:%V:%V}", prefix, connector, ticket)
              - buf;

    return NGX_OK;
}


/*
 * Another key of the alert key's hash slot, "P{connector:hash}:<suffix>"
 * (the way back's :s, ngx_http_itsm_store_source_redis.c), into "buf" of
 * NGX_HTTP_ITSM_STORE_KEY_MAX + 128 bytes: a script may use it with :c and
 * :r under Redis Cluster.
 */

ngx_int_t
ngx_http_itsm_store_redis_key(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, u_char suffix, u_char *buf,
    ngx_str_t *out)
{
    ngx_http_itsm_store_redis_keys_t  keys;

    if (ngx_http_itsm_store_redis_keys(store, connector, key, &keys)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->data = buf;
    out->len = keys.r.len;

    ngx_memcpy(buf, keys.r.data, keys.r.len);
    buf[out->len - 1] = suffix;

    return NGX_OK;
}


/* a record for a key that has none yet: a header of zeros, the key */

static u_char *
ngx_http_itsm_store_redis_empty(u_char *p, ngx_str_t *key)
{
    p = ngx_sprintf(p, "r1 0 0 0 0 0 0 0 0 0 0 %uz\n", key->len);
    return ngx_cpymem(p, key->data, key->len);
}


/*
 * The record and the claim as Redis has them: NGX_OK, NGX_DECLINED (no
 * record and no claim), NGX_ERROR.  A claim found is "pending" with its
 * token, hash and lease; its owner is left 0: the claim may be another
 * edge's, whose process this one cannot see (ngx_http_itsm_store_busy).
 */

ngx_int_t
ngx_http_itsm_store_redis_decode(ngx_http_itsm_store_t *store,
    redisReply *claim, redisReply *record, long long pttl,
    ngx_http_itsm_record_t *rec)
{
    u_char      *p, *last, *nl;
    MDB_val      v;
    uint64_t     n[12];
    ngx_uint_t   i;

    ngx_memzero(rec, sizeof(ngx_http_itsm_record_t));
    rec->ticket.data = rec->ticket_data;
    rec->state = NGX_HTTP_ITSM_KEY_NONE;

    if ((claim == NULL || claim->type != REDIS_REPLY_STRING)
        && (record == NULL || record->type != REDIS_REPLY_STRING))
    {
        return NGX_DECLINED;
    }

    if (record && record->type == REDIS_REPLY_STRING) {

        p = (u_char *) record->str;
        last = p + record->len;

        nl = ngx_strlchr(p, last, '\n');

        if (nl == NULL || last - p < 3 || ngx_strncmp(p, "r1 ", 3) != 0) {
            goto invalid;
        }

        p += 3;

        /* doubt hash lt lr ls lx pt pr ps px keylen: hashes and tokens
         * in hex, the rest decimal */

        for (i = 0; i < 11; i++) {
            n[i] = 0;

            while (p < nl && *p == ' ') {
                p++;
            }

            if (p == nl) {
                goto invalid;
            }

            while (p < nl && *p != ' ') {
                if (i == 1 || i == 2 || i == 6) {
                    n[i] = n[i] * 16
                           + (*p >= 'a' ? *p - 'a' + 10 : *p - '0');
                } else if (*p != '-') {
                    n[i] = n[i] * 10 + (*p - '0');
                }
                p++;
            }
        }

        /* the key's length is the record's text: checked before it moves
         * the pointer, which a length past the end would overflow */

        if (n[10] > (uint64_t) (last - nl - 1)) {
            goto invalid;
        }

        p = nl + 1 + n[10];

        if (p < last) {
            v.mv_data = p;
            v.mv_size = last - p;

            if (ngx_http_itsm_store_decode_any(&v, rec) != NGX_OK) {
                goto invalid;
            }
        }

        rec->doubt = (time_t) n[0];
        rec->hash = n[1];
        rec->last_token = n[2];
        rec->last_result = (ngx_uint_t) n[3];
        rec->last_status = (ngx_uint_t) n[4];
        rec->last_retry = (time_t) n[5];
        rec->prev_token = n[6];
        rec->prev_result = (ngx_uint_t) n[7];
        rec->prev_status = (ngx_uint_t) n[8];
        rec->prev_retry = (time_t) n[9];
        rec->pending = 0;
        rec->owner = 0;
        rec->lease_until = 0;
        rec->token = 0;
    }

    if (claim && claim->type == REDIS_REPLY_STRING) {

        p = (u_char *) claim->str;
        last = p + claim->len;

        if (last - p < 34) {
            goto invalid;
        }

        rec->token = 0;
        rec->hash = 0;

        for (i = 0; i < 16; i++) {
            rec->token = rec->token * 16
                  + (p[i] >= 'a' ? p[i] - 'a' + 10 : p[i] - '0');
            rec->hash = rec->hash * 16
                  + (p[17 + i] >= 'a' ? p[17 + i] - 'a' + 10 : p[17 + i] - '0');
        }

        rec->pending = 1;
        rec->owner = 0;

        /* whole seconds, rounded up: a lease is never shorter than Redis
         * keeps it */
        rec->lease_until = ngx_time() + (pttl > 0 ? (pttl + 999) / 1000 : 1);
    }

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, store->log, 0,
                  "itsm_store redis: a record of an unknown format is "
                  "ignored");

    return NGX_ERROR;
}


ngx_uint_t
ngx_http_itsm_store_on_redis(ngx_http_itsm_store_t *store)
{
    return store->on_redis;
}


/* at the end of the configuration: itsm_redis may follow itsm_store */

void
ngx_http_itsm_store_redis_set(ngx_http_itsm_store_t *store,
    ngx_http_itsm_redis_t *redis)
{
    store->redis = redis;
}


/* in each worker: nothing to open, the client connects by itself */

void
ngx_http_itsm_store_redis_open(ngx_http_itsm_store_t *store, ngx_log_t *log,
    time_t retention)
{
    store->log = log;
    store->retention = retention;
}
