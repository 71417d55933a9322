package ItsmTestStore;

# ITSM_TEST_STORE=redis: the suite's blocks run against the Redis store
# (issue 14: "the whole existing lifecycle suite passes against the Redis
# backend as well as LMDB").  The fallback runner (t/fallback) asks this
# module, for every nginx.conf it writes, to turn each
#
#     itsm_store PATH [size=...] [keep=...] [lease=T] [retention=T];
#
# into
#
#     itsm_redis address=127.0.0.1:PORT prefix=itsmt<pid>.<n>:;
#     itsm_store redis [lease=T] [retention=T];
#
# with a prefix of its own for every nginx the runner starts, so that a
# block starts from an empty store as it does on LMDB (the runner wipes
# logs/, and the LMDB file with it, before each start); a store at an
# absolute path keeps its prefix for the file's run, as the file stays.
# size= and keep= are LMDB's (the map's size, the records kept) and are
# dropped.
#
# The redis-server: ITSM_TEST_REDIS_PORT (util/test.sh redis starts one
# for the run and exports it); without it the first block that needs one
# starts a private one for the file (t/lib/ItsmRedis.pm).
#
# What is skipped, with the reason printed as the checks' skip message:
#   - a block whose nginx refuses to start because what it configures
#     needs an LMDB store for now (nginx -t's "... for now (issue 14)"
#     line is the reason): cooldown holds, callbacks, verify;
#   - a block with "--- skip_redis: REASON" (it reads the LMDB file, or
#     checks what only the LMDB store does);
#   - a block without --- config after a skipped one (it would run on the
#     nginx of the skipped one).
# util/test.sh redis counts them from prove's output.

use strict;
use warnings;

use File::Basename ();

my $Counter = 0;
my $Redis;      # the private redis-server of this file, if started here

sub active { ($ENV{ITSM_TEST_STORE} // '') eq 'redis' }

sub address {
    return "127.0.0.1:$ENV{ITSM_TEST_REDIS_PORT}" if $ENV{ITSM_TEST_REDIS_PORT};
    unless ($Redis) {
        unshift @INC, File::Basename::dirname(__FILE__);
        require ItsmRedis;
        $Redis = ItsmRedis->start;
    }
    return '127.0.0.1:' . $Redis->port;
}

# A store in logs/ is new at every start (the runner wipes logs/): a new
# prefix each time.  One elsewhere (an absolute path: a test's own
# directory, kept across restarts, t/041) keeps its records as long as the
# file runs: the same prefix for the same path.
my %ByPath;

sub prefix {
    my ($path) = @_;
    return "itsmt$$." . ++$Counter . ':' unless $path =~ m{^/};
    return $ByPath{$path} //= "itsmt$$." . ++$Counter . ':';
}

# the http{} text with its LMDB itsm_store on Redis; unchanged when it has
# no LMDB itsm_store or already declares itsm_redis (a test of its own)
sub rewrite {
    my ($text) = @_;
    return $text unless defined $text;
    return $text if $text =~ /^\s*itsm_redis\s/m;
    return $text unless $text =~ /^[ \t]*itsm_store[ \t]+(?!redis\b)[^\s;]+/m;

    my $address = address();

    $text =~ s{^([ \t]*)itsm_store[ \t]+(?!redis\b)([^\s;]+)([^;]*);}{
        my ($indent, $path, $opts) = ($1, $2, $3);
        my $prefix = prefix($path);
        my @keep = grep { /^(lease|retention)=/ } split ' ', $opts;
        "${indent}itsm_redis address=$address prefix=$prefix;\n"
        . "${indent}itsm_store redis" . join('', map { " $_" } @keep) . ';'
    }gme;

    return $text;
}

# the server{} text of a block whose store went to Redis: unchanged.  Its
# itsm_replay and itsm_requeue locations work on Redis as on LMDB (the
# queue is shared there: t/503); what still needs LMDB (the cooldown
# holds, verify, callbacks) nginx -t refuses, and the block is skipped.
sub rewrite_server {
    my ($text) = @_;
    return $text;
}

# the reason a failed start is a skip: nginx -t's line saying that what
# the block configures needs an LMDB store for now
sub refused {
    my ($log) = @_;
    return undef unless defined $log;
    for my $line (split /\n/, $log) {
        next unless $line =~ /\[emerg\]/ && $line =~ /for now \(issue 14\)/;
        $line =~ s/^.*?\[emerg\] \d+#\d+: //;
        return "needs LMDB: $line";
    }
    return undef;
}

1;
