#!/usr/bin/perl
# bench/lib/summary.pl OUTDIR - the summary of a bench/compare.sh run from
# OUTDIR/results.tsv: per size and case the median req/s, its spread and
# the p99 latency; then the ratios, each taken within a round (both cases
# measured minutes apart at most) and summarized by their median and
# spread over the rounds.
use strict;
use warnings;

my $dir = shift or die "usage: $0 OUTDIR\n";

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh>;
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

my (%rps, %p99, %cpu, %bad, %extra, @sizes, @cases, %seen_size, %seen_case, %rounds);
open my $fh, '<', "$dir/results.tsv" or die "$dir/results.tsv: $!\n";
<$fh>;
while (<$fh>) {
    chomp;
    my ($r, $size, $case, $rps, $p99, $n, $non2xx, $errors, $extra, $cpu) = split /\t/;
    push @sizes, $size unless $seen_size{$size}++;
    push @cases, $case unless $seen_case{$case}++;
    $rounds{$r} = 1;
    $rps{$size}{$case}{$r} = $rps;
    $p99{$size}{$case}{$r} = $p99;
    $cpu{$size}{$case}{$r} = $cpu if defined $cpu && $cpu =~ /^[0-9.]+$/ && $cpu > 0;
    $bad{$size}{$case} += $non2xx + $errors;
    $extra{$size}{$case}{$r} = $extra if $extra ne '-';
}
close $fh;
my @rounds = sort { $a <=> $b } keys %rounds;

print slurp("$dir/machine.txt");
my $checks = slurp("$dir/checks.txt");
if ($checks) {
    my $ok = () = $checks =~ /^check ok/mg;
    my $failed = () = $checks =~ /^check FAILED/mg;
    print "checks: $ok passed, $failed failed (20 concurrent firsts: one create; a repeat: nothing sent); see checks.txt\n";
} else {
    print "checks: not run\n";
}
print slurp("$dir/load.txt");

sub kib { my $s = shift; return $s % 1024 ? "$s bytes" : ($s / 1024) . " KiB" }

for my $size (@sizes) {
    printf "\n== %s alert ==\n", kib($size);
    printf "%-16s %12s %17s %8s %8s %8s  %s\n", 'case', 'median req/s', 'min - max', 'p99 ms', 'p99 max', 'CPU us', 'notes';
    for my $case (@cases) {
        my @v = values %{ $rps{$size}{$case} };
        my @l = values %{ $p99{$size}{$case} };
        next unless @v;
        my @sorted = sort { $a <=> $b } @v;
        my $note = '';
        $note .= "$bad{$size}{$case} non-2xx or socket errors! " if $bad{$size}{$case};
        if (my @x = values %{ $extra{$size}{$case} || {} }) {
            $note .= sprintf 'creates alongside: %.0f req/s (median)', median(@x);
        }
        my @c = values %{ $cpu{$size}{$case} || {} };
        printf "%-16s %12.0f %17s %8.2f %8.2f %8s  %s\n", $case, median(@v),
            sprintf('%.0f - %.0f', $sorted[0], $sorted[-1]), median(@l),
            (sort { $a <=> $b } @l)[-1], @c ? sprintf('%.1f', median(@c)) : '-', $note;
    }
}

# label, numerator, denominator, metric, goal
my @ratios = (
    ['module / Lua, duplicate',                  'mod-dup',         'lua-dup',      'rps', '>= 1.3'],
    ['module / Python, duplicate',               'mod-dup',         'py-dup',       'rps', '>= 10'],
    ['module / return 200, duplicate',           'mod-dup',         'return200',    'rps', ''],
    ['module / proxy_pass, duplicate',           'mod-dup',         'proxy',        'rps', ''],
    ['module / Lua, create',                     'mod-create',      'lua-create',   'rps', '>= 1.3'],
    ['module / Python, create',                  'mod-create',      'py-create',    'rps', '>= 10'],
    ['module / return 200, create',              'mod-create',      'return200',    'rps', ''],
    ['module disk / tmpfs, create',              'mod-create-disk', 'mod-create',   'rps', '>= 0.9'],
    ['module disk / Lua, create',                'mod-create-disk', 'lua-create',   'rps', ''],
    ['module disk / tmpfs, duplicate',           'mod-dup-disk',    'mod-dup',      'rps', ''],
    ['module / Lua, duplicate + HMAC',           'mod-dup-hmac',    'lua-dup-hmac', 'rps', ''],
    ['module / Python, duplicate + HMAC',        'mod-dup-hmac',    'py-dup-hmac',  'rps', ''],
    ['module, HMAC / none, duplicate',           'mod-dup-hmac',    'mod-dup',      'rps', '>= 0.95'],
    ['Lua, HMAC / none, duplicate',              'lua-dup-hmac',    'lua-dup',      'rps', ''],
    ['module, Alertmanager group / generic',     'mod-am-dup',      'mod-dup',      'rps', ''],
    ['module, AM group / Lua, generic same size', 'mod-am-dup',      'lua-dup',      'rps', ''],
    ['module, AM group / return 200',            'mod-am-dup',      'return200',    'rps', ''],
    ['dup p99 with creates: disk / tmpfs',       'mod-mixed-disk',  'mod-mixed',    'p99', '~ 1'],
    ['dup req/s with creates: disk / tmpfs',     'mod-mixed-disk',  'mod-mixed',    'rps', ''],
    ['Redis ÷ LMDB, duplicate',                  'mod-dup-redis',   'mod-dup',      'rps', ''],
    ['Redis ÷ LMDB, create',                     'mod-create-redis', 'mod-create',  'rps', ''],
    ['Redis ÷ LMDB, duplicate p99',              'mod-dup-redis',   'mod-dup',      'p99', ''],
    ['Redis ÷ LMDB, create p99',                 'mod-create-redis', 'mod-create',  'p99', ''],
);

print "\nratios, each within a round: median (min - max over rounds), round by round;\n"
    . "then the same comparison by the server's CPU time per request (the inverse ratio,\n"
    . "so that above 1 means the first case is cheaper), which a busy machine moves less\n";
for my $size (@sizes) {
    printf "\n== %s alert ==\n", kib($size);
    for my $q (@ratios) {
        my ($label, $num, $den, $metric, $goal) = @$q;
        my $m = $metric eq 'p99' ? \%p99 : \%rps;
        next unless $m->{$size}{$num} && $m->{$size}{$den};
        my @per;
        for my $r (@rounds) {
            my ($a, $b) = ($m->{$size}{$num}{$r}, $m->{$size}{$den}{$r});
            push @per, (defined $a && defined $b && $b > 0) ? $a / $b : undef;
        }
        my @ok = grep { defined } @per;
        next unless @ok;
        my @s = sort { $a <=> $b } @ok;
        my @byc;
        if ($metric eq 'rps') {
            for my $r (@rounds) {
                my ($a, $b) = ($cpu{$size}{$num}{$r}, $cpu{$size}{$den}{$r});
                push @byc, $b / $a if $a && $b;
            }
        }
        printf "%-42s %6.2f (%.2f - %.2f)  %-30s %-14s %s\n", $label, median(@ok), $s[0], $s[-1],
            join(' ', map { defined $_ ? sprintf('%.2f', $_) : '-' } @per),
            @byc ? sprintf('CPU/req %.2f', median(@byc)) : '',
            $goal ? "goal $goal" : '';
    }
}
