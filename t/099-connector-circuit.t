# Outbound limits, continued (ngx_http_itsm_limit.c): "conn=N" (requests
# in flight at once), "breaker=N open=TIME" (a circuit opened by failures
# in a row, closed by a probe), and creates before the other actions when
# the rate's burst runs short.  What reached the ITSM is its own log.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmBlocks;
use ItsmHttp;
use JSON::PP;
use Time::HiRes qw(sleep);

# $limit: the connector's limit line
sub http_config {
    my ($limit) = @_;
    return "    itsm_store logs/state.mdb;\n    itsm_zone itsm:1m;\n"
           . ItsmConf::connector('mock', create => 'POST /ticket',
                                 lines => [q{comment POST "/ticket/{{ ticket_id }}/comment" 'body={}'},
                                           q{header X-Key "{{ key }}"}, 'on_repeat comment cooldown=0',
                                           "limit $limit"]);
}

# the ITSM: down (503) while html/down exists, slow (~2 s) for keys
# "slow...", else a ticket; its own log of what reached it
our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        access_log logs/itsm.log;
        if (-f $document_root/down) { return 503 '{"error":"maintenance"}'; }
        if ($http_x_key ~ ^slow) { rewrite ^ /mock/slow last; }
        return 201 '{"id":"T-$http_x_key"}';
    }
    location = /mock/slow {
        internal;
        access_log logs/itsm.log;
        limit_rate 40;
        return 201 '{"id":"T-slow","padding":"........................................................"}';
    }
    location ~ ^/mock/ticket/[^/]+/comment$ {
        access_log logs/itsm.log;
        return 201 '{}';
    }
    location = /alerts { itsm_pass mock; }
    location = /itsm/connectors { itsm_connectors; }
_EOC_

