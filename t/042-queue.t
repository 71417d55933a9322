# itsm_queue on: when the ITSM cannot take an alert (5xx, 429, no answer),
# the store keeps it and the sender gets 202 "queued"; the replay location
# delivers it when it is due, with backoff, and after itsm_retry's last
# attempt it is a dead letter, counted on the status page until
# itsm_requeue.  The mock ITSM is up while the file logs/up-<name> exists.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location /mock/ {
        if (-f $TEST_NGINX_SERVROOT/logs/up-@UP@) { return 201 '{"id":"Q1"}'; }
        return 503 '{"message":"maintenance"}';
    }
    location = /alerts { itsm_queue on; itsm_retry_after 1s; itsm_pass mock; }
    location = /alerts/direct { itsm_pass mock; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /status { itsm_status; }
    location = /requeue { itsm_requeue; }
_EOC_

sub http_config { my ($attempts) = @_; ItsmConf::queue_http(retry => "attempts=$attempts backoff=1s max=1s") }
sub config { my ($up) = @_; (my $c = $Config) =~ s/\@UP\@/$up/; $c }
sub up { my ($name) = @_; open(my $fh, '>', "$ENV{TEST_NGINX_SERVROOT}/logs/up-$name") or die $!; close $fh }

sub alert { my ($key, $status, $uri) = @_;
    "POST " . ($uri // "/alerts") . "\n{\"key\": \"$key\", \"title\": \"Disk full\", \"status\": \"" . ($status // "firing") . "\"}" }

our $Queued = qq{{"status":"queued","alerts":[{"key":"db-1","action":"create","outcome":"queued","connector":"mock","reason":"the ITSM is unavailable; the alert is kept and delivered when it answers"}]}\n};

no_shuffle();
run_tests();

__DATA__

# The status page's store object: LMDB's figures, or on Redis
# (ITSM_TEST_STORE=redis) {"backend":"redis",...,"queued":N,"dead_letters":N}.

=== TEST 1: the ITSM is down: 202 queued, the store keeps the alert; without itsm_queue the same failure is a 503
--- http_config eval: ::http_config(30)
--- config eval: ::config("a")
--- request eval: [::alert("db-1"), ::alert("db-9", "firing", "/alerts/direct"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [202, 503, 200]
--- response_body_like eval
[qr/^\Q$::Queued\E\z/,
 qr/^\{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":503,/,
 qr/"queued":1,"dead_letters":0[,}]/]



=== TEST 2: the ITSM is back: the queued alert is delivered by the replay location, and the queue is empty
--- init
::up("a"); sleep 3;
--- request
GET /status
--- response_body_like: (?:"open_tickets":1,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,|"backend":"redis",.*"queued":0,"dead_letters":0\})
--- grep_error_log eval: qr/the alert "db-1" is queued, first retry in \d+ s|delivering the pending state of key "db-1" \(attempt \d+\)|connector "mock" created ticket "Q1" for alert "db-1"/
--- grep_error_log_out
the alert "db-1" is queued, first retry in 1 s
delivering the pending state of key "db-1" (attempt 1)
connector "mock" created ticket "Q1" for alert "db-1"



=== TEST 3: every attempt fails: exactly itsm_retry's attempts (2), not one fewer, not one more, then a dead letter, logged and counted
--- http_config eval: ::http_config(2)
--- config eval: ::config("b")
--- request eval: ::alert("db-1")
--- more_headers
Content-Type: application/json
--- error_code: 202
--- response_body eval: $::Queued
--- wait: 4.5
--- grep_error_log eval: qr/delivering the pending state of key "db-1" \(attempt \d+\)|itsm: attempt \d+ of \d+ failed: .*|itsm: dead letter .*/
--- grep_error_log_out
delivering the pending state of key "db-1" (attempt 1)
itsm: attempt 1 of 2 failed: connector "mock", key "db-1", action create, error: the ITSM answered 503: "{\"message\":\"maintenance\"}"; the next in 1 s
delivering the pending state of key "db-1" (attempt 2)
itsm: dead letter after 2 attempts: connector "mock", key "db-1", action create, last error: the ITSM answered 503: "{\"message\":\"maintenance\"}"; see the status page, and itsm_requeue to try again



=== TEST 4: the dead letter on the status page, in JSON and for Prometheus; the ITSM got the alert's create and the 2 attempts, no more
--- request eval: ["GET /status", "GET /status?format=prometheus"]
--- response_body_like eval
[qr/"create":\{"ok":0,"failed":3\},.*"queued":0,"dead_letters":1[,}]/, qr/\nitsm_queue_waiting 0\n(?:#[^\n]*\n)*itsm_queue_dead 1\n/]



=== TEST 5: itsm_requeue: GET lists the dead letter (no itsm_delivery_log: no last failure); POST puts it back, and once the ITSM is up it is delivered; PUT is refused
--- init
::up("b");
--- request eval: ["GET /requeue", "POST /requeue", "POST /requeue", "PUT /requeue"]
--- error_code eval: [200, 200, 200, 405]
--- response_body eval
[qq{{"dead_letters":[{"connector":"mock","key":"db-1","attempts":2}],"count":1}\n}, qq{{"requeued":1}\n}, qq{{"requeued":0}\n},
 qq{{"error":"method_not_allowed","message":"GET lists the dead letters, POST puts them back in the queue"}\n}]



=== TEST 6: itsm_requeue: the requeued alert was delivered (an open ticket) and nothing waits
--- init
sleep 2.5;
--- request
GET /status
--- response_body_like: (?:"open_tickets":1,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,|"backend":"redis",.*"queued":0,"dead_letters":0\})



=== TEST 7: a resolved alert supersedes a queued create: nothing is created for an alert that is over
--- http_config eval: ::http_config(30)
--- config eval: ::config("c")
--- request eval: [::alert("db-1"), ::alert("db-1", "resolved"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [202, 200, 200]
--- response_body_like eval
[qr/"outcome":"queued"/, qr/"outcome":"ignored"/, qr/(?:"keys":1,"open_tickets":0,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,|"backend":"redis",.*"queued":0,"dead_letters":0\})/]



=== TEST 8: config: itsm_queue needs the store and the replay URL
--- config
    location = /alerts { itsm_queue on; }
--- must_die
--- error_log eval
qr/"itsm_queue on" in \S+nginx\.conf:\d+ keeps what the ITSM could not take in the store and delivers it later through the replay location: declare "itsm_store" and "itsm_replay_url" at http level, and a location with "itsm_replay"/



=== TEST 9: config: itsm_retry's parameters
--- http_config
    itsm_retry attempts=0;
--- config
--- must_die
--- error_log eval
qr/invalid parameter "attempts=0" of "itsm_retry"; expected attempts=N \(at least 1\), backoff=TIME, max=TIME, e\.g\. attempts=30 backoff=30s max=1h/
