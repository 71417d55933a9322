# The store's records take what they hold: a key with an open ticket costs
# its key, a record of about 50 bytes (varints: times as distances to the
# first, 8 bytes for each token or hash that is set, the ticket id's own
# length) and LMDB's node and page overhead, so that a million keys fit in
# 256 MB (issue 11).  Version 2's records took 160 bytes each, whatever
# they held.  Every field comes back as written: the blocks below read
# them through the duplicate and resolve paths.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use JSON::PP;

our $HttpConfig = <<'_EOC_';
    itsm_zone  itsm:4m;
    itsm_store logs/state.mdb size=16m;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"k": "{{ key }}"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}';
        ticket_id /id;
    }
    itsm_connector bad {
        location  /_itsm/bad;
        create    POST /ticket 'body={"k": "{{ key }}"}';
        ticket_id /id;
    }
    itsm_connector long {
        location  /_itsm/long;
        create    POST /ticket 'body={"k": "{{ key }}"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}';
        ticket_id /id;
    }
_EOC_

# the ticket id of connector "long": 64 characters, the longest the store keeps
our $Long = 'T' . ('0123456789abcdef' x 4);
$Long = substr($Long, 0, 64);

our $Config = ItsmConf::proxy_mock() . <<"_EOC_";
    location /_itsm/bad/ { internal; return 500 '{"error":"boom"}'; }
    location /_itsm/long/ { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/long/; }
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location /mock/ticket/ { return 200 '{}'; }
    location = /long/ticket { return 201 '{"id":"$Long"}'; }
    location /long/ticket/ { return 200 '{}'; }
    location = /alerts { itsm_source alertmanager; itsm_max_alerts 1000; itsm_dedup off; itsm_pass mock; }
    location = /generic { itsm_pass long; }
    location = /bad { itsm_pass bad; }
    location = /status { itsm_status; }
_EOC_

# an Alertmanager group of alerts whose keys are 23 characters
sub group {
    my ($from, $n, $status) = @_;
    my @a = map { my $k = sprintf("key-%019d", $_);
                  qq({"status":"$status","labels":{"alertname":"a"},"annotations":{},)
                  . qq("startsAt":"2026-11-22T06:27:21Z","fingerprint":"$k"}) } $from .. $from + $n - 1;
    return qq({"receiver":"itsm","status":"$status","groupKey":"g","alerts":[) . join(',', @a) . ']}';
}

sub http { ItsmHttp::call(@_) }

sub status { my (undef, $text) = http('GET', '/status'); decode_json($text)->{store} }

sub generic { my ($key, $status) = @_;
    "POST /generic\n{\"key\": \"$key\", \"title\": \"Disk full\", \"status\": \"$status\"}" }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 2000 open tickets of keys of 23 characters take at most 150 bytes a key (version 2's records: 227)
--- skip_redis: LMDB's bytes per record (the status page's used_bytes)
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- init
for my $b (0 .. 1) {
    my ($s) = ::http('POST', '/alerts', ::group($b * 1000, 1000, 'firing'));
    Test::More::is($s, 201, "create batch $b");
}
my $st = ::status();
Test::More::is($st->{keys}, 2000, '2000 keys');
Test::More::is($st->{open_tickets}, 2000, '2000 open tickets');
Test::More::cmp_ok($st->{used_bytes} / $st->{keys}, '<=', 150, "bytes a key: $st->{used_bytes} / $st->{keys}");
--- request
GET /status
--- response_body_like: "store":\{"keys":2000,"open_tickets":2000,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,



=== TEST 2: a ticket id of 64 characters, the longest kept, comes back whole; its occurrences count on
--- request eval: [::generic("long-1", "firing"), ::generic("long-1", "firing"), ::generic("long-1", "firing")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"long","ticket_id":"\Q$::Long\E"/,
 qr/"outcome":"duplicate","connector":"long","ticket_id":"\Q$::Long\E"/,
 qr/"outcome":"duplicate","connector":"long","ticket_id":"\Q$::Long\E"/]



=== TEST 3: resolved: the record's ticket id is what the resolve is sent to, and the key is resolved
--- request eval: [::generic("long-1", "resolved"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/"action":"resolve","outcome":"resolved","connector":"long","ticket_id":"\Q$::Long\E"/,
 qr/"keys":2001,"open_tickets":2000,"resolved_tickets":1,/]



=== TEST 4: a create answered 500 leaves its key in doubt, twice
--- request eval: ["POST /bad\n{\"key\": \"doubt-1\", \"title\": \"Disk full\"}", "POST /bad\n{\"key\": \"doubt-1\", \"title\": \"Disk full\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [503, 503]
--- response_body_like eval: [qr/"itsm_status":500/, qr/"itsm_status":500/]



=== TEST 5: ... the doubt's time the first release wrote is the time the second claim read, to the second (a time is kept as its distance to first_seen); each loss moves it forward
--- init
open(my $fh, '<', "$ENV{TEST_NGINX_SERVROOT}/logs/error.log") or die $!;
my @t = map { /itsm store: (?:claim|release) "doubt-1" \S+ doubt:(\d+)/ ? ($1) : () } <$fh>;
close $fh;
Test::More::is(scalar @t, 4, 'two claims and two releases logged');
Test::More::cmp_ok($t[0], '>', 1700000000, 'the first claim set the doubt to its time');
# the doubt counts from the last loss (find's settle waits from it): each
# release in doubt writes its own time, and the next claim reads it back
Test::More::is($t[2], $t[1], 'the second claim read the doubt the first release wrote');
Test::More::ok($t[0] <= $t[1] && $t[1] <= $t[3] && $t[3] - $t[0] < 60,
               "the doubt moves forward with each loss (@t)");
--- request
GET /status
--- response_body_like: "keys":2002,
