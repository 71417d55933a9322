# The lifecycle of a ticket with a store: one ticket per key, what repeats,
# resolves and re-fires do, cooldowns, and a correlation key that merges a
# storm of related alerts.  The mock ITSM answers each create with a new id
# ("T" + the connection number); the module's debug log lists every
# request it sent.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Mock = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"T$connection"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '["Comments added"]'; }
    location ~ ^/mock/ticket/[^/]+$ { return 200 '[]'; }
    location = /alerts { itsm_pass mock; }
    location = /_itsm/replay { itsm_replay; }
_EOC_

our $Connector = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "fired {{ occurrences }} times"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        ticket_id /id;
        @POLICY@
    }
_EOC_

sub connector { my $p = shift; (my $c = $Connector) =~ s/\@POLICY\@/$p/; $c }

sub alert { my ($key, $status) = @_;
    "POST /alerts\n{\"key\": \"$key\", \"title\": \"Disk full\", \"status\": \"$status\"}" }
sub alerts { my ($key, @status) = @_; [map { alert($key, $_) } @status] }

# a block with a connector gets the mock ITSM and JSON; a block that reads
# the log of the one before ("what the ITSM received") sends a GET, which
# /alerts refuses (405): it makes nginx write what the block checks
ItsmConf::defaults(when => 'http_config', config => $Mock,
                   more_headers => sub { $_[0]->request ? "Content-Type: application/json\n" : undef });
ItsmConf::defaults(when => 'grep_error_log', request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one ticket per key: a repeat is a duplicate that names the ticket and sends nothing
--- http_config eval: ::connector("on_repeat nothing;")
--- request eval: [::alert("db-1", "firing"), ::alert("db-1", "firing"), ::alert("db-2", "firing")]
--- error_code eval: [201, 200, 201]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"(T\d+)"\}\]\}$/,
 qr/^\{"status":"duplicate","alerts":\[\{"key":"db-1","action":"none","outcome":"duplicate","connector":"mock","ticket_id":"T\d+","reason":"a ticket is already open for this key"\}\]\}$/,
 qr/^\{"status":"created","alerts":\[\{"key":"db-2",.*"ticket_id":"T\d+"\}\]\}$/]



=== TEST 2: one ticket per key: a repeat is a duplicate that names the ticket and sends nothing: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval: "itsm deliver: create POST \"/_itsm/mock/ticket\nitsm deliver: create POST \"/_itsm/mock/ticket\n"
--- no_error_log
[error]



=== TEST 3: on_repeat comment: the repeat comments on the open ticket
--- http_config eval: ::connector("on_repeat comment cooldown=0;")
--- request eval: ::alerts("db-1", qw(firing firing firing))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"action":"comment","outcome":"commented","connector":"mock","ticket_id":"T\d+"/, qr/"outcome":"commented"/]



=== TEST 4: on_repeat comment: the repeat comments on the open ticket: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+|connector "mock" \w+ ticket "T\d+"/
--- grep_error_log_out eval
qr/^itsm deliver: create POST "\/_itsm\/mock\/ticket\nconnector "mock" created ticket "(T\d+)"\nitsm deliver: comment POST "\/_itsm\/mock\/ticket\/\1\/comment\nconnector "mock" commented ticket "\1"\nitsm deliver: comment POST "\/_itsm\/mock\/ticket\/\1\/comment\nconnector "mock" commented ticket "\1"\n$/



=== TEST 5: a cooldown: no second comment within it
--- http_config eval: ::connector("on_repeat comment cooldown=1h;")
--- request eval: ::alerts("db-1", qw(firing firing firing))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/"outcome":"cooldown","connector":"mock","ticket_id":"T\d+","reason":"the ticket was updated within the cooldown; the latest state is sent when it ends"/,
 qr/"outcome":"cooldown"/]



=== TEST 6: a cooldown: no second comment within it: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+/
--- grep_error_log_out eval: "itsm deliver: create\n"



