# examples/jsm/ against a contract mock of Jira Service Management Cloud
# (research/formats.md B1): requests and internal notes through
# /rest/servicedeskapi, the resolve and reopen transitions through the Jira
# platform API.  The preset's own connector, maps and templates, embedded
# as they are (t/lib/ItsmPreset.pm).  The mock refuses what JSM refuses (no
# credentials 401, no JSON Accept 406), logs each request and answers as
# documented: 201 with the request, 201 for a comment, 204 for a
# transition or an edit; errors with JSM's own bodies ({"errorMessage",
# "i18nErrorMessage"}), 429 with Retry-After, 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $Auth = 'Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSlNNLUFQSS1UT0tFTg==';

our $Request = '{"_expands":["participant","status","sla","requestType","serviceDesk","attachment","action","comment"],"issueId":"10010","issueKey":"ITS-42","requestTypeId":"10","serviceDeskId":"1","createdDate":{"iso8601":"2026-11-22T05:40:00+0000","epochMillis":1795239600000},"currentStatus":{"status":"Waiting for support","statusCategory":"NEW"},"_links":{"jiraRest":"https://your-domain.atlassian.net/rest/api/2/issue/10010","web":"https://your-domain.atlassian.net/servicedesk/customer/portal/1/ITS-42","self":"https://your-domain.atlassian.net/rest/servicedeskapi/request/10010"}}';
# GET /rest/api/3/issue/ITS-42/transitions in JSM's IT service management workflow
our $Transitions = '{"expand":"transitions","transitions":[{"id":"7","name":"Respond to customer","to":{"name":"Waiting for customer"}},{"id":"5","name":"Resolve this issue","to":{"name":"Resolved","statusCategory":{"key":"done"}}},{"id":"3","name":"Reopen issue","to":{"name":"Waiting for support"}}]}';
our $Comment = '{"id":"10100","body":"...","public":false,"created":{"iso8601":"2026-11-22T05:41:00+0000"}}';

# the preset's find for disk-db1: the newest request with the key's label
# that is not done (JQL, percent-encoded), and Jira's search answers to it, as the
# search API shapes them (GET /rest/api/3/search/jql; fields=key)
our $Find = "/rest/api/3/search/jql?jql=labels%20%3D%20%22itsm-" . sha256_hex('disk-db1')
          . "%22%20AND%20statusCategory%20%21%3D%20Done%20ORDER%20BY%20created%20DESC&fields=key&maxResults=1";
our $Search = '{"issues":[{"expand":"renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations","id":"10000","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000","key":"ITS-42"}],"isLast":true}';
our $NoIssue = '{"issues":[],"isLast":true}';

# what a gateway in front of Jira answers when Jira took too long
our $Gateway = '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>';

