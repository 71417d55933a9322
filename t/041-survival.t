# The store survives what nginx goes through: a restart, a reload (HUP), and
# a worker killed in the middle of a create.  The store lives outside the
# server root, which the test scaffold empties at every restart.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmNginx;
use IO::Socket::INET;
use File::Path qw(make_path remove_tree);
use Cwd qw(getcwd);

our $StateDir = getcwd() . "/t/servroot-state-$$";
remove_tree($StateDir);
make_path($StateDir);
END { local $?; remove_tree($StateDir) if $StateDir }

$ENV{TEST_NGINX_STATE_DIR} = $StateDir;
# a port nothing listens on yet, for the ITSM that never answers
$ENV{TEST_NGINX_HANG_PORT} ||= do {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    $port;
};

master_on();
workers(1);
no_shuffle();

our $HttpConfig = "    itsm_store \$TEST_NGINX_STATE_DIR/state.mdb lease=60s;\n"
                . ItsmConf::connector('mock', create => 'POST /ticket',
                                      lines => [q{comment POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "again"}'},
                                                'on_repeat comment cooldown=0']);

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"RT-42"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '["Comments added"]'; }
    location = /alerts { itsm_pass mock; }
_EOC_

our $Alert = "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Disk full\"}";

# a "ITSM" that accepts connections and never answers
our $Hang;

# the alert whose create a killed worker cuts short; a block with
# --- after_killed_create cuts it (init) and then sends it again
our $KilledAlert = '{"key": "db-7", "title": "Disk full"}';

sub hang_create_and_kill_worker {
    $Hang = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ENV{TEST_NGINX_HANG_PORT}",
                                  Listen => 16, ReuseAddr => 1)
        or die "listen: $!\n";

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $body = $KilledAlert;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!\n";
    print $c "POST /alerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\nContent-Length: " . length($body)
             . "\r\n\r\n$body";

    select(undef, undef, undef, 0.5);       # the create is in flight now
    kill 'KILL', ItsmNginx::worker_pids();
    close $c;
    select(undef, undef, undef, 0.5);       # the master starts a new worker
    close $Hang;                            # later creates are refused
}

ItsmConf::defaults(when => 'after_killed_create', init => "::hang_create_and_kill_worker();\n",
                   request => "POST /alerts\n$KilledAlert", timeout => 10);

# every other block posts $Alert; one that starts nginx has the connector
ItsmConf::defaults(http_config => $HttpConfig, request => $Alert,
                   more_headers => "Content-Type: application/json\n");

run_tests();

__DATA__

=== TEST 1: an alert creates its ticket
--- config eval: $::Config
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"RT-42"}]}



=== TEST 2: after a restart, the same alert comments on that ticket
--- config eval: $::Config
--- error_code: 200
--- response_body
{"status":"commented","alerts":[{"key":"db-1","action":"comment","outcome":"commented","connector":"mock","ticket_id":"RT-42"}]}
--- error_log
itsm deliver: comment POST "/_itsm/mock/ticket/RT-42/comment
--- no_error_log
itsm deliver: create
created ticket



=== TEST 3: after a reload (HUP), still the same ticket
--- init
ItsmNginx::reload();
--- error_code: 200
--- response_body
{"status":"commented","alerts":[{"key":"db-1","action":"comment","outcome":"commented","connector":"mock","ticket_id":"RT-42"}]}
--- error_log
reconfiguring
--- no_error_log
itsm deliver: create
created ticket



=== TEST 4: a worker killed during a create leaves no stuck key
--- skip_redis: a killed worker's claim: LMDB frees it at once (kill(pid, 0)), Redis after lease= (t/502 tests that)
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_HANG_PORT/;
        proxy_read_timeout 30s;
    }
    location = /alerts { itsm_pass mock; }
--- after_killed_create
--- error_code: 503
--- response_body_like: ^\{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":502,
--- error_log
exited on signal 9
itsm deliver: create



=== TEST 5: a worker killed during a create the ITSM carried out: the next copy finds that ticket and creates none
--- skip_redis: a killed worker's claim: LMDB frees it at once (kill(pid, 0)), Redis after lease= (t/502 tests that)
--- http_config
    itsm_store $TEST_NGINX_STATE_DIR/state5.mdb lease=60s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        find      GET "/tickets?key={{ correlation_key | sha256 }}" take=/items/0/id;
        ticket_id /id;
    }
--- config
    location = /_itsm/mock/ticket {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_HANG_PORT/ticket;
        proxy_read_timeout 30s;
    }
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/tickets { return 200 '{"items":[{"id":"RT-77"}]}'; }
    location = /alerts { itsm_pass mock; }
--- after_killed_create
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"db-7","action":"create","outcome":"created","connector":"mock","ticket_id":"RT-77","reason":"an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM"}]}
--- error_log
exited on signal 9
the outcome of an earlier create of key "db-7" is unknown; asking the ITSM for its ticket first
