# examples/jira/ against the contract mock of Jira Cloud's REST API v3
# (t/lib/ItsmPreset.pm, %Contract): the preset's own connector, maps,
# templates and ITSM location, embedded as they are.  The mock refuses what
# Jira refuses (no credentials: 401, no JSON: 406), logs each request
# (method, URL, exact body) and answers as documented: 201 with the issue
# key, 201 for a comment, 204 for an edit or a transition, and the errors
# (400, 401, 404 with Jira's own error bodies; 429 and 503 with
# Retry-After; 500).
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $CreateBody = '{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"Disk full on db-1","priority":{"name":"Highest"},"labels":["alert","alert-source-generic","itsm-' . sha256_hex('disk-db1') . '"],"description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Description: /var is 98% full"}]},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Severity: critical"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Resource: db-1"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Source: generic"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Alert key: disk-db1"}]}]}]}]}}}';

our $CommentBody = '{"body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"The alert is firing (seen 2 times since TIME, severity critical)."}]},{"type":"paragraph","content":[{"type":"text","text":"Description: /var is 99% full"}]}]}}';
our $ResolveBody = '{"transition":{"id":"31"},"update":{"comment":[{"add":{"body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"The alert resolved (first seen TIME); resolved by ngx_itsm_module."}]}]}}}]}}';
our $ReopenBody = '{"transition":{"id":"11"},"update":{"comment":[{"add":{"body":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module. Description: /var is 98% full"}]}]}}}]}}';

# a create as the ITSM's log shows it, with its priority
our $Priority = 'POST \S+/issue\n\{"fields":\{"project":\{"key":"OPS"\},"issuetype":\{"name":"Task"\},"summary":"t","priority":\{"name":"%s"\}[^\n]*\n';

ItsmPreset::suite('jira', create => $CreateBody);

run_tests();

__DATA__

=== TEST 1: create: the exact request Jira receives, and the issue key read from its answer
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a repeat comments, a resolve runs the resolve transition with a comment, a re-fire the reopen transition
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"POST $::Url\n$::CreateBody\nPOST $::Url/OPS-17/comment\n$::CommentBody\nGET $::Url/OPS-17/transitions\n\nPOST $::Url/OPS-17/transitions\n$::ResolveBody\nGET $::Url/OPS-17/transitions\n\nPOST $::Url/OPS-17/transitions\n$::ReopenBody\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it is kept for later and sends nothing now
--- cooldown
--- no_error_log
[error]



=== TEST 4: on_repeat update: the update action edits the summary and the priority (204)
--- update eval
['warning', "PUT $::Url/OPS-17\n" . '{"fields":{"summary":"Disk full on db-1","priority":{"name":"Medium"}}}' . "\n"]
--- no_error_log
[error]



=== TEST 5: severity -> priority by the preset's map; a word the module does not know -> Medium
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(high warning info low emergency P5 bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 7, ItsmPreset::lines($::Priority, qw(High Medium Low Lowest Highest Lowest Medium))]



=== TEST 6: an Alertmanager group: the alert's name, description and instance reach the issue
--- config eval: ::config(mock => ::mock(log => 't6'))
--- request eval
['POST /alerts/alertmanager
{"version": "4", "groupKey": "{}:{alertname=\"HostDiskFull\"}", "status": "firing", "receiver": "itsm", "groupLabels": {"alertname": "HostDiskFull"}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": [{"status": "firing", "labels": {"alertname": "HostDiskFull", "instance": "db-1:9100", "severity": "warning"}, "annotations": {"description": "/var on db-1 is 91% full"}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": "c0ffee0123456789"}]}',
 "GET /contract"]
--- error_code eval: [201, 200]
--- response_body eval
['{"status":"created","alerts":[{"key":"c0ffee0123456789","action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-17"}]}
',
"POST $::Url\n" . '{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"HostDiskFull","priority":{"name":"Medium"},"labels":["alert","alert-source-alertmanager","itsm-' . ::sha256_hex('c0ffee0123456789') . '"],"description":{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Description: /var on db-1 is 91% full"}]},{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Severity: warning"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Resource: db-1:9100"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Source: alertmanager"}]}]},{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Alert key: c0ffee0123456789"}]}]}]}]}}}' . "\n"]



