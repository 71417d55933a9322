# The way back of examples/source-siem (Microsoft Sentinel: the incident's
# status) and examples/source-azure (Azure Monitor: the alert's state,
# Alerts Management "changestate"), embedded as they are
# (t/lib/ItsmPreset.pm), RT's contract mock of t/406 as the ITSM, and a
# mock of Azure Resource Manager built from the documented API: it logs
# each request (GET /armlog: method, URL with Host, Authorization,
# Content-Type, Content-Length, then the body) and answers 200, or as ARM
# refuses: 401 (a token that expired), 404 (the incident or alert is
# gone), 429 with Retry-After.  The ticket's callbacks are what RT's scrip
# posts; whatever ARM answers, RT gets its 200 and the log has ARM's own
# words.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use ItsmSource;
use Digest::SHA qw(sha256_hex);
use Digest::MD5 ();
use ItsmJwt;
use Test::Nginx::Socket 'no_plan';

# the Azure preset's key set (its Secure Webhook location), as t/420 has it
our $Jwks = ItsmJwt::jwks('cbsrc-entra.json', ItsmJwt::jwk(ItsmJwt::key('cbsrc-azure', 'rsa'), 'entra-1', use => 'sig'));

our $Tok = 'itsmcb_test-token-of-rt-for-the-presets-way-back-00';
our $Hash = sha256_hex($Tok);

our $Sub = 'd0cfe6b2-9ac0-4464-9919-dccaee2e48c0';
our $Incident = "http://management.azure.com/subscriptions/$Sub/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5?api-version=2024-03-01";
our $Alert = 'http://management.azure.com/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab/changestate?api-version=2019-05-05-preview&newState=';
our $Arm = '"Bearer FAKE-arm-access-token"';

our %Err = (
    401 => q{add_header WWW-Authenticate 'Bearer authorization_uri="https://login.microsoftonline.com/t", error="invalid_token", error_description="The access token expiry UTC time is earlier than current UTC time."' always; return 401 '{"error":{"code":"ExpiredAuthenticationToken","message":"The access token expiry UTC time is earlier than current UTC time."}}';},
    404 => q{return 404 '{"error":{"code":"NotFound","message":"Incident was not found."}}';},
    429 => q{add_header Retry-After 17 always; return 429 '{"error":{"code":"TooManyRequests","message":"Rate limit exceeded."}}';},
);

sub http { my ($name) = @_;
    ItsmPreset::mock_http() . $ItsmPreset::Contract{'request-tracker'}{http}
    . q{    log_format arm escape=none '$request_method http://$http_host$request_uri "$http_authorization" $content_type $content_length\n$request_body';} . "\n"
    . ItsmPreset::http_config($name, edit => \&edit) }

sub edit { s/callback_token(\s+)sha256:[0-9a-f]{64}/callback_token$1sha256:$::Hash/; s/jwks=entra-keys\.json/jwks=$::Jwks/ }

sub config { my ($name, $answer) = @_; $answer //= q{return 200 '{"properties":{}}';};
    ItsmPreset::config($name, edit => \&edit) . ItsmPreset::contract_mock('request-tracker') . <<"_EOC_" }
    location /subscriptions/ { access_log logs/arm.log arm; proxy_set_header Host \$http_host; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_arm\$request_uri; }
    location /_arm/ { $answer }
    location = /armlog { alias logs/arm.log; }
    location = /errlog { alias logs/error.log; }
_EOC_

sub cb { my ($status, $txn) = @_;
    qq{POST /itsm/callback/rt\n{"ticket": "20", "old_status": "open", "status": "$status", "transaction": "$txn"}} }

our $Siem = "POST /alerts/siem\n" . ItsmSource::payload('sentinel-incident.json');
our $Azure = "POST /alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ItsmSource::payload('azure-metric-fired.json');

# the incident as synced (New: no one owns it yet)
our $Owner = '{"objectId":null,"email":null,"userPrincipalName":null,"assignedTo":null}';

sub sentinel { my ($status, $extra) = @_; $extra //= '';
    my $body = qq{{"properties":{"title":"My incident","severity":"Medium","status":"$status",$extra"owner":$::Owner}}};
    "PUT $::Incident $::Arm application/json " . length($body) . "\n$body\n" }

# an incident comment: its id the MD5 of "rt", the ticket and RT's
# transaction, as a UUID
sub comment { my ($txn, $msg) = @_;
    my $h = Digest::MD5::md5_hex(join "\0", 'rt', '20', $txn);
    my $id = join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4), substr($h, 20);
    (my $url = $::Incident) =~ s/\?api-version/\/comments\/$id?api-version/;
    my $body = qq{{"properties":{"message":"$msg"}}};
    "PUT $url $::Arm application/json " . length($body) . "\n$body\n" }

sub changestate { my ($state) = @_; "POST $::Alert$state $::Arm  0\n\n" }

