#!/usr/bin/env bash
# bench/memory.sh - the module's memory: the store's bytes per open key
# with many keys, and the worker's memory over a soak.
#
#   bench/memory.sh [keys|soak|all]        (default all)
#
#   keys   makes BENCH_KEYS open tickets (one create per key through the
#          alert endpoint and the mock ITSM), then reads the status page:
#          the store's bytes in use / keys (goal: <= 256 bytes per key at
#          1M keys), the file's size, the worker's memory.
#   soak   BENCH_SOAK seconds of a mixed load (bench/wrk/soak.lua: 79%
#          duplicates, 10% creates, 10% signed duplicates, 1% invalid
#          JSON), sampling the worker's memory every BENCH_SAMPLE seconds:
#          RssAnon (the heap: what a leak grows; goal: flat), and RssFile
#          and RssShmem, which grow with the keys: the store file's pages
#          mapped so far (RssFile on a disk, RssShmem on tmpfs) and the
#          zone's pages touched so far (RssShmem).  Prints each sample,
#          then the first, last and largest and the slope of RssAnon.
#   all    keys, then soak on the same nginx.
#
# Environment (defaults in brackets):
#   BENCH_KEYS         [1000000]     BENCH_SOAK     seconds [600]
#   BENCH_SAMPLE       seconds [10]  BENCH_SIZE     alert bytes [1024]
#   BENCH_STORE        tmpfs|disk [tmpfs]
#   BENCH_THREADS      wrk threads [2]   BENCH_CONNECTIONS  [50]
#   BENCH_OUT          [bench/results/memory-<date>]
#   BENCH_PORT         [51010]: ports BENCH_PORT..+4 (apart from compare.sh's)
#   MODULE, NGINX_BIN, BENCH_DISK_DIR, BENCH_STORE_SIZE: bench/lib/servers.sh
#
# Smoke run: BENCH_KEYS=20000 BENCH_SOAK=30 BENCH_SAMPLE=5 bench/memory.sh
set -euo pipefail

BENCH_PORT=${BENCH_PORT:-51010}
. "$(dirname "$0")/lib/servers.sh"

what=${1:-all}
case $what in keys|soak|all) ;; *) bench_die "usage: $0 [keys|soak|all]" ;; esac
nkeys=${BENCH_KEYS:-1000000}
soak=${BENCH_SOAK:-600}
sample=${BENCH_SAMPLE:-10}
size=${BENCH_SIZE:-1024}
store=${BENCH_STORE:-tmpfs}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-50}
out=${BENCH_OUT:-$repo/bench/results/memory-$(date +%Y%m%d-%H%M%S)}

bench_need module
bench_dirs
mkdir -p "$out"
WRK_PID=
cleanup() {
    [ -z "$WRK_PID" ] || kill -INT "$WRK_PID" 2>/dev/null || true
    bench_stop_all
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$RUN" "$DISK_STORE"
}
trap cleanup EXIT

case $store in
    tmpfs) store_dir=$TMPFS_STORE ;;
    disk)  store_dir=$DISK_STORE ;;
    *)     bench_die "BENCH_STORE is tmpfs or disk" ;;
esac

{
    bench_machine
    echo "store: $store_dir ($store$([ "$store" = disk ] && echo ", $DISK_INFO")), size=$BENCH_STORE_SIZE; alerts of $size bytes; wrk -t$threads -c$conns"
} | tee "$out/machine.txt"

keylen=23
runid=$(printf '%06d' $(( (RANDOM * 32768 + RANDOM) % 1000000 )))
"$bench/lib/body.pl" "$size" "$keylen" > "$RUN/body.json"

bench_start_mock
bench_start_module mod "$MOD_PORT" "$store_dir"
worker=$(bench_nginx_worker mod)
status_url=http://127.0.0.1:$MOD_PORT/status

# "keys open bytes" of the store, from the status page
store_stats() {
    # the store object ends with "retention", not "bytes": read it as
    # JSON; the page walks every key, so give it time at a million
    curl -s --max-time 60 "$status_url" \
        | python3 -c 'import json, sys
s = json.load(sys.stdin)["store"]
print(s["keys"], s["open_tickets"], s["used_bytes"])'
}

# "VmRSS RssAnon RssFile RssShmem" of the worker, in KiB
worker_mem() {
    awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { v[$1] = $2 }
         END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' "/proc/$worker/status"
}

