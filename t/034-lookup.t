# A lookup: a GET before an action, for a value only the ITSM knows (the
# id of Jira's "Done" transition, which differs per workflow).  The mock
# answers GET /issue/{id}/transitions with a list like Jira's; each test
# reads from the debug log which requests the module sent, and with which
# body, and from the answer what the sender was told.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Transitions = '{"expand":"transitions","transitions":['
    . '{"id":"11","name":"To Do","to":{"name":"To Do","statusCategory":{"key":"new"}}},'
    . '{"id":"21","name":"Start Progress","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}},'
    . '{"id":"31","name":"Resolve Issue","to":{"name":"Done","statusCategory":{"key":"done"}}},'
    . '{"id":"41","name":"Close","to":{"name":"Closed","statusCategory":{"key":"done"}}}]}';

# the mock: a create answers {"key":"OPS-17"}; the transitions
# answer is set per test (@LIST@ and @STATUS@)
our $Mock = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/issue { return 201 '{"id":"10000","key":"OPS-17"}'; }
    location ~ ^/mock/issue/[^/]+/transitions$ {
        if ($request_method = GET) { return @STATUS@ '@LIST@'; }
        return 204;
    }
    location ~ ^/mock/issue/[^/]+$ { return 200 '{"key":"OPS-17","fields":{"status":{"id":"10001","name":"In Progress"}}}'; }
    location = /alerts { itsm_pass mock; }
_EOC_

# connector mock: Jira's transitions for resolve and reopen, each with
# the id its lookup finds; $lookup: the lookup directives of the block
sub http_config {
    my ($lookup) = @_;
    return "    itsm_store logs/state.mdb;\n"
         . ItsmConf::connector('mock', create => 'POST /issue', ticket_id => '/key', lines => [
               q{resolve POST "/issue/{{ ticket_id }}/transitions" 'body={"transition": {"id": "{{ lookup }}"}, "fields": {"resolution": {"name": "Done"}}}'},
               q{reopen POST "/issue/{{ ticket_id }}/transitions" 'body={"transition": {"id": "{{ lookup }}"}}'},
               ItsmConf::directives($lookup)]);
}

sub config {
    my ($list, $status) = @_;
    (my $c = $Mock) =~ s/\@LIST\@/$list/;
    $status //= 200;
    $c =~ s/\@STATUS\@/$status/;
    return $c;
}

our $Lookup = 'lookup resolve GET "/issue/{{ ticket_id }}/transitions" list=/transitions match=/name|/to/name';

sub alert { my ($status) = @_;
    "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Disk full\", \"status\": \"$status\"}" }

# what the module sent, from its debug log
our $Sent = qr/itsm deliver: \w+(?: lookup)? \w+ "[^"?]+|itsm deliver body: .*/;

# a block of its own after a multi-request block: the error-log checks of a
# block run after each of its requests, on what that request logged
sub follow_up { "GET /alerts" }

# a block that reads the log of the one before sends a GET, which /alerts
# refuses (405): it makes nginx write what the block checks
ItsmConf::defaults(when => 'grep_error_log', request => "GET /alerts\n", error_code => 405);
# and one that posts alerts to a config of its own posts JSON
ItsmConf::defaults(when => 'config', more_headers => sub { $_[0]->request ? "Content-Type: application/json\n" : undef });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: resolve by name: the transitions are read, the one named "Resolve Issue" is posted with its id
--- http_config eval: ::http_config("$::Lookup \"want=Resolve Issue\" take=/id;")
--- config eval: ::config($::Transitions)
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 200]
--- response_body eval
['{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"OPS-17"}]}
', '{"status":"resolved","alerts":[{"key":"db-1","action":"resolve","outcome":"resolved","connector":"mock","ticket_id":"OPS-17"}]}
']
--- no_error_log
[error]



=== TEST 2: resolve by name: what the ITSM received
--- grep_error_log eval: $::Sent
--- grep_error_log_out
itsm deliver: create POST "/_itsm/mock/issue
itsm deliver body: {"title":"Disk full"}
itsm deliver: resolve lookup GET "/_itsm/mock/issue/OPS-17/transitions
itsm deliver body: 
itsm deliver: resolve POST "/_itsm/mock/issue/OPS-17/transitions
itsm deliver body: {"transition":{"id":"31"},"fields":{"resolution":{"name":"Done"}}}



=== TEST 3: the name of the target status, in any case, and the first wanted name wins wherever it is in the list
--- http_config eval: ::http_config("$::Lookup want=closed|DONE take=/id;")
--- config eval: ::config($::Transitions)
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"resolved"/]
--- no_error_log
[error]



