# itsm_queue on with itsm_store redis (ngx_http_itsm_store_queue_redis.c):
# the queue shared by three edges, A, B and C (each an nginx of its own,
# the same itsm_redis prefix=), in front of one "ITSM" of this file (a
# process per connection that logs every request with the edge that sent
# it, answers 503 while the file "down" exists, holds a create while
# "hang" exists, numbers the tickets; find answers the key's ticket).
#
# - the ITSM down: N alerts (ITSM_TEST_ALERTS, default 200) round-robin
#   over the edges, each answered 202 "queued" once Redis has it; the
#   ITSM back: every key created exactly once, each by one edge;
# - an edge SIGKILLed while it holds leased jobs (their creates hang): the
#   others deliver them after the lease, still one ticket per key;
# - redis-server restarted (appendonly yes, appendfsync always) in a storm
#   of new alerts while queued ones are delivered: every acknowledged
#   alert has its ticket, no key two; senders refused got 503 and are
#   answered when they send again;
# - a dead letter after the last attempt: listed by itsm_requeue on any
#   edge, requeued once, delivered once;
# - the status page counts the queue on Redis (ZCARD); nginx -t passes.
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

@ItsmQueueItsm::ISA = ('ItsmChild');

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $N = $ENV{ITSM_TEST_ALERTS} // ($ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 200);
die "ITSM_TEST_ALERTS: 49 at least (three edges deliver 16 each at once)\n" if $N < 49;
my $Files = tempdir('itsm-queue-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'qr' . int(rand(1e6)) . ':';
my $Lease = 2 * $Slow;

my $Redis = ItsmRedis->start(args => ['--appendonly', 'yes', '--appendfsync', 'always']);

sub touch { open my $fh, '>', $_[0] or die; close $fh }

# ---- the ITSM -----------------------------------------------------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path) = @$req{qw(method path)};
        my ($key) = ($req->{headers}{'x-key'} // '') =~ /^(\S*)/;
        my ($edge) = ($req->{headers}{'x-edge'} // '-') =~ /^(\S*)/;
        my ($status, $answer, $what) = (200, '{}', 'OTHER');
        if ($method eq 'POST' && $path eq '/ticket') {
            if (-e "$Files/hang") {
                open my $fh, '>>', $Hits; print $fh "START $key $edge\n"; close $fh;
            }
            sleep 0.05 while -e "$Files/hang";
            if (-e "$Files/down" || ($key =~ /^dl-/ && -e "$Files/dl-down")) {
                ($status, $answer, $what) = (503, '{"error":"down"}', 'DOWN');
            } else {
                open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
                flock($lk, 2);
                my $n = 1 + (-s "$Files/created" // 0);
                open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
                open my $kf, '>>', "$Files/keys"; print $kf "$key T$n\n"; close $kf;
                close $lk;
                ($status, $answer, $what) = (201, qq({"id":"T$n"}), 'CREATE');
            }
        } elsif ($method eq 'GET' && $path =~ m{^/tickets\?key=(\S+)}) {
            my $k = $1;
            my @lines;
            if (open my $kf, '<', "$Files/keys") { @lines = <$kf> }
            my ($t) = map { /^\Q$k\E (\S+)$/ ? $1 : () } @lines;
            ($answer, $what) = ($t ? qq({"items":[{"id":"$t"}]}) : '{"items":[]}', 'FIND');
        }
        open my $fh, '>>', $Hits or POSIX::_exit(1);
        print $fh "$what $key $edge\n";
        close $fh;
        return ($status, $answer);
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmQueueItsm', $ItsmSock, sub { itsm($ItsmSock) });

# "WHAT key edge" lines of the ITSM's log
sub hits {
    my ($what) = @_;
    open my $fh, '<', $Hits or return ();
    return map { [split] } grep { /^\Q$what\E / } <$fh>;
}

# key -> the edges that created it
sub creates {
    my ($re) = @_;
    my %c;
    push @{$c{$_->[1]}}, $_->[2] for grep { $_->[1] =~ $re } hits('CREATE');
    return \%c;
}

# ---- the edges ----------------------------------------------------------------

my $Connector = <<"END";
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        find      GET "/tickets?key={{ key }}" take=/items/0/id settle=0;
        header    X-Key "{{ key }}";
        ticket_id /id;
        on_repeat nothing;
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
# one worker: its Redis connection is the one /ping shows back after the
# restart (each worker has its own)
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
$temp
    itsm_zone itsm:4m;
    itsm_redis address=127.0.0.1:$rport prefix=$Prefix timeout=${\(2 * $Slow)}s ping=1s;
    itsm_store redis lease=${Lease}s;
    itsm_replay_url http://127.0.0.1:$port/_itsm/replay;
    itsm_retry attempts=4 backoff=10s max=10s;
    itsm_retry_after 1s;
$Connector
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; itsm_queue on; }
        location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
        location = /requeue { itsm_requeue; }
        location = /status { itsm_status; }
        location = /ping { itsm_redis_ping; }
        location /_itsm/mock {
            internal;
            proxy_set_header X-Edge $name;
            proxy_pass http://127.0.0.1:$ItsmPort;
            proxy_read_timeout 60s;
        }
    }
}
END
}

