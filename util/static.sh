#!/usr/bin/env bash
# Builds nginx itself with the module linked in (--add-module), from
# Debian's nginx sources: the static build that `config` serves besides
# the dynamic one of util/build.sh.
#
#   util/static.sh [VERSION...]        (default: $STATIC_VERSIONS)
#
# Each VERSION (upstream, e.g. 1.22.1) ends up as
#   build/static/nginx-VERSION/sbin/nginx
# built with the configure flags of Debian's nginx (the nginx-dev tree's
# conf_flags) less the modules Debian builds as dynamic ones, with
# --prefix in build/static/nginx-VERSION and --add-module=<this repo>.
#
# Where the sources come from: Debian's archive, through apt with a
# sources list of our own (build/static/apt/; the system's apt
# configuration is left alone), so apt checks every file against the
# archive's signed index (InRelease, signed by a key of
# debian-archive-keyring; Sources gives each file's SHA-256):
#   - the newest Debian source package of VERSION whose files can all be
#     had (apt-get source, unpacked by dpkg-source -x: Debian's patches
#     applied);
#   - when no source package of VERSION can be had whole (a mirror that
#     serves a .orig.tar.gz but not the .dsc), the .orig.tar.gz alone
#     (apt-get source --tar-only): upstream nginx, checked the same way.
# build/static/nginx-VERSION/SOURCE says which it was.  Downloads and
# trees are kept: a second run only runs make (remove
# build/static/nginx-VERSION to look for a newer Debian revision).
#
# Environment:
#   STATIC_VERSIONS  default versions        (default "1.22.1 1.26.3")
#   STATIC_DIR       where everything goes   (default ./build/static)
#   STATIC_JOBS      make -j                 (default: the number of CPUs)
#   STATIC_SUITES    Debian suites searched for sources (default
#                    "bookworm bookworm-updates bookworm-security
#                     bookworm-backports trixie")
#   STATIC_MIRROR, STATIC_SECURITY_MIRROR
#                    the archives' URIs (default: the ones the system's apt
#                    sources name)
#
# Packages: util/deps.sh static.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
STATIC_DIR=${STATIC_DIR:-$repo/build/static}
STATIC_JOBS=${STATIC_JOBS:-$(nproc 2>/dev/null || echo 2)}
STATIC_SUITES=${STATIC_SUITES:-bookworm bookworm-updates bookworm-security bookworm-backports trixie}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { echo "static: $*"; }
die() { echo "static: $*" >&2; exit 1; }

if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086
    set -- ${STATIC_VERSIONS:-1.22.1 1.26.3}
fi

for v in "$@"; do
    [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
        || die "'$v' is not an nginx version (like 1.22.1)"
done

for t in apt-get apt-cache dpkg-source make gcc; do
    command -v "$t" >/dev/null || die "no $t (util/deps.sh static)"
done
[ -f "$KEYRING" ] || die "no $KEYRING (util/deps.sh static)"

mkdir -p "$STATIC_DIR"
exec 9>"$STATIC_DIR/.lock"
flock 9

# ---- apt, on a sources list of our own ------------------------------------

aptdir=$STATIC_DIR/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$aptdir/sources.list"
          -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
          -o "Dir::State::Lists=$aptdir/lists"
          -o "Dir::Cache=$aptdir/cache"
          -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
          -o "APT::Sandbox::User=root"
          -o "Acquire::Retries=3")

# "URI SUITE" of each Debian suite the system's apt reads (one-line
# sources.list and deb822 .sources files): the sources are fetched from the
# mirror the machine is set up with
system_suites() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^deb\(-src\)\{0,1\}[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\)[[:space:]]\{1,\}\([^[:space:]]*\).*/\3 \4/p' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^[[:space:]]*$/ { flush() }
             /^URIs:/   { u = $2 }
             /^Suites:/ { s = ""; for (i = 2; i <= NF; i++) s = s " " $i }
             function flush(  n, a, i) {
                 n = split(s, a, " ")
                 for (i = 1; i <= n; i++) if (u != "") print u, a[i]
                 u = ""; s = ""
             }
             END { flush() }' "$f"
    done
}

