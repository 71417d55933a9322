# itsm-migrate (tools/itsm-migrate.c, build/itsm-migrate): an LMDB store's
# records into Redis, as itsm_store redis writes them (docs/redis.md,
# "Migration").
#
# An nginx on an LMDB store (edge L) makes tickets at the "ITSM" of this
# file: two open keys, one resolved, one whose create's answer was lost
# (released in doubt), one whose edge was SIGKILLed mid-create (a claim in
# doubt), one queued (a pending delivery) on a second connector; L
# stopped, the tool runs against a private redis-server:
#
# - --dry-run writes nothing (DBSIZE unchanged), and counts;
# - the records land under the module's own key names, each once; the
#   resolved key (and the keys that never got their ticket) with the TTL of
#   --retention, the open ones without; no claim copied;
# - a key already in Redis is left alone and counted; --overwrite replaces
#   it with the very bytes of a run into an empty db (--db);
# - each record with a ticket gets its ticket index (P{t:connector:ticket}
#   -> the key's text, with the record's TTL), so callbacks find it; the
#   pending delivery and the ticket entries are not moved: a warning with
#   counts, exit 3;
#
# then an nginx on Redis (edge R, the same connectors): a repeat of an open
# key is a duplicate naming its ticket and sends nothing; a resolve sends
# the resolve to the right ticket; a refire of the resolved key reopens
# its ticket; a callback of a migrated open ticket (T1) is applied to its
# key; the keys in doubt ask the ITSM (find) first and find the
# ticket instead of creating another; a new key's record (written by the
# module) has the header and codec flags of a migrated one.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use ItsmRedis;
use ItsmExample;
use ItsmPorts;
use ItsmChild;
use ItsmForkItsm;
use Digest::SHA qw(sha256_hex);

my $Tok = 'itsmcb_test-token-of-the-migrated-callbacks-0000';

@ItsmMigrateItsm::ISA = ('ItsmChild');