=== TEST 7: resolve, a repeated resolve, then a re-fire reopens within the window
--- http_config eval: ::connector("")
--- request eval: ::alerts("db-1", qw(firing resolved resolved firing))
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/^\{"status":"resolved","alerts":\[\{"key":"db-1","action":"resolve","outcome":"resolved","connector":"mock","ticket_id":"T\d+"\}\]\}$/,
 qr/"action":"none","outcome":"duplicate",.*"reason":"the ticket is already resolved"/,
 qr/"action":"reopen","outcome":"reopened","connector":"mock","ticket_id":"T\d+"/]



=== TEST 8: resolve, a repeated resolve, then a re-fire reopens within the window: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"?]+/
--- grep_error_log_out eval
qr/^itsm deliver: create POST "\/_itsm\/mock\/ticket\nitsm deliver: resolve PUT "\/_itsm\/mock\/ticket\/(T\d+)\nitsm deliver: reopen PUT "\/_itsm\/mock\/ticket\/\1\n$/



=== TEST 9: on_refire new: a re-fire after resolve opens a new ticket
--- http_config eval: ::connector("on_refire new;")
--- request eval: ::alerts("db-1", qw(firing resolved firing))
--- error_code eval: [201, 200, 201]
--- response_body_like eval: [qr/"ticket_id":"T\d+"/, qr/"outcome":"resolved"/, qr/"action":"create","outcome":"created"/]



=== TEST 10: on_refire new: a re-fire after resolve opens a new ticket: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+/
--- grep_error_log_out eval: "itsm deliver: create\nitsm deliver: resolve\nitsm deliver: create\n"



=== TEST 11: on_refire reopen with a window of 0s: past it, a new ticket
--- http_config eval: ::connector("on_refire reopen window=0s;")
--- request eval: ::alerts("db-1", qw(firing resolved firing))
--- wait: 1.1
--- error_code eval: [201, 200, 201]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"resolved"/, qr/"outcome":"created"/]



=== TEST 12: on_resolve nothing leaves the ticket open; on_resolve resolve comment sends both
--- http_config eval: ::connector("on_resolve nothing;")
--- request eval: ::alerts("db-1", qw(firing resolved firing))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/"action":"none","outcome":"left_open",.*"reason":"on_resolve nothing: the ticket stays open"/,
 qr/"outcome":"duplicate"/]



=== TEST 13: on_resolve resolve comment: a comment, then the resolve
--- http_config eval: ::connector("on_resolve resolve comment;")
--- request eval: ::alerts("db-1", qw(firing resolved))
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"action":"resolve","outcome":"resolved"/]



=== TEST 14: on_resolve resolve comment: a comment, then the resolve: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+/
--- grep_error_log_out eval: "itsm deliver: create\nitsm deliver: comment\nitsm deliver: resolve\n"



=== TEST 15: a correlation key template merges related alerts into one ticket
--- http_config eval: ::connector('key "{{ /labels/alertname }}:{{ resource }}";')
--- request eval
["POST /alerts\n{\"key\": \"a1\", \"labels\": {\"alertname\": \"DiskFull\"}, \"resource\": \"db-1\"}",
 "POST /alerts\n{\"key\": \"a2\", \"labels\": {\"alertname\": \"DiskFull\"}, \"resource\": \"db-1\"}",
 "POST /alerts\n{\"key\": \"a3\", \"labels\": {\"alertname\": \"DiskFull\"}, \"resource\": \"db-2\"}"]
--- error_code eval: [201, 200, 201]
--- response_body_like eval
[qr/"key":"DiskFull:db-1","action":"create"/, qr/"key":"DiskFull:db-1","action":"none","outcome":"duplicate"/, qr/"key":"DiskFull:db-2","action":"create"/]



=== TEST 16: a failed create leaves no claim behind: the next alert creates
--- http_config eval: ::connector("")
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 503 '{"error":"maintenance"}'; }
    location = /alerts { itsm_pass mock; }
--- request eval: ::alerts("db-1", qw(firing firing))
--- error_code eval: [503, 503]
--- response_body_like eval: [qr/"error":"itsm_unavailable"/, qr/"error":"itsm_unavailable"/]



