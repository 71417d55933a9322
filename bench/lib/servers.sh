# bench/lib/servers.sh - sourced by bench/compare.sh and bench/memory.sh:
# finds what the benchmarks need, writes the configurations of
# bench/conf/ with this run's paths and ports, and starts and stops the
# servers: the mock ITSM, nginx with the module (store on tmpfs and on the
# disk, and on Redis with its private redis-server), the Lua peer and the
# Python peer.  Every process started here is
# remembered by its pid and stopped by that pid, nothing else.
#
# Environment (defaults in brackets):
#   MODULE            the module to measure [<repo>/build/ngx_http_itsm_module.so;
#                     built with util/build.sh when missing]
#   NGINX_BIN         [/usr/sbin/nginx]
#   BENCH_PORT        first of the ten ports used [51000]
#   BENCH_RUN_DIR     where configs, logs, temp files and the tmpfs store go
#                     [a new directory under /dev/shm]
#   BENCH_DISK_DIR    a directory on a real disk for the disk store
#                     [/var/tmp]; refused when it is tmpfs or ramfs
#   BENCH_STORE_SIZE  itsm_store size= [4096m]
#   BENCH_DICT_SIZE   the Lua peer's lua_shared_dict [1024m]
#   BENCH_PY_THREADS  gunicorn gthread threads of the Python peer's one worker [4]
#   REDIS_BIN         the Redis store's server [redis-server]
#   BENCH_REDIS_FSYNC its appendfsync: everysec or always [everysec]

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$bench/.." && pwd)

NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
MODULE=${MODULE:-$repo/build/ngx_http_itsm_module.so}
BENCH_PORT=${BENCH_PORT:-51000}
BENCH_STORE_SIZE=${BENCH_STORE_SIZE:-4096m}
BENCH_DICT_SIZE=${BENCH_DICT_SIZE:-1024m}
BENCH_PY_THREADS=${BENCH_PY_THREADS:-4}
REDIS_BIN=${REDIS_BIN:-redis-server}
BENCH_REDIS_FSYNC=${BENCH_REDIS_FSYNC:-everysec}

LUA_MODULE=/usr/lib/nginx/modules/ngx_http_lua_module.so
NDK_MODULE=/usr/lib/nginx/modules/ndk_http_module.so

# ports: the mock, the module on tmpfs, the module on disk, Lua, Python,
# the module on Redis, and its redis-server
MOCK_PORT=$BENCH_PORT
MOD_PORT=$((BENCH_PORT + 1))
DISK_PORT=$((BENCH_PORT + 2))
LUA_PORT=$((BENCH_PORT + 3))
PY_PORT=$((BENCH_PORT + 4))
REDIS_MOD_PORT=$((BENCH_PORT + 5))
REDIS_PORT=$((BENCH_PORT + 6))

# the Standard Webhooks secret of the signed endpoints (a benchmark value)
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

bench_die() { echo "bench: $*" >&2; exit 1; }
bench_say() { echo "bench: $*" >&2; }

