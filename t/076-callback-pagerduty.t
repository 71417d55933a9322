# The pagerduty callback profile (webhooks v3): X-PagerDuty-Signature
# v1=<hex>[,v1=<hex>] (any may match: PagerDuty's rotation), two secrets
# configured (ours), X-Webhook-Id as the event id, occurred_at as the
# order, the incident_key (the preset's dedup_key) as the ticket; event
# types that change no status are ignored.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmCallback;
use Digest::SHA ();

our $S1 = 'pd-secret-number-one';
our $S2 = 'pd-secret-number-two';

our $Http = ItsmCallback::http('pagerduty',
    "callback_signature pagerduty secret=$S1 secret=$S2",
    'on_refire new');

sub pd { my ($key, $type, $at, %o) = @_;
    my $data = exists $o{data} ? $o{data}
        : '{"id":"PGR0VU2","type":"incident","number":2,"status":"x","incident_key":"' . $key
          . '","title":"t","assignees":[{"id":"PTUXL6G","summary":"Ann Lee","type":"user_reference"}]}';
    my $res = $o{resource} // 'incident';
    '{"event":{"id":"01DEN2KMQWWQUB6VDHJ6JBVZ8Q","event_type":"' . $type . '","resource_type":"' . $res
        . '","occurred_at":"' . $at . '","agent":null,"client":null,"data":' . $data . '}}' }

sub cb { my ($body, $id, @secrets) = @_; @secrets = ($S1) unless @secrets;
    (ItsmCallback::post('/cb', $body), "Content-Type: application/json\nX-Webhook-Id: $id\n" . ItsmCallback::pd($body, @secrets)) }

ItsmCallback::blocks('pagerduty', 'pagerduty');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: acknowledged, then resolved in PagerDuty: the next firing triggers a new incident (on_refire new)
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "dk1"), ::cb(::pd("dk1", "incident.acknowledged", "2020-10-02T18:45:22.169Z"), "w1"),
      ::cb(::pd("dk1", "incident.resolved", "2020-10-02T18:45:22.170Z"), "w2"), ::alert("db-1", "dk2"))
--- error_code eval: [201, 200, 200, 201]
--- response_body_like eval
[qr/"ticket_id":"dk1"/,
 qr/^\{"outcome":"applied","ticket":"dk1","key":"db-1","status":"incident.acknowledged","assignee":"Ann Lee","state":"acknowledged","key_state":"open"\}$/,
 qr/^\{"outcome":"applied","ticket":"dk1","key":"db-1","status":"incident.resolved","assignee":"Ann Lee","state":"resolved","key_state":"resolved"\}$/,
 qr/"action":"create","outcome":"created","connector":"pagerduty","ticket_id":"dk2"/]



=== TEST 2: the ITSM got two creates, nothing sent to the resolved incident
--- request
GET /status
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
"itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: create POST \"/_itsm/mock/ticket\n"



=== TEST 3: the same X-Webhook-Id again is a duplicate; an event that occurred a millisecond earlier is stale; reopened applies; annotated and service events are ignored
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "dk1"), ::cb(::pd("dk1", "incident.resolved", "2020-10-02T18:45:22.169Z"), "w1"),
      ::cb(::pd("dk1", "incident.resolved", "2020-10-02T18:45:22.169Z"), "w1"),
      ::cb(::pd("dk1", "incident.acknowledged", "2020-10-02T18:45:22.168Z"), "w3"),
      ::cb(::pd("dk1", "incident.reopened", "2020-10-02T18:45:23Z"), "w4"),
      ::cb(::pd("dk1", "incident.annotated", "2020-10-02T18:45:24Z"), "w5"),
      ::cb(::pd("dk1", "service.updated", "2020-10-02T18:45:24Z", resource => "service"), "w6"),
      ::alert("db-1", "again"))
--- error_code eval: [201, 200, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"dk1"/, qr/"outcome":"applied".*"key_state":"resolved"/,
 qr/^\{"outcome":"duplicate","ticket":"dk1"/, qr/^\{"outcome":"stale","ticket":"dk1"/,
 qr/^\{"outcome":"applied","ticket":"dk1","key":"db-1","status":"incident.reopened","assignee":"Ann Lee","state":"open","key_state":"open"\}$/,
 qr/^\{"outcome":"ignored"\}$/, qr/^\{"outcome":"ignored"\}$/,
 qr/"action":"comment","outcome":"commented","connector":"pagerduty","ticket_id":"dk1"/]



=== TEST 4: signatures: PagerDuty's list with a wrong entry first, either of our secrets, and both; a forged one, none, a token, an empty list: 401; no incident_key: the incident id
--- http_config eval: $::Http
--- seq
::seq(ItsmCallback::post('/cb', ::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z")),
        "Content-Type: application/json\nX-PagerDuty-Signature: v1=" . ("ab" x 32) . ",v1=" . Digest::SHA::hmac_sha256_hex(::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z"), $::S2) . "\n",
      ::cb(::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z"), "w2", $::S1, $::S2),
      ::cb(::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z"), "w3", "forged"),
      ItsmCallback::post('/cb', ::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z")), "Content-Type: application/json\n",
      ItsmCallback::post('/cb', ::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z")), "Content-Type: application/json\nAuthorization: Bearer $ItsmCallback::Tok{own}\n",
      ItsmCallback::post('/cb', ::pd("nobody", "incident.resolved", "2020-10-02T18:45:22Z")), "Content-Type: application/json\nX-PagerDuty-Signature: v0=abc\n",
      ::cb(::pd("", "incident.resolved", "2020-10-02T18:45:22Z", data => '{"id":"PGR0VU2","incident_key":null}'), "w7"),
      ::cb(::pd("x", "incident.resolved", "yesterday"), "w8"))
--- error_code eval: [200, 200, 401, 401, 401, 401, 200, 400]
--- response_body_like eval
[qr/^\{"outcome":"unknown_ticket","ticket":"nobody"/, qr/^\{"outcome":"unknown_ticket","ticket":"nobody"/,
 qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/, qr/"error":"signature_invalid"/,
 qr/^\{"outcome":"unknown_ticket","ticket":"PGR0VU2"/,
 qr/"message":"\\"occurred_at\\" is not an ISO 8601 UTC time"/]



=== TEST 5: incident.annotated: a note on the incident named by data.incident.id: noted, the key's state unchanged; again (the same X-Webhook-Id): duplicate
--- http_config eval: $::Http
--- seq
::seq(::alert("db-1", "dk1"),
      ::cb(::pd("dk1", "incident.annotated", "2020-10-02T18:45:30Z", data => '{"incident":{"id":"dk1","type":"incident_reference"},"content":"Restarted the pod.","type":"incident_note"}'), "w20"),
      ::cb(::pd("dk1", "incident.annotated", "2020-10-02T18:45:30Z", data => '{"incident":{"id":"dk1","type":"incident_reference"},"content":"Restarted the pod.","type":"incident_note"}'), "w20"),
      ::cb(::pd("dk1", "incident.annotated", "2020-10-02T18:45:31Z", data => '{"incident":{"id":"PNOPE","type":"incident_reference"},"content":"x","type":"incident_note"}'), "w21"))
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"dk1"/, qr/^\{"outcome":"noted","ticket":"dk1","key":"db-1","state":"note"\}$/,
 qr/^\{"outcome":"duplicate","ticket":"dk1","key":"db-1","state":"note"\}$/, qr/^\{"outcome":"unknown_ticket","ticket":"PNOPE","state":"note"\}$/]
