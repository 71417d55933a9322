
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_source.h"


/*
 * Azure Monitor, common alert schema ("schemaId":
 * "azureMonitorCommonAlertSchema"): one payload is one alert instance.
 * "data.essentials" is the same for metric, log (v1 and v2), activity log
 * and Prometheus alerts; "data.alertContext" differs by monitoringService
 * and only gives links, titles and descriptions where essentials have none.
 *
 *   key          essentials.alertId; for ServiceHealth the incident's
 *                properties.trackingId, for ResourceHealth the resource
 *                (alertTargetIDs[0]): activity log alerts are stateless,
 *                each event of an incident is an alert instance of its own,
 *                and only these keys join its updates and its end to one
 *                ticket
 *   status       monitorCondition (Fired, Resolved); ServiceHealth and
 *                ResourceHealth: alertContext.status (Active, Resolved),
 *                ResourceHealth also currentHealthStatus Available
 *   severity     severity (Sev0 critical ... Sev4 low)
 *   title        alertRule (activity log: properties.title first), else
 *                description
 *   description  description, else the Prometheus annotations'
 *                description or summary, or ServiceHealth's communication
 *   configuration_items, target_ids
 *                configurationItems, alertTargetIDs (", " between items)
 *   resource     configurationItems[0], else the last segment of
 *                alertTargetIDs[0]
 *   starts_at    firedDateTime; ends_at: resolvedDateTime
 *   link         investigationLink, else the log alert's filtered search
 *                results (v1: alertContext, v2: condition.allOf[0])
 *
 * The raw JSON of the alert is the whole payload: {{ /data/customProperties
 * /team }}, {{ /data/alertContext/labels/cluster }} and so on.
 */


#define NGX_HTTP_ITSM_AZURE_SCHEMA  "azureMonitorCommonAlertSchema"

/* the objects the fields are read from */
#define NGX_HTTP_ITSM_AZURE_ESSENTIALS     0
#define NGX_HTTP_ITSM_AZURE_ANNOTATIONS    1
#define NGX_HTTP_ITSM_AZURE_SERVICE_PROPS  2   /* ServiceHealth's only */


typedef enum {
    NGX_HTTP_ITSM_AZURE_OTHER = 0,
    NGX_HTTP_ITSM_AZURE_SERVICE_HEALTH,
    NGX_HTTP_ITSM_AZURE_RESOURCE_HEALTH
} ngx_http_itsm_azure_kind_e;


static ngx_int_t ngx_http_itsm_azure_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_azure_kind_e kind, json_t *essentials, json_t *context,
    json_t *props, ngx_str_t *error);
