#!/usr/bin/env bash
# util/rt.sh - run a private, disposable Request Tracker 5 (Debian's
# request-tracker5 + rt5-db-sqlite + rt5-standalone, see util/deps.sh rt)
# for demos and tests.  It never uses the system RT: no file under /etc or
# /var is read or written; everything lives in STATEDIR.
#
#   util/rt.sh start PORT STATEDIR   create/reuse STATEDIR, start RT on
#                                    127.0.0.1:PORT, wait until REST 2 answers
#   util/rt.sh stop STATEDIR         stop the RT started with STATEDIR
#   util/rt.sh status STATEDIR       print state; exit 0 running, 3 stopped
#   util/rt.sh wait PORT [SECONDS]   wait until REST 2 on PORT answers 200
#   util/rt.sh reset STATEDIR        stop and delete STATEDIR (all tickets)
#
# REST 2 API: http://127.0.0.1:PORT/REST/2.0/  (basic auth root/password)
# Web UI:     http://127.0.0.1:PORT/           (root/password)
# These are demo-only credentials on a loopback-only server.
#
# How the state is kept private: RT reads its site config from the file
# named by $RT_SITE_CONFIG and the snippet directory named by
# $RT_SITE_CONFIG_DIR (lib/RT/Config.pm, LoadConfig).  We point both into
# STATEDIR, so Debian's /etc/request-tracker5/RT_SiteConfig.d/*.pm (which
# name the system database) are never loaded.  Our config sets
# $DatabaseName to STATEDIR/rtdb and moves $RT::VarPath, $RT::MasonDataDir,
# $RT::MasonSessionDir and the log directory into STATEDIR as well.
# If STATEDIR has no rtdb, a fresh database is created with
# rt-setup-database --action init (about 1.5 s); otherwise it is reused, so
# stop + start keeps tickets.  The config is rewritten at every start (the
# port may change), the database never is.
#
# STATEDIR layout:
#   RT_SiteConfig.pm     generated site config (RT_SITE_CONFIG)
#   RT_SiteConfig.d/     extra *.pm snippets of yours (RT_SITE_CONFIG_DIR;
#                        RT loads this directory twice, harmless for Set())
#   rtdb                 SQLite database (tickets)
#   var/                 $RT::VarPath (outgoing mail goes to var/*.mbox,
#                        RT never calls sendmail)
#   mason_data/ session_data/   Mason cache (emptied at every start), sessions
#   itsm-callback        where the callback scrip posts: "url URL" and
#                        "token TOKEN" lines (util/rt-callback.pl); none:
#                        nothing is posted
#   log/rt.log           RT's own log;  log/server.log  server stdout/stderr
#   log/setup.log        output of the database creation
#   rt.pid rt.port       pid (also the process group) and port of the server
#
# Environment knobs: RT_HOST (127.0.0.1), RT_WORKERS (3 Starlet workers),
# RT_START_TIMEOUT (60 s), RT_STOP_TIMEOUT (10 s), RT_LOG_LEVEL (info),
# RT_START_NOWAIT=1 (start returns without waiting for REST 2).

set -euo pipefail

RT_LIBEXEC=${RT_LIBEXEC:-/usr/share/request-tracker5/libexec}
RT_HOST=${RT_HOST:-127.0.0.1}
RT_WORKERS=${RT_WORKERS:-3}
RT_START_TIMEOUT=${RT_START_TIMEOUT:-60}
RT_STOP_TIMEOUT=${RT_STOP_TIMEOUT:-10}
RT_LOG_LEVEL=${RT_LOG_LEVEL:-info}
RT_ROOT_USER=root
RT_ROOT_PASSWORD=password       # demo only; set when the database is created

