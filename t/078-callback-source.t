# Back to the source (itsm_callback_source): a callback that changes what
# the ITSM says of a ticket runs the source's on_ticket action, after the
# callback's answer, through a location that proxies to the source.  The
# source here is a mock that logs what it got (method, URI, Authorization,
# Content-Type, body: GET /srclog) and answers like Alertmanager's API v2
# (POST /api/v2/silences -> {"silenceID": ...}; DELETE
# /api/v2/silence/{id}); t/079 runs the shipped presets, and
# t/447 the real Alertmanager.
#
# The alert is Alertmanager's webhook payload (itsm_source alertmanager):
# title DiskFull (the ticket id the mock ITSM gives), key f1 (the
# fingerprint).  Callbacks are what RT's scrip posts (profile rt): stalled
# is acknowledged, resolved resolved, rejected closed, open open, deleted
# deleted.
#
# The client's connection closes when the request ends (Test::Nginx sends
# "Connection: close"), after the way back: so the next request of a block
# sees what the source got.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmCallback;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

our $Tok = 'itsmcb_test-token-of-the-source-test-000000000000';
$ENV{TEST_NGINX_CB_TOK} = sha256_hex($Tok);

our $Locations;
our $Time = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/;

# the connector, its way back, and what answers for the source
sub http { my (%o) = @_;
    $o{retention} = $o{retention} ? " retention=$o{retention}" : '';
    my $policy = $o{policy} // '';
    my $silences = $o{silences} // q{return 200 '{"silenceID":"s-1"}';};
    my $silence = $o{silence} // q{return 200 '';};
    my $src = $o{src} // 'proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src/;';
    my $on = $o{on} // <<'_EOC_';
        on_ticket  acknowledged  POST /api/v2/silences 'body={"matchers": "{{ /matchers }}", "startsAt": "{{ /callback/time }}", "endsAt": "{{ /callback/expires }}", "createdBy": "itsm", "comment": "{{ /callback/connector }} ticket {{ ticket_id }}: {{ /callback/status }} ({{ title }}, {{ /labels/instance }})"}' remember=/silenceID;
        on_ticket  open,resolved,closed,deleted  DELETE "/api/v2/silence/{{ /remembered }}" forget;
_EOC_
    $::Locations = <<"_EOC_";
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"\$arg_id"}'; }
    location /mock/ { return 200 '{}'; }
    location /_itsm/src/ { internal; proxy_ignore_client_abort on; $src }
    location /src/ { client_body_buffer_size 64k; access_log logs/src.log itsm_src; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/srcans/; }
    location = /srcans/api/v2/silences { $silences }
    location /srcans/api/v2/silence/ { $silence }
    location = /srclog { alias logs/src.log; }
    location = /errlog { alias logs/cb.log; }
    location = /alerts { itsm_source alertmanager; itsm_pass mock; }
    location = /cb { error_log logs/cb.log info; itsm_callback mock profile=rt; }
    location = /status { itsm_status; }
_EOC_
    return <<"_EOC_" . ItsmCallback::mock(resolve => 1, retention => $o{retention}, lines => [$policy]) . <<"_EOC_";
    log_format itsm_src escape=none '\$request_method \$request_uri "\$http_authorization" \$http_content_type \$request_body';
_EOC_
    itsm_callback_source am {
        callbacks_of  mock;
        location      /_itsm/src;
        header        Authorization "Bearer src-token";
$on
    }
_EOC_
}

sub alert { my ($status, $starts, $more) = @_; $status //= 'firing'; $starts //= '2026-01-01T00:00:00Z';
    $more = $more ? ',' . join(',', map { sprintf '"l%02d":"v%d"', $_, $_ } 1 .. $more) : '';
    qq{POST /alerts\n{"version":"4","status":"$status","receiver":"itsm","groupKey":"g","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am.test:9093","alerts":[{"status":"$status","labels":{"severity":"critical","alertname":"DiskFull","instance":"db-1:9100"$more},"annotations":{"summary":"disk full"},"startsAt":"$starts","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom.test/g","fingerprint":"f1"}]}} }

