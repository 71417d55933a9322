# Delivery ids in Redis (itsm_store redis, ngx_http_itsm_dedup.c): two
# edges, A and B, each an nginx of its own on one redis-server (the same
# itsm_redis prefix=), in front of one "ITSM" of this file that logs every
# request and numbers the tickets it creates.
#
# - the same Idempotency-Key on A then B: B answers A's first answer
#   (200, "replayed":true, A's ticket), nothing sent twice; the Redis key
#   holds that answer;
# - a different body with the same key on B: 422 idempotency_key_reused,
#   nothing sent;
# - a copy that finds another copy in flight (the "pending" mark) goes on,
#   and the store makes it a duplicate: nothing sent twice;
# - the window (itsm_dedup TEMPLATE window=2s) on both sides of its end:
#   inside, B gives A's first answer again; after it, the id is gone from
#   Redis and B's copy goes to the store, which calls it a duplicate;
# - a window longer than 2^31 ms (25 days) is kept whole;
# - Redis stopped: 503 + Retry-After, "store_unavailable", nothing sent.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;

@ItsmDedupItsm::ISA = ('ItsmChild');

my $Files = tempdir('itsm-dedup-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'dd' . int(rand(1e6)) . ':';

my $Redis = ItsmRedis->start;

# ---- the ITSM: every request logged, creates numbered ----------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
        flock($lk, 2);
        my $n = 1 + (-s "$Files/created" // 0);
        open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
        open my $fh, '>>', $Hits; print $fh "$req->{method} $req->{path} $req->{body}\n"; close $fh;
        close $lk;
        return (201, qq({"id":"T$n"}));
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmDedupItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    open my $fh, '<', $Hits or return 0;
    my @h = <$fh>;
    return scalar @h;
}

# ---- the edges ----------------------------------------------------------------

sub edge {
    my ($name) = @_;
    my $dir = tempdir("itsm-dd-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temps = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                         qw(client_body proxy fastcgi uwsgi scgi);
    my $redis = $Redis->port;
    my $text = $load . <<"END";
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
$temps    access_log off;
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$redis prefix=$Prefix timeout=2s ping=1s;
    itsm_store redis;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
        on_repeat nothing;
    }
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; }
        location = /window { itsm_dedup "{{ /delivery }}" window=2s; itsm_pass mock; }
        location = /long { itsm_dedup "{{ /delivery }}" window=25d; itsm_pass mock; }
        location /_itsm/mock { internal; proxy_pass http://127.0.0.1:$ItsmPort; }
    }
}
END
    my $self = bless {name => "dedup-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 30, keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert {
    my ($key, $title, $delivery) = @_;
    return qq({"key": "$key", "title": "$title", "status": "firing")
           . (defined $delivery ? qq(, "delivery": "$delivery") : '') . '}';
}

# an answer's body, without its final line break
sub body { my ($res) = @_; (my $b = $res->{content}) =~ s/\n\z//; $b }

# the value of the delivery id's key in Redis (mock's, one alert)
sub dkey { "$Prefix\{d:mock:$_[0]}" }
sub dval { my $v = $Redis->cli('--raw', 'GET', dkey($_[0])); chomp $v; $v }

my $A = edge('a')->start;
my $B = edge('b')->start;

# ---- the same Idempotency-Key on A, then on B --------------------------------

my $first = $A->post('/alerts', alert('db-1', 'Disk full'), {'Idempotency-Key' => 'k-0001'});
is($first->{status}, 201, 'A: a new delivery: created');
is(body($first),
   '{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"T1"}]}',
   'A: its answer');
is(hits(), 1, 'A: one request to the ITSM');
like(dval('k-0001'), qr/^a [0-9a-f]{16} 0 0 T1$/, 'Redis: the id holds A\'s first answer (body hash, create, created, T1)');

my $again = $B->post('/alerts', alert('db-1', 'Disk full'), {'Idempotency-Key' => 'k-0001'});
is($again->{status}, 200, 'B: the same delivery: 200');
is(body($again),
   '{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"T1","replayed":true}]}',
   'B: A\'s first answer again, replayed');
is(hits(), 1, 'B: nothing sent to the ITSM');
like($B->error_log, qr/delivery "k-0001" was seen before: its first answer is given again/,
     'B: its log says why');

# ---- the same key with another body on B: 422 --------------------------------

my $reused = $B->post('/alerts', alert('db-1', 'Disk FULL'), {'Idempotency-Key' => 'k-0001'});
is($reused->{status}, 422, 'B: the same key, another body: 422');
like($reused->{content}, qr/"error":"idempotency_key_reused"/, 'B: idempotency_key_reused');
is(hits(), 1, 'B: nothing sent');

# the mark of a copy in flight binds the body too: a copy with another
# body is refused while the first is still at work
$Redis->cli('SET', dkey('k-0002'), 'p 00000000000000ff', 'PX', 60000);
my $busy = $A->post('/alerts', alert('db-2', 'x'), {'Idempotency-Key' => 'k-0002'});
is($busy->{status}, 422, 'in flight, another body: 422');
is(hits(), 1, 'in flight, another body: nothing sent');

# a copy that finds the mark of one in flight goes on: the store has the
# key already (db-1's ticket), so it is a duplicate and nothing is sent
$Redis->cli('SET', dkey('k-0003'), 'p 0000000000000000', 'PX', 60000);
my $flight = $B->post('/alerts', alert('db-1', 'Disk full'), {'Idempotency-Key' => 'k-0003'});
is($flight->{status}, 200, 'in flight, the same body: goes on (200)');
is(body($flight),
   '{"status":"duplicate","alerts":[{"key":"db-1","action":"none","outcome":"duplicate","connector":"mock","ticket_id":"T1","reason":"a ticket is already open for this key"}]}',
   'in flight: the store\'s duplicate of T1, not a replayed answer');
is(hits(), 1, 'in flight: nothing sent');
is(dval('k-0003'), 'p 0000000000000000', 'in flight: the mark is left to its owner');

# ---- the window: 2 s, both sides of its end ----------------------------------

my $w1 = $A->post('/window', alert('db-3', 'CPU', 'w-1'));
is($w1->{status}, 201, 'window: A creates');
is(hits(), 2, 'window: one more request to the ITSM');
my $pttl = $Redis->cli('--raw', 'PTTL', dkey('w-1'));
chomp $pttl;
ok($pttl > 0 && $pttl <= 2000, "window: the id expires within 2 s in Redis ($pttl ms)");

my $w2 = $B->post('/window', alert('db-3', 'CPU', 'w-1'));
is(body($w2),
   '{"status":"created","alerts":[{"key":"db-3","action":"create","outcome":"created","connector":"mock","ticket_id":"T2","replayed":true}]}',
   'window: inside it, B gives A\'s first answer');

# past the window: Redis has let the id go (at most 20 s, not to hang)
my $until = time + 20;
sleep 0.1 until $Redis->cli('--raw', 'EXISTS', dkey('w-1')) =~ /^0/ || time > $until;
is($Redis->cli('--raw', 'EXISTS', dkey('w-1')), "0\n", 'window: past it, the id is gone from Redis');
my $w3 = $B->post('/window', alert('db-3', 'CPU', 'w-1'));
is(body($w3),
   '{"status":"duplicate","alerts":[{"key":"db-3","action":"none","outcome":"duplicate","connector":"mock","ticket_id":"T2","reason":"a ticket is already open for this key"}]}',
   'window: after it, the store\'s duplicate (the id is new again)');
is(hits(), 2, 'window: nothing sent twice');
like(dval('w-1'), qr/^a [0-9a-f]{16} \d+ 5 T2$/, 'window: the id holds its new first answer (duplicate)');

# ---- a window longer than 2^31 ms (25 days: 2,160,000,000 ms) -----------------

my $l1 = $A->post('/long', alert('db-5', 'Long', 'l-1'));
is($l1->{status}, 201, 'a 25-day window: A creates');
my $lttl = $Redis->cli('--raw', 'PTTL', dkey('l-1'));
chomp $lttl;
ok($lttl > 2_159_000_000 && $lttl <= 2_160_000_000, "a 25-day window: the id's PTTL in Redis ($lttl ms)");
my $l2 = $B->post('/long', alert('db-5', 'Long', 'l-1'));
is(body($l2),
   '{"status":"created","alerts":[{"key":"db-5","action":"create","outcome":"created","connector":"mock","ticket_id":"T3","replayed":true}]}',
   'a 25-day window: B gives A\'s first answer');
is(hits(), 3, 'a 25-day window: one request to the ITSM');

# ---- Redis down: 503 -----------------------------------------------------------

$Redis->stop;
my $down = $A->post('/alerts', alert('db-4', 'Down'), {'Idempotency-Key' => 'k-0004'});
is($down->{status}, 503, 'Redis down: 503');
ok($down->{headers}{'retry-after'}, 'Redis down: Retry-After');
like($down->{content}, qr/"error":"store_unavailable".*could not look up the delivery id \\"k-0004\\" in the store/,
     'Redis down: the delivery id could not be looked up');
is(hits(), 3, 'Redis down: nothing sent');

$A->stop;
$B->stop;

done_testing();
