
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_callback.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>


/*
 * A connector's callback lines, in its "itsm_connector" block:
 *
 *   callback_token  sha256:<64 hex>;        the hash of a token that may
 *                                           call back for this connector
 *                                           (several: rotation)
 *   callback_status rt;                     a preset map, or
 *   callback_status NAME=STATE ...;         the ITSM's statuses onto the
 *                                           lifecycle (several lines add up)
 *
 * The configuration holds only the tokens' SHA-256 (build/itsm-token new
 * CONNECTOR prints the token once and this line); a presented token is
 * hashed and compared with each, in constant time.
 */


/* the longest token looked at; longer ones are refused unhashed */
#define NGX_HTTP_ITSM_CALLBACK_TOKEN_MAX  256


typedef struct {
    ngx_str_t                    profile;
    const char                  *map;          /* "NAME=STATE ..." */
} ngx_http_itsm_callback_preset_t;


ngx_str_t  ngx_http_itsm_callback_state_names[] = {
    ngx_string("none"),
    ngx_string("open"),
    ngx_string("acknowledged"),
    ngx_string("resolved"),
    ngx_string("closed"),
    ngx_string("deleted"),
    ngx_string("note"),                  /* ..._CALLBACK_NOTE: no state */
    ngx_null_string
};


/*
 * The presets, one an ITSM, items separated by ";" (Jira's names have
 * spaces).
 *
 * Request Tracker's default lifecycle: "stalled" is a ticket someone put
 * on hold (it is being dealt with), "rejected" one closed without a fix.
 *
 * Jira (Cloud and Service Management): workflows name their statuses as
 * they like; the common names of Jira's and JSM's default workflows are
 * here, and the status category every status belongs to
 * ("category:new", "category:indeterminate", "category:done") catches the
 * others (the jira profile maps the category when the name is not in the
 * map).
 *
 * ServiceNow: the incident's state, as its value (what the business rule
 * of docs/callbacks.md sends) and as its label.
 *
 * PagerDuty (webhooks v3): the event types that change an incident's
 * status.  Opsgenie: the actions of the outgoing webhook that do;
 * "Delete" forgets the key (the alert is gone).
 */

static ngx_http_itsm_callback_preset_t  ngx_http_itsm_callback_presets[] = {
    { ngx_string("rt"),
      "new=open;open=open;stalled=acknowledged;resolved=resolved;"
      "rejected=closed;deleted=deleted" },
    { ngx_string("jira"),
      "To Do=open;Open=open;Reopened=open;Backlog=open;"
      "Selected for Development=open;Waiting for support=open;"
      "In Progress=acknowledged;In Review=acknowledged;"
      "Work in progress=acknowledged;Pending=acknowledged;"
      "Waiting for customer=acknowledged;Escalated=acknowledged;"
      "Done=resolved;Resolved=resolved;Completed=resolved;"
      "Closed=closed;Won't Do=closed;Declined=closed;Canceled=closed;"
      "Cancelled=closed;"
      "category:new=open;category:indeterminate=acknowledged;"
      "category:done=resolved;jira:issue_deleted=deleted" },
    { ngx_string("servicenow"),
      "1=open;2=acknowledged;3=acknowledged;6=resolved;7=closed;8=closed;"
      "New=open;In Progress=acknowledged;On Hold=acknowledged;"
      "Resolved=resolved;Closed=closed;Canceled=closed" },
    { ngx_string("pagerduty"),
      "incident.triggered=open;incident.acknowledged=acknowledged;"
      "incident.unacknowledged=open;incident.reopened=open;"
      "incident.resolved=resolved" },
    { ngx_string("opsgenie"),
      "Create=open;Acknowledge=acknowledged;UnAcknowledge=open;"
      "Close=closed;Delete=deleted" },
    { ngx_null_string, NULL }
};


static char *ngx_http_itsm_callback_status_add(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *pair);


