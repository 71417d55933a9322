
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_callback.h"
#include "ngx_http_itsm_mail.h"


/*
 * The "itsm_connector NAME { ... }" block.  Its inner lines are parsed by a
 * handler of our own (as "map" and "types" do), so that each connector keeps
 * its own small vocabulary and every mistake is reported with file and line.
 */


/* the block being read: its connector, its table of lines, its directive */

typedef struct {
    ngx_http_itsm_connector_t   *conn;
    ngx_http_itsm_conn_cmd_t    *cmds;
    char                        *block;
} ngx_http_itsm_conn_lines_t;


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   method;
} ngx_http_itsm_conn_method_t;


static char *ngx_http_itsm_conn_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_http_itsm_conn_check(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
static char *ngx_http_itsm_conn_location(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_itsm_conn_action(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_itsm_conn_ticket_id(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static char *ngx_http_itsm_conn_key(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
static ngx_int_t ngx_http_itsm_conn_header_name_valid(ngx_str_t *name);


static ngx_http_itsm_conn_cmd_t  ngx_http_itsm_conn_cmds[] = {

    { ngx_string("location"), 1, 1, ngx_http_itsm_conn_location },
    { ngx_string("create"), 2, 32, ngx_http_itsm_conn_action },
    { ngx_string("update"), 2, 32, ngx_http_itsm_conn_action },
    { ngx_string("comment"), 2, 32, ngx_http_itsm_conn_action },
    { ngx_string("resolve"), 2, 32, ngx_http_itsm_conn_action },
    { ngx_string("reopen"), 2, 32, ngx_http_itsm_conn_action },
    { ngx_string("lookup"), 4, 8, ngx_http_itsm_lookup_directive },
    { ngx_string("find"), 3, 4, ngx_http_itsm_lookup_find_directive },
    { ngx_string("header"), 2, 2, ngx_http_itsm_conn_header },
    { ngx_string("ticket_id"), 1, 1, ngx_http_itsm_conn_ticket_id },
    { ngx_string("max_response"), 1, 1, ngx_http_itsm_conn_max_response },
    { ngx_string("key"), 1, 1, ngx_http_itsm_conn_key },
    { ngx_string("on_repeat"), 1, 3, ngx_http_itsm_lifecycle_on_repeat },
    { ngx_string("on_resolve"), 1, 2, ngx_http_itsm_lifecycle_on_resolve },
    { ngx_string("on_refire"), 1, 3, ngx_http_itsm_lifecycle_on_refire },
    { ngx_string("on_gone"), 1, 1, ngx_http_itsm_lifecycle_on_gone },
    { ngx_string("callback_token"), 1, 1,
      ngx_http_itsm_callback_token_line },
    { ngx_string("callback_status"), 1, 64,
      ngx_http_itsm_callback_status_line },
    { ngx_string("callback_signature"), 2, 17,
      ngx_http_itsm_callback_signature_line },
    { ngx_string("owner"), 1, 1, ngx_http_itsm_registry_line },
    { ngx_string("description"), 1, 1, ngx_http_itsm_registry_line },
    { ngx_string("events"), 1, 1, ngx_http_itsm_registry_line },
    { ngx_string("limit"), 1, 5, ngx_http_itsm_limit_line },
    { ngx_string("verify"), 2, 3, ngx_http_itsm_verify_line },
    { ngx_string("mail"), 1, 4, ngx_http_itsm_mail_line },
    { ngx_string("answer_ok"), 1, 1, ngx_http_itsm_mail_answer_ok_line },

    { ngx_null_string, 0, 0, NULL }
};


static ngx_http_itsm_conn_method_t  ngx_http_itsm_conn_methods[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_null_string, 0 }
};


char *
ngx_http_itsm_conn_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_itsm_main_conf_t *imcf = conf;

    char                        *rv;
    ngx_str_t                   *value;
    ngx_http_itsm_connector_t   *conn, **connp;

    value = cf->args->elts;

    if (ngx_http_itsm_conn_find(imcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm connector \"%V\" is already declared; "
                           "connector names must be unique", &value[1]);
        return NGX_CONF_ERROR;
    }

    conn = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_connector_t));
    if (conn == NULL
        || ngx_http_itsm_conn_init(cf, conn, &value[1]) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    conn->on_repeat = NGX_CONF_UNSET_UINT;
    conn->cooldown = NGX_CONF_UNSET;
    conn->on_resolve = NGX_CONF_UNSET_UINT;
    conn->on_refire = NGX_CONF_UNSET_UINT;
    conn->reopen_window = NGX_CONF_UNSET;
    conn->on_gone = NGX_CONF_UNSET_UINT;

    connp = ngx_array_push(&imcf->connectors);
    if (connp == NULL) {
        return NGX_CONF_ERROR;
    }

    *connp = conn;

    rv = ngx_http_itsm_conn_lines(cf, conn, ngx_http_itsm_conn_cmds,
                                  "itsm_connector");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_itsm_conn_check(cf, conn);
}


/*
 * What a block of connector settings starts from ("itsm_connector", and
 * the "conn" of "itsm_callback_source"), "conn" zeroed: its name, no
 * header, max_response unset, and the block's file and line, which the
 * checks after the configuration is read name.
 */

ngx_int_t
ngx_http_itsm_conn_init(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *name)
{
    if (ngx_array_init(&conn->headers, cf->pool, 2,
                       sizeof(ngx_http_itsm_header_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    conn->name = *name;
    conn->max_response = NGX_CONF_UNSET_SIZE;
    conn->file = cf->conf_file->file.name.data;
    conn->line = cf->conf_file->line;

    return NGX_OK;
}


/*
 * The lines of a block of connector settings ("itsm_connector", and
 * "itsm_callback_source", whose location, headers and max_response are a
 * connector's), each handled by its row of "cmds" (ended by a row without
 * a name); "block" names the directive in the messages.
 */

char *
ngx_http_itsm_conn_lines(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_conn_cmd_t *cmds, char *block)
{
    char                        *rv;
    ngx_conf_t                   save;
    ngx_http_itsm_conn_lines_t   lines;

    lines.conn = conn;
    lines.cmds = cmds;
    lines.block = block;

    save = *cf;
    cf->handler = ngx_http_itsm_conn_line;
    cf->handler_conf = (char *) &lines;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


ngx_http_itsm_connector_t *
ngx_http_itsm_conn_find(ngx_http_itsm_main_conf_t *imcf, ngx_str_t *name)
{
    ngx_uint_t                   i;
    ngx_http_itsm_connector_t  **conn;

    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        if (conn[i]->name.len == name->len
            && ngx_strncmp(conn[i]->name.data, name->data, name->len) == 0)
        {
            return conn[i];
        }
    }

    return NULL;
}


/* GET, POST, PUT, PATCH or DELETE, upper case, as NGX_HTTP_* */

ngx_int_t
ngx_http_itsm_conn_parse_method(ngx_str_t *name, ngx_uint_t *method)
{
    ngx_http_itsm_conn_method_t  *m;

    m = ngx_http_itsm_conf_row(ngx_http_itsm_conn_methods,
                               sizeof(ngx_http_itsm_conn_method_t), name);
    if (m == NULL) {
        return NGX_ERROR;
    }

    *method = m->method;

    return NGX_OK;
}


static char *
ngx_http_itsm_conn_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_itsm_conn_lines_t *lines = conf;

    u_char                    *list, *p;
    size_t                     len;
    ngx_str_t                 *value;
    ngx_uint_t                 n;
    ngx_http_itsm_conn_cmd_t  *c;

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    c = ngx_http_itsm_conf_row(lines->cmds, sizeof(ngx_http_itsm_conn_cmd_t),
                               &value[0]);

    if (c) {

        if (n < c->min_args || n > c->max_args) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" of "
                               "%s \"%V\"", &value[0], lines->block,
                               &lines->conn->name);
            return NGX_CONF_ERROR;
        }

        return c->set(cf, lines->conn, value, n);
    }

    /* the hint lists the table's lines, so that it cannot fall behind */

    len = 0;

    for (c = lines->cmds; c->name.len; c++) {
        len += c->name.len + sizeof(", ") - 1;
    }

    list = ngx_pnalloc(cf->temp_pool, len + 1);
    if (list == NULL) {
        return NGX_CONF_ERROR;
    }

    p = list;

    for (c = lines->cmds; c->name.len; c++) {
        p = ngx_cpymem(p, c->name.data, c->name.len);

        if (c[1].name.len) {
            p = ngx_cpymem(p, ", ", 2);
        }
    }

    *p = '\0';

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown directive \"%V\" in %s \"%V\"; expected "
                       "one of: %s", &value[0], lines->block,
                       &lines->conn->name, list);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_itsm_conn_check(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn)
{
    ngx_uint_t  i;

    if (conn->location.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" has no \"location\" in %s:%ui; "
                      "add the prefix of the internal location that proxies "
                      "to the ITSM, e.g. \"location /_itsm/%V;\"",
                      &conn->name, conn->file, conn->line, &conn->name);
        return NGX_CONF_ERROR;
    }

    if (conn->actions[NGX_HTTP_ITSM_ACTION_CREATE] == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" has no \"create\" action in "
                      "%s:%ui; add e.g. "
                      "\"create POST /rest/ticket body=create.json;\"",
                      &conn->name, conn->file, conn->line);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < NGX_HTTP_ITSM_NACTIONS; i++) {
        if (conn->lookups[i] != NULL && conn->actions[i] == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_connector \"%V\" has \"lookup %V\" but no "
                          "\"%V\" action in %s:%ui; a lookup reads a value "
                          "for its action: declare the action or remove the "
                          "lookup", &conn->name,
                          &ngx_http_itsm_action_names[i],
                          &ngx_http_itsm_action_names[i], conn->file,
                          conn->line);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_itsm_form_check(cf, conn) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conn->max_response == NGX_CONF_UNSET_SIZE) {
        conn->max_response = NGX_HTTP_ITSM_DEFAULT_MAX_RESPONSE;
    }

    return ngx_http_itsm_lifecycle_check(cf, conn);
}


