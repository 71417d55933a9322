
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_store.h"
#include "ngx_http_itsm_store_lmdb.h"

#include <sys/wait.h>


/*
 * The store's check at load ("nginx -t" included), in the master: that the
 * workers' user can reach, create and open the store, so that a worker
 * never finds out after fork that it cannot (ngx_http_itsm_store.c opens
 * the environment in each worker).
 */


/* what the workers' user may do with the store (a check at load) */

typedef struct {
    int                          step;         /* ..._PROBE_* */
    int                          err;          /* errno */
    int                          mdb;          /* LMDB's code */
    size_t                       at;           /* the path checked, cut */
} ngx_http_itsm_store_probe_t;

#define NGX_HTTP_ITSM_STORE_PROBE_OK     0
#define NGX_HTTP_ITSM_STORE_PROBE_ID     1     /* setgid, initgroups, setuid */
#define NGX_HTTP_ITSM_STORE_PROBE_REACH  2     /* a directory above */
#define NGX_HTTP_ITSM_STORE_PROBE_DIR    3     /* the store's directory */
#define NGX_HTTP_ITSM_STORE_PROBE_FILE   4     /* the data file */
#define NGX_HTTP_ITSM_STORE_PROBE_LOCK   5     /* the lock file */
#define NGX_HTTP_ITSM_STORE_PROBE_OPEN   6     /* mdb_env_open */


static void ngx_http_itsm_store_chown(ngx_cycle_t *cycle, u_char *name,
    ngx_uid_t user);
static ngx_int_t ngx_http_itsm_store_check_user(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store, u_char *dir);
static void ngx_http_itsm_store_probe(ngx_http_itsm_store_t *store,
    u_char *dir, ngx_http_itsm_store_probe_t *res);
static int ngx_http_itsm_store_try(ngx_http_itsm_store_t *store);


/*
 * At load ("nginx -t" included): the directory must exist and be writable
 * by the workers, and an existing file must be a store that opens.  As
 * root, the directory and the file are handed to the workers' user, as
 * nginx does with its temporary directories.
 */

ngx_int_t
ngx_http_itsm_store_check(ngx_cycle_t *cycle, ngx_http_itsm_store_t *store)
{
    int                rc;
    u_char            *p, dir[NGX_MAX_PATH];
    ngx_err_t          err;
    ngx_core_conf_t   *ccf;
    ngx_file_info_t    fi;

    p = ngx_cpystrn(dir, store->path.data,
                    ngx_min(store->path.len + 1, NGX_MAX_PATH));

    while (p > dir && *p != '/') {
        p--;
    }

    *p = '\0';

    if (p == dir) {
        ngx_cpystrn(dir, (u_char *) "/", 2);
    }

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        err = ngx_errno;

        /* there, but a directory above it is closed to this user */

        if (err == NGX_EACCES
            && ngx_http_itsm_store_check_user(cycle, store, dir) != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "itsm_store: the directory \"%s\" of \"%V\" does not "
                      "exist (in %s:%ui); create it, owned by the user the "
                      "nginx workers run as", dir, &store->path,
                      store->file, store->line);
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        if (chown((char *) dir, ccf->user, -1) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: chown(\"%s\") failed", dir);
            return NGX_ERROR;
        }

        /* the data file and its lock file, when they exist */

        ngx_http_itsm_store_chown(cycle, store->path.data, ccf->user);

        p = ngx_pnalloc(cycle->pool, store->path.len + sizeof("-lock"));
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%V-lock%Z", &store->path);
        ngx_http_itsm_store_chown(cycle, p, ccf->user);

    } else if (access((char *) dir, W_OK) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "itsm_store: the directory \"%s\" is not writable "
                      "(in %s:%ui); the store and its lock file are "
                      "created there", dir, store->file, store->line);
        return NGX_ERROR;
    }

    /* what the master (often root) can do, the workers may not */

    if (ngx_http_itsm_store_check_user(cycle, store, dir) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_info(store->path.data, &fi) == NGX_FILE_ERROR) {
        return NGX_OK;                          /* created by the workers */
    }

    rc = ngx_http_itsm_store_try(store);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm_store: \"%V\" cannot be opened: %s (in %s:%ui); "
                      "if it is not an itsm store, choose another path",
                      &store->path, mdb_strerror(rc), store->file, store->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * At load, as the user the workers will run as: the master is often root
 * and reaches what they cannot, and a worker that cannot open the store
 * exits for good, leaving an nginx that accepts connections and answers
 * none.  As root, a child process takes the workers' identity (as nginx
 * does: setgid, initgroups, setuid) and reports through a pipe; otherwise
 * the check runs here, as the user nginx runs as.
 */

