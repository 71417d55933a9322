
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"


/*
 * The lifecycle of a ticket: what an alert does to the ticket of its key,
 * given what the store knows of that key and the connector's policy.
 *
 *   no ticket        firing   -> create
 *                    resolved -> nothing ("ignored")
 *   open ticket      firing   -> on_repeat: nothing | comment | update;
 *                                within the cooldown of the last one, the
 *                                alert is kept and its update sent when the
 *                                cooldown ends (coalesced: the latest wins);
 *                                "comment=note": a comment only for a note
 *                                no comment carried yet, sent at once
 *                    resolved -> on_resolve: resolve (optionally after a
 *                                comment) | comment | nothing
 *   resolved ticket  firing   -> on_refire: reopen within the window
 *                                (optionally after a comment), otherwise a
 *                                new ticket
 *                    resolved -> nothing ("duplicate")
 *
 * and when the ITSM says the ticket no longer exists (404 or 410 to any
 * request about it), on_gone: fail (the sender is told, the key keeps its
 * ticket) or new: the key forgets the ticket, and a firing alert opens a
 * new one at once.
 */


static char *ngx_http_itsm_lifecycle_word(ngx_conf_t *cf, const char *name,
    ngx_str_t *value, ngx_conf_enum_t *words, const char *use,
    ngx_uint_t *action);
static char *ngx_http_itsm_lifecycle_param(ngx_conf_t *cf,
    ngx_str_t *value, const char *name, time_t *seconds);
static void ngx_http_itsm_lifecycle_steps(ngx_http_itsm_plan_t *plan,
    ngx_flag_t comment, ngx_uint_t action, ngx_http_itsm_outcome_e outcome);


/* the words of the policies, and the action each names */

