# examples/source-alertmanager/nginx.conf as shipped (its alert server, its
# replay server) against the stateful fake of Request Tracker
# (t/lib/ItsmFake.pm), with Alertmanager's own webhook payload: the
# cooldown's held comment and a queued create are delivered by the replay
# server, exactly once each (t/lib/ItsmExampleFlow.pm says what is
# checked).  Credentials as the example tells users to keep them: the
# bearer token in a token file (itsm_token ... file=), the RT token in an
# included file.  The repeat is the alert firing again with a new startsAt
# (a resend of the same firing would be a duplicate delivery, answered from
# itsm_dedup).  "cooldown=3s" and "itsm_retry backoff=1s" stand for the
# example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Bearer = 'Bearer 5b3f0c2e9d7a41c8a6e0f1d2c3b4a5968778695a4b3c2d1e0f';

sub alert {
    my ($k, $v) = @_;
    my $desc = $v == 1 ? '/var is 98% full' : '/var is 99% full';
    my $starts = $v == 1 ? '2026-11-22T05:36:15Z' : '2026-11-22T05:41:15Z';
    return {path => '/alerts/alertmanager', key => "f00d0000000000d$k",
            headers => {Authorization => $Bearer},
            body => '{"version":"4","groupKey":"{}:{alertname=\"HostDiskFull\"}",'
                  . '"truncatedAlerts":0,"status":"firing","receiver":"itsm",'
                  . '"groupLabels":{"alertname":"HostDiskFull"},'
                  . '"commonLabels":{"alertname":"HostDiskFull"},'
                  . '"commonAnnotations":{},'
                  . '"externalURL":"http://alertmanager.example.com:9093",'
                  . '"alerts":[{"status":"firing","labels":{"alertname":'
                  . '"HostDiskFull","instance":"db-' . $k . ':9100",'
                  . '"severity":"critical"},"annotations":{"summary":"Disk '
                  . 'full on db-' . $k . '","description":"' . $desc . '"},'
                  . '"startsAt":"' . $starts . '","endsAt":'
                  . '"0001-01-01T00:00:00Z","generatorURL":'
                  . '"http://prometheus.example.com/graph?g0.expr=disk",'
                  . '"fingerprint":"f00d0000000000d' . $k . '"}]}'};
}

ItsmExampleFlow::rt(
    name => 'source-alertmanager',
    replace => [[qr/itsm_token[ \t]+\$http_authorization[ \t]+"Bearer FAKE[^"]*";/,
                 'itsm_token $http_authorization '
                 . 'file=/etc/nginx/itsm/alertmanager.tokens;']],
    files => {'etc/itsm/alertmanager.tokens' => "# rotated 2026-11\n$Bearer\n"},
    alert => \&alert,
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"HostDiskFull: Disk full '
               . 'on db-' . $k . '","Priority":"100","Content":"/var is '
               . '98% full\n\nSeverity: critical\nInstance: db-' . $k
               . ':9100\nLabels: {\"alertname\":\"HostDiskFull\",'
               . '\"instance\":\"db-' . $k . ':9100\",\"severity\":'
               . '\"critical\"}\nRunbook: \nExpression: '
               . 'http://prometheus.example.com/graph?g0.expr=disk\n'
               . 'Alertmanager: http://alertmanager.example.com:9093\n'
               . 'Alert key (fingerprint): f00d0000000000d' . $k . '",'
               . '"ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
               . sha256_hex($a->{key}) . '"}}';
    },
);

done_testing();
