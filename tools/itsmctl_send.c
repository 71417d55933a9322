
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsmctl send URL: a sample alert POSTed to an endpoint, signed the way
 * the module's itsm_signature verifies each scheme (docs/access.md):
 *
 *   standard_webhooks  webhook-id, webhook-timestamp, webhook-signature:
 *                      v1,base64(HMAC-SHA256(id.ts.body)), key: the base64
 *                      after "whsec_", decoded
 *   github             X-Hub-Signature-256: sha256=hex(HMAC-SHA256(body))
 *   jira               X-Hub-Signature: sha256=hex(...)
 *   slack              X-Slack-Request-Timestamp, X-Slack-Signature:
 *                      v0=hex(HMAC-SHA256("v0:ts:body"))
 *   stripe             Stripe-Signature: t=ts,v1=hex(HMAC-SHA256("ts.body")),
 *                      key: the whole whsec_ string
 *   grafana            X-Grafana-Alerting-Signature (--sig-header):
 *                      hex(HMAC-SHA256(body)), or of "ts:body" with
 *                      --timestamp-header
 *   generic            --sig-header, --algorithm, --encoding, --prefix,
 *                      --content "{timestamp}.{id}.{body}",
 *                      --timestamp-header, --id-header
 *
 * The secret is the first line of --secret-file that is not a comment,
 * without its leading and trailing blanks and "\r", as the module reads
 * "secret=file:".
 */


#include "itsmctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>


#define ITSMCTL_SEND_MAX_HEADERS  32


const char *itsmctl_sample(const char *source);


static const char  *itsmctl_send_help =
"usage: itsmctl send URL [options]\n"
"\n"
"POSTs an alert to URL (an itsm_pass location) and prints the status line\n"
"and the answer's body.\n"
"\n"
"  --source alertmanager|azure|grafana|datadog|generic   the built-in sample\n"
"                        alert (default generic)\n"
"  --body FILE|-         the alert from a file (or stdin) instead\n"
"  --scheme S            sign it: standard_webhooks, github, jira, slack,\n"
"                        stripe, grafana or generic (default: unsigned)\n"
"  --secret-file F       the secret: F's first line that is not a # comment\n"
"  --secret S            the secret on the command line (visible in ps)\n"
"  --timestamp UNIXTIME  the timestamp signed (default: now)\n"
"  --id ID               the webhook id signed (default: msg_ and random hex)\n"
"  --sig-header NAME     grafana, generic: the signature header\n"
"  --timestamp-header NAME, --id-header NAME   grafana, generic\n"
"  --algorithm sha1|sha256|sha512, --encoding hex|base64, --prefix TEXT,\n"
"  --content TEMPLATE    generic: as itsm_signature's parameters\n"
"  --header 'Name: value'  an extra header (repeatable), e.g. X-ITSM-Token\n"
"  --timeout SECONDS     default 30\n"
"  --cacert FILE         HTTPS: trust the CAs in FILE (PEM) instead of the\n"
"                        system's\n"
"  -k, --insecure        HTTPS: do not check the edge's certificate\n"
"  --dry-run             print the request's headers and body, send nothing\n"
"  -v, --verbose         libcurl's trace on stderr\n"
"\n"
"Exit status: 0 a 2xx answer, 1 a 4xx or 5xx answer, 2 usage, 3 no\n"
"connection, a timeout or a file that cannot be read, 4 a bad secret.\n";


typedef struct {
    const char   *scheme;
    const char   *secret;
    const char   *secret_file;
    const char   *timestamp;
    const char   *id;
    const char   *sig_header;
    const char   *ts_header;
    const char   *id_header;
    const char   *algorithm;
    const char   *encoding;
    const char   *prefix;
    const char   *content;
} itsmctl_sign_t;


static int itsmctl_send_sign(itsmctl_sign_t *s, const char *body,
    size_t body_len, const char **headers, int *nheaders);
static int itsmctl_send_secret(itsmctl_sign_t *s, unsigned char **key,
    size_t *key_len);
static char *itsmctl_send_mac(const EVP_MD *md, const unsigned char *key,
    size_t key_len, const char *content, size_t len, int base64);
static char *itsmctl_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


