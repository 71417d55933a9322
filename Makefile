# ngx_itsm_module
#
#   make            build build/ngx_http_itsm_module.so for /usr/sbin/nginx
#                   and build/itsm-token (callback tokens, tools/itsm-token.c)
#   make run        quickstart: nginx + module on :8080, Request Tracker on :8081
#   make stop       stop both
#   make test       the Test::Nginx suite (installs what it needs)
#   make test-valgrind   the suite with nginx under valgrind memcheck
#   make test-async the pipeline's files against a store that answers later
#   make asan       an AddressSanitizer build in build/asan/
#   make install    copy the module to /usr/lib/nginx/modules/
#   make bench      the peer comparison, bench/compare.sh (about 30 min;
#                   BENCH_* variables, see bench/README.md)
#
# Building against another nginx: make NGINX_BIN=/opt/nginx/sbin/nginx
#                                      NGINX_SRC=/path/to/nginx-<same version>

export NGINX_BIN NGINX_SRC

.PHONY: all build asan install deps run stop status test test-valgrind test-async test-redis-queue bench clean

all: build

build:
	util/deps.sh build
	util/build.sh normal
	$(MAKE) build/itsm-token

# the callback token tool: OpenSSL only (libssl-dev, in util/deps.sh build)
build/itsm-token: tools/itsm-token.c
	@mkdir -p build
	$(CC) -O2 -g -Wall -Wextra -Werror -o $@ tools/itsm-token.c -lcrypto

asan:
	util/deps.sh build
	util/build.sh asan

# copies the module where Debian's nginx looks for modules
install: build
	install -D -m 0644 build/ngx_http_itsm_module.so \
	    $(DESTDIR)/usr/lib/nginx/modules/ngx_http_itsm_module.so

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

test-valgrind:
	util/test.sh valgrind

# the queue on Redis (t/503) and the files it touches: the store on Redis
# and the queue's files on LMDB (about 6 minutes on a busy 2-core machine)
test-redis-queue:
	ITSM_TEST_NO_RT=1 util/test.sh normal t/503-redis-queue.t \
	    t/502-redis-store.t t/042-queue.t t/046-dead-letter.t t/047-drain.t \
	    t/050-status.t t/052-store-expire.t t/090-delivery-log.t \
	    t/092-connectors.t t/094-connector-limit.t t/099-connector-circuit.t

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
