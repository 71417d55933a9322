# A delivery seen twice (same Idempotency-Key or webhook-id header, or the
# id a template picks from the payload) gets 200 and the first answer
# again, each result marked "replayed":true, and does nothing else.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = ItsmConf::store_http(lines => [q{comment POST "/ticket/{{ ticket_id }}/comment" 'body={"n": "{{ occurrences }}"}'},
                                                   'on_repeat comment cooldown=0']);

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"T$connection"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '[]'; }
    location = /alerts { itsm_pass mock; }
    location = /by-payload { itsm_pass mock; itsm_dedup "{{ /delivery }}"; }
    location = /no-dedup { itsm_pass mock; itsm_dedup off; }
    location = /short { itsm_pass mock; itsm_dedup "{{ /delivery }}" window=1s; }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the same Idempotency-Key twice: the first answer again, with 200, and nothing sent
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: ["POST /alerts\n{\"key\": \"db-1\"}", "POST /alerts\n{\"key\": \"db-1\"}"]
--- more_headers
Content-Type: application/json
Idempotency-Key: delivery-0001
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"(T\d+)"\}\]\}$/,
 qr/^\{"status":"created","alerts":\[\{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}\]\}$/]



=== TEST 2: what the ITSM received: one create, no comment
--- request
GET /alerts
--- error_code: 405
--- grep_error_log eval: qr/itsm deliver: \w+|delivery "[^"]+" was seen before/
--- grep_error_log_out
itsm deliver: create
delivery "delivery-0001" was seen before



=== TEST 3: webhook-id (Standard Webhooks) works the same; another id goes through the lifecycle
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts\n{\"key\": \"db-1\"}", "POST /alerts\n{\"key\": \"db-1\"}", "POST /alerts\n{\"key\": \"db-1\"}"]
--- more_headers eval
["Content-Type: application/json\nwebhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
 "Content-Type: application/json\nwebhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
 "Content-Type: application/json\nwebhook-id: msg_other"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"mock","ticket_id":"T\d+"\}/,
 qr/"outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}/,
 qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T\d+"\}/]



=== TEST 4: the delivery id from the payload, by template
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /by-payload\n{\"key\": \"db-1\", \"delivery\": \"d1\"}",
 "POST /by-payload\n{\"key\": \"db-1\", \"delivery\": \"d1\"}",
 "POST /by-payload\n{\"key\": \"db-1\", \"delivery\": \"d2\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"mock","ticket_id":"T\d+"\}/,
 qr/"outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}/,
 qr/"outcome":"commented","connector":"mock","ticket_id":"T\d+"\}/]



=== TEST 5: itsm_dedup off: the header is not a delivery id
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: ["POST /no-dedup\n{\"key\": \"db-1\"}", "POST /no-dedup\n{\"key\": \"db-1\"}"]
--- more_headers
Content-Type: application/json
Idempotency-Key: same
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"mock","ticket_id":"T\d+"\}/,
 qr/"outcome":"commented","connector":"mock","ticket_id":"T\d+"\}/]



=== TEST 6: a short window
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /short
{"key": "db-1", "delivery": "d1"}
--- more_headers
Content-Type: application/json
--- error_code: 201



=== TEST 7: past the window, the same delivery id is a new delivery
--- init
sleep 2;
--- request
POST /short
{"key": "db-1", "delivery": "d1"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: "outcome":"commented","connector":"mock","ticket_id":"T\d+"\}



=== TEST 8: an invalid window
--- config
    location = /a { itsm_dedup "{{ key }}" window=soon; }
--- must_die
--- error_log eval: qr/invalid window "soon"; e.g. window=1h in \S+nginx\.conf:\d+/



=== TEST 9: Alertmanager sends a group again: each alert's fingerprint, status and startsAt make the delivery id
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"T$connection"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '[]'; }
    location = /am { itsm_source alertmanager; itsm_pass mock; }