int
itsmctl_send(int argc, char **argv)
{
    int              i, rc, nheaders, dry_run, verbose;
    char            *body, *arg;
    size_t           body_len;
    long             timeout;
    const char      *url, *source, *body_file, *headers[ITSMCTL_SEND_MAX_HEADERS];
    itsmctl_http_t   h;
    itsmctl_sign_t   s;

    memset(&s, 0, sizeof(s));
    memset(&h, 0, sizeof(h));
    url = NULL;
    source = "generic";
    body_file = NULL;
    nheaders = 0;
    dry_run = 0;
    verbose = 0;
    timeout = 30;

    headers[nheaders++] = "Content-Type: application/json";

    for (i = 1; i < argc; i++) {
        arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(itsmctl_send_help, stdout);
            return ITSMCTL_EXIT_OK;
        }

        if (strcmp(arg, "--dry-run") == 0) {
            dry_run = 1;
            continue;
        }

        if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) {
            verbose = 1;
            continue;
        }

        if (arg[0] != '-') {
            if (url) {
                return itsmctl_usage_error("send", "one URL, not \"%s\" too",
                                           arg);
            }

            url = arg;
            continue;
        }

        rc = itsmctl_tls_option(&h, "send", argc, argv, &i);
        if (rc != ITSMCTL_NOT_TLS_OPTION) {
            if (rc != 0) {
                return rc;
            }
            continue;
        }

        if (i + 1 == argc) {
            return itsmctl_usage_error("send", "%s needs a value", arg);
        }

#define itsmctl_opt(name, field)                                              \
        if (strcmp(arg, name) == 0) { field = argv[++i]; continue; }

        itsmctl_opt("--source", source);
        itsmctl_opt("--body", body_file);
        itsmctl_opt("--scheme", s.scheme);
        itsmctl_opt("--secret", s.secret);
        itsmctl_opt("--secret-file", s.secret_file);
        itsmctl_opt("--timestamp", s.timestamp);
        itsmctl_opt("--id", s.id);
        itsmctl_opt("--sig-header", s.sig_header);
        itsmctl_opt("--timestamp-header", s.ts_header);
        itsmctl_opt("--id-header", s.id_header);
        itsmctl_opt("--algorithm", s.algorithm);
        itsmctl_opt("--encoding", s.encoding);
        itsmctl_opt("--prefix", s.prefix);
        itsmctl_opt("--content", s.content);

#undef itsmctl_opt

        if (strcmp(arg, "--header") == 0) {
            if (strchr(argv[i + 1], ':') == NULL) {
                return itsmctl_usage_error("send", "--header takes "
                                           "\"Name: value\", not \"%s\"",
                                           argv[i + 1]);
            }

            if (nheaders == ITSMCTL_SEND_MAX_HEADERS - 8) {
                return itsmctl_usage_error("send", "too many --header");
            }

            headers[nheaders++] = argv[++i];
            continue;
        }

        if (strcmp(arg, "--timeout") == 0) {
            timeout = strtol(argv[++i], &arg, 10);
            if (*arg != '\0' || timeout <= 0) {
                return itsmctl_usage_error("send", "--timeout takes a "
                                           "number of seconds");
            }
            continue;
        }

        return itsmctl_usage_error("send", "unknown option %s", arg);
    }

    if (url == NULL && !dry_run) {
        return itsmctl_usage_error("send", "the URL to send to is required");
    }

    if (body_file) {
        rc = itsmctl_read_file(body_file, &body, &body_len);
        if (rc != 0) {
            return rc;
        }

    } else {
        body = (char *) itsmctl_sample(source);
        if (body == NULL) {
            return itsmctl_usage_error("send", "no sample for source \"%s\"; "
                                       "use alertmanager, azure, grafana, "
                                       "datadog or generic", source);
        }

        body_len = strlen(body);
    }

    if (s.scheme) {
        rc = itsmctl_send_sign(&s, body, body_len, headers, &nheaders);
        if (rc != 0) {
            return rc;
        }

    } else if (s.secret || s.secret_file) {
        return itsmctl_usage_error("send", "a secret without --scheme");
    }

    headers[nheaders] = NULL;

    if (dry_run) {
        printf("POST %s\n", url ? url : "-");
        for (i = 0; i < nheaders; i++) {
            printf("%s\n", headers[i]);
        }
        printf("\n%.*s\n", (int) body_len, body);
        return ITSMCTL_EXIT_OK;
    }

    h.method = "POST";
    h.url = url;
    h.headers = headers;
    h.body = body;
    h.body_len = body_len;
    h.timeout = timeout;
    h.verbose = verbose;

    rc = itsmctl_http(&h);
    if (rc != 0) {
        return rc;
    }

    printf("%ld\n%s", h.status, h.answer);
    if (h.answer_len && h.answer[h.answer_len - 1] != '\n') {
        printf("\n");
    }

    return itsmctl_exit_for_status(h.status);
}


