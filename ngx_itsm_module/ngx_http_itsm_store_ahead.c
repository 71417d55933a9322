
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"


/*
 * The room kept written ahead of LMDB's last page, as zeros: LMDB writes
 * its new pages at the file's end, and on ext4 (and most journaling
 * filesystems) a flush of pages that grow the file, or fill a hole, also
 * commits the journal (the file's size, its new blocks): on this project's
 * machine 2.7 ms a flush, where one of pages the file has costs 0.8 ms.
 * With the room written beforehand, most flushes of creates only write
 * pages; the room is flushed once, with the next commit's.  AHEAD_LOW:
 * less room than this left, AHEAD more is written, at most up to size=
 * (LMDB could not use more).
 */
#define NGX_HTTP_ITSM_STORE_AHEAD_LOW   (512 * 1024)
#define NGX_HTTP_ITSM_STORE_AHEAD       (2 * 1024 * 1024)

/* the zeros are written this much at a time */
#define NGX_HTTP_ITSM_STORE_AHEAD_BUF   (64 * 1024)


/*
 * Called in a write transaction before it writes: LMDB writes its pages
 * when a transaction commits, with one writer at a time across the
 * processes, so nothing else is written at the file's end meanwhile, and
 * the zeros only go past what LMDB has written so far.  A failure (a full
 * disk) is logged, at most once a minute, and changes nothing else: LMDB
 * then grows the file itself, and fails on its own if it cannot.
 */

void
ngx_http_itsm_store_space_ahead(ngx_http_itsm_store_t *store)
{
    int                rc;
    off_t              end, size, want, off;
    size_t             len;
    ssize_t            n;
    MDB_stat           st;
    MDB_envinfo        info;
    ngx_file_info_t    fi;
    mdb_filehandle_t   fd;

    static u_char      zeros[NGX_HTTP_ITSM_STORE_AHEAD_BUF];

    if (store->psize == 0) {
        if (mdb_env_stat(store->env, &st) != 0) {
            return;
        }

        store->psize = st.ms_psize;
    }

    rc = mdb_env_info(store->env, &info);
    if (rc != 0) {
        return;
    }

    /* the end of the pages LMDB has written, as of the last commit */

    end = (off_t) (info.me_last_pgno + 1) * store->psize;

    if (store->ahead - end >= NGX_HTTP_ITSM_STORE_AHEAD_LOW) {
        return;
    }

    /* another worker may have written room since: the file says */

    if (mdb_env_get_fd(store->env, &fd) != 0
        || ngx_fd_info(fd, &fi) == NGX_FILE_ERROR)
    {
        return;
    }

    size = ngx_file_size(&fi);

    want = ngx_min(end + NGX_HTTP_ITSM_STORE_AHEAD, (off_t) info.me_mapsize);

    if (size - end >= NGX_HTTP_ITSM_STORE_AHEAD_LOW || size >= want) {
        store->ahead = size;
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, store->log, 0,
                   "itsm store: room ahead from %O to %O (pages end at %O)",
                   size, want, end);

    for (off = ngx_max(size, end); off < want; off += n) {
        len = (size_t) ngx_min(want - off, NGX_HTTP_ITSM_STORE_AHEAD_BUF);

        n = pwrite(fd, zeros, len, off);

        if (n <= 0) {
            if (ngx_time() - store->ahead_logged >= 60) {
                store->ahead_logged = ngx_time();
                ngx_log_error(NGX_LOG_WARN, store->log, ngx_errno,
                              "itsm_store: \"%V\": room ahead of the last "
                              "page could not be written; flushes that grow "
                              "the file take longer", &store->path);
            }

            break;
        }
    }

    store->ahead = off;
}
