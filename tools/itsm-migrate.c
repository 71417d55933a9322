
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsm-migrate: the records of an LMDB store ("itsm_store PATH") into
 * Redis, as "itsm_store redis" writes them (docs/redis.md, "Migration").
 *
 *   itsm-migrate [options] STORE
 *
 *   --redis ADDR          host:port or unix:/path   (127.0.0.1:6379)
 *   --db N                SELECT N                  (0)
 *   --password-file F     AUTH with the file's text (its last newline cut)
 *   --prefix P            as itsm_redis prefix=     (itsm:)
 *   --retention TIME      as itsm_store redis retention= (7d): the TTL of
 *                         a resolved key and of one that never had a ticket
 *   --dry-run             write nothing; say what would be written
 *   --overwrite           replace a record already in Redis (by default it
 *                         is left alone and counted: an edge on Redis may
 *                         have moved the key on since)
 *
 * Exit: 0 every record moved (or left as present) and nothing else in the
 * store; 3 moved, but the store holds what this tool does not move (the
 * warnings say what, with counts); 1 an error (the store unreadable, Redis
 * unreachable or refusing: what was written before it stays); 2 usage.
 *
 * The key's name and the record's bytes are the module's own: its hash
 * (ngx_http_itsm_hash.c) and its record codec (ngx_http_itsm_store_codec.c)
 * are compiled into this tool (tools/build-migrate.sh), the rest is the
 * format ngx_http_itsm_store_redis.c's commit script writes:
 *
 *   P{connector:16-hex hash of the key}:r =
 *   "r1 doubt hash last_token last_result last_status last_retry
 *    prev_token prev_result prev_status prev_retry keylen\n" key codec
 *
 * The store is read in one LMDB read transaction (a consistent snapshot,
 * which a running nginx does not block); the claims are not copied: a
 * claim in the store is a request of a stopped nginx, and the record keeps
 * its doubt, so that the first edge on Redis asks the ITSM (find) first.
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <hiredis/hiredis.h>


/* what ngx_http_itsm_hash.c's token generator uses of nginx's core, which
 * this tool does not link (it draws no token) */
ngx_pid_t                   ngx_pid;
volatile ngx_msec_t         ngx_current_msec;


#define ITSM_MIGRATE_BATCH  256
#define ITSM_MIGRATE_HEADER 256
#define ITSM_MIGRATE_NAME   (NGX_HTTP_ITSM_STORE_KEY_MAX + 128)
#define ITSM_MIGRATE_VALUE  (ITSM_MIGRATE_HEADER + NGX_HTTP_ITSM_STORE_KEY_MAX \
                             + NGX_HTTP_ITSM_STORE_V3_MAX)


typedef struct {
    const char                  *store;
    const char                  *redis;
    const char                  *password_file;
    const char                  *prefix;
    long                         db;
    long long                    retention;      /* seconds */
    int                          dry_run;
    int                          overwrite;
} itsm_migrate_conf_t;


typedef struct {
    unsigned long                read;
    unsigned long                written;
    unsigned long                present;
    unsigned long                replaced;
    unsigned long                ttl;
    unsigned long                ttl_resolved;
    unsigned long                expired;
    unsigned long                claims;
    unsigned long                doubt;
    unsigned long                hashed;
    unsigned long                too_long;
    unsigned long                unknown;
    unsigned long                pending;
    unsigned long                dead;
    unsigned long                tickets;
    unsigned long                sources;
    unsigned long                indexed;
} itsm_migrate_counts_t;


/* a record on its way: its name, its value, its TTL (0: none) */

