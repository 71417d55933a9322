# itsm_signature_replay over time: a delivery that got a 2xx is a duplicate
# for as long as it could be replayed: until its signed timestamp leaves
# the tolerance window, or for ttl= when the scheme has no timestamp; one
# still being handled gets 503 with Retry-After.  The clock is the test's
# (t/lib/ItsmClock.pm), so each window is tested to the second on both
# sides of its edge, without sleeping.  These blocks need one nginx across
# blocks, which Test::Nginx's valgrind mode does not keep (it restarts
# nginx after every block): skipped there.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmClock;
use Test::Nginx::Socket;

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks');
} else {
    plan('no_plan');
}

our $T0 = $ItsmClock::T0;

use IO::Socket::INET;
use ItsmConf;
use ItsmHang;
use ItsmHttp;
use ItsmSig;
use POSIX ();
use File::Temp qw(tempdir);

our $Tmp = tempdir(CLEANUP => 1);

# the Retry-After blocks: an ITSM that holds the first copy of a delivery
# sent to $uri, so that the request's copy finds it in flight
our ($RetryHanger, $RetryFirst);

sub hold_first {
    my ($uri, $id) = @_;
    release_first();
    $RetryHanger = ItsmHang::start($ENV{TEST_NGINX_HANG_SOCK});
    $RetryFirst = send_copy($id, $uri, $id, $T0 + 9000);
    Test::More::ok(defined ItsmHang::held($ENV{TEST_NGINX_HANG_SOCK}),
                   "the first copy of $id is held");
}

sub release_first {
    return unless $RetryHanger;
    kill 'TERM', $RetryHanger;
    waitpid($RetryHanger, 0);
    waitpid($RetryFirst, 0);
    undef $RetryHanger;
}

END { local $?; release_first() }

# an ITSM that holds its first request (t/lib/ItsmHang.pm)
$ENV{TEST_NGINX_HANG_SOCK} = "$Tmp/hang.sock";

# a copy sent by a child, whose answer is kept in $Tmp/<name>.out
sub send_copy {
    my ($name, $uri, $id, $ts) = @_;
    my $port = $Test::Nginx::Util::ServerPortForClient;
    my $pid = fork() // die "fork: $!";
    return $pid if $pid;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 60);
    my $resp = '';
    if ($s) {
        print {$s} raw($uri, $id, $ts);
        local $/;
        $resp = <$s> // '';
    }
    open(my $fh, '>', "$Tmp/$name.out"); print $fh $resp; close $fh;
    POSIX::_exit(0);
}

our $Alert = '{"key": "rp-1", "title": "Replayed"}';

