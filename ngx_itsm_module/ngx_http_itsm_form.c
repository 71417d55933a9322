
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_mail.h"


/*
 * Bodies of form fields, for the web services that take an email (or a
 * ticket) as a form rather than as JSON: Mailgun's messages, Request
 * Tracker's mail gateway.
 *
 *     create POST /v3/example.com/messages multipart
 *            'from=Alerts <alerts@example.com>' 'to=ops@example.com'
 *            'subject={{ title }}' 'text={{ description }}';
 *
 * "form" sends application/x-www-form-urlencoded: each value is escaped
 * but for the unreserved characters, so that "&", "=" and "+" of an
 * alert stay in their field.  "multipart" sends multipart/form-data: each
 * value as it is, between boundaries drawn at random for each request, so
 * that no alert text can end its part early.  A field "name=@mail"
 * carries the connector's email message (ngx_http_itsm_mail.c).
 */


#define NGX_HTTP_ITSM_FORM_NAME_MAX  64


static ngx_int_t ngx_http_itsm_form_name_valid(ngx_str_t *name);
static ngx_int_t ngx_http_itsm_form_values(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_str_t *values);
static void ngx_http_itsm_form_boundary(u_char *buf, ngx_str_t *values,
    ngx_uint_t n);


/* value[0]: "form" or "multipart", value[1] to value[n]: the fields */

