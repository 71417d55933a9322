#!/usr/bin/env bash
# t/600-itsmctl.t with a module and an itsmctl of its own: builds the
# module (util/build.sh normal), itsmctl and itsm-token into BUILD_DIR
# (default build/), then runs the file with the fallback runner unless
# Test::Nginx is installed.  For CI: "make test-itsmctl".
#
#   tools/test-itsmctl.sh [prove args]     (BUILD_DIR, TEST_NGINX_SERVER_PORT,
#                                           TEST_NGINX_SERVROOT)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

export BUILD_DIR=${BUILD_DIR:-$repo/build}

util/build.sh normal
ITSMCTL_BUILD_DIR=$BUILD_DIR tools/build-itsmctl.sh "$BUILD_DIR/itsmctl" >/dev/null
${CC:-cc} -O2 -g -Wall -Wextra -Werror -o "$BUILD_DIR/itsm-token" tools/itsm-token.c -lcrypto

export ITSMCTL="$BUILD_DIR/itsmctl" ITSM_TOKEN="$BUILD_DIR/itsm-token"
export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES="$BUILD_DIR/ngx_http_itsm_module.so"
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$repo/t/servroot_itsmctl}
export ITSM_TEST_NO_RT=1

if [ -n "${TEST_NGINX_FALLBACK:-}" ] || ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$repo/t/fallback${PERL5LIB:+:$PERL5LIB}"
fi

exec util/subreaper prove "${@:-t/600-itsmctl.t}"
