# itsm_jwt_preset azure_secure_webhook: Entra ID tokens of an Azure Monitor
# action group's Secure Webhook.  The issuer is pinned to the tenant in its
# v1.0 (https://sts.windows.net/<tenant>/) and v2.0
# (https://login.microsoftonline.com/<tenant>/v2.0) forms; appid (v1.0) or
# azp (v2.0) must be the action groups' application
# (461e8683-5575-4561-ac7f-899cc907d62a) and roles must hold
# ActionGroupsSecureWebhook.  A valid token of the wrong application or
# without the role is 403; anything else wrong is 401.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmJwt;

our $Key = ItsmJwt::key('azure1', 'rsa');
$ENV{TEST_NGINX_JWKS} = ItsmJwt::jwks('azure.json',
    ItsmJwt::jwk($Key, 'nOo3ZDrODXEK1jKWhXslHR_KXEg', use => 'sig'));

our $Tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
our $AppId = '461e8683-5575-4561-ac7f-899cc907d62a';
our $Alert = '{"key": "az-1", "title": "CPU above 90%"}';
our $Now = time();

# the headers of a token with the claims both versions carry, the
# version's (%$version) and %o (a claim given as undef is left out)
sub token_with {
    my ($version, %o) = @_;
    my %c = (iat => $Now - 60, nbf => $Now - 60, exp => $Now + 3600,
             roles => ['ActionGroupsSecureWebhook'], sub => 'a8d6b2c4', tid => $Tenant, %$version, %o);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return token(\%c);
}

sub v1 {
    return token_with({aud => 'api://itsm-gateway', iss => "https://sts.windows.net/$Tenant/",
                       appid => $AppId, appidacr => '2', idp => "https://sts.windows.net/$Tenant/",
                       oid => 'a8d6b2c4-0000-4000-8000-000000000001', ver => '1.0'}, @_);
}

sub v2 {
    return token_with({aud => '9f3b1c2d-aaaa-4bbb-8ccc-123456789abc',
                       iss => "https://login.microsoftonline.com/$Tenant/v2.0",
                       azp => $AppId, azpacr => '2', oid => 'a8d6b2c4', ver => '2.0'}, @_);
}

sub token {
    return "Content-Type: application/json\nAuthorization: Bearer "
           . ItsmJwt::token($Key, { typ => 'JWT', alg => 'RS256',
                                    kid => 'nOo3ZDrODXEK1jKWhXslHR_KXEg' },
                            $_[0]) . "\n";
}

our $HttpConfig = ItsmConf::access_http();

our $Config = ItsmConf::access_itsm(18) . <<'_EOC_';

    location = /alerts/azure {
        itsm_jwt jwks=$TEST_NGINX_JWKS aud=api://itsm-gateway
                 aud=9f3b1c2d-aaaa-4bbb-8ccc-123456789abc;
        itsm_jwt_preset azure_secure_webhook
                        tenant=72f988bf-86f1-41af-91ab-2d7cd011db47;
        itsm_pass mock;
    }

    location = /down {
        itsm_jwt_preset azure_secure_webhook
                        tenant=72f988bf-86f1-41af-91ab-2d7cd011db47;
        itsm_jwt jwks=$TEST_NGINX_JWKS aud=api://itsm-gateway
                 aud=9f3b1c2d-aaaa-4bbb-8ccc-123456789abc;
        itsm_pass down;
    }

    location = /own-app {
        itsm_jwt jwks=$TEST_NGINX_JWKS aud=api://itsm-gateway;
        itsm_jwt_preset azure_secure_webhook
                        tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
                        app_id=0AAAAAAA-1111-2222-3333-444444444444;
        try_files /.none =204;
    }
_EOC_

ItsmConf::defaults(http_config => $HttpConfig, config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a v1.0 token (appid, sts.windows.net) creates a ticket
--- request eval: "POST /alerts/azure\n$::Alert"
--- more_headers eval: ::v1()
--- error_code: 201
--- response_body_like: "ticket_id":"18"
--- no_error_log
[error]



=== TEST 2: a v2.0 token (azp, login.microsoftonline.com/.../v2.0) too
--- request eval: "POST /alerts/azure\n$::Alert"
--- more_headers eval: ::v2()
--- error_code: 201



=== TEST 3: the token of another application: 403 with insufficient_scope
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
[::v1(appid => '00000000-0000-0000-0000-000000000001'),
 ::v2(azp => '00000000-0000-0000-0000-000000000001')]
--- error_code eval: [403, 403]
--- response_headers eval
["WWW-Authenticate: Bearer realm=\"itsm\", error=\"insufficient_scope\"",
 "WWW-Authenticate: Bearer realm=\"itsm\", error=\"insufficient_scope\""]
--- response_body eval
["{\"error\":\"token_forbidden\",\"message\":\"the token was issued to another application (\\\"appid\\\"/\\\"azp\\\")\"}\n",
 "{\"error\":\"token_forbidden\",\"message\":\"the token was issued to another application (\\\"appid\\\"/\\\"azp\\\")\"}\n"]
--- no_error_log
[error]



=== TEST 4: no ActionGroupsSecureWebhook role, or no roles at all: 403
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::v1(roles => ['Reader']), ::v2(roles => undef)]
--- error_code eval: [403, 403]
--- response_body_like eval: ['"token_forbidden","message":"the token does not carry the required role', 'token_forbidden']



