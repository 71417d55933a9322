# examples/email-rt/ against the contract mock of Request Tracker's mail
# gateway (t/lib/ItsmPreset.pm, %Contract; RT 5.0.3's answers as t/098
# saw them): the preset's own connector, maps and "mail" line, embedded as
# they are.  The mock checks that the body is multipart/form-data with the
# module's boundary, logs each request with its Content-Type
# (t/lib/ItsmMultipart.pm: the boundary matched, the fields and the RFC
# 5322 message exact but for its Date and Message-ID) and answers as the
# gateway does: 200 "ok" and the ticket, 200 "not ok - ..." when RT
# refuses the message, which "answer_ok ok" makes a 502; 5xx.
# t/098-mail-rt.t sends a message through the real RT's gateway.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmEmail;
use MIME::Base64 qw(encode_base64);
use Test::Nginx::Socket 'no_plan';

our $Line = 'POST http://rt.example.com/REST/1.0/NoAuth/mail-gateway';

# a message as RT's gateway gets it: queue, action, SessionType, message
sub message {
    my ($subject, $body) = @_;
    return ItsmMultipart::request($Line, '',
        [queue => 'General'], [action => 'correspond'], [SessionType => 'REST'],
        [message => ItsmMultipart::mail(from => 'alerts@example.com', to => 'rt@rt.example.com',
                                        subject => $subject, body => $body)]);
}

our $Firing_mail = message('[critical] Disk full on db-1',
    "/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nFirst seen: TIME\nLink: -");
our $Resolved_mail = message('Resolved: [critical] Disk full on db-1',
    "Resolved: /var is 70% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nFirst seen: TIME\nLink: -");

ItsmEmail::multipart_suite('email-rt');

# a title that tries to add a header (Bcc) and end the headers: CR LF
# become spaces in the Subject; a title that is not ASCII: an RFC 2047
# encoded word
our $Evil = '{"key": "evil-1", "title": "x\r\nBcc: victim@example.com\r\n\r\nbody", "severity": "warning", "status": "firing"}';
our $EvilMail = message('[warning] x  Bcc: victim@example.com    body',
    "(no description)\n\nSeverity: warning\nResource: -\nSource: generic\nAlert key: evil-1\nFirst seen: TIME\nLink: -");
our $Utf8 = '{"key": "utf8-1", "title": "Disque plein \u2014 \u00e9t\u00e9", "severity": "info", "status": "firing"}';
our $Utf8Mail = message('=?UTF-8?B?' . encode_base64("[info] Disque plein \xe2\x80\x94 \xc3\xa9t\xc3\xa9", '') . '?=',
    "(no description)\n\nSeverity: info\nResource: -\nSource: generic\nAlert key: utf8-1\nFirst seen: TIME\nLink: -");

run_tests();

__DATA__

=== TEST 1: firing: the exact request the gateway receives (path, multipart with the module's boundary, the queue, action and SessionType fields, the message with From, To, the templated Subject, the body in CRLF lines); RT's "ok" is a success
--- created_sent eval: ::sent($::Firing_mail)



=== TEST 2: the lifecycle: no reminder while it fires (each message is a ticket in RT), a resolved message whose subject and body say so, a new firing message after that
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval: [(map { ::req($_) } $::Firing, $::Again, $::Resolved, $::Firing), "GET /contract"]
--- error_code eval: [201, 200, 200, 201, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('duplicate', 'none', 'duplicate', reason => 'a ticket is already open for this key'),
 ::answer('resolved', 'resolve', 'resolved'), ::answer('created', 'create', 'created'),
 ItsmMultipart::log_of($::Firing_mail, $::Resolved_mail, $::Firing_mail)]
--- no_error_log
[error]



=== TEST 3: a title with CR LF cannot add a Bcc header nor end the headers: the Subject is one line, the alert's line breaks made spaces
--- created_as eval: [$::Evil, ::sent($::EvilMail)]



=== TEST 4: a title that is not ASCII: the Subject is an RFC 2047 encoded word of it
--- created_as eval: [$::Utf8, ::sent($::Utf8Mail)]



=== TEST 5: RT refuses the sender (200 "not ok - ..."): answer_ok makes it a refusal: 502 with RT's words, no Retry-After
--- create_refused eval: [gateway => 200, "not ok - operation unsuccessful\n"]



=== TEST 6: a web server in front of RT refuses this host (403): 502 with its words
--- create_refused eval: [gateway => 403, 'Forbidden']



=== TEST 7: RT fails (500, its database gone): 503 with the default Retry-After
--- unavailable eval: [gateway => 500, 'Internal Server Error']



=== TEST 8: severity and title make the subject, for each severity
--- subjects eval
ItsmMultipart::log_of(map { ItsmMultipart::request($::Line, '', [queue => 'General'], [action => 'correspond'], [SessionType => 'REST'],
    [message => "From: [^\r]*\r\nTo: [^\r]*\r\nSubject: " . quotemeta("[$_] t $_") . "\r\n(?s:.*?)"]) }
    qw(critical high warning info low bogus))