/*
 * The data file and its lock file exist from the first start on: a missing
 * one is no error.  Another failure is said, and no more: the check of the
 * workers' access that follows stops the start when it matters.  (chown()'s
 * result must be read: glibc marks it so under _FORTIFY_SOURCE, which
 * Debian's build flags set, and a "(void)" does not silence gcc.)
 */

static void
ngx_http_itsm_store_chown(ngx_cycle_t *cycle, u_char *name, ngx_uid_t user)
{
    if (chown((char *) name, user, -1) == -1) {
        if (ngx_errno == NGX_ENOENT) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                           "itsm store: no \"%s\" to chown yet", name);
            return;
        }

        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "itsm_store: chown(\"%s\") failed", name);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "itsm store: \"%s\" now owned by uid %ui",
                   name, (ngx_uint_t) user);
}


static ngx_int_t
ngx_http_itsm_store_check_user(ngx_cycle_t *cycle,
    ngx_http_itsm_store_t *store, u_char *dir)
{
    int                          fd[2];
    u_char                       path[NGX_MAX_PATH];
    ssize_t                      n;
    ngx_pid_t                    pid;
    const char                  *user, *what;
    struct passwd               *pw;
    ngx_core_conf_t             *ccf;
    ngx_http_itsm_store_probe_t  res;

    static const char  *ids[] = { "setgid", "initgroups", "setuid" };

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_memzero(&res, sizeof(ngx_http_itsm_store_probe_t));

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {

        if (ccf->user == 0) {
            return NGX_OK;                      /* the workers run as root */
        }

        user = ccf->username;

        if (pipe(fd) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: pipe() failed");
            return NGX_ERROR;
        }

        pid = fork();

        if (pid == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "itsm_store: fork() failed");
            close(fd[0]);
            close(fd[1]);
            return NGX_ERROR;
        }

        if (pid == 0) {
            close(fd[0]);

            if (setgid(ccf->group) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 0;

            } else if (initgroups(ccf->username, ccf->group) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 1;

            } else if (setuid(ccf->user) == -1) {
                res.step = NGX_HTTP_ITSM_STORE_PROBE_ID;
                res.at = 2;

            } else {
                ngx_http_itsm_store_probe(store, dir, &res);
            }

            if (res.step == NGX_HTTP_ITSM_STORE_PROBE_ID) {
                res.err = errno;
            }

            n = write(fd[1], &res, sizeof(res));
            _exit(n == sizeof(res) ? 0 : 1);
        }

        close(fd[1]);

        do {
            n = read(fd[0], &res, sizeof(res));
        } while (n == -1 && ngx_errno == NGX_EINTR);

        close(fd[0]);

        /* SIGCHLD is blocked while the master reads a configuration */

        while (waitpid(pid, NULL, 0) == -1 && ngx_errno == NGX_EINTR) {
            /* void */
        }

        if (n != sizeof(res)) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "itsm_store: the check of \"%V\" as the workers' "
                          "user \"%s\" did not finish (in %s:%ui)",
                          &store->path, user, store->file, store->line);
            return NGX_ERROR;
        }

    } else {
        pw = getpwuid(geteuid());
        user = pw ? pw->pw_name : "(this user)";

        ngx_http_itsm_store_probe(store, dir, &res);
    }

    switch (res.step) {

    case NGX_HTTP_ITSM_STORE_PROBE_OK:
        return NGX_OK;

    case NGX_HTTP_ITSM_STORE_PROBE_ID:
        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: cannot check \"%V\" as the workers' user "
                      "\"%s\": %s() failed", &store->path, user,
                      ids[res.at < 3 ? res.at : 0]);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_REACH:
        ngx_cpystrn(path, dir, ngx_min(res.at + 1, sizeof(path)));

        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot reach "
                      "\"%V\": it may not enter \"%s\" (in %s:%ui); give it "
                      "search (x) permission on every directory above the "
                      "store, e.g. \"chmod o+x %s\", or move the store",
                      user, &store->path, path, store->file, store->line,
                      path);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_DIR:
        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot create "
                      "files in \"%s\" (in %s:%ui); the store and its lock "
                      "file are created there: make the directory writable "
                      "by that user", user, dir, store->file, store->line);
        return NGX_ERROR;

    case NGX_HTTP_ITSM_STORE_PROBE_FILE:
    case NGX_HTTP_ITSM_STORE_PROBE_LOCK:
        what = (res.step == NGX_HTTP_ITSM_STORE_PROBE_LOCK) ? "-lock" : "";

        ngx_log_error(NGX_LOG_EMERG, cycle->log, res.err,
                      "itsm_store: the workers' user \"%s\" cannot read and "
                      "write \"%V%s\" (in %s:%ui); give the file to that "
                      "user", user, &store->path, what, store->file,
                      store->line);
        return NGX_ERROR;

    default: /* NGX_HTTP_ITSM_STORE_PROBE_OPEN */
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "itsm_store: \"%V\" cannot be opened by the workers' "
                      "user \"%s\": %s (in %s:%ui); if it is not an itsm "
                      "store, choose another path", &store->path, user,
                      mdb_strerror(res.mdb), store->file, store->line);
        return NGX_ERROR;
    }
}


