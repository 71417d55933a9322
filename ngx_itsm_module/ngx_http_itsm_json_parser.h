
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_JSON_PARSER_H_INCLUDED_
#define _NGX_HTTP_ITSM_JSON_PARSER_H_INCLUDED_


/*
 * The state of ngx_http_itsm_json_parse(), shared by the parser's two
 * files only: ngx_http_itsm_json_parse.c (values, objects, arrays,
 * numbers) and ngx_http_itsm_json_string.c (strings).
 */


#include "ngx_http_itsm_json_parse.h"


typedef struct {
    u_char      *p;
    u_char      *last;
    u_char      *scratch;           /* decoded strings, bump-allocated */
    u_char      *scratch_pos;
    size_t       size;              /* of the text: no decoded string is
                                       longer than its text */
    size_t       depth;
    size_t       max_depth;
    int          deep;
} ngx_http_itsm_json_parser_t;


/* jp->p is on the opening quote; NGX_HTTP_ITSM_OK or NGX_HTTP_ITSM_DECLINED */
int ngx_http_itsm_json_parse_string(ngx_http_itsm_json_parser_t *jp,
    u_char **value, size_t *len);


#endif /* _NGX_HTTP_ITSM_JSON_PARSER_H_INCLUDED_ */
