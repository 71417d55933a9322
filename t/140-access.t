# The access phase as a whole: checks in order (address, token, signature),
# "satisfy any" cannot overrule them, inheritance and "off", the
# $itsm_access_* variables (in logs, and in the request to the ITSM), and
# the counters of every outcome.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $Alert = '{"key": "ac-1", "title": "Access"}';
our $Sig = ItsmSig::headers('github', key => 'k', body => $Alert, bare => 1);
our $Json = "Content-Type: application/json\n";

our $HttpConfig = ItsmConf::connector('mock') . <<'_EOC_';
    itsm_signature_replay_zone seen:1m;
    log_format access '$request_uri $status $itsm_access_result '
                      'secret=$itsm_access_secret id=$itsm_access_id';
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: "satisfy any" with "allow all" cannot let a bad signature through
--- config
    location = /t {
        satisfy any;
        allow all;
        itsm_signature github secret=k;
        try_files /.none =204;
    }
--- request eval: ["POST /t\n$::Alert", "POST /t\n$::Alert"]
--- more_headers eval: ["X-Hub-Signature-256: sha256=" . ('0' x 64), $::Sig]
--- error_code eval: [401, 204]



=== TEST 2: with "satisfy any", nginx's auth_basic still runs after a good signature
--- user_files
>>> htpasswd
user:{PLAIN}pass
--- config
    location = /t {
        satisfy any;
        deny all;
        auth_basic "itsm";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        itsm_signature github secret=k;
        try_files /.none =204;
    }
--- request eval: ["POST /t\n$::Alert", "POST /t\n$::Alert"]
--- more_headers eval: [$::Sig, $::Sig . "Authorization: Basic dXNlcjpwYXNz\n"]
--- error_code eval: [401, 204]
--- response_headers eval: ["WWW-Authenticate: Basic realm=\"itsm\"", ""]



=== TEST 3: the address is checked first: a refused client's body is never read
--- config
    location = /t {
        client_body_buffer_size 1k;
        itsm_allow 192.0.2.0/24;
        itsm_signature github secret=k;
        try_files /.none =204;
    }
--- request eval: "POST /t\n" . ('x' x 5000)
--- error_code: 403
--- response_body_like: address_not_allowed
--- no_error_log
a client request body is buffered to a temporary file



=== TEST 4: a server's itsm_signature is inherited; "off" clears it
--- config
    itsm_signature github secret=k;
    location = /inherited { try_files /.none =204; }
    location = /off { itsm_signature off; try_files /.none =204; }
--- request eval: ["POST /inherited\n$::Alert", "POST /off\n$::Alert"]
--- error_code eval: [401, 204]



=== TEST 5: $itsm_access_result, $itsm_access_secret and $itsm_access_id in the access log
--- http_config eval: $::HttpConfig
--- config
    access_log logs/access.log access;
    location = /t {
        itsm_signature github secret=old secret=k;
        try_files /.none =204;
    }
--- request eval: ["POST /t?a\n$::Alert", "POST /t?b\n$::Alert"]
--- more_headers eval: [$::Sig . "X-GitHub-Delivery: d-42\n", "X-Hub-Signature-256: sha256=" . ('0' x 64) . "\n"]
--- error_code eval: [204, 401]
--- access_log eval
# each request's check sees its own new line
[qr{^/t\?a 204 passed secret=2 id=d-42$|^/t\?b 401 signature_mismatch secret=- id=-$}m]



=== TEST 6: the delivery id can be passed on to the ITSM (an idempotency key)
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_set_header Idempotency-Key $itsm_access_id;
    }
    location = /alerts {
        itsm_signature github secret=k;
        itsm_pass mock;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval: qr/^POST \/api\/ticket HTTP\/1\.0\r\n.*Idempotency-Key: 72d3162e-cc78-11e3-81ab-4c9367dc0958\r\n/s
--- tcp_query_auto_timeout: 0.3
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"id\":\"19\"}"
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: $::Json . $::Sig . "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\n"
--- error_code: 201



=== TEST 7: a secret from a variable that is empty for this request: 500, logged
--- config
    location = /t {
        itsm_signature github secret=$http_x_secret_we_never_send;
        try_files /.none =204;
    }
--- request eval: "POST /t\n$::Alert"
--- more_headers eval: $::Sig
--- error_code: 500
--- response_body
{"error":"internal_error","message":"the signature could not be checked; see the error log"}
--- error_log
itsm_signature: every secret of this location is an empty variable; no request can be verified



=== TEST 8: the counters count every outcome, for the status page
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        itsm_allow 127.0.0.1;
        itsm_signature github secret=k;
        itsm_signature_replay zone=seen;
        try_files /.none =204;
    }
    location = /far { itsm_allow 192.0.2.1; try_files /.none =204; }
    location = /counters { return 200 "$itsm_access_counters\n"; }
