# The access phase's counted and sized limits, each on both sides of its
# edge: 16 signature secrets load and the 16th matches, 17 do not load;
# itsm_token tokens of 16 and 4096 bytes load and match, 15 and 4097 do
# not, and a request token one byte short or long of a right one is
# refused; a bearer JWT of 16384 bytes is verified, 16385 is not read; a
# key set's kid of 128 bytes and 64 keys load, 129 bytes or 65 keys do not.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmJwt;
use ItsmSig;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $Ec = ItsmJwt::key('ec1', 'ec');
$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('jwks.json', ItsmJwt::jwk($Ec, 'ec1'));
$ENV{TEST_NGINX_KID128} = ItsmJwt::jwks('kid128.json', ItsmJwt::jwk($Ec, 'k' x 128));
$ENV{TEST_NGINX_KID129} = ItsmJwt::jwks('kid129.json', ItsmJwt::jwk($Ec, 'k' x 129));
$ENV{TEST_NGINX_KEYS64} = ItsmJwt::jwks('keys64.json', map { ItsmJwt::jwk($Ec, "key$_") } 1 .. 64);
$ENV{TEST_NGINX_KEYS65} = ItsmJwt::jwks('keys65.json', map { ItsmJwt::jwk($Ec, "key$_") } 1 .. 65);

# an ES256 token of exactly $len bytes: a "pad" claim takes up the rest
sub jwt_of {
    my ($len, $kid) = @_;
    $kid //= 'ec1';
    my %c = (iss => 'https://issuer.test/', aud => 'api://itsm', exp => time() + 600);
    for my $typ (undef, 'JWT', 'JWTX') {
        my %h = (alg => 'ES256', kid => $kid, defined $typ ? (typ => $typ) : ());
        for my $k (0 .. $len) {
            my $unsigned = ItsmJwt::token(undef, \%h, { %c, pad => 'p' x $k });
            my $total = length($unsigned) + 86;    # an ES256 signature
            last if $total > $len;
            return ItsmJwt::token($Ec, \%h, { %c, pad => 'p' x $k }) if $total == $len;
        }
    }
    die "jwt_of: no token of $len bytes\n";
}

our $T16 = 'a' x 16;
our $T4096 = join('', map { ('a' .. 'z', 'A' .. 'Z', 0 .. 9)[$_ % 62] } 1 .. 4096);

our $Secrets = join(' ', map { "secret=s$_" } 1 .. 16);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 16 secrets load; a request signed with the 16th passes and is named #16; a 17th secret's signature does not pass
--- config eval
"location = /t {
    itsm_signature github $::Secrets;
    add_header X-Secret \$itsm_access_secret always;
    try_files /.none =204;
}"
--- request eval: [("POST /t\n$ItsmSig::Body") x 3]
--- more_headers eval
[ItsmSig::headers('github', key => 's16'), ItsmSig::headers('github', key => 's1'),
 ItsmSig::headers('github', key => 's17')]
--- error_code eval: [204, 204, 401]
--- response_headers eval: ["X-Secret: 16", "X-Secret: 1", "X-Secret: "]



=== TEST 2: 16 secrets from inline and a file, counted together, load
--- user_files eval: ">>> eight.secret\n" . join("\n", map { "f$_" } 1 .. 8) . "\n"
--- config eval
"location = /t {
    itsm_signature github " . join(' ', map { "secret=s$_" } 1 .. 8) . "
                   secret=file:\$TEST_NGINX_HTML_DIR/eight.secret;
    add_header X-Secret \$itsm_access_secret always;
    try_files /.none =204;
}"
--- request eval: "POST /t\n$ItsmSig::Body"
--- more_headers eval: ItsmSig::headers('github', key => 'f8')
--- error_code: 204
--- response_headers
X-Secret: 16