static ngx_int_t ngx_http_itsm_azure_list(ngx_http_request_t *r,
    json_t *essentials, const char *name, ngx_str_t *out, ngx_str_t *first,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_azure_links(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, json_t *essentials, json_t *context,
    ngx_str_t *error);
static ngx_int_t ngx_http_itsm_azure_is(ngx_str_t *value, const char *word);


static ngx_str_t  ngx_http_itsm_azure_root = ngx_string("");
static ngx_str_t  ngx_http_itsm_azure_data = ngx_string("/data");
static ngx_str_t  ngx_http_itsm_azure_essentials =
    ngx_string("/data/essentials");
static ngx_str_t  ngx_http_itsm_azure_context =
    ngx_string("/data/alertContext");
static ngx_str_t  ngx_http_itsm_azure_properties =
    ngx_string("/data/alertContext/properties");
static ngx_str_t  ngx_http_itsm_azure_annotations =
    ngx_string("/data/alertContext/annotations");
static ngx_str_t  ngx_http_itsm_azure_condition =
    ngx_string("/data/alertContext/condition");
static ngx_str_t  ngx_http_itsm_azure_criterion =
    ngx_string("/data/alertContext/condition/allOf/0");

static ngx_str_t  *ngx_http_itsm_azure_where[] = {
    &ngx_http_itsm_azure_essentials,
    &ngx_http_itsm_azure_annotations,
    &ngx_http_itsm_azure_properties
};


/* the fields' candidates, in order of preference (as listed above); the
 * link's are below */

static ngx_http_itsm_alert_map_t  ngx_http_itsm_azure_map[] = {
    { NGX_HTTP_ITSM_FIELD_TITLE,
      NGX_HTTP_ITSM_AZURE_ESSENTIALS, "alertRule" },
    { NGX_HTTP_ITSM_FIELD_TITLE,
      NGX_HTTP_ITSM_AZURE_ESSENTIALS, "description" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_AZURE_ESSENTIALS, "description" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_AZURE_ANNOTATIONS, "description" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_AZURE_ANNOTATIONS, "summary" },
    { NGX_HTTP_ITSM_FIELD_DESCRIPTION,
      NGX_HTTP_ITSM_AZURE_SERVICE_PROPS, "communication" },
    { NGX_HTTP_ITSM_FIELD_STARTS_AT,
      NGX_HTTP_ITSM_AZURE_ESSENTIALS, "firedDateTime" },
    { NGX_HTTP_ITSM_FIELD_ENDS_AT,
      NGX_HTTP_ITSM_AZURE_ESSENTIALS, "resolvedDateTime" },
    { 0, 0, NULL }
};


/* the link's candidates (ngx_http_itsm_azure_links()): in essentials and
 * the alert context (log alerts v1), then in the condition's first
 * criterion (log alerts v2) */

static ngx_str_t  *ngx_http_itsm_azure_link_where[] = {
    &ngx_http_itsm_azure_essentials,
    &ngx_http_itsm_azure_context
};

static ngx_http_itsm_alert_map_t  ngx_http_itsm_azure_link_map[] = {
    { NGX_HTTP_ITSM_FIELD_LINK, 0, "investigationLink" },
    { NGX_HTTP_ITSM_FIELD_LINK, 1, "LinkToFilteredSearchResultsUI" },
    { NGX_HTTP_ITSM_FIELD_LINK, 1, "LinkToSearchResults" },
    { 0, 0, NULL }
};

static ngx_str_t  *ngx_http_itsm_azure_criterion_where[] = {
    &ngx_http_itsm_azure_criterion
};

static ngx_http_itsm_alert_map_t  ngx_http_itsm_azure_criterion_map[] = {
    { NGX_HTTP_ITSM_FIELD_LINK, 0, "linkToFilteredSearchResultsUI" },
    { NGX_HTTP_ITSM_FIELD_LINK, 0, "linkToSearchResultsUI" },
    { 0, 0, NULL }
};


ngx_int_t
ngx_http_itsm_azure_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, ngx_http_itsm_source_conf_t *scf,
    json_t *payload, ngx_array_t *alerts, ngx_str_t *error)
{
    u_char                      *p;
    json_t                      *data, *essentials, *context, *props,
                                *annotations, *in[3];
    ngx_int_t                    rc;
    ngx_str_t                    schema, service, signal, target;
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_azure_kind_e   kind;

    rc = ngx_http_itsm_alert_text(r, payload, "schemaId",
                                  &ngx_http_itsm_azure_root, &schema, error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK
        && (schema.len != sizeof(NGX_HTTP_ITSM_AZURE_SCHEMA) - 1
            || ngx_strncmp(schema.data, NGX_HTTP_ITSM_AZURE_SCHEMA,
                           schema.len)
               != 0))
    {
        return ngx_http_itsm_alert_error(r, error,
                                         "\"/schemaId\" is \"%*s\", not \""
                                         NGX_HTTP_ITSM_AZURE_SCHEMA "\": "
                                         "enable the common alert schema "
                                         "on the action group's webhook",
                                         ngx_http_itsm_alert_clip(&schema),
                                         schema.data);
    }

    rc = ngx_http_itsm_alert_member(r, payload, "data", JSON_OBJECT,
                                    &ngx_http_itsm_azure_root, &data, error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_itsm_alert_member(r, data, "essentials", JSON_OBJECT,
                                        &ngx_http_itsm_azure_data,
                                        &essentials, error);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_itsm_alert_error(r, error,
                                         "missing field \"/data/essentials\":"
                                         " not an Azure Monitor alert in the "
                                         "common alert schema; enable it on "
                                         "the action group's webhook");
    }

    if (ngx_http_itsm_alert_member(r, data, "alertContext", JSON_OBJECT,
                                   &ngx_http_itsm_azure_data, &context, error)
        == NGX_ERROR
        || ngx_http_itsm_alert_member(r, context, "properties", JSON_OBJECT,
                                      &ngx_http_itsm_azure_context, &props,
                                      error)
           == NGX_ERROR
        || ngx_http_itsm_alert_member(r, context, "annotations", JSON_OBJECT,
                                      &ngx_http_itsm_azure_context,
                                      &annotations, error)
           == NGX_ERROR
        || ngx_http_itsm_alert_text(r, essentials, "monitoringService",
                                    &ngx_http_itsm_azure_essentials,
                                    &service, error)
           == NGX_ERROR
        || ngx_http_itsm_alert_text(r, essentials, "signalType",
                                    &ngx_http_itsm_azure_essentials,
                                    &signal, error)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_azure_is(&service, "ServiceHealth")) {
        kind = NGX_HTTP_ITSM_AZURE_SERVICE_HEALTH;

    } else if (ngx_http_itsm_azure_is(&service, "ResourceHealth")
               || ngx_http_itsm_azure_is(&service, "Resource Health"))
    {
        kind = NGX_HTTP_ITSM_AZURE_RESOURCE_HEALTH;

    } else {
        kind = NGX_HTTP_ITSM_AZURE_OTHER;
    }

    alert = ngx_http_itsm_alert_create(r, NGX_HTTP_ITSM_SOURCE_AZURE, payload);
    if (alert == NULL) {
        ngx_str_null(error);
        return NGX_ERROR;
    }

    if (ngx_http_itsm_azure_list(r, essentials, "configurationItems",
                        &alert->fields[NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS],
                        &alert->fields[NGX_HTTP_ITSM_FIELD_RESOURCE], error)
        != NGX_OK
        || ngx_http_itsm_azure_list(r, essentials, "alertTargetIDs",
                                &alert->fields[NGX_HTTP_ITSM_FIELD_TARGET_IDS],
                                &target, error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the key */

    if (kind == NGX_HTTP_ITSM_AZURE_SERVICE_HEALTH
        && ngx_http_itsm_alert_set(r, alert, NGX_HTTP_ITSM_FIELD_KEY, props,
                                   "trackingId",
                                   &ngx_http_itsm_azure_properties, error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (kind == NGX_HTTP_ITSM_AZURE_RESOURCE_HEALTH && target.len) {
        alert->fields[NGX_HTTP_ITSM_FIELD_KEY] = target;
    }

    if (ngx_http_itsm_alert_set(r, alert, NGX_HTTP_ITSM_FIELD_KEY, essentials,
                                "alertId", &ngx_http_itsm_azure_essentials,
                                error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len == 0) {
        return ngx_http_itsm_alert_missing_key(r,
                                               &ngx_http_itsm_azure_essentials,
                                               "alertId", error);
    }

    if (ngx_http_itsm_azure_state(r, scf, alert, kind, essentials, context,
                                  props, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_alert_set_severity(r, scf, alert, essentials,
                                         "severity",
                                         &ngx_http_itsm_azure_essentials,
                                         error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* activity log events have a title of their own; the rule's name says
     * only which rule caught them */

    if (ngx_http_itsm_azure_is(&signal, "Activity Log")
        && ngx_http_itsm_alert_set(r, alert, NGX_HTTP_ITSM_FIELD_TITLE, props,
                                   "title", &ngx_http_itsm_azure_properties,
                                   error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    in[NGX_HTTP_ITSM_AZURE_ESSENTIALS] = essentials;
    in[NGX_HTTP_ITSM_AZURE_ANNOTATIONS] = annotations;
    in[NGX_HTTP_ITSM_AZURE_SERVICE_PROPS] =
                    (kind == NGX_HTTP_ITSM_AZURE_SERVICE_HEALTH) ? props : NULL;

    if (ngx_http_itsm_alert_map(r, alert, ngx_http_itsm_azure_map, in,
                                ngx_http_itsm_azure_where, error)
        != NGX_OK
        || ngx_http_itsm_azure_links(r, alert, essentials, context, error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* no configuration item: the target resource's name */

    if (alert->fields[NGX_HTTP_ITSM_FIELD_RESOURCE].len == 0 && target.len) {
        p = target.data + target.len;

        while (p > target.data && p[-1] != '/') {
            p--;
        }

        if (p < target.data + target.len) {
            alert->fields[NGX_HTTP_ITSM_FIELD_RESOURCE].data = p;
            alert->fields[NGX_HTTP_ITSM_FIELD_RESOURCE].len =
                                                   target.data + target.len - p;
        }
    }

    return ngx_http_itsm_alert_push(alerts, alert, error);
}


static ngx_int_t
ngx_http_itsm_azure_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_azure_kind_e kind, json_t *essentials, json_t *context,
    json_t *props, ngx_str_t *error)
{
    ngx_str_t  condition, status, health;

    if (kind != NGX_HTTP_ITSM_AZURE_OTHER) {

        /* stateless events: "monitorCondition" is always Fired; the event
         * itself says whether the incident or the outage is over */

        if (ngx_http_itsm_alert_text(r, context, "status",
                                     &ngx_http_itsm_azure_context, &status,
                                     error)
            == NGX_ERROR
            || ngx_http_itsm_alert_text(r, props, "currentHealthStatus",
                                        &ngx_http_itsm_azure_properties,
                                        &health, error)
               == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        if (kind == NGX_HTTP_ITSM_AZURE_RESOURCE_HEALTH
            && ngx_http_itsm_azure_is(&health, "Available"))
        {
            ngx_str_set(&status, "resolved");
        }

        if (status.len == 0
            || ngx_http_itsm_alert_state(r, scf, alert, &status) != NGX_OK)
        {
            /* "Updated", "In Progress", ...: the event goes on */
            ngx_str_set(&status, "firing");
            (void) ngx_http_itsm_alert_state(r, scf, alert, &status);
        }

        return NGX_OK;
    }

    if (ngx_http_itsm_alert_text(r, essentials, "monitorCondition",
                                 &ngx_http_itsm_azure_essentials, &condition,
                                 error)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    /* cost alerts have none: they only fire */

    if (condition.len == 0) {
        ngx_str_set(&condition, "Fired");
    }

    if (ngx_http_itsm_alert_state(r, scf, alert, &condition) != NGX_OK) {
        return ngx_http_itsm_alert_error(r, error,
                                         "unknown status \"%*s\" (JSON "
                                         "Pointer \"/data/essentials/"
                                         "monitorCondition\"): expected "
                                         "\"Fired\" or \"Resolved\"",
                                         ngx_http_itsm_alert_clip(&condition),
                                         condition.data);
    }

    return NGX_OK;
}


/* an array of names or ids as "a, b, c", and its first element */

static ngx_int_t
ngx_http_itsm_azure_list(ngx_http_request_t *r, json_t *essentials,
    const char *name, ngx_str_t *out, ngx_str_t *first, ngx_str_t *error)
{
    u_char     buf[sizeof("/data/essentials/configurationItems")];
    json_t    *list;
    ngx_int_t  rc;
    ngx_str_t  where;

    ngx_str_null(out);
    ngx_str_null(first);

    rc = ngx_http_itsm_alert_member(r, essentials, name, JSON_ARRAY,
                                    &ngx_http_itsm_azure_essentials, &list,
                                    error);
    if (rc != NGX_OK) {
        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
    }

    where.data = buf;
    where.len = ngx_snprintf(buf, sizeof(buf), "%V/%s",
                             &ngx_http_itsm_azure_essentials, name)
                - buf;

    return ngx_http_itsm_alert_join(r, list, &where, out, first, error);
}


/*
 * The link most worth a click from a ticket: the alert's investigation
 * page when the payload has one, else the log alert's filtered search
 * results (what made it fire), else the whole results.
 */

static ngx_int_t
ngx_http_itsm_azure_links(ngx_http_request_t *r, ngx_http_itsm_alert_t *alert,
    json_t *essentials, json_t *context, ngx_str_t *error)
{
    json_t  *condition, *all, *in[2];

    in[0] = essentials;
    in[1] = context;

    if (ngx_http_itsm_alert_map(r, alert, ngx_http_itsm_azure_link_map, in,
                                ngx_http_itsm_azure_link_where, error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_alert_member(r, context, "condition", JSON_OBJECT,
                                   &ngx_http_itsm_azure_context, &condition,
                                   error)
        == NGX_ERROR
        || ngx_http_itsm_alert_member(r, condition, "allOf", JSON_ARRAY,
                                      &ngx_http_itsm_azure_condition, &all,
                                      error)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    all = json_array_get(all, 0);

    if (!json_is_object(all)) {
        return NGX_OK;
    }

    return ngx_http_itsm_alert_map(r, alert, ngx_http_itsm_azure_criterion_map,
                                   &all, ngx_http_itsm_azure_criterion_where,
                                   error);
}


static ngx_int_t
ngx_http_itsm_azure_is(ngx_str_t *value, const char *word)
{
    size_t  len;

    len = ngx_strlen(word);

    return value->len == len
           && ngx_strncasecmp(value->data, (u_char *) word, len) == 0;
}
