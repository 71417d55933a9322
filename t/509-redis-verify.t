# A connector's verify probe with the store on Redis (itsm_store redis,
# ngx_http_itsm_verify.c): two edges, A and B, each an nginx of its own on
# one redis-server (the same itsm_redis prefix=), in front of one "ITSM"
# of this file that logs every request with its Authorization and
# answers GET /myself 200 for "Basic good", 401 with its words otherwise
# (a POST with "Basic good": 201 and a numbered ticket).
#
# The probe's outcome is each edge's own (its shared memory): each edge
# asks the ITSM with its own credentials over its own path, so each
# registry answers "can this edge deliver?".
#
# - A (good credentials) and B (wrong ones) on one Redis: A verified, B
#   not, with the ITSM's words; neither shows the other's outcome; one
#   probe per edge reaches the ITSM, each with its own header;
# - the probe writes nothing in Redis (no key under the prefix);
# - keys of 395, 396, 401 and 4096 bytes: on Redis (created on A, a
#   duplicate on B) as on LMDB (created, a duplicate), the 4096-byte
#   key's whole text in its Redis record;
# - Redis stopped: an edge started then still probes and is verified
#   (the probe needs no store), while an alert gets 503;
# - the server's version (INFO server, once per connection) on the status
#   page; a "Redis 6.2.6" (a fake one of this file) is said to be too old
#   there and in the error log.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use JSON::PP;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;

@ItsmVerifyItsm::ISA = ('ItsmChild');

my $Files = tempdir('itsm-verify-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'vf' . int(rand(1e6)) . ':';
my $Json = JSON::PP->new->canonical(1);

my $Redis = ItsmRedis->start;

# ---- the ITSM: every request logged with its Authorization --------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path) = @$req{qw(method path)};
        my $auth = $req->{headers}{authorization} // '-';
        open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
        flock($lk, 2);
        open my $fh, '>>', $Hits; print $fh "$method $path $auth\n"; close $fh;
        close $lk;
        return $auth ne 'Basic good'
            ? (401, '{"errorMessages":["Client must be authenticated"]}')
            : $method eq 'POST' ? (201, '{"id":"T' . creates() . '"}')
            : (200, '{"accountId":"a1"}');
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmVerifyItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    local $/ = "\n";    # the ITSM's child reads with "\r\n"
    open my $fh, '<', $Hits or return ();
    return sort map { chomp; $_ } <$fh>;
}

# the creates the ITSM got (its tickets are numbered by them)
sub creates { scalar(grep { /^POST / } hits()) }

# ---- the edges ----------------------------------------------------------------

