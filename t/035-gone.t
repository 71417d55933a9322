# A ticket deleted in the ITSM: every request about it gets 404 (or 410).
# With "on_gone new" the key forgets the ticket and a firing alert opens a
# new one at once; by default the sender is told (502) and the key keeps
# its ticket.  The mock names the ticket it creates after the alert's
# title (?title=...), and knows no ticket called GONE.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Mock = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        if ($arg_title = refused) { return 404 '{"message":"No such queue"}'; }
        return 201 '{"id":"$arg_title"}';
    }
    location ~ ^/mock/ticket/GONE {
        return @GONE@ '{"errorMessages":["Issue does not exist or you do not have permission to see it."]}';
    }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '{"id":"c1"}'; }
    location ~ ^/mock/ticket/[^/]+/transitions$ { return 200 '{"transitions":[{"id":"31","name":"Done"}]}'; }
    location ~ ^/mock/ticket/[^/]+$ { return 200 '{}'; }
    location = /alerts { itsm_pass mock; }
_EOC_

# connector mock: ticket ids from the title, a comment on every repeat,
# resolve with the id its lookup finds; $p: the block's policy and lookups
sub http_config {
    my ($p) = @_;
    return "    itsm_store logs/state.mdb;\n"
         . ItsmConf::connector('mock', create => 'POST "/ticket?title={{ title }}"', body => undef, lines => [
               q{comment POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "again"}'},
               q{resolve PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved", "transition": "{{ lookup }}"}'},
               'on_repeat comment cooldown=0', ItsmConf::directives($p)]);
}
sub config { my ($gone) = @_; (my $c = $Mock) =~ s/\@GONE\@/$gone \/\/ 404/e; $c }

sub alert { my ($title, $status) = @_;
    "POST /alerts\n{\"key\": \"db-1\", \"title\": \"$title\", \"status\": \"" . ($status // "firing") . "\"}" }

sub answer { my ($status, $action, $outcome, $ticket, $reason) = @_;
    my $r = $reason ? qq{,"reason":"$reason"} : '';
    qq{{"status":"$status","alerts":[{"key":"db-1","action":"$action","outcome":"$outcome","connector":"mock","ticket_id":"$ticket"$r}]}\n} }

our $Recreated = 'the ticket no longer existed in the ITSM; a new one was created';

# a block with a connector has the mock ITSM and posts JSON
ItsmConf::defaults(when => 'http_config', config => config(),
                   more_headers => sub { $_[0]->request ? "Content-Type: application/json\n" : undef });
# a block that reads the log of the one before sends a GET, which /alerts
# refuses (405): it makes nginx write what the block checks
ItsmConf::defaults(when => 'grep_error_log', request => "GET /alerts\n", error_code => 405);

no_shuffle();
# on_gone fail: a ticket, then twice the 404 as a 502 and the ticket kept
our $Failed = [qr/"ticket_id":"GONE"/,
               (qr/^\{"error":"itsm_rejected","connector":"mock","action":"comment","itsm_status":404,/) x 2];

run_tests();

__DATA__

=== TEST 1: on_gone new: the comment meets 404, the key forgets the ticket and a new one is created in the same request
--- http_config eval: ::http_config("on_gone new;")
--- request eval: [::alert("GONE"), ::alert("NEW"), ::alert("NEW")]
--- error_code eval: [201, 201, 200]
--- response_body eval
[::answer("created", "create", "created", "GONE"),
 ::answer("created", "create", "created", "NEW", $::Recreated),
 ::answer("commented", "comment", "commented", "NEW")]



=== TEST 2: on_gone new: what the ITSM received, and the warning
--- grep_error_log eval: qr/itsm deliver: \w+ \w+ "[^"]+|ticket "GONE" of key "db-1" no longer exists \([^)]+\); (?:a new ticket is created|the key forgets it)/
--- grep_error_log_out
itsm deliver: create POST "/_itsm/mock/ticket?title=GONE
itsm deliver: comment POST "/_itsm/mock/ticket/GONE/comment?
ticket "GONE" of key "db-1" no longer exists (the ITSM answered 404 to comment); a new ticket is created
itsm deliver: create POST "/_itsm/mock/ticket?title=NEW
itsm deliver: comment POST "/_itsm/mock/ticket/NEW/comment?



=== TEST 3: on_gone new, a resolved alert: nothing left to resolve, the key forgets the ticket; a later resolved alert is ignored, a firing one creates
--- http_config eval: ::http_config("on_gone new;")
--- config eval: ::config(410)
--- request eval: [::alert("GONE"), ::alert("x", "resolved"), ::alert("x", "resolved"), ::alert("NEW")]
--- error_code eval: [201, 200, 200, 201]
--- response_body eval
[::answer("created", "create", "created", "GONE"),
 qq{{"status":"resolved","alerts":[{"key":"db-1","action":"none","outcome":"resolved","connector":"mock","reason":"the ticket no longer exists in the ITSM; the key forgot it"}]}\n},
 qq{{"status":"ignored","alerts":[{"key":"db-1","action":"none","outcome":"ignored","connector":"mock","reason":"the alert is resolved and no ticket is open for its key"}]}\n},
 ::answer("created", "create", "created", "NEW")]



=== TEST 4: by default (on_gone fail) the 404 reaches the sender as a 502 and the key keeps its ticket
--- http_config eval: ::http_config("")
--- request eval: [::alert("GONE"), ::alert("NEW"), ::alert("NEW")]
--- error_code eval: [201, 502, 502]
--- response_body_like eval: $::Failed



=== TEST 5: "on_gone fail" written out is the default: the 404 reaches the sender as a 502 and the key keeps its ticket
--- http_config eval: ::http_config("on_gone fail;")
--- request eval: [::alert("GONE"), ::alert("NEW"), ::alert("NEW")]
--- error_code eval: [201, 502, 502]
--- response_body_like eval: $::Failed



=== TEST 6: a 5xx is not "gone": 503 with Retry-After, the ticket is kept
--- http_config eval: ::http_config("on_gone new;")
--- config eval: ::config(500)
--- request eval: [::alert("GONE"), ::alert("NEW")]
--- error_code eval: [201, 503]
--- response_body_like eval
[qr/"ticket_id":"GONE"/, qr/^\{"error":"itsm_unavailable","connector":"mock","action":"comment","itsm_status":500,/]



=== TEST 7: the new ticket's create is refused too: a 502 for the create, no loop, and the key has no ticket left
--- http_config eval: ::http_config("on_gone new;")
--- request eval: [::alert("GONE"), ::alert("refused"), ::alert("NEW")]
--- error_code eval: [201, 502, 201]
--- response_body eval
[::answer("created", "create", "created", "GONE"),
 qq{{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":404,"itsm_error":"{\\"message\\":\\"No such queue\\"}"}\n},
 ::answer("created", "create", "created", "NEW")]



=== TEST 8: the lookup before the resolve meets the 404: the same
--- http_config eval: ::http_config('on_gone new; lookup resolve GET "/ticket/{{ ticket_id }}/transitions" list=/transitions match=/name want=Done take=/id;')
--- request eval: [::alert("GONE"), ::alert("x", "resolved")]
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"ticket_id":"GONE"/, qr/"outcome":"resolved","connector":"mock","reason":"the ticket no longer exists in the ITSM; the key forgot it"/]



=== TEST 9: the lookup meets the 404: the warning names it
--- grep_error_log eval: qr/no longer exists \([^)]+\); (?:a new ticket is created|the key forgets it)/
--- grep_error_log_out
no longer exists (the ITSM answered 404 to resolve's lookup); the key forgets it



=== TEST 10: config: on_gone takes new or fail
--- http_config eval: ::http_config("on_gone recreate;")
--- config
--- must_die
--- error_log eval: qr/invalid on_gone "recreate"; use new or fail in \S+nginx\.conf:\d+/
