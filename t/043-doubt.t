# A create whose outcome is unknown: the ITSM may have made the ticket
# (no answer, a 5xx, a 2xx without a usable ticket id).  The key stays as
# if nothing had been created, remembers the doubt, and the next create of
# the key first asks the ITSM for a ticket that carries the key ("find"):
# found, it is the key's ticket and nothing is created again; not found,
# the create is sent.  A 4xx is a refusal: no doubt, no find.  The find
# waits until the ITSM had "settle" (default 5 s) since the loss to finish
# the create: asked at once, an ITSM still at work says "none" and a second
# ticket follows (a create that timed out at the proxy, a search index).
#
# The mock ITSM answers each create by the key and the attempt (the
# connector sends both as headers): "lost" closes the connection without
# an answer (the ticket was made, the answer lost), "busy" answers 503,
# ...; its find answers with ticket T77 for "lost" only.  It logs every
# request per key; GET /mocklog?key=K returns that log.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use Time::HiRes qw(time sleep);

our $HttpConfig = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_zone  itsm:1m;
    log_format mock '$request_method $request_uri';
    log_format mocktime '$msec $request_method $request_uri';
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "{{ description }}"}';
        find      GET "/tickets?key={{ correlation_key }}" take=/items/0/id settle=0;
        header    X-Key "{{ key }}";
        header    X-N "{{ occurrences }}";
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
    itsm_connector settled {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        find      GET "/tickets?key={{ correlation_key }}" take=/items/0/id;
        header    X-Key "{{ key }}";
        header    X-N "{{ occurrences }}";
        ticket_id /id;
    }
    itsm_connector settle2 {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        find      GET "/tickets?key={{ correlation_key }}" take=/items/0/id settle=2s;
        header    X-Key "{{ key }}";
        header    X-N "{{ occurrences }}";
        ticket_id /id;
    }
    itsm_connector nofind {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "{{ description }}"}';
        header    X-Key "{{ key }}";
        header    X-N "{{ occurrences }}";
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
    map "$http_x_key:$http_x_n" $mock_create {
        default          '201 {"id":"T1"}';
        lost:1           444;
        busy:1           '503 {"error":"maintenance"}';
        refused:1        '400 {"error":"bad request"}';
        noid:1           '201 {"type":"ticket"}';
        notjson:1        '201 <html>created</html>';
        true:1           '201 {"id":true}';
        empty:1          '201 {"id":""}';
        long:1           '201 {"id":"12345678901234567890123456789012345678901234567890123456789012345"}';
        max:1            '201 {"id":"1234567890123456789012345678901234567890123456789012345678901234"}';
        number:1         '201 {"id":42}';
        ctl:1            '201 {"id":"T\u0001"}';
        findfails:1      444;
        late:1           444;
        old:1            444;
        early:1          444;
        twice:1          444;
        twice:2          444;
    }
    map "$http_x_key:$http_x_n" $mock_find {
        default          '{"items":[]}';
        lost:2           '{"items":[{"id":"T77"}]}';
        findfails:2      503;
        late:2           '{"items":[{"id":"T78"}]}';
        old:2            '{"items":[{"id":"T79"}]}';
        early:2          '{"items":[{"id":"T80"}]}';
        twice:3          '{"items":[{"id":"T81"}]}';
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        access_log logs/mock-$http_x_key.log mock;
        access_log logs/mocktime-$http_x_key.log mocktime;
        if ($mock_create = 444) { return 444; }
        if ($mock_create ~ "^503 (.*)") { return 503 $1; }
        if ($mock_create ~ "^400 (.*)") { return 400 $1; }
        if ($mock_create ~ "^201 (.*)") { return 201 $1; }
        return 500;
    }
    location ~ ^/mock/ticket/[^/]+/comment$ {
        access_log logs/mock-$http_x_key.log mock;
        return 201 '[]';
    }
    location = /mock/tickets {
        access_log logs/mock-$http_x_key.log mock;
        access_log logs/mocktime-$http_x_key.log mocktime;
        if ($mock_find = 503) { return 503 '{"error":"search down"}'; }
        return 200 $mock_find;
    }
    location = /alerts { itsm_pass mock; }
    location = /alerts/nofind { itsm_pass nofind; }
    location = /alerts/settled { itsm_pass settled; }
    location = /alerts/settle2 { itsm_pass settle2; }
    location = /mocklog { default_type text/plain; alias logs/mock-$arg_key.log; }
_EOC_

