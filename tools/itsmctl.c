
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsmctl: the command-line companion of ngx_itsm_module.
 *
 *   itsmctl send URL ...             a sample alert, signed (itsmctl_send.c)
 *   itsmctl token new|hash ...       callback tokens (itsm-token.c)
 *   itsmctl dead-letters ...         an itsm_requeue location (itsmctl_dead.c)
 *   itsmctl render TEMPLATE PAYLOAD  the module's templates, offline
 *                                    (itsmctl_render.c)
 *
 * Exit status (itsmctl.h, docs/itsmctl.1): 0 ok, 1 the server said no
 * (4xx, 5xx), 2 usage, 3 connection or I/O, 4 a bad input file.
 */


#include "itsmctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>


static const char  *itsmctl_help =
"usage: itsmctl COMMAND [ARGS]\n"
"\n"
"The command-line companion of ngx_itsm_module.\n"
"\n"
"  send URL [--scheme S --secret-file F] [--source NAME] [--body FILE|-]\n"
"                        POST a sample alert, signed as the module verifies\n"
"  token new CONNECTOR | token hash\n"
"                        a callback token and its configuration line\n"
"  dead-letters list|show KEY|requeue [KEY] --url URL [--connector C] [--json]\n"
"                        the dead letters of an itsm_requeue location\n"
"  render TEMPLATE PAYLOAD.json [--as body|path|header|form|raw]\n"
"                        a template rendered by the module's own code\n"
"\n"
"  itsmctl COMMAND --help   the options of a command\n"
"  itsmctl --version\n"
"\n"
"Exit status: 0 ok, 1 the server answered 4xx or 5xx, 2 usage error,\n"
"3 connection or I/O error, 4 a bad input file (see itsmctl(1)).\n";


int
main(int argc, char **argv)
{
    const char  *cmd;

    if (argc < 2) {
        fputs(itsmctl_help, stderr);
        return ITSMCTL_EXIT_USAGE;
    }

    cmd = argv[1];

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0
        || strcmp(cmd, "help") == 0)
    {
        fputs(itsmctl_help, stdout);
        return ITSMCTL_EXIT_OK;
    }

    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("itsmctl %s\n", ITSMCTL_VERSION);
        return ITSMCTL_EXIT_OK;
    }

    if (strcmp(cmd, "send") == 0) {
        return itsmctl_send(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "token") == 0) {
        return itsm_token_main(argc - 1, argv + 1, "itsmctl token");
    }

    if (strcmp(cmd, "dead-letters") == 0) {
        return itsmctl_dead_letters(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "render") == 0) {
        return itsmctl_render(argc - 1, argv + 1);
    }

    return itsmctl_usage_error(NULL, "unknown command \"%s\"", cmd);
}


/* a usage error: the message, where to look, exit status 2 */

int
itsmctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list  args;

    fputs("itsmctl: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fprintf(stderr, "\n(see \"itsmctl %s%s--help\")\n", cmd ? cmd : "",
            cmd ? " " : "");

    return ITSMCTL_EXIT_USAGE;
}


int
itsmctl_exit_for_status(long status)
{
    if (status >= 200 && status < 300) {
        return ITSMCTL_EXIT_OK;
    }

    return ITSMCTL_EXIT_REMOTE;
}


/* a whole file, or stdin for "-": 0, or ITSMCTL_EXIT_IO with a message */

int
itsmctl_read_file(const char *name, char **data, size_t *len)
{
    FILE    *f;
    char    *buf, *p;
    size_t   size, n;

    f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");

    if (f == NULL) {
        fprintf(stderr, "itsmctl: cannot open \"%s\": %s\n", name,
                strerror(errno));
        return ITSMCTL_EXIT_IO;
    }

    size = 4096;
    n = 0;
    buf = malloc(size + 1);

    while (buf) {
        n += fread(buf + n, 1, size - n, f);

        if (n < size) {
            break;
        }

        size *= 2;
        p = realloc(buf, size + 1);
        if (p == NULL) {
            free(buf);
        }
        buf = p;
    }

    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "itsmctl: cannot read \"%s\"\n", name);
        free(buf);
        if (f != stdin) {
            fclose(f);
        }
        return ITSMCTL_EXIT_IO;
    }

    if (f != stdin) {
        fclose(f);
    }

    buf[n] = '\0';
    *data = buf;
    *len = n;

    return 0;
}