=== TEST 7: an Alertmanager group with two severities: each issue gets its own priority
--- config eval: ::config(mock => ::mock(log => 't7'))
--- request eval
['POST /alerts/alertmanager
{"version": "4", "groupKey": "g", "status": "firing", "receiver": "itsm", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": [{"status": "firing", "labels": {"alertname": "A", "severity": "critical"}, "annotations": {}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}, {"status": "firing", "labels": {"alertname": "B", "severity": "info"}, "annotations": {}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f2"}]}',
 "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"status":"processed"/, qr/"priority":\{"name":"Highest"\}.*\n.*\n.*"priority":\{"name":"Low"\}/]



=== TEST 8: Jira refuses the issue (400 with its errors): 502 with Jira's own text, not retried
--- config eval: ::config(mock => ::mock(create => [400, '{"errorMessages":[],"errors":{"project":"valid project is required"}}']))
--- error_code: 502
--- response_headers
! Retry-After
--- response_body
{"error":"itsm_rejected","connector":"jira","action":"create","itsm_status":400,"itsm_error":"{\"errorMessages\":[],\"errors\":{\"project\":\"valid project is required\"}}"}
--- error_log
itsm: connector "jira" create: the ITSM answered 400



=== TEST 9: wrong credentials: Jira's 401 is a 502 that says so
--- config eval: ::config(header => {Authorization => '"Basic d3Jvbmc6d3Jvbmc="'})
--- error_code: 502
--- response_body
{"error":"itsm_rejected","connector":"jira","action":"create","itsm_status":401,"itsm_error":"Client must be authenticated to access this resource."}



=== TEST 10: rate limited (429 with Retry-After): 503 with Jira's Retry-After
--- config eval: ::config(mock => ::mock(create => [429, '{"errorMessages":["Rate limit exceeded."]}', {'Retry-After' => 37, 'X-RateLimit-Limit' => 100, 'RateLimit-Reason' => 'jira-burst-based'}]))
--- error_code: 503
--- response_headers
Retry-After: 37
--- response_body
{"error":"itsm_unavailable","connector":"jira","action":"create","itsm_status":429,"itsm_error":"{\"errorMessages\":[\"Rate limit exceeded.\"]}"}



=== TEST 11: Jira unavailable (503 with Retry-After): 503 with its Retry-After
--- config eval: ::config(mock => ::mock(create => [503, 'Service Unavailable', {'Retry-After' => 120}]))
--- error_code: 503
--- response_headers
Retry-After: 120
--- response_body
{"error":"itsm_unavailable","connector":"jira","action":"create","itsm_status":503,"itsm_error":"Service Unavailable"}



=== TEST 12: Jira fails (500, no Retry-After): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [500, '{"errorMessages":["Internal server error"],"errors":{}}']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body
{"error":"itsm_unavailable","connector":"jira","action":"create","itsm_status":500,"itsm_error":"{\"errorMessages\":[\"Internal server error\"],\"errors\":{}}"}



=== TEST 13: the workflow refuses the transition (a required resolution): 502, and the issue stays open
--- mock_cooldown_0s eval: ::mock(log => 't13', transition => [400, '{"errorMessages":[],"errors":{"resolution":"Resolution is required."}}'])
--- request eval: [::req($::Firing), ::req($::Resolved), ::req($::Again), "GET /contract"]
--- error_code eval: [201, 502, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_rejected", "resolve", 400, '{"errorMessages":[],"errors":{"resolution":"Resolution is required."}}'),
 ::answer("commented", "comment", "commented"),
 qr{^POST \S+/issue\n.*\nGET \S+/OPS-17/transitions\n\nPOST \S+/OPS-17/transitions\n.*\nPOST \S+/OPS-17/comment\n.*\n\z}]
