
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include <strings.h>

#include "ngx_http_itsm_parse.h"


/*
 * The values of secret names, hidden for the delivery history: in a JSON
 * text, the value of each member whose name is listed (a string, a number,
 * a literal, or a whole object or array, at any depth) becomes the string
 * "[redacted]"; in a form or a query string ("a=1&b=2"), the value of each
 * listed field becomes [redacted].  Names match in any case.  The text may
 * be cut short (the history keeps so many bytes of a body) or be anything
 * an ITSM answered: the scan never reads past "len", and a value that
 * runs to the end is hidden to the end.  It is a scan of tokens, not a
 * parse: what is not JSON is copied as it is, but for listed names.
 */


#define NGX_HTTP_ITSM_REDACTED  "\"[redacted]\""


static const u_char *ngx_http_itsm_redact_value(const u_char *q,
    const u_char *end);
static int ngx_http_itsm_redact_listed(const ngx_http_itsm_name_t *names,
    size_t n, const u_char *name, size_t len);


#define ngx_http_itsm_redact_space(c)                                        \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')


/* the room a copy needs: each hidden value follows a ':' or a '=' and may
 * be longer than what it hides (a digit, nothing) */

size_t
ngx_http_itsm_redact_room(const u_char *p, size_t len)
{
    size_t        room;
    const u_char *end;

    room = len + sizeof(NGX_HTTP_ITSM_REDACTED);

    for (end = p + len; p < end; p++) {
        if (*p == ':' || *p == '=') {
            room += sizeof(NGX_HTTP_ITSM_REDACTED);
        }
    }

    return room;
}


/*
 * "form": a query string.  Otherwise a body: JSON when it starts with '{'
 * or '[', a form unless it starts with '<' or '"' (XML, HTML, a JSON
 * string name nothing).  Returns the length of the copy in "dst", which
 * has ngx_http_itsm_redact_room() bytes.
 */

size_t
ngx_http_itsm_redact(u_char *dst, const u_char *src, size_t len, int form,
    const ngx_http_itsm_name_t *names, size_t n)
{
    u_char        *d;
    const u_char  *p, *end, *name, *q, *amp, *eq;

    p = src;
    end = src + len;
    d = dst;

    if (!form) {
        q = p;

        while (q < end && ngx_http_itsm_redact_space(*q)) {
            q++;
        }

        if (q < end && (*q == '<' || *q == '"')) {
            memcpy(dst, src, len);
            return len;
        }

        form = (q == end || (*q != '{' && *q != '['));
    }

    if (form) {

        /* name=value&name=value: a listed name keeps "name=" */

        while (p < end) {
            amp = memchr(p, '&', end - p);
            if (amp == NULL) {
                amp = end;
            }

            eq = memchr(p, '=', amp - p);

            if (eq && ngx_http_itsm_redact_listed(names, n, p, eq - p)) {
                memcpy(d, p, eq + 1 - p);
                d += eq + 1 - p;
                memcpy(d, "[redacted]", sizeof("[redacted]") - 1);
                d += sizeof("[redacted]") - 1;

            } else {
                memcpy(d, p, amp - p);
                d += amp - p;
            }

            p = amp;

            if (p < end) {
                *d++ = *p++;
            }
        }

        return d - dst;
    }

    while (p < end) {

        if (*p != '"') {
            *d++ = *p++;
            continue;
        }

        /* a string, copied whole */

        name = p + 1;
        *d++ = *p++;

        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) {
                *d++ = *p++;
            }

            *d++ = *p++;
        }

        if (p == end) {
            break;
        }

        *d++ = *p++;

        /* a member's name: a ':' follows */

        q = p;

        while (q < end && ngx_http_itsm_redact_space(*q)) {
            q++;
        }

        if (q == end || *q != ':'
            || !ngx_http_itsm_redact_listed(names, n, name, p - 1 - name))
        {
            continue;
        }

        *d++ = ':';
        q++;

        while (q < end && ngx_http_itsm_redact_space(*q)) {
            q++;
        }

        p = ngx_http_itsm_redact_value(q, end);

        memcpy(d, NGX_HTTP_ITSM_REDACTED, sizeof(NGX_HTTP_ITSM_REDACTED) - 1);
        d += sizeof(NGX_HTTP_ITSM_REDACTED) - 1;
    }

    return d - dst;
}


/* the end of the JSON value at "q": a string, an object or an array with
 * what they hold, or a scalar up to the next ',', '}', ']' or space */

static const u_char *
ngx_http_itsm_redact_value(const u_char *q, const u_char *end)
{
    size_t  depth;
    int     in;

    depth = 0;
    in = 0;

    while (q < end) {

        if (in) {
            if (*q == '\\') {
                q += (end - q > 1) ? 2 : 1;
                continue;
            }

            if (*q == '"') {
                in = 0;

                if (depth == 0) {
                    return q + 1;
                }
            }

            q++;
            continue;
        }

        switch (*q) {

        case '"':
            in = 1;
            break;

        case '{':
        case '[':
            depth++;
            break;

        case '}':
        case ']':
            if (depth == 0) {
                return q;
            }

            if (--depth == 0) {
                return q + 1;
            }

            break;

        case ',':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            if (depth == 0) {
                return q;
            }

            break;
        }

        q++;
    }

    return end;
}


static int
ngx_http_itsm_redact_listed(const ngx_http_itsm_name_t *names, size_t n,
    const u_char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == len
            && strncasecmp((const char *) names[i].data, (const char *) name,
                           len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}
