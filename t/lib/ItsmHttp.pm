package ItsmHttp;

# Requests a Test::Nginx block cannot make by itself: several at once, in
# the background while the block's own request runs, or spread in time.
#
#   my @answers = ItsmHttp::burst($n, $body, %opt);   # n copies at once
#   my $h = ItsmHttp::start($body, %opt);             # one, not waited for
#   my $answer = ItsmHttp::finish($h);                # ... its answer
#   my ($code) = ItsmHttp::status($answer);
#   my $req = ItsmHttp::raw($uri, $headers, $body);   # the bytes of a POST
#   my ($port, $why) = ItsmHttp::rt();    # the suite's Request Tracker
#
# %opt: port (default $TEST_NGINX_SERVER_PORT), uri (default /alerts),
# headers => {Name => value}, timeout (seconds, default 60).  An answer is
# the raw HTTP response ('' when the connection closed without one); with
# it, burst() also returns how long each took (seconds) when asked for in
# list context with times => \@times.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

sub request {
    my ($body, %opt) = @_;
    my $uri = $opt{uri} // '/alerts';
    my $h = join '', map { "$_: $opt{headers}{$_}\r\n" } sort keys %{$opt{headers} || {}};
    return "POST $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Content-Type: application/json\r\n$h"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

# a raw POST of $body with the headers of $headers ("Name: value\n" each);
# chunked => N sends the body in chunks of N bytes
sub raw {
    my ($uri, $headers, $body, %o) = @_;
    (my $h = $headers) =~ s/\n/\r\n/g;
    $h = "POST $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n$h";

    return $h . "Content-Length: " . length($body) . "\r\n\r\n$body" unless $o{chunked};

    my $chunks = '';
    for (my $i = 0; $i < length($body); $i += $o{chunked}) {
        my $c = substr($body, $i, $o{chunked});
        $chunks .= sprintf("%x\r\n%s\r\n", length($c), $c);
    }
    return "${h}Transfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n";
}

# a call to the control API of a helper process of the tests (ItsmFake,
# ItsmProxy): $data sent and the answer read as JSON with $json; dies,
# naming $who, when the call fails
sub control {
    my ($who, $http, $json, $method, $url, $data) = @_;
    my %o;
    if (defined $data) {
        $o{content} = $json->encode($data);
        $o{headers} = {'content-type' => 'application/json'};
    }
    my $res = $http->request($method, $url, \%o);
    die "$who: $method $url: $res->{status} $res->{reason} " . ($res->{content} // '') . "\n"
        unless $res->{success};
    return length($res->{content} // '') ? $json->decode($res->{content}) : undef;
}

# the port of the Request Tracker util/test.sh starts for the suite, or
# (undef, why there is none): for plan(skip_all => ...)
sub rt {
    my $port = $ENV{TEST_NGINX_RT_PORT};
    return (undef, "TEST_NGINX_RT_PORT is not set: no Request Tracker to "
                   . "test against (util/test.sh starts one)") unless $port;
    return (undef, "no Request Tracker answers on 127.0.0.1:$port "
                   . "(start one with: util/rt.sh start $port var/test-rt)")
        unless IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2);
    return $port;
}

# the preamble of a test file against that Request Tracker: its plan
# (plan is the caller's, Test::Nginx's): skip_all with why there is none,
# else no_plan; the port
sub plan_rt {
    my ($port, $why) = rt();
    my $plan = \&{caller() . '::plan'};
    $plan->($port ? 'no_plan' : (skip_all => $why));
    return $port;
}

sub connect_one {
    my (%opt) = @_;
    my $port = $opt{port} || $ENV{TEST_NGINX_SERVER_PORT} || 1984;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp')
        or die "connect to $port: $!\n";
    return $s;
}

sub start {
    my ($body, %opt) = @_;
    my $s = connect_one(%opt);
    print $s request($body, %opt);
    return {sock => $s, start => time, timeout => $opt{timeout} // 60};
}

sub finish {
    my ($h) = @_;
    my ($buf, $sel) = ('', IO::Select->new($h->{sock}));
    my $deadline = $h->{start} + $h->{timeout};
    while (time < $deadline) {
        next unless $sel->can_read(0.5);
        my $n = sysread($h->{sock}, my $chunk, 65536);
        last unless $n;
        $buf .= $chunk;
    }
    close $h->{sock};
    $h->{took} = time - $h->{start};
    return $buf;
}

sub burst {
    my ($n, $body, %opt) = @_;
    my @socks = map { connect_one(%opt) } 1 .. $n;
    my $req = request($body, %opt);
    my $t0 = time;

    # all connected first, then all requests sent: they overlap in nginx
    print $_ $req for @socks;

    my (%buf, %took);
    my $sel = IO::Select->new(@socks);
    my $deadline = $t0 + ($opt{timeout} // 60);

    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $r = sysread($s, my $chunk, 65536);
            if ($r) {
                $buf{$s} .= $chunk;
            } else {
                $took{$s} = time - $t0;
                $sel->remove($s);
                close $s;
            }
        }
    }

    @{$opt{times}} = map { $took{$_} // -1 } @socks if $opt{times};

    return map { $buf{$_} // '' } @socks;
}

# one HTTP/1.0 request to the test server, its answer read to the end:
# (status, body); $body may be undef (GET)
sub call {
    my ($method, $uri, $body) = @_;
    my @a = call_head($method, $uri, $body);
    return @a[0, 1];
}

# the same, and the status line and headers as a third: (status, body,
# head); call() stays two, as callers join its answer
sub call_head {
    my ($method, $uri, $body) = @_;
    my $s = connect_one();
    $body //= '';
    print $s "$method $uri HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $answer = <$s>;
    close $s;
    my ($head) = ($answer // '') =~ /\A(.*?)\r\n\r\n/s;
    return (status($answer), body($answer), $head // '');
}

sub status {
    my ($answer) = @_;
    return $answer =~ m{^HTTP/1\.[01] (\d+)} ? $1 : 'none';
}

sub body {
    my ($answer) = @_;
    return $answer =~ /\r\n\r\n(.*)\z/s ? $1 : '';
}

# lines of a file under the test's server root, e.g. a mock's access log;
# with $want, waits up to 2 s for that many lines: a mock's request is
# logged when it ends, which may be just after the answer it gave was read
sub log_lines {
    my ($name, $want) = @_;
    my @l = read_lines($name);
    my $until = time + 2;
    while (defined $want && @l < $want && time < $until) {
        select(undef, undef, undef, 0.05);
        @l = read_lines($name);
    }
    return @l;
}

sub read_lines {
    my ($name) = @_;
    my $path = Test::Nginx::Util::server_root() . "/logs/$name";
    open my $fh, '<', $path or return ();
    my @l = <$fh>;
    close $fh;
    chomp @l;
    return @l;
}

1;
