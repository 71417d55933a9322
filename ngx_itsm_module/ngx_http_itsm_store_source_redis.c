
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"
#include "ngx_http_itsm_store_redis.h"
#include "ngx_http_itsm_callback_source.h"


/*
 * The "sources" table on Redis (itsm_store redis): what the way back to an
 * alert's source needs of a key, in the key's hash slot next to its record
 * (ngx_http_itsm_store_redis.c):
 *
 *   P{c:K}:s  a hash: "alert", the entry as the alert left it (its fields
 *             and raw JSON, no "remembered"), and "remembered", what the
 *             source's answer left to undo (a silence's id).
 *
 * Two fields, not LMDB's one JSON text: a new alert of the key replaces
 * "alert" and leaves "remembered" where it is, in one command, so that the
 * alert's side never has to read the old entry first (LMDB's read of
 * "remembered" before its put) nor wait for Redis; and a silence
 * remembered by another edge meanwhile is not written over.  The reader
 * gets LMDB's shape back: "remembered" set in the entry.
 *
 * The entry lives as long as the key's record: each script copies the
 * record's time to live (PTTL of :r) onto :s, so a resolved key's entry
 * goes with its record after retention=, and a reopened key's stays.  With
 * no record (it went meanwhile) the entry gets retention= of its own.
 */


/* the record's time to live onto the entry; KEYS: :s, :r; "ms": the
 * retention for an entry without a record */
#define NGX_HTTP_ITSM_STORE_SOURCE_REDIS_TTL                                  \
    "local function ttl(ms)\n"                                               \
    "  local t = redis.call('PTTL', KEYS[2])\n"                              \
    "  if t > 0 then redis.call('PEXPIRE', KEYS[1], t)\n"                    \
    "  elseif t == -1 then redis.call('PERSIST', KEYS[1])\n"                 \
    "  else redis.call('PEXPIRE', KEYS[1], ms) end\n"                        \
    "end\n"

/* KEYS: :s, :r; ARGV: the alert's entry, retention ms */
#define NGX_HTTP_ITSM_STORE_SOURCE_REDIS_PUT                                  \
    NGX_HTTP_ITSM_STORE_SOURCE_REDIS_TTL                                     \
    "redis.call('HSET', KEYS[1], 'alert', ARGV[1])\n"                        \
    "ttl(ARGV[2])\n"                                                         \
    "return 1"

/* KEYS: :s, :r; ARGV: retention ms.  {alert, remembered}, nil for none */
#define NGX_HTTP_ITSM_STORE_SOURCE_REDIS_GET                                  \
    NGX_HTTP_ITSM_STORE_SOURCE_REDIS_TTL                                     \
    "local v = redis.call('HMGET', KEYS[1], 'alert', 'remembered')\n"        \
    "if v[1] then ttl(ARGV[1]) end\n"                                        \
    "return v"

/*
 * KEYS: :s, :r; ARGV: "1" to remember, "0" to forget, the value, retention
 * ms.  0: no entry (it went meanwhile: nothing half is made); 1: done.
 */
#define NGX_HTTP_ITSM_STORE_SOURCE_REDIS_KEEP                                 \
    NGX_HTTP_ITSM_STORE_SOURCE_REDIS_TTL                                     \
    "if redis.call('HEXISTS', KEYS[1], 'alert') == 0 then return 0 end\n"    \
    "if ARGV[1] == '1' then\n"                                               \
    "  redis.call('HSET', KEYS[1], 'remembered', ARGV[2])\n"                 \
    "else\n"                                                                 \
    "  redis.call('HDEL', KEYS[1], 'remembered')\n"                          \
    "end\n"                                                                  \
    "ttl(ARGV[3])\n"                                                         \
    "return 1"


/* what a command sent and forgotten needs to say what was lost */

typedef struct {
    ngx_str_t                    what;
    ngx_str_t                    connector;
    ngx_str_t                    key;
} ngx_http_itsm_store_source_lost_t;


