
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * The few nginx core calls that the module's template, JSON and generic
 * source files make, for "itsmctl render", which compiles those files
 * unchanged outside nginx (as fuzz/build.sh compiles the parsers).  The
 * declarations are nginx's own (its headers, from the configured tree of
 * util/build.sh); the definitions here are small ones for a process that
 * renders one template and exits:
 *
 *   - a pool is a name only: every allocation is malloc()ed and freed at
 *     exit, so that no nginx pool code is needed;
 *   - the string functions that decide bytes of the output
 *     (ngx_escape_uri for NGX_ESCAPE_URI_COMPONENT, ngx_hex_dump,
 *     ngx_sprintf's %d/%ui/%V, ngx_gmtime) follow nginx's documented
 *     behaviour exactly: t/600-itsmctl.t compares a render with what the
 *     module sent for the same template and alert;
 *   - variables are those given with --var NAME=VALUE.
 */


#include "itsmctl_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>


ngx_pid_t                  ngx_pid;
volatile ngx_msec_t        ngx_current_msec;

static ngx_time_t          itsmctl_time;
volatile ngx_time_t       *ngx_cached_time = &itsmctl_time;


/* the variables of --var, in the order their indexes were handed out */

static ngx_str_t           itsmctl_var_names[ITSMCTL_MAX_VARS];
static ngx_uint_t          itsmctl_nvar_names;
static itsmctl_var_t      *itsmctl_vars;
static ngx_uint_t          itsmctl_nvars;


void
itsmctl_shim_init(time_t now, itsmctl_var_t *vars, ngx_uint_t nvars)
{
    itsmctl_time.sec = now;
    itsmctl_vars = vars;
    itsmctl_nvars = nvars;
    ngx_pid = getpid();
}


static void *
itsmctl_alloc(size_t size)
{
    void  *p;

    p = malloc(size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "itsmctl: out of memory\n");
        exit(ITSMCTL_EXIT_IO);
    }

    return p;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return itsmctl_alloc(size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return itsmctl_alloc(size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = itsmctl_alloc(size);
    memset(p, 0, size);

    return p;
}


/* cleanups never run: the process exits after one render */

ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = ngx_pcalloc(p, sizeof(ngx_pool_cleanup_t));

    if (size) {
        c->data = ngx_palloc(p, size);
    }

    return c;
}


u_char *
ngx_pstrdup(ngx_pool_t *pool, ngx_str_t *src)
{
    u_char  *dst;

    dst = ngx_pnalloc(pool, src->len);
    memcpy(dst, src->data, src->len);

    return dst;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));

    if (ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }

    return a;
}


/* a full array moves to twice its size (or what "n" needs), as nginx's */

void *
ngx_array_push_n(ngx_array_t *a, ngx_uint_t n)
{
    void        *elt, *copy;
    ngx_uint_t   nalloc;

    if (a->nelts + n > a->nalloc) {
        nalloc = 2 * (n >= a->nalloc ? n : a->nalloc);

        copy = ngx_palloc(a->pool, nalloc * a->size);
        memcpy(copy, a->elts, a->nelts * a->size);

        a->elts = copy;
        a->nalloc = nalloc;
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts += n;

    return elt;
}


void *
ngx_array_push(ngx_array_t *a)
{
    return ngx_array_push_n(a, 1);
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value, cutoff, cutlim;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_INT_T_VALUE / 10;
    cutlim = NGX_MAX_INT_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    while (n) {
        c1 = (ngx_uint_t) *s1++;
        c2 = (ngx_uint_t) *s2++;

        c1 = (c1 >= 'A' && c1 <= 'Z') ? (c1 | 0x20) : c1;
        c2 = (c2 >= 'A' && c2 <= 'Z') ? (c2 | 0x20) : c2;

        if (c1 == c2) {
            if (c1) {
                n--;
                continue;
            }

            return 0;
        }

        return c1 - c2;
    }

    return 0;
}


/* "s2" of n + 1 bytes in [s1, last), without regard to case */

u_char *
ngx_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    u_char  *p;

    if ((size_t) (last - s1) < n + 1) {
        return NULL;
    }

    for (p = s1; p + n < last; p++) {
        if (ngx_strncasecmp(p, s2, n + 1) == 0) {
            return p;
        }
    }

    return NULL;
}


