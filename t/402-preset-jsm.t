# examples/jsm/ against the contract mock of Jira Service Management
# Cloud (t/lib/ItsmPreset.pm, %Contract): requests and internal notes
# through /rest/servicedeskapi, the resolve and reopen transitions through
# the Jira platform API.  The preset's own connector, maps and templates,
# embedded as they are.  The mock refuses what JSM refuses (no credentials
# 401, no JSON Accept 406), logs each request and answers as documented:
# 201 with the request, 201 for a comment, 204 for a transition or an
# edit; errors with JSM's own bodies ({"errorMessage", "i18nErrorMessage"}),
# 429 with Retry-After, 5xx.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $CreateBody = '{"serviceDeskId":"1","requestTypeId":"10","requestFieldValues":{"summary":"Disk full on db-1","description":"/var is 98% full\n\nSeverity: high\nResource: db-1\nSource: generic\nAlert key: disk-db1","priority":{"name":"High"},"labels":["itsm-' . sha256_hex('disk-db1') . '"]}}';
$CreateBody =~ s/\n/\\n/g;

our $Url = 'http://your-domain.atlassian.net/rest';

sub note { my ($status, $n, $text) = @_;
    qq{{"body":"The alert is $status (seen $n times since TIME, severity high).\\n$text","public":false}} }

ItsmPreset::suite('jsm', create => $CreateBody, severity => 'high');

run_tests();

__DATA__

=== TEST 1: create: the exact request JSM receives, and the issue key read from its answer
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a repeat is an internal note; a resolve a note then the resolve transition; a re-fire a note then the reopen transition
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"POST $::Url/servicedeskapi/request\n$::CreateBody\n"
. "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 2, "/var is 99% full") . "\n"
. "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("resolved", 3, "/var is 70% full") . "\n"
. "GET $::Url/api/3/issue/ITS-42/transitions\n\n"
. "POST $::Url/api/3/issue/ITS-42/transitions\n" . '{"transition":{"id":"5"}}' . "\n"
. "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 4, "/var is 98% full") . "\n"
. "GET $::Url/api/3/issue/ITS-42/transitions\n\n"
. "POST $::Url/api/3/issue/ITS-42/transitions\n" . '{"transition":{"id":"3"}}' . "\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: on_repeat update: the platform API edits summary and priority (204)
--- update eval
['critical', "PUT $::Url/api/3/issue/ITS-42\n" . '{"fields":{"summary":"Disk full on db-1","priority":{"name":"Highest"}}}' . "\n"]



=== TEST 5: the request type does not take a field: 400 with JSM's message, a 502 for the sender
--- create_refused eval: [create => 400, '{"errorMessage":"Field \'priority\' is not valid for this request type.","i18nErrorMessage":{"i18nKey":"sd.request.create.error.field.not.valid","parameters":["priority"]}}']



=== TEST 6: wrong credentials: 401, a 502 that says so
--- config eval: ::config(header => {Authorization => '"Basic d3Jvbmc6d3Jvbmc="'})
--- error_code: 502
--- response_body_like eval: ::error("itsm_rejected", "create", 401, "Client must be authenticated to access this resource.")



=== TEST 7: rate limited (429 with Retry-After): 503 with that Retry-After
--- config eval: ::config(mock => ::mock(create => [429, '{"errorMessage":"Rate limit exceeded."}', {'Retry-After' => 12}]))
--- error_code: 503
--- response_headers
Retry-After: 12
--- response_body_like eval: ::error("itsm_unavailable", "create", 429, '{"errorMessage":"Rate limit exceeded."}')



=== TEST 8: JSM fails (502 from its edge, no Retry-After): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [502, 'Bad Gateway']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval: ::error("itsm_unavailable", "create", 502, "Bad Gateway")



=== TEST 9: the note before the resolve meets 404 (the request was deleted): on_gone new, so the key forgets it and nothing more is sent
--- mock_cooldown_0s eval: ::mock(log => 't9', comment => [404, '{"errorMessage":"The request could not be found.","i18nErrorMessage":{"i18nKey":"sd.request.error.not.found","parameters":[]}}'])
--- request eval: [::req($::Firing), ::req($::Resolved), "GET /contract"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 qr/^\Q{"status":"resolved","alerts":[{"key":"disk-db1","action":"none","outcome":"resolved","connector":"jsm","reason":"the ticket no longer exists in the ITSM; the key forgot it"}]}\E\n\z/,
 qr{^POST \S+/servicedeskapi/request\n.*\nPOST \S+/servicedeskapi/request/ITS-42/comment\n.*\n\z}]



=== TEST 10: the answer to a create is lost: JSM read the exact create and closed the connection: 503, the key is in doubt
--- lost_create



=== TEST 11: ... the next copy: exactly the find Jira's search API expects; it has the request: 201 naming it, nothing created
--- lost_find



=== TEST 12: a create's answer lost behind a gateway (504): the next copy finds the request, the one after notes on it; JSM got one create
--- gateway_find eval: "POST $::Url/servicedeskapi/request/ITS-42/comment\n" . ::note("firing", 3, "/var is 99% full") . "\n"



=== TEST 13: the find finds none: the create is sent again (each copy asks first while the doubt lasts)
--- find_none
