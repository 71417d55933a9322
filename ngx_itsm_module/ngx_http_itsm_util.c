
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_pipeline.h"


/* small helpers that belong to no one concern: of the request path, and
 * of the timers no request owns */


ngx_table_elt_t *
ngx_http_itsm_util_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * A timer of the module's own that no request owns (the kick's, the
 * expiry's): "dummy" stands for its connection, so that nginx's debug
 * log of the event has one (an fd of -1), and the timer is cancelable, so
 * that it never holds up a worker that is shutting down.
 */

void
ngx_http_itsm_util_timer(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_connection_t *dummy, ngx_log_t *log)
{
    dummy->fd = (ngx_socket_t) -1;

    ev->handler = handler;
    ev->data = dummy;
    ev->log = log;
    ev->cancelable = 1;
}
