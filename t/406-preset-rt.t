# examples/request-tracker/ against the contract mock of RT 5's REST 2
# API (t/lib/ItsmPreset.pm, %Contract), built from what RT 5.0.3 answered
# on this machine (examples/quickstart/README.md, "Request Tracker notes";
# research/formats.md B6): the preset's own connector, maps and templates,
# embedded as they are.  The mock refuses what RT refuses (a wrong token:
# 401 {"message":"Unauthorized"}; a body without Content-Type
# application/json: 415), logs each request and answers with RT's shapes:
# 201 {"id":"20",...} for a ticket, 201 and a list of messages for a
# comment, 200 and a list for a PUT; 403 for a queue without the right,
# 400 for a comment on a ticket that is gone; 502/503 from RT's web server.
# t/407-preset-rt-live.t runs the same preset against a real RT.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $CreateBody = '{"Queue":"General","Subject":"Disk full on db-1","Priority":"100","Content":"/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: ","ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"' . sha256_hex('disk-db1') . '","ITSM Configuration Item":""}}';

# a create as the ITSM's log shows it, with its priority
our $Priority = 'POST \S+\n\{"Queue":"General","Subject":"t","Priority":"%s"[^\n]*\n';

ItsmPreset::suite('request-tracker', create => $CreateBody);

run_tests();

__DATA__

=== TEST 1: create: the exact request RT receives, and the ticket id read from /id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a comment on a repeat; a comment with Status resolved; a comment with Status open on a re-fire
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"POST $::Url\n$::CreateBody\n"
. "POST $::Url/20/comment\n" . '{"Content":"The alert is firing (seen 2 times since TIME, severity critical).\n/var is 99% full","ContentType":"text/plain"}' . "\n"
. "POST $::Url/20/comment\n" . '{"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n/var is 70% full","ContentType":"text/plain","Status":"resolved"}' . "\n"
. "POST $::Url/20/comment\n" . '{"Content":"The alert fired again (seen 4 times since TIME, severity critical); reopened by ngx_itsm_module.\n/var is 98% full","ContentType":"text/plain","Status":"open"}' . "\n"
--- no_error_log
[error]



=== TEST 3: the preset's cooldown (30m): a repeat within it sends nothing now
--- cooldown



=== TEST 4: on_repeat update: a PUT of subject and priority
--- update eval: ['warning', "PUT $::Url/20\n" . '{"Subject":"Disk full on db-1","Priority":"50"}' . "\n"]



=== TEST 5: severity -> priority 100, 75, 50, 25, 0; an unknown word -> 50
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval: [(qr/"outcome":"created"/) x 6, ItsmPreset::lines($::Priority, qw(100 75 50 25 0 50))]



=== TEST 6: the queue does not let the user create tickets (403): 502 with RT's message
--- create_refused eval: [create => 403, q{{"message":"No permission to create tickets in the queue 'General'"}}]



=== TEST 7: a wrong token: 401, a 502 that says so
--- config eval: ::config(header => {Authorization => '"token 1-14-wrong"'})
--- error_code: 502
--- response_body_like eval: ::error("itsm_rejected", "create", 401, '{"message":"Unauthorized"}')



=== TEST 8: the ticket is gone: RT answers a comment with 400 "Message could not be recorded"
--- mock_cooldown_0s eval: ::mock(comment => [400, '{"message":"Message could not be recorded"}'])
--- request eval: [::req($::Firing), ::req($::Again)]
--- error_code eval: [201, 502]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::error("itsm_rejected", "comment", 400, '{"message":"Message could not be recorded"}')]



=== TEST 9: RT's web server is up, RT is not (502 HTML): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(create => [502, '<html><head><title>502 Bad Gateway</title></head></html>']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval: ::error("itsm_unavailable", "create", 502, '<html><head><title>502 Bad Gateway</title></head></html>')



=== TEST 10: RT is overloaded (503 with Retry-After): 503 with RT's Retry-After
--- config eval: ::config(mock => ::mock(create => [503, 'Service Unavailable', {'Retry-After' => 10}]))
--- error_code: 503
--- response_headers
Retry-After: 10



=== TEST 11: the answer to a create is lost: RT read the exact create and closed the connection: 503, the key is in doubt
--- lost_create



=== TEST 12: ... the next copy: exactly the find RT's API expects; RT has the ticket: 201 naming it, nothing created
--- lost_find



=== TEST 13: a create's answer lost behind a gateway (504): the next copy finds the ticket, the one after comments on it; RT got one create
--- gateway_find eval
"POST $::Url/20/comment\n" . '{"Content":"The alert is firing (seen 3 times since TIME, severity critical).\n/var is 99% full","ContentType":"text/plain"}' . "\n"



=== TEST 14: the find finds no ticket: the create is sent again (each copy asks first while the doubt lasts)
--- find_none



=== TEST 15: a 4xx to a create is RT's refusal: nothing was made, the next copy creates without a find
--- config eval: ::config(mock => ::mock(log => 't15', create => [400, '{"message":"Could not create ticket. Queue not set"}'], search => [200, $::Search]))
--- request eval: [::req($::Firing), ::req($::Firing), "GET /contract"]
--- error_code eval: [502, 502, 200]
--- response_body_like eval
[(::error("itsm_rejected", "create", 400, '{"message":"Could not create ticket. Queue not set"}')) x 2,
 ItsmPreset::log_like("POST $::Url\n$::CreateBody\nPOST $::Url\n$::CreateBody\n")]
