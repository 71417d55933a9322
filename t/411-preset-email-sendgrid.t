# examples/email-sendgrid/ against the contract mock of SendGrid's v3 Mail
# Send API (t/lib/ItsmPreset.pm, %Contract): the preset's own connector,
# maps and templates, embedded as they are.  The mock checks the API key
# (401 in SendGrid's shape otherwise) and the JSON type, logs each message
# and answers as SendGrid does: 202 Accepted with an empty body; errors as
# {"errors":[{"message","field","help"}]}: 400, 401, 403 (an unverified
# sender), 429 with Retry-After, 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmEmail;
use Test::Nginx::Socket 'no_plan';

# a message as SendGrid gets it: the template's JSON, compact
sub message {
    my ($subject, $text) = @_;
    return '{"personalizations":[{"to":[{"email":"oncall@example.com"}]}],'
         . '"from":{"email":"alerts@example.com","name":"Alerts"},'
         . qq("subject":"$subject","content":[{"type":"text/plain","value":"$text"}],)
         . '"categories":["itsm-alert"]}';
}

our $Wrong = '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}';

ItsmEmail::json_suite('email-sendgrid', "POST http://api.sendgrid.com/v3/mail/send", \&message, 'subject');

run_tests();

__DATA__

=== TEST 1: firing: the exact request SendGrid receives (path, Host, the API key, the JSON type, the body); its 202 with no body is a success without a ticket id
--- exact_create



%%% json_blocks
=== TEST 5: a wrong API key (401 with SendGrid's error): 502 with SendGrid's words, no Retry-After
--- credential_refused eval: [qr/Bearer SG\.FAKE/, 'Bearer SG.WRONG', $::Wrong]



=== TEST 6: a from address that is no verified Sender Identity (403): 502 with SendGrid's words
--- create_refused eval: [send => 403, '{"errors":[{"message":"The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.","field":"from","help":"https://sendgrid.com/docs/for-developers/sending-email/sender-identity/"}]}']



=== TEST 7: a message SendGrid refuses (400): 502 with its words
--- create_refused eval: [send => 400, '{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"}]}']



=== TEST 8: rate limited (429 with Retry-After): 503 with SendGrid's Retry-After, and the connector pauses: the next alert is not sent
--- paused eval: [send => '{"errors":[{"field":null,"message":"too many requests"}]}', ::sent($::Firing_mail)]



=== TEST 9: SendGrid fails (500): 503 with the default Retry-After
--- unavailable eval: [send => 500, '{"errors":[{"field":null,"message":"internal error"}]}']



=== TEST 10: severity and title make the subject, for each severity
--- subjects eval
ItsmPreset::lines(qq{POST \\S+\\n[^\\n]*"subject":"\\[%s\\] t %s","content"[^\\n]*\\n}, map { [$_, $_] } qw(critical high warning info low bogus))
