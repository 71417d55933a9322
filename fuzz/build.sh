#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, AddressSanitizer and UBSan) into
# fuzz/build/.  Each target is one plain cc line from the sources: the
# target and the parsers it feeds, which are pure (ngx_http_itsm_parse.h
# includes no nginx header), with jansson and libcrypto.  No nginx tree.
# The lines are printed as they run.
#
#   fuzz/build.sh [target ...]          (CC=clang-14)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

CC=${CC:-clang-14}
out=fuzz/build
m=ngx_itsm_module

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang-14)" >&2; exit 1; }

# the parsers each target feeds (jwt_parse.c decodes base64url with
# sig_parse.c's decoder; json_parse is checked against the depth scan)
declare -A sources=(
    [fuzz_sig_headers]="$m/ngx_http_itsm_sig_parse.c"
    [fuzz_jwt]="$m/ngx_http_itsm_jwt_parse.c $m/ngx_http_itsm_sig_parse.c"
    [fuzz_jwks]="$m/ngx_http_itsm_jwt_parse.c $m/ngx_http_itsm_sig_parse.c"
    [fuzz_json_depth]="$m/ngx_http_itsm_json_depth.c"
    [fuzz_json_parse]="$m/ngx_http_itsm_json_parse.c $m/ngx_http_itsm_json_string.c $m/ngx_http_itsm_json_depth.c"
    [fuzz_json_escape]="$m/ngx_http_itsm_json_escape.c"
    [fuzz_redact]="$m/ngx_http_itsm_redact.c"
)

flags=(-g -O1 -Wall -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -fno-omit-frame-pointer -I"$m")

if [ $# -eq 0 ]; then
    set -- $(cd fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi

mkdir -p "$out"

for t in "$@"; do
    [ -n "${sources[$t]:-}" ] || { echo "fuzz: no sources listed for $t in $0" >&2; exit 1; }

    # shellcheck disable=SC2206
    cmd=("$CC" "${flags[@]}" "fuzz/$t.c" ${sources[$t]} -ljansson -lcrypto
         -o "$out/$t")
    echo "${cmd[*]}"
    "${cmd[@]}"
done

echo "fuzz: built in $out"
