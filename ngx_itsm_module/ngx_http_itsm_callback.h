
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_
#define _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_


#include "ngx_http_itsm.h"


/*
 * ITSM callbacks: what people did in the ITSM, told back to the module.
 * A connector's callback tokens and status map (ngx_http_itsm_callback_conf.c,
 * lines of "itsm_connector"), the callback location (ngx_http_itsm_callback.c,
 * "itsm_callback"), and the store's side (ngx_http_itsm_store_ticket*.c).
 */


/* the SHA-256 of a callback token */
#define NGX_HTTP_ITSM_CALLBACK_HASH_LEN  32


/*
 * The way back's pseudo-state of a note-only event ("on_ticket note ..."):
 * after the lifecycle's states, never a key's or the map's.
 */
#define NGX_HTTP_ITSM_CALLBACK_NOTE     NGX_HTTP_ITSM_TICKET_NSTATES
#define NGX_HTTP_ITSM_CALLBACK_NSTATES  (NGX_HTTP_ITSM_TICKET_NSTATES + 1)

/* the most of a note kept, in bytes: longer ones are cut at a UTF-8
 * character's boundary (a Sentinel comment takes 30,000 characters, a
 * PagerDuty note 25,000: a digest of a person's words, not their log) */
#define NGX_HTTP_ITSM_CALLBACK_NOTE_MAX  4096


/* one line of the status map: the ITSM's status -> the lifecycle's */

typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   state;        /* ngx_http_itsm_ticket_state_e */
} ngx_http_itsm_callback_status_t;


struct ngx_http_itsm_callback_conf_s {
    ngx_array_t                  tokens;       /* u_char[32]: their hashes */
    ngx_array_t                  statuses;     /* ..._callback_status_t */

    /* callback_signature: the ITSM's own scheme (the access phase's code);
     * when set, every callback of the connector must be signed */
    void                        *sig;          /* ngx_http_itsm_sig_conf_t */
    ngx_str_t                    sig_scheme;   /* as written: jira, ... */
    ngx_uint_t                   sig_list;     /* "v1=<hex>,v1=<hex>" */
};


/* what a profile read of one callback (ngx_http_itsm_callback_profile.c) */

typedef struct {
    ngx_str_t                    ticket;
    ngx_str_t                    status;       /* as the ITSM wrote it */
    ngx_str_t                    fallback;     /* mapped if status is not */
    ngx_str_t                    event;        /* the delivery's id */
    uint64_t                     order;        /* 0: none */
    ngx_str_t                    assignee;
    ngx_str_t                    note;         /* a person's words; with
                                                  no status: a note event */
    const char                  *invalid;      /* why the body is refused */
} ngx_http_itsm_callback_event_t;


/*
 * NGX_OK: ev is filled (a note and no status: a note-only event, which
 * changes no state); NGX_DECLINED: the body is not what the profile
 * reads (ev->invalid); NGX_DONE: an event that says nothing of a status
 * (a comment, a field edit): answered 200 "ignored"; NGX_ERROR.
 */
typedef ngx_int_t (*ngx_http_itsm_callback_parse_pt)(ngx_http_request_t *r,
    json_t *payload, ngx_http_itsm_callback_event_t *ev);


typedef struct {
    ngx_str_t                    name;         /* profile=NAME */
    ngx_http_itsm_callback_parse_pt  parse;    /* NULL: JSON Pointers */
    ngx_str_t                    preset;       /* its callback_status map */
    unsigned                     by_key:1;     /* the ticket is the key */
} ngx_http_itsm_callback_profile_t;


/* ngx_http_itsm_callback_conf.c */
extern ngx_str_t  ngx_http_itsm_callback_state_names[];

ngx_http_itsm_callback_conf_t *ngx_http_itsm_callback_conf(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn);
char *ngx_http_itsm_callback_token_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
char *ngx_http_itsm_callback_status_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_callback_preset(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *profile);
ngx_int_t ngx_http_itsm_callback_state(ngx_str_t *name);
ngx_int_t ngx_http_itsm_callback_map(ngx_http_itsm_connector_t *conn,
    ngx_str_t *status);
ngx_int_t ngx_http_itsm_callback_token_valid(ngx_http_itsm_connector_t *conn,
    ngx_str_t *token);
char *ngx_http_itsm_callback_signature_line(ngx_conf_t *cf,
    ngx_http_itsm_connector_t *conn, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_itsm_callback_sig_headers(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, void **state);
ngx_int_t ngx_http_itsm_callback_sig_verify(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, void *state);

/* ngx_http_itsm_callback_profile.c */
ngx_http_itsm_callback_profile_t *ngx_http_itsm_callback_profile(
    ngx_str_t *name);
ngx_int_t ngx_http_itsm_callback_note(ngx_http_request_t *r, json_t *v,
    ngx_str_t *note);


#endif /* _NGX_HTTP_ITSM_CALLBACK_H_INCLUDED_ */
