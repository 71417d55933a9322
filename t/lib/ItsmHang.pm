package ItsmHang;

# An ITSM on a unix socket that holds the first request it gets without
# answering it (a delivery in flight for as long as the test wants) and
# answers every later one at once with 201 {"id":"22"}.  The socket's path
# can be written into nginx.conf before the ITSM starts.  When the first
# request has arrived, the file "$sock.held" holds the value of its
# X-Worker header (proxy_set_header X-Worker $pid: the worker that waits).
#
#   my $pid = ItsmHang::start($sock);
#   my $worker = ItsmHang::held($sock);      # waits up to 10 s
#   kill 'TERM', $pid; waitpid($pid, 0);

use strict;
use warnings;

use IO::Socket::UNIX;
use POSIX ();


sub read_request {
    my ($c) = @_;
    my $req = '';
    while ($req !~ /\r\n\r\n/) {
        sysread($c, $req, 4096, length $req) or last;
    }
    my ($len) = $req =~ /^Content-Length: (\d+)/mi;
    my ($head, $body) = split(/\r\n\r\n/, $req, 2);
    $body //= '';
    while (length($body) < ($len // 0)) {
        sysread($c, $body, 4096, length $body) or last;
    }
    return $head // '';
}


sub start {
    my ($sock) = @_;
    unlink $sock, "$sock.held";
    my $srv = IO::Socket::UNIX->new(Local => $sock, Type => SOCK_STREAM, Listen => 5)
        or die "ItsmHang: $sock: $!\n";
    my $pid = fork() // die "ItsmHang: fork: $!\n";
    if ($pid) {
        close $srv;
        return $pid;
    }
    my $held = $srv->accept;
    my ($worker) = read_request($held) =~ /^X-Worker: (\d+)/mi;
    open(my $m, '>', "$sock.held.tmp"); print $m $worker // ''; close $m;
    rename("$sock.held.tmp", "$sock.held");
    while (my $c = $srv->accept) {
        read_request($c);
        print {$c} "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n"
                   . "Connection: close\r\n\r\n{\"id\":\"22\"}";
        close $c;
    }
    POSIX::_exit(0);
}


# the X-Worker of the held request, once it is there ('' without one);
# undef after 10 s
sub held {
    my ($sock) = @_;
    for (1 .. 200) {
        if (open(my $fh, '<', "$sock.held")) {
            local $/;
            return <$fh> // '';
        }
        select(undef, undef, undef, 0.05);
    }
    return undef;
}

1;
