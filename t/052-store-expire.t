# itsm_store retention=: a resolved key is forgotten once the retention has
# passed since it last changed (default 7d, or the longest reopen window),
# by one worker's timer, in small steps; open keys and keys with a waiting
# delivery stay.  nginx -t refuses a retention= shorter than a reopen
# window (a refire within the window needs the resolved key).
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        if (-f $TEST_NGINX_SERVROOT/logs/down) { return 503 '{"message":"maintenance"}'; }
        return 201 '{"id":"T1"}';
    }
    location /mock/ticket/ { return 200 '{}'; }
    location = /alerts { itsm_queue on; itsm_retry_after 1h; itsm_pass mock; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /status { itsm_status; }
_EOC_

sub http_config { my ($r) = @_; ItsmConf::queue_http(store => "logs/state.mdb retention=$r", retry => 'attempts=30 backoff=1h max=1h') }

sub alert { my ($key, $status) = @_;
    "POST /alerts\n{\"key\": \"$key\", \"title\": \"Disk full\", \"status\": \"" . ($status // "firing") . "\"}" }

sub outcome { my ($key, $action, $outcome, $ticket) = @_;
    my $t = $ticket ? qq{,"ticket_id":"$ticket"} : '';
    qr/"key":"$key","action":"$action","outcome":"$outcome","connector":"mock"$t/ }

sub down { open(my $fh, '>', "$ENV{TEST_NGINX_SERVROOT}/logs/down") or die $!; close $fh }

# a connector that reopens within WINDOW, and the store after it
sub reopen { my ($window, $store) = @_; <<"_EOC_" }
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        resolve   PUT "/ticket/{{ ticket_id }}";
        reopen    PUT "/ticket/{{ ticket_id }}";
        ticket_id /id;
        on_refire reopen window=$window;
    }
    $store
_EOC_

# a block that starts nginx (its own store) has the file's locations,
# unless it says otherwise
ItsmConf::defaults(when => 'http_config', config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: retention=2s: one open key, two resolved keys
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- http_config eval: ::http_config("2s")
--- request eval: [::alert("a"), ::alert("b"), ::alert("b", "resolved"), ::alert("c"), ::alert("c", "resolved"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 200, 201, 200, 200]
--- response_body_like eval
[::outcome("a", "create", "created", "T1"), ::outcome("b", "create", "created", "T1"),
 ::outcome("b", "resolve", "resolved", "T1"), ::outcome("c", "create", "created", "T1"),
 ::outcome("c", "resolve", "resolved", "T1"),
 qr/"store":\{"keys":3,"open_tickets":1,"resolved_tickets":2,.*"expired":0,"retention":2\}/]



=== TEST 2: past the retention the two resolved keys are forgotten, and the pass says how many
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- request
GET /status
--- wait: 5
--- grep_error_log eval: qr/itsm_store: \d+ keys? expired.*/
--- grep_error_log_out eval
# one pass, or two when one falls between the two resolves
qr/^(?:itsm_store: 2 keys expired \(resolved, or never ticketed; retention=2 s\)\n|(?:itsm_store: 1 key expired \(resolved, or never ticketed; retention=2 s\)\n){2})\z/



=== TEST 3: the open key stays; the expired ones are counted
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- request eval: ["GET /status", "GET /status?format=prometheus"]
--- response_body_like eval
[qr/"store":\{"keys":1,"open_tickets":1,"resolved_tickets":0,"claimed":0,"queued":0,"dead_letters":0,.*"expired":2,"retention":2\}/,
 qr/\nitsm_store_keys 1\n(?:.|\n)*\nitsm_store_expired_total 2\n/]



=== TEST 4: a forgotten key starts anew: its firing alert creates a ticket, its resolved alert has nothing to resolve
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- request eval: [::alert("b"), ::alert("c", "resolved"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::outcome("b", "create", "created", "T1"), ::outcome("c", "none", "ignored"),
 qr/"store":\{"keys":2,"open_tickets":2,"resolved_tickets":0,.*"expired":2,"retention":2\}/]



=== TEST 5: retention=1h: a resolved key is kept through several passes of the expiry
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- http_config eval: ::http_config("1h")
--- request eval: [::alert("a"), ::alert("a", "resolved")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]



=== TEST 6: retention=1h: still there, nothing expired
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- init
sleep 3;
--- request
GET /status
--- response_body_like: "store":\{"keys":1,"open_tickets":0,"resolved_tickets":1,.*"expired":0,"retention":3600\}



=== TEST 7: retention=2s: a resolved key whose refire waits in the queue (the ITSM is down)
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- http_config eval: ::http_config("2s")
--- request eval: [::alert("a"), ::alert("a", "resolved")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]



=== TEST 8: ... is kept past the retention, with its waiting delivery: the delivery decides from it
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- init
::down(); 
--- request eval: [::alert("a"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [202, 200]
--- response_body_like eval: [::outcome("a", "create", "queued"), qr/"keys":1,/]



=== TEST 9: the resolved key and its queued delivery after the retention
--- skip_redis: LMDB's expire walk and its figures (Redis forgets a resolved key by its TTL, set by the commit script: t/505 reads the TTLs)
--- init
sleep 5;
--- request
GET /status
--- response_body_like: "store":\{"keys":1,"open_tickets":0,"resolved_tickets":1,"claimed":0,"queued":1,"dead_letters":0,.*"expired":0,"retention":2\}



=== TEST 10: retention=2s: a resolved key whose refire's create got no usable answer (503): the create is in doubt
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- http_config eval: ::http_config("2s")
--- config eval: $::Config =~ s/itsm_queue on; //r
--- request eval: [::alert("a"), ::alert("a", "resolved"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval: [::outcome("a", "create", "created", "T1"), ::outcome("a", "resolve", "resolved", "T1"), qr/"keys":1,/]



=== TEST 11: ... the ITSM is down for the refire's create
--- init
::down();
--- request eval: ["POST /alerts\n{\"key\": \"a\", \"title\": \"Disk full\", \"status\": \"firing\"}"]
--- more_headers
Content-Type: application/json
--- error_code eval: [503]



=== TEST 12: ... the key, which remembers the doubt, is kept past the retention
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- init
sleep 5;
--- request
GET /status
--- response_body_like: "store":\{"keys":1,"open_tickets":0,"resolved_tickets":1,"claimed":0,"queued":0,"dead_letters":0,.*"expired":0,"retention":2\}



=== TEST 13: config: retention=0 is refused
--- http_config
    itsm_store logs/state.mdb retention=0;
--- config
--- must_die
--- error_log eval
qr/invalid itsm_store retention "0": how long a resolved key is kept, at least 1s, e\.g\. retention=7d in \S+nginx\.conf:\d+/



=== TEST 14: config: an unknown parameter names the three
--- skip_redis: LMDB's own itsm_store arguments (keep= is refused naming size=)
--- http_config
    itsm_store logs/state.mdb keep=1d;
--- config
--- must_die
--- error_log eval: qr/invalid parameter "keep=1d"; expected size=, lease= or retention= in \S+nginx\.conf:\d+/



=== TEST 15: config: a reopen window longer than the retention is refused, naming both places (the store declared after the connector)
--- http_config eval: ::reopen("3s", "itsm_store logs/state.mdb retention=2s;")
--- config
--- must_die
--- error_log eval
qr/itsm_connector "mock" \(\S+nginx\.conf:\d+\) reopens a ticket within 3 s of its resolve \(on_refire reopen window=\), but "itsm_store" \(\S+nginx\.conf:\d+\) forgets a resolved key after retention=2 s: set retention= at least as long as the window, or shorten the window/



=== TEST 16: config: a window as long as the retention is fine
--- http_config eval: ::reopen("2s", "itsm_store logs/state.mdb retention=2s;")
--- config
    location = /t { return 204; }
--- request
GET /t
--- error_code: 204



=== TEST 17: the default retention is 7 days (shown on the status page)
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- http_config eval: "    itsm_zone itsm:1m;\n" . ::reopen("1h", "itsm_store logs/state.mdb;")
--- config
    location = /status { itsm_status; }
--- request eval: ["GET /status", "GET /status?format=prometheus"]
--- response_body_like eval: [qr/"expired":0,"retention":604800\}/, qr/\nitsm_store_retention_seconds 604800\n/]



=== TEST 18: ... or the longest reopen window when it is longer (8 days here): nothing the lifecycle needs expires
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- http_config eval: "    itsm_zone itsm:1m;\n" . ::reopen("8d", "itsm_store logs/state.mdb;")
--- config
    location = /status { itsm_status; }
--- request
GET /status
--- response_body_like: "expired":0,"retention":691200\}



=== TEST 19: retention=2s: keys that never got a ticket (a refused create, a create in doubt) are forgotten too
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- http_config eval: ::http_config("2s") =~ s{ticket_id +/id;}{header X-Key "{{ key }}";\n        ticket_id /id;}r
--- config
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket {
        if ($http_x_key = r) { return 400 '{"message":"refused"}'; }
        return 503 '{"message":"maintenance"}';
    }
    location = /alerts { itsm_pass mock; }
    location = /status { itsm_status; }
--- request eval
["POST /alerts\n{\"key\": \"r\", \"title\": \"refused!!!\"}", "POST /alerts\n{\"key\": \"d\", \"title\": \"in doubt\"}", "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [502, 503, 200]
--- response_body_like eval
[qr/"itsm_status":400/, qr/"itsm_status":503/, qr/"store":\{"keys":2,"open_tickets":0,"resolved_tickets":0,.*"expired":0,/]



=== TEST 20: ... past the retention both are gone
--- skip_redis: the status page's LMDB store figures (keys, expired; Redis expires by TTL and shows backend, lease, retention)
--- init
sleep 5;
--- request
GET /status
--- response_body_like: "store":\{"keys":0,"open_tickets":0,"resolved_tickets":0,.*"expired":2,
