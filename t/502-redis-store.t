# itsm_store redis (ngx_http_itsm_store_redis.c): the alert -> ticket
# records in a Redis shared by three edges, A, B and C, each an nginx of
# its own (its own port and directory, the same itsm_redis prefix=), in
# front of one "ITSM" of this file (a process per connection that logs
# every request and numbers the tickets it creates; a create waits while
# the file "hang" exists; find answers the ticket made for the key).
#
# - N concurrent copies of one new alert, round-robin over the edges: one
#   create, every sender a 2xx naming that ticket (N: ITSM_TEST_COPIES,
#   default 3000);
# - the lifecycle across edges: create on A, repeat on B (nothing sent),
#   resolve on C (sent once), refire on A (reopen), the exact bodies;
# - fencing: A's create hangs past the lease, B takes the key over (find
#   first: the claim was for a create), A's late commit is refused and the
#   record in Redis stays B's; an edge SIGKILLed mid-create: after the
#   lease the next copy takes over, still one ticket;
# - Redis stopped: 503 + Retry-After, nothing sent; Redis back: the next
#   copy proceeds;
# - the scripts go by their SHA1 (EVALSHA); after a SCRIPT FLUSH the next
#   alert still works (EVAL again on NOSCRIPT), INFO commandstats counts;
# - nginx -t's refusals (each with its line); the status page's store.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use HTTP::Tiny;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;

