# The cooldown holds of "on_repeat ... cooldown=" with itsm_store redis
# (ngx_http_itsm_held.c on the shared queue, ngx_http_itsm_store_queue_
# redis.c's read and compare-and-set write): two edges, A and B (each an
# nginx of its own, the same itsm_redis prefix=), in front of one "ITSM" of
# this file (a process per connection that logs every request with its
# body and the edge that sent it).
#
# - repeats held on A and on B in one cooldown: one held job, delivered
#   once, by one edge, when the cooldown ends: one comment with every
#   note, the exact bytes;
# - repeats sent at once over both edges: every note in the one comment,
#   each once (the write that lost the compare merged again);
# - a resolve during a hold: the resolve goes at once, the held notes
#   reach the resolved ticket once, as a comment of their own (as on
#   LMDB, t/032 TEST 10-11);
# - redis-server stopped during a hold: the repeat gets 503 with
#   Retry-After and a JSON error; restarted (appendfsync always): the held
#   note is still there, the repeat sent again is held, both delivered in
#   one comment, nothing lost, nothing twice;
# - nginx -t passes a cooldown with itsm_store redis.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;

@ItsmHoldsItsm::ISA = ('ItsmChild');

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $Files = tempdir('itsm-holds-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'hr' . int(rand(1e6)) . ':';
my $Cooldown = 3 * $Slow;

my $Redis = ItsmRedis->start(args => ['--appendonly', 'yes', '--appendfsync', 'always']);

# ---- the ITSM -----------------------------------------------------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path, $body) = @$req{qw(method path body)};
        my ($edge) = ($req->{headers}{'x-edge'} // '-') =~ /^(\S*)/;
        my ($status, $answer) = (200, '[]');
        if ($method eq 'POST' && $path eq '/ticket') {
            open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
            flock($lk, 2);
            my $n = 1 + (-s "$Files/created" // 0);
            open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
            close $lk;
            ($status, $answer) = (201, qq({"id":"T$n"}));
        } elsif ($method eq 'POST') {
            $status = 201;
        }
        open my $fh, '>>', $Hits or POSIX::_exit(1);
        flock($fh, 2);
        print $fh "$edge $method $path $body\n";
        close $fh;
        return ($status, $answer);
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmHoldsItsm', $ItsmSock, sub { itsm($ItsmSock) });

# the ITSM's log: "EDGE METHOD PATH BODY" lines, those of PATH (a regex)
sub hits {
    my ($path) = @_;
    open my $fh, '<', $Hits or return ();
    chomp(my @l = <$fh>);
    return grep { (split / /, $_, 4)[2] =~ $path } @l;
}

# ---- the edges ----------------------------------------------------------------

my $Connector = <<"END";
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"text": "{{ description }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "{{ description }}"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}';
        ticket_id /id;
        on_repeat comment cooldown=${Cooldown}s;
    }
END

sub conf {
    my ($name, $port, $dir) = @_;
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" } qw(client_body proxy fastcgi uwsgi scgi);
    my $rport = $Redis->port;
    return $load . <<"END";
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
$temp
    itsm_zone itsm:4m;
    itsm_redis address=127.0.0.1:$rport prefix=$Prefix timeout=${\(2 * $Slow)}s ping=1s;
    itsm_store redis;
    itsm_replay_url http://127.0.0.1:$port/_itsm/replay;
    itsm_retry_after 1s;
$Connector
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; }
        location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
        location = /ping { itsm_redis_ping; }
        location /_itsm/mock {
            internal;
            proxy_set_header X-Edge $name;
            proxy_pass http://127.0.0.1:$ItsmPort;
        }
    }
}
END
}

sub edge {
    my ($name) = @_;
    my $dir = tempdir("itsm-hr-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $text = conf($name, $port, $dir);
    my $self = bless {name => "holds-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 30 * $Slow, keep_alive => 0)},
                     'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert {
    my ($key, $description, $status) = @_;
    $status //= 'firing';
    return '{"key": "' . $key . '", "description": "' . $description . '", "status": "' . $status . '"}';
}

# "STATUS OUTCOME" of an answer
sub outcome {
    my ($r) = @_;
    my $a = $r->{json} && $r->{json}{alerts} && $r->{json}{alerts}[0] || {};
    return join ' ', $r->{status}, $a->{outcome} // '-';
}

# alerts sent at once: [EDGE, BODY] ...; their "STATUS OUTCOME" in order
sub post_all {
    my (@to) = @_;
    my (@sock, @buf);
    for my $i (0 .. $#to) {
        my ($e, $body) = @{$to[$i]};
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $e->port(8080))
            or die "connect: $!\n";
        print $s "POST /alerts HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($body) . "\r\n\r\n$body";
        push @sock, $s;
        $buf[$i] = '';
    }
    my %of = map { ($sock[$_] => $_) } 0 .. $#sock;
    my $sel = IO::Select->new(@sock);
    my $until = time + 60 * $Slow;
    while ($sel->count && time < $until) {
        for my $s ($sel->can_read(1)) {
            my $r = sysread($s, my $chunk, 65536);
            if ($r) { $buf[$of{$s}] .= $chunk; next }
            $sel->remove($s);
            close $s;
        }
    }
    return map {
        my ($st) = /^HTTP\/1\.\d (\d+)/;
        my ($o) = /"outcome":"([^"]+)"/;
        ($st // '-') . ' ' . ($o // '-');
    } @buf;
}

