# Against a real Request Tracker 5 (Debian's request-tracker5), started by
# util/test.sh on $TEST_NGINX_RT_PORT: an alert becomes a ticket whose
# subject is the alert's title, checked through RT's own REST API.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;

ItsmHttp::plan_rt();

# a title no earlier run has used, so the search below finds one ticket
our $Token = "itsm-t" . time() . "-$$";

our $HttpConfig = <<'_EOC_';
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}", "Content": "{{ description }}\\nSeverity: {{ severity }}\\nKey: {{ key }}", "ContentType": "text/plain"}';
        ticket_id  /id;
    }
_EOC_

our $Config = ItsmConf::rt_itsm() . "    location = /alerts { itsm_pass rt; }\n"
    . ItsmConf::rt_api();           # RT's API for the checks below

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an alert creates a ticket in RT whose subject is the alert's title
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts
{\"key\": \"$::Token-disk\", \"title\": \"$::Token Disk full on db-1\", \"severity\": \"critical\", \"description\": \"/var is 98% full\"}",
"GET /rt/REST/2.0/tickets?query=Subject%3D'$::Token%20Disk%20full%20on%20db-1'&fields=Subject,Status,Queue"]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"$::Token-disk","action":"create","outcome":"created","connector":"rt","ticket_id":"\d+"\}\]\}$/,
 qr/^(?=.*"count"\s*:\s*1\b)(?=.*"Subject"\s*:\s*"$::Token Disk full on db-1")/s]
--- no_error_log
[error]



=== TEST 2: quotes, backslashes and non-ASCII text arrive intact
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts
{\"key\": \"$::Token-q\", \"title\": \"$::Token \\\"quoted\\\" back\\\\slash caf\\u00e9\", \"description\": \"line 1\\nline 2\"}",
"GET /rt/REST/2.0/tickets?query=Subject%20LIKE%20'$::Token'&fields=Subject"]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/"Subject"\s*:\s*"$::Token \\"quoted\\" back\\\\slash caf\x{c3}\x{a9}"/s]
--- no_error_log
[error]



=== TEST 3: RT refuses an unknown queue: 502 with RT's own message
--- http_config
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "NoSuchQueue", "Subject": "{{ title }}"}';
        ticket_id  /id;
    }
--- config eval: $::Config
--- request
POST /alerts
{"key": "bad-queue", "title": "goes nowhere"}
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code: 502
--- response_body_like: ^\{"error":"itsm_rejected","connector":"rt","action":"create","itsm_status":40[03],"itsm_error":"\{.*NoSuchQueue
--- error_log
itsm: connector "rt" create: the ITSM answered
