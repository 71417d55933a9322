# examples/teams/ against a contract mock of a Microsoft Teams Workflows
# webhook (research/formats.md B5; the Zabbix msteams-workflow media type):
# the preset's own connector, map and templates, embedded as they are
# (t/lib/ItsmPreset.pm).  The mock checks the workflow URL's query (its
# "sig" is the credential), logs each card and answers as a workflow does:
# 202 Accepted with an empty body; errors in Azure Logic Apps' shape
# {"error":{"code","message"}} (the codes are Logic Apps'; the texts are
# examples): 400, 401, 404 for a deleted workflow, 429 with Retry-After,
# 502.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Path = '/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke';
our $Query = 'api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK';

sub mock {
    my (%over) = @_;
    ItsmPreset::mock(
        log    => $over{log} // 'teams',
        prefix => '/workflows/',
        check  => [['$args', $Query, 401, '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}'],
                   ['$http_content_type', 'application/json', 400, '{"error":{"code":"InvalidRequestContent","message":"The request content is not valid and could not be deserialized."}}']],
        routes => [['POST', $Path, @{$over{post} || [202, '']}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('teams', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('teams', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

sub card {
    my ($body) = @_;
    return '{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[' . $body . ']}}]}';
}

our $FiringCard = card('{"type":"Container","style":"attention","bleed":true,"items":[{"type":"TextBlock","size":"Medium","weight":"Bolder","wrap":true,"text":"Firing: Disk full on db-1"}]},{"type":"TextBlock","wrap":true,"text":"Description: /var is 98% full"},{"type":"TextBlock","wrap":true,"isSubtle":true,"text":"Severity: critical | Resource: db-1 | Source: generic | Alert key: disk-db1"},{"type":"TextBlock","wrap":true,"isSubtle":true,"text":"Link: "}');

our $Url = "POST http://prod-00.westeurope.logic.azure.com$Path?$Query";

sub req { "POST /alerts/generic\n$_[0]" }

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"teams"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"teams","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: firing: the exact card the workflow receives, at the workflow's URL; its 202 is a success
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST $::Path?$::Query HTTP/1.1\r
Host: prod-00.westeurope.logic.azure.com\r
Content-Length: " . length($::FiringCard) . "\r
Content-Type: application/json\r
\r
$::FiringCard"
--- tcp_reply eval
"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nx-ms-workflow-run-id: 08584530000000000000000000000CU00\r\n\r\n"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a green card when it resolves, a new card after that
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval
[::req($::Firing), ::req($::Again), ::req($::Resolved), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200, 201, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("commented", "comment", "commented"),
 ::answer("resolved", "resolve", "resolved"),
 ::answer("created", "create", "created"),
 ItsmPreset::log_like("$::Url\n$::FiringCard\n"
     . "$::Url\n" . ::card('{"type":"Container","style":"attention","bleed":true,"items":[{"type":"TextBlock","weight":"Bolder","wrap":true,"text":"Still firing: Disk full on db-1"}]},{"type":"TextBlock","wrap":true,"text":"Seen 2 times since TIME, severity critical. /var is 99% full"}') . "\n"
     . "$::Url\n" . ::card('{"type":"Container","style":"good","bleed":true,"items":[{"type":"TextBlock","weight":"Bolder","wrap":true,"text":"Resolved: Disk full on db-1"}]},{"type":"TextBlock","wrap":true,"text":"First seen TIME. /var is 70% full"}') . "\n"
     . "$::Url\n$::FiringCard\n")]
--- no_error_log
[error]



=== TEST 3: the preset's reminder interval (1h): a repeat within it posts nothing
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
 ItsmPreset::log_like("$::Url\n$::FiringCard\n")]



=== TEST 4: severity -> the header's style
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 qr/^(?:POST \S+\n[^\n]*"style":"attention"[^\n]*\n){2}POST \S+\n[^\n]*"style":"warning"[^\n]*\nPOST \S+\n[^\n]*"style":"accent"[^\n]*\n(?:POST \S+\n[^\n]*"style":"emphasis"[^\n]*\n){2}\z/]



=== TEST 5: a wrong signature (401 from Logic Apps): 502 with its error
--- http_config eval: ::http(edit => sub { s/sig=FAKE/sig=WRONG/ })
--- config eval: ::config(edit => sub { s/sig=FAKE/sig=WRONG/ })
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}')



=== TEST 6: the workflow was deleted (404): 502 with its error
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [404, '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 404, '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}')



=== TEST 7: throttled (429 with Retry-After): 503 with the workflow's Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [429, '{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}', {'Retry-After' => 17}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 17
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}')



=== TEST 8: the workflow fails (502): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [502, '{"error":{"code":"NoResponse","message":"The server did not receive a response from an upstream server."}}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
