# itsm_store redis replicas=N (ngx_http_itsm_store_redis.c): a claim won
# to create waits (WAIT) until N Redis replicas have it, and its doubt,
# before the ITSM is asked, so that a failover right after the claim
# cannot lose it and let a copy create a second ticket without a find.
#
# One primary and one replica (--replicaof), both Debian's redis-server:
# - replicas=1 with the replica in sync: the create goes out (one at the
#   mock), one WAIT at the primary, the record on the replica too; a
#   duplicate afterwards sends no WAIT (only a claim to create waits);
# - replicas=1 with the replica stopped: 503 + Retry-After and the store's
#   JSON error, nothing at the mock, the claim released (no :c key) and
#   no doubt left in the record; the replica back: the retry creates once;
# - replicas=2 with one replica: never enough, 503, nothing sent;
# - no replicas= (0): no WAIT at all;
# - nginx -t: replicas= on an LMDB store, and out of 0..64, refused.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmHttp;
use ItsmRedis;
use Time::HiRes qw(sleep);

our $Primary = ItsmRedis->start;
our $Replica = ItsmRedis->start(args => ['--replicaof', '127.0.0.1', $Primary->port]);
our $PP = $Primary->port;

# the replica has caught up with the primary
sub synced {
    for (1 .. 100) {
        my $info = $Replica->cli('INFO', 'replication');
        return 1 if $info =~ /^master_link_status:up\r?$/m
                    && $Primary->cli('INFO', 'replication') =~ /^connected_slaves:1\r?$/m;
        sleep 0.1;
    }
    return 0;
}

# calls of WAIT at the primary since the last reset
sub waits {
    my ($n) = $Primary->cli('INFO', 'commandstats') =~ /^cmdstat_wait:calls=(\d+)/m;
    return $n // 0;
}

sub creates { scalar ItsmHttp::read_lines('creates.log') }

# the record's header fields (r1 doubt hash ...) of the one key of prefix P
sub header {
    my ($r, $p) = @_;
    my ($k) = grep { /:r$/ } split /\n/, $r->cli('--scan', '--pattern', "$p*");
    return '' unless $k;
    my ($h) = split /\n/, $r->cli('GET', $k);
    return $h // '';
}

sub alert { qq({"key": "$_[0]", "title": "disk full", "status": "firing"}) }

our $Http = <<"EOF";
    itsm_redis address=127.0.0.1:$PP timeout=1s prefix=PREFIX;
    itsm_store redis REPLICAS;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
    }
EOF

