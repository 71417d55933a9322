# The status location: alerts by source and outcome, actions by type and
# result, the store's keys and open tickets, the zone's use; as JSON and in
# the Prometheus text format.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = ItsmConf::store_http(body => '{"title": "{{ title }}", "n": "{{ occurrences }}"}',
                                       lines => [q{comment POST "/ticket/{{ ticket_id }}/comment" 'body={"n": "{{ occurrences }}"}'},
                                                 q{resolve PUT "/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}'},
                                                 'on_repeat comment cooldown=0']);

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"T$connection"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '[]'; }
    location ~ ^/mock/ticket/[^/]+$ { return 200 '[]'; }
    location = /alerts { itsm_pass mock; }
    location = /status { itsm_status; }
    location = /metrics { itsm_status prometheus; }
_EOC_

# the variables' blocks: ticket T7, a comment answered with $status, and
# /alerts adding X-Itsm: $vars
sub vars_config {
    my ($status, $vars) = @_;
    return ItsmConf::proxy_mock()
           . "    location = /mock/ticket { return 201 '{\"id\":\"T7\"}'; }\n"
           . "    location ~ ^/mock/ticket/[^/]+/comment\$ { return $status '[]'; }\n"
           . ItsmConf::location('/alerts', 'itsm_pass mock', qq{add_header X-Itsm "$vars"});
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: alerts of every kind, then the status as JSON
--- skip_redis: the status page's LMDB store figures (Redis shows backend, lease, retention)
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts\n{\"key\": \"a\"}", "POST /alerts\n{\"key\": \"a\"}", "POST /alerts\n{\"key\": \"b\"}",
 "POST /alerts\n{\"key\": \"b\", \"status\": \"resolved\"}", "POST /alerts\nnot json", "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 201, 200, 400, 200]
--- response_body_like eval
[qr/created/, qr/commented/, qr/created/, qr/resolved/, qr/invalid_json/,
 qr/^\{"alerts":\{"generic":\{"created":2,"commented":1,"updated":0,"resolved":1,"reopened":0,"duplicate":0,"cooldown":0,"ignored":0,"left_open":0,"queued":0,"failed":0,"refused":1\}(,"\w+":\{[^}]*\})*\},"actions":\{"create":\{"ok":2,"failed":0\},"update":\{"ok":0,"failed":0\},"comment":\{"ok":1,"failed":0\},"resolve":\{"ok":1,"failed":0\},"reopen":\{"ok":0,"failed":0\}\},"zone":\{"bytes":1048576,"free_bytes":\d+,"keys":2\},"access":\{"passed":0,[^}]*\},"connector_requests":\{"mock":\{"create":2,"comment":1,"resolve":1\}\},"connector_failures":\{"mock":\{"create":0,"comment":0,"resolve":0\}\},"connector_held":\{"mock":\{"create":0,"comment":0,"resolve":0\}\},"store":\{"keys":2,"open_tickets":1,"resolved_tickets":1,"claimed":0,"queued":0,"dead_letters":0,"bytes":\d+,"size_bytes":67108864,"used_bytes":\d+,"used_percent":0,"expired":0,"retention":604800\}\}$/]



=== TEST 2: the Prometheus text format
--- skip_redis: the status page's LMDB store figures (Redis shows backend, lease, retention)
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: ["POST /alerts\n{\"key\": \"a\"}", "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_headers_like eval: ["Content-Type: application/json", "Content-Type: text/plain; version=0.0.4"]
--- response_body_like eval
[qr/created/,
 qr/# TYPE itsm_alerts_total counter\nitsm_alerts_total\{source="generic",outcome="created"\} 1\n(.|\n)*itsm_actions_total\{action="create",result="ok"\} 1\n(.|\n)*itsm_access_total\{result="passed"\} 0\n(.|\n)*itsm_zone_keys 1\n(.|\n)*itsm_tickets_open 1\n(.|\n)*\nitsm_store_bytes \d+\n# HELP itsm_store_size_bytes [^\n]*\n# TYPE itsm_store_size_bytes gauge\nitsm_store_size_bytes 67108864\n# HELP itsm_store_used_bytes [^\n]*\n# TYPE itsm_store_used_bytes gauge\nitsm_store_used_bytes \d+\n# HELP itsm_store_expired_total [^\n]*\n# TYPE itsm_store_expired_total counter\nitsm_store_expired_total 0\n# HELP itsm_store_retention_seconds [^\n]*\n# TYPE itsm_store_retention_seconds gauge\nitsm_store_retention_seconds 604800\n\n\z/]



=== TEST 3: the ITSM's failures are counted
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts { itsm_pass mock; }
    location = /status { itsm_status; }
--- request eval: ["POST /alerts\n{\"key\": \"a\"}", "GET /status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval: [503, 200]
--- response_body_like eval
[qr/itsm_unavailable/, qr/itsm_alerts_total\{source="generic",outcome="failed"\} 1\n(.|\n)*itsm_actions_total\{action="create",result="failed"\} 1\n(.|\n)*itsm_connector_requests_total\{connector="mock",action="create"\} 1\nitsm_connector_requests_total\{connector="mock",action="comment"\} 0\n(.|\n)*itsm_connector_failures_total\{connector="mock",action="create"\} 1\nitsm_connector_failures_total\{connector="mock",action="comment"\} 0\n/]



=== TEST 4: itsm_status without a zone
--- config
    location = /status { itsm_status; }
--- must_die
--- error_log eval
qr/"itsm_status" needs the counters of an "itsm_zone"; declare one at http level before it, e.g. "itsm_zone itsm:10m;" in \S+nginx\.conf:\d+/



=== TEST 5: a zone that is too small
--- http_config
    itsm_zone itsm:4k;
--- config
--- must_die
--- error_log eval: qr/zone "itsm" is too small or its size "4k" is invalid; use at least 32k in \S+nginx\.conf:\d+/



=== TEST 6: the key's facts as variables, e.g. for add_header and log_format
--- http_config eval: $::HttpConfig
--- config eval: ::vars_config(201, '$itsm_outcome $itsm_ticket_id $itsm_occurrences $itsm_action')
--- request eval: ["POST /alerts\n{\"key\": \"a\"}", "POST /alerts\n{\"key\": \"a\"}", "POST /alerts\n{\"key\": \"a\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_headers eval: ["X-Itsm: created T7 1 create", "X-Itsm: commented T7 2 comment", "X-Itsm: commented T7 3 comment"]



=== TEST 7: the ITSM's status and the key's first and previous sightings (Unix time) as variables; no previous one: 0
--- http_config eval: $::HttpConfig
--- config eval: ::vars_config(202, '$itsm_upstream_status $itsm_occurrences $itsm_first_seen $itsm_last_seen')
--- request eval: ["POST /alerts\n{\"key\": \"a\"}", "POST /alerts\n{\"key\": \"a\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_headers_like eval: ["X-Itsm: 201 1 1[0-9]{9} 0", "X-Itsm: 202 2 1[0-9]{9} 1[0-9]{9}"]
