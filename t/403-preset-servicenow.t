# examples/servicenow/ against the contract mock of ServiceNow's Table API
# (t/lib/ItsmPreset.pm, %Contract): the preset's own connector, maps and
# templates, embedded as they are.  The mock refuses what ServiceNow
# refuses (no credentials: 401 "User Not Authenticated"), logs each request
# and answers as documented: 201 {"result": {...}} for the create, 200
# {"result": {...}} for a PATCH; errors in ServiceNow's shape {"error":
# {"message", "detail"}, "status": "failure"}: 403 for a data policy, 404
# for a record that is gone, 429 with Retry-After, 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $SysId = '9d385017c611228701d22104cc95c371';

our $CreateBody = '{"short_description":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1","impact":"1","urgency":"1","category":"software","assignment_group":"","caller_id":"","cmdb_ci":"","correlation_id":"' . sha256_hex('disk-db1') . '","correlation_display":"ngx_itsm_module"}';

our $Fields = '?sysparm_fields=sys_id,number,state';

# a create as the ITSM's log shows it, with its impact and urgency
our $Levels = 'POST \S+\n\{[^\n]*"impact":"%s","urgency":"%s"[^\n]*\n';

ItsmPreset::suite('servicenow', create => $CreateBody);

run_tests();

__DATA__

=== TEST 1: create: the exact request ServiceNow receives, and the sys_id read from /result/sys_id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: work notes on a repeat, state 6 with close code and notes on resolve, state 2 on a re-fire
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"POST $::Url$::Fields\n$::CreateBody\n"
. "PATCH $::Url/$::SysId$::Fields\n" . '{"work_notes":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}' . "\n"
. "PATCH $::Url/$::SysId$::Fields\n" . '{"state":"6","close_code":"Solution provided","close_notes":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full"}' . "\n"
. "PATCH $::Url/$::SysId$::Fields\n" . '{"state":"2","work_notes":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full"}' . "\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: on_repeat update: title, impact and urgency follow the alert, with a work note
--- update eval
['warning', "PATCH $::Url/$::SysId$::Fields\n" . '{"short_description":"Disk full on db-1","impact":"2","urgency":"2","work_notes":"The alert is firing (seen 2 times since TIME, severity warning).\n/var is 99% full"}' . "\n"]



=== TEST 5: severity -> impact and urgency by the preset's maps
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval: [(qr/"outcome":"created"/) x 6, ItsmPreset::lines($::Levels, map { [split //] } qw(11 12 22 32 33 22))]



=== TEST 6: the configuration item bound: an alert's configuration_items (Azure's configurationItems) is cmdb_ci, by name (ServiceNow matches a reference field's display value; a name it does not know leaves cmdb_ci empty and the incident is made all the same)
--- config eval: ::config(mock => ::mock(log => 't5ci'))
--- request eval
[::req(qq{{"key": "k-ci", "title": "t", "severity": "critical", "configuration_items": ["vm-web-01"]}}), "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/^POST \S+\n\{[^\n]*"caller_id":"","cmdb_ci":"vm-web-01","correlation_id":"[0-9a-f]{64}"[^\n]*\n$/]



=== TEST 7: a data policy refuses the resolve (403 Operation Failed): 502 with ServiceNow's detail; the incident stays open
--- mock_cooldown_0s eval: ::mock(log => 't6', patch => [403, '{"error":{"message":"Operation Failed","detail":"Data Policy Exception: The following fields are mandatory: Resolution code"},"status":"failure"}'])
--- request eval: [::req($::Firing), ::req($::Resolved), "GET /contract"]
--- error_code eval: [201, 502, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_rejected", "resolve", 403, '{"error":{"message":"Operation Failed","detail":"Data Policy Exception: The following fields are mandatory: Resolution code"},"status":"failure"}'),
 qr{^POST \S+\n.*\nPATCH \S+\n\{"state":"6".*\n\z}]



=== TEST 8: wrong credentials: 401, a 502 that says so
--- config eval: ::config(header => {Authorization => '"Basic d3Jvbmc6d3Jvbmc="'})
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}')



=== TEST 9: the incident is gone (404 No Record found) when a work note is added: on_gone new opens a new incident
--- gone_recreated eval: [patch => [404, '{"error":{"message":"No Record found","detail":"Record doesn\'t exist or ACL restricts the record retrieval"},"status":"failure"}']]



=== TEST 10: the rate limit of the Table API (429 with Retry-After): 503 with ServiceNow's Retry-After
--- config eval: ::config(mock => ::mock(create => [429, '{"error":{"message":"Rate limit exceeded","detail":"Rate limit of 10 requests per hour for Table API exceeded"},"status":"failure"}', {'Retry-After' => 1800, 'X-RateLimit-Limit' => 10, 'X-RateLimit-Rule' => 'b2d6e7a3d7320100d7f8a2f5e1cf1f89'}]))
--- error_code: 503
--- response_headers
Retry-After: 1800
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"error":{"message":"Rate limit exceeded","detail":"Rate limit of 10 requests per hour for Table API exceeded"},"status":"failure"}')



=== TEST 11: the instance is hibernating or down (503 HTML, no Retry-After): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [503, '<html><body>Instance Hibernating page</body></html>']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval: ::error("itsm_unavailable", "create", 503, '<html><body>Instance Hibernating page</body></html>')



=== TEST 12: an Azure Monitor alert (common schema) becomes an incident through /alerts/azure
--- config eval: ::config(mock => ::mock(log => 't11'))
--- request eval
['POST /alerts/azure
{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330", "alertRule": "WCUS-R2-Gen2", "severity": "Sev1", "signalType": "Metric", "monitorCondition": "Fired", "monitoringService": "Platform", "alertTargetIDs": ["/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/pipelinealertrg/providers/microsoft.compute/virtualmachines/wcus-r2-gen2"], "configurationItems": ["wcus-r2-gen2"], "originAlertId": "3f2d4487-b0fc-4125-8bd5-7ad17384221e_PipeLineAlertRG_microsoft.insights_metricAlerts_WCUS-R2-Gen2_-117781227", "firedDateTime": "2019-03-22T13:58:24.3713213Z", "description": "", "essentialsVersion": "1.0", "alertContextVersion": "1.0"}, "alertContext": {}}}',
 "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"action":"create","outcome":"created","connector":"servicenow","ticket_id":"9d385017c611228701d22104cc95c371"/,
 qr{^POST \S+\n\{"short_description":"WCUS-R2-Gen2",.*"impact":"1","urgency":"2",.*"correlation_id":"@{[::sha256_hex('/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330')]}",}]



=== TEST 13: the answer to a create is lost: ServiceNow read the exact create and closed the connection: 503, the key is in doubt
--- lost_create



=== TEST 14: ... the next copy: exactly the find the Table API expects; it has the incident: 201 naming it, nothing created
--- lost_find



=== TEST 15: a create's answer lost behind a gateway (504): the next copy finds the incident, the one after adds a work note to it; ServiceNow got one create
--- gateway_find eval
"PATCH $::Url/$::SysId$::Fields\n" . '{"work_notes":"The alert is firing (seen 3 times since TIME, severity critical).\\n/var is 99% full"}' . "\n"



=== TEST 16: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- find_none
