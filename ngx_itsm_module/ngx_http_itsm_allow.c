
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm_access.h"


/*
 * Address allowlists: "itsm_allow 192.0.2.0/24 2001:db8::/32
 * file=/etc/nginx/azure-action-groups.txt;".  Addresses go into two radix
 * trees (IPv4, IPv6), so that a cloud provider's published ranges, which
 * run to thousands of prefixes, cost a walk of at most 32 or 128 nodes
 * per request, not a scan.  The client address is the connection's, which
 * the realip module has already replaced when it is configured.
 */


static char *ngx_http_itsm_allow_file(ngx_conf_t *cf,
    ngx_http_itsm_allow_t *allow, ngx_str_t *name);
static ngx_int_t ngx_http_itsm_allow_cidr(ngx_conf_t *cf,
    ngx_http_itsm_allow_t *allow, ngx_str_t *text, ngx_str_t *file,
    ngx_uint_t line);
#if (NGX_HAVE_INET6)
static void ngx_http_itsm_allow_unmap(ngx_cidr_t *cidr);
#endif


char *
ngx_http_itsm_allow_add(ngx_conf_t *cf, ngx_http_itsm_allow_t *allow,
    ngx_str_t *value)
{
    ngx_str_t  name;

    if (ngx_http_itsm_conf_param(value, "file=", &name) && name.len) {
        return ngx_http_itsm_allow_file(cf, allow, &name);
    }

    if (ngx_http_itsm_allow_cidr(cf, allow, value, NULL, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one address or prefix per line; "#" starts a comment */

static char *
ngx_http_itsm_allow_file(ngx_conf_t *cf, ngx_http_itsm_allow_t *allow,
    ngx_str_t *name)
{
    u_char      *p, *last;
    ngx_str_t    text, token;
    ngx_uint_t   line, before;

    if (ngx_http_itsm_access_read_file(cf, name, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    before = allow->entries;

    p = text.data;
    last = p + text.len;

    for (line = 1;
         ngx_http_itsm_access_line(&p, last, 1, &token) == NGX_OK;
         line++)
    {
        if (token.len == 0) {
            continue;
        }

        if (ngx_strlchr(token.data, token.data + token.len, ' ')
            || ngx_strlchr(token.data, token.data + token.len, '\t'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_allow: more than one address on line "
                               "%ui of \"%V\": \"%V\"; write one address or "
                               "prefix per line", line, name, &token);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_itsm_allow_cidr(cf, allow, &token, name, line)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (allow->entries == before) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "itsm_allow: \"%V\" lists no address; an empty "
                           "allowlist would refuse every client", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_itsm_allow_cidr(ngx_conf_t *cf, ngx_http_itsm_allow_t *allow,
    ngx_str_t *text, ngx_str_t *file, ngx_uint_t line)
{
    ngx_int_t    rc;
    ngx_cidr_t   cidr;

    rc = ngx_ptocidr(text, &cidr);

    if (rc == NGX_ERROR) {
        if (file) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_allow: invalid address \"%V\" on line "
                               "%ui of \"%V\"; write an address or a prefix "
                               "such as 192.0.2.0/24 or 2001:db8::/32",
                               text, line, file);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "itsm_allow: invalid address \"%V\"; write an "
                               "address, a prefix such as 192.0.2.0/24 or "
                               "2001:db8::/32, or file=<path>", text);
        }

        return NGX_ERROR;
    }

    if (rc == NGX_DONE) {
        if (file) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "itsm_allow: low address bits of \"%V\" on "
                               "line %ui of \"%V\" are meaningless",
                               text, line, file);
        } else {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "itsm_allow: low address bits of \"%V\" are "
                               "meaningless", text);
        }
    }

#if (NGX_HAVE_INET6)
    ngx_http_itsm_allow_unmap(&cidr);
#endif

    switch (cidr.family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:

        if (allow->tree6 == NULL) {
            allow->tree6 = ngx_radix_tree_create(cf->pool, -1);
            if (allow->tree6 == NULL) {
                return NGX_ERROR;
            }
        }

        rc = ngx_radix128tree_insert(allow->tree6,
                                     cidr.u.in6.addr.s6_addr,
                                     cidr.u.in6.mask.s6_addr, 1);
        break;
#endif

    default: /* AF_INET */

        if (allow->tree4 == NULL) {
            allow->tree4 = ngx_radix_tree_create(cf->pool, -1);
            if (allow->tree4 == NULL) {
                return NGX_ERROR;
            }
        }

        rc = ngx_radix32tree_insert(allow->tree4, ntohl(cidr.u.in.addr),
                                    ntohl(cidr.u.in.mask), 1);
        break;
    }

    /* NGX_BUSY: the same prefix twice, which is harmless */

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    allow->entries++;

    return NGX_OK;
}


#if (NGX_HAVE_INET6)

/*
 * A client at an IPv4-mapped address (::ffff:a.b.c.d, a dual-stack
 * socket or a forwarded address) is matched as the IPv4 address a.b.c.d
 * (ngx_http_itsm_allow_match()).  So that both spellings of a prefix mean
 * the same, a prefix inside ::ffff:0:0/96 (::ffff:203.0.113.0/120) goes
 * into the IPv4 tree as the prefix it maps (203.0.113.0/24).  A shorter
 * IPv6 prefix (::/0, ::ffff:0:0/95) stays IPv6: it allows no IPv4 client.
 */

static void
ngx_http_itsm_allow_unmap(ngx_cidr_t *cidr)
{
    u_char      *a, *m;
    uint32_t     addr, mask;
    ngx_uint_t   i;

    if (cidr->family != AF_INET6
        || !IN6_IS_ADDR_V4MAPPED(&cidr->u.in6.addr))
    {
        return;
    }

    m = cidr->u.in6.mask.s6_addr;

    for (i = 0; i < 12; i++) {
        if (m[i] != 0xff) {
            return;
        }
    }

    a = cidr->u.in6.addr.s6_addr;

    /* read whole before writing: u.in and u.in6 share their memory */

    addr = (uint32_t) a[12] << 24 | a[13] << 16 | a[14] << 8 | a[15];
    mask = (uint32_t) m[12] << 24 | m[13] << 16 | m[14] << 8 | m[15];

    cidr->family = AF_INET;
    cidr->u.in.addr = htonl(addr);
    cidr->u.in.mask = htonl(mask);
}

#endif


/* NGX_OK: the address is in the list */

ngx_int_t
ngx_http_itsm_allow_match(ngx_http_itsm_allow_t *allow, struct sockaddr *sa)
{
    uintptr_t             value;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    u_char               *p;
    uint32_t              addr;
    struct sockaddr_in6  *sin6;
#endif

    value = NGX_RADIX_NO_VALUE;

    switch (sa->sa_family) {

    case AF_INET:
        if (allow->tree4 == NULL) {
            break;
        }

        sin = (struct sockaddr_in *) sa;
        value = ngx_radix32tree_find(allow->tree4, ntohl(sin->sin_addr.s_addr));
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        p = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {

            /* ::ffff:192.0.2.1 is matched against the IPv4 list */

            if (allow->tree4 == NULL) {
                break;
            }

            addr = (uint32_t) p[12] << 24 | p[13] << 16 | p[14] << 8 | p[15];
            value = ngx_radix32tree_find(allow->tree4, addr);
            break;
        }

        if (allow->tree6 == NULL) {
            break;
        }

        value = ngx_radix128tree_find(allow->tree6, p);
        break;
#endif

    default:
        /* unix sockets have no address to allow */
        break;
    }

    return (value == NGX_RADIX_NO_VALUE) ? NGX_DECLINED : NGX_OK;
}
