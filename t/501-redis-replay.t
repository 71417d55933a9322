# itsm_signature_replay redis (ngx_http_itsm_replay_redis.c): the seen
# deliveries in a Redis shared by two edges, A and B, each an nginx of its
# own (its own port, the same itsm_redis prefix=) in front of one
# "ITSM" (a small HTTP server of this file that counts what reaches it,
# answers ?status=N after ?sleep=S).  A delivery accepted on A is a replay
# on B; a copy on B while A's request runs is in flight (503, Retry-After);
# A's failure frees the key; the done key's PTTL is the rest of the
# tolerance window (both sides of its end) or the ttl; a key taken over by
# another token is neither made done nor deleted by its old owner (and the
# three scripts, run with redis-cli on the very text of the C file); the
# lease is renewed under a slow request; Redis stopped or mute: 503 +
# Retry-After, nothing reaches the ITSM; nginx -t's errors.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use HTTP::Tiny;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmSig;
use ItsmChild;
use ItsmForkItsm;

@ItsmReplayItsm::ISA = ('ItsmChild');

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $Secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my $Files = tempdir('itsm-replay-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $Hits = "$Files/hits";
my $Prefix = 'rr' . int(rand(1e6)) . ':';

# DEBUG SLEEP holds Redis' answers (a client gone while its SET waits)
my $Redis = ItsmRedis->start(args => ['--enable-debug-command', 'yes']);
my $Mute = ItsmPorts::listen_socket();   # accepts (backlog), never answers

# the ITSM: one process per connection, so that a slow answer holds no other
sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        open my $fh, '>>', $Hits or POSIX::_exit(1);
        print $fh "$req->{path} $req->{body}\n";
        close $fh;
        my ($s) = $req->{path} =~ /sleep=([\d.]+)/;
        my ($status) = $req->{path} =~ /status=(\d+)/;
        sleep($s) if $s;
        $status //= 200;
        return ($status, qq({"itsm":$status}\n));
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmReplayItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    my ($re) = @_;
    open my $fh, '<', $Hits or return 0;
    return scalar grep { /$re/ } <$fh>;
}

# an edge: an nginx of its own, the configuration given or the usual one
sub conf {
    my ($port, $redis, $server) = @_;
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    return $load . <<"END";
worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    itsm_zone itsm:1m;
    $redis
    server {
        listen 127.0.0.1:$port;
        itsm_access_retry_after 7s;
        proxy_read_timeout 60s;
$server
        location = /status { itsm_status; }
    }
}
END
}

my $Locations = <<"END";
        location /hook {
            itsm_signature standard_webhooks secret=$Secret;
            itsm_signature_tolerance 20s;
            itsm_signature_replay redis;
            proxy_pass http://127.0.0.1:$ItsmPort;
        }
        location /lease {
            itsm_signature standard_webhooks secret=$Secret;
            itsm_signature_replay redis lease=600ms;
            proxy_pass http://127.0.0.1:$ItsmPort;
        }
        location /gh {
            itsm_signature github secret=gh;
            itsm_signature_replay redis ttl=7s;
            proxy_pass http://127.0.0.1:$ItsmPort;
        }
END

