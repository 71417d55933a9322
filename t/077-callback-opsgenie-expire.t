# The opsgenie callback profile (outgoing webhook; JSM Operations'): the
# alert's alias is the correlation key (the preset sends
# {{ correlation_key }} as alias and reads no ticket id), so the ticket a
# callback names is the key itself; the token comes in a custom header
# (X-ITSM-Token); actions that change no status are ignored.  Then the
# expiry: a resolved key past retention= takes its "tickets" entries with
# it (the ticket's and the alias's).
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmCallback;
use ItsmHttp;

our $Http = ItsmCallback::http('opsgenie',
    'callback_token sha256:' . ItsmCallback::hash('own'),
    'on_refire new');

sub og { my ($alias, $action, $at) = @_;
    '{"action":"' . $action . '","alert":{"alertId":"70413a06-38d6-4c85-92b8-5ebc900d42e2","message":"m","tags":[],"tinyId":"1791","entity":"","alias":"'
    . $alias . '","createdAt":1481035005930,"updatedAt":' . $at . ',"username":"ann@example.com","userId":"daed1180-0ce8-438b-8f8e-57e1a5920a2d"},"source":{"name":"","type":"web"},"integrationName":"Webhook","integrationId":"4e2d2b1e","integrationType":"Webhook"}' }

# an alias (the key) of N bytes
sub long { my ($n) = @_; "k$n-" . ('x' x ($n - length("k$n-"))) }

sub cb { my ($body, $tok) = @_; $tok //= 'own';
    (ItsmCallback::post('/cb', $body), "Content-Type: application/json\nX-ITSM-Token: $ItsmCallback::Tok{$tok}\n") }

ItsmCallback::blocks('opsgenie', 'opsgenie');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Acknowledge (the alias is the key), a note is ignored, Close: the next firing creates a new alert; UnAcknowledge of an unknown alias: unknown_ticket; another connector's token: 401
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "T1"), ::cb(::og("db-1", "Acknowledge", 1481035006018000000)), ::cb(::og("db-1", "AddNote", 1481035006018000001)),
      ::cb(::og("db-1", "Close", 1481035006018000002)), ::cb(::og("db-1", "Close", 1481035006018000002)), ::alert("db-1", "T2"),
      ::cb(::og("db-9", "UnAcknowledge", 1)), ::cb(::og("db-1", "Close", 2), "other"))
--- error_code eval: [201, 200, 200, 200, 200, 201, 200, 401]
--- response_body_like eval
[qr/"ticket_id":"T1"/,
 qr/^\{"outcome":"applied","ticket":"db-1","key":"db-1","status":"Acknowledge","assignee":"ann\@example.com","state":"acknowledged","key_state":"open"\}$/,
 qr/^\{"outcome":"ignored"\}$/,
 qr/^\{"outcome":"applied","ticket":"db-1","key":"db-1","status":"Close","assignee":"ann\@example.com","state":"closed","key_state":"resolved"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"db-1"/,
 qr/"action":"create","outcome":"created","connector":"opsgenie","ticket_id":"T2"/,
 qr/^\{"outcome":"unknown_ticket","ticket":"db-9","status":"UnAcknowledge","state":"open"\}$/,
 qr/"error":"token_invalid"/]



=== TEST 2: retention=2s: a key resolved by a callback, its ticket indexed and its alias remembered
--- http_config eval: $::Http =~ s/itsm_store logs\/state.mdb;/itsm_store logs\/state.mdb retention=2s;/r
--- seq
::seq(::alert("db-2", "T5"), ::cb(::og("db-2", "Close", 10)))
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"ticket_id":"T5"/, qr/"outcome":"applied".*"key_state":"resolved"/]



=== TEST 3: past the retention the key expires, and both its "tickets" entries go with it
--- skip_redis: LMDB's expiry walk and its log lines (Redis forgets a resolved key, its entry and its index by their TTL: t/506)
--- request
GET /status
--- wait: 5
--- grep_error_log eval: qr/itsm store: ticket entry of expired key removed \(\d\)|itsm_store: \d+ keys? expired/
--- grep_error_log_out eval
"itsm store: ticket entry of expired key removed (0)\nitsm store: ticket entry of expired key removed (1)\nitsm_store: 1 key expired\n"



