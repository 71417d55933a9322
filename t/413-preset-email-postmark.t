# examples/email-postmark/ against the contract mock of Postmark's Email
# API (t/lib/ItsmPreset.pm, %Contract): the preset's own connector, maps
# and templates, embedded as they are.  The mock checks the server token
# (401 with ErrorCode 10 otherwise), logs each message and answers as
# Postmark does: 200 {"To",...,"ErrorCode":0,"Message":"OK"}; errors as
# {"ErrorCode","Message"}: 422 for a message it refuses, 401, 429, 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmEmail;
use Test::Nginx::Socket 'no_plan';

# a message as Postmark gets it: the template's JSON, compact
sub message {
    my ($subject, $text) = @_;
    return '{"From":"Alerts <alerts@example.com>","To":"oncall@example.com",'
         . qq("Subject":"$subject","TextBody":"$text",)
         . '"Tag":"itsm-alert","MessageStream":"outbound"}';
}

our $Wrong = '{"ErrorCode":10,"Message":"The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token."}';

ItsmEmail::json_suite('email-postmark', "POST http://api.postmarkapp.com/email", \&message, 'Subject');

run_tests();

__DATA__

=== TEST 1: firing: the exact request Postmark receives (path, Host, the server token, Accept, the JSON type, the body); its 200 with ErrorCode 0 is a success without a ticket id
--- exact_create



%%% json_blocks
=== TEST 5: a wrong server token (401, ErrorCode 10): 502 with Postmark's words, no Retry-After
--- credential_refused eval: [qr/"FAKEFAKE-FAKE/, '"WRONGFAKE-FAKE', $::Wrong]



=== TEST 6: a message Postmark refuses (422 with its ErrorCode, an unconfirmed sender signature): 502 with its words
--- create_refused eval: [send => 422, '{"ErrorCode":400,"Message":"The From address you supplied (alerts@example.com) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the From field of your messages."}']



=== TEST 7: an inactive recipient (422, ErrorCode 406): 502 with its words
--- create_refused eval: [send => 422, '{"ErrorCode":406,"Message":"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: oncall@example.com. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."}']



=== TEST 8: rate limited (429 with Retry-After): 503 with Postmark's Retry-After, and the connector pauses: the next alert is not sent
--- paused eval: [send => '{"ErrorCode":429,"Message":"Rate limit exceeded"}', ::sent($::Firing_mail)]



=== TEST 9: Postmark in maintenance (503, ErrorCode 100): 503 with the default Retry-After
--- unavailable eval: [send => 503, '{"ErrorCode":100,"Message":"Maintenance"}']



=== TEST 10: severity and title make the subject, for each severity
--- subjects eval
ItsmPreset::lines(qq{POST \\S+\\n[^\\n]*"Subject":"\\[%s\\] t %s","TextBody"[^\\n]*\\n}, map { [$_, $_] } qw(critical high warning info low bogus))
