
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsmctl dead-letters list|show KEY|requeue [KEY] --url URL: the dead
 * letters through the module's itsm_requeue location (README,
 * "itsm_requeue"): GET lists them, {"dead_letters":[{"connector","key",
 * "attempts","last_failure"?}],"count":N}; POST ?connector=&key= puts
 * them back and answers {"requeued":N}.  "show" is the list's entry of
 * one key (and connector), with its last failure.
 */


#include "itsmctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>


static const char  *itsmctl_dead_help =
"usage: itsmctl dead-letters list --url URL [--connector C] [--json]\n"
"       itsmctl dead-letters show KEY --url URL [--connector C] [--json]\n"
"       itsmctl dead-letters requeue [KEY] --url URL [--connector C] [--json]\n"
"\n"
"URL is an itsm_requeue location (e.g. http://127.0.0.1/itsm/requeue).\n"
"list: a table of CONNECTOR, KEY, ATTEMPTS, STATUS (the last failed\n"
"request's, when there is an itsm_delivery_log); show: one key's entry\n"
"with its last failure, as JSON; requeue: puts back the dead letters of\n"
"KEY, of --connector, or all, and prints how many.  --json prints the\n"
"location's own JSON.  --cacert FILE trusts the CAs in FILE (PEM) for an\n"
"https URL; -k, --insecure checks no certificate.\n"
"\n"
"Exit status: 0 ok, 1 the location answered 4xx or 5xx (or show found no\n"
"such key), 2 usage, 3 no connection, 4 an answer that is not the API's.\n";


static int itsmctl_dead_query(char *buf, size_t size, const char *url,
    const char *connector, const char *key);