typedef struct {
    char    *data;
    size_t   len;
} itsmctl_buf_t;


static size_t
itsmctl_http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char           *p;
    size_t          n;
    itsmctl_buf_t  *b;

    b = userdata;
    n = size * nmemb;

    p = realloc(b->data, b->len + n + 1);
    if (p == NULL) {
        return 0;
    }

    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';

    return n;
}


/*
 * The options every command that talks to an edge over HTTPS takes:
 * --cacert FILE (an edge whose certificate an internal CA signed) and
 * --insecure (a test edge's self-signed one; the name says what it costs).
 * 0 when argv[*i] was one (and *i moved past its value),
 * ITSMCTL_NOT_TLS_OPTION when it is not, a usage error's exit otherwise.
 */

int
itsmctl_tls_option(itsmctl_http_t *h, const char *cmd, int argc, char **argv,
    int *i)
{
    const char  *arg;

    arg = argv[*i];

    if (strcmp(arg, "--insecure") == 0 || strcmp(arg, "-k") == 0) {
        h->insecure = 1;
        return 0;
    }

    if (strcmp(arg, "--cacert") != 0) {
        return ITSMCTL_NOT_TLS_OPTION;
    }

    if (*i + 1 == argc) {
        return itsmctl_usage_error(cmd, "--cacert needs a file of PEM "
                                   "certificates");
    }

    /* libcurl would say only "problem with the SSL CA cert" later */

    if (access(argv[*i + 1], R_OK) != 0) {
        fprintf(stderr, "itsmctl: --cacert %s: %s\n", argv[*i + 1],
                strerror(errno));
        return ITSMCTL_EXIT_IO;
    }

    h->cacert = argv[++*i];

    return 0;
}


/*
 * One request, its status and body in "h": 0 when an answer came (any
 * status), ITSMCTL_EXIT_IO with a message when none did.
 */

int
itsmctl_http(itsmctl_http_t *h)
{
    int                  rc;
    CURL                *curl;
    CURLcode             res;
    const char         **hd;
    itsmctl_buf_t        b;
    struct curl_slist   *list, *l;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "itsmctl: curl_global_init() failed\n");
        return ITSMCTL_EXIT_IO;
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        fprintf(stderr, "itsmctl: curl_easy_init() failed\n");
        return ITSMCTL_EXIT_IO;
    }

    list = NULL;

    for (hd = h->headers; hd && *hd; hd++) {
        l = curl_slist_append(list, *hd);
        if (l == NULL) {
            curl_slist_free_all(list);
            curl_easy_cleanup(curl);
            return ITSMCTL_EXIT_IO;
        }
        list = l;
    }

    /* no "Expect: 100-continue": the module reads the body whole anyway */
    l = curl_slist_append(list, "Expect:");
    if (l) {
        list = l;
    }

    b.data = NULL;
    b.len = 0;

    curl_easy_setopt(curl, CURLOPT_URL, h->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, h->method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, itsmctl_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, h->timeout ? h->timeout : 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, h->verbose ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");

    if (h->cacert) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, h->cacert);
    }

    if (h->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (h->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, h->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) h->body_len);

    } else if (strcmp(h->method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
    }

    res = curl_easy_perform(curl);

    if (res != CURLE_OK) {
        fprintf(stderr, "itsmctl: %s %s: %s\n", h->method, h->url,
                curl_easy_strerror(res));
        rc = ITSMCTL_EXIT_IO;

    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &h->status);
        h->answer = b.data ? b.data : strdup("");
        h->answer_len = b.len;
        b.data = NULL;
        rc = 0;
    }

    free(b.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);

    return rc;
}
