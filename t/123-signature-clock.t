# The timestamp window of every scheme that signs a timestamp, to the
# second on both sides of both edges, on a clock the test sets
# (t/lib/ItsmClock.pm): with a tolerance of T seconds, a timestamp T
# seconds old or T seconds ahead passes, T+1 does not, with the reason
# (timestamp_too_old, timestamp_in_future).  Also the default tolerance
# (5 minutes) and the smallest (1s).
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmClock;
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Now = $ItsmClock::T0;

our $Config = '';

for my $s (@ItsmSig::Timed) {
    for my $t (['', ''], ['/90', 'itsm_signature_tolerance 90s;'],
               ['/1', 'itsm_signature_tolerance 1s;'])
    {
        $Config .= "    location = /$s$t->[0] {\n        "
                   . ItsmSig::directive($s, ItsmSig::secret($s, 'secret'))
                   . "\n        $t->[1]"
                   . "\n        add_header X-Result \$itsm_access_result always;\n"
                   . "        try_files /.none =204;\n    }\n";
    }
}

# [uri suffix, tolerance]: the requests at both edges of each window
our @Windows = (['', 300], ['/90', 90], ['/1', 1]);

sub window {
    my (@schemes) = @_;
    my @cases;
    for my $s (@schemes) {
        for my $w (@Windows) {
            my ($u, $tol) = @$w;
            for my $c ([-$tol - 1, 401, 'timestamp_too_old'],
                       [-$tol, 204, 'passed'],
                       [0, 204, 'passed'],
                       [$tol, 204, 'passed'],
                       [$tol + 1, 401, 'timestamp_in_future'])
            {
                push @cases, ["POST /$s$u\n$ItsmSig::Body", ItsmSig::headers($s, ts => $Now + $c->[0]), $c->[1], $c->[2]];
            }
        }
    }
    return ItsmConf::cases_of(@cases);
}

our %W = map { $_ => window($_) } @ItsmSig::Timed;

ItsmConf::cases();
ItsmConf::defaults(config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the clock is the one the test set: a delivery signed at the real time is refused as one from the past
--- main_config eval: $ItsmClock::MainConfig
--- request eval: ["POST /slack\n$ItsmSig::Body", "POST /slack\n$ItsmSig::Body"]
--- more_headers eval: [ItsmSig::headers('slack', ts => time()), ItsmSig::headers('slack', ts => $::Now)]
--- error_code eval: [401, 204]
--- response_headers eval: ["X-Result: timestamp_too_old", "X-Result: passed"]



=== TEST 2: standard_webhooks: tolerance-1, tolerance and tolerance+1 seconds either way, for 300s (the default), 90s and 1s
--- main_config eval: $ItsmClock::MainConfig
--- cases eval: $::W{standard_webhooks}



=== TEST 3: slack: the same
--- main_config eval: $ItsmClock::MainConfig
--- cases eval: $::W{slack}



=== TEST 4: stripe (t= in the signature header): the same
--- main_config eval: $ItsmClock::MainConfig
--- cases eval: $::W{stripe}



=== TEST 5: grafana with timestamp_header=: the same
--- main_config eval: $ItsmClock::MainConfig
--- cases eval: $::W{grafana_ts}



=== TEST 6: generic with timestamp_header=: the same
--- main_config eval: $ItsmClock::MainConfig
--- cases eval: $::W{generic_sha512}



=== TEST 7: the refusals say how far off the timestamp is, and the tolerance
--- main_config eval: $ItsmClock::MainConfig
--- request eval: ["POST /slack/90\n$ItsmSig::Body", "POST /slack/90\n$ItsmSig::Body"]
--- more_headers eval: [ItsmSig::headers('slack', ts => $::Now - 91), ItsmSig::headers('slack', ts => $::Now + 1000)]
--- error_code eval: [401, 401]
--- response_body eval
["{\"error\":\"timestamp_too_old\",\"message\":\"the signature timestamp is 91 s old, more than the 90 s allowed (itsm_signature_tolerance): a replay, a late resend, or clock skew between the sender and this server\"}\n",
 "{\"error\":\"timestamp_in_future\",\"message\":\"the signature timestamp is 1000 s in the future, more than the 90 s allowed (itsm_signature_tolerance): clock skew, the sender's clock or this server's is wrong\"}\n"]