typedef struct {
    char                         name[ITSM_MIGRATE_NAME];
    size_t                       name_len;
    u_char                       value[ITSM_MIGRATE_VALUE];
    size_t                       value_len;
    long long                    ttl_ms;
    int                          resolved;

    /* the ticket's index, P{t:connector:ticket} -> the key's text, as a
     * commit writes it (ngx_http_itsm_store_redis_commit()); 0: none */
    char                         iname[ITSM_MIGRATE_NAME];
    size_t                       iname_len;
    u_char                       ikey[NGX_HTTP_ITSM_STORE_KEY_MAX];
    size_t                       ikey_len;
} itsm_migrate_rec_t;


typedef struct {
    redisContext                *redis;
    itsm_migrate_conf_t         *conf;
    itsm_migrate_counts_t       *counts;
    itsm_migrate_rec_t          *batch;
    ngx_uint_t                   n;
} itsm_migrate_out_t;


static int itsm_migrate_usage(void);
static int itsm_migrate_time(const char *s, long long *sec);
static redisContext *itsm_migrate_connect(itsm_migrate_conf_t *conf);
static int itsm_migrate_store(itsm_migrate_conf_t *conf,
    itsm_migrate_counts_t *counts, itsm_migrate_out_t *out);
static int itsm_migrate_record(itsm_migrate_conf_t *conf,
    itsm_migrate_counts_t *counts, MDB_val *k, MDB_val *v, time_t now,
    itsm_migrate_rec_t *r);
static void itsm_migrate_token(char *buf, uint64_t token);
static int itsm_migrate_flush(itsm_migrate_out_t *out);
static unsigned long itsm_migrate_count(MDB_txn *txn, const char *table,
    unsigned long *dead);
static void itsm_migrate_readers(MDB_env *env, const char *path);
static int itsm_migrate_reader(const char *msg, void *ctx);