sub edge {
    my ($name) = @_;
    my $dir = tempdir("itsm-qr-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $text = conf($name, $port, $dir);
    my $self = bless {name => "queue-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 30 * $Slow, keep_alive => 0)},
                     'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert {
    my ($key, $title) = @_;
    return '{"key": "' . $key . '", "title": "' . ($title // 'Disk full') . '", "status": "firing"}';
}

sub outcome {
    my ($r) = @_;
    my $a = $r->{json} && $r->{json}{alerts} && $r->{json}{alerts}[0] || {};
    return join ' ', $r->{status}, $a->{outcome} // '-';
}

# alerts sent at once, KEY => EDGE; KEY => "STATUS OUTCOME"
sub post_all {
    my (%to) = @_;
    my (%sock, %buf);
    for my $k (keys %to) {
        my $body = alert($k);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $to{$k}->port(8080))
            or die "connect: $!\n";
        print $s "POST /alerts HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($body) . "\r\n\r\n$body";
        $sock{$s} = [$s, $k];
        $buf{$k} = '';
    }
    my $sel = IO::Select->new(map { $_->[0] } values %sock);
    my $until = time + 120 * $Slow;
    while ($sel->count && time < $until) {
        for my $s ($sel->can_read(1)) {
            my $r = sysread($s, my $chunk, 65536);
            if ($r) { $buf{$sock{$s}[1]} .= $chunk; next }
            $sel->remove($s);
            close $s;
        }
    }
    my %out;
    for my $k (keys %buf) {
        my ($st) = $buf{$k} =~ m{^HTTP/1\.\d (\d+)};
        my ($o) = $buf{$k} =~ m{"outcome":"([^"]+)"};
        $out{$k} = ($st // '-') . ' ' . ($o // '-');
    }
    return \%out;
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

sub zcard {
    my ($z) = @_;
    my $n = $Redis->cli('--raw', 'ZCARD', "$Prefix\{q}:$z");
    chomp $n;
    return $n eq '' ? -1 : $n;
}

sub hlen {
    my ($h) = @_;
    my $n = $Redis->cli('--raw', 'HLEN', "$Prefix\{q}:$h");
    chomp $n;
    return $n eq '' ? -1 : $n;
}

sub drained { zcard('due') == 0 && zcard('lease') == 0 }

my $Json = JSON::PP->new->canonical(1);

{
    my $e = edge('t');
    my ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: itsm_queue on, itsm_replay and itsm_requeue with itsm_store redis pass')
        or diag $out;
}

my @E = map { edge($_)->start } qw(a b c);
my ($A, $B, $C) = @E;
sleep 0.5 * $Slow;

# ---- the ITSM down: N alerts queued over three edges; back: each once --------

{
    touch("$Files/down");
    my %out;
    my $r = post_all(map { ("q-$_" => $E[$_ % 3]) } 1 .. $N);
    $out{$_}++ for values %$r;
    is_deeply(\%out, {'202 queued' => $N}, "ITSM down: $N alerts, each answered 202 queued")
        or diag explain \%out;
    is(hlen('data'), $N, "ITSM down: $N jobs in Redis' queue");

    my $s = $B->get('/status')->{json};
    is($Json->encode($s->{store}), qq({"backend":"redis","dead_letters":0,"lease":$Lease,"queued":$N,"retention":604800}),
       'the status page counts the queue on Redis (ZCARD)');

    # the ITSM back but its creates held: each edge leases 16 jobs at once
    touch("$Files/hang");
    unlink "$Files/down";
    ok(wait_until(sub { scalar(hits('START')) >= 48 }, 60), 'ITSM back: 48 creates on their way');
    my %start;
    $start{$_->[2]}{$_->[1]}++ for hits('START');
    is(join(' ', map { "$_=" . scalar(keys %{$start{$_}}) } sort keys %start), 'a=16 b=16 c=16',
       'ITSM back: each edge delivers 16 jobs at once');
    my %keys;
    $keys{$_}++ for map { keys %$_ } values %start;
    is(scalar(grep { $_ != 1 } values %keys), 0, 'ITSM back: no job leased to two edges');
    unlink "$Files/hang";
    ok(wait_until(\&drained, 90), 'ITSM back: the queue drained') or diag zcard('due') . ' ' . zcard('lease');
    my $c = creates(qr/^q-/);
    is(scalar(keys %$c), $N, "ITSM back: $N keys created");
    is(scalar(grep { @$_ != 1 } values %$c), 0, 'ITSM back: each key exactly once');
    is(zcard('dead'), 0, 'ITSM back: no dead letter');
}

# ---- an edge killed holding leased jobs ---------------------------------------

{
    touch("$Files/down");
    unlink $Hits;
    # 40 jobs: an edge delivers 16 at once, so A holds 8 at least
    post_all(map { ("k-$_" => $E[$_ % 3]) } 1 .. 40);
    touch("$Files/hang");
    unlink "$Files/down";
    # the kicks take the jobs, their creates hang at the ITSM
    ok(wait_until(sub { zcard('due') == 0 && scalar(hits('START')) == 40 }, 60), 'killed: every job leased, its create hanging');
    my @mine = map { $_->[1] } grep { $_->[2] eq 'a' } hits('START');
    ok(scalar(@mine) >= 8, 'killed: A holds leased jobs (8 at least)') or diag scalar(@mine);
    my @w = $A->workers;
    kill 'KILL', $A->{pid}, @w;
    $A->stop;
    unlink "$Files/hang";
    ok(wait_until(\&drained, 90), 'killed: the others drained the queue after the lease');
    my $c = creates(qr/^k-/);
    is(scalar(keys %$c), 40, 'killed: 40 keys created');
    is(scalar(grep { @$_ != 1 } values %$c), 0, 'killed: each key exactly once')
        or diag explain $c;
    my %taken = map { ($_->[1] => 1) } grep { $_->[2] ne 'a' } hits('FIND');
    is(scalar(grep { !$taken{$_} } @mine), 0, 'killed: B or C took each of A\'s jobs over (its find first)')
        or diag join ' ', grep { !$taken{$_} } @mine;
    $A = $E[0] = edge('a2')->start;
}

# ---- redis restarted mid-storm -------------------------------------------------

{
    touch("$Files/down");
    post_all(map { ("r-$_" => $E[$_ % 3]) } 1 .. 30);
    unlink "$Files/down";

    # the kicks deliver r-1..30 while new alerts come; Redis stops at the
    # 30th new one and is back (its AOF) after ten more
    my (%acked, @refused, %seen, %retry);
    for my $i (31 .. 130) {
        $Redis->stop if $i == 60;
        if ($i == 70) {
            $Redis->restart;
            # each edge reconnects (its client backs off up to 2 s)
            for my $e (@E) {
                wait_until(sub { $e->get('/ping')->{status} == 200 });
            }
        }
        my $r = $E[$i % 3]->post('/alerts', alert("r-$i"));
        $seen{$r->{status}}++;
        if ($r->{status} =~ /^2/) { $acked{"r-$i"} = 1 }
        else { push @refused, "r-$i"; $retry{$r->{headers}{'retry-after'} // '-'}++ }
    }
    is(join(' ', @refused), join(' ', map { "r-$_" } 60 .. 69), 'restart: the senders during the outage refused, the others not');
    is($seen{503}, 10, 'restart: refused with 503');
    is(join(' ', keys %retry), '1', 'restart: with Retry-After: 1') or diag explain \%retry;
    # senders refused send again
    for my $k (@refused) {
        ok(wait_until(sub { $B->post('/alerts', alert($k))->{status} =~ /^2/ }), "restart: $k answered when sent again")
            or last;
        $acked{$k} = 1;
    }
    $acked{"r-$_"} = 1 for 1 .. 30;
    ok(wait_until(\&drained, 90), 'restart: the queue drained');
    my $c = creates(qr/^r-/);
    is(scalar(grep { !$c->{$_} } keys %acked), 0, 'restart: every acknowledged alert has its ticket')
        or diag join ' ', grep { !$c->{$_} } sort keys %acked;
    is(scalar(grep { @$_ != 1 } values %$c), 0, 'restart: no key two tickets') or diag explain $c;
}

# ---- dead letters, itsm_requeue on any edge --------------------------------------

{
    touch("$Files/dl-down");
    is(outcome($A->post('/alerts', alert('dl-1'))), '202 queued', 'dead letter: queued');
    ok(wait_until(sub { zcard('dead') == 1 }, 90), 'dead letter: after the last attempt');
    is(scalar(hits('DOWN dl-1')), 5, 'dead letter: the first try and four attempts (itsm_retry attempts=4)');
    for my $e ($B, $C) {
        my $l = $e->get('/requeue')->{json};
        is($Json->encode([map { [$_->{connector}, $_->{key}, $_->{attempts}] } @{$l->{dead_letters}}]),
           '[["mock","dl-1",4]]', "dead letter: listed on $e->{name}") or diag explain $l;
        is($l->{count}, 1, "dead letter: counted on $e->{name}");
    }
    my $s = $A->get('/status')->{json};
    is($s->{store}{dead_letters}, 1, 'dead letter: on the status page');
    unlink "$Files/dl-down";
    is($C->post('/requeue?key=dl-1', '')->{json}{requeued}, 1, 'requeue: one put back');
    is($B->post('/requeue?key=dl-1', '')->{json}{requeued}, 0, 'requeue: again, none');
    ok(wait_until(\&drained, 30), 'requeue: delivered');
    is(scalar(hits('CREATE dl-1')), 1, 'requeue: created once');
    is($A->get('/requeue')->{json}{count}, 0, 'requeue: no dead letter left');
}

# ---- the fencing of done and retry, the scripts run by hand -----------------------

# a script of the C file, its Lua as Redis gets it (the macro NOW first)
sub script {
    my ($name) = @_;
    open my $fh, '<', "$FindBin::Bin/../ngx_itsm_module/ngx_http_itsm_store_queue_redis.c" or die $!;
    my $src = do { local $/; <$fh> };
    my $lua = '';
    for my $n ('NGX_HTTP_ITSM_QUEUE_REDIS_NOW', $name) {
        my ($body) = $src =~ /^#define \Q$n\E\s*\\\n(.*?[^\\])\n/ms or die "no $n\n";
        my $l = join '', $body =~ /"((?:[^"\\]|\\.)*)"/g;
        $l =~ s/\\n/\n/g;
        $l =~ s/\\(.)/$1/g;
        $lua .= $l;
    }
    return $lua;
}

{
    my $q = "$Prefix\{q}";
    my @k6 = map { "$q:$_" } qw(due lease data tries seq tok);
    $Redis->cli('ZADD', "$q:lease", '99999999999999', 'f');
    $Redis->cli('HSET', "$q:tok", 'f', 'tokA');
    $Redis->cli('HSET', "$q:data", 'f', '{}');
    $Redis->cli('HSET', "$q:seq", 'f', '1');
    my $done = script('NGX_HTTP_ITSM_QUEUE_REDIS_DONE');
    is($Redis->cli('--raw', 'EVAL', $done, 6, @k6, 'f', 'tokB', '1'), "0\n",
       'fencing: a done with another take\'s token is refused');
    my $retry = script('NGX_HTTP_ITSM_QUEUE_REDIS_RETRY');
    is($Redis->cli('--raw', 'EVAL', $retry, 5, (map { "$q:$_" } qw(due lease dead tries tok)), 'f', 'tokB', 'dead', 1),
       "0\n", 'fencing: a retry with another take\'s token is refused');
    is($Redis->cli('--raw', 'HGET', "$q:data", 'f') . $Redis->cli('--raw', 'ZSCORE', "$q:lease", 'f'),
       "{}\n99999999999999\n", 'fencing: the job is still leased to its take');
    is($Redis->cli('--raw', 'EVAL', $done, 6, @k6, 'f', 'tokA', '1'), "1\n", 'fencing: its own take\'s done removes it');
    is($Redis->cli('--raw', 'HGET', "$q:data", 'f') . $Redis->cli('--raw', 'ZSCORE', "$q:lease", 'f'), "\n\n",
       'fencing: gone');
}

$_->stop for @E;

done_testing();
