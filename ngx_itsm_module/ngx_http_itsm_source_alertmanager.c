
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_source.h"


/*
 * Prometheus Alertmanager (webhook payload version "4") and Grafana
 * unified alerting (webhook version "1", the same shape with a few more
 * fields): one payload is one group of alerts, firing and resolved ones
 * mixed, each becoming an alert of its own, in the payload's order.
 *
 *   key          alerts[].fingerprint (a hash of the label set, the same
 *                when the alert fires and when it resolves)
 *   status       alerts[].status
 *   severity     alerts[].labels.severity
 *   title        labels.alertname, else annotations.summary
 *   description  annotations.description, summary or message
 *   resource     labels.instance, host, service or job (also the
 *                configuration item)
 *   starts_at    startsAt; ends_at: endsAt, except Go's zero time, which
 *                firing alerts carry and which means "not ended"
 *   link         generatorURL (the rule in Prometheus or Grafana)
 *   group_key    groupKey; external_url: externalURL
 *
 * An alert's own object (with its labels and annotations) is its "raw"
 * JSON, so templates read {{ /labels/team }} and the like.
 */


/* Go's zero time.Time, printed by Alertmanager for "no end yet" */
#define NGX_HTTP_ITSM_ALERTMANAGER_ZERO_TIME  "0001-01-01T"

/* the objects an alert's fields are read from */
#define NGX_HTTP_ITSM_ALERTMANAGER_ITEM         0
#define NGX_HTTP_ITSM_ALERTMANAGER_LABELS       1
#define NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS  2


static ngx_int_t ngx_http_itsm_alertmanager_alert(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_source_e source,
    json_t *item, ngx_str_t *where, ngx_str_t *group_status,
    ngx_http_itsm_alert_t **alertp, ngx_str_t *error);
static void ngx_http_itsm_alertmanager_truncated(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *payload, ngx_str_t *group_key);


static ngx_str_t  ngx_http_itsm_alertmanager_root = ngx_string("");


/* the fields' candidates, in order of preference (as listed above) */

static ngx_http_itsm_alert_map_t  ngx_http_itsm_alertmanager_map[] = {
    { NGX_HTTP_ITSM_FIELD_TITLE,
      NGX_HTTP_ITSM_ALERTMANAGER_LABELS, "alertname" },
    { NGX_HTTP_ITSM_FIELD_TITLE,
      NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS, "summary" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS, "description" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS, "summary" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS, "message" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE,
      NGX_HTTP_ITSM_ALERTMANAGER_LABELS, "instance" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE,
      NGX_HTTP_ITSM_ALERTMANAGER_LABELS, "host" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE,
      NGX_HTTP_ITSM_ALERTMANAGER_LABELS, "service" },
    { NGX_HTTP_ITSM_FIELD_RESOURCE,
      NGX_HTTP_ITSM_ALERTMANAGER_LABELS, "job" },
    { NGX_HTTP_ITSM_FIELD_STARTS_AT,
      NGX_HTTP_ITSM_ALERTMANAGER_ITEM, "startsAt" },
    { NGX_HTTP_ITSM_FIELD_LINK,
      NGX_HTTP_ITSM_ALERTMANAGER_ITEM, "generatorURL" },
    { 0, 0, NULL }
};


