# Routing: one alert to several connectors (a ticket in one, a message in
# another), and the connectors of each alert chosen by a variable, e.g. a
# map on $itsm_severity.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={"summary": "{{ title }}"}';
        ticket_id /key;
    }
    itsm_connector chat {
        location  /_itsm/chat;
        create    POST /message 'body={"text": "{{ title }}"}';
    }
    map $itsm_severity $itsm_route {
        volatile;
        critical  "jira chat";
        warning   jira;
        info      "";
        default   nowhere;
    }
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/jira/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/jira/; }
    location /_itsm/chat/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/chat/; }
    location = /mock/jira/issue { return 201 '{"key":"OPS-$connection"}'; }
    location = /mock/chat/message { return 200 'ok'; }
    location = /both { itsm_pass jira chat; }
    location = /routed { itsm_pass $itsm_route; }
_EOC_

# every block starts nginx with the two connectors (unless it has its
# own), and posts JSON
ItsmConf::defaults(http_config => $HttpConfig, config => $Config);
ItsmConf::defaults(when => 'request', more_headers => "Content-Type: application/json\n");

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one alert, two connectors: a ticket and a message
--- request
POST /both
{"key": "db-1", "title": "Disk full"}
--- error_code: 201
--- response_body_like: ^\{"status":"processed","alerts":\[\{"key":"db-1","action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-\d+"\},\{"key":"db-1","action":"create","outcome":"created","connector":"chat"\}\]\}$
--- grep_error_log eval: qr/itsm deliver: create POST "[^"?]+/
--- grep_error_log_out
itsm deliver: create POST "/_itsm/jira/issue
itsm deliver: create POST "/_itsm/chat/message



=== TEST 2: routed by severity through a map on $itsm_severity
--- request eval
["POST /routed\n{\"key\": \"a\", \"severity\": \"critical\"}",
 "POST /routed\n{\"key\": \"b\", \"severity\": \"warning\"}",
 "POST /routed\n{\"key\": \"c\", \"severity\": \"info\"}"]
--- error_code eval: [201, 201, 200]
--- response_body_like eval
[qr/"connector":"jira".*"connector":"chat"/,
 qr/^\{"status":"created","alerts":\[\{"key":"b","action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-\d+"\}\]\}$/,
 qr/^\{"status":"ignored","alerts":\[\{"key":"c","action":"none","outcome":"ignored","reason":"the alert is routed to no connector"\}\]\}$/]



=== TEST 3: a variable naming no connector: logged, and the alert goes nowhere
--- request
POST /routed
{"key": "d", "severity": "unknown"}
--- error_code: 200
--- response_body_like: "outcome":"ignored"
--- error_log
itsm: alert "d" is routed to "nowhere", which is no connector



=== TEST 4: names and a variable together are refused at load
--- config
    location = /x { itsm_pass jira $itsm_route; }
--- must_die
--- error_log eval: qr/"itsm_pass" takes either connector names or one variable, not both in \S+nginx\.conf:\d+/



=== TEST 5: a resolved alert without a severity reaches the connector that holds its ticket; a repeat whose severity changed as well
--- http_config
    itsm_store logs/state.mdb;
    log_format mock '$request_method $uri';
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={"summary": "{{ title }}"}';
        comment   POST "/issue/{{ ticket_id }}/comment" 'body={"body": "{{ severity }}"}';
        resolve   POST "/issue/{{ ticket_id }}/transitions" 'body={"transition": "done"}';
        ticket_id /key;
        on_repeat comment cooldown=0;
    }
    itsm_connector pager {
        location  /_itsm/pager;
        create    POST /event 'body={"summary": "{{ title }}"}';
        ticket_id /key;
    }
    map $itsm_severity $itsm_route {
        volatile;
        critical  jira;
        info      pager;
        default   "";
    }
--- config
    location /_itsm/jira/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/jira/; }
    location /_itsm/pager/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/pager/; }
    location /mock/ {
        access_log logs/mock.log mock;
        if ($request_uri = /mock/jira/issue) { return 201 '{"key":"OPS-7"}'; }
        if ($request_uri = /mock/pager/event) { return 201 '{"key":"P-1"}'; }
        return 204;
    }
    location = /routed { itsm_pass $itsm_route; }
    location = /mocklog { default_type text/plain; alias logs/mock.log; }
--- request eval
["POST /routed\n{\"key\": \"db-1\", \"title\": \"Disk full\", \"severity\": \"critical\"}",
 "POST /routed\n{\"key\": \"db-1\", \"title\": \"Disk full\", \"severity\": \"info\"}",
 "POST /routed\n{\"key\": \"db-1\", \"title\": \"Disk full\", \"status\": \"resolved\"}",
 "POST /routed\n{\"key\": \"db-2\", \"title\": \"Disk full\", \"status\": \"resolved\"}",
 "GET /mocklog"]
--- error_code eval: [201, 201, 200, 200, 200]
--- response_body eval
[qq{{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-7"}]}\n},
 qq{{"status":"processed","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"pager","ticket_id":"P-1"},{"key":"db-1","action":"comment","outcome":"commented","connector":"jira","ticket_id":"OPS-7"}]}\n},
 qq{{"status":"processed","alerts":[{"key":"db-1","action":"resolve","outcome":"resolved","connector":"jira","ticket_id":"OPS-7"},{"key":"db-1","action":"none","outcome":"left_open","connector":"pager","ticket_id":"P-1","reason":"on_resolve nothing: the ticket stays open"}]}\n},
 qq{{"status":"ignored","alerts":[{"key":"db-2","action":"none","outcome":"ignored","reason":"the alert is routed to no connector"}]}\n},
 "POST /mock/jira/issue\nPOST /mock/pager/event\nPOST /mock/jira/issue/OPS-7/comment\nPOST /mock/jira/issue/OPS-7/transitions\n"]
