# itsm_jwt: bearer tokens (RS256, ES256) against a JWKS file: kid
# selection, the signature, iss pinned, aud from a set, exp/nbf with
# leeway.  Keys and tokens are made at test time with openssl
# (t/lib/ItsmJwt.pm).  A refused token gets 401 (403 for a token that is
# valid but not allowed) with WWW-Authenticate and a JSON error, and
# nothing reaches the content handler.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmJwt;

our $Rsa = ItsmJwt::key('rsa1', 'rsa');
our $Rsa2 = ItsmJwt::key('rsa2', 'rsa');
our $Ec = ItsmJwt::key('ec1', 'ec');

$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('jwks.json',
    ItsmJwt::jwk($Rsa, 'rsa1', use => 'sig', alg => 'RS256'),
    ItsmJwt::jwk($Ec, 'ec1'),
    { kty => 'oct', kid => 'hmac', k => 'c2VjcmV0' },
    ItsmJwt::jwk($Rsa2, 'enc1', use => 'enc'));

our $Alert = '{"key": "jw-1", "title": "Token alert"}';
our $Now = time();

sub claims {
    my (%o) = @_;
    my %c = (iss => 'https://issuer.test/', aud => 'api://itsm',
             exp => $Now + 600, nbf => $Now - 10, iat => $Now - 10,
             sub => 'sender');
    @c{keys %o} = values %o;
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return \%c;
}

sub rs { ItsmJwt::token($Rsa, { alg => 'RS256', typ => 'JWT', kid => 'rsa1' }, claims(@_)) }
sub es { ItsmJwt::token($Ec, { alg => 'ES256', typ => 'JWT', kid => 'ec1' }, claims(@_)) }
sub bearer { "Content-Type: application/json\nAuthorization: Bearer $_[0]\n" }

our $HttpConfig = ItsmConf::access_http();

our $Config = ItsmConf::access_itsm(17) . <<'_EOC_';

    large_client_header_buffers 4 32k;

    location = /api {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/
                 aud=api://itsm aud=11111111-2222-3333-4444-555555555555
                 leeway=60s;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }

    location = /alerts {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm;
        itsm_pass mock;
    }

    location = /down {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm;
        itsm_pass down;
    }
_EOC_

