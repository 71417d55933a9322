#!/usr/bin/env bash
# bench/compare.sh - ngx_itsm_module against the same gateway written in
# Lua (Debian's libnginx-mod-http-lua) and in Python (Flask under
# gunicorn), against plain nginx's "return 200" and "proxy_pass", in one
# run: interleaved rounds, each case back to back within a round, ratios
# taken within a round, then their medians; and the module with its
# records on Redis (itsm_store redis) against LMDB.  bench/README.md says
# what each case does and how to read the figures.
#
#   bench/compare.sh
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS       rounds [5]
#   BENCH_SECONDS      seconds a case [10]
#   BENCH_WARMUP       seconds of warm-up per case and size, once [2]
#   BENCH_THREADS      wrk threads [2]
#   BENCH_CONNECTIONS  wrk connections [50]
#   BENCH_SIZES        alert sizes in bytes ["1024 16384"]
#   BENCH_CASES        the cases, in the order run [all of them:
#                      return200 proxy mod-dup lua-dup py-dup mod-create
#                      lua-create py-create mod-dup-disk mod-create-disk
#                      mod-dup-hmac lua-dup-hmac py-dup-hmac mod-am-dup
#                      mod-mixed mod-mixed-disk mod-dup-redis
#                      mod-create-redis]; also known, for
#                      bench/disk.sh: mod-dup-half mod-dup-half-disk (the
#                      duplicates alone with the connections and threads
#                      the mixed cases give them: half)
#   BENCH_OUT          where results go [bench/results/compare-<date>]
#   BENCH_SKIP_CHECK=1 skip the peer checks (bench/check.pl)
#   MODULE, NGINX_BIN, BENCH_PORT, BENCH_DISK_DIR, BENCH_PY_THREADS,
#   BENCH_REDIS_FSYNC (everysec|always), ...
#                      see bench/lib/servers.sh
#
# Needs: util/deps.sh bench; redis-server for the -redis cases.  Uses
# ports BENCH_PORT..BENCH_PORT+6 (+5, +6: the module on Redis, its Redis).
set -euo pipefail

. "$(dirname "$0")/lib/servers.sh"

rounds=${BENCH_ROUNDS:-5}
secs=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-50}
sizes=${BENCH_SIZES:-1024 16384}
all_cases="return200 proxy mod-dup lua-dup py-dup mod-create lua-create py-create mod-dup-disk mod-create-disk mod-dup-hmac lua-dup-hmac py-dup-hmac mod-am-dup mod-mixed mod-mixed-disk mod-dup-redis mod-create-redis"
read -r -a cases <<< "${BENCH_CASES:-$all_cases}"
out=${BENCH_OUT:-$repo/bench/results/compare-$(date +%Y%m%d-%H%M%S)}

[ "$threads" -le 9 ] || bench_die "BENCH_THREADS must be 1..9"

# what each case is: port path mode, mode = dup|create|mixed, + "signed";
# C_BODY: the body file (body: a generic alert; am: an Alertmanager group)
declare -A C_PORT C_PATH C_MODE C_SIGNED C_BODY
define() { C_PORT[$1]=$2; C_PATH[$1]=$3; C_MODE[$1]=$4; C_SIGNED[$1]=${5:-}; C_BODY[$1]=body; }
define return200       "$MOD_PORT"  /return200     dup
define proxy           "$MOD_PORT"  /proxy         dup
define mod-dup         "$MOD_PORT"  /alerts        dup
define mod-create      "$MOD_PORT"  /alerts        create
define mod-dup-disk    "$DISK_PORT" /alerts        dup
define mod-create-disk "$DISK_PORT" /alerts        create
define mod-dup-redis    "$REDIS_MOD_PORT" /alerts  dup
define mod-create-redis "$REDIS_MOD_PORT" /alerts  create
define mod-dup-hmac    "$MOD_PORT"  /alerts/signed dup signed
define mod-am-dup      "$MOD_PORT"  /alerts/alertmanager dup
C_BODY[mod-am-dup]=am
define mod-mixed       "$MOD_PORT"  /alerts        mixed
define mod-mixed-disk  "$DISK_PORT" /alerts        mixed
define mod-dup-half      "$MOD_PORT"  /alerts      duphalf
define mod-dup-half-disk "$DISK_PORT" /alerts      duphalf
define lua-dup         "$LUA_PORT"  /alerts        dup
define lua-create      "$LUA_PORT"  /alerts        create
define lua-dup-hmac    "$LUA_PORT"  /alerts/signed dup signed
define py-dup          "$PY_PORT"   /alerts        dup
define py-create       "$PY_PORT"   /alerts        create
define py-dup-hmac     "$PY_PORT"   /alerts/signed dup signed

