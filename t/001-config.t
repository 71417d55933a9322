# Every misuse of the module's directives fails at load ("nginx -t"), with
# the file and line and a hint of what to do.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmBlocks;

# each of the module's content handlers with what it needs in http{}: in a
# location with proxy_pass it must fail at load, naming the directive
our @Handlers = ([itsm_status => 'itsm_zone itsm:1m;'], [itsm_history => 'itsm_delivery_log logs/history.log;'],
                 [itsm_replay => 'itsm_store logs/state.mdb;'], [itsm_requeue => 'itsm_store logs/state.mdb;'],
                 [itsm_connectors => undef]);

ItsmBlocks::expand(beside_proxy_pass => join '', map {
    my ($d, $http) = @$_;
    "=== TEST #: $d and proxy_pass in one location: refused, as each of the module's locations answers on its own\n"
    . (defined $http ? "--- http_config\n    $http\n" : '')
    . "--- config\n    location = /x { proxy_pass http://127.0.0.1:1; $d; }\n"
    . "--- must_die\n"
    . "--- error_log eval: qr/\"$d\" directive cannot be combined with another content handler in \\S+nginx\\.conf:\\d+/\n\n\n\n"
} @Handlers);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a complete, valid configuration loads
--- http_config
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /ticket 'body={"title": "{{ title }}"}';
        header     X-Key "{{ key }}";
        ticket_id  /id;
        max_response 64k;
    }
--- config
    location /_itsm/mock/ { internal; return 201 '{"id":"1"}'; }
    location = /alerts { itsm_pass mock; itsm_source generic; itsm_field title /summary; }
--- request
GET /alerts
--- error_code: 405
--- no_error_log
[emerg]



=== TEST 2: itsm_pass names a connector that does not exist
--- config
    location = /alerts { itsm_pass nope; }
--- must_die
--- error_log eval: qr/itsm_pass: unknown connector "nope" in \S+nginx\.conf:\d+; declare it with "itsm_connector nope \{ ... \}"/



=== TEST 3: a connector without a location
--- http_config
    itsm_connector mock {
        create POST /ticket;
    }
--- config
--- must_die
--- error_log eval: qr/itsm_connector "mock" has no "location" in \S+nginx\.conf:\d+; add the prefix of the internal location/



=== TEST 4: a connector without a create action
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
    }
--- config
--- must_die
--- error_log eval: qr/itsm_connector "mock" has no "create" action in \S+nginx\.conf:\d+/



=== TEST 5: an inline body template that is not JSON
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket 'body={"title": {{ title }}}';
    }
--- config
--- must_die
--- error_log eval: qr/invalid JSON in body template "inline body": .* \(template line 1, column \d+\) in \S+nginx\.conf:\d+/



=== TEST 6: a placeholder that names nothing
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket 'body={"title": "{{ titel }}"}';
    }
--- config
--- must_die
--- error_log eval
qr/unknown name "titel" in template .*; use an alert field \(key, source, status, severity, title, description, resource, severity_raw, group_key, starts_at, ends_at, link, configuration_items, target_ids, external_url, note\), ticket_id, occurrences, first_seen, last_seen, lookup, correlation_key, \$variable or a \/json\/pointer in \S+nginx\.conf:\d+/



=== TEST 7: a body template file that does not exist
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket body=templates/missing.json;
    }
--- config
--- must_die
--- error_log eval
qr/cannot open body template "\S+templates\/missing\.json" \(2: No such file or directory\)|cannot open body template "\S+templates\/missing\.json"; paths are relative to the nginx configuration directory/



=== TEST 8: an unterminated placeholder in the path
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST "/ticket/{{key";
    }
--- config
--- must_die
--- error_log eval: qr/unterminated "\{\{" in template "\/ticket\/\{\{key" in \S+nginx\.conf:\d+/



=== TEST 9: a method nginx cannot send
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create post /ticket;
    }
