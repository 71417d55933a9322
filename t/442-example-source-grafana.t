# examples/source-grafana/nginx.conf as shipped (its alert server, its
# replay server) against the stateful fake of Request Tracker
# (t/lib/ItsmFake.pm), with Grafana's webhook payload, signed: the
# cooldown's held comment and a queued create are delivered by the replay
# server, exactly once each (t/lib/ItsmExampleFlow.pm says what is
# checked).  The HMAC secret stays inline, as shipped, with a test value
# (the file form the example recommends is t/443); the RT token is in an
# included file.  The repeat is the alert firing again with a new startsAt.
# "cooldown=3s" and "itsm_retry backoff=1s" stand for the example's 30
# minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmSig;
use ItsmExampleFlow;
use ItsmExample;

my $Secret = 'grafana-test-secret-3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b';

# "values" holds 0.75, a number a double holds exactly: 0.98 comes out of
# "{{ /values }}" as 0.97999999999999998 (jansson's 17 digits)
sub payload {
    my ($k, $v) = @_;
    my $desc = $v == 1 ? '/var is 98% full' : '/var is 99% full';
    my $starts = $v == 1 ? '2026-11-22T05:36:15Z' : '2026-11-22T05:41:15Z';
    return '{"receiver":"itsm","status":"firing","orgId":1,"alerts":[{'
         . '"status":"firing","labels":{"alertname":"DiskFull","instance":'
         . '"db-' . $k . '","severity":"critical"},"annotations":{"summary":'
         . '"Disk full on db-' . $k . '","description":"' . $desc . '"},'
         . '"startsAt":"' . $starts . '","endsAt":"0001-01-01T00:00:00Z",'
         . '"generatorURL":"http://grafana.example.com/alerting/grafana/'
         . 'disk/view","fingerprint":"9a0b00000000000' . $k . '",'
         . '"silenceURL":"http://grafana.example.com/alerting/silence/new",'
         . '"dashboardURL":"","panelURL":"","values":{"A":0.75}}],'
         . '"groupLabels":{"alertname":"DiskFull"},"commonLabels":{},'
         . '"commonAnnotations":{},"externalURL":"http://grafana.example.com/",'
         . '"version":"1","groupKey":"{}:{alertname=\"DiskFull\"}",'
         . '"truncatedAlerts":0,"title":"[FIRING:1] DiskFull",'
         . '"state":"alerting","message":"Disk full"}';
}

sub alert {
    my ($k, $v) = @_;
    my $body = payload($k, $v);
    my $ts = time();
    return {path => '/alerts/grafana', key => "9a0b00000000000$k",
            headers => {'X-Grafana-Alerting-Signature-Timestamp' => $ts,
                        'X-Grafana-Alerting-Signature'
                            => ItsmSig::value('grafana_ts', secret => $Secret, ts => $ts, body => $body)},
            body => $body};
}

ItsmExampleFlow::rt(
    name => 'source-grafana',
    replace => [[qr/secret=FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE/,
                 "secret=$Secret"]],
    alert => \&alert,
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"DiskFull: Disk full on '
               . 'db-' . $k . '","Priority":"100","Content":"/var is 98% '
               . 'full\n\nSeverity: critical\nLabels: {\"alertname\":'
               . '\"DiskFull\",\"instance\":\"db-' . $k . '\",'
               . '\"severity\":\"critical\"}\nValues: {\"A\":0.75}\n'
               . 'Runbook: \nRule: http://grafana.example.com/alerting/'
               . 'grafana/disk/view\nSilence: http://grafana.example.com/'
               . 'alerting/silence/new\nDashboard: \nAlert key '
               . '(fingerprint): 9a0b00000000000' . $k . '",'
               . '"ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
               . sha256_hex($a->{key}) . '"}}';
    },
);

done_testing();