our $Config = <<'EOF';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { access_log logs/creates.log; return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
EOF

sub http { my ($prefix, $replicas) = @_; return $Http =~ s/PREFIX/$prefix/r =~ s/REPLICAS/$replicas/r }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: replicas=1, the replica in sync: one WAIT, the create sent, the record on the replica; a duplicate sends no WAIT
--- http_config eval: ::http('t1:', 'replicas=1')
--- config eval: $::Config
--- init
Test::More::ok(::synced(), 'the replica is in sync');
$::Primary->cli('CONFIG', 'RESETSTAT');
my ($s, $b) = ItsmHttp::call('POST', '/alerts', ::alert('disk-1'));
Test::More::is($s, 201, 'created');
Test::More::like($b, qr/"action":"create","outcome":"created","connector":"mock","ticket_id":"T1"/, 'the ticket named');
Test::More::is(::creates(), 1, 'one create at the mock');
Test::More::is(::waits(), 1, 'one WAIT at the primary');
Test::More::ok(::synced(), 'in sync again');
Test::More::like(::header($::Replica, 't1:'), qr/^r1 0 /, 'the committed record on the replica, no doubt');
($s, $b) = ItsmHttp::call('POST', '/alerts', ::alert('disk-1'));
Test::More::is($s, 200, 'the copy: 200');
Test::More::like($b, qr/"action":"none","outcome":"duplicate","connector":"mock","ticket_id":"T1"/, 'a duplicate of T1');
Test::More::is(::waits(), 1, 'no WAIT for it');
Test::More::is(::creates(), 1, 'still one create');
--- request
GET /mock/ticket
--- error_code: 201



=== TEST 2: replicas=1, the replica stopped: 503 + Retry-After, nothing sent, the claim and its doubt gone; the replica back: the retry creates once
--- http_config eval: ::http('t2:', 'replicas=1')
--- config eval: $::Config
--- init
$::Replica->stop;
$::Primary->cli('CONFIG', 'RESETSTAT');
my ($s, $b, $h) = ItsmHttp::call_head('POST', '/alerts', ::alert('disk-2'));
Test::More::is($s, 503, 'not acknowledged: 503');
Test::More::like($b, qr/^\{"error":"store_unavailable"/, 'the store\'s JSON error');
Test::More::like($h, qr/^Retry-After: \d+\r?$/mi, 'with Retry-After');
Test::More::is(::creates(), 0, 'nothing at the mock');
Test::More::is(::waits(), 1, 'the claim waited once');
sleep 0.3;
Test::More::is($::Primary->cli('--scan', '--pattern', 't2:*:c'), '', 'the claim released');
Test::More::like(::header($::Primary, 't2:'), qr/^r1 0 /, 'no doubt left in the record');
$::Replica->restart;
Test::More::ok(::synced(), 'the replica back in sync');
($s, $b) = ItsmHttp::call('POST', '/alerts', ::alert('disk-2'));
Test::More::is($s, 201, 'the retry: created');
Test::More::is(::creates(), 1, 'one create');
--- request
GET /mock/ticket
--- error_code: 201
--- error_log eval
qr/\[error\] .*itsm_store redis: the claim of "disk-2" reached 0 of the 1 replicas of "replicas=" in time: the ticket is not created now/



=== TEST 3: replicas=2 with one replica: never enough, 503, nothing sent
--- http_config eval: ::http('t3:', 'replicas=2')
--- config eval: $::Config
--- init
Test::More::ok(::synced(), 'the replica is in sync');
my ($s, $b) = ItsmHttp::call('POST', '/alerts', ::alert('disk-3'));
Test::More::is($s, 503, 'one of two: 503');
Test::More::is(::creates(), 0, 'nothing at the mock');
--- request
GET /mock/ticket
--- error_code: 201
--- error_log eval
qr/reached 1 of the 2 replicas of "replicas="/



=== TEST 4: no replicas=: no WAIT
--- http_config eval: ::http('t4:', '')
--- config eval: $::Config
--- init
$::Primary->cli('CONFIG', 'RESETSTAT');
my ($s) = ItsmHttp::call('POST', '/alerts', ::alert('disk-4'));
Test::More::is($s, 201, 'created');
Test::More::is(::waits(), 0, 'no WAIT');
--- request
GET /mock/ticket
--- error_code: 201



=== TEST 5: replicas= on an LMDB store is refused
--- http_config
    itsm_store logs/state.mdb replicas=1;
--- config
--- must_die
--- error_log eval
qr/"replicas=1" is for "itsm_store redis" \(the Redis replicas a claim to create waits for\); an LMDB store has none in \S+nginx\.conf:\d+/



=== TEST 6: replicas=65 is refused, naming the range
--- http_config eval: ::http('t6:', 'replicas=65')
--- config
--- must_die
--- error_log eval
qr/invalid "replicas=65": the number of Redis replicas that must have a claim to create before the ITSM is asked, 0 to 64, e.g. replicas=1 in \S+nginx\.conf:\d+/



=== TEST 7: replicas=x is refused
--- http_config eval: ::http('t7:', 'replicas=x')
--- config
--- must_die
--- error_log eval
qr/invalid "replicas=x"/



=== TEST 8: replicas=64 is taken (nginx starts)
--- http_config eval: ::http('t8:', 'replicas=64')
--- config eval: $::Config
--- request
GET /mock/ticket
--- error_code: 201
