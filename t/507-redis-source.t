# The way back to an alert's source (itsm_callback_source) on the Redis
# store (ngx_http_itsm_store_source_redis.c): the alert kept at edge A in
# the key's hash slot, P{mock:K}:s, a hash of "alert" (its fields and raw
# JSON) and "remembered" (what the source's answer left to undo); the
# callback taken at edge B goes back to the source with A's alert.  Two
# edges, each an nginx of its own on one redis-server, in front of one
# mock of this file that is both the ITSM (POST /ticket numbers its
# tickets) and the source (Alertmanager's API v2: POST
# /src/api/v2/silences -> {"silenceID":"s-N"}, DELETE
# /src/api/v2/silence/ID), logging every request; a source request waits
# while the file "hang" exists.
#
# - nginx -t takes itsm_callback_source with itsm_store redis;
# - the kept alert: its key in the record's slot, its fields and labels,
#   no TTL while the record has none, the record's TTL (retention=) once
#   resolved, and "remembered" left as it is by the alert's next put;
# - acknowledged at B: a silence of A's alert's labels, its id remembered
#   in Redis; resolved at B: the silence expired with that id, forgotten;
# - Redis stopped while the source is asked: the ITSM's 200 stands (the
#   callback was applied), the log says the source's answer is not kept,
#   the status page counts the way back failed.
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
use Digest::SHA qw(sha256_hex);
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;

