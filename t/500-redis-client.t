# The Redis client (itsm_redis, ngx_http_itsm_redis.c): nginx -t's
# messages for each bad option (with the file and line), and against
# private redis-servers (t/lib/ItsmRedis.pm): the status page's "redis"
# object when up, AUTH with the right and the wrong password (never shown),
# a unix socket, db= (SELECT), Redis stopped (down) and started again (up:
# reconnected), and a "Redis" that accepts connections and never answers
# (a timeout, not a hang).
use FindBin;
use lib "$FindBin::Bin/lib";
# nginx's port: one of ItsmPorts unless given (1984 may be another run's)
BEGIN { require ItsmPorts; $ENV{TEST_NGINX_SERVER_PORT} ||= ItsmPorts::free() }
use Test::Nginx::Socket 'no_plan';
use ItsmRedis;
use ItsmNginx;
use ItsmPorts;
use File::Temp ();
use POSIX ();
use Time::HiRes ();
use IO::Socket::INET;
use ItsmChild;

@ItsmRedisDns::ISA = ('ItsmChild');

# the DNS server of the resolver blocks: A 127.0.0.1 for any name, but
# NXDOMAIN for none.*; no answer for other types (ipv6=off asks none)
sub fake_dns {
    my ($sock) = @_;
    while (1) {
        my $peer = $sock->recv(my $q, 512) // next;
        next if length $q < 17;
        my ($id) = unpack 'n', $q;
        my $off = 12;
        my @labels;
        while ($off < length $q and (my $l = ord substr($q, $off, 1)) != 0) {
            push @labels, substr($q, $off + 1, $l);
            $off += $l + 1;
        }
        my $question = substr($q, 12, $off + 5 - 12);
        my ($qtype) = unpack 'n', substr($q, $off + 1, 2);
        my ($rcode, $an, $answer) = (0, 0, '');
        if (($labels[0] // '') eq 'none') {
            $rcode = 3;
        } elsif ($qtype == 1) {
            ($an, $answer) = (1, pack('n n n N n C4', 0xc00c, 1, 1, 60, 4, 127, 0, 0, 1));
        }
        $sock->send(pack('n n n n n n', $id, 0x8180 | $rcode, 1, $an, 0, 0) . $question . $answer, 0, $peer);
    }
}

# Under valgrind nginx starts and answers slower: waits are longer
our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;

sub settle { Time::HiRes::sleep($_[0] * $Slow) }

our $Password = 'pw-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 20);

# DEBUG SLEEP makes a reply late (the cancel block)
our $Plain = ItsmRedis->start(args => ['--enable-debug-command', 'yes']);
our $Auth = ItsmRedis->start(password => $Password);
our $Unix = ItsmRedis->start(unix => 1);

# the server's version, as the status page shows it ("version")
our ($Version) = $Plain->cli('--raw', 'INFO', 'server') =~ /^redis_version:(\S+)/m;

# a "Redis" that accepts connections (the kernel's backlog) and never reads
our $Hang = ItsmPorts::listen_socket();

# a DNS server answering A 127.0.0.1 for any name but none.* (NXDOMAIN),
# and one that never answers
our $DnsSocket = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
    or die "udp: $!\n";
our $Dns = ItsmChild::start('ItsmRedisDns', $DnsSocket, sub { ::fake_dns($DnsSocket) });
our $MuteDns = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
    or die "udp: $!\n";
$ENV{TEST_NGINX_DNS_PORT} = $Dns->port;
$ENV{TEST_NGINX_MUTE_DNS_PORT} = $MuteDns->sockport;

our $Files = File::Temp::tempdir('itsm-redis-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$Files/$name" or die "$Files/$name: $!\n";
    print $fh $text;
    close $fh;
    return "$Files/$name";
}

$ENV{TEST_NGINX_REDIS_PORT} = $Plain->port;
$ENV{TEST_NGINX_REDIS_AUTH_PORT} = $Auth->port;
$ENV{TEST_NGINX_REDIS_SOCKET} = $Unix->socket;
$ENV{TEST_NGINX_HANG_PORT} = $Hang->sockport;
$ENV{TEST_NGINX_REDIS_PASS} = write_file('right.pass', "$Password\n");
$ENV{TEST_NGINX_REDIS_WRONG} = write_file('wrong.pass', "not-$Password\n");
$ENV{TEST_NGINX_REDIS_EMPTY} = write_file('empty.pass', "\n");


# ---- nginx -t: each bad option, its message and the line it is on ----

# The itsm_redis line is line 7 of the file; nginx -t must fail and say
# exactly this, with "in FILE:7" (or the line itself for the checks made
# after the http{} block).

sub nginx_t {
    my ($directive, $more) = @_;
    my $dir = File::Temp::tempdir('itsm-redis-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/logs";
    my $modules = join '', map { "load_module $_;" } split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $conf = "$dir/nginx.conf";
    write_conf($conf, "$modules\n"                       # 1
                    . "error_log $dir/logs/error.log;\n" # 2
                    . "pid $dir/logs/nginx.pid;\n"       # 3
                    . "events {}\n"                      # 4
                    . "http {\n"                         # 5
                    . "    access_log off;\n"            # 6
                    . "    $directive\n"                 # 7
                    . ($more // '')
                    . "}\n");
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `$bin -p $dir/ -c $conf -t 2>&1`;
    return ($? >> 8, $out, $conf);
}

sub write_conf {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $text;
    close $fh;
}

my @Bad = (
    ['itsm_redis db=1;',
     'itsm_redis needs address=, e.g. "itsm_redis address=127.0.0.1:6379;" or "itsm_redis address=unix:/run/redis/redis.sock;"'],
    ['itsm_redis address=127.0.0.1:70000;',
     'itsm_redis: invalid address "127.0.0.1:70000"; use HOST:PORT (e.g. address=127.0.0.1:6379, address=[::1]:6379, address=redis.example.net:6379 with a "resolver") or unix:/PATH'],
    ['itsm_redis address=[::1;',
     'itsm_redis: invalid address "[::1"; use HOST:PORT (e.g. address=127.0.0.1:6379, address=[::1]:6379, address=redis.example.net:6379 with a "resolver") or unix:/PATH'],
    ['itsm_redis address=unix:redis.sock;',
     'itsm_redis: invalid address "unix:redis.sock"; a unix socket needs an absolute path, e.g. address=unix:/run/redis/redis-server.sock'],
    ['itsm_redis address=127.0.0.1 db=two;',
     'itsm_redis: invalid db "db=two"; use the number of a Redis database, e.g. db=0 (0 to databases-1 of redis.conf)'],
    ['itsm_redis address=127.0.0.1 timeout=0;',
     'itsm_redis: invalid time "timeout=0"; use an nginx time above 0, e.g. timeout=500ms or timeout=2s'],
    ['itsm_redis address=127.0.0.1 connect_timeout=-1s;',
     'itsm_redis: invalid time "connect_timeout=-1s"; use an nginx time above 0, e.g. connect_timeout=500ms or connect_timeout=2s'],
    ['itsm_redis address=127.0.0.1 ping=soon;',
     'itsm_redis: invalid time "ping=soon"; use an nginx time above 0, e.g. ping=500ms or ping=2s'],
    ['itsm_redis address=127.0.0.1 tls;',
     q{itsm_redis: "tls": TLS is not supported: Debian 12's hiredis 0.14 has no TLS (hiredis_ssl came with hiredis 1.0); use a unix socket, or a TLS tunnel (stunnel, spiped) to the Redis host}],
    ['itsm_redis address=127.0.0.1 tls=on;',
     q{itsm_redis: "tls=on": TLS is not supported: Debian 12's hiredis 0.14 has no TLS (hiredis_ssl came with hiredis 1.0); use a unix socket, or a TLS tunnel (stunnel, spiped) to the Redis host}],
    ['itsm_redis address=127.0.0.1 user=bob;',
     'itsm_redis: unknown option "user=bob"; use address=, db=, password_file=, prefix=, connect_timeout=, timeout= or ping='],
    ['itsm_redis address=127.0.0.1 prefix=;',
     'itsm_redis: empty prefix=; give the prefix of the module\'s keys, e.g. prefix=itsm:, or leave it out'],
    ["itsm_redis address=127.0.0.1 password_file=$Files/none.pass;",
     "itsm_redis: cannot open password_file \"$Files/none.pass\"; it must be readable by the user nginx starts as (2: No such file or directory)"],
    ["itsm_redis address=127.0.0.1 password_file=$ENV{TEST_NGINX_REDIS_EMPTY};",
     "itsm_redis: password_file \"$ENV{TEST_NGINX_REDIS_EMPTY}\" is empty; write the Redis password (requirepass) in it, or leave password_file= out"],
    ["itsm_redis address=127.0.0.1; itsm_redis address=127.0.0.2;",
     '"itsm_redis" directive is duplicate: one Redis for the module (see README, "Redis (in progress)")'],
);

for my $case (@Bad) {
    my ($directive, $message) = @$case;
    my ($code, $out, $conf) = nginx_t($directive);
    is($code, 1, "nginx -t fails: $directive");
    like($out, qr/\[emerg\] \d+#\d+: \Q$message\E in \Q$conf\E:7\n/, "nginx -t says why, at line 7: $directive");
}

# itsm_redis_ping needs the itsm_redis before it
{
    my ($code, $out, $conf) = nginx_t('server { listen 127.0.0.1:1; location / { itsm_redis_ping; } }');
    is($code, 1, 'nginx -t fails: itsm_redis_ping without itsm_redis');
    like($out, qr/\[emerg\] \d+#\d+: "itsm_redis_ping" needs an "itsm_redis"; declare it at http level before the server, e\.g\. "itsm_redis address=127\.0\.0\.1:6379;" in \Q$conf\E:7\n/,
         'nginx -t says itsm_redis_ping needs itsm_redis, at line 7');
}

# a request of itsm_redis_ping whose client goes away while Redis is busy
# (DEBUG SLEEP 0.6, less than timeout=, 1s): its PING is cancelled, and
# the PONG that comes after is dropped
sub ping_and_go_away {
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        $::Plain->cli('DEBUG', 'SLEEP', '0.6');
        POSIX::_exit(0);
    }
    Time::HiRes::sleep(0.1);
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}") or die "connect: $!\n";
    print $c "GET /redis-ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
    Time::HiRes::sleep(0.2);
    close $c;
    waitpid($pid, 0);
    settle(0.3);
}

# a host name is resolved by nginx: it needs a resolver, which nginx knows
# only after the http{} block (so the message names the line itself)
{
    my ($code, $out, $conf) = nginx_t('itsm_redis address=redis.example.net:6379;');
    is($code, 1, 'nginx -t fails: a host name without a resolver');
    like($out, qr/\[emerg\] \d+#\d+: itsm_redis \(\Q$conf\E:7\): address "redis\.example\.net:6379" is a host name, which needs a "resolver" at http level \(e\.g\. "resolver 127\.0\.0\.53;"\): nginx resolves it without blocking; or give an IP address or unix:\/PATH\n/,
         'nginx -t says a host name needs a resolver, at line 7');

    ($code, $out) = nginx_t('itsm_redis address=redis.example.net:6379;', "    resolver 127.0.0.1:1;\n");
    is($code, 0, 'nginx -t passes: a host name with a resolver')
        or diag($out);

    for my $ok ('address=127.0.0.1', 'address=[::1]:6380 db=2 prefix=itsm: connect_timeout=200ms timeout=300ms ping=2s',
                "address=unix:/run/redis.sock password_file=$ENV{TEST_NGINX_REDIS_PASS}") {
        ($code, $out) = nginx_t("itsm_redis $ok;");
        is($code, 0, "nginx -t passes: itsm_redis $ok") or diag($out);
        unlike($out, qr/\Q$Password\E/, "nginx -t does not show the password: itsm_redis $ok");
    }
}


# ---- two workers: a connection each, both counted (an nginx of our own:
# the blocks below run one worker) ----

sub http_get {
    my ($port, $path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or return '';
    print $c "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    return <$c> // '';
}

{
    my $dir = File::Temp::tempdir('itsm-redis-2w-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/logs";
    my $port = ItsmPorts::free();
    my $modules = join '', map { "load_module $_;" } split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $conf = "$dir/nginx.conf";
    my $redis = $Plain->port;
    write_conf($conf, "$modules\nworker_processes 2;\nerror_log $dir/logs/error.log info;\n"
                    . "pid $dir/logs/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n"
                    . "    itsm_zone itsm:1m;\n    itsm_redis address=127.0.0.1:$redis ping=200ms;\n"
                    . "    server { listen 127.0.0.1:$port; location = /status { itsm_status; } }\n}\n");
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    system($bin, '-p', "$dir/", '-c', $conf) == 0 or die "nginx with 2 workers did not start\n";
    settle(1);

    my $status = http_get($port, '/status');
    like($status, qr/"redis":\{"address":"127\.0\.0\.1:$redis","state":"up","last_error":"","latency_us":\{"last":[1-9]\d*,"max_1m":[1-9]\d*\},"connects":2,"failures":0,"version":"\Q$::Version\E","version_ok":true\}/,
         'two workers: up, a connection each counted, the server\'s version');
    my @pinging = grep { /cmd=ping/ } split /\n/, $Plain->cli('CLIENT', 'LIST');
    is(scalar @pinging, 2, 'two workers: two connections PING Redis');

    system($bin, '-p', "$dir/", '-c', $conf, '-s', 'quit');
    for (1 .. 100) { last unless -e "$dir/logs/nginx.pid"; Time::HiRes::sleep(0.1) }
    ok(!-e "$dir/logs/nginx.pid", 'two workers: nginx quits (no timer of the client keeps a worker)');
    open my $fh, '<', "$dir/logs/error.log" or die "$dir/logs/error.log: $!\n";
    my @bad = grep { /\[(alert|crit|emerg)\]/ } <$fh>;
    is(join('', @bad), '', 'two workers: no alert at exit (no socket left open)');
}


# ---- against Redis ----

# the "redis" object of the status page
# (the server's version once a connection answered INFO: up, it has)
sub redis_status {
    my (%f) = @_;
    my $addr = $f{address};
    my $v = $f{state} eq 'up'
            ? qq("version":"\Q$::Version\E","version_ok":true)
            : qq((?:"version":null,"version_ok":null|"version":"\Q$::Version\E","version_ok":true));
    return qr/"redis":\{"address":"\Q$addr\E","state":"$f{state}","last_error":"$f{error}","latency_us":\{"last":$f{last},"max_1m":$f{max}\},"connects":$f{connects},"failures":$f{failures},$v\}\}\n\z/;
}

master_on();
workers(1);
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('request', 'GET /status') unless defined $block->request;
});

our $Config = <<'_EOC_';
    location = /redis-ping { itsm_redis_ping; }
    location = /status { itsm_status; }
    location = /metrics { itsm_status prometheus; }
_EOC_

run_tests();

__DATA__

=== TEST 1: up: the status shows the address, "up", no error, a PING's round trip above 0
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_PORT ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'up', error => '',
               last => '[1-9]\d*', max => '[1-9]\d*', connects => 1, failures => 0)
--- no_error_log
[error]
[alert]



=== TEST 2: up, in the Prometheus format
--- request
GET /metrics
--- response_body_like eval
qr/\nitsm_redis_up 1\n# TYPE itsm_redis_latency_last_microseconds gauge\nitsm_redis_latency_last_microseconds [1-9]\d*\n(.|\n)*\nitsm_redis_latency_max_1m_microseconds [1-9]\d*\n# TYPE itsm_redis_connects_total counter\nitsm_redis_connects_total 1\n# TYPE itsm_redis_failures_total counter\nitsm_redis_failures_total 0\n\n\z/



=== TEST 3: the worker's connection is one client of Redis, which PINGs it (db 0: no SELECT)
--- init
my $list = $::Plain->cli('CLIENT', 'LIST');
my @clients = grep { !/cmd=client/ } split /\n/, $list;
Test::More::is(scalar @clients, 1, 'one connection from nginx');
Test::More::like($clients[0] // '', qr/ db=0 .* cmd=ping /, 'it PINGs, in db 0');
--- error_code: 200



=== TEST 4: itsm_redis_ping: a PING for the request, 200 and its round trip
--- request
GET /redis-ping
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/^\{"address":"127\.0\.0\.1:$ENV{TEST_NGINX_REDIS_PORT}","state":"up","latency_us":[1-9]\d*\}\n\z/



=== TEST 5: itsm_redis_ping's client goes away while Redis is busy: the PING is cancelled, its late PONG dropped; the next PING is answered
--- init
::ping_and_go_away();
--- request
GET /redis-ping
--- error_code: 200
--- response_body_like eval
qr/^\{"address":"127\.0\.0\.1:$ENV{TEST_NGINX_REDIS_PORT}","state":"up","latency_us":[1-9]\d*\}\n\z/
--- error_log eval
[qr/itsm redis: request gone, its PING \S+ cancelled/, qr/client prematurely closed connection/]
--- no_error_log
[alert]
[crit]



=== TEST 6: Redis stopped: down within 2 PINGs, with the error; the loss logged once at error level
--- init
$::Plain->stop;
::settle(0.5);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'down',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_PORT}: cannot connect: Connection refused",
               last => '[1-9]\d*', max => '[1-9]\d*', connects => 1, failures => '[2-9]')
--- error_log eval
[qr/\[error\] \d+#\d+: redis 127\.0\.0\.1:\d+: connection lost: Server closed the connection; reconnecting in 100ms$/,
 qr/\[info\] \d+#\d+: redis 127\.0\.0\.1:\d+: cannot connect: Connection refused; reconnecting in 200ms$/]



=== TEST 7: Redis started again: up again (reconnected), the last error kept
--- init
$::Plain->restart;
::settle(2.5);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'up',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_PORT}: cannot connect: Connection refused",
               last => '[1-9]\d*', max => '[1-9]\d*', connects => 2, failures => '[2-9]')
--- error_log eval
qr/\[notice\] \d+#\d+: redis 127\.0\.0\.1:\d+: up$/



=== TEST 8: a reload (HUP): the old worker closes its connection, the new one connects; the counters are kept
--- init
ItsmNginx::reload();
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'up',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_PORT}: cannot connect: Connection refused",
               last => '[1-9]\d*', max => '[1-9]\d*', connects => 3, failures => '[2-9]')
