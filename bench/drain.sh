#!/usr/bin/env bash
# bench/drain.sh - how fast the queue drains (issue 11: 10,000 queued
# alerts against an ITSM answering in 20 ms drain in under a minute with
# 2 workers, none lost, none doubled).
#
#   1. nginx with the module (BENCH_WORKERS workers, itsm_queue on, the
#      store on a real disk) and a mock ITSM (bench/lib/drain-mock.py)
#      that answers 503 ("down");
#   2. BENCH_ALERTS generic alerts, a new key each, are posted over
#      BENCH_CONNECTIONS connections: each must be answered 202 "queued";
#   3. the mock comes up, answering each create in BENCH_DELAY ms;
#   4. the status page is read every 0.2 s until "queued":0: the time from
#      step 3 to then is the drain time;
#   5. the mock's counts: exactly BENCH_ALERTS creates, one per key, none
#      doubled; the store: BENCH_ALERTS open tickets, no dead letter.
#
# Environment (defaults in brackets):
#   BENCH_ALERTS [10000]  BENCH_DELAY ms [20]  BENCH_WORKERS [2]
#   BENCH_CONNECTIONS [20]  BENCH_TIMEOUT s to wait for the drain [300]
#   BENCH_PORT [51030]: nginx on BENCH_PORT, the mock on BENCH_PORT+1
#   BENCH_DISK_DIR [/var/tmp] (refused on tmpfs), BENCH_STORE=tmpfs to
#   put the store on /dev/shm instead; MODULE, NGINX_BIN
# Prints one line: drain seconds, alerts/s, the counts; exits 1 when an
# alert was lost or doubled.
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$bench/.." && pwd)
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
MODULE=${MODULE:-$repo/build/ngx_http_itsm_module.so}
n=${BENCH_ALERTS:-10000}
delay=${BENCH_DELAY:-20}
workers=${BENCH_WORKERS:-2}
conns=${BENCH_CONNECTIONS:-20}
timeout=${BENCH_TIMEOUT:-300}
port=${BENCH_PORT:-51030}
mport=$((port + 1))
say() { echo "drain: $*" >&2; }
die() { say "$*"; exit 1; }
# a field of the status page's "store" object, from stdin
store_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)["store"][sys.argv[1]])' "$1"; }

[ -f "$MODULE" ] || die "no module at $MODULE: make"
run=$(mktemp -d /dev/shm/itsm-drain.XXXXXX)
chmod 755 "$run"
if [ "${BENCH_STORE:-disk}" = tmpfs ]; then
    store=$run
else
    disk=${BENCH_DISK_DIR:-/var/tmp}
    mkdir -p "$disk"
    case $(stat -f -c %T "$disk") in
        tmpfs|ramfs) die "BENCH_DISK_DIR=$disk is not on a disk" ;;
    esac
    store=$(mktemp -d "$disk/itsm-drain.XXXXXX")
    chmod 755 "$store"
fi

mock_pid=
cleanup() {
    [ ! -f "$run/nginx.pid" ] || kill -QUIT "$(cat "$run/nginx.pid")" 2>/dev/null || true
    [ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null || true
    sleep 0.5
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$run" "$store"
}
trap cleanup EXIT

cat > "$run/nginx.conf" <<_EOC_
load_module $MODULE;
worker_processes $workers;
pid $run/nginx.pid;
error_log $run/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $run/cbt;
    proxy_temp_path $run/pt;
    fastcgi_temp_path $run/ft;
    uwsgi_temp_path $run/ut;
    scgi_temp_path $run/st;

    itsm_zone       itsm:64m;
    itsm_store      $store/state.mdb size=1024m;
    itsm_replay_url http://127.0.0.1:$port/_itsm/replay;
    # every attempt while the ITSM is down is due again a second later, and
    # none becomes a dead letter: the drain starts as soon as it is up
    itsm_retry      attempts=1000 backoff=1s max=1s;

    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"key": "{{ key }}", "title": "{{ title }}"}';
        ticket_id /id;
    }

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /_itsm/mock/ {
            internal;
            proxy_pass http://127.0.0.1:$mport/;
            proxy_read_timeout 10s;
        }
        location = /alerts { itsm_queue on; itsm_retry_after 1s; itsm_pass mock; }
        location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
        location = /status { itsm_status; }
    }
}
_EOC_

