#!/usr/bin/env bash
# util/ci-deb.sh - the Debian package from a clone to a ticket and back:
# what an SRE does with it on a fresh Debian 12 machine, checked step by
# step.  Runs as root (it installs, removes and purges the package).
#
#   util/ci-deb.sh            (CI_DEB_PORT=27100 CI_DEB_RT_PORT=18291)
#
#   1. make deb (util/deb.sh: dpkg-buildpackage, lintian)
#   2. apt-get install ./build/deb/libnginx-mod-http-itsm_*.deb: the module,
#      its snippet enabled in /etc/nginx/modules-enabled/, the nginx ABI in
#      Depends, /var/lib/nginx/itsm owned by www-data, itsm-token; the
#      default configuration (which loads the snippet) passes nginx -t
#   3. examples/request-tracker copied from /usr/share/doc/, with only what
#      a user changes: addresses and ports (RT's, the listen ports) and the
#      credential (RT's demo account instead of the fake token); and where
#      this second nginx writes besides the store, so that it touches
#      nothing of the system nginx's or of other nginx instances on the
#      machine: its pid file, its logs and its temp directories (an nginx
#      started as root makes /var/lib/nginx/proxy etc. its workers' own).
#      The module's lines are the example's: load_module of the package's
#      .so, the store /var/lib/nginx/itsm/rt.mdb, user www-data.
#      nginx -t, start, an alert, the ticket in a private RT (util/rt.sh)
#   4. apt-get remove: the default configuration still passes nginx -t, no
#      itsm snippet is enabled, the module is gone, the store is not
#   5. apt-get install again: the snippet is enabled again, and the store
#      still knows the alert's ticket: its "resolved" resolves that ticket
#   6. apt-get purge: the state directory and every link are gone
#
# Exits non-zero with "ci-deb: FAIL: ..." at the first failure; the package
# is purged and the private nginx and RT stopped on any exit.  A package
# installed before the run is refused, not touched.  CI_DEB_KEEP=1 keeps
# the work directory (configuration, logs, RT) for a look afterwards;
# CI_DEB_NO_BUILD=1 takes the package make deb left in build/deb/.
set -euo pipefail

me=ci-deb
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${CI_DEB_PORT:-27100}
replay_port=$((port + 1))
rt_port=${CI_DEB_RT_PORT:-18291}
pkg=libnginx-mod-http-itsm
doc=/usr/share/doc/$pkg
state=/var/lib/nginx/itsm
snippet=/etc/nginx/modules-enabled/50-mod-http-itsm.conf
RT_AUTH="Basic cm9vdDpwYXNzd29yZA=="      # util/rt.sh's demo root/password

t0=$(date +%s)
say()  { echo "$me: $*"; }
fail() { echo "$me: FAIL: $*" >&2; exit 1; }
step() { say "--- $* (at $(( $(date +%s) - t0 )) s)"; }

(( EUID == 0 )) || fail "run as root: it installs, removes and purges $pkg"

pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true; }

case $(pkg_status) in
    ""|not-installed) ;;
    *) fail "$pkg is on this machine already ($(pkg_status)); this script
       installs, removes and purges it: apt-get purge $pkg first" ;;
esac
[ ! -e "$state" ] || fail "$state exists already (left by another install?); move it away first"

work=$(mktemp -d /tmp/ci-deb.XXXXXX)
chmod 0755 "$work"
ex=$work/example
nginx_running=0
rt_running=0
installed_by_us=0