static ngx_int_t ngx_http_itsm_store_source_redis_keys(
    ngx_http_itsm_store_t *store, ngx_str_t *connector, ngx_str_t *key,
    ngx_str_t *s, ngx_str_t *r, u_char *sbuf, u_char *rbuf);
static void ngx_http_itsm_store_source_redis_got(void *data,
    redisReply *reply, ngx_str_t *error);
static void ngx_http_itsm_store_source_redis_kept(void *data,
    redisReply *reply, ngx_str_t *error);
static ngx_http_itsm_store_source_lost_t *
    ngx_http_itsm_store_source_redis_lost(const char *what,
    ngx_str_t *connector, ngx_str_t *key);
static void ngx_http_itsm_store_source_redis_forgotten(void *data,
    redisReply *reply, ngx_str_t *error);


/*
 * The callback's side: the entry, with "remembered" in it, into op->text
 * (op->pool).  NGX_AGAIN: op->handler is called with op->rc (NGX_OK,
 * NGX_DECLINED: none, NGX_ERROR); NGX_ERROR: not sent, and logged.
 */

ngx_int_t
ngx_http_itsm_store_source_redis_get(ngx_http_itsm_store_source_op_t *op)
{
    u_char                      sbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                      rbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    ngx_str_t                   s, rk;
    ngx_http_itsm_redis_cmd_t  *cmd;

    if (ngx_http_itsm_store_source_redis_keys(op->store, op->connector,
                                              op->key, &s, &rk, sbuf, rbuf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: source get \"%V\"", &s);

    cmd = ngx_http_itsm_redis_script(op->store->redis,
              ngx_http_itsm_store_source_redis_got, op, "EVAL %s 2 %b %b %lld",
              NGX_HTTP_ITSM_STORE_SOURCE_REDIS_GET, s.data, s.len,
              rk.data, rk.len, (long long) op->store->retention * 1000);

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the kept alert of key \"%V\" could "
                      "not be read: %V: nothing goes back to the source",
                      op->key, ngx_http_itsm_redis_error(op->store->redis));
        return NGX_ERROR;
    }

    op->backend = cmd;

    return NGX_AGAIN;
}


/*
 * After the source answered: "value" remembered, or the remembered value
 * forgotten (NULL).  NGX_AGAIN: op->handler is called with op->rc (NGX_OK;
 * NGX_DECLINED: the entry is gone; NGX_ERROR); NGX_ERROR: not sent.  The
 * caller waits: a remembered silence that is lost can never be expired by
 * the module, so the way back is counted only once Redis has it.
 */

ngx_int_t
ngx_http_itsm_store_source_redis_keep(ngx_http_itsm_store_source_op_t *op,
    ngx_str_t *value)
{
    u_char                      sbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                      rbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    ngx_str_t                   s, rk, none;
    ngx_http_itsm_redis_cmd_t  *cmd;

    if (ngx_http_itsm_store_source_redis_keys(op->store, op->connector,
                                              op->key, &s, &rk, sbuf, rbuf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&none, "");

    op->remember = value ? 1 : 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: source %s \"%V\"",
                   value ? "remember" : "forget", &s);

    cmd = ngx_http_itsm_redis_script(op->store->redis,
              ngx_http_itsm_store_source_redis_kept, op,
              "EVAL %s 2 %b %b %s %b %lld",
              NGX_HTTP_ITSM_STORE_SOURCE_REDIS_KEEP, s.data, s.len,
              rk.data, rk.len, value ? "1" : "0",
              value ? value->data : none.data,
              value ? value->len : none.len,
              (long long) op->store->retention * 1000);

    if (cmd == NULL) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: what the source answered for key "
                      "\"%V\" is not %s: %V", op->key,
                      value ? "kept" : "forgotten",
                      ngx_http_itsm_redis_error(op->store->redis));
        return NGX_ERROR;
    }

    op->backend = cmd;

    return NGX_AGAIN;
}


