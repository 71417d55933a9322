# The suite's own harness: a test file that dies part-way must fail under
# prove.  Perl runs END blocks after Test::Builder has set the exit status,
# and one that calls waitpid() or system() (stopping a mock, a preset's
# nginx) overwrites $?: t/400 once died after 39 of its checks (no port
# left) and prove said "ok".  Every END block in t/ therefore starts with
# "local $?".
#
# 1. A script that loads every helper of t/lib, starts a child through
#    ItsmChild (whose END waits for it), passes one check and dies: its
#    exit status is not 0, and prove, run on it, says FAIL.
# 2. Every END block in t/*.t, t/lib and t/fallback begins with "local $?".
use strict;
use warnings;

use FindBin;
use File::Temp qw(tempdir);
use Test::More;

my $T = $FindBin::Bin;
my $Tmp = tempdir(CLEANUP => 1);

my @Libs = map { m{([^/]+)\.pm$} ? $1 : () } glob("$T/lib/*.pm");

# ---- 1. a file that dies after one check ----------------------------------

open(my $f, '>', "$Tmp/dies.t") or die "$Tmp/dies.t: $!";
print $f "use strict; use warnings;\n",
    "use lib '$T/lib';\n",
    (map { "use $_ ();\n" } @Libs),
    "use IO::Socket::INET;\n",
    "use Test::More 'no_plan';\n",
    "my \$l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die;\n",
    "my \$c = ItsmChild::start('ItsmChild', \$l, sub { sleep 30 });\n",
    "ok(1, 'one check passes');\n",
    "die \"dies after one check\\n\";\n";
close $f;

my $out = `$^X $Tmp/dies.t 2>&1`;
my $status = $? >> 8;
isnt($status, 0, "a file that dies after a check exits non-zero (got $status)")
    or diag($out);
like($out, qr/dies after one check/, 'and says why');

my $prove = `prove $Tmp/dies.t 2>&1`;
like($prove, qr/^Result: FAIL$/m, 'prove reports it as FAIL') or diag($prove);

# ---- 2. every END block keeps $? -------------------------------------------

my @files = (glob("$T/*.t"), glob("$T/lib/*.pm"), glob("$T/fallback/Test/Nginx/*.pm"));
my $blocks = 0;
for my $file (@files) {
    open(my $in, '<', $file) or die "$file: $!";
    my $src = do { local $/; <$in> };
    while ($src =~ /^END\s*\{\s*([\s\S]{0,120})/mg) {
        my $first = $1;
        $blocks++;
        like($first, qr/^(?:if \([^)]*\) \{\s*)?local \$\?;/,
             "$file: END block begins with 'local \$?'");
    }
}
cmp_ok($blocks, '>=', 11, "END blocks found ($blocks)");

done_testing();
