#!/usr/bin/perl
# bench/check.pl - does a gateway do the job?  Run by bench/compare.sh on
# every endpoint before timing it, against the mock ITSM in its slow mode
# (a create takes about a second, so concurrent firsts really overlap).
#
#   bench/check.pl --name NAME --url URL --mock URL/mock_status --body FILE
#                  [--copies 20] [--secret whsec_...]
#
#   1. COPIES copies of one alert with a new key, sent at once over as
#      many connections: every sender gets a 2xx naming the same ticket,
#      exactly one answer is 201 "created" and the others 200 "duplicate",
#      and the mock counted exactly one request (its stub_status).
#   2. the same alert again: 200 "duplicate" with that ticket, nothing
#      sent to the mock.
#   3. with --secret (a signed endpoint; every request signed the Standard
#      Webhooks way): one byte of the body changed gives 401, nothing sent.
#
# Prints one line per endpoint; exits 1 on any failure.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);

my %o = (copies => 20);
GetOptions(\%o, 'name=s', 'url=s', 'mock=s', 'body=s', 'copies=i', 'secret=s')
    && $o{name} && $o{url} && $o{mock} && $o{body}
    or die "usage: $0 --name NAME --url URL --mock URL --body FILE [--copies N] [--secret S]\n";

my ($host, $port, $path) = $o{url} =~ m{^http://([^:/]+):(\d+)(/.*)$}
    or die "check: cannot read the URL $o{url}\n";

open my $fh, '<', $o{body} or die "check: $o{body}: $!\n";
my $template = do { local $/; <$fh> };
close $fh;

my $key = sprintf 'check-%s-%d-%d', $o{name} =~ s/\W/-/gr, $$, int(time * 1000) % 1000000;
(my $body = $template) =~ s/\@KEY\@/$key/;

my @fail;
sub fail { push @fail, shift }

sub request_text {
    my ($b) = @_;
    my $h = "POST $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n"
          . "Content-Type: application/json\r\nContent-Length: " . length($b) . "\r\n";
    if ($o{secret}) {
        my ($id, $ts) = ("msg_check_$$" . int(rand 1e9), time =~ s/\..*//r);
        (my $k = $o{secret}) =~ s/^whsec_//;
        my $sig = encode_base64(hmac_sha256("$id.$ts.$b", decode_base64($k)), '');
        $h .= "webhook-id: $id\r\nwebhook-timestamp: $ts\r\nwebhook-signature: v1,$sig\r\n";
    }
    return "$h\r\n$b";
}

# the raw answers to N copies of a request sent at once
sub send_all {
    my ($n, $req) = @_;
    my (@socks, %buf);
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
            or die "check: connect to $host:$port: $!\n";
        push @socks, $s;
    }
    # all connected first, then all requests written: they overlap
    for my $s (@socks) {
        print $s $req;
    }
    my $sel = IO::Select->new(@socks);
    my $deadline = time + 60;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $r = sysread($s, my $chunk, 65536);
            if ($r) {
                $buf{$s} .= $chunk;
            } else {
                $sel->remove($s);
                close $s;
            }
        }
    }
    return map { $buf{$_} // '' } @socks;
}

sub mock_requests {
    my ($mh, $mp, $mpath) = $o{mock} =~ m{^http://([^:/]+):(\d+)(/.*)$};
    my $s = IO::Socket::INET->new(PeerAddr => $mh, PeerPort => $mp, Proto => 'tcp')
        or die "check: connect to the mock: $!\n";
    print $s "GET $mpath HTTP/1.1\r\nHost: $mh\r\nConnection: close\r\n\r\n";
    my $text = do { local $/; <$s> };
    # "server accepts handled requests\n A B C": C counts this request too
    $text =~ /\n\s*\d+\s+\d+\s+(\d+)/ or die "check: no stub_status from the mock\n";
    return $1;
}

sub parse {
    my ($a) = @_;
    my ($code) = $a =~ m{^HTTP/1\.[01] (\d+)};
    my ($outcome) = $a =~ /"outcome":"([^"]+)"/;
    my ($ticket) = $a =~ /"ticket_id":"([^"]+)"/;
    return ($code // 'none', $outcome // '-', $ticket // '-');
}

# 1. concurrent firsts
my $m0 = mock_requests();
my $t0 = time;
my @answers = send_all($o{copies}, request_text($body));
my $took = time - $t0;
my $m1 = mock_requests();
my $creates = $m1 - $m0 - 1;

my (%codes, %outcomes, %tickets);
for my $a (@answers) {
    my ($code, $outcome, $ticket) = parse($a);
    $codes{$code}++;
    $outcomes{$outcome}++;
    $tickets{$ticket}++;
}
my $summary = join(', ', map { "$_ $codes{$_}" } sort keys %codes);
fail("not every answer is a 2xx: $summary") if grep { !/^2\d\d$/ } keys %codes;
fail("not exactly one 201: $summary") unless ($codes{201} // 0) == 1;
fail("outcomes are not 1 created, the others duplicate: "
     . join(', ', map { "$_ $outcomes{$_}" } sort keys %outcomes))
    unless ($outcomes{created} // 0) == 1
        && ($outcomes{duplicate} // 0) == $o{copies} - 1;
fail("the answers name " . scalar(keys %tickets) . " tickets: " . join(', ', sort keys %tickets))
    unless keys %tickets == 1;
fail("the mock got $creates requests, not 1") unless $creates == 1;
my ($ticket) = keys %tickets;

# 2. a repeat
my ($again) = send_all(1, request_text($body));
my $m2 = mock_requests();
my ($code, $outcome, $t2) = parse($again);
fail("the repeat got $code $outcome ticket $t2, not 200 duplicate $ticket")
    unless $code eq '200' && $outcome eq 'duplicate' && $t2 eq $ticket;
fail("the repeat sent " . ($m2 - $m1 - 1) . " requests to the mock") unless $m2 - $m1 - 1 == 0;

# 3. a signed endpoint refuses a changed body
my $forged = '';
if ($o{secret}) {
    my $req = request_text($body);
    $req =~ s/"severity":"critical"/"severity":"CRITICAL"/ or die "check: nothing to change\n";
    my ($a) = send_all(1, $req);
    my $m3 = mock_requests();
    my ($c) = parse($a);
    fail("a changed body got $c, not 401") unless $c eq '401';
    fail("a changed body sent " . ($m3 - $m2 - 1) . " requests to the mock") unless $m3 - $m2 - 1 == 0;
    $forged = '; a changed body: 401, nothing sent';
}

my $line = sprintf '%s %s (%d bytes): %d concurrent firsts in %.1f s: %s, %d %s; %d create at the mock; '
    . 'a repeat: %s %s, nothing sent%s', $o{name}, $path, length $body, $o{copies}, $took,
    $summary, $outcomes{created} // 0, 'created', $creates, $code, $outcome, $forged;

if (@fail) {
    print "check FAILED: $line\n";
    print "  - $_\n" for @fail;
    exit 1;
}
print "check ok: $line\n";
