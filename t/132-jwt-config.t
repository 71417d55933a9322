# Every misuse of itsm_jwt and itsm_jwt_preset, and every unusable key set,
# fails at load with the file and line.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmJwt;

our $Rsa = ItsmJwt::key('cfg-rsa', 'rsa');
our $Small = ItsmJwt::key('cfg-rsa1024', 'rsa', 1024);

$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('good.json', ItsmJwt::jwk($Rsa, 'k1'));
$ENV{TEST_NGINX_JWKS_SMALL} = ItsmJwt::jwks('small.json', ItsmJwt::jwk($Small, 'k1'));
$ENV{TEST_NGINX_JWKS_NONE} = ItsmJwt::jwks('none.json',
    { kty => 'oct', k => 'c2VjcmV0' }, { kty => 'EC', crv => 'P-384', x => 'AA', y => 'AA' });
$ENV{TEST_NGINX_JWKS_CURVE} = ItsmJwt::jwks('curve.json',
    ItsmJwt::jwk($Rsa, 'k1'),
    { kty => 'EC', crv => 'P-256', kid => 'bad',
      x => ItsmJwt::b64url("\x01" x 32), y => ItsmJwt::b64url("\x02" x 32) });
$ENV{TEST_NGINX_JWKS_NOE} = ItsmJwt::jwks('noe.json', { kty => 'RSA', kid => 'x', n => 'AQAB' });
$ENV{TEST_NGINX_JWKS_DIR} = $ItsmJwt::Dir;

open(my $fh, '>', "$ItsmJwt::Dir/notjson.json"); print $fh "{\"keys\": [\n"; close $fh;
open($fh, '>', "$ItsmJwt::Dir/nokeys.json"); print $fh "{\"key\": []}\n"; close $fh;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid configuration loads; "itsm_jwt off" clears an inherited one
--- config
    itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://i.test/ aud=a leeway=2m;
    location = /t { itsm_jwt off; return 200 ok; }
    location = /azure {
        itsm_jwt jwks=$TEST_NGINX_JWKS aud=api://x;
        itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
                        app_id=461e8683-5575-4561-ac7f-899cc907d62a;
    }
--- request
GET /t
--- response_body: ok



=== TEST 2: itsm_jwt without jwks=
--- config
    location = /t { itsm_jwt iss=https://i.test/ aud=a; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_jwt" needs jwks=<file> with the issuer's public keys \(a JWKS document\) in \S+nginx\.conf:\d+/



=== TEST 3: itsm_jwt without aud=
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS iss=https://i.test/; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_jwt" needs aud=<audience>: the application id \(or api:\/\/ URI\) the tokens are issued for in \S+nginx\.conf:\d+/



=== TEST 4: itsm_jwt without iss= and without a preset
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_jwt in \S+nginx\.conf:\d+ has no iss=; pin the issuer \(or use itsm_jwt_preset azure_secure_webhook tenant=<id>\)/



=== TEST 5: an unknown parameter
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS iss=x aud=a alg=HS256; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "alg=HS256"; itsm_jwt takes jwks=, iss=, aud= and leeway= in \S+nginx\.conf:\d+/



=== TEST 6: a bad leeway
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS iss=x aud=a leeway=2h; }
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid leeway "2h"; a time up to 1h, e\.g\. leeway=60s/



=== TEST 7: itsm_jwt twice in a block
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS iss=x aud=a; itsm_jwt jwks=$TEST_NGINX_JWKS iss=x aud=b; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_jwt" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 8: two jwks= files
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS jwks=$TEST_NGINX_JWKS iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*only one jwks= file; put every key in its "keys" array/



=== TEST 9: "itsm_jwt off" with parameters or with a preset
--- config
    location = /t { itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47; itsm_jwt off; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_jwt off" takes no parameters and cannot be combined with itsm_jwt_preset/



=== TEST 10: a key set that does not exist
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_DIR/missing.json iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*open\(\) "\S+missing\.json" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 11: a key set that is not JSON
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_DIR/notjson.json iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*itsm_jwt: "\S+notjson\.json": the key set is not valid JSON \(key 0\) in \S+nginx\.conf:\d+/



=== TEST 12: a key set without "keys"
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_DIR/nokeys.json iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*the key set has no "keys" array/



=== TEST 13: a key set with no usable key (oct, P-384)
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_NONE iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*the key set has no RSA or P-256 signing key/



=== TEST 14: an RSA key shorter than 2048 bits
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_SMALL iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*an RSA key is shorter than 2048 bits \(key 0\)/



=== TEST 15: a P-256 key that is not a point on the curve names the key
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_CURVE iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*a P-256 key could not be imported \(not a point on the curve\?\) \(key 1\)/



=== TEST 16: an RSA key without "e"
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS_NOE iss=x aud=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*an RSA key has no valid base64url "n" and "e" \(key 0\)/



=== TEST 17: a preset without itsm_jwt in the same block
--- config
    location = /t { itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_jwt_preset in \S+nginx\.conf:\d+ needs "itsm_jwt jwks=<file> aud=<your API's application id>" in the same block/



=== TEST 18: a preset without tenant=
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; itsm_jwt_preset azure_secure_webhook; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_jwt_preset azure_secure_webhook" needs tenant=<your directory \(tenant\) id>: the issuer is pinned to it/



=== TEST 19: a tenant that is not a GUID
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; itsm_jwt_preset azure_secure_webhook tenant=common; }
--- must_die
--- error_log eval: qr/\[emerg\] .*tenant="common" is not a directory \(tenant\) id such as 72f988bf-86f1-41af-91ab-2d7cd011db47/



=== TEST 20: an app_id that is not a GUID
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 app_id=monitor; }
--- must_die
--- error_log eval: qr/\[emerg\] .*app_id="monitor" is not an application id \(a GUID\)/



=== TEST 21: an unknown preset
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a iss=x; itsm_jwt_preset okta tenant=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*unknown preset "okta"; the only one is azure_secure_webhook in \S+nginx\.conf:\d+/



=== TEST 22: a preset's unknown parameter
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47 role=Reader; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "role=Reader"; itsm_jwt_preset azure_secure_webhook takes tenant= and app_id=/



=== TEST 23: the preset twice
--- config
    location = /t { itsm_jwt jwks=$TEST_NGINX_JWKS aud=a; itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47; itsm_jwt_preset azure_secure_webhook tenant=72f988bf-86f1-41af-91ab-2d7cd011db47; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_jwt_preset" directive is duplicate in \S+nginx\.conf:\d+/
