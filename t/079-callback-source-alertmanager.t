# examples/source-alertmanager/nginx.conf as shipped, with the way back to
# a REAL Alertmanager (Debian's prometheus-alertmanager): an alert posted
# as Alertmanager's webhook payload opens a ticket in the fake Request
# Tracker (t/lib/ItsmFake.pm); RT's scrip's callback "stalled"
# (acknowledged) makes a silence in Alertmanager, read back with GET
# /api/v2/silences: active, exactly the alert's labels as matchers,
# createdBy, the comment with the ticket, endsAt the store's retention (7
# days) after startsAt; "resolved" expires that silence (Alertmanager
# keeps it, expired).  Alertmanager listens on ITSM_TEST_AM_PORT if set
# (else a free port).  The callback's answer comes before the way back,
# so the test waits (at most 20 s) for Alertmanager to show the change.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::Local qw(timegm);
use ItsmExample;
use ItsmExampleFlow;
use ItsmFake;
use ItsmPorts;

my $Bin = '/usr/bin/prometheus-alertmanager';

plan skip_all => "no $Bin (util/deps.sh alertmanager)" unless -x $Bin;
plan skip_all => "Alertmanager's timing does not wait for nginx under valgrind; t/078 covers the code"
    if $ENV{TEST_NGINX_USE_VALGRIND};

my $Bearer = 'Bearer 5b3f0c2e9d7a41c8a6e0f1d2c3b4a5968778695a4b3c2d1e0f';
my $Token = 'itsmcb_test-token-of-rt-for-the-way-back-0000000000';
my $Api = $ENV{ITSM_TEST_AM_PORT} || ItsmPorts::free();
my $Http = HTTP::Tiny->new(timeout => 5);
my $JSON = JSON::PP->new->canonical(1);

# ---- a real Alertmanager ------------------------------------------------