=== TEST 4: the first wanted name wins: what the ITSM received
--- grep_error_log eval: qr/itsm deliver body: \{"transition".*/
--- grep_error_log_out
itsm deliver body: {"transition":{"id":"41"},"fields":{"resolution":{"name":"Done"}}}



=== TEST 5: no transition has the name: 502 naming what the ITSM offers, nothing is posted, the ticket stays open
--- http_config eval: ::http_config("$::Lookup want=Resolved take=/id;")
--- config eval: ::config($::Transitions)
--- request eval: [::alert("firing"), ::alert("resolved"), ::alert("firing")]
--- error_code eval: [201, 502, 200]
--- response_body eval
[qr/"outcome":"created"/,
 '{"error":"itsm_lookup_failed","message":"connector \"mock\" could not resolve ticket \"OPS-17\": the ITSM answered 200 to the lookup, but no element of \"/transitions\" has \"/name\" or \"/to/name\" equal to \"Resolved\"; the ITSM offers: \"To Do\", \"Start Progress\", \"Resolve Issue\", \"Close\""}
',
 qr/"action":"none","outcome":"duplicate","connector":"mock","ticket_id":"OPS-17","reason":"a ticket is already open for this key"/]



=== TEST 6: no transition has the name: what the ITSM received, and the log
--- grep_error_log eval: qr/itsm deliver: \w+(?: lookup)? \w+|the lookup of ticket "OPS-17" failed: [^,]+/
--- grep_error_log_out
itsm deliver: create POST
itsm deliver: resolve lookup GET
the lookup of ticket "OPS-17" failed: no element of "/transitions" has "/name" or "/to/name" equal to "Resolved"; the ITSM offers: "To Do"



=== TEST 7: missing=skip: no such transition means the ticket needs none (closed by hand); it counts as resolved
--- http_config eval: ::http_config("$::Lookup want=Resolved take=/id missing=skip;")
--- config eval: ::config('{"transitions":[{"id":"11","name":"Reopen","to":{"name":"To Do"}}]}')
--- request eval: [::alert("firing"), ::alert("resolved"), ::alert("resolved")]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/^\{"status":"resolved","alerts":\[\{"key":"db-1","action":"resolve","outcome":"resolved","connector":"mock","ticket_id":"OPS-17"\}\]\}$/,
 qr/"outcome":"duplicate",.*"reason":"the ticket is already resolved"/]
--- no_error_log
[error]



=== TEST 8: missing=skip: what the ITSM received, and the log
--- grep_error_log eval: qr/itsm deliver: \w+(?: lookup)? \w+|skips resolve of ticket "OPS-17": [^,]+"Reopen"/
--- grep_error_log_out
itsm deliver: create POST
itsm deliver: resolve lookup GET
skips resolve of ticket "OPS-17": no element of "/transitions" has "/name" or "/to/name" equal to "Resolved"; the ITSM offers: "Reopen"



