
/*
 * Copyright (C) ngx_itsm_module authors
 */


#ifndef _NGX_HTTP_ITSM_PIPELINE_H_INCLUDED_
#define _NGX_HTTP_ITSM_PIPELINE_H_INCLUDED_


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_deliver.h"


/* The request pipeline: the content handler, the pipeline of each alert,
 * its steps and its answers, the replies and the variables */


/* what happened to one alert, for the answer */

typedef struct {
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_connector_t   *connector;    /* NULL: routed nowhere */
    ngx_str_t                    key;          /* correlation key */
    ngx_http_itsm_action_e       action;       /* the plan's last step */
    ngx_http_itsm_outcome_e      outcome;
    ngx_str_t                    ticket_id;
    const char                  *reason;
    unsigned                     replayed:1;   /* a delivery seen before */
} ngx_http_itsm_result_t;


/* what an alert request does once its claim or commit is on disk */
#define NGX_HTTP_ITSM_SYNC_START    1       /* the claim: send the plan */
#define NGX_HTTP_ITSM_SYNC_RESULT   2       /* the commit: give the result */


/* the state of one inbound alert request, kept in the main request's ctx */

typedef struct ngx_http_itsm_ctx_s  ngx_http_itsm_ctx_t;

struct ngx_http_itsm_ctx_s {
    ngx_http_request_t          *request;

    /* where an event of the request's pipeline that a step started (its
     * timer) ends: the pipeline's, given to the steps as deliver's "done"
     * is, so that step.c does not call back up into pipeline.c */
    void                       (*event_end)(ngx_http_request_t *r,
                                    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);

    ngx_http_itsm_loc_conf_t    *conf;
    ngx_http_itsm_store_t       *store;
    ngx_array_t                 *connectors;   /* NULL: routed (itsm_pass $) */
    ngx_uint_t                   source;       /* ngx_http_itsm_source_e */
    json_t                      *payload;
    ngx_array_t                  alerts;       /* ngx_http_itsm_alert_t * */
    ngx_array_t                  results;      /* ngx_http_itsm_result_t */
    ngx_uint_t                   index;        /* the alert being handled */
    ngx_array_t                  targets;      /* its connectors */
    ngx_uint_t                   target;       /* the one being handled */
    ngx_uint_t                   seq;          /* (alert, connector) count */

    /* the alert being handled, for one of its connectors */
    ngx_http_itsm_alert_t       *alert;
    ngx_http_itsm_connector_t   *connector;
    ngx_http_itsm_tpl_ctx_t      tpl;
    ngx_str_t                    key;
    ngx_str_t                    dedup;        /* delivery id, if any */
    ngx_str_t                    body;         /* the request's, as sent */
    uint64_t                     body_hash;    /* for a header's id */
    ngx_http_itsm_record_t       record;       /* before the claim */
    ngx_http_itsm_plan_t         plan;
    ngx_uint_t                   step;
    ngx_uint_t                   counted;      /* seq + 1 once counted */
    ngx_event_t                  wait;         /* for another's claim */
    ngx_msec_t                   wait_delay;
    time_t                       wait_until;
    uint64_t                     joined;       /* the claim it waits on */
    ngx_uint_t                   held_seq;     /* the held entry it sends */
    ngx_uint_t                   attempt;      /* a replay's, from 1 */
    ngx_uint_t                   held_notes;   /* how many of its notes */
    ngx_str_t                    held_text;    /* on Redis: the job read */
    ngx_http_itsm_alert_t       *digest;       /* the alert, for comments */
    ngx_event_t                  renew;        /* keeps our claim alive */
    ngx_event_t                  settle;       /* the find waits for it; a
                                                  request for its turn under
                                                  the connector's limit */

    /* the delivery in flight (ngx_http_itsm_deliver.c writes it) */
    ngx_http_itsm_delivery_t     dl;

    /* waiting for the claim or the commit to reach the disk: then the
     * plan starts, or the result is given */
    ngx_http_itsm_store_waiter_t sync;
    ngx_uint_t                   sync_then;

    /*
     * The store's call for the alert in hand (get, claim, doubt, commit)
     * and what follows it: run at once when the call answered at once
     * (LMDB), else by the op's handler, the pipeline's, which ends the
     * event as ctx->event_end does; a step (step.c) sets its own
     * continuation here as the pipeline does.
     */
    ngx_http_itsm_store_op_t     op;
    ngx_int_t                  (*store_then)(ngx_http_request_t *r,
                                    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);

    /* the route's look for the connectors holding an alert's ticket: the
     * next connector to look at, and the record read for it */
    ngx_http_itsm_store_op_t     holder_op;
    ngx_http_itsm_record_t       holder_rec;
    ngx_uint_t                   holder;

    /* the delivery id in Redis (itsm_store redis, ngx_http_itsm_dedup.c):
     * its key, the id as the sender gave it, the command in flight
     * (ngx_http_itsm_redis_cmd_t) */
    ngx_str_t                    dedup_key;
    ngx_str_t                    dedup_id;
    void                        *dedup_cmd;

    /* for $itsm_* variables */
    ngx_str_t                    outcome;