# bench_need WHAT...: every tool and package the named servers need
bench_need() {
    local w
    command -v wrk >/dev/null || bench_die "wrk is missing: util/deps.sh bench"
    command -v perl >/dev/null || bench_die "perl is missing"
    [ -x "$NGINX_BIN" ] || bench_die "no nginx at $NGINX_BIN"
    for w in "$@"; do
        case $w in
            module)
                if [ ! -f "$MODULE" ]; then
                    [ "$MODULE" = "$repo/build/ngx_http_itsm_module.so" ] \
                        || bench_die "MODULE=$MODULE does not exist"
                    bench_say "building the module (util/build.sh normal)"
                    "$repo/util/build.sh" normal >&2
                fi ;;
            lua)
                [ -f "$LUA_MODULE" ] && [ -f "$NDK_MODULE" ] \
                    || bench_die "the Lua peer needs libnginx-mod-http-lua: util/deps.sh bench"
                [ -f /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so ] || [ -n "$(find /usr/lib -path '*lua/5.1/cjson.so' 2>/dev/null | head -n 1)" ] \
                    || bench_die "the Lua peer needs lua-cjson: util/deps.sh bench"
                [ -f /usr/share/lua/5.1/openssl/hmac.lua ] \
                    || bench_die "the Lua peer needs lua-luaossl: util/deps.sh bench" ;;
            python)
                command -v gunicorn >/dev/null \
                    || bench_die "the Python peer needs gunicorn: util/deps.sh bench"
                python3 -c 'import flask, requests' 2>/dev/null \
                    || bench_die "the Python peer needs python3-flask and python3-requests: util/deps.sh bench" ;;
            redis)
                command -v "$REDIS_BIN" >/dev/null && command -v redis-cli >/dev/null \
                    || bench_die "the module on Redis needs redis-server and redis-cli (apt-get install redis-server)"
                case $BENCH_REDIS_FSYNC in
                    everysec|always) ;;
                    *) bench_die "BENCH_REDIS_FSYNC must be everysec or always" ;;
                esac ;;
        esac
    done
}

# bench_dirs: the run directory (tmpfs) and the disk directory (a real disk)
bench_dirs() {
    local fs
    if [ -n "${BENCH_RUN_DIR:-}" ]; then
        RUN=$BENCH_RUN_DIR
        mkdir -p "$RUN"
    else
        [ -d /dev/shm ] || bench_die "no /dev/shm: set BENCH_RUN_DIR to a tmpfs directory"
        RUN=$(mktemp -d /dev/shm/itsm-bench.XXXXXX)
    fi
    # nginx's workers run as another user: they must reach the stores
    chmod 755 "$RUN"
    fs=$(stat -f -c %T "$RUN")
    [ "$fs" = tmpfs ] || bench_say "warning: the run directory $RUN is on $fs, not tmpfs"
    TMPFS_STORE=$RUN/store
    mkdir -p "$TMPFS_STORE"

    local disk=${BENCH_DISK_DIR:-/var/tmp}
    mkdir -p "$disk"
    fs=$(stat -f -c %T "$disk")
    case $fs in
        tmpfs|ramfs|devtmpfs|overlayfs|'')
            bench_die "BENCH_DISK_DIR=$disk is on '$fs', not a disk: point it at a directory on a block device" ;;
    esac
    DISK_STORE=$(mktemp -d "$disk/itsm-bench-store.XXXXXX")
    chmod 755 "$DISK_STORE"
    DISK_INFO="$DISK_STORE on $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$DISK_STORE" | head -n 1 | awk '{ print $1, $2, $3 }') ($(df -h --output=size,avail "$DISK_STORE" | tail -n 1 | awk '{ print $1 " size, " $2 " free" }'))"
}

# bench_render TEMPLATE OUT [NAME PORT STORE]: bench/conf/TEMPLATE with
# this run's values
bench_render() {
    local tpl=$bench/conf/$1 out=$2 name=${3:-} port=${4:-} store=${5:-} slow=${SLOW:-}
    sed -e "s|@RUN@|$RUN|g" -e "s|@BENCH@|$bench|g" -e "s|@MODULE@|$MODULE|g" \
        -e "s|@MOCK_PORT@|$MOCK_PORT|g" -e "s|@LUA_PORT@|$LUA_PORT|g" \
        -e "s|@SECRET@|$SECRET|g" -e "s|@STORE_SIZE@|$BENCH_STORE_SIZE|g" \
        -e "s|@DICT_SIZE@|$BENCH_DICT_SIZE|g" -e "s|@SLOW@|$slow|g" \
        -e "s|@NAME@|$name|g" -e "s|@PORT@|$port|g" -e "s|@STORE@|$store|g" \
        "$tpl" > "$out"
}

# nginx started here, by name: name -> config file
declare -A BENCH_NGINX=()
BENCH_PIDS=()

