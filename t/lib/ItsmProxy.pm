package ItsmProxy;

# A small HTTP-aware TCP proxy in front of an ITSM (the real Request
# Tracker that util/rt.sh starts on TEST_NGINX_RT_PORT, or the fake of
# t/lib/ItsmFake.pm), in a process of its own, for the fault real ITSMs
# have that a mock cannot show: the ITSM did the work and its answer was
# lost.  A rule makes the proxy forward the Nth matching request, read the
# ITSM's whole answer, and close the client's connection without sending
# it (the upstream connection is closed too).
#
#   my $proxy = ItsmProxy->start(to => "127.0.0.1:$ENV{TEST_NGINX_RT_PORT}");
#   $proxy->addr                                  127.0.0.1:PORT (for nginx)
#   $proxy->drop(method => 'POST', path => qr{^/REST/2\.0/ticket$},
#                nth => 1, times => 1);           the first create's answer
#   $proxy->log    [{n, method, uri, status, dropped}] of every request
#   $proxy->clear  forgets the rules and the log
#   $proxy->stop   (also at exit)
#
# Requests are read whole (Content-Length or chunked), one at a time per
# connection, and go to the ITSM on a connection of their own per client
# connection; answers are read whole (Content-Length, chunked, or until
# the ITSM closes).  /_proxy/... is the control API and is not forwarded.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes ();
use JSON::PP ();
use HTTP::Tiny;
use Scalar::Util qw(refaddr);

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPorts;
use ItsmHttp;
use ItsmChild;
use parent -norequire, 'ItsmChild';

our $JSON = JSON::PP->new->utf8->canonical(1)->allow_nonref(1);

sub start {
    my ($class, %opt) = @_;

    die "ItsmProxy: to => HOST:PORT is required\n" unless $opt{to};

    my $listen = ItsmPorts::listen_socket();
    return ItsmChild::start($class, $listen, sub { ItsmProxy::Server->new($listen, $opt{to})->run },
                            pipe => 'IGNORE', fields => {to => $opt{to}, http => HTTP::Tiny->new(timeout => 30),
                                                         json => $JSON, control => '_proxy'});
}

sub drop {
    my ($self, %rule) = @_;
    $rule{path} = "$rule{path}" if ref $rule{path};
    return $self->call('POST', 'drop', \%rule);
}

sub log   { $_[0]->call('GET', 'log') }
sub clear { $_[0]->call('POST', 'clear') }



package ItsmProxy::Server;

use strict;
use warnings;

use Scalar::Util qw(refaddr);

sub new {
    my ($class, $listen, $to) = @_;
    return bless {listen => $listen, to => $to, conns => {}, by => {},
                  rules => [], log => []}, $class;
}

sub run {
    my ($self) = @_;

    for (;;) {
        my $r = IO::Select->new($self->{listen});

        for my $c (values %{$self->{conns}}) {
            $r->add($c->{client});
            $r->add($c->{up}) if $c->{up};
        }

        my @ready = $r->can_read(1);

        for my $s (@ready) {
            if ($s == $self->{listen}) {
                my $cs = $self->{listen}->accept or next;
                my $c = {client => $cs, cbuf => '', ubuf => ''};
                $self->{conns}{refaddr $cs} = $c;
                $self->{by}{refaddr $cs} = $c;
                next;
            }

            my $c = $self->{by}{refaddr $s} or next;
            my $n = sysread($s, my $buf, 65536);

            if ($s == $c->{client}) {
                if (!$n) {
                    $self->close_conn($c);
                    next;
                }
                $c->{cbuf} .= $buf;
                $self->client_data($c);

            } else {
                if (!$n) {
                    $c->{up_eof} = 1;
                }
                $c->{ubuf} .= $buf if $n;
                $self->upstream_data($c);
            }
        }
    }
}

sub close_conn {
    my ($self, $c) = @_;
    for my $s (grep { $_ } $c->{client}, $c->{up}) {
        delete $self->{by}{refaddr $s};
        close $s;
    }
    delete $self->{conns}{refaddr $c->{client}};
    $c->{closed} = 1;
}

# a whole HTTP message at the start of BUF: its length, or undef
sub message_length {
    my ($buf, $response, $eof, $head_request) = @_;

    my $end = index($buf, "\r\n\r\n");
    return undef if $end < 0;

    my $head = substr($buf, 0, $end);
    my $pos = $end + 4;

    my ($status) = $response ? $head =~ m{^HTTP/\d\.\d (\d+)} : ();

    return $pos if $response && ($head_request || $status == 204
                                 || $status == 304 || $status < 200);

    if ($head =~ /^Transfer-Encoding:[ \t]*chunked/mi) {
        for (;;) {
            my $le = index($buf, "\r\n", $pos);
            return undef if $le < 0;
            my $size = hex substr($buf, $pos, $le - $pos);
            if ($size == 0) {
                my $te = index($buf, "\r\n\r\n", $le);
                return undef if $te < 0;
                return $te + 4;
            }
            $pos = $le + 2 + $size + 2;
            return undef if length($buf) < $pos;
        }
    }

    if ($head =~ /^Content-Length:[ \t]*(\d+)/mi) {
        return length($buf) >= $pos + $1 ? $pos + $1 : undef;
    }

    return $pos unless $response;

    # an answer without a length ends when the ITSM closes
    return $eof ? length $buf : undef;
}