static char *
ngx_http_itsm_conn_location(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    if (conn->location.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"location\" is duplicate in itsm_connector "
                           "\"%V\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "connector location \"%V\" must be a URI prefix "
                           "starting with \"/\", e.g. /_itsm/%V",
                           &value[1], &conn->name);
        return NGX_CONF_ERROR;
    }

    conn->location = value[1];

    /* the action paths start with "/": keep a single slash between them */

    while (conn->location.len > 1
           && conn->location.data[conn->location.len - 1] == '/')
    {
        conn->location.len--;
    }

    return NGX_CONF_OK;
}


/* ACTION METHOD PATH [body=FILE|body='{"inline": "json"}'] */

static char *
ngx_http_itsm_conn_action(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    ngx_int_t                index;
    ngx_str_t                spec;
    ngx_http_itsm_action_t  *action;

    index = ngx_http_itsm_names_action(&value[0]);

    if (conn->actions[index] != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "action \"%V\" is duplicate in itsm_connector "
                           "\"%V\"", &value[0], &conn->name);
        return NGX_CONF_ERROR;
    }

    action = ngx_pcalloc(cf->pool, sizeof(ngx_http_itsm_action_t));
    if (action == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_conn_parse_method(&value[1], &action->method) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid method \"%V\" for action \"%V\"; use one "
                           "of GET, POST, PUT, PATCH, DELETE (upper case)",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    action->method_name = value[1];

    if (value[2].len == 0 || value[2].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid path \"%V\" for action \"%V\": it must "
                           "start with \"/\"; it is appended to the "
                           "connector's location", &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    action->uri = ngx_http_itsm_tpl_compile(cf, &value[2],
                                            NGX_HTTP_ITSM_ESCAPE_URI);
    if (action->uri == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a body of form fields: "form" or "multipart" and the fields */

    if (n >= 3
        && ((value[3].len == sizeof("form") - 1
             && ngx_strncmp(value[3].data, "form", value[3].len) == 0)
            || (value[3].len == sizeof("multipart") - 1
                && ngx_strncmp(value[3].data, "multipart", value[3].len)
                   == 0)))
    {
        if (ngx_http_itsm_form_fields(cf, conn, action, &value[3], n - 3)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        conn->actions[index] = action;

        return NGX_CONF_OK;
    }

    if (n >= 3) {
        if (n > 3 || value[3].len <= 5
            || ngx_strncmp(value[3].data, "body=", 5) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" for action \"%V\"; "
                               "expected body=FILE, body='{...}', or form or "
                               "multipart and its fields",
                               &value[n > 3 ? 4 : 3], &value[0]);
            return NGX_CONF_ERROR;
        }

        if (action->method == NGX_HTTP_GET
            || action->method == NGX_HTTP_DELETE)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "action \"%V\" uses %V, which sends no body; "
                               "remove \"body=\" or use POST, PUT or PATCH",
                               &value[0], &value[1]);
            return NGX_CONF_ERROR;
        }

        spec.data = value[3].data + 5;
        spec.len = value[3].len - 5;

        action->body = ngx_http_itsm_tpl_compile_json(cf, &spec);
        if (action->body == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    conn->actions[index] = action;

    return NGX_CONF_OK;
}


char *
ngx_http_itsm_conn_header(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    ngx_http_itsm_header_t  *h;

    if (ngx_http_itsm_conn_header_name_valid(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\": use letters, digits "
                           "and \"-\" only", &value[1]);
        return NGX_CONF_ERROR;
    }

    h = ngx_array_push(&conn->headers);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    h->name = value[1];
    h->value = ngx_http_itsm_tpl_compile(cf, &value[2],
                                         NGX_HTTP_ITSM_ESCAPE_HEADER);
    if (h->value == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_itsm_conn_ticket_id(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    if (conn->ticket_id.data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ticket_id\" is duplicate in itsm_connector "
                           "\"%V\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_itsm_json_pointer_conf(cf, &value[1], "ticket_id",
                                        "/id or /result/sys_id")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    conn->ticket_id = value[1];

    return NGX_CONF_OK;
}


char *
ngx_http_itsm_conn_max_response(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    if (ngx_http_itsm_conf_size(cf, &value[1], 1024, NGX_MAX_SIZE_T_VALUE,
                                &conn->max_response, "max_response",
                                ": use a size of at least 1k, e.g. 1m")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the correlation key: alerts with the same key share one ticket */

static char *
ngx_http_itsm_conn_key(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    if (conn->key != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"key\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    conn->key = ngx_http_itsm_tpl_compile(cf, &value[1],
                                          NGX_HTTP_ITSM_ESCAPE_HEADER);
    if (conn->key == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_itsm_conn_header_name_valid(ngx_str_t *name)
{
    size_t  i;
    u_char  ch;

    if (name->len == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
