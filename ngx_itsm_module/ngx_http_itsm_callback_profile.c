
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_pipeline.h"
#include "ngx_http_itsm_callback.h"


/*
 * What each ITSM really sends when a ticket changes, read into one event
 * (ticket, status, the delivery's id, the order of events, assignee):
 *
 *   rt, generic   JSON Pointers (ngx_http_itsm_callback.c reads them)
 *   jira          Jira Cloud / JSM admin webhook, "jira:issue_updated"
 *                 with a changelog status item; "jira:issue_deleted"
 *   servicenow    the business rule of docs/callbacks.md: number, sys_id,
 *                 state, sys_mod_count, assigned_to
 *   pagerduty     webhooks v3: event.event_type incident.acknowledged ...
 *   opsgenie      the outgoing webhook (and JSM Operations'): action and
 *                 alert.alias, the alert's key (the preset's alias)
 *
 * Each has a preset map (callback_status NAME, ngx_http_itsm_callback_conf.c)
 * used when its connector maps nothing.
 */


#define NGX_HTTP_ITSM_CALLBACK_ASSIGNEE_MAX  64

/* Opsgenie's alias: at most 512 characters, the preset's correlation key
 * (an Azure alert id is ~150 bytes) */
#define NGX_HTTP_ITSM_CALLBACK_ALIAS_MAX  512


