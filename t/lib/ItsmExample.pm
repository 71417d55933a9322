package ItsmExample;

# Runs an example (examples/NAME/nginx.conf) the way a user runs it: the
# whole file, every server block kept (the alert server, the replay server
# on its own port), its own nginx master and workers, with only what a
# user changes substituted:
#
#   addresses   each port of a "listen" becomes a free one (everywhere the
#               file names 127.0.0.1:PORT, itsm_replay_url included); every
#               upstream "server HOST:PORT" and every "proxy_pass" to an
#               address becomes the ITSM given (itsm => "127.0.0.1:PORT",
#               the fake of t/lib/ItsmFake.pm, a proxy, or a real RT);
#               "proxy_pass https://" becomes "http://" (the fake ITSM
#               speaks plain HTTP; the upstream keeps its name, so the Host
#               header is the example's)
#   paths       /run/nginx.pid, /var/log/nginx/, /var/lib/nginx/itsm/,
#               /etc/nginx/, /run/nginx/ and the quickstart's @PREFIX@ go
#               under the test's own directory; nginx's temp paths too; the
#               module is loaded from TEST_NGINX_LOAD_MODULES; the files the
#               example names (templates, key sets) are copied next to the
#               configuration, as its comments tell users to do
#   credentials replace => [[qr/FAKE-.../, 'the test value'], ...] on the
#               text; files => {'etc/webhook.secret' => "..."} writes files
#               under the directory (mode 0600), for "secret=file:" and
#               "file=" lines; secret_include => [[qr/^\s*proxy_set_header
#               \s+Authorization[^;]*;/m, 'itsm-auth.conf', 'the line']]
#               moves a line into a file of its own and includes it, as the
#               examples tell users to do with a credential
#
# and, only where a test would otherwise wait for the example's own
# minutes (each file says so):
#
#   cooldown => '3s'              every "cooldown=" of the connectors
#   retry => 'backoff=1s'         an "itsm_retry" line in http {}
#   queue => 1                    "itsm_queue on;" in http {} (what README
#                                 tells users of senders that retry little)
#   edit => sub { s/..../..../ }  anything else, on the text in $_
#
#   my $ex = ItsmExample->new('request-tracker', itsm => $fake->addr,
#                             cooldown => '3s');
#   my ($ok, $out) = $ex->test;                 nginx -t
#   $ex->start;                                 dies with the error log
#   my $res = $ex->post('/alerts/generic', $json, {'X-Token' => 'x'});
#       {status, headers => {lc name => value}, content, json}
#   $ex->get('/itsm/status');  $ex->url('/x');  $ex->port(8080)
#   $ex->error_log;  $ex->dir;  $ex->conf;  $ex->text;
#   $ex->stop;                                  (also at exit)
#
# The nginx master runs in the foreground ("-g 'daemon off;'", a command
# line flag, not a change of the file) as this process's child, so it is
# reaped here and never becomes the zombie TESTING.md warns about; its
# workers are the master's children and are reaped by it.
#
# TEST_NGINX_USE_VALGRIND=1 (util/test.sh valgrind) runs the master and its
# workers under valgrind's memcheck with ./valgrind.suppress; stop() prints
# what it found on stderr (where util/valgrind-check reads it) and fails a
# test when it found an error or a definite leak.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);
use HTTP::Tiny;
use JSON::PP ();

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPorts;
use ItsmPreset ();
use ItsmNginx ();

our $Root = abs_path(dirname(__FILE__) . '/../..');
our $JSON = JSON::PP->new->utf8->canonical(1)->allow_nonref(1);

my %Running;

sub example_dir { "$Root/examples/$_[0]" }

sub slurp { ItsmPreset::slurp(@_) }

sub spew {
    my ($path, $text, $mode) = @_;
    make_path(dirname($path));
    open(my $fh, '>', $path) or die "$path: $!\n";
    print $fh $text;
    close $fh;
    chmod $mode, $path if defined $mode;
}

