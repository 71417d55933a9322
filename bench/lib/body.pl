#!/usr/bin/perl
# bench/lib/body.pl SIZE KEYLEN - prints a generic JSON alert of SIZE bytes
# once @KEY@ is replaced by a key of KEYLEN bytes: the body the benchmarks
# send.  Its description is a realistic one (a summary and log lines, with
# the JSON escapes such text has: \n, \", \t), not a run of one letter, so
# that the parsers do the work real alerts give them.
#
#   bench/lib/body.pl SIZE KEYLEN sign SECRET ID TS KEY
#       prints the Standard Webhooks signature ("v1,<base64>") of that body
#       with @KEY@ replaced by KEY
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);

my ($size, $keylen, $sign, $secret, $id, $ts, $key) = @ARGV;
die "usage: $0 SIZE KEYLEN [sign SECRET ID TS KEY]\n" unless $size && defined $keylen;

my $head = '{"key":"@KEY@","title":"Disk almost full on db-1: /var at 95%",'
         . '"severity":"critical","status":"firing","description":"';
my $tail = '"}';
my $room = $size - (length($head) - length('@KEY@') + $keylen) - length($tail);
die "$size bytes is too small for an alert\n" if $room < 16;

my $desc = 'Filesystem /var on db-1 is 95% full (threshold 90%, 4.1 GiB free of 80 GiB).\n'
         . 'Runbook: https://runbooks.example.com/disk-full\n\nRecent log lines:\n';
my $n = 0;
while (1) {
    my $s = sprintf '%02d', $n % 60;
    my $line = "2024-05-01T10:17:${s}Z db-1 kernel: EXT4-fs warning (device vda1): "
             . 'ext4_dx_add_entry:2516: inode #131073: comm \"postgres\":\tDirectory index full!\n';
    last if length($desc) + length($line) > $room;
    $desc .= $line;
    $n++;
}
$desc .= 'x' x ($room - length $desc);    # the last bytes, without an escape to cut

my $body = $head . $desc . $tail;

if (defined $sign && $sign eq 'sign') {
    (my $b = $body) =~ s/\@KEY\@/$key/;
    (my $k = $secret) =~ s/^whsec_//;
    print 'v1,', encode_base64(hmac_sha256("$id.$ts.$b", decode_base64($k)), ''), "\n";
    exit 0;
}
print $body;
