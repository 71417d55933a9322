# Alertmanager (webhook payload version 4): one payload is a group of
# alerts, firing and resolved mixed; each becomes an alert of its own, in
# order, correlated by its fingerprint.  The payloads in t/payloads were
# sent by a real Alertmanager 0.25 (Debian's prometheus-alertmanager) to a
# capturing receiver: three alerts firing, then the same group with one of
# them resolved, and a group cut by max_alerts.  Each alert's normalized
# fields are asserted as the ITSM receives them (t/lib/ItsmSource.pm).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;

our $Group = '{}:{alertname="HostDiskFull"}';
our $Url = 'http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.03&g0.tab=1';

our %Db1 = (
    key => 'e89f0b4e228ce84f', source => 'alertmanager', status => 'firing',
    severity => 'critical', severity_raw => 'critical',
    title => 'HostDiskFull',
    description => 'Less than 3% of /var is left on db-1:9100.',
    resource => 'db-1:9100', configuration_items => 'db-1:9100',
    group_key => $Group, starts_at => '2026-11-22T06:27:21.065113061Z',
    link => $Url, external_url => 'http://alertmanager.example:9093',
);

our %Db2 = (%Db1,
    key => 'a95c4c431a852cd0',
    description => 'Less than 2% of /var is left on db-2:9100.',
    resource => 'db-2:9100', configuration_items => 'db-2:9100',
);

our %Web1 = (%Db1,
    key => '67852b92253594b5', severity => 'warning', severity_raw => 'warning',
    description => 'Disk / on web-1 is 91% full',
    resource => 'web-1:9100', configuration_items => 'web-1:9100',
    link => 'http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.1&g0.tab=1',
);

# a payload of one alert, for the checks of a single field
sub one { my ($alert) = @_;
    "POST /alerts\n{\"version\": \"4\", \"groupKey\": \"g\", \"status\": \"firing\", \"alerts\": [$alert]}" }

ItsmSource::defaults('itsm_source alertmanager;');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a group fires: one ticket per alert, in the payload's order, each field as Alertmanager sent it
--- request eval: [ItsmSource::post('alertmanager-firing.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['e89f0b4e228ce84f', 'create', 'created', 'T1'],
                    ['a95c4c431a852cd0', 'create', 'created', 'T1'],
                    ['67852b92253594b5', 'create', 'created', 'T1']),
 ItsmSource::sent([create => \%::Db1], [create => \%::Db2],
                  [create => \%::Web1])]
--- no_error_log
[error]
[warn]



=== TEST 2: the same group later, one alert resolved: its ticket is resolved with its end time, the others repeat
--- request eval
[ItsmSource::post('alertmanager-firing.json'),
 ItsmSource::post('alertmanager-mixed.json'), "GET /sent"]
--- error_code eval: [201, 200, 200]
--- response_body eval
[ItsmSource::answer(['e89f0b4e228ce84f', 'create', 'created', 'T1'],
                    ['a95c4c431a852cd0', 'create', 'created', 'T1'],
                    ['67852b92253594b5', 'create', 'created', 'T1']),
 ItsmSource::answer(['e89f0b4e228ce84f', 'comment', 'commented', 'T1'],
                    ['a95c4c431a852cd0', 'resolve', 'resolved', 'T1'],
                    ['67852b92253594b5', 'comment', 'commented', 'T1']),
 ItsmSource::sent([create => \%::Db1], [create => \%::Db2],
                  [create => \%::Web1],
                  [comment => \%::Db1],
                  [resolve => {%::Db2, status => 'resolved',
                               ends_at => '2026-11-22T06:27:24Z'}],
                  [comment => \%::Web1])]
--- no_error_log
[error]



=== TEST 3: without a store, a resolved alert of the group is answered "ignored" in its place, the others create
--- http_config eval: ItsmSource::http_config(store => 0)
--- request eval: [ItsmSource::post('alertmanager-mixed.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['e89f0b4e228ce84f', 'create', 'created', 'T1'],
                    ['a95c4c431a852cd0', 'none', 'ignored', undef,
                     'the alert is resolved and no ticket is open for its key'],
                    ['67852b92253594b5', 'create', 'created', 'T1']),
 ItsmSource::sent([create => \%::Db1], [create => \%::Web1])]



=== TEST 4: a group cut by max_alerts: noted in the log
--- request eval: ItsmSource::post('alertmanager-truncated.json')
--- error_code: 201
--- response_body eval: ItsmSource::answer(['2712aedbe611110a', 'create', 'created', 'T1'])
--- error_log eval
qr/\[warn\] .*itsm: alertmanager left 1 alerts of group "\{\}\/\{alertname="ReplicasMismatch"\}:\{alertname="ReplicasMismatch"\}" out of its payload \(truncatedAlerts, its max_alerts setting\)/



