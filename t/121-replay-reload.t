# The seen-delivery cache lives in shared memory: it is shared by the
# workers and survives a reload (HUP), and so do the access counters.  A master process is needed for
# both (nginx without one does not serve again after a HUP).
use Test::Nginx::Socket;

# a reload needs one nginx across blocks, which Test::Nginx's valgrind mode
# does not keep (it restarts nginx after every block)
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks');
} else {
    plan('no_plan');
}

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmNginx;
use IO::Socket::INET;
use File::Temp qw(tempdir);
use POSIX ();
use ItsmConf;
use ItsmHang;
use ItsmHttp;
use ItsmSig;

our $Tmp = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_HANG_SOCK} = "$Tmp/hang.sock";

master_on();
workers(2);

our $Alert = '{"key": "rl-1", "title": "Reloaded"}';

# the headers of a GitHub delivery of $alert
sub signed { ItsmSig::headers('github', key => 'gh', body => $_[0]) }

our $HttpConfig = ItsmConf::connector('mock') . ItsmConf::connector('hang')
                  . "    itsm_signature_replay_zone seen:1m;\n";

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; return 201 '{"id":"16"}'; }
    location = /alerts {
        itsm_signature github secret=gh;
        itsm_signature_replay zone=seen ttl=1h;
        add_header X-Pid $pid always;
        itsm_pass mock;
    }
    location = /counters { return 200 "$itsm_access_counters\n"; }

    # an ITSM that holds the first create (t/lib/ItsmHang.pm), told which
    # worker waits for it
    location /_itsm/hang/ {
        internal;
        proxy_pass http://unix:$TEST_NGINX_HANG_SOCK:/;
        proxy_set_header X-Worker $pid;
        proxy_read_timeout 60s;
    }
    location = /pending {
        itsm_signature github secret=gh;
        itsm_signature_replay zone=seen ttl=1h;
        add_header X-Pid $pid always;
        itsm_pass hang;
    }
_EOC_

# one copy of the delivery on a connection of its own: [status, the pid
# of the worker that answered, body]
sub copy {
    my ($uri, $alert) = @_;
    $uri //= '/alerts';
    $alert //= $Alert;
    my $port = $Test::Nginx::Util::ServerPortForClient;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5)
        or return [0, 0, "connect: $!"];
    print {$s} ItsmHttp::raw($uri, signed($alert), $alert);
    local $/;
    my $resp = <$s> // '';
    my ($status) = $resp =~ m{^HTTP/1\.1 (\d+)};
    my ($pid) = $resp =~ m{^X-Pid: (\d+)\r$}mi;
    my ($body) = $resp =~ m{\r\n\r\n(.*)}s;
    return [$status // 0, $pid // 0, $body // ''];
}

our $Copies = 60;
our $Pending = '{"key": "rl-2", "title": "Held"}';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a delivery, then its copies
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert", "POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::signed($::Alert), ::signed($::Alert), ::signed($::Alert), ::signed($::Alert)]
--- error_code eval: [201, 200, 200, 200]



=== TEST 2: 60 more copies, each on a new connection: every one a duplicate, and both workers answered some
--- init
my @r = map { ::copy() } 1 .. $::Copies;
my %pids;
$pids{$_->[1]}++ for @r;
Test::More::is(scalar(grep { $_->[0] == 200 && $_->[2] =~ /^\{"status":"duplicate",/ } @r),
               $::Copies, "all $::Copies copies answered 200 duplicate");
Test::More::is(scalar(grep { $_->[1] } @r), $::Copies, "each answer names its worker");
Test::More::is(scalar(keys %pids), 2,
               "two workers answered (" . join(', ', map { "$_: $pids{$_}" } sort keys %pids) . ")");
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: ::signed($::Alert)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 3: after a reload (HUP) the copy is still a duplicate
--- init
ItsmNginx::reload();
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: ::signed($::Alert)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 4: the counters of both workers, before and after the reload: 1 passed, 3 + 60 + 1 + 1 duplicates
--- request
GET /counters
--- response_body_like: ^\{"passed":1,.*"duplicate":65,



=== TEST 5: a delivery whose ITSM holds it: copies to either worker are told it is in flight
--- init
$::Hanger = ItsmHang::start($ENV{TEST_NGINX_HANG_SOCK});
$::First = fork() // die;
if (!$::First) { ::copy('/pending', $::Pending); POSIX::_exit(0); }
$::Waiting = ItsmHang::held($ENV{TEST_NGINX_HANG_SOCK});
Test::More::like($::Waiting // '', qr/^\d+$/, "the first copy is held; its worker is known");
my @r = map { ::copy('/pending', $::Pending) } 1 .. 20;
my %pids;
$pids{$_->[1]}++ for @r;
Test::More::is(scalar(grep { $_->[0] == 503 && $_->[2] =~ /^\{"error":"delivery_in_flight",/ } @r),
               20, "all 20 copies answered 503 delivery_in_flight");
Test::More::is(scalar(keys %pids), 2,
               "two workers answered (" . join(', ', map { "$_: $pids{$_}" } sort keys %pids) . ")");
--- request eval: "POST /pending\n$::Pending"
--- more_headers eval: ::signed($::Pending)
--- error_code: 503



=== TEST 6: ... once the worker that waits for the ITSM is killed, the next copy is handled afresh at once and creates the ticket
--- init
kill 'KILL', $::Waiting;
# until the master has reaped it: a zombie still answers kill(pid, 0)
for (1 .. 100) { last unless kill(0, $::Waiting); select(undef, undef, undef, 0.05); }
Test::More::ok(!kill(0, $::Waiting), "worker $::Waiting is gone");
--- request eval: "POST /pending\n$::Pending"
--- more_headers eval: ::signed($::Pending)
--- error_code: 201
--- response_body_like: "ticket_id":"22"
--- error_log eval: qr/\[warn\] .*itsm: a delivery in flight for \d+ s in worker \d+ is handled again: that worker is gone/



=== TEST 7: ... and its copies are duplicates now
--- init
open(my $log, '<', "$Test::Nginx::Util::ServRoot/logs/error.log") or die $!;
my $text = do { local $/; <$log> };
Test::More::like($text, qr/in worker $::Waiting is handled again: that worker is gone/,
                 "the warning names the killed worker");
kill 'TERM', $::Hanger;
waitpid($::Hanger, 0);
waitpid($::First, 0);
--- request eval: "POST /pending\n$::Pending"
--- more_headers eval: ::signed($::Pending)
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",
