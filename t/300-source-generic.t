# The generic profile: one JSON object is one alert, each field read
# through a JSON Pointer (itsm_field, default /<field name>).  Severities
# are normalized to critical/high/warning/info/low and states to
# firing/resolved, by the location's itsm_severity_map and itsm_state_map
# first, then by the words senders commonly use.  This is also a SIEM's
# "sync this case": the same case sent again updates its ticket, and its
# closing resolves it.  Each alert's normalized fields are asserted as the
# ITSM receives them (t/lib/ItsmSource.pm).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;

our $Case = q{
    itsm_field key         /case/id;
    itsm_field title       /case/title;
    itsm_field severity    /case/severity;
    itsm_field status      /case/status;
    itsm_field description /case/summary;
    itsm_field resource    /case/assets/0/hostname;
    itsm_field link        /case/url;
    itsm_field starts_at   /case/created;
    itsm_field ends_at     /case/closed;
    itsm_state_map firing=new,in_progress,escalated resolved=false_positive;
    itsm_severity_map critical=4 high=3 warning=2 info=1 low=0;
};

sub case { my ($status, $severity, $summary, $closed) = @_;
    "POST /alerts\n{\"case\": {\"id\": 3141, \"title\": \"Impossible travel for j.doe\", "
    . "\"severity\": $severity, \"status\": \"$status\", \"summary\": \"$summary\", "
    . "\"assets\": [{\"hostname\": \"vpn-2\"}], \"url\": \"https://siem.example/cases/3141\", "
    . "\"created\": \"2026-03-01T10:00:00Z\"" . ($closed ? ", \"closed\": \"$closed\"" : '')
    . "}}" }

our %Case = (
    key => '3141', source => 'generic', status => 'firing',
    severity => 'high', severity_raw => '3',
    title => 'Impossible travel for j.doe',
    description => 'Logins from Oslo and Lima within 20 minutes',
    resource => 'vpn-2', link => 'https://siem.example/cases/3141',
    starts_at => '2026-03-01T10:00:00Z',
);

sub severity { my ($key, $severity) = @_;
    "POST /alerts\n{\"key\": \"$key\", \"severity\": $severity}" }

sub plain { my ($key, %f) = @_;
    +{ key => $key, source => 'generic', status => 'firing', title => $key, %f } }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every field at its default pointer; a known status word is normalized, the raw severity kept
--- http_config eval: ItsmSource::http_config()
--- config eval: ItsmSource::config('')
--- request eval
["POST /alerts\n" . '{"key": "disk-web1", "title": "Disk full on web1", "severity": "CRITICAL", "status": "problem", "description": "/var is 98% full", "resource": "web1", "group_key": "disks", "starts_at": "2026-03-01T10:00:00Z", "ends_at": null, "link": "https://mon.example/web1", "configuration_items": "web1, web1-disk", "target_ids": "srv-17", "external_url": "https://mon.example/", "ignored": {"a": 1}}',
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['disk-web1', 'create', 'created', 'T1']),
 ItsmSource::sent([create => {
    key => 'disk-web1', source => 'generic', status => 'firing',
    severity => 'critical', severity_raw => 'CRITICAL',
    title => 'Disk full on web1', description => '/var is 98% full',
    resource => 'web1', configuration_items => 'web1, web1-disk',
    target_ids => 'srv-17', group_key => 'disks',
    starts_at => '2026-03-01T10:00:00Z',
    link => 'https://mon.example/web1',
    external_url => 'https://mon.example/'}])]
--- no_error_log
[error]



=== TEST 2: a SIEM syncs a case: created, updated when it changes (its state and severity mapped by the location), resolved when closed
--- http_config eval: ItsmSource::http_config(policy => 'on_repeat update;')
--- config eval: ItsmSource::config($::Case)
--- request eval
[::case('new', 3, 'Logins from Oslo and Lima within 20 minutes'),
 ::case('in_progress', '"4"', 'Confirmed: the account is compromised'),
 ::case('closed', 4, 'Password reset, sessions revoked', '2026-03-01T12:30:00Z'),
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200]
--- response_body eval
[ItsmSource::answer(['3141', 'create', 'created', 'T1']),
 ItsmSource::answer(['3141', 'update', 'updated', 'T1']),
 ItsmSource::answer(['3141', 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => \%::Case],
                  [update => {%::Case, severity => 'critical', severity_raw => '4',
                              description => 'Confirmed: the account is compromised'}],
                  [resolve => {%::Case, status => 'resolved',
                               severity => 'critical', severity_raw => '4',
                               description => 'Password reset, sessions revoked',
                               ends_at => '2026-03-01T12:30:00Z'}])]



