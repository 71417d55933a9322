
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_layout.h"


/*
 * The location a URI goes to in a server, found the way nginx's find-config
 * phase finds it (exact and prefix trees, regular expressions unless the
 * prefix says ^~, nested locations), at configuration time.
 */


static ngx_int_t ngx_http_itsm_layout_find_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found);


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
