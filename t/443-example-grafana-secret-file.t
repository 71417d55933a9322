# examples/source-grafana/nginx.conf with its HMAC secret where the
# example tells users to keep it: "better, keep it in a file only nginx
# can read: secret=file:/etc/nginx/itsm/grafana.secret".  A signature made
# with the secret in that file is accepted and becomes a ticket; one made
# with an empty key is refused (issue 9, defect 1).  Against the fake RT
# (t/lib/ItsmFake.pm).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmSig;
use ItsmFake;
use ItsmExample;

my $Secret = 'grafana-test-secret-3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b';

my $fake = ItsmFake->start;

my $ex = ItsmExample->new('source-grafana', itsm => $fake->addr,
    replace => [[qr/secret=FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE/,
                 'secret=file:/etc/nginx/itsm/grafana.secret']],
    files => {'etc/itsm/grafana.secret' => "$Secret\n"});

my ($ok, $out) = $ex->test;
ok($ok, 'nginx -t') or diag($out);

$ex->start;

my $body = '{"receiver":"itsm","status":"firing","orgId":1,"alerts":[{'
         . '"status":"firing","labels":{"alertname":"DiskFull","instance":'
         . '"db-1","severity":"critical"},"annotations":{"summary":"Disk full '
         . 'on db-1"},"startsAt":"2026-11-22T05:36:15Z","endsAt":'
         . '"0001-01-01T00:00:00Z","fingerprint":"9a0b000000000001"}],'
         . '"version":"1","groupKey":"{}:{alertname=\"DiskFull\"}"}';

sub signed {
    my ($key) = @_;
    my $ts = time();
    return {'X-Grafana-Alerting-Signature-Timestamp' => $ts,
            'X-Grafana-Alerting-Signature' => ItsmSig::value('grafana_ts', key => $key, ts => $ts, body => $body)};
}

my $res = $ex->post('/alerts/grafana', $body, signed(''));
is($res->{status}, 401, 'a signature made with an empty key is refused');

$res = $ex->post('/alerts/grafana', $body, signed($Secret));
is($res->{status}, 201, "a signature made with the file's secret is accepted")
    or diag($res->{content});
is($fake->count('rt'), 1, 'and the alert is a ticket');

$ex->stop;
$fake->stop;

done_testing();
