
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_sig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>


/*
 * The check of itsm_signature, whose configuration is read by
 * ngx_http_itsm_sig_conf.c: the signature, id and timestamp headers before
 * the body is read, then the MAC of the signed content with each secret
 * against each signature the request carries.
 *
 * HMAC (RFC 2104) is computed from digest states keyed once at load, the
 * digest of key^ipad and of key^opad, copied per request into contexts
 * each worker keeps: no MAC object is made or freed per request.
 */


#define NGX_HTTP_ITSM_SIG_FILE_CHUNK   16384
#define NGX_HTTP_ITSM_SIG_BLOCK_MAX    128     /* SHA-512's block */


static ngx_int_t ngx_http_itsm_sig_update(EVP_MD_CTX **ctxs, ngx_uint_t n,
    u_char *data, size_t len);
static ngx_int_t ngx_http_itsm_sig_body(ngx_http_request_t *r,
    EVP_MD_CTX **ctxs, ngx_uint_t n);


/* a worker's contexts for the MACs of one request, one a secret */
static EVP_MD_CTX  *ngx_http_itsm_sig_work[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
static EVP_MD_CTX  *ngx_http_itsm_sig_outer[NGX_HTTP_ITSM_SIG_SECRETS_MAX];


/*
 * The checks that need no body: the signature, id and timestamp headers
 * are there and well formed, and the timestamp is within the tolerance.
 */

ngx_http_itsm_access_e
ngx_http_itsm_sig_headers(ngx_http_request_t *r, ngx_http_itsm_sig_conf_t *scf,
    time_t tolerance, ngx_http_itsm_sig_req_t *sr)
{
    int                     rc;
    time_t                  now, skew;
    ngx_str_t              *name;
    ngx_uint_t              i, count;
    ngx_table_elt_t        *h, *ts;
    ngx_http_itsm_bytes_t   prefix;

    h = NULL;
    name = NULL;
    count = 0;

    for (i = 0; i < 2 && scf->header[i].len; i++) {
        h = ngx_http_itsm_conf_header_in(r, &scf->header[i], &count);
        if (h) {
            name = &scf->header[i];
            break;
        }
    }

    if (h == NULL) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                         "the request has no \"%V\" header; "
                                         "it must be signed (%V)",
                                         &scf->header[0], &scf->scheme->name);
    }

    if (count > 1) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the \"%V\" header appears %ui "
                                         "times", name, count);
    }

    switch (scf->scheme->parse) {

    case NGX_HTTP_ITSM_SIG_PARSE_STANDARD:
        rc = ngx_http_itsm_sig_parse_standard(h->value.data, h->value.len,
                                              &sr->header);
        break;

    case NGX_HTTP_ITSM_SIG_PARSE_STRIPE:
        rc = ngx_http_itsm_sig_parse_stripe(h->value.data, h->value.len,
                                            &sr->header);
        break;

    default:
        prefix.len = scf->prefix.len;
        prefix.data = scf->prefix.data;

        rc = ngx_http_itsm_sig_parse_value(h->value.data, h->value.len,
                                           &prefix, scf->encoding,
                                           &sr->header);
        break;
    }

    if (rc != NGX_HTTP_ITSM_OK) {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the \"%V\" header is not a %V "
                                         "signature%s%V%s", name,
                                         &scf->scheme->name,
                                         scf->prefix.len ? " (\"" : "",
                                         &scf->prefix,
                                         scf->prefix.len
                                         ? "\" and the MAC)" : "");
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: %V signature header \"%V\": %uz "
                   "signature%s", &scf->scheme->name, name, sr->header.n,
                   sr->header.n == 1 ? "" : "s");

    /* the delivery id */

    for (i = 0; i < 2 && scf->id_header[i].len; i++) {
        h = ngx_http_itsm_conf_header_in(r, &scf->id_header[i], &count);

        if (h == NULL) {
            continue;
        }

        if (count > 1
            || ngx_http_itsm_sig_check_id(h->value.data, h->value.len)
               != NGX_HTTP_ITSM_OK)
        {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                             "the \"%V\" header is not one "
                                             "delivery id (1 to 256 "
                                             "printable characters, no "
                                             "spaces and no \".\")",
                                             &scf->id_header[i]);
        }

        sr->id = h->value;
        break;
    }

    if (scf->signed_id && sr->id.len == 0) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                         "the request has no \"%V\" header; "
                                         "the %V signature covers it",
                                         &scf->id_header[0],
                                         &scf->scheme->name);
    }

#if (NGX_DEBUG)
    if (sr->id.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm access: delivery id \"%V\"", &sr->id);
    }
