# examples/request-tracker/ against a contract mock of RT 5's REST 2 API,
# built from what RT 5.0.3 answered on this machine (examples/quickstart/
# README.md, "Request Tracker notes"; research/formats.md B6): the preset's
# own connector, maps and templates, embedded as they are
# (t/lib/ItsmPreset.pm).  The mock refuses what RT refuses (a wrong token:
# 401 {"message":"Unauthorized"}; a body without Content-Type
# application/json: 415), logs each request and answers with RT's shapes:
# 201 {"id":"20",...} for a ticket, 201 and a list of messages for a
# comment, 200 and a list for a PUT; 403 for a queue without the right,
# 400 for a comment on a ticket that is gone; 502/503 from RT's web server.
# t/407-preset-rt-live.t runs the same preset against a real RT.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $Auth = 'token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
our $Ticket = '{"id":"20","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20"}';

# RT's answers to a ticket search (GET /REST/2.0/tickets?query=...), as
# RT 5.0.3 gave them for the preset's find (util/rt.sh's RT): one active
# ticket with the key's custom field, and none
our $Search = '{"per_page":1,"count":1,"items":[{"type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20","id":"20"}],"page":1,"pages":1,"total":1}';
our $NoTicket = '{"items":[],"count":0,"per_page":1,"total":0,"pages":0.0,"page":1}';

sub mock {
    my (%over) = @_;
    my %r = (
        create  => [201, $Ticket],
        comment => [201, '["Comments added"]'],
        put     => [200, q{["Ticket 20: Priority changed from '100' to '50'"]}],
        search  => [200, $NoTicket],
        %over,
    );
    ItsmPreset::mock(
        log    => $over{log} // 'rt',
        prefix => '/REST/2.0/',
        check  => [['$http_authorization', $Auth, 401, '{"message":"Unauthorized"}'],
                   ['$rt_body_type', 'json', 415, '{"message":"Unsupported Media Type"}']],
        routes => [['POST', '/REST/2.0/ticket', @{$r{create}}],
                   ['POST', '/REST/2.0/ticket/[0-9]+/comment', @{$r{comment}}],
                   ['PUT', '/REST/2.0/ticket/[0-9]+', @{$r{put}}],
                   ['GET', '/REST/2.0/tickets', @{$r{search}}]],
    );
}

# RT wants a body in JSON; a GET has none
our $BodyType = <<'_EOC_';
    map "$request_method:$http_content_type" $rt_body_type {
        "~^GET:$"                 json;
        "~^\w+:application/json$"  json;
        default                   other;
    }
_EOC_

sub http { my (%opt) = @_; ItsmPreset::mock_http() . $BodyType . ItsmPreset::http_config('request-tracker', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('request-tracker', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $CreateBody = '{"Queue":"General","Subject":"Disk full on db-1","Priority":"100","Content":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: ","ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"' . sha256_hex('disk-db1') . '"}}';
$CreateBody =~ s/\n/\\n/g;

our $Api = 'http://rt.example.com/REST/2.0/ticket';

sub req { "POST /alerts/generic\n$_[0]" }

# the preset's find for disk-db1: the newest active ticket whose custom
# field "ITSM Alert Key" holds the key's SHA-256 (TicketSQL, percent-encoded)
our $Find = "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27" . sha256_hex('disk-db1')
          . "%27%20AND%20Status%3D%27__Active__%27&orderby=Created&order=DESC&per_page=1";

our $Found = ',"reason":"an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM"';

# the port of the one-shot ITSM of TEST 11 and 12, the same in both blocks
# (they share one nginx); a free one unless set
$ENV{TEST_NGINX_LOST_PORT} ||= do {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "no free port: $!";
    $s->sockport;
};

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"rt","ticket_id":"20"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"rt","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

# the creates of alerts titled "t", one priority each, in this order
sub priorities {
    my $re = join '', map { 'POST \S+\n\{"Queue":"General","Subject":"t","Priority":"' . $_ . '"[^\n]*\n' } @_;
    return qr/^$re\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: create: the exact request RT receives, and the ticket id read from /id
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /REST/2.0/ticket HTTP/1.1\r
Authorization: token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: rt.example.com\r
Content-Length: " . length($::CreateBody) . "\r
Content-Type: application/json\r
\r
$::CreateBody"
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nLocation: /REST/2.0/ticket/20\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " . length($::Ticket) . "\r\n\r\n$::Ticket"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a comment on a repeat; a comment with Status resolved; a comment with Status open on a re-fire
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
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\n"
     . "POST $::Api/20/comment\n" . '{"Content":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full","ContentType":"text/plain"}' . "\n"
     . "POST $::Api/20/comment\n" . '{"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full","ContentType":"text/plain","Status":"resolved"}' . "\n"
     . "POST $::Api/20/comment\n" . '{"Content":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full","ContentType":"text/plain","Status":"open"}' . "\n")]
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



=== TEST 4: on_repeat update: a PUT of subject and priority
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
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\nPUT $::Api/20\n" . '{"Subject":"Disk full on db-1","Priority":"50"}' . "\n")]



=== TEST 5: severity -> priority 100, 75, 50, 25, 0; an unknown word -> 50
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6, ::priorities(qw(100 75 50 25 0 50))]



=== TEST 6: the queue does not let the user create tickets (403): 502 with RT's message
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [403, q{{"message":"No permission to create tickets in the queue 'General'"}}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 403, q{{"message":"No permission to create tickets in the queue 'General'"}})



=== TEST 7: a wrong token: 401, a 502 that says so
--- http_config eval: ::http()
--- config eval: ::config(header => {Authorization => '"token 1-14-wrong"'})
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"message":"Unauthorized"}')



