
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * itsm-token: the callback tokens of ngx_itsm_module.
 *
 *   itsm-token new CONNECTOR   a fresh token and the configuration line
 *                              holding only its hash, both on stdout
 *   itsm-token hash            the configuration line of the token read
 *                              on stdin (for scripts)
 *
 * A token is "itsmcb_" and 32 random bytes (RAND_bytes) in base64url
 * without padding.  It is shown once and written nowhere: nginx keeps only
 * its SHA-256 ("callback_token sha256:<hex>;" in the connector), so a
 * leaked configuration holds no usable credential.  The token goes to the
 * ITSM that calls back (RT's scrip, a webhook's header).
 */


#include <stdio.h>
#include <string.h>
#include <ctype.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>


#define ITSM_TOKEN_PREFIX   "itsmcb_"
#define ITSM_TOKEN_RANDOM   32
/* the longest token "hash" reads: the module refuses longer ones too */
#define ITSM_TOKEN_MAX      256


static int itsm_token_new(const char *connector);
static int itsm_token_hash(void);
static int itsm_token_line(const unsigned char *token, size_t len,
    char *hex);
static size_t itsm_token_b64url(const unsigned char *in, size_t len,
    char *out);
static int itsm_token_usage(const char *prog, FILE *out, int rc);

int itsm_token_main(int argc, char **argv, const char *prog);


/* built alone it is build/itsm-token; itsmctl links this file without its
 * main() (-DITSM_TOKEN_NO_MAIN) and runs "itsmctl token" through
 * itsm_token_main(): one source, the same tokens and lines */

#ifndef ITSM_TOKEN_NO_MAIN

int
main(int argc, char **argv)
{
    return itsm_token_main(argc, argv, "itsm-token");
}

#endif


int
itsm_token_main(int argc, char **argv, const char *prog)
{
    if (argc == 3 && strcmp(argv[1], "new") == 0) {
        return itsm_token_new(argv[2]);
    }

    if (argc == 2 && strcmp(argv[1], "hash") == 0) {
        return itsm_token_hash();
    }

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        return itsm_token_usage(prog, stdout, 0);
    }

    return itsm_token_usage(prog, stderr, 2);
}


static int
itsm_token_usage(const char *prog, FILE *out, int rc)
{
    fprintf(out,
            "usage: %s new CONNECTOR   print a new callback token "
            "and the line for the connector\n"
            "       %s hash            print the line for the token "
            "read on stdin\n"
            "Exit status: 0 ok, 1 no randomness or a bad token on stdin, "
            "2 usage.\n", prog, prog);
    return rc;
}


static int
itsm_token_new(const char *connector)
{
    char           hex[2 * 32 + 1];
    char           token[sizeof(ITSM_TOKEN_PREFIX) + 64];
    size_t         n;
    const char    *p;
    unsigned char  rnd[ITSM_TOKEN_RANDOM];

    /* the name as nginx.conf spells it: no quoting needed in the comment */

    for (p = connector; *p; p++) {
        if (!isalnum((unsigned char) *p) && *p != '_' && *p != '-'
            && *p != '.')
        {
            fprintf(stderr, "itsm-token: \"%s\" is not a connector name "
                    "(letters, digits, \"_\", \"-\", \".\")\n", connector);
            return 2;
        }
    }

    if (p == connector || p - connector > 64) {
        fprintf(stderr, "itsm-token: a connector name has 1 to 64 "
                "characters\n");
        return 2;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        fprintf(stderr, "itsm-token: RAND_bytes() failed: no randomness\n");
        return 1;
    }

    memcpy(token, ITSM_TOKEN_PREFIX, sizeof(ITSM_TOKEN_PREFIX) - 1);
    n = sizeof(ITSM_TOKEN_PREFIX) - 1;
    n += itsm_token_b64url(rnd, sizeof(rnd), token + n);
    token[n] = '\0';

    OPENSSL_cleanse(rnd, sizeof(rnd));

    if (itsm_token_line((unsigned char *) token, n, hex) != 0) {
        OPENSSL_cleanse(token, sizeof(token));
        return 1;
    }

    printf("# the callback token of connector \"%s\": give it to the ITSM "
           "(it is shown only now)\n"
           "%s\n"
           "# in \"itsm_connector %s { ... }\" (only its hash):\n"
           "callback_token sha256:%s;\n",
           connector, token, connector, hex);

    OPENSSL_cleanse(token, sizeof(token));

    return fflush(stdout) == 0 ? 0 : 1;
}


static int
itsm_token_hash(void)
{
    int            c;
    char           hex[2 * 32 + 1];
    size_t         n;
    unsigned char  token[ITSM_TOKEN_MAX + 1];

    n = 0;

    while ((c = getchar()) != EOF && c != '\n' && c != '\r') {
        if (n == ITSM_TOKEN_MAX) {
            OPENSSL_cleanse(token, sizeof(token));
            fprintf(stderr, "itsm-token: the token is longer than %d "
                    "bytes\n", ITSM_TOKEN_MAX);
            return 1;
        }

        token[n++] = (unsigned char) c;
    }

    if (n == 0) {
        fprintf(stderr, "itsm-token: no token on stdin\n");
        return 1;
    }

    if (itsm_token_line(token, n, hex) != 0) {
        OPENSSL_cleanse(token, sizeof(token));
        return 1;
    }

    OPENSSL_cleanse(token, sizeof(token));

    printf("callback_token sha256:%s;\n", hex);

    return fflush(stdout) == 0 ? 0 : 1;
}


/* the SHA-256 of the token, in lowercase hex */

static int
itsm_token_line(const unsigned char *token, size_t len, char *hex)
{
    unsigned int   i, n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(token, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        fprintf(stderr, "itsm-token: SHA-256 failed\n");
        return 1;
    }

    for (i = 0; i < n; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }

    return 0;
}


/* base64url without padding (RFC 4648, section 5) */

static size_t
itsm_token_b64url(const unsigned char *in, size_t len, char *out)
{
    size_t       i, n;
    unsigned     v;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
        out[n++] = alphabet[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (in[i] << 16) | (in[i + 1] << 8);
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
    }

    return n;
}