=== TEST 5: a group cut by max_alerts: no instance label and an empty generatorURL are no resource and no link
--- request eval: [ItsmSource::post('alertmanager-truncated.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['2712aedbe611110a', 'create', 'created', 'T1']),
 ItsmSource::sent([create => {
    key => '2712aedbe611110a', source => 'alertmanager', status => 'firing',
    severity => 'warning', severity_raw => 'warning',
    title => 'ReplicasMismatch',
    description => 'Deployment shop/cart has 1 of 3 replicas.',
    group_key => '{}/{alertname="ReplicasMismatch"}:{alertname="ReplicasMismatch"}',
    starts_at => '2026-11-22T06:27:21.065113061Z',
    external_url => 'http://alertmanager.example:9093'}])]



=== TEST 6: lenient where Alertmanager-like senders are: a numeric fingerprint, no endsAt, the group's status, a summary for a title
--- request eval
[::one('{"fingerprint": 42, "labels": {"severity": "ERROR", "service": "api"}, "annotations": {"summary": "API errors", "message": "5% of requests fail"}, "startsAt": "2026-01-01T00:00:00Z", "generatorURL": ""}'),
 "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['42', 'create', 'created', 'T1']),
 ItsmSource::sent([create => {
    key => '42', source => 'alertmanager', status => 'firing',
    severity => 'high', severity_raw => 'ERROR', title => 'API errors',
    description => 'API errors', resource => 'api',
    configuration_items => 'api', group_key => 'g',
    starts_at => '2026-01-01T00:00:00Z'}])]



=== TEST 7: strict where it matters: every mistake is a 400 that names its JSON Pointer, and no alert of the payload is handled
--- request eval
["POST /alerts\n{\"version\": \"4\", \"groupKey\": \"g\"}",
 "POST /alerts\n{\"alerts\": {\"fingerprint\": \"a\"}}",
 "POST /alerts\n[{\"fingerprint\": \"a\"}]",
 ::one('{"fingerprint": "a", "status": "firing"}, "b"'),
 ::one('{"fingerprint": "a", "status": "firing"}, {"status": "firing", "labels": {}}'),
 ::one('{"fingerprint": "", "status": "firing"}'),
 ::one('{"fingerprint": "a", "status": "pending"}'),
 ::one('{"fingerprint": "a", "status": "firing", "labels": ["severity=critical"]}'),
 ::one('{"fingerprint": "a", "status": "firing", "labels": {"severity": {"level": 1}}}'),
 ::one('{"fingerprint": ["a"], "status": "firing"}'),
 "POST /alerts\n{\"groupKey\": {\"a\": 1}, \"alerts\": []}",
 "POST /alerts\n{\"alerts\": []}",
 "GET /sent"]
--- error_code eval: [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 200]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"/alerts\\\": an Alertmanager webhook message lists its alerts there\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/alerts\\\" must be an array\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"the payload must be a JSON object: an Alertmanager webhook message\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"\\\"/alerts/1\\\" must be an object (one alert)\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/alerts/1/fingerprint\\\"): every alert needs a key that identifies its problem\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/alerts/0/fingerprint\\\"): every alert needs a key that identifies its problem\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"unknown status \\\"pending\\\" (JSON Pointer \\\"/alerts/0/status\\\"): expected \\\"firing\\\" or \\\"resolved\\\"\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/alerts/0/labels\\\" must be an object\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/alerts/0/labels/severity\\\" must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/alerts/0/fingerprint\\\" must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/groupKey\\\" must be a string or a number\"}\n",
 "{\"error\":\"no_alerts\",\"message\":\"the payload holds no alert\"}\n",
 ""]
--- no_error_log
[error]



=== TEST 8: an alert without a status of its own has the group's; none at all is a 400
--- request eval
["POST /alerts\n{\"status\": \"firing\", \"alerts\": [{\"fingerprint\": \"a\", \"labels\": {\"alertname\": \"A\"}}]}",
 "POST /alerts\n{\"status\": \"resolved\", \"alerts\": [{\"fingerprint\": \"a\", \"labels\": {\"alertname\": \"A\"}}]}",
 "POST /alerts\n{\"alerts\": [{\"fingerprint\": \"a\"}]}"]
--- error_code eval: [201, 200, 400]
--- response_body eval
[ItsmSource::answer(['a', 'create', 'created', 'T1']),
 ItsmSource::answer(['a', 'resolve', 'resolved', 'T1']),
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"/alerts/0/status\\\": expected \\\"firing\\\" or \\\"resolved\\\"\"}\n"]



=== TEST 9: itsm_max_alerts bounds the work of one payload: over it, the payload is refused whole
--- config eval: ItsmSource::config('itsm_source alertmanager; itsm_max_alerts 2;')
--- request eval: [ItsmSource::post('alertmanager-firing.json'), "GET /sent"]
--- error_code eval: [400, 200]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"the payload holds 3 alerts, more than the 2 of itsm_max_alerts; have the sender send fewer at a time (Alertmanager: max_alerts, Grafana: maxAlerts) or raise itsm_max_alerts\"}\n",
 ""]



=== TEST 10: the fields as $itsm_* variables, e.g. for a header to the ITSM or the access log
--- http_config eval
ItsmSource::http_config(store => 0, http => q{
    log_format fields '$itsm_key|$itsm_severity_raw|$itsm_group_key|$itsm_starts_at|$itsm_ends_at|$itsm_link|$itsm_configuration_items|$itsm_external_url';
})
--- config eval
ItsmSource::config('itsm_source alertmanager;')
. q{
    location = /alerts2 { itsm_pass mock; itsm_source alertmanager; access_log logs/fields.log fields; }
    location = /fields { alias logs/fields.log; }
}
--- request eval: ["POST /alerts2\n" . ItsmSource::payload('alertmanager-truncated.json'), "GET /fields"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['2712aedbe611110a', 'create', 'created', 'T1']),
 "2712aedbe611110a|warning|{}/{alertname=\\x22ReplicasMismatch\\x22}:{alertname=\\x22ReplicasMismatch\\x22}|2026-11-22T06:27:21.065113061Z|-|-|-|http://alertmanager.example:9093\n"]
