
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_conf.h"


/*
 * The "name=VALUE" parameters of the module's directives ("itsm_store
 * PATH size=64m lease=60s", "itsm_jwt jwks=FILE aud=API", ...): each
 * directive's loop asks, parameter by parameter, which name it has.
 */


/*
 * 1 and "arg" set to VALUE when "value" is the parameter "name=VALUE"
 * ("name" is given with its "="), else 0.  VALUE may be empty: whether it
 * may is the directive's to say.
 */

ngx_uint_t
ngx_http_itsm_conf_param(ngx_str_t *value, const char *name, ngx_str_t *arg)
{
    size_t  len;

    len = ngx_strlen(name);

    if (value->len < len || ngx_strncmp(value->data, name, len) != 0) {
        return 0;
    }

    arg->data = value->data + len;
    arg->len = value->len - len;

    return 1;
}


/*
 * "text" split at its first "sep" into "name" and "value", as written
 * ("NAME=VALUE", "ITSM_STATUS=STATE", "name:size").  NGX_DECLINED when
 * there is no "sep".  Either side may be empty: whether it may is the
 * caller's to say.
 */

ngx_int_t
ngx_http_itsm_conf_split(ngx_str_t *text, u_char sep, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *p;

    p = ngx_strlchr(text->data, text->data + text->len, sep);

    if (p == NULL) {
        return NGX_DECLINED;
    }

    name->data = text->data;
    name->len = p - text->data;

    value->data = p + 1;
    value->len = text->data + text->len - value->data;

    return NGX_OK;
}


/*
 * The "name:size" of a zone's directive ("itsm_zone itsm:10m") split at
 * its first ':' into "name" and "size" as written.  NGX_ERROR, after
 * "invalid zone \"<value>\"; <hint>" is logged, when there is no ':' or
 * no name: the hint says how to write it.
 */

ngx_int_t
ngx_http_itsm_conf_zone(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    ngx_str_t *size, const char *hint)
{
    if (ngx_http_itsm_conf_split(value, ':', name, size) != NGX_OK
        || name->len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid zone \"%V\"; %s",
                           value, hint);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The data of one of the module's shared zones, at the zone's init: a
 * reload keeps it ("data", the zone's data in the old cycle, is not NULL:
 * nginx gives the same memory again), a zone that exists already has it in
 * its slab's data, a new one gets "size" zeroed bytes.  NULL: no room.
 */

void *
ngx_http_itsm_conf_zone_data(ngx_shm_zone_t *shm_zone, void *data,
    size_t size)
{
    void             *p;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        return shpool->data;
    }

    p = ngx_slab_calloc(shpool, size);
    if (p == NULL) {
        return NULL;
    }

    shpool->data = p;

    return p;
}


/*
 * The row named "name" of a table ("itsm_signature"'s schemes, the
 * connector's lines, the HTTP methods, ...): rows of "size" bytes, each
 * beginning with its name as an ngx_str_t (as ngx_conf_enum_t's do), the
 * last one with an empty name.  NULL when no row has that name; the
 * directive says what the names are.
 */

void *
ngx_http_itsm_conf_row(void *rows, size_t size, ngx_str_t *name)
{
    u_char     *p;
    ngx_str_t  *row;

    for (p = rows; /* void */ ; p += size) {
        row = (ngx_str_t *) p;

        if (row->len == 0) {
            return NULL;
        }

        if (row->len == name->len
            && ngx_strncmp(row->data, name->data, name->len) == 0)
        {
            return p;
        }
    }
}


/*
 * The index of "digest" among the first "n" elements of "digests", an
 * array of digests of digests->size bytes each (the SHA-256 of tokens), or
 * NGX_ERROR when it is not there: a token listed twice is a mistake the
 * directive reports.  At configuration time: not in constant time.
 */

ngx_int_t
ngx_http_itsm_conf_digest_index(ngx_array_t *digests, ngx_uint_t n,
    u_char *digest)
{
    u_char      *d;
    ngx_uint_t   i;

    d = digests->elts;

    for (i = 0; i < n; i++) {
        if (ngx_memcmp(d + i * digests->size, digest, digests->size) == 0) {
            return i;
        }
    }

    return NGX_ERROR;
}


