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
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Token = 'token 1-14-0123456789abcdef0123456789abcdef';
my $Secret = 'grafana-test-secret-3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b';

my %Headers = (Authorization => $Token, 'Content-Type' => 'application/json',
               Accept => 'application/json', Host => 'rt.example.com');

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
                            => hmac_sha256_hex("$ts:$body", $Secret)},
            body => $body};
}

ItsmExampleFlow::run(
    name => 'source-grafana',
    kind => 'rt',
    connector => 'rt',
    auth => {rt => $Token},
    secret_include => [[qr/^[ \t]*proxy_set_header[ \t]+Authorization[^;]*;/m,
                        'rt-auth.conf',
                        qq(proxy_set_header Authorization "$Token";)]],
    replace => [[qr/secret=FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE/,
                 "secret=$Secret"]],
    alert => \&alert,
    ticket => sub { "$_[0]" },
    find => sub {
        my ($a) = @_;
        my $sha = sha256_hex($a->{key});
        return {method => 'GET', status => 200,
                uri => "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D"
                     . "%27%3D%27$sha%27%20AND%20Status%3D%27__Active__%27"
                     . "&orderby=Created&order=DESC&per_page=1"};
    },
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/REST/2.0/ticket', status => 201,
                headers => \%Headers,
                body => '{"Queue":"General","Subject":"DiskFull: Disk full on '
                      . 'db-' . $k . '","Priority":"100","Content":"/var is 98% '
                      . 'full\n\nSeverity: critical\nLabels: {\"alertname\":'
                      . '\"DiskFull\",\"instance\":\"db-' . $k . '\",'
                      . '\"severity\":\"critical\"}\nValues: {\"A\":0.75}\n'
                      . 'Runbook: \nRule: http://grafana.example.com/alerting/'
                      . 'grafana/disk/view\nSilence: http://grafana.example.com/'
                      . 'alerting/silence/new\nDashboard: \nAlert key '
                      . '(fingerprint): 9a0b00000000000' . $k . '",'
                      . '"ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
                      . sha256_hex($a->{key}) . '"}}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'POST', uri => "/REST/2.0/ticket/$ticket/comment",
                status => 201, headers => \%Headers,
                body => ItsmExample::like_text(
                    '{"Content":"The alert is firing (seen 2 times since '
                  . 'TIME, severity critical).\n/var is 99% full",'
                  . '"ContentType":"text/plain"}')};
    },
    itsm_503 => [{'Content-Type' => 'text/html'},
                 "<html><head><title>503 Service Unavailable</title></head></html>\n"],
);

done_testing();