/* nginx's contract: the code point, 0xffffffff for a byte that starts no
 * valid sequence (it is skipped), 0xfffffffe when the sequence runs past
 * "n" bytes ("p" stays) */

uint32_t
ngx_utf8_decode(u_char **p, size_t n)
{
    size_t    len;
    uint32_t  u, i, valid;

    u = **p;

    if (u >= 0xf0) {
        u &= 0x07;
        valid = 0xffff;
        len = 3;

    } else if (u >= 0xe0) {
        u &= 0x0f;
        valid = 0x7ff;
        len = 2;

    } else if (u >= 0xc2) {
        u &= 0x1f;
        valid = 0x7f;
        len = 1;

    } else {
        (*p)++;
        return 0xffffffff;
    }

    if (n - 1 < len) {
        return 0xfffffffe;
    }

    (*p)++;

    while (len) {
        i = *(*p)++;

        if (i < 0x80) {
            return 0xffffffff;
        }

        u = (u << 6) | (i & 0x3f);
        len--;
    }

    if (u > valid) {
        return u;
    }

    return 0xffffffff;
}


/*
 * NGX_ESCAPE_URI_COMPONENT, the only type the templates use: every byte
 * but RFC 3986's unreserved ones (ALPHA DIGIT "-" "." "_" "~") as %XX with
 * upper-case digits.  Without "dst", the number of bytes to escape.
 */

uintptr_t
ngx_escape_uri(u_char *dst, u_char *src, size_t size, ngx_uint_t type)
{
    u_char      ch;
    uintptr_t   n;

    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    while (size--) {
        ch = *src++;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9')
            || ch == '-' || ch == '.' || ch == '_' || ch == '~')
        {
            if (dst) {
                *dst++ = ch;
            }

            continue;
        }

        if (dst) {
            *dst++ = '%';
            *dst++ = hex[ch >> 4];
            *dst++ = hex[ch & 0xf];
        }

        n++;
    }

    return dst ? (uintptr_t) dst : n;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


/* nginx's ngx_tm_t: the full year, the month 1 to 12 */

void
ngx_gmtime(time_t t, ngx_tm_t *tp)
{
    struct tm  tm;

    gmtime_r(&t, &tm);

    *tp = tm;
    tp->ngx_tm_year = tm.tm_year + 1900;
    tp->ngx_tm_mon = tm.tm_mon + 1;
}


/*
 * ngx_vslprintf's conversions that the compiled files use: %[0][width]
 * then d, i, ui, uz, z, l, D, O, T, M, xi/Xi, s, *s, V, v, c, p, %.
 */

u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    int                    len;
    char                   spec[16], out[64], *s;
    u_char                *p;
    size_t                 n, slen;
    ngx_str_t             *v;
    ngx_uint_t             width, zero, hexa, sign;
    int64_t                i64;
    uint64_t               u64;
    ngx_variable_value_t  *vv;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;
        zero = (*fmt == '0');
        width = 0;
        hexa = 0;
        sign = 1;
        slen = (size_t) -1;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {
            case 'u': sign = 0; fmt++; continue;
            case 'x': hexa = 1; sign = 0; fmt++; continue;
            case 'X': hexa = 2; sign = 0; fmt++; continue;
            case '*': slen = va_arg(args, size_t); fmt++; continue;
            default: break;
            }
            break;
        }

        switch (*fmt++) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            n = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, n);
            continue;

        case 'v':
            vv = va_arg(args, ngx_variable_value_t *);
            n = ngx_min((size_t) (last - buf), vv->len);
            buf = ngx_cpymem(buf, vv->data, n);
            continue;

        case 's':
            p = va_arg(args, u_char *);
            if (slen == (size_t) -1) {
                slen = strlen((char *) p);
            }
            n = ngx_min((size_t) (last - buf), slen);
            buf = ngx_cpymem(buf, p, n);
            continue;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            continue;

        case '%':
            *buf++ = '%';
            continue;

        case 'p':
            len = snprintf(out, sizeof(out), "%p", va_arg(args, void *));
            goto copy;

        case 'z':
            if (sign) {
                i64 = (int64_t) va_arg(args, ssize_t);
            } else {
                u64 = (uint64_t) va_arg(args, size_t);
            }
            break;

        case 'i':
            if (sign) {
                i64 = (int64_t) va_arg(args, ngx_int_t);
            } else {
                u64 = (uint64_t) va_arg(args, ngx_uint_t);
            }
            break;

        case 'd':
            if (sign) {
                i64 = (int64_t) va_arg(args, int);
            } else {
                u64 = (uint64_t) va_arg(args, u_int);
            }
            break;

        case 'l':
            if (sign) {
                i64 = (int64_t) va_arg(args, long);
            } else {
                u64 = (uint64_t) va_arg(args, u_long);
            }
            break;

        case 'D':
            if (sign) {
                i64 = (int64_t) va_arg(args, int32_t);
            } else {
                u64 = (uint64_t) va_arg(args, uint32_t);
            }
            break;

        case 'L':
            if (sign) {
                i64 = va_arg(args, int64_t);
            } else {
                u64 = va_arg(args, uint64_t);
            }
            break;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            sign = 1;
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            sign = 1;
            break;

        case 'M':
            u64 = (uint64_t) va_arg(args, ngx_msec_t);
            sign = 0;
            break;

        default:
            /* a conversion this shim does not know: shown, not guessed */
            *buf++ = '?';
            continue;
        }

        s = spec;
        *s++ = '%';
        if (zero) {
            *s++ = '0';
        }
        if (width) {
            s += snprintf(s, 4, "%u", (unsigned) (width > 99 ? 99 : width));
        }

        if (sign) {
            memcpy(s, "lld", 4);
            len = snprintf(out, sizeof(out), spec, (long long) i64);

        } else {
            memcpy(s, hexa == 1 ? "llx" : hexa == 2 ? "llX" : "llu", 4);
            len = snprintf(out, sizeof(out), spec, (unsigned long long) u64);
        }

    copy:

        n = ngx_min((size_t) (last - buf), (size_t) len);
        buf = ngx_cpymem(buf, out, n);
    }

    return buf;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/* what nginx would log at "emerg" while loading: the template's error */