--- no_error_log
[alert]
[crit]



=== TEST 9: AUTH with the right password: up; the password is in neither the log nor the status
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT password_file=$TEST_NGINX_REDIS_PASS ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT}", state => 'up', error => '',
               last => '[1-9]\d*', max => '[1-9]\d*', connects => '\d+', failures => 0)
--- response_body_unlike eval: qr/\Q$::Password\E/
--- no_error_log eval
["[error]", $::Password]



=== TEST 10: AUTH with a wrong password: down, the error names the AUTH failure; the password is in neither the log nor the status
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT password_file=$TEST_NGINX_REDIS_WRONG ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT}", state => 'down',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT}: AUTH failed: WRONGPASS invalid username-password pair or user is disabled\\.",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')
--- response_body_unlike eval: qr/\Q$::Password\E/
--- error_log eval
qr/\[error\] \d+#\d+: redis 127\.0\.0\.1:\d+: AUTH failed: WRONGPASS invalid username-password pair or user is disabled\.; reconnecting in 100ms$/
--- no_error_log eval
[$::Password]



=== TEST 11: no password for a Redis that needs one: down, the PING's NOAUTH error
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT}", state => 'down',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT}: PING failed: NOAUTH Authentication required\\.",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')



=== TEST 12: a unix socket: up
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=unix:$TEST_NGINX_REDIS_SOCKET ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "unix:$ENV{TEST_NGINX_REDIS_SOCKET}", state => 'up', error => '',
               last => '[1-9]\d*', max => '[1-9]\d*', connects => '\d+', failures => 0)
