#!/usr/bin/env bash
# CI for the static build: nginx with the module linked in
# (util/static.sh), for each version, then a short part of t/ against
# each binary with no load_module line at all.
#
#   util/ci-static.sh [VERSION...]       (default: util/static.sh's)
#
# Environment:
#   TEST_NGINX_SERVER_PORT  the port of the tests' nginx (default 47200):
#                           CI runs this beside other suites, give each its
#                           own
#   STATIC_TEST_FILES       the files run (default below: the access
#                           phase, the pipeline and its store, callbacks,
#                           status, configuration errors, an example as
#                           shipped)
#   TEST_NGINX_SERVROOT     is build/static/nginx-VERSION/servroot, one per
#                           version, never t/servroot of the other suites
#
# No Request Tracker and no Redis: the files chosen use the fake ITSM of
# t/lib (ITSM_TEST_NO_RT=1).  Prints how long the build and the tests took.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

t0=$(date +%s)

util/deps.sh test static

util/static.sh "$@"
# the callback token tool, which t/070 runs
make -s build/itsm-token

t1=$(date +%s)

STATIC_DIR=${STATIC_DIR:-$repo/build/static}
export STATIC_DIR
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086
    set -- ${STATIC_VERSIONS:-1.22.1 1.26.3}
fi

files=${STATIC_TEST_FILES:-t/001-config.t t/003-static-binary.t t/010-create.t t/030-lifecycle.t t/050-status.t t/070-callback-token.t t/071-callback.t t/110-signature-standard.t t/140-access.t t/430-example-request-tracker.t}

if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$repo/t/fallback${PERL5LIB:+:$PERL5LIB}"
fi
export TEST_NGINX_SERVER_PORT=${TEST_NGINX_SERVER_PORT:-47200}
export ITSM_TEST_NO_RT=1
# the module is in the binary: no load_module line (t/fallback writes one
# per name here, t/lib/ItsmExample.pm asks the binary when there is none)
export TEST_NGINX_LOAD_MODULES=

rc=0
declare -A took
for v in "$@"; do
    bin=$STATIC_DIR/nginx-$v/sbin/nginx
    echo "== ci-static: nginx $v ($(cat "$STATIC_DIR/nginx-$v/SOURCE")), port $TEST_NGINX_SERVER_PORT"
    s=$(date +%s)
    # shellcheck disable=SC2086
    TEST_NGINX_BINARY=$bin TEST_NGINX_SERVROOT=$STATIC_DIR/nginx-$v/servroot \
        util/subreaper prove $files || rc=1
    took[$v]=$(( $(date +%s) - s ))
done

t2=$(date +%s)
each=
for v in "$@"; do
    each="${each:+$each; }$v ${took[$v]} s"
done
echo "== ci-static: build $(( t1 - t0 )) s, tests $(( t2 - t1 )) s ($each), total $(( t2 - t0 )) s"
exit $rc
