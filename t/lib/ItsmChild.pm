package ItsmChild;

# A helper process of the tests (ItsmFake, ItsmProxy): forked with its
# listening socket, which only the child keeps; the child runs its server
# loop until SIGTERM.  The test's side is an object of the helper's class
# (a subclass of this one): stop() ends the child and waits for it, and
# every child still running is stopped at exit -- by the process that
# started it only, not by a fork of the test.
#
#   my $self = ItsmChild::start($class, $listen, sub { ...->run },
#                               fields => {http => ...}, pipe => 'IGNORE');
#   $self->port, $self->addr ("127.0.0.1:PORT"), $self->pid
#   $self->call(METHOD, PATH, DATA)  its control API: /CONTROL/PATH
#   $self->stop                     (also at exit)
#
# fields: more of the object's fields (call() uses control, http and
# json); pipe => 'IGNORE': the child ignores SIGPIPE (a proxy that writes
# to a peer that may have closed).

use strict;
use warnings;

use POSIX ();
use ItsmHttp;

my %Started;

sub start {
    my ($class, $listen, $serve, %o) = @_;

    my $port = $listen->sockport;
    my $pid = fork() // die "$class: fork: $!\n";

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{INT} = 'IGNORE';
        $SIG{PIPE} = $o{pipe} if $o{pipe};
        eval { $serve->() };
        print STDERR "$class: $@" if $@;
        POSIX::_exit(0);
    }

    close $listen;

    my $self = bless {%{$o{fields} || {}}, pid => $pid, port => $port, ppid => $$}, $class;
    $Started{$pid} = $self;
    return $self;
}

# a call to the child's control API (fields: control, the path's first
# part; http, an HTTP::Tiny; json, the JSON::PP of its bodies)
sub call {
    my ($self, $method, $path, $data) = @_;
    return ItsmHttp::control(ref $self, $self->{http}, $self->{json}, $method,
                             "http://127.0.0.1:$self->{port}/$self->{control}/$path", $data);
}

sub port { $_[0]{port} }
sub addr { "127.0.0.1:$_[0]{port}" }
sub pid  { $_[0]{pid} }

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{ppid};

    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
    delete $Started{$self->{pid}};
    $self->{pid} = undef;
}

END {
    local $?;    # waitpid/system here must not change the test's exit status
    $_->stop for values %Started;
}

1;
