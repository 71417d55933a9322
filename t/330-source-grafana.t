# Grafana unified alerting, webhook contact point (payload version 1): the
# Alertmanager shape with a few more fields; one payload is a group of
# alerts, each becoming an alert of its own, correlated by fingerprint.
# t/payloads/grafana-firing.json is the sample of Grafana's documentation
# (docs/sources/alerting/configure-notifications/manage-contact-points/
# integrations/webhook-notifier.md); grafana-mixed.json is the same group
# later, derived from it: the CPU alert resolved (with its end time), a
# severity label on each alert, dashboard and panel links, and 3 alerts
# left out by maxAlerts.  Each alert's normalized fields are asserted as
# the ITSM receives them (t/lib/ItsmSource.pm).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;

our %Memory = (
    key => 'c6eadffa33fcdf37', source => 'grafana', status => 'firing',
    title => 'High memory usage',
    description => 'The system has high memory usage',
    group_key => '{}:{}', starts_at => '2021-10-12T09:51:03.157076+02:00',
    link => 'https://play.grafana.org/alerting/1afz29v7z/edit',
    external_url => 'https://play.grafana.org/',
);

our %Cpu = (%Memory,
    key => 'bc97ff14869b13e3', title => 'High CPU usage',
    description => 'The system has high CPU usage',
    starts_at => '2021-10-12T09:56:03.157076+02:00',
    link => 'https://play.grafana.org/alerting/d1rdpdv7k/edit',
);

ItsmSource::defaults('itsm_source grafana;');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the documented sample: two alerts fire, two tickets, in order; no severity label is no severity
--- request eval: [ItsmSource::post('grafana-firing.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['c6eadffa33fcdf37', 'create', 'created', 'T1'],
                    ['bc97ff14869b13e3', 'create', 'created', 'T1']),
 ItsmSource::sent([create => \%::Memory], [create => \%::Cpu])]
--- no_error_log
[error]
[warn]



=== TEST 2: the group later, firing and resolved mixed: the CPU alert's ticket resolves with its end time; severities are normalized
--- request eval
[ItsmSource::post('grafana-firing.json'), ItsmSource::post('grafana-mixed.json'),
 "GET /sent"]
--- error_code eval: [201, 200, 200]
--- response_body eval
[ItsmSource::answer(['c6eadffa33fcdf37', 'create', 'created', 'T1'],
                    ['bc97ff14869b13e3', 'create', 'created', 'T1']),
 ItsmSource::answer(['c6eadffa33fcdf37', 'comment', 'commented', 'T1'],
                    ['bc97ff14869b13e3', 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => \%::Memory], [create => \%::Cpu],
                  [comment => {%::Memory, severity => 'warning',
                               severity_raw => 'warning'}],
                  [resolve => {%::Cpu, status => 'resolved',
                               severity => 'critical',
                               severity_raw => 'Critical',
                               ends_at => '2021-10-12T10:06:03.157076+02:00'}])]



=== TEST 3: alerts left out by maxAlerts are noted in the log
--- http_config eval: ItsmSource::http_config(store => 0)
--- request eval: ItsmSource::post('grafana-mixed.json')
--- error_code: 201
--- response_body eval
ItsmSource::answer(['c6eadffa33fcdf37', 'create', 'created', 'T1'],
                   ['bc97ff14869b13e3', 'none', 'ignored', undef,
                    'the alert is resolved and no ticket is open for its key'])
--- error_log eval: qr/\[warn\] .*itsm: grafana left 3 alerts of group "\{\}:\{\}" out of its payload/



=== TEST 4: the other fields of a Grafana alert are in its own object: dashboard, panel, silence, values
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"key": "{{ key }}", "dashboard": "{{ /dashboardURL }}", "panel": "{{ /panelURL }}", "silence": "{{ /silenceURL }}", "values": "{{ /values }}", "team": "{{ /labels/team }}", "runbook": "{{ /annotations/runbook_url }}"}';
        ticket_id /id;
    }
    log_format itsm_sent escape=none '$request_method $uri $request_body';
--- request eval: [ItsmSource::post('grafana-mixed.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['c6eadffa33fcdf37', 'create', 'created', 'T1'],
                    ['bc97ff14869b13e3', 'none', 'ignored', undef,
                     'the alert is resolved and no ticket is open for its key']),
 'POST /mock/ticket {"key":"c6eadffa33fcdf37","dashboard":"https://play.grafana.org/d/000000012","panel":"https://play.grafana.org/d/000000012?viewPanel=2","silence":"https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1","values":{"B":44.23943737541908,"C":1},"team":"blue","runbook":"https://myrunbook.com/runbook/1234"}' . "\n"]



=== TEST 5: strictness is the same as Alertmanager's, with Grafana's name
--- request eval
["POST /alerts\n{\"version\": \"1\", \"state\": \"alerting\"}",
 "POST /alerts\n{\"alerts\": [{\"status\": \"alerting\", \"fingerprint\": \"a\"}]}"]
--- error_code eval: [400, 201]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"/alerts\\\": a Grafana webhook message lists its alerts there\"}\n",
 ItsmSource::answer(['a', 'create', 'created', 'T1'])]



=== TEST 6: a payload that is not a JSON object is refused with Grafana's name
--- request eval: ["POST /alerts\n[{\"status\": \"firing\", \"fingerprint\": \"a\"}]", "GET /sent"]
--- error_code eval: [400, 200]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"the payload must be a JSON object: a Grafana webhook message\"}\n",
 ItsmSource::sent()]
