# examples/redmine/ against a contract mock of Redmine's REST API (JSON;
# research/formats.md B7): the preset's own connector, maps and templates,
# embedded as they are (t/lib/ItsmPreset.pm).  The mock refuses a wrong
# X-Redmine-API-Key (401, empty body) and a body that is not JSON (Redmine
# parses by Content-Type), logs each request and answers as Redmine does:
# 201 {"issue":{"id":123,...}} for a create, 204 for a PUT; 422
# {"errors":[...]} for validation, 404 and 403 with empty bodies, 5xx from
# the application server.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Key = 'FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
our $Issue = '{"issue":{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New"},"priority":{"id":5,"name":"Immediate"},"subject":"Disk full on db-1","created_on":"2026-11-22T05:40:00Z"}}';

sub mock {
    my (%over) = @_;
    my %r = (create => [201, $Issue], put => [204, ''], %over);
    ItsmPreset::mock(
        log    => $over{log} // 'redmine',
        prefix => '/issues',
        check  => [['$http_x_redmine_api_key', $Key, 401, ''],
                   ['$http_content_type', 'application/json', 422, '{"errors":["Request body is not JSON"]}']],
        routes => [['POST', '/issues\.json', @{$r{create}}],
                   ['PUT', '/issues/[0-9]+\.json', @{$r{put}}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('redmine', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('redmine', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $CreateBody = '{"issue":{"project_id":"1","tracker_id":"1","priority_id":"5","subject":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: "}}';
$CreateBody =~ s/\n/\\n/g;

our $Api = 'http://redmine.example.com/issues';

sub req { "POST /alerts/generic\n$_[0]" }

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"redmine","ticket_id":"123"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"redmine","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

# the creates of alerts titled "t", one priority id each, in this order
sub priorities {
    my $re = join '', map { 'POST \S+\n\{"issue":\{"project_id":"1","tracker_id":"1","priority_id":"' . $_ . '","subject":"t"[^\n]*\n' } @_;
    return qr/^$re\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: create: the exact request Redmine receives, and the numeric issue id read from /issue/id
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /issues.json HTTP/1.1\r
X-Redmine-API-Key: FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: redmine.example.com\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nLocation: https://redmine.example.com/issues/123\r\nContent-Length: " . length($::Issue) . "\r\n\r\n$::Issue"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a note on a repeat, the resolved status with a note, the reopened status with a note
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
 ItsmPreset::log_like("POST $::Api.json\n$::CreateBody\n"
     . "PUT $::Api/123.json\n" . '{"issue":{"notes":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full"}}' . "\n"
     . "PUT $::Api/123.json\n" . '{"issue":{"status_id":"3","notes":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full"}}' . "\n"
     . "PUT $::Api/123.json\n" . '{"issue":{"status_id":"2","notes":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full"}}' . "\n")]
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
 ItsmPreset::log_like("POST $::Api.json\n$::CreateBody\n")]



=== TEST 4: on_repeat update: subject and priority follow the alert, with a note; an older Redmine's 200 is fine too
--- http_config eval: ::http(set => {on_repeat => 'update'})
--- config eval: ::config(mock => ::mock(log => 't4', put => [200, '']))
--- request eval
[::req($::Firing), ::req($::Again =~ s/critical/high/r), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("updated", "update", "updated"),
 ItsmPreset::log_like("POST $::Api.json\n$::CreateBody\nPUT $::Api/123.json\n" . '{"issue":{"subject":"Disk full on db-1","priority_id":"4","notes":"The alert is firing (seen 2 times since TIME, severity high).\n/var is 99% full"}}' . "\n")]



=== TEST 5: severity -> priority ids 5, 4, 3, 2, 1; an unknown word -> 2
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6, ::priorities(qw(5 4 3 2 1 2))]



=== TEST 6: a validation error (422 with Redmine's errors): 502 with Redmine's text
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [422, '{"errors":["Tracker is not included in the list","Priority cannot be blank"]}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 422, '{"errors":["Tracker is not included in the list","Priority cannot be blank"]}')



=== TEST 7: a wrong API key: 401 with an empty body, a 502 that names the status
--- http_config eval: ::http()
--- config eval: ::config(header => {'X-Redmine-API-Key' => 'wrong'})
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, "")



=== TEST 8: the issue was deleted: 404 on the note, on_gone new opens a new issue
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(put => [404, '']))
--- request eval
[::req($::Firing), ::req($::Again)]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201]
--- response_body_like eval
[::answer("created", "create", "created"), ::answer("created", "create", "created", ',"reason":"the ticket no longer existed in the ITSM; a new one was created"')]



=== TEST 9: Redmine's application server is down (502 from its proxy): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [502, '<html><body>Bad Gateway</body></html>']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 502, '<html><body>Bad Gateway</body></html>')