static int
itsmctl_send_sign(itsmctl_sign_t *s, const char *body, size_t body_len,
    const char **headers, int *nheaders)
{
    int             rc, base64;
    char           *content, *mac, ts[32], id[64], *p;
    size_t          key_len, len;
    const char     *t, *header, *prefix;
    unsigned char  *key, rnd[12];
    const EVP_MD   *md;

    if (s->timestamp) {
        snprintf(ts, sizeof(ts), "%s", s->timestamp);
    } else {
        snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
    }

    if (s->id) {
        snprintf(id, sizeof(id), "%s", s->id);

    } else {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            fprintf(stderr, "itsmctl: RAND_bytes() failed\n");
            return ITSMCTL_EXIT_IO;
        }

        p = id + snprintf(id, sizeof(id), "msg_");
        for (len = 0; len < sizeof(rnd); len++) {
            p += sprintf(p, "%02x", rnd[len]);
        }
    }

    key = NULL;
    key_len = 0;

    rc = itsmctl_send_secret(s, &key, &key_len);
    if (rc != 0) {
        return rc;
    }

    md = EVP_sha256();
    base64 = 0;

#define itsmctl_header(...)                                                   \
    headers[(*nheaders)++] = itsmctl_printf(__VA_ARGS__)

#define itsmctl_mac(c, l)                                                     \
    mac = itsmctl_send_mac(md, key, key_len, c, l, base64);                   \
    if (mac == NULL) { return ITSMCTL_EXIT_IO; }

    if (strcmp(s->scheme, "standard_webhooks") == 0) {
        content = itsmctl_printf("%s.%s.%.*s", id, ts, (int) body_len, body);
        base64 = 1;
        itsmctl_mac(content, strlen(id) + strlen(ts) + 2 + body_len);
        itsmctl_header("webhook-id: %s", id);
        itsmctl_header("webhook-timestamp: %s", ts);
        itsmctl_header("webhook-signature: v1,%s", mac);

    } else if (strcmp(s->scheme, "github") == 0
               || strcmp(s->scheme, "jira") == 0)
    {
        itsmctl_mac(body, body_len);
        itsmctl_header("%s: sha256=%s", s->scheme[0] == 'g'
                       ? "X-Hub-Signature-256" : "X-Hub-Signature", mac);

    } else if (strcmp(s->scheme, "slack") == 0) {
        content = itsmctl_printf("v0:%s:%.*s", ts, (int) body_len, body);
        itsmctl_mac(content, strlen(ts) + 4 + body_len);
        itsmctl_header("X-Slack-Request-Timestamp: %s", ts);
        itsmctl_header("X-Slack-Signature: v0=%s", mac);

    } else if (strcmp(s->scheme, "stripe") == 0) {
        content = itsmctl_printf("%s.%.*s", ts, (int) body_len, body);
        itsmctl_mac(content, strlen(ts) + 1 + body_len);
        itsmctl_header("Stripe-Signature: t=%s,v1=%s", ts, mac);

    } else if (strcmp(s->scheme, "grafana") == 0) {
        header = s->sig_header ? s->sig_header
                               : "X-Grafana-Alerting-Signature";

        if (s->ts_header) {
            content = itsmctl_printf("%s:%.*s", ts, (int) body_len, body);
            itsmctl_mac(content, strlen(ts) + 1 + body_len);
            itsmctl_header("%s: %s", s->ts_header, ts);

        } else {
            itsmctl_mac(body, body_len);
        }

        itsmctl_header("%s: %s", header, mac);

    } else if (strcmp(s->scheme, "generic") == 0) {
        if (s->sig_header == NULL) {
            return itsmctl_usage_error("send", "--scheme generic needs "
                                       "--sig-header");
        }

        t = s->algorithm ? s->algorithm : "sha256";
        md = strcmp(t, "sha1") == 0 ? EVP_sha1()
             : strcmp(t, "sha256") == 0 ? EVP_sha256()
             : strcmp(t, "sha512") == 0 ? EVP_sha512() : NULL;

        if (md == NULL) {
            return itsmctl_usage_error("send", "--algorithm takes sha1, "
                                       "sha256 or sha512, not \"%s\"", t);
        }

        t = s->encoding ? s->encoding : "hex";
        if (strcmp(t, "hex") != 0 && strcmp(t, "base64") != 0) {
            return itsmctl_usage_error("send", "--encoding takes hex or "
                                       "base64, not \"%s\"", t);
        }

        base64 = (t[0] == 'b');

        /* the content template: {body}, {timestamp}, {id} and literals */

        t = s->content ? s->content : "{body}";
        len = 0;
        content = malloc(strlen(t) + body_len + strlen(ts) * 4
                         + strlen(id) * 4 + 1);
        if (content == NULL) {
            return ITSMCTL_EXIT_IO;
        }

        while (*t) {
            if (strncmp(t, "{body}", 6) == 0) {
                memcpy(content + len, body, body_len);
                len += body_len;
                t += 6;

            } else if (strncmp(t, "{timestamp}", 11) == 0) {
                len += sprintf(content + len, "%s", ts);
                t += 11;

            } else if (strncmp(t, "{id}", 4) == 0) {
                len += sprintf(content + len, "%s", id);
                t += 4;

            } else {
                content[len++] = *t++;
            }
        }

        itsmctl_mac(content, len);

        prefix = s->prefix ? s->prefix : "";

        if (s->ts_header) {
            itsmctl_header("%s: %s", s->ts_header, ts);
        }

        if (s->id_header) {
            itsmctl_header("%s: %s", s->id_header, id);
        }

        itsmctl_header("%s: %s%s", s->sig_header, prefix, mac);

    } else {
        return itsmctl_usage_error("send", "unknown scheme \"%s\"; one of: "
                                   "standard_webhooks, github, jira, slack, "
                                   "stripe, grafana, generic", s->scheme);
    }

