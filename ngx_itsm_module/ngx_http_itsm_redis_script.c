
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_redis_int.h"

#include <openssl/evp.h>


/*
 * Scripts by their SHA1 (EVALSHA), EVAL again on a NOSCRIPT answer.
 *
 * The store's, the queue's, the replay cache's and the delivery ids' Lua
 * scripts are C string literals sent as "EVAL %s N KEYS... ARGS...": the
 * whole text with every call, a few hundred bytes to 2 KB each.  Here the
 * same command goes as "EVALSHA <sha1> N ...": the digest is worked out
 * once per script and process (at its first use) and kept by the
 * literal's address, which lives as long as the process does.
 *
 * A Redis that restarted, failed over to a replica or had SCRIPT FLUSH
 * does not know the script: it answers NOSCRIPT, and the same command is
 * sent again as EVAL (which loads the script for the next ones) before
 * the caller sees anything.  Its args are not formatted again: the
 * EVALSHA command's bytes after the digest are EVAL's too, so the command
 * is kept until answered and its head swapped.
 */


#define NGX_HTTP_ITSM_REDIS_SCRIPTS    64
#define NGX_HTTP_ITSM_REDIS_FMT_MAX    256

/* "$7\r\nEVALSHA\r\n$40\r\n" and the digest's 40 and "\r\n" */
#define NGX_HTTP_ITSM_REDIS_SHA_HEAD   "$7\r\nEVALSHA\r\n$40\r\n"
#define NGX_HTTP_ITSM_REDIS_SHA_LEN    (sizeof(NGX_HTTP_ITSM_REDIS_SHA_HEAD) \
                                        - 1 + 40 + 2)


static ngx_http_itsm_redis_script_t *ngx_http_itsm_redis_script_find(
    const char *text, ngx_log_t *log);


/* this process's scripts: a handful, looked up by address */
static ngx_http_itsm_redis_script_t  ngx_http_itsm_redis_scripts[
                                         NGX_HTTP_ITSM_REDIS_SCRIPTS];
static ngx_uint_t                    ngx_http_itsm_redis_nscripts;


ngx_http_itsm_redis_cmd_t *
ngx_http_itsm_redis_script(ngx_http_itsm_redis_t *rd,
    ngx_http_itsm_redis_handler_pt handler, void *data, const char *fmt, ...)
{
    int                            len;
    char                          *text;
    u_char                        *p;
    size_t                         n;
    va_list                        args;
    const char                    *source;
    ngx_http_itsm_redis_script_t  *script;
    u_char                         buf[NGX_HTTP_ITSM_REDIS_FMT_MAX];

    if (rd == NULL || !rd->running) {
        return NULL;
    }

    if (rd->state == NGX_HTTP_ITSM_REDIS_IDLE) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "itsm redis: script refused, down: %V", &rd->error);
        return NULL;
    }

    n = ngx_strlen(fmt);

    if (n < 8 || ngx_strncmp(fmt, "EVAL %s ", 8) != 0
        || n - 8 + sizeof("EVALSHA ") + 40 + 1 > sizeof(buf))
    {
        /* a caller's mistake: the format is the module's own */
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "itsm redis: a script's command \"%s\" does not start "
                      "with \"EVAL %%s \"", fmt);
        return NULL;
    }

    va_start(args, fmt);

    source = va_arg(args, const char *);

    script = ngx_http_itsm_redis_script_find(source, rd->log);
    if (script == NULL) {
        va_end(args);
        return NULL;
    }

    /* "EVALSHA <sha1> " and the rest of the format, the args after the
     * script's text as they are */

    p = ngx_cpymem(buf, "EVALSHA ", sizeof("EVALSHA ") - 1);
    p = ngx_cpymem(p, script->sha, 40);
    p = ngx_cpymem(p, fmt + 7, n - 7);
    *p = '\0';

    len = redisvFormatCommand(&text, (const char *) buf, args);

    va_end(args);

    if (len < 0) {
        return NULL;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "itsm redis: EVALSHA %*s", (size_t) 12, script->sha);

    return ngx_http_itsm_redis_send(rd, handler, data, script, text, len);
}


