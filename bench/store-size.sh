#!/usr/bin/env bash
# How much of an itsm_store one key takes, to size "itsm_store size=".
# nginx with this module (one worker) takes Alertmanager groups of 1000
# alerts (one key each, a hash of BENCH_KEY_LEN characters, created in an
# internal "return 201" ITSM) until
# BENCH_KEYS keys are open, then resolves them; the status page's
# used_bytes and keys are read at each step:
#
#   keys  used_bytes  bytes/key   for keys of BENCH_KEY_LEN characters
#
#   bench/store-size.sh     BENCH_KEYS=100000 BENCH_KEY_LEN=16 BENCH_PORT=49010
#                           MODULE=<.so> BENCH_STORE=lmdb|redis
#                           BENCH_REDIS_PORT=49011
#
# BENCH_STORE=redis: the same keys in "itsm_store redis" on a private
# redis-server (no persistence); the columns are then Redis' used_memory
# above the empty server's, and the keys are the records Redis holds
# (DBSIZE: a key's claim is gone once its request ended).  Resolved keys
# stay until retention= (7 days here), so "resolved" shows what they take
# meanwhile.
#
# The store is LMDB: a key costs its record (about 170 bytes with a ticket
# id of a few characters) and its key, in B-tree pages of 4 KiB filled
# half to full, plus the pages LMDB copies on write and has not reused
# yet.  used_bytes counts pages in use (the free list excluded), so the
# figure is what a size= must hold; keep a margin (README, "Sizing the
# store").
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

keys=${BENCH_KEYS:-100000}
keylen=${BENCH_KEY_LEN:-16}
port=${BENCH_PORT:-49010}
store=${BENCH_STORE:-lmdb}
redis_port=${BENCH_REDIS_PORT:-49011}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
module=${MODULE:-$repo/build/ngx_http_itsm_module.so}
dir=$repo/bench/results/store-size-$store
rm -rf "$dir"
mkdir -p "$dir/logs"

[ -f "$module" ] || util/build.sh normal

case $store in
    lmdb)  store_conf="itsm_store $dir/state.mdb size=1024m;" ;;
    redis) store_conf="itsm_redis address=127.0.0.1:$redis_port prefix=size:;
    itsm_store redis;"
           redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
               --appendonly no --dir "$dir" --logfile "$dir/redis.log" \
               --daemonize yes --pidfile "$dir/redis.pid"
           for _ in $(seq 50); do
               [ "$(redis-cli -p "$redis_port" PING 2>/dev/null)" = PONG ] && break
               sleep 0.1
           done ;;
    *)     echo "store-size: BENCH_STORE is lmdb or redis" >&2; exit 2 ;;
esac

cat > "$dir/nginx.conf" <<_EOC_
load_module $module;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    client_max_body_size 64m;
    itsm_zone  itsm:16m;
    $store_conf
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        resolve   PUT "/ticket/{{ ticket_id }}";
        ticket_id /id;
    }
    server {
        listen 127.0.0.1:$port;
        location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$port/mock/; }
        location = /mock/ticket { return 201 '{"id":"12345"}'; }
        location /mock/ticket/ { return 200 '{}'; }
        location = /alerts {
            itsm_source alertmanager; itsm_max_alerts 1000; itsm_dedup off;
            itsm_max_body 16m; itsm_pass mock;
        }
        location = /status { itsm_status; }
    }
}
_EOC_

"$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf"
trap 'kill -QUIT $(cat "$dir/nginx.pid") 2>/dev/null || true
      [ ! -f "$dir/redis.pid" ] || kill "$(cat "$dir/redis.pid")" 2>/dev/null || true' EXIT
sleep 0.5

KEYS=$keys KEYLEN=$keylen PORT=$port STORE=$store REDIS_PORT=$redis_port perl -MIO::Socket::INET -MJSON::PP -MDigest::MD5=md5_hex -e '
    my ($n, $len, $port) = @ENV{qw(KEYS KEYLEN PORT)};
    sub http {
        my ($m, $u, $b) = @_;
        my $s = IO::Socket::INET->new("127.0.0.1:$port") or die $!;
        $b //= "";
        print $s "$m $u HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: "
               . length($b) . "\r\n\r\n$b";
        local $/; my $r = <$s>; my ($st) = $r =~ m{^HTTP/1\.\d (\d+)};
        my ($t) = $r =~ /\r\n\r\n(.*)\z/s; return ($st, $t);
    }
    sub group {
        my ($from, $k, $status) = @_;
        # keys in no order, as hashes and names are: B-tree pages fill
        # less than with keys in sequence
        my @a = map { my $key = substr(md5_hex($_) x 8, 0, $len);
                      qq({"status":"$status","labels":{"alertname":"a"},"startsAt":"2026-11-22T06:27:21Z","fingerprint":"$key"}) }
                $from .. $from + $k - 1;
        return qq({"status":"$status","alerts":[) . join(",", @a) . "]}";
    }
    my $base;
    sub usage {
        return map { $_->{keys}, $_->{used_bytes} }
               decode_json((http("GET", "/status"))[1])->{store}
            if $ENV{STORE} eq "lmdb";
        my $rc = "redis-cli -p $ENV{REDIS_PORT}";
        my ($mem) = `$rc INFO memory` =~ /^used_memory:(\d+)/m;
        $base //= $mem;
        return (0 + `$rc DBSIZE`, $mem - $base);
    }
    sub report {
        my ($what) = @_;
        my ($keys, $used) = usage();
        printf "%-9s %8d %12d %9.0f\n", $what, $keys, $used,
               $keys ? $used / $keys : 0;
    }
    printf "%-9s %8s %12s %9s   (keys of %d characters, %s)\n", "", "keys",
           $ENV{STORE} eq "lmdb" ? "used_bytes" : "used_memory", "bytes/key", $len, $ENV{STORE};
    report("empty");
    for (my $i = 0; $i < $n; $i += 1000) {
        my ($s) = http("POST", "/alerts", group($i, 1000, "firing"));
        die "create: $s\n" unless $s == 201;
        report("open") if ($i + 1000) % ($n / 4 < 1000 ? 1000 : $n / 4) == 0;
    }
    for (my $i = 0; $i < $n; $i += 1000) {
        my ($s) = http("POST", "/alerts", group($i, 1000, "resolved"));
        die "resolve: $s\n" unless $s == 200;
    }
    report("resolved");
'
