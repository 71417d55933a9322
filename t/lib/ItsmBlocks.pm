package ItsmBlocks;

# Blocks that differ only in a value or two, written once.  A line
# "%%% NAME" in a test file's __DATA__ stands for the text of the blocks
# expand(NAME => TEXT) is given (made from a table by the file, or by a
# t/lib helper that several files share); a title "=== TEST #" in it is
# numbered in its place among the file's blocks, so the names stay those
# of a file written out in full.  Call it before run_tests().
#
#   ItsmBlocks::expand(handlers => join '', map { "=== TEST #: $_ ...\n" } @names);

use strict;
use warnings;

sub expand {
    my (%text) = @_;

    my $spec = do { local $/; readline(*main::DATA) };
    defined $spec or die "ItsmBlocks: no __DATA__ in $0\n";

    my %used;

    $spec =~ s{^%%% (\w+)\n}{
        $used{$1} = 1;
        $text{$1} // die "ItsmBlocks: no blocks for \"%%% $1\" in $0\n"
    }gme;

    # blocks made but given no place would silently not run
    for (sort keys %text) {
        $used{$_} or die "ItsmBlocks: no line \"%%% $_\" in $0 for its blocks\n";
    }

    my $n = 0;
    $spec =~ s{^=== TEST (\d+|#)}{ $n++; '=== TEST ' . ($1 eq '#' ? $n : $1) }gme;

    # the runner (Test::Base underneath, real or fallback) reads this
    # text in place of __DATA__
    Test::Base::spec_string($spec);
}

1;
