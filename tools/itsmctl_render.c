
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsmctl render TEMPLATE PAYLOAD.json: the bytes the module would send.
 * Nothing here renders: the template is compiled by the module's
 * ngx_http_itsm_tpl_compile_json() (or _compile() for a path, a header, a
 * form field), the payload becomes an alert by the generic source's
 * parser, and ngx_http_itsm_tpl_render() writes the result, all from the
 * module's own files (see the Makefile's build/itsmctl).  This file only
 * fills what nginx would: the configuration, the request, the key's facts.
 */


#include "itsmctl_render.h"

#include <stdio.h>
#include <stdlib.h>


static const char  *itsmctl_render_help =
"usage: itsmctl render TEMPLATE PAYLOAD.json [options]\n"
"\n"
"Renders TEMPLATE for the alert in PAYLOAD.json (a generic-source alert:\n"
"\"key\", \"title\", ... at the top level; \"-\" reads stdin) with the\n"
"module's own template code and escaping, offline, and writes the result\n"
"to stdout, without a newline added.\n"
"\n"
"  --as body|path|header|form|raw   where the template is used (body: a\n"
"                        JSON body template, the default; path: an action's\n"
"                        path, URI-escaped; header: a header value; form: a\n"
"                        form field's value; raw: a multipart part or mail text)\n"
"  --var NAME=VALUE      the value of {{ $NAME }} (repeatable; unset: missing)\n"
"  --ticket-id ID        {{ ticket_id }}\n"
"  --lookup VALUE        {{ lookup }}\n"
"  --key KEY             {{ correlation_key }} (default: the alert's key)\n"
"  --occurrences N       {{ occurrences }} (default 1)\n"
"  --first-seen UNIXTIME, --last-seen UNIXTIME   (default: --now)\n"
"  --now UNIXTIME        the clock (default: the current time)\n"
"\n"
"Exit status: 0 rendered, 2 usage, 3 a file cannot be read, 4 the template\n"
"or the payload is refused (the message is the one nginx -t or the module\n"
"would give).\n";


static int itsmctl_render_number(const char *opt, const char *arg,
    long long *n);


