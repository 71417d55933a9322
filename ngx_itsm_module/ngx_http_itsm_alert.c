
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"

#include <ngx_md5.h>


/*
 * The normalized alert and the source profiles that produce it.
 *
 * ngx_http_itsm_alert_parse() hands the payload to the location's profile
 * (generic here; Alertmanager and Grafana, Azure Monitor and Datadog in
 * ngx_http_itsm_source_*.c), which appends one alert per alert instance.
 * Every profile fills the same text fields and uses the helpers below, so
 * that states, severities and error messages are the same everywhere:
 * lenient about types where senders are (numbers as text), strict where a
 * mistake would make a wrong ticket (no key, an unknown state, a payload of
 * another shape), and every error names the JSON Pointer at fault.
 *
 * The profiles' own settings (itsm_max_alerts, itsm_state_map,
 * itsm_severity_map) belong to a small module of this file, so that they
 * live next to the code that reads them.
 */


#define NGX_HTTP_ITSM_DEFAULT_MAX_ALERTS  1000

/* an error message with a pointer and a value or two cut to this */
#define NGX_HTTP_ITSM_ALERT_ERROR_MAX     1024
#define NGX_HTTP_ITSM_ALERT_QUOTE_MAX     128


typedef struct {
    ngx_str_t                    word;
    ngx_uint_t                   value;
} ngx_http_itsm_alert_word_t;


typedef struct {
    ngx_uint_t                   max_alerts;
    ngx_array_t                 *states;       /* ngx_http_itsm_alert_word_t */
    ngx_array_t                 *severities;   /* ngx_http_itsm_alert_word_t */
} ngx_http_itsm_alert_conf_t;


static ngx_int_t ngx_http_itsm_alert_lookup(ngx_array_t *map,
    ngx_http_itsm_alert_word_t *builtin, ngx_str_t *word, ngx_uint_t *value);