sub cb { my ($status, $txn) = @_;
    qq{POST /cb\n{"ticket": "DiskFull", "old_status": "open", "status": "$status", "transaction": "$txn"}} }

sub applied { my ($status, $state, $key_state) = @_;
    qq{{"outcome":"applied","ticket":"DiskFull","key":"f1","status":"$status","state":"$state","key_state":"$key_state"}\n} }

our $Matchers = '[{"name":"alertname","value":"DiskFull","isRegex":false,"isEqual":true},{"name":"instance","value":"db-1:9100","isRegex":false,"isEqual":true},{"name":"severity","value":"critical","isRegex":false,"isEqual":true}]';

# the matchers of the alert with $n more labels l01..l$n, sorted
sub matchers { my ($n) = @_;
    my %l = (alertname => 'DiskFull', instance => 'db-1:9100', severity => 'critical', map { (sprintf('l%02d', $_), "v$_") } 1 .. $n);
    '[' . join(',', map { qq{{"name":"$_","value":"$l{$_}","isRegex":false,"isEqual":true}} } sort keys %l) . ']' }

sub post { my ($status) = @_; $status //= 'stalled';
    qr/POST \/src\/api\/v2\/silences "Bearer src-token" application\/json \{"matchers":\Q$::Matchers\E,"startsAt":"($::Time)","endsAt":"($::Time)","createdBy":"itsm","comment":"mock ticket DiskFull: \Q$status\E \(DiskFull, db-1:9100\)"\}\n/ }
sub del { my ($id) = @_; $id //= 's-1';
    qr/DELETE \/src\/api\/v2\/silence\/\Q$id\E "Bearer src-token"  \n/ }

# what the way back logged (GET /errlog: the callback location's own error
# log), in this order, and no line of it after these
sub logged { my $re = join '', map { '.*?' . quotemeta(qq{itsm callback source "am": $_}) } map { @$_ } @_;
    qr/\A$re(?!.*itsm callback source "am": (?:ticket|the source))/s }

ItsmCallback::bearer_blocks($::Tok);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: acknowledged: the ITSM gets its answer, then the source a silence of the alert's labels (sorted matchers, its times, the connector's header)
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), "GET /srclog", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"mock","ticket_id":"DiskFull"/, qr/^\Q${\ ::applied("stalled", "acknowledged", "open")}\E$/, qr/^${\ ::post()}$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 200'], [])]
--- no_error_log
[error]



=== TEST 2: resolved: the kept silence is expired (DELETE with its id); closed next: nothing is kept, nothing is sent
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), ::cb("rejected", 12), "GET /srclog", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/"state":"acknowledged"/, qr/^\Q${\ ::applied("resolved", "resolved", "resolved")}\E$/, qr/"state":"closed"/, qr/^${\ ::post()}${\ ::del()}$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 200'], ['ticket "DiskFull" key "f1" resolved: DELETE answered 200'], ['ticket "DiskFull" key "f1" closed: skipped, nothing is kept to undo'], [])]
--- no_error_log
[error]



=== TEST 3: a callback that changes nothing (the same event again, an older one, an unmapped status) goes nowhere
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("stalled", 10), ::cb("resolved", 9), ::cb("weird", 11), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/"outcome":"applied"/, qr/"outcome":"duplicate"/, qr/"outcome":"stale"/, qr/"outcome":"unmapped"/, qr/^${\ ::post()}$/]



=== TEST 4: the source refuses (429, Retry-After): the ITSM still gets its 200, the log has the source's own words, the status page counts it; nothing is kept, so the resolve sends nothing
--- http_config eval: ::http(silences => q{add_header Retry-After 30 always; return 429 '{"code":429,"message":"rate limited"}';})
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), "GET /status", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/^\Q${\ ::applied("stalled", "acknowledged", "open")}\E$/, qr/"outcome":"applied"/, qr/"callback_sources":\{"sent":0,"skipped":1,"no_alert":0,"failed":1\}/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 429: "{"code":429,"message":"rate limited"}"', 'the source asks to wait 30 s; the next change of ticket "DiskFull" tries again'], ['ticket "DiskFull" key "f1" resolved: skipped, nothing is kept to undo'], [])]