#endif

    /* the timestamp */

    if (!scf->signed_ts) {
        return NGX_HTTP_ITSM_ACCESS_PASSED;
    }

    if (scf->scheme->parse == NGX_HTTP_ITSM_SIG_PARSE_STRIPE) {
        sr->timestamp.len = sr->header.timestamp.len;
        sr->timestamp.data = sr->header.timestamp.data;

    } else {
        ts = ngx_http_itsm_conf_header_in(r, &scf->ts_header, &count);

        if (ts == NULL) {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MISSING,
                                             "the request has no \"%V\" "
                                             "header; the %V signature "
                                             "covers it", &scf->ts_header,
                                             &scf->scheme->name);
        }

        if (count > 1) {
            return ngx_http_itsm_access_fail(r,
                                             NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                             "the \"%V\" header appears %ui "
                                             "times", &scf->ts_header, count);
        }

        sr->timestamp = ts->value;
    }

    if (ngx_http_itsm_sig_parse_timestamp(sr->timestamp.data,
                                          sr->timestamp.len, &sr->time)
        != NGX_HTTP_ITSM_OK)
    {
        return ngx_http_itsm_access_fail(r,
                                         NGX_HTTP_ITSM_ACCESS_SIG_MALFORMED,
                                         "the signature timestamp is not a "
                                         "unix time in seconds");
    }

    sr->has_time = 1;

    now = ngx_time();

    if (sr->time < now - tolerance) {
        skew = now - sr->time;

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TS_OLD,
                                         "the signature timestamp is %T s "
                                         "old, more than the %T s allowed "
                                         "(itsm_signature_tolerance): a "
                                         "replay, a late resend, or clock "
                                         "skew between the sender and this "
                                         "server", skew, tolerance);
    }

    if (sr->time > now + tolerance) {
        skew = sr->time - now;

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_TS_FUTURE,
                                         "the signature timestamp is %T s in "
                                         "the future, more than the %T s "
                                         "allowed (itsm_signature_tolerance):"
                                         " clock skew, the sender's clock or "
                                         "this server's is wrong",
                                         skew, tolerance);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm access: signature timestamp %T, %T s from now, "
                   "within %T s", sr->time, sr->time - now, tolerance);

    return NGX_HTTP_ITSM_ACCESS_PASSED;
}


/* the MAC over the signed content with each secret, against each signature */

