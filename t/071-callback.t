# ITSM callbacks against a mock ITSM: what each mapped state does to the
# next firing of the alert (the exact requests the ITSM got), duplicates,
# out-of-order events, unknown tickets, statuses the map does not name,
# and the tokens: the connector's own (two, for rotation) pass, another
# connector's and a wrong one get 401.
#
# The mock makes ticket ids from the alert's title (create POST
# /ticket?id={{ title }}), so each block knows its tickets.  The callback
# bodies are what Request Tracker's scrip posts (util/rt-callback.pl):
# {"ticket", "old_status", "status", "transaction"}; callback_status rt.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);
use ItsmConf;
use ItsmCallback;

our %Tok = (a1 => 'itsmcb_test-token-of-mock-number-one-0000000000',
            a2 => 'itsmcb_test-token-of-mock-number-two-0000000000',
            c  => 'itsmcb_test-token-of-other-connector-000000000');
$ENV{"TEST_NGINX_CB_" . uc $_} = sha256_hex($Tok{$_}) for keys %Tok;

our $Mock = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location /_itsm/other/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"$arg_id"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '["Comments added"]'; }
    location ~ ^/mock/ticket/[^/]+$ { return 200 '[]'; }
    location = /alerts { itsm_pass mock; }
    location = /cb { itsm_callback mock profile=rt; }
    location = /cb/other { itsm_callback other profile=rt; }
    location = /status { itsm_status; }
_EOC_

our $Connector = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_zone  itsm:1m;
    itsm_connector mock {
        location  /_itsm/mock;
@ACTIONS@
        @POLICY@
        callback_token sha256:$TEST_NGINX_CB_A1;
        callback_token sha256:$TEST_NGINX_CB_A2;
        callback_status rt;
    }
    itsm_connector other {
        location  /_itsm/other;
        create    POST "/ticket?id={{ title }}" 'body={}';
        ticket_id /id;
        on_repeat nothing;
        callback_token sha256:$TEST_NGINX_CB_C;
    }
_EOC_

sub connector {
    my $p = shift // '';
    (my $c = $Connector) =~ s/\@POLICY\@/$p/;
    $c =~ s/\@ACTIONS\@\n/$ItsmCallback::Actions/;
    return $c;
}

sub alert { my ($key, $title, $status) = @_; $status //= 'firing';
    qq{POST /alerts\n{"key": "$key", "title": "$title", "status": "$status"}} }
sub cb { my ($ticket, $status, $txn, $uri) = @_; $uri //= '/cb';
    qq{POST $uri\n{"ticket": "$ticket", "old_status": "open", "status": "$status", "transaction": "$txn"}} }

sub applied { my ($t, $status, $state, $key_state, $key) = @_; $key //= 'db-1';
    qq{{"outcome":"applied","ticket":"$t","key":"$key","status":"$status","state":"$state","key_state":"$key_state"}\n} }
sub nothing { my ($outcome, $t, $status, $state, $key) = @_; $key //= 'db-1';
    qq{{"outcome":"$outcome","ticket":"$t","key":"$key","status":"$status","state":"$state"}\n} }

ItsmConf::defaults(when => 'http_config', config => $Mock,
                   more_headers => sub { $_[0]->request ? "Content-Type: application/json\nAuthorization: Bearer $Tok{a1}\n" : undef });
ItsmConf::defaults(when => 'grep_error_log', request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: resolved by a person: the next firing reopens the ticket (on_refire reopen, within the window), no comment
--- http_config eval: ::connector("on_refire reopen window=1h;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "resolved", 10), ::alert("db-1", "T2")]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created".*"ticket_id":"T1"/, qr/^\Q${\ ::applied("T1", "resolved", "resolved", "resolved")}\E$/, qr/"action":"reopen","outcome":"reopened","connector":"mock","ticket_id":"T1"/]



=== TEST 2: resolved by a person: what the ITSM received, and the line the callback logged
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+|itsm callback: connector "\w+" ticket [^,]*/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm callback: connector \"mock\" ticket \"T1\" key \"db-1\": resolved (\"resolved\"): the key open -> resolved\nitsm deliver: reopen PUT \"/_itsm/mock/ticket/T1\n"



=== TEST 3: rejected (closed) by a person, on_refire new: the next firing opens a new ticket
--- http_config eval: ::connector("on_refire new;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "rejected", 10), ::alert("db-1", "T2"), ::alert("db-1", "T3")]
--- error_code eval: [201, 200, 201, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/^\Q${\ ::applied("T1", "rejected", "closed", "resolved")}\E$/, qr/"action":"create","outcome":"created","connector":"mock","ticket_id":"T2"/, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T2"/]



=== TEST 4: closed by a person: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: comment POST \"/_itsm/mock/ticket/T2/comment\n"



=== TEST 5: resolved, then reopened by a person (open): the next firing comments on the ticket
--- http_config eval: ::connector()
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "resolved", 10), ::cb("T1", "open", 11), ::alert("db-1", "T2")]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/"key_state":"resolved"/, qr/^\Q${\ ::applied("T1", "open", "open", "open")}\E$/, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T1"/]



=== TEST 6: reopened by a person: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: comment POST \"/_itsm/mock/ticket/T1/comment\n"



=== TEST 7: acknowledged (stalled): recorded, the ticket stays open, the next firing comments; the same status again changes nothing
--- http_config eval: ::connector()
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "stalled", 10), ::cb("T1", "stalled", 11), ::alert("db-1", "T2")]
--- error_code eval: [201, 200, 200, 200]
--- response_body eval
[qr/./, ::applied("T1", "stalled", "acknowledged", "open"), ::nothing("unchanged", "T1", "stalled", "acknowledged"), qr/./]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/./, qr/./, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T1"/]