=== TEST 5: the source cannot be reached: 502, no answer, logged; the ITSM's answer is the same
--- http_config eval: ::http(src => 'proxy_pass http://127.0.0.1:1/;')
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), "GET /errlog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/./, qr/^\Q${\ ::applied("stalled", "acknowledged", "open")}\E$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 502 (no answer)'])]



=== TEST 6: a kept value of 256 bytes is kept (and sent back to undo it)
--- http_config eval: ::http(silences => q#return 200 '{"silenceID":"# . ('a' x 256) . q#"}';#)
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/./, qr/^${\ ::post()}${\ ::del('a' x 256)}$/]
--- no_error_log
[error]



=== TEST 7: one of 257 bytes is not: logged, nothing to undo later
--- http_config eval: ::http(silences => q#return 200 '{"silenceID":"# . ('a' x 257) . q#"}';#)
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), "GET /srclog", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/./, qr/^${\ ::post()}$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 200, but without a value of 1 to 256 bytes at "/silenceID": nothing to undo later'], ['ticket "DiskFull" key "f1" resolved: skipped, nothing is kept to undo'], [])]



=== TEST 8: a 2xx without the value, or not JSON: the same
--- http_config eval: ::http(silences => q{return 200 'not json';})
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), "GET /srclog", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/./, qr/^${\ ::post()}$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 200, but without a value of 1 to 256 bytes at "/silenceID": nothing to undo later'], ['ticket "DiskFull" key "f1" resolved: skipped, nothing is kept to undo'], [])]



=== TEST 9: what is undone answers 404 (gone already): forgotten all the same, so the next acknowledgement makes a new silence
--- http_config eval: ::http(silence => q{return 404 '{"message":"silence not found"}';})
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("open", 11), ::cb("stalled", 12), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/"state":"open"/, qr/"state":"acknowledged"/, qr/^${\ ::post()}${\ ::del()}${\ ::post()}$/]
--- no_error_log
[error]



=== TEST 10: what is undone fails (500): still kept, so the next acknowledgement adds no second silence
--- http_config eval: ::http(silence => q{return 500 'internal';})
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), ::cb("stalled", 12), ::cb("resolved", 13), "GET /srclog", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/./, qr/./, qr/./, qr/^${\ ::post()}${\ ::del()}${\ ::del()}$/, ::logged([], ['ticket "DiskFull" key "f1" acknowledged: POST answered 200'], ['ticket "DiskFull" key "f1" resolved: DELETE answered 500: "internal"'], ['ticket "DiskFull" key "f1" acknowledged: skipped, the source\'s earlier answer is still kept'], ['ticket "DiskFull" key "f1" resolved: DELETE answered 500: "internal"'], [])]



=== TEST 11: deleted in the ITSM: the silence is expired and the key forgotten; the next firing opens a ticket whose acknowledgement silences again
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("deleted", 11), ::alert("firing", "2026-01-01T01:00:00Z"), ::cb("stalled", 12), "GET /srclog"]
--- error_code eval: [201, 200, 200, 201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/./, qr/"state":"deleted"/, qr/"outcome":"created"/, qr/"outcome":"applied"/, qr/^${\ ::post()}${\ ::del()}${\ ::post()}$/]



=== TEST 12: the alert resolves by itself (its ticket resolved by the module), then the ITSM says resolved: the silence is expired
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::alert("resolved"), ::cb("resolved", 11), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./, qr/"outcome":"resolved"/, qr/^\Q${\ ::applied("resolved", "resolved", "resolved")}\E$/, qr/^${\ ::post()}${\ ::del()}$/]



