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
use ItsmAlertmanager;

our ($Hook, $Api);

if (my $why = ItsmAlertmanager::missing()) {
    plan skip_all => $why;

} elsif ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan skip_all => "Alertmanager's timing does not wait for nginx under "
                     . "valgrind; t/310 covers the same code";

} else {
    ($Hook, $Api, my $why) = ItsmAlertmanager::start(
        dir => 'itsm-am', group_by => '[alertname]', repeat_interval => '1h', path => '/alerts',
        args => ['--web.external-url=http://alertmanager.test:9093']);
    plan $why ? (skip_all => $why) : 'no_plan';
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
