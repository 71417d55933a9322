# examples/opsgenie/ against a contract mock of Opsgenie's Alert API v2
# (research/formats.md B4; docs.opsgenie.com alert-api and response): the
# preset's own connector, map and templates, embedded as they are
# (t/lib/ItsmPreset.pm).  The mock refuses a missing GenieKey (401 "Could
# not authenticate"), logs each request and answers as documented: 202
# {"result":"Request will be processed","took":...,"requestId":...} for the
# create, notes, priority and close; 422 {"message":"Request body is not
# processable...","errors":{...}}; 429 (no Retry-After); 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Auth = 'GenieKey FAKE0000-0000-0000-0000-000000000000';
our $Accepted = '{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}';

sub mock {
    my (%over) = @_;
    my %r = (create => [202, $Accepted], action => [202, $Accepted], %over);
    ItsmPreset::mock(
        log    => $over{log} // 'og',
        prefix => '/v2/',
        check  => [['$http_authorization', $Auth, 401,
                    '{"message":"Could not authenticate","took":0.0,"requestId":"0f2bd3d6-7a2f-4b44-9a0e-3b4a4a0a7f4c"}']],
        # the routes match nginx's decoded URI, where an alias's %2F is a
        # "/" again: ".+", not "[^/]+" (the log keeps the bytes received)
        routes => [['POST', '/v2/alerts', @{$r{create}}],
                   ['POST', '/v2/alerts/.+/(notes|close)', @{$r{action}}],
                   ['PUT', '/v2/alerts/.+/priority', @{$r{action}}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('opsgenie', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('opsgenie', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $CreateBody = '{"message":"Disk full on db-1","alias":"disk-db1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nLink: ","priority":"P1","tags":["alert","source:generic","severity:critical"],"details":{"alert_key":"disk-db1","source":"generic"},"source":"ngx_itsm_module"}';
$CreateBody =~ s/\n/\\n/g;

our $Api = 'http://api.opsgenie.com/v2/alerts';

# the creates of alerts titled "t", one priority each, in this order
sub priorities {
    my $re = join '', map { 'POST \S+\n\{"message":"t","alias":"k-\w+","description":"[^"]*","priority":"' . $_ . '"[^\n]*\n' } @_;
    return qr/^$re\z/;
}

sub req { "POST /alerts/generic\n$_[0]" }

# no ticket id: Opsgenie's 202 carries none (see the preset)
sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"opsgenie"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"opsgenie","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: create: the exact request Opsgenie receives; its 202 is a success without a ticket id
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /v2/alerts HTTP/1.1\r
Authorization: GenieKey FAKE0000-0000-0000-0000-000000000000\r
Accept: application/json\r
Host: api.opsgenie.com\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval
"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nX-Request-ID: 43a29c5c-3dbf-4fa4-9c26-f4f71023e120\r\nContent-Length: " . length($::Accepted) . "\r\n\r\n$::Accepted"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a note by alias on a repeat, a close by alias on resolve, a new alert on a re-fire
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
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\n"
     . "POST $::Api/disk-db1/notes?identifierType=alias\n" . '{"user":"ngx_itsm_module","source":"ngx_itsm_module","note":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}' . "\n"
     . "POST $::Api/disk-db1/close?identifierType=alias\n" . '{"user":"ngx_itsm_module","source":"ngx_itsm_module","note":"The alert resolved (first seen TIME).\n/var is 70% full"}' . "\n"
     . "POST $::Api\n$::CreateBody\n")]
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
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\n")]



=== TEST 4: on_repeat update: the priority follows the alert's severity
--- http_config eval: ::http(set => {on_repeat => 'update'})
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[::req($::Firing), ::req($::Again =~ s/critical/info/r), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("updated", "update", "updated"),
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\nPUT $::Api/disk-db1/priority?identifierType=alias\n" . '{"priority":"P4"}' . "\n")]



=== TEST 5: severity -> P1..P5, an unknown word -> P3
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6, ::priorities(qw(P1 P2 P3 P4 P5 P3))]



=== TEST 6: aliases with "/", "%", spaces, unicode and query characters reach Opsgenie escaped once
The preset's proxy_pass has no URI part, so Opsgenie receives the action's
path as the module rendered it (t/010-create.t TEST 8).  The mock logs
$request_uri, the bytes on the request line.
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't6'))
--- request eval
[::req('{"key": "db/primary 50%", "title": "t"}'),
 ::req('{"key": "db/primary 50%", "title": "t"}'),
 ::req('{"key": "db/primary 50%", "title": "t", "status": "resolved"}'),
 ::req('{"key": "Zürich ../a?b#c&d+e=f", "title": "t"}'),
 ::req('{"key": "Zürich ../a?b#c&d+e=f", "title": "t"}'),
 "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200, 201, 200, 200]
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
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [422, '{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"7e92211d-5896-4ed7-adbf-1c78f92241fe"}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 422, '{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"7e92211d-5896-4ed7-adbf-1c78f92241fe"}')



=== TEST 8: a wrong or disabled key: 401, a 502 that says so
--- http_config eval: ::http()
--- config eval: ::config(header => {Authorization => '"GenieKey wrong"'})
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"message":"Could not authenticate","took":0.0,"requestId":"0f2bd3d6-7a2f-4b44-9a0e-3b4a4a0a7f4c"}')



=== TEST 9: throttled (429 without Retry-After): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [429, '{"message":"You are making too many requests! To avoid errors, we recommend you limit requests.","took":0.0,"requestId":"9b6c1a4e-8c1d-4a55-9d0e-6a1f2e3d4c5b"}', {'X-RateLimit-State' => 'THROTTLED', 'X-RateLimit-Reason' => 'INTEGRATION', 'X-RateLimit-Period-In-Sec' => 60}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"message":"You are making too many requests! To avoid errors, we recommend you limit requests.","took":0.0,"requestId":"9b6c1a4e-8c1d-4a55-9d0e-6a1f2e3d4c5b"}')



=== TEST 10: Opsgenie fails (500): 503, the close is tried again when the sender resends
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(action => [500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}']))
--- request eval
[::req($::Firing), ::req($::Resolved), ::req($::Resolved)]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 503, 503]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_unavailable", "resolve", 500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}'),
 ::error("itsm_unavailable", "resolve", 500, '{"message":"Internal Server Error","took":0.0,"requestId":"x"}')]