sub alert { my ($key, $uri) = @_; "POST " . ($uri // '/alerts') . "\n{\"key\": \"$key\", \"title\": \"t\", \"description\": \"d\"}" }

sub answer {
    my ($status, $key, $action, $outcome, $ticket, $reason) = @_;
    my $r = defined $reason ? qq{,"reason":"$reason"} : '';
    my $c = $_[6] // 'mock';
    return qq{{"status":"$status","alerts":[{"key":"$key","action":"$action","outcome":"$outcome","connector":"$c","ticket_id":"$ticket"$r}]}\n};
}

# the mock's log of a key: [[time, "METHOD URI"], ...]
sub timed {
    return map { [split / /, $_, 2] } ItsmHttp::log_lines("mocktime-$_[0].log", $_[1]);
}

sub post { ItsmHttp::finish(ItsmHttp::start(qq{{"key": "$_[0]", "title": "t", "description": "d"}}, uri => $_[1], timeout => 30)) }

our $Found = 'an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM';

sub bad {
    my ($why) = @_;
    $why =~ s/(["\\])/\\$1/g;
    return qq{{"error":"itsm_bad_response","message":"$why"}\n};
}

# a block that starts nginx has the file's connectors unless it says otherwise
ItsmConf::defaults(http_config => $HttpConfig);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the answer to a create is lost: 503, and the key is in doubt
--- config eval: $::Config
--- request eval: ::alert("lost")
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_body eval
qq{{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":502,"itsm_error":"no answer from the ITSM: the connection was refused, reset or timed out (see the error log)"}\n}



=== TEST 2: the next copy asks the ITSM, finds the ticket the lost create made, and creates nothing
--- request eval: ::alert("lost")
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body eval: ::answer("created", "lost", "create", "created", "T77", $::Found)
--- error_log
the outcome of an earlier create of key "lost" is unknown; asking the ITSM for its ticket first
ticket "T77" of key "lost" was made by an earlier create whose answer was lost; it is not created again



=== TEST 3: the found ticket is the key's: a repeat comments on it; the ITSM got one create
--- request eval: [::alert("lost"), "GET /mocklog?key=lost"]
--- more_headers
Content-Type: application/json
--- error_code eval: [200, 200]
--- response_body eval
[::answer("commented", "lost", "comment", "commented", "T77"),
 "POST /mock/ticket\nGET /mock/tickets?key=lost\nPOST /mock/ticket/T77/comment\n"]



=== TEST 4: a 503 to a create: in doubt; the next copy asks first, finds none, and creates
--- config eval: $::Config
--- request eval: [::alert("busy"), ::alert("busy"), "GET /mocklog?key=busy"]
--- more_headers
Content-Type: application/json
--- error_code eval: [503, 201, 200]
--- response_body eval
[qq{{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":503,"itsm_error":"{\\"error\\":\\"maintenance\\"}"}\n},
 ::answer("created", "busy", "create", "created", "T1"),
 "POST /mock/ticket\nGET /mock/tickets?key=busy\nPOST /mock/ticket\n"]



=== TEST 5: a 4xx is the ITSM's refusal: nothing was made, the next copy creates without asking
--- config eval: $::Config
--- request eval: [::alert("refused"), ::alert("refused"), "GET /mocklog?key=refused"]
--- more_headers
Content-Type: application/json
--- error_code eval: [502, 201, 200]
--- response_body eval
[qq{{"error":"itsm_rejected","connector":"mock","action":"create","itsm_status":400,"itsm_error":"{\\"error\\":\\"bad request\\"}"}\n},
 ::answer("created", "refused", "create", "created", "T1"),
 "POST /mock/ticket\nPOST /mock/ticket\n"]
--- no_error_log
is unknown



=== TEST 6: a 2xx without a ticket id: 502, the key is not half-open; the next copy asks, then creates
--- config eval: $::Config
--- request eval: [::alert("noid"), ::alert("noid"), ::alert("noid"), "GET /mocklog?key=noid"]
--- more_headers
Content-Type: application/json
--- error_code eval: [502, 201, 200, 200]
--- response_body eval
[::bad('the ITSM answered 201, but its answer has no ticket id at "/id" (ticket_id of connector "mock")'),
 ::answer("created", "noid", "create", "created", "T1"),
 ::answer("commented", "noid", "comment", "commented", "T1"),
 "POST /mock/ticket\nGET /mock/tickets?key=noid\nPOST /mock/ticket\nPOST /mock/ticket/T1/comment\n"]



=== TEST 7: a 2xx that is not JSON
--- config eval: $::Config
--- request eval: [::alert("notjson"), ::alert("notjson"), "GET /mocklog?key=notjson"]
--- more_headers
Content-Type: application/json
--- error_code eval: [502, 201, 200]
--- response_body eval
[::bad(q!the ITSM answered 201, but not with JSON ('[' or '{' expected near '<'); the ticket id could not be read!),
 ::answer("created", "notjson", "create", "created", "T1"),
 "POST /mock/ticket\nGET /mock/tickets?key=notjson\nPOST /mock/ticket\n"]



=== TEST 8: ticket ids that cannot be used: true, "", 65 bytes, a control character
--- config eval: $::Config
--- request eval: [::alert("true"), ::alert("empty"), ::alert("long"), ::alert("ctl"), "GET /mocklog?key=long"]
--- more_headers
Content-Type: application/json
--- error_code eval: [502, 502, 502, 502, 200]
--- response_body eval
[::bad('the ITSM answered 201, but the ticket id at "/id" is not a string or an integer (ticket_id of connector "mock")'),
 ::bad('the ITSM answered 201, but the ticket id at "/id" is empty (ticket_id of connector "mock")'),
 ::bad('the ITSM answered 201, but the ticket id at "/id" is longer than 64 bytes (ticket_id of connector "mock")'),
 ::bad('the ITSM answered 201, but the ticket id at "/id" is holding control characters (ticket_id of connector "mock")'),
 "POST /mock/ticket\n"]



=== TEST 9: ticket ids that can: exactly 64 bytes, an integer
--- config eval: $::Config
--- request eval: [::alert("max"), ::alert("number"), ::alert("number"), "GET /mocklog?key=number"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 200, 200]
--- response_body eval
[::answer("created", "max", "create", "created", "1234567890123456789012345678901234567890123456789012345678901234"),
 ::answer("created", "number", "create", "created", "42"),
 ::answer("commented", "number", "comment", "commented", "42"),
 "POST /mock/ticket\nPOST /mock/ticket/42/comment\n"]



=== TEST 10: a connector without "find": the create is sent again (and the log says a duplicate may follow), never a comment on an empty ticket
--- config eval: $::Config
--- request eval: ::alert("noid", "/alerts/nofind")
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body eval: ::bad('the ITSM answered 201, but its answer has no ticket id at "/id" (ticket_id of connector "nofind")')



=== TEST 11: ... the second copy is created again, with a warning
--- request eval: ::alert("noid", "/alerts/nofind")
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body eval: ::answer("created", "noid", "create", "created", "T1", undef, "nofind")
--- error_log
connector "nofind": the outcome of an earlier create of key "noid" is unknown and the connector has no "find" line to ask the ITSM: it is created again, which makes a second ticket unless the ITSM merges creates by itself (PagerDuty's dedup_key, Opsgenie's alias)



=== TEST 12: ... what the ITSM got: two creates, no comment on an empty ticket
--- request
GET /mocklog?key=noid
--- response_body
POST /mock/ticket
POST /mock/ticket



=== TEST 13: the find itself fails: 503, nothing created; the doubt stays and the next copy asks again
--- config eval: $::Config
--- request eval: [::alert("findfails"), ::alert("findfails"), ::alert("findfails"), "GET /mocklog?key=findfails"]
--- more_headers
Content-Type: application/json
--- error_code eval: [503, 503, 201, 200]
--- response_body eval
[qr/"itsm_status":502/,
 qr/^\{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":503,"itsm_error":"\{\\"error\\":\\"search down\\"\}"\}$/,
 ::answer("created", "findfails", "create", "created", "T1"),
 "POST /mock/ticket\nGET /mock/tickets?key=findfails\nGET /mock/tickets?key=findfails\nPOST /mock/ticket\n"]



=== TEST 14: config: find's syntax
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        find      POST /tickets take=/id;
    }
--- config
--- must_die
--- error_log eval: qr/invalid method "POST" in "find": a find only reads, use GET in \S+nginx\.conf:\d+/



=== TEST 15: config: find needs take=
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        find      GET /tickets /id;
    }
--- config
--- must_die
--- error_log eval
qr/invalid parameter "\/id" in "find"; expected take=POINTER, the ticket id in the answer, e\.g\. take=\/items\/0\/id in \S+nginx\.conf:\d+/



=== TEST 16: the next copy comes at once: its find waits until the default settle (5 s) has passed since the loss, then finds the ticket; nothing else is sent
--- config eval: $::Config
--- init
my $lost = ::post('late', '/alerts/settled');
my $t0 = time;
my $next = ::post('late', '/alerts/settled');
my $took = time - $t0;
my @log = ::timed('late', 2);
Test::More::is(ItsmHttp::status($lost), 503, "the create's answer was lost: 503");
Test::More::is(ItsmHttp::body($next), ::answer("created", "late", "create", "created", "T78", $::Found, "settled"),
               "the next copy: the ticket the lost create made");
Test::More::is(join(',', map { $_->[1] } @log), "POST /mock/ticket,GET /mock/tickets?key=late", "the ITSM got the create, then the find");
Test::More::cmp_ok($log[1][0] - $log[0][0], '>=', 5, "the find came 5 s or more after the create");
Test::More::cmp_ok($took, '>=', 4, "the sender waited for it (" . sprintf("%.1f s", $took) . ")");
--- request
GET /alerts
--- error_code: 405
--- error_log eval
qr/itsm: connector "settled": the earlier create of key "late" became unknown at \d+; the ITSM is asked in (?:4\d{3}|5\d{3}|6000) ms, when "settle" has passed/
--- timeout: 30



=== TEST 17: settle=2s: a copy 3.5 s after the loss asks at once (no wait logged); one 0.1 s after another loss waits
--- config eval: $::Config
--- init
::post('old', '/alerts/settle2');
sleep 3.5;
my $old = ::post('old', '/alerts/settle2');
::post('early', '/alerts/settle2');
my $early = ::post('early', '/alerts/settle2');
my @early = ::timed('early', 2);
Test::More::is(ItsmHttp::body($old), ::answer("created", "old", "create", "created", "T79", $::Found, "settle2"), "the late copy found the ticket");
Test::More::is(ItsmHttp::body($early), ::answer("created", "early", "create", "created", "T80", $::Found, "settle2"), "the early copy found it too");
Test::More::cmp_ok($early[1][0] - $early[0][0], '>=', 2, "the early copy's find came 2 s or more after its create");
--- request
GET /alerts
--- error_code: 405
--- error_log eval
qr/the earlier create of key "early" became unknown at \d+; the ITSM is asked in (?:1\d{3}|2\d{3}|3000) ms/
--- no_error_log eval
qr/the earlier create of key "old" became unknown/
--- timeout: 30



=== TEST 18: settle=0: no wait (the file's other blocks); settle= takes 0 to 60 s
--- http_config
    itsm_connector a {
        location  /_itsm/mock;
        create    POST /ticket;
        find      GET /tickets take=/id settle=0;
    }
    itsm_connector b {
        location  /_itsm/mock;
        create    POST /ticket;
        find      GET /tickets take=/id settle=60s;
    }
--- config
--- request
GET /nothing
--- error_code: 404



=== TEST 19: config: settle= over 60 s
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        find      GET /tickets take=/id settle=61s;
    }
--- config
--- must_die
--- error_log eval
qr/invalid settle "61s" in "find"; expected 0 to 60s, e\.g\. settle=5s in \S+nginx\.conf:\d+/



=== TEST 20: config: a fourth parameter that is not settle=
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        find      GET /tickets take=/id wait=5s;
    }
--- config
--- must_die
--- error_log eval
qr/invalid parameter "wait=5s" in "find"; expected settle=TIME, how long after a create's answer was lost the ITSM is asked, e\.g\. settle=5s in \S+nginx\.conf:\d+/



=== TEST 21: settle counts from the last loss: the find finds none, that create is lost too, and the copy after waits again
--- config eval: $::Config
--- init
my @a = map { ::post('twice', '/alerts/settle2') } 1 .. 3;
my @log = ::timed('twice', 5);
Test::More::is(join(',', map { ItsmHttp::status($_) } @a), "503,503,201", "lost, lost again, found");
Test::More::is(join(',', map { $_->[1] } @log),
               "POST /mock/ticket,GET /mock/tickets?key=twice,POST /mock/ticket,GET /mock/tickets?key=twice",
               "the ITSM got: create, find (none), create, find");
Test::More::cmp_ok($log[1][0] - $log[0][0], '>=', 2, "the first find came 2 s or more after the first create");
Test::More::cmp_ok($log[3][0] - $log[2][0], '>=', 2, "the second find came 2 s or more after the second create");
--- request
GET /alerts
--- error_code: 405
--- timeout: 30
