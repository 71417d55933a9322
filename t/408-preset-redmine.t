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
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $Key = 'FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
our $Issue = '{"issue":{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New"},"priority":{"id":5,"name":"Immediate"},"subject":"Disk full on db-1","created_on":"2026-11-22T05:40:00Z"}}';

# the preset's find for disk-db1: the newest open issue whose custom
# field (id 1, the preset's $redmine_key_field) is the key's SHA-256 and
# whose description holds it, and Redmine's answers (GET /issues.json)
our $Find = "/issues.json?cf_1=" . sha256_hex('disk-db1') . "&description=~" . sha256_hex('disk-db1')
          . "&status_id=open&sort=id:desc&limit=1";
our $Search = '{"issues":[{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New","is_closed":false},"priority":{"id":5,"name":"Immediate"},"author":{"id":5,"name":"Alerts"},"subject":"Disk full on db-1","custom_fields":[{"id":1,"name":"ITSM Alert Key","value":"' . sha256_hex('disk-db1') . '"}],"created_on":"2026-11-22T05:40:00Z"}],"total_count":1,"offset":0,"limit":1}';
our $NoIssue = '{"issues":[],"total_count":0,"offset":0,"limit":1}';

# what a gateway in front of Redmine answers when it took too long
our $Gateway = '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>';

sub mock {
    my (%over) = @_;
    my %r = (create => [201, $Issue], put => [204, ''], search => [200, $NoIssue], %over);
    ItsmPreset::mock(
        log    => $over{log} // 'redmine',
        prefix => '/issues',
        check  => [['$http_x_redmine_api_key', $Key, 401, ''],
                   ['$redmine_body_type', 'json', 422, '{"errors":["Request body is not JSON"]}']],
        routes => [['POST', '/issues\.json', @{$r{create}}],
                   ['PUT', '/issues/[0-9]+\.json', @{$r{put}}],
                   ['GET', '/issues\.json', @{$r{search}}]],
    );
}

# Redmine wants a body in JSON; a GET has none
our $BodyType = <<'_EOC_';
    map "$request_method:$http_content_type" $redmine_body_type {
        "~^GET:$"                 json;
        "~^\\w+:application/json$"  json;
        default                   other;
    }
_EOC_

sub http { my (%opt) = @_; ItsmPreset::mock_http() . $BodyType . ItsmPreset::http_config('redmine', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('redmine', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $CreateBody = '{"issue":{"project_id":"1","tracker_id":"1","priority_id":"5","subject":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: \nITSM key: ' . sha256_hex('disk-db1') . '","custom_fields":[{"id":"1","value":"' . sha256_hex('disk-db1') . '"}]}}';
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



=== TEST 10: the answer to a create is lost: Redmine read the exact create and closed the connection: 503, the key is in doubt
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- config eval: ::config(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"POST /issues.json HTTP/1.1\r
X-Redmine-API-Key: FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: redmine.example.com\r
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



=== TEST 11: ... the next copy: exactly the find Redmine's issue list expects; it has the issue: 201 naming it, nothing created
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"GET $::Find HTTP/1.1\r
X-Redmine-API-Key: FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: redmine.example.com\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " . length($::Search) . "\r\nConnection: close\r\n\r\n$::Search"
--- request eval: ::req($::Again)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval
::answer("created", "create", "created", $::Found)



=== TEST 12: a create's answer lost behind a gateway (504): the next copy finds the issue, the one after adds a note to it; Redmine got one create
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
 ItsmPreset::log_like("POST $::Api.json\n$::CreateBody\nGET http://redmine.example.com$::Find\n\n"
     . "PUT $::Api/123.json\n" . '{"issue":{"notes":"The alert is firing (seen 3 times since TIME, severity critical).\\n/var is 99% full"}}' . "\n")]



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
 ItsmPreset::log_like("POST $::Api.json\n$::CreateBody\nGET http://redmine.example.com$::Find\n\nPOST $::Api.json\n$::CreateBody\n")]
