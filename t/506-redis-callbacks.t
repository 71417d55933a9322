# Callbacks on Redis (itsm_store redis, ngx_http_itsm_store_ticket_redis.c):
# two edges, A and B, each an nginx of its own on one redis-server
# (appendonly yes, appendfsync always; the same itsm_redis prefix=), in
# front of one "ITSM" of this file that logs every request, numbers the
# tickets it creates, and holds a comment's answer 2 s while the file
# "slow" exists.
#
# - a ticket created through A: its index P{t:mock:T1} names the key;
#   its callback (resolved) at B is applied; the next firing at A reopens
#   the ticket (on_refire reopen), the entry P{c:K}:t remembers the event;
# - a callback for a ticket no key has: unknown_ticket, nothing written;
# - a callback at B while A's alert holds the key (its comment under way):
#   in_flight, the entry HELD; the claim's end at A applies it: the key
#   resolved, the HELD flag gone, the next firing at A reopens;
# - redis-server stopped: the callback is answered 503 + Retry-After
#   (store_unavailable), so the ITSM sends it again; after the restart
#   the same callback is applied.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;

@ItsmCbRedisItsm::ISA = ('ItsmChild');

my $Files = tempdir('itsm-cb-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
my $Hits = "$Files/hits";
my $Prefix = 'cb' . int(rand(1e6)) . ':';
my $Tok = 'itsmcb_test-token-of-the-redis-callbacks-000000';

my $Redis = ItsmRedis->start(args => ['--appendonly', 'yes', '--appendfsync', 'always']);

# ---- the ITSM: every request logged, creates numbered --------------------------

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path) = @$req{qw(method path)};
        open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
        flock($lk, 2);
        my ($status, $answer) = ('200 OK', '{}');
        if ($path =~ m{^/ticket$}) {
            my $n = 1 + (-s "$Files/created" // 0);
            open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
            ($status, $answer) = ('201 Created', qq({"id":"T$n"}));
        }
        open my $fh, '>>', $Hits; print $fh "$method $path\n"; close $fh;
        close $lk;
        sleep 2 if $path =~ m{/comment$} && -e "$Files/slow";
        return ($status, $answer);
    });
}

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmCbRedisItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    open my $fh, '<', $Hits or return ();
    my @h = <$fh>;
    chomp @h;
    return @h;
}

# ---- the edges ----------------------------------------------------------------

