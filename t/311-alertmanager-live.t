# A real Alertmanager (Debian's prometheus-alertmanager) as the sender:
# this file starts one whose webhook receiver is an nginx server of the
# test (port $::Hook), posts alerts to its API through nginx, and checks
# what the ITSM received once Alertmanager has sent the group: both alerts
# created, then, when one of them ends, its ticket resolved and the other
# one commented.  Times are given with the alerts, and a fingerprint is a
# hash of the labels, so every field is known.
use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();

our $Bin = '/usr/bin/prometheus-alertmanager';

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

our ($Hook, $Api, $Pid);

if (!-x $Bin) {
    plan skip_all => "no $Bin (apt-get install prometheus-alertmanager)";

} elsif ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan skip_all => "Alertmanager's timing does not wait for nginx under "
                     . "valgrind; t/310 covers the same code";

} else {
    $Hook = free_port();
    $Api = free_port();

    my $dir = tempdir('itsm-am-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    open my $fh, '>', "$dir/am.yml" or die "$dir/am.yml: $!";
    print $fh <<"_EOC_";
route:
  receiver: itsm
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: itsm
    webhook_configs:
      - url: http://127.0.0.1:$Hook/alerts
        send_resolved: true
_EOC_
    close $fh;

    $Pid = fork // die "fork: $!";

    if ($Pid == 0) {
        open STDOUT, '>', "$dir/am.log";
        open STDERR, '>&', \*STDOUT;
        exec $Bin, "--config.file=$dir/am.yml", "--storage.path=$dir/data",
             "--web.listen-address=127.0.0.1:$Api",
             '--cluster.listen-address=',
             '--web.external-url=http://alertmanager.test:9093';
        POSIX::_exit(127);
    }

    my $http = HTTP::Tiny->new(timeout => 1);
    my $ready;

    for (1 .. 100) {
        $ready = $http->get("http://127.0.0.1:$Api/-/ready")->{success};
        last if $ready;
        select undef, undef, undef, 0.1;
    }

    if ($ready) {
        plan 'no_plan';

    } else {
        plan skip_all => "Alertmanager did not start (see $dir/am.log)";
    }
}

END {
    if ($Pid) {
        kill 'TERM', $Pid;
        waitpid $Pid, 0;
    }
}

our $Url = 'http://prometheus.test:9090/graph?g0.expr=up+%3D%3D+0';

sub alert { my ($instance, $severity, $ends) = @_;
    '{"labels": {"alertname": "InstanceDown", "instance": "' . $instance
    . '", "job": "node", "severity": "' . $severity . '"}, '
    . '"annotations": {"summary": "' . $instance . ' is down"}, '
    . '"startsAt": "2026-01-01T00:00:00Z", '
    . ($ends ? "\"endsAt\": \"$ends\", " : '')
    . "\"generatorURL\": \"$::Url\"}" }

our %A = (
    key => '4cd5b6baca28cba4', source => 'alertmanager', status => 'firing',
    severity => 'critical', severity_raw => 'critical',
    title => 'InstanceDown', description => 'a-1:9100 is down',
    resource => 'a-1:9100', configuration_items => 'a-1:9100',
    group_key => '{}:{alertname="InstanceDown"}',
    starts_at => '2026-01-01T00:00:00Z', link => $Url,
    external_url => 'http://alertmanager.test:9093',
);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Alertmanager sends a group of two alerts, then, when one of them ends, the group again: what the ITSM received, field by field
--- http_config eval
ItsmSource::http_config()
. "server { listen 127.0.0.1:$::Hook;\n"
. ItsmSource::config('itsm_source alertmanager;', $::Hook)
. "}\n"
--- config eval
"location /am/ { proxy_pass http://127.0.0.1:$::Api/; }
 location = /sent { alias logs/sent.log; }"
--- request eval
["POST /am/api/v2/alerts
[" . ::alert('a-1:9100', 'critical') . ", " . ::alert('b-1:9100', 'warning') . "]",
 "POST /am/api/v2/alerts
[" . ::alert('b-1:9100', 'warning', '2026-01-01T00:05:00Z') . "]",
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- wait: 4
--- error_code eval: [200, 200, 200]
--- response_body eval
my %b = (%::A, key => '9dc1e4a2cf7164ba', description => 'b-1:9100 is down',
         resource => 'b-1:9100', configuration_items => 'b-1:9100',
         severity => 'warning', severity_raw => 'warning');
["", "",
 ItsmSource::sent([create => \%::A], [create => \%b], [comment => \%::A],
                  [resolve => {%b, status => 'resolved',
                               ends_at => '2026-01-01T00:05:00Z'}])]
--- no_error_log
[error]
