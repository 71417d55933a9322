# One alert becomes one ticket: the create request the module sends (method,
# path, headers, exact body), the ticket id it reads back, and the answer the
# sender gets.  The ITSM here is a raw TCP mock, so every byte is asserted.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = <<'_EOC_';
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"Queue": "General", "Subject": "[{{ severity }}] {{ title }}", "Content": "{{ description }}", "Key": "{{ key }}", "Count": "{{ /count }}", "Labels": "{{ /labels }}", "Missing": "{{ /nope }}", "Text": "n={{ /count }}"}';
        header     X-Alert-Key "{{ key }}";
        ticket_id  /id;
    }
_EOC_

our $Config = ItsmConf::tcp_mock() . ItsmConf::alerts();

# the raw mock, proxy_pass without a URI part: the ITSM gets the path as
# the module rendered it
our $Verbatim = ItsmConf::tcp_mock() =~ s{RAND_PORT_1/;}{RAND_PORT_1;}r . ItsmConf::alerts();

# what the raw mock gets of a create with $HttpConfig: its headers, then
# the body
sub create_query {
    my ($key, $body) = @_;
    return "POST /api/ticket HTTP/1.0\r\nHost: itsm.test\r\nConnection: close\r\n"
         . "Content-Length: " . length($body) . "\r\nX-Alert-Key: $key\r\n"
         . "Content-Type: application/json\r\n\r\n$body";
}

# --- verbatim: [the create's path template, the path the ITSM must get]:
# a create without a body through $Verbatim to the raw mock, which answers
# 202 with id 5
ItsmConf::defaults(when => 'verbatim',
    http_config => sub {
        "    itsm_connector mock {\n        location   /_itsm/mock;\n"
        . "        create     POST \"" . $_[0]->verbatim->[0] . "\";\n        ticket_id  /id;\n    }\n" },
    config => $Verbatim, tcp_listen => '$TEST_NGINX_RAND_PORT_1',
    tcp_query => sub {
        "POST " . $_[0]->verbatim->[1] . " HTTP/1.0\r\nHost: itsm.test\r\nConnection: close\r\n"
        . "Content-Length: 0\r\n\r\n" },
    tcp_reply => "HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\n{\"id\":\"5\"}",
    error_code => 201, response_body_like => '"ticket_id":"5"');

# --- created: KEY: the alert KEY becomes ticket 20, answered and logged
ItsmConf::created(ticket => 20, answer => 1);

ItsmConf::defaults(http_config => $HttpConfig, config => $Config,
                   more_headers => "Content-Type: application/json\n");

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an alert creates a ticket; the exact request reaches the ITSM
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
::create_query('db-1', '{"Queue":"General","Subject":"[critical] Disk full on db-1","Content":"95% used","Key":"db-1","Count":3,"Labels":{"team":"dba"},"Missing":null,"Text":"n=3"}')
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n{\"type\":\"ticket\",\"id\":\"20\",\"_url\":\"x\"}\n"
--- request
POST /alerts
{"key": "db-1", "title": "Disk full on db-1", "severity": "critical", "description": "95% used", "status": "firing", "count": 3, "labels": {"team": "dba"}}
--- more_headers
Content-Type: application/json
Authorization: Bearer sender-secret
X-Hub-Signature-256: sha256=abc
--- response_headers
Content-Type: application/json
--- created: db-1



=== TEST 2: hostile alert text cannot break the JSON body or inject a header
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /api/ticket HTTP/1.0\r
Host: itsm.test\r
Connection: close\r
Content-Length: 174\r
X-Alert-Key: k  X-Evil: 1\r
Content-Type: application/json\r
\r
{\"Queue\":\"General\",\"Subject\":\"[\\\"}, \\\"admin\\\": true] a\\\\b\\n{{ key }}\",\"Content\":\"caf\xc3\xa9 \\t\\u0001\",\"Key\":\"k\\r\\nX-Evil: 1\",\"Count\":null,\"Labels\":null,\"Missing\":null,\"Text\":\"n=\"}"
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{\"id\":7}"
--- request eval
"POST /alerts
{\"key\": \"k\\r\\nX-Evil: 1\", \"title\": \"a\\\\b\\n{{ key }}\", \"severity\": \"\\\"}, \\\"admin\\\": true\", \"description\": \"caf\\u00e9 \\t\\u0001\"}"
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"k\r\nX-Evil: 1","action":"create","outcome":"created","connector":"mock","ticket_id":"7"}]}



=== TEST 3: a numeric ticket id, a JSON content type with parameters
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 278
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"id\": 1234, \"ok\": true}\n"
--- request
POST /alerts
{"key": 42, "title": "numbers are accepted as text"}
--- more_headers
Content-Type: application/json; charset=utf-8
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"42","action":"create","outcome":"created","connector":"mock","ticket_id":"1234"}]}



