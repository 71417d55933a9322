package ItsmChild;

# A helper process of the tests (ItsmFake, ItsmProxy): forked with its
# listening socket, which only the child keeps; the child runs its server
# loop until SIGTERM.  The test's side is an object of the helper's class
# (a subclass of this one) with pid, port and ppid: stop() ends the child
# and waits for it, and every child still running is stopped at exit --
# by the process that started it only, not by a fork of the test.
#
#   my $pid = ItsmChild::spawn('ItsmFake', $listen, sub { ...->run });
#   ItsmChild::track($self);        $self->stop (also at exit)
#
# spawn(..., pipe => 'IGNORE'): the child ignores SIGPIPE (a proxy that
# writes to a peer that may have closed).

use strict;
use warnings;

use POSIX ();

my %Started;

sub spawn {
    my ($who, $listen, $serve, %o) = @_;

    my $pid = fork() // die "$who: fork: $!\n";

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $SIG{INT} = 'IGNORE';
        $SIG{PIPE} = $o{pipe} if $o{pipe};
        eval { $serve->() };
        print STDERR "$who: $@" if $@;
        POSIX::_exit(0);
    }

    close $listen;
    return $pid;
}

sub track {
    my ($self) = @_;
    $Started{$self->{pid}} = $self;
    return $self;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{ppid};

    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
    delete $Started{$self->{pid}};
    $self->{pid} = undef;
}

END {
    $_->stop for values %Started;
}

1;