/*
 * "arg" as a time in seconds ("10m", "1h") between "min" and "max" into
 * "*t".  NGX_ERROR, after "invalid <what> \"<arg>\"<hint>" is logged, when
 * it is not one or out of bounds; the hint says what to write.
 */

ngx_int_t
ngx_http_itsm_conf_time(ngx_conf_t *cf, ngx_str_t *arg, time_t min,
    time_t max, time_t *t, const char *what, const char *hint)
{
    time_t  n;

    n = ngx_parse_time(arg, 1);

    if (n == (time_t) NGX_ERROR || n < min || n > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %s \"%V\"%s",
                           what, arg, hint);
        return NGX_ERROR;
    }

    *t = n;

    return NGX_OK;
}


/*
 * "arg" as a size ("4k", "1m") between "min" and "max" bytes into "*size".
 * NGX_ERROR, after "invalid <what> \"<arg>\"<hint>" is logged, when it is
 * not one or out of bounds; the hint says what to write.
 */

ngx_int_t
ngx_http_itsm_conf_size(ngx_conf_t *cf, ngx_str_t *arg, size_t min,
    size_t max, size_t *size, const char *what, const char *hint)
{
    ssize_t  n;

    n = ngx_parse_size(arg);

    if (n == NGX_ERROR || (size_t) n < min || (size_t) n > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %s \"%V\"%s",
                           what, arg, hint);
        return NGX_ERROR;
    }

    *size = n;

    return NGX_OK;
}


/*
 * "name: value" added to the headers of the answer (Allow, Retry-After,
 * WWW-Authenticate); "name" is a static string, "value" lives as long as
 * the request.
 */

ngx_table_elt_t *
ngx_http_itsm_conf_header(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return h;
}


/*
 * The first request header named "name" (any case), NULL when there is
 * none; with "count", all of them are counted (a signature check refuses
 * a header given twice), else the walk ends at the first.
 */

ngx_table_elt_t *
ngx_http_itsm_conf_header_in(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;

    if (count) {
        *count = 0;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (count == NULL) {
            return &h[i];
        }

        if (found == NULL) {
            found = &h[i];
        }

        (*count)++;
    }

    return found;
}


/* adds a module's $variables, "vars" ending with ngx_http_null_variable */

ngx_int_t
ngx_http_itsm_conf_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * What a $variable of the module gives: "value", never cached (it changes
 * as the request goes on), or not found when "value" has no data.
 */

void
ngx_http_itsm_conf_variable_value(ngx_http_variable_value_t *v,
    ngx_str_t *value)
{
    if (value->data == NULL) {
        v->not_found = 1;
        return;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;
}


/* "n" in decimal digits, in the request's pool: a $variable's count, time
 * or status */

ngx_int_t
ngx_http_itsm_conf_variable_number(ngx_http_request_t *r, int64_t n,
    ngx_str_t *value)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = ngx_sprintf(p, "%L", n) - p;

    return NGX_OK;
}


/*
 * The post handler of a number directive (ngx_conf_set_num_slot) that
 * must lie within the bounds its ngx_http_itsm_conf_bounds_t gives, as
 * nginx's ngx_conf_check_num_bounds does, with the module's message:
 * nginx says "\"<directive>\" directive must be between LOW and HIGH".
 */

char *
ngx_http_itsm_conf_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_itsm_conf_bounds_t *bounds = post;
    ngx_uint_t                  *n = data;

    u_char  *p;

    if (*n >= bounds->low && *n <= bounds->high) {
        return NGX_CONF_OK;
    }

    p = ngx_pnalloc(cf->pool, sizeof("must be between  and ")
                              + 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(p, "must be between %ui and %ui%Z", bounds->low,
                bounds->high);

    return (char *) p;
}


/*
 * Makes "handler" the content handler of the location being read: the
 * directives of the status page, the delivery log's API, the queue and
 * the registry each answer a location of their own, so one that already
 * has a handler (proxy_pass, another of these) is refused.
 */

char *
ngx_http_itsm_conf_content(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "cannot be combined with another content handler";
    }

    clcf->handler = handler;

    return NGX_CONF_OK;
}