my $dir = tempdir('itsm-am-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$dir/am.yml" or die "$dir/am.yml: $!";
print $fh "route:\n  receiver: none\nreceivers:\n  - name: none\n";
close $fh;

my $Pid = fork // die "fork: $!";
if ($Pid == 0) {
    open STDOUT, '>', "$dir/am.log";
    open STDERR, '>&', \*STDOUT;
    no warnings 'exec';
    exec { $Bin } $Bin, "--config.file=$dir/am.yml", "--storage.path=$dir/data",
         "--web.listen-address=127.0.0.1:$Api", '--cluster.listen-address=';
    POSIX::_exit(127);
}
END { local $?; if ($Pid) { kill 'TERM', $Pid; waitpid $Pid, 0 } }

my $ready = ItsmExample::wait_for(sub { $Http->get("http://127.0.0.1:$Api/-/ready")->{success} }, 20);
plan skip_all => "Alertmanager did not start on port $Api (see $dir/am.log)" unless $ready;

# ---- the example, RT faked, Alertmanager real ---------------------------

my $fake = ItsmFake->start(auth => {rt => $ItsmExampleFlow::RtToken});

my $ex = ItsmExample->new('source-alertmanager', itsm => $fake->addr,
    replace => [[qr/itsm_token[ \t]+\$http_authorization[ \t]+"Bearer FAKE[^"]*";/,
                 qq{itsm_token \$http_authorization "$Bearer";}],
                [qr/callback_token   sha256:[0-9a-f]{64};/,
                 'callback_token   sha256:' . sha256_hex($Token) . ';'],
                [qr/"token 1-14-FAKE[^"]*"/, qq{"$ItsmExampleFlow::RtToken"}]],
    edit => sub { s{(upstream alertmanager\.example\.com \{\s*server\s+)\S+;}{${1}127.0.0.1:$Api;} or die "no AM upstream" });

{
    my ($ok, $out) = $ex->test;
    ok($ok, 'examples/source-alertmanager/nginx.conf as shipped passes nginx -t') or diag($out);
}

$ex->start;

my %Labels = (alertname => 'HostDiskFull', instance => 'db-7:9100', severity => 'critical');

my $payload = $JSON->encode({version => '4', groupKey => '{}:{alertname="HostDiskFull"}',
    truncatedAlerts => 0, status => 'firing', receiver => 'itsm',
    groupLabels => {alertname => 'HostDiskFull'}, commonLabels => {alertname => 'HostDiskFull'},
    commonAnnotations => {}, externalURL => 'http://alertmanager.example.com:9093',
    alerts => [{status => 'firing', labels => \%Labels,
                annotations => {summary => 'Disk full on db-7', description => '/var is 98% full'},
                startsAt => '2026-11-22T05:36:15Z', endsAt => '0001-01-01T00:00:00Z',
                generatorURL => 'http://prometheus.example.com/graph?g0.expr=disk',
                fingerprint => 'f00d0000000000d7'}]});

my $res = $ex->post('/alerts/alertmanager', $payload,
                    {Authorization => $Bearer, 'Content-Type' => 'application/json'});
is($res->{status}, 201, 'the alert opens a ticket') or diag($res->{content});
my $ticket = $res->{json}{alerts}[0]{ticket_id};
ok(defined $ticket && $ticket =~ /^\d+$/, "RT's ticket id ($ticket)");

sub callback {
    my ($status, $txn) = @_;
    return $ex->post('/itsm/callback/rt',
        qq{{"ticket": "$ticket", "old_status": "open", "status": "$status", "transaction": "$txn", "actor": "root", "time": "2026-11-22 06:00:00"}},
        {Authorization => "Bearer $Token", 'Content-Type' => 'application/json'});
}

sub silences {
    my $r = $Http->get("http://127.0.0.1:$Api/api/v2/silences");
    die "GET /api/v2/silences: $r->{status} $r->{content}\n" unless $r->{success};
    return grep { ($_->{comment} // '') =~ /^RT ticket \Q$ticket\E / } @{decode_json($r->{content})};
}

is(scalar(silences()), 0, 'no silence before the acknowledgement');

# ---- acknowledged in RT: a silence -------------------------------------

$res = callback('stalled', 500);
is($res->{status}, 200, 'stalled: 200');
is($res->{content}, qq{{"outcome":"applied","ticket":"$ticket","key":"f00d0000000000d7","status":"stalled","state":"acknowledged","key_state":"open"}\n},
   "stalled: the callback's answer, as without a way back");

# the answer comes before the way back: the silence is there soon after
my @s = @{ItsmExample::wait_for(sub { my @x = silences(); @x ? \@x : undef }, 20) || []};
is(scalar(@s), 1, 'one silence in Alertmanager');
my $s = $s[0] // {};
is($s->{status}{state}, 'active', 'it is active');
is($JSON->encode($s->{matchers}),
   $JSON->encode([map { {name => $_, value => $Labels{$_}, isRegex => JSON::PP::false, isEqual => JSON::PP::true} } sort keys %Labels]),
   "its matchers are exactly the alert's labels");
is($s->{createdBy}, 'itsm gateway', 'createdBy');
is($s->{comment}, "RT ticket $ticket acknowledged (stalled): HostDiskFull", 'the comment names the ticket');

sub epoch { my @t = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/ or return 0;
            timegm($t[5], $t[4], $t[3], $t[2], $t[1] - 1, $t[0]) }
is(epoch($s->{endsAt}) - epoch($s->{startsAt}), 7 * 24 * 3600,
   "it ends the store's retention (7 days) after it starts");

# an acknowledgement again (stalled -> open -> stalled is a change; the
# same stalled twice is not): no second silence while the first is kept
$res = callback('stalled', 501);
like($res->{content}, qr/"outcome":"unchanged"/, 'stalled again: unchanged');
is(scalar(silences()), 1, 'still one silence');

# ---- resolved in RT: the silence expires -------------------------------

$res = callback('resolved', 502);
is($res->{status}, 200, 'resolved: 200');
like($res->{content}, qr/"outcome":"applied".*"key_state":"resolved"/, 'resolved: applied');

@s = @{ItsmExample::wait_for(sub { my @x = silences();
                                     (@x && $x[0]{status}{state} eq 'expired') ? \@x : undef }, 20)
       || [silences()]};
is(scalar(@s), 1, 'Alertmanager keeps the silence');
is($s[0]{id}, $s->{id}, 'the same silence');
is($s[0]{status}{state}, 'expired', 'expired');

my $st = ItsmExample::wait_for(sub { my $j = $ex->status;
                                     ($j->{callback_sources}{sent} // 0) == 2 ? $j : undef }, 20)
         || $ex->status;
is_deeply($st->{callback_sources}, {sent => 2, skipped => 0, no_alert => 0, failed => 0},
          'the status page: two actions sent');

like($ex->error_log, qr/itsm callback source "alertmanager": ticket "\Q$ticket\E" key "f00d0000000000d7" resolved: DELETE answered 200/,
     'the log line of the way back');

$ex->stop;
$fake->stop;

done_testing();