my $Tool = $ENV{ITSM_MIGRATE} // "$FindBin::Bin/../build/itsm-migrate";
die "t/505: no $Tool: make build/itsm-migrate (or set ITSM_MIGRATE)\n" unless -x $Tool;
# under valgrind (make test-valgrind) the tool runs under memcheck too: an
# error or a definite leak is exit 99, which every exit check sees
my $Run = ($ENV{TEST_NGINX_USE_VALGRIND}
           ? 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite ' : '')
          . "'$Tool'";

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $Files = tempdir('itsm-migrate-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
chmod 0755, $Files;
my $Hits = "$Files/hits";
my $Prefix = 'mg' . int(rand(1e6)) . ':';
my $Store = "$Files/lmdb/state.mdb";
mkdir "$Files/lmdb";
chmod 0777, "$Files/lmdb";     # the workers' user makes the store there

my $Redis = ItsmRedis->start;

# ---- the ITSM ---------------------------------------------------------------
#
# A process per connection; every request logged in "hits" once answered.
# POST /ticket numbers the tickets (Tn) and remembers the key's ("keys",
# which find reads); while "hang" exists a create or an update waits (its
# start a line in "inflight"); with "lose" the ticket is made but the
# answer is a 500
# (an answer lost: the create is in doubt); with "down" a 503, no ticket.

sub itsm {
    my ($l) = @_;
    ItsmForkItsm::serve($l, sub {
        my ($req) = @_;
        my ($method, $path, $body) = @$req{qw(method path body)};
        my ($key) = ($req->{headers}{'x-key'} // '') =~ /^(\S*)/;
        my ($status, $answer) = (200, '{}');
        if ($method eq 'PUT' && -e "$Files/hang") {
            open my $f, '>>', "$Files/inflight"; print $f "$path\n"; close $f;
            sleep 0.05 while -e "$Files/hang";
        }
        if ($method eq 'POST' && $path eq '/ticket') {
            if (-e "$Files/down") {
                ($status, $answer) = (503, '{}');
            } else {
                open my $f, '>>', "$Files/inflight"; print $f "$path\n"; close $f;
                sleep 0.05 while -e "$Files/hang";
                open my $lk, '>>', "$Files/lock" or POSIX::_exit(1);
                flock($lk, 2);
                my $n = 1 + (-s "$Files/created" // 0);
                open my $cf, '>>', "$Files/created"; print $cf 'x'; close $cf;
                open my $kf, '>>', "$Files/keys"; print $kf "$key T$n\n"; close $kf;
                close $lk;
                ($status, $answer) = -e "$Files/lose" ? (500, '{}') : (201, qq({"id":"T$n"}));
            }
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

sub touch { open my $fh, '>', $_[0] or die "$_[0]: $!"; close $fh }

my $ItsmSock = ItsmPorts::listen_socket();
my $ItsmPort = $ItsmSock->sockport;
my $Itsm = ItsmChild::start('ItsmMigrateItsm', $ItsmSock, sub { itsm($ItsmSock) });

sub hits {
    my ($re) = @_;
    open my $fh, '<', $Hits or return wantarray ? () : 0;
    my @h = grep { $re ? /$re/ : 1 } <$fh>;
    return wantarray ? @h : scalar @h;
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

# ---- the edges ----------------------------------------------------------------

my $Connectors = <<"END";
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
        callback_token sha256:${\ sha256_hex($Tok)};
        callback_status rt;
    }
    itsm_connector queued {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
    }
END

sub edge {
    my ($name, $port, $http, $locations) = @_;
    my $dir = tempdir("itsm-mg-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{ITSM_TEST_KEEP});
    chmod 0755, $dir;
    mkdir "$dir/$_" for qw(logs temp);
    my $load = join '', map { "load_module $_;\n" } ItsmExample::modules();
    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    my $text = $load . <<"END";
pid $dir/nginx.pid;
worker_processes 2;
events { worker_connections 1024; }
http {
$temp    access_log off;
    itsm_zone itsm:4m;
$http
$Connectors
    server {
        listen 127.0.0.1:$port;
        location = /alerts { itsm_pass mock; }
$locations
        location /_itsm/mock {
            internal;
            proxy_pass http://127.0.0.1:$ItsmPort;
            proxy_read_timeout 60s;
        }
    }
}
END
    my $self = bless {name => "migrate-$name", dir => $dir, opt => {},
                      ports => {8080 => $port}, listen_order => [8080],
                      text => $text,
                      http => HTTP::Tiny->new(timeout => 60 * $Slow, keep_alive => 0)},
                     'ItsmExample';
    ItsmExample::spew($self->conf, $text);
    return $self;
}

sub alert {
    my ($key, $status) = @_;
    return '{"key": "' . $key . '", "title": "Disk full", "status": "' . $status . '"}';
}

sub outcome {
    my ($r) = @_;
    my $a = $r->{json} && $r->{json}{alerts} && $r->{json}{alerts}[0] || {};
    return join ' ', $r->{status}, $a->{action} // '-', $a->{outcome} // '-',
                     $a->{ticket_id} // '-';
}

# ---- the tool and Redis ----------------------------------------------------------

# its exit status and output (stdout and stderr)
sub migrate {
    my (@args) = @_;
    my $out = `$Run --redis 127.0.0.1:${\$Redis->port} --prefix '$Prefix' --retention 1h @args '$Store' 2>&1`;
    return ($? >> 8, $out);
}

sub cli { my $o = $Redis->cli('--raw', @_); chomp $o; $o }

# name => value of every key of a db
sub dump_db {
    my ($db) = @_;
    my %d;
    for my $k (grep { length } split /\n/, cli('-n', $db, 'KEYS', '*')) {
        $d{$k} = cli('-n', $db, 'GET', $k);
    }
    return \%d;
}

# the name of KEY's record in a dump, by its text after the header
sub name_of {
    my ($dump, $key) = @_;
    my ($n) = grep { $dump->{$_} =~ /^r1 [^\n]*\n\Q$key\E/ } keys %$dump;
    return $n // '';
}

# ---- edge L, on LMDB -------------------------------------------------------------

my $LPort = ItsmPorts::free();
my $L = edge('lmdb', $LPort,
             "    itsm_store $Store lease=5s;\n"
             . "    itsm_replay_url http://127.0.0.1:$LPort/_itsm/replay;\n"
             . "    itsm_retry attempts=30 backoff=1h max=1h;",
             "        location = /queued { itsm_queue on; itsm_pass queued; }\n"
             . "        location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }\n");
{
    my ($ok, $out) = $L->test;
    ok($ok, 'nginx -t: the LMDB edge\'s configuration passes') or diag $out;
}
$L->start;

is(outcome($L->post('/alerts', alert('open-1', 'firing'))), '201 create created T1', 'L: open-1 creates T1');
is(outcome($L->post('/alerts', alert('open-2', 'firing'))), '201 create created T2', 'L: open-2 creates T2');
is(outcome($L->post('/alerts', alert('res-1', 'firing'))), '201 create created T3', 'L: res-1 creates T3');
is(outcome($L->post('/alerts', alert('res-1', 'resolved'))), '200 resolve resolved T3', 'L: res-1 resolves T3');
is(outcome($L->post('/alerts', alert('pre-1', 'firing'))), '201 create created T4', 'L: pre-1 creates T4');

# the ITSM makes T5 but its answer is lost: the record keeps the doubt
touch("$Files/lose");
my $r = $L->post('/alerts', alert('doubt-1', 'firing'));
unlink "$Files/lose";
is($r->{status}, 503, 'L: doubt-1: the ITSM answered 500 (after making T5): 503 to the sender');

# a queued alert: a pending delivery in the store, not due for an hour
touch("$Files/down");
is(outcome($L->request('POST', '/queued', alert('q-1', 'firing'))), '202 create queued -', 'L: q-1 is queued (the ITSM is down)');
unlink "$Files/down";

# the tool beside a running L: LMDB lets it read, and it says what it
# cannot move (what L writes after its read); a dry run writes nothing
{
    my ($rc, $out) = migrate('--dry-run');
    like($out, qr/^itsm-migrate: warning: [1-9]\d* live process\(es\) have "\Q$Store\E" open \(nginx still running\?\): what they write after this read is not moved; stop them first$/m,
         'tool beside a running nginx: a warning');
    is(cli('DBSIZE'), 0, 'tool beside a running nginx: a dry run wrote nothing');
}

is(outcome($L->post('/alerts', alert('open-3', 'firing'))), '201 create created T6', 'L: open-3 creates T6');

# L killed while its create of kill-1 and its resolve of open-3 are at the
# ITSM: a claim in doubt on a new key, a claim on a key with a ticket
touch("$Files/hang");
unlink "$Files/inflight";
my @s;
for my $b (alert('kill-1', 'firing'), alert('open-3', 'resolved')) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$LPort") or die "connect: $!\n";
    print $s "POST /alerts HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($b) . "\r\n\r\n$b";
    push @s, $s;
}
ok(wait_until(sub { (-s "$Files/inflight" // 0) == length("/ticket\n/ticket/T6\n") }),
   'L: the create of kill-1 and the resolve of T6 reached the ITSM');
kill 'KILL', $L->{pid}, $L->workers;
$L->stop;
close $_ for @s;
unlink "$Files/hang";
ok(wait_until(sub { (-s "$Files/created" // 0) == 7 }), 'the ITSM made T7 for kill-1 all the same');
ok(wait_until(sub { hits(qr{^PUT /ticket/T6 }) == 1 }), 'the ITSM resolved T6 all the same');

# the ITSM logs a request once it has answered it: after the ticket
wait_until(sub { hits(qr{^POST /ticket }) == 8 });
is(join('', hits(qr{^POST /ticket })), qq(POST /ticket {"title":"Disk full"}\n) x 8,
   'L: eight creates sent (q-1\'s answered 503)');

# ---- the tool ----------------------------------------------------------------------

my $Counts = qr/records read (\d+), (?:would write|written) (\d+) \(with a TTL (\d+), resolved (\d+)\), skipped as present (\d+), replaced (\d+)\n  claims dropped (\d+), in doubt (\d+) \(find first\), expired (\d+)/;

sub counts { my ($out) = @_; my @c = $out =~ $Counts; return @c ? join(' ', @c) : "no counts in: $out" }

{
    my ($rc, $out) = migrate('--bogus');
    is($rc, 2, 'tool: an unknown option: exit 2');
    like($out, qr/^usage: itsm-migrate /, 'tool: an unknown option: the usage');

    ($rc, $out) = migrate('--retention', '0');
    is($rc, 2, 'tool: --retention 0: exit 2');

    my $port = ItsmPorts::free();
    $out = `$Run --redis 127.0.0.1:$port '$Store' 2>&1`;
    is($? >> 8, 1, 'tool: Redis unreachable: exit 1');
    like($out, qr/^itsm-migrate: redis 127\.0\.0\.1:$port: Connection refused$/m, 'tool: Redis unreachable: said');

    $out = `$Run --redis 127.0.0.1:${\$Redis->port} '$Files/none.mdb' 2>&1`;
    is($? >> 8, 1, 'tool: no store: exit 1');
    like($out, qr/^itsm-migrate: the store "\Q$Files\E\/none\.mdb": No such file or directory$/m, 'tool: no store: said');
}

is(cli('DBSIZE'), 0, 'redis: empty before');

{
    my ($rc, $out) = migrate('--dry-run');
    diag $out if $ENV{ITSM_TEST_KEEP};
    unlike($out, qr/live process/, 'dry run: L stopped: no warning of a live reader');
    is($rc, 3, 'dry run: exit 3 (a pending delivery is left behind)') or diag $out;
    is(counts($out), '8 8 3 1 0 0 2 3 0',
       'dry run: 8 read, 8 would be written (3 with a TTL, 1 resolved), 2 claims dropped, 3 in doubt');
    is(cli('DBSIZE'), 0, 'dry run: nothing written (DBSIZE 0)');
}

# records past --retention: the resolved one is not written (both stores
# forget it), the ones in doubt are, with the whole retention (their doubt
# must outlive the migration); 2 s after they last changed, 1 s of
# retention is past
{
    sleep 2.1;
    my ($rc, $out) = migrate('--dry-run', '--db', '2', '--retention', '1s');
    is(counts($out), '8 7 2 0 0 0 2 3 1',
       'dry run, --retention 1s: the resolved key expired, not written; the two in doubt with a TTL');
}

# a run into db 1, empty: the names and bytes the tool writes
my ($rc1, $out1) = migrate('--db', '1');
is($rc1, 3, 'db 1: exit 3') or diag $out1;
is(counts($out1), '8 8 3 1 0 0 2 3 0', 'db 1: 8 written, 3 with a TTL (1 resolved), 2 claims dropped, 3 in doubt');
like($out1, qr/^itsm-migrate: warning: 1 pending deliveries not moved \(0 of them dead letters\): this tool does not move the queue; drain them on LMDB first/m,
     'db 1: the pending delivery: a warning with its count');
like($out1, qr/^itsm-migrate: warning: not moved: 5 ticket entries \(what the ITSM last said of each ticket: the next callback of a ticket is applied without comparing its order\), 0 way-back entries/m,
     'db 1: the ticket entries: a warning with their count');
like($out1, qr/^  ticket index entries written 5 \(one per record with a ticket, for the callbacks\)$/m,
     'db 1: five ticket index entries written');
my $D1 = dump_db(1);
is(scalar(keys %$D1), 13, 'db 1: thirteen keys: eight records, five ticket index entries');
is(join(' ', map { "$_=$D1->{\"$Prefix\{t:mock:$_}\"}" } qw(T1 T2 T3 T4 T6)),
   'T1=open-1 T2=open-2 T3=res-1 T4=pre-1 T6=open-3',
   'db 1: the index of each ticket names its key, under PREFIX{t:connector:ticket}');
is(scalar(grep { /^\Q$Prefix\E\{(mock|queued):[0-9a-f]{16}\}:r$/ } keys %$D1), 8,
   'db 1: each named PREFIX{connector:16 hex}:r; no claim (:c)');
like(name_of($D1, 'q-1'), qr/^\Q$Prefix\E\{queued:[0-9a-f]{16}\}:r$/, 'db 1: the queued key\'s record, under its own connector');

# the key present before the migration: planted in db 0
my $PreName = name_of($D1, 'pre-1');
cli('SET', $PreName, 'planted');

{
    my ($rc, $out) = migrate();
    is($rc, 3, 'db 0: exit 3') or diag $out;
    is(counts($out), '8 7 3 1 1 0 2 3 0', 'db 0: 7 written, 1 skipped as present');
    is(cli('GET', $PreName), 'planted', 'db 0: the record present before is left alone');
    my $D0 = dump_db(0);
    is(scalar(keys %$D0), 13, 'db 0: thirteen keys');
    is(cli('PTTL', "$Prefix\{t:mock:T1}"), -1, 'db 0: an open key\'s ticket index has no TTL');
    my $ipttl = cli('PTTL', "$Prefix\{t:mock:T3}");
    ok($ipttl > 3_540_000 && $ipttl <= 3_600_000, 'db 0: the resolved key\'s index expires with its record') or diag $ipttl;
    is(scalar(grep { $_ ne $PreName && $D0->{$_} ne $D1->{$_} } keys %$D1), 0,
       'db 0: the other seven hold the bytes of the run into db 1');

    my $pttl = cli('PTTL', name_of($D0, 'res-1'));
    ok($pttl > 3_540_000 && $pttl <= 3_600_000, 'db 0: the resolved record expires after --retention (1 h)') or diag $pttl;
    for my $k (qw(doubt-1 q-1)) {
        $pttl = cli('PTTL', name_of($D0, $k));
        ok($pttl > 3_540_000 && $pttl <= 3_600_000, "db 0: $k, released without a ticket, expires after --retention too") or diag $pttl;
    }
    for my $k (qw(open-1 open-2 open-3 kill-1)) {
        is(cli('PTTL', name_of($D0, $k)), -1, "db 0: $k has no TTL");
    }
    is(cli('PTTL', $PreName), -1, 'db 0: the planted one keeps its own TTL (none)');

    # the header lines: what the commit script writes (see store_redis.c)
    like($D0->{name_of($D0, 'open-1')}, qr/^r1 0 [0-9a-f]{16} [0-9a-f]{16} 1 0 0 0 0 0 0 6\nopen-1\x03\x01\x01\x04/,
         'db 0: open-1: no doubt, its last claim done, no claim before it; codec v3, open, done, hash + last token');
    like($D0->{name_of($D0, 'res-1')}, qr/^r1 0 [0-9a-f]{16} [0-9a-f]{16} 1 0 0 [0-9a-f]{16} 1 0 0 5\nres-1\x03\x02\x01\x04/,
         'db 0: res-1: two claims, both done; codec resolved, with the claim before the last in the header only');
    like($D0->{name_of($D0, 'doubt-1')}, qr/^r1 [1-9]\d{9} [0-9a-f]{16} [0-9a-f]{16} 4 500 0 0 0 0 0 7\ndoubt-1\x03\x00\x04/,
         'db 0: doubt-1: in doubt since its create, the last claim unavailable (500)');
    like($D0->{name_of($D0, 'open-3')}, qr/^r1 0 [0-9a-f]{16} [0-9a-f]{16} 1 0 0 0 0 0 0 6\nopen-3\x03\x01\x01\x04/,
         'db 0: open-3: its claim (the resolve) dropped: the record as its create left it, not claimed (no 0x80, no token)');
    like($D0->{name_of($D0, 'kill-1')}, qr/^r1 [1-9]\d{9} 0 0 0 0 0 0 0 0 0 6\nkill-1\z/,
         'db 0: kill-1: its claim dropped, the record the claim script writes for a create on a new key: the doubt, the key, no codec');
}

{
    my ($rc, $out) = migrate('--dry-run');
    diag explain { map { ($_ => unpack('H*', $D1->{$_})) } keys %$D1 } if $ENV{ITSM_TEST_KEEP};
    is(counts($out), '8 0 0 0 8 0 2 3 0', 'dry run again: all eight present, none would be written');
    is(cli('DBSIZE'), 13, 'dry run again: DBSIZE unchanged');
    is(cli('GET', $PreName), 'planted', 'dry run again: the planted record still there');

    ($rc, $out) = migrate('--dry-run', '--overwrite');
    is(counts($out), '8 8 3 1 0 8 2 3 0', 'dry run --overwrite: eight would be replaced');
    is(cli('GET', $PreName), 'planted', 'dry run --overwrite: nothing replaced');

    ($rc, $out) = migrate('--overwrite');
    is($rc, 3, '--overwrite: exit 3') or diag $out;
    is(counts($out), '8 8 3 1 0 8 2 3 0', '--overwrite: eight written, eight replaced');
    is(cli('GET', $PreName), $D1->{$PreName}, '--overwrite: the planted record replaced by the migrated bytes');
    is(cli('DBSIZE'), 13, '--overwrite: DBSIZE 13');
}

# ---- edge R, on Redis --------------------------------------------------------------

my $R = edge('redis', ItsmPorts::free(),
             "    itsm_redis address=127.0.0.1:${\$Redis->port} prefix=$Prefix timeout=2s;\n"
             . "    itsm_store redis lease=5s retention=1h;",
             "        location = /cb { itsm_callback mock profile=rt; }\n");
{
    my ($ok, $out) = $R->test;
    ok($ok, 'nginx -t: the Redis edge\'s configuration passes') or diag $out;
}
$R->start;
sleep 0.3;   # connected
reset_hits();

is(outcome($R->post('/alerts', alert('open-1', 'firing'))), '200 none duplicate T1',
   'R: a repeat of open-1 is a duplicate of T1');
is(scalar(hits()), 0, 'R: nothing sent for it');

# the ITSM's callback of migrated T1: the index the tool wrote finds open-1
{
    my $res = $R->post('/cb', '{"ticket": "T1", "old_status": "open", "status": "stalled", "transaction": "20"}',
                       {Authorization => "Bearer $Tok"});
    (my $b = $res->{content}) =~ s/\n\z//;
    is("$res->{status} $b", '200 {"outcome":"applied","ticket":"T1","key":"open-1","status":"stalled","state":"acknowledged","key_state":"open"}',
       'R: a callback of migrated T1 is applied to open-1');
    is(scalar(hits()), 0, 'R: nothing sent for it');
}

is(outcome($R->post('/alerts', alert('open-2', 'resolved'))), '200 resolve resolved T2',
   'R: the resolve of open-2 resolves T2');
is(outcome($R->post('/alerts', alert('res-1', 'firing'))), '200 reopen reopened T3',
   'R: the refire of res-1 (resolved on L) reopens T3');
is(join('', hits()), qq(PUT /ticket/T2 {"Status":"resolved"}\n) . qq(PUT /ticket/T3 {"Status":"open"}\n),
   'R: the ITSM got the resolve of T2 and the reopen of T3, nothing else');

reset_hits();
is(outcome($R->post('/alerts', alert('doubt-1', 'firing'))), '201 create created T5',
   'R: doubt-1 (its answer lost on L): T5, found');
is(outcome($R->post('/alerts', alert('kill-1', 'firing'))), '201 create created T7',
   'R: kill-1 (L killed mid-create): T7, found');
is(join('', hits()), "GET /tickets?key=doubt-1 \nGET /tickets?key=kill-1 \n",
   'R: the keys in doubt: find first, no create');

reset_hits();
reset_hits();
is(outcome($R->post('/alerts', alert('open-3', 'resolved'))), '200 resolve resolved T6',
   'R: open-3, whose resolve L never recorded: resolved again (its claim did not come along)');
is(join('', hits()), qq(PUT /ticket/T6 {"Status":"resolved"}\n), 'R: the resolve of T6 sent');

is(outcome($R->post('/alerts', alert('new-1', 'firing'))), '201 create created T8', 'R: a new key creates T8');
{
    my $D = dump_db(0);
    is(scalar(grep { /:r$/ } keys %$D), 9, 'R: nine records: the migrated keys were found under their names');
    diag unpack('H*', $D->{name_of($D, 'new-1')}) if $ENV{ITSM_TEST_KEEP};
    like($D->{name_of($D, 'new-1')}, qr/^r1 0 [0-9a-f]{16} [0-9a-f]{16} 1 0 0 0 0 0 0 5\nnew-1\x03\x01\x01\x04/,
         'R: the module\'s record of a new key: the header and codec flags of migrated open-1');
}

$R->stop;

# a Redis on a unix socket with a password (itsm_redis password_file=)
{
    my $locked = ItsmRedis->start(password => 's3cret', unix => 1);
    my $pw = "$Files/redis.pass";
    open my $fh, '>', $pw or die; print $fh "s3cret\n"; close $fh;
    my $out = `$Run --redis unix:${\$locked->socket} --password-file '$pw' --retention 1h '$Store' 2>&1`;
    is($? >> 8, 3, 'unix socket and password file: exit 3') or diag $out;
    is(counts($out), '8 8 3 1 0 0 2 3 0', 'unix socket and password file: eight written');
    is(scalar(grep { /^itsm:\{(mock|queued):[0-9a-f]{16}\}:r$/ } split /\n/, $locked->cli('--raw', 'KEYS', '*')), 8,
       'unix socket and password file: under the default prefix itsm:');

    open $fh, '>', $pw or die; print $fh "wrong\n"; close $fh;
    $out = `$Run --redis unix:${\$locked->socket} --password-file '$pw' '$Store' 2>&1`;
    is($? >> 8, 1, 'a wrong password: exit 1');
    like($out, qr/^itsm-migrate: redis unix:\S+: AUTH failed: WRONGPASS/m, 'a wrong password: said');
    $locked->stop;
}

done_testing();
