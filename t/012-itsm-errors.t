# When the ITSM fails: a refusal (4xx) is a 502 carrying the ITSM's status
# and error text; an outage (5xx, 408/429, refused, timed out) is a 503
# with Retry-After so the sender tries again; a huge answer never drops
# the sender's connection.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = ItsmConf::connector('mock', body => '{"summary": "{{ title }}"}');

# the ITSM: a location of the test server whose answer is $answer, or a
# raw TCP mock (tcp_listen); @alerts: more directives for /alerts
sub itsm { my ($answer, @alerts) = @_; ItsmConf::proxy_mock() . "    location /mock/ { $answer }\n" . ItsmConf::alerts(@alerts) }
sub tcp { ItsmConf::tcp_mock(@_) . ItsmConf::alerts() }

# every block posts the alert k1 as JSON
ItsmConf::defaults(http_config => $HttpConfig, request => "POST /alerts\n{\"key\": \"k1\"}\n",
                   more_headers => "Content-Type: application/json\n");

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the ITSM refuses the ticket (400 with a JSON error)
--- config eval: ::itsm(q{return 400 '{"errorMessages":[],"errors":{"summary":"Field \'summary\' is required."}}';})
--- request
POST /alerts
{"key": "k1", "title": ""}
--- error_code: 502
--- response_headers
Content-Type: application/json
! Retry-After
--- response_body
{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":400,"itsm_error":"{\"errorMessages\":[],\"errors\":{\"summary\":\"Field 'summary' is required.\"}}"}
--- error_log
itsm: connector "mock" create: the ITSM answered 400: "{\"errorMessages\":[],\"errors\":{\"summary\":\"Field 'summary' is required.\"}}"



=== TEST 2: the ITSM fails (500): 503 and the default Retry-After
--- config eval: ::itsm(q{return 500 'database is locked';})
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body
{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":500,"itsm_error":"database is locked"}
--- error_log
the ITSM answered 500: "database is locked"
--- no_error_log
header already sent
[alert]



=== TEST 3: the ITSM rate-limits (429 with Retry-After): its Retry-After is passed on
--- config eval: ::itsm(q{add_header Retry-After 120 always; return 429 '{"message":"rate limited"}';}, 'itsm_retry_after 5s')
--- error_code: 503
--- response_headers
Retry-After: 120
--- response_body
{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":429,"itsm_error":"{\"message\":\"rate limited\"}"}



=== TEST 4: the ITSM cannot be reached: 503 with itsm_retry_after
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; itsm_retry_after 1m; }
--- error_code: 503
--- response_headers
Retry-After: 60
--- response_body
{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":502,"itsm_error":"no answer from the ITSM: the connection was refused, reset or timed out (see the error log)"}
--- error_log
connect() failed (111: Connection refused)



=== TEST 5: a 2 MiB answer (over max_response): a clear 502, the connection stays up
--- config eval: ::tcp()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply eval
my $body = '{"id":"77","pad":"' . ("x" x (2 * 1024 * 1024)) . '"}';
"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n$body"
--- error_code: 502
--- response_body
{"error":"itsm_bad_response","message":"the ITSM answered 201, but its answer is larger than max_response (1048576 bytes) of connector \"mock\"; the ticket id could not be read"}
--- error_log
itsm: connector "mock" create of key "k1": the ITSM answered 201, but its answer is larger than max_response (1048576 bytes)



=== TEST 6: a 1 MiB answer within max_response: the ticket id is read
--- http_config
    itsm_connector mock {
        location     /_itsm/mock;
        create       POST /api/ticket 'body={"summary": "{{ title }}"}';
        ticket_id    /id;
        max_response 2m;
    }
--- config eval: ::tcp()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply eval
my $body = '{"pad":"' . ("x" x (1024 * 1024)) . '","id":"78"}';
"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n$body"
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"k1","action":"create","outcome":"created","connector":"mock","ticket_id":"78"}]}
--- no_error_log
[error]



=== TEST 7: a 2xx answer that is not JSON
--- config eval: ::itsm(q{return 200 '<html>Login</html>';})
--- error_code: 502
--- response_body
{"error":"itsm_bad_response","message":"the ITSM answered 200, but not with JSON ('[' or '{' expected near '<'); the ticket id could not be read"}



=== TEST 8: a 2xx JSON answer without the ticket id
--- config eval: ::itsm(q{return 201 '{"key":"OPS-1"}';})
--- error_code: 502
--- response_body
{"error":"itsm_bad_response","message":"the ITSM answered 201, but its answer has no ticket id at \"/id\" (ticket_id of connector \"mock\")"}
--- error_log
itsm: connector "mock" create of key "k1": the ITSM answered 201, but its answer has no ticket id at "/id"



=== TEST 9: an ITSM error page with invalid UTF-8 still reaches the sender as valid JSON
--- config eval: ::tcp()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply eval: "HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\nno \xff\xfe access"
--- error_code: 502
--- response_body
{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":403,"itsm_error":"no ?? access"}



=== TEST 10: the ITSM does not answer in time (proxy_read_timeout): 503
--- config eval: ::tcp('proxy_read_timeout 300ms')
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply_delay: 1.5
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n{\"id\":\"1\"}"
--- error_code: 503
--- response_body_like: "itsm_status":504
--- error_log
upstream timed out



=== TEST 11: an ITSM error of more than 1,024 bytes is cut at 1,024, and a character the cut splits is left out, not made "?"
--- config eval: ::tcp()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply eval: "HTTP/1.1 403 Forbidden\r\nContent-Length: 1026\r\n\r\n" . ("a" x 1023) . "\xc3\xa9z"
--- error_code: 502
--- response_body eval
'{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":403,"itsm_error":"' . ("a" x 1023) . "\"}\n"



=== TEST 12: one byte earlier the character fits in the 1,024 and is kept
--- config eval: ::tcp()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 133
--- tcp_reply eval: "HTTP/1.1 403 Forbidden\r\nContent-Length: 1025\r\n\r\n" . ("a" x 1022) . "\xc3\xa9z"
--- error_code: 502
--- response_body eval
'{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":403,"itsm_error":"' . ("a" x 1022) . "\xc3\xa9\"}\n"
