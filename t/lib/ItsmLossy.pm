package ItsmLossy;

# A proxy in front of a real ITSM that loses what a test asks it to lose,
# for the "the work was done, the answer was lost" fault (TESTING.md):
#
#   my $port = ItsmLossy::start(backend => "127.0.0.1:$rt_port");
#
# runs it in a child process on 127.0.0.1:$port (a free port, or
# port => N) and stops it when the test ends.  It takes one request per
# connection (headers, then Content-Length bytes of body) and looks for a
# marker in the body:
#
#   LOSE-THE-ANSWER   the request goes to the backend, which does the work
#                     and answers; the proxy reads that whole answer and
#                     closes the client's connection without a byte of it
#   LOSE-THE-REQUEST  the connection is closed before anything reaches the
#                     backend (the backend does nothing)
#
# Anything else is forwarded and its answer relayed.  The backend is asked
# for "Connection: close" and the answer relayed with it, so the client
# (nginx with upstream keepalive) never reuses a connection the proxy
# closes.  Each lost request is noted on STDERR.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();

my @Children;

sub start {
    my (%opt) = @_;

    my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                       LocalPort => $opt{port} // 0,
                                       ReuseAddr => 1, Proto => 'tcp')
        or die "ItsmLossy: cannot listen: $!";
    my $port = $listen->sockport;

    my $pid = fork() // die "ItsmLossy: fork: $!";

    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        while (my $client = $listen->accept) {
            eval { serve($client, $opt{backend}) };
            warn "ItsmLossy: $@" if $@;
            close $client;
        }
        POSIX::_exit(0);
    }

    close $listen;
    push @Children, $pid;
    return $port;
}

END {
    local $?;    # waitpid/system here must not change the test's exit status
    for my $pid (@Children) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

sub read_request {
    my ($sock) = @_;
    my $buf = '';

    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($sock, $buf, 65536, length $buf);
        return undef if !$n;
    }

    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)\r?$/mi;
    $len //= 0;

    while (length $body < $len) {
        my $n = sysread($sock, $body, 65536, length $body);
        die "the client closed in the middle of the body\n" if !$n;
    }

    return ($head, $body);
}

sub serve {
    my ($client, $backend) = @_;

    my ($head, $body) = read_request($client);
    return if !defined $head;

    my ($line) = $head =~ /^([^\r\n]*)/;

    if (index($body, 'LOSE-THE-REQUEST') >= 0) {
        print STDERR "ItsmLossy: lost the request \"$line\"\n";
        return;
    }

    $head = close_after($head);

    my $up = IO::Socket::INET->new(PeerAddr => $backend, Proto => 'tcp', Timeout => 10)
        or die "cannot connect to $backend: $!\n";
    print {$up} "$head\r\n\r\n$body";

    my $answer = '';
    1 while sysread($up, $answer, 65536, length $answer);
    close $up;

    if (index($body, 'LOSE-THE-ANSWER') >= 0) {
        my ($status) = $answer =~ /^(HTTP\/\S+ \d+)/;
        print STDERR "ItsmLossy: the backend answered \"$line\" with \""
                     . ($status // '(nothing)') . "\"; that answer is lost\n";
        return;
    }

    my ($ahead, $abody) = split /\r\n\r\n/, $answer, 2;
    print {$client} close_after($ahead) . "\r\n\r\n" . ($abody // '');
}

# a message head (no final empty line) whose Connection header says close
sub close_after {
    my ($head) = @_;
    my @lines = grep { !/^Connection:/i } split /\r\n/, $head;
    return join "\r\n", @lines, 'Connection: close';
}

1;