@ItsmSourceMock::ISA = ('ItsmChild');

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $Files = tempdir('itsm-rsrc-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'ss' . int(rand(1e6)) . ':';
my $Tok = 'itsmcb_test-token-of-the-redis-source-test-0000';
my $Json = JSON::PP->new->canonical(1);

my $Redis = ItsmRedis->start;

# ---- the ITSM and the source ------------------------------------------------

sub mock {
    my ($l) = @_;
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        my $c = $l->accept or next;
        my $pid = fork();
        if (!defined $pid || $pid) { close $c; next }
        $SIG{TERM} = 'DEFAULT';
        local $/ = "\r\n";
        my $line = <$c> // POSIX::_exit(0);
        my ($method, $path) = $line =~ m{^(\S+) (\S+)};
        my ($len, $auth) = (0, '');
        while (my $h = <$c>) {
            last if $h eq "\r\n";
            $len = $1 if $h =~ /^content-length:\s*(\d+)/i;
            $auth = $1 if $h =~ /^authorization:\s*(.*?)\r\n/i;
        }
        my $body = '';
        read($c, $body, $len) if $len;
        open my $fh, '>>', $Hits or POSIX::_exit(1);
        print $fh "$method $path \"$auth\" $body\n";
        close $fh;
        my ($status, $answer) = (200, '{}');
        if ($method eq 'POST' && $path eq '/ticket') {
            open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
            flock($lk, 2);
            my $n = 1 + (-s "$Files/created" // 0);
            open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
            close $lk;
            ($status, $answer) = (201, qq({"id":"T$n"}));
        } elsif ($path =~ m{^/src/}) {
            sleep 0.05 while -e "$Files/hang";
            if ($method eq 'POST') {
                open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
                flock($lk, 2);
                my $n = 1 + (-s "$Files/silences" // 0);
                open my $sf, '>>', "$Files/silences"; print $sf 'x'; close $sf;
                close $lk;
                $answer = qq({"silenceID":"s-$n"});
            } else {
                $answer = '';
            }
        }
        print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
               . "Content-Length: " . length($answer) . "\r\nConnection: close\r\n\r\n$answer";
        close $c;
        POSIX::_exit(0);
    }
}

my $MockSock = ItsmPorts::listen_socket();
my $MockPort = $MockSock->sockport;
my $Mock = ItsmChild::start('ItsmSourceMock', $MockSock, sub { mock($MockSock) });

sub hits {
    my ($re) = @_;
    open my $fh, '<', $Hits or return ();
    return grep { $re ? /$re/ : 1 } <$fh>;
}

sub reset_hits { unlink $Hits }

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

# ---- the edges ----------------------------------------------------------------

my $TokHash = sha256_hex($Tok);

my $Http = <<"END";
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        ticket_id /id;
        on_repeat nothing;
        on_resolve resolve;
        on_refire reopen window=1h;
        callback_token sha256:$TokHash;
        callback_status rt;
    }
    itsm_callback_source am {
        callbacks_of  mock;
        location      /_itsm/src;
        header        Authorization "Bearer src-token";
        on_ticket  acknowledged  POST /api/v2/silences 'body={"matchers": "{{ /matchers }}", "comment": "{{ /callback/connector }} ticket {{ ticket_id }}: {{ title }}"}' remember=/silenceID;
        on_ticket  open,resolved,closed,deleted  DELETE "/api/v2/silence/{{ /remembered }}" forget;
    }
END

my $Locations = <<"END";
        location = /alerts { itsm_source alertmanager; itsm_pass mock; }
        location = /cb { itsm_callback mock profile=rt; }
        location /_itsm/mock {
            internal;
            proxy_pass http://127.0.0.1:$MockPort;
        }
        location /_itsm/src/ {
            internal;
            proxy_ignore_client_abort on;
            proxy_pass http://127.0.0.1:$MockPort/src/;
            proxy_read_timeout 60s;
        }
END

sub edge {
    my ($name) = @_;
    my $dir = tempdir("itsm-rsrc-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    my $text = $load . <<"END";
pid $dir/nginx.pid;
worker_processes 1;
events { worker_connections 256; }
error_log $dir/logs/error.log info;
http {
$temp    access_log off;
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:${\ $Redis->port} prefix=$Prefix timeout=${\ (2 * $Slow)}s;
    itsm_store redis lease=${\ (2 * $Slow)}s retention=1h;
$Http
    server {
        listen 127.0.0.1:$port;
$Locations
        location = /status { itsm_status; }
    }
}
END
    my $self = bless {name => "redis-source-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 60 * $Slow,
                                              keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

# Alertmanager's webhook: fingerprint f1 is the key; a refire starts
# later (the same body again would be a retried delivery)
sub alert {
    my ($status, $starts) = @_;
    $starts //= '2026-01-01T00:00:00Z';
    return qq({"version":"4","status":"$status","receiver":"itsm","groupKey":"g","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am.test:9093","alerts":[{"status":"$status","labels":{"severity":"critical","alertname":"DiskFull","instance":"db-1:9100"},"annotations":{"summary":"disk full"},"startsAt":"$starts","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom.test/g","fingerprint":"f1"}]});
}

# RT's scrip
sub cb {
    my ($edge, $ticket, $status, $txn) = @_;
    return $edge->post('/cb', qq({"ticket": "$ticket", "old_status": "open", "status": "$status", "transaction": "$txn"}),
                       {Authorization => "Bearer $Tok"});
}

my $Matchers = '[{"name":"alertname","value":"DiskFull","isRegex":false,"isEqual":true},{"name":"instance","value":"db-1:9100","isRegex":false,"isEqual":true},{"name":"severity","value":"critical","isRegex":false,"isEqual":true}]';

# the keys of the alert key in Redis, by suffix
sub keys_of {
    my ($suffix) = @_;
    my @k = sort grep { length } split /\n/, $Redis->cli('--raw', 'KEYS', "$Prefix\{mock:*}:$suffix");
    return @k;
}

sub cli { my $v = $Redis->cli('--raw', @_); chomp $v; $v }

sub sources { my ($e) = @_; $e->get('/status')->{json}{callback_sources} }

# ---- nginx -t ------------------------------------------------------------------

my $A = edge('a');
my $B = edge('b');

{
    my ($ok, $out) = $A->test;
    ok($ok, 'nginx -t: itsm_callback_source with itsm_store redis passes') or diag $out;
    unlike($out, qr/needs an LMDB/, 'nginx -t: no "needs an LMDB" refusal');
}

$A->start;
$B->start;
sleep 0.3 * $Slow;   # connected

# ---- the alert kept at A --------------------------------------------------------

my ($S, $R);

{
    my $r = $A->post('/alerts', alert('firing'));
    is($r->{status}, 201, 'A: the alert creates its ticket');
    like($r->{content}, qr/"ticket_id":"T1"/, 'A: ticket T1');

    ok(wait_until(sub { keys_of('s') == 1 }), 'A: one key :s in Redis');
    ($S) = keys_of('s');
    ($R) = keys_of('r');
    like($S, qr/^\Q$Prefix\E\{mock:[0-9a-f]{16}\}:s$/, 'the key is P{mock:<16 hex>}:s');
    (my $r_of_s = $S) =~ s/:s$/:r/;
    is($R, $r_of_s, 'the key is in the record\'s hash slot: P{mock:K}:r with :s');

    is(cli('HKEYS', $S), 'alert', 'the hash has "alert", no "remembered" yet');
    my $kept = eval { $Json->decode(cli('HGET', $S, 'alert')) } || {};
    is($kept->{state}, 'firing', 'the kept alert: state firing');
    is($kept->{fields}{title}, 'DiskFull', 'the kept alert: its title');
    is($Json->encode($kept->{raw}{labels}), '{"alertname":"DiskFull","instance":"db-1:9100","severity":"critical"}',
       'the kept alert: its raw JSON (the labels)');
    ok(!exists $kept->{remembered}, 'the kept alert: no "remembered" in its JSON');
    is(cli('PTTL', $R), -1, 'the open record has no TTL');
    is(cli('PTTL', $S), -1, 'the kept alert has none either');
}

# ---- acknowledged at B: back to the source with A's alert ------------------------

{
    reset_hits();
    my $r = cb($B, 'T1', 'stalled', 10);
    is($r->{status}, 200, 'B: the callback is answered 200');
    like($r->{content}, qr/"outcome":"applied".*"state":"acknowledged"/, 'B: applied, acknowledged');

    ok(wait_until(sub { cli('HGET', $S, 'remembered') eq 's-1' }),
       'B: the silence\'s id is remembered in Redis') or diag cli('HGETALL', $S);
    is(join('', hits(qr{^\S+ /src/})),
       qq(POST /src/api/v2/silences "Bearer src-token" {"matchers":$Matchers,"comment":"mock ticket T1: DiskFull"}\n),
       'B: the source got one silence of A\'s alert\'s labels and title');
    is(cli('PTTL', $S), -1, 'the kept alert still has no TTL');
    is(sources($B)->{sent}, 1, 'B: the status page counts the way back sent') or diag explain sources($B);
}

# ---- the alert resolves at A: "remembered" stays, the record's TTL ---------------------

{
    reset_hits();
    my $r = $A->post('/alerts', alert('resolved'));
    is($r->{status}, 200, 'A: the resolve is answered');
    like($r->{content}, qr/"outcome":"resolved"/, 'A: resolved');

    ok(wait_until(sub { (eval { $Json->decode(cli('HGET', $S, 'alert')) } || {})->{state} eq 'resolved' }),
       'A: the kept alert is now the resolved one');
    is(cli('HGET', $S, 'remembered'), 's-1', 'A: the new alert left "remembered" as it was');
    my $rt = cli('PTTL', $R);
    my $st = cli('PTTL', $S);
    ok($rt > 3_500_000 && $rt <= 3_600_000, 'the resolved record expires after retention= (1 h)') or diag $rt;
    ok($st > $rt - 60_000 && $st <= $rt + 5, 'the kept alert expires with it (the record\'s TTL, not later)') or diag "$st $rt";
}

# ---- resolved at B: the silence expired with the id kept, forgotten --------------------

{
    reset_hits();
    my $r = cb($B, 'T1', 'resolved', 11);
    is($r->{status}, 200, 'B: the resolved callback is answered 200');

    ok(wait_until(sub { cli('HEXISTS', $S, 'remembered') eq '0' }),
       'B: the silence\'s id is forgotten') or diag cli('HGETALL', $S);
    is(join('', hits(qr{^\S+ /src/})), qq(DELETE /src/api/v2/silence/s-1 "Bearer src-token" \n),
       'B: the source got the DELETE of s-1');
    my $rt = cli('PTTL', $R);
    my $st = cli('PTTL', $S);
    ok($st > $rt - 60_000 && $st <= $rt + 5, 'the kept alert keeps the record\'s TTL') or diag "$st $rt";
}

# ---- Redis stops while the source is asked ----------------------------------------------

{
    my $r = $A->post('/alerts', alert('firing', '2026-01-02T00:00:00Z'));
    is($r->{status}, 200, 'A: the refire is answered');
    like($r->{content}, qr/"action":"reopen","outcome":"reopened".*"ticket_id":"T1"/, 'A: it reopens T1') or diag $r->{content};
    ok(wait_until(sub { cli('PTTL', $S) eq '-1' }), 'the reopened record\'s kept alert: no TTL again');

    reset_hits();
    touch("$Files/hang");
    $r = cb($B, 'T1', 'stalled', 12);
    is($r->{status}, 200, 'B: the callback is answered 200 before the source answers');
    ok(wait_until(sub { scalar hits(qr{^POST /src/}) }), 'B: the source is asked');

    $Redis->stop;
    unlink "$Files/hang";

    ok(wait_until(sub { $B->error_log =~ /what the source answered for key "f1" is not kept/ }),
       'B: the log says the source\'s answer is not kept') or diag $B->error_log;
    like($B->error_log, qr/\[error\] .*itsm_store redis: what the source answered for key "f1" is not kept: /,
         'B: an [error] line');
    is(sources($B)->{failed}, 1, 'B: the status page counts the way back failed') or diag explain sources($B);
    is(sources($B)->{sent}, 2, 'B: and the two before sent');

    $Redis->restart;
}

for my $e ($A, $B) {
    unlike($e->error_log, qr/\[(alert|emerg|crit)\]/, "$e->{name}: no alert, emerg or crit in the log");
}

$_->stop for ($A, $B);

done_testing();
