
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_source.h"


/*
 * Datadog's webhook integration with its default payload: one payload is
 * one monitor notification.  Every value is a "$VARIABLE" substituted into
 * a JSON string, so numbers come as text and a variable with no value is
 * an empty string, which counts as absent.
 *
 *   key          alert_cycle_key ($ALERT_CYCLE_KEY, one id from trigger to
 *                recovery, when the payload is given it), else alert_id
 *                and alert_scope as "ID|SCOPE": the monitor id alone is
 *                shared by every group of a multi-alert monitor
 *   status       alert_transition: Recovered is resolved; Triggered,
 *                Re-Triggered, Warn, Re-Warn, No Data, Re-No Data and
 *                Renotify fire; none: alert_type "success" is resolved
 *   severity     alert_priority (P1 critical ... P5 low), else alert_type
 *                (error high, warning, info, success info)
 *   title        alert_title, else title
 *   description  body ($EVENT_MSG), else alert_status
 *   resource     host_name, else alert_scope
 *   configuration_items
 *                alert_scope (the tags that triggered, "role:db, env:prod")
 *   starts_at    date of a firing notification; ends_at: date of a
 *                recovery ($DATE, epoch milliseconds, as ISO 8601 UTC)
 *   link         link ($LINK), when the payload is given it
 *   group_key    aggreg_key ($AGGREG_KEY), when given
 *
 * The raw JSON of the alert is the whole payload ({{ /org/name }}, ...).
 */


static ngx_int_t ngx_http_itsm_datadog_key(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, json_t *payload, ngx_str_t *error);
static ngx_int_t ngx_http_itsm_datadog_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    json_t *payload, ngx_str_t *error);
static ngx_int_t ngx_http_itsm_datadog_date(ngx_http_request_t *r,
    ngx_str_t *date, ngx_str_t *out);


static ngx_str_t  ngx_http_itsm_datadog_root = ngx_string("");


/* the fields' candidates in the payload, in order of preference */

static ngx_http_itsm_alert_map_t  ngx_http_itsm_datadog_map[] = {
    { NGX_HTTP_ITSM_FIELD_TITLE, 0, "alert_title" },
    { NGX_HTTP_ITSM_FIELD_TITLE, 0, "title" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION, 0, "body" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION, 0, "alert_status" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE, 0, "host_name" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE, 0, "alert_scope" },
    { NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS, 0, "alert_scope" },
    { NGX_HTTP_ITSM_FIELD_LINK, 0, "link" },
    { NGX_HTTP_ITSM_FIELD_GROUP_KEY, 0, "aggreg_key" },
    { 0, 0, NULL }
};


/* $ALERT_TRANSITION, compared without case */

