package ItsmRedis;

# A private redis-server for a test (Debian's redis-server): on a port of
# ItsmPorts (or a unix socket only), without persistence (--save ''
# --appendonly no) in a temporary directory; stopped at exit, by the
# process that started it only.
#
#   my $r = ItsmRedis->start(password => 'secret', unix => 1,
#                            args => ['--enable-debug-command', 'yes']);
#   $r->port            its TCP port (undef with unix => 1)
#   $r->socket          its unix socket (with unix => 1)
#   $r->dir             its temporary directory (gone at exit)
#   $r->cli(@args)      redis-cli's output of a command, e.g.
#                       $r->cli('CLIENT', 'LIST')
#   $r->stop            ends it (SIGTERM, waited for)
#   $r->restart         starts it again, same port, socket and password
#
# A test that needs no Redis at all (the nginx -t blocks) does not start
# one; a test run without redis-server installed dies naming the package.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX ();
use Time::HiRes qw(sleep time);
use ItsmPorts;

my %Running;

sub start {
    my ($class, %o) = @_;

    my $bin = $ENV{ITSM_REDIS_SERVER} // '/usr/bin/redis-server';
    die "ItsmRedis: no $bin: apt-get install redis-server (util/deps.sh test)\n"
        unless -x $bin;

    my $dir = File::Temp::tempdir('itsm-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless {bin => $bin, dir => $dir, password => $o{password},
                      more => $o{args} || []}, $class;

    if ($o{unix}) {
        $self->{socket} = "$dir/redis.sock";
    } else {
        $self->{port} = ItsmPorts::free();
    }

    $self->launch;
    return $self;
}

sub port   { $_[0]{port} }
sub socket { $_[0]{socket} }
sub dir    { $_[0]{dir} }

sub args {
    my ($self) = @_;
    my @a = ('--save', '', '--appendonly', 'no', '--dir', $self->{dir},
             '--daemonize', 'no', '--logfile', "$self->{dir}/redis.log",
             '--bind', '127.0.0.1');
    if ($self->{socket}) {
        push @a, '--port', '0', '--unixsocket', $self->{socket}, '--unixsocketperm', '700';
    } else {
        push @a, '--port', $self->{port};
    }
    push @a, '--requirepass', $self->{password} if defined $self->{password};
    return (@a, @{$self->{more}});
}

sub launch {
    my ($self) = @_;

    my $pid = fork() // die "ItsmRedis: fork: $!\n";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        exec $self->{bin}, $self->args or POSIX::_exit(127);
    }

    $self->{pid} = $pid;
    $self->{ppid} = $$;
    $Running{$pid} = $self;

    # ready when it answers
    my $until = time + 10;
    while (time < $until) {
        my $s = $self->{socket}
              ? IO::Socket::UNIX->new(Peer => $self->{socket})
              : IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}");
        if ($s) {
            print $s "PING\r\n";
            my $line = <$s> // '';
            return $self if $line =~ /^(\+PONG|-NOAUTH)/;
        }
        die "ItsmRedis: redis-server exited (see $self->{dir}/redis.log)\n"
            if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }

    die "ItsmRedis: redis-server does not answer (see $self->{dir}/redis.log)\n";
}

sub cli {
    my ($self, @cmd) = @_;
    my @where = $self->{socket} ? ('-s', $self->{socket}) : ('-p', $self->{port});
    local $ENV{REDISCLI_AUTH} = $self->{password} if defined $self->{password};
    open my $fh, '-|', 'redis-cli', @where, @cmd or die "ItsmRedis: redis-cli: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $out;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $Running{$pid};
    return unless $self->{ppid} == $$;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

sub restart {
    my ($self) = @_;
    $self->stop;
    $self->launch;
}

END {
    local $?;
    $_->stop for values %Running;
}

1;