--- request eval
["POST /t\n$::Alert", "POST /t\n$::Alert", "POST /t\n$::Alert", "POST /t\n$::Alert", "GET /far", "GET /counters"]
--- more_headers eval: [$::Sig, $::Sig, "", "X-Hub-Signature-256: sha256=" . ('0' x 64), "", ""]
--- error_code eval: [204, 200, 401, 401, 403, 200]
--- response_body eval
["", qr/duplicate/, qr/signature_missing/, qr/signature_mismatch/, qr/address_not_allowed/,
 qq({"passed":1,"address_not_allowed":1,"signature_missing":1,"signature_malformed":0,"signature_mismatch":1,"timestamp_too_old":0,"timestamp_in_future":0,"duplicate":1,"delivery_in_flight":0,"token_missing":0,"token_invalid":0,"token_expired":0,"token_not_yet_valid":0,"token_forbidden":0,"body_too_large":0,"internal_error":0,"replay_cache_unavailable":0}\n)]



=== TEST 9: a signature 401 carries no WWW-Authenticate (there is no standard challenge)
--- config
    location = /t { itsm_signature github secret=k; try_files /.none =204; }
--- request eval: "POST /t\n$::Alert"
--- error_code: 401
--- response_headers
! WWW-Authenticate



=== TEST 10: the status page shows every counter, in order, as JSON and as Prometheus counters
--- http_config eval: $::HttpConfig . "    itsm_zone itsm:1m;\n"
--- config
    location = /t { itsm_allow 127.0.0.1; itsm_signature github secret=k; try_files /.none =204; }
    location = /far { itsm_allow 192.0.2.1; try_files /.none =204; }
    location = /status { itsm_status; }
    location = /metrics { itsm_status prometheus; }
--- request eval: ["POST /t\n$::Alert", "POST /t\n$::Alert", "GET /far", "GET /status", "GET /metrics"]
--- more_headers eval: [$::Sig, "", "", "", ""]
--- error_code eval: [204, 401, 403, 200, 200]
--- response_body_like eval
my @names = qw(passed address_not_allowed signature_missing signature_malformed
               signature_mismatch timestamp_too_old timestamp_in_future duplicate
               delivery_in_flight token_missing token_invalid token_expired
               token_not_yet_valid token_forbidden body_too_large internal_error
               replay_cache_unavailable);
my %n = (passed => 1, address_not_allowed => 1, signature_missing => 1);
my $json = join(',', map { qq("$_":) . ($n{$_} || 0) } @names);
my $prom = "# HELP itsm_access_total Requests judged by the access phase, by result.\n"
           . "# TYPE itsm_access_total counter\n"
           . join('', map { qq(itsm_access_total{result="$_"} ) . ($n{$_} || 0) . "\n" } @names)
           # then each connector's requests (ngx_http_itsm_registry_counts.c)
           . "# HELP itsm_connector_requests_total Requests sent to the ITSM, by connector and action.\n"
           . "# TYPE itsm_connector_requests_total counter\n"
           . qq(itsm_connector_requests_total{connector="mock",action="create"} 0\n)
           . "# HELP itsm_connector_failures_total Requests the ITSM refused or did not answer, by connector and action.\n"
           . "# TYPE itsm_connector_failures_total counter\n"
           . qq(itsm_connector_failures_total{connector="mock",action="create"} 0\n)
           . "# HELP itsm_connector_held_total Requests not sent: held back by the connector's limit or its pause after a 429, by connector and action.\n"
           . "# TYPE itsm_connector_held_total counter\n"
           . qq(itsm_connector_held_total{connector="mock",action="create"} 0\n)
           . "# TYPE itsm_zone_bytes gauge\n";
my $conn = '"connector_requests":{"mock":{"create":0}},"connector_failures":{"mock":{"create":0}},"connector_held":{"mock":{"create":0}}';
["", qr/signature_missing/, qr/address_not_allowed/,
 qr/"zone":\{[^{}]*\},\Q"access":{$json},$conn}\E\n\z/,
 qr/result="failed"\} 0\n\Q$prom\E/]



=== TEST 11: each step of the checks is in the debug log (the token and the secret by their number)
--- http_config eval: $::HttpConfig
--- config
    location = /t {
        itsm_allow 127.0.0.1;
        itsm_token $http_x_token 0123456789abcdef0123456789abcdef;
        itsm_signature github secret=k;
        itsm_signature_replay zone=seen;
        try_files /.none =204;
    }
--- request eval: "POST /t\n$::Alert"
--- more_headers eval: $::Sig . "X-Token: 0123456789abcdef0123456789abcdef\n"
--- error_code: 204
--- error_log
itsm access: checking the request
itsm access: address 127.0.0.1 in itsm_allow
itsm access: the token in $http_x_token is token #1
itsm access: github signature header "X-Hub-Signature-256": 1 signature
itsm access: reading the body, at most 262144 bytes (itsm_max_body)
itsm access: the HMAC-SHA256 of the body matches with secret #1
itsm access: replay: new, in flight; remembered until
itsm access: passed, secret #1
itsm access: replay: the delivery was answered 204: remembered
