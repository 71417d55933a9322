#!/usr/bin/env bash
# Builds BUILD_DIR/itsm-migrate (tools/itsm-migrate.c) with the module's
# own hash and record codec (ngx_http_itsm_hash.c, ngx_http_itsm_store_codec.c),
# so that the tool names and encodes a record as itsm_store redis does.
# Those files include nginx's headers: the tree and objs/ that
# util/build.sh configured in BUILD_DIR (run it first); nothing of nginx's
# core is linked (the headers' inline helpers and macros only).  liblmdb,
# hiredis and OpenSSL's libcrypto: util/deps.sh build.
#
#   BUILD_DIR=build tools/build-migrate.sh      (CC=cc)
#
# NGINX_TREE (a tree with src/) and NGINX_OBJS (its configured objs/)
# name another configured tree, e.g. Debian's package build: nginx-dev's
# /usr/share/nginx/src and dh_nginx's build directory.  CPPFLAGS, CFLAGS
# and LDFLAGS are added when set (dpkg-buildflags' hardening).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$repo/build}
CC=${CC:-cc}
m=$repo/ngx_itsm_module

die() { echo "build-migrate: $*" >&2; exit 1; }

if [ -n "${NGINX_TREE:-}" ]; then
    tree=${NGINX_TREE%/}
else
    tree=$(ls -d "$BUILD_DIR"/nginx-*/ 2>/dev/null | head -n 1)
    tree=${tree%/}
fi
objs=${NGINX_OBJS:-$BUILD_DIR/objs}
[ -n "$tree" ] && [ -f "$objs/ngx_auto_config.h" ] \
    || die "no configured nginx tree in $BUILD_DIR: run BUILD_DIR=$BUILD_DIR util/build.sh normal first"

inc=(-I"$objs" -I"$m")
for d in core event event/modules os/unix http http/modules http/v2; do
    inc+=(-I"$tree/src/$d")
done

# a new file renamed over the old one: two builds at once (CI's two lanes
# each run util/test.sh) never leave a half-written tool, nor one a test
# is running
new=$BUILD_DIR/.itsm-migrate.$$
# shellcheck disable=SC2206 # the flags' words, as make would split them
cmd=("$CC" -O2 -g ${CPPFLAGS:-} ${CFLAGS:-} -Wall -Wextra -Wno-unused-parameter
     -Werror "${inc[@]}" ${LDFLAGS:-} -o "$new" "$repo/tools/itsm-migrate.c"
     "$m/ngx_http_itsm_hash.c" "$m/ngx_http_itsm_store_codec.c"
     -llmdb -lhiredis -lcrypto)
echo "${cmd[*]}"
"${cmd[@]}" || { rm -f "$new"; die "compiling itsm-migrate failed"; }
mv -f "$new" "$BUILD_DIR/itsm-migrate"
echo "build-migrate: $BUILD_DIR/itsm-migrate"
