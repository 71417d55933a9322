
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_deliver.h"


/*
 * What a delivery captured, as its readers want it: the ITSM's answer in
 * one piece (the step, the answers, the history, a probe), and text cut
 * to a length without cutting a character.  Apart from ngx_http_itsm_
 * deliver.c, so that the delivery history, which deliver.c writes, reads
 * the answer without calling back into it.
 */


/* at most "max" bytes of UTF-8 text, never ending inside a character */

size_t
ngx_http_itsm_deliver_utf8_cut(u_char *p, size_t max)
{
    size_t  len;

    len = max;

    /* back over continuation bytes (10xxxxxx) to the start of the
     * character the cut falls into, which is then left out whole */

    while (len > 0 && (p[len] & 0xc0) == 0x80) {
        len--;
    }

    return len;
}


/* the captured answer in one piece */

u_char *
ngx_http_itsm_deliver_response(ngx_http_request_t *r,
    ngx_http_itsm_delivery_t *d, size_t *len)
{
    u_char       *data, *p;
    ngx_chain_t  *cl;

    *len = d->response_len;

    if (d->response == NULL) {
        return NULL;
    }

    if (d->response->next == NULL) {
        return d->response->buf->pos;
    }

    data = ngx_pnalloc(r->pool, d->response_len);
    if (data == NULL) {
        return NULL;
    }

    p = data;

    for (cl = d->response; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    /* joined once: the history and the step each ask for it */

    d->response->buf->start = data;
    d->response->buf->pos = data;
    d->response->buf->last = p;
    d->response->buf->end = p;
    d->response->next = NULL;
    d->last = &d->response->next;

    return data;
}