char *
ngx_http_itsm_callback_token_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    u_char                         *hash, *h;
    ngx_int_t                       hi, lo;
    ngx_uint_t                      i;
    ngx_str_t                       hex;
    ngx_http_itsm_callback_conf_t  *cbcf;

    hex = value[1];

    if (hex.len >= sizeof("itsmcb_") - 1
        && ngx_strncmp(hex.data, "itsmcb_", sizeof("itsmcb_") - 1) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"callback_token\" of itsm_connector \"%V\" "
                           "holds a token itself; write only its hash, "
                           "the line \"echo TOKEN | build/itsm-token hash\" "
                           "prints, and keep the token out of the "
                           "configuration", &conn->name);
        return NGX_CONF_ERROR;
    }

    if (hex.len != sizeof("sha256:") - 1 + 2 * NGX_HTTP_ITSM_CALLBACK_HASH_LEN
        || ngx_strncmp(hex.data, "sha256:", sizeof("sha256:") - 1) != 0)
    {
        goto invalid;
    }

    hex.data += sizeof("sha256:") - 1;
    hex.len -= sizeof("sha256:") - 1;

    cbcf = ngx_http_itsm_callback_conf(cf, conn);
    if (cbcf == NULL) {
        return NGX_CONF_ERROR;
    }

    hash = ngx_pnalloc(cf->pool, NGX_HTTP_ITSM_CALLBACK_HASH_LEN);
    if (hash == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_CALLBACK_HASH_LEN; i++) {
        hi = ngx_hextoi(&hex.data[2 * i], 1);
        lo = ngx_hextoi(&hex.data[2 * i + 1], 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            goto invalid;
        }

        hash[i] = (u_char) (hi << 4 | lo);
    }

    if (ngx_http_itsm_conf_digest_index(&cbcf->tokens, cbcf->tokens.nelts,
                                        hash)
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"callback_token\" of itsm_connector \"%V\" is "
                           "given twice; remove one of the lines",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    h = ngx_array_push(&cbcf->tokens);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(h, hash, NGX_HTTP_ITSM_CALLBACK_HASH_LEN);

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"callback_token\" of itsm_connector \"%V\": "
                       "it takes \"sha256:\" and the 64 hex digits of the "
                       "token's SHA-256, the line \"build/itsm-token new %V\" "
                       "prints", &conn->name, &conn->name);
    return NGX_CONF_ERROR;
}


/* "callback_status rt;" or "callback_status NAME=STATE ...;" */

char *
ngx_http_itsm_callback_status_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    char        *rv;
    ngx_uint_t   i;

    if (n == 1 && ngx_strlchr(value[1].data, value[1].data + value[1].len,
                              '=')
                  == NULL)
    {
        rv = NGX_CONF_OK;

        if (ngx_http_itsm_callback_preset(cf, conn, &value[1]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"callback_status\" preset \"%V\" in "
                               "itsm_connector \"%V\"; the presets are: rt, "
                               "jira, servicenow, pagerduty, opsgenie; "
                               "or map each status: \"callback_status "
                               "Done=resolved ...;\"", &value[1],
                               &conn->name);
            rv = NGX_CONF_ERROR;
        }

        return rv;
    }

    for (i = 1; i <= n; i++) {
        rv = ngx_http_itsm_callback_status_add(cf, conn, &value[i]);

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The preset map of a profile ("rt"), for "callback_status rt;" and for a
 * callback location of that profile whose connector maps nothing:
 * NGX_DECLINED when there is no such preset.
 */

ngx_int_t
ngx_http_itsm_callback_preset(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *profile)
{
    u_char                           *p, *last;
    ngx_str_t                         pair;
    ngx_http_itsm_callback_preset_t  *preset;

    preset = ngx_http_itsm_conf_row(ngx_http_itsm_callback_presets,
                                    sizeof(ngx_http_itsm_callback_preset_t),
                                    profile);
    if (preset == NULL) {
        return NGX_DECLINED;
    }

    p = (u_char *) preset->map;
    last = p + ngx_strlen(preset->map);

    while (p < last) {
        pair.data = p;

        while (p < last && *p != ';') {
            p++;
        }

        pair.len = p - pair.data;

        if (ngx_http_itsm_callback_status_add(cf, conn, &pair)
            != NGX_CONF_OK)
        {
            return NGX_ERROR;
        }

        if (p < last) {
            p++;                                /* the ";" */
        }
    }

    return NGX_OK;
}


static char *
ngx_http_itsm_callback_status_add(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *pair)
{
    ngx_int_t                         state;
    ngx_str_t                         name, value;
    ngx_http_itsm_callback_conf_t    *cbcf;
    ngx_http_itsm_callback_status_t  *st;

    if (ngx_http_itsm_conf_split(pair, '=', &name, &value) != NGX_OK
        || name.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"callback_status\" item \"%V\" in "
                           "itsm_connector \"%V\"; write ITSM_STATUS=STATE, "
                           "e.g. \"resolved=resolved\"", pair, &conn->name);
        return NGX_CONF_ERROR;
    }

    /* a note is no state: callback_status maps statuses onto states */

    state = ngx_http_itsm_callback_state(&value);

    if (state == NGX_ERROR || state == NGX_HTTP_ITSM_CALLBACK_NOTE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown lifecycle state \"%V\" for status \"%V\" "
                           "in \"callback_status\" of itsm_connector \"%V\"; "
                           "the states are: open, acknowledged, resolved, "
                           "closed, deleted", &value, &name, &conn->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_callback_map(conn, &name) != NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "status \"%V\" is mapped twice in "
                           "\"callback_status\" of itsm_connector \"%V\"; "
                           "keep one (statuses are compared without case)",
                           &name, &conn->name);
        return NGX_CONF_ERROR;
    }

    cbcf = ngx_http_itsm_callback_conf(cf, conn);
    if (cbcf == NULL) {
        return NGX_CONF_ERROR;
    }

    st = ngx_array_push(&cbcf->statuses);
    if (st == NULL) {
        return NGX_CONF_ERROR;
    }

    st->name = name;
    st->state = state;

    return NGX_CONF_OK;
}