int
main(int argc, char **argv)
{
    int                    i, rc;
    itsm_migrate_out_t     out;
    itsm_migrate_conf_t    conf;
    itsm_migrate_counts_t  counts;

    memset(&conf, 0, sizeof(conf));
    memset(&counts, 0, sizeof(counts));

    conf.redis = "127.0.0.1:6379";
    conf.prefix = "itsm:";
    conf.retention = 7 * 86400;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--dry-run") == 0) {
            conf.dry_run = 1;

        } else if (strcmp(argv[i], "--overwrite") == 0) {
            conf.overwrite = 1;

        } else if (i + 1 < argc && strcmp(argv[i], "--redis") == 0) {
            conf.redis = argv[++i];

        } else if (i + 1 < argc && strcmp(argv[i], "--db") == 0) {
            char  *end;

            conf.db = strtol(argv[++i], &end, 10);
            if (*end != '\0' || end == argv[i] || conf.db < 0) {
                fprintf(stderr, "itsm-migrate: --db \"%s\": a number\n",
                        argv[i]);
                return 2;
            }

        } else if (i + 1 < argc && strcmp(argv[i], "--password-file") == 0) {
            conf.password_file = argv[++i];

        } else if (i + 1 < argc && strcmp(argv[i], "--prefix") == 0) {
            conf.prefix = argv[++i];

        } else if (i + 1 < argc && strcmp(argv[i], "--retention") == 0) {
            if (itsm_migrate_time(argv[++i], &conf.retention) != 0) {
                fprintf(stderr, "itsm-migrate: --retention \"%s\": a time "
                        "as itsm_store's retention= (e.g. 7d, 12h, 3600s), "
                        "not 0\n", argv[i]);
                return 2;
            }

        } else if (argv[i][0] == '-' || conf.store != NULL) {
            return itsm_migrate_usage();

        } else {
            conf.store = argv[i];
        }
    }

    if (conf.store == NULL) {
        return itsm_migrate_usage();
    }

    if (strlen(conf.prefix) + 64 + 32 > NGX_HTTP_ITSM_STORE_KEY_MAX) {
        fprintf(stderr, "itsm-migrate: --prefix is too long\n");
        return 2;
    }

    memset(&out, 0, sizeof(out));
    out.conf = &conf;
    out.counts = &counts;

    out.batch = calloc(ITSM_MIGRATE_BATCH, sizeof(itsm_migrate_rec_t));
    if (out.batch == NULL) {
        fprintf(stderr, "itsm-migrate: out of memory\n");
        return 1;
    }

    out.redis = itsm_migrate_connect(&conf);
    if (out.redis == NULL) {
        free(out.batch);
        return 1;
    }

    rc = itsm_migrate_store(&conf, &counts, &out);

    printf("itsm-migrate: %s%s -> %s db %ld prefix \"%s\"\n",
           conf.dry_run ? "dry run: " : "", conf.store, conf.redis, conf.db,
           conf.prefix);
    printf("  records read %lu, %s %lu (with a TTL %lu, resolved %lu), "
           "skipped as present %lu, replaced %lu\n",
           counts.read, conf.dry_run ? "would write" : "written",
           counts.written, counts.ttl, counts.ttl_resolved, counts.present,
           counts.replaced);
    printf("  claims dropped %lu, in doubt %lu (find first), expired %lu "
           "(past --retention, not written)\n",
           counts.claims, counts.doubt, counts.expired);
    printf("  ticket index entries written %lu (one per record with a "
           "ticket, for the callbacks)\n", counts.indexed);

    redisFree(out.redis);
    free(out.batch);

    if (rc != 0) {
        printf("itsm-migrate: stopped by an error: the counts above are "
               "what was done before it\n");
        return 1;
    }

    /* what is left behind, never silently */

    rc = 0;

    if (counts.hashed) {
        printf("itsm-migrate: warning: %lu record(s) not moved: their key "
               "was too long for LMDB, which kept only its MD5, and Redis "
               "names a record by the key's text (their next alert on "
               "Redis is a new key: the ticket's connector may find it)\n",
               counts.hashed);
        rc = 3;
    }

    if (counts.too_long) {
        printf("itsm-migrate: warning: %lu record(s) not moved: connector "
               "or key too long for itsm_store redis\n", counts.too_long);
        rc = 3;
    }

    if (counts.unknown) {
        printf("itsm-migrate: warning: %lu record(s) not moved: a format "
               "this tool does not know (a newer module's?)\n",
               counts.unknown);
        rc = 3;
    }

    if (counts.pending) {
        printf("itsm-migrate: warning: %lu pending deliveries not moved "
               "(%lu of them dead letters): this tool does not move the "
               "queue; drain them on LMDB first (docs/redis.md, "
               "Migration)\n",
               counts.pending, counts.dead);
        rc = 3;
    }

    if (counts.tickets || counts.sources) {
        printf("itsm-migrate: warning: not moved: %lu ticket entries "
               "(what the ITSM last said of each ticket: the next callback "
               "of a ticket is applied without comparing its order), %lu "
               "way-back entries (itsm_callback_source: a key's next alert "
               "keeps it again); the ticket index is written from the "
               "records\n", counts.tickets, counts.sources);
    }

    return rc;
}


static int
itsm_migrate_usage(void)
{
    fprintf(stderr,
            "usage: itsm-migrate [--redis HOST:PORT|unix:PATH] [--db N] "
            "[--password-file FILE]\n"
            "                    [--prefix P] [--retention TIME] [--dry-run] "
            "[--overwrite] STORE\n"
            "  STORE: the file of \"itsm_store STORE\", read only; "
            "stop the nginx using it first\n"
            "  exit: 0 done, 3 done with warnings (something not moved), "
            "1 error, 2 usage\n");
    return 2;
}


/* 30, 30s, 10m, 12h, 7d: seconds */

static int
itsm_migrate_time(const char *s, long long *sec)
{
    char       *end;
    long long   n;

    errno = 0;
    n = strtoll(s, &end, 10);

    if (errno || end == s || n <= 0) {
        return -1;
    }

    switch (*end) {
    case '\0':
    case 's':
        break;
    case 'm':
        n *= 60;
        break;
    case 'h':
        n *= 3600;
        break;
    case 'd':
        n *= 86400;
        break;
    default:
        return -1;
    }

    if (*end != '\0' && end[1] != '\0') {
        return -1;
    }

    *sec = n;

    return 0;
}