#undef itsmctl_header
#undef itsmctl_mac

    OPENSSL_cleanse(key, key_len);

    return 0;
}


/* the secret's bytes: the key, decoded for standard_webhooks */

static int
itsmctl_send_secret(itsmctl_sign_t *s, unsigned char **key, size_t *key_len)
{
    int             rc, n, pad;
    char           *text, *line, *next, *end;
    size_t          len;
    unsigned char  *k;

    if (s->secret && s->secret_file) {
        return itsmctl_usage_error("send", "--secret or --secret-file, not "
                                   "both");
    }

    if (s->secret) {
        text = strdup(s->secret);
        line = text;

    } else if (s->secret_file) {
        rc = itsmctl_read_file(s->secret_file, &text, &len);
        if (rc != 0) {
            return rc;
        }

        /* the first line that is neither blank nor a comment, trimmed */

        for (line = text; line; line = next) {
            next = strchr(line, '\n');
            if (next) {
                *next++ = '\0';
            }

            while (*line == ' ' || *line == '\t') {
                line++;
            }

            end = line + strlen(line);
            while (end > line && (end[-1] == ' ' || end[-1] == '\t'
                                  || end[-1] == '\r'))
            {
                *--end = '\0';
            }

            if (*line && *line != '#') {
                break;
            }
        }

        if (line == NULL) {
            fprintf(stderr, "itsmctl: no secret in \"%s\"\n",
                    s->secret_file);
            return ITSMCTL_EXIT_INPUT;
        }

    } else {
        return itsmctl_usage_error("send", "--scheme %s needs --secret-file "
                                   "or --secret", s->scheme);
    }

    if (strcmp(s->scheme, "standard_webhooks") != 0) {
        *key = (unsigned char *) line;
        *key_len = strlen(line);
        return 0;
    }

    if (strncmp(line, "whsec_", 6) != 0) {
        fprintf(stderr, "itsmctl: a standard_webhooks secret starts with "
                "\"whsec_\"\n");
        return ITSMCTL_EXIT_INPUT;
    }

    line += 6;
    len = strlen(line);

    if (len == 0 || len % 4 != 0) {
        fprintf(stderr, "itsmctl: the standard_webhooks secret is not base64 "
                "after \"whsec_\"\n");
        return ITSMCTL_EXIT_INPUT;
    }

    k = malloc(len);
    if (k == NULL) {
        return ITSMCTL_EXIT_IO;
    }

    n = EVP_DecodeBlock(k, (unsigned char *) line, (int) len);
    if (n < 0) {
        fprintf(stderr, "itsmctl: the standard_webhooks secret is not base64 "
                "after \"whsec_\"\n");
        return ITSMCTL_EXIT_INPUT;
    }

    /* EVP_DecodeBlock() counts the bytes of the padding as zeros */
    pad = (line[len - 1] == '=') + (line[len - 2] == '=');

    *key = k;
    *key_len = n - pad;

    return 0;
}


static char *
itsmctl_send_mac(const EVP_MD *md, const unsigned char *key, size_t key_len,
    const char *content, size_t len, int base64)
{
    char           *out;
    unsigned int    n, i;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    if (HMAC(md, key, (int) key_len, (const unsigned char *) content, len,
             mac, &n) == NULL)
    {
        fprintf(stderr, "itsmctl: HMAC failed\n");
        return NULL;
    }

    out = malloc(2 * n + 4);
    if (out == NULL) {
        return NULL;
    }

    if (base64) {
        EVP_EncodeBlock((unsigned char *) out, mac, (int) n);
        return out;
    }

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", mac[i]);
    }

    return out;
}


static char *
itsmctl_printf(const char *fmt, ...)
{
    int       n;
    char     *p;
    va_list   args;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    p = malloc(n + 1);
    if (p == NULL) {
        fprintf(stderr, "itsmctl: out of memory\n");
        exit(ITSMCTL_EXIT_IO);
    }

    va_start(args, fmt);
    vsnprintf(p, n + 1, fmt, args);
    va_end(args);

    return p;
}
