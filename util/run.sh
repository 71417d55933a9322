#!/usr/bin/env bash
# The quickstart: nginx with the module on 127.0.0.1:8080 in front of a
# private Request Tracker on 127.0.0.1:8081, all state under ./var.
#
#   util/run.sh start | stop | status
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

var=$repo/var
qs=$var/quickstart
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
nginx_args=(-p "$qs/" -c "$qs/nginx.conf" -e "$qs/logs/error.log")

nginx_running() {
    [ -f "$qs/nginx.pid" ] && kill -0 "$(cat "$qs/nginx.pid")" 2>/dev/null
}

render_config() {
    local line
    mkdir -p "$qs/logs"
    line=$(callback_token)
    # the callback (issue 12): the token's hash in the connector, and the
    # location RT's scrip posts to (util/rt-callback.pl)
    sed -e "s|@MODULE_PATH@|$repo/build/ngx_http_itsm_module.so|g" \
        -e "s|@PREFIX@|$qs|g" examples/quickstart/nginx.conf \
    | awk -v line="$line" '
        { print }
        /^        location   \/_itsm\/rt;$/ {
            print ""
            print "        # RT tells the module what people did (util/rt-callback.pl):"
            print "        # the hash of the token made by build/itsm-token (make run)"
            print "        " line
            print "        callback_status rt;"
        }
        /^        location = \/itsm\/status \{$/ { status = NR }
    ' \
    | awk '
        /^        location = \/itsm\/status \{$/ {
            print "        # RT'"'"'s callback scrip posts status changes here"
            print "        location = /itsm/callback/rt {"
            print "            allow 127.0.0.1;"
            print "            deny all;"
            print "            itsm_callback rt profile=rt;"
            print "        }"
            print ""
        }
        { print }
    ' > "$qs/nginx.conf"
    cp examples/quickstart/*.json "$qs/"
}

# --- callbacks: a token for RT's callback scrip, made once with
# build/itsm-token; RT reads it (with the url) from var/rt/itsm-callback
# (util/rt.sh names that file in RT's config), nginx gets only its hash
callback_token() {
    local file=$var/rt/itsm-callback tok
    if [ ! -s "$file" ]; then
        tok=$(build/itsm-token new rt | sed -n 2p)
        (umask 077 && printf 'url http://127.0.0.1:8080/itsm/callback/rt\ntoken %s\n' "$tok" > "$file")
        echo "run: a callback token for RT's scrip is in $file" >&2
    fi
    sed -n 's/^token //p' "$file" | build/itsm-token hash
}

# --- access phase: the whsec_ secret of /alerts/signed, made once (24
# random bytes), never overwritten; util/send-signed.sh reads it
signed_secret() {
    local file=$var/signed.secret
    [ -s "$file" ] && return 0
    mkdir -p "$var"
    (umask 077 && printf 'whsec_%s\n' "$(openssl rand -base64 24)" > "$file")
    echo "run: wrote a new signing secret to $file"
}
# --- end of access phase

start() {
    util/deps.sh build rt
    util/build.sh normal
    make -s build/itsm-token
    util/rt.sh start 8081 "$var/rt"
    signed_secret
    render_config

    "$NGINX_BIN" -t -q "${nginx_args[@]}"
    if nginx_running; then
        "$NGINX_BIN" "${nginx_args[@]}" -s reload
        echo "run: nginx reloaded (pid $(cat "$qs/nginx.pid"))"
    else
        "$NGINX_BIN" "${nginx_args[@]}"
        echo "run: nginx started on 127.0.0.1:8080 (logs in $qs/logs)"
    fi

    cat <<TXT

Send an alert:

  curl -s -X POST http://127.0.0.1:8080/alerts/generic \\
       -H 'Content-Type: application/json' \\
       -d '{"key":"disk-web1","title":"Disk full on web1","severity":"critical","description":"/var is 98% full","status":"firing"}'

The answer names the ticket id.  See the ticket in Request Tracker:

  curl -s -u root:password http://127.0.0.1:8081/REST/2.0/ticket/<id>
  web UI: http://127.0.0.1:8081/   (root / password: demo-only credentials)

A signed alert (Standard Webhooks, secret in var/signed.secret):

  util/send-signed.sh examples/quickstart/signed-alert.json

The loop back: resolve the ticket in RT (web UI, or the REST API below);
RT's scrip tells the module at once, and the next firing of the alert
reopens the ticket instead of commenting into a resolved one:

  curl -s -u root:password -X PUT -H 'Content-Type: application/json' \\
       -d '{"Status":"resolved"}' http://127.0.0.1:8081/REST/2.0/ticket/<id>
  curl -s http://127.0.0.1:8080/itsm/status     # "callbacks": {"applied": 1, ...}

Send the same delivery again (-i/-t repeat its id and timestamp): 200
"duplicate", no ticket; change one byte of the file: 401.

Stop everything with: make stop
TXT
}

stop() {
    if nginx_running; then
        "$NGINX_BIN" "${nginx_args[@]}" -s quit
        for _ in $(seq 50); do nginx_running || break; sleep 0.1; done
        echo "run: nginx stopped"
    else
        echo "run: nginx is not running"
    fi
    util/rt.sh stop "$var/rt"
}

status() {
    if nginx_running; then echo "nginx: running (pid $(cat "$qs/nginx.pid"))"; else echo "nginx: stopped"; fi
    util/rt.sh status "$var/rt" || true
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
