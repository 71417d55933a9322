package ItsmHang;

# An ITSM on a unix socket that holds the first request it gets without
# answering it (a delivery in flight for as long as the test wants) and
# answers every later one at once with 201 {"id":"22"}.  The socket's path
# can be written into nginx.conf before the ITSM starts.  When the first
# request has arrived, the file "$sock.held" holds the value of its
# X-Worker header (proxy_set_header X-Worker $pid: the worker that waits).
# release() has the held request answered at once with the answer given
# to start(): its status line, body and header lines ("Name: value\r\n"
# each), by default 201 {"id":"T1"}.  Each request's method and path
# are written to "$sock.log" when it is answered.
#
#   my $pid = ItsmHang::start($sock);
#   my $worker = ItsmHang::held($sock);      # waits up to 10 s
#   ItsmHang::release($sock);                # optional
#   kill 'TERM', $pid; waitpid($pid, 0);

use strict;
use warnings;

use IO::Select;
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


sub answer {
    my ($c, $head, $sock, $status, $body, $headers) = @_;
    my ($line) = $head =~ /^(\S+ \S+)/;
    if (open(my $log, '>>', "$sock.log")) { print $log ($line // '?'), "\n"; close $log }
    print {$c} "HTTP/1.1 $status\r\nContent-Length: " . length($body)
               . "\r\n" . ($headers // '') . "Connection: close\r\n\r\n$body";
    close $c;
}


sub start {
    my ($sock, $status, $body, $headers) = @_;
    $status //= '201 Created';
    $body //= '{"id":"T1"}';
    unlink $sock, "$sock.held", "$sock.go", "$sock.log";
    my $srv = IO::Socket::UNIX->new(Local => $sock, Type => SOCK_STREAM, Listen => 5)
        or die "ItsmHang: $sock: $!\n";
    my $pid = fork() // die "ItsmHang: fork: $!\n";
    if ($pid) {
        close $srv;
        return $pid;
    }
    my $held = $srv->accept;
    my $held_head = read_request($held);
    my ($worker) = $held_head =~ /^X-Worker: (\d+)/mi;
    open(my $m, '>', "$sock.held.tmp"); print $m $worker // ''; close $m;
    rename("$sock.held.tmp", "$sock.held");
    my $sel = IO::Select->new($srv);
    while (1) {
        if ($held && -e "$sock.go") {
            answer($held, $held_head, $sock, $status, $body, $headers);
            undef $held;
        }
        $sel->can_read(0.005) or next;
        my $c = $srv->accept or last;
        answer($c, read_request($c), $sock, '201 Created', '{"id":"22"}');
    }
    POSIX::_exit(0);
}


# the held request is answered within a few ms
sub release {
    my ($sock) = @_;
    open(my $m, '>', "$sock.go") or die "ItsmHang: $sock.go: $!\n";
    close $m;
}


# the requests answered so far, "METHOD /path" a line
sub log {
    my ($sock) = @_;
    open(my $fh, '<', "$sock.log") or return '';
    local $/;
    return <$fh>;
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