sub edge {
    my ($name) = @_;
    my $dir = tempdir("itsm-cbr-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    mkdir "$dir/$_" for qw(logs temp);
    my $port = ItsmPorts::free();
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temps = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                         qw(client_body proxy fastcgi uwsgi scgi);
    my $redis = $Redis->port;
    my $hash = sha256_hex($Tok);
    my $text = $load . <<"END";
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
$temps    access_log off;
    itsm_zone itsm:1m;
    itsm_redis address=127.0.0.1:$redis prefix=$Prefix timeout=2s ping=1s;
    itsm_store redis lease=10s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "again"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        ticket_id /id;
        on_repeat comment cooldown=0;
        on_refire reopen window=1h;
        callback_token sha256:$hash;
        callback_status rt;
    }
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; }
        location = /cb { itsm_callback mock profile=rt; }
        location /_itsm/mock { internal; proxy_pass http://127.0.0.1:$ItsmPort; }
    }
}
END
    my $self = bless {name => "cb-redis-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 30, keep_alive => 0)}, 'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert { my ($key, $title) = @_; qq({"key": "$key", "title": "$title", "status": "firing"}) }
sub cb {
    my ($edge, $ticket, $status, $txn) = @_;
    return $edge->post('/cb', qq({"ticket": "$ticket", "old_status": "open", "status": "$status", "transaction": "$txn"}),
                       {Authorization => "Bearer $Tok"});
}

# an answer's body, without its final line break
sub body { my ($res) = @_; (my $b = $res->{content}) =~ s/\n\z//; $b }

sub rget { my $v = $Redis->cli('--raw', 'GET', $_[0]); chomp $v; $v }
sub ikey { "$Prefix\{t:mock:$_[0]}" }
# the entry of key db-1: its hash tag is the one its record has
# the entry of key db-1: of the records, the one whose text (after the
# header line) is db-1; the compare-and-set blocks' k-cc has a record too
sub tkey {
    my $keys = $Redis->cli('--raw', 'KEYS', "$Prefix\{mock:*}:r");
    my ($r) = grep { $Redis->cli('--raw', 'GET', $_) =~ /\A[^\n]*\ndb-1/ } split /\n/, $keys;
    (my $t = $r // '') =~ s/:r\z/:t/;
    return $t;
}

my $A = edge('a')->start;
my $B = edge('b')->start;

# ---- a ticket created through A, resolved through B ----------------------------

my $res = $A->post('/alerts', alert('db-1', 'Disk full'));
is($res->{status}, 201, 'A: created');
like(body($res), qr/"outcome":"created","connector":"mock","ticket_id":"T1"/, 'A: ticket T1');
is(rget(ikey('T1')), 'db-1', 'Redis: the index of T1 names the key db-1');
is($Redis->cli('--raw', 'PTTL', ikey('T1')), "-1\n", 'Redis: an open key\'s index does not expire');

$res = cb($B, 'T1', 'resolved', 10);
is($res->{status}, 200, 'B: the callback of T1: 200');
is(body($res), '{"outcome":"applied","ticket":"T1","key":"db-1","status":"resolved","state":"resolved","key_state":"resolved"}',
   'B: applied, the key resolved');
like(rget(tkey()), qr/^t1 3 0 10 [0-9a-f]{16} \d+ 2 0\nT1\z/, 'Redis: the entry remembers "resolved", order 10, of T1, not held');
my $pttl = $Redis->cli('--raw', 'PTTL', tkey()); chomp $pttl;
ok($pttl > 0, "Redis: the entry of a resolved key expires with its record ($pttl ms)");

$res = cb($A, 'T1', 'resolved', 10);
is(body($res), '{"outcome":"duplicate","ticket":"T1","key":"db-1","status":"resolved","state":"resolved"}',
   'A: the same callback again (its retry on the other edge): a duplicate');

$res = $A->post('/alerts', alert('db-1', 'Disk full'));
is($res->{status}, 200, 'A: the next firing: 200');
like(body($res), qr/"action":"reopen","outcome":"reopened","connector":"mock","ticket_id":"T1"/,
     'A: the key B resolved is reopened (on_refire reopen), no new ticket');
is(join(',', hits()), 'POST /ticket,PUT /ticket/T1', 'the ITSM: one create, one reopen');
is($Redis->cli('--raw', 'PTTL', ikey('T1')), "-1\n", 'Redis: the index of the reopened key does not expire');

# ---- a ticket no key has ----------------------------------------------------------

$res = cb($B, 'T99', 'resolved', 11);
is($res->{status}, 200, 'an unknown ticket: 200');
is(body($res), '{"outcome":"unknown_ticket","ticket":"T99","status":"resolved","state":"resolved"}',
   'an unknown ticket: unknown_ticket');
is($Redis->cli('--raw', 'EXISTS', ikey('T99')), "0\n", 'an unknown ticket: no index written');

# ---- a callback at B while A's alert holds the key --------------------------------

open my $slow, '>', "$Files/slow"; close $slow;
my $url = $A->url('/alerts');
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = HTTP::Tiny->new(timeout => 30)->post($url, {content => alert('db-1', 'Disk full'),
                headers => {'Content-Type' => 'application/json'}});
    POSIX::_exit($r->{status} == 200 && $r->{content} =~ /"outcome":"commented"/ ? 0 : 1);
}
my $until = time + 10;
sleep 0.05 until (grep { m{/comment$} } hits()) || time > $until;
ok((grep { m{/comment$} } hits()), 'A: its comment is at the ITSM (the key claimed)');

$res = cb($B, 'T1', 'resolved', 12);
is(body($res), '{"outcome":"in_flight","ticket":"T1","key":"db-1","status":"resolved","state":"resolved"}',
   'B: the key is held by A\'s alert: in_flight');
like(rget(tkey()), qr/^t1 3 1 12 /, 'Redis: the entry is HELD (flags 1), "resolved", order 12');

waitpid($pid, 0);
is($? >> 8, 0, 'A: its alert commented (200)');
unlink "$Files/slow";
like(rget(tkey()), qr/^t1 3 0 12 /, 'Redis: the claim\'s end took the held state (flags 0)');

$res = $A->post('/alerts', alert('db-1', 'Disk full'));
like(body($res), qr/"action":"reopen","outcome":"reopened","connector":"mock","ticket_id":"T1"/,
     'A: the next firing reopens: the held "resolved" was applied at the claim\'s end');
is(join(',', hits()), 'POST /ticket,PUT /ticket/T1,POST /ticket/T1/comment,PUT /ticket/T1',
   'the ITSM: one create, the comment, two reopens');

# ---- the compare-and-set script, run with redis-cli on the C file's text ------------

# a script of ngx_http_itsm_store_ticket_redis.c: its macro's string literals
sub script {
    my ($name) = @_;
    open my $fh, '<', "$FindBin::Bin/../ngx_itsm_module/ngx_http_itsm_store_ticket_redis.c" or die $!;
    my $src = do { local $/; <$fh> };
    my ($body) = $src =~ /^#define \Q$name\E\s*\\\n(.*?[^\\])\n/ms or die "no $name\n";
    my $lua = join '', $body =~ /"((?:[^"\\]|\\.)*)"/g;
    $lua =~ s/\\n/\n/g;
    $lua =~ s/\\(.)/$1/g;
    return $lua;
}