=== TEST 17: a failed create leaves no claim behind: the next alert creates: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+/
--- grep_error_log_out eval: "itsm deliver: create\nitsm deliver: create\n"



=== TEST 18: a resolved alert for a key never seen is ignored and sends nothing
--- http_config eval: ::connector("")
--- request eval: ::alert("db-9", "resolved")
--- error_code: 200
--- response_body_like: "outcome":"ignored"
--- no_error_log
itsm deliver
itsm: connector



=== TEST 19: templates see the store: occurrences and first seen
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"n": "{{ occurrences }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "fired {{ occurrences }} times since {{ first_seen }}", "n": "{{ occurrences }}"}';
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
--- config
    location = /_itsm/mock/ticket { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/ticket; }
    location /_itsm/mock/ticket/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/ticket/;
        proxy_set_header Host itsm.test;
    }
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 181
--- tcp_query eval
qr/^POST \/ticket\/T1\/comment HTTP\/1.0\r\nHost: itsm.test\r\nConnection: close\r\nContent-Length: 57\r\nContent-Type: application\/json\r\n\r\n\{"text":"fired 2 times since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","n":2\}$/
--- tcp_reply eval: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n[]"
--- request eval: ::alerts("db-1", qw(firing firing))
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"commented"/]



=== TEST 20: on_refire reopen comment: a re-fire notes on the ticket, then reopens it; the answer names the reopen
--- http_config eval: ::connector("on_refire reopen window=1h comment;")
--- request eval: ::alerts("db-1", qw(firing resolved firing))
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"resolved"/,
 qr/^\{"status":"reopened","alerts":\[\{"key":"db-1","action":"reopen","outcome":"reopened","connector":"mock","ticket_id":"T\d+"\}\]\}$/]



=== TEST 21: on_refire reopen comment: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+ \w+|itsm deliver body: .*/
--- grep_error_log_out
itsm deliver: create POST
itsm deliver body: {"title":"Disk full"}
itsm deliver: resolve PUT
itsm deliver body: {"Status":"resolved"}
itsm deliver: comment POST
itsm deliver body: {"text":"fired 3 times"}
itsm deliver: reopen PUT
itsm deliver body: {"Status":"open"}



=== TEST 22: config: only a reopen takes "comment"
--- http_config eval: ::connector("on_refire new comment;")
--- must_die
--- error_log eval: qr/invalid parameter "comment": only "on_refire reopen \[window=TIME\] \[comment\];" takes parameters/



=== TEST 23: config: "on_refire reopen comment" needs a comment action
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        on_refire reopen comment;
    }
--- config
--- must_die
--- error_log eval: qr/itsm_connector "mock" \(\S+:\d+\): "on_refire reopen comment" needs the "comment" action/



=== TEST 24: templates read the correlation key ({{ correlation_key }}), the alert's key when the connector has no "key"
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST "/ticket?alias={{ correlation_key }}" 'body={"title": "{{ title }}", "alias": "{{ correlation_key }}", "alert": "{{ key }}"}';
        ticket_id /id;
        key       "{{ resource }}";
    }
    itsm_connector plain {
        location  /_itsm/mock;
        create    POST /ticket 'body={"alias": "{{ correlation_key }}"}';
        ticket_id /id;
    }
--- config eval: $::Mock . '    location = /plain { itsm_pass plain; }'
--- request eval
["POST /alerts\n{\"key\": \"disk\", \"title\": \"Disk full\", \"resource\": \"db 1\"}",
 "POST /plain\n{\"key\": \"disk\", \"title\": \"Disk full\"}"]
--- error_code eval: [201, 201]
--- response_body_like eval: [qr/"key":"db 1","action":"create"/, qr/"key":"disk","action":"create"/]



=== TEST 25: templates read the correlation key: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: create POST "[^"]+|itsm deliver body: .*/
--- grep_error_log_out
itsm deliver: create POST "/_itsm/mock/ticket?alias=db%201
itsm deliver body: {"title":"Disk full","alias":"db 1","alert":"disk"}
itsm deliver: create POST "/_itsm/mock/ticket?
itsm deliver body: {"alias":"disk"}