/*
 * The lifecycle state of that name, "open" to "deleted", or "note"
 * (NGX_HTTP_ITSM_CALLBACK_NOTE, which on_ticket takes and callback_status
 * does not); NGX_ERROR when there is none: "none" is no state to name.
 */

ngx_int_t
ngx_http_itsm_callback_state(ngx_str_t *name)
{
    ngx_str_t  *state;

    state = ngx_http_itsm_conf_row(ngx_http_itsm_callback_state_names,
                                   sizeof(ngx_str_t), name);

    if (state == NULL
        || state == &ngx_http_itsm_callback_state_names[
                                              NGX_HTTP_ITSM_TICKET_NONE])
    {
        return NGX_ERROR;
    }

    return state - ngx_http_itsm_callback_state_names;
}


/* the lifecycle state of an ITSM status, without case; NGX_ERROR: unmapped */

ngx_int_t
ngx_http_itsm_callback_map(ngx_http_itsm_connector_t *conn, ngx_str_t *status)
{
    ngx_uint_t                        i;
    ngx_http_itsm_callback_status_t  *st;

    if (conn->callback == NULL) {
        return NGX_ERROR;
    }

    st = conn->callback->statuses.elts;

    for (i = 0; i < conn->callback->statuses.nelts; i++) {
        if (st[i].name.len == status->len
            && ngx_strncasecmp(st[i].name.data, status->data, status->len)
               == 0)
        {
            return st[i].state;
        }
    }

    return NGX_ERROR;
}


/*
 * Is "token" one of the connector's: its SHA-256 compared with every hash
 * in constant time (CRYPTO_memcmp), without stopping at a match, so the
 * time says nothing of which one or how much matched.
 */

ngx_int_t
ngx_http_itsm_callback_token_valid(ngx_http_itsm_connector_t *conn,
    ngx_str_t *token)
{
    u_char        *h;
    ngx_uint_t     i, match;
    unsigned int   len;
    u_char         md[EVP_MAX_MD_SIZE];

    if (conn->callback == NULL || token->len == 0
        || token->len > NGX_HTTP_ITSM_CALLBACK_TOKEN_MAX)
    {
        return 0;
    }

    if (EVP_Digest(token->data, token->len, md, &len, EVP_sha256(), NULL)
        != 1
        || len != NGX_HTTP_ITSM_CALLBACK_HASH_LEN)
    {
        return 0;
    }

    h = conn->callback->tokens.elts;
    match = 0;

    for (i = 0; i < conn->callback->tokens.nelts; i++) {
        match |= (CRYPTO_memcmp(h + i * NGX_HTTP_ITSM_CALLBACK_HASH_LEN, md,
                                NGX_HTTP_ITSM_CALLBACK_HASH_LEN)
                  == 0);
    }

    OPENSSL_cleanse(md, sizeof(md));

    return match;
}


/* the connector's callback configuration, made at its first callback line */

ngx_http_itsm_callback_conf_t *
ngx_http_itsm_callback_conf(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn)
{
    ngx_http_itsm_callback_conf_t  *cbcf;

    if (conn->callback) {
        return conn->callback;
    }

    cbcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_callback_conf_t));
    if (cbcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cbcf->tokens, cf->pool, 2,
                       NGX_HTTP_ITSM_CALLBACK_HASH_LEN)
        != NGX_OK
        || ngx_array_init(&cbcf->statuses, cf->pool, 8,
                          sizeof(ngx_http_itsm_callback_status_t))
           != NGX_OK)
    {
        return NULL;
    }

    conn->callback = cbcf;

    return cbcf;
}