ngx_http_itsm_access_e
ngx_http_itsm_sig_verify(ngx_http_request_t *r, ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr)
{
    size_t                     len, slen;
    u_char                    *pos;
    ngx_int_t                  key_rc;
    ngx_str_t                  value, key, *text;
    ngx_uint_t                 i, n, body;
    unsigned int               dlen, mlen;
    EVP_MD_CTX                *work[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    EVP_MD_CTX                *outer[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    ngx_uint_t                 index[NGX_HTTP_ITSM_SIG_SECRETS_MAX];
    ngx_http_itsm_secret_t    *secret;
    ngx_http_itsm_sig_part_t  *part;
    ngx_http_itsm_access_e     rc;
    u_char                     inner[EVP_MAX_MD_SIZE];
    u_char                     mac[EVP_MAX_MD_SIZE];
    u_char                     sig[NGX_HTTP_ITSM_SIG_MAX_LEN];

    secret = scf->secrets.elts;
    n = 0;
    rc = NGX_HTTP_ITSM_ACCESS_INTERNAL;

    for (i = 0; i < scf->secrets.nelts; i++) {

        if (ngx_http_itsm_sig_work[n] == NULL) {
            ngx_http_itsm_sig_work[n] = EVP_MD_CTX_new();
            ngx_http_itsm_sig_outer[n] = EVP_MD_CTX_new();

            if (ngx_http_itsm_sig_work[n] == NULL
                || ngx_http_itsm_sig_outer[n] == NULL)
            {
                EVP_MD_CTX_free(ngx_http_itsm_sig_work[n]);
                ngx_http_itsm_sig_work[n] = NULL;
                goto failed;
            }
        }

        work[n] = ngx_http_itsm_sig_work[n];

        if (secret[i].inner) {
            if (EVP_MD_CTX_copy_ex(work[n], secret[i].inner) != 1) {
                goto failed;
            }

            outer[n] = secret[i].outer;

        } else {
            if (ngx_http_complex_value(r, secret[i].value, &value) != NGX_OK)
            {
                goto done;
            }

            if (value.len == 0) {
                continue;
            }

            key_rc = ngx_http_itsm_sig_key(scf, &value, r->pool, &key);

            if (key_rc == NGX_ERROR) {
                goto done;
            }

            if (key_rc != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "itsm_signature: secret #%ui (a variable) is "
                              "not a whsec_ secret; it is skipped", i + 1);
                continue;
            }

            outer[n] = ngx_http_itsm_sig_outer[n];

            key_rc = ngx_http_itsm_sig_hmac_key(scf->md, &key, work[n],
                                                outer[n]);

            ngx_explicit_memzero(key.data, key.len);

            if (key_rc != NGX_OK) {
                goto failed;
            }
        }

        index[n++] = i + 1;
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "itsm_signature: every secret of this location is an "
                      "empty variable; no request can be verified");
        goto done;
    }

    part = scf->parts.elts;
    body = 0;

    for (i = 0; i < scf->parts.nelts; i++) {

        switch (part[i].type) {

        case NGX_HTTP_ITSM_SIG_ID:
            text = &sr->id;
            break;

        case NGX_HTTP_ITSM_SIG_TIMESTAMP:
            text = &sr->timestamp;
            break;

        case NGX_HTTP_ITSM_SIG_BODY:
            if (ngx_http_itsm_sig_body(r, work, n) != NGX_OK) {
                goto done;
            }

            body = 1;
            continue;

        default:
            text = &part[i].text;
            break;
        }

        if (ngx_http_itsm_sig_update(work, n, text->data, text->len)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (!body) {
        goto done;
    }

    rc = NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH;

    for (i = 0; i < n; i++) {

        /* H(key^opad | H(key^ipad | content)) */

        if (EVP_DigestFinal_ex(work[i], inner, &dlen) != 1
            || EVP_MD_CTX_copy_ex(work[i], outer[i]) != 1
            || EVP_DigestUpdate(work[i], inner, dlen) != 1
            || EVP_DigestFinal_ex(work[i], mac, &mlen) != 1)
        {
            goto failed;
        }

        len = mlen;

        /* every signature of the header, however many: one that decodes
         * to a MAC of this length and these bytes, compared whole */

        pos = NULL;

        while (ngx_http_itsm_sig_next(&sr->header, &pos, sig, &slen)
               == NGX_HTTP_ITSM_OK)
        {
            if (slen == len && CRYPTO_memcmp(sig, mac, len) == 0) {
                sr->secret = index[i];
                sr->mac_len = len;
                ngx_memcpy(sr->mac, mac, len);

                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "itsm access: the HMAC-%s of the body matches "
                               "with secret #%ui", scf->digest, index[i]);

                rc = NGX_HTTP_ITSM_ACCESS_PASSED;
                goto done;
            }
        }
    }

    goto done;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "itsm_signature: OpenSSL failed to compute HMAC-%s",
                  scf->digest);

    rc = NGX_HTTP_ITSM_ACCESS_INTERNAL;

done:

    ngx_explicit_memzero(inner, sizeof(inner));
    ngx_explicit_memzero(mac, sizeof(mac));
    ngx_explicit_memzero(sig, sizeof(sig));

    if (rc == NGX_HTTP_ITSM_ACCESS_INTERNAL) {
        ERR_clear_error();

        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_INTERNAL,
                                         "the signature could not be "
                                         "checked; see the error log");
    }

    if (rc == NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH) {
        return ngx_http_itsm_access_fail(r, NGX_HTTP_ITSM_ACCESS_SIG_MISMATCH,
                                         "no %V signature in the request "
                                         "matches the body with any of the "
                                         "secrets of this endpoint",
                                         &scf->scheme->name);
    }

    return rc;
}


/*
 * What identifies a delivery in the replay cache: its id when the id is
 * signed (Standard Webhooks; a sender's resend keeps the id), otherwise
 * the MAC itself, since an unsigned id header can be changed at will.
 */

void
ngx_http_itsm_sig_replay_key(ngx_http_itsm_sig_conf_t *scf,
    ngx_http_itsm_sig_req_t *sr, u_char *key)
{
    u_char        sep;
    unsigned int  len;
    EVP_MD_CTX   *md;

    md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto failed;
    }

    if (scf->signed_id) {
        sep = 'i';

        if (EVP_DigestUpdate(md, &sep, 1) != 1
            || EVP_DigestUpdate(md, scf->scheme->name.data,
                                scf->scheme->name.len) != 1
            || EVP_DigestUpdate(md, "\n", 1) != 1
            || EVP_DigestUpdate(md, sr->id.data, sr->id.len) != 1)
        {
            goto failed;
        }

    } else {
        sep = 'm';

        if (EVP_DigestUpdate(md, &sep, 1) != 1
            || EVP_DigestUpdate(md, sr->mac, sr->mac_len) != 1)
        {
            goto failed;
        }
    }

    len = NGX_HTTP_ITSM_REPLAY_KEY_LEN;

    if (EVP_DigestFinal_ex(md, key, &len) != 1) {
        goto failed;
    }

    EVP_MD_CTX_free(md);
    return;

failed:

    /* not reached in practice; a key of the MAC bytes still works */

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    ngx_memzero(key, NGX_HTTP_ITSM_REPLAY_KEY_LEN);
    ngx_memcpy(key, sr->mac, ngx_min(sr->mac_len,
                                     NGX_HTTP_ITSM_REPLAY_KEY_LEN));
}