if [ "$what" != soak ]; then
    bench_say "making $nkeys open tickets"
    read -r k0 _ _ <<< "$(store_stats)"
    # a little over the count: wrk stops a thread after its limit, and the
    # loop below stops wrk once the store holds the keys
    per_thread=$(( (nkeys + threads - 1) / threads + conns ))
    BENCH_BODY=$RUN/body.json BENCH_KEY_PREFIX="k$runid-keys-" BENCH_LIMIT=$per_thread \
        wrk -t"$threads" -c"$conns" -d3600s -s "$bench/wrk/alert.lua" \
            "http://127.0.0.1:$MOD_PORT/alerts" > "$out/keys-wrk.txt" 2>&1 &
    WRK_PID=$!
    t0=$(date +%s)
    last=$t0 seen=0 moved=$t0
    while :; do
        sleep 5   # the status page walks every key: not too often
        read -r k _ _ <<< "$(store_stats)"
        made=$((k - k0))
        now=$(date +%s)
        [ "$made" -ge "$nkeys" ] && break
        kill -0 "$WRK_PID" 2>/dev/null || bench_die "wrk ended early: $(cat "$out/keys-wrk.txt")"
        if [ "$made" -gt "$seen" ]; then
            seen=$made moved=$now
        elif [ $((now - moved)) -ge 30 ]; then
            bench_die "no new key for 30 s, at $made of $nkeys"
        fi
        if [ $((now - last)) -ge 10 ]; then
            bench_say "$made keys after $((now - t0)) s"
            last=$now
        fi
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=
    sleep 1
    read -r k open bytes <<< "$(store_stats)"
    file=$(stat -c %s "$store_dir/state.mdb")
    used=$(du -k "$store_dir/state.mdb" | awk '{ print $1 * 1024 }')
    read -r rss anon fil shm <<< "$(worker_mem)"
    {
        echo "keys: $k in the store ($open open tickets), made $((k - k0)) in $(( $(date +%s) - t0 )) s; keys of $keylen bytes"
        awk -v b="$bytes" -v k="$k" -v f="$file" -v u="$used" 'BEGIN {
            printf "store: %d bytes in use (status page) = %.0f bytes per key (goal <= 256 at 1M keys)\n", b, b / k
            printf "store file: %d bytes long, %d bytes on %s = %.0f bytes per key\n", f, u, "its filesystem", u / k }'
        echo "worker memory (KiB): VmRSS $rss, RssAnon $anon, RssFile $fil, RssShmem $shm"
        grep -E 'Non-2xx|Socket errors' "$out/keys-wrk.txt" || true
    } | tee "$out/keys.txt"
fi

if [ "$what" != keys ]; then
    sig=$("$bench/lib/body.pl" "$size" "$keylen" sign "$SECRET" "msg_soak_$runid" "$(date +%s)" "s$runid-signed-key")
    bench_say "soak: $soak s, a sample every $sample s"
    BENCH_BODY=$RUN/body.json BENCH_KEY_PREFIX="s$runid-" BENCH_KEY="s$runid-signed-key" \
    BENCH_WEBHOOK_ID="msg_soak_$runid" BENCH_WEBHOOK_TS=$(date +%s) BENCH_WEBHOOK_SIG=$sig \
        wrk -t"$threads" -c"$conns" -d"${soak}s" -s "$bench/wrk/soak.lua" \
            "http://127.0.0.1:$MOD_PORT/alerts" > "$out/soak-wrk.txt" 2>&1 &
    WRK_PID=$!
    tsv=$out/soak.tsv
    printf 'seconds\tkeys\tVmRSS_kib\tRssAnon_kib\tRssFile_kib\tRssShmem_kib\n' > "$tsv"
    t0=$(date +%s)
    printf '%8s %10s %10s %10s %10s %10s\n' seconds keys VmRSS RssAnon RssFile RssShmem
    while kill -0 "$WRK_PID" 2>/dev/null; do
        read -r k _ _ <<< "$(store_stats)"
        read -r rss anon fil shm <<< "$(worker_mem)"
        t=$(( $(date +%s) - t0 ))
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$k" "$rss" "$anon" "$fil" "$shm" >> "$tsv"
        printf '%8s %10s %10s %10s %10s %10s\n' "$t" "$k" "$rss" "$anon" "$fil" "$shm"
        for _ in $(seq 1 "$sample"); do
            kill -0 "$WRK_PID" 2>/dev/null || break
            sleep 1
        done
    done
    wait "$WRK_PID" || true
    WRK_PID=
    read -r k _ _ <<< "$(store_stats)"
    read -r rss anon fil shm <<< "$(worker_mem)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(( $(date +%s) - t0 ))" "$k" "$rss" "$anon" "$fil" "$shm" >> "$tsv"
    {
        grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' "$out/soak-wrk.txt" | sed 's/^ */wrk: /'
        echo "(about 1% of the requests are invalid JSON on purpose: their 400s are the non-2xx)"
        # the first sample is taken as wrk starts: RssAnon from the second
        # on, so that the pools of the first connections count as a start
        awk -F'\t' 'NR > 2 {
                n++; t[n] = $1; a[n] = $4
                if ($4 > max) max = $4
                if (n == 1) { f = $4; ff = $3; fs = $6 }
                l = $4; lf = $5; ls = $6; lk = $2
            }
            END {
                if (n < 2) { print "soak: too few samples for a slope"; exit }
                for (i = 1; i <= n; i++) { st += t[i]; sa += a[i] }
                mt = st / n; ma = sa / n
                for (i = 1; i <= n; i++) { num += (t[i] - mt) * (a[i] - ma); den += (t[i] - mt) ^ 2 }
                slope = den > 0 ? num / den * 60 : 0
                printf "RssAnon (KiB): first %d, last %d, largest %d; change %+d KiB; slope %+.1f KiB/min over %d samples\n", f, l, max, l - f, slope, n
                printf "at the end: %d keys; RssFile %d KiB, RssShmem %d KiB (the store file pages mapped: RssFile on a disk, RssShmem on tmpfs; the zone: RssShmem)\n", lk, lf, ls
            }' "$tsv"
    } | tee "$out/soak.txt"
fi

bench_log_errors || bench_die "the servers logged errors (above)"
echo "bench: results in $out"
