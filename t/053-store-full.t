# A store of a fixed size (itsm_store size=1m here): the status page shows
# how full it is (used_bytes of size_bytes, used_percent, keys) before it
# refuses writes; expired resolved keys give their space back; when it is
# full every alert that changes a key gets 503, and the error log says so
# once a minute, not once per alert; a larger size= lets it go on.  The
# alerts are Alertmanager groups of many alerts, sent from Perl (--- init)
# so that the store can be filled until it refuses.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use JSON::PP;
use File::Temp qw(tempdir);

# the store outside the server root, which a restart (a new config) wipes:
# the blocks that restart nginx keep the store the others filled
our $Dir = tempdir("itsm-053-XXXXXX", TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Dir;

our $HttpConfig = <<'_EOC_';
    itsm_zone  itsm:4m;
    itsm_store @DIR@/state.mdb size=@SIZE@ retention=3s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"k": "{{ key }}"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}';
        ticket_id /id;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location /mock/ticket/ { return 200 '{}'; }
    location = /alerts { itsm_source alertmanager; itsm_max_alerts 1000; itsm_dedup off; itsm_pass mock; }
    location = /status { itsm_status; }
_EOC_

sub http_config { my ($size) = @_; (my $c = $HttpConfig) =~ s/\@SIZE\@/$size/; $c =~ s/\@DIR\@/$Dir/; $c }

