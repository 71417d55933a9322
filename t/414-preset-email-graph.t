# examples/email-graph/ against the contract mock of Microsoft Graph's
# sendMail (t/lib/ItsmPreset.pm, %Contract): the preset's own connector,
# map and templates, embedded as they are.  The mock checks the bearer
# token (401 InvalidAuthenticationToken otherwise), logs each message and
# answers as Graph does: 202 Accepted with an empty body; errors as
# {"error":{"code","message","innerError"}}: 400, 401, 403
# ErrorAccessDenied, 404, 429 with Retry-After, 503.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmEmail;
use Test::Nginx::Socket 'no_plan';

# a message as Graph gets it: the template's JSON, compact
sub message {
    my ($subject, $text) = @_;
    return qq({"message":{"subject":"$subject","body":{"contentType":"Text","content":"$text"},)
         . '"toRecipients":[{"emailAddress":{"address":"oncall@example.com"}}],"categories":["itsm-alert"]},'
         . '"saveToSentItems":false}';
}

our $Expired = '{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid.","innerError":{"date":"2026-12-07T06:20:00","request-id":"a1b2c3d4-1111-2222-3333-444455556666","client-request-id":"a1b2c3d4-1111-2222-3333-444455556666"}}}';

ItsmEmail::json_suite('email-graph', "POST http://graph.microsoft.com/v1.0/users/alerts\@example.com/sendMail", \&message, 'subject');

run_tests();

__DATA__

=== TEST 1: firing: the exact request Graph receives (the mailbox's sendMail path, Host, the bearer token, the JSON type, the body); its 202 with no body is a success without a ticket id
--- exact_create



%%% json_blocks
=== TEST 5: an expired token (401 InvalidAuthenticationToken): 502 with Graph's words, no Retry-After
--- credential_refused eval: [qr/Bearer FAKE\./, 'Bearer EXPIRED.', $::Expired]



=== TEST 6: an app without Mail.Send, or outside the mailbox's access policy (403 ErrorAccessDenied): 502 with Graph's words
--- create_refused eval: [send => 403, '{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}']



=== TEST 7: a sending mailbox that does not exist (404): 502 with Graph's words
--- create_refused eval: [send => 404, '{"error":{"code":"ErrorInvalidUser","message":"The requested user alerts@example.com is invalid."}}']



=== TEST 8: throttled (429 with Retry-After): 503 with Graph's Retry-After, and the connector pauses: the next alert is not sent
--- paused eval: [send => '{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}', ::sent($::Firing_mail)]



=== TEST 9: Graph unavailable (503): 503 with the default Retry-After
--- unavailable eval: [send => 503, '{"error":{"code":"serviceNotAvailable","message":"Service unavailable"}}']



=== TEST 10: severity and title make the subject, for each severity
--- subjects eval
ItsmPreset::lines(qq{POST \\S+\\n[^\\n]*"subject":"\\[%s\\] t %s","body"[^\\n]*\\n}, map { [$_, $_] } qw(critical high warning info low bogus))