sub wait_until {
    my ($code, $timeout) = @_;
    my $until = time + ($timeout // 20) * $Slow;
    until ($code->()) {
        return 0 if time > $until;
        sleep 0.1;
    }
    return 1;
}

sub hlen {
    my ($h) = @_;
    my $n = $Redis->cli('--raw', 'HLEN', "$Prefix\{q}:$h");
    chomp $n;
    return $n eq '' ? -1 : $n;
}

# the notes of a comment's text: "[TIME] note\n\n[TIME] note"
sub notes {
    my ($line) = @_;
    my ($body) = $line =~ /^\S+ \S+ \S+ (.*)$/ or return ();
    my $text = JSON::PP->new->decode($body)->{text};
    return map { s/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] //r } split /\n\n/, $text;
}

my $T = qr/\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\]/;

{
    my $e = edge('t');
    my ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: "on_repeat comment cooldown=" with itsm_store redis passes')
        or diag $out;
}

my @E = map { edge($_)->start } qw(a b);
my ($A, $B) = @E;
sleep 0.5 * $Slow;

# ---- repeats held on two edges in one cooldown: one comment, by one edge -----

{
    is(outcome($A->post('/alerts', alert('h-1', 'case opened'))), '201 created', 'two edges: the ticket, on A');
    is(outcome($B->post('/alerts', alert('h-1', 'note A'))), '200 cooldown', 'two edges: a repeat held on B');
    is(outcome($A->post('/alerts', alert('h-1', 'note B'))), '200 cooldown', 'two edges: a repeat held on A');
    is(outcome($B->post('/alerts', alert('h-1', 'note B'))), '200 cooldown', 'two edges: the same again on B');
    is(hlen('data'), 1, 'two edges: one job in Redis for the key');
    is(scalar(hits(qr{/comment$})), 0, 'two edges: nothing sent within the cooldown');

    ok(wait_until(sub { hits(qr{^/ticket/T1/comment$}) }, 3 * $Cooldown), 'two edges: the comment when the cooldown ends');
    sleep 2 * $Slow;
    my @c = hits(qr{^/ticket/T1/comment$});
    is(scalar(@c), 1, 'two edges: one comment, by one edge');
    like($c[0], qr/^[ab] POST \/ticket\/T1\/comment \{"text":"$T note A\\n\\n$T note B"\}\z/,
         'two edges: its exact bytes: both notes, each once, in their order');
    ok(wait_until(sub { hlen('data') == 0 }), 'two edges: the job is gone once delivered');
}

# ---- repeats at once over both edges: every note in the one comment ----------

{
    is(outcome($A->post('/alerts', alert('h-2', 'opened'))), '201 created', 'at once: the ticket');
    my @out = post_all(map { [$E[$_ % 2], alert('h-2', sprintf('n%02d', $_))] } 1 .. 16);
    is(join(',', @out), join(',', ('200 cooldown') x 16), 'at once: 16 repeats over A and B, each held');
    ok(wait_until(sub { hits(qr{^/ticket/T2/comment$}) }, 3 * $Cooldown), 'at once: the comment when the cooldown ends');
    sleep 2 * $Slow;
    my @c = hits(qr{^/ticket/T2/comment$});
    is(scalar(@c), 1, 'at once: one comment');
    is(join(',', sort(notes($c[0]))), join(',', map { sprintf('n%02d', $_) } 1 .. 16),
       'at once: every note in it, each once');
}

# ---- a resolve during a hold --------------------------------------------------

{
    is(outcome($A->post('/alerts', alert('h-3', 'case opened'))), '201 created', 'resolve: the ticket');
    is(outcome($B->post('/alerts', alert('h-3', 'note X'))), '200 cooldown', 'resolve: a repeat held on B');
    is(outcome($A->post('/alerts', alert('h-3', 'closed', 'resolved'))), '200 resolved', 'resolve: sent at once from A');
    ok(wait_until(sub { hits(qr{^/ticket/T3/comment$}) }, 3 * $Cooldown), 'resolve: the held note when it is due');
    sleep 2 * $Slow;
    is(join("\n", map { s/^[ab] //r } hits(qr{^/ticket/T3})),
       "PUT /ticket/T3 {\"status\":\"resolved\"}\nPOST /ticket/T3/comment {\"text\":\"note X\"}",
       'resolve: the resolve, then the held note once, as a comment of its own (exact bytes)');
    is(hlen('data'), 0, 'resolve: nothing waits');
}

# ---- redis-server stopped during a hold ----------------------------------------

{
    is(outcome($A->post('/alerts', alert('h-4', 'case opened'))), '201 created', 'redis stopped: the ticket');
    is(outcome($B->post('/alerts', alert('h-4', 'note P'))), '200 cooldown', 'redis stopped: a repeat held on B');
    $Redis->stop;
    my $r = $A->post('/alerts', alert('h-4', 'note Q'));
    is($r->{status}, 503, 'redis stopped: a repeat gets 503');
    is($r->{headers}{'retry-after'}, '1', 'redis stopped: with Retry-After');
    is($r->{json} && $r->{json}{error}, 'store_unavailable', 'redis stopped: and a JSON error');
    $Redis->restart;
    ok(wait_until(sub { $A->get('/ping')->{status} == 200 && $B->get('/ping')->{status} == 200 }),
       'redis back: both edges reconnected');
    is(outcome($A->post('/alerts', alert('h-4', 'note Q'))), '200 cooldown', 'redis back: the repeat sent again is held');
    ok(wait_until(sub { hits(qr{^/ticket/T4/comment$}) }, 3 * $Cooldown), 'redis back: the comment when the cooldown ends');
    sleep 2 * $Slow;
    my @c = hits(qr{^/ticket/T4/comment$});
    is(scalar(@c), 1, 'redis back: one comment');
    like($c[0], qr/^[ab] POST \/ticket\/T4\/comment \{"text":"$T note P\\n\\n$T note Q"\}\z/,
         'redis back: both notes, nothing lost (exact bytes)');
}

is(scalar(hits(qr{^/ticket$})), 4, 'one create per key in all');

$_->stop for @E;

done_testing();
