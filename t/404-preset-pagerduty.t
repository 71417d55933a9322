# examples/pagerduty/ against the contract mock of PagerDuty's Events API
# v2 (t/lib/ItsmPreset.pm, %Contract; PagerDuty/developer-docs
# events-API-v2): the preset's own connector, maps and templates, embedded
# as they are.  The mock logs each event and answers as documented: 202
# {"status":"success","message":"Event processed","dedup_key":...}; 400
# {"status":"invalid event","message":"Event object is invalid","errors":
# [...]}; 429 (no Retry-After: PagerDuty asks for a backoff of minutes,
# which the preset's itsm_retry_after gives); 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r =~ s/critical/high/r;

our $Key = 'FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
our $Trigger = qq{{"routing_key":"$Key","event_action":"trigger","dedup_key":"disk-db1","payload":{"summary":"Disk full on db-1","source":"db-1","severity":"critical","custom_details":{"description":"/var is 98% full","alert_key":"disk-db1","alert_source":"generic","resource":"db-1","link":null,"occurrences":1,"labels":null}},"client":"ngx_itsm_module"}};
our $Update = qq{{"routing_key":"$Key","event_action":"trigger","dedup_key":"disk-db1","payload":{"summary":"Disk full on db-1","source":"db-1","severity":"error","custom_details":{"description":"/var is 99% full","alert_key":"disk-db1","alert_source":"generic","resource":"db-1","link":null,"occurrences":2,"first_seen":"TIME","labels":null}},"client":"ngx_itsm_module"}};
our $Resolve = qq{{"routing_key":"$Key","event_action":"resolve","dedup_key":"disk-db1"}};

# PagerDuty's limits: no resource (payload.source is required), a
# 2000-character title (payload.summary: 1024), a 300-character key
# (dedup_key: 255)
our $NoResource = '{"key": "k-nores", "title": "Queue backlog", "severity": "warning"}';
our $NoResourceTrigger = qq{{"routing_key":"$Key","event_action":"trigger","dedup_key":"k-nores","payload":{"summary":"Queue backlog","source":"ngx_itsm_module","severity":"warning","custom_details":{"description":null,"alert_key":"k-nores","alert_source":"generic","resource":null,"link":null,"occurrences":1,"labels":null}},"client":"ngx_itsm_module"}};
our $LongKey = 'k' x 300;
our $Long = '{"key": "' . $LongKey . '", "title": "' . ('T' x 2000) . '", "resource": "db-1", "severity": "critical"}';
our $LongTrigger = '{"routing_key":"' . $Key . '","event_action":"trigger","dedup_key":"' . ('k' x 252) . "\x{2026}"
                 . '","payload":{"summary":"' . ('T' x 1021) . "\x{2026}"
                 . '","source":"db-1","severity":"critical","custom_details":{"description":null,"alert_key":"' . $LongKey
                 . '","alert_source":"generic","resource":"db-1","link":null,"occurrences":1,"labels":null}},"client":"ngx_itsm_module"}';
utf8::encode($LongTrigger);

our $Url = 'POST http://events.pagerduty.com/v2/enqueue';

# a create as the ITSM's log shows it, with its severity
our $Severity = 'POST \S+\n\{"routing_key":"\w+","event_action":"trigger","dedup_key":"k-\w+","payload":\{"summary":"t","source":"r","severity":"%s"[^\n]*\n';

ItsmPreset::suite('pagerduty', create => $Trigger);

run_tests();

__DATA__

=== TEST 1: trigger: the exact event PagerDuty receives; the dedup_key of its answer is the ticket id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a repeat triggers again with the same dedup_key, a resolve resolves it, a re-fire triggers a new alert
--- lifecycle: created updated resolved created
--- itsm_log eval
"$::Url\n$::Trigger\n$::Url\n$::Update\n$::Url\n$::Resolve\n"
. "$::Url\n" . ($::Trigger =~ s/"occurrences":1/"occurrences":4/r) . "\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: severity -> payload.severity (critical, error, warning, info only)
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "resource": "r", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval: [(qr/"outcome":"created"/) x 6, ItsmPreset::lines($::Severity, qw(critical error warning info info warning))]



=== TEST 5: an Alertmanager alert: its labels go to custom_details, its instance to the source
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
['POST /alerts/alertmanager
{"version": "4", "groupKey": "{}:{alertname=\"HostDiskFull\"}", "status": "firing", "receiver": "itsm", "groupLabels": {"alertname": "HostDiskFull"}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": [{"status": "firing", "labels": {"alertname": "HostDiskFull", "instance": "db-1:9100", "severity": "warning"}, "annotations": {"description": "/var on db-1 is 91% full"}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": "c0ffee0123456789"}]}',
 "GET /contract"]
--- error_code eval: [201, 200]
--- response_body eval
['{"status":"created","alerts":[{"key":"c0ffee0123456789","action":"create","outcome":"created","connector":"pagerduty","ticket_id":"disk-db1"}]}
',
"$::Url\n" . qq{{"routing_key":"$::Key","event_action":"trigger","dedup_key":"c0ffee0123456789","payload":{"summary":"HostDiskFull","source":"db-1:9100","severity":"warning","custom_details":{"description":"/var on db-1 is 91% full","alert_key":"c0ffee0123456789","alert_source":"alertmanager","resource":"db-1:9100","link":"http://prometheus:9090/graph","occurrences":1,"labels":{"alertname":"HostDiskFull","instance":"db-1:9100","severity":"warning"}}},"client":"ngx_itsm_module"}} . "\n"]



=== TEST 6: an invalid event (400 with PagerDuty's errors): 502 with PagerDuty's text
--- create_refused eval: [enqueue => 400, '{"status":"invalid event","message":"Event object is invalid","errors":["Length of \'routing_key\' is incorrect (should be 32 characters)"]}']



=== TEST 7: throttled (429, no Retry-After): 503 with the preset's two minutes
--- config eval: ::config(mock => ::mock(enqueue => [429, '{"status":"throttle exceeded","message":"Requests for this service are arriving too quickly. Please retry later."}']))
--- error_code: 503
--- response_headers
Retry-After: 120
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"status":"throttle exceeded","message":"Requests for this service are arriving too quickly. Please retry later."}')



=== TEST 8: a 429 that does carry Retry-After: PagerDuty's value wins
--- config eval: ::config(mock => ::mock(enqueue => [429, '{"status":"throttle exceeded"}', {'Retry-After' => 45}]))
--- error_code: 503
--- response_headers
Retry-After: 45



=== TEST 9: PagerDuty fails (500) on a trigger: 503 with the preset's Retry-After
--- config eval: ::config(mock => ::mock(enqueue => [500, 'Internal Server Error']))
--- error_code: 503
--- response_headers
Retry-After: 120
--- response_body_like eval: ::error("itsm_unavailable", "create", 500, "Internal Server Error")



=== TEST 10: an alert without a resource: payload.source (required) is the preset's default, not empty
--- created_as eval: [$::NoResource, "$::Url\n$::NoResourceTrigger\n"]
--- no_error_log
[error]



=== TEST 11: a 2000-character title is sent as a 1024-byte summary ending with U+2026, a 300-character key as a 255-byte dedup_key; custom_details keep the whole key
--- created_as eval: [$::Long, "$::Url\n$::LongTrigger\n"]
--- no_error_log
[error]