int
itsmctl_render(int argc, char **argv)
{
    int                          i, rc;
    char                        *tpl_text, *payload_text, *eq;
    size_t                       tpl_len, payload_len;
    json_t                      *payload;
    long long                    n;
    ngx_str_t                    text, out, error;
    ngx_uint_t                   nvars;
    ngx_log_t                    log;
    ngx_pool_t                   pool;
    ngx_conf_t                   cf;
    ngx_array_t                  alerts;
    const char                  *files[2], *as;
    json_error_t                 err;
    itsmctl_var_t                vars[ITSMCTL_MAX_VARS];
    ngx_connection_t             c;
    ngx_http_request_t           r;
    ngx_http_itsm_tpl_t         *tpl;
    ngx_http_itsm_record_t       record;
    ngx_http_itsm_alert_t      **alert;
    ngx_http_itsm_tpl_ctx_t      tctx;
    ngx_http_itsm_escape_e       escape;
    ngx_http_itsm_loc_conf_t     lcf;
    ngx_http_itsm_source_conf_t  scf;
    time_t                       now, first_seen, last_seen;

    ngx_memzero(&tctx, sizeof(tctx));
    ngx_memzero(&record, sizeof(record));

    as = "body";
    nvars = 0;
    files[0] = files[1] = NULL;
    tctx.occurrences = 1;
    now = time(NULL);
    first_seen = 0;
    last_seen = 0;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(itsmctl_render_help, stdout);
            return ITSMCTL_EXIT_OK;
        }

        if (argv[i][0] == '-' && argv[i][1] == '-') {

            if (i + 1 == argc) {
                return itsmctl_usage_error("render", "%s needs a value",
                                           argv[i]);
            }

            if (strcmp(argv[i], "--as") == 0) {
                as = argv[++i];

            } else if (strcmp(argv[i], "--var") == 0) {
                eq = strchr(argv[++i], '=');

                if (eq == NULL || eq == argv[i]) {
                    return itsmctl_usage_error("render",
                                               "--var takes NAME=VALUE, "
                                               "not \"%s\"", argv[i]);
                }

                if (nvars == ITSMCTL_MAX_VARS) {
                    return itsmctl_usage_error("render", "more than %d --var",
                                               ITSMCTL_MAX_VARS);
                }

                vars[nvars].name.data = (u_char *) argv[i];
                vars[nvars].name.len = eq - argv[i];
                vars[nvars].value.data = (u_char *) eq + 1;
                vars[nvars].value.len = strlen(eq + 1);
                nvars++;

            } else if (strcmp(argv[i], "--ticket-id") == 0) {
                i++;
                tctx.ticket_id.data = (u_char *) argv[i];
                tctx.ticket_id.len = strlen(argv[i]);

            } else if (strcmp(argv[i], "--lookup") == 0) {
                i++;
                tctx.lookup.data = (u_char *) argv[i];
                tctx.lookup.len = strlen(argv[i]);

            } else if (strcmp(argv[i], "--key") == 0) {
                i++;
                tctx.key.data = (u_char *) argv[i];
                tctx.key.len = strlen(argv[i]);

            } else if (strcmp(argv[i], "--occurrences") == 0) {
                if (itsmctl_render_number(argv[i], argv[i + 1], &n) != 0) {
                    return ITSMCTL_EXIT_USAGE;
                }
                i++;
                tctx.occurrences = (ngx_uint_t) n;

            } else if (strcmp(argv[i], "--first-seen") == 0
                       || strcmp(argv[i], "--last-seen") == 0
                       || strcmp(argv[i], "--now") == 0)
            {
                if (itsmctl_render_number(argv[i], argv[i + 1], &n) != 0) {
                    return ITSMCTL_EXIT_USAGE;
                }

                if (argv[i][2] == 'f') {
                    first_seen = (time_t) n;

                } else if (argv[i][2] == 'l') {
                    last_seen = (time_t) n;

                } else {
                    now = (time_t) n;
                }

                i++;

            } else {
                return itsmctl_usage_error("render", "unknown option %s",
                                           argv[i]);
            }

            continue;
        }

        if (files[1]) {
            return itsmctl_usage_error("render", "one template and one "
                                       "payload, not \"%s\" too", argv[i]);
        }

        files[files[0] ? 1 : 0] = argv[i];
    }

    if (files[1] == NULL) {
        return itsmctl_usage_error("render", "a TEMPLATE and a PAYLOAD.json "
                                   "are required");
    }

    if (strcmp(as, "body") == 0) {
        escape = NGX_HTTP_ITSM_ESCAPE_JSON;
    } else if (strcmp(as, "path") == 0) {
        escape = NGX_HTTP_ITSM_ESCAPE_URI;
    } else if (strcmp(as, "header") == 0) {
        escape = NGX_HTTP_ITSM_ESCAPE_HEADER;
    } else if (strcmp(as, "form") == 0) {
        escape = NGX_HTTP_ITSM_ESCAPE_FORM;
    } else if (strcmp(as, "raw") == 0) {
        escape = NGX_HTTP_ITSM_ESCAPE_RAW;
    } else {
        return itsmctl_usage_error("render", "--as takes body, path, header, "
                                   "form or raw, not \"%s\"", as);
    }

    rc = itsmctl_read_file(files[0], &tpl_text, &tpl_len);
    if (rc != 0) {
        return rc;
    }

    rc = itsmctl_read_file(files[1], &payload_text, &payload_len);
    if (rc != 0) {
        return rc;
    }

    itsmctl_shim_init(now, vars, nvars);

    /* what nginx hands the module: a configuration, then a request */

    ngx_memzero(&pool, sizeof(pool));
    ngx_memzero(&log, sizeof(log));
    ngx_memzero(&cf, sizeof(cf));
    ngx_memzero(&c, sizeof(c));
    ngx_memzero(&r, sizeof(r));
    ngx_memzero(&lcf, sizeof(lcf));
    ngx_memzero(&scf, sizeof(scf));

    log.log_level = NGX_LOG_ERR;
    cf.pool = &pool;
    cf.temp_pool = &pool;
    cf.log = &log;
    c.log = &log;
    r.pool = &pool;
    r.connection = &c;

    text.data = (u_char *) tpl_text;
    text.len = tpl_len;

    if (escape == NGX_HTTP_ITSM_ESCAPE_JSON) {

        /* the module reads a file's text into json_loadb() as it is; its
         * inline form starts with "{" or "[", so the text is handed in
         * from its first non-blank byte (blanks JSON skips anyway) */

        while (text.len && (text.data[0] == ' ' || text.data[0] == '\t'
                            || text.data[0] == '\r' || text.data[0] == '\n'))
        {
            text.data++;
            text.len--;
        }

        if (text.len == 0 || (text.data[0] != '{' && text.data[0] != '[')) {
            fprintf(stderr, "itsmctl: body template \"%s\" is not a JSON "
                    "object or array\n", files[0]);
            return ITSMCTL_EXIT_INPUT;
        }

        tpl = ngx_http_itsm_tpl_compile_json(&cf, &text);

    } else {
        /* a one-line template as a directive holds it: no final newline */

        if (text.len && text.data[text.len - 1] == '\n') {
            text.len--;
        }

        tpl = ngx_http_itsm_tpl_compile(&cf, &text, escape);
    }

    if (tpl == NULL) {
        fprintf(stderr, "itsmctl: template \"%s\" refused\n", files[0]);
        return ITSMCTL_EXIT_INPUT;
    }

    payload = json_loadb(payload_text, payload_len, JSON_REJECT_DUPLICATES,
                         &err);
    if (payload == NULL) {
        fprintf(stderr, "itsmctl: payload \"%s\" is not JSON: %s (line %d, "
                "column %d)\n", files[1], err.text, err.line, err.column);
        return ITSMCTL_EXIT_INPUT;
    }

    lcf.pointers = ngx_http_itsm_generic_pointers(&cf);

    if (ngx_array_init(&alerts, &pool, 1, sizeof(ngx_http_itsm_alert_t *))
        != NGX_OK)
    {
        return ITSMCTL_EXIT_IO;
    }

    ngx_str_null(&error);

    if (ngx_http_itsm_generic_parse(&r, &lcf, &scf, payload, &alerts, &error)
        != NGX_OK)
    {
        fprintf(stderr, "itsmctl: payload \"%s\" is not an alert: %.*s\n",
                files[1], (int) error.len, error.data);
        return ITSMCTL_EXIT_INPUT;
    }

    alert = alerts.elts;

    /* the module's defaults: a key the store does not know yet, seen now,
     * correlated by its own key */

    tctx.request = &r;
    tctx.alert = alert[0];

    if (tctx.key.data == NULL) {
        tctx.key = alert[0]->fields[NGX_HTTP_ITSM_FIELD_KEY];
    }

    if (first_seen) {
        record.first_seen = first_seen;
        tctx.record = &record;
    }

    tctx.last_seen = last_seen;

    if (ngx_http_itsm_tpl_render(tpl, &tctx, &pool, &out) != NGX_OK) {
        fprintf(stderr, "itsmctl: rendering \"%s\" failed\n", files[0]);
        return ITSMCTL_EXIT_INPUT;
    }

    if (fwrite(out.data, 1, out.len, stdout) != out.len
        || fflush(stdout) != 0)
    {
        fprintf(stderr, "itsmctl: cannot write the result\n");
        return ITSMCTL_EXIT_IO;
    }

    return ITSMCTL_EXIT_OK;
}


static int
itsmctl_render_number(const char *opt, const char *arg, long long *n)
{
    char  *end;

    *n = strtoll(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || *n < 0) {
        itsmctl_usage_error("render", "%s takes a number, not \"%s\"", opt,
                            arg);
        return -1;
    }

    return 0;
}