# the mirror of Debian's archive and of its security archive, as the system
# has them (STATIC_MIRROR and STATIC_SECURITY_MIRROR override)
mirrors() {
    local lines
    lines=$(system_suites)
    if [ -z "${STATIC_MIRROR:-}" ]; then
        STATIC_MIRROR=$(awk '$2 !~ /-security$/ { print $1; exit }' <<< "$lines")
    fi
    if [ -z "${STATIC_SECURITY_MIRROR:-}" ]; then
        STATIC_SECURITY_MIRROR=$(awk '$2 ~ /-security$/ { print $1; exit }' <<< "$lines")
    fi
    [ -n "$STATIC_MIRROR" ] \
        || die "no Debian archive in the system's apt sources; set STATIC_MIRROR"
}

apt_ready=no
apt_index() {
    [ $apt_ready = yes ] && return 0
    mirrors
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" \
             "$aptdir/sources.list.d"
    : > "$aptdir/sources.list.new"
    for s in $STATIC_SUITES; do
        case $s in
            *-security) uri=$STATIC_SECURITY_MIRROR ;;
            *)          uri=$STATIC_MIRROR ;;
        esac
        [ -n "$uri" ] || { say "no mirror for $s in the system's apt sources; skipped"; continue; }
        echo "deb-src [signed-by=$KEYRING] $uri $s main" >> "$aptdir/sources.list.new"
    done
    mv -f "$aptdir/sources.list.new" "$aptdir/sources.list"

    say "reading Debian's source indexes ($STATIC_SUITES)"
    apt-get "${APT_OPTS[@]}" -q update > "$aptdir/update.log" 2>&1 \
        || { tail -n 20 "$aptdir/update.log" >&2; die "apt-get update failed (log: $aptdir/update.log)"; }
    # a suite that is not there (bookworm-backports on some mirrors) is a
    # warning, not an error; say so rather than hide it
    grep -E '^(W|E):' "$aptdir/update.log" >&2 || true
    apt_ready=yes
}

# the Debian versions of source package nginx whose upstream part is $1,
# newest first
debian_versions() {
    apt-cache "${APT_OPTS[@]}" showsrc nginx 2>/dev/null \
        | sed -n 's/^Version: *//p' \
        | grep -E "^([0-9]+:)?${1//./\\.}-" \
        | sort -u -r -V
}

