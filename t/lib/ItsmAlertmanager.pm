package ItsmAlertmanager;

# A real Alertmanager (Debian's prometheus-alertmanager) as the sender, for
# the files that start one (t/311, t/350): its webhook receiver is an
# nginx server of the test on port $hook, its API listens on port $api;
# it is stopped at exit.
#
#   if (my $why = ItsmAlertmanager::missing()) { plan skip_all => $why }
#   my ($hook, $api, $why) = ItsmAlertmanager::start(
#       dir => 'itsm-am', group_by => '[alertname]', repeat_interval => '1h',
#       path => '/alerts', args => ['--web.external-url=...']);
#
# $why is set when it did not start (then a reason to skip).  group_wait
# and group_interval are 1s: a group is sent as soon as it can be.

use strict;
use warnings;

use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();

our $Bin = '/usr/bin/prometheus-alertmanager';

my $Pid;

sub missing {
    return -x $Bin ? undef : "no $Bin (apt-get install prometheus-alertmanager)";
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub start {
    my (%o) = @_;

    my $hook = free_port();
    my $api = free_port();

    my $dir = tempdir("$o{dir}-XXXXXX", TMPDIR => 1, CLEANUP => 1);

    open my $fh, '>', "$dir/am.yml" or die "$dir/am.yml: $!";
    print $fh <<"_EOC_";
route:
  receiver: itsm
  group_by: $o{group_by}
  group_wait: 1s
  group_interval: 1s
  repeat_interval: $o{repeat_interval}
receivers:
  - name: itsm
    webhook_configs:
      - url: http://127.0.0.1:$hook$o{path}
        send_resolved: true
_EOC_
    close $fh;

    $Pid = fork // die "fork: $!";

    if ($Pid == 0) {
        no warnings 'exec';    # the _exit is for a failed exec
        open STDOUT, '>', "$dir/am.log";
        open STDERR, '>&', \*STDOUT;
        exec $Bin, "--config.file=$dir/am.yml", "--storage.path=$dir/data",
             "--web.listen-address=127.0.0.1:$api", '--cluster.listen-address=',
             @{$o{args} || []};
        POSIX::_exit(127);
    }

    my $http = HTTP::Tiny->new(timeout => 1);
    my $ready;

    for (1 .. 100) {
        $ready = $http->get("http://127.0.0.1:$api/-/ready")->{success};
        last if $ready;
        select undef, undef, undef, 0.1;
    }

    return ($hook, $api, $ready ? undef : "Alertmanager did not start (see $dir/am.log)");
}

END {
    local $?;    # waitpid/system here must not change the test's exit status
    if ($Pid) {
        kill 'TERM', $Pid;
        waitpid $Pid, 0;
    }
}

1;