=== TEST 5: another tenant, or a tenant-independent issuer: 401
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
[::v1(iss => 'https://sts.windows.net/00000000-1111-2222-3333-444444444444/'),
 ::v2(iss => 'https://login.microsoftonline.com/common/v2.0')]
--- error_code eval: [401, 401]
--- response_body_like eval: ['"token_invalid".*issuer', '"token_invalid".*issuer']



=== TEST 6: a token for another API (aud)
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::v2(aud => 'https://management.azure.com')
--- error_code: 401
--- response_body_like: "token_invalid".*audience



=== TEST 7: an expired token
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::v1(exp => $::Now - 3600)
--- error_code: 401
--- response_body_like: "token_expired"



=== TEST 8: app_id= replaces the action groups' application id (compared without case)
--- request eval: ["GET /own-app", "GET /own-app"]
--- more_headers eval: [::v1(appid => '0aaaaaaa-1111-2222-3333-444444444444'), ::v1()]
--- error_code eval: [204, 403]



=== TEST 9: the tenant's issuers are compared whole: without the trailing "/", with more after it, a tenant one character short or long
--- request eval: [("POST /down\n$::Alert") x 10]
--- more_headers eval
[::v1(iss => "https://sts.windows.net/$::Tenant"),
 ::v1(iss => "https://sts.windows.net/$::Tenant/x"),
 ::v1(iss => "https://sts.windows.net/$::Tenant//"),
 ::v1(iss => 'https://sts.windows.net/' . substr($::Tenant, 0, -1) . '/'),
 ::v1(iss => "https://sts.windows.net/" . $::Tenant . "7/"),
 ::v1(iss => 'https://sts.windows.net/'),
 ::v2(iss => "https://login.microsoftonline.com/$::Tenant/v2"),
 ::v2(iss => "https://login.microsoftonline.com/$::Tenant/v2.00"),
 ::v2(iss => "https://login.microsoftonline.com/$::Tenant/v2.0/"),
 ::v2(iss => "https://login.microsoftonline.com/$::Tenant/")]
--- error_code eval: [(401) x 10]
--- response_body eval
[("{\"error\":\"token_invalid\",\"message\":\"the token's issuer (\\\"iss\\\") is not accepted here\"}\n") x 10]



=== TEST 10: ... while the exact issuers pass, on the same endpoint
--- request eval: [("POST /alerts/azure\n$::Alert") x 2]
--- more_headers eval
[::v1(iss => "https://sts.windows.net/$::Tenant/"),
 ::v2(iss => "https://login.microsoftonline.com/$::Tenant/v2.0")]
--- error_code eval: [201, 201]



=== TEST 11: the audience, application id and role are compared whole too (the application id without case, the role with)
--- request eval: [("POST /down\n$::Alert") x 9, "GET /own-app"]
--- more_headers eval
[::v1(aud => 'api://itsm-gateway-evil'),
 ::v1(aud => 'api://itsm-gatewa'),
 ::v2(aud => '9f3b1c2d-aaaa-4bbb-8ccc-123456789abcd'),
 ::v1(appid => substr($::AppId, 0, -1)),
 ::v1(appid => $::AppId . 'a'),
 ::v2(azp => $::AppId . '0'),
 ::v1(roles => ['ActionGroupsSecureWebhoo']),
 ::v1(roles => ['ActionGroupsSecureWebhookX']),
 ::v1(roles => ['actiongroupssecurewebhook']),
 ::v1(appid => '0AAAAAAA-1111-2222-3333-44444444444')]
--- error_code eval: [401, 401, 401, 403, 403, 403, 403, 403, 403, 403]
--- response_body_like eval
[('"token_invalid".*audience') x 3, ('"token_forbidden".*another application') x 3,
 ('"token_forbidden".*required role') x 3, '"token_forbidden".*another application']