=== TEST 13: 64 labels: 64 matchers, sorted by name
--- http_config eval: ::http(on => q{on_ticket acknowledged POST /s 'body={"matchers": "{{ /matchers }}"}';})
--- config eval: $::Locations
--- request eval: [::alert("firing", undef, 61), ::cb("stalled", 10), "GET /srclog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/./, qr/"outcome":"applied"/, qr/^\QPOST \/src\/s "Bearer src-token" application\/json {"matchers":${\ ::matchers(61)}}\E\n$/]



=== TEST 14: 65 labels: no matchers at all (null: Alertmanager refuses the silence) rather than a silence of fewer labels, which would silence more than this alert
--- http_config eval: ::http(on => q{on_ticket acknowledged POST /s 'body={"matchers": "{{ /matchers }}"}';})
--- config eval: $::Locations
--- request eval: [::alert("firing", undef, 62), ::cb("stalled", 10), "GET /srclog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/./, qr/"outcome":"applied"/, qr/^POST \/src\/s "Bearer src-token" application\/json \{"matchers":null\}\n$/]



=== TEST 15: a resolved key expires (retention=2s) with what the way back kept: the ticket of its next firing is silenced anew on acknowledgement
--- http_config eval: ::http(retention => '2s', policy => 'on_refire new;')
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::alert("resolved")]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"applied"/, qr/"outcome":"resolved"/]
--- wait: 5



=== TEST 16: (the same nginx) the next firing: a new ticket (the key expired), and its acknowledgement a new silence, not "still kept"
--- request eval: [::alert("firing", "2026-01-01T02:00:00Z"), ::cb("stalled", 20), "GET /srclog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"action":"create","outcome":"created"/, qr/"outcome":"applied"/, qr/^${\ ::post()}${\ ::post()}$/]



=== TEST 17: the state has no on_ticket line: nothing goes back
--- http_config eval: ::http(on => q{on_ticket resolved DELETE "/api/v2/silence/x";})
--- config eval: $::Locations
--- request eval: [::alert(), ::cb("stalled", 10), ::cb("resolved", 11), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/"outcome":"applied"/, qr/"outcome":"applied"/, qr/^DELETE \/src\/api\/v2\/silence\/x "Bearer src-token"  \n$/]



=== TEST 18: a ticket no key has (unknown): nothing goes back
--- http_config eval: ::http()
--- config eval: $::Locations
--- request eval: [::cb("stalled", 10), "GET /status"]
--- error_code eval: [200, 200]
--- response_body_like eval
[qr/"outcome":"unknown_ticket"/, qr/"callback_sources":\{"sent":0,"skipped":0,"no_alert":0,"failed":0\}/]



=== TEST 19: nginx -t: callbacks_of names an unknown connector
--- http_config eval: my $h = ::http(); $h =~ s/callbacks_of  mock/callbacks_of  nope/; $h
--- config eval: $::Locations
--- must_die
--- error_log
itsm_callback_source "am" in



=== TEST 20: nginx -t: an unknown state, remember= with forget, a body on DELETE, no location
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; on_ticket acked POST /s; }
--- config
--- must_die
--- error_log
unknown state "acked" in "on_ticket"; the states are open, acknowledged, resolved, closed, deleted



=== TEST 21: nginx -t: remember= and forget together
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; on_ticket resolved DELETE /s remember=/id forget; }
--- config
--- must_die
--- error_log
invalid parameter "forget" in "on_ticket"; expected body=, and one of remember=/pointer or forget



=== TEST 22: nginx -t: a body on DELETE
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; on_ticket resolved DELETE /s 'body={}'; }
--- config
--- must_die
--- error_log
"on_ticket" uses DELETE, which sends no body; remove "body=" or use POST, PUT or PATCH



=== TEST 23: nginx -t: no location
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; on_ticket resolved DELETE /s; }
--- config
--- must_die
--- error_log
itsm_callback_source "am" has no "location"



=== TEST 24: nginx -t: no itsm_store
--- http_config
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; on_ticket resolved DELETE /s; }
--- config
--- must_die
--- error_log
needs "itsm_store": the alert is kept there for the way back



=== TEST 25: nginx -t: two ways back for one connector
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; on_ticket resolved DELETE /s; }
    itsm_callback_source am2 { callbacks_of mock; location /_itsm/src; on_ticket resolved DELETE /s; }
--- config
--- must_die
--- error_log
itsm_callback_source "am2" in



=== TEST 26: nginx -t: no on_ticket line
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock { location /_itsm/mock; create POST /t 'body={}'; }
    itsm_callback_source am { callbacks_of mock; location /_itsm/src; }
--- config
--- must_die
--- error_log
itsm_callback_source "am" has no "on_ticket" line