sub edge {
    my ($name, %o) = @_;
    my $dir = tempdir("itsm-replay-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $redis = $o{redis} // "itsm_redis address=127.0.0.1:" . $Redis->port
                             . " prefix=$Prefix timeout=" . (2 * $Slow) . "s ping=1s;";
    my $text = conf($port, $redis, $o{locations} // $Locations);
    $text =~ s{^(http \{\n)}{$1 . join('', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                                             qw(client_body proxy fastcgi uwsgi scgi))}me;
    $text =~ s{^(worker_processes)}{pid $dir/nginx.pid;\n$1}m;
    my $self = bless {name => "replay-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 60 * $Slow,
                                              keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

my $Alert = '{"key": "rr-1", "title": "Replayed on Redis"}';

sub signed {
    my (%o) = @_;
    my $h = ItsmSig::headers('standard_webhooks', secret => $Secret,
                             body => $o{body} // $Alert, %o);
    return {map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () } split /\n/, $h};
}

# the end of a request is written to Redis once it is freed, just after
# its answer: waits (at most 3 s) until CODE is true
sub settled {
    my ($code) = @_;
    my $until = time() + 3 * $Slow;
    until ($code->()) {
        return 0 if time() > $until;
        sleep 0.02;
    }
    return 1;
}

sub keys_of { grep { length } split /\n/, $Redis->cli('--raw', 'KEYS', "$Prefix\{s}:*") }

# a request sent now, its answer read later
sub send_later {
    my ($edge, $path, $h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $edge->port(8080))
        or die "connect: $!\n";
    my $req = "POST $path HTTP/1.0\r\nHost: x\r\nContent-Length: " . length($Alert)
              . "\r\n" . join('', map { "$_: $h->{$_}\r\n" } sort keys %$h)
              . "\r\n$Alert";
    print $s $req;
    return $s;
}

sub read_later {
    my ($s) = @_;
    local $/;
    my $r = <$s> // '';
    close $s;
    my ($status) = $r =~ m{^HTTP/1\.\d (\d+)};
    return $status // 0;
}

my $Json = JSON::PP->new->canonical(1);

# --- nginx -t ---------------------------------------------------------

{
    my $e = edge('t1', redis => '', locations => <<"END");
        location /x {
            itsm_signature standard_webhooks secret=$Secret;
            itsm_signature_replay redis;
        }
END
    my ($ok, $out) = $e->test;
    ok(!$ok, 'nginx -t: redis without itsm_redis fails');
    like($out, qr/\[emerg\] "itsm_signature_replay redis" needs an "itsm_redis"; declare it at http level before the server, e\.g\. "itsm_redis address=127\.0\.0\.1:6379;" in \Q${\$e->conf}\E:\d+\n/,
         'nginx -t: the message, with file:line');

    $e = edge('t2', locations => "        location /x { itsm_signature standard_webhooks secret=$Secret; itsm_signature_replay redis lease=soon; }\n");
    ($ok, $out) = $e->test;
    ok(!$ok, 'nginx -t: a bad lease fails');
    like($out, qr/invalid lease "soon"; e\.g\. lease=30s in \Q${\$e->conf}\E:\d+/, 'nginx -t: lease message');

    $e = edge('t3', locations => "        location /x { itsm_signature standard_webhooks secret=$Secret; itsm_signature_replay redis zone=seen; }\n");
    ($ok, $out) = $e->test;
    ok(!$ok, 'nginx -t: redis and zone= together fail');
    like($out, qr/"itsm_signature_replay" takes either redis or zone=, not both in /, 'nginx -t: both message');

    $e = edge('t4', locations => "        location /x { itsm_signature_replay redis; }\n");
    ($ok, $out) = $e->test;
    ok(!$ok, 'nginx -t: redis without itsm_signature fails');
    like($out, qr/itsm_signature_replay in \S+:\d+ acts on signed deliveries only/, 'nginx -t: unsigned message');

    $e = edge('t5');
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: the edges\' configuration passes') or diag $out;
}

my $A = edge('a')->start;
my $B = edge('b')->start;

sleep 0.5 * $Slow;   # connected

my $Dup = qq({"status":"duplicate","message":"this delivery was already accepted; it is not processed again"}\n);
my $InFlight = qq({"error":"delivery_in_flight","message":"the same delivery is being processed right now; send it again later if that fails"}\n);

# --- accepted on A, a replay on B ---------------------------------------

{
    my $h = signed(id => 'msg_ab');
    my $r = $A->post('/hook/ab', $Alert, $h);
    is($r->{status}, 200, 'A: a new delivery reaches the ITSM: 200');
    is($r->{content}, qq({"itsm":200}\n), 'A: the ITSM\'s answer');
    $r = $B->post('/hook/ab', $Alert, $h);
    is($r->{status}, 200, 'B: the same delivery: 200');
    is($r->{content}, $Dup, 'B: answered as a duplicate');
    $r = $A->post('/hook/ab', $Alert, $h);
    is($r->{content}, $Dup, 'A: a duplicate too');
    is(hits(qr{^/hook/ab }), 1, 'the ITSM saw it once');
    my ($k) = keys_of();
    like($k, qr/^\Q$Prefix\E\{s\}:[0-9a-f]{64}$/, 'the key: prefix{s}:hex');
    like($Redis->cli('--raw', 'GET', $k), qr/^done \S+:\d+ [0-9a-f]{32}$/, 'its value: done <edge> <token>');
    $Redis->cli('DEL', $k);
}

# --- in flight on A: B's copy is 503 + Retry-After -------------------------

{
    my $h = signed(id => 'msg_flight');
    my $s = send_later($A, '/hook/flight?sleep=' . (2 * $Slow), $h);
    sleep 0.7 * $Slow;
    my ($k) = keys_of();
    like($Redis->cli('--raw', 'GET', $k // ''), qr/^pending \S+:\d+ [0-9a-f]{32}$/, 'pending <edge> <token> while A runs');
    my $r = $B->post('/hook/flight', $Alert, $h);
    is($r->{status}, 503, 'B: the copy while A\'s is pending: 503');
    is($r->{headers}{'retry-after'}, '7', 'B: Retry-After');
    is($r->{content}, $InFlight, 'B: delivery_in_flight');
    is(read_later($s), 200, 'A: its request ends 200');
    ok(settled(sub { $Redis->cli('--raw', 'GET', $k // '') =~ /^done / }), 'then done');
    $r = $B->post('/hook/flight', $Alert, $h);
    is($r->{content}, $Dup, 'B: then a duplicate');
    is(hits(qr{^/hook/flight}), 1, 'the ITSM saw it once');
    $Redis->cli('DEL', $_) for keys_of();
}

# --- A fails: the key is freed, B processes the copy ---------------------

{
    my $h = signed(id => 'msg_fail');
    my $r = $A->post('/hook/fail?status=502', $Alert, $h);
    is($r->{status}, 502, 'A: the ITSM fails: 502');
    ok(settled(sub { !keys_of() }), 'A\'s failure deleted its key');
    my $r2 = $B->post('/hook/fail', $Alert, $h);
    is($r2->{status}, 200, 'B: the copy is processed afresh: 200');
    is($r2->{content}, qq({"itsm":200}\n), 'B: the ITSM\'s answer');
    is(hits(qr{^/hook/fail}), 2, 'the ITSM saw it twice');
    ok(!grep({ $Redis->cli('--raw', 'GET', $_) =~ /^pending/ } keys_of()), 'no pending key left');
    $Redis->cli('DEL', $_) for keys_of();
}

# --- the done key's PTTL ---------------------------------------------------

sub pttl_after {
    my ($edge, $path, $h) = @_;
    my $r = $edge->post($path, $Alert, $h);
    settled(sub { my ($k) = keys_of(); $k && $Redis->cli('--raw', 'GET', $k) =~ /^done / });
    my ($k) = keys_of();
    my $pttl = $Redis->cli('--raw', 'PTTL', $k // 'none');
    my $now = int(time() * 1000);
    $Redis->cli('DEL', $k) if $k;
    chomp $pttl;
    return ($r, $pttl, $now);
}

{
    my $ts = int(time()) - 15;     # the tolerance (20s) ends at ts + 20
    my ($r, $pttl, $now) = pttl_after($A, '/hook/pttl', signed(id => 'msg_pttl', ts => $ts));
    is($r->{status}, 200, 'PTTL: accepted');
    my $expect = ($ts + 21) * 1000 - $now;   # through the second ts + 20
    ok(abs($pttl - $expect) <= 150, "PTTL: the rest of the window ($pttl ~ $expect ms)");

    $ts = int(time()) - 20;        # the last second it is accepted
    ($r, $pttl) = pttl_after($A, '/hook/edge', signed(id => 'msg_edge', ts => $ts));
    is($r->{status}, 200, 'PTTL at the end of the window: accepted');
    ok($pttl > 0 && $pttl <= 1000, "PTTL at the end of the window: at most a second ($pttl)");

    $ts = int(time()) - 22;        # past it
    ($r, $pttl) = pttl_after($A, '/hook/late', signed(id => 'msg_late', ts => $ts));
    is($r->{status}, 401, 'past the window: 401');
    is($pttl, -2, 'past the window: no key');
    is(hits(qr{^/hook/late}), 0, 'past the window: not processed');

    my $gh = ItsmSig::headers('github', key => 'gh', body => $Alert, bare => 1);
    my %gh = map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () } split /\n/, $gh;
    ($r, $pttl) = pttl_after($A, '/gh/ttl', \%gh);
    is($r->{status}, 200, 'ttl=7s: accepted');
    ok($pttl > 5800 && $pttl <= 7000, "ttl=7s: PTTL about 7 s ($pttl)");
}

# --- compare-and-delete: a key taken over is not touched by its old owner -

{
    my $h = signed(id => 'msg_taken');
    my $s = send_later($A, '/hook/taken?sleep=' . (1.5 * $Slow), $h);
    sleep 0.5 * $Slow;
    my ($k) = keys_of();
    ok($k, 'taken over: A\'s pending key');
    $Redis->cli('SET', $k, 'pending other:1 feedfeed', 'PX', 60000);
    is(read_later($s), 200, 'taken over: A\'s request ends 200');
    sleep 0.3 * $Slow;
    is($Redis->cli('--raw', 'GET', $k), "pending other:1 feedfeed\n", 'taken over: not made done by A');

    $h = signed(id => 'msg_taken2');
    $s = send_later($A, '/hook/taken2?status=500&sleep=' . (1.5 * $Slow), $h);
    sleep 0.5 * $Slow;
    my @k = grep { $_ ne $k } keys_of();
    ok(@k == 1, 'taken over (failing): A\'s pending key');
    $Redis->cli('SET', $k[0], 'pending other:1 beefbeef', 'PX', 60000);
    is(read_later($s), 500, 'taken over (failing): A\'s request ends 500');
    sleep 0.3 * $Slow;
    is($Redis->cli('--raw', 'GET', $k[0]), "pending other:1 beefbeef\n", 'taken over: not deleted by A');
    $Redis->cli('DEL', $k, $k[0]);
}

# the scripts themselves, the text of the C file
{
    open my $fh, '<', "$FindBin::Bin/../ngx_itsm_module/ngx_http_itsm_replay_redis.c" or die $!;
    my $c = do { local $/; <$fh> };
    my %script;
    while ($c =~ /#define NGX_HTTP_ITSM_REPLAY_REDIS_(DONE|DEL|RENEW)\s+\\\n((?:\s*"[^"]*"\s*\\?\n)+)/g) {
        my ($n, $t) = ($1, $2);
        $script{$n} = join '', $t =~ /"([^"]*)"/g;
    }
    is(scalar(keys %script), 3, 'three scripts in the C file');
    my $k = "$Prefix\{s}:script";
    $Redis->cli('SET', $k, 'pending e:1 other');
    is($Redis->cli('--raw', 'EVAL', $script{DEL}, 1, $k, 'pending e:1 mine'), "0\n", 'DEL: another token: 0');
    is($Redis->cli('--raw', 'EVAL', $script{DONE}, 1, $k, 'pending e:1 mine', 'done e:1 mine', 5000), "0\n", 'DONE: another token: 0');
    is($Redis->cli('--raw', 'EVAL', $script{RENEW}, 1, $k, 'pending e:1 mine', 5000), "0\n", 'RENEW: another token: 0');
    is($Redis->cli('--raw', 'GET', $k), "pending e:1 other\n", 'the other\'s value is intact');
    is($Redis->cli('--raw', 'PTTL', $k), "-1\n", 'and its expiry');
    is($Redis->cli('--raw', 'EVAL', $script{RENEW}, 1, $k, 'pending e:1 other', 5000), "1\n", 'RENEW: its token: 1');
    chomp(my $p = $Redis->cli('--raw', 'PTTL', $k));
    ok($p > 4000 && $p <= 5000, "RENEW: PEXPIRE ($p)");
    is($Redis->cli('--raw', 'EVAL', $script{DONE}, 1, $k, 'pending e:1 other', 'done e:1 other', 9000), "1\n", 'DONE: its token: 1');
    is($Redis->cli('--raw', 'GET', $k), "done e:1 other\n", 'DONE: the value');
    chomp($p = $Redis->cli('--raw', 'PTTL', $k));
    ok($p > 8000 && $p <= 9000, "DONE: PX ($p)");
    $Redis->cli('SET', $k, 'pending e:1 other');
    is($Redis->cli('--raw', 'EVAL', $script{DEL}, 1, $k, 'pending e:1 other'), "1\n", 'DEL: its token: 1');
    is($Redis->cli('--raw', 'EXISTS', $k), "0\n", 'DEL: gone');
}

# --- the lease is renewed under a slow request ---------------------------

{
    my $h = signed(id => 'msg_lease');
    my $s = send_later($A, '/lease/slow?sleep=' . (2 * $Slow), $h);
    sleep 0.4 * $Slow;
    my ($k) = keys_of();
    chomp(my $p = $Redis->cli('--raw', 'PTTL', $k // 'none'));
    ok($p > 0 && $p <= 600, "lease=600ms: PTTL at most the lease ($p)");
    sleep 1.2 * $Slow;    # two leases: only renewals keep it
    like($Redis->cli('--raw', 'GET', $k // 'none'), qr/^pending /, 'lease: still pending after twice the lease');
    my $r = $B->post('/lease/slow', $Alert, $h);
    is($r->{status}, 503, 'lease: B\'s copy is in flight');
    is(read_later($s), 200, 'lease: A ends 200');
    $Redis->cli('DEL', $_) for keys_of();
}

# --- a client gone while its SET waits: cancelled, the key freed -------------

{
    my $h = signed(id => 'msg_gone');
    system('redis-cli -p ' . $Redis->port . ' DEBUG SLEEP ' . (0.8 * $Slow) . ' >/dev/null 2>&1 &');
    sleep 0.2 * $Slow;
    my $s = send_later($A, '/hook/gone', $h);
    sleep 0.2 * $Slow;
    close $s;             # A's SET is still unanswered
    ok(settled(sub { $Redis->cli('PING') =~ /PONG/ && !keys_of() }), 'gone: no key left once Redis answers');
    my $r = $B->post('/hook/gone', $Alert, $h);
    is($r->{status}, 200, 'gone: the copy on B is processed');
    is(hits(qr{^/hook/gone}), 1, 'gone: the ITSM saw only B\'s');
    $Redis->cli('DEL', $_) for keys_of();
}

# --- the status page counts them -------------------------------------------

{
    my $st = $B->get('/status')->{json};
    is($st->{access}{duplicate}, 2, 'B\'s status: 2 duplicates');
    is($st->{access}{delivery_in_flight}, 2, 'B\'s status: 2 in flight');
    is($st->{access}{passed}, 2, 'B\'s status: 2 passed');
}

# --- Redis unreachable: 503 + Retry-After, never processed ------------------

{
    $Redis->stop;
    sleep 1.5 * $Slow;
    my $before = hits(qr{^/hook/down});
    my $r = $A->post('/hook/down', $Alert, signed(id => 'msg_down'));
    is($r->{status}, 503, 'Redis stopped: 503');
    is($r->{headers}{'retry-after'}, '7', 'Redis stopped: Retry-After');
    is($r->{content}, qq({"error":"replay_cache_unavailable","message":"the replay cache (redis) is unavailable; see the error log; send it again later"}\n),
       'Redis stopped: the JSON error');
    is(hits(qr{^/hook/down}), 0, 'Redis stopped: the ITSM never saw it');
    like($A->error_log, qr/\[error\].*itsm: the replay cache on redis is unavailable: redis 127\.0\.0\.1:\d+: /,
         'Redis stopped: logged at error');
    is($A->get('/status')->{json}{access}{replay_cache_unavailable}, 1, 'Redis stopped: counted');
    $Redis->restart;
}

{
    my $C = edge('mute', redis => "itsm_redis address=127.0.0.1:" . $Mute->sockport
                                  . " prefix=$Prefix timeout=500ms connect_timeout=5s ping=10s;",
                 locations => $Locations . <<"END")->start;
        location /zero {
            itsm_signature standard_webhooks secret=$Secret;
            itsm_signature_replay redis;
            itsm_access_retry_after 0s;
            proxy_pass http://127.0.0.1:$ItsmPort;
        }
END
    my $t = time();
    my $r = $C->post('/hook/mute', $Alert, signed(id => 'msg_mute'));
    is($r->{status}, 503, 'Redis mute: 503 after the timeout');
    ok(time() - $t < 3 * $Slow, 'Redis mute: no hang');
    is($r->{headers}{'retry-after'}, '7', 'Redis mute: Retry-After');
    is(hits(qr{^/hook/mute}), 0, 'Redis mute: the ITSM never saw it');
    like($C->error_log, qr/\[error\].*itsm: the replay cache on redis is unavailable: .*timed out/,
         'Redis mute: logged at error');
    $r = $C->post('/zero/mute', $Alert, signed(id => 'msg_zero'));
    is($r->{status}, 503, 'Redis mute, itsm_access_retry_after 0s: 503');
    is($r->{headers}{'retry-after'}, '1', 'Redis mute: Retry-After at least 1');
    $C->stop;
}

$A->stop;
$B->stop;

for my $e ($A, $B) {
    unlike($e->error_log, qr/\[(?:alert|crit|emerg)\]/, "$e->{name}: no alert in the error log");
}

done_testing();
