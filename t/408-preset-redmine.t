# examples/redmine/ against the contract mock of Redmine's REST API (JSON;
# t/lib/ItsmPreset.pm, %Contract): the preset's own connector, maps and
# templates, embedded as they are.  The mock refuses a wrong
# X-Redmine-API-Key (401, empty body) and a body that is not JSON (Redmine
# parses by Content-Type), logs each request and answers as Redmine does:
# 201 {"issue":{"id":123,...}} for a create, 204 for a PUT; 422
# {"errors":[...]} for validation, 404 and 403 with empty bodies, 5xx from
# the application server.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $CreateBody = '{"issue":{"project_id":"1","tracker_id":"1","priority_id":"5","subject":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: \nITSM key: ' . sha256_hex('disk-db1') . '","custom_fields":[{"id":"1","value":"' . sha256_hex('disk-db1') . '"},{"id":"2","value":""}]}}';

our $Api = 'http://redmine.example.com/issues';

# a create as the ITSM's log shows it, with its priority
our $Priority = 'POST \S+\n\{"issue":\{"project_id":"1","tracker_id":"1","priority_id":"%s","subject":"t"[^\n]*\n';

ItsmPreset::suite('redmine', create => $CreateBody);

run_tests();

__DATA__

=== TEST 1: create: the exact request Redmine receives, and the numeric issue id read from /issue/id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a note on a repeat, the resolved status with a note, the reopened status with a note
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"POST $::Api.json\n$::CreateBody\n"
. "PUT $::Api/123.json\n" . '{"issue":{"notes":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}}' . "\n"
. "PUT $::Api/123.json\n" . '{"issue":{"status_id":"3","notes":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full"}}' . "\n"
. "PUT $::Api/123.json\n" . '{"issue":{"status_id":"2","notes":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full"}}' . "\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: on_repeat update: subject and priority follow the alert, with a note; an older Redmine's 200 is fine too
--- update eval
['high', "PUT $::Api/123.json\n" . '{"issue":{"subject":"Disk full on db-1","priority_id":"4","notes":"The alert is firing (seen 2 times since TIME, severity high).\n/var is 99% full"}}' . "\n", put => [200, '']]



=== TEST 5: severity -> priority ids 5, 4, 3, 2, 1; an unknown word -> 2
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval: [(qr/"outcome":"created"/) x 6, ItsmPreset::lines($::Priority, qw(5 4 3 2 1 2))]



=== TEST 6: the configuration item bound: an alert's configuration_items (Azure's configurationItems) in the custom field $redmine_ci_field (2)
--- config eval: ::config(mock => ::mock(log => 't5ci'))
--- request eval
[::req(qq{{"key": "k-ci", "title": "t", "severity": "critical", "configuration_items": ["vm-web-01"]}}), "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/^POST \S+\n\{"issue":\{[^\n]*"custom_fields":\[\{"id":"1","value":"[0-9a-f]{64}"\},\{"id":"2","value":"vm-web-01"\}\]\}\}\n$/]



=== TEST 7: a validation error (422 with Redmine's errors): 502 with Redmine's text
--- create_refused eval: [create => 422, '{"errors":["Tracker is not included in the list","Priority cannot be blank"]}']



=== TEST 8: a wrong API key: 401 with an empty body, a 502 that names the status
--- config eval: ::config(header => {'X-Redmine-API-Key' => 'wrong'})
--- error_code: 502
--- response_body_like eval: ::error("itsm_rejected", "create", 401, "")



=== TEST 9: the issue was deleted: 404 on the note, on_gone new opens a new issue
--- gone_recreated eval: [put => [404, '']]



=== TEST 10: Redmine's application server is down (502 from its proxy): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [502, '<html><body>Bad Gateway</body></html>']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval: ::error("itsm_unavailable", "create", 502, '<html><body>Bad Gateway</body></html>')



=== TEST 11: the answer to a create is lost: Redmine read the exact create and closed the connection: 503, the key is in doubt
--- lost_create



=== TEST 12: ... the next copy: exactly the find Redmine's issue list expects; it has the issue: 201 naming it, nothing created
--- lost_find



=== TEST 13: a create's answer lost behind a gateway (504): the next copy finds the issue, the one after adds a note to it; Redmine got one create
--- gateway_find eval
"PUT $::Api/123.json\n" . '{"issue":{"notes":"The alert is firing (seen 3 times since TIME, severity critical).\\n/var is 99% full"}}' . "\n"



=== TEST 14: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- find_none
