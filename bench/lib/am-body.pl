#!/usr/bin/perl
# bench/lib/am-body.pl SIZE TAG - prints an Alertmanager webhook (version 4)
# of SIZE bytes: a group of 10 firing alerts from 8 KiB on (each with a
# description of log lines, as rules that quote them have), else of one.
# Fingerprints are made from TAG, so that each run has keys of its own.
# Only the module reads it (bench/compare.sh's mod-am-dup case): the peers
# read generic alerts only.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);

my ($size, $tag) = @ARGV;
die "usage: $0 SIZE TAG\n" unless $size && defined $tag;
my $n = $size >= 8192 ? 10 : 1;

sub alert {
    my ($i, $desc) = @_;
    my $fp = substr(sha256_hex("$tag-$i"), 0, 16);
    return '{"status":"firing","labels":{"alertname":"HostDiskFull","instance":"db-' . $i
         . ':9100","job":"node","mountpoint":"/var","severity":"critical"},'
         . '"annotations":{"description":"' . $desc . '",'
         . '"runbook_url":"https://runbooks.example/disk","summary":"Disk /var on db-' . $i
         . ' is 97% full"},"startsAt":"2026-11-22T06:27:21.065113061Z","endsAt":"0001-01-01T00:00:00Z",'
         . '"generatorURL":"http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.03\u0026g0.tab=1",'
         . '"fingerprint":"' . $fp . '"}';
}

my $head = '{"receiver":"itsm","status":"firing","alerts":[';
my $tail = '],"groupLabels":{"alertname":"HostDiskFull"},"commonLabels":{"alertname":"HostDiskFull",'
         . '"job":"node","severity":"critical"},"commonAnnotations":{},'
         . '"externalURL":"http://alertmanager.example:9093","version":"4",'
         . '"groupKey":"{}:{alertname=\"HostDiskFull\"}","truncatedAlerts":0}';

my $bare = length($head) + length($tail) + ($n - 1);
$bare += length(alert($_, '')) for 1 .. $n;
my $room = $size - $bare;
die "$size bytes is too small for $n alerts\n" if $room < 16 * $n;

my @alerts;
for my $i (1 .. $n) {
    my $want = int($room / $n) + ($i <= $room % $n ? 1 : 0);
    my $d = 'Less than 3% of /var is left.\nRecent log lines:\n';
    my $line = '2024-05-01T10:17:00Z kernel: EXT4-fs warning (device vda1): '
             . 'ext4_dx_add_entry:2516: comm \"postgres\":\tDirectory index full!\n';
    $d .= $line while length($d) + length($line) <= $want;
    $d = substr($d, 0, $want) if length($d) > $want;
    $d =~ s/\\$/x/;                      # never end inside an escape
    $d .= 'x' x ($want - length $d);
    push @alerts, alert($i, $d);
}
print $head, join(',', @alerts), $tail;
