# examples/source-azure/: Azure Monitor action groups into Request Tracker,
# embedded as it is (t/lib/ItsmPreset.pm) in front of the RT contract mock
# of t/406-preset-rt.t.  The payload is Microsoft's documented metric alert
# sample (t/payloads/azure-metric-fired.json) and its Resolved
# notification; each block asserts the exact requests RT receives.
#
# /alerts/azure (Webhook): the token in the query string is required
# (itsm_token): a missing or wrong one gets the module's own 401, counted
# on the status page, and RT receives nothing.
# /alerts/azure-secure (Secure Webhook): the preset's itsm_jwt and
# itsm_jwt_preset lines as written, with the key set replaced by one made
# for the test (t/lib/ItsmJwt.pm) and tokens for the preset's placeholder
# tenant and audiences, as Entra ID issues them (v1.0 and v2.0, see
# t/131-jwt-azure.t): a valid token passes, a missing or bad one is a JSON
# 401 and a token of another application a JSON 403, and RT receives
# nothing from them.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use ItsmSource;
use ItsmJwt;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Key = ItsmJwt::key('srcex-azure', 'rsa');
our $Other = ItsmJwt::key('srcex-other', 'rsa');
our $Jwks = ItsmJwt::jwks('srcex-entra.json', ItsmJwt::jwk($Key, 'entra-1', use => 'sig'));

# the preset's placeholders
our $Tenant = '11111111-2222-4333-8444-555555555555';
our $ClientId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
our $AppId = '461e8683-5575-4561-ac7f-899cc907d62a';
our $Now = time();

our $Api = 'http://rt.example.com/REST/2.0/ticket';
our $Query = '?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE';

our $Fired = ItsmSource::payload('azure-metric-fired.json');

# the Resolved notification of the same alert instance
our $Resolved = do {
    my $json = JSON::PP->new->canonical;
    my $doc = $json->decode($Fired);
    $doc->{data}{essentials}{monitorCondition} = 'Resolved';
    $doc->{data}{essentials}{resolvedDateTime} = '2021-11-15T09:50:24.1234567Z';
    $json->encode($doc);
};

our $AlertId = '/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab';

