# itsm_jwt's time claims to the second on both sides of their edges, on a
# clock the test sets (t/lib/ItsmClock.pm).  RFC 7519: the token is valid
# before "exp" (4.1.4: "on or after" it is not) and on or after "nbf"
# (4.1.5); the leeway widens both by its seconds.  So, with leeway L at
# time T: exp = T - L is expired and T - L + 1 is not; nbf = T + L is
# valid and T + L + 1 is not yet.  Fractions of a second count.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmClock;
use Test::Nginx::Socket 'no_plan';
use ItsmJwt;
use ItsmConf;

our $Rsa = ItsmJwt::key('rsa1', 'rsa');
$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('jwks.json', ItsmJwt::jwk($Rsa, 'rsa1'));

our $T = $ItsmClock::T0;

sub bearer {
    my (%o) = @_;
    my %c = (iss => 'https://issuer.test/', aud => 'api://itsm',
             exp => $T + 600, nbf => $T - 10, sub => 'sender');
    @c{keys %o} = values %o;
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return "Authorization: Bearer "
           . ItsmJwt::token($Rsa, { alg => 'RS256', kid => 'rsa1' }, \%c) . "\n";
}

our $Config = <<'_EOC_';
    location = /l60 {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
    location = /l0 {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm
                 leeway=0s;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
    location = /l3600 {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm
                 leeway=1h;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
_EOC_

# [uri, claims, passes, result]
sub cases {
    my (@c) = @_;
    return ItsmConf::cases_of(map { ["GET $_->[0]", bearer(%{$_->[1]}), $_->[2] ? 204 : 401, $_->[3]] } @c);
}

our $Exp = cases(
    map({ my $l = $_->[1];
          (["$_->[0]", { exp => $T - $l - 1 }, 0, 'token_expired'],
           ["$_->[0]", { exp => $T - $l }, 0, 'token_expired'],
           ["$_->[0]", { exp => $T - $l + 1 }, 1, 'passed']) }
        ['/l0', 0], ['/l60', 60], ['/l3600', 3600]),
    ['/l0', { exp => $T + 0.5 }, 1, 'passed'],
    ['/l0', { exp => $T - 0.5 }, 0, 'token_expired']);

our $Nbf = cases(
    map({ my $l = $_->[1];
          (["$_->[0]", { nbf => $T + $l - 1 }, 1, 'passed'],
           ["$_->[0]", { nbf => $T + $l }, 1, 'passed'],
           ["$_->[0]", { nbf => $T + $l + 1 }, 0, 'token_not_yet_valid']) }
        ['/l0', 0], ['/l60', 60], ['/l3600', 3600]),
    ['/l0', { nbf => $T + 0.5 }, 0, 'token_not_yet_valid'],
    ['/l0', { nbf => $T - 0.5 }, 1, 'passed']);

ItsmConf::cases();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the clock is the test's (years after the real one): a token valid for 10 more minutes of real time has expired
--- main_config eval: $ItsmClock::MainConfig
--- config eval: $::Config
--- request eval: ["GET /l0", "GET /l0"]
--- more_headers eval: [::bearer(exp => time() + 600, nbf => undef), ::bearer(exp => $::T + 1)]
--- error_code eval: [401, 204]



=== TEST 2: exp with leeways of 0, 60 s (the default) and 1 h: expired at exp + leeway, valid a second before; fractions count
--- main_config eval: $ItsmClock::MainConfig
--- config eval: $::Config
--- cases eval: $::Exp



=== TEST 3: nbf with the same leeways: valid from nbf - leeway on, not a second before; fractions count
--- main_config eval: $ItsmClock::MainConfig
--- config eval: $::Config
--- cases eval: $::Nbf
