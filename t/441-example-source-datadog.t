# examples/source-datadog/nginx.conf as shipped (its alert server, its
# replay server) against the stateful fake of Request Tracker
# (t/lib/ItsmFake.pm), with Datadog's default webhook payload: the
# cooldown's held comment and a queued create are delivered by the replay
# server, exactly once each (t/lib/ItsmExampleFlow.pm says what is
# checked).  Credentials as the example tells users to keep them: the
# header token in a token file (itsm_token ... file=), the RT token in an
# included file.  The repeat is Datadog's renotification (a new event id,
# the same monitor and scope).  "cooldown=3s" and "itsm_retry backoff=1s"
# stand for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Header = '7c0e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8';

sub alert {
    my ($k, $v) = @_;
    my $desc = $v == 1 ? '/var is 98% full' : '/var is 99% full';
    my $transition = $v == 1 ? 'Triggered' : 'Renotify';
    return {path => '/alerts/datadog', key => "100$k|host:db-$k",
            headers => {'X-ITSM-Token' => $Header},
            body => '{"id":"77' . $k . $v . '","title":"[' . $transition
                  . '] Disk full","date":"1795239375000","alert_id":"100' . $k
                  . '","alert_metric":"system.disk.in_use","alert_priority":'
                  . '"P1","alert_transition":"' . $transition . '",'
                  . '"alert_status":"system.disk.in_use over host:db-' . $k
                  . ' was > 0.95","alert_title":"Disk full on db-' . $k . '",'
                  . '"alert_type":"error","host_name":"db-' . $k . '","body":"'
                  . $desc . '","org":{"id":"11023","name":"Example"},'
                  . '"alert_scope":"host:db-' . $k . '"}'};
}

ItsmExampleFlow::rt(
    name => 'source-datadog',
    replace => [[qr/itsm_token[ \t]+\$http_x_itsm_token[ \t]+FAKE[^;]*;/,
                 'itsm_token $http_x_itsm_token '
                 . 'file=/etc/nginx/itsm/datadog.tokens;']],
    files => {'etc/itsm/datadog.tokens' => "$Header\n"},
    alert => \&alert,
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"Disk full on db-' . $k
               . '","Priority":"100","Content":"/var is 98% full\n\n'
               . 'Status: system.disk.in_use over host:db-' . $k
               . ' was > 0.95\nSeverity: P1 (critical)\nHost: db-' . $k
               . '\nScope: host:db-' . $k . '\nMetric: '
               . 'system.disk.in_use\nMonitor: 100' . $k . ' (Example)\n'
               . 'Link: \nAlert key: 100' . $k . '|host:db-' . $k . '",'
               . '"ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
               . sha256_hex($a->{key}) . '"}}';
    },
);

done_testing();
