# examples/opsgenie/ against the contract mock of Opsgenie's Alert API v2
# (t/lib/ItsmPreset.pm, %Contract; docs.opsgenie.com alert-api and
# response): the preset's own connector, map and templates, embedded as
# they are.  The mock refuses a missing GenieKey (401 "Could not
# authenticate"), logs each request and answers as documented: 202
# {"result":"Request will be processed","took":...,"requestId":...} for the
# create, notes, priority and close; 422 {"message":"Request body is not
# processable...","errors":{...}}; 429 (no Retry-After); 5xx.  Its 202
# carries no ticket id (see the preset).
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $CreateBody = '{"message":"Disk full on db-1","alias":"disk-db1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nLink: ","priority":"P1","tags":["alert","source:generic","severity:critical"],"details":{"alert_key":"disk-db1","source":"generic"},"source":"ngx_itsm_module"}';

# a create as the ITSM's log shows it, with its priority
our $Priority = 'POST \S+\n\{"message":"t","alias":"k-\w+","description":"[^"]*","priority":"%s"[^\n]*\n';

ItsmPreset::suite('opsgenie', create => $CreateBody);

run_tests();

__DATA__

=== TEST 1: create: the exact request Opsgenie receives; its 202 is a success without a ticket id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a note by alias on a repeat, a close by alias on resolve, a new alert on a re-fire
--- lifecycle: created commented resolved created
--- itsm_log eval
"POST $::Url\n$::CreateBody\n"
. "POST $::Url/disk-db1/notes?identifierType=alias\n" . '{"user":"ngx_itsm_module","source":"ngx_itsm_module","note":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}' . "\n"
. "POST $::Url/disk-db1/close?identifierType=alias\n" . '{"user":"ngx_itsm_module","source":"ngx_itsm_module","note":"The alert resolved (first seen TIME).\n/var is 70% full"}' . "\n"
. "POST $::Url\n$::CreateBody\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: on_repeat update: the priority follows the alert's severity
--- update eval: ['info', "PUT $::Url/disk-db1/priority?identifierType=alias\n" . '{"priority":"P4"}' . "\n"]



=== TEST 5: severity -> P1..P5, an unknown word -> P3
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval: [(qr/"outcome":"created"/) x 6, ItsmPreset::lines($::Priority, qw(P1 P2 P3 P4 P5 P3))]



=== TEST 6: aliases with "/", "%", spaces, unicode and query characters reach Opsgenie escaped once
The preset's proxy_pass has no URI part, so Opsgenie receives the action's
path as the module rendered it (t/010-create.t TEST 8).  The mock logs
$request_uri, the bytes on the request line.
--- mock_cooldown_0s eval: ::mock(log => 't6')
--- request eval
[::req('{"key": "db/primary 50%", "title": "t"}'),
 ::req('{"key": "db/primary 50%", "title": "t"}'),
 ::req('{"key": "db/primary 50%", "title": "t", "status": "resolved"}'),
 ::req('{"key": "Zürich ../a?b#c&d+e=f", "title": "t"}'),
 ::req('{"key": "Zürich ../a?b#c&d+e=f", "title": "t"}'),
 "GET /contract"]
--- error_code eval: [201, 200, 200, 201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"commented"/, qr/"outcome":"resolved"/,
 qr/"outcome":"created"/, qr/"outcome":"commented"/,
 qr{^POST http://api\.opsgenie\.com/v2/alerts\n\{"message":"t","alias":"db/primary 50%",[^\n]*\n}
 . qr{POST \Qhttp://api.opsgenie.com/v2/alerts/db%2Fprimary%2050%25/notes?identifierType=alias\E\n[^\n]*\n}
 . qr{POST \Qhttp://api.opsgenie.com/v2/alerts/db%2Fprimary%2050%25/close?identifierType=alias\E\n[^\n]*\n}
 . qr{POST http://api\.opsgenie\.com/v2/alerts\n\{"message":"t","alias":"Zürich \.\./a\?b#c&d\+e=f",[^\n]*\n}
 . qr{POST \Qhttp://api.opsgenie.com/v2/alerts/Z%C3%BCrich%20..%2Fa%3Fb%23c%26d%2Be%3Df/notes?identifierType=alias\E\n[^\n]*\n\z}]
--- no_error_log
[error]



=== TEST 7: a message Opsgenie cannot process (422 with its errors): 502 with Opsgenie's text
--- create_refused eval: [create => 422, '{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"7e92211d-5896-4ed7-adbf-1c78f92241fe"}']



=== TEST 8: a wrong or disabled key: 401, a 502 that says so
--- config eval: ::config(header => {Authorization => '"GenieKey wrong"'})
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"message":"Could not authenticate","took":0.0,"requestId":"0f2bd3d6-7a2f-4b44-9a0e-3b4a4a0a7f4c"}')



=== TEST 9: throttled (429 without Retry-After): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [429, '{"message":"You are making too many requests! To avoid errors, we recommend you limit requests.","took":0.0,"requestId":"9b6c1a4e-8c1d-4a55-9d0e-6a1f2e3d4c5b"}', {'X-RateLimit-State' => 'THROTTLED', 'X-RateLimit-Reason' => 'INTEGRATION', 'X-RateLimit-Period-In-Sec' => 60}]))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"message":"You are making too many requests! To avoid errors, we recommend you limit requests.","took":0.0,"requestId":"9b6c1a4e-8c1d-4a55-9d0e-6a1f2e3d4c5b"}')



=== TEST 10: Opsgenie fails (500): 503, the close is tried again when the sender resends
--- mock_cooldown_0s eval: ::mock(action => [500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}'])
--- request eval: [::req($::Firing), ::req($::Resolved), ::req($::Resolved)]
--- error_code eval: [201, 503, 503]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_unavailable", "resolve", 500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}'),
 ::error("itsm_unavailable", "resolve", 500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}')]