our $Create = "POST $Api\n"
  . q({"Queue":"General","Subject":"test-metricAlertRule","Priority":"25","Content":"Alert rule description\n\nSeverity: Sev3 (info)\nResource: test-storageAccount\nTargets: /subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/Microsoft.Storage/storageAccounts/test-storageAccount\nSignal: Metric (Platform)\nFired: 2021-11-15T09:35:24.3468506Z\nLink: \nAlert id: )
  . $AlertId . q(","ContentType":"text/plain","CustomFields":{"ITSM Alert Key":")
  . sha256_hex($AlertId) . q(","ITSM Configuration Item":"test-storageAccount"}}) . "\n";

our $Resolve = "POST $Api/20/comment\n"
  . q({"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\nAlert rule description","ContentType":"text/plain","Status":"resolved"}) . "\n";

# Entra ID tokens for the preset's app registration
sub claims {
    my ($ver, %o) = @_;
    my %c = $ver eq '1.0'
        ? (aud => 'api://itsm-gateway', iss => "https://sts.windows.net/$Tenant/",
           appid => $AppId, appidacr => '2', idp => "https://sts.windows.net/$Tenant/")
        : (aud => $ClientId, iss => "https://login.microsoftonline.com/$Tenant/v2.0",
           azp => $AppId, azpacr => '2');
    %c = (%c, iat => $Now - 60, nbf => $Now - 60, exp => $Now + 3600,
          oid => 'a8d6b2c4-0000-4000-8000-000000000001', sub => 'a8d6b2c4-0000-4000-8000-000000000001',
          roles => ['ActionGroupsSecureWebhook'], tid => $Tenant, ver => $ver, %o);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return \%c;
}

sub bearer {
    my ($claims, $key) = @_;
    return "Content-Type: application/json\nAuthorization: Bearer "
           . ItsmJwt::token($key // $Key, {typ => 'JWT', alg => 'RS256', kid => 'entra-1'}, $claims);
}

# the preset's key set file is replaced by the test's
ItsmPreset::suite('source-azure', key => $AlertId, edit => sub { s/jwks=entra-keys\.json/jwks=$::Jwks/ });

run_tests();

__DATA__

=== TEST 1: Webhook: Fired creates a ticket (Sev3 is info, priority 25); Azure's retry of it sends nothing; Resolved resolves it
--- config eval: ::config(mock => ::mock(log => 't1'))
--- request eval
["POST /alerts/azure$::Query\n$::Fired", "POST /alerts/azure$::Query\n$::Fired",
 "POST /alerts/azure$::Query\n$::Resolved", "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('created', 'create', 'created', replayed => 1),
 ::answer('resolved', 'resolve', 'resolved'), ItsmPreset::log_like($::Create . $::Resolve)]
--- no_error_log
[error]



=== TEST 2: Webhook: no token, another one, or the token in a header instead of the query string: the module's JSON 401 with its Bearer challenge (itsm_token), counted on the status page, and RT receives nothing
--- token_refused eval
['$arg_token', ["POST /alerts/azure\n$::Fired", '', 'missing'],
 ["POST /alerts/azure?token=FAKE-azure-webhook-token\n$::Fired", '', 'invalid'],
 ["POST /alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKEFAKE\n$::Fired", '', 'invalid'],
 ["POST /alerts/azure\n$::Fired", 'Authorization: Bearer FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE', 'missing']]
--- no_error_log eval: [qr/\[error\]/, qr/itsm: answering 401 \w+: [^,]*FAKE-azure-webhook-token/]



=== TEST 3: Secure Webhook: a v2.0 token creates the ticket, a v1.0 token resolves it
--- config eval: ::config(mock => ::mock(log => 't3'))
--- request eval: ["POST /alerts/azure-secure\n$::Fired", "POST /alerts/azure-secure\n$::Resolved", "GET /contract"]
--- more_headers eval: [::bearer(::claims('2.0')), ::bearer(::claims('1.0')), ""]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('resolved', 'resolve', 'resolved'),
 ItsmPreset::log_like($::Create . $::Resolve)]
--- no_error_log
[error]



=== TEST 4: Secure Webhook: no token, a token signed by another key, of another tenant, expired, of another application, without the role: 401 or 403 with a JSON error; RT receives nothing
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval: [("POST /alerts/azure-secure\n$::Fired") x 6, "GET /contract"]
--- more_headers eval
["Content-Type: application/json",
 ::bearer(::claims('2.0'), $::Other),
 ::bearer(::claims('2.0', iss => 'https://login.microsoftonline.com/99999999-2222-4333-8444-555555555555/v2.0')),
 ::bearer(::claims('2.0', exp => $::Now - 3600, nbf => $::Now - 7200, iat => $::Now - 7200)),
 ::bearer(::claims('2.0', azp => '0aaaaaaa-1111-2222-3333-444444444444')),
 ::bearer(::claims('1.0', roles => ['Reader'])),
 ""]
--- error_code eval: [401, 401, 401, 401, 403, 403, 200]
--- response_headers eval
['Content-Type: application/json
WWW-Authenticate: Bearer realm="itsm"',
 'Content-Type: application/json
WWW-Authenticate: Bearer realm="itsm", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="itsm", error="insufficient_scope"',
 'WWW-Authenticate: Bearer realm="itsm", error="insufficient_scope"',
 '']
--- response_body eval
[qq({"error":"token_missing","message":"the request has no \\"Authorization: Bearer\\" token"}\n),
 qq({"error":"token_invalid","message":"the token's signature is wrong"}\n),
 qq({"error":"token_invalid","message":"the token's issuer (\\"iss\\") is not accepted here"}\n),
 qq({"error":"token_expired","message":"the token has expired (\\"exp\\")"}\n),
 qq({"error":"token_forbidden","message":"the token was issued to another application (\\"appid\\"/\\"azp\\")"}\n),
 qq({"error":"token_forbidden","message":"the token does not carry the required role (\\"roles\\")"}\n),
 ""]
