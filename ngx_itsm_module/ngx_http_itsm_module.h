
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_MODULE_H_INCLUDED_
#define _NGX_HTTP_ITSM_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


#define NGX_HTTP_ITSM_DEFAULT_MAX_BODY      (256 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_MAX_DEPTH     32
#define NGX_HTTP_ITSM_DEFAULT_MAX_RESPONSE  (1024 * 1024)
#define NGX_HTTP_ITSM_DEFAULT_RETRY_AFTER   30

/* how much of an ITSM's error text is passed on to the sender and the log */
#define NGX_HTTP_ITSM_ERROR_TEXT_MAX        1024


/* the fields of a normalized alert, in the order of the template names */

typedef enum {
    NGX_HTTP_ITSM_FIELD_KEY = 0,
    NGX_HTTP_ITSM_FIELD_SOURCE,
    NGX_HTTP_ITSM_FIELD_STATUS,
    NGX_HTTP_ITSM_FIELD_SEVERITY,
    NGX_HTTP_ITSM_FIELD_TITLE,
    NGX_HTTP_ITSM_FIELD_DESCRIPTION,
    NGX_HTTP_ITSM_FIELD_RESOURCE,
    NGX_HTTP_ITSM_NFIELDS
} ngx_http_itsm_field_e;


typedef enum {
    NGX_HTTP_ITSM_FIRING = 0,
    NGX_HTTP_ITSM_RESOLVED
} ngx_http_itsm_state_e;


typedef enum {
    NGX_HTTP_ITSM_SOURCE_GENERIC = 0
} ngx_http_itsm_source_e;


typedef enum {
    NGX_HTTP_ITSM_ACTION_CREATE = 0,
    NGX_HTTP_ITSM_NACTIONS
} ngx_http_itsm_action_e;


/* how a substituted value is escaped: chosen by where the template is used */

typedef enum {
    NGX_HTTP_ITSM_ESCAPE_JSON = 0,
    NGX_HTTP_ITSM_ESCAPE_URI,
    NGX_HTTP_ITSM_ESCAPE_HEADER
} ngx_http_itsm_escape_e;


typedef struct {
    ngx_str_t                    fields[NGX_HTTP_ITSM_NFIELDS];
    ngx_http_itsm_state_e        state;
    json_t                      *raw;          /* the alert's own object */
} ngx_http_itsm_alert_t;


/* what a template may substitute: filled by the handler for one render */

typedef struct {
    ngx_http_request_t          *request;
    ngx_http_itsm_alert_t       *alert;
    ngx_str_t                    ticket_id;
} ngx_http_itsm_tpl_ctx_t;


typedef struct {
    ngx_array_t                  ops;          /* ngx_http_itsm_tpl_op_t */
    ngx_http_itsm_escape_e       escape;
    ngx_str_t                    source;       /* the template text */
} ngx_http_itsm_tpl_t;


typedef struct {
    ngx_str_t                    name;
    ngx_http_itsm_tpl_t         *value;
} ngx_http_itsm_header_t;


typedef struct {
    ngx_uint_t                   method;
    ngx_str_t                    method_name;
    ngx_http_itsm_tpl_t         *uri;
    ngx_http_itsm_tpl_t         *body;         /* NULL: no request body */
} ngx_http_itsm_action_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    location;     /* internal location prefix */
    ngx_http_itsm_action_t      *actions[NGX_HTTP_ITSM_NACTIONS];
    ngx_array_t                  headers;      /* ngx_http_itsm_header_t */
    ngx_str_t                    ticket_id;    /* JSON Pointer */
    size_t                       max_response;

    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_itsm_connector_t;


typedef struct {
    ngx_array_t                  connectors;   /* ngx_http_itsm_connector_t * */
    ngx_array_t                  references;   /* ngx_http_itsm_conn_ref_t */
} ngx_http_itsm_main_conf_t;


typedef struct {
    ngx_http_itsm_connector_t   *connector;
    ngx_uint_t                   source;       /* ngx_http_itsm_source_e */
    ngx_str_t                   *pointers;     /* per field, generic source */

    size_t                       max_body;
    ngx_uint_t                   max_depth;
    time_t                       retry_after;

    u_char                      *file;         /* where itsm_pass is */
    ngx_uint_t                   line;
} ngx_http_itsm_loc_conf_t;


