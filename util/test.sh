#!/usr/bin/env bash
# Runs the Test::Nginx suite (t/*.t) against the installed nginx with the
# module loaded, installing what it needs first.
#
#   util/test.sh [normal|valgrind|async|redis] [prove args, default: -r t]
#
# async: the files of the pipeline, the store and the callbacks against a
# test build whose store answers get, claim, doubt and commit through a
# posted event (util/build.sh async), so that every continuation the
# Redis store will take runs on LMDB too (about 4 minutes).
#
# redis: the lifecycle suite (async's files and the other lifecycle files,
# t/001 t/011) with ITSM_TEST_STORE=redis: every block's LMDB itsm_store
# becomes "itsm_store redis" on one private redis-server started here
# (port TEST_NGINX_REDIS_PORT, default 18093; a prefix per nginx started),
# see t/lib/ItsmTestStore.pm.  A block that needs an LMDB store for now
# (nginx -t refuses it with Redis) or is marked --- skip_redis is skipped
# with the reason; the count of skipped checks by reason is printed at the
# end, the whole TAP is in var/redis-suite.log (ITSM_REDIS_SUITE_LOG).
# Needs the fallback runner (it does the rewrite).
#
# The t/*.t files are plain Test::Nginx files.  When Test::Nginx is not
# installed (CPAN is not reachable here, and Debian does not package it),
# the project's own runner in t/fallback is put on PERL5LIB; set
# TEST_NGINX_FALLBACK=1 to use it even when the real one is installed.
#
# Real components: a private Request Tracker is started for the files that
# use one (t/020-rt.t, t/350-alertmanager-rt.t; port TEST_NGINX_RT_PORT,
# default 18091, state in ITSM_TEST_RT_DIR, default var/test-rt); set
# ITSM_TEST_NO_RT=1 to skip it (those files then skip with a message).
# Debian's Alertmanager is installed for the files that start one
# themselves.
#
# Two runs at once (.ci/run runs the valgrind one beside the others) each
# need their own TEST_NGINX_SERVER_PORT, TEST_NGINX_SERVROOT,
# TEST_NGINX_RT_PORT and ITSM_TEST_RT_DIR; what the tests start
# themselves takes ports the kernel gives (t/lib/ItsmPorts.pm).
set -euo pipefail

mode=${1:-normal}
shift || true
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

case $mode in
    normal|valgrind|async|redis) ;;
    *) echo "usage: $0 [normal|valgrind|async|redis] [prove args]" >&2; exit 2 ;;
esac

groups=(test alertmanager)
[ -n "${ITSM_TEST_NO_RT:-}" ] || groups+=(rt)
util/deps.sh "${groups[@]}"

util/build.sh normal
# the callback token tool, which t/070 runs; itsmctl, t/600; the
# migration tool, t/505
make -s build/itsm-token build/itsmctl build/itsm-migrate

export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES="$repo/build/ngx_http_itsm_module.so"
if [ "$mode" = async ]; then
    util/build.sh async
    export TEST_NGINX_LOAD_MODULES="$repo/build/async/ngx_http_itsm_module.so"
fi
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$repo/t/servroot}

# the switch to Redis is the fallback runner's
[ "$mode" = redis ] && export TEST_NGINX_FALLBACK=1

if [ -n "${TEST_NGINX_FALLBACK:-}" ] || ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$repo/t/fallback${PERL5LIB:+:$PERL5LIB}"
    echo "test: Test::Nginx is not installed; using the fallback runner in t/fallback"
fi

rt_dir=${ITSM_TEST_RT_DIR:-$repo/var/test-rt}
rt_started=
redis_pid=
redis_dir=
cleanup() {
    if [ -n "$rt_started" ]; then
        util/rt.sh stop "$rt_dir" >/dev/null 2>&1 || true
    fi
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    [ -z "$redis_dir" ] || rm -rf "$redis_dir"
}
trap cleanup EXIT