--- no_error_log
[alert]
[emerg]



=== TEST 14: the issue was deleted in Jira: the comment gets 404, on_gone new opens a new issue
--- gone_recreated eval: [comment => [404, '{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}']]
--- no_error_log
[alert]
[emerg]



=== TEST 15: when the cooldown ends, the repeats kept within it become one comment with the latest state and each note held, through the preset's replay location
--- http_config eval: ::http(cooldown => '2s')
--- config eval: ::config(mock => ::mock(log => 't15'))
--- request eval: [::req($::Firing), ::req($::Again), ::req($::Again =~ s/99%/100%/r)]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("cooldown", "none", "cooldown", reason => $::Reason{cooldown}),
 ::answer("cooldown", "none", "cooldown", reason => $::Reason{cooldown})]



=== TEST 16: when the cooldown ends ...: what Jira received
--- init
sleep 3.5;
--- request
GET /contract
--- error_code: 200
--- response_body_like eval
ItsmPreset::log_like("POST $::Url\n$::CreateBody\nPOST $::Url/OPS-17/comment\n" . ($::CommentBody =~ s/seen 2 times/seen 3 times/r =~ s{/var is 99% full}{[TIME] /var is 99% full\\n\\n[TIME] /var is 100% full}r) . "\n")
--- no_error_log
[error]



=== TEST 17: the issue was closed by hand: it offers no transition to "Done", so the resolve posts nothing, logs a warning and counts as resolved
--- mock_cooldown_0s eval: ::mock(log => 't17', transitions => [200, '{"expand":"transitions","transitions":[{"id":"41","name":"Reopen","to":{"name":"To Do","statusCategory":{"key":"new"}},"hasScreen":false}]}'])
--- request eval: [::req($::Firing), ::req($::Resolved), "GET /contract"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("resolved", "resolve", "resolved"),
 qr{^POST \S+/issue\n.*\nGET http://your-domain\.atlassian\.net/rest/api/3/issue/OPS-17/transitions\n\n\z}]
--- no_error_log
[error]



=== TEST 18: the issue was closed by hand: the warning names what the issue offers
--- request
GET /contract
--- error_code: 200
--- grep_error_log eval: qr/\[warn\] .*skips resolve of ticket "OPS-17": [^,]+"Reopen"/
--- grep_error_log_out eval
qr/skips resolve of ticket "OPS-17": no element of "\/transitions" has "\/name" or "\/to\/name" equal to "Done" or "Resolved" or "Closed" or "Resolve Issue"; the ITSM offers: "Reopen"\n\z/



=== TEST 19: the issue was deleted: the lookup of its transitions gets 404, the key forgets the issue, nothing is posted; the next firing alert opens a new issue
--- mock_cooldown_0s eval: ::mock(log => 't19', transitions => [404, '{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}'])
--- request eval: [::req($::Firing), ::req($::Resolved), ::req($::Firing), "GET /contract"]
--- error_code eval: [201, 200, 201, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("resolved", "none", "resolved", ticket_id => undef, reason => $::Reason{forgot}),
 ::answer("created", "create", "created"),
 qr{^POST \S+/issue\n.*\nGET \S+/OPS-17/transitions\n\nPOST \S+/issue\n.*\n\z}]
--- no_error_log
[alert]
[emerg]



=== TEST 20: the answer to a create is lost: Jira read the exact create and closed the connection: 503, the key is in doubt
--- lost_create



=== TEST 21: ... the next copy: exactly the find Jira's search API expects; it has the issue: 201 naming it, nothing created
--- lost_find



=== TEST 22: a create's answer lost behind a gateway (504): the next copy finds the issue, the one after comments on it; Jira got one create
--- gateway_find eval: "POST $::Url/OPS-17/comment\n" . ($::CommentBody =~ s/seen 2 times/seen 3 times/r) . "\n"



=== TEST 23: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- find_none