=== TEST 8: the ticket is gone: RT answers a comment with 400 "Message could not be recorded"
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(comment => [400, '{"message":"Message could not be recorded"}']))
--- request eval
[::req($::Firing), ::req($::Again)]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 502]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_rejected", "comment", 400, '{"message":"Message could not be recorded"}')]



=== TEST 9: RT's web server is up, RT is not (502 HTML): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [502, '<html><head><title>502 Bad Gateway</title></head></html>']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 502, '<html><head><title>502 Bad Gateway</title></head></html>')



=== TEST 10: RT is overloaded (503 with Retry-After): 503 with RT's Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(create => [503, 'Service Unavailable', {'Retry-After' => 10}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 10



=== TEST 11: the answer to a create is lost: RT read the exact create and closed the connection: 503, the key is in doubt
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"POST /REST/2.0/ticket HTTP/1.1\r
Authorization: token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: rt.example.com\r
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



=== TEST 12: ... the next copy: exactly the find RT's API expects; RT has the ticket: 201 naming it, nothing created
--- tcp_listen: $TEST_NGINX_LOST_PORT
--- tcp_query eval
"GET $::Find HTTP/1.1\r
Authorization: token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE\r
Accept: application/json\r
Host: rt.example.com\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=\"utf-8\"\r\nContent-Length: " . length($::Search) . "\r\nConnection: close\r\n\r\n$::Search"
--- request eval: ::req($::Again)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval
::answer("created", "create", "created", $::Found)



=== TEST 13: a create's answer lost behind a gateway (504): the next copy finds the ticket, the one after comments on it; RT got one create
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't13', create => [504, '<html><head><title>504 Gateway Time-out</title></head></html>'], search => [200, $::Search]))
--- request eval
[::req($::Firing), ::req($::Firing), ::req($::Again), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 201, 200, 200]
--- response_body_like eval
[::error("itsm_unavailable", "create", 504, '<html><head><title>504 Gateway Time-out</title></head></html>'),
 ::answer("created", "create", "created", $::Found),
 ::answer("commented", "comment", "commented"),
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\nGET http://rt.example.com$::Find\n\n"
     . "POST $::Api/20/comment\n" . '{"Content":"The alert is firing (seen 3 times since TIME, severity critical).\n/var is 99% full","ContentType":"text/plain"}' . "\n")]



=== TEST 14: the find finds no ticket: the create is sent again (each copy asks first while the doubt lasts)
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't14', create => [504, '<html><head><title>504 Gateway Time-out</title></head></html>']))
--- request eval
[::req($::Firing), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::error("itsm_unavailable", "create", 504, '<html><head><title>504 Gateway Time-out</title></head></html>')) x 2,
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\nGET http://rt.example.com$::Find\n\nPOST $::Api\n$::CreateBody\n")]



=== TEST 15: a 4xx to a create is RT's refusal: nothing was made, the next copy creates without a find
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't15', create => [400, '{"message":"Could not create ticket. Queue not set"}'], search => [200, $::Search]))
--- request eval
[::req($::Firing), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[502, 502, 200]
--- response_body_like eval
[(::error("itsm_rejected", "create", 400, '{"message":"Could not create ticket. Queue not set"}')) x 2,
 ItsmPreset::log_like("POST $::Api\n$::CreateBody\nPOST $::Api\n$::CreateBody\n")]