{
    my $cas = script('NGX_HTTP_ITSM_STORE_TICKET_CAS');
    my ($c, $r, $t) = map { "$Prefix\{mock:00000000000000cc}:$_" } qw(c r t);
    my $rec = "r1 0 0 0 0 0 0 0 0 0 0 4\nk-ccOLD";
    $Redis->cli('SET', $r, $rec);

    is($Redis->cli('--raw', 'EVAL', $cas, 3, $c, $r, $t, '', "r1 0 0 0 0 0 0 0 0 0 0 4\nk-ccOLDER", '', 'w', 'NEW', 'e1', 0), "0\n",
       'CAS script: a record changed since the read: refused');
    $Redis->cli('SET', $c, 'claim', 'PX', 60000);
    is($Redis->cli('--raw', 'EVAL', $cas, 3, $c, $r, $t, '', $rec, '', 'w', 'NEW', 'e1', 0), "0\n",
       'CAS script: a claim taken since the read: refused');
    is(rget($r), $rec, 'CAS script: refused: the record unchanged');
    is($Redis->cli('--raw', 'EXISTS', $t), "0\n", 'CAS script: refused: no entry written');
    $Redis->cli('DEL', $c);
    is($Redis->cli('--raw', 'EVAL', $cas, 3, $c, $r, $t, '', $rec, '', 'w', 'NEW', 'e1', 5000), "1\n",
       'CAS script: all as read: written');
    is(rget($r), "r1 0 0 0 0 0 0 0 0 0 0 4\nk-ccNEW", 'CAS script: the header and key kept, the codec replaced');
    is(rget($t), 'e1', 'CAS script: the entry written');
    my $et = $Redis->cli('--raw', 'PTTL', $t); chomp $et;
    ok($et > 0 && $et <= 5000, "CAS script: the entry expires with its record ($et ms)");
}

# ---- redis-server stopped: the ITSM is asked to send again --------------------------

$Redis->stop;
$res = cb($B, 'T1', 'resolved', 13);
is($res->{status}, 503, 'Redis down: 503');
is($res->{headers}{'retry-after'}, '30', 'Redis down: Retry-After: 30, as a store error on LMDB');
like(body($res), qr/^\{"error":"store_unavailable",/, 'Redis down: store_unavailable');

$Redis->restart;
$until = time + 10;
do { sleep 0.2; $res = cb($B, 'T1', 'resolved', 13) } until $res->{status} == 200 || time > $until;
is(body($res), '{"outcome":"applied","ticket":"T1","key":"db-1","status":"resolved","state":"resolved","key_state":"resolved"}',
   'Redis back: the callback sent again is applied');
like(rget(tkey()), qr/^t1 3 0 13 /, 'Redis back: the entry has its order 13');

$A->stop;
$B->stop;

done_testing();
