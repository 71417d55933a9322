# ngx_itsm_module
#
#   make            build build/ngx_http_itsm_module.so for /usr/sbin/nginx,
#                   build/itsmctl (the command-line companion, tools/, man
#                   page docs/itsmctl.1), build/itsm-token (callback
#                   tokens, tools/itsm-token.c; also "itsmctl token") and
#                   build/itsm-migrate (an LMDB store's records into
#                   Redis, tools/itsm-migrate.c; docs/redis.md, Migration)
#   make test-itsmctl   t/600-itsmctl.t (builds what it needs)
#   make run        quickstart: nginx + module on :8080, Request Tracker on :8081
#   make stop       stop both
#   make test       the Test::Nginx suite (installs what it needs)
#   make test-valgrind   the suite with nginx under valgrind memcheck
#   make test-async the pipeline's files against a store that answers later
#   make test-migrate  t/505 only: itsm-migrate, LMDB -> Redis -> nginx on Redis
#   make test-redis the lifecycle suite on the Redis store (ITSM_TEST_STORE=redis)
#   make test-redis-callbacks  callbacks on Redis: t/506, t/502, and the
#                   callbacks' files on Redis, on LMDB and async
#   make test-redis-holds  t/508 (cooldown holds over two edges on Redis),
#                   t/503 and the cooldown files on LMDB and on Redis
#   make test-redis-misc  the Redis client, replay cache, store and verify
#                   files (t/500 t/501 t/502 t/509) with the verify files
#   make test-redis-source  the way back on Redis: t/507, and t/078 t/079
#                   t/073 t/080 on LMDB, async and Redis
#   make asan       an AddressSanitizer build in build/asan/
#   make static     nginx itself with the module linked in (--add-module),
#                   from Debian's nginx sources: build/static/nginx-VERSION/
#                   sbin/nginx for each of STATIC_VERSIONS (util/static.sh)
#   make test-static  make static, then a short part of t/ against each
#                   binary (util/ci-static.sh; TEST_NGINX_SERVER_PORT)
#   make install    copy the module to /usr/lib/nginx/modules/, itsmctl to
#                   /usr/bin/ and its manual page to /usr/share/man/man1/
#   make deb        the Debian package build/deb/libnginx-mod-http-itsm_*.deb
#                   (util/deb.sh: dh_nginx, lintian; version in debian/changelog)
#   make bench      the peer comparison, bench/compare.sh (about 30 min;
#                   BENCH_* variables, see bench/README.md)
#
# Building against another nginx: make NGINX_BIN=/opt/nginx/sbin/nginx
#                                      NGINX_SRC=/path/to/nginx-<same version>

export NGINX_BIN NGINX_SRC

.PHONY: all build test-itsmctl asan static test-static install deb deps run stop status test test-valgrind test-async test-migrate test-redis test-redis-queue test-redis-callbacks test-redis-holds test-redis-misc test-redis-source bench clean

all: build

build:
	util/deps.sh build
	util/build.sh normal
	$(MAKE) build/itsm-token build/itsmctl build/itsm-migrate

# the callback token tool: OpenSSL only (libssl-dev, in util/deps.sh build)
build/itsm-token: tools/itsm-token.c
	@mkdir -p build
	$(CC) -O2 -g -Wall -Wextra -Werror -o $@ tools/itsm-token.c -lcrypto

