
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_layout.h"


/*
 * The location a URI goes to in a server, found the way nginx's find-config
 * phase finds it (exact and prefix trees, regular expressions unless the
 * prefix says ^~, nested locations), at configuration time; and whether a
 * server can reach a connector's location at all.
 */


static ngx_int_t ngx_http_itsm_layout_find_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found);
static ngx_uint_t ngx_http_itsm_layout_has(ngx_http_itsm_connector_t *conn,
    ngx_http_core_srv_conf_t *cscf);


/*
 * The location nginx picks for "uri" below "pclcf", as
 * ngx_http_core_find_location() does at run time: the longest prefix, an
 * exact match first, then the regular expressions unless the prefix said
 * "^~", then the nested locations of the one found.  NULL: none, or an
 * automatic redirect (a 301, not the location).
 */

ngx_http_core_loc_conf_t *
ngx_http_itsm_layout_find(ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri)
{
    ngx_int_t                   rc;
    ngx_uint_t                  noregex;
    ngx_http_core_loc_conf_t   *found, *nested;
#if (NGX_PCRE)
    ngx_http_core_loc_conf_t  **clcfp;
#endif

    found = NULL;
    noregex = 0;

    rc = ngx_http_itsm_layout_find_static(pclcf->static_locations, uri,
                                          &found);

    if (rc == NGX_AGAIN) {
        noregex = found->noregex;

        nested = ngx_http_itsm_layout_find(found, uri);
        if (nested) {
            return nested;
        }
    }

    if (rc == NGX_OK) {
        return found;
    }

    if (rc == NGX_DONE) {
        return NULL;
    }

#if (NGX_PCRE)

    if (noregex == 0 && pclcf->regex_locations) {

        for (clcfp = pclcf->regex_locations; *clcfp; clcfp++) {

            if (ngx_regex_exec((*clcfp)->regex->regex, uri, NULL, 0) >= 0) {
                nested = ngx_http_itsm_layout_find(*clcfp, uri);

                return nested ? nested : *clcfp;
            }
        }
    }

#endif

    return (rc == NGX_AGAIN) ? found : NULL;
}


/* the walk of ngx_http_core_find_static_location(), with its return codes */

static ngx_int_t
ngx_http_itsm_layout_find_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found)
{
    u_char     *p;
    size_t      len, n;
    ngx_int_t   rc, rv;

    p = uri->data;
    len = uri->len;
    rv = NGX_DECLINED;

    while (node) {

        n = (len <= (size_t) node->len) ? len : node->len;

        rc = ngx_filename_cmp(p, node->name, n);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        if (len > (size_t) node->len) {

            if (node->inclusive) {
                *found = node->inclusive;
                rv = NGX_AGAIN;

                node = node->tree;
                p += n;
                len -= n;
                continue;
            }

            node = node->right;
            continue;
        }

        if (len == (size_t) node->len) {

            if (node->exact) {
                *found = node->exact;
                return NGX_OK;
            }

            *found = node->inclusive;
            return NGX_AGAIN;
        }

        if (len + 1 == (size_t) node->len && node->auto_redirect) {
            rv = NGX_DONE;
        }

        node = node->left;
    }

    return rv;
}


/*
 * The location found is the connector's: a prefix or exact location at or
 * below the connector's prefix ("/_itsm/rt/" for "/_itsm/rt"), or a regular
 * expression location marked "internal" (written for subrequests).  A
 * "location /" or another application's location is not.
 */

ngx_uint_t
ngx_http_itsm_layout_covers(ngx_http_core_loc_conf_t *clcf,
    ngx_http_itsm_connector_t *conn)
{
#if (NGX_PCRE)
    if (clcf->regex) {
        return clcf->internal ? 1 : 0;
    }
#endif

    return clcf->name.len >= conn->location.len
           && ngx_strncmp(clcf->name.data, conn->location.data,
                          conn->location.len)
              == 0;
}


/*
 * "who" in "cscf" can deliver through "conn": its own server has the
 * connector's location, or exactly one server has it.
 */

ngx_int_t
ngx_http_itsm_layout_reach(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_http_core_srv_conf_t *cscf, const char *who)
{
    ngx_http_core_srv_conf_t  **s;

    if (ngx_http_itsm_layout_has(conn, cscf)
        || conn->servers->nelts == 1)
    {
        return NGX_OK;
    }

    s = conn->servers->elts;

    if (conn->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "itsm_connector \"%V\" (%s:%ui) has its location "
                      "\"%V\" in no server, so %s cannot deliver through "
                      "it; add \"location %V/ { internal; proxy_pass ...; }\" "
                      "to the server at %s:%ui",
                      &conn->name, conn->file, conn->line, &conn->location,
                      who, &conn->location, cscf->file_name, cscf->line);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "itsm_connector \"%V\" (%s:%ui): its location \"%V\" is in "
                  "%ui servers (%s:%ui, %s:%ui%s) but not in the server at "
                  "%s:%ui of %s, which therefore cannot tell which one to "
                  "use; put the location in that server too, or keep it in "
                  "one server only",
                  &conn->name, conn->file, conn->line, &conn->location,
                  conn->servers->nelts, s[0]->file_name, s[0]->line,
                  s[1]->file_name, s[1]->line,
                  conn->servers->nelts > 2 ? ", ..." : "",
                  cscf->file_name, cscf->line, who);

    return NGX_ERROR;
}


static ngx_uint_t
ngx_http_itsm_layout_has(ngx_http_itsm_connector_t *conn,
    ngx_http_core_srv_conf_t *cscf)
{
    ngx_uint_t                  i;
    ngx_http_core_srv_conf_t  **s;

    s = conn->servers->elts;

    for (i = 0; i < conn->servers->nelts; i++) {
        if (s[i] == cscf) {
            return 1;
        }
    }

    return 0;
}