sub client_data {
    my ($self, $c) = @_;

    return if $c->{inflight} || $c->{closed};

    my $len = message_length($c->{cbuf}, 0) // return;
    my $msg = substr($c->{cbuf}, 0, $len, '');

    my ($method, $uri) = $msg =~ m{^(\S+) (\S+) HTTP/}
        or return $self->close_conn($c);

    if ($uri =~ m{^/_proxy/}) {
        return $self->control($c, $method, $uri, $msg);
    }

    my $entry = {n => scalar(@{$self->{log}}) + 1, method => $method,
                 uri => $uri, dropped => JSON::PP::false};
    push @{$self->{log}}, $entry;

    for my $rule (@{$self->{rules}}) {
        next if defined $rule->{method} && $rule->{method} ne $method;
        next if defined $rule->{path} && $uri !~ /$rule->{path}/;
        $rule->{seen}++;
        my $first = $rule->{nth} // 1;
        my $last = $first + ($rule->{times} // 1) - 1;
        if ($rule->{seen} >= $first && $rule->{seen} <= $last) {
            $entry->{drop} = 1;
        }
        last;
    }

    if (!$c->{up}) {
        $c->{up} = IO::Socket::INET->new(PeerAddr => $self->{to},
                                         Timeout => 5);
        if (!$c->{up}) {
            $entry->{status} = 502;
            syswrite($c->{client}, "HTTP/1.1 502 Bad Gateway\r\n"
                     . "Content-Length: 0\r\nConnection: close\r\n\r\n");
            return $self->close_conn($c);
        }
        $self->{by}{refaddr $c->{up}} = $c;
    }

    $c->{inflight} = $entry;
    $c->{head} = $method eq 'HEAD';

    my $off = 0;
    while ($off < length $msg) {
        my $n = syswrite($c->{up}, $msg, length($msg) - $off, $off);
        return $self->close_conn($c) unless defined $n;
        $off += $n;
    }
}

sub upstream_data {
    my ($self, $c) = @_;

    my $entry = $c->{inflight};

    if (!$entry) {
        # the ITSM closed an idle connection: the next request opens another
        if ($c->{up_eof}) {
            delete $self->{by}{refaddr $c->{up}};
            close $c->{up};
            $c->{up} = undef;
            $c->{up_eof} = 0;
        }
        return;
    }

    my $len = message_length($c->{ubuf}, 1, $c->{up_eof}, $c->{head});

    if (!defined $len) {
        return $self->close_conn($c) if $c->{up_eof};
        return;
    }

    my $msg = substr($c->{ubuf}, 0, $len, '');
    ($entry->{status}) = $msg =~ m{^HTTP/\d\.\d (\d+)};
    $c->{inflight} = undef;

    if ($entry->{drop}) {
        # the ITSM did the work; the client never hears of it
        $entry->{dropped} = JSON::PP::true;
        delete $entry->{drop};
        return $self->close_conn($c);
    }

    my $off = 0;
    while ($off < length $msg) {
        my $n = syswrite($c->{client}, $msg, length($msg) - $off, $off);
        return $self->close_conn($c) unless defined $n;
        $off += $n;
    }

    if ($c->{up_eof}) {
        return $self->close_conn($c);
    }

    $self->client_data($c);
}

sub control {
    my ($self, $c, $method, $uri, $msg) = @_;

    my ($body) = $msg =~ /\r\n\r\n(.*)\z/s;
    my $in = length($body // '') ? eval { $ItsmProxy::JSON->decode($body) } : undef;
    my ($status, $out) = (200, {});

    if ($method eq 'GET' && $uri eq '/_proxy/log') {
        $out = $self->{log};
    } elsif ($method eq 'POST' && $uri eq '/_proxy/drop') {
        push @{$self->{rules}}, {%{$in || {}}, seen => 0};
        $out = $self->{rules};
    } elsif ($method eq 'POST' && $uri eq '/_proxy/clear') {
        $self->{rules} = [];
        $self->{log} = [];
    } else {
        ($status, $out) = (404, {error => "no control $method $uri"});
    }

    my $text = $ItsmProxy::JSON->encode($out);
    syswrite($c->{client}, "HTTP/1.1 $status X\r\nContent-Type: "
             . "application/json\r\nContent-Length: " . length($text)
             . "\r\n\r\n$text");

    $self->client_data($c);
}

1;
