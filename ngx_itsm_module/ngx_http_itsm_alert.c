
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"



/*
 * The normalized alert, and the helpers the source profiles
 * (ngx_http_itsm_source_*.c) make it with: each profile appends one alert
 * per alert instance of its payload, fills the same text fields and uses
 * the helpers below, so that states, severities and error messages are
 * the same everywhere: lenient about types where senders are (numbers as
 * text), strict where a mistake would make a wrong ticket (no key, an
 * unknown state, a payload of another shape), and every error names the
 * JSON Pointer at fault.
 *
 * The words of the location's itsm_state_map and itsm_severity_map
 * (ngx_http_itsm_source.c) come before the built-in words below.
 */


/* an error message with a pointer and a value or two cut to this */
#define NGX_HTTP_ITSM_ALERT_ERROR_MAX     1024
#define NGX_HTTP_ITSM_ALERT_QUOTE_MAX     128


static ngx_int_t ngx_http_itsm_alert_lookup(ngx_array_t *map,
    ngx_http_itsm_alert_word_t *builtin, ngx_str_t *word, ngx_uint_t *value);


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
    u_char      state;
    uint64_t    h;
    ngx_uint_t  i;

    if (alert->hash) {
        return alert->hash;
    }

    /* each field with its length (ngx_http_itsm_hash): a field's end
     * cannot pass for the next one's start */

    state = (u_char) alert->state;
    h = ngx_http_itsm_hash(0, &state, 1);

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
        h = ngx_http_itsm_hash(h, alert->fields[i].data,
                               alert->fields[i].len);
    }

    /* never 0, which means "not computed yet" */
    alert->hash = ngx_http_itsm_hash_end(h);

    return alert->hash;
}


/*
 * A source's alert, complete, to the payload's list.  Every ticket needs a
 * title: an alert whose source gave none is titled by its key.
 */

ngx_int_t
ngx_http_itsm_alert_push(ngx_array_t *alerts, ngx_http_itsm_alert_t *alert,
    ngx_str_t *error)
{
    ngx_http_itsm_alert_t  **a;

    if (alert->fields[NGX_HTTP_ITSM_FIELD_TITLE].len == 0) {
        alert->fields[NGX_HTTP_ITSM_FIELD_TITLE] =
                                       alert->fields[NGX_HTTP_ITSM_FIELD_KEY];
    }

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
ngx_http_itsm_alert_check_count(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, size_t n, ngx_str_t *error)
{
    if (n <= scf->max_alerts) {
        return NGX_OK;
    }

    return ngx_http_itsm_alert_error(r, error,
                                     "the payload holds %uz alerts, more "
                                     "than the %ui of itsm_max_alerts; have "
                                     "the sender send fewer at a time "
                                     "(Alertmanager: max_alerts, Grafana: "
                                     "maxAlerts) or raise itsm_max_alerts",
                                     n, scf->max_alerts);
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
 * Sets the fields of a source's table of candidates
 * (ngx_http_itsm_alert_set(), in the table's order): "in" are the objects
 * the table's entries read, "where" their JSON Pointers.  An object that
 * is NULL has no member: its candidates are passed over.
 */

ngx_int_t
ngx_http_itsm_alert_map(ngx_http_request_t *r, ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_alert_map_t *map, json_t **in, ngx_str_t **where,
    ngx_str_t *error)
{
    for ( /* void */ ; map->name; map++) {
        if (ngx_http_itsm_alert_set(r, alert, map->field, in[map->in],
                                    map->name, where[map->in], error)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
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
ngx_http_itsm_alert_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_str_t *raw)
{
    ngx_uint_t  state;

    if (ngx_http_itsm_alert_lookup(scf->states,
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
ngx_http_itsm_alert_bad_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_str_t *raw, ngx_str_t *pointer,
    ngx_str_t *error)
{
    u_char                      *p, *last;
    ngx_uint_t                   i;
    ngx_http_itsm_alert_word_t  *w;
    u_char                       words[NGX_HTTP_ITSM_ALERT_ERROR_MAX / 2];

    p = words;
    last = words + sizeof(words);

    if (scf->states) {
        p = ngx_slprintf(p, last, ", or a word of itsm_state_map:");

        w = scf->states->elts;

        for (i = 0; i < scf->states->nelts; i++) {
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
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_str_t *raw)
{
    ngx_uint_t  severity;

    if (raw->len == 0) {
        return;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY_RAW].len == 0) {
        alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY_RAW] = *raw;
    }

    if (ngx_http_itsm_alert_lookup(scf->severities,
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


/*
 * The severity from obj[name] unless an earlier candidate gave one: a
 * source tries its candidates in order of preference, as with
 * ngx_http_itsm_alert_set().
 */

ngx_int_t
ngx_http_itsm_alert_set_severity(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    json_t *obj, const char *name, ngx_str_t *where, ngx_str_t *error)
{
    ngx_str_t  raw;

    if (alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY_RAW].len) {
        return NGX_OK;
    }

    if (ngx_http_itsm_alert_text(r, obj, name, where, &raw, error)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    ngx_http_itsm_alert_severity(r, scf, alert, &raw);

    return NGX_OK;
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

    return ngx_http_itsm_alert_word(builtin, word, value);
}


/* "word" in a table of words ended by a null one, compared without case:
 * NGX_OK and its value, or NGX_DECLINED */

ngx_int_t
ngx_http_itsm_alert_word(ngx_http_itsm_alert_word_t *words, ngx_str_t *word,
    ngx_uint_t *value)
{
    ngx_http_itsm_alert_word_t  *w;

    for (w = words; w->word.len; w++) {
        if (w->word.len == word->len
            && ngx_strncasecmp(w->word.data, word->data, word->len) == 0)
        {
            *value = w->value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The fields the alert has, as a JSON object by their names: what a held
 * entry (ngx_http_itsm_held.c) and the way back (the kept alert,
 * ngx_http_itsm_callback_source.c) keep of it.  NULL: out of memory.
 */

json_t *
ngx_http_itsm_alert_fields_json(ngx_http_itsm_alert_t *alert)
{
    json_t      *fields;
    ngx_uint_t   i;

    fields = json_object();
    if (fields == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {

        if (alert->fields[i].data == NULL) {
            continue;
        }

        if (json_object_set_new(fields,
                (const char *) ngx_http_itsm_field_names[i].data,
                json_stringn((const char *) alert->fields[i].data,
                             alert->fields[i].len))
            != 0)
        {
            json_decref(fields);
            return NULL;
        }
    }

    return fields;
}