static ngx_http_itsm_alert_word_t  ngx_http_itsm_datadog_transitions[] = {
    { ngx_string("Triggered"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Re-Triggered"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Warn"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Re-Warn"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("No Data"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Re-No Data"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Renotify"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("Recovered"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_null_string, 0 }
};


ngx_int_t
ngx_http_itsm_datadog_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, ngx_http_itsm_source_conf_t *scf,
    json_t *payload, ngx_array_t *alerts, ngx_str_t *error)
{
    ngx_int_t               rc;
    ngx_str_t               date, iso, *where;
    ngx_uint_t              field;
    ngx_http_itsm_alert_t  *alert;

    alert = ngx_http_itsm_alert_create(r, NGX_HTTP_ITSM_SOURCE_DATADOG,
                                       payload);
    if (alert == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    if (ngx_http_itsm_datadog_key(r, alert, payload, error) != NGX_OK
        || ngx_http_itsm_datadog_state(r, scf, alert, payload, error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_alert_set_severity(r, scf, alert, payload,
                                         "alert_priority",
                                         &ngx_http_itsm_datadog_root, error)
        != NGX_OK
        || ngx_http_itsm_alert_set_severity(r, scf, alert, payload,
                                            "alert_type",
                                            &ngx_http_itsm_datadog_root,
                                            error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    where = &ngx_http_itsm_datadog_root;

    if (ngx_http_itsm_alert_map(r, alert, ngx_http_itsm_datadog_map,
                                &payload, &where, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a notification is dated when it happened: the start of a trigger,
     * the end of a recovery */

    rc = ngx_http_itsm_alert_text(r, payload, "date",
                                  &ngx_http_itsm_datadog_root, &date, error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (date.len) {
        if (ngx_http_itsm_datadog_date(r, &date, &iso) != NGX_OK) {
            ngx_str_null(error);
            return NGX_ERROR;
        }

        field = (alert->state == NGX_HTTP_ITSM_RESOLVED)
                ? NGX_HTTP_ITSM_FIELD_ENDS_AT : NGX_HTTP_ITSM_FIELD_STARTS_AT;

        alert->fields[field] = iso;
    }

    return ngx_http_itsm_alert_push(alerts, alert, error);
}


static ngx_int_t
ngx_http_itsm_datadog_key(ngx_http_request_t *r, ngx_http_itsm_alert_t *alert,
    json_t *payload, ngx_str_t *error)
{
    u_char     *p;
    ngx_str_t   id, scope;

    if (ngx_http_itsm_alert_set(r, alert, NGX_HTTP_ITSM_FIELD_KEY, payload,
                                "alert_cycle_key", &ngx_http_itsm_datadog_root,
                                error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len) {
        return NGX_OK;
    }

    if (ngx_http_itsm_alert_text(r, payload, "alert_id",
                                 &ngx_http_itsm_datadog_root, &id, error)
        == NGX_ERROR
        || ngx_http_itsm_alert_text(r, payload, "alert_scope",
                                    &ngx_http_itsm_datadog_root, &scope, error)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    if (id.len == 0) {
        return ngx_http_itsm_alert_error(r, error,
                                         "missing field \"key\" (JSON "
                                         "Pointer \"/alert_cycle_key\" or "
                                         "\"/alert_id\"): every alert needs "
                                         "a key that identifies its "
                                         "problem; the default payload has "
                                         "\"alert_id\": \"$ALERT_ID\"");
    }

    if (scope.len == 0) {
        alert->fields[NGX_HTTP_ITSM_FIELD_KEY] = id;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, id.len + 1 + scope.len);
    if (p == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    alert->fields[NGX_HTTP_ITSM_FIELD_KEY].data = p;

    p = ngx_cpymem(p, id.data, id.len);
    *p++ = '|';
    p = ngx_cpymem(p, scope.data, scope.len);

    alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len =
                                   p - alert->fields[NGX_HTTP_ITSM_FIELD_KEY].data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_datadog_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    json_t *payload, ngx_str_t *error)
{
    ngx_int_t   rc;
    ngx_str_t   transition, type;
    ngx_uint_t  state;

    rc = ngx_http_itsm_alert_text(r, payload, "alert_transition",
                                  &ngx_http_itsm_datadog_root, &transition,
                                  error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (transition.len == 0) {

        /* not a monitor transition: its type says whether all is well */

        rc = ngx_http_itsm_alert_text(r, payload, "alert_type",
                                      &ngx_http_itsm_datadog_root, &type,
                                      error);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (type.len == sizeof("success") - 1
            && ngx_strncasecmp(type.data, (u_char *) "success", type.len) == 0)
        {
            ngx_str_set(&transition, "resolved");

        } else {
            ngx_str_set(&transition, "firing");
        }
    }

    /* the location's itsm_state_map and the common words come first */

    if (ngx_http_itsm_alert_state(r, scf, alert, &transition) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_itsm_alert_word(ngx_http_itsm_datadog_transitions,
                                 &transition, &state)
        == NGX_OK)
    {
        ngx_http_itsm_alert_set_state(alert, (ngx_http_itsm_state_e) state);
        return NGX_OK;
    }

    return ngx_http_itsm_alert_error(r, error,
                                     "unknown status \"%*s\" (JSON Pointer "
                                     "\"/alert_transition\"): expected a "
                                     "Datadog transition such as "
                                     "\"Triggered\" or \"Recovered\", or a "
                                     "word mapped by itsm_state_map",
                                     ngx_http_itsm_alert_clip(&transition),
                                     transition.data);
}


/*
 * $DATE is epoch milliseconds; any other text (a payload that sends a
 * date of its own) is kept as it is.
 */

static ngx_int_t
ngx_http_itsm_datadog_date(ngx_http_request_t *r, ngx_str_t *date,
    ngx_str_t *out)
{
    u_char     *p;
    time_t      sec;
    ngx_tm_t    tm;
    ngx_int_t   ms, n;

    *out = *date;

    if (date->len > 16) {
        return NGX_OK;
    }

    n = ngx_atoi(date->data, date->len);

    if (n == NGX_ERROR) {
        return NGX_OK;
    }

    /* seconds have ten digits until the year 2286: twelve and more are
     * milliseconds */

    if (date->len > 11) {
        sec = n / 1000;
        ms = n % 1000;

    } else {
        sec = n;
        ms = 0;
    }

    p = ngx_pnalloc(r->pool, sizeof("1970-01-01T00:00:00.000Z") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_gmtime(sec, &tm);

    out->data = p;

    p = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    if (ms) {
        p = ngx_sprintf(p, ".%03i", ms);
    }

    *p++ = 'Z';

    out->len = p - out->data;

    return NGX_OK;
}
