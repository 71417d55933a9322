
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_layout.h"


/*
 * Which server a connector's subrequests run in.
 *
 * nginx looks a subrequest's URI up in the server of the request that made
 * it (ngx_http_subrequest() copies the parent's srv_conf and the server's
 * loc_conf, and the find-config phase searches that server's location
 * tree).  The documented layout keeps the replay location in a server of
 * its own, on loopback or a unix socket, and the connector's location in
 * the alert server: looked up in the replay server, "/_itsm/rt/..." found
 * no location and nginx served a static file, so every held or queued
 * delivery ended as a dead letter.
 *
 * So, once nginx has built the location trees (postconfiguration), each
 * connector learns the servers whose locations take its actions' paths,
 * and a subrequest made from a server without them is moved, before it
 * runs, to the one server that has them.  "nginx -t" refuses any layout in
 * which an alert endpoint or the replay location cannot reach a
 * connector's location that way: the location is in no server, or it is
 * in several but not in the requester's own (ambiguous).  It warns when
 * itsm_replay_url leads to no replay location of this configuration.
 */


ngx_str_t  ngx_http_itsm_layout_empty = ngx_null_string;


static ngx_int_t ngx_http_itsm_layout_servers(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
static ngx_http_itsm_action_t * ngx_http_itsm_layout_path(ngx_http_itsm_connector_t *conn,
    ngx_uint_t a, const char **kind, ngx_str_t **name);
static ngx_int_t ngx_http_itsm_layout_action(ngx_conf_t *cf,
    ngx_http_core_srv_conf_t *cscf, ngx_http_itsm_connector_t *conn,
    ngx_http_itsm_action_t *action, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **found);
static ngx_int_t ngx_http_itsm_layout_walk(ngx_http_itsm_layout_walk_t *w,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_itsm_layout_walk_tree(ngx_http_itsm_layout_walk_t *w,
    ngx_http_location_tree_node_t *node);
static ngx_int_t ngx_http_itsm_layout_endpoint(ngx_http_itsm_layout_walk_t *w,
    ngx_http_core_loc_conf_t *clcf);


ngx_int_t
ngx_http_itsm_layout_check(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf)
{
    u_char                       *used;
    ngx_uint_t                    i;
    ngx_http_itsm_connector_t   **conn;
    ngx_http_core_srv_conf_t    **cscfp;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_itsm_layout_walk_t   w;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    conn = imcf->connectors.elts;

    for (i = 0; i < imcf->connectors.nelts; i++) {
        if (ngx_http_itsm_layout_servers(cf, conn[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    used = ngx_pcalloc(cf->temp_pool, imcf->connectors.nelts + 1);
    if (used == NULL) {
        return NGX_ERROR;
    }

    w.cf = cf;
    w.imcf = imcf;
    w.used = used;

    cscfp = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        w.server = cscfp[i];

        if (ngx_http_itsm_layout_walk(&w,
                cscfp[i]->ctx->loc_conf[ngx_http_core_module.ctx_index])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (imcf->replay_url.len == 0) {
        return NGX_OK;
    }

    return ngx_http_itsm_layout_replay(cf, imcf, used);
}


/*
 * Run time: the subrequest "sr" was made for "conn" by "r"; in r's own
 * server if that server has the connector's location, else in the one
 * server that has it ("nginx -t" refused the other layouts for every
 * request that can get here: the alert endpoints and the replay location).
 * Before the subrequest runs, its find-config phase starts from the
 * server's loc_conf; srv_conf goes with it, so that an internal redirect
 * inside the ITSM location (error_page, try_files) stays in that server.
 */

void
ngx_http_itsm_layout_place(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_itsm_connector_t *conn)
{
    ngx_uint_t                  i;
    ngx_http_core_srv_conf_t   *cscf, **s;

    if (conn->servers == NULL || conn->servers->nelts == 0) {
        return;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    s = conn->servers->elts;

    for (i = 0; i < conn->servers->nelts; i++) {
        if (s[i] == cscf) {
            return;
        }
    }

    if (conn->servers->nelts != 1) {
        return;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm layout: connector \"%V\" runs \"%V\" in the server "
                   "at %s:%ui", &conn->name, &sr->uri, s[0]->file_name,
                   s[0]->line);

    sr->srv_conf = s[0]->ctx->srv_conf;
    sr->loc_conf = s[0]->ctx->loc_conf;
}


/*
 * The servers in which every action (and lookup) of the connector finds
 * the connector's location.  A server where some actions do and others do
 * not would send part of the lifecycle elsewhere: refused.
 */

static ngx_int_t
ngx_http_itsm_layout_servers(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn)
{
    ngx_str_t                    uri, bad_uri;
    ngx_int_t                    rc;
    ngx_uint_t                   i, a, n, total, bad;
    ngx_http_itsm_action_t      *action;
    ngx_http_core_loc_conf_t    *found, *bad_found;
    ngx_str_t                   *name;
    const char                  *kind;
    ngx_http_core_srv_conf_t   **cscfp, **s;
    ngx_http_core_main_conf_t   *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    conn->servers = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_http_core_srv_conf_t *));
    if (conn->servers == NULL) {
        return NGX_ERROR;
    }

    cscfp = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {

        n = 0;
        total = 0;
        bad = NGX_HTTP_ITSM_LAYOUT_NPATHS;
        bad_found = NULL;
        ngx_str_null(&bad_uri);

        for (a = 0; a < NGX_HTTP_ITSM_LAYOUT_NPATHS; a++) {

            action = ngx_http_itsm_layout_path(conn, a, NULL, NULL);

            if (action == NULL) {
                continue;
            }

            total++;

            rc = ngx_http_itsm_layout_action(cf, cscfp[i], conn, action, &uri,
                                             &found);
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_OK) {
                n++;

            } else if (bad == NGX_HTTP_ITSM_LAYOUT_NPATHS) {
                bad = a;
                bad_found = found;
                bad_uri = uri;
            }
        }

        ngx_log_debug5(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                       "itsm layout: connector \"%V\": %ui of %ui paths in "
                       "the server at %s:%ui", &conn->name, n, total,
                       cscfp[i]->file_name, cscfp[i]->line);

        if (n == 0) {
            continue;
        }

        if (n < total) {
            (void) ngx_http_itsm_layout_path(conn, bad, &kind, &name);

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "itsm_connector \"%V\" (%s:%ui): in the server at "
                          "%s:%ui the path of its %s%V (\"%V\") goes to "
                          "%s%V%s, not to the connector's location \"%V\", "
                          "while its other paths do; give that server one "
                          "location that takes every path under \"%V/\"",
                          &conn->name, conn->file, conn->line,
                          cscfp[i]->file_name, cscfp[i]->line,
                          kind, name, &bad_uri,
                          bad_found ? "the location \"" : "no location (a "
                                                          "static file)",
                          bad_found ? &bad_found->name
                                    : &ngx_http_itsm_layout_empty,
                          bad_found ? "\"" : "",
                          &conn->location, &conn->location);
            return NGX_ERROR;
        }

        s = ngx_array_push(conn->servers);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = cscfp[i];
    }

    return NGX_OK;
}


/*
 * The paths a connector sends requests to: its actions (0 ..), the lookups
 * before them (NGX_HTTP_ITSM_NACTIONS ..), its find; NULL: not declared.
 */

static ngx_http_itsm_action_t *
ngx_http_itsm_layout_path(ngx_http_itsm_connector_t *conn, ngx_uint_t a,
    const char **kind, ngx_str_t **name)
{
    if (kind) {
        *kind = (a < NGX_HTTP_ITSM_NACTIONS) ? ""
                : (a < 2 * NGX_HTTP_ITSM_NACTIONS) ? "lookup " : "find";
        *name = (a < 2 * NGX_HTTP_ITSM_NACTIONS)
                ? &ngx_http_itsm_action_names[a % NGX_HTTP_ITSM_NACTIONS]
                : &ngx_http_itsm_layout_empty;
    }

    if (a < NGX_HTTP_ITSM_NACTIONS) {
        return conn->actions[a];
    }

    if (a < 2 * NGX_HTTP_ITSM_NACTIONS) {
        a -= NGX_HTTP_ITSM_NACTIONS;
        return conn->lookups[a] ? &conn->lookups[a]->request : NULL;
    }

    return conn->find ? &conn->find->request : NULL;
}


/*
 * NGX_OK: the action's path, up to its first placeholder or query, finds
 * the connector's location in the server; NGX_DECLINED: it does not.
 * Placeholders only make a path longer, so a prefix location that takes
 * the literal part takes every rendering of it.
 */

static ngx_int_t
ngx_http_itsm_layout_action(ngx_conf_t *cf, ngx_http_core_srv_conf_t *cscf,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_t *action,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found)
{
    u_char     *p, *last, *q;
    ngx_str_t  *src;

    src = &action->uri->source;
    last = src->data + src->len;

    for (p = src->data; p < last; p++) {
        if (*p == '?' || (*p == '{' && p + 1 < last && p[1] == '{')) {
            break;
        }
    }

    uri->len = conn->location.len + (p - src->data);
    uri->data = ngx_pnalloc(cf->temp_pool, uri->len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    q = ngx_cpymem(uri->data, conn->location.data, conn->location.len);
    ngx_memcpy(q, src->data, p - src->data);

    *found = ngx_http_itsm_layout_find(
                 cscf->ctx->loc_conf[ngx_http_core_module.ctx_index], uri);

    if (*found && ngx_http_itsm_layout_covers(*found, conn)) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* every location of a server, nested and named ones included */

static ngx_int_t
ngx_http_itsm_layout_walk(ngx_http_itsm_layout_walk_t *w,
    ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_core_loc_conf_t  **clcfp;

    if (ngx_http_itsm_layout_walk_tree(w, clcf->static_locations) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_PCRE)
    if (clcf->regex_locations) {
        for (clcfp = clcf->regex_locations; *clcfp; clcfp++) {
            if (ngx_http_itsm_layout_endpoint(w, *clcfp) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }
#endif

    /* the server level: its named locations */

    if (clcf == w->server->ctx->loc_conf[ngx_http_core_module.ctx_index]
        && w->server->named_locations)
    {
        for (clcfp = w->server->named_locations; *clcfp; clcfp++) {
            if (ngx_http_itsm_layout_endpoint(w, *clcfp) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_itsm_layout_walk_tree(ngx_http_itsm_layout_walk_t *w,
    ngx_http_location_tree_node_t *node)
{
    if (node == NULL) {
        return NGX_OK;
    }

    if (node->exact && ngx_http_itsm_layout_endpoint(w, node->exact) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (node->inclusive
        && ngx_http_itsm_layout_endpoint(w, node->inclusive) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_itsm_layout_walk_tree(w, node->left) != NGX_OK
        || ngx_http_itsm_layout_walk_tree(w, node->right) != NGX_OK
        || ngx_http_itsm_layout_walk_tree(w, node->tree) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an alert endpoint (itsm_pass) reaches each connector it may use */

static ngx_int_t
ngx_http_itsm_layout_endpoint(ngx_http_itsm_layout_walk_t *w,
    ngx_http_core_loc_conf_t *clcf)
{
    u_char                      *who;
    ngx_uint_t                   i, j, n, mark;
    ngx_http_itsm_loc_conf_t    *ilcf;
    ngx_http_itsm_connector_t  **conn, **all;

    /* an alert endpoint: itsm_pass was written in this very location */

    ilcf = clcf->loc_conf[ngx_http_itsm_module.ctx_index];

    if (ilcf->file != NULL) {

        who = ngx_pnalloc(w->cf->temp_pool, NGX_MAX_PATH + 64);
        if (who == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_snprintf(who, NGX_MAX_PATH + 63,
                            "\"itsm_pass\" at %s:%ui%Z", ilcf->file,
                            ilcf->line);

        all = w->imcf->connectors.elts;

        if (ilcf->route) {
            /* chosen per alert by a variable: any of them */
            conn = all;
            n = w->imcf->connectors.nelts;

        } else if (ilcf->connectors) {
            conn = ilcf->connectors->elts;
            n = ilcf->connectors->nelts;

        } else {
            conn = NULL;
            n = 0;
        }

        mark = ilcf->queue ? (NGX_HTTP_ITSM_LAYOUT_USED
                              |NGX_HTTP_ITSM_LAYOUT_QUEUED)
                           : NGX_HTTP_ITSM_LAYOUT_USED;

        for (i = 0; i < n; i++) {

            for (j = 0; j < w->imcf->connectors.nelts; j++) {
                if (all[j] == conn[i]) {
                    w->used[j] |= mark;
                }
            }

            if (ngx_http_itsm_layout_reach(w->cf, conn[i], w->server,
                                           (char *) who)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ngx_http_itsm_layout_walk(w, clcf);
}


