# The store's directory as the workers' user sees it.  nginx's master (root)
# reaches what the workers ("user nobody") may not; a worker that cannot
# open the store exits for good, and nginx then accepts connections and
# answers none.  So nginx -t and the start check the path as that user and
# refuse, naming the path, the user and what to change: a directory above
# the store it may not enter, a store directory it may not write.  Both
# sides: with the permission given, nginx starts and the worker serves.
# Needs root (to run the workers as another user); nginx is run by this
# file, with a configuration of its own.
use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPorts;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

our $Nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
our @Modules = grep { length } split /\s+/, ($ENV{TEST_NGINX_LOAD_MODULES} // '');
# a port the kernel gives (ItsmPorts): a fixed one collided when two
# suites ran this file at once (CI's lanes)
our $Port = $ENV{TEST_NGINX_STORE_ACCESS_PORT} || ItsmPorts::free();
our ($Dir, $Conf, $Line);

if ($> != 0) {
    plan skip_all => 'runs the workers as "nobody": needs root';

} elsif (!getpwnam('nobody')) {
    plan skip_all => 'no user "nobody"';

} else {
    plan 'no_plan';
}

# a configuration with its store at STORE (relative to $Dir), its pid and
# log files under PREFIX (default: prefix)
sub conf {
    my ($store, $prefix) = @_;
    $prefix //= 'prefix';
    my $load = join '', map { "load_module $_;\n" } @Modules;
    my $group = getgrnam('nogroup') ? 'nogroup' : 'nobody';
    my $text = <<"_EOC_";
${load}user nobody $group;
pid $Dir/$prefix/nginx.pid;
error_log $Dir/$prefix/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    itsm_store $Dir/$store;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket;
        ticket_id /id;
    }
    server {
        listen 127.0.0.1:$Port;
        location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$Port/mock/; }
        location = /mock/ticket { return 201 '{"id":"T1"}'; }
        location = /alerts { itsm_pass mock; }
    }
}
_EOC_
    ($Line) = grep { (split /\n/, $text)[$_ - 1] =~ /itsm_store/ } 1 .. 100;
    $Conf = "$Dir/$prefix/nginx.conf";
    open(my $fh, '>', $Conf) or die "$Conf: $!";
    print $fh $text;
    close $fh;
}

sub nginx { my (@args) = @_; qx{$Nginx -p $Dir/prefix/ -c $Conf @args 2>&1} }

sub listening {
    for (1 .. 60) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Port", Timeout => 1);
        sleep 0.05;
    }
    return 0;
}

sub stop {
    my $pid = do { local (@ARGV, $/) = ("$Dir/prefix/nginx.pid"); <> } or return;
    chomp $pid;
    kill 'QUIT', $pid;
    for (1 .. 100) { last unless kill 0, $pid; waitpid($pid, WNOHANG); sleep 0.05; }
}

sub alert {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Port", Timeout => 10) or return '';
    my $body = '{"key": "db-1"}';
    print $s "POST /alerts HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: "
           . length($body) . "\r\n\r\n$body";
    local $/;
    return scalar <$s>;
}