# the examples that keep work for later (a cooldown or a queue): the ones
# whose replay server matters
sub with_replay {
    opendir(my $dh, "$Root/examples") or die "examples/: $!\n";
    my @n = sort grep {
        my $f = example_dir($_) . '/nginx.conf';
        -f $f && slurp($f) =~ /^[^#\n]*(?:cooldown=|itsm_queue\s+on)/m
    } readdir $dh;
    closedir $dh;
    return @n;
}

# the modules each load_module line names: TEST_NGINX_LOAD_MODULES, or none
# for an nginx that has the module linked in (util/static.sh builds one)
sub modules {
    my @m = grep { length } split /\s+/, ($ENV{TEST_NGINX_LOAD_MODULES} // '');
    return @m if @m;
    return () if static_binary();
    die "ItsmExample: TEST_NGINX_LOAD_MODULES names no module (util/test.sh "
        . "sets it), and " . ($ENV{TEST_NGINX_BINARY} || "nginx")
        . " was not built with "
        . "--add-module of this module (util/static.sh)\n";
}

# whether TEST_NGINX_BINARY was configured with --add-module=DIR of a DIR
# whose addon config is this module's: "nginx -V" says, once per binary
my %Static;
sub static_binary {
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    return $Static{$bin} //= do {
        # nginx -V prints on stderr; \Q makes the path one shell word
        my $v = qx{\Q$bin\E -V 2>&1} // '';
        grep {
            -f "$_/config"
                && slurp("$_/config") =~ /^ngx_addon_name=ngx_http_itsm_module$/m
        } $v =~ /--add-module=(\S+)/g;
    } ? 1 : 0;
}

sub new {
    my ($class, $name, %opt) = @_;

    my $src = example_dir($name) . '/nginx.conf';
    die "ItsmExample: no $src\n" unless -f $src;

    my $dir = $opt{dir} // tempdir("itsm-example-$name-XXXXXX", TMPDIR => 1,
                                   CLEANUP => !$ENV{ITSM_TEST_KEEP});
    chmod 0755, $dir;      # the workers' user reaches the store under it

    my $self = bless {name => $name, dir => $dir, opt => \%opt, ports => {},
                      http => HTTP::Tiny->new(timeout => 60,
                                              keep_alive => 0)}, $class;

    $self->render(slurp($src));

    return $self;
}

sub dir  { $_[0]{dir} }
sub conf { "$_[0]{dir}/nginx.conf" }
sub text { $_[0]{text} }
sub name { $_[0]{name} }

# the port that stands for the example's PORT (8080, 8089, ...)
sub port {
    my ($self, $port) = @_;
    return $self->{ports}{$port}
        // die "ItsmExample: examples/$self->{name} listens on no port $port\n";
}