bench_nginx_start() {   # NAME CONF
    local name=$1 conf=$2
    "$NGINX_BIN" -t -q -p "$RUN/" -c "$conf" -e "$RUN/$name-error.log" \
        || bench_die "nginx -t failed for $name ($conf)"
    # the ports lie in Linux's ephemeral range (32768-60999): a client's
    # connection can hold one for a while, so try again before giving up
    local try
    for try in 1 2 3 4 5; do
        if "$NGINX_BIN" -p "$RUN/" -c "$conf" -e "$RUN/$name-error.log" 2> "$RUN/$name-start.err"; then
            BENCH_NGINX[$name]=$conf
            return 0
        fi
        grep -q 'Address already in use' "$RUN/$name-start.err" || break
        bench_say "nginx $name: its port is in use, trying again in 2 s"
        sleep 2
    done
    cat "$RUN/$name-start.err" >&2
    bench_die "nginx $name did not start"
}

bench_nginx_pid() { cat "$RUN/$1.pid" 2>/dev/null; }

# the pid of the (one) worker of nginx NAME
bench_nginx_worker() {
    local master
    master=$(bench_nginx_pid "$1") || return 1
    pgrep -P "$master" | head -n 1
}

bench_wait_port() {   # PORT PATH: until something answers HTTP there (10 s)
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1$2" && return 0
        sleep 0.1
    done
    bench_die "nothing answers on 127.0.0.1:$1"
}

bench_start_mock() {   # [slow]
    SLOW=$([ "${1:-}" = slow ] && echo 'limit_rate 100;' || true) \
        bench_render mock.conf "$RUN/mock.conf"
    bench_nginx_start mock "$RUN/mock.conf"
    bench_wait_port "$MOCK_PORT" /mock_status
}

# the mock, slow (for the checks) or fast (for timing), by a reload
bench_mock_mode() {   # slow|fast
    local old i
    SLOW=$([ "$1" = slow ] && echo 'limit_rate 100;' || true) \
        bench_render mock.conf "$RUN/mock.conf"
    old=$(bench_nginx_worker mock)
    "$NGINX_BIN" -p "$RUN/" -c "$RUN/mock.conf" -e "$RUN/mock-error.log" -s reload
    # the reload is done when the old worker is gone and a new one is there
    for i in $(seq 1 100); do
        if ! kill -0 "$old" 2>/dev/null && [ -n "$(bench_nginx_worker mock)" ]; then
            return 0
        fi
        sleep 0.1
    done
    bench_die "the mock did not reload"
}

bench_start_module() {   # NAME PORT STOREDIR
    cp "$bench/conf/rt-create.json" "$RUN/rt-create.json"
    bench_render module.conf "$RUN/$1.conf" "$1" "$2" "$3"
    bench_nginx_start "$1" "$RUN/$1.conf"
    bench_wait_port "$2" /return200
}

# the module with its records on Redis (itsm_store redis): module.conf with
# its LMDB itsm_store line replaced by itsm_redis + itsm_store redis
bench_start_module_redis() {   # NAME PORT
    cp "$bench/conf/rt-create.json" "$RUN/rt-create.json"
    bench_render module.conf "$RUN/$1.conf.lmdb" "$1" "$2" ""
    grep -q '^ *itsm_store .*state\.mdb' "$RUN/$1.conf.lmdb" \
        || bench_die "bench/conf/module.conf has no LMDB itsm_store line to replace"
    sed -e "s|^\( *\)itsm_store .*state\.mdb.*|\1itsm_redis address=127.0.0.1:$REDIS_PORT;\n\1itsm_store redis;|" \
        "$RUN/$1.conf.lmdb" > "$RUN/$1.conf"
    rm -f "$RUN/$1.conf.lmdb"
    bench_nginx_start "$1" "$RUN/$1.conf"
    bench_wait_port "$2" /return200
}

