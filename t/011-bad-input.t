# Bad requests get the right 4xx and a JSON error that says what was wrong,
# and nothing reaches the ITSM: the connector's location points at a closed
# port, so any delivery attempt would log a "connect() failed" [error].
use Test::Nginx::Socket 'no_plan';

our $HttpConfig = <<'_EOC_';
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; itsm_max_body 4k; }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: not JSON
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
{"key": "a", "title": oops}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":"invalid_json","message":"the body is not valid JSON: invalid token near 'oops' \(line 1, column 26\)"\}$
--- no_error_log
[error]
itsm deliver



=== TEST 2: an empty body
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"empty_body","message":"the request has no body; send the alert as a JSON object"}
--- no_error_log
[error]
itsm deliver



=== TEST 3: the wrong method
--- http_config eval: $::HttpConfig
--- config eval: $::Config
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
--- no_error_log
[error]
itsm deliver



=== TEST 4: the wrong content type
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
key=a&title=b
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- response_body
{"error":"unsupported_media_type","message":"the alert must be sent with \"Content-Type: application/json\""}
--- no_error_log
[error]
itsm deliver



=== TEST 5: no content type at all
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
{"key": "a"}
--- error_code: 415
--- response_body_like: unsupported_media_type
--- no_error_log
[error]
itsm deliver



=== TEST 6: a body over itsm_max_body, announced by Content-Length
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"POST /alerts\n{\"key\": \"a\", \"title\": \"" . ("x" x 5000) . "\"}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 5025 bytes, more than the 4096 allowed by itsm_max_body"}
--- no_error_log
[error]
itsm deliver



=== TEST 7: a chunked body over itsm_max_body
--- http_config eval: $::HttpConfig
--- config eval: $::Config
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
--- no_error_log
[error]
itsm deliver



=== TEST 8: JSON nested 10,000 deep
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; }
--- request eval
"POST /alerts\n" . ("[" x 10000) . ("]" x 10000)
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"too_deep","message":"the JSON is nested deeper than 32 levels (itsm_max_depth)"}
--- no_error_log
[error]
itsm deliver



=== TEST 9: brackets inside strings do not count as nesting
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"POST /alerts\n{\"key\": \"a\", \"title\": \"" . ("[{" x 100) . "\\\"" . "\", \"status\": \"resolved\"}"
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: "outcome":"ignored"
--- no_error_log
[error]
itsm deliver



=== TEST 10: an array instead of an object
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
[{"key": "a"}]
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"the alert must be a JSON object"}
--- no_error_log
[error]
itsm deliver



=== TEST 11: no key
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
{"title": "Disk full"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"missing field \"key\" (JSON Pointer \"/key\"): every alert needs a key that identifies its problem"}
--- no_error_log
[error]
itsm deliver



=== TEST 12: a key that is an object, and a mapped key that is missing
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; }
    location = /mapped { itsm_pass mock; itsm_field key /case/id; }
--- request eval
["POST /alerts\n{\"key\": {\"id\": 1}}", "POST /mapped\n{\"key\": \"a\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 400]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"field \\\"key\\\" (JSON Pointer \\\"/key\\\") must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/case/id\\\"): every alert needs a key that identifies its problem\"}\n"]
--- no_error_log
[error]
itsm deliver



=== TEST 13: an unknown status
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request
POST /alerts
{"key": "a", "status": "exploded"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body
{"error":"invalid_alert","message":"unknown status \"exploded\" (JSON Pointer \"/status\"): expected \"firing\" or \"resolved\""}
--- no_error_log
[error]
itsm deliver



=== TEST 14: invalid UTF-8
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
"POST /alerts\n{\"key\": \"a\xff\xfe\"}"
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_json","message":"the body is not valid JSON: unable to decode byte 0xff
--- no_error_log
[error]
itsm deliver



=== TEST 15: a POST with "Content-Length: 0" is an empty body, answered 400
--- http_config eval: $::HttpConfig
--- config eval: $::Config
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
