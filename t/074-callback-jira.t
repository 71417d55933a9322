# The jira callback profile (Jira Cloud and Jira Service Management admin
# webhooks): "jira:issue_updated" with a changelog status item, the
# issue's key as the ticket, X-Atlassian-Webhook-Identifier as the event
# id, the timestamp as the order; signed X-Hub-Signature: sha256=<hex>
# (callback_signature jira, the access phase's code), two secrets
# (rotation), the published GitHub/Jira vector; the preset map (names,
# then the status category); what the mock ITSM got next.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmCallback;

our $S1 = "It's a Secret to Everybody";       # GitHub's documented vector
our $S2 = 'second-secret-rotated-in';

our $Http = ItsmCallback::http('jira',
    qq{callback_signature jira "secret=$S1" secret=$S2},
    'callback_token sha256:' . ItsmCallback::hash('own'),
    'on_refire reopen window=1h');

our $Json = "Content-Type: application/json\n";

# the body Jira posts when an issue's status changes
sub jira { my ($key, $to, %o) = @_;
    my $ts = $o{ts} // 1714557600000;
    my $cat = exists $o{cat} ? $o{cat} : 'done';
    my $catj = defined $cat ? qq{,"statusCategory":{"key":"$cat"}} : '';
    my $items = $o{items} // qq{[{"field":"assignee","fieldtype":"jira","fromString":null,"toString":"Ann"},{"field":"status","fieldtype":"jira","fieldId":"status","from":"10000","fromString":"To Do","to":"10001","toString":"$to"}]};
    my $event = $o{event} // 'jira:issue_updated';
    qq{{"timestamp":$ts,"webhookEvent":"$event","issue_event_type_name":"issue_generic","issue":{"id":"10002","key":"$key","fields":{"status":{"name":"$to"$catj},"assignee":{"displayName":"Ann"}}},"user":{"displayName":"Ann"},"changelog":{"id":"10101","items":$items}}} }

# a callback signed with $secret (S1 by default), with its delivery id
sub cb { my ($body, $id, $secret) = @_;
    (ItsmCallback::post('/cb', $body), $Json . "X-Atlassian-Webhook-Identifier: $id\n" . ItsmCallback::hub($secret // $S1, $body)) }

ItsmCallback::blocks('jira', 'jira');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the published vector passes the signature (the body is then no JSON: 400); one byte changed gets 401
--- http_config eval: $::Http
--- seq
::seq("POST /cb\nHello, World!", "Content-Type: application/json\nX-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n",
      "POST /cb\nHello, World?", "Content-Type: application/json\nX-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n",
      "POST /cb\nHello, World!", "Content-Type: application/json\nX-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e16\n")
--- error_code eval: [400, 401, 401]
--- response_body_like eval
[qr/"error":"invalid_json"/, qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/]



=== TEST 2: Done in Jira: applied (resolved), the assignee kept; the next firing reopens the issue, never a comment
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"), ::cb(::jira("OPS-1", "Done"), "wh-1"), ::alert("db-1", "again"))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/,
 qr/^\{"outcome":"applied","ticket":"OPS-1","key":"db-1","status":"Done","assignee":"Ann","state":"resolved","key_state":"resolved"\}$/,
 qr/"action":"reopen","outcome":"reopened","connector":"jira","ticket_id":"OPS-1"/]



=== TEST 2b: what the ITSM got: the create, then the reopen
--- request
GET /status
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: reopen PUT \"/_itsm/mock/ticket/OPS-1\n"



=== TEST 3: a retried delivery (the same X-Atlassian-Webhook-Identifier) changes nothing, whatever its body
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"), ::cb(::jira("OPS-1", "Done"), "wh-1"), ::cb(::jira("OPS-1", "Done"), "wh-1"),
      ::cb(::jira("OPS-1", "In Progress", ts => 1714557700000, cat => "indeterminate"), "wh-1"), ::alert("db-1", "again"))
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/, qr/"outcome":"applied"/,
 qr/^\{"outcome":"duplicate","ticket":"OPS-1","key":"db-1","status":"Done","assignee":"Ann","state":"resolved"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"OPS-1","key":"db-1","status":"In Progress","assignee":"Ann","state":"acknowledged"\}$/,
 qr/"action":"reopen","outcome":"reopened"/]



=== TEST 4: out of order: an older event (its timestamp) after a newer one is stale; a newer one applies
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"), ::cb(::jira("OPS-1", "In Progress", ts => 2000, cat => "indeterminate"), "wh-2"),
      ::cb(::jira("OPS-1", "Done", ts => 1999), "wh-3"), ::alert("db-1", "again"),
      ::cb(::jira("OPS-1", "Done", ts => 2001), "wh-4"), ::alert("db-1", "again"))
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/,
 qr/^\{"outcome":"applied","ticket":"OPS-1","key":"db-1","status":"In Progress","assignee":"Ann","state":"acknowledged","key_state":"open"\}$/,
 qr/^\{"outcome":"stale","ticket":"OPS-1","key":"db-1","status":"Done","assignee":"Ann","state":"resolved"\}$/,
 qr/"action":"comment","outcome":"commented"/,
 qr/"outcome":"applied".*"key_state":"resolved"/,
 qr/"action":"reopen","outcome":"reopened"/]