=== TEST 3: ... 17 that way do not
--- user_files eval: ">>> nine.secret\n" . join("\n", map { "f$_" } 1 .. 9) . "\n"
--- config eval
"location = /t {
    itsm_signature github " . join(' ', map { "secret=s$_" } 1 .. 8) . "
                   secret=file:\$TEST_NGINX_HTML_DIR/nine.secret;
}"
--- must_die
--- error_log eval: qr/\[emerg\] .*more than 16 secrets; keep only those in use in \S+nginx\.conf:\d+/



=== TEST 4: itsm_token: tokens of 16 and 4096 bytes load and match (a token that long is in a file: nginx.conf takes no 4k parameter); one byte less or more of either, or a prefix, does not match
--- user_files eval: ">>> long.tokens\n$::T4096\n"
--- config eval
"location = /t {
    itsm_token \$http_x_token $::T16 file=\$TEST_NGINX_HTML_DIR/long.tokens;
    add_header X-Secret \$itsm_access_secret always;
    try_files /.none =204;
}
large_client_header_buffers 4 16k;"
--- request eval: [("GET /t") x 8]
--- more_headers eval
[map { "X-Token: $_" } $::T16, $::T4096, substr($::T16, 0, 15), $::T16 . 'a',
 substr($::T4096, 0, 4095), $::T4096 . 'x', substr($::T4096, 0, 16), 'a' x 32]
--- error_code eval: [204, 204, 401, 401, 401, 401, 401, 401]
--- response_headers eval: ["X-Secret: 1", "X-Secret: 2", ("X-Secret: ") x 6]



=== TEST 5: itsm_token: a token of 15 bytes does not load
--- config
    location = /t { itsm_token $http_x_token aaaaaaaaaaaaaaa; }
--- must_die
--- error_log eval: qr/a token of itsm_token has 15 bytes; use 16 to 4096/



=== TEST 6: itsm_token: a token of 4097 bytes does not load
--- user_files eval: ">>> longer.tokens\n" . ('b' x 4097) . "\n"
--- config
    location = /t { itsm_token $http_x_token file=$TEST_NGINX_HTML_DIR/longer.tokens; }
--- must_die
--- error_log eval: qr/a token of itsm_token in \S+longer\.tokens has 4097 bytes; use 16 to 4096/



=== TEST 7: a bearer JWT of 16384 bytes is verified; one of 16385 is refused unread
--- config
    large_client_header_buffers 4 32k;
    location = /t {
        itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://issuer.test/ aud=api://itsm;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: [map { "Authorization: Bearer " . ::jwt_of($_) } 16384, 16385]
--- error_code eval: [204, 401]
--- response_body eval: ["", "{\"error\":\"token_invalid\",\"message\":\"the token is empty or longer than 16384 bytes\"}\n"]



=== TEST 8: a kid of 128 bytes loads and selects its key
--- config
    location = /t {
        itsm_jwt jwks=$TEST_NGINX_KID128 iss=https://issuer.test/ aud=api://itsm;
        try_files /.none =204;
    }
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: ["Authorization: Bearer " . ::jwt_of(600, 'k' x 128), "Authorization: Bearer " . ::jwt_of(600, 'k' x 127)]
--- error_code eval: [204, 401]



=== TEST 9: a kid of 129 bytes does not load
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_KID129 iss=https://issuer.test/ aud=api://itsm; }
--- must_die
--- error_log eval: qr/a key's "kid" is not a string of at most 128 bytes \(key 0\)/



=== TEST 10: a key set of 64 keys loads, and the 64th is found by its kid
--- config
    location = /t {
        itsm_jwt jwks=$TEST_NGINX_KEYS64 iss=https://issuer.test/ aud=api://itsm;
        try_files /.none =204;
    }
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: ["Authorization: Bearer " . ::jwt_of(600, 'key64'), "Authorization: Bearer " . ::jwt_of(600, 'key65')]
--- error_code eval: [204, 401]



=== TEST 11: a key set of 65 keys does not load
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_KEYS65 iss=https://issuer.test/ aud=api://itsm; }
--- must_die
--- error_log eval: qr/the key set has more than 64 usable keys \(key 64\)/