# an Alertmanager group of alerts k<from> .. k<from+n-1>
sub group {
    my ($from, $n, $status) = @_;
    my @a = map { qq({"status":"$status","labels":{"alertname":"k$_"},"annotations":{},)
                  . qq("startsAt":"2026-11-22T06:27:21Z","fingerprint":"k$_"}) } $from .. $from + $n - 1;
    return qq({"receiver":"itsm","status":"$status","groupKey":"g","alerts":[) . join(',', @a) . ']}';
}

sub http { ItsmHttp::call(@_) }

sub status { my (undef, $text) = http('GET', '/status'); decode_json($text)->{store} }

# the status page's percent is what its bytes say
sub percent_ok {
    my ($st, $what) = @_;
    Test::More::is($st->{used_percent}, int($st->{used_bytes} * 100 / $st->{size_bytes}),
                   "$what: used_percent is used_bytes of size_bytes");
}

our %Seen;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an empty store of 1m: its size, nearly nothing used
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- http_config eval: ::http_config("1m")
--- config eval: $::Config
--- request
GET /status
--- response_body_like: "store":\{"keys":0,"open_tickets":0,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,"bytes":\d+,"size_bytes":1048576,"used_bytes":\d+,"used_percent":[0-4],"expired":0,"retention":3\}



=== TEST 2: 1000 keys created and resolved: they take room
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- init
for my $b (0 .. 9) {
    my ($s) = ::http('POST', '/alerts', ::group($b * 100, 100, 'firing'));
    Test::More::is($s, 201, "create batch $b");
}
for my $b (0 .. 9) {
    my ($s) = ::http('POST', '/alerts', ::group($b * 100, 100, 'resolved'));
    Test::More::is($s, 200, "resolve batch $b");
}
my $st = ::status();
::percent_ok($st, 'after 1000 keys');
$::Seen{used} = $st->{used_bytes};
# each key takes about 100 bytes or more (1000 keys: 10% of 1m), counted
# on the keys still kept: on a slow machine (valgrind) the first ones may
# have expired (3 s) before the status page is read
Test::More::cmp_ok($st->{used_bytes}, '>=', $st->{keys} * 100, 'the keys take room: 100 bytes a key or more');
Test::More::cmp_ok($st->{used_percent}, '>=', 10, 'all 1000 kept: 10% of the store or more') if $st->{expired} == 0;
# the first may have expired already (3s) on a slow machine: counted
Test::More::is($st->{keys} + $st->{expired}, 1000, '1000 keys, kept or expired');
Test::More::is($st->{resolved_tickets}, $st->{keys}, 'every key kept is resolved');
--- request
GET /status
--- response_body_like: "store":\{"keys":\d+,"open_tickets":0,"resolved_tickets":\d+,"claimed":0,



=== TEST 3: after the retention (3s) every resolved key expired, and their room is free again
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- init
sleep 6;
my $st = ::status();
::percent_ok($st, 'after the expiry');
Test::More::cmp_ok($st->{used_bytes}, '<', $::Seen{used} / 2, 'the room of the expired keys is free');
--- request
GET /status
--- response_body_like: "store":\{"keys":0,"open_tickets":0,"resolved_tickets":0,"claimed":0,.*"expired":1000,"retention":3\}



=== TEST 4: open keys (they never expire) fill it: the status page shows it nearly full before the first 503
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- init
my ($last, $n, $s, $text) = (undef, 0);
for my $b (0 .. 600) {
    $last = ::status();
    ::percent_ok($last, "before batch $b") if $b % 10 == 0;
    ($s, $text) = ::http('POST', '/alerts', ::group(10000 + $b * 50, 50, 'firing'));
    last if $s != 201;
    $n += 50;
}
Test::More::is($s, 503, "the store refused a write after $n keys");
Test::More::like($text, qr/^\{"error":"store_unavailable",/, 'the sender is told the store is unavailable');
Test::More::cmp_ok($last->{used_percent}, '>=', 90, "the status page showed $last->{used_percent}% before it refused");
$::Seen{full} = $n;
--- request
GET /status
--- response_body_like: "used_percent":(9\d|100),



=== TEST 5: after a restart the first pass of the expiry warns that it is nearly full
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- http_config eval: ::http_config("1m")
--- config eval: $::Config . "    location = /t { return 204; }\n"
--- request
GET /t
--- error_code: 204
--- wait: 8
--- grep_error_log eval: qr/itsm_store \(\S+\) is \d+% full.*|is full \(.*/
--- grep_error_log_out eval
qr/^itsm_store \(\S+nginx\.conf:\d+\) is (9\d|100)% full \(\d+ of 1048576 bytes, \d+ keys\) after expiring what retention=3 s allows: when it is full, every alert that changes a key gets 503; raise size= or lower retention= \(see README, "Sizing the store"\)\n\z/



=== TEST 6: full: 20 alerts get 503, and the error log says it once, not 20 times
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- pipelined_requests eval: [map { "POST /alerts\n" . ::group(50000 + $_, 1, 'firing') } 1 .. 20]
--- more_headers
Content-Type: application/json
--- error_code eval: [(503) x 20]
--- response_body_like eval: [(qr/^\{"error":"store_unavailable",/) x 20]



=== TEST 7: ... the error log has one line for the 20 (nginx was started anew in TEST 5: its log is that of this process)
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- init
open(my $fh, '<', "$ENV{TEST_NGINX_SERVROOT}/logs/error.log") or die $!;
my @full = grep { /is full \(|MDB_MAP_FULL/ } <$fh>;
close $fh;
Test::More::is(scalar @full, 1, 'one "is full" line for 20 refused alerts');
Test::More::like($full[0] // '', qr/\[alert\] \d+#\d+: itsm_store: "\Q$::Dir\E\/state\.mdb" is full \(size=1048576, in \S+nginx\.conf:\d+\): mdb_(put|txn_commit) failed, and every alert that changes a key gets 503 until resolved keys expire; raise size= or lower retention= \(see README, "Sizing the store"\); logged at most once a minute$/,
                 'the line says what is full, why, and what to do');
--- request
GET /status
--- response_body_like: "size_bytes":1048576,"used_bytes":\d+,"used_percent":(9\d|100),



=== TEST 8: size=2m: the same store takes alerts again
--- skip_redis: LMDB's fixed map size (size=, how full, 503 when full): Redis has no such bound here
--- http_config eval: ::http_config("2m")
--- config eval: $::Config
--- request eval: ["POST /alerts\n" . ::group(60000, 1, 'firing'), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"size_bytes":2097152,"used_bytes":\d+,"used_percent":[4-6]\d,/]