=== TEST 3: a state the map names as resolved, after a case that was never sent, is answered "ignored"
--- http_config eval: ItsmSource::http_config(policy => 'on_repeat update;')
--- config eval: ItsmSource::config($::Case)
--- request eval: ::case('false_positive', 1, 'A travelling user')
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body eval
ItsmSource::answer(['3141', 'none', 'ignored', undef,
                    'the alert is resolved and no ticket is open for its key'])



=== TEST 4: the common severity words, without case; a word no table knows passes through unchanged; bare numbers need a map
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval: ItsmSource::config('')
--- request eval
[::severity('a', '"Error"'), ::severity('b', '"P3"'), ::severity('c', '"sev0"'),
 ::severity('d', '"disaster"'), ::severity('e', '"debug"'),
 ::severity('f', '"Informational"'), ::severity('g', '"urgent-ish"'),
 ::severity('h', 5), ::severity('i', '""'), ::severity('j', 'true'),
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 200]
--- response_body eval
[(map { ItsmSource::answer([$_, 'create', 'created', 'T1']) } 'a' .. 'j'),
 ItsmSource::sent(
    [create => ::plain('a', severity => 'high', severity_raw => 'Error')],
    [create => ::plain('b', severity => 'warning', severity_raw => 'P3')],
    [create => ::plain('c', severity => 'critical', severity_raw => 'sev0')],
    [create => ::plain('d', severity => 'critical', severity_raw => 'disaster')],
    [create => ::plain('e', severity => 'low', severity_raw => 'debug')],
    [create => ::plain('f', severity => 'info', severity_raw => 'Informational')],
    [create => ::plain('g', severity => 'urgent-ish', severity_raw => 'urgent-ish')],
    [create => ::plain('h', severity => '5', severity_raw => '5')],
    [create => ::plain('i')],
    [create => ::plain('j', severity => 'true', severity_raw => 'true')])]



=== TEST 5: the maps are inherited from the server level; a location's own map of a kind replaces the inherited one
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval
"itsm_severity_map critical=5,P0 high=4; itsm_state_map firing=raised resolved=cleared;\n"
. ItsmSource::config('')
. q{
    location = /alerts2 { itsm_pass mock; itsm_severity_map low=P0; }
}
--- request eval
["POST /alerts\n{\"key\": \"a\", \"severity\": 5, \"status\": \"raised\"}",
 "POST /alerts\n{\"key\": \"b\", \"severity\": \"p0\", \"status\": \"cleared\"}",
 "POST /alerts2\n{\"key\": \"c\", \"severity\": \"P0\", \"status\": \"raised\"}",
 "POST /alerts2\n{\"key\": \"d\", \"severity\": \"P1\", \"status\": \"Firing\"}",
 "POST /alerts2\n{\"key\": \"e\", \"severity\": 5}",
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 201, 201, 201, 200]
--- response_body eval
[ItsmSource::answer(['a', 'create', 'created', 'T1']),
 ItsmSource::answer(['b', 'none', 'ignored', undef,
                     'the alert is resolved and no ticket is open for its key']),
 ItsmSource::answer(['c', 'create', 'created', 'T1']),
 ItsmSource::answer(['d', 'create', 'created', 'T1']),
 ItsmSource::answer(['e', 'create', 'created', 'T1']),
 ItsmSource::sent(
    [create => ::plain('a', severity => 'critical', severity_raw => '5')],
    [create => ::plain('c', severity => 'low', severity_raw => 'P0')],
    [create => ::plain('d', severity => 'critical', severity_raw => 'P1')],
    [create => ::plain('e', severity => '5', severity_raw => '5')])]



=== TEST 6: the new fields can be mapped too, and are typed like the others
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval: ItsmSource::config('itsm_field group_key /group; itsm_field link /links/0/href; itsm_field starts_at /since;')
--- request eval
["POST /alerts\n{\"key\": \"a\", \"group\": 17, \"links\": [{\"href\": \"https://x.example/a\"}], \"since\": 1700000000}",
 "POST /alerts\n{\"key\": \"b\", \"links\": [{\"href\": {\"url\": \"x\"}}]}",
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 400, 200]
--- response_body eval
[ItsmSource::answer(['a', 'create', 'created', 'T1']),
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"link\\\" (JSON Pointer \\\"/links/0/href\\\") must be a string or a number\"}\n",
 ItsmSource::sent([create => ::plain('a', group_key => '17',
                                      link => 'https://x.example/a',
                                      starts_at => '1700000000')])]