# itsmctl (libcurl, jansson, OpenSSL: util/deps.sh build): tools/itsmctl*.c,
# and for "render" the module's own template files against the nginx tree
# util/build.sh configured (see tools/build-itsmctl.sh)
build/itsmctl: tools/*.c tools/*.h tools/build-itsmctl.sh ngx_itsm_module/*.c ngx_itsm_module/*.h
	ITSMCTL_BUILD_DIR=build tools/build-itsmctl.sh $@

# t/600-itsmctl.t against a module and itsmctl of their own (BUILD_DIR)
test-itsmctl:
	util/deps.sh test
	tools/test-itsmctl.sh

# the migration tool: liblmdb, hiredis (util/deps.sh build) and the
# module's own hash and record codec, which need the nginx tree that
# util/build.sh configures in build/ (made first when missing)
build/itsm-migrate: tools/itsm-migrate.c tools/build-migrate.sh \
    ngx_itsm_module/ngx_http_itsm_hash.c ngx_itsm_module/ngx_http_itsm_store_codec.c \
    ngx_itsm_module/ngx_http_itsm_store_lmdb.h ngx_itsm_module/ngx_http_itsm.h
	@[ -f build/objs/ngx_auto_config.h ] || util/build.sh normal
	BUILD_DIR=build tools/build-migrate.sh

asan:
	util/deps.sh build
	util/build.sh asan

static:
	util/deps.sh static
	util/static.sh $(STATIC_VERSIONS)

test-static:
	util/ci-static.sh $(STATIC_VERSIONS)

# copies the module where Debian's nginx looks for modules, and itsmctl
# with its manual page (a package: make install DESTDIR=debian/<pkg>)
install: build
	install -D -m 0644 build/ngx_http_itsm_module.so \
	    $(DESTDIR)/usr/lib/nginx/modules/ngx_http_itsm_module.so
	install -D -m 0755 build/itsmctl $(DESTDIR)/usr/bin/itsmctl
	install -D -m 0644 docs/itsmctl.1 $(DESTDIR)/usr/share/man/man1/itsmctl.1

# the Debian package, built from a copy of this clone with debhelper and
# dh_nginx (util/deb.sh installs its build dependencies, runs lintian)
deb:
	util/deb.sh

deps:
	util/deps.sh test rt alertmanager

run:
	util/run.sh start

stop:
	util/run.sh stop

status:
	util/run.sh status

test:
	util/test.sh normal

test-async:
	util/test.sh async

test-migrate:
	util/test.sh normal t/505-redis-migrate.t
test-redis:
	util/test.sh redis

test-valgrind:
	util/test.sh valgrind

# the queue on Redis (t/503) and the files it touches: the store on Redis
# and the queue's files on LMDB (about 6 minutes on a busy 2-core machine)
test-redis-queue:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/503-redis-queue.t \
	    t/502-redis-store.t t/042-queue.t t/046-dead-letter.t t/047-drain.t \
	    t/050-status.t t/052-store-expire.t t/090-delivery-log.t \
	    t/092-connectors.t t/094-connector-limit.t t/099-connector-circuit.t

# callbacks on Redis (t/506: two edges; t/502: nginx -t) and the callbacks'
# files (not the way back's t/078 t/079) on Redis, LMDB and async (about
# 6 minutes on a busy 2-core machine)
REDIS_CALLBACK_FILES = t/070-callback-token.t t/071-callback.t \
	t/072-callback-rt.t t/073-callback-config.t t/074-callback-jira.t \
	t/075-callback-servicenow.t t/076-callback-pagerduty.t \
	t/077-callback-opsgenie-expire.t t/080-callback-note.t \
	t/081-callback-variables.t t/082-callback-held.t
test-redis-callbacks:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/506-redis-callbacks.t \
	    t/502-redis-store.t
	ITSM_TEST_NO_RT=1 util/test.sh redis $(REDIS_CALLBACK_FILES)
	ITSM_TEST_NO_RT=1 util/test.sh normal $(REDIS_CALLBACK_FILES)
	ITSM_TEST_NO_RT=1 util/test.sh async $(REDIS_CALLBACK_FILES)

# the cooldown holds on Redis (t/508) and the files of on_repeat's
# cooldowns on Redis (the lifecycle suite's rewrite) and on LMDB
HOLDS_FILES = t/030-lifecycle.t t/032-coalesce.t t/037-template-action.t \
	t/044-flight.t
test-redis-holds:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/508-redis-holds.t t/503-redis-queue.t $(HOLDS_FILES)
	ITSM_TEST_NO_RT=1 util/test.sh redis $(HOLDS_FILES)

# the Redis client (EVALSHA, the server's version), the replay cache, the
# store (SCRIPT FLUSH, long keys) and a connector's verify on Redis, with
# the verify files on LMDB (95 s here, 2026-12-07, with the build)
test-redis-misc:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/500-redis-client.t \
	    t/501-redis-replay.t t/502-redis-store.t t/509-redis-verify.t \
	    t/095-connector-verify.t t/092-connectors.t

# the way back on Redis (t/507: two edges), then the way back's files
# on LMDB, async and Redis
REDIS_SOURCE_FILES = t/078-callback-source.t \
	t/079-callback-source-alertmanager.t t/073-callback-config.t \
	t/080-callback-note.t
test-redis-source:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/507-redis-source.t \
	    $(REDIS_SOURCE_FILES)
	ITSM_TEST_NO_RT=1 util/test.sh async $(REDIS_SOURCE_FILES)
	ITSM_TEST_NO_RT=1 util/test.sh redis $(REDIS_SOURCE_FILES)

bench:
	util/deps.sh bench
	util/build.sh normal
	bench/compare.sh

# libFuzzer targets of the pure parsers, each built with one cc line from
# the sources (no nginx tree): FUZZ_SECONDS each (default 30);
# fuzz/long.sh for a long run (see fuzz/README.md)
.PHONY: fuzz
fuzz:
	util/deps.sh build fuzz
	fuzz/run.sh

clean:
	rm -rf build t/servroot t/servroot_*
