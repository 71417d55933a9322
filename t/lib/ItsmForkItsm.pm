package ItsmForkItsm;

# The "ITSM" of the files with several edges (t/501-t/509): a loop on a
# listening socket that forks a child per connection, so that concurrent
# requests (copies of one alert on three edges) wait on each other only
# where the test's handler says so (a lock, a sleep, a file it waits on).
# The child reads one HTTP/1.x request, gives it to the handler, writes
# the answer it returns as JSON and ends (Connection: close).
#
#   my $sock = ItsmPorts::listen_socket();
#   my $itsm = ItsmChild::start('MyTestItsm', $sock, sub {
#       ItsmForkItsm::serve($sock, sub {
#           my ($req) = @_;    # {method, path, body, headers => {lc name => value}}
#           return (201, '{"id":"T1"}');    # the status (a number, or
#       });                                 # "201 Created"), the body
#   });
#
# What the handler logs (the hits), how it numbers tickets and which
# files make it fail or hang is the test's own.

use strict;
use warnings;

use POSIX ();

sub serve {
    my ($listen, $handler) = @_;

    $SIG{CHLD} = 'IGNORE';

    while (1) {
        my $c = $listen->accept or next;
        my $pid = fork();
        if (!defined $pid || $pid) { close $c; next }

        $SIG{TERM} = 'DEFAULT';
        # an edge killed mid-request: the handler's work is done all the same
        $SIG{PIPE} = 'IGNORE';

        my ($method, $path, %h);
        {
            local $/ = "\r\n";
            my $line = <$c> // POSIX::_exit(0);
            ($method, $path) = $line =~ m{^(\S+) (\S+)};
            while (my $l = <$c>) {
                last if $l eq "\r\n";
                $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*?)\r\n\z/;
            }
        }
        my $body = '';
        read($c, $body, $h{'content-length'}) if $h{'content-length'};

        my ($status, $answer) = $handler->({method => $method, path => $path,
                                            headers => \%h, body => $body});
        $answer //= '';
        $status .= ' X' unless $status =~ / /;

        print $c "HTTP/1.1 $status\r\nContent-Type: application/json\r\n"
               . "Content-Length: " . length($answer) . "\r\nConnection: close\r\n\r\n$answer";
        close $c;
        POSIX::_exit(0);
    }
}

1;