add_block_preprocessor(sub {
    my $b = shift;
    $b->set_value(more_headers => "Content-Type: application/json\nX-ITSM-Token: FAKE-siem-sync-token-FAKEFAKEFAKEFAKE\nAuthorization: Bearer $::Tok\n")
        if !defined $b->more_headers && ($b->request || $b->pipelined_requests);
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: Sentinel: acknowledged (stalled) and resolved in RT: the incident Active, then Closed (Undetermined, the ticket in the comment), title, severity and owner as last synced
--- http_config eval: ::http('source-siem')
--- config eval: ::config('source-siem')
--- request eval: [$::Siem, ::cb("stalled", 7), ::cb("resolved", 8), "GET /armlog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"rt","ticket_id":"20"/, qr/^\{"outcome":"applied","ticket":"20","key":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","status":"stalled","state":"acknowledged","key_state":"open"\}$/, qr/"key_state":"resolved"/,
 qr/^\Q${\ ::sentinel("Active")}${\ ::sentinel("Closed", q{"classification":"Undetermined","classificationComment":"Closed in Request Tracker, ticket 20 (resolved)",})}\E$/]
--- no_error_log
[error]



=== TEST 2: Sentinel: rejected (closed) in RT: Closed too
--- http_config eval: ::http('source-siem')
--- config eval: ::config('source-siem')
--- request eval: [$::Siem, ::cb("rejected", 7), "GET /armlog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/"state":"closed"/, qr/^\Q${\ ::sentinel("Closed", q{"classification":"Undetermined","classificationComment":"Closed in Request Tracker, ticket 20 (rejected)",})}\E$/]



=== TEST 3: Sentinel: ARM refuses an expired token (401): RT still gets its 200; the log has ARM's answer
--- http_config eval: ::http('source-siem')
--- config eval: ::config('source-siem', $::Err{401})
--- request eval: [$::Siem, ::cb("resolved", 7), "GET /itsm/status", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/"outcome":"applied"/, qr/"callback_sources":\{"sent":0,"skipped":0,"no_alert":0,"failed":1\}/, qr#\A(?=.*?\Qitsm callback source "sentinel": ticket "20" key "73e01a99-5cd7-4139-a149-9f2736ff2ab5" resolved: PUT answered 401: "{"error":{"code":"ExpiredAuthenticationToken","message":"The access token expiry UTC time is earlier than current UTC time."}}"\E)#s]



=== TEST 4: Sentinel: the incident is gone (404): logged, counted
--- http_config eval: ::http('source-siem')
--- config eval: ::config('source-siem', $::Err{404})
--- request eval: [$::Siem, ::cb("stalled", 7), "GET /itsm/status", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/"outcome":"applied"/, qr/"callback_sources":\{"sent":0,"skipped":0,"no_alert":0,"failed":1\}/, qr#\A(?=.*?\Qacknowledged: PUT answered 404: "{"error":{"code":"NotFound","message":"Incident was not found."}}"\E)#s]



=== TEST 5: Azure Monitor: acknowledged, resolved, reopened in RT: changestate Acknowledged, Closed, New for the alert's id (no body)
--- http_config eval: ::http('source-azure')
--- config eval: ::config('source-azure')
--- request eval: [$::Azure, ::cb("stalled", 7), ::cb("resolved", 8), ::cb("open", 9), "GET /armlog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created","connector":"rt","ticket_id":"20"/, qr/"state":"acknowledged"/, qr/"state":"resolved"/, qr/"state":"open"/,
 qr/^\Q${\ ::changestate("Acknowledged")}${\ ::changestate("Closed")}${\ ::changestate("New")}\E$/]
--- no_error_log
[error]



=== TEST 6: Azure Monitor: ARM throttles (429, Retry-After): logged with the wait it asks for, counted, not retried
--- http_config eval: ::http('source-azure')
--- config eval: ::config('source-azure', $::Err{429})
--- request eval: [$::Azure, ::cb("resolved", 7), "GET /armlog", "GET /itsm/status", "GET /errlog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/"outcome":"applied"/, qr/^\Q${\ ::changestate("Closed")}\E$/, qr/"callback_sources":\{"sent":0,"skipped":0,"no_alert":0,"failed":1\}/, qr#\A(?=.*?\Qitsm callback source "azure": ticket "20" key "/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab" resolved: POST answered 429: "{"error":{"code":"TooManyRequests","message":"Rate limit exceeded."}}"\E)(?=.*?\Qitsm callback source "azure": the source asks to wait 17 s; the next change of ticket "20" tries again\E)#s]



=== TEST 7: Azure Monitor: a 401 of ARM
--- http_config eval: ::http('source-azure')
--- config eval: ::config('source-azure', $::Err{401})
--- request eval: [$::Azure, ::cb("stalled", 7), "GET /errlog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/"outcome":"applied"/, qr#\A(?=.*?\Qacknowledged: POST answered 401: "{"error":{"code":"ExpiredAuthenticationToken"\E)#s]




=== TEST 8: Sentinel: a comment in RT (the scrip's note) becomes one incident comment (PUT .../comments/{the event's UUID}); the scrip's retry: duplicate, nothing sent; the incident's status is not touched
--- http_config eval: ::http('source-siem')
--- config eval: ::config('source-siem')
--- request eval: [$::Siem, qq{POST /itsm/callback/rt\n{"ticket": "20", "note": "Isolated the host \\"web-1\\".", "type": "Comment", "transaction": "31", "actor": "ann"}}, qq{POST /itsm/callback/rt\n{"ticket": "20", "note": "Isolated the host \\"web-1\\".", "type": "Comment", "transaction": "31", "actor": "ann"}}, "GET /armlog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"20"/, qr/^\{"outcome":"noted","ticket":"20","key":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","state":"note"\}$/, qr/^\{"outcome":"duplicate","ticket":"20"/,
 qr/^\Q${\ ::comment(31, 'Request Tracker, ticket 20: Isolated the host \"web-1\".')}\E$/]
--- no_error_log
[error]
