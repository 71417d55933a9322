
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_SOURCE_H_INCLUDED_
#define _NGX_HTTP_ITSM_SOURCE_H_INCLUDED_


#include "ngx_http_itsm.h"


/* The alert sources: the dispatch and the sources' settings
 * (ngx_http_itsm_source.c), the normalized alert's helpers
 * (ngx_http_itsm_alert.c) and each source's parser.  The settings go down
 * with the call: the dispatch gives them to the parser, the parser to the
 * helpers. */


/* a word of itsm_state_map or itsm_severity_map, or a built-in one, and the
 * state or severity it means */

typedef struct {
    ngx_str_t                    word;
    ngx_uint_t                   value;
} ngx_http_itsm_alert_word_t;


/*
 * A source's parser, which the dispatch calls (ngx_http_itsm_source.c): a
 * function type, so that each parser below is declared by it.  The
 * dispatch has refused a payload that is not a JSON object already, for
 * every source but the generic one.
 */

typedef ngx_int_t ngx_http_itsm_source_parse_t(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, ngx_http_itsm_source_conf_t *scf,
    json_t *payload, ngx_array_t *alerts, ngx_str_t *error);


/*
 * A source's candidate for a field of the alert: member "name" of the
 * object number "in" of those the source reads.  A table of them lists
 * the candidates of each field in order of preference, and ends with a
 * NULL name (ngx_http_itsm_alert_map()).
 */

typedef struct {
    ngx_uint_t                   field;        /* NGX_HTTP_ITSM_FIELD_* */
    ngx_uint_t                   in;
    const char                  *name;
} ngx_http_itsm_alert_map_t;


/* ngx_http_itsm_source.c */
ngx_int_t ngx_http_itsm_source_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error);
char *ngx_http_itsm_source_map(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_itsm_alert.c */
ngx_http_itsm_alert_t *ngx_http_itsm_alert_create(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, json_t *raw);
uint64_t ngx_http_itsm_alert_hash(ngx_http_itsm_alert_t *alert);
json_t *ngx_http_itsm_alert_fields_json(ngx_http_itsm_alert_t *alert);
ngx_int_t ngx_http_itsm_alert_push(ngx_array_t *alerts,
    ngx_http_itsm_alert_t *alert, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_check_count(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, size_t n, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_text(ngx_http_request_t *r, json_t *obj,
    const char *name, ngx_str_t *where, ngx_str_t *out, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_set(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_uint_t field, json_t *obj,
    const char *name, ngx_str_t *where, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_map(ngx_http_request_t *r,
    ngx_http_itsm_alert_t *alert, ngx_http_itsm_alert_map_t *map,
    json_t **in, ngx_str_t **where, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_member(ngx_http_request_t *r, json_t *obj,
    const char *name, json_type type, ngx_str_t *where, json_t **out,
    ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_join(ngx_http_request_t *r, json_t *list,
    ngx_str_t *where, ngx_str_t *out, ngx_str_t *first, ngx_str_t *error);
int ngx_http_itsm_alert_clip(ngx_str_t *value);
ngx_int_t ngx_http_itsm_alert_word(ngx_http_itsm_alert_word_t *words,
    ngx_str_t *word, ngx_uint_t *value);
ngx_int_t ngx_http_itsm_alert_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_str_t *raw);
ngx_int_t ngx_http_itsm_alert_bad_state(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_str_t *raw, ngx_str_t *pointer,
    ngx_str_t *error);
void ngx_http_itsm_alert_set_state(ngx_http_itsm_alert_t *alert,
    ngx_http_itsm_state_e state);
void ngx_http_itsm_alert_severity(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    ngx_str_t *raw);
ngx_int_t ngx_http_itsm_alert_set_severity(ngx_http_request_t *r,
    ngx_http_itsm_source_conf_t *scf, ngx_http_itsm_alert_t *alert,
    json_t *obj, const char *name, ngx_str_t *where, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_missing_key(ngx_http_request_t *r,
    ngx_str_t *where, const char *name, ngx_str_t *error);
ngx_int_t ngx_http_itsm_alert_error(ngx_http_request_t *r, ngx_str_t *error,
    const char *fmt, ...);

/* ngx_http_itsm_source_generic.c */
ngx_str_t *ngx_http_itsm_generic_pointers(ngx_conf_t *cf);
ngx_http_itsm_source_parse_t  ngx_http_itsm_generic_parse;

/* ngx_http_itsm_source_alertmanager.c (Alertmanager and Grafana) */
ngx_http_itsm_source_parse_t  ngx_http_itsm_alertmanager_parse;

/* ngx_http_itsm_source_azure.c */
ngx_http_itsm_source_parse_t  ngx_http_itsm_azure_parse;

/* ngx_http_itsm_source_datadog.c */
ngx_http_itsm_source_parse_t  ngx_http_itsm_datadog_parse;


#endif /* _NGX_HTTP_ITSM_SOURCE_H_INCLUDED_ */