void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   buf[4096], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    fprintf(stderr, "itsmctl: %.*s%s%s\n", (int) (p - buf), buf,
            err ? ": " : "", err ? strerror(err) : "");
}


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   buf[4096], *p;
    va_list  args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (level == NGX_LOG_DEBUG) {
        fprintf(stderr, "itsmctl: debug: %.*s\n", (int) (p - buf), buf);

    } else {
        fprintf(stderr, "itsmctl: %.*s\n", (int) (p - buf), buf);
    }
}


/* "{{ $name }}": an index per name at compile, the --var value at render */

ngx_int_t
ngx_http_get_variable_index(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < itsmctl_nvar_names; i++) {
        if (itsmctl_var_names[i].len == name->len
            && ngx_strncasecmp(itsmctl_var_names[i].data, name->data,
                               name->len) == 0)
        {
            return i;
        }
    }

    if (itsmctl_nvar_names == ITSMCTL_MAX_VARS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "more than %d variables",
                           ITSMCTL_MAX_VARS);
        return NGX_ERROR;
    }

    /* a copy, as nginx keeps one: the name may point into a parsed
     * template that is freed after compilation */

    itsmctl_var_names[itsmctl_nvar_names].data = ngx_pstrdup(cf->pool, name);
    itsmctl_var_names[itsmctl_nvar_names].len = name->len;

    return itsmctl_nvar_names++;
}


ngx_http_variable_value_t *
ngx_http_get_flushed_variable(ngx_http_request_t *r, ngx_uint_t index)
{
    ngx_uint_t                         i;
    ngx_str_t                         *name;
    static ngx_http_variable_value_t   vv;

    ngx_memzero(&vv, sizeof(vv));
    vv.not_found = 1;

    if (index >= itsmctl_nvar_names) {
        return &vv;
    }

    name = &itsmctl_var_names[index];

    for (i = 0; i < itsmctl_nvars; i++) {
        if (itsmctl_vars[i].name.len == name->len
            && ngx_strncasecmp(itsmctl_vars[i].name.data, name->data,
                               name->len) == 0)
        {
            vv.data = itsmctl_vars[i].value.data;
            vv.len = itsmctl_vars[i].value.len;
            vv.valid = 1;
            vv.not_found = 0;
            break;
        }
    }

    return &vv;
}


/* a body template's file is read by itsmctl_render.c and handed in as
 * inline text: the module's file path is never taken here */

ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t conf_prefix)
{
    fprintf(stderr, "itsmctl: internal error: a template file name reached "
            "the shim\n");
    return NGX_ERROR;
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    return NGX_ERROR;
}
