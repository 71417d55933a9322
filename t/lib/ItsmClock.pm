package ItsmClock;

# nginx on a clock the test sets, so that every time window (signature
# timestamps, replay ttls, JWT exp/nbf) is tested on both sides of its
# edge, to the second, without sleeping and without a race against the
# real clock.
#
# Debian's libfaketime is preloaded into the nginx the test starts: the
# wall clock (time(), gettimeofday(), clock_gettime(CLOCK_REALTIME)) reads
# the unix time written in a file, again at every call; the monotonic
# clock stays real, so nginx's timers and timeouts work as usual.  nginx
# drops its environment at start unless told to keep it, hence the "env"
# lines of $MainConfig, which every block that starts nginx must have.
#
#   use ItsmClock;                   # skips the file when libfaketime is missing
#   ItsmClock::set($ItsmClock::T0 + 300);
#   --- main_config eval: $ItsmClock::MainConfig
#
# Without libfaketime (apt-get install libfaketime; util/deps.sh test
# installs it) the whole file is skipped with a message.

use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More ();

# a fixed moment, far from the real clock: a test that reads the real
# clock by mistake cannot pass by chance
our $T0 = 1900000000;

our $Lib = (grep { -e $_ } glob('/usr/lib/*/faketime/libfaketime.so.1'),
                           '/usr/lib/faketime/libfaketime.so.1')[0];

our $Dir = tempdir('itsm-clock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $File = "$Dir/now";

our $MainConfig = <<'_EOC_';
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_FMT;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
_EOC_


# the time nginx sees from now on: a unix time, frozen
sub set {
    my ($t) = @_;
    my $tmp = "$File.tmp";
    open(my $fh, '>', $tmp) or die "ItsmClock: $tmp: $!\n";
    print $fh "$t\n";
    close $fh or die "ItsmClock: $tmp: $!\n";
    # renamed into place: nginx never reads half a number
    rename($tmp, $File) or die "ItsmClock: $File: $!\n";
    return $t;
}


sub import {
    unless ($Lib) {
        Test::More::plan(skip_all => 'needs libfaketime (apt-get install '
                                     . 'libfaketime) for a clock the test sets');
        exit 0;
    }

    set($T0);

    $ENV{LD_PRELOAD} = $ENV{LD_PRELOAD} ? "$Lib $ENV{LD_PRELOAD}" : $Lib;
    $ENV{FAKETIME_TIMESTAMP_FILE} = $File;
    $ENV{FAKETIME_FMT} = '%s';
    $ENV{FAKETIME_NO_CACHE} = 1;
    $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
}

1;
