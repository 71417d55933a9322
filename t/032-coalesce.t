# A cooldown coalesces: alerts for an open ticket within the cooldown of its
# last comment change nothing at once; when the cooldown ends the replay
# location sends one comment with the latest state and every distinct note
# held (nothing lost, nothing twice, one comment).
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = <<'_EOC_';
    log_format      mock '$request_method $uri';
    itsm_zone       itsm:1m;
    itsm_store      logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"text": "{{ description }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "{{ description }}", "n": "{{ occurrences }}"}';
        ticket_id /id;
        on_repeat comment cooldown=2s;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { access_log logs/mock.log mock; return 201 '{"id":"T1"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { access_log logs/mock.log mock; return 201 '[]'; }
    location = /alerts { itsm_pass mock; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /status { itsm_status; }
    location = /mocklog { default_type text/plain; alias logs/mock.log; }
_EOC_

# $HttpConfig with an update of the title and on_repeat "update comment";
# resolve => 1: and a resolve
sub update_http {
    my (%o) = @_;
    my $update = q{        update    PUT "/ticket/{{ ticket_id }}" 'body={"title": "{{ title }}"}';} . "\n";
    my $resolve = q{        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}';} . "\n";
    (my $c = $HttpConfig) =~ s/^(        comment )/$update$1/m or die;
    $c =~ s/^(        ticket_id )/$resolve$1/m or die if $o{resolve};
    $c =~ s/on_repeat comment cooldown=2s/on_repeat update comment cooldown=2s/ or die;
    return $c;
}

sub alert { "POST /alerts\n{\"key\": \"db-1\", \"description\": \"$_[0]\"}" }

# a block with a config has the connector of $HttpConfig unless it says
# otherwise; one that reads the log sends a GET, which /alerts refuses
ItsmConf::defaults(http_config => $HttpConfig);
# a block that reads what was delivered waits past the cooldown (2 s) first
ItsmConf::defaults(when => 'grep_error_log', init => "sleep 3.5;\n", request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

# The status page's store object: LMDB's figures, or on Redis
# (ITSM_TEST_STORE=redis) {"backend":"redis",...,"queued":N,"dead_letters":N}:
# the held repeat is the shared queue's job there.

=== TEST 1: a ticket, then two alerts within the cooldown: kept, not sent
--- config eval: $::Config
--- request eval: [::alert("95% used"), ::alert("97% used"), ::alert("99% used")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/"outcome":"cooldown","connector":"mock","ticket_id":"T1","reason":"the ticket was updated within the cooldown; the latest state is sent when it ends"/,
 qr/"outcome":"cooldown"/]



=== TEST 2: when the cooldown ends, one comment with every note held, each once and timed
--- grep_error_log eval: qr/itsm deliver: \w+|itsm deliver body: \{"text":"[^"]*","n":\d+\}|delivering the pending state of key "db-1" \(attempt \d+\)/
--- grep_error_log_out eval
qr/^itsm deliver: create
delivering the pending state of key "db-1" \(attempt 1\)
itsm deliver: comment
itsm deliver body: \{"text":"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] 97% used\\n\\n\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] 99% used","n":3\}
\z/



=== TEST 3: nothing is left pending, and nothing is sent again: the ITSM got one create and one comment in all
--- init
sleep 2.5;
--- request eval: ["GET /status", "GET /mocklog"]
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/"store":\{(?:"keys":1,"open_tickets":1,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,|"backend":"redis",[^}]*"queued":0,"dead_letters":0\})/,
 qr{^POST /mock/ticket\nPOST /mock/ticket/T1/comment\n\z}]
--- no_error_log
delivering the pending state of key "db-1" (attempt 2)
[error]



=== TEST 4: the replay location refuses requests without this nginx's token
--- config eval: $::Config
--- request
POST /_itsm/replay
{"connector": "mock", "key": "db-1"}
--- more_headers
Content-Type: application/json
X-Itsm-Replay-Token: guessed
--- error_code: 403
--- response_body
{"error":"forbidden","message":"the replay location only answers this nginx's own requests"}



=== TEST 5: the ITSM is down when the cooldown ends: kept, and tried again later
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 503 '{"error":"maintenance"}'; }
    location = /alerts { itsm_pass mock; }
    location = /_itsm/replay { itsm_replay; }
    location = /status { itsm_status; }
--- request eval: [::alert("95% used"), ::alert("97% used")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]



=== TEST 6: the failed attempt is logged, its next try is scheduled, and the entry is kept (the status page counts it)
--- init
sleep 3.5;
--- request
GET /status
--- error_code: 200
--- response_body_like: "store":\{(?:"keys":1,"open_tickets":1,"resolved_tickets":0,"claimed":0,"queued":1,"dead_letters":0,|"backend":"redis",[^}]*"queued":1,"dead_letters":0\})
--- error_log eval
[qr/itsm: attempt 1 of 30 failed: connector "mock", key "db-1", action comment, error: the ITSM answered 503: "\{\\"error\\":\\"maintenance\\"\}"; the next in \d+ s$/m,
 qr/connector "mock" comment: the ITSM answered 503/]