--- no_error_log
[error]



=== TEST 13: a unix socket that is not there: down, the error says so
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=unix:$TEST_NGINX_REDIS_SOCKET.none ping=200ms;
--- config eval: $::Config
--- init
::settle(0.5);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "unix:$ENV{TEST_NGINX_REDIS_SOCKET}.none", state => 'down',
               error => "redis unix:\Q$ENV{TEST_NGINX_REDIS_SOCKET}\E\\.none: cannot connect: No such file or directory",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')



=== TEST 14: db=3: SELECT 3 first, then the PINGs in db 3
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_PORT db=3 ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
my @clients = grep { !/cmd=client/ } split /\n/, $::Plain->cli('CLIENT', 'LIST');
Test::More::is(scalar @clients, 1, 'one connection from nginx');
Test::More::like($clients[0] // '', qr/ db=3 .* cmd=ping /, 'it PINGs, in db 3');
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'up', error => '',
               last => '[1-9]\d*', max => '[1-9]\d*', connects => '\d+', failures => 0)



=== TEST 15: a db= Redis does not have: down, SELECT's error
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_REDIS_PORT db=99 ping=200ms;
--- config eval: $::Config
--- init
::settle(0.5);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}", state => 'down',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_REDIS_PORT}: SELECT failed: ERR DB index is out of range",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')