ngx_int_t
ngx_http_itsm_alertmanager_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, ngx_http_itsm_source_conf_t *scf,
    json_t *payload, ngx_array_t *alerts, ngx_str_t *error)
{
    u_char                  buf[sizeof("/alerts/") + NGX_SIZE_T_LEN];
    size_t                  i, n;
    json_t                 *list;
    ngx_int_t               rc;
    ngx_str_t               where, group_key, external_url, group_status;
    const char             *name;
    ngx_http_itsm_alert_t  *alert;
    ngx_http_itsm_source_e  source;

    /* Alertmanager or Grafana: the same parser for both */
    source = conf->source;

    name = (source == NGX_HTTP_ITSM_SOURCE_GRAFANA) ? "a Grafana"
                                                    : "an Alertmanager";

    rc = ngx_http_itsm_alert_member(r, payload, "alerts", JSON_ARRAY,
                                    &ngx_http_itsm_alertmanager_root, &list,
                                    error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_alert_error(r, error,
                                         "missing field \"/alerts\": %s "
                                         "webhook message lists its alerts "
                                         "there", name);
    }

    n = json_array_size(list);

    if (ngx_http_itsm_alert_check_count(r, scf, n, error) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_alert_text(r, payload, "groupKey",
                                 &ngx_http_itsm_alertmanager_root,
                                 &group_key, error)
        == NGX_ERROR
        || ngx_http_itsm_alert_text(r, payload, "externalURL",
                                    &ngx_http_itsm_alertmanager_root,
                                    &external_url, error)
           == NGX_ERROR
        || ngx_http_itsm_alert_text(r, payload, "status",
                                    &ngx_http_itsm_alertmanager_root,
                                    &group_status, error)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    ngx_http_itsm_alertmanager_truncated(r, source, payload, &group_key);

    alert = NULL;

    for (i = 0; i < n; i++) {

        where.data = buf;
        where.len = ngx_sprintf(buf, "/alerts/%uz", i) - buf;

        if (ngx_http_itsm_alertmanager_alert(r, scf, source,
                                             json_array_get(list, i), &where,
                                             &group_status, &alert, error)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (group_key.len) {
            alert->fields[NGX_HTTP_ITSM_FIELD_GROUP_KEY] = group_key;
        }

        if (external_url.len) {
            alert->fields[NGX_HTTP_ITSM_FIELD_EXTERNAL_URL] = external_url;
        }

        if (ngx_http_itsm_alert_push(alerts, alert, error) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_alertmanager_alert(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_source_e source,
    json_t *item, ngx_str_t *where, ngx_str_t *group_status,
    ngx_http_itsm_alert_t **alertp, ngx_str_t *error)
{
    u_char                  lbuf[sizeof("/alerts//annotations")
                                 + NGX_SIZE_T_LEN];
    u_char                  abuf[sizeof("/alerts//annotations")
                                 + NGX_SIZE_T_LEN];
    json_t                 *labels, *annotations, *in[3];
    ngx_int_t               rc;
    ngx_str_t               lwhere, awhere, status, ends;
    ngx_str_t              *in_where[3];
    ngx_http_itsm_alert_t  *alert;

    if (!json_is_object(item)) {
        return ngx_http_itsm_alert_error(r, error,
                                         "\"%V\" must be an object (one "
                                         "alert)", where);
    }

    lwhere.data = lbuf;
    lwhere.len = ngx_sprintf(lbuf, "%V/labels", where) - lbuf;
    awhere.data = abuf;
    awhere.len = ngx_sprintf(abuf, "%V/annotations", where) - abuf;

    if (ngx_http_itsm_alert_member(r, item, "labels", JSON_OBJECT, where,
                                   &labels, error)
        == NGX_ERROR
        || ngx_http_itsm_alert_member(r, item, "annotations", JSON_OBJECT,
                                      where, &annotations, error)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    alert = ngx_http_itsm_alert_create(r, source, item);
    if (alert == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    if (ngx_http_itsm_alert_set(r, alert, NGX_HTTP_ITSM_FIELD_KEY, item,
                                "fingerprint", where, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len == 0) {
        return ngx_http_itsm_alert_missing_key(r, where, "fingerprint", error);
    }

    /* an alert without a status of its own has the group's */

    rc = ngx_http_itsm_alert_text(r, item, "status", where, &status, error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (status.len == 0) {
        status = *group_status;
    }

    if (status.len == 0) {
        return ngx_http_itsm_alert_error(r, error,
                                         "missing field \"%V/status\": "
                                         "expected \"firing\" or "
                                         "\"resolved\"", where);
    }

    if (ngx_http_itsm_alert_state(r, scf, alert, &status) != NGX_OK) {
        return ngx_http_itsm_alert_error(r, error,
                                         "unknown status \"%*s\" (JSON "
                                         "Pointer \"%V/status\"): expected "
                                         "\"firing\" or \"resolved\"",
                                         ngx_http_itsm_alert_clip(&status),
                                         status.data, where);
    }

    if (ngx_http_itsm_alert_set_severity(r, scf, alert, labels, "severity",
                                         &lwhere, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_itsm_alert_text(r, item, "endsAt", where, &ends, error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ends.len >= sizeof(NGX_HTTP_ITSM_ALERTMANAGER_ZERO_TIME) - 1
        && ngx_strncmp(ends.data, NGX_HTTP_ITSM_ALERTMANAGER_ZERO_TIME,
                       sizeof(NGX_HTTP_ITSM_ALERTMANAGER_ZERO_TIME) - 1)
           == 0)
    {
        ngx_str_null(&ends);
    }

    if (ends.len) {
        alert->fields[NGX_HTTP_ITSM_FIELD_ENDS_AT] = ends;
    }

    in[NGX_HTTP_ITSM_ALERTMANAGER_ITEM] = item;
    in[NGX_HTTP_ITSM_ALERTMANAGER_LABELS] = labels;
    in[NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS] = annotations;

    in_where[NGX_HTTP_ITSM_ALERTMANAGER_ITEM] = where;
    in_where[NGX_HTTP_ITSM_ALERTMANAGER_LABELS] = &lwhere;
    in_where[NGX_HTTP_ITSM_ALERTMANAGER_ANNOTATIONS] = &awhere;

    if (ngx_http_itsm_alert_map(r, alert, ngx_http_itsm_alertmanager_map, in,
                                in_where, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    alert->fields[NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS] =
                                   alert->fields[NGX_HTTP_ITSM_FIELD_RESOURCE];

    *alertp = alert;

    return NGX_OK;
}


/*
 * Alerts the sender left out (its max_alerts) are not in the payload, so
 * nothing can be done for them here; the log says how many, since the
 * tickets are then incomplete.
 */

static void
ngx_http_itsm_alertmanager_truncated(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *payload, ngx_str_t *group_key)
{
    json_t     *value;
    ngx_int_t   n;

    value = json_object_get(payload, "truncatedAlerts");

    if (json_is_integer(value)) {
        n = (ngx_int_t) json_integer_value(value);

    } else if (json_is_string(value)) {
        n = ngx_atoi((u_char *) json_string_value(value),
                     json_string_length(value));

    } else {
        return;
    }

    if (n <= 0) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "itsm: %V left %i alerts of group \"%V\" out of its "
                  "payload (truncatedAlerts, its max_alerts setting): they "
                  "get no ticket from this delivery",
                  &ngx_http_itsm_source_names[source], n, group_key);
}