int
itsmctl_dead_letters(int argc, char **argv)
{
    int              i, rc, json;
    char             url[4096], *dump;
    size_t           n, idx;
    json_t          *root, *list, *item, *c, *k, *status;
    const char      *op, *key, *connector, *base;
    json_error_t     err;
    itsmctl_http_t   h;

    op = NULL;
    key = NULL;
    connector = NULL;
    base = NULL;
    json = 0;
    memset(&h, 0, sizeof(h));

    for (i = 1; i < argc; i++) {

        rc = itsmctl_tls_option(&h, "dead-letters", argc, argv, &i);
        if (rc != ITSMCTL_NOT_TLS_OPTION) {
            if (rc != 0) {
                return rc;
            }
            continue;
        }

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(itsmctl_dead_help, stdout);
            return ITSMCTL_EXIT_OK;
        }

        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
            continue;
        }

        if (strcmp(argv[i], "--url") == 0 || strcmp(argv[i], "--connector") == 0)
        {
            if (i + 1 == argc) {
                return itsmctl_usage_error("dead-letters", "%s needs a value",
                                           argv[i]);
            }

            if (argv[i][2] == 'u') {
                base = argv[++i];
            } else {
                connector = argv[++i];
            }

            continue;
        }

        if (argv[i][0] == '-') {
            return itsmctl_usage_error("dead-letters", "unknown option %s",
                                       argv[i]);
        }

        if (op == NULL) {
            op = argv[i];

        } else if (key == NULL) {
            key = argv[i];

        } else {
            return itsmctl_usage_error("dead-letters", "unexpected \"%s\"",
                                       argv[i]);
        }
    }

    if (op == NULL
        || (strcmp(op, "list") != 0 && strcmp(op, "show") != 0
            && strcmp(op, "requeue") != 0))
    {
        return itsmctl_usage_error("dead-letters", "list, show or requeue");
    }

    if (strcmp(op, "show") == 0 && key == NULL) {
        return itsmctl_usage_error("dead-letters", "show needs a KEY");
    }

    if (strcmp(op, "list") == 0 && key) {
        return itsmctl_usage_error("dead-letters", "list takes no KEY (show "
                                   "does)");
    }

    if (base == NULL) {
        return itsmctl_usage_error("dead-letters", "--url of the "
                                   "itsm_requeue location is required");
    }

    if (op[0] == 'r') {
        if (itsmctl_dead_query(url, sizeof(url), base, connector, key) != 0) {
            return ITSMCTL_EXIT_USAGE;
        }

        h.method = "POST";

    } else {
        snprintf(url, sizeof(url), "%s", base);
        h.method = "GET";
    }

    h.url = url;

    rc = itsmctl_http(&h);
    if (rc != 0) {
        return rc;
    }

    if (h.status < 200 || h.status > 299) {
        fprintf(stderr, "itsmctl: %s %s answered %ld: %s%s", h.method, url,
                h.status, h.answer,
                h.answer_len && h.answer[h.answer_len - 1] == '\n' ? "" : "\n");
        return ITSMCTL_EXIT_REMOTE;
    }

    root = json_loadb(h.answer, h.answer_len, 0, &err);
    if (root == NULL || !json_is_object(root)) {
        fprintf(stderr, "itsmctl: %s is not an itsm_requeue location: its "
                "answer is not a JSON object\n", url);
        return ITSMCTL_EXIT_INPUT;
    }

    if (op[0] == 'r') {
        item = json_object_get(root, "requeued");
        if (!json_is_integer(item)) {
            fprintf(stderr, "itsmctl: %s answered no \"requeued\"\n", url);
            return ITSMCTL_EXIT_INPUT;
        }

        if (json) {
            fputs(h.answer, stdout);
        } else {
            printf("requeued %lld\n", (long long) json_integer_value(item));
        }

        return ITSMCTL_EXIT_OK;
    }

    list = json_object_get(root, "dead_letters");
    if (!json_is_array(list)) {
        fprintf(stderr, "itsmctl: %s answered no \"dead_letters\"\n", url);
        return ITSMCTL_EXIT_INPUT;
    }

    if (op[0] == 'l' && json && connector == NULL) {
        fputs(h.answer, stdout);
        return ITSMCTL_EXIT_OK;
    }

    if (op[0] == 'l' && !json) {
        printf("%-20s %-40s %8s %6s\n", "CONNECTOR", "KEY", "ATTEMPTS",
               "STATUS");
    }

    n = 0;

    json_array_foreach(list, idx, item) {
        c = json_object_get(item, "connector");
        k = json_object_get(item, "key");

        if (!json_is_string(c) || !json_is_string(k)) {
            continue;
        }

        if (connector && strcmp(json_string_value(c), connector) != 0) {
            continue;
        }

        if (key && strcmp(json_string_value(k), key) != 0) {
            continue;
        }

        n++;

        if (op[0] == 's' || json) {
            dump = json_dumps(item, JSON_COMPACT);
            printf("%s\n", dump ? dump : "");
            free(dump);
            continue;
        }

        status = json_object_get(json_object_get(item, "last_failure"),
                                 "status");

        printf("%-20s %-40s %8lld ", json_string_value(c),
               json_string_value(k),
               (long long) json_integer_value(json_object_get(item,
                                                              "attempts")));

        if (json_is_integer(status)) {
            printf("%6lld\n", (long long) json_integer_value(status));
        } else {
            printf("%6s\n", "-");
        }
    }

    if (op[0] == 's' && n == 0) {
        fprintf(stderr, "itsmctl: no dead letter for key \"%s\"%s%s\n", key,
                connector ? " of connector " : "", connector ? connector : "");
        return ITSMCTL_EXIT_REMOTE;
    }

    return ITSMCTL_EXIT_OK;
}


/* URL?connector=C&key=K, each escaped (a key may hold any byte) */

static int
itsmctl_dead_query(char *buf, size_t size, const char *url,
    const char *connector, const char *key)
{
    int    n;
    char  *c, *k;

    c = connector ? curl_easy_escape(NULL, connector, 0) : NULL;
    k = key ? curl_easy_escape(NULL, key, 0) : NULL;

    n = snprintf(buf, size, "%s%s%s%s%s%s", url,
                 (c || k) ? (strchr(url, '?') ? "&" : "?") : "",
                 c ? "connector=" : "", c ? c : "",
                 (c && k) ? "&key=" : (k ? "key=" : ""), k ? k : "");

    curl_free(c);
    curl_free(k);

    if (n < 0 || (size_t) n >= size) {
        fprintf(stderr, "itsmctl: the URL is too long\n");
        return -1;
    }

    return 0;
}
