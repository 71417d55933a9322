# The servicenow callback profile: the business rule of docs/callbacks.md
# posts {number, sys_id, state, sys_mod_count, assigned_to} with a bearer
# callback token; the sys_id is the ticket (the preset's ticket_id), the
# state mapped by the preset (1 New ... 8 Canceled), sys_mod_count the
# order.  Tokens: two of the connector's (rotation) pass; another
# connector's, a wrong one and none get 401.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmCallback;

our $Http = ItsmCallback::http('servicenow',
    'callback_token sha256:' . ItsmCallback::hash('own'),
    'callback_token sha256:' . ItsmCallback::hash('own2'),
    'on_refire new');

sub snow { my ($sys_id, $state, $count, $who) = @_;
    my $a = defined $who ? qq{,"assigned_to":"$who"} : '';
    qq{{"number":"INC0010001","sys_id":"$sys_id","state":"$state","sys_mod_count":"$count"$a}} }

sub cb { my ($body, $tok, $uri) = @_; $tok //= 'own';
    (ItsmCallback::post($uri // '/cb', $body), "Content-Type: application/json\nAuthorization: Bearer $ItsmCallback::Tok{$tok}\n") }

ItsmCallback::blocks('servicenow', 'servicenow');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: In Progress (2) is acknowledged, the assignee kept; Resolved (6): the next firing opens a new incident (on_refire new)
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "sys1"), ::cb(::snow("sys1", "2", 1, "Beth Anglin")), ::cb(::snow("sys1", "6", 2)), ::alert("db-1", "sys2"))
--- error_code eval: [201, 200, 200, 201]
--- response_body_like eval
[qr/"ticket_id":"sys1"/,
 qr/^\{"outcome":"applied","ticket":"sys1","key":"db-1","status":"2","assignee":"Beth Anglin","state":"acknowledged","key_state":"open"\}$/,
 qr/^\{"outcome":"applied","ticket":"sys1","key":"db-1","status":"6","assignee":"Beth Anglin","state":"resolved","key_state":"resolved"\}$/,
 qr/"action":"create","outcome":"created","connector":"servicenow","ticket_id":"sys2"/]



=== TEST 2: what the ITSM got: two creates, no comment on the resolved incident
--- request
GET /status
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: create POST \"/_itsm/mock/ticket\n"



=== TEST 3: sys_mod_count orders: an older update (3 after 4) is stale, the same count again a duplicate; Closed (7) and Canceled (8) are closed; a state not in the preset is unmapped
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "sys1"), ::cb(::snow("sys1", "3", 4)), ::cb(::snow("sys1", "7", 3)), ::cb(::snow("sys1", "7", 4)),
      ::cb(::snow("sys1", "8", 5)), ::cb(::snow("sys1", "99", 6)), ::alert("db-1", "again"))
--- error_code eval: [201, 200, 200, 200, 200, 200, 201]
--- response_body_like eval
[qr/"ticket_id":"sys1"/, qr/"outcome":"applied".*"state":"acknowledged","key_state":"open"/,
 qr/^\{"outcome":"stale","ticket":"sys1","key":"db-1","status":"7","state":"closed"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"sys1","key":"db-1","status":"7","state":"closed"\}$/,
 qr/^\{"outcome":"applied","ticket":"sys1","key":"db-1","status":"8","state":"closed","key_state":"resolved"\}$/,
 qr/^\{"outcome":"unmapped"\}$/,
 qr/"action":"create","outcome":"created","connector":"servicenow","ticket_id":"again"/]



=== TEST 4: tokens: the second token (rotation) passes; another connector's, a wrong one and none get 401; the connector's token on another connector's location gets 401; an unknown sys_id is 200 unknown_ticket
--- http_config eval: $::Http
--- seq
::seq(::cb(::snow("nobody", "6", 1), "own2"), ::cb(::snow("nobody", "6", 1), "other"),
      "POST /cb\n" . ::snow("nobody", "6", 1), "Content-Type: application/json\nAuthorization: Bearer itsmcb_wrong\n",
      "POST /cb\n" . ::snow("nobody", "6", 1), "Content-Type: application/json\n",
      ::cb(::snow("nobody", "6", 1), "own", "/cb/other"),
      ::cb('{"number":"INC1","state":"6"}'), ::cb('{"sys_id":"x","state":"6","sys_mod_count":"many"}'))
--- error_code eval: [200, 401, 401, 401, 401, 400, 400]
--- response_body_like eval
[qr/^\{"outcome":"unknown_ticket","ticket":"nobody","status":"6","state":"resolved"\}$/,
 qr/"error":"token_invalid"/, qr/"error":"token_invalid"/, qr/"error":"token_missing"/, qr/"error":"token_invalid"/,
 qr/"error":"invalid_callback","message":"a ServiceNow callback has the incident's \\"sys_id\\""/,
 qr/"error":"invalid_callback","message":"\\"sys_mod_count\\" is not a whole number"/]