/* the state of one inbound alert request, kept in the main request's ctx */

typedef struct {
    ngx_http_itsm_loc_conf_t    *conf;
    json_t                      *payload;
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_tpl_ctx_t      tpl;

    /* the delivery in flight */
    ngx_http_itsm_action_e       action;
    ngx_uint_t                   status;       /* the ITSM's HTTP status */
    ngx_chain_t                 *response;     /* captured response body */
    ngx_chain_t                **last;
    size_t                       response_len;
    time_t                       itsm_retry_after;

    /* for $itsm_* variables */
    ngx_str_t                    outcome;

    unsigned                     delivered:1;  /* post_subrequest ran */
    unsigned                     answered:1;   /* the ITSM sent a status */
    unsigned                     truncated:1;
} ngx_http_itsm_ctx_t;


/* ngx_http_itsm_connector.c */
char *ngx_http_itsm_conn_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_itsm_connector_t *ngx_http_itsm_conn_find(
    ngx_http_itsm_main_conf_t *imcf, ngx_str_t *name);
ngx_int_t ngx_http_itsm_conn_parse_method(ngx_str_t *name,
    ngx_uint_t *method);

/* ngx_http_itsm_template.c */
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile(ngx_conf_t *cf,
    ngx_str_t *text, ngx_http_itsm_escape_e escape);
ngx_http_itsm_tpl_t *ngx_http_itsm_tpl_compile_json(ngx_conf_t *cf,
    ngx_str_t *spec);
ngx_int_t ngx_http_itsm_tpl_render(ngx_http_itsm_tpl_t *tpl,
    ngx_http_itsm_tpl_ctx_t *tctx, ngx_pool_t *pool, ngx_str_t *out);

/* ngx_http_itsm_json.c */
ngx_int_t ngx_http_itsm_json_check_depth(ngx_str_t *text, ngx_uint_t max,
    ngx_uint_t *depth);
json_t *ngx_http_itsm_json_pointer(json_t *root, ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_pointer_valid(ngx_str_t *pointer);
ngx_int_t ngx_http_itsm_json_scalar(json_t *value, ngx_pool_t *pool,
    ngx_str_t *out);
u_char *ngx_http_itsm_json_dump(json_t *value, ngx_pool_t *pool,
    size_t *len);
json_t *ngx_http_itsm_json_text(ngx_pool_t *pool, u_char *data, size_t len,
    size_t max);
ngx_int_t ngx_http_itsm_json_cleanup_add(ngx_pool_t *pool, json_t *value);

/* ngx_http_itsm_alert.c */
extern ngx_str_t  ngx_http_itsm_field_names[];
ngx_int_t ngx_http_itsm_alert_field(ngx_str_t *name);
ngx_int_t ngx_http_itsm_alert_source(ngx_str_t *name,
    ngx_http_itsm_source_e *source);
ngx_str_t *ngx_http_itsm_alert_default_pointers(ngx_conf_t *cf);
ngx_http_itsm_alert_t *ngx_http_itsm_alert_generic(ngx_http_request_t *r,
    json_t *payload, ngx_str_t *pointers, ngx_str_t *error);

/* ngx_http_itsm_handler.c */
ngx_int_t ngx_http_itsm_handler(ngx_http_request_t *r);
void ngx_http_itsm_handler_resume(ngx_http_request_t *r);

/* ngx_http_itsm_deliver.c */
ngx_int_t ngx_http_itsm_deliver(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e action);
ngx_int_t ngx_http_itsm_deliver_filter_init(ngx_conf_t *cf);

/* ngx_http_itsm_reply.c */
ngx_int_t ngx_http_itsm_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_http_itsm_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body);
ngx_int_t ngx_http_itsm_reply_retry_after(ngx_http_request_t *r,
    time_t seconds);

/* ngx_http_itsm_variables.c */
ngx_int_t ngx_http_itsm_variables_add(ngx_conf_t *cf);


/*
 * ngx_http_itsm_access_module (the access phase): its declarations go
 * between these two lines.
 */

/* end of the access-phase declarations */


extern ngx_module_t  ngx_http_itsm_module;
extern ngx_str_t     ngx_http_itsm_action_names[];


#endif /* _NGX_HTTP_ITSM_MODULE_H_INCLUDED_ */
