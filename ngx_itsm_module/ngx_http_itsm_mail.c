
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_json.h"
#include "ngx_http_itsm_template.h"
#include "ngx_http_itsm_deliver.h"
#include "ngx_http_itsm_mail.h"


/*
 * An email message (RFC 5322) made from a connector's templates, for the
 * web services that take a whole message in a form field (Request
 * Tracker's mail gateway; "name=@mail" in ngx_http_itsm_form.c):
 *
 *     mail 'from=Alerts <alerts@example.com>' 'to=ops@example.com'
 *          'subject=[{{ severity }}] {{ title }}'
 *          'body={{ description }}';
 *
 * The alert's text reaches headers, so each header is made safe here
 * rather than trusted: control characters (CR and LF among them, which
 * would end the header and start another) become spaces, bytes that are
 * not UTF-8 become "?", and a header is cut at 998 bytes.  A subject that
 * is not plain ASCII is written as RFC 2047 encoded words (base64 UTF-8,
 * at most 75 characters each, folded), which every mail reader decodes.
 * The body is UTF-8 text sent as it is ("8bit"), its lines ended by CRLF
 * and none longer than 998 bytes.
 */


#define NGX_HTTP_ITSM_MAIL_FROM     0
#define NGX_HTTP_ITSM_MAIL_TO       1
#define NGX_HTTP_ITSM_MAIL_SUBJECT  2
#define NGX_HTTP_ITSM_MAIL_BODY     3

/* RFC 5322 2.1.1: a line is at most 998 characters without its CRLF */
#define NGX_HTTP_ITSM_MAIL_LINE_MAX  998

/* the text of an encoded word: 75 - "=?UTF-8?B?" - "?=" = 63 base64
 * characters, 45 bytes (whole characters only) */
#define NGX_HTTP_ITSM_MAIL_WORD_MAX  45


static u_char *ngx_http_itsm_mail_header(u_char *p, const char *name,
    ngx_str_t *value);
static u_char *ngx_http_itsm_mail_body(u_char *p, ngx_str_t *body);


static ngx_str_t  ngx_http_itsm_mail_params[] = {
    ngx_string("from="),
    ngx_string("to="),
    ngx_string("subject="),
    ngx_string("body="),
};


static const char  *ngx_http_itsm_mail_days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char  *ngx_http_itsm_mail_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


/* mail 'from=TEMPLATE' 'to=TEMPLATE' 'subject=TEMPLATE' ['body=TEMPLATE'] */

