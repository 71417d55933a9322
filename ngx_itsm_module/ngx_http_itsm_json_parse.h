
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_
#define _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_


/*
 * The JSON work done on every alert's bytes, pure as the parsers of
 * ngx_http_itsm_parse.h are (no nginx header: fuzz/ builds each from its
 * source with a plain cc line):
 *
 * - ngx_http_itsm_json_parse.c: a parser of alert bodies that builds the
 *   values json_loadb(JSON_REJECT_DUPLICATES) would, or declines (its
 *   strings in ngx_http_itsm_json_string.c);
 * - ngx_http_itsm_json_escape.c: text as the inside of a JSON string, the
 *   same bytes as nginx's ngx_escape_json(), for templates.
 */


#include "ngx_http_itsm_parse.h"


/*
 * NULL: declined, for whatever reason -- the caller asks jansson, whose
 * message the sender gets -- and *deep is 1 when the reason was nesting
 * deeper than max_depth (counted as ngx_http_itsm_json_depth() counts).
 */
json_t *ngx_http_itsm_json_parse(u_char *p, size_t len, size_t max_depth,
    int *deep);

/* dst NULL: how many bytes the escapes add; else the end of what was
 * written (ngx_escape_json()'s contract) */
uintptr_t ngx_http_itsm_json_escape(u_char *dst, u_char *src, size_t size);


#endif /* _NGX_HTTP_ITSM_JSON_PARSE_H_INCLUDED_ */