/* in the workers' identity: no logging, the result goes back in "res" */

static void
ngx_http_itsm_store_probe(ngx_http_itsm_store_t *store, u_char *dir,
    ngx_http_itsm_store_probe_t *res)
{
    int       rc;
    u_char    c, path[NGX_MAX_PATH];
    size_t    i, len;

    len = ngx_strlen(dir);

    if (len + sizeof("-lock") > NGX_MAX_PATH
        || store->path.len + sizeof("-lock") > NGX_MAX_PATH)
    {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_DIR;
        res->err = NGX_ENAMETOOLONG;
        return;
    }

    ngx_memcpy(path, dir, len + 1);

    /* every directory from the top down to the store's own: the first one
     * this user may not enter is the one to name */

    for (i = 1; i <= len; i++) {

        if (i < len && path[i] != '/') {
            continue;
        }

        c = path[i];
        path[i] = '\0';

        if (access((char *) path, X_OK) == -1) {
            res->step = NGX_HTTP_ITSM_STORE_PROBE_REACH;
            res->err = errno;
            res->at = i;
            return;
        }

        path[i] = c;
    }

    if (access((char *) dir, W_OK|X_OK) == -1) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_DIR;
        res->err = errno;
        return;
    }

    if (access((char *) store->path.data, F_OK) == -1) {
        return;                                 /* created by the workers */
    }

    if (access((char *) store->path.data, R_OK|W_OK) == -1) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_FILE;
        res->err = errno;
        return;
    }

    ngx_sprintf(path, "%V-lock%Z", &store->path);

    if (access((char *) path, F_OK) == 0
        && access((char *) path, R_OK|W_OK) == -1)
    {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_LOCK;
        res->err = errno;
        return;
    }

    /* as the workers open it (read-only here): a lock file made now is
     * theirs */

    rc = ngx_http_itsm_store_try(store);

    if (rc != 0) {
        res->step = NGX_HTTP_ITSM_STORE_PROBE_OPEN;
        res->mdb = rc;
    }
}


/* the store opened read-only, as the workers open it, and closed: LMDB's
 * code (0: it opens) */

static int
ngx_http_itsm_store_try(ngx_http_itsm_store_t *store)
{
    int       rc;
    MDB_env  *env;

    env = NULL;
    rc = mdb_env_create(&env);

    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, store->size);
    }

    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, 4);
    }

    if (rc == 0) {
        rc = mdb_env_open(env, (char *) store->path.data,
                          MDB_NOSUBDIR|MDB_RDONLY|MDB_NOTLS, 0600);
    }

    if (env) {
        mdb_env_close(env);
    }

    return rc;
}