--- config
--- must_die
--- error_log eval
qr/invalid method "post" for action "create"; use one of GET, POST, PUT, PATCH, DELETE \(upper case\) in \S+nginx\.conf:\d+/



=== TEST 10: an unknown line inside a connector
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
        proxy_pass http://127.0.0.1;
    }
--- config
--- must_die
--- error_log eval
qr/unknown directive "proxy_pass" in itsm_connector "mock"; expected one of: location, create, update, comment, resolve, reopen, lookup, find, header, ticket_id, max_response, key, on_repeat, on_resolve, on_refire, on_gone, callback_token, callback_status, callback_signature, owner, description, events, limit, verify, mail, answer_ok in \S+nginx\.conf:\d+/



=== TEST 11: an unknown alert source
--- config
    location = /alerts { itsm_source nagios; }
--- must_die
--- error_log eval: qr/unknown alert source "nagios"; supported: generic.* in \S+nginx\.conf:\d+/



=== TEST 12: a field mapping that is not a JSON Pointer
--- config
    location = /alerts { itsm_field title summary; }
--- must_die
--- error_log eval
qr/invalid JSON Pointer "summary": it must be empty or start with "\/" \(RFC 6901\), e.g. \/labels\/alertname in \S+nginx\.conf:\d+/



=== TEST 13: itsm_pass and proxy_pass in one location
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
    }
--- config
    location = /alerts { proxy_pass http://127.0.0.1:1; itsm_pass mock; }
--- must_die
--- error_log eval: qr/"itsm_pass" cannot be combined with another content handler .* in \S+nginx\.conf:\d+/



=== TEST 14: two connectors with one name
--- http_config
    itsm_connector mock { location /_itsm/a; create POST /ticket; }
    itsm_connector mock { location /_itsm/b; create POST /ticket; }
--- config
--- must_die
--- error_log eval: qr/itsm connector "mock" is already declared; connector names must be unique in \S+nginx\.conf:\d+/



=== TEST 15: a body on a GET action
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create GET /ticket 'body={"a": 1}';
    }
--- config
--- must_die
--- error_log eval
qr/action "create" uses GET, which sends no body; remove "body=" or use POST, PUT or PATCH in \S+nginx\.conf:\d+/



=== TEST 16: a ticket id that is not a JSON Pointer
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
        ticket_id id;
    }
--- config
--- must_die
--- error_log eval
qr/invalid JSON Pointer "id" in "ticket_id": it must start with "\/" \(RFC 6901\), e.g. \/id or \/result\/sys_id in \S+nginx\.conf:\d+/



=== TEST 17: a nesting limit out of range
--- config
    location = /alerts { itsm_max_depth 0; }
--- must_die
--- error_log eval: qr/"itsm_max_depth" directive must be between 1 and 1024 in \S+nginx\.conf:\d+/



=== TEST 18: itsm_connector inside a server block
--- config
    itsm_connector mock { location /_itsm/a; create POST /ticket; }
--- must_die
--- error_log eval: qr/"itsm_connector" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 19: a header name with a space
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
        header "X Key" "{{ key }}";
    }
--- config
--- must_die
--- error_log eval: qr/invalid header name "X Key": use letters, digits and "-" only in \S+nginx\.conf:\d+/



=== TEST 20: a connector location that is not a URI prefix
--- http_config
    itsm_connector mock {
        location _itsm/mock;
        create POST /ticket;
    }
--- config
--- must_die
--- error_log eval
qr/connector location "_itsm\/mock" must be a URI prefix starting with "\/", e.g. \/_itsm\/mock in \S+nginx\.conf:\d+/



=== TEST 21: a policy that needs an action the connector does not declare
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        on_repeat comment cooldown=10m;
    }
--- config
--- must_die
--- error_log eval
qr/itsm_connector "mock" \(\S+nginx\.conf:\d+\): "on_repeat" needs the "comment" action; declare it, e.g. "comment POST \/ticket\/\{\{ ticket_id \}\}\/comment body=...;"/



