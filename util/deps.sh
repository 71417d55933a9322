#!/usr/bin/env bash
# util/deps.sh - install the Debian (bookworm) packages ngx_itsm_module needs.
# Idempotent: installs only what dpkg-query reports missing; when nothing is
# missing it does not touch apt at all (no apt-get update).
#
#   util/deps.sh [--check|--list] GROUP...
#
# Groups:
#   build         nginx + nginx-dev (headers, configure) and the C libraries
#                 (hiredis among them: the Redis client, itsm_redis)
#   test          build + Perl libraries for Test::Nginx / the fallback
#                 runner, valgrind, curl, psmisc, libfaketime (a clock the
#                 time-window tests set: t/lib/ItsmClock.pm), redis-server
#                 (t/500 starts private ones: t/lib/ItsmRedis.pm)
#   rt            Request Tracker 5 (SQLite, standalone server) for
#                 util/rt.sh, installed without any debconf prompt
#   alertmanager  Prometheus Alertmanager (a real alert sender)
#   fuzz          clang 14 and its sanitizer and libFuzzer runtimes (make fuzz)
#   static        nginx built from source with the module linked in
#                 (util/static.sh): the module's C libraries, nginx's own
#                 (PCRE2, zlib, OpenSSL), and dpkg-dev, xz-utils and
#                 debian-archive-keyring to fetch and unpack Debian's
#                 nginx source package
#   bench         build + wrk and the peers of bench/compare.sh: the Lua
#                 gateway (libnginx-mod-http-lua on OpenResty's LuaJIT,
#                 lua-cjson, lua-luaossl) and the Python one (Flask,
#                 gunicorn, requests); redis-server for the store on Redis
#                 (a private one per run)
#   deb           build + Debian's packaging tools for make deb (util/deb.sh):
#                 debhelper, dpkg-dev, fakeroot, lintian (dh_nginx comes
#                 with nginx-dev)
#   all           test rt alertmanager
#
#   --check   only report; exit 1 if something is missing
#   --list    print the package names of the groups and exit
#
# Uses sudo unless run as root.  Services: the project never uses the
# system nginx (:80), alertmanager (:9093), redis-server (:6379) or RT;
# util/rt.sh and the tests run private instances.  So packages are
# installed with a temporary policy-rc.d that forbids starting services
# (unless one exists already, e.g. in Docker images), and on systemd hosts
# the nginx, prometheus-alertmanager and redis-server units installed by
# this run are disabled so they
# do not come up at the next boot either.  DEPS_KEEP_SERVICES=1 skips that
# disabling.

set -euo pipefail

me=${0##*/}

declare -A PKGS
PKGS[build]="nginx nginx-dev libjansson-dev libcurl4-openssl-dev libssl-dev liblmdb-dev libhiredis-dev gcc make pkg-config"
PKGS[test]="${PKGS[build]} libtest-base-perl libtest-longstring-perl libtext-diff-perl libipc-run-perl libhttp-message-perl liblist-moreutils-perl liburi-perl valgrind curl psmisc libfaketime redis-server openssl"
PKGS[rt]="request-tracker5 rt5-db-sqlite rt5-standalone curl"
PKGS[deb]="${PKGS[build]} debhelper dpkg-dev fakeroot lintian"
PKGS[alertmanager]="prometheus-alertmanager"
PKGS[fuzz]="clang-14 libclang-rt-14-dev"
PKGS[static]="libjansson-dev libcurl4-openssl-dev libssl-dev liblmdb-dev libhiredis-dev libpcre2-dev zlib1g-dev gcc make dpkg-dev xz-utils debian-archive-keyring"
# libluajit2-5.1-2 is OpenResty's LuaJIT, the first choice of the lua
# module's dependency: named so that the peer never runs on the plain one
PKGS[bench]="${PKGS[build]} wrk libnginx-mod-http-lua libnginx-mod-http-ndk libluajit2-5.1-2 lua-cjson lua-luaossl python3-flask gunicorn python3-requests procps redis-server"

# systemd units of packages in our lists that start a daemon we never use
SERVICE_UNITS="nginx:nginx.service prometheus-alertmanager:prometheus-alertmanager.service redis-server:redis-server.service"

# Request Tracker: let dbconfig-common create the SQLite database, root
# password 'password' (demo only; util/rt.sh creates its own databases
# anyway), no cron jobs.
RT_PRESEED='request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/initial-root-password password password
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true'

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_MARK='# temporary file of ngx_itsm_module util/deps.sh'

usage() {
    sed -n '/^#   util\/deps.sh \[/,/^#   --list/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

say() { echo "$me: $*"; }
die() { echo "$me: $*" >&2; exit 1; }

mode=install
groups=()
for a in "$@"; do
    case $a in
        --check) mode=check ;;
        --list)  mode=list ;;
        -h|--help) usage ;;
        build|test|rt|alertmanager|fuzz|bench|deb|static) groups+=("$a") ;;
        all) groups+=(test rt alertmanager) ;;
        *) echo "$me: unknown group or option '$a'" >&2; usage ;;
    esac