@ItsmStoreItsm::ISA = ('ItsmChild');

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $Copies = $ENV{ITSM_TEST_COPIES} // ($ENV{TEST_NGINX_USE_VALGRIND} ? 300 : 3000);
my $Files = tempdir('itsm-store-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'sr' . int(rand(1e6)) . ':';
my $Lease = 2 * $Slow;

# DEBUG SLEEP holds Redis' answers (a Redis that times out)
my $Redis = ItsmRedis->start(args => ['--enable-debug-command', 'yes']);

# ---- the ITSM ---------------------------------------------------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path, $body) = @$req{qw(method path body)};
        my ($key) = ($req->{headers}{'x-key'} // '') =~ /^(\S*)/;
        my ($status, $answer) = (200, '{}');
        if ($method eq 'POST' && $path eq '/ticket') {
            sleep 0.05 while -e "$Files/hang";
            # a create takes a while: the copies meanwhile meet its claim
            sleep 0.3;
            if (-e "$Files/fail") {   # the ITSM fails: no ticket made
                open my $fh, '>>', $Hits; print $fh "$method $path $body\n"; close $fh;
                return (500, '');
            }
            # the ticket's number under a lock: concurrent creates count
            open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
            flock($lk, 2);
            my $n = 1 + (-s "$Files/created" // 0);
            open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
            open my $kf, '>>', "$Files/keys"; print $kf "$key T$n\n"; close $kf;
            close $lk;
            ($status, $answer) = (201, qq({"id":"T$n"}));
        } elsif ($method eq 'GET' && $path =~ m{^/tickets\?key=(\S+)}) {
            my $k = $1;
            open my $kf, '<', "$Files/keys";
            my ($t) = map { /^\Q$k\E (\S+)$/ ? $1 : () } ($kf ? <$kf> : ());
            $answer = $t ? qq({"items":[{"id":"$t"}]}) : '{"items":[]}';
        }
        open my $fh, '>>', $Hits or POSIX::_exit(1);
        print $fh "$method $path $body\n";
        close $fh;
        return ($status, $answer);
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmStoreItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    my ($re) = @_;
    open my $fh, '<', $Hits or return wantarray ? () : 0;
    my @h = grep { $re ? /$re/ : 1 } <$fh>;
    return wantarray ? @h : scalar @h;
}

sub reset_hits { unlink $Hits }

# ---- the edges ----------------------------------------------------------------

my $Connector = <<"END";
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        find      GET "/tickets?key={{ key }}" take=/items/0/id settle=0;
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
        on_repeat nothing;
        on_resolve resolve;
        on_refire reopen window=1h;
    }
    itsm_connector talk {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "fired {{ occurrences }} times"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
END

my $Locations = <<"END";
        location = /alerts { itsm_pass mock; }
        location = /talk { itsm_pass talk; }
        location = /connectors { itsm_connectors; }
        location /_itsm/mock {
            internal;
            proxy_pass http://127.0.0.1:$ItsmPort;
            proxy_read_timeout 60s;
        }
END

sub conf {
    my ($port, $http, $server) = @_;
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    return $load . <<"END";
worker_processes 2;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    access_log off;
    itsm_zone itsm:4m;
$http
    server {
        listen 127.0.0.1:$port backlog=4096;
$server
        location = /status { itsm_status; }
    }
}
END
}

sub edge {
    my ($name, %o) = @_;
    my $dir = tempdir("itsm-sr-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $redis = $o{redis} // "    itsm_redis address=127.0.0.1:" . $Redis->port
                             . " prefix=$Prefix timeout=" . (2 * $Slow) . "s ping=1s;";
    my $http = join "\n", $redis, $o{store} // "    itsm_store redis lease=${Lease}s;",
                    $o{connector} // $Connector, $o{http} // '';
    my $text = conf($port, $http, $o{locations} // $Locations);
    $text =~ s{^(http \{\n)}{$1 . join('', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                                             qw(client_body proxy fastcgi uwsgi scgi))}me;
    $text =~ s{^(worker_processes)}{pid $dir/nginx.pid;\n$1}m;
    my $self = bless {name => "store-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 60 * $Slow,
                                              keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert {
    my ($key, $status, $title) = @_;
    $title //= 'Disk full';
    return '{"key": "' . $key . '", "title": "' . $title . '", "status": "' . $status . '"}';
}

# the record of KEY in Redis, the header line and the key's text
sub record {
    my ($key) = @_;
    my @k = grep { length } split /\n/, $Redis->cli('--raw', 'KEYS', "$Prefix\{mock:*}:r");
    for my $k (@k) {
        my $v = $Redis->cli('--raw', 'GET', $k);
        return $v if $v =~ /^r1 [^\n]*\n\Q$key\E/;
    }
    return '';
}

sub pttl {
    my ($key) = @_;
    my @k = grep { length } split /\n/, $Redis->cli('--raw', 'KEYS', "$Prefix\{mock:*}:r");
    for my $k (@k) {
        next unless $Redis->cli('--raw', 'GET', $k) =~ /^r1 [^\n]*\n\Q$key\E/;
        my $t = $Redis->cli('--raw', 'PTTL', $k);
        chomp $t;
        return $t;
    }
    return -2;
}

my $Json = JSON::PP->new->canonical(1);

# ---- nginx -t ------------------------------------------------------------------

{
    my $e = edge('t1', redis => '');
    my ($ok, $out) = $e->test;
    ok(!$ok, 'nginx -t: itsm_store redis without itsm_redis fails');
    like($out, qr/\[emerg\] "itsm_store redis" in \Q${\$e->conf}\E:(\d+) needs "itsm_redis" at http level/,
         'nginx -t: its message, with file:line');
    my ($line) = $out =~ /\Q${\$e->conf}\E:(\d+)/;
    like((split /\n/, $e->text)[$line - 1], qr/itsm_store redis/, 'nginx -t: the line is itsm_store\'s');

    $e = edge('t2', locations => $Locations . "        location = /q { itsm_pass mock; itsm_queue on; }\n",
              http => "    itsm_replay_url http://127.0.0.1:1/_itsm/replay;");
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: itsm_queue on with a Redis store passes (the shared queue: t/503)') or diag $out;

    (my $c = $Connector) =~ s/on_repeat nothing;/on_repeat comment;\n        comment POST "\/c" 'body={"text": "x"}';/;
    $e = edge('t3', connector => $c, http => "    itsm_replay_url http://127.0.0.1:1/_itsm/replay;",
              locations => $Locations . "        location = /_itsm/replay { itsm_replay; }\n");
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: cooldown holds with a Redis store pass (the shared queue\'s jobs: t/508)') or diag $out;
    unlike($out, qr/cooldown holds|for now/, 'nginx -t: no word of the holds needing LMDB');

    $e = edge('t4', locations => $Locations . "        location = /_itsm/replay { itsm_replay; }\n");
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: itsm_replay with a Redis store passes (the shared queue: t/503)') or diag $out;

    ($c = $Connector) =~ s/ticket_id \/id;/ticket_id \/id;\n        callback_token sha256:0000000000000000000000000000000000000000000000000000000000000000;\n        callback_status rt;/;
    $e = edge('t5', connector => $c, locations => $Locations . "        location = /cb { itsm_callback mock ticket=/id status=/status; }\n");
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: itsm_callback with a Redis store passes (the ticket index on Redis: t/506)') or diag $out;
    unlike($out, qr/needs an LMDB/, 'nginx -t: no LMDB asked for');

    ($c = $Connector) =~ s/ticket_id \/id;/ticket_id \/id;\n        verify GET \/ping;/;
    $e = edge('t7', connector => $c, http => "    itsm_replay_url http://127.0.0.1:1/_itsm/replay;");
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: a connector\'s verify with a Redis store passes (each edge probes: t/509)') or diag $out;
    unlike($out, qr/\[emerg\]/, 'nginx -t: nothing refused for the verify');

    $e = edge('t6');
    ($ok, $out) = $e->test;
    ok($ok, 'nginx -t: the edges\' configuration passes') or diag $out;
}

my @E = map { edge($_)->start } qw(a b c);
my ($A, $B, $C) = @E;

sleep 0.5 * $Slow;   # connected

# ---- the status page -----------------------------------------------------------

{
    my $s = $A->get('/status')->{json};
    is($Json->encode($s->{store}), qq({"backend":"redis","dead_letters":0,"lease":$Lease,"queued":0,"retention":604800}),
       'the status page: the store on redis, no LMDB figures, the queue\'s counts');
}

{
    my $r = $B->get('/connectors')->{json};
    my ($m) = grep { $_->{name} eq 'mock' } @{$r->{connectors} // []};
    ok($m && exists $m->{queued} && !defined $m->{queued}, 'the registry: no queue on Redis ("queued": null)')
        or diag explain $r;
}

# ---- N concurrent copies over three edges --------------------------------------

sub storm {
    my ($key, $n) = @_;
    my $body = alert($key, 'firing', 'Storm');
    my (@socks, %answers);
    for my $i (0 .. $n - 1) {
        my $e = $E[$i % 3];
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $e->port(8080))
            or die "connect: $!\n";
        $s->blocking(0);
        push @socks, [$s, "POST /alerts HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                          . "Content-Length: " . length($body) . "\r\n\r\n$body", ''];
    }
    # every request written before any answer is read
    for my $p (@socks) {
        my $w = 0;
        while ($w < length $p->[1]) {
            my $r = syswrite($p->[0], $p->[1], length($p->[1]) - $w, $w);
            $w += $r if $r;
        }
    }
    my $sel = IO::Select->new(map { $_->[0] } @socks);
    my %buf;
    my %by = map { ($_->[0] => $_) } @socks;
    my $until = time + 120 * $Slow;
    while ($sel->count && time < $until) {
        for my $s ($sel->can_read(1)) {
            my $r = sysread($s, my $chunk, 65536);
            if ($r) { $by{$s}[2] .= $chunk; next }
            next if !defined $r && $!{EAGAIN};
            $sel->remove($s);
            close $s;
        }
    }
    return map { $_->[2] } @socks;
}

{
    reset_hits();
    my $t0 = time;
    my @r = storm('storm-1', $Copies);
    my $took = time - $t0;
    my %status;
    my %tickets;
    for my $r (@r) {
        my ($st) = $r =~ m{^HTTP/1\.\d (\d+)};
        $status{$st // 0}++;
        my ($t) = $r =~ /"ticket_id":"([^"]+)"/;
        $tickets{$t // 'none'}++;
    }
    my $ok2xx = grep { /^2/ } keys %status;
    is(scalar(grep { !/^2/ } keys %status), 0,
       "$Copies copies over three edges: every answer a 2xx")
        or diag explain \%status;
    is(scalar(hits(qr{^POST /ticket })), 1, "$Copies copies: one create at the ITSM");
    is_deeply(\%tickets, {T1 => $Copies}, "$Copies copies: every answer names T1")
        or diag explain \%tickets;
    diag sprintf('%d copies in %.1f s', $Copies, $took);
    like(record('storm-1'), qr/^r1 0 [0-9a-f]{16} /, 'the record is in redis, no doubt left');
}

# ---- the lifecycle across edges ------------------------------------------------

sub outcome {
    my ($r) = @_;
    my $a = $r->{json} && $r->{json}{alerts} && $r->{json}{alerts}[0] || {};
    return join ' ', $r->{status}, $a->{action} // '-', $a->{outcome} // '-',
                     $a->{ticket_id} // '-';
}

{
    reset_hits();
    is(outcome($A->post('/alerts', alert('life-1', 'firing'))), '201 create created T2',
       'lifecycle: a new alert on A creates T2');
    is(outcome($B->post('/alerts', alert('life-1', 'firing'))), '200 none duplicate T2',
       'lifecycle: its repeat on B is a duplicate of T2');
    is(outcome($C->post('/alerts', alert('life-1', 'resolved'))), '200 resolve resolved T2',
       'lifecycle: its resolve on C resolves T2');
    my $pttl = pttl('life-1');
    ok($pttl > 604_700_000 && $pttl <= 604_800_000,
       'lifecycle: the resolved record expires by Redis\' TTL after retention= (7 d)') or diag $pttl;
    is(outcome($B->post('/alerts', alert('life-1', 'resolved'))), '200 none duplicate T2',
       'lifecycle: the resolve again on B: nothing sent');
    is(outcome($A->post('/alerts', alert('life-1', 'firing'))), '200 reopen reopened T2',
       'lifecycle: the refire on A reopens T2');
    is(pttl('life-1'), -1, 'lifecycle: the reopened record has no TTL');
    is(join('', hits()),
       qq(POST /ticket {"title":"Disk full"}\n)
       . qq(PUT /ticket/T2 {"Status":"resolved"}\n)
       . qq(PUT /ticket/T2 {"Status":"open"}\n),
       'lifecycle: the ITSM got one create, one resolve, one reopen: the exact bodies');
}

# a repeat commented at once (cooldown=0): nothing is held on Redis
{
    reset_hits();
    is(outcome($A->request('POST', '/talk', alert('talk-1', 'firing'))), '201 create created T3',
       'comment on repeat: created on A');
    is(outcome($C->request('POST', '/talk', alert('talk-1', 'firing'))), '200 comment commented T3',
       'comment on repeat: the repeat on C comments');
    is(join('', hits()), qq(POST /ticket {"title":"Disk full"}\n)
                         . qq(POST /ticket/T3/comment {"text":"fired 2 times"}\n),
       'comment on repeat: the exact bodies');
}

# a request sent now, its answer read later
sub send_later {
    my ($edge, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $edge->port(8080))
        or die "connect: $!\n";
    print $s "POST /alerts HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";
    return $s;
}

sub read_later {
    my ($s) = @_;
    local $/;
    my $r = <$s> // '';
    close $s;
    return $r;
}

sub claim_of {
    my ($key) = @_;
    my @k = grep { length } split /\n/, $Redis->cli('--raw', 'KEYS', "$Prefix\{mock:*}:c");
    return grep { $Redis->cli('--raw', 'GET', $_ =~ s/:c$/:r/r) =~ /^r1 [^\n]*\n\Q$key\E/ } @k;
}

sub wait_until {
    my ($code, $timeout) = @_;
    my $until = time + ($timeout // 10) * $Slow;
    until ($code->()) {
        return 0 if time > $until;
        sleep 0.05;
    }
    return 1;
}

sub touch { open my $fh, '>', $_[0] or die; close $fh }

# ---- a slow ITSM: the claim is renewed while its request waits ------------------

{
    reset_hits();
    touch("$Files/hang");
    my $s = send_later($A, alert('renew-1', 'firing'));
    ok(wait_until(sub { claim_of('renew-1') }), 'renew: A claimed the key');
    sleep 2 * $Lease;
    ok(scalar(claim_of('renew-1')), 'renew: the claim outlives its first lease (renewed every lease/3)');
    my $sb = send_later($B, alert('renew-1', 'firing', 'Other title'));
    sleep 0.3 * $Slow;
    unlink "$Files/hang";
    like(read_later($s), qr{^HTTP/1\.\d 201 .*"ticket_id":"T4"}s, 'renew: A created T4');
    like(read_later($sb), qr{^HTTP/1\.\d 200 .*"outcome":"duplicate".*"ticket_id":"T4"}s,
         'renew: a different alert on B waited for the claim, then was a duplicate of T4');
    is(scalar(hits(qr{^POST /ticket })), 1, 'renew: one create');
    unlike($A->error_log, qr/renew-1.*taken over/, 'renew: nothing taken over');
}

# ---- fencing: A's claim runs out while its create hangs -------------------------

{
    reset_hits();
    touch("$Files/hang");
    my $s = send_later($A, alert('fence-1', 'firing'));
    ok(wait_until(sub { claim_of('fence-1') }), 'fencing: A claimed the key');
    like(record('fence-1'), qr/^r1 [1-9]\d* /, 'fencing: the claim for a create wrote its doubt into the record');

    # A frozen past its lease (no renewal): its claim ends in Redis
    my @w = $A->workers;
    kill 'STOP', @w;
    ok(wait_until(sub { !claim_of('fence-1') }, 3 * $Lease), 'fencing: A\'s claim expired after the lease');

    # the ITSM made A's ticket meanwhile; B takes the key over: find first
    unlink "$Files/hang";
    wait_until(sub { hits(qr{^POST /ticket }) });
    my $r = $B->post('/alerts', alert('fence-1', 'firing'));
    is(outcome($r), '201 create created T5', 'fencing: B took the key over, found T5 (the claim was for a create): its answer names it');
    my @h = hits();
    is(scalar(grep { m{^POST /ticket } } @h), 1, 'fencing: one create');
    is(scalar(grep { m{^GET /tickets\?key=fence-1 } } @h), 1, 'fencing: B asked the ITSM first');
    my $before = record('fence-1');
    like($before, qr/^r1 0 /, 'fencing: B\'s record, no doubt left');

    # A wakes, reads its create's answer, commits with its old token
    kill 'CONT', @w;
    my $late = read_later($s);
    ok($A->wait_log(qr/a claim of "fence-1" was taken over while its request still worked on it.*its commit is not written/, 10 * $Slow),
       'fencing: A\'s late commit is refused') or diag $A->error_log;
    like($A->error_log, qr/\[crit\].*ticket "T5" of key "fence-1" is not recorded in the store: the claim was taken over/,
         'fencing: A logs the ticket it could not record');
    # as on LMDB: the ITSM has the ticket, so the sender is told
    like($late, qr{^HTTP/1\.\d 201 .*"ticket_id":"T5"}s, 'fencing: A\'s sender still gets 201 naming T5') or diag $late;
    is(record('fence-1'), $before, 'fencing: the record in redis is unchanged (B\'s)');
    is(scalar(hits(qr{^POST /ticket })), 1, 'fencing: still one ticket');
}

# ---- an edge killed mid-create ---------------------------------------------

{
    reset_hits();
    touch("$Files/hang");
    my $s = send_later($B, alert('kill-1', 'firing'));
    ok(wait_until(sub { claim_of('kill-1') }), 'killed: B claimed the key');
    my @w = $B->workers;
    kill 'KILL', $B->{pid}, @w;
    $B->stop;   # reaps the killed master, forgets it
    close $s;
    unlink "$Files/hang";   # the ITSM made the ticket
    ok(wait_until(sub { hits(qr{^POST /ticket }) }), 'killed: the ITSM made the ticket');
    ok(scalar(claim_of('kill-1')), 'killed: B\'s claim is still there (its lease)');
    ok(wait_until(sub { !claim_of('kill-1') }, 3 * $Lease), 'killed: B\'s claim expired after the lease');
    my $r = $C->post('/alerts', alert('kill-1', 'firing'));
    is(outcome($r), '201 create created T6', 'killed: C took it over and found T6');
    is(scalar(hits(qr{^POST /ticket })), 1, 'killed: still one ticket');
    is(scalar(hits(qr{^GET /tickets\?key=kill-1 })), 1, 'killed: C asked the ITSM first');
    $B->start;
}

# ---- a create that failed on A: released in doubt, B asks first ------------------

{
    reset_hits();
    touch("$Files/fail");
    my $r = $A->post('/alerts', alert('fail-1', 'firing'));
    unlink "$Files/fail";
    like($r->{status}, qr/^50[23]$/, 'failed create on A: a 5xx');
    like(record('fail-1'), qr/^r1 [1-9]\d* /, 'failed create: released with its doubt in redis');
    ok(!claim_of('fail-1'), 'failed create: the claim is gone (released, not left to its lease)');
    $r = $B->post('/alerts', alert('fail-1', 'firing'));
    is(outcome($r), '201 create created T7', 'failed create: the next copy on B creates T7');
    is(join('', map { join(' ', (split / /)[0, 1]) . "\n" } hits()),
       "POST /ticket\nGET /tickets?key=fail-1\nPOST /ticket\n",
       'failed create: B asked the ITSM before its create');
    like(record('fail-1'), qr/^r1 0 /, 'failed create: no doubt left');
}

# ---- the doubt script, run with redis-cli on the very text of the C file --------

# a script of ngx_http_itsm_store_redis.c: its macro's string literals
sub script {
    my ($name) = @_;
    open my $fh, '<', "$FindBin::Bin/../ngx_itsm_module/ngx_http_itsm_store_redis.c" or die $!;
    my $src = do { local $/; <$fh> };
    my ($body) = $src =~ /^#define \Q$name\E\s*\\\n(.*?[^\\])\n/ms or die "no $name\n";
    my $lua = join '', $body =~ /"((?:[^"\\]|\\.)*)"/g;
    $lua =~ s/\\n/\n/g;
    $lua =~ s/\\(.)/$1/g;
    return $lua;
}

{
    my $doubt = script('NGX_HTTP_ITSM_STORE_REDIS_DOUBT');
    my $claim = script('NGX_HTTP_ITSM_STORE_REDIS_CLAIM');
    my ($c, $r) = ("$Prefix\{mock:0000000000000001}:c", "$Prefix\{mock:0000000000000001}:r");
    my $empty = "r1 0 0 0 0 0 0 0 0 0 0 5\ndoubt";
    my $tok = 'aaaaaaaaaaaaaaaa';
    $Redis->cli('EVAL', $claim, 2, $c, $r, $tok, 'bbbbbbbbbbbbbbbb', 'h:1', 5000, 0, 100, $empty);
    is($Redis->cli('--raw', 'EXISTS', $r), "0\n", 'doubt script: a claim not for a create writes no record');
    is($Redis->cli('--raw', 'EVAL', $doubt, 2, $c, $r, 'cccccccccccccccc', 200, $empty), "0\n",
       'doubt script: another token is refused (fencing)');
    is($Redis->cli('--raw', 'EXISTS', $r), "0\n", 'doubt script: ... and writes nothing');
    is($Redis->cli('--raw', 'EVAL', $doubt, 2, $c, $r, $tok, 200, $empty), "1\n", 'doubt script: the claim\'s token writes it');
    is($Redis->cli('--raw', 'GET', $r), "$empty\n" =~ s/^r1 0 /r1 200 /r, 'doubt script: the doubt time in the header');
    is($Redis->cli('--raw', 'EVAL', $doubt, 2, $c, $r, $tok, 300, $empty), "2\n", 'doubt script: a second doubt: already there');
    like($Redis->cli('--raw', 'GET', $r), qr/^r1 200 /, 'doubt script: the first time is kept');
    $Redis->cli('DEL', $c, $r);
}

# ---- the scripts by their SHA1: EVALSHA, EVAL again after SCRIPT FLUSH ----------

# a command's calls since CONFIG RESETSTAT (INFO commandstats)
sub calls {
    my ($name) = @_;
    my ($n) = $Redis->cli('--raw', 'INFO', 'commandstats') =~ /^cmdstat_\Q$name\E:calls=(\d+)/m;
    return $n // 0;
}

# the bytes Redis read from its clients since CONFIG RESETSTAT
sub net_in {
    my ($n) = $Redis->cli('--raw', 'INFO', 'stats') =~ /^total_net_input_bytes:(\d+)/m;
    return $n;
}

{
    reset_hits();
    # the get, claim and commit scripts were loaded by the alerts above
    $Redis->cli('CONFIG', 'RESETSTAT');
    my $in0 = net_in();
    like(outcome($A->post('/alerts', alert('sha-1', 'firing'))), qr/^201 create created T\d+$/,
         'EVALSHA: a new alert on A creates');
    my $in1 = net_in();
    is(calls('evalsha') . ' ' . calls('eval'), '4 0', 'EVALSHA: its four scripts by their SHA1, no EVAL');

    $Redis->cli('SCRIPT', 'FLUSH');
    $Redis->cli('CONFIG', 'RESETSTAT');
    my $in2 = net_in();
    like(outcome($B->post('/alerts', alert('sha-2', 'firing'))), qr/^201 create created T\d+$/,
         'SCRIPT FLUSH: the next alert, on B, still creates');
    my $in3 = net_in();
    is(calls('evalsha') . ' ' . calls('eval'), '4 4',
       'SCRIPT FLUSH: each script tried by its SHA1, then sent again as EVAL (NOSCRIPT)');

    $Redis->cli('CONFIG', 'RESETSTAT');
    like(outcome($C->post('/alerts', alert('sha-3', 'firing'))), qr/^201 create created T\d+$/,
         'SCRIPT FLUSH: an alert after it, on C, creates');
    is(calls('evalsha') . ' ' . calls('eval'), '4 0', 'SCRIPT FLUSH: the EVAL loaded them again: EVALSHA only');
    is(scalar(hits(qr{^POST /ticket })), 3, 'EVALSHA: one create per alert');
    # what Redis read for one create (the INFO commands and the edges'
    # PINGs included): by SHA1, and by SHA1 then EVAL (each script's text)
    diag("bytes Redis read for a create: EVALSHA " . ($in1 - $in0) . ", EVALSHA then EVAL " . ($in3 - $in2));
}

# ---- Redis stopped, then back ---------------------------------------------------

{
    reset_hits();
    $Redis->stop;
    my $r = $A->post('/alerts', alert('down-1', 'firing'));
    is($r->{status}, 503, 'redis stopped: 503');
    like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'redis stopped: with Retry-After');
    $r = $C->post('/alerts', alert('down-1', 'firing'));
    is($r->{status}, 503, 'redis stopped: 503 on C too');
    is(scalar(hits()), 0, 'redis stopped: nothing sent to the ITSM');
    $Redis->restart;
    ok(wait_until(sub { $A->post('/alerts', alert('down-1', 'firing'))->{status} == 201 }, 20),
       'redis back: the next copy proceeds (201)');
    is(scalar(hits(qr{^POST /ticket })), 1, 'redis back: one create');
}

# ---- Redis too slow: the command times out ----------------------------------

{
    reset_hits();
    my $pid = fork() // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        exec('redis-cli', '-p', $Redis->port, 'DEBUG', 'SLEEP', 4 * $Slow) or POSIX::_exit(1);
    }
    sleep 0.3;
    my $t0 = time;
    my $r = $C->post('/alerts', alert('slow-1', 'firing'));
    is($r->{status}, 503, 'redis timed out: 503');
    like($r->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'redis timed out: with Retry-After');
    ok(time - $t0 < 3.5 * $Slow, 'redis timed out: answered at timeout= (2 s), not when Redis came back');
    waitpid($pid, 0);
    is(scalar(hits()), 0, 'redis timed out: nothing sent to the ITSM');
    ok(wait_until(sub { $C->post('/alerts', alert('slow-1', 'firing'))->{status} == 201 }, 20),
       'redis answering again: the next copy proceeds (201)');
    is(scalar(hits(qr{^POST /ticket })), 1, 'redis answering again: one create');
}

# the net under nginx -t's refusals (an LMDB call on a Redis store) was
# never reached
for my $e (@E) {
    unlike($e->error_log, qr/\[alert\] .*itsm_store redis/, "$e->{name}: no LMDB call reached (no such alert in the log)");
}

# stopped here, so that valgrind's checks (TEST_NGINX_USE_VALGRIND) count
$_->stop for @E;

done_testing();
