# Callback configuration checked by nginx -t (file:line and what to do),
# and a token removed from the connector and nginx reloaded: 401.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmNginx;
use Test::Nginx::Socket;
use Digest::SHA qw(sha256_hex);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks (a reload)');
} else {
    plan('no_plan');
}

master_on();

our $Old = 'itsmcb_config-test-old-token-00000000000000000000';
our $New = 'itsmcb_config-test-new-token-00000000000000000000';
$ENV{TEST_NGINX_CB_OLD} = sha256_hex($Old);
$ENV{TEST_NGINX_CB_NEW} = sha256_hex($New);

# the connector's token lines are in a file the reload reads again
mkdir "$FindBin::Bin/../var";
our $Tokens = "$FindBin::Bin/../var/cb-tokens-$$.conf";
$ENV{TEST_NGINX_CB_TOKENS} = $Tokens;
END { local $?; unlink $Tokens if defined $Tokens }
sub tokens { my @h = @_; open(my $f, '>', $Tokens) or die; print $f "    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_status rt;"
    . join('', map { " callback_token sha256:$_;" } @h) . " }\n"; close $f }

tokens($ENV{TEST_NGINX_CB_OLD}, $ENV{TEST_NGINX_CB_NEW});

# a connector rt with LINES, and the store
sub conn { "    itsm_store logs/state.mdb;\n    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; $_[0] }\n" }

sub cb { qq{POST /cb\n{"ticket": "1", "status": "open", "transaction": "1"}} }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a malformed hash: file:line and what to do
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_token sha256:abc;
    }
--- config
--- must_die
--- error_log
the line "build/itsm-token new rt" prints in



=== TEST 2: 64 characters but one not hex
--- http_config eval
"    itsm_store logs/state.mdb;\n    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_token sha256:" . ("0" x 63) . "g; }\n"
--- config
--- must_die
--- error_log
invalid "callback_token" of itsm_connector "rt"



=== TEST 3: the token itself instead of its hash
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_token itsmcb_abc;
    }
--- config
--- must_die
--- error_log
holds a token itself; write only its hash



=== TEST 4: an unknown lifecycle state names the allowed ones
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_status Done=finished;
    }
--- config
--- must_die
--- error_log
unknown lifecycle state "finished" for status "Done" in "callback_status" of itsm_connector "rt"; the states are: open, acknowledged, resolved, closed, deleted in



=== TEST 4b: "none" is no state a status maps to (callback_status)
--- http_config eval: ::conn('callback_status Done=none;')
--- config
--- must_die
--- error_log
unknown lifecycle state "none" for status "Done" in "callback_status" of itsm_connector "rt"; the states are: open, acknowledged, resolved, closed, deleted in



=== TEST 4c: nor is "note"
--- http_config eval: ::conn('callback_status Done=note;')
--- must_die
--- error_log
unknown lifecycle state "note" for status "Done" in "callback_status" of itsm_connector "rt"



=== TEST 4d: nor a prefix of a state ("resolve")
--- http_config eval: ::conn('callback_status Done=resolve;')
--- must_die
--- error_log
unknown lifecycle state "resolve" for status "Done"



=== TEST 4e: the same token hash twice
--- http_config eval: ::conn(join(' ', map { "callback_token sha256:" . ($_ x 64) . ";" } 0, 1, 0))
--- must_die
--- error_log
"callback_token" of itsm_connector "rt" is given twice; remove one of the lines in



=== TEST 4f: on_ticket none
--- http_config eval: ::conn('') . "    itsm_callback_source am { location /_itsm/am; on_ticket none DELETE /x; }\n"
--- must_die
--- error_log
unknown state "none" in "on_ticket"; the states are open, acknowledged, resolved, closed, deleted, and note



=== TEST 5: a callback location whose connector has no token
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; }
--- config
    location = /cb { itsm_callback rt profile=rt; }
--- must_die
--- error_log
the connector has no "callback_token"; run "build/itsm-token new rt"



=== TEST 6: generic profile: a connector without a status map
--- http_config eval
"    itsm_store logs/state.mdb;\n    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_token sha256:$ENV{TEST_NGINX_CB_OLD}; }\n"
--- config
    location = /cb { itsm_callback rt ticket=/id status=/state; }
--- must_die
--- error_log
the connector maps no ITSM status



=== TEST 6a: callback_signature: an unknown scheme names the schemes
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_signature hubspot secret=x;
    }
--- config
--- must_die
--- error_log
unknown signature scheme "hubspot"



=== TEST 6b: callback_signature pagerduty takes only secrets; twice is refused
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_signature pagerduty secret=a header=X-Other;
    }
--- config
--- must_die
--- error_log
"callback_signature pagerduty" of itsm_connector "rt" takes only secret= (several while rotating), not "header=X-Other"



=== TEST 6c: callback_signature given twice
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}';
        callback_signature jira secret=a;
        callback_signature jira secret=b;
    }
--- config
--- must_die
--- error_log
"callback_signature" is duplicate in itsm_connector "rt"



=== TEST 6d: an unknown profile names the profiles
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_signature jira secret=a; }
--- config
    location = /cb { itsm_callback rt profile=zendesk; }
--- must_die
--- error_log
unknown itsm_callback profile "zendesk"; the profiles are: rt, jira, servicenow, pagerduty, opsgenie, generic



=== TEST 6e: a parameter that is none of the location's is refused ("ticket" without its "=")
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_signature jira secret=a; }
--- config
    location = /cb { itsm_callback rt profile=generic status=/s ticket; }
--- must_die
--- error_log
invalid itsm_callback parameter "ticket"; expected profile=, ticket=, status=, event_id=, order= or note=



=== TEST 6f: each NAME= takes a JSON Pointer: the last one, empty, is refused
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt { location /_itsm/rt; create POST /t 'body={}'; callback_signature jira secret=a; }
--- config
    location = /cb { itsm_callback rt profile=generic ticket=/t status=/s event_id=/e order=/o note=; }
--- must_die
--- error_log
invalid JSON Pointer in "note=" of itsm_callback; write it as "/a/b" (RFC 6901)



=== TEST 7: rotation: both tokens pass
--- http_config
    itsm_store logs/state.mdb;
    include $TEST_NGINX_CB_TOKENS;
--- config
    location = /cb { itsm_callback rt profile=rt; }
--- request eval: [::cb(), ::cb()]
--- more_headers eval: ["Authorization: Bearer $::Old", "Authorization: Bearer $::New"]
--- error_code eval: [200, 200]



=== TEST 8: the old token removed and nginx reloaded: 401 for it, 200 for the new
--- init
::tokens($ENV{TEST_NGINX_CB_NEW});
ItsmNginx::reload();
--- request eval: [::cb(), ::cb()]
--- more_headers eval: ["Authorization: Bearer $::Old", "Authorization: Bearer $::New"]
--- error_code eval: [401, 200]