    unsigned                     claimed:1;
    unsigned                     doubt:1;      /* an earlier create may have
                                                  made the ticket */
    unsigned                     finding:1;    /* the find is in flight */
    unsigned                     found:1;      /* find answered: not again */
    unsigned                     settled:1;    /* the find waited enough */
    unsigned                     turn:1;       /* the limit's turn is taken:
                                                  send when "settle" fires */
    unsigned                     create_sent:1;
    unsigned                     unknown:1;    /* the create's outcome */
    unsigned                     looking:1;    /* the lookup is in flight */
    unsigned                     gone:1;       /* the ticket was gone */
    unsigned                     routed:1;     /* targets are set */
    unsigned                     replay:1;     /* a pending delivery */
    unsigned                     notes_only:1; /* held notes, no state */
    unsigned                     held:1;       /* sends the held notes */
    unsigned                     inflight:1;   /* counted by the limits */
    unsigned                     probe:1;      /* ... the circuit's probe */
    unsigned                     dedup_owner:1; /* its "pending" was written:
                                                  the first answer is ours */
};

/*
 * An event of the request's pipeline fired (the wait's or the settle
 * timer, a flush): the error log names the request again, as during the
 * request's own handlers.
 */

static ngx_inline ngx_http_request_t *
ngx_http_itsm_pipeline_event_start(ngx_http_itsm_ctx_t *ctx)
{
    ngx_http_set_log_request(ctx->request->connection->log, ctx->request);

    return ctx->request;
}


/* the context of one of its timers ("member": wait, settle, renew) */
#define ngx_http_itsm_ctx_of_event(ev, member)                               \
    ((ngx_http_itsm_ctx_t *)                                                 \
         ((u_char *) (ev) - offsetof(ngx_http_itsm_ctx_t, member)))

/* ngx_http_itsm_handler.c */
ngx_int_t ngx_http_itsm_handler(ngx_http_request_t *r);

/* ngx_http_itsm_pipeline.c */
ngx_http_itsm_ctx_t *ngx_http_itsm_pipeline_ctx(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf);
ngx_int_t ngx_http_itsm_pipeline_start(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_array_t *connectors, ngx_uint_t source);
ngx_int_t ngx_http_itsm_pipeline_run(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_pipeline_next(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_pipeline_went_on(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);
ngx_int_t ngx_http_itsm_pipeline_deduped(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_pipeline_event_end(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t rc);

/* ngx_http_itsm_dedup.c */
void ngx_http_itsm_dedup_answered(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_answer_t *ans);
void ngx_http_itsm_dedup_cancel(ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_dedup_check(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
char *ngx_http_itsm_dedup_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_itsm_step.c */
ngx_int_t ngx_http_itsm_step_start(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_step_limit_done(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_int_t outcome);
ngx_int_t ngx_http_itsm_step_done(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);

/* ngx_http_itsm_answer.c */
ngx_int_t ngx_http_itsm_answer_read_id(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *pointer, ngx_str_t *id,
    ngx_str_t *why);
ngx_http_itsm_result_t *ngx_http_itsm_answer_push(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_http_itsm_action_e action,
    ngx_http_itsm_outcome_e outcome, ngx_str_t *ticket);
ngx_int_t ngx_http_itsm_answer_joined(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_answer_result(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, ngx_str_t *ticket);
ngx_int_t ngx_http_itsm_answer_itsm_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_int_t ngx_http_itsm_answer_store_failed(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx, const char *why);
ngx_int_t ngx_http_itsm_answer_summary(ngx_http_request_t *r,
    ngx_http_itsm_ctx_t *ctx);
ngx_uint_t ngx_http_itsm_answer_unavailable(ngx_http_itsm_ctx_t *ctx);

/* ngx_http_itsm_reply.c */
ngx_int_t ngx_http_itsm_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_http_itsm_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body);
ngx_int_t ngx_http_itsm_reply_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
ngx_int_t ngx_http_itsm_reply_retry_after(ngx_http_request_t *r,
    time_t seconds);
ngx_int_t ngx_http_itsm_reply_read_only(ngx_http_request_t *r);

/* ngx_http_itsm_variables.c */
ngx_int_t ngx_http_itsm_variables_add(ngx_conf_t *cf);

/* ngx_http_itsm_status.c (the main module's counters) */
char *ngx_http_itsm_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_itsm_status_count(ngx_http_request_t *r,
    ngx_http_itsm_source_e source, ngx_http_itsm_outcome_e outcome);
void ngx_http_itsm_status_count_action(ngx_http_request_t *r,
    ngx_http_itsm_connector_t *conn, ngx_http_itsm_action_e action,
    ngx_uint_t failed);

/* ngx_http_itsm_claim.c */
void ngx_http_itsm_claim_release(ngx_http_itsm_ctx_t *ctx,
    ngx_http_itsm_flight_e result);
void ngx_http_itsm_claim_renew_arm(ngx_http_itsm_ctx_t *ctx);
void ngx_http_itsm_claim_renew_stop(ngx_http_itsm_ctx_t *ctx);

/* ngx_http_itsm_util.c */
ngx_table_elt_t *ngx_http_itsm_util_header(ngx_http_request_t *r,
    const char *name);
ngx_int_t ngx_http_itsm_util_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *text, off_t *len);
void ngx_http_itsm_util_timer(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_connection_t *dummy, ngx_log_t *log);
ngx_int_t ngx_http_itsm_util_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);


#endif /* _NGX_HTTP_ITSM_PIPELINE_H_INCLUDED_ */