# a private redis-server for the module on Redis, in the run's directory:
# no RDB snapshots, the AOF on (appendfsync BENCH_REDIS_FSYNC); stopped by
# its pid with the others
bench_start_redis() {
    mkdir -p "$RUN/redis"
    "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" \
        --save '' --appendonly yes --appendfsync "$BENCH_REDIS_FSYNC" \
        --daemonize no --logfile "$RUN/redis/redis.log" &
    BENCH_PIDS+=($!)
    REDIS_PID=$!
    local i
    for i in $(seq 1 100); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RUN/redis/redis.log" >&2 2>/dev/null || true
    bench_die "redis-server did not start on 127.0.0.1:$REDIS_PORT"
}

# Redis' persistence, as the run used it
bench_redis_info() {
    echo "redis: $("$REDIS_BIN" --version | awk '{ print $3 }') on 127.0.0.1:$REDIS_PORT, $(redis-cli -p "$REDIS_PORT" config get save | tail -n 1 | sed 's/^$/save off/'), appendonly $(redis-cli -p "$REDIS_PORT" config get appendonly | tail -n 1), appendfsync $(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -n 1), dir $RUN/redis ($(stat -f -c %T "$RUN/redis"))"
}

bench_start_lua() {
    bench_render lua.conf "$RUN/lua.conf"
    bench_nginx_start lua "$RUN/lua.conf"
    bench_wait_port "$LUA_PORT" /alerts
}

# gunicorn, one worker, gthread: threads wait on the ITSM while the GIL
# serves others; keep-alive connections from wrk, as nginx has them
bench_start_python() {
    ITSM_URL=http://127.0.0.1:$MOCK_PORT/REST/2.0/ticket \
    ITSM_CONNECTOR=rt WEBHOOK_SECRET=$SECRET WEBHOOK_TOLERANCE=86400 \
        gunicorn --chdir "$bench/python" --workers 1 --worker-class gthread \
            --threads "$BENCH_PY_THREADS" --worker-connections 1000 \
            --bind "127.0.0.1:$PY_PORT" --backlog 2048 --keep-alive 75 \
            --log-level warning --error-logfile "$RUN/python-error.log" \
            --pid "$RUN/python.pid" itsm_gateway:app \
            > "$RUN/python-out.log" 2>&1 &
    BENCH_PIDS+=($!)
    PY_PID=$!
    bench_wait_port "$PY_PORT" /alerts
}

bench_python_worker() { pgrep -P "$PY_PID" | head -n 1; }

bench_stop_all() {
    local name pid
    for name in "${!BENCH_NGINX[@]}"; do
        "$NGINX_BIN" -p "$RUN/" -c "${BENCH_NGINX[$name]}" -e "$RUN/$name-error.log" \
            -s quit 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # nginx's masters are not our children (they daemonize): wait for them
    local i
    for i in $(seq 1 50); do
        local alive=0
        for name in "${!BENCH_NGINX[@]}"; do
            pid=$(bench_nginx_pid "$name") || continue
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    BENCH_NGINX=()
    BENCH_PIDS=()
}

# errors in the servers' logs: prints them, returns 1 when there were any
bench_log_errors() {
    local f bad=0
    for f in "$RUN"/*-error.log; do
        [ -f "$f" ] || continue
        if grep -q '\[\(error\|alert\|crit\|emerg\)\]' "$f"; then
            echo "bench: errors in $f:" >&2
            grep '\[\(error\|alert\|crit\|emerg\)\]' "$f" | head -n 5 >&2
            bad=1
        fi
    done
    if [ -f "$RUN/python-error.log" ] && grep -q 'Traceback\|ERROR' "$RUN/python-error.log"; then
        echo "bench: errors in $RUN/python-error.log:" >&2
        grep -m 5 'Traceback\|ERROR' "$RUN/python-error.log" >&2
        bad=1
    fi
    return $bad
}

# one line about the machine and the code measured
bench_machine() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) CPUs ($cpu), $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    local code=
    [ "$MODULE" = "$repo/build/ngx_http_itsm_module.so" ] \
        && code="worktree at $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'), "
    echo "nginx: $("$NGINX_BIN" -v 2>&1 | sed 's|.*/||'); module: $MODULE (${code}built $(date -u -r "$MODULE" '+%Y-%m-%d %H:%M UTC'))"
}