=== TEST 9: the lookup is refused (404): 502 with the ITSM's text, as for any refused action, and nothing is posted
--- http_config eval: ::http_config("$::Lookup want=Done take=/id;")
--- config eval: ::config('{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}', 404)
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 502]
--- response_body eval
[qr/"outcome":"created"/,
 '{"error":"itsm_rejected","connector":"mock","action":"resolve","itsm_status":404,"itsm_error":"{\"errorMessages\":[\"Issue does not exist or you do not have permission to see it.\"],\"errors\":{}}"}
']



=== TEST 10: the lookup is refused: what the ITSM received
--- grep_error_log eval: qr/itsm deliver: \w+(?: lookup)? \w+/
--- grep_error_log_out
itsm deliver: create POST
itsm deliver: resolve lookup GET



=== TEST 11: the lookup meets an overloaded ITSM (503): 503 with Retry-After, so the sender retries
--- http_config eval: ::http_config("$::Lookup want=Done take=/id;")
--- config eval: ::config('{"message":"busy"}', 503)
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 503]
--- response_headers eval: ["", "Retry-After: 30"]
--- response_body_like eval
[qr/"outcome":"created"/, qr/^\{"error":"itsm_unavailable","connector":"mock","action":"resolve","itsm_status":503,/]



=== TEST 12: an answer that is not JSON: 502 saying so
--- http_config eval: ::http_config("$::Lookup want=Done take=/id;")
--- config eval: ::config('<html>maintenance</html>')
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 502]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/^\{"error":"itsm_lookup_failed","message":"connector \\"mock\\" could not resolve ticket \\"OPS-17\\": the ITSM answered 200 to the lookup, but the answer is not JSON \(/]



=== TEST 13: the list is not where the lookup reads it
--- http_config eval: ::http_config("$::Lookup want=Done take=/id;")
--- config eval: ::config('{"values":[]}')
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 502]
--- response_body_like eval: [qr/"outcome":"created"/, qr/but the answer has no list at \\"\/transitions\\""\}$/]



=== TEST 14: the element found has no value where "take" points
--- http_config eval: ::http_config("$::Lookup want=Done take=/transitionId;")
--- config eval: ::config($::Transitions)
--- request eval: [::alert("firing"), ::alert("resolved")]
--- error_code eval: [201, 502]
--- response_body_like eval: [qr/"outcome":"created"/, qr/but the answer has no value at \\"\/transitionId\\" of the element found"\}$/]



=== TEST 15: a lookup without a list takes one value of the answer; the reopen has its own lookup
--- http_config eval: ::http_config('lookup resolve GET "/issue/{{ ticket_id }}" take=/fields/status/id; lookup reopen GET "/issue/{{ ticket_id }}/transitions" list=/transitions match=/name "want=To Do" take=/id;')
--- config eval: ::config($::Transitions)
--- request eval: [::alert("firing"), ::alert("resolved"), ::alert("firing")]
--- error_code eval: [201, 200, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"resolved"/, qr/"action":"reopen","outcome":"reopened"/]
--- no_error_log
[error]



=== TEST 16: a lookup without a list: what the ITSM received
--- grep_error_log eval: $::Sent
--- grep_error_log_out
itsm deliver: create POST "/_itsm/mock/issue
itsm deliver body: {"title":"Disk full"}
itsm deliver: resolve lookup GET "/_itsm/mock/issue/OPS-17
itsm deliver body: 
itsm deliver: resolve POST "/_itsm/mock/issue/OPS-17/transitions
itsm deliver body: {"transition":{"id":"10001"},"fields":{"resolution":{"name":"Done"}}}
itsm deliver: reopen lookup GET "/_itsm/mock/issue/OPS-17/transitions
itsm deliver body: 
itsm deliver: reopen POST "/_itsm/mock/issue/OPS-17/transitions
itsm deliver body: {"transition":{"id":"11"}}



=== TEST 17: config: a lookup for an action the connector does not have
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup resolve GET "/issue/{{ ticket_id }}/transitions" list=/transitions match=/name want=Done take=/id;
    }
--- config
--- must_die
--- error_log eval
qr/itsm_connector "mock" has "lookup resolve" but no "resolve" action in \S+nginx\.conf:\d+; a lookup reads a value for its action: declare the action or remove the lookup/



=== TEST 18: config: a lookup only reads
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create POST /issue take=/id;
    }
--- config
--- must_die
--- error_log eval: qr/invalid method "POST" in "lookup create": a lookup only reads, use GET in \S+nginx\.conf:\d+/



=== TEST 19: config: no take=
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create GET /projects list=/values match=/key want=OPS;
    }
--- config
--- must_die
--- error_log eval
qr/"lookup create" has no "take=": name the value the action needs with a JSON Pointer, e.g. take=\/id in \S+nginx\.conf:\d+/



=== TEST 20: config: list= without want=
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create GET /projects list=/values match=/key take=/id;
    }
--- config
--- must_die
--- error_log eval: qr/"lookup create" needs "list=", "match=" and "want=" together \(or none of them\)/



=== TEST 21: config: a pointer that is not one, an unknown parameter, an unknown action, missing=skip without a list
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create GET /projects list=values match=/key want=OPS take=/id;
    }
--- config
--- must_die
--- error_log eval: qr/invalid JSON Pointer "values" in "lookup": it must start with "\/" \(RFC 6901\)/



=== TEST 22: config: an unknown parameter
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create GET /projects take=/id pick=first;
    }
--- config
--- must_die
--- error_log eval: qr/invalid parameter "pick=first" in "lookup"; expected list=, match=, want=, take= or missing=fail\|skip/



=== TEST 23: config: an unknown action
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup close GET /projects take=/id;
    }
--- config
--- must_die
--- error_log eval: qr/invalid action "close" in "lookup"; use one of create, update, comment, resolve, reopen/



=== TEST 24: config: missing=skip without a list
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /issue 'body={"title": "{{ title }}"}';
        lookup create GET /projects take=/id missing=skip;
    }
--- config
--- must_die
--- error_log eval: qr/"missing=skip" in "lookup create" needs "list=": only a choice in a list can be missing/