--- request eval
my $a = '{"status": "firing", "labels": {"alertname": "A"}, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "aaaa"}';
my $b = '{"status": "firing", "labels": {"alertname": "B"}, "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "bbbb"}';
my $b2 = '{"status": "firing", "labels": {"alertname": "B"}, "annotations": {}, "startsAt": "2026-01-02T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "bbbb"}';
my $head = '{"version": "4", "groupKey": "g", "status": "firing", "receiver": "r", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "truncatedAlerts": 0, "alerts": [';
["POST /am\n$head$a, $b]}", "POST /am\n$head$b, $a]}", "POST /am\n$head$a, $b2]}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"key":"aaaa","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+"\}.*"key":"bbbb","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+"\}/,
 qr/"key":"bbbb","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}.*"key":"aaaa","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}/,
 qr/"key":"aaaa","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}.*"key":"bbbb","action":"comment","outcome":"commented","connector":"mock","ticket_id":"T\d+"\}/]



=== TEST 10: an Idempotency-Key used again with another body is refused (422), nothing is sent for it; the same body is still the first answer
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
--- request eval
["POST /alerts\n{\"key\": \"A\"}", "POST /alerts\n{\"key\": \"B\"}", "POST /alerts\n{\"key\": \"A\" }", "POST /alerts\n{\"key\": \"A\"}"]
--- more_headers
Content-Type: application/json
Idempotency-Key: key-1
--- error_code eval: [201, 422, 422, 200]
--- response_body eval
[qq{{"status":"created","alerts":[{"key":"A","action":"create","outcome":"created","connector":"mock","ticket_id":"T1"}]}\n},
 qq{{"error":"idempotency_key_reused","message":"the delivery id \\"key-1\\" was used before with another body; a retry sends the same body, a new alert needs a new id"}\n},
 qq{{"error":"idempotency_key_reused","message":"the delivery id \\"key-1\\" was used before with another body; a retry sends the same body, a new alert needs a new id"}\n},
 qq{{"status":"created","alerts":[{"key":"A","action":"create","outcome":"created","connector":"mock","ticket_id":"T1","replayed":true}]}\n}]



=== TEST 11: webhook-id the same: another body under a seen id is refused
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
--- request eval: ["POST /alerts\n{\"key\": \"A\"}", "POST /alerts\n{\"key\": \"A\", \"title\": \"x\"}"]
--- more_headers
Content-Type: application/json
webhook-id: msg_1
--- error_code eval: [201, 422]
--- response_body_like eval: [qr/"outcome":"created"/, qr/^\{"error":"idempotency_key_reused"/]



=== TEST 12: two delivery ids of the same CRC32 ("mock\0delivery-yd5cous7" and "mock\0delivery-o16ztj0g", 0xae321515) are two deliveries in the zone's tree: the second is created, not the first's answer again, and each repeats its own
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts\n{\"key\": \"A\"}", "POST /alerts\n{\"key\": \"B\"}", "POST /alerts\n{\"key\": \"A\"}", "POST /alerts\n{\"key\": \"B\"}"]
--- more_headers eval
["Content-Type: application/json\nIdempotency-Key: delivery-yd5cous7",
 "Content-Type: application/json\nIdempotency-Key: delivery-o16ztj0g",
 "Content-Type: application/json\nIdempotency-Key: delivery-yd5cous7",
 "Content-Type: application/json\nIdempotency-Key: delivery-o16ztj0g"]
--- error_code eval: [201, 201, 200, 200]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"A","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+"\}\]\}$/,
 qr/^\{"status":"created","alerts":\[\{"key":"B","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+"\}\]\}$/,
 qr/^\{"status":"created","alerts":\[\{"key":"A","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}\]\}$/,
 qr/^\{"status":"created","alerts":\[\{"key":"B","action":"create","outcome":"created","connector":"mock","ticket_id":"T\d+","replayed":true\}\]\}$/]