char *
ngx_http_itsm_mail_line(ngx_conf_t *cf, ngx_http_itsm_connector_t *conn,
    ngx_str_t *value, ngx_uint_t n)
{
    ngx_str_t   text, *name;
    ngx_uint_t  i, k;

    if (conn->mail[NGX_HTTP_ITSM_MAIL_FROM] != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mail\" is duplicate in itsm_connector \"%V\"",
                           &conn->name);
        return NGX_CONF_ERROR;
    }

    for (i = 1; i <= n; i++) {

        for (k = 0; k < 4; k++) {
            name = &ngx_http_itsm_mail_params[k];

            if (value[i].len >= name->len
                && ngx_strncmp(value[i].data, name->data, name->len) == 0)
            {
                break;
            }
        }

        if (k == 4 || conn->mail[k] != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"mail\"; "
                               "expected from=, to=, subject= and body= "
                               "once each, e.g. mail 'from=alerts@example.com' "
                               "'to=ops@example.com' 'subject={{ title }}'",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        text.data = value[i].data + name->len;
        text.len = value[i].len - name->len;

        conn->mail[k] = ngx_http_itsm_tpl_compile(cf, &text,
                                                  NGX_HTTP_ITSM_ESCAPE_RAW);
        if (conn->mail[k] == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conn->mail[NGX_HTTP_ITSM_MAIL_FROM] == NULL
        || conn->mail[NGX_HTTP_ITSM_MAIL_TO] == NULL
        || conn->mail[NGX_HTTP_ITSM_MAIL_SUBJECT] == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mail\" needs from=, to= and subject=, e.g. "
                           "mail 'from=alerts@example.com' "
                           "'to=ops@example.com' 'subject={{ title }}'");
        return NGX_CONF_ERROR;
    }

    /* without body=, the alert's description */

    if (conn->mail[NGX_HTTP_ITSM_MAIL_BODY] == NULL) {
        ngx_str_set(&text, "{{ description }}");

        conn->mail[NGX_HTTP_ITSM_MAIL_BODY] =
                ngx_http_itsm_tpl_compile(cf, &text, NGX_HTTP_ITSM_ESCAPE_RAW);
        if (conn->mail[NGX_HTTP_ITSM_MAIL_BODY] == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the message, for the alert in hand */

ngx_int_t
ngx_http_itsm_mail_render(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_tpl_ctx_t *tctx,
    ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_tm_t     tm;
    ngx_str_t    part[4], clean[3], subject, body;
    ngx_uint_t   k;

    for (k = 0; k < 4; k++) {
        if (ngx_http_itsm_tpl_render(conn->mail[k], tctx, r->pool, &part[k])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* from and to: made safe; the subject: encoded when it is not ASCII */

    for (k = 0; k < 2; k++) {
        clean[k].data = ngx_pnalloc(r->pool, part[k].len + 1);
        if (clean[k].data == NULL) {
            return NGX_ERROR;
        }

        clean[k].len = ngx_http_itsm_json_utf8_clean(clean[k].data,
                                            part[k].data, part[k].len,
                                            NGX_HTTP_ITSM_UTF8_CONTROL);
    }

    /* a subject of at most 998 bytes of text, cut at a character */

    subject = part[NGX_HTTP_ITSM_MAIL_SUBJECT];

    if (subject.len > NGX_HTTP_ITSM_MAIL_LINE_MAX) {
        subject.len = ngx_http_itsm_deliver_utf8_cut(subject.data,
                                                  NGX_HTTP_ITSM_MAIL_LINE_MAX);
    }

    if (ngx_http_itsm_mail_subject(r->pool, &subject, &clean[2]) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the body made safe in a copy: the rendered text may be the alert's
     * own or the template's */

    body.data = ngx_pnalloc(r->pool, part[NGX_HTTP_ITSM_MAIL_BODY].len + 1);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    /* in the body only NUL becomes a space */

    body.len = ngx_http_itsm_json_utf8_clean(body.data,
                                        part[NGX_HTTP_ITSM_MAIL_BODY].data,
                                        part[NGX_HTTP_ITSM_MAIL_BODY].len,
                                        NGX_HTTP_ITSM_UTF8_NUL);

    /* the headers, and the body: each line may gain a CRLF, and a
     * line broken at 998 bytes another */

    len = sizeof("From: " CRLF "To: " CRLF "Subject: " CRLF
                 "Date: Mon, 07 Dec 2026 06:00:00 +0000" CRLF
                 "Message-ID: <itsm.0123456789.0123456789abcdef@>" CRLF
                 "MIME-Version: 1.0" CRLF
                 "Content-Type: text/plain; charset=utf-8" CRLF
                 "Content-Transfer-Encoding: 8bit" CRLF CRLF CRLF)
          + NGX_TIME_T_LEN
          + ngx_min(clean[0].len, NGX_HTTP_ITSM_MAIL_LINE_MAX)
          + ngx_min(clean[1].len, NGX_HTTP_ITSM_MAIL_LINE_MAX)
          + clean[2].len + ngx_cycle->hostname.len
          + 3 * body.len + 2;

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_itsm_mail_header(out->data, "From", &clean[0]);
    p = ngx_http_itsm_mail_header(p, "To", &clean[1]);
    p = ngx_cpymem(p, "Subject: ", sizeof("Subject: ") - 1);
    p = ngx_cpymem(p, clean[2].data, clean[2].len);
    *p++ = CR; *p++ = LF;

    ngx_gmtime(ngx_time(), &tm);

    p = ngx_sprintf(p, "Date: %s, %02d %s %4d %02d:%02d:%02d +0000" CRLF,
                    ngx_http_itsm_mail_days[tm.ngx_tm_wday], tm.ngx_tm_mday,
                    ngx_http_itsm_mail_months[tm.ngx_tm_mon - 1],
                    tm.ngx_tm_year, tm.ngx_tm_hour, tm.ngx_tm_min,
                    tm.ngx_tm_sec);

    p = ngx_sprintf(p, "Message-ID: <itsm.%T.%08xD%08xD@%V>" CRLF,
                    ngx_time(), (uint32_t) ngx_random(),
                    (uint32_t) ngx_random(), &ngx_cycle->hostname);

    p = ngx_cpymem(p, "MIME-Version: 1.0" CRLF
                   "Content-Type: text/plain; charset=utf-8" CRLF
                   "Content-Transfer-Encoding: 8bit" CRLF CRLF,
                   sizeof("MIME-Version: 1.0" CRLF
                          "Content-Type: text/plain; charset=utf-8" CRLF
                          "Content-Transfer-Encoding: 8bit" CRLF CRLF) - 1);

    p = ngx_http_itsm_mail_body(p, &body);

    out->len = p - out->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm mail: connector \"%V\", a message of %uz bytes",
                   &conn->name, out->len);

    return NGX_OK;
}


/* "Name: value" CRLF, the value cut at a character within 998 bytes */

static u_char *
ngx_http_itsm_mail_header(u_char *p, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = value->len;

    if (len > NGX_HTTP_ITSM_MAIL_LINE_MAX - 8) {
        len = ngx_http_itsm_deliver_utf8_cut(value->data,
                                             NGX_HTTP_ITSM_MAIL_LINE_MAX - 8);
    }

    p = ngx_sprintf(p, "%s: ", name);
    p = ngx_cpymem(p, value->data, len);
    *p++ = CR; *p++ = LF;

    return p;
}


/*
 * The subject header's value: as it is when it is printable ASCII, else
 * RFC 2047 encoded words of whole UTF-8 characters, folded with CRLF and a
 * space.
 */

ngx_int_t
ngx_http_itsm_mail_subject(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *out)
{
    u_char      *p, *q, *last, *word;
    size_t       n;
    ngx_str_t    clean, in, b64;
    ngx_uint_t   ascii;

    /* made safe first: controls to spaces, what is not UTF-8 to "?" */

    clean.data = ngx_pnalloc(pool, src->len + 1);
    if (clean.data == NULL) {
        return NGX_ERROR;
    }

    clean.len = ngx_http_itsm_json_utf8_clean(clean.data, src->data, src->len,
                                              NGX_HTTP_ITSM_UTF8_CONTROL);

    ascii = 1;

    for (p = clean.data; p < clean.data + clean.len; p++) {
        if (*p >= 0x80) {
            ascii = 0;
            break;
        }
    }

    if (ascii) {
        *out = clean;
        return NGX_OK;
    }

    /* a word of 75 characters carries at least 42 bytes of text */

    out->data = ngx_pnalloc(pool, (clean.len / 42 + 1) * 75 + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = clean.data;
    last = p + clean.len;
    q = out->data;

    while (p < last) {

        /* the longest run of whole characters within a word */

        word = p;

        while (p < last) {
            n = (*p >= 0xf0) ? 4 : (*p >= 0xe0) ? 3 : (*p >= 0xc0) ? 2 : 1;

            if ((size_t) (p + n - word) > NGX_HTTP_ITSM_MAIL_WORD_MAX) {
                break;
            }

            p += n;
        }

        if (q != out->data) {
            *q++ = CR; *q++ = LF; *q++ = ' ';
        }

        q = ngx_cpymem(q, "=?UTF-8?B?", sizeof("=?UTF-8?B?") - 1);

        in.data = word;
        in.len = p - word;
        b64.data = q;

        ngx_encode_base64(&b64, &in);

        q += b64.len;
        *q++ = '?'; *q++ = '=';
    }

    out->len = q - out->data;

    return NGX_OK;
}


/* the body: UTF-8, CRLF line ends, no line over 998 bytes */

static u_char *
ngx_http_itsm_mail_body(u_char *p, ngx_str_t *body)
{
    u_char  *s, *last, *line, *d;

    s = body->data;
    last = s + body->len;
    d = p;
    line = d;

    while (s < last) {

        if (*s == CR || *s == LF) {
            /* CRLF, a lone CR or a lone LF: one line end */

            if (*s == CR && s + 1 < last && s[1] == LF) {
                s++;
            }

            s++;
            *d++ = CR; *d++ = LF;
            line = d;
            continue;
        }

        /* a line is broken before a character that might not fit */

        if (d - line > NGX_HTTP_ITSM_MAIL_LINE_MAX - 4
            && (*s & 0xc0) != 0x80)
        {
            *d++ = CR; *d++ = LF;
            line = d;
        }

        *d++ = *s++;
    }

    if (d != line) {
        *d++ = CR; *d++ = LF;
    }

    return d;
}


/*
 * answer_ok TEXT: some services answer 200 whatever happened and say in
 * the body whether it did (Request Tracker's mail gateway: "ok", or "not
 * ok - ..." when the queue or the sender's rights refuse the message).  A
 * 2xx whose body does not start with TEXT is then a refusal, answered and
 * logged with the service's words like a 4xx.
 */

char *
ngx_http_itsm_mail_answer_ok_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n)
{
    if (conn->answer_ok.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"answer_ok\" is duplicate in itsm_connector "
                           "\"%V\"", &conn->name);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0 || value[1].len > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"answer_ok\" takes 1 to 64 bytes, the start of "
                           "a 2xx answer that means done, e.g. answer_ok ok");
        return NGX_CONF_ERROR;
    }

    conn->answer_ok = value[1];

    return NGX_CONF_OK;
}
