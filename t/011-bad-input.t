# Bad requests get the right 4xx and a JSON error that says what was wrong,
# and nothing reaches the ITSM: the connector's location points at a closed
# port, so any delivery attempt would log a "connect() failed" [error].
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = ItsmConf::connector('mock');

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; itsm_max_body 4k; }
_EOC_

# a block whose connector points at the closed port checks that nothing
# reached it: no connect() failure, no delivery step in the log
our $NothingSent = "[error]\nitsm deliver\nitsm: connector\n";

ItsmConf::defaults(http_config => $HttpConfig, config => $Config,
                   no_error_log => sub { $_[0]->config =~ m{127\.0\.0\.1:1/;} ? $::NothingSent : undef });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: not JSON
--- request
POST /alerts
{"key": "a", "title": oops}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"invalid_json","message":"the body is not valid JSON: invalid token near 'oops' \(line 1, column 26\)"\}$



=== TEST 2: an empty body
--- request
POST /alerts
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"empty_body","message":"the request has no body; send the alert as a JSON object"}



=== TEST 3: the wrong method
--- request
PUT /alerts
{"key": "a"}
--- more_headers
Content-Type: application/json
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body
{"error":"method_not_allowed","message":"alerts are sent with POST, not PUT"}



=== TEST 4: the wrong content type
--- request
POST /alerts
key=a&title=b
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body
{"error":"unsupported_media_type","message":"the alert must be sent with \"Content-Type: application/json\""}



=== TEST 5: no content type at all
--- request
POST /alerts
{"key": "a"}
--- error_code: 415
--- response_body_like: unsupported_media_type



=== TEST 6: a body over itsm_max_body, announced by Content-Length
--- request eval: "POST /alerts\n{\"key\": \"a\", \"title\": \"" . ("x" x 5000) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 5025 bytes, more than the 4096 allowed by itsm_max_body"}



=== TEST 7: a chunked body over itsm_max_body
--- raw_request eval
my $chunk = "{\"key\": \"a\", \"title\": \"" . ("x" x 2500);
my $rest = ("y" x 2500) . "\"}";
"POST /alerts HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
" . sprintf("%x", length $chunk) . "\r\n$chunk\r\n" . sprintf("%x", length $rest) . "\r\n$rest\r\n0\r\n\r\n"
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 5025 bytes, more than the 4096 allowed by itsm_max_body"}



=== TEST 8: JSON nested 10,000 deep
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; }
--- request eval: "POST /alerts\n" . ("[" x 10000) . ("]" x 10000)
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"too_deep","message":"the JSON is nested deeper than 32 levels (itsm_max_depth)"}



=== TEST 9: brackets inside strings do not count as nesting
--- request eval: "POST /alerts\n{\"key\": \"a\", \"title\": \"" . ("[{" x 100) . "\\\"" . "\", \"status\": \"resolved\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: "outcome":"ignored"



=== TEST 10: an array instead of an object
--- request
POST /alerts
[{"key": "a"}]
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"the alert must be a JSON object"}



=== TEST 11: no key
--- request
POST /alerts
{"title": "Disk full"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"missing field \"key\" (JSON Pointer \"/key\"): every alert needs a key that identifies its problem"}



=== TEST 12: a key that is an object, and a mapped key that is missing
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; }
    location = /mapped { itsm_pass mock; itsm_field key /case/id; }
--- request eval: ["POST /alerts\n{\"key\": {\"id\": 1}}", "POST /mapped\n{\"key\": \"a\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [400, 400]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"field \\\"key\\\" (JSON Pointer \\\"/key\\\") must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/case/id\\\"): every alert needs a key that identifies its problem\"}\n"]



=== TEST 13: an unknown status
--- request
POST /alerts
{"key": "a", "status": "exploded"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"unknown status \"exploded\" (JSON Pointer \"/status\"): expected \"firing\" or \"resolved\""}



=== TEST 14: invalid UTF-8
--- request eval: "POST /alerts\n{\"key\": \"a\xff\xfe\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_json","message":"the body is not valid JSON: unable to decode byte 0xff



=== TEST 15: a POST with "Content-Length: 0" is an empty body, answered 400
--- raw_request eval
"POST /alerts HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Type: application/json\r
Content-Length: 0\r
\r
"
--- error_code: 400
--- response_body
{"error":"empty_body","message":"the request has no body; send the alert as a JSON object"}
--- no_error_log
[error]
[alert]
itsm deliver
itsm: connector



=== TEST 16: a chunked body over itsm_max_body: one 413, and nothing torn (no "header already sent")
--- raw_request eval
my $body = '{"key": "a", "title": "' . ("x" x 5000) . '"}';
"POST /alerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
. sprintf("%x", length $body) . "\r\n$body\r\n0\r\n\r\n"
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 5025 bytes, more than the 4096 allowed by itsm_max_body"}
--- no_error_log
[alert]
[error]



=== TEST 17: a chunked body of exactly itsm_max_body is taken, one byte more is not
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/api/ticket { return 201 '{"id":"7"}'; }
    location = /alerts { itsm_pass mock; itsm_max_body 4k; }
--- raw_request eval
[map {
    my $body = '{"key": "a", "title": "' . ("x" x (4096 - 25 + $_)) . '"}';
    "POST /alerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    . sprintf("%x", length $body) . "\r\n$body\r\n0\r\n\r\n"
} 0, 1]
--- error_code eval: [201, 413]
--- response_body eval
[qq{{"status":"created","alerts":[{"key":"a","action":"create","outcome":"created","connector":"mock","ticket_id":"7"}]}\n},
 qq{{"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_max_body"}\n}]



=== TEST 18: a key given twice is refused, not read as "the last one wins"
--- request
POST /alerts
{"key": "a", "status": "resolved", "status": "firing"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_json","message":"the body is not valid JSON: duplicate object key near '\\"status\\"' \(line 1, column \d+\)"\}$
--- no_error_log
[error]



=== TEST 19: alert text in a connector's header line is cut to 4096 bytes, never inside a UTF-8 character
--- http_config
    log_format hdr '$http_x_title';
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"k": "{{ key }}"}';
        header     X-Title "{{ title }}";
        ticket_id  /id;
    }
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/api/ticket { access_log logs/hdr.log hdr; return 201 '{"id":"7"}'; }
    location = /alerts { itsm_pass mock; itsm_max_body 1m; }
    location = /hdr { default_type text/plain; alias logs/hdr.log; }
--- request eval
["POST /alerts\n{\"key\": \"a\", \"title\": \"" . ("x" x 4096) . "\"}",
 "POST /alerts\n{\"key\": \"b\", \"title\": \"" . ("x" x 4095) . "\\u00e9" . ("y" x 100000) . "\"}",
 "POST /alerts\n{\"key\": \"c\", \"title\": \"" . ("x" x 4094) . "\\u00e9" . ("y" x 10) . "\"}",
 "GET /hdr"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 201, 200]
--- response_body eval
[(map { qq{{"status":"created","alerts":[{"key":"$_","action":"create","outcome":"created","connector":"mock","ticket_id":"7"}]}\n} } qw(a b c)),
 ("x" x 4096) . "\n" . ("x" x 4095) . "\n" . ("x" x 4094) . "\\xC3\\xA9" . "\n"]