ItsmConf::defaults(http_config => $HttpConfig, config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an RS256 token, its key chosen by kid; each step in the debug log
--- request
GET /api
--- more_headers eval: ::bearer(::rs())
--- error_code: 204
--- response_headers
X-Result: passed
--- error_log
itsm access: checking the request
itsm access: bearer token, RS256, kid "rsa1"
itsm access: the token's signature verifies (1 key tried)
itsm access: the token's claims are accepted
itsm access: passed



=== TEST 2: an ES256 token
--- request
GET /api
--- more_headers eval: ::bearer(::es())
--- error_code: 204



=== TEST 3: a token without kid: every key of its algorithm is tried
--- request
GET /api
--- more_headers eval: ::bearer(ItsmJwt::token($::Rsa, { alg => 'RS256' }, ::claims()))
--- error_code: 204



=== TEST 4: an alert with a valid token creates a ticket
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: ::bearer(::rs())
--- error_code: 201
--- response_body_like: "ticket_id":"17"



=== TEST 5: no Authorization header
--- request eval: "POST /down\n$::Alert"
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="itsm"
Content-Type: application/json
--- response_body
{"error":"token_missing","message":"the request has no \"Authorization: Bearer\" token"}
--- no_error_log
[error]



=== TEST 6: basic credentials instead of a token
--- request eval: "POST /down\n$::Alert"
--- more_headers
Content-Type: application/json
Authorization: Basic cm9vdDpwYXNzd29yZA==
--- error_code: 401
--- response_body
{"error":"token_missing","message":"the Authorization header does not carry a Bearer token"}



=== TEST 7: not a JWT at all
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::bearer('opaque-token-value')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="itsm", error="invalid_token"
--- response_body
{"error":"token_invalid","message":"the token is not a JWT (header.payload.signature)"}
--- no_error_log
[error]



=== TEST 8: alg "none" is refused
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::bearer(ItsmJwt::token(undef, { alg => 'none', kid => 'rsa1' }, ::claims()))
--- error_code: 401
--- response_body
{"error":"token_invalid","message":"the token's \"alg\" is not RS256 or ES256"}



=== TEST 9: HS256 keyed with the public key (algorithm confusion) is refused
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::bearer(ItsmJwt::hs256(ItsmJwt::pem_text($::Rsa), { alg => 'HS256', kid => 'rsa1' }, ::claims()))
--- error_code: 401
--- response_body
{"error":"token_invalid","message":"the token's \"alg\" is not RS256 or ES256"}



=== TEST 10: signed by another key under a known kid
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::bearer(ItsmJwt::token($::Rsa2, { alg => 'RS256', kid => 'rsa1' }, ::claims()))
--- error_code: 401
--- response_body
{"error":"token_invalid","message":"the token's signature is wrong"}
--- no_error_log
[error]



=== TEST 11: a kid that is not in the set (an encryption key does not count)
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
[::bearer(ItsmJwt::token($::Rsa2, { alg => 'RS256', kid => 'rsa9' }, ::claims())),
 ::bearer(ItsmJwt::token($::Rsa2, { alg => 'RS256', kid => 'enc1' }, ::claims()))]
--- error_code eval: [401, 401]
--- response_body eval
["{\"error\":\"token_invalid\",\"message\":\"the token's key (\\\"kid\\\") is not in the key set of this endpoint; if the issuer rotated its keys, refresh the JWKS file and reload\"}\n",
 "{\"error\":\"token_invalid\",\"message\":\"the token's key (\\\"kid\\\") is not in the key set of this endpoint; if the issuer rotated its keys, refresh the JWKS file and reload\"}\n"]



=== TEST 12: an ES256 header on an RSA key's kid
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::bearer(ItsmJwt::token($::Ec, { alg => 'ES256', kid => 'rsa1' }, ::claims()))
--- error_code: 401
--- response_body_like: is not in the key set



=== TEST 13: one changed byte of the claims
--- request eval: "POST /down\n$::Alert"
--- more_headers eval
my ($h, $c, $s) = split /\./, ::rs();
my $forged = ItsmJwt::b64url(JSON::PP->new->canonical->encode(::claims(sub => 'sendes')));
::bearer("$h.$forged.$s")
--- error_code: 401
--- response_body_like: the token's signature is wrong



=== TEST 14: expired beyond the leeway; expired within it
--- request eval: ["GET /api", "GET /api"]
--- more_headers eval: [::bearer(::rs(exp => $::Now - 120)), ::bearer(::es(exp => $::Now - 2))]
--- error_code eval: [401, 204]
--- response_headers eval
["WWW-Authenticate: Bearer realm=\"itsm\", error=\"invalid_token\"\nX-Result: token_expired", "X-Result: passed"]



=== TEST 15: not valid yet beyond the leeway; within it
--- request eval: ["GET /api", "GET /api"]
--- more_headers eval: [::bearer(::rs(nbf => $::Now + 300)), ::bearer(::rs(nbf => $::Now + 30))]
--- error_code eval: [401, 204]
--- response_body_like eval
['"error":"token_not_yet_valid","message":"the token is not valid yet \(.{2}nbf.{2}\): check the clocks"', '^$']



=== TEST 16: another issuer; another audience; an audience list that holds ours
--- request eval: ["GET /api", "GET /api", "GET /api", "GET /api"]
--- more_headers eval
[::bearer(::rs(iss => 'https://evil.test/')),
 ::bearer(::rs(aud => 'api://other')),
 ::bearer(::rs(aud => ['api://other', '11111111-2222-3333-4444-555555555555'])),
 ::bearer(::rs(aud => ['api://other', 'api://more']))]
--- error_code eval: [401, 401, 204, 401]
--- response_body_like eval
['the token.s issuer \(.{2}iss.{2}\) is not accepted here', 'the token.s audience \(.{2}aud.{2}\) is not this service', '^$', 'audience']



=== TEST 17: no exp; a non-numeric nbf
--- request eval: ["GET /api", "GET /api"]
--- more_headers eval: [::bearer(::rs(exp => undef)), ::bearer(::rs(nbf => 'soon'))]
--- error_code eval: [401, 401]
--- response_body_like eval: ['the token has no valid expiry', 'the token.s .{2}nbf.{2} is not a number']



=== TEST 18: a claim given twice is ambiguous
--- request
GET /api
--- more_headers eval
my $c = JSON::PP->new->canonical->encode(::claims());
$c =~ s/^\{/{"aud":"api:\/\/other",/;
::bearer(ItsmJwt::token($::Rsa, { alg => 'RS256', kid => 'rsa1' }, $c))
--- error_code: 401
--- response_body_like: the token's payload is not a base64url-encoded JSON object



=== TEST 19: critical header extensions are refused
--- request
GET /api
--- more_headers eval: ::bearer(ItsmJwt::token($::Rsa, { alg => 'RS256', kid => 'rsa1', crit => ['exp'] }, ::claims()))
--- error_code: 401
--- response_body_like: critical header extensions



=== TEST 20: a token of five parts (JWE) and an oversized token
--- request eval: ["GET /api", "GET /api"]
--- more_headers eval: [::bearer('a.b.c.d.e'), ::bearer('a' x 17000)]
--- error_code eval: [401, 401]
--- response_body_like eval: ['more than three parts', 'longer than 16384 bytes']



=== TEST 21: a truncated ES256 signature
--- request
GET /api
--- more_headers eval
my $t = ::es();
$t =~ s/.{8}$//;
::bearer($t)
--- error_code: 401
--- response_body_like: the token's signature is wrong



=== TEST 22: iss and aud are compared whole: prefixes, extensions, a changed case and an empty value are other values (a NUL is not JSON jansson takes)
--- request eval: [("GET /api") x 19]
--- more_headers eval
[::bearer(::rs(iss => 'https://issuer.test/')),
 ::bearer(::rs(iss => 'https://issuer.test')),
 ::bearer(::rs(iss => 'https://issuer.test/x')),
 ::bearer(::rs(iss => 'https://issuer.test//')),
 ::bearer(::rs(iss => 'https://issuer.tes')),
 ::bearer(::rs(iss => 'HTTPS://ISSUER.TEST/')),
 ::bearer(::rs(iss => '')),
 ::bearer(::rs(iss => 'https://issuer.test/' . "\0")),
 ::bearer(::rs(aud => 'api://itsm')),
 ::bearer(::rs(aud => 'api://itsm-evil')),
 ::bearer(::rs(aud => 'api://its')),
 ::bearer(::rs(aud => 'api://itsm/')),
 ::bearer(::rs(aud => 'API://ITSM')),
 ::bearer(::rs(aud => '')),
 ::bearer(::rs(aud => '11111111-2222-3333-4444-555555555555')),
 ::bearer(::rs(aud => '11111111-2222-3333-4444-55555555555')),
 ::bearer(::rs(aud => '11111111-2222-3333-4444-5555555555555')),
 ::bearer(::rs(aud => ['api://itsm-evil', 'api://its', 'api://itsm/'])),
 ::bearer(::rs(aud => ['api://its', 'api://itsm']))]
--- error_code eval
[204, 401, 401, 401, 401, 401, 401, 401,
 204, 401, 401, 401, 401, 401, 204, 401, 401, 401, 204]
--- response_headers eval
["X-Result: passed", ("X-Result: token_invalid") x 7,
 "X-Result: passed", ("X-Result: token_invalid") x 5,
 "X-Result: passed", ("X-Result: token_invalid") x 3, "X-Result: passed"]
--- response_body_like eval
['^$', ('the token.s issuer \(.{2}iss.{2}\) is not accepted here') x 6,
 'the token.s payload is not a base64url-encoded JSON object',
 '^$', ('the token.s audience \(.{2}aud.{2}\) is not this service') x 5,
 '^$', ('the token.s audience \(.{2}aud.{2}\) is not this service') x 3, '^$']
