# examples/slack/ against a contract mock of a Slack incoming webhook
# (research/formats.md B5; Alertmanager's notify/slack): the preset's own
# connector, map and templates, embedded as they are (t/lib/ItsmPreset.pm).
# The mock logs each message and answers as Slack does: 200 with the text
# "ok"; errors as text codes (400 invalid_payload, 403 action_prohibited,
# 404 no_service, 410 channel_is_archived); 429 with Retry-After; 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Hook = '/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE';

sub mock {
    my (%over) = @_;
    ItsmPreset::mock(
        log    => $over{log} // 'slack',
        prefix => '/services/',
        check  => [['$http_content_type', 'application/json', 400, 'invalid_payload']],
        routes => [['POST', '/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE', @{$over{post} || [200, 'ok']}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('slack', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('slack', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

our $FiringBody = '{"text":":red_circle: Disk full on db-1","mrkdwn":false,"blocks":[{"type":"section","text":{"type":"plain_text","emoji":true,"text":":red_circle: Disk full on db-1"}},{"type":"section","text":{"type":"plain_text","emoji":false,"text":"/var is 98% full\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1"}},{"type":"context","elements":[{"type":"plain_text","emoji":false,"text":"Link: "}]}]}';
$FiringBody =~ s/\n/\\n/g;

our $Url = "POST http://hooks.slack.com$Hook";

sub req { "POST /alerts/generic\n$_[0]" }

# no ticket id: Slack answers "ok"
sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"slack"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    my $a = qq{{"error":"$error","connector":"slack","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: firing: the exact message the webhook receives; Slack's "ok" is a success without a ticket id
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE HTTP/1.1\r
Host: hooks.slack.com\r
Content-Length: " . length($::FiringBody) . "\r
Content-Type: application/json\r
\r
$::FiringBody"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a resolved message, a new firing message after that
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
 ItsmPreset::log_like("$::Url\n$::FiringBody\n"
     . "$::Url\n" . '{"text":":repeat: Still firing: Disk full on db-1","mrkdwn":false,"blocks":[{"type":"section","text":{"type":"plain_text","emoji":true,"text":":repeat: Still firing: Disk full on db-1 (seen 2 times since TIME, severity critical)\n/var is 99% full"}}]}' . "\n"
     . "$::Url\n" . '{"text":":white_check_mark: Resolved: Disk full on db-1","mrkdwn":false,"blocks":[{"type":"section","text":{"type":"plain_text","emoji":true,"text":":white_check_mark: Resolved: Disk full on db-1 (first seen TIME)\n/var is 70% full"}}]}' . "\n"
     . "$::Url\n$::FiringBody\n")]
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
 ItsmPreset::log_like("$::Url\n$::FiringBody\n")]



=== TEST 4: severity -> emoji; alert text that looks like a mention stays plain text
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low)),
 ::req('{"key": "k-x", "title": "<!channel> look", "description": "*bold* <https://evil.example|click>"}'),
 "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 qr/^POST \S+\n\{"text":":red_circle: t",[^\n]*\nPOST \S+\n\{"text":":large_orange_circle: t",[^\n]*\nPOST \S+\n\{"text":":large_yellow_circle: t",[^\n]*\nPOST \S+\n\{"text":":large_blue_circle: t",[^\n]*\nPOST \S+\n\{"text":":white_circle: t",[^\n]*\nPOST \S+\n\Q{"text":":white_circle: <!channel> look","mrkdwn":false,"blocks":[{"type":"section","text":{"type":"plain_text","emoji":true,"text":":white_circle: <!channel> look"}},{"type":"section","text":{"type":"plain_text","emoji":false,"text":"*bold* <https:\/\/evil.example|click>\E/]



=== TEST 5: a payload Slack refuses (400 invalid_payload): 502 with Slack's code
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [400, 'invalid_payload']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 400, "invalid_payload")



=== TEST 6: the channel was archived (410 channel_is_archived): 502, not retried
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [410, 'channel_is_archived']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 410, "channel_is_archived")



=== TEST 7: the webhook was removed (404 no_service): 502
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [404, 'no_service']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 404, "no_service")



=== TEST 8: rate limited (429 with Retry-After): 503 with Slack's Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [429, 'rate_limited', {'Retry-After' => 3}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 3
--- response_body_like eval
::error("itsm_unavailable", "create", 429, "rate_limited")



=== TEST 9: Slack fails (500): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [500, 'internal_error']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval
::error("itsm_unavailable", "create", 500, "internal_error")
