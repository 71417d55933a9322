
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_connector.h"
#include "ngx_http_itsm_layout.h"


/*
 * Where itsm_replay_url leads: the server that listens there, and whether
 * its location is one with "itsm_replay" that reaches every connector
 * whose work can wait for a replay.
 */


static ngx_int_t ngx_http_itsm_layout_listener(ngx_conf_t *cf,
    ngx_http_itsm_main_conf_t *imcf, ngx_str_t *host,
    ngx_http_core_srv_conf_t **cscf);


/*
 * The replay location: the server the kick's request reaches (the one
 * listening on itsm_replay_url's address, chosen by the Host it sends), a
 * location there for the URL's path, and from that server every connector
 * that can have work waiting: one with a cooldown that an endpoint uses,
 * one that an endpoint with "itsm_queue on" uses.  Without such work
 * nothing is ever replayed, and the replay URL is not checked.
 */

ngx_int_t
ngx_http_itsm_layout_replay(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf,
    u_char *used)
{
    u_char                      *p, *last, *who;
    ngx_int_t                    rc;
    ngx_str_t                    path, host;
    ngx_uint_t                   i, n;
    ngx_http_itsm_loc_conf_t    *ilcf;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_core_srv_conf_t    *cscf;
    ngx_http_itsm_connector_t  **conn;

    conn = imcf->connectors.elts;
    n = 0;

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if ((used[i] & NGX_HTTP_ITSM_LAYOUT_USED)
            && conn[i]->cooldown
            && conn[i]->on_repeat != NGX_HTTP_ITSM_ACTION_NONE)
        {
            used[i] |= NGX_HTTP_ITSM_LAYOUT_QUEUED;
        }

        if (used[i] & NGX_HTTP_ITSM_LAYOUT_QUEUED) {
            n++;
        }
    }

    if (n == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                       "itsm layout: no connector keeps work for later");
        return NGX_OK;
    }

    /* "http://host[:port]/path": the host for the server name, the path */

    p = imcf->replay_url.data + sizeof("http://") - 1;
    last = imcf->replay_url.data + imcf->replay_url.len;

    host.data = p;

    while (p < last && *p != '/') {
        p++;
    }

    host.len = p - host.data;

    path.data = p;
    path.len = last - p;

    while (path.len && path.data[path.len - 1] == '\0') {
        path.len--;
    }

    for (i = 0; i < path.len; i++) {
        if (path.data[i] == '?') {
            path.len = i;
            break;
        }
    }

    if (path.len == 0) {
        ngx_str_set(&path, "/");
    }

    rc = ngx_http_itsm_layout_listener(cf, imcf, &host, &cscf);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    clcf = ngx_http_itsm_layout_find(
               cscf->ctx->loc_conf[ngx_http_core_module.ctx_index], &path);

    ilcf = (clcf != NULL) ? clcf->loc_conf[ngx_http_itsm_module.ctx_index]
                          : NULL;

    if (clcf == NULL || clcf->handler == NULL || ilcf->file != NULL) {
        /* a warning, not a refusal: the replay URL may lead through
         * something this configuration does not show; what waits is kept
         * and becomes a dead letter, with the replay's answer logged */

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "itsm_replay_url \"%V\" reaches the server at %s:%ui, "
                      "where \"%V\" goes to %s%V%s, not to a location with "
                      "\"itsm_replay\": held and queued deliveries will end "
                      "as dead letters; add \"location = %V "
                      "{ itsm_replay; }\" to that server",
                      &imcf->replay_url, cscf->file_name, cscf->line, &path,
                      clcf ? "the location \"" : "no location",
                      clcf ? &clcf->name : &ngx_http_itsm_layout_empty,
                      clcf ? "\"" : "",
                      &path);
        return NGX_OK;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "itsm layout: the replay location \"%V\" is in the "
                   "server at %s:%ui for \"%V\"", &clcf->name,
                   cscf->file_name, cscf->line, &imcf->replay_url);

    who = ngx_pnalloc(cf->temp_pool, NGX_MAX_PATH + imcf->replay_url.len
                                     + clcf->name.len + 128);
    if (who == NULL) {
        return NGX_ERROR;
    }

    ilcf = clcf->loc_conf[ngx_http_itsm_module.ctx_index];

    (void) ngx_sprintf(who, "the replay location \"%V\" at %s:%ui "
                       "(itsm_replay_url \"%V\")%Z", &clcf->name,
                       ilcf->loc_file, ilcf->loc_line, &imcf->replay_url);

    for (i = 0; i < imcf->connectors.nelts; i++) {

        if (!(used[i] & NGX_HTTP_ITSM_LAYOUT_QUEUED)) {
            continue;
        }

        if (ngx_http_itsm_layout_reach(cf, conn[i], cscf, (char *) who)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The server a request to itsm_replay_url lands in: the listening address
 * (exact, else the wildcard on the same port; a unix socket by its path),
 * then the server whose server_name is exactly the Host libcurl sends, else
 * the address's default server.  Wildcard and regex server names are not
 * followed: keep the replay server the default one of its address.
 */

static ngx_int_t
ngx_http_itsm_layout_listener(ngx_conf_t *cf, ngx_http_itsm_main_conf_t *imcf,
    ngx_str_t *host, ngx_http_core_srv_conf_t **cscf)
{
    u_char                     *p;
    in_port_t                   port;
    ngx_str_t                   name;
    ngx_url_t                   u;
    ngx_uint_t                  i, j, k, s;
    ngx_http_conf_addr_t       *addr, *hit;
    ngx_http_conf_port_t       *cport;
    ngx_http_server_name_t     *sn;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    ngx_memzero(&u, sizeof(ngx_url_t));

    if (imcf->replay_socket.len) {
        u.url.len = sizeof("unix:") - 1 + imcf->replay_socket.len;
        u.url.data = ngx_pnalloc(cf->temp_pool, u.url.len);
        if (u.url.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(u.url.data, "unix:", sizeof("unix:") - 1);
        ngx_memcpy(p, imcf->replay_socket.data, imcf->replay_socket.len);

        ngx_str_set(&name, "localhost");

    } else {
        u.url = *host;
        u.default_port = 80;

        name = *host;

        p = ngx_strlchr(name.data, name.data + name.len, ':');
        if (p && name.data[0] != '[') {
            name.len = p - name.data;
        }
    }

    if (ngx_parse_url(cf->temp_pool, &u) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "invalid itsm_replay_url \"%V\": %s",
                      &imcf->replay_url, u.err ? u.err : "bad address");
        return NGX_ERROR;
    }

    hit = NULL;

    for (k = 0; hit == NULL && k < u.naddrs; k++) {

        port = ngx_inet_get_port(u.addrs[k].sockaddr);

        cport = cmcf->ports ? cmcf->ports->elts : NULL;

        for (i = 0; hit == NULL && cmcf->ports && i < cmcf->ports->nelts; i++) {

            if (cport[i].family != u.addrs[k].sockaddr->sa_family
                || cport[i].port != port)
            {
                continue;
            }

            addr = cport[i].addrs.elts;

            for (j = 0; j < cport[i].addrs.nelts; j++) {
                if (ngx_cmp_sockaddr(addr[j].opt.sockaddr, addr[j].opt.socklen,
                                     u.addrs[k].sockaddr, u.addrs[k].socklen,
                                     1)
                    == NGX_OK)
                {
                    hit = &addr[j];
                    break;
                }
            }

            for (j = 0; hit == NULL && j < cport[i].addrs.nelts; j++) {
                if (addr[j].opt.wildcard) {
                    hit = &addr[j];
                }
            }
        }
    }

    if (hit == NULL) {
        /* a warning: the address may be served by something else that
         * forwards to this nginx */

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "itsm_replay_url \"%V\": no server of this "
                      "configuration listens on %V, so what waits for a "
                      "cooldown or a retry would end as a dead letter; add "
                      "\"server { listen %V; location = /_itsm/replay "
                      "{ itsm_replay; } }\" (loopback or a unix socket only)",
                      &imcf->replay_url,
                      imcf->replay_socket.len ? &u.url : host,
                      imcf->replay_socket.len ? &u.url : host);
        return NGX_DECLINED;
    }

    cscfp = hit->servers.elts;

    for (s = 0; s < hit->servers.nelts; s++) {
        sn = cscfp[s]->server_names.elts;

        for (i = 0; i < cscfp[s]->server_names.nelts; i++) {
#if (NGX_PCRE)
            if (sn[i].regex) {
                continue;
            }
#endif
            if (sn[i].name.len == name.len
                && ngx_strncasecmp(sn[i].name.data, name.data, name.len) == 0)
            {
                *cscf = cscfp[s];
                return NGX_OK;
            }
        }
    }

    *cscf = hit->default_server;

    return NGX_OK;
}