# one alert: (status, its reason or outcome)
sub post {
    my ($key, $title) = @_;
    my $r = ItsmHttp::finish(ItsmHttp::start('{"key": "' . $key . '", "title": "' . ($title // 't') . '"}'));
    return answer($r);
}

sub answer {
    my ($r) = @_;
    my ($status) = $r =~ m{^HTTP/1\.1 (\d+)};
    my ($body) = $r =~ m{\r\n\r\n(.*)}s;
    my ($why) = ($body // '') =~ /"itsm_error":"([^"]*)"/;
    my ($outcome) = ($body // '') =~ /"outcome":"(\w+)"/;
    return ($status // 0) . ' ' . ($why // $outcome // '');
}

sub down { my $f = Test::Nginx::Util::server_root() . "/html/down"; if ($_[0]) { open my $h, '>', $f; close $h } else { unlink $f } }

sub limit { JSON::PP->new->canonical->encode(JSON::PP->new->decode((ItsmHttp::call('GET', '/itsm/connectors'))[1])->{connectors}[0]{limit}) }

# the requests the ITSM saw
sub seen { scalar ItsmHttp::log_lines('itsm.log', $_[0]) }

our $Conn = "not sent: as many requests as the connector's limit conn= allows are in flight (see Retry-After)";
our $Open = "not sent: the connector's circuit is open after failures in a row (limit breaker=; see Retry-After)";
our $Probing = "not sent: another request probes whether the ITSM is back (limit breaker=; see Retry-After)";
our $Rate = "not sent: the connector's limit rate= is reached (see Retry-After)";

ItsmConf::defaults(config => $Config, request => "GET /alerts\n", error_code => 405);

# limits nginx must refuse at load: [the block's title, the limit, the
# error it logs]
our @Refused = (
    ['conn=0, conn=10001, breaker=0, open= without breaker=, open=0',
     'conn=0',
     'invalid "conn=0" in "limit" of itsm_connector "mock"; write 1 to 10000, e.g. conn=4 or breaker=5'],
    ['conn=10001',
     'conn=10001',
     'invalid "conn=10001" in "limit" of itsm_connector "mock"; write 1 to 10000'],
    ['breaker=1001',
     'breaker=1001',
     'invalid "breaker=1001" in "limit" of itsm_connector "mock"; write 1 to 1000'],
    ['open= without breaker=',
     'conn=2 open=30s',
     '"open=" in "limit" of itsm_connector "mock" is how long the circuit of breaker= stays open: add breaker=N, e.g. breaker=5 open=30s'],
    ['open=0 and open=2h',
     'breaker=5 open=2h',
     'invalid open "2h" in "limit"; expected 1s to 1h, e.g. open=30s']);

ItsmBlocks::expand(refused_limits => join '', map {
    "=== TEST #: config: $_->[0]\n--- http_config eval: ::http_config('$_->[1]')\n--- config\n--- must_die\n"
    . "--- error_log\n$_->[2]\n\n\n\n"
} @Refused);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: conn=2 and an ITSM taking 2 s: of four at once, two are sent and two held back; once they end, the next goes
--- http_config eval: ::http_config('conn=2')
--- init
my @h = map { ItsmHttp::start(qq{{"key": "slow-$_", "title": "t"}}); } 1 .. 2;
sleep 0.5;
my @b = map { ::post("slow-$_") } 3 .. 4;
Test::More::is(join('|', @b), "503 $::Conn|503 $::Conn", 'the third and fourth: held back, and why');
Test::More::like(::limit(), qr/"conn":2,.*"in_flight":2/, 'the registry: 2 in flight of conn=2');
my @a = map { ::answer(ItsmHttp::finish($_)) } @h;
Test::More::is(join('|', @a), '201 created|201 created', 'the two sent were created');
Test::More::is(::seen(2), 2, 'the ITSM saw two');
Test::More::is(::post('e'), '201 created', 'then the next goes');
Test::More::like(::limit(), qr/"held":\{"create":2\},"in_flight":0/, 'none in flight, two held');
--- no_error_log
[error]



=== TEST 2: conn=1: one in flight at a time (the boundary: a second is held)
--- http_config eval: ::http_config('conn=1')
--- init
my $h = ItsmHttp::start(q{{"key": "slow-1", "title": "t"}});
sleep 0.5;
Test::More::is(::post('b'), "503 $::Conn", 'the second is held back');
Test::More::is(::answer(ItsmHttp::finish($h)), '201 created', 'the first was created');
Test::More::is(::post('c'), '201 created', 'then the next goes');



=== TEST 3: breaker=3 open=2s: three 503s in a row open the circuit; the fourth is not sent; after 2 s a probe goes, succeeds, closes it
--- http_config eval: ::http_config('breaker=3 open=2s')
--- init
::down(1);
my @a = map { ::post($_) } qw(a b c);
Test::More::is(join('|', map { (split / /)[0] } @a), '503|503|503', 'three failures');
Test::More::is(::post('d'), "503 $::Open", 'the fourth: not sent, the circuit is open');
Test::More::is(::seen(3), 3, 'the ITSM saw three');
Test::More::like(::limit(), qr/"breaker":\{"failures_in_a_row":0,"of":3,"open_for":[12],"opens":1,"probing":false\}/, 'the registry: open for 2 s');
::down(0);
sleep 2.1;
Test::More::is(::post('e'), '201 created', 'after 2 s: the probe goes and is created');
Test::More::is(::post('f'), '201 created', 'the circuit is closed: the next goes');
Test::More::is(::seen(5), 5, 'the ITSM saw five');
--- error_log
failures in a row reached limit breaker=; nothing is sent to the ITSM for 2 s, then one request probes it



=== TEST 4: breaker=3: two failures, a success, two failures: never three in a row, so never open
--- http_config eval: ::http_config('breaker=3 open=2s')
--- init
::down(1);
my @a = map { (split / /, ::post($_))[0] } qw(a b);
::down(0);
push @a, (split / /, ::post('c'))[0];
::down(1);
push @a, map { (split / /, ::post($_))[0] } qw(d e);
Test::More::is("@a", '503 503 201 503 503', 'the ITSM answered each');
Test::More::is(::seen(5), 5, 'all five were sent');
::down(0);
Test::More::is(::post('f'), '201 created', 'and the next too');
--- no_error_log
failures in a row reached



=== TEST 5: a probe that fails opens the circuit again
--- http_config eval: ::http_config('breaker=2 open=1s')
--- init
::down(1);
::post($_) for qw(a b);
sleep 1.1;
Test::More::like(::post('c'), qr/^503 \{/, 'the probe is sent and fails (the ITSM\'s words)');
Test::More::is(::post('d'), "503 $::Open", 'open again');
Test::More::is(::seen(3), 3, 'the ITSM saw the two and the probe');
Test::More::like(::limit(), qr/"opens":2/, 'opened twice');
::down(0);
--- error_log
the probe of the open circuit failed; nothing is sent to the ITSM for 1 s



=== TEST 6: while the probe is in flight, the others are held back
--- http_config eval: ::http_config('breaker=1 open=1s')
--- init
::down(1);
::post('a');
::down(0);
sleep 1.1;
my $h = ItsmHttp::start(q{{"key": "slow-probe", "title": "t"}});
sleep 0.5;
Test::More::is(::post('b'), "503 $::Probing", 'another request waits for the probe');
Test::More::is(::answer(ItsmHttp::finish($h)), '201 created', 'the probe succeeded');
Test::More::is(::post('c'), '201 created', 'closed');



=== TEST 7: rate=1r/s burst=2: creates take the whole burst, comments half of it: a comment is held back where a create still waits its turn
--- http_config eval: ::http_config('rate=1r/s burst=2')
--- init
::post('p');
::post('q');
sleep 3.1;
my @h;
for my $k (qw(p r q s)) {
    push @h, ItsmHttp::start(qq{{"key": "$k", "title": "again"}});
    sleep 0.05;
}
my @a = map { ::answer(ItsmHttp::finish($_)) } @h;
Test::More::is(join('|', @a), "200 commented|201 created|503 $::Rate|201 created",
               'p comments at once, r creates after 1 s, q would be a third above the rate: held; s creates after 2 s');
Test::More::like(::limit(), qr/"held":\{"comment":1\}/, 'the comment was held back');



=== TEST 8: with the queue: a replay the open circuit holds back is not an attempt; once the circuit's probe succeeds, the alert is delivered, not a dead letter
--- http_config eval
"    itsm_replay_url http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_itsm/replay;\n    itsm_retry attempts=2 backoff=1s max=1s;\n"
. ::http_config('breaker=1 open=4s')
--- config eval
$::Config . q{
    location = /queued { itsm_queue on; itsm_retry_after 1s; itsm_pass mock; }
    location = /_itsm/replay { itsm_replay; }
    location = /status { itsm_status; }
}
--- init
::down(1);
my ($code) = ItsmHttp::call('POST', '/queued', '{"key": "q1", "title": "t"}');
Test::More::is($code, 202, 'the ITSM is down: queued (and the circuit open)');
::down(0);
my $v;
for (1 .. 100) {
    my $c = JSON::PP->new->decode((ItsmHttp::call('GET', '/itsm/connectors'))[1])->{connectors}[0];
    # on Redis (ITSM_TEST_STORE=redis) a connector's counts are null: the
    # status page's totals of the shared queue (one connector here)
    $c = JSON::PP->new->decode((ItsmHttp::call('GET', '/status'))[1])->{store}
        unless defined $c->{queued};
    $v = "queued $c->{queued}, dead $c->{dead_letters}";
    last if defined $c->{queued} && $c->{queued} == 0;
    select(undef, undef, undef, 0.1);
}
Test::More::is($v, 'queued 0, dead 0', 'delivered, no dead letter');
Test::More::is(::seen(2), 2, 'the ITSM saw the failed create and the one after the circuit closed');
--- error_log eval
qr/itsm: connector "mock", key "q1": held back by the connector's limits: "not sent: the connector's circuit is open after failures in a row \(limit breaker=; see Retry-After\)"; due again in [1-4] s, the attempt not counted/
--- timeout: 20



%%% refused_limits
=== TEST 14: config: conn=10000 breaker=1000 open=1h are taken, and shown
--- http_config eval: ::http_config('conn=10000 breaker=1000 open=1h')
--- init
Test::More::is(::limit(), '{"breaker":{"failures_in_a_row":0,"of":1000,"open_for":0,"opens":0,"probing":false},"burst":0,"conn":10000,"held":{},"in_flight":0,"paused_for":0,"pauses":0,"rate":null,"waited":{}}', 'the registry');
