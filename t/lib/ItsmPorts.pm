package ItsmPorts;

# Ports for what a test starts itself (nginx from an example, the fake ITSM,
# the proxy).  Several people and suites share a machine, so:
#
#   ITSM_TEST_PORTS=39000-39199   ports are taken from that range, each
#                                 checked free by binding it first
#   (unset)                       the kernel picks a free port
#
# A port handed out once is not handed out again by this process, in
# either case.
#
#   my $port = ItsmPorts::free();
#   my $sock = ItsmPorts::listen_socket();    # bound and listening already

use strict;
use warnings;

use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_REUSEADDR);

my %Given;

sub range {
    my $r = $ENV{ITSM_TEST_PORTS} // '';
    return () unless $r =~ /^(\d+)-(\d+)$/ && $1 > 0 && $2 >= $1 && $2 < 65536;
    return ($1, $2);
}

# a listening socket on 127.0.0.1 (the caller keeps it: no race with others)
sub listen_socket {
    my ($lo, $hi) = range();

    if (!defined $lo) {
        # the kernel often gives back a port freed a moment ago, one this
        # process handed out already (whose server may not have started
        # yet): keep such a socket bound while asking again, so that the
        # next answer is another port
        my @again;

        for (1 .. 1000) {
            my $s = IO::Socket::INET->new(Listen => 128,
                                          LocalAddr => '127.0.0.1',
                                          LocalPort => 0, ReuseAddr => 1)
                or die "ItsmPorts: no free port: $!\n";

            if ($Given{$s->sockport}) {
                push @again, $s;
                next;
            }

            $Given{$s->sockport} = 1;
            return $s;
        }

        die "ItsmPorts: the kernel gave only ports handed out before\n";
    }

    for my $port ($lo .. $hi) {
        next if $Given{$port};
        my $s = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                      LocalPort => $port, ReuseAddr => 1)
            or next;
        $Given{$port} = 1;
        return $s;
    }

    die "ItsmPorts: no free port left in ITSM_TEST_PORTS=$ENV{ITSM_TEST_PORTS}\n";
}

# a port that was free a moment ago, for a server started next (nginx)
sub free {
    my $s = listen_socket();
    my $port = $s->sockport;
    close $s;
    return $port;
}

1;