sub mock {
    my (%over) = @_;
    my %r = (
        create     => [201, $Request],
        comment    => [201, $Comment],
        edit       => [204, ''],
        transition => [204, ''],
        transitions => [200, $Transitions],
        search     => [200, $NoIssue],
        %over,
    );
    ItsmPreset::mock(
        log    => $over{log} // 'jsm',
        prefix => '/rest/',
        check  => [['$http_authorization', $Auth, 401,
                    'Client must be authenticated to access this resource.'],
                   ['$http_accept', 'application/json', 406,
                    '{"errorMessage":"Not acceptable"}']],
        routes => [['POST', '/rest/servicedeskapi/request', @{$r{create}}],
                   ['POST', '/rest/servicedeskapi/request/[^/]+/comment', @{$r{comment}}],
                   ['PUT', '/rest/api/3/issue/[^/]+', @{$r{edit}}],
                   ['GET', '/rest/api/3/issue/[^/]+/transitions', @{$r{transitions}}],
                   ['POST', '/rest/api/3/issue/[^/]+/transitions', @{$r{transition}}],
                   ['GET', '/rest/api/3/search/jql', @{$r{search}}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('jsm', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('jsm', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "high", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "high", "description": "/var is 99% full", "resource": "db-1", "status": "firing"}';
our $Resolved = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "high", "description": "/var is 70% full", "resource": "db-1", "status": "resolved"}';

our $CreateBody = '{"serviceDeskId":"1","requestTypeId":"10","requestFieldValues":{"summary":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: high\nResource: db-1\nSource: generic\nAlert key: disk-db1","priority":{"name":"High"},"labels":["itsm-' . sha256_hex('disk-db1') . '"]}}';
$CreateBody =~ s/\n/\\n/g;

our $Url = 'http://your-domain.atlassian.net/rest';

sub note { my ($status, $n, $text) = @_;
    qq{{"body":"The alert is $status (seen $n times since TIME, severity high).\\n$text","public":false}} }

sub req { "POST /alerts/generic\n$_[0]" }

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"jsm","ticket_id":"ITS-42"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"jsm","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
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

=== TEST 1: create: the exact request JSM receives, and the issue key read from its answer
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /rest/servicedeskapi/request HTTP/1.1\r
Authorization: Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSlNNLUFQSS1UT0tFTg==\r
Accept: application/json\r
Host: your-domain.atlassian.net\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: " . length($::Request) . "\r\n\r\n$::Request"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"jsm","ticket_id":"ITS-42"}]}
--- no_error_log
[error]



=== TEST 2: the lifecycle: a repeat is an internal note; a resolve a note then the resolve transition; a re-fire a note then the reopen transition
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
 ItsmPreset::log_like("POST $::Url/servicedeskapi/request\n$::CreateBody\n"
     . "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 2, "/var is 99% full") . "\n"
     . "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("resolved", 3, "/var is 70% full") . "\n"
     . "GET $::Url/api/3/issue/ITS-42/transitions\n\n"
     . "POST $::Url/api/3/issue/ITS-42/transitions\n" . '{"transition":{"id":"5"}}' . "\n"
     . "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 4, "/var is 98% full") . "\n"
     . "GET $::Url/api/3/issue/ITS-42/transitions\n\n"
     . "POST $::Url/api/3/issue/ITS-42/transitions\n" . '{"transition":{"id":"3"}}' . "\n")]
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
 ItsmPreset::log_like("POST $::Url/servicedeskapi/request\n$::CreateBody\n")]



=== TEST 4: on_repeat update: the platform API edits summary and priority (204)
--- http_config eval: ::http(set => {on_repeat => 'update'})
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[::req($::Firing), ::req($::Again =~ s/"high"/"critical"/r), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("updated", "update", "updated"),
 ItsmPreset::log_like("POST $::Url/servicedeskapi/request\n$::CreateBody\nPUT $::Url/api/3/issue/ITS-42\n" . '{"fields":{"summary":"Disk full on db-1","priority":{"name":"Highest"}}}' . "\n")]



=== TEST 5: the request type does not take a field: 400 with JSM's message, a 502 for the sender
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [400, '{"errorMessage":"Field \'priority\' is not valid for this request type.","i18nErrorMessage":{"i18nKey":"sd.request.create.error.field.not.valid","parameters":["priority"]}}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 400, q{{"errorMessage":"Field 'priority' is not valid for this request type.","i18nErrorMessage":{"i18nKey":"sd.request.create.error.field.not.valid","parameters":["priority"]}}})



=== TEST 6: wrong credentials: 401, a 502 that says so
--- http_config eval: ::http()
--- config eval: ::config(header => {Authorization => '"Basic d3Jvbmc6d3Jvbmc="'})
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, "Client must be authenticated to access this resource.")



=== TEST 7: rate limited (429 with Retry-After): 503 with that Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [429, '{"errorMessage":"Rate limit exceeded."}', {'Retry-After' => 12}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 12
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"errorMessage":"Rate limit exceeded."}')



=== TEST 8: JSM fails (502 from its edge, no Retry-After): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [502, 'Bad Gateway']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 502, "Bad Gateway")



=== TEST 9: the note before the resolve meets 404 (the request was deleted): on_gone new, so the key forgets it and nothing more is sent
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't9', comment => [404, '{"errorMessage":"The request could not be found.","i18nErrorMessage":{"i18nKey":"sd.request.error.not.found","parameters":[]}}']))
--- request eval
[::req($::Firing), ::req($::Resolved), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 qr/^\Q{"status":"resolved","alerts":[{"key":"disk-db1","action":"none","outcome":"resolved","connector":"jsm","reason":"the ticket no longer exists in the ITSM; the key forgot it"}]}\E\n\z/,
 qr{^POST \S+/servicedeskapi/request\n.*\nPOST \S+/servicedeskapi/request/ITS-42/comment\n.*\n\z}]



=== TEST 10: the answer to a create is lost: JSM read the exact create and closed the connection: 503, the key is in doubt
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- config eval: ::config(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"POST /rest/servicedeskapi/request HTTP/1.1\r
Authorization: Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSlNNLUFQSS1UT0tFTg==\r
Accept: application/json\r
Host: your-domain.atlassian.net\r
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



=== TEST 11: ... the next copy: exactly the find Jira's search API expects; it has the request: 201 naming it, nothing created
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"GET $::Find HTTP/1.1\r
Authorization: Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSlNNLUFQSS1UT0tFTg==\r
Accept: application/json\r
Host: your-domain.atlassian.net\r
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



=== TEST 12: a create's answer lost behind a gateway (504): the next copy finds the request, the one after notes on it; JSM got one create
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't12', create => [504, $::Gateway], search => [200, $::Search]))
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
 ItsmPreset::log_like("POST $::Url/servicedeskapi/request\n$::CreateBody\nGET http://your-domain.atlassian.net$::Find\n\n"
     . "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 3, "/var is 99% full") . "\n")]



=== TEST 13: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't13', create => [504, $::Gateway]))
--- request eval
[::req($::Firing), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::error("itsm_unavailable", "create", 504, $::Gateway)) x 2,
 ItsmPreset::log_like("POST $::Url/servicedeskapi/request\n$::CreateBody\nGET http://your-domain.atlassian.net$::Find\n\nPOST $::Url/servicedeskapi/request\n$::CreateBody\n")]