=== TEST 4: a callback about the expired key's alias is then about an unknown ticket; the key starts anew
--- seq
::seq(::cb(::og("db-2", "Acknowledge", 11)), ::alert("db-2", "T6"))
--- error_code eval: [200, 201]
--- response_body_like eval
[qr/^\{"outcome":"unknown_ticket","ticket":"db-2","status":"Acknowledge","state":"acknowledged"\}$/,
 qr/"action":"create","outcome":"created","connector":"opsgenie","ticket_id":"T6"/]



=== TEST 5: AddNote with the alert's note: noted (the alias is the key), its state unchanged; the same updatedAt again: duplicate
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "T1"),
      ::cb('{"action":"AddNote","alert":{"alertId":"70413a06","alias":"db-1","note":"paged the DBA","updatedAt":1481035006018000005,"username":"ann@example.com"},"source":{"name":"","type":"web"}}'),
      ::cb('{"action":"AddNote","alert":{"alertId":"70413a06","alias":"db-1","note":"paged the DBA","updatedAt":1481035006018000005,"username":"ann@example.com"},"source":{"name":"","type":"web"}}'))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/^\{"outcome":"noted","ticket":"db-1","key":"db-1","assignee":"ann\@example.com","state":"note"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"db-1","key":"db-1"/]



=== TEST 6: aliases as long as keys: 391 bytes (stored as it is), 392 and 512 (Opsgenie's most; stored by their hash) are each the key they name; 513 bytes is a 400
--- http_config eval: $::Http
--- seq
::seq(map({ (::alert(::long($_), "T$_"), ::cb(::og(::long($_), "Close", 20))) } 391, 392, 512), ::cb(::og(::long(513), "Close", 20)))
--- error_code eval: [201, 200, 201, 200, 201, 200, 400]
--- response_body_like eval
[map({ (qr/"ticket_id":"T$_"/, qr/^\{"outcome":"applied","ticket":"${\ ::long($_)}","key":"${\ substr(::long($_), 0, 256)}","status":"Close",.*"key_state":"resolved"\}$/) } 391, 392, 512),
 qr/"message":"an Opsgenie webhook has the alert's \\"alias\\" \(of at most 512 bytes\) or \\"alertId\\""/]



=== TEST 7: no ticket id (the preset's way): Close comes while the key's comment is under way (in_flight); the comment's end applies it: the key is resolved, and the next firing creates a new alert
--- http_config eval
"    itsm_store logs/state.mdb;\n    itsm_zone itsm:1m;\n    itsm_connector opsgenie {\n        location /_itsm/mock;\n"
. "        create POST /v2/alerts 'body={\"alias\": \"{{ correlation_key }}\"}';\n"
. "        comment POST \"/v2/alerts/{{ correlation_key }}/notes\" 'body={}';\n"
. "        on_repeat comment cooldown=0;\n        on_refire new;\n        callback_token sha256:" . ItsmCallback::hash('own') . ";\n    }\n"
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/v2/alerts { return 202 '{"result":"Request will be processed","requestId":"r1"}'; }
    location /mock/v2/alerts/ { limit_rate 20; return 202 '{"result":"Request will be processed","requestId":"r2","padding":"........"}'; }
    location = /alerts { itsm_pass opsgenie; }
    location = /cb { itsm_callback opsgenie profile=opsgenie; }
    location = /status { itsm_status; }
--- init
my $alert = sub { ItsmHttp::start(qq({"key": "db-7", "title": "t", "status": "firing", "description": "$_[0]"})) };
Test::More::like(ItsmHttp::body(ItsmHttp::finish($alert->('first'))), qr/"outcome":"created"/, "the first firing creates");
my $h = $alert->('again');
sleep 1;
my $c = ItsmHttp::finish(ItsmHttp::start(::og("db-7", "Close", 30), uri => '/cb', headers => {'X-ITSM-Token' => $ItsmCallback::Tok{own}}));
Test::More::like(ItsmHttp::body($c), qr/^\{"outcome":"in_flight","ticket":"db-7","key":"db-7"/, "Close while the comment is under way: in flight");
Test::More::like(ItsmHttp::body(ItsmHttp::finish($h)), qr/"action":"comment","outcome":"commented"/, "the repeat commented");
Test::More::like(ItsmHttp::body(ItsmHttp::finish($alert->('third'))), qr/"action":"create","outcome":"created"/, "the next firing: a new alert (the key was resolved at the comment's end)");
--- request
GET /status
--- response_body_like: (?:"open_tickets":1,"resolved_tickets":0,|"backend":"redis",)
--- error_log
the ITSM's change that came while an alert held its key is applied now (key state 1 -> 2)