need_disk= need_lua= need_py= need_am= need_redis=
for c in "${cases[@]}"; do
    [ -n "${C_PORT[$c]:-}" ] || bench_die "unknown case $c (known: $all_cases)"
    [ "${C_BODY[$c]}" != am ] || need_am=1
    case ${C_PORT[$c]} in
        "$DISK_PORT") need_disk=1 ;;
        "$LUA_PORT")  need_lua=1 ;;
        "$PY_PORT")   need_py=1 ;;
        "$REDIS_MOD_PORT") need_redis=1 ;;
    esac
done

bench_need module ${need_lua:+lua} ${need_py:+python} ${need_redis:+redis}
bench_dirs
mkdir -p "$out/raw"
: > "$out/checks.txt"
cleanup() {
    bench_stop_all
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$RUN" "$DISK_STORE"
}
trap cleanup EXIT

{
    bench_machine
    echo "run: $rounds rounds x ${secs} s a case, wrk -t$threads -c$conns --latency, sizes $sizes; one worker each (nginx: worker_processes 1; gunicorn: 1 worker, gthread, $BENCH_PY_THREADS threads)"
    echo "stores: tmpfs $TMPFS_STORE; disk $DISK_INFO"
} | tee "$out/machine.txt"

# -- the bodies: a key of KEYLEN bytes in each, new keys as wrk/alert.lua
#    makes them: <prefix of 13><thread>-<8 digits> = 23 bytes
keylen=23
runid=$(printf '%06d' $(( (RANDOM * 32768 + RANDOM) % 1000000 )))
dup_key=$(printf 'dup-%s-%s' "$runid" xxxxxxxxxxxxxxxxxxxxxxx | cut -c1-$keylen)
hook_id=msg_bench_$runid
hook_ts=$(date +%s)
declare -A SIG
for size in $sizes; do
    "$bench/lib/body.pl" "$size" "$keylen" > "$RUN/body-$size.json"
    SIG[$size]=$("$bench/lib/body.pl" "$size" "$keylen" sign "$SECRET" "$hook_id" "$hook_ts" "$dup_key")
    [ -z "$need_am" ] || "$bench/lib/am-body.pl" "$size" "$runid-$size" > "$RUN/am-$size.json"
done

# -- the servers, the mock slow for the checks
bench_start_mock slow
bench_start_module mod "$MOD_PORT" "$TMPFS_STORE"
[ -z "$need_disk" ] || bench_start_module mod-disk "$DISK_PORT" "$DISK_STORE"
if [ -n "$need_redis" ]; then
    bench_start_redis
    bench_start_module_redis mod-redis "$REDIS_MOD_PORT"
    bench_redis_info | tee -a "$out/machine.txt"
fi
[ -z "$need_lua" ] || bench_start_lua
[ -z "$need_py" ] || bench_start_python

# -- the checks: each endpoint measured does the job
endpoints=("mod $MOD_PORT")
[ -z "$need_disk" ] || endpoints+=("mod-disk $DISK_PORT")
[ -z "$need_redis" ] || endpoints+=("mod-redis $REDIS_MOD_PORT")
[ -z "$need_lua" ] || endpoints+=("lua $LUA_PORT")
[ -z "$need_py" ] || endpoints+=("py $PY_PORT")

if [ -z "${BENCH_SKIP_CHECK:-}" ]; then
    for e in "${endpoints[@]}"; do
        read -r name port <<< "$e"
        for size in $sizes; do
            "$bench/check.pl" --name "$name" --url "http://127.0.0.1:$port/alerts" \
                --mock "http://127.0.0.1:$MOCK_PORT/mock_status" --body "$RUN/body-$size.json" \
                || bench_die "the $name endpoint does not do the job: no timing"
            [ "$name" = mod-disk ] || [ "$name" = mod-redis ] && continue
            "$bench/check.pl" --name "$name" --url "http://127.0.0.1:$port/alerts/signed" \
                --mock "http://127.0.0.1:$MOCK_PORT/mock_status" --body "$RUN/body-$size.json" \
                --secret "$SECRET" \
                || bench_die "the $name signed endpoint does not do the job: no timing"
        done
    done | tee "$out/checks.txt"
fi
bench_mock_mode fast

mock_requests() {   # the mock's request count, this request included
    curl -s --max-time 5 "http://127.0.0.1:$MOCK_PORT/mock_status" | awk 'NR == 3 { print $3 }'
}