sub url {
    my ($self, $path, $port) = @_;
    return "http://127.0.0.1:" . $self->port($port // $self->main_port) . $path;
}

# the first port the file listens on: its alert server
sub main_port { $_[0]{listen_order}[0] }

sub render {
    my ($self, $text) = @_;
    my $opt = $self->{opt};
    my $dir = $self->{dir};

    my $load = join '', map { "load_module $_;\n" } modules();
    $text =~ s{^load_module\s+\S*ngx_http_itsm_module\.so;[^\n]*\n}{$load}m
        or die "examples/$self->{name}/nginx.conf: no load_module line for the "
             . "module\n";

    # a credential moved to a file of its own; the file gets the same
    # substitutions as the configuration
    my %included;
    for my $r (@{$opt->{secret_include} || []}) {
        my ($re, $file, $line) = @$r;
        $text =~ s{$re}{include $file;}
            or die "examples/$self->{name}/nginx.conf: no line like $re\n";
        $included{$file} = "$line\n";
    }

    # credentials, before the paths they may name are substituted
    for my $r (@{$opt->{replace} || []}) {
        my ($re, $to) = @$r;
        $text =~ s{$re}{$to}g
            or die "examples/$self->{name}/nginx.conf: nothing like $re\n";
    }

    # the ports nginx listens on, in the order of the file
    my @order;
    while ($text =~ /^[ \t]*listen[ \t]+(?:127\.0\.0\.1:|\[::1\]:|\*:)?(\d+)\b/mg) {
        push @order, $1 unless grep { $_ == $1 } @order;
    }
    $self->{ports}{$_} = ItsmPorts::free() for @order;
    $self->{listen_order} = \@order;

    $_ = $self->substitute($_) for $text, values %included;

    # nginx's temp files
    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);

    my $extra = '';
    $extra .= "    itsm_retry $opt->{retry};\n" if $opt->{retry};
    $extra .= "    itsm_queue on;\n" if $opt->{queue};

    if ($opt->{retry}) {
        $text =~ s{^[ \t]*itsm_retry[ \t][^\n]*\n}{}mg;
    }

    $text =~ s{^(http[ \t]*\{[^\n]*\n)}{$1$temp$extra}m
        or die "examples/$self->{name}/nginx.conf: no http block\n";

    if (defined $opt->{cooldown}) {
        $text =~ s{\bcooldown=\w+}{cooldown=$opt->{cooldown}}g;
    }

    if ($opt->{edit}) {
        local $_ = $text;
        $opt->{edit}->();
        $text = $_;
    }

    for my $sub (qw(logs state temp var run etc)) {
        make_path("$dir/$sub");
    }

    # what the example ships next to its nginx.conf
    opendir(my $dh, example_dir($self->{name})) or die "$!\n";
    for my $f (grep { $_ ne 'nginx.conf' && -f example_dir($self->{name}) . "/$_" }
               readdir $dh)
    {
        copy(example_dir($self->{name}) . "/$f", "$dir/$f") or die "$dir/$f: $!\n";
    }
    closedir $dh;

    my %files = (%{$opt->{files} || {}}, %included);
    for my $f (sort keys %files) {
        spew("$dir/$f", $files{$f}, 0600);
    }

    spew($self->conf, $text);
    $self->{text} = $text;
}

# addresses and paths, in the configuration and the files it includes
sub substitute {
    my ($self, $text) = @_;
    my $dir = $self->{dir};

    $text =~ s{\@PREFIX\@}{$dir/var}g;
    $text =~ s{/run/nginx\.pid}{$dir/nginx.pid}g;
    $text =~ s{/run/nginx/}{$dir/run/}g;
    $text =~ s{/var/log/nginx/}{$dir/logs/}g;
    $text =~ s{/var/lib/nginx/itsm/}{$dir/state/}g;
    $text =~ s{/etc/nginx/}{$dir/etc/}g;

    for my $p (@{$self->{listen_order}}) {
        my $new = $self->{ports}{$p};
        $text =~ s{^([ \t]*listen[ \t]+(?:127\.0\.0\.1:|\[::1\]:|\*:)?)$p\b}{$1$new}mg;
        $text =~ s{127\.0\.0\.1:$p\b}{127.0.0.1:$new}g;
    }

    # the ITSM: upstream servers and proxy_pass to an address
    if (my $itsm = $self->{opt}{itsm}) {
        $text =~ s{^([ \t]*server[ \t]+)[A-Za-z0-9.-]+:\d+}{$1$itsm}mg;
        $text =~ s{(proxy_pass[ \t]+https?://)(?:\d+\.\d+\.\d+\.\d+|localhost):\d+}{$1$itsm}g;
    }
    $text =~ s{(proxy_pass[ \t]+)https://}{$1http://}g;

    return $text;
}

sub command {
    my ($self) = @_;
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    return ($nginx, '-p', "$self->{dir}/", '-c', $self->conf,
            '-e', "$self->{dir}/logs/error.log");
}

# nginx -t: (true if it passed, its output)
sub test {
    my ($self) = @_;
    my @cmd = $self->command;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd, '-t') or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? == 0, $out);
}

sub valgrind {
    my ($self) = @_;
    my $v = $ENV{TEST_NGINX_USE_VALGRIND} or return ();
    my $supp = "$Root/valgrind.suppress";
    return ('valgrind', '-q', "--log-file=$self->{dir}/logs/valgrind.%p.log",
            $v =~ /^\d+$/
            ? ('--tool=memcheck', '--leak-check=full', '--show-possibly-lost=no',
               '--errors-for-leak-kinds=definite', '--num-callers=50',
               '--keep-debuginfo=yes', (-f $supp ? "--suppressions=$supp" : ()))
            : split(' ', $v));
}

sub start {
    my ($self) = @_;
    my @cmd = ($self->valgrind, $self->command);

    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDOUT, '>', "$self->{dir}/logs/stdout.log");
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd, '-g', 'daemon off;') or POSIX::_exit(127);
    }

    $self->{pid} = $pid;
    $self->{ppid} = $$;
    $Running{$pid} = $self;

    # the ports still listened on once the test's edits are made
    for my $p (grep { $self->{text} =~ /^[ \t]*listen[ \t]+\S*:$_\b/m }
               values %{$self->{ports}})
    {
        my $up = 0;
        for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 1200 : 200)) {
            if (waitpid($pid, WNOHANG) == $pid) {
                delete $Running{$pid};
                $self->{pid} = undef;
                die "ItsmExample: examples/$self->{name}: nginx exited at "
                    . "start (status $?):\n" . $self->error_log
                    . slurp("$self->{dir}/logs/stdout.log");
            }
            if (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p",
                                      Timeout => 1))
            {
                $up = 1;
                last;
            }
            sleep 0.05;
        }
        die "ItsmExample: examples/$self->{name}: nothing listens on $p:\n"
            . $self->error_log
            unless $up;
    }

    return $self;
}

