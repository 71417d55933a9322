# itsm_token: a shared secret sent as is (Alertmanager's bearer
# credentials, a Datadog custom header, a token in the query string).
# Only digests are kept and compared in constant time; a refused request
# gets 401 with a JSON error and a Bearer challenge, never reaches the ITSM
# (a closed port here: any delivery would log "connect() failed"), and the
# token itself is never logged.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $HttpConfig = ItsmConf::connector('mock', create => 'POST /ticket');

our $Locations = ItsmConf::proxy_mock() . "    location = /mock/ticket { return 201 '{\"id\":\"7\"}'; }\n";

our $Alert = "POST /alerts\n" . '{"key": "a", "title": "t"}';
our $Token = '6f1c0d6e8b2a4f7e9c3d5a1b0e2f4c6a';

# /alerts guarded by the token in X-ITSM-Token
our $Alerts = qq{    location = /alerts {
        itsm_token \$http_x_itsm_token $Token;
        itsm_pass mock;
    }
};

# the same, the ITSM a closed port
our $Refused = "    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }\n" . $Alerts;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the right token in a header passes; the alert is processed
--- http_config eval: $::HttpConfig
--- config eval: $::Locations . $::Alerts
--- request eval: $::Alert
--- more_headers eval: "Content-Type: application/json\nX-ITSM-Token: $::Token"
--- error_code: 201
--- response_body_like: "ticket_id":"7"
--- no_error_log
[error]



=== TEST 2: no token: 401 token_missing, a Bearer challenge, nothing sent to the ITSM
--- http_config eval: $::HttpConfig
--- config eval: $::Refused
--- request eval: $::Alert
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="itsm"
--- response_body
{"error":"token_missing","message":"the request carries no token (expected in $http_x_itsm_token)"}
--- no_error_log
[error]



=== TEST 3: a wrong token, one byte off or of another length: 401 token_invalid; the tokens are not logged
--- http_config eval: $::HttpConfig
--- config eval: $::Refused
--- request eval: [$::Alert, $::Alert]
--- more_headers eval
["Content-Type: application/json\nX-ITSM-Token: " . substr($::Token, 0, 31) . "b",
 "Content-Type: application/json\nX-ITSM-Token: " . $::Token . "00"]
--- error_code eval: [401, 401]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"']
--- response_body eval
[qq{{"error":"token_invalid","message":"the token in \$http_x_itsm_token is not one this endpoint accepts"}\n},
 qq{{"error":"token_invalid","message":"the token in \$http_x_itsm_token is not one this endpoint accepts"}\n}]
--- no_error_log eval: [qr/\[error\]/, qr/\[(?:info|notice|warn|error|crit|alert|emerg)\].*6f1c0d6e/]



=== TEST 4: Alertmanager's bearer credentials: the whole Authorization value is the token
--- http_config eval: $::HttpConfig
--- config eval
$::Locations . qq{
    location = /alerts {
        itsm_token \$http_authorization "Bearer $::Token";
        itsm_pass mock;
    }
}
--- request eval: [$::Alert, $::Alert]
--- more_headers eval
["Content-Type: application/json\nAuthorization: Bearer $::Token",
 "Content-Type: application/json\nAuthorization: Basic $::Token"]
--- error_code eval: [201, 401]



=== TEST 5: file=: one token per line (rotation: old and new both pass, $itsm_access_secret says which), comments, CRLF; a query argument as the source
--- http_config eval: $::HttpConfig
--- config eval
$::Locations . q{
    location = /alerts {
        itsm_token $arg_token file=$TEST_NGINX_HTML_DIR/tokens.txt;
        add_header X-Token-Line $itsm_access_secret always;
        itsm_pass mock;
    }
}
--- user_files
>>> tokens.txt
# rotated 2026-11-01: the old token stays until every sender has the new one
old-0123456789abcdef0123
new-fedcba9876543210fedc

--- request eval
["POST /alerts?token=old-0123456789abcdef0123\n" . '{"key": "a", "title": "t"}',
 "POST /alerts?token=new-fedcba9876543210fedc\n" . '{"key": "b", "title": "t"}',
 "POST /alerts?token=other-0123456789abcdef\n" . '{"key": "c", "title": "t"}',
 "POST /alerts?token=%23%20rotated\n" . '{"key": "d", "title": "t"}']
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 401, 401]
--- response_headers eval: ["X-Token-Line: 1", "X-Token-Line: 2", "X-Token-Line:", "X-Token-Line:"]



=== TEST 6: itsm_token off in a nested location; the server-level token guards the others
--- http_config eval: $::HttpConfig
--- config eval
$::Locations . qq{
    itsm_token \$http_x_itsm_token $::Token;
    location = /alerts { itsm_pass mock; }
    location = /open { itsm_token off; return 200 "open\n"; }
}
--- request eval: ["GET /open", $::Alert]
--- more_headers
Content-Type: application/json
--- error_code eval: [200, 401]



=== TEST 7: the counters name the refusals
--- http_config eval: $::HttpConfig
--- config eval
$::Refused . q{    location = /counters { return 200 "$itsm_access_counters\n"; }
}
--- request eval: [$::Alert, $::Alert, "GET /counters"]
--- more_headers eval: ["Content-Type: application/json", "Content-Type: application/json\nX-ITSM-Token: nope-nope-nope-nope", ""]
--- error_code eval: [401, 401, 200]
--- response_body_like eval: [qr/token_missing/, qr/token_invalid/, qr/"token_missing":1,"token_invalid":1,/]



=== TEST 8: config: a token shorter than 16 bytes, not named in the log
--- config
    location = /alerts { itsm_token $http_x_itsm_token short; }
--- must_die
--- no_error_log eval: qr/emerg.*short has/
--- error_log eval
qr/a token of itsm_token has 5 bytes; use 16 to 4096, e\.g\. the output of "openssl rand -hex 32" in \S+nginx\.conf:\d+/



=== TEST 9: config: the source is not a variable
--- config
    location = /alerts { itsm_token X-ITSM-Token 0123456789abcdef0123; }
--- must_die
--- error_log eval
qr/"X-ITSM-Token" in "itsm_token" is not a variable: the first parameter says where the request carries the token, e\.g\. \$http_authorization, \$http_x_itsm_token or \$arg_token/



=== TEST 10: config: a token file without tokens
--- config
    location = /alerts { itsm_token $http_x_itsm_token file=$TEST_NGINX_HTML_DIR/empty.txt; }
--- user_files
>>> empty.txt
# nothing yet
--- must_die
--- error_log eval: qr/"itsm_token" accepts no token: give at least one, or file= with one token per line/



=== TEST 11: config: a short token in a file
--- config
    location = /alerts { itsm_token $http_x_itsm_token file=$TEST_NGINX_HTML_DIR/short.txt; }
--- user_files
>>> short.txt
tiny
--- must_die
--- error_log eval: [qr/a token of itsm_token in \S+short\.txt has 4 bytes/]
--- no_error_log
tiny



=== TEST 12: config: a token listed twice
--- config
    location = /alerts { itsm_token $http_x_itsm_token 0123456789abcdef0123 0123456789abcdef0123; }
--- must_die
--- error_log eval: qr/token 2 of itsm_token is the same as token 1; list each token once/