static redisContext *
itsm_migrate_connect(itsm_migrate_conf_t *conf)
{
    FILE            *f;
    char             host[256], password[1024];
    size_t           n;
    const char      *colon;
    redisReply      *reply;
    redisContext    *c;
    struct timeval   tv = { 10, 0 };

    if (strncmp(conf->redis, "unix:", 5) == 0) {
        c = redisConnectUnixWithTimeout(conf->redis + 5, tv);

    } else {
        colon = strrchr(conf->redis, ':');

        if (colon == NULL || colon == conf->redis
            || (size_t) (colon - conf->redis) >= sizeof(host)
            || atoi(colon + 1) <= 0)
        {
            fprintf(stderr, "itsm-migrate: --redis \"%s\": host:port or "
                    "unix:/path\n", conf->redis);
            return NULL;
        }

        memcpy(host, conf->redis, colon - conf->redis);
        host[colon - conf->redis] = '\0';

        c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    }

    if (c == NULL || c->err) {
        fprintf(stderr, "itsm-migrate: redis %s: %s\n", conf->redis,
                c ? c->errstr : "out of memory");
        if (c) {
            redisFree(c);
        }
        return NULL;
    }

    redisSetTimeout(c, tv);

    if (conf->password_file) {
        f = fopen(conf->password_file, "r");
        if (f == NULL) {
            fprintf(stderr, "itsm-migrate: --password-file \"%s\": %s\n",
                    conf->password_file, strerror(errno));
            redisFree(c);
            return NULL;
        }

        n = fread(password, 1, sizeof(password), f);
        fclose(f);

        if (n == sizeof(password)) {
            fprintf(stderr, "itsm-migrate: --password-file \"%s\": more "
                    "than %zu bytes\n", conf->password_file,
                    sizeof(password) - 1);
            redisFree(c);
            return NULL;
        }

        /* as itsm_redis password_file=: the last newline is not the
         * password's */
        while (n > 0 && (password[n - 1] == '\n' || password[n - 1] == '\r'))
        {
            n--;
        }

        reply = redisCommand(c, "AUTH %b", password, n);
        memset(password, 0, sizeof(password));

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "itsm-migrate: redis %s: AUTH failed: %s\n",
                    conf->redis, reply ? reply->str : c->errstr);
            freeReplyObject(reply);
            redisFree(c);
            return NULL;
        }

        freeReplyObject(reply);
    }

    reply = redisCommand(c, "SELECT %ld", conf->db);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "itsm-migrate: redis %s: SELECT %ld failed: %s\n",
                conf->redis, conf->db, reply ? reply->str : c->errstr);
        freeReplyObject(reply);
        redisFree(c);
        return NULL;
    }

    freeReplyObject(reply);

    return c;
}


/*
 * The store, read only, in one read transaction: the records, then how
 * much the other tables hold (not moved: counted for the warnings).
 */