# the workers of the master, from /proc
sub workers {
    my ($self) = @_;
    return () unless $self->{pid};
    return ItsmNginx::children($self->{pid});
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    return unless $$ == $self->{ppid};

    my @workers = $self->workers;

    # graceful first (QUIT), then TERM, then KILL
    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $pid;
        for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 1200 : 200)) {
            last if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }
        last unless kill 0, $pid;
    }

    # a worker the master could not end (the master was killed)
    kill 'KILL', grep { kill 0, $_ } @workers;

    delete $Running{$pid};
    $self->{pid} = undef;

    $self->valgrind_report if $ENV{TEST_NGINX_USE_VALGRIND};
}

sub valgrind_report {
    my ($self) = @_;
    my $found = '';

    opendir(my $dh, "$self->{dir}/logs") or return;
    for my $f (sort grep { /^valgrind\.\d+\.log$/ } readdir $dh) {
        my $log = slurp("$self->{dir}/logs/$f");
        next unless length $log;
        print STDERR $log;
        $found .= $log if $log =~ /^==\d+==\s+(?:Invalid |Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination|.*definitely lost in loss record|definitely lost: [1-9])/m;
    }
    closedir $dh;

    if (Test::More->can('ok')) {
        Test::More::ok(!$found, "examples/$self->{name}: valgrind found "
                                . "nothing");
    }
}

sub reload {
    my ($self) = @_;
    kill 'HUP', $self->{pid} if $self->{pid};
}

END {
    local $?;    # waitpid/system here must not change the test's exit status
    $_->stop for values %Running;
}

sub error_log {
    my ($self) = @_;
    my $f = "$self->{dir}/logs/error.log";
    return -f $f ? slurp($f) : '';
}

# waits (at most TIMEOUT seconds) for the error log to match; the log text
sub wait_log {
    my ($self, $re, $timeout) = @_;
    my $until = Time::HiRes::time() + ($timeout // 20);
    for (;;) {
        my $log = $self->error_log;
        return $log if $log =~ $re;
        return undef if Time::HiRes::time() > $until;
        sleep 0.1;
    }
}


# ---- requests to the example's own servers -------------------------------

sub request {
    my ($self, $method, $path, $body, $headers, $port) = @_;

    my %o = (headers => {%{$headers || {}}});
    if (defined $body) {
        $o{content} = $body;
        $o{headers}{'Content-Type'} //= 'application/json';
    }

    my $res = $self->{http}->request($method, $self->url($path, $port), \%o);

    my $json = eval { $JSON->decode($res->{content}) };

    return {status => $res->{status}, headers => $res->{headers},
            content => $res->{content}, json => $json};
}

sub post { my ($self, $path, $body, $h, $port) = @_;
           $self->request('POST', $path, $body, $h, $port) }
sub get  { my ($self, $path, $h, $port) = @_;
           $self->request('GET', $path, undef, $h, $port) }

# the status page as JSON (the example's /itsm/status)
sub status {
    my ($self, $path) = @_;
    return $self->get($path // '/itsm/status')->{json};
}

# waits until CODE returns true (at most TIMEOUT seconds); its last value
sub wait_for {
    my ($code, $timeout) = @_;
    my $until = Time::HiRes::time() + ($timeout // 20);
    for (;;) {
        my $v = $code->();
        return $v if $v;
        return $v if Time::HiRes::time() > $until;
        sleep 0.1;
    }
}

# a regex for a text in which TIME stands for a UTC time
# (2026-11-22T05:36:15Z), everything else literal
sub like_text {
    my ($text) = @_;
    my $re = join '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ',
                  map { quotemeta } split /TIME/, $text, -1;
    return qr/^$re\z/;
}

1;
