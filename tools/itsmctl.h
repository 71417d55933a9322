
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _ITSMCTL_H_INCLUDED_
#define _ITSMCTL_H_INCLUDED_


/*
 * itsmctl, the command-line companion of ngx_itsm_module: one file per
 * subcommand (itsmctl_send.c, itsmctl_dead.c, itsmctl_render.c, and
 * itsm-token.c, which also builds build/itsm-token), this header between
 * them and itsmctl.c (dispatch, help, the HTTP call they share).
 */


#include <stddef.h>


/* the package's version, debian/changelog's first line (tools/build-itsmctl.sh) */
#ifndef ITSMCTL_VERSION
#define ITSMCTL_VERSION        "unknown"
#endif

/* the exit codes, for scripts (docs/itsmctl.1, EXIT STATUS) */
#define ITSMCTL_EXIT_OK        0
#define ITSMCTL_EXIT_REMOTE    1     /* the server answered 4xx or 5xx */
#define ITSMCTL_EXIT_USAGE     2     /* bad arguments */
#define ITSMCTL_EXIT_IO        3     /* no connection, a timeout, I/O */
#define ITSMCTL_EXIT_INPUT     4     /* a file that cannot be what it must */

/* itsmctl_tls_option(): not one of its options */
#define ITSMCTL_NOT_TLS_OPTION  -1


/* an HTTP exchange (itsmctl.c, libcurl) */

typedef struct {
    const char   *method;
    const char   *url;
    const char  **headers;           /* "Name: value", NULL-terminated */
    const char   *body;
    size_t        body_len;
    long          timeout;           /* seconds */
    int           verbose;
    const char   *cacert;            /* --cacert: the CAs to trust instead
                                        of the system's */
    int           insecure;          /* --insecure: no certificate check */

    long          status;            /* out: the HTTP status */
    char         *answer;            /* out: the body, NUL-terminated */
    size_t        answer_len;
} itsmctl_http_t;


int itsmctl_http(itsmctl_http_t *h);
int itsmctl_tls_option(itsmctl_http_t *h, const char *cmd, int argc,
    char **argv, int *i);
int itsmctl_exit_for_status(long status);
int itsmctl_read_file(const char *name, char **data, size_t *len);
int itsmctl_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int itsmctl_send(int argc, char **argv);
int itsmctl_dead_letters(int argc, char **argv);
int itsmctl_render(int argc, char **argv);
int itsm_token_main(int argc, char **argv, const char *prog);


#endif /* _ITSMCTL_H_INCLUDED_ */