static ngx_int_t ngx_http_itsm_callback_jira(ngx_http_request_t *r,
    json_t *payload, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_servicenow(ngx_http_request_t *r,
    json_t *payload, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_pagerduty(ngx_http_request_t *r,
    json_t *payload, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_pd_event(ngx_http_request_t *r,
    json_t *event, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_pd_note(ngx_http_request_t *r,
    json_t *event, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_opsgenie(ngx_http_request_t *r,
    json_t *payload, ngx_http_itsm_callback_event_t *ev);
static json_t *ngx_http_itsm_callback_either(json_t *obj, const char *name,
    const char *other);
static void ngx_http_itsm_callback_assignee(ngx_http_request_t *r, json_t *v,
    ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_get(ngx_http_request_t *r,
    json_t *v, size_t max, ngx_str_t *out);
static ngx_int_t ngx_http_itsm_callback_order(ngx_http_request_t *r,
    json_t *v, uint64_t *order);
static ngx_int_t ngx_http_itsm_callback_iso8601(ngx_str_t *text,
    uint64_t *ms);
static void ngx_http_itsm_callback_id(ngx_http_request_t *r,
    const char *header, json_t *v, ngx_http_itsm_callback_event_t *ev);
static ngx_int_t ngx_http_itsm_callback_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *out);
static ngx_int_t ngx_http_itsm_callback_one_of(ngx_str_t *s,
    const char **names);


static ngx_http_itsm_callback_profile_t  ngx_http_itsm_callback_profiles[] = {
    { ngx_string("rt"), NULL, ngx_string("rt"), 0 },
    { ngx_string("generic"), NULL, ngx_null_string, 0 },
    { ngx_string("jira"), ngx_http_itsm_callback_jira, ngx_string("jira"), 0 },
    { ngx_string("servicenow"), ngx_http_itsm_callback_servicenow,
      ngx_string("servicenow"), 0 },
    { ngx_string("pagerduty"), ngx_http_itsm_callback_pagerduty,
      ngx_string("pagerduty"), 0 },
    { ngx_string("opsgenie"), ngx_http_itsm_callback_opsgenie,
      ngx_string("opsgenie"), 1 },
    { ngx_null_string, NULL, ngx_null_string, 0 }
};


/* PagerDuty's event types that change an incident's status */
static const char  *ngx_http_itsm_callback_pd_types[] = {
    "incident.triggered", "incident.acknowledged", "incident.unacknowledged",
    "incident.resolved", "incident.reopened", NULL
};

/* Opsgenie's actions that change an alert's status */
static const char  *ngx_http_itsm_callback_og_actions[] = {
    "Create", "Acknowledge", "UnAcknowledge", "Close", "Delete", NULL
};


ngx_http_itsm_callback_profile_t *
ngx_http_itsm_callback_profile(ngx_str_t *name)
{
    return ngx_http_itsm_conf_row(ngx_http_itsm_callback_profiles,
                                  sizeof(ngx_http_itsm_callback_profile_t),
                                  name);
}


/*
 * Jira Cloud and Jira Service Management, an admin webhook:
 *
 *   {"timestamp": 1714557600000, "webhookEvent": "jira:issue_updated",
 *    "issue": {"key": "OPS-12", "fields": {"status": {"name": "Done",
 *              "statusCategory": {"key": "done"}},
 *              "assignee": {"displayName": "Ann"}}},
 *    "changelog": {"items": [{"field": "status", "fromString": "To Do",
 *                             "toString": "Done"}]}}
 *
 * The ticket is the issue's key (what the presets keep: /key, /issueKey),
 * the status the changelog's new status name, mapped, when the map has no
 * such name, by its category ("category:done"); the event's id is
 * X-Atlassian-Webhook-Identifier (the same in a retry), its order the
 * timestamp (milliseconds).  An update without a status item (a field, a
 * comment) says nothing of the status: ignored.
 */

static ngx_int_t
ngx_http_itsm_callback_jira(ngx_http_request_t *r, json_t *payload,
    ngx_http_itsm_callback_event_t *ev)
{
    size_t       i;
    json_t      *issue, *items, *item, *field, *v;
    ngx_int_t    rc;
    ngx_str_t    text;
    ngx_uint_t   deleted, commented;

    v = json_object_get(payload, "webhookEvent");

    if (!json_is_string(v)) {
        ev->invalid = "a Jira webhook has a \"webhookEvent\"";
        return NGX_DECLINED;
    }

    deleted = (ngx_strcmp(json_string_value(v), "jira:issue_deleted") == 0);
    commented = (ngx_strcmp(json_string_value(v), "comment_created") == 0);

    if (!deleted && !commented
        && ngx_strcmp(json_string_value(v), "jira:issue_updated") != 0)
    {
        return NGX_DONE;
    }

    issue = json_object_get(payload, "issue");

    /* an issue event and a comment alike name the issue by its key */

    rc = ngx_http_itsm_callback_get(r, json_object_get(issue, "key"),
                                    NGX_HTTP_ITSM_TICKET_MAX, &ev->ticket);
    if (rc != NGX_OK) {
        ev->invalid = "a Jira webhook has the issue's \"key\"";
        return rc;
    }

    if (commented) {

        /* {"webhookEvent": "comment_created", "comment": {"id": "10001",
         *  "body": "...", "created": ...}, "issue": {"key": ...}}:
         * a note; the comment's id is the event's when Jira sends no
         * X-Atlassian-Webhook-Identifier */

        v = json_object_get(payload, "comment");

        /* a comment in Atlassian Document Format (an object), or an
         * empty one: nothing to carry, ignored like any other event */

        rc = ngx_http_itsm_callback_note(r, json_object_get(v, "body"),
                                         &ev->note);
        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_DONE : rc;
        }

        ngx_http_itsm_callback_id(r, "X-Atlassian-Webhook-Identifier",
                                  json_object_get(v, "id"), ev);

        return NGX_OK;
    }

    if (deleted) {
        ngx_str_set(&ev->status, "jira:issue_deleted");

    } else {
        items = json_object_get(json_object_get(payload, "changelog"),
                                "items");
        item = NULL;

        for (i = 0; i < json_array_size(items); i++) {
            field = json_object_get(json_array_get(items, i), "field");

            if (json_is_string(field)
                && ngx_strcmp(json_string_value(field), "status") == 0)
            {
                item = json_array_get(items, i);
            }
        }

        if (item == NULL) {
            return NGX_DONE;                    /* not a status change */
        }

        rc = ngx_http_itsm_callback_get(r, json_object_get(item, "toString"),
                                        NGX_HTTP_ITSM_TICKET_MAX,
                                        &ev->status);
        if (rc != NGX_OK) {
            ev->invalid = "the changelog's status item has no \"toString\"";
            return rc;
        }

        v = json_object_get(json_object_get(json_object_get(
                json_object_get(issue, "fields"), "status"),
                "statusCategory"), "key");

        if (json_is_string(v) && json_string_length(v) <= 32) {
            text.len = sizeof("category:") - 1 + json_string_length(v);
            text.data = ngx_pnalloc(r->pool, text.len);
            if (text.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(ngx_cpymem(text.data, "category:",
                                  sizeof("category:") - 1),
                       json_string_value(v), json_string_length(v));

            ev->fallback = text;
        }
    }

    v = json_object_get(json_object_get(json_object_get(issue, "fields"),
                                        "assignee"), "displayName");

    ngx_http_itsm_callback_assignee(r, v, ev);

    v = json_object_get(payload, "timestamp");

    if (json_is_integer(v)
        && ngx_http_itsm_callback_order(r, v, &ev->order) != NGX_OK)
    {
        ev->invalid = "the Jira webhook's \"timestamp\" is not "
                      "milliseconds since 1970";
        return NGX_DECLINED;
    }

    ngx_http_itsm_callback_id(r, "X-Atlassian-Webhook-Identifier", NULL, ev);

    return NGX_OK;
}


/*
 * ServiceNow, the business rule of docs/callbacks.md (after update on
 * incident):
 *
 *   {"number": "INC0010001", "sys_id": "9d38...", "state": "6",
 *    "sys_mod_count": "4", "assigned_to": "Beth Anglin"}
 *
 * The ticket is the sys_id (what the preset keeps: /result/sys_id), the
 * status the incident's state (1 New, 2 In Progress, 3 On Hold,
 * 6 Resolved, 7 Closed, 8 Canceled; "deleted" from an after-delete rule),
 * the order sys_mod_count (ServiceNow adds one at every update, so a late
 * post of an older update is recognised).
 */

static ngx_int_t
ngx_http_itsm_callback_servicenow(ngx_http_request_t *r, json_t *payload,
    ngx_http_itsm_callback_event_t *ev)
{
    json_t     *v;
    ngx_int_t   rc;

    rc = ngx_http_itsm_callback_get(r, json_object_get(payload, "sys_id"),
                                    NGX_HTTP_ITSM_TICKET_MAX, &ev->ticket);
    if (rc != NGX_OK) {
        ev->invalid = "a ServiceNow callback has the incident's \"sys_id\"";
        return rc;
    }

    /* the note rule posts "work_notes" (or "comments", the customer-
     * visible ones) and no state: a note-only event */

    v = ngx_http_itsm_callback_either(payload, "work_notes", "comments");

    if (json_is_string(v) && json_string_length(v)) {
        if (ngx_http_itsm_callback_note(r, v, &ev->note) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    v = json_object_get(payload, "state");

    rc = ngx_http_itsm_callback_get(r, v, NGX_HTTP_ITSM_TICKET_MAX,
                                    &ev->status);
    if (rc != NGX_OK && !(v == NULL && ev->note.len)) {
        ev->invalid = "a ServiceNow callback has the incident's \"state\" "
                      "(or, from the note rule, \"work_notes\")";
        return rc;
    }

    v = json_object_get(payload, "sys_mod_count");

    if (v && ngx_http_itsm_callback_order(r, v, &ev->order) != NGX_OK) {
        ev->invalid = "\"sys_mod_count\" is not a whole number";
        return NGX_DECLINED;
    }

    v = json_object_get(payload, "assigned_to");

    ngx_http_itsm_callback_assignee(r, v, ev);

    return NGX_OK;
}


/*
 * PagerDuty webhooks v3:
 *
 *   {"event": {"id": "01BZ...", "event_type": "incident.resolved",
 *              "resource_type": "incident",
 *              "occurred_at": "2024-05-01T10:00:00.123Z",
 *              "data": {"id": "PGR0VU2", "incident_key": "db-1...",
 *                       "status": "resolved",
 *                       "assignees": [{"summary": "Ann"}]}}}
 *
 * The ticket is the incident's incident_key: the dedup_key the Events API
 * answered (what the preset keeps), else its id (a location's ticket=
 * picks another); the status the event type; the event's id X-Webhook-Id
 * (else event.id), its order occurred_at in milliseconds.  Events of
 * other resources, and incident events that change no status (annotated,
 * reassigned, priority_updated, ...), are ignored.
 */

static ngx_int_t
ngx_http_itsm_callback_pagerduty(ngx_http_request_t *r, json_t *payload,
    ngx_http_itsm_callback_event_t *ev)
{
    json_t     *event, *data, *v;
    ngx_int_t   rc;

    event = json_object_get(payload, "event");

    rc = ngx_http_itsm_callback_get(r, json_object_get(event, "event_type"),
                                    NGX_HTTP_ITSM_TICKET_MAX, &ev->status);
    if (rc != NGX_OK) {
        ev->invalid = "a PagerDuty webhook has \"event\".\"event_type\"";
        return rc;
    }

    if (ev->status.len == sizeof("incident.annotated") - 1
        && ngx_strncmp(ev->status.data, "incident.annotated",
                       ev->status.len) == 0)
    {
        return ngx_http_itsm_callback_pd_note(r, event, ev);
    }

    v = json_object_get(event, "resource_type");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "incident")
                              != 0
        || ngx_http_itsm_callback_one_of(&ev->status,
                                         ngx_http_itsm_callback_pd_types)
           != NGX_OK)
    {
        return NGX_DONE;
    }

    data = json_object_get(event, "data");

    v = ngx_http_itsm_callback_either(data, "incident_key", "id");

    rc = ngx_http_itsm_callback_get(r, v, NGX_HTTP_ITSM_TICKET_MAX,
                                    &ev->ticket);
    if (rc != NGX_OK) {
        ev->invalid = "a PagerDuty incident event has the incident's "
                      "\"incident_key\" or \"id\"";
        return rc;
    }

    v = json_object_get(json_array_get(json_object_get(data, "assignees"),
                                       0), "summary");

    ngx_http_itsm_callback_assignee(r, v, ev);

    return ngx_http_itsm_callback_pd_event(r, event, ev);
}


/*
 * PagerDuty's "incident.annotated" (a note added to the incident):
 *
 *   {"event": {"id": "01BZ...", "event_type": "incident.annotated",
 *              "resource_type": "incident", "occurred_at": "...",
 *              "data": {"incident": {"id": "PGR0VU2",
 *                                    "type": "incident_reference"},
 *                       "content": "Restarted the pod.",
 *                       "type": "incident_note"}}}
 *
 * The note names the incident by its id only (no incident_key): the
 * ticket is data.incident.id, which a connector that keeps dedup keys
 * does not know (unknown_ticket) unless its location reads ticket= ...
 */

static ngx_int_t
ngx_http_itsm_callback_pd_note(ngx_http_request_t *r, json_t *event,
    ngx_http_itsm_callback_event_t *ev)
{
    json_t     *data;
    ngx_int_t   rc;

    ngx_str_null(&ev->status);

    data = json_object_get(event, "data");

    /* PagerDuty disables a webhook answered 4xx: a note without words
     * is ignored, not refused */

    rc = ngx_http_itsm_callback_note(r, json_object_get(data, "content"),
                                     &ev->note);
    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_DONE : rc;
    }

    rc = ngx_http_itsm_callback_get(r, json_object_get(json_object_get(data,
                                                          "incident"), "id"),
                                    NGX_HTTP_ITSM_TICKET_MAX, &ev->ticket);
    if (rc != NGX_OK) {
        ev->invalid = "a PagerDuty \"incident.annotated\" has "
                      "\"data\".\"incident\".\"id\"";
        return rc;
    }

    return ngx_http_itsm_callback_pd_event(r, event, ev);
}


/*
 * A PagerDuty event's order, occurred_at in milliseconds, and its delivery
 * id, X-Webhook-Id (else event.id).  NGX_DECLINED: occurred_at is not a
 * time.
 */

static ngx_int_t
ngx_http_itsm_callback_pd_event(ngx_http_request_t *r, json_t *event,
    ngx_http_itsm_callback_event_t *ev)
{
    json_t     *v;
    ngx_str_t   text;

    v = json_object_get(event, "occurred_at");

    if (v) {
        if (ngx_http_itsm_callback_get(r, v, 64, &text) != NGX_OK
            || ngx_http_itsm_callback_iso8601(&text, &ev->order) != NGX_OK)
        {
            ev->invalid = "\"occurred_at\" is not an ISO 8601 UTC time";
            return NGX_DECLINED;
        }
    }

    ngx_http_itsm_callback_id(r, "X-Webhook-Id", json_object_get(event, "id"),
                              ev);

    return NGX_OK;
}


/*
 * Opsgenie's outgoing webhook (and Jira Service Management Operations'):
 *
 *   {"action": "Acknowledge",
 *    "alert": {"alertId": "70413a06-...", "alias": "db-1",
 *              "updatedAt": 1481035006018000000, "owner": "ann@..."},
 *    "source": {"name": "", "type": "web"}}
 *
 * The preset reads no ticket id: the alert's alias is the correlation key
 * ({{ correlation_key }}), so the ticket named is the key itself (the
 * profile's by_key).  The status is the action; actions that change no
 * status (AddNote, AddTags, TakeOwnership, ...) are ignored.  The order is
 * updatedAt; Opsgenie sends no delivery id.
 */

static ngx_int_t
ngx_http_itsm_callback_opsgenie(ngx_http_request_t *r, json_t *payload,
    ngx_http_itsm_callback_event_t *ev)
{
    json_t     *alert, *v;
    ngx_int_t   rc;

    rc = ngx_http_itsm_callback_get(r, json_object_get(payload, "action"),
                                    NGX_HTTP_ITSM_TICKET_MAX, &ev->status);
    if (rc != NGX_OK) {
        ev->invalid = "an Opsgenie webhook has an \"action\"";
        return rc;
    }

    alert = json_object_get(payload, "alert");

    v = ngx_http_itsm_callback_either(alert, "alias", "alertId");

    rc = ngx_http_itsm_callback_get(r, v, NGX_HTTP_ITSM_CALLBACK_ALIAS_MAX,
                                    &ev->ticket);
    if (rc != NGX_OK) {
        ev->invalid = "an Opsgenie webhook has the alert's \"alias\" (of "
                      "at most 512 bytes) or \"alertId\"";
        return rc;
    }

    if (ev->status.len == sizeof("AddNote") - 1
        && ngx_strncmp(ev->status.data, "AddNote", ev->status.len) == 0)
    {
        /* a note: "alert": {"note": "...", ...}; no status */

        ngx_str_null(&ev->status);

        rc = ngx_http_itsm_callback_note(r, json_object_get(alert, "note"),
                                         &ev->note);
        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_DONE : rc;   /* no words */
        }

    } else if (ngx_http_itsm_callback_one_of(&ev->status,
                                             ngx_http_itsm_callback_og_actions)
               != NGX_OK)
    {
        return NGX_DONE;
    }

    v = json_object_get(alert, "updatedAt");

    if (v && ngx_http_itsm_callback_order(r, v, &ev->order) != NGX_OK) {
        ev->invalid = "the alert's \"updatedAt\" is not a whole number";
        return NGX_DECLINED;
    }

    v = ngx_http_itsm_callback_either(alert, "owner", "username");

    ngx_http_itsm_callback_assignee(r, v, ev);

    return NGX_OK;
}


/*
 * A note: a non-empty string, cut to NGX_HTTP_ITSM_CALLBACK_NOTE_MAX bytes
 * at the start of a UTF-8 character (jansson's strings are valid UTF-8,
 * so stepping back over continuation bytes, 10xxxxxx, finds one), so that
 * what goes on to the source is still valid JSON text.
 */

ngx_int_t
ngx_http_itsm_callback_note(ngx_http_request_t *r, json_t *v,
    ngx_str_t *note)
{
    size_t  len;

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return NGX_DECLINED;
    }

    len = json_string_length(v);

    if (len > NGX_HTTP_ITSM_CALLBACK_NOTE_MAX) {
        len = NGX_HTTP_ITSM_CALLBACK_NOTE_MAX;

        while (len && (((u_char *) json_string_value(v))[len] & 0xc0) == 0x80)
        {
            len--;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm callback: a note of %uz bytes cut to %uz",
                       json_string_length(v), len);
    }

    note->data = ngx_pnalloc(r->pool, len);
    if (note->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(note->data, json_string_value(v), len);
    note->len = len;

    return NGX_OK;
}


/* member "name" when it is a non-empty string, else member "other" */

static json_t *
ngx_http_itsm_callback_either(json_t *obj, const char *name,
    const char *other)
{
    json_t  *v;

    v = json_object_get(obj, name);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        v = json_object_get(obj, other);
    }

    return v;
}


/* who has the ticket, when the ITSM names someone: a string, else none */

static void
ngx_http_itsm_callback_assignee(ngx_http_request_t *r, json_t *v,
    ngx_http_itsm_callback_event_t *ev)
{
    if (json_is_string(v)) {
        (void) ngx_http_itsm_callback_get(r, v,
                                          NGX_HTTP_ITSM_CALLBACK_ASSIGNEE_MAX,
                                          &ev->assignee);
    }
}


/* a string or a whole number, as text of 1 to "max" bytes; NGX_DECLINED */

static ngx_int_t
ngx_http_itsm_callback_get(ngx_http_request_t *r, json_t *v, size_t max,
    ngx_str_t *out)
{
    if (v == NULL || !(json_is_string(v) || json_is_integer(v))) {
        return NGX_DECLINED;
    }

    if (ngx_http_itsm_json_scalar(v, r->pool, out) != NGX_OK) {
        return NGX_ERROR;
    }

    if (out->len == 0 || out->len > max) {
        ngx_str_null(out);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* an event's order: a whole number of up to 19 digits, as a string or a
 * number; anything else, NGX_DECLINED */

static ngx_int_t
ngx_http_itsm_callback_order(ngx_http_request_t *r, json_t *v,
    uint64_t *order)
{
    off_t      n;
    ngx_str_t  text;

    if (ngx_http_itsm_callback_get(r, v, 19, &text) != NGX_OK) {
        return NGX_DECLINED;
    }

    n = ngx_atoof(text.data, text.len);

    if (n == NGX_ERROR) {
        return NGX_DECLINED;
    }

    *order = (uint64_t) n;

    return NGX_OK;
}


/*
 * "2024-05-01T10:00:00Z" or with a fraction ("...:00.123Z", milliseconds
 * kept, more digits dropped): milliseconds since 1970, for the order.
 * PagerDuty writes UTC ("Z"); an offset is refused rather than guessed.
 */

static ngx_int_t
ngx_http_itsm_callback_iso8601(ngx_str_t *text, uint64_t *ms)
{
    u_char      *p, *last;
    ngx_int_t    year, month, day, doy, hour, min, sec, frac, digits;
    ngx_uint_t   i;
    static const u_char  shape[] = "dddd-dd-ddTdd:dd:dd";

    p = text->data;
    last = p + text->len;

    if (text->len < sizeof(shape) || last[-1] != 'Z') {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != shape[i]) {
            return NGX_ERROR;
        }
    }

    year = ngx_atoi(p, 4);
    month = ngx_atoi(p + 5, 2);
    day = ngx_atoi(p + 8, 2);
    hour = ngx_atoi(p + 11, 2);
    min = ngx_atoi(p + 14, 2);
    sec = ngx_atoi(p + 17, 2);

    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31
        || hour > 23 || min > 59 || sec > 60)
    {
        return NGX_ERROR;
    }

    p += sizeof(shape) - 1;
    frac = 0;
    digits = 0;

    if (*p == '.') {
        for (p++; p < last - 1; p++) {
            if (*p < '0' || *p > '9') {
                return NGX_ERROR;
            }

            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
        }

        if (digits == 0) {
            return NGX_ERROR;
        }

        while (digits < 3) {
            frac *= 10;
            digits++;
        }
    }

    if (p != last - 1) {
        return NGX_ERROR;
    }

    /* days since 1970 of a Gregorian date: the year taken from March on,
     * so that February's length is the year's last question */

    if (month <= 2) {
        year--;
    }

    doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    day = year * 365 + year / 4 - year / 100 + year / 400 + doy - 719468;

    *ms = ((((uint64_t) day * 24 + hour) * 60 + min) * 60 + sec) * 1000
          + frac;

    return NGX_OK;
}


/* the delivery's id, the same in a retry: the header's, else "v" */

static void
ngx_http_itsm_callback_id(ngx_http_request_t *r, const char *header,
    json_t *v, ngx_http_itsm_callback_event_t *ev)
{
    if (ngx_http_itsm_callback_header(r, header, &ev->event) != NGX_OK) {
        (void) ngx_http_itsm_callback_get(r, v, 256, &ev->event);
    }
}


/* one header of that name with a value of 1 to 256 bytes */

static ngx_int_t
ngx_http_itsm_callback_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *out)
{
    ngx_table_elt_t  *h;

    h = ngx_http_itsm_util_header(r, name);

    if (h == NULL || h->value.len == 0 || h->value.len > 256) {
        return NGX_DECLINED;
    }

    *out = h->value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_callback_one_of(ngx_str_t *s, const char **names)
{
    for ( /* void */ ; *names; names++) {
        if (ngx_strlen(*names) == s->len
            && ngx_strncmp(*names, s->data, s->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
