package Test::Nginx::Util;

# Fallback for OpenResty's Test::Nginx, written fresh for this project:
# the nginx side of the runner (settings, nginx.conf, server root, nginx
# processes, error/access logs, the TCP mock server).  The client side
# (requests and checks) lives in Test::Nginx::Socket.
#
# It is only put on PERL5LIB when the real Test::Nginx is not installed, so
# the same t/*.t files run under both.  Behaviour follows the documented
# interface of the real one (section names, environment variables, nginx.conf
# layout, check counts); see /work/shared/research/test-nginx.md.

use strict;
use warnings;

use base 'Exporter';
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL SIGTERM);
use Config;
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp ();
use IO::Socket::INET;
use IO::Socket::UNIX;
use File::Basename ();
# the switch ITSM_TEST_STORE=redis lives with the test helpers in t/lib
BEGIN { require(File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/../../../lib/ItsmTestStore.pm')) }
use IO::Select;
use Time::HiRes qw(sleep time);
use Carp qw(croak);
use Test::More ();
use Test::LongString ();

our @EXPORT = qw(
    repeat_each no_shuffle no_long_string log_level workers
    worker_connections master_on master_off master_process_enabled
    env_to_nginx add_block_preprocessor add_cleanup_handler
    add_test_cleanup_handler no_root_location html_dir server_root
    server_port server_port_for_client server_name server_addr bail_out
    check_accum_error_log config_preamble timeout is_str use_hup
    no_nginx_manager is_tcp_port_used is_udp_port_used parse_time
    expand_env_in_text sleep_time verbose trim
);

# ---- settings (environment first, preamble functions may change them) ----

our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess       = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Workers             = 1;
our $WorkerConnections   = 64;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep               = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $Verbose             = $ENV{TEST_NGINX_VERBOSE};
our $UseValgrind         = $ENV{TEST_NGINX_USE_VALGRIND};
our $NoClean             = $ENV{TEST_NGINX_NO_CLEAN};
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ForceRestart        = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our $RepeatEach          = 1;
our $NoRootLocation      = 0;
our $NoLongString;
our $ConfigPreamble      = '';
our $RandPorts           = {};    # $TEST_NGINX_RAND_PORT_N of the current block
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers);

# Transport/profiling modes of the real runner that this fallback lacks:
# say so once instead of silently testing something else.
for my $v (qw(USE_HUP USE_HTTP2 USE_HTTP3 USE_STAP CHECK_LEAK BENCHMARK USE_RR)) {
    warn "# fallback Test::Nginx: TEST_NGINX_$v is not supported, ignored\n"
        if $ENV{"TEST_NGINX_$v"};
}

# Exit code valgrind uses when it found errors (see start_nginx).
use constant VALGRIND_ERR_EXIT => 97;

our $MainPid = $$;       # forked mock servers must not run our END block

if ($ENV{TEST_NGINX_RANDOMIZE}) {
    # a random free port and a private server root, so `prove -jN` works
    $ServerPort = $ServerPortForClient = free_port({}) // die "no free port\n";
}

our $ServRoot = $ENV{TEST_NGINX_RANDOMIZE}
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot'));
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $PidFile    = "$LogDir/nginx.pid";

# ---- preamble functions (exported) ----

sub repeat_each { $RepeatEach = shift if @_; $RepeatEach }
sub workers { $Workers = shift if @_; $Workers }
sub worker_connections { $WorkerConnections = shift if @_; $WorkerConnections }
sub log_level { $LogLevel = shift if @_; $LogLevel }
sub timeout { $Timeout = shift if @_; $Timeout }
sub server_port { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client { $ServerPortForClient = shift if @_; $ServerPortForClient }
sub server_name { $ServerName = shift if @_; $ServerName }
sub server_addr { $ServerAddr = shift if @_; $ServerAddr }
sub sleep_time { $Sleep }
sub verbose { $Verbose }
sub config_preamble { $ConfigPreamble = shift }
sub master_process_enabled { $MasterProcess = $_[0] ? 'on' : 'off' if @_; $MasterProcess }

# Empty prototypes so that e.g. `html_dir . "/foo"` parses as in the real one.
sub no_shuffle () { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on () { $MasterProcess = 'on' }
sub master_off () { $MasterProcess = 'off' }
sub html_dir () { $HtmlDir }
sub server_root () { $ServRoot }
sub use_hup () { warn "# fallback Test::Nginx: use_hup() ignored\n" }
sub no_nginx_manager () { warn "# fallback Test::Nginx: no_nginx_manager() ignored\n" }

# (&) so that `add_block_preprocessor { ... };` works without `sub`.
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler { unshift @TestCleanupHandlers, shift }

sub env_to_nginx {
    croak "env_to_nginx: no arguments specified" unless @_;
    for (@_) {
        croak "env_to_nginx: bad argument value: $_" if !/^[A-Za-z_]/ || /\n/;
        push @EnvToNginx, $_;
    }
}

sub bail_out {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# Compare with a regex when the expectation is qr//, else as strings
# (Test::LongString shows where long strings differ).
sub is_str {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# "0.5", "500ms" or "2s" -> seconds
sub parse_time {
    my $t = shift;
    return undef unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub trim {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub port_in_proc_table {
    my ($file, $port) = @_;
    open my $fh, '<', $file or die "cannot open $file: $!\n";
    while (<$fh>) {
        return 1 if /^\s*\d+: [0-9A-F]+:([0-9A-F]+) / && hex($1) == $port;
    }
    return 0;
}
sub is_tcp_port_used { port_in_proc_table('/proc/net/tcp', shift) }
sub is_udp_port_used { port_in_proc_table('/proc/net/udp', shift) }

# A random TCP port that can be bound right now and is not in %$used.
sub free_port {
    my $used = shift;
    for (1 .. 1000) {
        my $port = 1988 + int rand(63000);
        next if $used->{$port};
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        return $port;
    }
    return undef;
}

# Replace $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO} (bail out when it is not
# set: a silently empty value would make a confusing config), and
# $TEST_NGINX_RAND_PORT_N by a free port, the same one within a block ($ports).
sub expand_env_in_text {
    my ($text, $name, $ports) = @_;
    return $text if !defined $text || ref $text;
    $ports //= {};
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $ports->{$var} = free_port({ $ServerPort => 1, map { $_ => 1 } values %$ports })
                // bail_out("$name - cannot find a free port for $var")
                unless defined $ports->{$var};
            $ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n") unless defined $ENV{$var};
            $ENV{$var};
        }
    }ge;
    return $text;
}

# ---- nginx facts (version for skip_nginx, -V for compiled-out modules) ----

my $NginxV;
sub nginx_V {
    $NginxV //= `$NginxBinary -V 2>&1` // '';
    return $NginxV;
}
sub nginx_version {    # "1.22.1" -> 1022001, comparable as a number
    return nginx_V() =~ m{nginx/(\d+)\.(\d+)\.(\d+)} ? $1 * 1e6 + $2 * 1e3 + $3 : undef;
}

# ---- server root and nginx.conf ----

sub setup_server_root {
    # Only the directories we create are removed: never wipe unknown files
    # in case TEST_NGINX_SERVROOT points somewhere unexpected.
    if (-d $ServRoot) {
        remove_tree($ConfDir, $LogDir, $HtmlDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    }
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir);
    -d $ConfDir or bail_out("cannot create $ConfDir: $!");
    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub write_file {
    my ($path, $data) = @_;
    open my $fh, '>', $path or bail_out("cannot write $path: $!");
    binmode $fh;
    print $fh $data;
    close $fh;
}

# --- user_files: ">>> name [mtime]" chunks, or eval [[name, body, mtime]]
sub write_user_files {
    my ($block, $ports) = @_;
    my $files = $block->user_files;
    return unless $files;
    my $name = $block->name;
    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    ref $files eq 'ARRAY' or bail_out("$name - user_files must be a string or an array");
    for my $f (@$files) {
        my ($fname, $body, $mtime) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{^(.*)/} && !-d $1;
        write_file($path, expand_env_in_text($body // '', $name, $ports));
        if ($mtime) {    # e.g. "201211220000" (touch -t format, GMT)
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $mtime, $path) == 0 or bail_out("$name - touch $path failed");
        }
    }
}

sub write_config {
    my ($block, $config, $ports) = @_;
    my $name = $block->name;
    my $http_config = expand_env_in_text($block->http_config // '', $name, $ports);
    # ITSM_TEST_STORE=redis: the LMDB itsm_store on Redis (t/lib/ItsmTestStore.pm)
    if (ItsmTestStore::active()) {
        $http_config = ItsmTestStore::rewrite($http_config);
        # not a must_die block's: what it tests may be those locations
        $config = ItsmTestStore::rewrite_server($config)
            if $http_config =~ /^\s*itsm_store\s+redis\b/m
               && !defined $block->must_die;
    }
    my $main_config = join(' ', map { "load_module $_;" } split ' ', $LoadModules)
                      . "\n" . ($block->main_config // '');
    $main_config = expand_env_in_text($main_config, $name, $ports);
    my $post_main = expand_env_in_text($block->post_main_config // '', $name, $ports);
    my $err_log = expand_env_in_text($block->error_log_file || $ErrLogFile, $name, $ports);
    (my $srv_name = $block->server_name // $ServerName) =~ s/(['\\])/\\$1/g;
    my $daemon = $UseValgrind ? 'off' : 'on';    # under valgrind nginx is our child
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;
    my $loglevel = $block->log_level || $LogLevel;

    # temp paths under the server root; skipped when the test sets its own
    # (nginx refuses duplicates) or when the module is compiled out
    my $temps = '';
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $http_config =~ /\b${t}_temp_path\b/;
        next if $t =~ /^(fastcgi|scgi|uwsgi)$/ && nginx_V() =~ /--without-http_${t}_module/;
        $temps .= " ${t}_temp_path $ServRoot/${t}_temp;";
    }
    my $root_location = $NoRootLocation ? '' : <<"_LOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_LOC_
    my $user = $ENV{TEST_NGINX_WORKER_USER} ? "user $ENV{TEST_NGINX_WORKER_USER};\n"
             : $> == 0 ? "user root;\n" : '';

    write_file($ConfFile, <<"_CONF_");
worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcess;
error_log $err_log $loglevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
$env
$main_config

http {
    access_log $AccLogFile;$temps

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerPort;
        server_name     '$srv_name';
        client_max_body_size 30M;

        # preamble config
$ConfigPreamble
        # test case config
$config
        # end of test case config

$root_location    }
}

$post_main

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
env ASAN_OPTIONS;
$user
_CONF_
}

# ---- processes ----

# Make this process a "child subreaper" (Linux prctl 36): a daemonized
# nginx, whose parent exits right after forking it, is then re-parented to
# us instead of to PID 1 and we can reap it ourselves.  On some VMs PID 1
# reaps orphans only every ~1.5 s, and a zombie still answers `kill 0`.
sub become_subreaper {
    return unless $^O eq 'linux';
    my $nr = eval { require 'syscall.ph'; &SYS_prctl() }
          // { x86_64 => 157, aarch64 => 167, i386 => 172, i686 => 172, arm => 172 }
             ->{ ($Config{archname} =~ /^([^-]+)/)[0] };
    syscall($nr, 36, 1, 0, 0, 0) if defined $nr;
}
become_subreaper();

# True once $pid has exited.  Reaps it when it is our child (or adopted);
# otherwise a zombie (state Z/X in /proc/PID/stat) counts as gone, so we
# never wait for somebody else's slow reaping.
sub process_gone {
    my $pid = shift;
    return 1 if !$pid || waitpid($pid, WNOHANG) == $pid;
    return !kill(0, $pid) unless -d "/proc/$$";
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh> // return 1;
    my ($state) = $stat =~ /.*\)\s+(\S)/s;    # after the last ')' of "(comm)"
    return defined $state && $state =~ /^[ZX]$/;
}

# Signal $pid and wait until it is gone; SIGKILL after $wait seconds.
sub stop_process {
    my ($pid, $sig, $wait) = @_;
    return 1 if process_gone($pid);
    kill $sig, $pid;
    for my $kill (0, 1) {
        my $deadline = time + ($kill ? 2 : $wait);
        while (time < $deadline) {
            return 1 if process_gone($pid);
            sleep 0.005;
        }
        warn "WARNING: process $pid did not exit after signal $sig, killing it\n" unless $kill;
        kill SIGKILL, $pid;
    }
    return process_gone($pid);
}

our $NginxPid;           # the running nginx (daemon, or valgrind child)
our $ValgrindLog;        # its valgrind log file, when under valgrind

sub read_pid_file {
    # the daemon writes the pid file a moment after its parent has exited
    for (1 .. 200) {
        if (open my $fh, '<', $PidFile) {
            my $pid = <$fh>;
            return $1 if defined $pid && $pid =~ /(\d+)/;
        }
        sleep 0.005;
    }
    return undef;
}

# Run nginx in the foreground of a child and return its wait status
# (daemon on: returns once the daemon has forked, or nginx failed).
sub run_nginx_once {
    my ($quiet_stderr) = @_;
    my @cmd = ($NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile);
    warn "# command: @cmd\n" if $Verbose;
    my $pid = fork() // bail_out("fork failed: $!");
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null' if $quiet_stderr;
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $?;
}

sub start_nginx {
    my ($block) = @_;
    my $name = $block->name;
    if ($UseValgrind) {
        start_nginx_valgrind($block);
    } else {
        my $status;
        # a config error fails at once (no retrying with growing sleeps);
        # only "address in use" is retried briefly
        for my $try (1 .. 20) {
            $status = run_nginx_once(defined $block->suppress_stderr);
            last if $status == 0 || slurp($ErrLogFile) !~ /Address already in use/;
            sleep 0.1;
        }
        if ($status != 0) {
            # ITSM_TEST_STORE=redis: what needs an LMDB store for now is a
            # skip (the caller's), not a failure
            if (ItsmTestStore::active()) {
                my $why = ItsmTestStore::refused(slurp($ErrLogFile));
                return $why if defined $why;
            }
            my @emerg = grep { /\[(emerg|alert|crit)\]/ } split /^/m, slurp($ErrLogFile);
            bail_out("$name - Cannot start nginx (status $status): @emerg");
        }
        $NginxPid = read_pid_file() // bail_out("$name - nginx wrote no pid file");
    }
    sleep $Sleep;
    return undef;
}

# Under valgrind nginx runs with `daemon off` as our own child, so its exit
# status (VALGRIND_ERR_EXIT on errors) and its log are ours to check.
sub start_nginx_valgrind {
    my ($block) = @_;
    my @opts = $UseValgrind =~ /^\d+$/
        ? ('--tool=memcheck', '--leak-check=full', '--show-possibly-lost=no',
           '--errors-for-leak-kinds=definite', '--num-callers=50',
           '--keep-debuginfo=yes', '--gen-suppressions=all',
           '--error-exitcode=' . VALGRIND_ERR_EXIT,
           (-f 'valgrind.suppress' ? ('--suppressions=valgrind.suppress') : ()))
        : split(' ', $UseValgrind);    # anything else: the user's own options
    $ValgrindLog = "$LogDir/valgrind.log";
    my @cmd = ('valgrind', '-q', "--log-file=$ValgrindLog", @opts,
               $NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile);
    warn "# command: @cmd\n" if $Verbose;
    my $pid = fork() // bail_out("fork failed: $!");
    if ($pid == 0) {
        setpgrp;
        open STDOUT, '>', '/dev/null';
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    $NginxPid = $pid;
    # valgrind needs a second or more before nginx listens
    my $deadline = time + 60;
    while (time < $deadline) {
        if (process_gone($pid)) {
            undef $NginxPid;
            report_valgrind($block->name, $?);
            bail_out($block->name . " - nginx under valgrind exited at startup: " . slurp($ErrLogFile));
        }
        my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPort,
                                      Proto => 'tcp', Timeout => 1);
        return if $s;
        sleep 0.05;
    }
    bail_out($block->name . " - nginx under valgrind did not start listening");
}

# Stop the running nginx (QUIT = graceful; TERM with TEST_NGINX_FAST_SHUTDOWN)
# and wait for it.  Returns the valgrind verdict text when under valgrind.
sub stop_nginx {
    my ($name) = @_;
    my $pid = $NginxPid // (-f $PidFile ? read_pid_file() : undef);
    undef $NginxPid;
    return unless $pid;
    # a pid file we did not write may be stale, its pid reused since
    return if !$ValgrindLog && -r "/proc/$pid/cmdline" && slurp("/proc/$pid/cmdline") !~ /nginx/;
    my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? SIGTERM : SIGQUIT;
    if ($ValgrindLog) {
        # our child: waitpid gives its status (the leak check takes a while)
        kill $sig, $pid;
        my ($deadline, $r) = (time + 30);
        sleep 0.01 while ($r = waitpid($pid, WNOHANG)) == 0 && time < $deadline;
        if ($r == 0) { kill SIGKILL, -$pid; waitpid($pid, 0); }
        return report_valgrind($name // 'END', $r == $pid ? $? : -1);
    }
    stop_process($pid, $sig, $Timeout);
    unlink $PidFile;
    return;
}

# Print valgrind's findings on stderr (where prove shows them) and return
# a short description of the errors, or undef when it is clean.
sub report_valgrind {
    my ($name, $status) = @_;
    my $log = slurp($ValgrindLog);
    undef $ValgrindLog;
    $log =~ s/^==\d+== \n//mg;
    warn "# valgrind output for $name:\n$log" if $log =~ /\S/;
    # the same kinds of findings as util/valgrind-check looks for
    my @errors = $log =~ m{^==\d+==\s+(
        (?: Invalid\ (?:read|write|free) | Mismatched\ free
          | Conditional\ jump | Use\ of\ uninitialised | Syscall\ param
          | Source\ and\ destination\ overlap | .*\bdefinitely\ lost\ in\ loss\ record
        ) .* )$}mgx;
    push @errors, "valgrind exit status " . VALGRIND_ERR_EXIT
        if !@errors && $status != -1 && ($status >> 8) == VALGRIND_ERR_EXIT;
    return @errors ? join('; ', @errors) : undef;
}

sub slurp {
    my $file = shift;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# ---- logs ----

# Error-log window: each read returns only the lines written since the
# previous read (unless check_accum_error_log), after a short pause so that
# lines logged when nginx finalizes the request are there.
our $ErrLogPos = 0;
sub error_log_lines {
    sleep $Sleep * 3;
    open my $fh, '<', $ErrLogFile or return [];
    seek $fh, $ErrLogPos, 0 unless $CheckAccumErrLog;
    my @lines = <$fh>;
    $ErrLogPos = tell $fh unless $CheckAccumErrLog;
    return \@lines;
}

sub access_log_lines {
    sleep $Sleep * 3;
    open my $fh, '<', $AccLogFile or return [];
    return [<$fh>];
}

# ---- mock server for --- tcp_listen ----

# One-shot TCP server in a child process: accept one connection, read what
# nginx sends (saving it for tcp_query), reply, close.
sub start_tcp_mock {
    my ($block, $ports) = @_;
    my $name = $block->name;
    my $target = expand_env_in_text($block->tcp_listen, $name, $ports);
    my $reply = $block->tcp_reply;
    bail_out("$name - --- tcp_listen needs --- tcp_reply")
        if !defined $reply && !defined $block->tcp_shutdown;
    my $want_len = $block->tcp_query_len;
    $want_len //= length $block->tcp_query if defined $block->tcp_query;
    my $query_file = defined $want_len
        ? (File::Temp::tempfile('tn-tcp-query-XXXXXX', TMPDIR => 1, UNLINK => 1))[1] : undef;

    my $server;
    for my $try (1 .. 30) {    # the previous mock's port may linger briefly
        if ($target =~ /^\d+$/) {
            $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $target,
                                            Proto => 'tcp', ReuseAddr => 1, Listen => 5);
        } elsif ($target =~ /\.sock$/) {
            unlink $target;
            $server = IO::Socket::UNIX->new(Local => $target, Type => SOCK_STREAM, Listen => 5);
        } else {
            bail_out("$name - bad tcp_listen target: $target");
        }
        last if $server;
        sleep 0.1;
    }
    $server or bail_out("$name - cannot listen on $target: $!");

    my $pid = fork() // bail_out("fork failed: $!");
    if ($pid == 0) {
        my $client = $server->accept or POSIX::_exit(1);
        my ($no_read, $no_write);
        if (defined(my $how = $block->tcp_shutdown)) {
            sleep parse_time($block->tcp_shutdown_delay) if $block->tcp_shutdown_delay;
            shutdown($client, $how);
            $how == 1 ? ($no_write = 1) : ($no_read = 1);
        }
        my $buf = '';
        unless ($no_read) {
            # With tcp_query_auto_timeout: read until the peer is quiet for
            # that long; otherwise until tcp_query(_len) bytes (or one read).
            my $auto = $block->tcp_query_auto_timeout;
            $auto = 0.1 if defined $auto && $auto eq '';
            my $sel = IO::Select->new($client);
            while (1) {
                last if defined $auto && !$sel->can_read($auto);
                my $n = sysread($client, my $chunk, 4096);
                last if !$n;
                $buf .= $chunk;
                if ($query_file) {    # atomically, the parent may read it any time
                    write_file("$query_file.tmp", $buf);
                    rename "$query_file.tmp", $query_file;
                }
                last if !defined $auto && (!$want_len || length $buf >= $want_len);
            }
        }
        sleep parse_time($block->tcp_reply_delay) if $block->tcp_reply_delay;
        if (!$no_write && defined $reply) {
            $reply = call_reply($name, $reply, $buf);
            for my $part (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
                defined send($client, $part, 0)
                    or warn "WARNING: $name - tcp mock failed to send: $!\n";
            }
        }
        sleep 1 while defined $block->tcp_no_close;
        close $client;
        POSIX::_exit(0);     # no END blocks, no Test::Builder ending here
    }
    return { pid => $pid, sock => $server, file => $query_file,
             path => ($target =~ /\.sock$/ ? $target : undef) };
}

# --- tcp_reply may be a sub computing the reply from the query
sub call_reply {
    my ($name, $reply, $query) = @_;
    return $reply unless ref $reply eq 'CODE';
    my $out = eval { $reply->($query) };
    warn "WARNING: $name - the reply sub died: $@" unless defined $out;
    return $out // '';
}

sub stop_mock {
    my $mock = shift or return;
    stop_process($mock->{pid}, SIGKILL, 1);
    close $mock->{sock};
    unlink $mock->{path} if $mock->{path};
    unlink $mock->{file} if $mock->{file};
}

sub mock_query {
    my $mock = shift;
    return $mock->{file} ? slurp($mock->{file}) : '';
}

# ---- cleanup ----

our @Mocks;              # running mock servers, stopped on bail-out and END

sub cleanup {
    return if $$ != $MainPid;
    $_->() for @CleanupHandlers;
    stop_mock(shift @Mocks) while @Mocks;
}

1;