/* a script's digest, worked out at its first use in this process */

static ngx_http_itsm_redis_script_t *
ngx_http_itsm_redis_script_find(const char *text, ngx_log_t *log)
{
    ngx_uint_t                     i;
    unsigned int                   len;
    u_char                         md[EVP_MAX_MD_SIZE];
    ngx_http_itsm_redis_script_t  *s;

    for (i = 0; i < ngx_http_itsm_redis_nscripts; i++) {
        if (ngx_http_itsm_redis_scripts[i].text == text) {
            return &ngx_http_itsm_redis_scripts[i];
        }
    }

    if (ngx_http_itsm_redis_nscripts == NGX_HTTP_ITSM_REDIS_SCRIPTS) {
        /* more scripts than the module has: raise the limit */
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "itsm redis: more than %d scripts",
                      NGX_HTTP_ITSM_REDIS_SCRIPTS);
        return NULL;
    }

    s = &ngx_http_itsm_redis_scripts[ngx_http_itsm_redis_nscripts];

    s->text = text;
    s->len = ngx_strlen(text);

    if (EVP_Digest(text, s->len, md, &len, EVP_sha1(), NULL) != 1
        || len != 20)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "itsm redis: OpenSSL failed to compute a SHA1");
        return NULL;
    }

    ngx_hex_dump(s->sha, md, 20);

    ngx_http_itsm_redis_nscripts++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "itsm redis: script %*s, its SHA1 worked out",
                   (size_t) 40, s->sha);

    return s;
}


/*
 * NOSCRIPT: "cmd" again as EVAL, from within its reply's callback (hiredis
 * allows a command there); NGX_ERROR leaves the caller the NOSCRIPT error.
 */

ngx_int_t
ngx_http_itsm_redis_script_again(ngx_http_itsm_redis_cmd_t *cmd)
{
    u_char                        *p, *rest, *text, *last;
    size_t                         len;
    ngx_http_itsm_redis_t         *rd;
    ngx_http_itsm_redis_script_t  *script;

    rd = cmd->rd;
    script = cmd->script;

    /* one EVAL at most: its answer, whatever it is, is the caller's */

    cmd->script = NULL;

    if (cmd->text == NULL) {
        return NGX_ERROR;
    }

    /* "*N\r\n" then the EVALSHA head: what follows is EVAL's too */

    last = (u_char *) cmd->text + cmd->len;

    p = ngx_strlchr((u_char *) cmd->text, last, '\n');

    if (p == NULL
        || (size_t) (last - p - 1) < NGX_HTTP_ITSM_REDIS_SHA_LEN
        || ngx_strncmp(p + 1, NGX_HTTP_ITSM_REDIS_SHA_HEAD,
                       sizeof(NGX_HTTP_ITSM_REDIS_SHA_HEAD) - 1)
           != 0)
    {
        return NGX_ERROR;
    }

    p++;
    rest = p + NGX_HTTP_ITSM_REDIS_SHA_LEN;

    len = (p - (u_char *) cmd->text) + sizeof("$4\r\nEVAL\r\n$") - 1
          + NGX_SIZE_T_LEN + 2 + script->len + 2 + (last - rest);

    text = ngx_alloc(len, rd->log);
    if (text == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(text, cmd->text, p - (u_char *) cmd->text);
    p = ngx_sprintf(p, "$4\r\nEVAL\r\n$%uz\r\n", script->len);
    p = ngx_cpymem(p, script->text, script->len);
    *p++ = '\r'; *p++ = '\n';
    p = ngx_cpymem(p, rest, last - rest);

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "itsm redis: %V does not have the script %*s (NOSCRIPT): "
                  "sent again with EVAL", &rd->address, (size_t) 12,
                  script->sha);

    if (redisAsyncFormattedCommand(rd->ac, ngx_http_itsm_redis_reply, cmd,
                                   (char *) text, p - text)
        != REDIS_OK)
    {
        ngx_free(text);
        return NGX_ERROR;
    }

    ngx_free(text);

    redisFreeCommand(cmd->text);
    cmd->text = NULL;

    return NGX_OK;
}
