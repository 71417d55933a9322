# The store survives what nginx goes through: a restart, a reload (HUP), and
# a worker killed in the middle of a create.  The store lives outside the
# server root, which the test scaffold empties at every restart.
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use File::Path qw(make_path remove_tree);
use Cwd qw(getcwd);

our $StateDir = getcwd() . "/t/servroot-state-$$";
remove_tree($StateDir);
make_path($StateDir);
END { remove_tree($StateDir) if $StateDir }

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

our $HttpConfig = <<'_EOC_';
    itsm_store $TEST_NGINX_STATE_DIR/state.mdb lease=60s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "again"}';
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"RT-42"}'; }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '["Comments added"]'; }
    location = /alerts { itsm_pass mock; }
_EOC_

our $Alert = "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Disk full\"}";

sub master_pid {
    my $file = Test::Nginx::Util::server_root() . "/logs/nginx.pid";
    open my $fh, '<', $file or die "$file: $!\n";
    chomp(my $pid = <$fh>);
    return $pid;
}

sub worker_pids {
    my $master = master_pid();
    my @pids;
    for my $stat (glob "/proc/[0-9]*/stat") {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S (\d+)/ or next;
        push @pids, $pid if $ppid == $master;
    }
    return @pids;
}

# a "ITSM" that accepts connections and never answers
our $Hang;

sub hang_create_and_kill_worker {
    $Hang = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ENV{TEST_NGINX_HANG_PORT}",
                                  Listen => 16, ReuseAddr => 1)
        or die "listen: $!\n";

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $body = '{"key": "db-7", "title": "Disk full"}';
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "connect: $!\n";
    print $c "POST /alerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\nContent-Length: " . length($body)
             . "\r\n\r\n$body";

    select(undef, undef, undef, 0.5);       # the create is in flight now
    kill 'KILL', worker_pids();
    close $c;
    select(undef, undef, undef, 0.5);       # the master starts a new worker
    close $Hang;                            # later creates are refused
}

run_tests();

__DATA__

=== TEST 1: an alert creates its ticket
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: $::Alert
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"RT-42"}]}



=== TEST 2: after a restart, the same alert comments on that ticket
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: $::Alert
--- more_headers
Content-Type: application/json
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
kill 'HUP', ::master_pid();
sleep 1;
--- request eval: $::Alert
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body
{"status":"commented","alerts":[{"key":"db-1","action":"comment","outcome":"commented","connector":"mock","ticket_id":"RT-42"}]}
--- error_log
reconfiguring
--- no_error_log
itsm deliver: create
created ticket



=== TEST 4: a worker killed during a create leaves no stuck key
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_HANG_PORT/;
        proxy_read_timeout 30s;
    }
    location = /alerts { itsm_pass mock; }
--- init
::hang_create_and_kill_worker();
--- request
POST /alerts
{"key": "db-7", "title": "Disk full"}
--- more_headers
Content-Type: application/json
--- timeout: 10
--- error_code: 503
--- response_body_like: ^\{"error":"itsm_unavailable","connector":"mock","action":"create","itsm_status":502,
--- error_log
exited on signal 9
itsm deliver: create



=== TEST 5: a worker killed during a create the ITSM carried out: the next copy finds that ticket and creates none
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
--- init
::hang_create_and_kill_worker();
--- request
POST /alerts
{"key": "db-7", "title": "Disk full"}
--- more_headers
Content-Type: application/json
--- timeout: 10
--- error_code: 201
--- response_body
{"status":"created","alerts":[{"key":"db-7","action":"create","outcome":"created","connector":"mock","ticket_id":"RT-77","reason":"an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM"}]}
--- error_log
exited on signal 9
the outcome of an earlier create of key "db-7" is unknown; asking the ITSM for its ticket first