=== TEST 7: configuration items and target ids may be arrays; a long unknown status is quoted in part, never half a character
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval: ItsmSource::config('itsm_field configuration_items /cis;')
--- request eval
["POST /alerts\n{\"key\": \"a\", \"cis\": [\"web-1\", null, \"\", 2], \"target_ids\": [\"/s/1/vm/web-1\"]}",
 "POST /alerts\n{\"key\": \"b\", \"cis\": [\"web-1\", [\"web-2\"]]}",
 "POST /alerts\n{\"key\": \"c\", \"status\": \"x" . ("\xc3\xa9" x 200) . "\"}",
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 400, 400, 200]
--- response_body eval
[ItsmSource::answer(['a', 'create', 'created', 'T1']),
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/cis/1\\\" must be a string\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"unknown status \\\"x" . ("\xc3\xa9" x 63) . "\\\" (JSON Pointer \\\"/status\\\"): expected \\\"firing\\\" or \\\"resolved\\\"\"}\n",
 ItsmSource::sent([create => ::plain('a', configuration_items => 'web-1, 2',
                                      target_ids => '/s/1/vm/web-1')])]



=== TEST 8: itsm_state_map: a name that is not a state
--- config
    location = /alerts { itsm_state_map open=new; }
--- must_die
--- error_log eval
qr/invalid "itsm_state_map" parameter "open=new": expected NAME=WORD\[,WORD...\] with NAME one of firing, resolved in \S+nginx\.conf:\d+/



=== TEST 9: itsm_severity_map: no "="
--- config
    location = /alerts { itsm_severity_map critical; }
--- must_die
--- error_log eval
qr/invalid "itsm_severity_map" parameter "critical": expected NAME=WORD\[,WORD...\] with NAME one of critical, high, warning, info, low in \S+nginx\.conf:\d+/



=== TEST 10: itsm_severity_map: a word mapped twice
--- config
    location = /alerts { itsm_severity_map critical=5,P1 high=p1; }
--- must_die
--- error_log eval: qr/"itsm_severity_map": the word "p1" is mapped twice in \S+nginx\.conf:\d+/



=== TEST 11: itsm_state_map: an empty word
--- config
    location = /alerts { itsm_state_map firing=a,,b; }
--- must_die
--- error_log eval: qr/invalid "itsm_state_map" parameter "firing=a,,b": an empty word in \S+nginx\.conf:\d+/



=== TEST 12: itsm_state_map twice in one place
--- config
    location = /alerts { itsm_state_map firing=a; itsm_state_map resolved=b; }
--- must_die
--- error_log eval: qr/"itsm_state_map" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 13: itsm_max_alerts out of range
--- config
    location = /alerts { itsm_max_alerts 0; }
--- must_die
--- error_log eval: qr/"itsm_max_alerts" directive must be between 1 and 100000 in \S+nginx\.conf:\d+/



=== TEST 14: the sources itsm_source knows
--- config
    location = /alerts { itsm_source prometheus; }
--- must_die
--- error_log eval
qr/unknown alert source "prometheus"; supported: generic, alertmanager, grafana, azure, datadog in \S+nginx\.conf:\d+/



=== TEST 15: RFC 6901 escapes in itsm_field pointers: ~0 is "~", ~1 is "/", and "~01" is "~1" (decoys hold the values a swapped or re-decoded escape would read)
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval: ItsmSource::config('itsm_field title /m~0n; itsm_field description /a~1b/c; itsm_field resource /~01;')
--- request eval
["POST /alerts\n" . '{"key": "p-1", "m~n": "tilde", "m/n": "WRONG slash", "m~0n": "WRONG raw", "a/b": {"c": "slash"}, "a~b": {"c": "WRONG tilde"}, "~1": "tilde-one", "/": "WRONG re-decoded", "~01": "WRONG raw"}',
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['p-1', 'create', 'created', 'T1']),
 ItsmSource::sent([create => ::plain('p-1', title => 'tilde', description => 'slash',
                                      resource => 'tilde-one')])]



=== TEST 16: the same escapes in a template's {{ /pointer }}
--- http_config
    log_format itsm_sent escape=none '$request_method $uri $request_body';
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"t": "{{ /m~0n }}", "d": "{{ /a~1b/c }}", "r": "{{ /~01 }}"}';
        ticket_id /id;
    }
--- config eval: ItsmSource::config('')
--- request eval
["POST /alerts\n" . '{"key": "p-2", "m~n": "tilde", "m/n": "WRONG slash", "m~0n": "WRONG raw", "a/b": {"c": "slash"}, "a~b": {"c": "WRONG tilde"}, "~1": "tilde-one", "/": "WRONG re-decoded", "~01": "WRONG raw"}',
 "GET /sent"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['p-2', 'create', 'created', 'T1']),
 qq(POST /mock/ticket {"t":"tilde","d":"slash","r":"tilde-one"}\n)]