done
(( ${#groups[@]} )) || usage

# wanted packages, in order, without duplicates
wanted=()
declare -A seen=()
for g in "${groups[@]}"; do
    for p in ${PKGS[$g]}; do
        [[ -n ${seen[$p]:-} ]] && continue
        seen[$p]=1
        wanted+=("$p")
    done
done

if [[ $mode == list ]]; then
    echo "${wanted[*]}"
    exit 0
fi

installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

missing=()
for p in "${wanted[@]}"; do
    installed "$p" || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
    say "all ${#wanted[@]} packages for '${groups[*]}' are installed"
    exit 0
fi
if [[ $mode == check ]]; then
    say "missing for '${groups[*]}': ${missing[*]}"
    exit 1
fi

if (( EUID == 0 )); then
    SUDO=()
else
    command -v sudo >/dev/null || die "not root and no sudo; install as root: ${missing[*]}"
    SUDO=(sudo)
fi

say "installing for '${groups[*]}': ${missing[*]}"
t0=$(date +%s)

# Forbid service starts during the install (invoke-rc.d and
# deb-systemd-invoke both honour policy-rc.d).
own_policy=0
cleanup() {
    if (( own_policy )); then
        "${SUDO[@]}" rm -f "$POLICY_RC" || true
    fi
}
trap cleanup EXIT
if [[ -e $POLICY_RC ]] && grep -qF "$POLICY_MARK" "$POLICY_RC" 2>/dev/null; then
    own_policy=1                  # left over by an interrupted run
elif [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\n%s: no service starts while it installs packages\nexit 101\n' \
        "$POLICY_MARK" | "${SUDO[@]}" tee "$POLICY_RC" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY_RC"
    own_policy=1
fi

# Preseed Request Tracker's debconf questions before its first install.
for p in "${missing[@]}"; do
    if [[ $p == request-tracker5 ]]; then
        say "preseeding debconf for request-tracker5 (SQLite, root password 'password')"
        printf '%s\n' "$RT_PRESEED" | "${SUDO[@]}" debconf-set-selections
        break
    fi
done

export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)

if ! "${APT[@]}" update; then
    echo "$me: warning: apt-get update reported errors; trying to install anyway" >&2
fi
"${APT[@]}" install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"

# On systemd hosts, keep the daemons we never use from starting at boot.
if [[ ${DEPS_KEEP_SERVICES:-0} != 1 && -d /run/systemd/system ]]; then
    for p in "${missing[@]}"; do
        for su in $SERVICE_UNITS; do
            [[ ${su%%:*} == "$p" ]] || continue
            unit=${su#*:}
            say "disabling system service $unit (the project runs its own instances)"
            "${SUDO[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    done
fi

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
(( ${#still[@]} == 0 )) || die "still missing after install: ${still[*]}"
say "installed ${#missing[@]} packages in $(( $(date +%s) - t0 )) s: ${missing[*]}"
