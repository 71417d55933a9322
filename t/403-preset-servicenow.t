# examples/servicenow/ against a contract mock of ServiceNow's Table API
# (research/formats.md B2): the preset's own connector, maps and
# templates, embedded as they are (t/lib/ItsmPreset.pm).  The mock refuses
# what ServiceNow refuses (no credentials: 401 "User Not Authenticated"),
# logs each request and answers as documented: 201 {"result": {...}} for
# the create, 200 {"result": {...}} for a PATCH; errors in ServiceNow's
# shape {"error": {"message", "detail"}, "status": "failure"}: 403 for a
# data policy, 404 for a record that is gone, 429 with Retry-After, 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $Auth = 'Basic aXRzbS1pbnRlZ3JhdGlvbjpGQUtFLVBBU1NXT1JE';
our $SysId = '9d385017c611228701d22104cc95c371';

our $Created = qq{{"result":{"sys_id":"$SysId","number":"INC0010002","state":"1"}}};
our $Patched = qq{{"result":{"sys_id":"$SysId","number":"INC0010002","state":"2"}}};

# the preset's find for disk-db1: the newest active incident whose
# correlation_id is the key's SHA-256 (an encoded query, percent-encoded),
# and the Table API's answers to it (sysparm_fields=sys_id)
our $Find = "/api/now/table/incident?sysparm_query=correlation_id%3D" . sha256_hex('disk-db1')
          . "%5Eactive%3Dtrue%5EORDERBYDESCsys_created_on&sysparm_fields=sys_id&sysparm_limit=1";
our $Search = qq{{"result":[{"sys_id":"$SysId"}]}};
our $NoIncident = '{"result":[]}';

# what a gateway in front of the instance answers when it took too long
our $Gateway = '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>';