=== TEST 22: an unknown policy value and a bad cooldown
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        on_repeat comment cooldown=soon;
    }
--- config
--- must_die
--- error_log eval: qr/invalid time "soon" in "cooldown=soon"; e.g. 10m or 1h in \S+nginx\.conf:\d+/



=== TEST 23: a store in a directory that does not exist
--- skip_redis: LMDB's own itsm_store arguments (a path, a file, size=)
--- http_config
    itsm_store /nonexistent/dir/state.mdb;
--- config
--- must_die
--- error_log eval
qr/itsm_store: the directory "\/nonexistent\/dir" of "\/nonexistent\/dir\/state.mdb" does not exist \(in \S+nginx\.conf:\d+\); create it, owned by the user the nginx workers run as/



=== TEST 24: a store file that is not a store
--- skip_redis: LMDB's own itsm_store arguments (a path, a file, size=)
--- http_config
    itsm_store html/not-a-store.mdb;
--- config
--- user_files
>>> not-a-store.mdb
this is not an LMDB file, just text that happens to be here
--- must_die
--- error_log eval
qr/itsm_store: "\S+not-a-store.mdb" cannot be opened: .* \(in \S+nginx\.conf:\d+\); if it is not an itsm store, choose another path/



=== TEST 25: on_resolve with a parameter it does not take
--- http_config
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /ticket;
        comment    POST "/ticket/{{ ticket_id }}/comment";
        on_resolve comment resolve;
    }
--- config
--- must_die
--- error_log eval: qr/invalid parameter "resolve": only "on_resolve resolve comment;" takes one in \S+nginx\.conf:\d+/



=== TEST 26: "comment=note" (a comment only for a new note) after "on_repeat update" or alone, never after another policy
--- http_config
    itsm_connector mock { location /_itsm/mock; create POST /ticket; comment POST "/ticket/{{ ticket_id }}/comment"; on_repeat nothing comment=note; }
--- config
--- must_die
--- error_log eval: qr/invalid parameter "comment=note": only "on_repeat update comment=note;" takes it in \S+nginx\.conf:\d+/



=== TEST 27: a prefix of a method ("POS") is refused
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POS /ticket;
    }
--- config
--- must_die
--- error_log eval
qr/invalid method "POS" for action "create"; use one of GET, POST, PUT, PATCH, DELETE \(upper case\) in \S+nginx\.conf:\d+/



=== TEST 28: a prefix of a signature scheme ("git")
--- http_config
    itsm_connector mock { location /_itsm/mock; create POST /ticket; }
--- config
    location = /a { itsm_signature git secret=k; itsm_pass mock; }
--- must_die
--- error_log eval
qr/unknown signature scheme "git"; one of: standard_webhooks, github, jira, slack, stripe, grafana, generic in \S+nginx\.conf:\d+/



%%% beside_proxy_pass
=== TEST 34: max_response under 1k is refused
--- http_config
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
        max_response 1023;
    }
--- config
    location = /alerts { itsm_pass mock; }
--- must_die
--- error_log eval: qr/invalid max_response "1023": use a size of at least 1k, e\.g\. 1m in \S+nginx\.conf:\d+/



=== TEST 35: a store size under 1m is refused
--- skip_redis: LMDB's own itsm_store arguments (a path, a file, size=)
--- http_config
    itsm_store logs/state.mdb size=1023k;
--- config
--- must_die
--- error_log eval: qr/invalid itsm_store size "1023k": use at least 1m, e\.g\. size=64m in \S+nginx\.conf:\d+/



=== TEST 36: max_response 1k and a store of size=1m load
--- http_config
    itsm_store logs/state.mdb size=1m;
    itsm_connector mock {
        location /_itsm/mock;
        create POST /ticket;
        max_response 1k;
    }
--- config
    location /_itsm/mock/ { internal; return 201 '{"id":"1"}'; }
    location = /alerts { itsm_pass mock; }
--- request
GET /alerts
--- error_code: 405
--- no_error_log
[emerg]
