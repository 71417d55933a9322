
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"


/*
 * The names the module shows and reads: of the actions (connector lines,
 * the answer, the status page), the outcomes (the answer, the status
 * page), the sources (itsm_source, the "source" field), the alert's
 * fields (templates, itsm_field) and the values of its status and severity
 * (itsm_state_map, itsm_severity_map), each table in the order of its enum
 * in ngx_http_itsm.h (the severities, most urgent first), and their lookups
 * by name.  They are in one file that depends on no other: a file that
 * shows or reads a name depends on it, rather than on the file of the
 * subsystem that happened to define it.
 */


static ngx_int_t ngx_http_itsm_names_index(ngx_str_t *names, ngx_uint_t n,
    ngx_str_t *name);


ngx_str_t  ngx_http_itsm_action_names[] = {
    ngx_string("create"),
    ngx_string("update"),
    ngx_string("comment"),
    ngx_string("resolve"),
    ngx_string("reopen"),
    ngx_string("none"),
    ngx_null_string
};


ngx_str_t  ngx_http_itsm_outcome_names[] = {
    ngx_string("created"),
    ngx_string("commented"),
    ngx_string("updated"),
    ngx_string("resolved"),
    ngx_string("reopened"),
    ngx_string("duplicate"),
    ngx_string("cooldown"),
    ngx_string("ignored"),
    ngx_string("left_open"),
    ngx_string("queued"),
    ngx_string("failed"),
    ngx_string("refused"),
    ngx_null_string
};


ngx_str_t  ngx_http_itsm_field_names[] = {
    ngx_string("key"),
    ngx_string("source"),
    ngx_string("status"),
    ngx_string("severity"),
    ngx_string("title"),
    ngx_string("description"),
    ngx_string("resource"),
    ngx_string("severity_raw"),
    ngx_string("group_key"),
    ngx_string("starts_at"),
    ngx_string("ends_at"),
    ngx_string("link"),
    ngx_string("configuration_items"),
    ngx_string("target_ids"),
    ngx_string("external_url"),
    ngx_string("note"),
    ngx_null_string
};


ngx_str_t  ngx_http_itsm_source_names[] = {
    ngx_string("generic"),
    ngx_string("alertmanager"),
    ngx_string("grafana"),
    ngx_string("azure"),
    ngx_string("datadog"),
    ngx_null_string
};


/* the values of the "status" field, by ngx_http_itsm_state_e */

ngx_str_t  ngx_http_itsm_state_names[] = {
    ngx_string("firing"),
    ngx_string("resolved"),
    ngx_null_string
};


/* the values of the "severity" field, most urgent first */

ngx_str_t  ngx_http_itsm_severity_names[] = {
    ngx_string("critical"),
    ngx_string("high"),
    ngx_string("warning"),
    ngx_string("info"),
    ngx_string("low"),
    ngx_null_string
};


/* an action's index by its name ("none" is not an action); NGX_ERROR: no
 * such action */

ngx_int_t
ngx_http_itsm_names_action(ngx_str_t *name)
{
    return ngx_http_itsm_names_index(ngx_http_itsm_action_names,
                                     NGX_HTTP_ITSM_NACTIONS, name);
}


/* "key, source, ...": the field names, for configuration errors */

char *
ngx_http_itsm_names_field_list(ngx_pool_t *pool)
{
    u_char      *list, *p;
    size_t       len;
    ngx_uint_t   i;

    len = 1;

    for (i = 0; ngx_http_itsm_field_names[i].len; i++) {
        len += ngx_http_itsm_field_names[i].len + 2;
    }

    list = ngx_pnalloc(pool, len);
    if (list == NULL) {
        return "(no memory)";
    }

    p = list;

    for (i = 0; ngx_http_itsm_field_names[i].len; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, ngx_http_itsm_field_names[i].data,
                       ngx_http_itsm_field_names[i].len);
    }

    *p = '\0';

    return (char *) list;
}


ngx_int_t
ngx_http_itsm_names_field(ngx_str_t *name)
{
    return ngx_http_itsm_names_index(ngx_http_itsm_field_names,
                                     NGX_HTTP_ITSM_NFIELDS, name);
}


ngx_int_t
ngx_http_itsm_names_source(ngx_str_t *name, ngx_http_itsm_source_e *source)
{
    ngx_int_t  i;

    i = ngx_http_itsm_names_index(ngx_http_itsm_source_names,
                                  NGX_HTTP_ITSM_NSOURCES, name);
    if (i == NGX_ERROR) {
        return NGX_ERROR;
    }

    *source = i;

    return NGX_OK;
}


/* the index of "name" among the first "n" names; NGX_ERROR: not there */

static ngx_int_t
ngx_http_itsm_names_index(ngx_str_t *names, ngx_uint_t n, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == name->len
            && ngx_strncmp(names[i].data, name->data, name->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}
