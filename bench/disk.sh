#!/usr/bin/env bash
# bench/disk.sh - the store on a real disk against the store on tmpfs
# (issue 11: the create path within 10% of the tmpfs figure, and the
# duplicate path's p99 unchanged while creates run in parallel), with
# bench/compare.sh's servers, checks and interleaved rounds:
#
#   mod-create, mod-create-disk       creates alone (wrk -c50)
#   mod-dup-half, mod-dup-half-disk   duplicates alone (-c25, half the threads)
#   mod-mixed, mod-mixed-disk         the same duplicates (-c25) while a
#                                     second wrk (-c25) sends creates
#
# then, from the rounds (each ratio within a round; median, min - max):
#   create req/s, disk / tmpfs                       goal >= 0.9
#   dup p99 with creates / dup p99 alone, tmpfs      goal ~ 1
#   dup p99 with creates / dup p99 alone, disk       goal ~ 1
#   dup p99 with creates, disk / tmpfs               goal ~ 1
#
#   BENCH_DISK_DIR=/work/var-bench BENCH_PORT=2310 bench/disk.sh
#
# Environment: as bench/compare.sh (BENCH_ROUNDS [5], BENCH_SECONDS [10],
# BENCH_SIZES [1024], BENCH_DISK_DIR [/var/tmp], BENCH_PORT, MODULE, ...);
# results in BENCH_OUT [bench/results/disk-<date>], the ratios in
# disk.txt there.
set -euo pipefail

bench=$(cd "$(dirname "$0")" && pwd)
out=${BENCH_OUT:-$bench/results/disk-$(date +%Y%m%d-%H%M%S)}

BENCH_OUT=$out BENCH_SIZES=${BENCH_SIZES:-1024} \
BENCH_CASES="mod-create mod-create-disk mod-dup-half mod-dup-half-disk mod-mixed mod-mixed-disk" \
    "$bench/compare.sh"

perl -e '
    my %v;
    <STDIN>;
    while (<STDIN>) {
        chomp;
        my ($r, $size, $case, $rps, $p99) = split /\t/;
        $v{$size}{$r}{$case} = { rps => $rps, p99 => $p99 };
    }
    sub median { my @v = sort { $a <=> $b } @_; @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2 }
    my @ratios = (
        ["create req/s, disk / tmpfs", "goal >= 0.9", sub { $_[0]{"mod-create-disk"}{rps} / $_[0]{"mod-create"}{rps} }],
        ["dup p99 with creates / alone, tmpfs", "goal ~ 1", sub { $_[0]{"mod-mixed"}{p99} / $_[0]{"mod-dup-half"}{p99} }],
        ["dup p99 with creates / alone, disk", "goal ~ 1", sub { $_[0]{"mod-mixed-disk"}{p99} / $_[0]{"mod-dup-half-disk"}{p99} }],
        ["dup p99 with creates, disk / tmpfs", "goal ~ 1", sub { $_[0]{"mod-mixed-disk"}{p99} / $_[0]{"mod-mixed"}{p99} }],
    );
    for my $size (sort { $a <=> $b } keys %v) {
        print "== $size bytes: ratios within each round, median (min - max), round by round ==\n";
        for my $q (@ratios) {
            my @x = map { $q->[2]->($v{$size}{$_}) } sort { $a <=> $b } keys %{$v{$size}};
            my @s = sort { $a <=> $b } @x;
            printf "%-40s %5.2f (%.2f - %.2f)  %s   %s\n", $q->[0], median(@x), $s[0], $s[-1],
                   join(" ", map { sprintf "%.2f", $_ } @x), $q->[1];
        }
        for my $c (qw(mod-create mod-create-disk mod-dup-half mod-dup-half-disk mod-mixed mod-mixed-disk)) {
            my @r = map { $v{$size}{$_}{$c}{rps} } keys %{$v{$size}};
            my @p = map { $v{$size}{$_}{$c}{p99} } keys %{$v{$size}};
            my @s = sort { $a <=> $b } @r;
            printf "  %-18s median %8.0f req/s (%.0f - %.0f), p99 median %.2f ms\n", $c, median(@r), $s[0], $s[-1], median(@p);
        }
    }
' < "$out/results.tsv" | tee "$out/disk.txt"