$Dir = tempdir('itsm-054-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Dir;
mkdir "$Dir/prefix"; mkdir "$Dir/prefix/logs";

# 1. a directory above the store that the user may not enter
mkdir "$Dir/closed", 0700; mkdir "$Dir/closed/store", 0755;
chmod 0700, "$Dir/closed";
conf('closed/store/state.mdb');

my $want = qq{itsm_store: the workers' user "nobody" cannot reach "$Dir/closed/store/state.mdb": }
         . qq{it may not enter "$Dir/closed" (in $Conf:$Line); give it search (x) permission on every }
         . qq{directory above the store, e.g. "chmod o+x $Dir/closed", or move the store (13: Permission denied)};

my $out = nginx('-t');
isnt($?, 0, 'nginx -t: a directory above the store closed to the workers\' user fails');
like($out, qr/\[emerg\] \Q$want\E\n/, 'nginx -t names the path, the directory and the user');

$out = nginx();
isnt($?, 0, 'the start fails too, at once (no master without workers)');
like($out, qr/\[emerg\] \Q$want\E\n/, 'the start says why');
ok(!listening(), 'nothing listens: no master was left running') or stop();

# ... the other side: search permission given, nginx starts and serves
chmod 0711, "$Dir/closed";

$out = nginx('-t');
is($?, 0, 'nginx -t: with o+x on the directory above, the store is reachable') or diag($out);
# the data and lock files do not exist yet: chown() of them fails with
# ENOENT, which is no error and no warning
ok(!-e "$Dir/closed/store/state.mdb", 'no data file before the first start');
unlike($out, qr/chown/, 'nginx -t before the store exists: nothing said of chown');

$out = nginx();
is($?, 0, 'nginx starts') or diag($out);
ok(listening(), 'it listens');
like(alert(), qr{^HTTP/1\.1 201 .*"outcome":"created"}s, 'a worker (as nobody) serves an alert from the store');
is((stat "$Dir/closed/store/state.mdb")[4], scalar getpwnam('nobody'), 'the store is the workers\' user\'s');
stop();

# the files exist now: chown() of both succeeds, quietly
$out = nginx('-t');
is($?, 0, 'nginx -t with the store\'s files there') or diag($out);
unlike($out, qr/chown/, 'nginx -t after the first start: nothing said of chown');
is((stat "$Dir/closed/store/state.mdb-lock")[4], scalar getpwnam('nobody'), 'the lock file is the workers\' user\'s');

# 2. the store's own directory, not writable by the user even once nginx
# made it theirs
mkdir "$Dir/ro", 0755; mkdir "$Dir/ro/store", 0500;
chmod 0500, "$Dir/ro/store";
conf('ro/store/state.mdb');

$out = nginx('-t');
isnt($?, 0, 'nginx -t: a store directory the workers\' user cannot write fails');
like($out, qr/\[emerg\] \Qitsm_store: the workers' user "nobody" cannot create files in "$Dir\/ro\/store" (in $Conf:$Line); the store and its lock file are created there: make the directory writable by that user (13: Permission denied)\E\n/,
     'nginx -t names the directory and the user');

chmod 0700, "$Dir/ro/store";
$out = nginx('-t');
is($?, 0, 'nginx -t: writable by its owner (nginx hands it to the workers\' user): fine') or diag($out);

# 3. nginx run by "nobody" itself (nginx -t by an unprivileged user): the
# same check, in the process, with the same words
mkdir "$Dir/np"; mkdir "$Dir/np/logs";
chown scalar getpwnam('nobody'), -1, "$Dir/np", "$Dir/np/logs";
mkdir "$Dir/closed2", 0700; mkdir "$Dir/closed2/store", 0777;
chmod 0700, "$Dir/closed2";
conf('closed2/store/state.mdb', 'np');

# as "nobody", nginx must be able to load the module: not so when the
# checkout lies under a directory closed to others (mktemp -d is 0700)
sub nobody_reads {
    my ($path) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
        POSIX::setgid($gid); POSIX::setuid($uid);
        POSIX::_exit(-r $path ? 0 : 1);
    }
    waitpid($pid, 0);
    return $? == 0;
}

SKIP: {
Test::More::skip('"nobody" cannot read the module (' . join(' ', @Modules)
                 . '): the checkout is under a directory closed to others', 2)
    unless !grep { !nobody_reads($_) } @Modules;

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    open(STDOUT, '>', "$Dir/np/out") or POSIX::_exit(126);
    open(STDERR, '>&', \*STDOUT);
    my $uid = getpwnam('nobody');
    my ($gid) = (getpwnam('nobody'))[3];
    POSIX::setgid($gid); POSIX::setuid($uid);
    exec($Nginx, '-p', "$Dir/np/", '-c', $Conf, '-t') or POSIX::_exit(127);
}
waitpid($pid, 0);
isnt($?, 0, 'nginx -t run by "nobody": a directory above the store closed to it fails');
$out = do { local (@ARGV, $/) = ("$Dir/np/out"); <> } // '';
$want = qq{itsm_store: the workers' user "nobody" cannot reach "$Dir/closed2/store/state.mdb": }
      . qq{it may not enter "$Dir/closed2" (in $Conf:$Line); give it search (x) permission on every }
      . qq{directory above the store, e.g. "chmod o+x $Dir/closed2", or move the store (13: Permission denied)};
like($out, qr/\[emerg\] \Q$want\E\n/, 'nginx -t run by "nobody" names the path, the directory and the user');
}

# 4. the workers run as root (user root, the test server's): nothing to
# check beyond what the master can do
run_tests();

__DATA__

=== TEST 1: with the test's own user (root here), the store in the server root opens
--- http_config
    itsm_store logs/state.mdb;
--- config
    location = /t { return 204; }
--- request
GET /t
--- error_code: 204