me=${0##*/}
repo=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*"; }

usage() {
    sed -n '6,12s/^# //p' "$0" >&2
    exit 2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

check_port() {
    if ! [[ $1 =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then
        die "bad port '$1'"
    fi
}

# absolute path of STATEDIR (created if needed); RT needs absolute paths
abs_statedir() {
    [[ -n $1 ]] || die "STATEDIR missing"
    mkdir -p -- "$1"
    (cd -- "$1" && pwd -P)
}

need_rt() {
    [[ -x $RT_LIBEXEC/rt-server ]] \
        || die "Request Tracker 5 is not installed ($RT_LIBEXEC/rt-server missing); run util/deps.sh rt"
    SETUP_DB=/usr/sbin/rt-setup-database-5
    [[ -x $SETUP_DB ]] || SETUP_DB=/usr/sbin/rt-setup-database
    [[ -x $SETUP_DB ]] || die "rt-setup-database not found; run util/deps.sh rt"
    command -v curl >/dev/null || die "curl is needed; run util/deps.sh rt"
}

# "state pgrp" of a pid from /proc, empty if gone.  A zombie counts as gone:
# on these machines pid 1 reaps orphans slowly, so kill -0 would lie.
proc_state() {
    local st f
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    st=${st##*) }                     # skip "pid (comm) ", comm may hold spaces
    read -r -a f <<<"$st"             # f[0] state, f[2] process group
    [[ ${f[0]} == Z || ${f[0]} == X ]] && return 0
    echo "${f[0]} ${f[2]}"
}

# pid from STATEDIR/rt.pid if that process is alive and is our rt-server
running_pid() {
    local sd=$1 pid
    [[ -f $sd/rt.pid ]] || return 1
    pid=$(<"$sd/rt.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -n $(proc_state "$pid") ]] || return 1
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *rt-server* ]] || return 1
    echo "$pid"
}

# number of live (non-zombie) processes in process group $1
group_alive() {
    local pg=$1 n=0 p st f
    for p in /proc/[0-9]*/stat; do
        st=$(cat "$p" 2>/dev/null) || continue
        st=${st##*) }
        read -r -a f <<<"$st"
        [[ ${f[2]} == "$pg" && ${f[0]} != Z && ${f[0]} != X ]] && n=$((n + 1))
    done
    echo $n
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {       # STATEDIR PORT DBFILE
    local sd=$1 port=$2 db=$3 tmp
    tmp=$sd/RT_SiteConfig.pm.tmp
    cat >"$tmp" <<EOF
# Generated by util/rt.sh at every start - edits are lost.
# Put extra settings into RT_SiteConfig.d/*.pm next to this file.
# Private, disposable RT for ngx_itsm_module demos/tests; not for production.
use utf8;

Set(\$rtname, 'itsm-demo');
Set(\$Organization, 'itsm-demo.local');
Set(\$CorrespondAddress, 'rt@localhost');
Set(\$CommentAddress, 'rt-comment@localhost');
Set(\$Timezone, 'UTC');

# Database: a SQLite file in STATEDIR (never the system database)
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseHost, 'localhost');
Set(\$DatabasePort, '');
Set(\$DatabaseUser, '');
Set(\$DatabasePassword, '');
Set(\$DatabaseName, '$db');

# Web: REST 2 at http://127.0.0.1:$port/REST/2.0/
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $port);
Set(\$WebPath, '');
Set(\$WebBaseURL, 'http://127.0.0.1:$port');
# API clients (nginx subrequests, curl) send no Referer; without this
# RT refuses some POST/PUT requests as possible CSRF.
Set(\$RestrictReferrer, 0);
Set(\$CanonicalizeRedirectURLs, 0);

# Never send mail: log outgoing mail to \$RT::VarPath/*.mbox
Set(\$MailCommand, 'mbox');

# Logs into STATEDIR/log, nothing to syslog
Set(\$LogToSyslog, undef);
Set(\$LogToSTDERR, 'warning');
Set(\$LogToFile, '$RT_LOG_LEVEL');
Set(\$LogDir, '$sd/log');
Set(\$LogToFileNamed, 'rt.log');

# The module's callback scrip (util/rt-callback.pl) posts status changes
# where this file says (url, token lines); no file: nothing is posted
Set(\$ITSMCallbackFile, '$sd/itsm-callback');

# Paths compiled into RT::Generated that would point to /var
\$RT::VarPath         = '$sd/var';
\$RT::MasonDataDir    = '$sd/mason_data';
\$RT::MasonSessionDir = '$sd/session_data';

1;
EOF
    mv -f "$tmp" "$sd/RT_SiteConfig.pm"
}

rt_env() {             # STATEDIR
    export RT_SITE_CONFIG=$1/RT_SiteConfig.pm
    export RT_SITE_CONFIG_DIR=$1/RT_SiteConfig.d
}

create_db() {          # STATEDIR PORT
    local sd=$1 port=$2 t0 pwfile rc=0
    t0=$(now)
    say "creating a fresh RT database in $sd/rtdb"
    rm -f "$sd/rtdb.new"
    write_config "$sd" "$port" "$sd/rtdb.new"
    pwfile=$sd/.root-password
    (umask 077; printf '%s\n' "$RT_ROOT_PASSWORD" >"$pwfile")
    "$SETUP_DB" --action init --root-password-file "$pwfile" \
        >"$sd/log/setup.log" 2>&1 </dev/null || rc=$?
    rm -f "$pwfile"
    if (( rc != 0 )) || [[ ! -s $sd/rtdb.new ]]; then
        tail -n 30 "$sd/log/setup.log" >&2
        rm -f "$sd/rtdb.new"
        die "rt-setup-database failed (rc=$rc), see $sd/log/setup.log"
    fi
    mv -f "$sd/rtdb.new" "$sd/rtdb"
    say "database created in $(elapsed "$t0") s"
}

# the module's own RT data (util/rt-data.pl), once per database; a marker
# names the version of the data, so a database of an earlier version gets
# what is new
RT_DATA_VERSION=2

insert_data() {        # STATEDIR
    local sd=$1 rc=0
    [[ $(cat "$sd/.itsm-data" 2>/dev/null) == "$RT_DATA_VERSION" ]] && return 0
    "$SETUP_DB" --action insert --datafile "$repo/util/rt-data.pl" \
        >>"$sd/log/setup.log" 2>&1 </dev/null || rc=$?
    if (( rc != 0 )); then
        tail -n 30 "$sd/log/setup.log" >&2
        die "inserting util/rt-data.pl failed (rc=$rc), see $sd/log/setup.log"
    fi
    echo "$RT_DATA_VERSION" >"$sd/.itsm-data"
    say "the module's RT data (custom fields \"ITSM Alert Key\", \"ITSM Configuration Item\") installed"
}

# the callback scrip (util/rt-callback.pl), once per database, with a
# marker of its own: a database made before it gets it on its next start
insert_callback() {    # STATEDIR
    local sd=$1 rc=0
    [[ -f $sd/.itsm-callback-scrip ]] && return 0
    "$SETUP_DB" --action insert --datafile "$repo/util/rt-callback.pl" \
        >>"$sd/log/setup.log" 2>&1 </dev/null || rc=$?
    if (( rc != 0 )); then
        tail -n 30 "$sd/log/setup.log" >&2
        die "inserting util/rt-callback.pl failed (rc=$rc), see $sd/log/setup.log"
    fi
    touch "$sd/.itsm-callback-scrip"
    say "the module's callback scrip installed (it posts where $sd/itsm-callback says)"
}

rest_code() {          # PORT -> HTTP status of an authenticated REST 2 call
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -u "$RT_ROOT_USER:$RT_ROOT_PASSWORD" \
        "http://127.0.0.1:$1/REST/2.0/queues/all" 2>/dev/null || true
}

cmd_wait() {           # PORT [SECONDS] [PID LOGFILE LOGOFFSET]
    local port=$1 timeout=${2:-$RT_START_TIMEOUT} pid=${3:-} t0 code
    local log=${4:-} off=${5:-0}
    check_port "$port"
    command -v curl >/dev/null || die "curl is needed; run util/deps.sh rt"
    t0=$(now)
    while :; do
        code=$(rest_code "$port")
        [[ $code == 200 ]] && return 0
        if [[ -n $pid && -z $(proc_state "$pid") ]]; then
            echo "$me: RT (pid $pid) exited during startup" >&2
            return 1
        fi
        # a database RT cannot use makes rt-server serve its web installer
        # instead of failing; do not wait for that
        if [[ -n $log ]] && tail -c "+$((off + 1))" "$log" 2>/dev/null \
                | grep -q "RT couldn't connect to the database"; then
            echo "$me: RT cannot use its database" >&2
            return 1
        fi
        if awk -v a="$t0" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
            echo "$me: RT on port $port did not answer within $timeout s (last HTTP status: ${code:-none})" >&2
            return 1
        fi
        sleep 0.2
    done
}

cmd_start() {          # PORT STATEDIR
    local port=$1 sd pid t0 oldport logoff
    check_port "$port"
    need_rt
    sd=$(abs_statedir "$2")
    # the path goes into Perl strings and an RT glob() of the snippet dir
    [[ $sd != *[[:space:]\'\\]* ]] \
        || die "STATEDIR path must not contain spaces, quotes or backslashes: $sd"
    mkdir -p "$sd/RT_SiteConfig.d" "$sd/var" "$sd/mason_data" \
             "$sd/session_data" "$sd/log"

    # one start/stop at a time per STATEDIR
    exec 9>"$sd/rt.lock"
    flock -w 120 9 || die "cannot lock $sd/rt.lock"

    if pid=$(running_pid "$sd"); then
        oldport=$(cat "$sd/rt.port" 2>/dev/null || echo '?')
        if [[ $oldport == "$port" ]]; then
            say "already running (pid $pid) on http://127.0.0.1:$port/"
            exec 9>&-
            cmd_wait "$port" "$RT_START_TIMEOUT" "$pid"
            return
        fi
        die "already running (pid $pid) on port $oldport; run: $me stop $sd"
    fi
    rm -f "$sd/rt.pid" "$sd/rt.port"
    if port_busy "$port"; then
        die "port $port is already in use on 127.0.0.1"
    fi

    t0=$(now)
    rt_env "$sd"
    [[ -s $sd/rtdb ]] || create_db "$sd" "$port"
    write_config "$sd" "$port" "$sd/rtdb"
    insert_data "$sd"
    insert_callback "$sd"
    # compiled Mason components may be stale after a package upgrade
    rm -rf "$sd/mason_data/"* 2>/dev/null || true

    echo "=== $(date -u '+%Y-%m-%dT%H:%M:%SZ') start port $port" >>"$sd/log/server.log"
    logoff=$(stat -c %s "$sd/log/server.log")
    # setsid: own session and process group (pgid = pid), so Ctrl-C in the
    # caller's terminal does not reach it and stop can signal all workers.
    # Our lock fd 9 must not leak into the daemon.
    setsid "$RT_LIBEXEC/rt-server" --server Starlet \
        --host "$RT_HOST" --port "$port" --max-workers "$RT_WORKERS" \
        </dev/null >>"$sd/log/server.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$sd/rt.pid"
    echo "$port" >"$sd/rt.port"
    exec 9>&-

    if [[ ${RT_START_NOWAIT:-0} == 1 ]]; then
        say "started (pid $pid) on http://127.0.0.1:$port/, not waiting"
        return 0
    fi
    if ! cmd_wait "$port" "$RT_START_TIMEOUT" "$pid" "$sd/log/server.log" "$logoff"; then
        echo "--- last lines of $sd/log/server.log:" >&2
        tail -n 20 "$sd/log/server.log" >&2
        cmd_stop "$sd" >/dev/null 2>&1 || true
        die "RT failed to start"
    fi
    say "RT ready in $(elapsed "$t0") s (pid $pid): REST 2 http://127.0.0.1:$port/REST/2.0/, web UI http://127.0.0.1:$port/ (root/password, demo only); state in $sd"
}

cmd_stop() {           # STATEDIR
    local sd pid pg t0 st
    [[ -n ${1:-} ]] || die "STATEDIR missing"
    [[ -d $1 ]] || { say "not running ($1 does not exist)"; return 0; }
    sd=$(abs_statedir "$1")
    exec 9>"$sd/rt.lock"
    flock -w 120 9 || die "cannot lock $sd/rt.lock"
    if ! pid=$(running_pid "$sd"); then
        rm -f "$sd/rt.pid" "$sd/rt.port"
        say "not running ($sd)"
        exec 9>&-
        return 0
    fi
    t0=$(now)
    st=$(proc_state "$pid")
    pg=${st#* }
    # rt-server was started with setsid, so it leads its own process group
    # holding the Starlet workers.  Never SIGINT: Debian's rt-server then
    # chowns /var/lib/request-tracker5 when run as root.
    if [[ $pg == "$pid" ]]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
    else
        pg=$pid
        kill -TERM "$pid" 2>/dev/null || true
    fi
    while (( $(group_alive "$pg") > 0 )); do
        if awk -v a="$t0" -v b="$(now)" -v t="$RT_STOP_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
            echo "$me: RT (pid $pid) ignores SIGTERM; sending SIGKILL" >&2
            if [[ $pg == "$pid" ]]; then
                kill -KILL -- "-$pid" 2>/dev/null || true
            else
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.2
            break
        fi
        sleep 0.05
    done
    rm -f "$sd/rt.pid" "$sd/rt.port"
    echo "=== $(date -u '+%Y-%m-%dT%H:%M:%SZ') stopped" >>"$sd/log/server.log"
    exec 9>&-
    say "stopped RT (pid $pid) in $(elapsed "$t0") s"
}

cmd_status() {         # STATEDIR
    local sd pid port code
    [[ -n ${1:-} ]] || die "STATEDIR missing"
    if [[ ! -d $1 ]]; then
        echo "stopped ($1 does not exist)"
        return 3
    fi
    sd=$(cd -- "$1" && pwd -P)
    if pid=$(running_pid "$sd"); then
        port=$(cat "$sd/rt.port" 2>/dev/null || echo '?')
        code=$(rest_code "$port")
        echo "running pid=$pid port=$port rest2=http://127.0.0.1:$port/REST/2.0/ (HTTP $code) state=$sd"
        return 0
    fi
    echo "stopped state=$sd ($( [[ -s $sd/rtdb ]] && echo 'database kept' || echo 'no database'))"
    return 3
}

cmd_reset() {          # STATEDIR
    [[ -n ${1:-} ]] || die "STATEDIR missing"
    [[ -d $1 ]] || return 0
    cmd_stop "$1"
    [[ -f $1/RT_SiteConfig.pm || -f $1/rtdb ]] \
        || die "$1 does not look like an rt.sh STATEDIR; not deleting"
    rm -rf -- "$1"
    say "deleted $1"
}

case ${1:-} in
    start)  (( $# == 3 )) || usage; cmd_start "$2" "$3" ;;
    stop)   (( $# == 2 )) || usage; cmd_stop "$2" ;;
    status) (( $# == 2 )) || usage; cmd_status "$2" ;;
    wait)   (( $# == 2 || $# == 3 )) || usage; cmd_wait "$2" "${3:-$RT_START_TIMEOUT}" ;;
    reset)  (( $# == 2 )) || usage; cmd_reset "$2" ;;
    *)      usage ;;
esac