# fetch VERSION: leaves the tree in $STATIC_DIR/nginx-VERSION/src and one
# line in .../SOURCE
fetch() {
    local version=$1 out=$STATIC_DIR/nginx-$1 dl=$STATIC_DIR/dl/$1
    local dv how=

    if [ -f "$out/src/.itsm-unpacked" ]; then
        return 0
    fi

    apt_index
    local dvs
    dvs=$(debian_versions "$version")
    [ -n "$dvs" ] || die "Debian's archive has no source package of nginx $version
       (suites: $STATIC_SUITES; set STATIC_SUITES to search others)"

    # objects of another tree would look newer than the files unpacked now
    rm -rf "$out/src" "$out/objs" "$dl"
    mkdir -p "$out" "$dl"

    for dv in $dvs; do
        say "fetching Debian's source package nginx $dv"
        if (cd "$dl" && apt-get "${APT_OPTS[@]}" -q source --download-only \
                "nginx=$dv") > "$dl/fetch-$dv.log" 2>&1; then
            # the files were checked by apt against the signed Sources;
            # the .dsc's own signature is a maintainer's key that
            # debian-archive-keyring does not hold, hence --no-check
            local dsc
            dsc=$(ls "$dl"/nginx_"${dv#*:}".dsc)
            (cd "$dl" && dpkg-source --no-check -x "$dsc" "$out/src") \
                > "$dl/unpack.log" 2>&1 \
                || { tail -n 20 "$dl/unpack.log" >&2; die "dpkg-source -x $dsc failed"; }
            how="Debian source package nginx $dv (apt-get source; Debian's patches applied)"
            break
        fi
        say "  not all of its files can be had here: $(grep -m1 -E '^(E|Err):' "$dl/fetch-$dv.log" || echo "see $dl/fetch-$dv.log")"
    done

    if [ -z "$how" ]; then
        for dv in $dvs; do
            rm -f "$dl"/*.dsc "$dl"/*.debian.tar.* "$dl"/*.diff.gz
            say "fetching the upstream tarball of nginx $dv alone"
            if (cd "$dl" && apt-get "${APT_OPTS[@]}" -q source --download-only \
                    --tar-only "nginx=$dv") > "$dl/fetch-tar-$dv.log" 2>&1; then
                local orig=$dl/nginx_$version.orig.tar.gz
                [ -f "$orig" ] || die "apt-get source --tar-only nginx=$dv left no $orig"
                mkdir -p "$out/src"
                tar -xzf "$orig" -C "$out/src" --strip-components=1
                how="upstream nginx $version: the .orig.tar.gz of Debian's nginx $dv (apt-get source --tar-only; its .dsc and Debian's patches cannot be had here)"
                break
            fi
        done
    fi

    [ -n "$how" ] || die "no source of nginx $version could be fetched (logs in $dl)"

    local got
    got=$(sed -n 's|^#define NGINX_VERSION *"\(.*\)"|\1|p' "$out/src/src/core/nginx.h")
    [ "$got" = "$version" ] || die "the tree of $dv says nginx $got, not $version"

    echo "$how" > "$out/SOURCE"
    touch "$out/src/.itsm-unpacked"
    say "$how"
}

# ---- configure and make ---------------------------------------------------

# Debian's flags (nginx-dev's conf_flags, Debian 12) less the paths and the
# modules Debian builds as dynamic ones (geoip, image_filter, perl, xslt,
# mail, stream: each would want a library more); the tests need ssl, realip,
# auth_request, stub_status, proxy, rewrite and map.
DEBIAN_FLAGS=(--with-compat --with-debug --with-pcre-jit
              --with-http_ssl_module --with-http_stub_status_module
              --with-http_realip_module --with-http_auth_request_module
              --with-http_v2_module --with-http_dav_module
              --with-http_slice_module --with-threads
              --with-http_addition_module --with-http_gunzip_module
              --with-http_gzip_static_module --with-http_sub_module
              --with-http_secure_link_module)
CC_OPT="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2"
LD_OPT="-Wl,-z,relro -Wl,-z,now"

build() {
    local version=$1 out=$STATIC_DIR/nginx-$1
    local tree=$out/src objs=$out/objs
    local flags=(--prefix="$out" --error-log-path=stderr
                 "${DEBIAN_FLAGS[@]}"
                 --builddir="$objs" --add-module="$repo")

    local stamp
    stamp="$(cat "$repo/config") $CC_OPT $LD_OPT ${flags[*]}"
    if [ ! -f "$objs/Makefile" ] || [ "$(cat "$objs/.itsm-stamp" 2>/dev/null)" != "$stamp" ]; then
        say "configuring nginx $version with --add-module=$repo"
        (cd "$tree" && ./configure "${flags[@]}" \
            --with-cc-opt="$CC_OPT" --with-ld-opt="$LD_OPT") > "$out/configure.log" 2>&1 \
            || { tail -n 30 "$out/configure.log" >&2; die "configure of nginx $version failed (log: $out/configure.log)"; }
        echo "$stamp" > "$objs/.itsm-stamp"
    fi

    say "compiling nginx $version (make -j$STATIC_JOBS)"
    (cd "$tree" && make -s -j"$STATIC_JOBS" -f "$objs/Makefile" binary) > "$out/make.log" 2>&1 \
        || { grep -E -m 30 'error|Error' "$out/make.log" >&2; die "compiling nginx $version failed (log: $out/make.log)"; }

    # the module is in the binary, not beside it: checked before the binary
    # goes to sbin/ (a failed check leaves the last good one there); in
    # variables, not piped into grep -q, which pipefail would fail
    local v
    v=$("$objs/nginx" -V 2>&1)
    [[ $v == *"--add-module=$repo"* ]] \
        || die "$objs/nginx -V does not list --add-module=$repo"

    # the order of the modules (see the comment in config): ours just
    # before the copy filter, where the .so's ngx_module_order puts them
    # when it is loaded; ngx_modules.c lists the names in nginx's order
    local names want="ngx_http_itsm_module ngx_http_itsm_callback_module ngx_http_itsm_access_module ngx_http_copy_filter_module"
    names=$(sed -n '/ngx_module_names\[\]/,/NULL/s/^ *"\(.*\)",$/\1/p' "$objs/ngx_modules.c" | tr '\n' ' ')
    [[ " $names" == *" $want "* ]] \
        || die "the modules in $objs/ngx_modules.c are not in the order $want: $names"

    mkdir -p "$out/sbin" "$out/logs"
    cp "$objs/nginx" "$out/sbin/.nginx.new"
    mv -f "$out/sbin/.nginx.new" "$out/sbin/nginx"

    say "$out/sbin/nginx (nginx $version, the module linked in; $(cat "$out/SOURCE"))"
}

for v in "$@"; do
    fetch "$v"
    build "$v"
done