sub edge {
    my ($name, $auth, $redis, $store) = @_;
    my $dir = tempdir("itsm-vf-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temps = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                         qw(client_body proxy fastcgi uwsgi scgi);
    $redis //= $Redis->port;
    $store //= "    itsm_redis address=127.0.0.1:$redis prefix=$Prefix timeout=2s ping=1s;\n"
             . "    itsm_store redis;";
    my $text = $load . <<"END";
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
$temps    access_log off;
    itsm_zone itsm:1m;
$store
    itsm_replay_url http://127.0.0.1:$port/_itsm/replay;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
        header    Authorization "$auth";
        verify    GET /myself;
    }
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; }
        location = /connectors { itsm_connectors; }
        location = /status { itsm_status; }
        location = /_itsm/replay { itsm_replay; }
        location /_itsm/mock { internal; proxy_pass http://127.0.0.1:$ItsmPort; }
    }
}
END
    my $self = bless {name => "verify-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 30, keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

# the registry's "verify" of connector mock on an edge, once it has a
# probe (at most 20 s), with what varies from run to run made fixed
sub verify_of {
    my ($e) = @_;
    my $v = ItsmExample::wait_for(sub {
        my $doc = $e->get('/connectors')->{json} || {};
        my ($m) = grep { $_->{name} eq 'mock' } @{$doc->{connectors} || []};
        return $m && ref $m->{verify} && $m->{verify}{probes} ? $m->{verify} : undef;
    });
    return 'none' unless $v;
    my %c = %$v;
    for (qw(at last_verified)) {
        $c{$_} = 'TIME' if defined $c{$_} && $c{$_} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
    }
    $c{ms} = 'MS' if defined $c{ms} && $c{ms} =~ /^\d+$/;
    return $Json->encode(\%c);
}

my $Ok = '{"at":"TIME","error":"","failures":0,"last_verified":"TIME","ms":"MS","path":"/myself","probes":1,"status":200,"verified":true}';
my $Refused = '{"at":"TIME","error":"{\"errorMessages\":[\"Client must be authenticated\"]}","failures":1,"last_verified":null,"ms":"MS","path":"/myself","probes":1,"status":401,"verified":false}';

my $A = edge('a', 'Basic good');
my $B = edge('b', 'Basic wrong');

{
    my ($ok, $out) = $A->test;
    ok($ok, 'nginx -t: verify with itsm_store redis passes') or diag $out;
}

$A->start;
$B->start;

# ---- each edge its own outcome --------------------------------------------------

is(verify_of($A), $Ok, 'A: verified with its own credentials');
is(verify_of($B), $Refused, 'B: not verified, the ITSM\'s words');
is(verify_of($A), $Ok, 'A: still verified (B\'s outcome is not A\'s)');
is(join("\n", hits()), "GET /myself Basic good\nGET /myself Basic wrong",
   'the ITSM: one probe per edge, each with its own header');
like($B->error_log, qr/itsm verify: connector "mock" failed its probe: the ITSM answered 401/,
     'B: its log says so');
unlike($A->error_log, qr/failed its probe/, 'A: no failure in its log');

# ---- the server's version ---------------------------------------------------------

{
    my ($v) = $Redis->cli('--raw', 'INFO', 'server') =~ /^redis_version:(\S+)/m;
    my $r = ItsmExample::wait_for(sub { my $j = $A->get('/status')->{json}; $j && $j->{redis}{version} && $j->{redis} });
    is(($r->{version} // 'none') . ' ' . $Json->encode($r->{version_ok}), "$v true",
       "the status page: the server's version ($v), new enough");
    unlike($A->error_log, qr/older than/, 'a new enough Redis: nothing said in the log');
}

# ---- nothing in Redis ----------------------------------------------------------

is($Redis->cli('--raw', '--scan', '--pattern', "$Prefix*"), '',
   'Redis: the probes wrote no key under the prefix');

# ---- keys longer than LMDB keeps: the same outcome on Redis and LMDB ---------------
#
# LMDB keeps "connector NUL key" up to 400 bytes and a longer key by its
# MD5; on Redis the key is only hashed into the names, its text in the
# record, up to 4096 bytes (NGX_HTTP_ITSM_STORE_REDIS_KEY_MAX): both
# create once, then a duplicate.

sub outcome {
    my ($r) = @_;
    my $a = $r->{json} && $r->{json}{alerts} && $r->{json}{alerts}[0] || {};
    return join ' ', $r->{status}, $a->{action} // '-', $a->{outcome} // '-',
                     $a->{ticket_id} // '-';
}

sub long_alert { qq({"key": "$_[0]", "title": "x", "status": "firing"}) }

my $Lmdb = edge('l', 'Basic good', undef, "    itsm_store $Files/state.mdb;")->start;
my $Bgood = edge('b2', 'Basic good')->start;
{
    my $n = creates();
    # 395: "mock" NUL key is 400 bytes, the last LMDB keeps as text; 396
    # one more (hashed on LMDB); 401 past the 400 Redis once refused;
    # 4096 the longest Redis keeps
    for my $len (395, 396, 401, 4096) {
        my $key = 'k' x ($len - 5) . sprintf('%05d', $len);
        my $t = 'T' . (creates() + 1);
        is(outcome($A->post('/alerts', long_alert($key))) . ' / '
           . outcome($Bgood->post('/alerts', long_alert($key))),
           "201 create created $t / 200 none duplicate $t",
           "a key of $len bytes on Redis: created on A, a duplicate on B");
        $t = 'T' . (creates() + 1);
        is(outcome($Lmdb->post('/alerts', long_alert($key))) . ' / '
           . outcome($Lmdb->post('/alerts', long_alert($key))),
           "201 create created $t / 200 none duplicate $t",
           "a key of $len bytes on LMDB: created, then a duplicate");
        $n += 2;
    }
    is(creates(), $n, 'long keys: one create per key and store');
    my @r = grep { /\n/ } map { $Redis->cli('--raw', 'GET', $_) }
            grep { length } split /\n/, $Redis->cli('--raw', '--scan', '--pattern', "$Prefix\{mock:*}:r");
    is(scalar(grep { /^r1 [^\n]* 4096\n(k{4091}04096)/ } @r), 1,
       'Redis: the 4096-byte key\'s record holds its whole text');
}
$Lmdb->stop;
$Bgood->stop;

# ---- Redis stopped: the probe still goes, an alert gets 503 ------------------------

$A->stop;
$B->stop;
$Redis->stop;

my $Before = creates();
my $C = edge('c', 'Basic good')->start;

is(verify_of($C), $Ok, 'Redis down: C, started then, is verified (the probe needs no store)');
my $down = $C->post('/alerts', '{"key": "k1", "title": "x", "status": "firing"}');
is($down->{status}, 503, 'Redis down: an alert gets 503');
is(creates(), $Before, 'Redis down: nothing created at the ITSM');

$C->stop;

# ---- a Redis older than 7.0 ----------------------------------------------------------

# a fake "Redis 6.2.6": +PONG to PING, its INFO server, an error to the rest
sub old_redis {
    my ($l) = @_;
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        my $c = $l->accept or next;
        my $pid = fork();
        if (!defined $pid || $pid) { close $c; next }
        $SIG{TERM} = 'DEFAULT';
        local $/ = "\r\n";
        while (defined(my $n = <$c>)) {
            my ($count) = $n =~ /^\*(\d+)/ or last;
            my @a;
            for (1 .. $count) {
                my ($len) = <$c> =~ /^\$(\d+)/;
                read($c, my $arg, $len + 2);
                push @a, substr($arg, 0, $len);
            }
            my $cmd = uc $a[0];
            if ($cmd eq 'PING') {
                print $c "+PONG\r\n";
            } elsif ($cmd eq 'INFO') {
                my $info = "# Server\r\nredis_version:6.2.6\r\nredis_mode:standalone\r\n";
                print $c '$' . length($info) . "\r\n$info\r\n";
            } else {
                print $c "-ERR unknown command '$a[0]'\r\n";
            }
        }
        POSIX::_exit(0);
    }
}

@ItsmOldRedis::ISA = ('ItsmChild');
my $OldSock = ItsmPorts::listen_socket();
my $Old = ItsmChild::start('ItsmOldRedis', $OldSock, sub { old_redis($OldSock) });

{
    my $D = edge('d', 'Basic good', $Old->port)->start;
    my $r = ItsmExample::wait_for(sub { my $j = $D->get('/status')->{json}; $j && $j->{redis}{version} && $j->{redis} });
    is(($r->{version} // 'none') . ' ' . $Json->encode($r->{version_ok}), '6.2.6 false',
       'Redis 6.2.6: the status page says it is too old');
    like($D->error_log, qr/\[error\] .*redis 127\.0\.0\.1:\d+ is Redis 6\.2\.6, older than 7\.0, which the module needs: delivery ids and the signature replay cache use "SET \.\.\. NX \.\.\. GET" \(7\.0\), the shared queue "ZADD LT" \(6\.2\); upgrade Redis/,
         'Redis 6.2.6: the error log says so, and what needs 7.0');
    $D->stop;
}

done_testing();