sub mock {
    my (%over) = @_;
    my %r = (create => [201, $Created], patch => [200, $Patched], search => [200, $NoIncident], %over);
    ItsmPreset::mock(
        log    => $over{log} // 'snow',
        prefix => '/api/now/',
        check  => [['$http_authorization', $Auth, 401,
                    '{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}']],
        routes => [['POST', '/api/now/table/incident', @{$r{create}}],
                   ['PATCH', '/api/now/table/incident/[0-9a-f]{32}', @{$r{patch}}],
                   ['GET', '/api/now/table/incident', @{$r{search}}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('servicenow', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('servicenow', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $CreateBody = '{"short_description":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1","impact":"1","urgency":"1","category":"software","assignment_group":"","caller_id":"","correlation_id":"' . sha256_hex('disk-db1') . '","correlation_display":"ngx_itsm_module"}';
$CreateBody =~ s/\n/\\n/g;

our $Table = 'http://your-instance.service-now.com/api/now/table/incident';
our $Fields = '?sysparm_fields=sys_id,number,state';

sub req { "POST /alerts/generic\n$_[0]" }

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"servicenow","ticket_id":"$SysId"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"servicenow","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

# the impact and urgency a create sends, in the order of the alerts
sub levels {
    my $re = join '', map { my ($i, $u) = split //; 'POST \S+\n\{[^\n]*"impact":"' . $i . '","urgency":"' . $u . '"[^\n]*\n' } @_;
    return qr/^$re\z/;
}

# the port of the one-shot ITSM of the two tcp_listen blocks at the end,
# the same in both (they share one nginx); a free one unless set
$ENV{TEST_NGINX_LOST_PORT} ||= do {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "no free port: $!";
    $s->sockport;
};

our $Found = ',"reason":"an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM"';

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: create: the exact request ServiceNow receives, and the sys_id read from /result/sys_id
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /api/now/table/incident?sysparm_fields=sys_id,number,state HTTP/1.1\r
Authorization: Basic aXRzbS1pbnRlZ3JhdGlvbjpGQUtFLVBBU1NXT1JE\r
Accept: application/json\r
Host: your-instance.service-now.com\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nContent-Type: application/json;charset=UTF-8\r\nLocation: https://your-instance.service-now.com/api/now/table/incident/$::SysId\r\nContent-Length: " . length($::Created) . "\r\n\r\n$::Created"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: work notes on a repeat, state 6 with close code and notes on resolve, state 2 on a re-fire
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval
[::req($::Firing), ::req($::Again), ::req($::Resolved), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("commented", "comment", "commented"),
 ::answer("resolved", "resolve", "resolved"),
 ::answer("reopened", "reopen", "reopened"),
 ItsmPreset::log_like("POST $::Table$::Fields\n$::CreateBody\n"
     . "PATCH $::Table/$::SysId$::Fields\n" . '{"work_notes":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}' . "\n"
     . "PATCH $::Table/$::SysId$::Fields\n" . '{"state":"6","close_code":"Solution provided","close_notes":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full"}' . "\n"
     . "PATCH $::Table/$::SysId$::Fields\n" . '{"state":"2","work_notes":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full"}' . "\n")]
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't3'))
--- request eval
[::req($::Firing), ::req($::Again), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("cooldown", "none", "cooldown", ',"reason":"the ticket was updated within the cooldown; the latest state is sent when it ends"'),
 ItsmPreset::log_like("POST $::Table$::Fields\n$::CreateBody\n")]



=== TEST 4: on_repeat update: title, impact and urgency follow the alert, with a work note
--- http_config eval: ::http(set => {on_repeat => 'update'})
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[::req($::Firing), ::req($::Again =~ s/critical/warning/r), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("updated", "update", "updated"),
 ItsmPreset::log_like("POST $::Table$::Fields\n$::CreateBody\nPATCH $::Table/$::SysId$::Fields\n" . '{"short_description":"Disk full on db-1","impact":"2","urgency":"2","work_notes":"The alert is firing (seen 2 times since TIME, severity warning).\n/var is 99% full"}' . "\n")]



=== TEST 5: severity -> impact and urgency by the preset's maps
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6, ::levels(qw(11 12 22 32 33 22))]



=== TEST 6: a data policy refuses the resolve (403 Operation Failed): 502 with ServiceNow's detail; the incident stays open
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't6', patch => [403, '{"error":{"message":"Operation Failed","detail":"Data Policy Exception: The following fields are mandatory: Resolution code"},"status":"failure"}']))
--- request eval
[::req($::Firing), ::req($::Resolved), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 502, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_rejected", "resolve", 403, '{"error":{"message":"Operation Failed","detail":"Data Policy Exception: The following fields are mandatory: Resolution code"},"status":"failure"}'),
 qr{^POST \S+\n.*\nPATCH \S+\n\{"state":"6".*\n\z}]



=== TEST 7: wrong credentials: 401, a 502 that says so
--- http_config eval: ::http()
--- config eval: ::config(header => {Authorization => '"Basic d3Jvbmc6d3Jvbmc="'})
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}')



=== TEST 8: the incident is gone (404 No Record found) when a work note is added: on_gone new opens a new incident
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(patch => [404, '{"error":{"message":"No Record found","detail":"Record doesn\'t exist or ACL restricts the record retrieval"},"status":"failure"}']))
--- request eval
[::req($::Firing), ::req($::Again)]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("created", "create", "created", ',"reason":"the ticket no longer existed in the ITSM; a new one was created"')]



=== TEST 9: the rate limit of the Table API (429 with Retry-After): 503 with ServiceNow's Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [429, '{"error":{"message":"Rate limit exceeded","detail":"Rate limit of 10 requests per hour for Table API exceeded"},"status":"failure"}', {'Retry-After' => 1800, 'X-RateLimit-Limit' => 10, 'X-RateLimit-Rule' => 'b2d6e7a3d7320100d7f8a2f5e1cf1f89'}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 1800
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"error":{"message":"Rate limit exceeded","detail":"Rate limit of 10 requests per hour for Table API exceeded"},"status":"failure"}')