# signed at $T0 (or at $ts)
sub std { ItsmSig::headers('standard_webhooks', secret => $ItsmConf::ReplaySecret, body => $Alert,
                           id => $_[0], ts => $_[1] // $T0) }
sub raw { my ($uri, $id, $ts) = @_; ItsmHttp::raw($uri, std($id, $ts), $Alert) }
sub gh { ItsmSig::headers('github', key => 'gh', body => $_[0], bare => 1) }

our $HttpConfig = ItsmConf::replay_http('slow', 'hang');

# /pending and /retry-*: held by the ITSM of t/lib/ItsmHang.pm
our $Config = ItsmConf::replay_config(github_ttl => '10s') . <<'_EOC_'
    location /_itsm/hang/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_HANG_SOCK:/;
        proxy_read_timeout 60s;
    }
_EOC_
    . ItsmConf::location('/pending', $ItsmConf::ReplaySig, 'itsm_signature_tolerance 2h',
                         'itsm_signature_replay zone=seen', 'itsm_pass hang')
    . ItsmConf::location('/retry-own', $ItsmConf::ReplaySig, 'itsm_signature_tolerance 2h',
                         'itsm_signature_replay zone=seen', 'itsm_access_retry_after 11s',
                         'proxy_pass http://unix:$TEST_NGINX_HANG_SOCK:/', 'proxy_read_timeout 60s')
    . ItsmConf::location('/retry-pass', $ItsmConf::ReplaySig, 'itsm_signature_tolerance 2h',
                         'itsm_signature_replay zone=seen', 'itsm_retry_after 7s', 'itsm_pass hang')
    . ItsmConf::location('/retry-both', $ItsmConf::ReplaySig, 'itsm_signature_tolerance 2h',
                         'itsm_signature_replay zone=seen', 'itsm_retry_after 7s',
                         'itsm_access_retry_after 11s', 'itsm_pass hang');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: with a timestamp, a delivery is remembered: its copy is a duplicate
--- main_config eval: $ItsmClock::MainConfig
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: ["POST /short\n$::Alert", "POST /short\n$::Alert"]
--- more_headers eval
my $h = ::std('msg_short', $::T0);
[$h, $h]
--- error_code eval: [204, 200]
--- response_body_like eval: ['^$', '^\{"status":"duplicate",']



=== TEST 2: ... still at the last second its timestamp is accepted (tolerance 3s: 3 s later), not let through again
--- init
ItsmClock::set($::T0 + 3);
--- request eval: "POST /short\n$::Alert"
--- more_headers eval: ::std('msg_short', $::T0)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 3: ... one second later the replay is refused as stale, not let through
--- init
ItsmClock::set($::T0 + 4);
--- request eval: "POST /short\n$::Alert"
--- more_headers eval: ::std('msg_short', $::T0)
--- error_code: 401
--- response_body_like: ^\{"error":"timestamp_too_old",



=== TEST 4: one being handled right now: 503 delivery_in_flight with Retry-After
--- main_config eval: $ItsmClock::MainConfig
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- init
ItsmClock::set($::T0 + 100);
# the first copy, sent by a child; the mock ITSM answers it after 1 s
my $port = $Test::Nginx::Util::ServerPortForClient;
my $out = "$::Tmp/first.out";
unlink $out;
$::Child = fork();
if (defined $::Child && $::Child == 0) {
    select(undef, undef, undef, 0.2);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5);
    my $resp = '';
    if ($s) {
        print {$s} ::raw("/slow", "msg_concurrent", $::T0 + 100);
        local $/;
        $resp = <$s> // '';
    }
    open(my $fh, '>', $out); print $fh $resp; close $fh;
    POSIX::_exit(0);
}
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 1
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"id\":\"15\"}"
--- raw_request eval
my $r = ::raw('/slow', 'msg_concurrent', $::T0 + 100);
[substr($r, 0, 10), substr($r, 10)]
--- raw_request_middle_delay: 0.6
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body
{"error":"delivery_in_flight","message":"the same delivery is being processed right now; send it again later if that fails"}
--- wait: 1



=== TEST 5: ... the first copy got its ticket, and the same delivery is now a duplicate
--- init
waitpid($::Child, 0) if $::Child;
open(my $fh, '<', "$::Tmp/first.out");
my $first = do { local $/; <$fh> } // '';
Test::More::like($first, qr/^HTTP\/1\.1 201 .*"ticket_id":"15"/s,
                 "the first copy created ticket 15");
--- request eval: "POST /slow\n$::Alert"
--- more_headers eval: ::std('msg_concurrent', $::T0 + 100)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 6: without a timestamp, a delivery is remembered for ttl= (10s): its copy in the same second is a duplicate
--- main_config eval: $ItsmClock::MainConfig
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- init
ItsmClock::set($::T0 + 1000);
--- request eval: ["POST /github\n$::Alert", "POST /github\n$::Alert"]
--- more_headers eval: [::gh($::Alert), ::gh($::Alert)]
--- error_code eval: [204, 200]



=== TEST 7: ... and 9 s later, the last second of the ttl
--- init
ItsmClock::set($::T0 + 1009);
--- request eval: "POST /github\n$::Alert"
--- more_headers eval: ::gh($::Alert)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 8: ... and forgotten 10 s later: handled afresh
--- init
ItsmClock::set($::T0 + 1010);
--- request eval: "POST /github\n$::Alert"
--- more_headers eval: ::gh($::Alert)
--- error_code: 204



=== TEST 9: a delivery in flight for 120 s (its ITSM holds it, its worker is alive): a copy is still told it is in flight
--- main_config eval: $ItsmClock::MainConfig
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- init
ItsmClock::set($::T0 + 2000);
$::Hanger = ItsmHang::start($ENV{TEST_NGINX_HANG_SOCK});
$::First = ::send_copy('pending', '/pending', 'msg_pending', $::T0 + 2000);
# the ITSM has the first copy's create: the delivery is in flight
Test::More::ok(defined ItsmHang::held($ENV{TEST_NGINX_HANG_SOCK}),
               "the first copy is held by its ITSM");
ItsmClock::set($::T0 + 2120);
--- request eval: "POST /pending\n$::Alert"
--- more_headers eval: ::std('msg_pending', $::T0 + 2000)
--- error_code: 503
--- response_body_like: ^\{"error":"delivery_in_flight",



=== TEST 10: ... and still 59 min 59 s after it started
--- init
ItsmClock::set($::T0 + 2000 + 3599);
--- request eval: "POST /pending\n$::Alert"
--- more_headers eval: ::std('msg_pending', $::T0 + 2000)
--- error_code: 503
--- response_body_like: ^\{"error":"delivery_in_flight",
--- no_error_log
handled again



=== TEST 11: ... an hour after it started, it is given up (a pid may have been reused): the copy is handled afresh and creates the ticket
--- init
ItsmClock::set($::T0 + 2000 + 3600);
--- request eval: "POST /pending\n$::Alert"
--- more_headers eval: ::std('msg_pending', $::T0 + 2000)
--- error_code: 201
--- response_body_like: "ticket_id":"22"
--- error_log eval
qr/\[warn\] .*itsm: a delivery in flight for 3600 s in worker \d+ is handled again: that worker is gone, or the delivery waited 3600 s/



=== TEST 12: ... and the held first copy, when it finally fails, does not undo that: the next copy is a duplicate
--- init
kill 'TERM', $::Hanger;
waitpid($::Hanger, 0);
waitpid($::First, 0);
open(my $fh, '<', "$::Tmp/pending.out");
my $first = do { local $/; <$fh> } // '';
Test::More::unlike($first, qr/^HTTP\/1\.1 2/, "the held first copy did not succeed");
--- request eval: "POST /pending\n$::Alert"
--- more_headers eval: ::std('msg_pending', $::T0 + 2000)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 13: itsm_access_retry_after is the Retry-After of delivery_in_flight in a location without itsm_pass
--- init
ItsmClock::set($::T0 + 9000);
::hold_first('/retry-own', 'msg_retry_own');
--- request eval: "POST /retry-own\n$::Alert"
--- more_headers eval: ::std('msg_retry_own', $::T0 + 9000)
--- error_code: 503
--- response_headers
Retry-After: 11
--- response_body
{"error":"delivery_in_flight","message":"the same delivery is being processed right now; send it again later if that fails"}



=== TEST 14: without it, an itsm_pass location's itsm_retry_after (7s)
--- init
::hold_first('/retry-pass', 'msg_retry_pass');
--- request eval: "POST /retry-pass\n$::Alert"
--- more_headers eval: ::std('msg_retry_pass', $::T0 + 9000)
--- error_code: 503
--- response_headers
Retry-After: 7
--- response_body_like: ^\{"error":"delivery_in_flight",



=== TEST 15: with both, itsm_access_retry_after (11s)
--- init
::hold_first('/retry-both', 'msg_retry_both');
--- request eval: "POST /retry-both\n$::Alert"
--- more_headers eval: ::std('msg_retry_both', $::T0 + 9000)
--- error_code: 503
--- response_headers
Retry-After: 11
--- response_body_like: ^\{"error":"delivery_in_flight",