char *
ngx_http_itsm_form_fields(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_action_t *action, ngx_str_t *value, ngx_uint_t n)
{
    u_char                      *eq;
    ngx_str_t                    text;
    ngx_uint_t                   i;
    ngx_http_itsm_escape_e       escape;
    ngx_http_itsm_form_field_t  *f;

    if (action->method & (NGX_HTTP_GET|NGX_HTTP_DELETE)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a method that sends a body: use "
                           "POST, PUT or PATCH", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (n == 0 || n > NGX_HTTP_ITSM_FORM_FIELDS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes 1 to %d fields, each "
                           "'name=TEMPLATE', e.g. %V 'subject={{ title }}'",
                           &value[0], NGX_HTTP_ITSM_FORM_FIELDS_MAX,
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    action->multipart = (value[0].data[0] == 'm');
    escape = action->multipart ? NGX_HTTP_ITSM_ESCAPE_RAW
                               : NGX_HTTP_ITSM_ESCAPE_FORM;

    action->fields = ngx_array_create(cf->pool, n,
                                      sizeof(ngx_http_itsm_form_field_t));
    if (action->fields == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i <= n; i++) {

        f = ngx_array_push(action->fields);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        f->name.data = value[i].data;
        f->name.len = eq ? (size_t) (eq - value[i].data) : value[i].len;

        if (eq == NULL || ngx_http_itsm_form_name_valid(&f->name) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field \"%V\" in \"%V\": write "
                               "'name=TEMPLATE', the name of 1 to %d "
                               "letters, digits and \"-_.:[]\"", &value[i],
                               &value[0], NGX_HTTP_ITSM_FORM_NAME_MAX);
            return NGX_CONF_ERROR;
        }

        text.data = eq + 1;
        text.len = value[i].data + value[i].len - text.data;

        if (text.len == sizeof("@mail") - 1
            && ngx_strncmp(text.data, "@mail", text.len) == 0)
        {
            f->value = NULL;                    /* checked with the block */
            continue;
        }

        f->value = ngx_http_itsm_tpl_compile(cf, &text, escape);
        if (f->value == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* at the end of the block: a field "@mail" needs the "mail" line */

ngx_int_t
ngx_http_itsm_form_check(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn)
{
    ngx_uint_t                   a, i;
    ngx_http_itsm_form_field_t  *f;

    for (a = 0; a < NGX_HTTP_ITSM_NACTIONS; a++) {

        if (conn->actions[a] == NULL || conn->actions[a]->fields == NULL) {
            continue;
        }

        f = conn->actions[a]->fields->elts;

        for (i = 0; i < conn->actions[a]->fields->nelts; i++) {

            if (f[i].value == NULL && conn->mail[0] == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "itsm_connector \"%V\" (%s:%ui): field "
                              "\"%V=@mail\" of action \"%V\" carries the "
                              "connector's message: add a line \"mail "
                              "'from=...' 'to=...' 'subject=...';\"",
                              &conn->name, conn->file, conn->line,
                              &f[i].name, &ngx_http_itsm_action_names[a]);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_form_name_valid(ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_ITSM_FORM_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9')
            || ngx_strchr("-_.:[]", ch) != NULL)
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the body and its content type */

ngx_int_t
ngx_http_itsm_form_render(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_str_t *body, ngx_str_t *type)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    values[NGX_HTTP_ITSM_FORM_FIELDS_MAX];
    ngx_uint_t                   i, n;
    ngx_http_itsm_form_field_t  *f;

    /* "--" boundary CRLF: the boundary is "itsm-" and 32 hex digits */
    u_char                       boundary[sizeof("itsm-") - 1 + 32];

    if (ngx_http_itsm_form_values(r, conn, action, tctx, values) != NGX_OK) {
        return NGX_ERROR;
    }

    f = action->fields->elts;
    n = action->fields->nelts;

    if (!action->multipart) {
        len = 0;

        for (i = 0; i < n; i++) {
            len += f[i].name.len + 1 + values[i].len + 1;
        }

        body->data = ngx_pnalloc(r->pool, len);
        if (body->data == NULL) {
            return NGX_ERROR;
        }

        p = body->data;

        for (i = 0; i < n; i++) {
            if (i) {
                *p++ = '&';
            }

            p = ngx_cpymem(p, f[i].name.data, f[i].name.len);
            *p++ = '=';
            p = ngx_cpymem(p, values[i].data, values[i].len);
        }

        body->len = p - body->data;
        ngx_str_set(type, "application/x-www-form-urlencoded");

        return NGX_OK;
    }

    ngx_http_itsm_form_boundary(boundary, values, n);

    len = sizeof("--") - 1 + sizeof(boundary) + sizeof("--" CRLF) - 1;

    for (i = 0; i < n; i++) {
        len += sizeof("--") - 1 + sizeof(boundary)
               + sizeof(CRLF "Content-Disposition: form-data; name=\"\""
                        CRLF CRLF) - 1
               + f[i].name.len + values[i].len + sizeof(CRLF) - 1;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "--%*s" CRLF "Content-Disposition: form-data; "
                        "name=\"%V\"" CRLF CRLF, sizeof(boundary), boundary,
                        &f[i].name);
        p = ngx_cpymem(p, values[i].data, values[i].len);
        *p++ = CR; *p++ = LF;
    }

    p = ngx_sprintf(p, "--%*s--" CRLF, sizeof(boundary), boundary);

    body->len = p - body->data;

    len = sizeof("multipart/form-data; boundary=") - 1 + sizeof(boundary);

    type->data = ngx_pnalloc(r->pool, len);
    if (type->data == NULL) {
        return NGX_ERROR;
    }

    type->len = ngx_sprintf(type->data, "multipart/form-data; boundary=%*s",
                            sizeof(boundary), boundary)
                - type->data;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm form: connector \"%V\", %ui fields, %uz bytes",
                   &conn->name, n, body->len);

    return NGX_OK;
}


/* each field's value: its template rendered, or the message (escaped for
 * a form like any value) */

static ngx_int_t
ngx_http_itsm_form_values(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_str_t *values)
{
    u_char                      *p;
    uintptr_t                    n;
    ngx_str_t                    mail;
    ngx_uint_t                   i;
    ngx_http_itsm_form_field_t  *f;

    f = action->fields->elts;
    ngx_str_null(&mail);

    for (i = 0; i < action->fields->nelts; i++) {

        if (f[i].value) {
            if (ngx_http_itsm_tpl_render(f[i].value, tctx, r->pool,
                                         &values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (mail.data == NULL
            && ngx_http_itsm_mail_render(r, conn, tctx, &mail) != NGX_OK)
        {
            return NGX_ERROR;
        }

        values[i] = mail;

        if (action->multipart) {
            continue;
        }

        n = ngx_escape_uri(NULL, mail.data, mail.len,
                           NGX_ESCAPE_URI_COMPONENT);

        p = ngx_pnalloc(r->pool, mail.len + 2 * n);
        if (p == NULL) {
            return NGX_ERROR;
        }

        values[i].data = p;
        values[i].len = (u_char *) ngx_escape_uri(p, mail.data, mail.len,
                                                  NGX_ESCAPE_URI_COMPONENT)
                        - p;
    }

    return NGX_OK;
}


/*
 * "itsm-" and 32 random hex digits: no alert can know it, and a value that
 * holds it all the same (4 draws of ngx_random(), 31 bits each: about 1
 * in 2^124) makes another one be drawn.
 */

static void
ngx_http_itsm_form_boundary(u_char *buf, ngx_str_t *values, ngx_uint_t n)
{
    u_char      *p;
    uint32_t     rnd[4];
    ngx_uint_t   i, k, again;

    do {
        p = ngx_cpymem(buf, "itsm-", sizeof("itsm-") - 1);

        for (k = 0; k < 4; k++) {
            rnd[k] = (uint32_t) ngx_random();
            p = ngx_sprintf(p, "%08xD", rnd[k]);
        }

        again = 0;

        for (i = 0; i < n; i++) {
            if (values[i].len >= sizeof("itsm-") - 1 + 32
                && ngx_strlcasestrn(values[i].data,
                                 values[i].data + values[i].len, buf,
                                 sizeof("itsm-") - 1 + 32 - 1)
                != NULL)
            {
                again = 1;
            }
        }

    } while (again);
}
