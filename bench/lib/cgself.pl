#!/usr/bin/perl
# bench/lib/cgself.pl FILE [N] [TOP] - the self instruction counts of each
# function in a callgrind output file, divided by N (the requests
# measured), the TOP largest by self cost; then the same summed by area
# (jansson's lexer, malloc, the module's parser, nginx, LMDB, ...: the
# table of bench/PROFILE.md).  bench/profile.sh
# writes one per case; callgrind_annotate 3.19 gives every self cost to
# __libc_start_main in the files that callgrind_control -d dumps, hence
# this reader of the format itself.
use strict;
use warnings;

my ($file, $n, $top) = @ARGV;
die "usage: $0 FILE [N] [TOP]\n" unless $file;
$n ||= 1;
$top ||= 40;

my (%self, %incl_calls, %name_of);
my ($ob, $fn, $cob, $in_call, $total) = ('', '', '', 0, 0);
my %ids;

sub name {   # "(id) name" or "(id)" or "name"
    my ($kind, $v) = @_;
    if ($v =~ /^\((\d+)\)\s*(.*)$/) {
        $ids{$kind}{$1} = $2 if length $2;
        return $ids{$kind}{$1} // "($1)";
    }
    return $v;
}

open my $fh, '<', $file or die "$file: $!\n";
while (<$fh>) {
    chomp;
    if (/^summary:\s*(\d+)/) { $total = $1; next }
    if (/^ob=(.*)/)  { $ob = name('ob', $1); next }
    if (/^fn=(.*)/)  { $fn = name('fn', $1); $cob = $ob; next }
    if (/^cob=(.*)/) { $cob = name('ob', $1); next }
    if (/^cfn=(.*)/) { name('fn', $1); next }
    if (/^cf[il]=/ || /^f[ile]=/) { next }
    if (/^calls=/)   { $in_call = 1; next }
    if (/^[+\-*]?\d+\s+(\d+)/ || /^\s*(\d+)$/) {
        my $cost = $1;
        if ($in_call) { $in_call = 0; next }
        (my $lib = $ob) =~ s|.*/||;
        $self{"$fn [$lib]"} += $cost;
        next;
    }
}
close $fh;

my $sum = 0;
$sum += $_ for values %self;
printf "total %d instructions (%d per request over %d requests)\n\n", $sum, $sum / $n, $n;
printf "%12s %6s  %s\n", 'per request', 'self %', 'function [object]';
my $i = 0;
for my $k (sort { $self{$b} <=> $self{$a} } keys %self) {
    last if ++$i > $top;
    printf "%12d %5.1f%%  %s\n", $self{$k} / $n, 100 * $self{$k} / ($sum || 1), $k;
}

# areas: the first pattern that matches "function [object]" names it
my @areas = (
    [ 'jansson: lexer (stream_get, strbuffer, lex_scan)' => qr/^(stream_|strbuffer_|lex_|buffer_get|utf8_|decode_unicode|parse_value|parse_object|parse_array|parse_json|jsonp_strtod).*libjansson/ ],
    [ 'jansson: objects, hash table, dump'  => qr/libjansson/ ],
    [ 'module: body parser (json_parse)'    => qr/^ngx_http_itsm_json_parse/ ],
    [ 'module: depth pre-scan'              => qr/^ngx_http_itsm_json_(check_)?depth/ ],
    [ 'module: JSON escape (templates)'     => qr/^ngx_http_itsm_json_escape/ ],
    [ 'nginx: ngx_escape_json (templates, answers)' => qr/^ngx_escape_json/ ],
    [ 'nginx: MD5 (alert hash, body hash)'  => qr/^(ngx_md5|0x0000000000030d80 \[nginx\])/ ],
    [ 'libc: malloc/free'                   => qr/^(_int_malloc|_int_free|malloc|free|malloc_consolidate|unlink_chunk|cfree|realloc|_int_realloc|tcache).*libc/ ],
    [ 'libc: memcpy/memmove/memset/memchr'  => qr/^__(mem|str)/ ],
    [ 'LMDB'                                => qr/liblmdb/ ],
    [ 'OpenSSL (HMAC-SHA256)'               => qr/libcrypto/ ],
    [ 'module: JSON Pointers'               => qr/^ngx_http_itsm_json_pointer/ ],
    [ 'module: base64 (signatures)'         => qr/^ngx_http_itsm_base64/ ],
    [ 'module: other'                       => qr/^ngx_http_itsm_/ ],
    [ 'nginx: request, events, proxy'       => qr/\[nginx\]/ ],
    [ 'other (libc, kernel entry, ...)'     => qr/./ ],
);
my %area;
for my $k (keys %self) {
    for my $a (@areas) {
        if ($k =~ $a->[1]) { $area{$a->[0]} += $self{$k}; last }
    }
}
printf "\n%12s %6s  %s\n", 'per request', '%', 'area';
for my $a (sort { $area{$b} <=> $area{$a} } keys %area) {
    printf "%12d %5.1f%%  %s\n", $area{$a} / $n, 100 * $area{$a} / ($sum || 1), $a;
}