=== TEST 10: the instance is hibernating or down (503 HTML, no Retry-After): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [503, '<html><body>Instance Hibernating page</body></html>']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 503, '<html><body>Instance Hibernating page</body></html>')



=== TEST 11: an Azure Monitor alert (common schema) becomes an incident through /alerts/azure
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't11'))
--- request eval
['POST /alerts/azure
{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330", "alertRule": "WCUS-R2-Gen2", "severity": "Sev1", "signalType": "Metric", "monitorCondition": "Fired", "monitoringService": "Platform", "alertTargetIDs": ["/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/pipelinealertrg/providers/microsoft.compute/virtualmachines/wcus-r2-gen2"], "configurationItems": ["wcus-r2-gen2"], "originAlertId": "3f2d4487-b0fc-4125-8bd5-7ad17384221e_PipeLineAlertRG_microsoft.insights_metricAlerts_WCUS-R2-Gen2_-117781227", "firedDateTime": "2019-03-22T13:58:24.3713213Z", "description": "", "essentialsVersion": "1.0", "alertContextVersion": "1.0"}, "alertContext": {}}}',
 "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"action":"create","outcome":"created","connector":"servicenow","ticket_id":"9d385017c611228701d22104cc95c371"/,
 qr{^POST \S+\n\{"short_description":"WCUS-R2-Gen2",.*"impact":"1","urgency":"2",.*"correlation_id":"@{[::sha256_hex('/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330')]}",}]



=== TEST 12: the answer to a create is lost: ServiceNow read the exact create and closed the connection: 503, the key is in doubt
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- config eval: ::config(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"POST /api/now/table/incident?sysparm_fields=sys_id,number,state HTTP/1.1\r
Authorization: Basic aXRzbS1pbnRlZ3JhdGlvbjpGQUtFLVBBU1NXT1JE\r
Accept: application/json\r
Host: your-instance.service-now.com\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval: ""
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_body_like eval
::error("itsm_unavailable", "create", 502, "no answer from the ITSM: the connection was refused, reset or timed out (see the error log)")



=== TEST 13: ... the next copy: exactly the find the Table API expects; it has the incident: 201 naming it, nothing created
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"GET $::Find HTTP/1.1\r
Authorization: Basic aXRzbS1pbnRlZ3JhdGlvbjpGQUtFLVBBU1NXT1JE\r
Accept: application/json\r
Host: your-instance.service-now.com\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: " . length($::Search) . "\r\nConnection: close\r\n\r\n$::Search"
--- request eval: ::req($::Again)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval
::answer("created", "create", "created", $::Found)



=== TEST 14: a create's answer lost behind a gateway (504): the next copy finds the incident, the one after adds a work note to it; ServiceNow got one create
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't14', create => [504, $::Gateway], search => [200, $::Search]))
--- request eval
[::req($::Firing), ::req($::Firing), ::req($::Again), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 201, 200, 200]
--- response_body_like eval
[::error("itsm_unavailable", "create", 504, $::Gateway),
 ::answer("created", "create", "created", $::Found),
 ::answer("commented", "comment", "commented"),
 ItsmPreset::log_like("POST $::Table$::Fields\n$::CreateBody\nGET http://your-instance.service-now.com$::Find\n\n"
     . "PATCH $::Table/$::SysId$::Fields\n" . '{"work_notes":"The alert is firing (seen 3 times since TIME, severity critical).\\n/var is 99% full"}' . "\n")]



=== TEST 15: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't15', create => [504, $::Gateway]))
--- request eval
[::req($::Firing), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::error("itsm_unavailable", "create", 504, $::Gateway)) x 2,
 ItsmPreset::log_like("POST $::Table$::Fields\n$::CreateBody\nGET http://your-instance.service-now.com$::Find\n\nPOST $::Table$::Fields\n$::CreateBody\n")]
