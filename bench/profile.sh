#!/usr/bin/env bash
# bench/profile.sh - where a request's instructions go: nginx with the
# module (bench/conf/module.conf, one process: master_process off) runs
# under valgrind's callgrind; for each case the counters are zeroed after a
# warm-up, exactly BENCH_N requests are sent one after the other over one
# keep-alive connection (bench/lib/send.pl), and the counters are dumped.
# Instruction counts do not depend on how busy the machine is, so two
# builds of the module can be compared across runs (wall time cannot).
#
#   bench/profile.sh                          # every case
#   BENCH_CASES="dup-1k dup-16k" bench/profile.sh
#   MODULE=/path/to/other.so bench/profile.sh
#
# Environment (defaults in brackets):
#   BENCH_N        requests measured per case [200]
#   BENCH_CASES    [return200-1k dup-1k dup-16k am-16k create-1k create-16k
#                   hmac-1k hmac-16k]
#   BENCH_OUT      [bench/results/profile-<date>]
#   BENCH_PORT     first of the ports used [51000]: the mock, the module
#   BENCH_STORE    tmpfs|disk [tmpfs]
#
# jansson's internal functions (its lexer) have no names in Debian's
# library: LD_LIBRARY_PATH=<a jansson 2.14 built with -g, by its own
# configure, which keeps the symbol versions> names them.
#
# Output: BENCH_OUT/<case>.callgrind (callgrind_annotate or kcachegrind
# read it), <case>.self.txt (self cost per request, bench/lib/cgself.pl),
# <case>.incl.txt (inclusive, callgrind_annotate), and
# summary.txt: instructions per request for each case.
set -euo pipefail

. "$(dirname "$0")/lib/servers.sh"

n=${BENCH_N:-200}
all="return200-1k dup-1k dup-16k am-16k create-1k create-16k hmac-1k hmac-16k"
read -r -a cases <<< "${BENCH_CASES:-$all}"
out=${BENCH_OUT:-$repo/bench/results/profile-$(date +%Y%m%d-%H%M%S)}

command -v valgrind >/dev/null || bench_die "valgrind is missing"
command -v callgrind_annotate >/dev/null || bench_die "callgrind_annotate is missing"

bench_need module
bench_dirs
mkdir -p "$out"

VG_PID=
cleanup() {
    if [ -n "$VG_PID" ]; then
        kill "$VG_PID" 2>/dev/null || true
        wait "$VG_PID" 2>/dev/null || true
    fi
    bench_stop_all
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$RUN" "$DISK_STORE"
}
trap cleanup EXIT

store=$TMPFS_STORE
[ "${BENCH_STORE:-tmpfs}" = disk ] && store=$DISK_STORE

bench_start_mock
cp "$bench/conf/rt-create.json" "$RUN/rt-create.json"
bench_render module.conf "$RUN/mod.conf" mod "$MOD_PORT" "$store"
# one process, in the foreground, for valgrind
sed -i -e '1i daemon off;\nmaster_process off;' "$RUN/mod.conf"
"$NGINX_BIN" -t -q -p "$RUN/" -c "$RUN/mod.conf" -e "$RUN/mod-error.log" \
    || bench_die "nginx -t failed"

valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
    --dump-instr=no --collect-jumps=no --compress-strings=no --compress-pos=no \
    "$NGINX_BIN" -p "$RUN/" -c "$RUN/mod.conf" -e "$RUN/mod-error.log" \
    > "$out/valgrind.log" 2>&1 &
VG_PID=$!
for _ in $(seq 1 600); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$MOD_PORT/return200" && break
    sleep 0.2
done

keylen=23
runid=$(printf '%06d' $(( (RANDOM * 32768 + RANDOM) % 1000000 )))
dup_key=$(printf 'dup-%s-%s' "$runid" xxxxxxxxxxxxxxxxxxxxxxx | cut -c1-$keylen)
hook_id=msg_profile_$runid
hook_ts=$(date +%s)
for size in 1024 16384; do
    "$bench/lib/body.pl" "$size" "$keylen" > "$RUN/body-$size.json"
    "$bench/lib/am-body.pl" "$size" "$runid-$size" > "$RUN/am-$size.json"
done

url=http://127.0.0.1:$MOD_PORT
send() { "$bench/lib/send.pl" "$@"; }

# the signed case: one id, one timestamp and one signature (wrk's way),
# sent by send.pl as the other cases are, so that the difference to
# dup-1k is the verification and its three headers
signed() {   # SIZE N
    local size=$1 count=$2 sig body=$RUN/signed-$1.json
    sig=$("$bench/lib/body.pl" "$size" "$keylen" sign "$SECRET" "$hook_id" "$hook_ts" "$dup_key")
    sed "s/@KEY@/$dup_key/" "$RUN/body-$size.json" > "$body"
    SEND_HEADERS="webhook-id: $hook_id\nwebhook-timestamp: $hook_ts\nwebhook-signature: $sig" \
        "$bench/lib/send.pl" "$url/alerts/signed" "$body" "$count"
}

run_case() {   # CASE COUNT
    local c=$1 count=$2 size
    case $c in *-16k) size=16384 ;; *) size=1024 ;; esac
    case $c in
        return200-*) send "$url/return200" "$RUN/body-$size.json" "$count" "$dup_key" ;;
        dup-*)       send "$url/alerts" "$RUN/body-$size.json" "$count" "$dup_key" ;;
        am-*)        send "$url/alerts/alertmanager" "$RUN/am-$size.json" "$count" ;;
        create-*)    send "$url/alerts" "$RUN/body-$size.json" "$count" "new:c$runid$RANDOM-" ;;
        hmac-*)      signed "$size" "$count" ;;
        *) bench_die "unknown case $c (known: $all)" ;;
    esac
}

printf '%-14s %8s %16s %14s  %s\n' case requests instructions "per request" answers \
    | tee "$out/summary.txt"
for c in "${cases[@]}"; do
    # prime (the duplicate key gets its ticket) and warm up
    run_case "$c" 20 > /dev/null
    callgrind_control -z "$VG_PID" > /dev/null 2>&1
    answers=$(run_case "$c" "$n")
    callgrind_control -d "$c" "$VG_PID" > /dev/null 2>&1
    sleep 1
    f=$(ls -t "$out"/cg."$VG_PID".* | head -n 1)
    mv "$f" "$out/$c.callgrind"
    total=$(awk '/^summary:/ { print $2 }' "$out/$c.callgrind")
    "$bench/lib/cgself.pl" "$out/$c.callgrind" "$n" 60 > "$out/$c.self.txt"
    callgrind_annotate --auto=no --inclusive=yes "$out/$c.callgrind" > "$out/$c.incl.txt" 2>/dev/null
    printf '%-14s %8d %16d %14d  %s\n' "$c" "$n" "$total" $((total / n)) "$answers" \
        | tee -a "$out/summary.txt"
done

bench_log_errors || true
echo "profile: $out"