=== TEST 8: deleted: the key is forgotten, the next firing creates a ticket (not a reopen of the deleted one)
--- http_config eval: ::connector("on_refire reopen window=1h;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "deleted", 10), ::alert("db-1", "T2"), ::cb("T1", "open", 11)]
--- error_code eval: [201, 200, 201, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/^\Q${\ ::applied("T1", "deleted", "deleted", "none")}\E$/, qr/"action":"create","outcome":"created","connector":"mock","ticket_id":"T2"/, qr/^\{"outcome":"unknown_ticket","ticket":"T1","status":"open","state":"open"\}$/]



=== TEST 9: deleted: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: create POST \"/_itsm/mock/ticket\n"



=== TEST 10: a duplicate delivery (the same transaction) after the module reopened the ticket: 200, nothing changes, the next firing comments
--- http_config eval: ::connector("on_refire reopen window=1h;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "resolved", 10), ::alert("db-1", "T2"), ::cb("T1", "resolved", 10), ::alert("db-1", "T3")]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/"outcome":"applied"/, qr/"outcome":"reopened"/, qr/^\Q${\ ::nothing("duplicate", "T1", "resolved", "resolved")}\E$/, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T1"/]



=== TEST 11: out of order: an older event (transaction 19 after 20) changes nothing: the firing still reopens
--- http_config eval: ::connector("on_refire reopen window=1h;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "resolved", 20), ::cb("T1", "open", 19), ::alert("db-1", "T2")]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/"outcome":"applied"/, qr/^\Q${\ ::nothing("stale", "T1", "open", "open")}\E$/, qr/"action":"reopen","outcome":"reopened"/]



=== TEST 12: in order: the next event (transaction 21 after 20) is applied: the firing comments
--- http_config eval: ::connector("on_refire reopen window=1h;")
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "resolved", 20), ::cb("T1", "open", 21), ::alert("db-1", "T2")]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/"outcome":"applied"/, qr/^\Q${\ ::applied("T1", "open", "open", "open")}\E$/, qr/"action":"comment","outcome":"commented"/]



=== TEST 13: a status the map does not name: 200, logged, nothing changes (the firing comments); counted with unknown tickets on the status page
--- http_config eval: ::connector()
--- request eval: [::alert("db-1", "T1"), ::cb("T1", "archived", 10), ::alert("db-1", "T2"), ::cb("T9", "resolved", 11), "GET /status"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/^\{"outcome":"unmapped"\}$/, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T1"/, qr/^\{"outcome":"unknown_ticket","ticket":"T9","status":"resolved","state":"resolved"\}$/,
 qr/"callbacks":\{"applied":0,"unchanged":0,"duplicate":0,"stale":0,"unknown_ticket":1,"in_flight":0,"noted":0,"unmapped":1,"ignored":0,"unauthorized":0,"malformed":0,"too_large":0,"failed":0\}/]



=== TEST 14: a status the map does not name: the warning
--- grep_error_log eval: qr/\[warn\].*itsm callback: .*nothing changes[^,]*/
--- grep_error_log_out eval
qr/^\[warn\] \d+#\d+: \*\d+ itsm callback: connector "mock" ticket "T1": the status "archived" is not in its callback_status map; nothing changes \(map it to a lifecycle state\)\n$/



=== TEST 15: tokens: none, a wrong one, another connector's (both ways): 401; the second token of the connector (rotation) and X-ITSM-Token: 200
--- http_config eval: ::connector()
--- request eval: [::cb("T1", "resolved", 1), ::cb("T1", "resolved", 2), ::cb("T1", "resolved", 3), ::cb("T1", "resolved", 4, "/cb/other"), ::cb("T1", "resolved", 5), ::cb("T1", "resolved", 6), ::cb("T1", "resolved", 7, "/cb/other")]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nAuthorization: Bearer $::Tok{a1}x",
 "Content-Type: application/json\nAuthorization: Bearer $::Tok{c}",
 "Content-Type: application/json\nAuthorization: Bearer $::Tok{a1}",
 "Content-Type: application/json\nAuthorization: Bearer $::Tok{a2}",
 "Content-Type: application/json\nX-ITSM-Token: $::Tok{a1}",
 "Content-Type: application/json\nX-ITSM-Token: $::Tok{c}"]