# the Alertmanager groups (module only): the first POST creates a ticket
# for each alert of the group, one request each; the second sends nothing
if [ -n "$need_am" ]; then
    for size in $sizes; do
        f=$RUN/am-$size.json
        n=$(grep -o '"fingerprint"' "$f" | wc -l)
        post_am() {
            curl -s -o "$RUN/am.out" -w '%{http_code}' -H 'Content-Type: application/json' \
                 --data-binary @"$f" "http://127.0.0.1:$MOD_PORT/alerts/alertmanager"
        }
        m0=$(mock_requests); c1=$(post_am); m1=$(mock_requests)
        created=$(grep -o '"outcome":"created"' "$RUN/am.out" | wc -l)
        c2=$(post_am); m2=$(mock_requests)
        dups=$(grep -o '"outcome":"duplicate"' "$RUN/am.out" | wc -l)
        line="mod /alerts/alertmanager ($(wc -c < "$f") bytes, a group of $n): first $c1, $created created, $((m1 - m0 - 1)) requests at the mock; again $c2, $dups duplicate, $((m2 - m1 - 1)) sent"
        if [ "$c1" = 201 ] && [ "$created" = "$n" ] && [ $((m1 - m0 - 1)) = "$n" ] \
           && [ "$c2" = 200 ] && [ "$dups" = "$n" ] && [ $((m2 - m1 - 1)) = 0 ]; then
            echo "check ok: $line"
        else
            echo "check FAILED: $line"
            bench_die "the module's Alertmanager endpoint does not do the job: no timing"
        fi
    done | tee -a "$out/checks.txt"
fi

# -- the duplicate keys: one ticket each, before timing
for e in "${endpoints[@]}"; do
    read -r name port <<< "$e"
    for size in $sizes; do
        code=$(sed "s/@KEY@/$dup_key/" "$RUN/body-$size.json" \
               | curl -s -o "$RUN/prime.out" -w '%{http_code}' -H 'Content-Type: application/json' \
                      --data-binary @- "http://127.0.0.1:$port/alerts")
        case $code in
            201|200) ;;
            *) bench_die "priming $name with $dup_key answered $code: $(cat "$RUN/prime.out")" ;;
        esac
    done
done

# -- one wrk run; prints "rps p99_ms requests non2xx errors"
wrk_stats() {   # FILE
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/)  return v * 1000
            if (v ~ /m$/)  return v * 60000
            return v
        }
        /^Requests\/sec/            { rps = $2 }
        /^ +99%/                    { p99 = ms($2) }
        / requests in /             { n = $1 }
        /Non-2xx or 3xx responses/  { bad = $NF }
        /Socket errors/             { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
        END { printf "%s %.3f %s %d %d\n", rps, p99, n, bad, err }' "$1"
}

wrk_run() {   # CASE MODE SIZE SECONDS THREADS CONNS KEY-PREFIX OUTFILE
    local c=$1 mode=$2 size=$3 s=$4 t=$5 n=$6 prefix=$7 file=$8
    local envs=("BENCH_BODY=$RUN/${C_BODY[$c]}-$size.json" "BENCH_KEY=$dup_key")
    [ "$mode" != create ] || envs+=("BENCH_KEY_PREFIX=$prefix")
    [ -z "${C_SIGNED[$c]}" ] \
        || envs+=("BENCH_WEBHOOK_ID=$hook_id" "BENCH_WEBHOOK_TS=$hook_ts" "BENCH_WEBHOOK_SIG=${SIG[$size]}")
    env "${envs[@]}" wrk -t"$t" -c"$n" -d"${s}s" --timeout 30s --latency -s "$bench/wrk/alert.lua" \
        "http://127.0.0.1:${C_PORT[$c]}${C_PATH[$c]}" > "$file" 2>&1
}

# a key prefix of 13 bytes, new for every run of every case: a create
# case never meets a key made before
seq_no=0
next_prefix() { seq_no=$((seq_no + 1)); PREFIX=$(printf 'k%s-%04d-' "$runid" "$seq_no"); }

# the processes that serve a case: nginx's one worker, gunicorn's one
# worker; on Redis the worker and redis-server (whose CPU is the store's)
server_pid() {   # CASE
    case ${C_PORT[$1]} in
        "$MOD_PORT")  bench_nginx_worker mod ;;
        "$DISK_PORT") bench_nginx_worker mod-disk ;;
        "$LUA_PORT")  bench_nginx_worker lua ;;
        "$PY_PORT")   bench_python_worker ;;
        "$REDIS_MOD_PORT") echo "$(bench_nginx_worker mod-redis) $REDIS_PID" ;;
    esac
}
tck=$(getconf CLK_TCK)
cpu_ticks() {   # PID...: user + system, summed
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}