=== TEST 16: a Redis that accepts and never answers: the PING times out (an error, not a hang), the connection is dropped and opened again
--- http_config
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$TEST_NGINX_HANG_PORT ping=200ms timeout=300ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "127.0.0.1:$ENV{TEST_NGINX_HANG_PORT}", state => 'down',
               error => "redis 127\\.0\\.0\\.1:$ENV{TEST_NGINX_HANG_PORT}: timed out after 300ms",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')
--- error_log eval
[qr/\[error\] \d+#\d+: redis 127\.0\.0\.1:\d+: timed out after 300ms; reconnecting in 100ms$/,
 qr/\[info\] \d+#\d+: redis 127\.0\.0\.1:\d+: timed out after 300ms; reconnecting in 200ms$/]



=== TEST 17: itsm_redis_ping against it: 503 with the timeout's error, in about timeout= (300ms), not a hang
--- request
GET /redis-ping
--- timeout: 3
--- error_code: 503
--- response_body_like eval
qr/^\{"address":"127\.0\.0\.1:$ENV{TEST_NGINX_HANG_PORT}","state":"down","error":"redis 127\.0\.0\.1:$ENV{TEST_NGINX_HANG_PORT}: timed out after 300ms"\}\n\z/



=== TEST 18: a host name, resolved by nginx's resolver (a fake DNS answering 127.0.0.1): up
--- http_config
    itsm_zone itsm:1m;
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off;
    itsm_redis address=redis.test:$TEST_NGINX_REDIS_PORT ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "redis.test:$ENV{TEST_NGINX_REDIS_PORT}", state => 'up', error => '',
               last => '[1-9]\d*', max => '[1-9]\d*', connects => 1, failures => 0)
