# examples/email-mailgun/ against the contract mock of Mailgun's Messages
# API (t/lib/ItsmPreset.pm, %Contract): the preset's own connector and
# maps, embedded as they are.  The mock checks the basic auth (401
# "Forbidden" otherwise) and that the body is multipart/form-data with the
# module's boundary (400 otherwise), logs each request with its
# Content-Type and credential (t/lib/ItsmMultipart.pm: the boundary
# matched, every other byte exact) and answers as Mailgun does: 200
# {"id","message":"Queued. Thank you."}; errors 400 and 403 {"message"},
# 401 "Forbidden", 429, 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmEmail;
use Test::Nginx::Socket 'no_plan';

our $Line = 'POST http://api.mailgun.net/v3/mg.example.com/messages';
our $Auth = 'Basic YXBpOkZBS0UtTUFJTEdVTi1BUEktS0VZ';

# a message as Mailgun gets it: the five fields in their order
sub message {
    my ($subject, $text) = @_;
    return ItsmMultipart::request($Line, $Auth,
        [from => ItsmMultipart::value('Alerts <alerts@mg.example.com>')],
        [to => ItsmMultipart::value('oncall@example.com')],
        [subject => ItsmMultipart::value($subject)],
        [text => ItsmMultipart::value($text)],
        ['o:tag' => 'itsm-alert']);
}

our ($Firing_mail, $Repeat_mail, $Resolved_mail) = map { message(@{$ItsmEmail::Mail{$_}}) } qw(firing repeat resolved);

ItsmEmail::multipart_suite('email-mailgun', create => $Firing_mail);

# a title that forges a part of its own (a boundary, a "to" field) and a
# description with CR LF: sent as they are, inside their parts, because
# the real boundary is drawn at random
our $Forged = "x\r\n--itsm-00000000000000000000000000000000\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nattacker\@evil.example";
our $Evil = '{"key": "evil-1", "title": "' . ($Forged =~ s/\r/\\r/gr =~ s/\n/\\n/gr =~ s/"/\\"/gr)
          . '", "description": "a\r\nb", "severity": "warning", "status": "firing"}';
our $EvilMail = message("[warning] $Forged", "a\r\nb\n\nSeverity: warning\nResource: -\nSource: generic\nAlert key: evil-1\nLink: -");

our $Queued = '{"id":"<20261207062000.1.FAKEFAKEFAKE@mg.example.com>","message":"Queued. Thank you."}';

run_tests();

__DATA__

=== TEST 1: firing: the exact request Mailgun receives (path, the API key as basic auth, multipart with the module's boundary, the five fields in order); its 200 is a success without a ticket id
--- created_sent eval: ::sent($::Firing_mail)



=== TEST 2: the lifecycle: a reminder while it fires, a resolved message, a new firing message after that, each with a boundary of its own
--- lifecycle: created commented resolved created
--- itsm_log eval: ::sent($::Firing_mail, $::Repeat_mail, $::Resolved_mail, $::Firing_mail)



=== TEST 3: the preset's reminder interval (4h): a repeat within it sends nothing
--- cooldown



=== TEST 4: a title that forges a boundary and a "to" field, a description with CR LF: each stays in its own part, sent as it is
--- created_as eval: [$::Evil, ::sent($::EvilMail)]



=== TEST 5: a wrong API key (401 "Forbidden"): 502 with Mailgun's word, no Retry-After
--- credential_refused eval: [qr/Basic YXBpOkZBS0U/, 'Basic YXBpOldST05H', "Forbidden"]



=== TEST 6: a domain not allowed to send (403): 502 with Mailgun's words
--- create_refused eval: [send => 403, '{"message":"Domain mg.example.com is not allowed to send: Free accounts are for test purposes only. Please upgrade or add the address to authorized recipients in Account Settings."}']



=== TEST 7: a message Mailgun refuses (400): 502 with its words
--- create_refused eval: [send => 400, '{"message":"to parameter is not a valid address. please check documentation"}']



=== TEST 8: rate limited (429 with Retry-After): 503 with Mailgun's Retry-After, and the connector pauses: the next alert is not sent
--- paused eval: [send => '{"message":"Too many requests"}', ::sent($::Firing_mail)]



=== TEST 9: Mailgun fails (500): 503 with the default Retry-After
--- unavailable eval: [send => 500, '{"message":"Internal Server Error"}']



=== TEST 10: severity and title make the subject, for each severity
--- subjects eval
ItsmMultipart::log_of(map { ItsmMultipart::request($::Line, $::Auth,
    [from => '[^\r]*'], [to => '[^\r]*'], [subject => quotemeta("[$_] t $_")], [text => '[^\r]*'], ['o:tag' => 'itsm-alert']) }
    qw(critical high warning info low bogus))
