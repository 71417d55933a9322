#!/usr/bin/env bash
# util/deb.sh - build the Debian package libnginx-mod-http-itsm (make deb).
#
#   util/deb.sh [OUTDIR]        (default ./build/deb)
#
# Builds with Debian's own tooling for nginx modules: debhelper compat 13
# and dh_nginx (nginx-dev's dh-sequence-nginx), from a copy of this clone,
# against nginx-dev's tree (/usr/share/nginx/src), for the nginx installed
# here.  Then runs lintian on the result, prints its tags and fails on an
# error tag.  Leaves in OUTDIR:
#
#   libnginx-mod-http-itsm_VERSION_ARCH.deb   (apt-get install ./that)
#   libnginx-mod-http-itsm-dbgsym_VERSION_ARCH.deb  (its debug symbols)
#   libnginx-mod-http-itsm_VERSION_ARCH.{changes,buildinfo}
#   lintian.txt     lintian's tags;   build.log   dpkg-buildpackage's output
#
# VERSION comes from one place: the top entry of debian/changelog
# (dch -v NEW, or edit it by hand).
#
# The copy holds the files git knows (tracked, and new ones not ignored),
# as they are in the work tree: what a clone plus your edits would build.
# Outside git, the whole tree but build/ and var/.  Build dependencies come
# from util/deps.sh deb (apt-get, as root or through sudo).
set -euo pipefail

me=${0##*/}
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build/deb}
NGINX_BIN=/usr/sbin/nginx
NGINX_SRC=/usr/share/nginx/src

die() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*"; }

t0=$(date +%s)
"$repo/util/deps.sh" deb

# nginx-dev pins the nginx it belongs to, but say it plainly if the two
# disagree: the module would only load into the nginx of the tree
bin_version=$("$NGINX_BIN" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
src_version=$(sed -n 's|^#define NGINX_VERSION *"\(.*\)"|\1|p' "$NGINX_SRC/src/core/nginx.h")
[ "$bin_version" = "$src_version" ] \
    || die "nginx-dev's tree is nginx $src_version but $NGINX_BIN is $bin_version: apt-get install nginx-dev=\$(dpkg-query -W -f='\${Version}' nginx)"

cd "$repo"
pkg=$(dpkg-parsechangelog -S Source)
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
deb=${pkg}_${version}_${arch}.deb

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/src
src=$work/$pkg-$version
rm -rf "$work"
mkdir -p "$src"

say "copying the sources of $pkg $version to $src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # files git knows, as in the work tree; deleted ones skipped
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
else
    tar -C "$repo" --exclude=./build --exclude=./var -cf - . | tar -C "$src" -xf -
fi
[ -f "$src/debian/control" ] || die "no debian/control in the copy"

say "dpkg-buildpackage -b (nginx $bin_version, nginx ABI $(sed -n 's/^nginx:abi=//p' "$NGINX_SRC/debian/libnginx-mod.abisubstvars"))"
(cd "$src" && dpkg-checkbuilddeps) \
    || die "build dependencies missing (util/deps.sh deb installs them)"
# both cores unless told otherwise (DEB_BUILD_OPTIONS=parallel=1)
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc)}
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "dpkg-buildpackage failed (full log: $out/build.log)"
fi

# dpkg-buildpackage writes next to the source directory
# (with the -dbgsym package of the debug symbols, which .changes names)
rm -f "$out/${pkg}"*_*.deb "$out/${pkg}_"*.changes "$out/${pkg}_"*.buildinfo
mv "$work/${pkg}"*_"${version}_${arch}".deb \
   "$work/${pkg}_${version}_${arch}".{changes,buildinfo} "$out/"
rm -rf "$work"

say "lintian $deb"
# --fail-on error: warnings and infos are printed (and explained in
# debian/*.lintian-overrides where they are expected), errors fail
set +e
lintian --fail-on error --display-info --pedantic \
    "$out/${pkg}_${version}_${arch}.changes" > "$out/lintian.txt" 2>&1
lrc=$?
set -e
if [ -s "$out/lintian.txt" ]; then
    sed 's/^/    /' "$out/lintian.txt"
else
    echo "    (no tags)"
fi
[ $lrc -eq 0 ] || die "lintian found errors (above; $out/lintian.txt)"

say "$out/$deb ($(( $(date +%s) - t0 )) s)"
say "install: apt-get install $out/$deb"