=== TEST 4b: what the ITSM got: the create, a comment while acknowledged (the stale Done changed nothing), the reopen
--- request
GET /status
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: comment POST \"/_itsm/mock/ticket/OPS-1/comment\nitsm deliver: reopen PUT \"/_itsm/mock/ticket/OPS-1\n"



=== TEST 5: a status the preset does not name is mapped by its category; without a category it is unmapped; updates without a status item and other events are ignored
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"),
      ::cb(::jira("OPS-1", "Weird", cat => undef), "wh-5"),
      ::cb(::jira("OPS-1", "Fertig", cat => "done"), "wh-6"),
      ::cb(::jira("OPS-1", "x", items => '[{"field":"priority","toString":"High"}]'), "wh-7"),
      ::cb(::jira("OPS-1", "Done", event => "comment_created"), "wh-8"),
      "GET /status", "")
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/, qr/^\{"outcome":"unmapped"\}$/,
 qr/^\{"outcome":"applied","ticket":"OPS-1","key":"db-1","status":"Fertig","assignee":"Ann","state":"resolved","key_state":"resolved"\}$/,
 qr/^\{"outcome":"ignored"\}$/, qr/^\{"outcome":"ignored"\}$/,
 qr/"callbacks_by_connector":\{"jira":\{"applied":1,"unchanged":0,"duplicate":0,"stale":0,"unknown_ticket":0,"in_flight":0,"noted":0,"unmapped":1,"ignored":2,"unauthorized":0,"malformed":0,"too_large":0,"failed":0\},"other":\{"applied":0,/]



=== TEST 6: rotation: either secret signs; a wrong secret, no signature, the connector's token alone, another connector's token: 401; the right signature on another connector's location: 401
--- http_config eval: $::Http
--- seq
::seq(::cb(::jira("OPS-9", "Done"), "wh-10", $::S2),
      ::cb(::jira("OPS-9", "Done"), "wh-11", $::S1),
      ::cb(::jira("OPS-9", "Done"), "wh-12", "not-the-secret"),
      "POST /cb\n" . ::jira("OPS-9", "Done"), "$::Json" . "X-Atlassian-Webhook-Identifier: wh-13\n",
      "POST /cb\n" . ::jira("OPS-9", "Done"), "$::Json" . "Authorization: Bearer $ItsmCallback::Tok{own}\n",
      "POST /cb\n" . ::jira("OPS-9", "Done"), "$::Json" . "Authorization: Bearer $ItsmCallback::Tok{other}\n",
      "POST /cb/other\n" . ::jira("OPS-9", "Done"), "$::Json" . ItsmCallback::hub($::S1, ::jira("OPS-9", "Done")),
      "GET /status?format=prometheus", "")
--- error_code eval: [200, 200, 401, 401, 401, 401, 401, 200]
--- response_body_like eval
[qr/^\{"outcome":"unknown_ticket","ticket":"OPS-9","status":"Done","state":"resolved"\}$/,
 qr/^\{"outcome":"unknown_ticket"/,
 qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/,
 qr/"error":"token_missing"/,
 qr/\nitsm_callbacks_by_connector_total\{connector="jira",outcome="unknown_ticket"\} 2\n(?:.|\n)*\nitsm_callbacks_by_connector_total\{connector="jira",outcome="unauthorized"\} 4\n(?:.|\n)*\nitsm_callbacks_by_connector_total\{connector="other",outcome="unauthorized"\} 1\n/]



=== TEST 7: an issue deleted in Jira: the key is forgotten, the next firing creates an issue
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"), ::cb(::jira("OPS-1", "", event => "jira:issue_deleted", items => "[]"), "wh-20"), ::alert("db-1", "OPS-2"))
--- error_code eval: [201, 200, 201]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/,
 qr/^\{"outcome":"applied","ticket":"OPS-1","key":"db-1","status":"jira:issue_deleted","state":"deleted","key_state":"none"\}$/,
 qr/"action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-2"/]



=== TEST 8: a comment (comment_created, its body a string): a note, 200 noted, the key's state unchanged; the same delivery again: duplicate; a comment in Atlassian Document Format (an object): ignored
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "OPS-1"),
      ::cb(q{{"timestamp":1714557600000,"webhookEvent":"comment_created","comment":{"id":"10100","body":"Looked at it","author":{"displayName":"Ann"}},"issue":{"id":"10002","key":"OPS-1","fields":{"status":{"name":"To Do"}}}}}, "wh-30"),
      ::cb(q{{"timestamp":1714557600000,"webhookEvent":"comment_created","comment":{"id":"10100","body":"Looked at it","author":{"displayName":"Ann"}},"issue":{"id":"10002","key":"OPS-1","fields":{"status":{"name":"To Do"}}}}}, "wh-30"),
      ::cb(q{{"timestamp":1714557600001,"webhookEvent":"comment_created","comment":{"id":"10101","body":{"type":"doc","version":1,"content":[]}},"issue":{"id":"10002","key":"OPS-1"}}}, "wh-31"),
      ::alert("db-1", "OPS-1"))
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"OPS-1"/, qr/^\{"outcome":"noted","ticket":"OPS-1","key":"db-1","state":"note"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"OPS-1","key":"db-1","state":"note"\}$/, qr/^\{"outcome":"ignored"\}$/,
 qr/"action":"comment","outcome":"commented","connector":"jira","ticket_id":"OPS-1"/]