--- error_log
itsm redis: "redis.test" is 127.0.0.1



=== TEST 19: a host name the DNS does not know: down, the resolver's error
--- http_config
    itsm_zone itsm:1m;
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off;
    itsm_redis address=none.test:$TEST_NGINX_REDIS_PORT ping=200ms;
--- config eval: $::Config
--- init
::settle(0.5);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "none.test:$ENV{TEST_NGINX_REDIS_PORT}", state => 'down',
               error => 'redis none\.test:' . $ENV{TEST_NGINX_REDIS_PORT} . ': cannot resolve \\\\"none\.test\\\\": Host not found',
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')



=== TEST 20: a DNS that never answers: connect_timeout= ends the resolving
--- http_config
    itsm_zone itsm:1m;
    resolver 127.0.0.1:$TEST_NGINX_MUTE_DNS_PORT ipv6=off;
    resolver_timeout 10s;
    itsm_redis address=redis.test:$TEST_NGINX_REDIS_PORT connect_timeout=300ms ping=200ms;
--- config eval: $::Config
--- init
::settle(1);
--- error_code: 200
--- response_body_like eval
::redis_status(address => "redis.test:$ENV{TEST_NGINX_REDIS_PORT}", state => 'down',
               error => "redis redis\\.test:$ENV{TEST_NGINX_REDIS_PORT}: resolving timed out after 300ms",
               last => 0, max => 0, connects => 0, failures => '[1-9]\d*')