=== TEST 7: a cooldown without the replay location is refused at load
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        comment   POST "/ticket/{{ ticket_id }}/comment";
        on_repeat comment cooldown=10m;
    }
--- config
--- must_die
--- error_log eval
qr/itsm_connector "mock" \(\S+nginx\.conf:\d+\): "on_repeat ... cooldown=" sends the latest state of an alert when the cooldown ends, which needs "itsm_store" and "itsm_replay_url" with a location "itsm_replay;" \(see README\)/



=== TEST 8: case notes within a cooldown, with identical repeats among them: kept, none sent yet
--- config eval: $::Config
--- request eval
[::alert("note 1"), ::alert("note 2"), ::alert("note 2"), ::alert("note 3"), ::alert("note 2"), ::alert("note 3")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/]



=== TEST 9: ... when the cooldown ends: one comment with notes 2 and 3, each once, in order; 6 occurrences
--- grep_error_log eval: qr/itsm deliver: \w+|itsm deliver body: \{"text":"[^"]*","n":\d+\}/
--- grep_error_log_out eval
qr/^itsm deliver: create
itsm deliver: comment
itsm deliver body: \{"text":"\[[-0-9T:]+Z\] note 2\\n\\n\[[-0-9T:]+Z\] note 3","n":6\}
\z/



=== TEST 10: "on_repeat update comment": notes held, then a resolve: the resolve goes now, the notes later as a comment of their own
--- http_config eval: ::update_http(resolve => 1)
--- config eval: $::Config . "    location ~ ^/mock/ticket/[^/]+\$ { return 200 '[]'; }\n"
--- request eval
[::alert("case opened"), ::alert("note A"), ::alert("note B"), "POST /alerts\n{\"key\": \"db-1\", \"status\": \"resolved\", \"description\": \"closed\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/, qr/"action":"resolve","outcome":"resolved"/]



=== TEST 11: ... the notes reach the resolved ticket once, as a comment, when they are due
--- grep_error_log eval: qr/itsm deliver: \w+|itsm deliver body: \{[^}]*\}/
--- grep_error_log_out eval
qr/^itsm deliver: create
itsm deliver body: \{"text":"case opened"\}
itsm deliver: resolve
itsm deliver body: \{"status":"resolved"\}
itsm deliver: comment
itsm deliver body: \{"text":"\[[-0-9T:]+Z\] note A\\n\\n\[[-0-9T:]+Z\] note B","n":\d+\}
\z/



=== TEST 12: "on_repeat update comment" when the cooldown ends: the held notes in a comment, then the update with the latest title
--- http_config eval: ::update_http()
--- config eval: $::Config . "    location ~ ^/mock/ticket/[^/]+\$ { return 200 '[]'; }\n"
--- request eval
[::alert("case opened"), "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Sev 2\", \"description\": \"note A\"}", "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Sev 1\", \"description\": \"note B\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"cooldown"/, qr/"outcome":"cooldown"/]



=== TEST 13: ... what the ITSM got
--- grep_error_log eval: qr/itsm deliver: \w+|itsm deliver body: \{[^}]*\}/
--- grep_error_log_out eval
qr/^itsm deliver: create
itsm deliver body: \{"text":"case opened"\}
itsm deliver: comment
itsm deliver body: \{"text":"\[[-0-9T:]+Z\] note A\\n\\n\[[-0-9T:]+Z\] note B","n":3\}
itsm deliver: update
itsm deliver body: \{"title":"Sev 1"\}
\z/



=== TEST 14: "on_repeat comment=note": a repeat comments only a note no comment carried; none, or the same again, is a duplicate; a second note is one more comment, with the note as the comment's text
--- http_config eval: $::HttpConfig =~ s/on_repeat comment cooldown=2s/on_repeat comment=note/r =~ s/"text": "\{\{ description \}\}", "n"/"text": "{{ note }}", "n"/r
--- config eval: $::Config
--- request eval
[map { "POST /alerts\n{\"key\": \"db-9\", \"description\": \"d$_->[0]\"$_->[1]}" }
 [1, ''], [2, ''], [3, ', "note": "n1"'], [4, ', "note": "n1"'], [5, ', "note": "n2"'], [6, ', "note": ""']]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/"outcome":"duplicate","connector":"mock","ticket_id":"T1","reason":"the alert carries no note the ticket lacks"/,
 qr/"action":"comment","outcome":"commented"/, qr/"outcome":"duplicate"/, qr/"action":"comment","outcome":"commented"/, qr/"outcome":"duplicate"/]
--- no_error_log
[error]



=== TEST 15: the ITSM got the create and two comments, nothing else
--- request
GET /mocklog
--- error_code: 200
--- response_body
POST /mock/ticket
POST /mock/ticket/T1/comment
POST /mock/ticket/T1/comment
