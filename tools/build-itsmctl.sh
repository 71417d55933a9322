#!/usr/bin/env bash
# Builds itsmctl (tools/itsmctl*.c, tools/itsm-token.c without its main).
#
#   tools/build-itsmctl.sh OUTPUT         (ITSMCTL_BUILD_DIR, CC)
#
# NGINX_TREE (a tree with src/) and NGINX_OBJS (its configured objs/)
# name another configured tree, e.g. Debian's package build: nginx-dev's
# /usr/share/nginx/src and dh_nginx's build directory.  CPPFLAGS, CFLAGS
# and LDFLAGS are added when set (dpkg-buildflags' hardening).
#
# "itsmctl render" links the module's own template, JSON and generic
# source files, unchanged, compiled against the nginx headers of the tree
# util/build.sh configured in ITSMCTL_BUILD_DIR (default build/), with
# tools/itsmctl_shim.c for the nginx core calls they make.  Each function
# gets a section and the link drops those render never reaches
# (--gc-sections), with the nginx calls only they make: the shim stays
# the calls the templates need.  The lines are printed as they run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

out=${1:?usage: tools/build-itsmctl.sh OUTPUT}
CC=${CC:-cc}
bdir=${ITSMCTL_BUILD_DIR:-build}

if [ -n "${NGINX_TREE:-}" ]; then
    tree=$NGINX_TREE/src
else
    tree=$(ls -d "$bdir"/nginx-*/src 2>/dev/null | head -n 1)
fi
nobjs=${NGINX_OBJS:-$bdir/objs}
[ -n "$tree" ] && [ -f "$nobjs/ngx_auto_config.h" ] || {
    echo "itsmctl: no configured nginx tree in $bdir (run BUILD_DIR=$bdir util/build.sh normal first, or make)" >&2
    exit 1
}

m=ngx_itsm_module
module=()
for f in template template_render json json_escape json_parse json_string \
         json_depth names alert source_generic hash conf; do
    module+=("$m/ngx_http_itsm_$f.c")
done
tool=(tools/itsmctl.c tools/itsmctl_send.c tools/itsmctl_dead.c
      tools/itsmctl_samples.c tools/itsm-token.c)
render=(tools/itsmctl_render.c tools/itsmctl_shim.c)

objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT

# shellcheck disable=SC2206 # the flags' words, as make would split them
flags=(-O2 -g ${CPPFLAGS:-} ${CFLAGS:-} -Wall -Werror -Wno-unused-parameter
       -ffunction-sections -fdata-sections)
# shellcheck disable=SC2206
ldflags=(${LDFLAGS:-})
incs=(-I"$tree/core" -I"$tree/event" -I"$tree/event/modules"
      -I"$tree/os/unix" -I"$nobjs" -I"$tree/http" -I"$tree/http/modules"
      -I"$tree/http/v2" -I"$m" -Itools)

# the version is the package's: debian/changelog's first entry
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)

o=()
for f in "${tool[@]}"; do
    cmd=("$CC" "${flags[@]}" -Wextra -DITSM_TOKEN_NO_MAIN
         -DITSMCTL_VERSION="\"${version:-unknown}\"" -Itools -c "$f"
         -o "$objs/$(basename "${f%.c}").o")
    echo "${cmd[*]}"; "${cmd[@]}"
    o+=("$objs/$(basename "${f%.c}").o")
done

for f in "${render[@]}" "${module[@]}"; do
    cmd=("$CC" "${flags[@]}" "${incs[@]}" -c "$f"
         -o "$objs/$(basename "${f%.c}").o")
    echo "${cmd[*]}"; "${cmd[@]}"
    o+=("$objs/$(basename "${f%.c}").o")
done

mkdir -p "$(dirname "$out")"
cmd=("$CC" "${ldflags[@]}" -o "$out" -Wl,--gc-sections "${o[@]}" -lcurl -ljansson -lcrypto -lm)
echo "${cmd[*]}"; "${cmd[@]}"
echo "itsmctl: built $out"
