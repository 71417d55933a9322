#!/usr/bin/env bash
# The duplicate path, side by side with plain nginx on the same machine and
# in the same run: an alert for a key whose ticket is already open (the
# module reads the store, counts the occurrence in the zone and answers,
# without a request to the ITSM), against "return 200" and a plain
# proxy_pass, for the same POST.  Then the store's bytes per open key
# with 100,000 keys.
#
#   bench/dup-path.sh [seconds per case, default 10] [keys, default 100000]
#
# Prints req/s for each case and the ratios.  Needs wrk (util/deps.sh test
# installs it) and a built module (make).
set -euo pipefail

secs=${1:-10}
nkeys=${2:-100000}
repo=$(cd "$(dirname "$0")/.." && pwd)
so=$repo/build/ngx_http_itsm_module.so
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
port=${BENCH_PORT:-18380}
conns=${BENCH_CONNECTIONS:-32}

[ -f "$so" ] || { echo "bench: build the module first (make)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }

dir=$(mktemp -d /tmp/itsm-bench.XXXXXX)
# the store on tmpfs when there is one: this measures the module, not fsync
state=$dir
[ -d /dev/shm ] && state=$(mktemp -d /dev/shm/itsm-bench.XXXXXX)
trap '"$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -s stop 2>/dev/null || true; sleep 0.3; rm -rf "$dir" "$state"' EXIT
mkdir -p "$dir/logs"

cat > "$dir/nginx.conf" <<CONF
load_module $so;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/cbt; proxy_temp_path $dir/pt;
    fastcgi_temp_path $dir/ft; uwsgi_temp_path $dir/ut; scgi_temp_path $dir/st;

    itsm_zone  itsm:32m;
    itsm_store $state/state.mdb size=256m;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}", "severity": "{{ severity }}"}';
        ticket_id /id;
    }
    upstream mock { server 127.0.0.1:$((port + 1)); keepalive 32; }

    server {
        listen 127.0.0.1:$port;
        location /_itsm/mock/ {
            internal;
            proxy_pass http://mock/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /alerts { itsm_pass mock; }
        location = /return { return 200 '{"status":"duplicate"}'; }
        location = /proxy {
            proxy_pass http://mock/ticket;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /status { itsm_status; }
    }
    server {
        listen 127.0.0.1:$((port + 1));
        keepalive_requests 100000;
        location = /ticket { return 201 '{"id":"T\$connection-\$connection_requests"}'; }
    }
}
CONF

"$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
sleep 0.3

alert='{"key": "db-1", "title": "Disk full on db-1", "severity": "critical", "description": "95% used", "status": "firing"}'
cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$alert'
wrk.headers["Content-Type"] = "application/json"
LUA

# the ticket of the benchmark's key is open: every request is a duplicate
curl -s -X POST -H 'Content-Type: application/json' -d "$alert" "http://127.0.0.1:$port/alerts" > /dev/null

run() {   # path -> req/s
    wrk -t1 -c"$conns" -d"${secs}s" -s "$dir/post.lua" "http://127.0.0.1:$port$1" \
        | awk '/^Requests\/sec/ { print $2 }'
}

echo "bench: $secs s per case, $conns connections, 1 nginx worker, wrk 1 thread, $(nproc) cores"
r_return=$(run /return)
r_proxy=$(run /proxy)
r_dup=$(run /alerts)

printf '%-44s %10s req/s\n' "return 200 (plain nginx)" "$r_return"
printf '%-44s %10s req/s\n' "proxy_pass to a mock (plain nginx)" "$r_proxy"
printf '%-44s %10s req/s\n' "itsm_pass, duplicate of an open ticket" "$r_dup"
awk -v d="$r_dup" -v r="$r_return" -v p="$r_proxy" 'BEGIN {
    printf "ratio duplicate / return 200:  %.2f (target >= 0.5)\n", d / r
    printf "ratio duplicate / proxy_pass:  %.2f\n", d / p }'

# the store with many open tickets: one create per key
cat > "$dir/keys.lua" <<LUA
counter = 0
limit = $nkeys
request = function()
    counter = counter + 1
    if counter > limit then
        wrk.thread:stop()
    end
    return wrk.format("POST", "/alerts", {["Content-Type"] = "application/json"},
                      '{"key": "bench-' .. counter .. '", "title": "Disk full"}')
end
LUA

wrk -t1 -c8 -d600s -s "$dir/keys.lua" "http://127.0.0.1:$port/alerts" > "$dir/keys.out" || true
status=$(curl -s "http://127.0.0.1:$port/status")
keys=$(echo "$status" | sed -n 's/.*"store":{"keys":\([0-9]*\).*/\1/p')
open=$(echo "$status" | sed -n 's/.*"open_tickets":\([0-9]*\).*/\1/p')
bytes=$(echo "$status" | sed -n 's/.*"store":{[^}]*"bytes":\([0-9]*\).*/\1/p')
file=$(stat -c %s "$state/state.mdb")
echo "store: $keys keys ($open open tickets), $bytes bytes in use, file $file bytes"
awk -v b="$bytes" -v k="$keys" 'BEGIN { printf "store bytes per key: %.0f (target <= 512)\n", b / k }'