cleanup() {
    local rc=$?
    set +e
    if (( nginx_running )); then
        /usr/sbin/nginx -c "$ex/nginx.conf" -s stop 2>/dev/null
        sleep 1
    fi
    (( rt_running )) && "$repo/util/rt.sh" stop "$work/rt" >/dev/null 2>&1
    if (( installed_by_us )) && [ "$(pkg_status)" != not-installed ] && [ -n "$(pkg_status)" ]; then
        say "cleanup: apt-get purge $pkg"
        apt-get -y -q purge "$pkg" >/dev/null 2>&1
    fi
    if (( rc != 0 )) && [ -f "$work/error.log" ]; then
        echo "$me: the example's error log (last 20 lines):" >&2
        tail -n 20 "$work/error.log" >&2
    fi
    if [[ ${CI_DEB_KEEP:-0} == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    say "$( ((rc == 0)) && echo PASS || echo "FAILED (exit $rc)") in $(( $(date +%s) - t0 )) s"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

APT=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600)

# ---- 1. the package ------------------------------------------------------
if [[ ${CI_DEB_NO_BUILD:-0} == 1 ]]; then
    step "1. (CI_DEB_NO_BUILD=1: the package already in build/deb/)"
else
    step "1. make deb"
    make -C "$repo" deb || fail "make deb failed"
fi
version=$(cd "$repo" && dpkg-parsechangelog -S Version)
deb=$repo/build/deb/${pkg}_${version}_$(dpkg-architecture -q DEB_HOST_ARCH).deb
[ -f "$deb" ] || fail "make deb made no $deb"
"$repo/util/deps.sh" rt         # the private RT, curl

# ---- 2. install ------------------------------------------------------------
check_installed() {
    [ "$(pkg_status)" = installed ] || fail "$pkg is not installed ($(pkg_status))"
    [ -f /usr/lib/nginx/modules/ngx_http_itsm_module.so ] \
        || fail "no /usr/lib/nginx/modules/ngx_http_itsm_module.so"
    [ -L "$snippet" ] || fail "$snippet is not a link (the snippet is not enabled)"
    [ "$(readlink "$snippet")" = /usr/share/nginx/modules-available/mod-http-itsm.conf ] \
        || fail "$snippet points to $(readlink "$snippet")"
    grep -qx 'load_module modules/ngx_http_itsm_module.so;' "$snippet" \
        || fail "$snippet does not load the module: $(cat "$snippet")"
    [ -d "$state" ] || fail "no state directory $state"
    [ "$(stat -c %U:%G "$state")" = www-data:www-data ] \
        || fail "$state is owned by $(stat -c %U:%G "$state"), not www-data"
    /usr/sbin/nginx -t -q 2>"$work/t.err" \
        || fail "nginx -t of the default configuration: $(cat "$work/t.err")"
    # nginx -T to a file: grep -q would end the pipe early (SIGPIPE, and
    # pipefail would fail a pipe that matched)
    /usr/sbin/nginx -T > "$work/T.txt" 2>&1 || fail "nginx -T failed: $(tail -n 3 "$work/T.txt")"
    grep -q '^load_module modules/ngx_http_itsm_module.so;' "$work/T.txt" \
        || fail "the default configuration does not load the module (nginx -T)"
}

step "2. apt-get install $deb"
installed_by_us=1
"${APT[@]}" install "$deb" || fail "apt-get install $deb failed"
check_installed
depends=$(dpkg-query -W -f='${Depends}' "$pkg")
abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
[[ ", $depends," == *", $abi,"* ]] || fail "Depends lacks $abi: $depends"
token_out=$(itsm-token new rt) || fail "itsm-token new rt failed"
grep -q '^callback_token sha256:[0-9a-f]\{64\};$' <<<"$token_out" \
    || fail "itsm-token new rt printed no callback_token line: $token_out"
# the other tools: their answers to --version and a missing argument (2)
itsmctl --version | grep -q '^itsmctl ' || fail "itsmctl --version printed no version"
rc=0; itsm-migrate >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "itsm-migrate without a store exited $rc, not 2 (usage)"
for m in itsm-token itsmctl itsm-migrate; do
    [ -f "/usr/share/man/man1/$m.1.gz" ] || fail "no manual page for $m"
done
say "installed: Depends: $depends"

# ---- 3. the example, an alert, its ticket ----------------------------------
step "3. examples/request-tracker from $doc against a private RT on :$rt_port"
rt_running=1
"$repo/util/rt.sh" start "$rt_port" "$work/rt" || fail "util/rt.sh start failed"

[ -f "$doc/examples/request-tracker/nginx.conf" ] || fail "no $doc/examples/request-tracker/nginx.conf"
cp -r "$doc/examples/request-tracker" "$ex"
# addresses, ports and the credential; the pid file, logs and temp
# directories of this second nginx
mkdir -p "$work/log" "$work/tmp"
sed -i \
    -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g" \
    -e "s|127\.0\.0\.1:8089|127.0.0.1:$replay_port|g" \
    -e "s|^\(\s*server\s\+\)rt\.example\.com:443;|\1127.0.0.1:$rt_port;|" \
    -e "s|proxy_pass\(\s\+\)https://rt\.example\.com/|proxy_pass\1http://rt.example.com/|" \
    -e "s|\"token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\"|\"$RT_AUTH\"|" \
    -e "s|^pid .*|pid        $work/nginx.pid;|" \
    -e "s|^error_log .*|error_log  $work/error.log  info;|" \
    -e "s|/var/log/nginx/|$work/log/|g" \
    -e "s|^http {|http {\\n    client_body_temp_path $work/tmp/body;\\n    proxy_temp_path $work/tmp/proxy;\\n    fastcgi_temp_path $work/tmp/fastcgi;\\n    uwsgi_temp_path $work/tmp/uwsgi;\\n    scgi_temp_path $work/tmp/scgi;\\n|" \
    "$ex/nginx.conf"
# every substitution took (a changed example must change this script too)
for want in "127.0.0.1:$port;" "127.0.0.1:$replay_port/_itsm/replay" \
            "server  127.0.0.1:$rt_port;" "http://rt.example.com/;" \
            "$RT_AUTH" "$work/nginx.pid" "$work/error.log" \
            "proxy_temp_path $work/tmp/proxy;" \
            "itsm_store  $state/rt.mdb"; do
    grep -qF -- "$want" "$ex/nginx.conf" || fail "the example's nginx.conf has no '$want' after the substitutions"
done
if grep -n 'rt\.example\.com:443\|https://rt\.example\|FAKEFAKE\|:8080\|:8089\|/var/log/\|/run/' "$ex/nginx.conf"; then
    fail "the example still names the lines above"
fi

/usr/sbin/nginx -t -c "$ex/nginx.conf" 2>"$work/t.err" \
    || fail "nginx -t of the example: $(cat "$work/t.err")"

start_example() {
    /usr/sbin/nginx -c "$ex/nginx.conf" || fail "the example's nginx did not start"
    nginx_running=1
    for _ in $(seq 1 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/itsm/status" && return 0
        sleep 0.2
    done
    fail "the example's nginx does not answer on 127.0.0.1:$port"
}

stop_example() {
    /usr/sbin/nginx -c "$ex/nginx.conf" -s quit || fail "nginx -s quit failed"
    for _ in $(seq 1 50); do
        [ -f "$work/nginx.pid" ] || { nginx_running=0; return 0; }
        sleep 0.2
    done
    fail "the example's nginx did not stop"
}

# POST an alert; sets $code and $body
alert() {
    local status=$1
    body=$(curl -s -o - -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"key\":\"$key\",\"title\":\"$key Disk full on web1\",\"severity\":\"critical\",\"description\":\"/var is 98% full\",\"status\":\"$status\"}" \
        "http://127.0.0.1:$port/alerts/generic") || fail "curl to the example failed"
    code=${body##*$'\n'}
    body=$(printf '%s' "${body%$'\n'*}")      # without the answer's last newline
}

rt_field() {    # ticket id, field: the field of RT's ticket
    curl -s -H "Authorization: $RT_AUTH" "http://127.0.0.1:$rt_port/REST/2.0/ticket/$1" |
        perl -MJSON::PP -e 'local $/; my $t = decode_json(<STDIN>); print $t->{$ARGV[0]} // ""' "$2"
}

start_example
key="ci-deb-$(date +%s)-$$"
alert firing
[ "$code" = 201 ] || fail "the alert: $code $body (201 wanted)"
ticket=$(sed -n 's/^{"status":"created","alerts":\[{"key":"'"$key"'","action":"create","outcome":"created","connector":"rt","ticket_id":"\([0-9]\+\)"}\]}$/\1/p' <<<"$body")
[ -n "$ticket" ] || fail "the alert's answer is not a creation: $body"
subject=$(rt_field "$ticket" Subject)
[ "$subject" = "$key Disk full on web1" ] || fail "RT's ticket $ticket has subject '$subject'"
[ "$(rt_field "$ticket" Status)" = new ] || fail "RT's ticket $ticket is not new"
say "alert -> 201, RT ticket $ticket: '$subject'"
stop_example
[ -f "$state/rt.mdb" ] || fail "no store $state/rt.mdb after the alert"
store_owner=$(stat -c %U "$state/rt.mdb")
[ "$store_owner" = www-data ] || fail "$state/rt.mdb is owned by $store_owner, not www-data"

# ---- 4. remove -------------------------------------------------------------
step "4. apt-get remove $pkg"
"${APT[@]}" remove "$pkg" || fail "apt-get remove failed"
[ "$(pkg_status)" = config-files ] || fail "after remove, $pkg is '$(pkg_status)'"
[ ! -e /usr/lib/nginx/modules/ngx_http_itsm_module.so ] || fail "the module is still there after remove"
/usr/sbin/nginx -t -q 2>"$work/t.err" \
    || fail "after remove, nginx -t of the default configuration: $(cat "$work/t.err")"
/usr/sbin/nginx -T > "$work/T.txt" 2>&1 || fail "after remove, nginx -T failed: $(tail -n 3 "$work/T.txt")"
if grep -q 'ngx_http_itsm_module' "$work/T.txt"; then
    fail "after remove, the default configuration still loads the module"
fi
for f in /etc/nginx/modules-enabled/*.conf; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    case $(readlink -f "$f" || true) in
        *itsm*) fail "after remove, $f is still enabled" ;;
    esac
    case $f in *itsm*) fail "after remove, $f is still enabled" ;; esac
done
[ -f "$state/rt.mdb" ] || fail "apt-get remove took the store $state/rt.mdb"
say "removed: nginx -t passes, no itsm snippet enabled, the store kept"

# ---- 5. reinstall: the store still knows the ticket ------------------------
step "5. apt-get install $deb again"
"${APT[@]}" install "$deb" || fail "apt-get install (again) failed"
check_installed
[ -f "$state/rt.mdb" ] || fail "after the reinstall, no store $state/rt.mdb"
/usr/sbin/nginx -t -c "$ex/nginx.conf" 2>"$work/t.err" \
    || fail "after the reinstall, nginx -t of the example: $(cat "$work/t.err")"
start_example
alert resolved
[ "$code" = 200 ] || fail "the resolved alert after the reinstall: $code $body (200 wanted)"
want='{"status":"resolved","alerts":[{"key":"'"$key"'","action":"resolve","outcome":"resolved","connector":"rt","ticket_id":"'"$ticket"'"}]}'
[ "$body" = "$want" ] || fail "the resolved alert after the reinstall: $body
       wanted (the store's record of ticket $ticket): $want"
[ "$(rt_field "$ticket" Status)" = resolved ] || fail "RT's ticket $ticket is not resolved"
say "reinstalled: the store knew key $key -> ticket $ticket, resolved in RT"
stop_example

# ---- 6. purge ----------------------------------------------------------------
step "6. apt-get purge $pkg"
"${APT[@]}" purge "$pkg" || fail "apt-get purge failed"
installed_by_us=0
case $(pkg_status) in ""|not-installed) ;; *) fail "after purge, $pkg is '$(pkg_status)'" ;; esac
[ ! -e "$state" ] || fail "after purge, $state is still there"
for f in /etc/nginx/modules-enabled/*mod-http-itsm*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    fail "after purge, $f is still there"
done
/usr/sbin/nginx -t -q 2>"$work/t.err" || fail "after purge, nginx -t: $(cat "$work/t.err")"
say "purged: no state directory, no link, nginx -t passes"