python3 "$bench/lib/drain-mock.py" "$mport" "$delay" &
mock_pid=$!
"$NGINX_BIN" -p "$run/" -c "$run/nginx.conf" -e "$run/error.log"
for i in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/status" \
        && curl -s -o /dev/null "http://127.0.0.1:$mport/_mock/counts" && break
    sleep 0.1
done

say "$(date -u '+%F %T') UTC; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $workers workers; store $store ($(stat -f -c %T "$store")); mock delay $delay ms"
say "queueing $n alerts over $conns connections while the ITSM answers 503"

start=$(date +%s.%N)
N=$n C=$conns PORT=$port python3 - <<'_EOP_'
import http.client, json, os, sys, threading
n, c, port = int(os.environ["N"]), int(os.environ["C"]), int(os.environ["PORT"])
codes, lock, nxt = {}, threading.Lock(), [0]
def work():
    h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:
            i = nxt[0]; nxt[0] += 1
        if i >= n:
            return
        body = json.dumps({"key": "drain-%06d" % i, "title": "Disk full on host %d" % i,
                           "severity": "critical", "status": "firing"})
        h.request("POST", "/alerts", body, {"Content-Type": "application/json"})
        r = h.getresponse(); r.read()
        with lock:
            codes[r.status] = codes.get(r.status, 0) + 1
ts = [threading.Thread(target=work) for _ in range(c)]
[t.start() for t in ts]; [t.join() for t in ts]
print("drain: answers: " + ", ".join("%d x %d" % (v, k) for k, v in sorted(codes.items())), file=sys.stderr)
sys.exit(0 if codes.get(202, 0) == n else 1)
_EOP_
queued_s=$(echo "$(date +%s.%N) - $start" | bc)
say "queued in ${queued_s} s; the store: $(curl -s "http://127.0.0.1:$port/status" | store_field queued) queued"

curl -s -X POST "http://127.0.0.1:$mport/_mock/up" > /dev/null
up=$(date +%s.%N)
while :; do
    st=$(curl -s "http://127.0.0.1:$port/status")
    q=$(echo "$st" | store_field queued)
    [ "$q" = 0 ] && break
    [ -z "${BENCH_VERBOSE:-}" ] || say "$q queued"
    el=$(echo "$(date +%s.%N) - $up" | bc)
    [ "$(echo "$el > $timeout" | bc)" = 0 ] || { say "still $q queued after $timeout s"; break; }
    sleep 0.2
done
drain=$(echo "$(date +%s.%N) - $up" | bc)
counts=$(curl -s "http://127.0.0.1:$mport/_mock/counts")
st=$(curl -s "http://127.0.0.1:$port/status")
creates=$(echo "$counts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["creates"])')
keys=$(echo "$counts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"])')
doubled=$(echo "$counts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ndoubled"])')
printf 'drain: %d alerts drained in %.1f s (%.0f/s); the ITSM got %d creates for %d keys, %d keys doubled; store: %s\n' \
    "$n" "$drain" "$(echo "$n / $drain" | bc -l)" "$creates" "$keys" "$doubled" \
    "$(echo "$st" | store_field open_tickets) open tickets, $(echo "$st" | store_field queued) queued, $(echo "$st" | store_field dead_letters) dead letters"
grep -c '\[crit\]\|\[alert\]\|\[emerg\]' "$run/error.log" | sed 's/^/drain: crit|alert|emerg lines in error.log: /' >&2 || true
[ "$creates" = "$n" ] && [ "$keys" = "$n" ] && [ "$doubled" = 0 ]
