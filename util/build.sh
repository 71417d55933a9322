#!/usr/bin/env bash
# Builds ngx_http_itsm_module.so for an installed nginx binary.
#
#   util/build.sh [normal|asan|async]
#
# async: a test build (in BUILD_DIR/async) whose store answers the
# pipeline's get, claim, doubt and commit through a posted event instead
# of at once (-DNGX_HTTP_ITSM_STORE_ASYNC_TEST): the lifecycle files run
# under it prove the continuations a store across the network needs
# (docs/redis.md); never a build to serve with.
#
# Environment:
#   NGINX_BIN   the nginx the module is for       (default /usr/sbin/nginx)
#   NGINX_SRC   an nginx source or nginx-dev tree  (default /usr/share/nginx/src)
#   BUILD_DIR   where the tree copy and output go  (default ./build)
#
# The tree is copied first: the system tree is never written to.  A tree
# whose version differs from the binary's is refused, because nginx would
# refuse to load the module ("is not binary compatible") anyway.
set -euo pipefail

variant=${1:-normal}
repo=$(cd "$(dirname "$0")/.." && pwd)
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
BUILD_DIR=${BUILD_DIR:-$repo/build}

die() { echo "build: $*" >&2; exit 1; }

[ -x "$NGINX_BIN" ] || die "no nginx binary at $NGINX_BIN (apt-get install nginx, or set NGINX_BIN)"
[ -f "$NGINX_SRC/src/core/nginx.h" ] || die "no nginx source tree at $NGINX_SRC (apt-get install nginx-dev, or set NGINX_SRC to an nginx source tree)"

bin_version=$("$NGINX_BIN" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
src_version=$(sed -n 's|^#define NGINX_VERSION *"\(.*\)"|\1|p' "$NGINX_SRC/src/core/nginx.h")

if [ "$bin_version" != "$src_version" ]; then
    die "the tree at $NGINX_SRC is nginx $src_version but $NGINX_BIN is nginx $bin_version;
       a dynamic module only loads into the exact version it was built for.
       Use the matching tree (apt-get install nginx-dev=<the nginx package version>)
       or point NGINX_SRC at nginx-$bin_version sources."
fi

if ! "$NGINX_BIN" -V 2>&1 | grep -q -- '--with-compat'; then
    die "$NGINX_BIN was built without --with-compat: it loads no module built elsewhere;
       build nginx itself with --add-module=$repo instead (static module)"
fi

case $variant in
    normal) out=$BUILD_DIR; extra_cc="" ;;
    asan)   out=$BUILD_DIR/asan; extra_cc="-fsanitize=address -fno-omit-frame-pointer" ;;
    async)  out=$BUILD_DIR/async; extra_cc="" ;;
    *)      die "unknown variant $variant (normal, asan or async)" ;;
esac

tree=$out/nginx-$src_version
objs=$out/objs
mkdir -p "$out"

# one build at a time per output directory: two configures of the same
# objs/ at once (make test and make build in two shells) leave a broken
# ngx_auto_headers.h behind
exec 9>"$out/.lock"
flock 9

# copy the tree once per version; configure again only when config changed
if [ ! -f "$tree/.itsm-copied" ]; then
    rm -rf "$tree"
    cp -a "$NGINX_SRC" "$tree"
    touch "$tree/.itsm-copied"
fi

flags=(--with-compat)
if [ -f "$tree/conf_flags" ]; then
    # Debian's nginx-dev: the flags the distro binary was configured with
    # shellcheck disable=SC1091
    . "$tree/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

cc_opt="-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -Wall -Werror $extra_cc"
# fortified libc calls as Debian builds its packages (dpkg-buildflags);
# not with ASan, which replaces those calls with its own checks
[ "$variant" = asan ] || cc_opt="$cc_opt -D_FORTIFY_SOURCE=2"
if [ "$variant" = async ]; then
    cc_opt="$cc_opt -DNGX_HTTP_ITSM_STORE_ASYNC_TEST=1"
fi
ld_opt="-fPIC $extra_cc"

stamp="$(cat "$repo/config") $cc_opt ${flags[*]}"
if [ ! -f "$objs/Makefile" ] || [ "$(cat "$objs/.itsm-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "build: configuring nginx $src_version ($variant) in $tree"
    (cd "$tree" && ./configure "${flags[@]}" \
        --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
        --builddir="$objs" --add-dynamic-module="$repo") > "$out/configure.log" 2>&1 \
        || { tail -n 30 "$out/configure.log" >&2; die "configure failed (full log: $out/configure.log)"; }
    echo "$stamp" > "$objs/.itsm-stamp"
fi

(cd "$tree" && make -s -f "$objs/Makefile" modules) \
    || die "compiling the module failed"

# a new file, renamed over the old one: an nginx that has the old one
# loaded keeps its pages (cp would rewrite them under it)
cp "$objs/ngx_http_itsm_module.so" "$out/.ngx_http_itsm_module.so.new"
mv -f "$out/.ngx_http_itsm_module.so.new" "$out/ngx_http_itsm_module.so"
echo "build: $out/ngx_http_itsm_module.so (nginx $src_version, $variant)"