void
ngx_http_itsm_store_source_redis_cancel(ngx_http_itsm_store_source_op_t *op)
{
    if (op->backend) {
        ngx_http_itsm_redis_cancel(op->backend);
        op->backend = NULL;
    }
}


/*
 * The alert's side, sent and forgotten: the sender's answer does not wait
 * for it, as on LMDB an entry that cannot be kept does not fail the alert;
 * it costs the key's way back, and the log says so when Redis refuses or
 * does not answer.
 */

void
ngx_http_itsm_store_source_redis_put(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_str_t *text)
{
    u_char                              sbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                              rbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    ngx_str_t                           s, rk;
    ngx_http_itsm_store_source_lost_t  *lost;

    if (ngx_http_itsm_store_source_redis_keys(store, connector, key, &s, &rk,
                                              sbuf, rbuf)
        != NGX_OK)
    {
        return;
    }

    lost = ngx_http_itsm_store_source_redis_lost("kept", connector, key);
    if (lost == NULL) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store redis: source put \"%V\", %uz bytes", &s,
                   text->len);

    if (ngx_http_itsm_redis_script(store->redis,
                                   ngx_http_itsm_store_source_redis_forgotten,
                                   lost, "EVAL %s 2 %b %b %b %lld",
                                   NGX_HTTP_ITSM_STORE_SOURCE_REDIS_PUT,
                                   s.data, s.len, rk.data, rk.len,
                                   text->data, text->len,
                                   (long long) store->retention * 1000)
        == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, store->log, 0,
                      "itsm_store redis: the alert of key \"%V\" is not kept "
                      "for the way back to its source: %V", key,
                      ngx_http_itsm_redis_error(store->redis));
        ngx_free(lost);
    }
}


/*
 * A deleted ticket's key: sent and forgotten, since an entry left behind
 * only waits for its time to live (or the key's next alert replaces it).
 */

void
ngx_http_itsm_store_source_redis_del(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key)
{
    u_char                              sbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    u_char                              rbuf[NGX_HTTP_ITSM_STORE_KEY_MAX + 128];
    ngx_str_t                           s, rk;
    ngx_http_itsm_store_source_lost_t  *lost;

    if (ngx_http_itsm_store_source_redis_keys(store, connector, key, &s, &rk,
                                              sbuf, rbuf)
        != NGX_OK)
    {
        return;
    }

    lost = ngx_http_itsm_store_source_redis_lost("deleted", connector, key);
    if (lost == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store redis: source del \"%V\"", &s);

    if (ngx_http_itsm_redis_command(store->redis,
                                    ngx_http_itsm_store_source_redis_forgotten,
                                    lost, "DEL %b", s.data, s.len)
        == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, store->log, 0,
                      "itsm_store redis: the kept alert of key \"%V\" is not "
                      "deleted (%V): it goes with its time to live", key,
                      ngx_http_itsm_redis_error(store->redis));
        ngx_free(lost);
    }
}