# one case: sets RES to "rps p99 requests non2xx errors extra-rps cpu-us-per-request"
run_case() {   # CASE SIZE SECONDS LABEL
    local c=$1 size=$2 s=$3 f=$out/raw/$4-$2-$1 pid t0 t1 n
    pid=$(server_pid "$c")
    t0=$(cpu_ticks $pid)
    if [ "${C_MODE[$c]}" = mixed ]; then
        # duplicates and creates at once, half the connections each: the
        # duplicates' latency while creates write the store
        local half=$((conns / 2)) th=$(( threads > 1 ? threads / 2 : 1 )) p1 p2
        next_prefix
        wrk_run "$c" dup "$size" "$s" "$th" "$half" "" "$f.txt" & p1=$!
        wrk_run "$c" create "$size" "$s" "$th" "$half" "$PREFIX" "$f-creates.txt" & p2=$!
        wait "$p1" "$p2"
        RES="$(wrk_stats "$f.txt") $(wrk_stats "$f-creates.txt" | awk '{ print $1 }')"
        n=$(cat "$f.txt" "$f-creates.txt" | awk '/ requests in / { n += $1 } END { print n + 0 }')
    elif [ "${C_MODE[$c]}" = duphalf ]; then
        # the duplicates of a mixed case without its creates
        wrk_run "$c" dup "$size" "$s" "$(( threads > 1 ? threads / 2 : 1 ))" \
            "$((conns / 2))" "" "$f.txt"
        RES="$(wrk_stats "$f.txt") -"
        n=$(awk '/ requests in / { print $1 }' "$f.txt")
    else
        next_prefix
        wrk_run "$c" "${C_MODE[$c]}" "$size" "$s" "$threads" "$conns" "$PREFIX" "$f.txt"
        RES="$(wrk_stats "$f.txt") -"
        n=$(awk '/ requests in / { print $1 }' "$f.txt")
    fi
    t1=$(cpu_ticks $pid)
    RES="$RES $(awk -v a="$t0" -v b="$t1" -v n="${n:-0}" -v t="$tck" \
                 'BEGIN { printf "%.1f", (n > 0 ? (b - a) / t / n * 1e6 : 0) }')"
}

# -- warm-up (LuaJIT traces, Python's first requests, page cache)
if [ "$warmup" != 0 ]; then
    bench_say "warm-up: ${warmup} s per case and size"
    for size in $sizes; do
        for c in "${cases[@]}"; do
            run_case "$c" "$size" "$warmup" warmup
            read -r _ _ _ bad err _ <<< "$RES"
            [ "$bad" = 0 ] && [ "$err" = 0 ] \
                || bench_say "warning: warm-up of $c ($size bytes): $bad non-2xx, $err socket errors (see $out/raw/warmup-$size-$c.txt)"
        done
    done
fi

# -- the rounds
tsv=$out/results.tsv
printf 'round\tsize\tcase\trps\tp99_ms\trequests\tnon2xx\terrors\textra_rps\tcpu_us\n' > "$tsv"
for r in $(seq 1 "$rounds"); do
    echo "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"
    for size in $sizes; do
        for c in "${cases[@]}"; do
            run_case "$c" "$size" "$secs" "r$r"
            read -r rps p99 n bad err extra cpu <<< "$RES"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$size" "$c" "$rps" "$p99" "$n" "$bad" "$err" "$extra" "$cpu" >> "$tsv"
            bench_say "round $r/$rounds, $size bytes, $c: $rps req/s, p99 $p99 ms, $cpu us CPU/request$([ "$extra" = - ] || echo " (creates alongside: $extra req/s)")$([ "$bad$err" = 00 ] || echo ", $bad non-2xx, $err socket errors")"
        done
    done
done
echo "end: load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"

# the stores at the end
for e in "mod $MOD_PORT" ${need_disk:+"mod-disk $DISK_PORT"} ${need_redis:+"mod-redis $REDIS_MOD_PORT"}; do
    read -r name port <<< "$e"
    curl -s "http://127.0.0.1:$port/status" | sed -n 's/.*"store":\({[^}]*}\).*/\1/p' \
        | sed "s/^/store of $name at the end: /" >> "$out/load.txt"
done
[ -z "$need_redis" ] \
    || echo "redis at the end: $(redis-cli -p "$REDIS_PORT" dbsize) keys, $(redis-cli -p "$REDIS_PORT" info memory | sed -n 's/^used_memory_human:\([^\r]*\).*/\1/p') used, AOF $(du -sh "$RUN/redis" | cut -f1), $(redis-cli -p "$REDIS_PORT" info commandstats | sed -n 's/^cmdstat_\([a-z]*\):calls=\([0-9]*\).*/\2 \1/p' | sort -rn | head -n 3 | paste -sd, - | sed 's/,/, /g') (calls; the commands inside the scripts, the checks and the warm-up counted)" >> "$out/load.txt"

errors=
bench_log_errors || errors=1
"$bench/lib/summary.pl" "$out" | tee "$out/summary.txt"
echo "bench: results in $out"
[ -z "$errors" ] || bench_die "the servers logged errors (above): the figures may not be what they seem"