--- error_code eval: [401, 401, 401, 401, 200, 200, 200]
--- response_body_like eval
[qr/^\{"error":"token_missing",/, qr/^\{"error":"token_invalid",/, qr/^\{"error":"token_invalid",/, qr/^\{"error":"token_invalid",/, qr/"outcome":"unknown_ticket"/, qr/"outcome":"unknown_ticket"/, qr/"outcome":"unknown_ticket"/]
--- no_error_log eval
qr/ itsm[ _:][^\n]*itsmcb_/



=== TEST 16: malformed bodies: 400 with a JSON error; a ticket id of 64 bytes is looked up, of 65 refused
--- http_config eval: ::connector()
--- request eval
["POST /cb\n{\"ticket\": \"T1\", ",
 "POST /cb\n[1, 2]",
 "POST /cb\n{\"status\": \"resolved\", \"transaction\": \"1\"}",
 "POST /cb\n{\"ticket\": \"T1\", \"status\": \"resolved\", \"transaction\": \"1x\"}",
 "POST /cb\n{\"ticket\": {\"id\": 1}, \"status\": \"resolved\", \"transaction\": \"1\"}",
 "POST /cb\n{\"ticket\": \"T1\", \"ticket\": \"T2\", \"status\": \"resolved\", \"transaction\": \"1\"}",
 ::cb("x" x 64, "resolved", 1),
 ::cb("x" x 65, "resolved", 1),
 "GET /cb"]
--- error_code eval: [400, 400, 400, 400, 400, 400, 200, 400, 405]
--- response_body_like eval
[qr/^\{"error":"invalid_json","message":"the body is not valid JSON"\}$/,
 qr/^\{"error":"invalid_callback","message":"the body is not a JSON object"\}$/,
 qr/^\{"error":"invalid_callback","message":"a field the profile reads is missing, or not a string or a whole number"\}$/,
 qr/^\{"error":"invalid_callback","message":"the event's order is not a whole number"\}$/,
 qr/^\{"error":"invalid_callback","message":"a field the profile reads is missing/,
 qr/^\{"error":"invalid_json"/,
 qr/^\{"outcome":"unknown_ticket"/,
 qr/^\{"error":"invalid_callback","message":"a field the profile reads is empty or too long"\}$/,
 qr/^\{"error":"method_not_allowed"/]



=== TEST 17: itsm_max_body and itsm_max_depth as for alerts: 100 bytes pass, 101 get 413; 3 levels pass, 4 get 400
--- http_config eval: ::connector()
--- config eval
$::Mock . "    location = /cb/small { itsm_callback mock profile=rt; itsm_max_body 100; itsm_max_depth 3; }\n"
--- request eval
my $b = '{"ticket": "T1", "status": "resolved", "transaction": "1", "pad": "';
["POST /cb/small\n" . $b . ("p" x (100 - length($b) - 2)) . '"}',
 "POST /cb/small\n" . $b . ("p" x (101 - length($b) - 2)) . '"}',
 "POST /cb/small\n{\"ticket\": \"T1\", \"status\": \"resolved\", \"transaction\": \"1\", \"a\": {\"b\": {\"c\": 1}}}",
 "POST /cb/small\n{\"ticket\": \"T1\", \"status\": \"resolved\", \"transaction\": \"1\", \"a\": {\"b\": {\"c\": {\"d\": 1}}}}"]
--- error_code eval: [200, 413, 200, 400]
--- response_body_like eval
[qr/"outcome":"unknown_ticket"/, qr/^\{"error":"body_too_large"/, qr/"outcome":"unknown_ticket"/, qr/^\{"error":"too_deep"/]



=== TEST 18: a body over itsm_max_body, said by its Content-Length or found while a chunked body is read: the same 413 and message
--- http_config eval: ::connector()
--- config eval
$::Mock . "    location = /cb/small { itsm_callback mock profile=rt; itsm_max_body 100; }\n"
--- raw_request eval
my $body = '{"ticket": "T1", "status": "resolved", "transaction": "1", "pad": "' . ("p" x 100) . '"}';
my $head = "POST /cb/small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer $::Tok{a1}\r\n";
[$head . "Content-Length: " . length($body) . "\r\n\r\n$body",
 $head . "Transfer-Encoding: chunked\r\n\r\n" . sprintf("%x", length $body) . "\r\n$body\r\n0\r\n\r\n"]
--- error_code eval: [413, 413]
--- response_body eval
[qq{{"error":"body_too_large","message":"the body is larger than itsm_max_body allows"}\n},
 qq{{"error":"body_too_large","message":"the body is larger than itsm_max_body allows"}\n}]
--- no_error_log
[alert]