if [ -z "${ITSM_TEST_NO_RT:-}" ]; then
    export TEST_NGINX_RT_PORT=${TEST_NGINX_RT_PORT:-18091}
    util/rt.sh start "$TEST_NGINX_RT_PORT" "$rt_dir"
    rt_started=1
    # where RT's callback scrip reads its url and token (util/rt-callback.pl):
    # the callback tests write the file and remove it
    export ITSM_TEST_RT_STATEDIR="$rt_dir"
fi

if [ "$mode" = redis ]; then
    # one redis-server for the run, without persistence; the blocks' keys
    # are apart by prefix
    export ITSM_TEST_STORE=redis
    export ITSM_TEST_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-18093}
    redis_dir=$(mktemp -d /tmp/itsm-test-redis.XXXXXX)
    redis-server --port "$ITSM_TEST_REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$redis_dir" --logfile "$redis_dir/redis.log" \
        --daemonize no &
    redis_pid=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$ITSM_TEST_REDIS_PORT" PING 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$ITSM_TEST_REDIS_PORT" PING 2>/dev/null)" = PONG ] || {
        echo "test: redis-server on port $ITSM_TEST_REDIS_PORT does not answer" \
             "($redis_dir/redis.log)" >&2
        exit 1
    }
    [ $# -gt 0 ] || set -- t/001-config.t t/010-create.t t/011-bad-input.t \
        t/03*.t t/04*.t t/05*.t t/07*.t t/08*.t t/09[0-4]*.t \
        t/099-connector-circuit.t
    log=${ITSM_REDIS_SUITE_LOG:-$repo/var/redis-suite.log}
    mkdir -p "$repo/var"
    set +e
    util/subreaper prove -v "$@" > "$log" 2>&1
    rc=$?
    set -e
    # prove's summary, then the skipped checks by reason
    sed -n '/^Test Summary Report/,$p;/^All tests successful/,$p;/^Files=/p' "$log" | sort -u
    echo "redis: checks run $(grep -cE '^\s*ok [0-9]+ - ' "$log")," \
         "skipped $(grep -cE '^\s*ok [0-9]+ # skip' "$log")," \
         "failed $(grep -cE '^\s*not ok [0-9]+' "$log") (whole log: $log)"
    echo "redis: skipped checks by reason:"
    # none skipped is no failure (grep finds nothing: pipefail)
    { grep -oE '# skip .*ITSM_TEST_STORE=redis: .*' "$log" || true; } \
        | sed -E 's/.*ITSM_TEST_STORE=redis: //; s/ in \S+nginx\.conf:[0-9]+//; s/\(\S+nginx\.conf:[0-9]+\)//' \
        | sort | uniq -c | sort -rn
    echo "redis: files with skipped checks:"
    awk '/^t\/.*\.t \.\./ { f = $1 } /# skip .*ITSM_TEST_STORE=redis/ { n[f]++ } END { for (k in n) print "  " n[k], k }' "$log" | sort -k2
    exit $rc
fi

if [ $# -eq 0 ]; then
    if [ "$mode" = async ]; then
        set -- t/010-create.t t/03*.t t/04*.t t/05*.t t/07*.t t/08*.t \
               t/09[0-4]*.t t/099-connector-circuit.t
    else
        set -- -r t
    fi
fi

if [ "$mode" = normal ] || [ "$mode" = async ]; then
    util/subreaper prove "$@"
    exit $?
fi

# Valgrind: nginx runs under memcheck; the fallback runner fails a block on
# a report, and, for either runner, util/valgrind-check fails the run on
# any error or definite leak found in what was printed.
export TEST_NGINX_USE_VALGRIND=1
# a request waits longer for nginx under memcheck (20-50x slower) on a
# machine running other jobs: 3 s timed out on a loaded CI rehearsal
export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-10}
log=${ITSM_VALGRIND_LOG:-$repo/var/valgrind.log}
mkdir -p "$(dirname "$log")"
set +e
util/subreaper prove "$@" 2> >(tee "$log" >&2)
rc=$?
set -e
wait
util/valgrind-check "$log" || rc=1
exit $rc