static ngx_int_t
ngx_http_itsm_sig_update(EVP_MD_CTX **ctxs, ngx_uint_t n, u_char *data,
    size_t len)
{
    ngx_uint_t  i;

    if (len == 0) {
        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(ctxs[i], data, len) != 1) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the raw body: memory buffers, or the temporary file it was written to */

static ngx_int_t
ngx_http_itsm_sig_body(ngx_http_request_t *r, EVP_MD_CTX **ctxs,
    ngx_uint_t n)
{
    off_t         off;
    u_char       *buf;
    ssize_t       size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    buf = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (ngx_http_itsm_sig_update(ctxs, n, b->pos, b->last - b->pos)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!b->in_file) {
            continue;
        }

        if (buf == NULL) {
            buf = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_SIG_FILE_CHUNK);
            if (buf == NULL) {
                return NGX_ERROR;
            }
        }

        for (off = b->file_pos; off < b->file_last; off += size) {
            size = ngx_read_file(b->file, buf,
                                 (size_t) ngx_min(NGX_HTTP_ITSM_SIG_FILE_CHUNK,
                                                  b->file_last - off),
                                 off);

            if (size == NGX_ERROR || size == 0) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "itsm_signature: cannot read the request body "
                              "from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            if (ngx_http_itsm_sig_update(ctxs, n, buf, size) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * The HMAC key of a secret: a copy of its bytes, or the base64 after
 * "whsec_" decoded, in memory of the pool given.  Never a pointer into the
 * secret's text: the callers wipe that text (a secret file's buffer, the
 * directive's argument) as soon as they have the key, and a key that
 * pointed into it would be wiped with it, leaving an all-zero HMAC key
 * that anybody can sign with.
 */

ngx_int_t
ngx_http_itsm_sig_key(ngx_http_itsm_sig_conf_t *scf, ngx_str_t *secret,
    ngx_pool_t *pool, ngx_str_t *key)
{
    u_char     *p;
    size_t      len;
    ssize_t     n;

    if (!scf->scheme->whsec) {
        key->data = ngx_pnalloc(pool, secret->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(key->data, secret->data, secret->len);
        key->len = secret->len;

        return NGX_OK;
    }

    p = secret->data;
    len = secret->len;

    if (len > 6 && ngx_strncmp(p, "whsec_", 6) == 0) {
        p += 6;
        len -= 6;
    }

    key->data = ngx_pnalloc(pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    n = ngx_http_itsm_base64_decode(key->data, len, p, len, 0);

    if (n <= 0) {
        ngx_explicit_memzero(key->data, len);
        return NGX_DECLINED;
    }

    key->len = n;

    return NGX_OK;
}


/* the digests of key^ipad and key^opad (RFC 2104) */

ngx_int_t
ngx_http_itsm_sig_hmac_key(EVP_MD *md, ngx_str_t *key, EVP_MD_CTX *inner,
    EVP_MD_CTX *outer)
{
    int           block;
    size_t        i, len;
    ngx_int_t     rc;
    unsigned int  n;
    u_char        k[NGX_HTTP_ITSM_SIG_BLOCK_MAX];
    u_char        pad[NGX_HTTP_ITSM_SIG_BLOCK_MAX];

    block = EVP_MD_get_block_size(md);

    if (block <= 0 || block > NGX_HTTP_ITSM_SIG_BLOCK_MAX) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    ngx_memzero(k, sizeof(k));

    if (key->len > (size_t) block) {
        if (EVP_Digest(key->data, key->len, k, &n, md, NULL) != 1) {
            goto done;
        }

    } else {
        ngx_memcpy(k, key->data, key->len);
    }

    len = block;

    for (i = 0; i < len; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    if (EVP_DigestInit_ex(inner, md, NULL) != 1
        || EVP_DigestUpdate(inner, pad, len) != 1)
    {
        goto done;
    }

    for (i = 0; i < len; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    if (EVP_DigestInit_ex(outer, md, NULL) != 1
        || EVP_DigestUpdate(outer, pad, len) != 1)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_explicit_memzero(k, sizeof(k));
    ngx_explicit_memzero(pad, sizeof(pad));
    ERR_clear_error();

    return rc;
}


/* at the end of a worker: its MAC contexts */

void
ngx_http_itsm_sig_exit(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_ITSM_SIG_SECRETS_MAX; i++) {
        EVP_MD_CTX_free(ngx_http_itsm_sig_work[i]);
        EVP_MD_CTX_free(ngx_http_itsm_sig_outer[i]);
        ngx_http_itsm_sig_work[i] = NULL;
        ngx_http_itsm_sig_outer[i] = NULL;
    }
}