static void *ngx_http_itsm_alert_create_conf(ngx_conf_t *cf);
static char *ngx_http_itsm_alert_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_itsm_alert_map(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_itsm_alert_max_check(ngx_conf_t *cf, void *post,
    void *data);


/*
 * What senders write for "the problem is there" and "it is gone", compared
 * without case: Alertmanager and Grafana (firing, resolved), Grafana's
 * group state (alerting, ok), Azure (Fired, Resolved; Active for activity
 * log events), and the words of ticketing and monitoring tools.
 */

static ngx_http_itsm_alert_word_t  ngx_http_itsm_alert_state_words[] = {
    { ngx_string("firing"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("fired"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("alerting"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("problem"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("triggered"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("active"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("open"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("resolved"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("ok"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("recovered"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("closed"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_null_string, 0 }
};


/*
 * Severity words, compared without case: Azure's Sev0-Sev4, Datadog's
 * P1-P5 and alert types, syslog levels, and the words Prometheus rules
 * put in labels.severity.  Bare numbers are not here: 1 is the most urgent
 * on some scales and the least on others; itsm_severity_map says which.
 */

static ngx_http_itsm_alert_word_t  ngx_http_itsm_alert_severity_words[] = {
    { ngx_string("critical"), 0 },
    { ngx_string("crit"), 0 },
    { ngx_string("fatal"), 0 },
    { ngx_string("emergency"), 0 },
    { ngx_string("emerg"), 0 },
    { ngx_string("alert"), 0 },
    { ngx_string("disaster"), 0 },
    { ngx_string("page"), 0 },
    { ngx_string("sev0"), 0 },
    { ngx_string("p1"), 0 },
    { ngx_string("high"), 1 },
    { ngx_string("error"), 1 },
    { ngx_string("err"), 1 },
    { ngx_string("major"), 1 },
    { ngx_string("severe"), 1 },
    { ngx_string("sev1"), 1 },
    { ngx_string("p2"), 1 },
    { ngx_string("warning"), 2 },
    { ngx_string("warn"), 2 },
    { ngx_string("medium"), 2 },
    { ngx_string("moderate"), 2 },
    { ngx_string("average"), 2 },
    { ngx_string("minor"), 2 },
    { ngx_string("sev2"), 2 },
    { ngx_string("p3"), 2 },
    { ngx_string("info"), 3 },
    { ngx_string("informational"), 3 },
    { ngx_string("information"), 3 },
    { ngx_string("notice"), 3 },
    { ngx_string("success"), 3 },
    { ngx_string("sev3"), 3 },
    { ngx_string("p4"), 3 },
    { ngx_string("low"), 4 },
    { ngx_string("debug"), 4 },
    { ngx_string("trace"), 4 },
    { ngx_string("sev4"), 4 },
    { ngx_string("p5"), 4 },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_itsm_alert_max_post = {
    ngx_http_itsm_alert_max_check
};


static ngx_command_t  ngx_http_itsm_alert_commands[] = {

    { ngx_string("itsm_max_alerts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_alert_conf_t, max_alerts),
      &ngx_http_itsm_alert_max_post },

    { ngx_string("itsm_state_map"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_alert_map,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_alert_conf_t, states),
      ngx_http_itsm_state_names },

    { ngx_string("itsm_severity_map"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_itsm_alert_map,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_itsm_alert_conf_t, severities),
      ngx_http_itsm_severity_names },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_itsm_alert_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_itsm_alert_create_conf,       /* create location configuration */
    ngx_http_itsm_alert_merge_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_itsm_alert_module = {
    NGX_MODULE_V1,
    &ngx_http_itsm_alert_module_ctx,       /* module context */
    ngx_http_itsm_alert_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The payload's alerts, by the location's source profile, appended to
 * "alerts" (ngx_http_itsm_alert_t *) in the payload's order.  NGX_ERROR
 * with "error" set when the payload is not what the profile expects; the
 * message names the field and its pointer, for the sender's 400 answer
 * (an empty "error": the server failed).
 */

ngx_int_t
ngx_http_itsm_alert_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error)
{
    ngx_http_itsm_alert_t  *alert;

    ngx_str_null(error);

    switch (conf->source) {

    case NGX_HTTP_ITSM_SOURCE_ALERTMANAGER:
    case NGX_HTTP_ITSM_SOURCE_GRAFANA:
        return ngx_http_itsm_alertmanager_parse(r, conf->source, payload,
                                                alerts, error);

    case NGX_HTTP_ITSM_SOURCE_AZURE:
        return ngx_http_itsm_azure_parse(r, payload, alerts, error);

    case NGX_HTTP_ITSM_SOURCE_DATADOG:
        return ngx_http_itsm_datadog_parse(r, payload, alerts, error);

    default: /* NGX_HTTP_ITSM_SOURCE_GENERIC */
        alert = ngx_http_itsm_alert_generic(r, payload, conf->pointers, error);
        if (alert == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_itsm_alert_push(alerts, alert, error);
    }
}


/* helpers for the profiles */

ngx_http_itsm_alert_t *
ngx_http_itsm_alert_create(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *raw)
{
    ngx_http_itsm_alert_t  *alert;

    alert = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_alert_t));
    if (alert == NULL) {
        return NULL;
    }

    alert->raw = raw;
    ngx_http_itsm_alert_set_state(alert, NGX_HTTP_ITSM_FIRING);
    alert->fields[NGX_HTTP_ITSM_FIELD_SOURCE] =
                                            ngx_http_itsm_source_names[source];

    return alert;
}


/*
 * What the alert says, as one number: two alerts with the same hash are
 * the same alert (a copy from an HA sender, a retry, a storm), so that
 * one joins the other in flight, and a repeat held in a cooldown adds
 * nothing.  Every normalized field counts (a note in the description, a
 * change of severity, a new startsAt), each with its length, so that no
 * two different alerts run together; the raw JSON does not (timestamps
 * of the delivery itself).
 */

uint64_t
ngx_http_itsm_alert_hash(ngx_http_itsm_alert_t *alert)
{
    u_char      digest[16];
    uint64_t    hash;
    uint32_t    len;
    ngx_md5_t   md5;
    ngx_uint_t  i, state;

    if (alert->hash) {
        return alert->hash;
    }

    ngx_md5_init(&md5);

    state = alert->state;
    ngx_md5_update(&md5, &state, sizeof(state));

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
        len = (uint32_t) alert->fields[i].len;
        ngx_md5_update(&md5, &len, sizeof(len));
        ngx_md5_update(&md5, alert->fields[i].data, len);
    }

    ngx_md5_final(digest, &md5);

    ngx_memcpy(&hash, digest, sizeof(hash));

    /* 0 means "not computed yet" */
    alert->hash = hash ? hash : 1;

    return alert->hash;
}

ngx_int_t
ngx_http_itsm_alert_push(ngx_array_t *alerts, ngx_http_itsm_alert_t *alert,
    ngx_str_t *error)
{
    ngx_http_itsm_alert_t  **a;

    a = ngx_array_push(alerts);
    if (a == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    *a = alert;

    return NGX_OK;
}


/*
 * A payload's alerts are handled one after the other within the sender's
 * request, each with up to two ITSM requests: "itsm_max_alerts" bounds
 * that work.  A payload over the limit is refused whole: taking part of it
 * would answer 2xx for alerts that were never handled.
 */

ngx_int_t
ngx_http_itsm_alert_check_count(ngx_http_request_t *r, size_t n,
    ngx_str_t *error)
{
    ngx_http_itsm_alert_conf_t  *acf;

    acf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_alert_module);

    if (n <= acf->max_alerts) {
        return NGX_OK;
    }

    return ngx_http_itsm_alert_error(r, error,
                                     "the payload holds %uz alerts, more "
                                     "than the %ui of itsm_max_alerts; have "
                                     "the sender send fewer at a time "
                                     "(Alertmanager: max_alerts, Grafana: "
                                     "maxAlerts) or raise itsm_max_alerts",
                                     n, acf->max_alerts);
}


/*
 * obj[name] as text.  NGX_OK: "out" is set (it may be empty); NGX_DECLINED:
 * absent or null; NGX_ERROR: an object or an array, with "error" naming
 * the field as a JSON Pointer ("where" is the pointer of "obj"), or no
 * memory (an empty "error").  Numbers and booleans are text: senders are
 * lenient about types, and so is the alert.
 */

ngx_int_t
ngx_http_itsm_alert_text(ngx_http_request_t *r, json_t *obj, const char *name,
    ngx_str_t *where, ngx_str_t *out, ngx_str_t *error)
{
    json_t     *value;
    ngx_int_t   rc;

    ngx_str_null(out);

    value = json_is_object(obj) ? json_object_get(obj, name) : NULL;

    if (value == NULL || json_is_null(value)) {
        return NGX_DECLINED;
    }

    rc = ngx_http_itsm_json_scalar(value, r->pool, out);

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_alert_error(r, error,
                                         "field \"%V/%s\" must be a string "
                                         "or a number", where, name);
    }

    if (rc == NGX_ERROR) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Sets a field from obj[name] unless an earlier candidate set it already:
 * a profile lists its candidates for a field in order of preference.  An
 * empty value is no value.
 */

ngx_int_t
ngx_http_itsm_alert_set(ngx_http_request_t *r, ngx_http_itsm_alert_t *alert,
    ngx_uint_t field, json_t *obj, const char *name, ngx_str_t *where,
    ngx_str_t *error)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    if (alert->fields[field].len) {
        return NGX_OK;
    }

    rc = ngx_http_itsm_alert_text(r, obj, name, where, &value, error);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && value.len) {
        alert->fields[field] = value;
    }

    return NGX_OK;
}


/*
 * obj[name] of a JSON type (an object or an array).  NGX_OK: "out" is set;
 * NGX_DECLINED: absent or null; NGX_ERROR: another type ("error" names the
 * pointer).
 */

ngx_int_t
ngx_http_itsm_alert_member(ngx_http_request_t *r, json_t *obj,
    const char *name, json_type type, ngx_str_t *where, json_t **out,
    ngx_str_t *error)
{
    json_t  *value;

    *out = NULL;

    value = json_is_object(obj) ? json_object_get(obj, name) : NULL;

    if (value == NULL || json_is_null(value)) {
        return NGX_DECLINED;
    }

    if (json_typeof(value) != type) {
        return ngx_http_itsm_alert_error(r, error,
                                         "field \"%V/%s\" must be %s",
                                         where, name,
                                         type == JSON_ARRAY
                                         ? "an array" : "an object");
    }

    *out = value;

    return NGX_OK;
}


/*
 * An array of names or ids as one field, "a, b, c" (empty elements and
 * nulls left out), and its first element.  "where" is the pointer of the
 * array, for the message about an element that is not text.
 */

ngx_int_t
ngx_http_itsm_alert_join(ngx_http_request_t *r, json_t *list,
    ngx_str_t *where, ngx_str_t *out, ngx_str_t *first, ngx_str_t *error)
{
    u_char     *p;
    size_t      i, n, len;
    json_t     *value;
    ngx_int_t   rc;
    ngx_str_t  *items;

    ngx_str_null(out);
    ngx_str_null(first);

    n = json_array_size(list);

    if (n == 0) {
        return NGX_OK;
    }

    items = ngx_pcalloc(r->pool, n * sizeof(ngx_str_t));
    if (items == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < n; i++) {
        value = json_array_get(list, i);

        if (json_is_null(value)) {
            continue;
        }

        rc = ngx_http_itsm_json_scalar(value, r->pool, &items[i]);

        if (rc == NGX_ERROR) {
            ngx_str_null(error);
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_itsm_alert_error(r, error,
                                             "field \"%V/%uz\" must be a "
                                             "string", where, i);
        }

        if (items[i].len == 0) {
            continue;
        }

        if (first->len == 0) {
            *first = items[i];
        }

        len += items[i].len + 2;
    }

    if (len == 0) {
        return NGX_OK;
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < n; i++) {
        if (items[i].len == 0) {
            continue;
        }

        if (p != out->data) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, items[i].data, items[i].len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * How much of a sender's value an error message quotes: at most 128
 * bytes, and never half a UTF-8 character, so that the JSON answer stays
 * valid UTF-8.
 */

int
ngx_http_itsm_alert_clip(ngx_str_t *value)
{
    size_t  len;

    len = value->len;

    if (len <= NGX_HTTP_ITSM_ALERT_QUOTE_MAX) {
        return (int) len;
    }

    len = NGX_HTTP_ITSM_ALERT_QUOTE_MAX;

    while (len && (value->data[len] & 0xc0) == 0x80) {
        len--;
    }

    return (int) len;
}


/*
 * The alert's state from the word the sender used: the location's
 * itsm_state_map first, then the words above.  NGX_DECLINED: an unknown
 * word; the profile says what it expected.
 */

ngx_int_t
ngx_http_itsm_alert_state(ngx_http_request_t *r, ngx_http_itsm_alert_t *alert,
    ngx_str_t *raw)
{
    ngx_uint_t                   state;
    ngx_http_itsm_alert_conf_t  *acf;

    acf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_alert_module);

    if (ngx_http_itsm_alert_lookup(acf->states,
                                   ngx_http_itsm_alert_state_words, raw,
                                   &state)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_http_itsm_alert_set_state(alert, state);

    return NGX_OK;
}


/* what a sender can write in the status: the words of itsm_state_map are
 * listed, since a mapped source is where an unknown word is most likely */

ngx_int_t
ngx_http_itsm_alert_bad_state(ngx_http_request_t *r, ngx_str_t *raw,
    ngx_str_t *pointer, ngx_str_t *error)
{
    u_char                      *p, *last;
    ngx_uint_t                   i;
    ngx_http_itsm_alert_word_t  *w;
    ngx_http_itsm_alert_conf_t  *acf;
    u_char                       words[NGX_HTTP_ITSM_ALERT_ERROR_MAX / 2];

    acf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_alert_module);

    p = words;
    last = words + sizeof(words);

    if (acf->states) {
        p = ngx_slprintf(p, last, ", or a word of itsm_state_map:");

        w = acf->states->elts;

        for (i = 0; i < acf->states->nelts; i++) {
            p = ngx_slprintf(p, last, "%s \"%V\"", i ? "," : "",
                             &w[i].word);
        }
    }

    return ngx_http_itsm_alert_error(r, error,
                                     "unknown status \"%*s\" (JSON Pointer "
                                     "\"%V\"): expected \"firing\" or "
                                     "\"resolved\"%*s",
                                     ngx_http_itsm_alert_clip(raw), raw->data,
                                     pointer, p - words, words);
}


void
ngx_http_itsm_alert_set_state(ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_state_e state)
{
    alert->state = state;
    alert->fields[NGX_HTTP_ITSM_FIELD_STATUS] =
                                             ngx_http_itsm_state_names[state];
}


/*
 * "severity" is one of critical, high, warning, info, low, by the
 * location's itsm_severity_map and then the words above; "severity_raw"
 * keeps what the sender wrote.  A word neither knows is passed on
 * unchanged rather than guessed at, so that it still reaches the ticket
 * and can be mapped with "map $itsm_severity" or itsm_severity_map.
 */

void
ngx_http_itsm_alert_severity(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_str_t *raw)
{
    ngx_uint_t                   severity;
    ngx_http_itsm_alert_conf_t  *acf;

    if (raw->len == 0) {
        return;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY_RAW].len == 0) {
        alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY_RAW] = *raw;
    }

    acf = ngx_http_get_module_loc_conf(r, ngx_http_itsm_alert_module);

    if (ngx_http_itsm_alert_lookup(acf->severities,
                                   ngx_http_itsm_alert_severity_words, raw,
                                   &severity)
        == NGX_OK)
    {
        alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY] =
                                       ngx_http_itsm_severity_names[severity];
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm alert: severity \"%V\" is not mapped", raw);

    alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY] = *raw;
}


ngx_int_t
ngx_http_itsm_alert_missing_key(ngx_http_request_t *r, ngx_str_t *where,
    const char *name, ngx_str_t *error)
{
    return ngx_http_itsm_alert_error(r, error,
                                     "missing field \"key\" (JSON Pointer "
                                     "\"%V/%s\"): every alert needs a key "
                                     "that identifies its problem",
                                     where, name);
}


/* formats "error" and returns NGX_ERROR, for "return ...error(...);" */

ngx_int_t
ngx_http_itsm_alert_error(ngx_http_request_t *r, ngx_str_t *error,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    error->data = ngx_pnalloc(r->pool, NGX_HTTP_ITSM_ALERT_ERROR_MAX);
    if (error->data == NULL) {
        error->len = 0;
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(error->data, error->data + NGX_HTTP_ITSM_ALERT_ERROR_MAX,
                      fmt, args);
    va_end(args);

    error->len = p - error->data;

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_itsm_alert_lookup(ngx_array_t *map,
    ngx_http_itsm_alert_word_t *builtin, ngx_str_t *word, ngx_uint_t *value)
{
    ngx_uint_t                   i, n;
    ngx_http_itsm_alert_word_t  *w;

    w = map ? map->elts : NULL;
    n = map ? map->nelts : 0;

    for (i = 0; i < n; i++) {
        if (w[i].word.len == word->len
            && ngx_strncasecmp(w[i].word.data, word->data, word->len) == 0)
        {
            *value = w[i].value;
            return NGX_OK;
        }
    }

    for (w = builtin; w->word.len; w++) {
        if (w->word.len == word->len
            && ngx_strncasecmp(w->word.data, word->data, word->len) == 0)
        {
            *value = w->value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static void *
ngx_http_itsm_alert_create_conf(ngx_conf_t *cf)
{
    ngx_http_itsm_alert_conf_t  *acf;

    acf = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_alert_conf_t));
    if (acf == NULL) {
        return NULL;
    }

    acf->max_alerts = NGX_CONF_UNSET_UINT;
    acf->states = NGX_CONF_UNSET_PTR;
    acf->severities = NGX_CONF_UNSET_PTR;

    return acf;
}


static char *
ngx_http_itsm_alert_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_itsm_alert_conf_t *prev = parent;
    ngx_http_itsm_alert_conf_t *conf = child;

    ngx_conf_merge_uint_value(conf->max_alerts, prev->max_alerts,
                              NGX_HTTP_ITSM_DEFAULT_MAX_ALERTS);
    ngx_conf_merge_ptr_value(conf->states, prev->states, NULL);
    ngx_conf_merge_ptr_value(conf->severities, prev->severities, NULL);

    return NGX_CONF_OK;
}


/*
 * itsm_state_map firing=open,new resolved=closed,done;
 * itsm_severity_map critical=5,disaster high=4 ...;
 *
 * NAME is one of the names in cmd->post; the words after it, compared
 * without case, are read as NAME before the built-in words.
 */

static char *
ngx_http_itsm_alert_map(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char                      *eq, *s, *last, *comma;
    u_char                       list[128];
    ngx_str_t                   *value, *names, name;
    ngx_uint_t                   i, k, j, n;
    ngx_array_t                **map;
    ngx_http_itsm_alert_word_t  *w, *words;

    map = (ngx_array_t **) (p + cmd->offset);

    if (*map != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *map = ngx_array_create(cf->pool, 4, sizeof(ngx_http_itsm_alert_word_t));
    if (*map == NULL) {
        return NGX_CONF_ERROR;
    }

    names = cmd->post;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        name.data = value[i].data;
        name.len = eq ? (size_t) (eq - value[i].data) : 0;

        for (k = 0; names[k].len; k++) {
            if (names[k].len == name.len
                && ngx_strncasecmp(names[k].data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (eq == NULL || names[k].len == 0) {
            last = ngx_cpymem(list, names[0].data, names[0].len);

            for (k = 1; names[k].len; k++) {
                last = ngx_sprintf(last, ", %V", &names[k]);
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" parameter \"%V\": expected "
                               "NAME=WORD[,WORD...] with NAME one of %*s",
                               &cmd->name, &value[i], last - list, list);
            return NGX_CONF_ERROR;
        }

        s = eq + 1;
        last = value[i].data + value[i].len;

        for ( ;; ) {
            comma = ngx_strlchr(s, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            if (comma == s) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" parameter \"%V\": an "
                                   "empty word", &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            words = (*map)->elts;
            n = (*map)->nelts;

            for (j = 0; j < n; j++) {
                if (words[j].word.len == (size_t) (comma - s)
                    && ngx_strncasecmp(words[j].word.data, s, comma - s) == 0)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"%V\": the word \"%*s\" is mapped "
                                       "twice", &cmd->name, comma - s, s);
                    return NGX_CONF_ERROR;
                }
            }

            w = ngx_array_push(*map);
            if (w == NULL) {
                return NGX_CONF_ERROR;
            }

            w->word.data = s;
            w->word.len = comma - s;
            w->value = k;

            if (comma == last) {
                break;
            }

            s = comma + 1;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_alert_max_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t *n = data;

    if (*n < 1 || *n > 100000) {
        return "must be between 1 and 100000";
    }

    return NGX_CONF_OK;
}