=== TEST 4: a create without a body template sends an empty POST; no sender body leaks
--- http_config
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST "/api/ticket?key={{ key }}&title={{ title }}";
        ticket_id  /id;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /api/ticket?key=a%2Fb%20c&title=x%26y%3Dz HTTP/1.0\r
Host: itsm.test\r
Connection: close\r
Content-Length: 0\r
\r
"
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n{\"id\":\"5\"}"
--- request
POST /alerts
{"key": "a/b c", "title": "x&y=z"}
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"a/b c","action":"create","outcome":"created","connector":"mock","ticket_id":"5"}]}



=== TEST 5: nginx variables and the $itsm_* variables in the ITSM location
--- http_config
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"from": "{{ $http_x_tenant }}"}';
        ticket_id  /id;
    }
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_set_header Host itsm.test;
        proxy_set_header Idempotency-Key "$itsm_source:$itsm_key";
        proxy_set_header X-Severity $itsm_severity;
    }
    location = /alerts { itsm_pass mock; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /api/ticket HTTP/1.0\r
Host: itsm.test\r
Idempotency-Key: generic:k9\r
X-Severity: warning\r
Connection: close\r
Content-Length: 15\r
Content-Type: application/json\r
\r
{\"from\":\"acme\"}"
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n{\"id\":\"9\"}"
--- request
POST /alerts
{"key": "k9", "severity": "warning"}
--- more_headers
Content-Type: application/json
X-Tenant: acme
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"k9","action":"create","outcome":"created","connector":"mock","ticket_id":"9"}]}



=== TEST 6: field mapping by JSON Pointer (a SIEM's own case format)
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_set_header Host itsm.test;
    }
    location = /alerts {
        itsm_pass mock;
        itsm_field key /case/id;
        itsm_field title /case/name;
        itsm_field severity /case/severity;
        itsm_field description /case/events/0/message;
        itsm_field status /case/state;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
::create_query('C-77', '{"Queue":"General","Subject":"[high] Brute force on vpn","Content":"200 failures","Key":"C-77","Count":null,"Labels":null,"Missing":null,"Text":"n="}')
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"id\":\"11\"}"
--- request
POST /alerts
{"case": {"id": "C-77", "name": "Brute force on vpn", "severity": "high", "state": "open", "events": [{"message": "200 failures"}]}}
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"C-77","action":"create","outcome":"created","connector":"mock","ticket_id":"11"}]}



=== TEST 7: a resolved alert with no ticket known is answered and sent nowhere
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:1/;
    }
    location = /alerts { itsm_pass mock; }
--- request
POST /alerts
{"key": "db-1", "title": "Disk full", "status": "resolved"}
--- error_code: 200
--- response_body
{"status":"ignored","alerts":[{"key":"db-1","action":"none","outcome":"ignored","connector":"mock","reason":"the alert is resolved and no ticket is open for its key"}]}
--- no_error_log
[error]
itsm deliver
itsm: connector



=== TEST 8: proxy_pass without a URI part sends the action's path as rendered: values escaped once
--- verbatim eval
['/v2/alerts/{{ key }}/close?identifierType=alias&note={{ title }}',
 '/v2/alerts/%2Fsubscriptions%2Fs1%2Falerts%2Fa%20b/close?identifierType=alias&note=x%26y']
--- request
POST /alerts
{"key": "/subscriptions/s1/alerts/a b", "title": "x&y"}



=== TEST 9: a value that is a whole dot segment ("." or "..") is escaped as %2E, so it cannot name another path
--- verbatim eval: ['/v2/alerts/{{ key }}/close?note={{ title }}', '/v2/alerts/%2E%2E/close?note=%2E']
--- request
POST /alerts
{"key": "..", "title": "."}