static ngx_int_t
ngx_http_itsm_store_source_redis_keys(ngx_http_itsm_store_t *store,
    ngx_str_t *connector, ngx_str_t *key, ngx_str_t *s, ngx_str_t *r,
    u_char *sbuf, u_char *rbuf)
{
    if (ngx_http_itsm_store_redis_key(store, connector, key, 's', sbuf, s)
        != NGX_OK
        || ngx_http_itsm_store_redis_key(store, connector, key, 'r', rbuf, r)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* {alert, remembered} -> LMDB's entry: the alert's JSON, "remembered" in */

static void
ngx_http_itsm_store_source_redis_got(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_source_op_t *op = data;

    u_char        *p;
    size_t         len;
    json_t        *entry;
    redisReply    *alert, *kept;
    json_error_t   err;

    op->backend = NULL;
    op->rc = NGX_ERROR;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the kept alert of key \"%V\" could "
                      "not be read: %V: nothing goes back to the source",
                      op->key, error);
        goto done;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: the kept alert of key \"%V\" could "
                      "not be read: %*s: nothing goes back to the source",
                      op->key, (size_t) reply->len, reply->str);
        goto done;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: an unexpected answer for the kept "
                      "alert of key \"%V\"", op->key);
        goto done;
    }

    alert = reply->element[0];
    kept = reply->element[1];

    if (alert->type != REDIS_REPLY_STRING) {
        op->rc = NGX_DECLINED;
        goto done;
    }

    if (kept->type != REDIS_REPLY_STRING) {
        /* the reply is hiredis', freed once this returns */

        op->text.data = ngx_pnalloc(op->pool, alert->len ? alert->len : 1);
        if (op->text.data == NULL) {
            goto done;
        }

        ngx_memcpy(op->text.data, alert->str, alert->len);
        op->text.len = alert->len;
        op->rc = NGX_OK;
        goto done;
    }

    entry = json_loadb(alert->str, alert->len, 0, &err);

    if (!json_is_object(entry)
        || json_object_set_new(entry, "remembered",
                               json_stringn(kept->str, kept->len))
           != 0)
    {
        json_decref(entry);

        /* what the reader makes of it: "not readable" */
        op->text.data = (u_char *) "";
        op->text.len = 0;
        op->rc = NGX_OK;
        goto done;
    }

    p = ngx_http_itsm_json_dump(entry, op->pool, &len);
    json_decref(entry);

    if (p == NULL) {
        goto done;
    }

    op->text.data = p;
    op->text.len = len;
    op->rc = NGX_OK;

done:

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: source \"%V\" got: %i", op->key, op->rc);

    op->handler(op);
}


static void
ngx_http_itsm_store_source_redis_kept(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_source_op_t *op = data;

    op->backend = NULL;

    if (error) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: what the source answered for key "
                      "\"%V\" is not %s: %V", op->key,
                      op->remember ? "kept" : "forgotten", error);
        op->rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: what the source answered for key "
                      "\"%V\" is not %s: %*s", op->key,
                      op->remember ? "kept" : "forgotten",
                      (size_t) reply->len, reply->str);
        op->rc = NGX_ERROR;

    } else if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "itsm_store redis: an unexpected answer for the kept "
                      "alert of key \"%V\"", op->key);
        op->rc = NGX_ERROR;

    } else {
        op->rc = reply->integer ? NGX_OK : NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->store->log, 0,
                   "itsm store redis: source \"%V\" kept: %i", op->key,
                   op->rc);

    op->handler(op);
}


/* outside any pool: it outlives the request that sent the command */

static ngx_http_itsm_store_source_lost_t *
ngx_http_itsm_store_source_redis_lost(const char *what, ngx_str_t *connector,
    ngx_str_t *key)
{
    u_char                             *p;
    ngx_http_itsm_store_source_lost_t  *lost;

    lost = ngx_alloc(sizeof(ngx_http_itsm_store_source_lost_t)
                     + connector->len + key->len, ngx_cycle->log);
    if (lost == NULL) {
        return NULL;
    }

    p = (u_char *) (lost + 1);

    lost->what.data = (u_char *) what;
    lost->what.len = ngx_strlen(what);

    lost->connector.data = p;
    lost->connector.len = connector->len;
    p = ngx_cpymem(p, connector->data, connector->len);

    lost->key.data = p;
    lost->key.len = key->len;
    ngx_memcpy(p, key->data, key->len);

    return lost;
}


static void
ngx_http_itsm_store_source_redis_forgotten(void *data, redisReply *reply,
    ngx_str_t *error)
{
    ngx_http_itsm_store_source_lost_t *lost = data;

    if (error) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "itsm_store redis: the alert of connector \"%V\" key "
                      "\"%V\" is not %V for the way back to its source: %V",
                      &lost->connector, &lost->key, &lost->what, error);

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "itsm_store redis: the alert of connector \"%V\" key "
                      "\"%V\" is not %V for the way back to its source: %*s",
                      &lost->connector, &lost->key, &lost->what,
                      (size_t) reply->len, reply->str);
    }

    ngx_free(lost);
}
