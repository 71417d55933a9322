# The key set is read at load, so a reload (HUP) picks up a refreshed JWKS
# file: the way to follow an issuer's key rotation (fetch its keys, e.g.
# https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys, then
# "nginx -s reload").  A master process is needed for a reload.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmNginx;
use Test::Nginx::Socket;

# a reload needs one nginx across blocks, which Test::Nginx's valgrind mode
# does not keep (it restarts nginx after every block)
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks');
} else {
    plan('no_plan');
}

use ItsmJwt;

master_on();

our $Old = ItsmJwt::key('reload-old', 'rsa');
our $New = ItsmJwt::key('reload-new', 'ec');
$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('reload.json', ItsmJwt::jwk($Old, 'old'));

our $Now = time();
our %Claims = (iss => 'https://i.test/', aud => 'a', exp => $Now + 600);
our $OldToken = ItsmJwt::token($Old, { alg => 'RS256', kid => 'old' }, \%Claims);
our $NewToken = ItsmJwt::token($New, { alg => 'ES256', kid => 'new' }, \%Claims);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: before: the old key is in the set, the new one is not
--- config
    location = /t {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://i.test/ aud=a;
        try_files /.none =204;
    }
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: ["Authorization: Bearer $::OldToken", "Authorization: Bearer $::NewToken"]
--- error_code eval: [204, 401]



=== TEST 2: after the file is replaced and nginx reloaded: the new key only
--- init
ItsmJwt::jwks('reload.json', ItsmJwt::jwk($::New, 'new'));
ItsmNginx::reload();
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: ["Authorization: Bearer $::NewToken", "Authorization: Bearer $::OldToken"]
--- error_code eval: [204, 401]
