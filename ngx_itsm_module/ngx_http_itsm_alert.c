
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_module.h"


/*
 * The normalized alert and the source profiles that produce it.  The
 * generic profile reads each field through a JSON Pointer, set with
 * "itsm_field" (defaults: /key, /title, ...).
 */


typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_state_e        state;
} ngx_http_itsm_alert_status_t;


static ngx_int_t ngx_http_itsm_alert_state(ngx_str_t *status,
    ngx_http_itsm_state_e *state);


ngx_str_t  ngx_http_itsm_field_names[] = {
    ngx_string("key"),
    ngx_string("source"),
    ngx_string("status"),
    ngx_string("severity"),
    ngx_string("title"),
    ngx_string("description"),
    ngx_string("resource"),
    ngx_null_string
};


ngx_str_t  ngx_http_itsm_source_names[] = {
    ngx_string("generic"),
    ngx_null_string
};


/* what senders write for "the problem is there" and "it is gone" */

static ngx_http_itsm_alert_status_t  ngx_http_itsm_alert_statuses[] = {
    { ngx_string("firing"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("alerting"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("problem"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("triggered"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("open"), NGX_HTTP_ITSM_FIRING },
    { ngx_string("resolved"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("ok"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("recovered"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_string("closed"), NGX_HTTP_ITSM_RESOLVED },
    { ngx_null_string, 0 }
};


ngx_int_t
ngx_http_itsm_alert_field(ngx_str_t *name)
{
    ngx_int_t  i;

    for (i = 0; ngx_http_itsm_field_names[i].len; i++) {
        if (ngx_http_itsm_field_names[i].len == name->len
            && ngx_strncmp(ngx_http_itsm_field_names[i].data, name->data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_int_t
ngx_http_itsm_alert_source(ngx_str_t *name, ngx_http_itsm_source_e *source)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_itsm_source_names[i].len; i++) {
        if (ngx_http_itsm_source_names[i].len == name->len
            && ngx_strncmp(ngx_http_itsm_source_names[i].data, name->data,
                           name->len)
               == 0)
        {
            *source = i;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/* the generic profile's defaults: each field at the top level, by name */

ngx_str_t *
ngx_http_itsm_alert_default_pointers(ngx_conf_t *cf)
{
    u_char     *p;
    ngx_str_t  *pointers;
    ngx_uint_t  i;

    pointers = ngx_pcalloc(cf->pool, NGX_HTTP_ITSM_NFIELDS * sizeof(ngx_str_t));
    if (pointers == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {
        p = ngx_pnalloc(cf->pool, ngx_http_itsm_field_names[i].len + 1);
        if (p == NULL) {
            return NULL;
        }

        pointers[i].data = p;
        pointers[i].len = ngx_http_itsm_field_names[i].len + 1;

        *p++ = '/';
        ngx_memcpy(p, ngx_http_itsm_field_names[i].data,
                   ngx_http_itsm_field_names[i].len);
    }

    return pointers;
}


/*
 * The payload's alerts, by the location's source profile, appended to
 * "alerts" (ngx_http_itsm_alert_t *).  NGX_ERROR with "error" set when the
 * payload is not what the profile expects; the message names the field
 * and its pointer, for the sender's 400 answer (an empty "error": the
 * server failed).
 */

ngx_int_t
ngx_http_itsm_alert_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error)
{
    ngx_http_itsm_alert_t  *alert, **a;

    alert = ngx_http_itsm_alert_generic(r, payload, conf->pointers, error);
    if (alert == NULL) {
        return NGX_ERROR;
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
 * Returns NULL with "error" set when the payload cannot be an alert; the
 * message names the field and its pointer, for the sender's 400 answer.
 */

ngx_http_itsm_alert_t *
ngx_http_itsm_alert_generic(ngx_http_request_t *r, json_t *payload,
    ngx_str_t *pointers, ngx_str_t *error)
{
    json_t                 *value;
    ngx_int_t               rc;
    ngx_uint_t              i;
    ngx_http_itsm_alert_t  *alert;

    if (!json_is_object(payload)) {
        ngx_str_set(error, "the alert must be a JSON object");
        return NULL;
    }

    alert = ngx_pcalloc(r->pool, sizeof(ngx_http_itsm_alert_t));
    if (alert == NULL) {
        return NULL;
    }

    alert->raw = payload;

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {

        if (i == NGX_HTTP_ITSM_FIELD_SOURCE) {
            ngx_str_set(&alert->fields[i], "generic");
            continue;
        }

        value = ngx_http_itsm_json_pointer(payload, &pointers[i]);

        if (value == NULL || json_is_null(value)) {
            continue;
        }

        rc = ngx_http_itsm_json_scalar(value, r->pool, &alert->fields[i]);

        if (rc == NGX_ERROR) {
            return NULL;
        }

        if (rc == NGX_DECLINED) {
            error->data = ngx_pnalloc(r->pool, 128 + pointers[i].len);
            if (error->data == NULL) {
                return NULL;
            }

            error->len = ngx_sprintf(error->data,
                                     "field \"%V\" (JSON Pointer \"%V\") "
                                     "must be a string or a number",
                                     &ngx_http_itsm_field_names[i],
                                     &pointers[i])
                         - error->data;
            return NULL;
        }
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len == 0) {
        error->data = ngx_pnalloc(r->pool, 128 + pointers[0].len);
        if (error->data == NULL) {
            return NULL;
        }

        error->len = ngx_sprintf(error->data,
                                 "missing field \"key\" (JSON Pointer \"%V\"):"
                                 " every alert needs a key that identifies "
                                 "its problem", &pointers[0])
                     - error->data;
        return NULL;
    }

    if (ngx_http_itsm_alert_state(&alert->fields[NGX_HTTP_ITSM_FIELD_STATUS],
                                  &alert->state)
        != NGX_OK)
    {
        error->data = ngx_pnalloc(r->pool, 160 + NGX_HTTP_ITSM_ERROR_TEXT_MAX);
        if (error->data == NULL) {
            return NULL;
        }

        error->len = ngx_snprintf(error->data,
                                  160 + NGX_HTTP_ITSM_ERROR_TEXT_MAX,
                                  "unknown status \"%V\": expected \"firing\""
                                  " or \"resolved\"",
                                  &alert->fields[NGX_HTTP_ITSM_FIELD_STATUS])
                     - error->data;
        return NULL;
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_TITLE].len == 0) {
        alert->fields[NGX_HTTP_ITSM_FIELD_TITLE] =
                                       alert->fields[NGX_HTTP_ITSM_FIELD_KEY];
    }

    return alert;
}


static ngx_int_t
ngx_http_itsm_alert_state(ngx_str_t *status, ngx_http_itsm_state_e *state)
{
    ngx_http_itsm_alert_status_t  *s;

    if (status->len == 0) {
        *state = NGX_HTTP_ITSM_FIRING;
        ngx_str_set(status, "firing");
        return NGX_OK;
    }

    for (s = ngx_http_itsm_alert_statuses; s->name.len; s++) {
        if (s->name.len == status->len
            && ngx_strncasecmp(s->name.data, status->data, status->len) == 0)
        {
            *state = s->state;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}
