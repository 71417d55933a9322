# The queue drains at the speed the ITSM answers: a replay done frees its
# place among the kick's 16 transfers, and the next due deliveries are
# looked for at once, not at the next tick a second later.  20 alerts
# queued while the ITSM is down are all delivered once it is up, each
# exactly once.  (How fast is bench/drain.sh's to measure, not a test's.)
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = <<'_EOC_';
    itsm_zone       itsm:1m;
    itsm_store      logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_retry      attempts=30 backoff=1s max=1s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"key": "{{ key }}"}';
        ticket_id /id;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location /mock/ {
        if (-f $TEST_NGINX_SERVROOT/logs/up) { return 201 '{"id":"Q1"}'; }
        return 503 '{"message":"maintenance"}';
    }
    location = /alerts { itsm_queue on; itsm_retry_after 1s; itsm_pass mock; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /status { itsm_status; }
_EOC_

sub up { open(my $fh, '>', "$ENV{TEST_NGINX_SERVROOT}/logs/up") or die $!; close $fh }

# 20 alerts: more than the kick's 16 transfers at a time
our @Alerts = map { "POST /alerts\n{\"key\": \"k-$_\", \"title\": \"Disk full\", \"status\": \"firing\"}" } 1 .. 20;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 20 alerts while the ITSM is down: each 202 queued, 20 wait in the store
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: [@::Alerts, "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [(202) x 20, 200]
--- response_body_like eval
# "claimed" is not asserted: the first alert is due again 1 s after it was
# queued, and on a loaded machine the 20 requests take longer than that,
# so the kick may hold claims for its retries (which fail: still 20 wait)
[(qr/"outcome":"queued"/) x 20, qr/(?:"keys":20,"open_tickets":0,"resolved_tickets":0,"claimed":\d+,"queued":20,"dead_letters":0,|"backend":"redis",.*"queued":20,"dead_letters":0\})/]



=== TEST 2: the ITSM is up: all 20 delivered, one create each, none left; the places freed were refilled at once, not at the next tick
--- init
::up(); sleep 4;
--- request
GET /status
--- response_body_like: "create":\{"ok":20,"failed":\d+\}.*(?:"keys":20,"open_tickets":20,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,|"backend":"redis",.*"queued":0,"dead_letters":0\})
--- error_log
itsm kick: a replay done, the next due looked for at once
--- no_error_log
[crit]
[alert]
