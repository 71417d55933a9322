# examples/email-postmark/ against the contract mock of Postmark's Email
# API (t/lib/ItsmPreset.pm, %Contract): the preset's own connector, maps
# and templates, embedded as they are.  The mock checks the server token
# (401 with ErrorCode 10 otherwise), logs each message and answers as
# Postmark does: 200 {"To",...,"ErrorCode":0,"Message":"OK"}; errors as
# {"ErrorCode","Message"}: 422 for a message it refuses, 401, 429, 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

# a message as Postmark gets it: the template's JSON, compact
sub message {
    my ($subject, $text) = @_;
    return '{"From":"Alerts <alerts@example.com>","To":"oncall@example.com",'
         . qq("Subject":"$subject","TextBody":"$text",)
         . '"Tag":"itsm-alert","MessageStream":"outbound"}';
}

our $Firing_mail = message('[critical] Disk full on db-1',
                           '/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: -');
our $Repeat_mail = message('Still firing: [critical] Disk full on db-1',
                           'Still firing: seen 2 times since TIME.\n\n/var is 99% full\n\nSeverity: critical\nAlert key: disk-db1');
our $Resolved_mail = message('Resolved: [critical] Disk full on db-1',
                             'Resolved. First seen TIME.\n\n/var is 70% full\n\nSeverity: critical\nAlert key: disk-db1');

our $Evil = '{"key": "evil-1", "title": "x\"}\r\nBcc: victim@example.com\\\\", "severity": "warning", "status": "firing"}';
our $EvilMail = message('[warning] x\"}\r\nBcc: victim@example.com\\\\',
                        '(no description)\n\nSeverity: warning\nResource: -\nSource: generic\nAlert key: evil-1\nLink: -');

our $Url = "POST http://api.postmarkapp.com/email";
our $Wrong = '{"ErrorCode":10,"Message":"The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token."}';

ItsmPreset::suite('email-postmark', create => $Firing_mail);

run_tests();

__DATA__

=== TEST 1: firing: the exact request Postmark receives (path, Host, the server token, Accept, the JSON type, the body); its 200 with ErrorCode 0 is a success without a ticket id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a resolved message, a new firing message after that
--- lifecycle: created commented resolved created
--- itsm_log eval
"$::Url\n$::Firing_mail\n$::Url\n$::Repeat_mail\n$::Url\n$::Resolved_mail\n$::Url\n$::Firing_mail\n"
--- no_error_log
[error]



=== TEST 3: the preset's reminder interval (4h): a repeat within it sends nothing
--- cooldown



=== TEST 4: alert text with quotes, CR LF and a "Bcc:" stays inside the JSON Subject; a missing description and resource are the defaults
--- created_as eval: [$::Evil, "$::Url\n$::EvilMail\n"]
--- no_error_log
[error]



=== TEST 5: a wrong server token (401, ErrorCode 10): 502 with Postmark's words, no Retry-After
--- http_config eval: ::http(edit => sub { s/"FAKEFAKE-FAKE/"WRONGFAKE-FAKE/ })
--- config eval: ::config(edit => sub { s/"FAKEFAKE-FAKE/"WRONGFAKE-FAKE/ })
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 401, $::Wrong)



=== TEST 6: a message Postmark refuses (422 with its ErrorCode, an unconfirmed sender signature): 502 with its words
--- create_refused eval: [send => 422, '{"ErrorCode":400,"Message":"The From address you supplied (alerts@example.com) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the From field of your messages."}']



=== TEST 7: an inactive recipient (422, ErrorCode 406): 502 with its words
--- create_refused eval: [send => 422, '{"ErrorCode":406,"Message":"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: oncall@example.com. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."}']



=== TEST 8: rate limited (429 with Retry-After): 503 with Postmark's Retry-After, and the connector pauses: the next alert is not sent
--- config eval: ::config(mock => ::mock(log => 't8', send => [429, '{"ErrorCode":429,"Message":"Rate limit exceeded"}', {'Retry-After' => 40}]))
--- request eval: [::req($::Firing), ::req($::Firing =~ s/disk-db1/disk-db2/r), "GET /contract"]
--- error_code eval: [503, 503, 200]
--- response_headers eval: ["Retry-After: 40", "", ""]
--- response_body_like eval
[::error("itsm_unavailable", "create", 429, '{"ErrorCode":429,"Message":"Rate limit exceeded"}'),
 qr/^\{"error":"itsm_unavailable","connector":"postmark","action":"create","itsm_status":0,"itsm_error":"not sent: the connector is paused after the ITSM answered 429 \(see Retry-After\)"\}\n\z/,
 ItsmPreset::log_like("$::Url\n$::Firing_mail\n")]



=== TEST 9: Postmark in maintenance (503, ErrorCode 100): 503 with the default Retry-After
--- config eval: ::config(mock => ::mock(send => [503, '{"ErrorCode":100,"Message":"Maintenance"}']))
--- error_code: 503
--- response_headers
Retry-After: 30
--- response_body_like eval: ::error("itsm_unavailable", "create", 503, '{"ErrorCode":100,"Message":"Maintenance"}')



=== TEST 10: severity and title make the subject, for each severity
--- config eval: ::config(mock => ::mock(log => 't10'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t $_", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 ItsmPreset::lines(qq{POST \\S+\\n[^\\n]*"Subject":"\\[%s\\] t %s","TextBody"[^\\n]*\\n}, map { [$_, $_] } qw(critical high warning info low bogus))]
