
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_source.h"


/*
 * The generic source: the payload is one alert, each field read through
 * the JSON Pointer that itsm_field gives it, by default the field's own
 * name at the top level ("/title").  An array in configuration_items or
 * target_ids is joined; any other field must be a string or a number.  A
 * key is required; no status is an alert that fires; no title is the key.
 */


static ngx_http_itsm_alert_t *ngx_http_itsm_generic_alert(
    ngx_http_request_t *r, ngx_http_itsm_source_conf_t *scf, json_t *payload,
    ngx_str_t *pointers, ngx_str_t *error);


/* the generic profile's defaults: each field at the top level, by name */

ngx_str_t *
ngx_http_itsm_generic_pointers(ngx_conf_t *cf)
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


ngx_int_t
ngx_http_itsm_generic_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, ngx_http_itsm_source_conf_t *scf,
    json_t *payload, ngx_array_t *alerts, ngx_str_t *error)
{
    ngx_http_itsm_alert_t  *alert;

    alert = ngx_http_itsm_generic_alert(r, scf, payload, conf->pointers,
                                        error);
    if (alert == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_itsm_alert_push(alerts, alert, error);
}


/*
 * The generic profile: one alert, each field read through its JSON
 * Pointer ("itsm_field").  Returns NULL with "error" set when the payload
 * cannot be an alert.
 */

static ngx_http_itsm_alert_t *
ngx_http_itsm_generic_alert(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, json_t *payload, ngx_str_t *pointers,
    ngx_str_t *error)
{
    json_t                 *value;
    ngx_int_t               rc;
    ngx_str_t               raw, first;
    ngx_uint_t              i;
    ngx_http_itsm_alert_t  *alert;

    if (!json_is_object(payload)) {
        ngx_str_set(error, "the alert must be a JSON object");
        return NULL;
    }

    alert = ngx_http_itsm_alert_create(r, NGX_HTTP_ITSM_SOURCE_GENERIC,
                                       payload);
    if (alert == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_ITSM_NFIELDS; i++) {

        if (i == NGX_HTTP_ITSM_FIELD_SOURCE) {
            continue;
        }

        value = ngx_http_itsm_json_pointer(payload, &pointers[i]);

        if (value == NULL || json_is_null(value)) {
            continue;
        }

        if (json_is_array(value)
            && (i == NGX_HTTP_ITSM_FIELD_CONFIGURATION_ITEMS
                || i == NGX_HTTP_ITSM_FIELD_TARGET_IDS))
        {
            if (ngx_http_itsm_alert_join(r, value, &pointers[i],
                                         &alert->fields[i], &first, error)
                != NGX_OK)
            {
                return NULL;
            }

            continue;
        }

        rc = ngx_http_itsm_json_scalar(value, r->pool, &alert->fields[i]);

        if (rc == NGX_ERROR) {
            return NULL;
        }

        if (rc == NGX_DECLINED) {
            (void) ngx_http_itsm_alert_error(r, error,
                                    "field \"%V\" (JSON Pointer \"%V\") "
                                    "must be a string or a number",
                                    &ngx_http_itsm_field_names[i],
                                    &pointers[i]);
            return NULL;
        }
    }

    if (alert->fields[NGX_HTTP_ITSM_FIELD_KEY].len == 0) {
        (void) ngx_http_itsm_alert_error(r, error,
                                    "missing field \"key\" (JSON Pointer "
                                    "\"%V\"): every alert needs a key that "
                                    "identifies its problem",
                                    &pointers[NGX_HTTP_ITSM_FIELD_KEY]);
        return NULL;
    }

    /* no status at all is an alert that fires */

    raw = alert->fields[NGX_HTTP_ITSM_FIELD_STATUS];

    if (raw.len == 0) {
        ngx_str_set(&raw, "firing");
    }

    if (ngx_http_itsm_alert_state(r, scf, alert, &raw) != NGX_OK) {
        (void) ngx_http_itsm_alert_bad_state(r, scf, &raw,
                                    &pointers[NGX_HTTP_ITSM_FIELD_STATUS],
                                    error);
        return NULL;
    }

    raw = alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY];
    ngx_str_null(&alert->fields[NGX_HTTP_ITSM_FIELD_SEVERITY]);

    ngx_http_itsm_alert_severity(r, scf, alert, &raw);

    return alert;
}