static int
itsm_migrate_store(itsm_migrate_conf_t *conf, itsm_migrate_counts_t *counts,
    itsm_migrate_out_t *out)
{
    int            rc, rv;
    time_t         now;
    MDB_env       *env;
    MDB_txn       *txn;
    MDB_dbi        dbi;
    MDB_val        k, v;
    MDB_cursor    *cursor;

    rc = mdb_env_create(&env);
    if (rc != 0) {
        fprintf(stderr, "itsm-migrate: mdb_env_create: %s\n",
                mdb_strerror(rc));
        return -1;
    }

    mdb_env_set_maxdbs(env, 4);

    /* as the module opens it (one file, no subdirectory), read only: a
     * reader beside a live writer is safe for LMDB */
    rc = mdb_env_open(env, conf->store, MDB_NOSUBDIR|MDB_RDONLY|MDB_NOTLS,
                      0600);
    if (rc != 0) {
        fprintf(stderr, "itsm-migrate: the store \"%s\": %s\n", conf->store,
                mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }

    itsm_migrate_readers(env, conf->store);

    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        fprintf(stderr, "itsm-migrate: mdb_txn_begin: %s\n",
                mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }

    now = time(NULL);
    rv = 0;

    rc = mdb_dbi_open(txn, "keys", 0, &dbi);

    if (rc == 0) {
        rc = mdb_cursor_open(txn, dbi, &cursor);
        if (rc != 0) {
            fprintf(stderr, "itsm-migrate: mdb_cursor_open: %s\n",
                    mdb_strerror(rc));
            rv = -1;
            goto done;
        }

        for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
             rc == 0;
             rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
        {
            counts->read++;

            if (itsm_migrate_record(conf, counts, &k, &v, now,
                                    &out->batch[out->n])
                != 0)
            {
                continue;
            }

            if (++out->n == ITSM_MIGRATE_BATCH
                && itsm_migrate_flush(out) != 0)
            {
                rv = -1;
                break;
            }
        }

        mdb_cursor_close(cursor);

        if (rv == 0 && rc != MDB_NOTFOUND) {
            fprintf(stderr, "itsm-migrate: reading the records: %s\n",
                    mdb_strerror(rc));
            rv = -1;
        }

        if (rv == 0 && itsm_migrate_flush(out) != 0) {
            rv = -1;
        }

    } else if (rc != MDB_NOTFOUND) {
        fprintf(stderr, "itsm-migrate: the table \"keys\": %s\n",
                mdb_strerror(rc));
        rv = -1;
    }

    counts->pending = itsm_migrate_count(txn, "pending", &counts->dead);
    counts->tickets = itsm_migrate_count(txn, "tickets", NULL);
    counts->sources = itsm_migrate_count(txn, "sources", NULL);

done:

    mdb_txn_abort(txn);
    mdb_env_close(env);

    return rv;
}


/*
 * One record of the store as itsm_store redis keeps it: 0, in "r"; -1,
 * not moved (counted).
 */

static int
itsm_migrate_record(itsm_migrate_conf_t *conf, itsm_migrate_counts_t *counts,
    MDB_val *k, MDB_val *v, time_t now, itsm_migrate_rec_t *r)
{
    u_char                  *p, *last, *zero;
    char                     prev[17], last_token[17];
    size_t                   len;
    uint64_t                 h;
    time_t                   changed;
    long long                left;
    ngx_str_t                connector, key;
    ngx_http_itsm_record_t   rec, w;

    p = k->mv_data;
    last = p + k->mv_size;

    zero = memchr(p, '\0', k->mv_size);

    if (zero == NULL || ngx_http_itsm_store_decode_any(v, &rec) != NGX_OK) {
        counts->unknown++;
        return -1;
    }

    connector.data = p;
    connector.len = zero - p;
    key.data = zero + 1;
    key.len = last - key.data;

    r->iname_len = 0;

    /* ngx_http_itsm_store_key(): a key too long for LMDB is kept as
     * "md5:" and 32 hex digits, its text lost */

    if (key.len == 36 && memcmp(key.data, "md5:", 4) == 0
        && strspn((char *) key.data + 4, "0123456789abcdef") >= 32)
    {
        counts->hashed++;
        return -1;
    }

    /* as ngx_http_itsm_store_redis_keys() refuses them */

    if (key.len > NGX_HTTP_ITSM_STORE_KEY_MAX
        || strlen(conf->prefix) + connector.len + 32
           > NGX_HTTP_ITSM_STORE_KEY_MAX)
    {
        counts->too_long++;
        return -1;
    }

    h = ngx_http_itsm_hash_end(ngx_http_itsm_hash(0, key.data, key.len));

    r->name_len = snprintf(r->name, sizeof(r->name), "%s{%.*s:%016llx}:r",
                           conf->prefix, (int) connector.len,
                           (char *) connector.data, (unsigned long long) h);

    /* a claim is a request of the nginx that was stopped: dropped; the
     * record keeps its doubt (a claim for a create wrote it) */

    if (rec.pending) {
        counts->claims++;
    }

    if (rec.doubt) {
        counts->doubt++;
    }

    /*
     * A claim on a key that no claim ended before: on Redis the claim
     * script writes no record for it, or, for a create, the record of a
     * key that has none with the doubt in its header, key and no codec
     * (ngx_http_itsm_store_redis_empty()), which expires with no TTL
     * (its doubt is kept until the key comes again).
     */

    if (rec.pending && rec.state == NGX_HTTP_ITSM_KEY_NONE
        && rec.last_token == 0)
    {
        if (rec.doubt == 0) {
            return -1;
        }

        len = snprintf((char *) r->value, ITSM_MIGRATE_HEADER,
                       "r1 %lld 0 0 0 0 0 0 0 0 0 %zu\n",
                       (long long) rec.doubt, key.len);

        p = ngx_cpymem(r->value + len, key.data, key.len);

        r->value_len = p - r->value;
        r->ttl_ms = 0;
        r->resolved = 0;

        return 0;
    }

    /* the TTL itsm_store redis gives a resolved key and one that never
     * had a ticket: retention= from its last change; one past it is what
     * both stores forget, unless a create is in doubt */

    r->ttl_ms = 0;
    r->resolved = (rec.state == NGX_HTTP_ITSM_KEY_RESOLVED);

    if (rec.state == NGX_HTTP_ITSM_KEY_RESOLVED
        || rec.state == NGX_HTTP_ITSM_KEY_NONE)
    {
        changed = ngx_max(ngx_max(rec.last_seen, rec.last_action),
                          ngx_max(rec.resolved_at, rec.doubt));
        changed = ngx_max(changed, rec.first_seen);

        left = conf->retention - (long long) (now - changed);

        if (left > conf->retention) {
            left = conf->retention;             /* a clock set back */
        }

        if (left <= 0) {
            if (rec.doubt == 0) {
                counts->expired++;
                return -1;
            }

            left = conf->retention;
        }

        r->ttl_ms = left * 1000;
    }

    /*
     * What ngx_http_itsm_store_redis_end() encodes: no claim in the codec,
     * the claim before the last in the header only.  The codec's hash is
     * the one of the record the claim started from (0 for a key's first
     * commit), which LMDB does not keep: the header's, which wins when
     * read, is the last claim's, as on Redis.
     */

    w = rec;
    w.ticket.data = w.ticket_data;
    w.pending = 0;
    w.owner = 0;
    w.lease_until = 0;
    w.token = 0;
    w.prev_token = 0;
    w.hash = 0;

    /* the scripts keep "0" of the record of a key that had none for a
     * claim that did not end (the last, or the one before it), else a
     * token as the commit script wrote it, in 16 hex digits */

    itsm_migrate_token(last_token, rec.last_token);
    itsm_migrate_token(prev, rec.prev_token);

    len = snprintf((char *) r->value, ITSM_MIGRATE_HEADER,
                   "r1 %lld %016llx %s %lu %lu %lld %s %lu %lu %lld "
                   "%zu\n",
                   (long long) rec.doubt, (unsigned long long) rec.hash,
                   last_token,
                   (unsigned long) rec.last_result,
                   (unsigned long) rec.last_status,
                   (long long) rec.last_retry, prev,
                   (unsigned long) rec.prev_result,
                   (unsigned long) rec.prev_status,
                   (long long) rec.prev_retry, key.len);

    p = ngx_cpymem(r->value + len, key.data, key.len);
    p = ngx_http_itsm_store_encode(&w, p);

    r->value_len = p - r->value;

    /* a record with a ticket has its index, so that the ITSM's callbacks
     * about the ticket find the key on Redis; it lives as the record does
     * (none while open, the record's TTL once resolved).  Its name fits:
     * the prefix and the connector are bounded above (KEY_MAX - 32), a
     * ticket by NGX_HTTP_ITSM_TICKET_MAX, iname is KEY_MAX + 128. */

    if (rec.ticket.len) {
        r->iname_len = snprintf(r->iname, sizeof(r->iname), "%s{t:%.*s:%.*s}",
                                conf->prefix, (int) connector.len,
                                (char *) connector.data,
                                (int) rec.ticket.len,
                                (char *) rec.ticket.data);
        memcpy(r->ikey, key.data, key.len);
        r->ikey_len = key.len;
    }

    return 0;
}


static void
itsm_migrate_token(char *buf, uint64_t token)
{
    if (token == 0) {
        buf[0] = '0';
        buf[1] = '\0';
        return;
    }

    snprintf(buf, 17, "%016llx", (unsigned long long) token);
}


/*
 * The batch to Redis, pipelined: SET NX (a record present is left alone),
 * or with --overwrite EXISTS then SET; --dry-run: EXISTS only.
 */

static int
itsm_migrate_flush(itsm_migrate_out_t *out)
{
    int                  rc;
    char                 ttl[32];
    size_t               argl[7];
    ngx_uint_t           i, argc;
    const char          *argv[7];
    redisReply          *reply;
    itsm_migrate_rec_t  *r;

    for (i = 0; i < out->n; i++) {
        r = &out->batch[i];

        /* the index first, as a commit writes it: a callback never finds
         * a record whose ticket has no index; one whose record is left
         * alone (present) names the same key */

        if (r->iname_len && !out->conf->dry_run) {
            argc = 0;
            argv[argc] = "SET"; argl[argc++] = 3;
            argv[argc] = r->iname; argl[argc++] = r->iname_len;
            argv[argc] = (char *) r->ikey; argl[argc++] = r->ikey_len;

            if (r->ttl_ms) {
                argv[argc] = "PX"; argl[argc++] = 2;
                argl[argc] = snprintf(ttl, sizeof(ttl), "%lld", r->ttl_ms);
                argv[argc++] = ttl;
            }

            redisAppendCommandArgv(out->redis, (int) argc, argv, argl);
        }

        if (out->conf->dry_run || out->conf->overwrite) {
            redisAppendCommand(out->redis, "EXISTS %b", r->name, r->name_len);
        }

        if (out->conf->dry_run) {
            continue;
        }

        argc = 0;
        argv[argc] = "SET"; argl[argc++] = 3;
        argv[argc] = r->name; argl[argc++] = r->name_len;
        argv[argc] = (char *) r->value; argl[argc++] = r->value_len;

        if (r->ttl_ms) {
            argv[argc] = "PX"; argl[argc++] = 2;
            argl[argc] = snprintf(ttl, sizeof(ttl), "%lld", r->ttl_ms);
            argv[argc++] = ttl;
        }

        if (!out->conf->overwrite) {
            argv[argc] = "NX"; argl[argc++] = 2;
        }

        redisAppendCommandArgv(out->redis, (int) argc, argv, argl);
    }

    rc = 0;

    for (i = 0; i < out->n; i++) {
        r = &out->batch[i];

        if (r->iname_len && !out->conf->dry_run) {
            if (redisGetReply(out->redis, (void **) &reply) != REDIS_OK) {
                goto failed;
            }

            /* the record's answers follow in the pipeline: read on */

            if (reply->type != REDIS_REPLY_STATUS) {
                fprintf(stderr, "itsm-migrate: redis %s: SET %s: %s\n",
                        out->conf->redis, r->iname,
                        reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "an odd answer");
                rc = -1;

            } else {
                out->counts->indexed++;
            }

            freeReplyObject(reply);
        }

        if (out->conf->dry_run || out->conf->overwrite) {
            if (redisGetReply(out->redis, (void **) &reply) != REDIS_OK) {
                goto failed;
            }

            if (reply->type != REDIS_REPLY_INTEGER) {
                fprintf(stderr, "itsm-migrate: redis %s: EXISTS: %s\n",
                        out->conf->redis,
                        reply->type == REDIS_REPLY_ERROR ? reply->str
                                                         : "an odd answer");
                freeReplyObject(reply);
                rc = -1;
                continue;
            }

            if (reply->integer) {
                if (out->conf->dry_run && !out->conf->overwrite) {
                    out->counts->present++;
                    freeReplyObject(reply);
                    continue;
                }

                out->counts->replaced++;
            }

            freeReplyObject(reply);

            if (out->conf->dry_run) {
                goto counted;
            }
        }

        if (redisGetReply(out->redis, (void **) &reply) != REDIS_OK) {
            goto failed;
        }

        if (reply->type == REDIS_REPLY_NIL) {
            /* NX: an edge on Redis wrote it first */
            out->counts->present++;
            freeReplyObject(reply);
            continue;
        }

        if (reply->type != REDIS_REPLY_STATUS) {
            fprintf(stderr, "itsm-migrate: redis %s: SET %s: %s\n",
                    out->conf->redis, r->name,
                    reply->type == REDIS_REPLY_ERROR ? reply->str
                                                     : "an odd answer");
            freeReplyObject(reply);
            rc = -1;
            continue;
        }

        freeReplyObject(reply);

    counted:

        out->counts->written++;

        if (r->ttl_ms) {
            out->counts->ttl++;
            out->counts->ttl_resolved += r->resolved;
        }
    }

    out->n = 0;

    return rc;

failed:

    fprintf(stderr, "itsm-migrate: redis %s: %s\n", out->conf->redis,
            out->redis->errstr);
    out->n = 0;

    return -1;
}


/* the entries of a table not moved; "dead": the dead letters of pending */

static unsigned long
itsm_migrate_count(MDB_txn *txn, const char *table, unsigned long *dead)
{
    int             rc;
    int64_t         due;
    MDB_dbi         dbi;
    MDB_val         k, v;
    MDB_stat        st;
    MDB_cursor     *cursor;
    unsigned long   n;

    if (mdb_dbi_open(txn, table, 0, &dbi) != 0
        || mdb_stat(txn, dbi, &st) != 0)
    {
        return 0;
    }

    n = st.ms_entries;

    if (dead == NULL || n == 0 || mdb_cursor_open(txn, dbi, &cursor) != 0) {
        return n;
    }

    /* a pending delivery starts with its due time (store_pending.c) */

    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
         rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
    {
        if (v.mv_size >= sizeof(int64_t)) {
            memcpy(&due, v.mv_data, sizeof(int64_t));
            *dead += (due == NGX_HTTP_ITSM_PENDING_DEAD);
        }
    }

    mdb_cursor_close(cursor);

    return n;
}


/* a live process with the store open (nginx's workers keep a reader):
 * what it writes after this read is not moved */

static void
itsm_migrate_readers(MDB_env *env, const char *path)
{
    int  live;

    live = 0;
    mdb_reader_list(env, itsm_migrate_reader, &live);

    if (live) {
        printf("itsm-migrate: warning: %d live process(es) have \"%s\" "
               "open (nginx still running?): what they write after this "
               "read is not moved; stop them first\n", live, path);
    }
}


static int
itsm_migrate_reader(const char *msg, void *ctx)
{
    int   pid;
    int  *live = ctx;

    /* "    pid     thread     txnid" and a line a reader */
    if (sscanf(msg, "%d", &pid) == 1 && pid > 0 && pid != (int) getpid()
        && kill(pid, 0) == 0)
    {
        (*live)++;
    }

    return 0;
}
