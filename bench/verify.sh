#!/usr/bin/env bash
# The cost of verifying a signature, side by side in one run.  nginx with
# this module (one worker) answers, for a 1 KiB and a 64 KiB JSON alert:
#
#   return        "return 204": the rewrite phase; the body is never read
#   plain         a bare endpoint (try_files =204); the body is discarded
#   verify        the same behind itsm_signature standard_webhooks: the
#                 body is read whole, HMAC-SHA256 over id.timestamp.body
#   rotation      the same with two secrets, the second one matching (two
#                 MACs a request: the cost of a rotation window)
#   alert         the alert endpoint (itsm_pass): parse, render, deliver to
#                 an internal "return 201" location (no ITSM is called)
#   alert+verify  the same behind itsm_signature
#
# wrk on loopback, BENCH_SECONDS a case.  Per case: requests/s, and the
# nginx worker's CPU time per request (user + system, from /proc), which
# is what verification adds to; each against its baseline (plain, alert).
#
#   bench/verify.sh     BENCH_SECONDS=10 BENCH_CONNECTIONS=16 BENCH_PORT=18480
#                       BENCH_WRK_CPU=same|other  MODULE=<.so>
#
# BENCH_WRK_CPU: on a small VM, wrk on the other CPU makes every request a
# cross-CPU wakeup, whose cost (interrupts, counted to nginx) grows with
# any change of latency; "same" (the default with 2 CPUs or fewer) puts wrk
# on nginx's CPU, which measures nginx's own work more exactly.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-16}
port=${BENCH_PORT:-18480}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
module=${MODULE:-$repo/build/ngx_http_itsm_module.so}
dir=$repo/bench/results/verify
mkdir -p "$dir/logs"
: > "$dir/logs/error.log"

command -v wrk >/dev/null || { echo "bench: wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -f "$module" ] || util/build.sh normal

cpus=$(nproc)
where=${BENCH_WRK_CPU:-$([ "$cpus" -le 2 ] && echo same || echo other)}
if [ "$cpus" -ge 2 ]; then
    affinity="worker_cpu_affinity 01;"
    if [ "$where" = same ]; then wrk_cpu="taskset -c 0"; else wrk_cpu="taskset -c 1"; fi
else
    affinity=
    wrk_cpu=
fi

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
old=whsec_$(printf 'an older secret, 24 byte' | base64)

cat > "$dir/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
$affinity
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    client_max_body_size 1m;
    client_body_buffer_size 128k;
    itsm_max_body 1m;
    itsm_signature_tolerance 1d;

    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"title": "{{ title }}", "severity": "{{ severity }}"}';
        ticket_id  /id;
    }

    server {
        listen 127.0.0.1:$port backlog=4096;
        location = /return   { return 204; }
        location = /plain    { try_files /.none =204; }
        location = /verify   {
            itsm_signature standard_webhooks secret=$secret;
            try_files /.none =204;
        }
        location = /rotation {
            itsm_signature standard_webhooks secret=$old secret=$secret;
            try_files /.none =204;
        }
        location /_itsm/mock/ { internal; return 201 '{"id":"1"}'; }
        location = /alert { itsm_pass mock; }
        location = /alert+verify {
            itsm_signature standard_webhooks secret=$secret;
            itsm_pass mock;
        }
    }
}
CONF

nginx_args=(-p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log")
"$NGINX_BIN" -t -q "${nginx_args[@]}"
"$NGINX_BIN" "${nginx_args[@]}"
trap '"$NGINX_BIN" "${nginx_args[@]}" -s quit 2>/dev/null || true' EXIT
sleep 0.3
worker=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -n 1)
tck=$(getconf CLK_TCK)

# a JSON alert of $1 bytes, its signature, and a wrk script
make_case() {
    local size=$1 body=$dir/body-$1.json lua=$dir/post-$1.lua
    perl -e 'my $n = shift; my $pad = "x" x ($n - 96);
             print qq({"key":"bench-1","title":"Disk full","severity":"critical","status":"firing","description":"$pad"});' \
         "$size" > "$body"

    local id=msg_bench ts hexkey sig
    ts=$(date +%s)
    hexkey=$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    sig=$({ printf '%s.%s.' "$id" "$ts"; cat "$body"; } \
          | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64)

    cat > "$lua" <<LUA
local f = assert(io.open("$body", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "$id"
wrk.headers["webhook-timestamp"] = "$ts"
wrk.headers["webhook-signature"] = "v1,$sig"
LUA
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }

# one wrk run: "requests/s cpu-us-per-request"; fails on any non-2xx
run_case() {
    local uri=$1 size=$2 out a b n
    a=$(cpu_ticks)
    out=$($wrk_cpu wrk -t1 -c"$conns" -d"${seconds}s" -s "$dir/post-$size.lua" \
          "http://127.0.0.1:$port$uri")
    b=$(cpu_ticks)
    echo "$out" > "$dir/wrk-$size-${uri#/}.txt"
    if echo "$out" | grep -q 'Non-2xx'; then
        echo "bench: $uri answered non-2xx:" >&2
        echo "$out" >&2
        exit 1
    fi
    n=$(echo "$out" | awk '/requests in/ { print $1 }')
    echo "$out" | awk -v a="$a" -v b="$b" -v n="$n" -v t="$tck" \
        '/^Requests\/sec/ { printf "%s %.2f\n", $2, (b - a) / t / n * 1e6 }'
}

cases=(return plain verify rotation alert alert+verify)

echo "bench: nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*/||'), 1 worker; wrk -t1 -c$conns on the $where CPU, ${seconds}s a case; $cpus CPUs"
echo

printf '%-7s %-13s %11s %9s %14s %9s\n' body case 'requests/s' ratio 'CPU us/req' ratio
for size in 1024 65536; do
    make_case "$size"

    # warm up
    $wrk_cpu wrk -t1 -c"$conns" -d2s -s "$dir/post-$size.lua" \
        "http://127.0.0.1:$port/alert+verify" > /dev/null

    declare -A rps=() cpu=()
    for c in "${cases[@]}"; do
        read -r rps[$c] cpu[$c] < <(run_case "/$c" "$size")
    done

    label=$([ "$size" -eq 1024 ] && echo "1 KiB" || echo "64 KiB")
    for c in "${cases[@]}"; do
        base=plain
        case $c in alert*) base=alert ;; esac
        printf '%-7s %-13s %11s %9s %14s %9s\n' "$label" "$c" "${rps[$c]}" \
            "$(awk -v a="${rps[$c]}" -v b="${rps[$base]}" 'BEGIN { printf "%.3f", a / b }')" \
            "${cpu[$c]}" \
            "$(awk -v a="${cpu[$c]}" -v b="${cpu[$base]}" 'BEGIN { printf "%.3f", a / b }')"
    done

    for pair in verify:plain alert+verify:alert; do
        v=${pair%%:*} p=${pair##*:}
        awk -v l="$label" -v v="$v" -v p="$p" -vrv="${rps[$v]}" -vrp="${rps[$p]}" \
            -vcv="${cpu[$v]}" -vcp="${cpu[$p]}" 'BEGIN {
            printf "        %s: verification adds %.1f%% time per request to \"%s\" (req/s), %.1f%% nginx CPU\n",
                   l, (rp / rv - 1) * 100, p, (cv / cp - 1) * 100 }'
    done
    echo
done

if grep -q '\[\(error\|alert\|crit\)\]' "$dir/logs/error.log"; then
    echo "bench: errors in $dir/logs/error.log:" >&2
    grep '\[\(error\|alert\|crit\)\]' "$dir/logs/error.log" | head >&2
    exit 1
fi
