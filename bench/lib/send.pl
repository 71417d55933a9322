#!/usr/bin/perl
# bench/lib/send.pl URL BODYFILE N [KEY|new:PREFIX] - POSTs the body N
# times over one keep-alive connection, one request after the other, and
# prints how many answers had each status.  bench/profile.sh uses it to
# send an exact number of requests to a server run under callgrind (wrk
# counts by time, not by request).
#
#   KEY          @KEY@ in the body is replaced by KEY (the duplicate path)
#   new:PREFIX   each request a new key, PREFIX<8 digits> (the create path)
#   (none)       the body as it is (an Alertmanager group)
#
# SEND_HEADERS="Name: value\nName: value" adds headers to every request
# (the signed case: its webhook-* headers, the same each time).
use strict;
use warnings;
use HTTP::Tiny;

my ($url, $file, $n, $key) = @ARGV;
die "usage: $0 URL BODYFILE N [KEY|new:PREFIX]\n" unless $url && $file && $n;

open my $fh, '<', $file or die "$file: $!\n";
my $template = do { local $/; <$fh> };
close $fh;

my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 600);
my %codes;
my %extra = map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () }
            split /\\n|\n/, $ENV{SEND_HEADERS} // '';

for my $i (1 .. $n) {
    my $body = $template;
    if (defined $key && $key =~ /^new:(.*)$/) {
        my $k = sprintf '%s%08d', $1, $i;
        $body =~ s/\@KEY\@/$k/;
    } elsif (defined $key) {
        $body =~ s/\@KEY\@/$key/;
    }
    my $res = $http->post($url, {
        headers => { 'Content-Type' => 'application/json', %extra },
        content => $body,
    });
    $codes{$res->{status}}++;
}

print join(' ', map { "$_:$codes{$_}" } sort keys %codes), "\n";