static ngx_conf_enum_t  ngx_http_itsm_lifecycle_on_resolve_words[] = {
    { ngx_string("resolve"), NGX_HTTP_ITSM_ACTION_RESOLVE },
    { ngx_string("comment"), NGX_HTTP_ITSM_ACTION_COMMENT },
    { ngx_string("nothing"), NGX_HTTP_ITSM_ACTION_NONE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_itsm_lifecycle_on_refire_words[] = {
    { ngx_string("reopen"), NGX_HTTP_ITSM_ACTION_REOPEN },
    { ngx_string("new"), NGX_HTTP_ITSM_ACTION_CREATE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_itsm_lifecycle_on_gone_words[] = {
    { ngx_string("new"), NGX_HTTP_ITSM_ACTION_CREATE },
    { ngx_string("fail"), NGX_HTTP_ITSM_ACTION_NONE },
    { ngx_null_string, 0 }
};


char *
ngx_http_itsm_lifecycle_on_repeat(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (ngx_strcmp(value[1].data, "nothing") == 0) {
        conn->on_repeat = NGX_HTTP_ITSM_ACTION_NONE;

    } else if (ngx_strcmp(value[1].data, "comment") == 0) {
        conn->on_repeat = NGX_HTTP_ITSM_ACTION_COMMENT;

    } else if (ngx_strcmp(value[1].data, "comment=note") == 0) {
        conn->on_repeat = NGX_HTTP_ITSM_ACTION_COMMENT;
        conn->repeat_note = 1;

    } else if (ngx_strcmp(value[1].data, "update") == 0) {
        conn->on_repeat = NGX_HTTP_ITSM_ACTION_UPDATE;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid on_repeat \"%V\"; use nothing, comment, "
                           "comment=note, update, \"update comment\" or "
                           "\"update comment=note\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    i = 2;

    /*
     * "update comment": the ticket's fields follow the alert, and what
     * the alert says goes into a comment.  "comment=note": a comment only
     * for a note the alert carries (the field "note", e.g. a SIEM case's
     * newest note) that no comment carried yet, whatever else changed;
     * a sync without a new note comments nothing.
     */

    if (n >= 2
        && (ngx_strcmp(value[2].data, "comment") == 0
            || ngx_strcmp(value[2].data, "comment=note") == 0))
    {
        if (conn->on_repeat != NGX_HTTP_ITSM_ACTION_UPDATE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": only "
                               "\"on_repeat update %V;\" takes it",
                               &value[2], &value[2]);
            return NGX_CONF_ERROR;
        }

        conn->repeat_comment = 1;
        conn->repeat_note = (value[2].len == sizeof("comment=note") - 1);
        i = 3;
    }

    for ( /* void */ ; i <= n; i++) {
        if (ngx_http_itsm_lifecycle_param(cf, &value[i], "cooldown=",
                                          &conn->cooldown)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_itsm_lifecycle_on_resolve(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    if (ngx_http_itsm_lifecycle_word(cf, "on_resolve", &value[1],
                                     ngx_http_itsm_lifecycle_on_resolve_words,
                                     "resolve, comment or nothing",
                                     &conn->on_resolve)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (n == 2) {
        if (conn->on_resolve != NGX_HTTP_ITSM_ACTION_RESOLVE
            || ngx_strcmp(value[2].data, "comment") != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": only "
                               "\"on_resolve resolve comment;\" takes one",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        conn->resolve_comment = 1;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_itsm_lifecycle_on_refire(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (ngx_http_itsm_lifecycle_word(cf, "on_refire", &value[1],
                                     ngx_http_itsm_lifecycle_on_refire_words,
                                     "reopen or new", &conn->on_refire)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i <= n; i++) {
        if (conn->on_refire != NGX_HTTP_ITSM_ACTION_REOPEN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": only "
                               "\"on_refire reopen [window=TIME] [comment];\" "
                               "takes parameters", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strcmp(value[i].data, "comment") == 0) {
            conn->reopen_comment = 1;
            continue;
        }

        if (ngx_http_itsm_lifecycle_param(cf, &value[i], "window=",
                                          &conn->reopen_window)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * "on_gone new" is not the default: a 404 also answers an action path
 * that is wrong, and a connector that forgot its tickets on every such
 * answer would open a new ticket for each repeat of an alert.
 */

char *
ngx_http_itsm_lifecycle_on_gone(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    if (conn->on_gone != NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"on_gone\" is duplicate in itsm_connector "
                           "\"%V\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_itsm_lifecycle_word(cf, "on_gone", &value[1],
                                        ngx_http_itsm_lifecycle_on_gone_words,
                                        "new or fail", &conn->on_gone);
}


/*
 * After the whole block is read: defaults that follow from the actions
 * declared, and every policy checked against them.
 */

char *
ngx_http_itsm_lifecycle_check(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn)
{
    ngx_uint_t  i;
    ngx_uint_t  needed[3];
    const char *line[3];

    if (conn->on_repeat == NGX_CONF_UNSET_UINT) {
        conn->on_repeat = NGX_HTTP_ITSM_ACTION_NONE;
    }

    /*
     * Comments get a cooldown by default: a storm of one alert is one
     * ticket and then at most one comment per cooldown, which holds
     * every note the storm brought.  Updates carry only the latest state
     * and need none.
     */

    if (conn->cooldown == NGX_CONF_UNSET) {
        conn->cooldown_default = 1;
        conn->cooldown = (conn->on_repeat == NGX_HTTP_ITSM_ACTION_COMMENT
                          || conn->repeat_comment)
                         ? NGX_HTTP_ITSM_DEFAULT_COOLDOWN : 0;
    }

    if (conn->on_resolve == NGX_CONF_UNSET_UINT) {
        conn->on_resolve = conn->actions[NGX_HTTP_ITSM_ACTION_RESOLVE]
                           ? NGX_HTTP_ITSM_ACTION_RESOLVE
                           : NGX_HTTP_ITSM_ACTION_NONE;
    }

    if (conn->on_refire == NGX_CONF_UNSET_UINT) {
        conn->on_refire = conn->actions[NGX_HTTP_ITSM_ACTION_REOPEN]
                          ? NGX_HTTP_ITSM_ACTION_REOPEN
                          : NGX_HTTP_ITSM_ACTION_CREATE;
    }

    if (conn->reopen_window == NGX_CONF_UNSET) {
        conn->reopen_window = 3600;
    }

    if (conn->on_gone == NGX_CONF_UNSET_UINT) {
        conn->on_gone = NGX_HTTP_ITSM_ACTION_NONE;
    }

    needed[0] = conn->on_repeat;
    line[0] = "on_repeat";
    needed[1] = conn->on_resolve;
    line[1] = "on_resolve";
    needed[2] = conn->on_refire;
    line[2] = "on_refire";

    for (i = 0; i < 3; i++) {
        if (needed[i] == NGX_HTTP_ITSM_ACTION_NONE
            || conn->actions[needed[i]] != NULL)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui): \"%s\" needs the "
                      "\"%V\" action; declare it, e.g. \"%V POST "
                      "/ticket/{{ ticket_id }}/%V body=...;\"",
                      &conn->name, conn->file, conn->line, line[i],
                      &ngx_http_itsm_action_names[needed[i]],
                      &ngx_http_itsm_action_names[needed[i]],
                      &ngx_http_itsm_action_names[needed[i]]);
        return NGX_CONF_ERROR;
    }

    if ((conn->resolve_comment || conn->reopen_comment
         || conn->repeat_comment)
        && conn->actions[NGX_HTTP_ITSM_ACTION_COMMENT] == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui): \"%s comment\" "
                      "needs the \"comment\" action",
                      &conn->name, conn->file, conn->line,
                      conn->resolve_comment ? "on_resolve resolve"
                      : conn->reopen_comment ? "on_refire reopen"
                                             : "on_repeat update");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_http_itsm_lifecycle_decide(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_record_t *rec, ngx_http_itsm_alert_t *alert, ngx_uint_t due,
    ngx_http_itsm_plan_t *plan)
{
    time_t                 now;
    uint64_t               note;
    ngx_http_itsm_state_e  state;

    ngx_memzero(plan, sizeof(ngx_http_itsm_plan_t));

    now = ngx_time();
    state = alert->state;

    switch (rec->state) {

    case NGX_HTTP_ITSM_KEY_OPEN:

        if (state == NGX_HTTP_ITSM_RESOLVED) {

            if (conn->on_resolve == NGX_HTTP_ITSM_ACTION_NONE) {
                plan->outcome = NGX_HTTP_ITSM_OUTCOME_LEFT_OPEN;
                plan->reason = "on_resolve nothing: the ticket stays open";
                return;
            }

            ngx_http_itsm_lifecycle_steps(plan, conn->resolve_comment,
                                          conn->on_resolve,
                                          conn->on_resolve
                                          == NGX_HTTP_ITSM_ACTION_RESOLVE
                                          ? NGX_HTTP_ITSM_OUTCOME_RESOLVED
                                          : NGX_HTTP_ITSM_OUTCOME_COMMENTED);
            return;
        }

        if (conn->on_repeat == NGX_HTTP_ITSM_ACTION_NONE) {
            plan->outcome = NGX_HTTP_ITSM_OUTCOME_DUPLICATE;
            plan->reason = "a ticket is already open for this key";
            return;
        }

        /*
         * "comment=note": a note no comment carried yet goes to the
         * ticket now, cooldown or not (a person wrote it); without one,
         * the repeat comments nothing, and with "on_repeat comment=note"
         * it is a duplicate
         */

        note = conn->repeat_note
               ? ngx_http_itsm_lifecycle_note(conn, rec->note, alert) : 0;

        if (conn->repeat_note && note == 0
            && conn->on_repeat == NGX_HTTP_ITSM_ACTION_COMMENT)
        {
            plan->outcome = NGX_HTTP_ITSM_OUTCOME_DUPLICATE;
            plan->reason = "the alert carries no note the ticket lacks";
            return;
        }

        if (conn->cooldown && !due && note == 0
            && now < rec->last_action + conn->cooldown)
        {
            /* coalesced: the latest state goes out when the cooldown ends */
            plan->outcome = NGX_HTTP_ITSM_OUTCOME_COOLDOWN;
            plan->reason = "the ticket was updated within the cooldown; the "
                           "latest state is sent when it ends";
            plan->coalesce = 1;
            plan->due = rec->last_action + conn->cooldown;
            return;
        }

        plan->note = note;

        ngx_http_itsm_lifecycle_steps(plan, conn->repeat_comment
                                            && (note || !conn->repeat_note),
                                      conn->on_repeat,
                                      conn->on_repeat
                                      == NGX_HTTP_ITSM_ACTION_COMMENT
                                      ? NGX_HTTP_ITSM_OUTCOME_COMMENTED
                                      : NGX_HTTP_ITSM_OUTCOME_UPDATED);
        return;

    case NGX_HTTP_ITSM_KEY_RESOLVED:

        if (state == NGX_HTTP_ITSM_RESOLVED) {
            plan->outcome = NGX_HTTP_ITSM_OUTCOME_DUPLICATE;
            plan->reason = "the ticket is already resolved";
            return;
        }

        if (conn->on_refire == NGX_HTTP_ITSM_ACTION_REOPEN
            && now <= rec->resolved_at + conn->reopen_window)
        {
            ngx_http_itsm_lifecycle_steps(plan, conn->reopen_comment,
                                          NGX_HTTP_ITSM_ACTION_REOPEN,
                                          NGX_HTTP_ITSM_OUTCOME_REOPENED);
            return;
        }

        /* a new ticket's description carries the case's note */
        plan->note = ngx_http_itsm_lifecycle_note(conn, 0, alert);

        ngx_http_itsm_lifecycle_steps(plan, 0, NGX_HTTP_ITSM_ACTION_CREATE,
                                      NGX_HTTP_ITSM_OUTCOME_CREATED);
        return;

    default: /* NGX_HTTP_ITSM_KEY_NONE */

        if (state == NGX_HTTP_ITSM_RESOLVED) {
            plan->outcome = NGX_HTTP_ITSM_OUTCOME_IGNORED;
            plan->reason = "the alert is resolved and no ticket is open for "
                           "its key";
            return;
        }

        /* a new ticket's description carries the case's note */
        plan->note = ngx_http_itsm_lifecycle_note(conn, 0, alert);

        ngx_http_itsm_lifecycle_steps(plan, 0, NGX_HTTP_ITSM_ACTION_CREATE,
                                      NGX_HTTP_ITSM_OUTCOME_CREATED);
        return;
    }
}


/*
 * The steps of a plan: "action", after a comment when the connector adds
 * a note to it ("on_resolve resolve comment", "on_repeat update comment",
 * "on_refire reopen comment"): the note goes first, and the action is the
 * step the answer names.
 */

static void
ngx_http_itsm_lifecycle_steps(ngx_http_itsm_plan_t *plan, ngx_flag_t comment,
    ngx_uint_t action, ngx_http_itsm_outcome_e outcome)
{
    if (comment) {
        plan->steps[plan->nsteps++] = NGX_HTTP_ITSM_ACTION_COMMENT;
    }

    plan->steps[plan->nsteps++] = action;
    plan->outcome = outcome;
}


/* NGX_OK: the ITSM's answer to "action" says the key's ticket is gone and
 * the connector is to forget it */

ngx_int_t
ngx_http_itsm_lifecycle_gone(ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_action_e action, ngx_uint_t status,
    ngx_http_itsm_record_t *rec)
{
    if (conn->on_gone != NGX_HTTP_ITSM_ACTION_CREATE
        || action == NGX_HTTP_ITSM_ACTION_CREATE
        || rec->ticket.len == 0)
    {
        return NGX_DECLINED;
    }

    if (status != NGX_HTTP_NOT_FOUND && status != 410) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the key forgets its ticket: a firing alert opens a new one, a resolved
 * alert has nothing left to resolve */

void
ngx_http_itsm_lifecycle_forget(ngx_http_itsm_record_t *rec,
    ngx_http_itsm_state_e state, ngx_http_itsm_plan_t *plan)
{
    rec->state = NGX_HTTP_ITSM_KEY_NONE;
    rec->first_seen = 0;
    rec->resolved_at = 0;
    rec->last_action = 0;
    rec->ticket.len = 0;

    ngx_memzero(plan, sizeof(ngx_http_itsm_plan_t));

    if (state == NGX_HTTP_ITSM_RESOLVED) {
        plan->outcome = NGX_HTTP_ITSM_OUTCOME_RESOLVED;
        plan->reason = "the ticket no longer exists in the ITSM; the key "
                       "forgot it";
        return;
    }

    plan->steps[plan->nsteps++] = NGX_HTTP_ITSM_ACTION_CREATE;
    plan->outcome = NGX_HTTP_ITSM_OUTCOME_CREATED;
    plan->reason = "the ticket no longer existed in the ITSM; a new one was "
                   "created";
}


/*
 * "comment=note": the hash of the alert's note unless it is "last", the
 * hash of the note the ticket got last (the record keeps it); 0: no note,
 * or the old one (a sync repeats the case's newest note until a person
 * adds another).
 */

uint64_t
ngx_http_itsm_lifecycle_note(ngx_http_itsm_connector_t *conn, uint64_t last,
    ngx_http_itsm_alert_t *alert)
{
    uint64_t    hash;
    ngx_str_t  *note;

    note = &alert->fields[NGX_HTTP_ITSM_FIELD_NOTE];

    if (!conn->repeat_note || note->len == 0) {
        return 0;
    }

    /* never 0, which means "no note" */
    hash = ngx_http_itsm_hash_end(ngx_http_itsm_hash(0, note->data,
                                                     note->len));

    return (hash == last) ? 0 : hash;
}


/* the key's record once every step of the plan succeeded */

void
ngx_http_itsm_lifecycle_apply(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_record_t *rec, ngx_str_t *ticket, ngx_uint_t occurrences)
{
    time_t                  now;
    ngx_http_itsm_action_e  last;

    now = ngx_time();
    last = plan->steps[plan->nsteps - 1];

    if (rec->first_seen == 0) {
        rec->first_seen = now;
    }

    if (last == NGX_HTTP_ITSM_ACTION_CREATE) {
        rec->resolved_at = 0;
        rec->note = plan->note;

        rec->ticket.len = ngx_min(ticket->len, NGX_HTTP_ITSM_TICKET_MAX);
        ngx_memcpy(rec->ticket_data, ticket->data, rec->ticket.len);
    }

    rec->ticket.data = rec->ticket_data;
    rec->last_seen = now;
    rec->last_action = now;
    rec->occurrences = occurrences;

    if (plan->note) {
        rec->note = plan->note;     /* a comment carried it */
    }

    if (last == NGX_HTTP_ITSM_ACTION_RESOLVE) {
        rec->state = NGX_HTTP_ITSM_KEY_RESOLVED;
        rec->resolved_at = now;

    } else {
        rec->state = NGX_HTTP_ITSM_KEY_OPEN;
    }
}


/* "*action": the action the policy's word names; an error that lists the
 * words ("use") when it is not one of them */

static char *
ngx_http_itsm_lifecycle_word(ngx_conf_t *cf, const char *name,
    ngx_str_t *value, ngx_conf_enum_t *words, const char *use,
    ngx_uint_t *action)
{
    for ( /* void */ ; words->name.len; words++) {
        if (value->len == words->name.len
            && ngx_strncmp(value->data, words->name.data, value->len) == 0)
        {
            *action = words->value;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid %s \"%V\"; use %s", name, value, use);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_itsm_lifecycle_param(ngx_conf_t *cf, ngx_str_t *value,
    const char *name, time_t *seconds)
{
    ngx_str_t  s;

    if (!ngx_http_itsm_conf_param(value, name, &s) || s.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; expected %sTIME",
                           value, name);
        return NGX_CONF_ERROR;
    }

    *seconds = ngx_parse_time(&s, 1);

    if (*seconds == (time_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in \"%V\"; e.g. 10m or 1h",
                           &s, value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the plan has a step of "action" */

ngx_uint_t
ngx_http_itsm_lifecycle_plan_has(ngx_http_itsm_plan_t *plan,
    ngx_http_itsm_action_e action)
{
    ngx_uint_t  i;

    for (i = 0; i < plan->nsteps; i++) {
        if (plan->steps[i] == action) {
            return 1;
        }
    }

    return 0;
}
