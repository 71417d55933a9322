# examples/teams/ against the contract mock of a Microsoft Teams Workflows
# webhook (t/lib/ItsmPreset.pm, %Contract; the Zabbix msteams-workflow
# media type): the preset's own connector, map and templates, embedded as
# they are.  The mock checks the workflow URL's query (its
# "sig" is the credential), logs each card and answers as a workflow does:
# 202 Accepted with an empty body; errors in Azure Logic Apps' shape
# {"error":{"code","message"}} (the codes are Logic Apps'; the texts are
# examples): 400, 401, 404 for a deleted workflow, 429 with Retry-After,
# 502.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

sub card {
    my ($body) = @_;
    return '{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[' . $body . ']}}]}';
}

# the cards' parts: alert text only in TextRuns (never markdown); a value
# the alert does not have is the template's default, never null
sub trun { my ($text, $attrs) = @_; $attrs //= ''; qq({"type":"TextRun",$attrs"text":"$text"}) }
sub rich { '{"type":"RichTextBlock","inlines":[' . join(',', @_) . ']}' }

sub header {
    my ($style, $label, $title, $size) = @_;
    my $a = ($size ? '"size":"Medium",' : '') . '"weight":"Bolder",';
    return qq({"type":"Container","style":"$style","bleed":true,"items":[) . rich(trun($label, $a), trun($title, $a)) . ']}';
}

my $S = '"isSubtle":true,';
my $B = '"isSubtle":true,"weight":"Bolder",';

sub firing_card {
    my (%a) = @_;
    return card(join ',', header($a{style} // 'attention', 'Firing: ', $a{title}, 1),
                rich(trun($a{description})),
                rich(trun('Severity: ', $B), trun($a{severity}, $S), trun(' | Resource: ', $B), trun($a{resource}, $S),
                     trun(' | Source: ', $B), trun('generic', $S), trun(' | Alert key: ', $B), trun($a{key}, $S)),
                rich(trun('Link: ', $B), trun($a{link}, $S)));
}

sub repeat_card {
    my ($title, $severity, $description, $style) = @_;
    return card(join ',', header($style // 'attention', 'Still firing: ', $title),
                rich(trun("Seen 2 times since TIME, severity $severity.", $S)), rich(trun($description)));
}

sub resolved_card {
    my ($title, $description) = @_;
    return card(join ',', header('good', 'Resolved: ', $title), rich(trun('First seen TIME.', $S)), rich(trun($description)));
}

our $FiringCard = firing_card(title => 'Disk full on db-1', description => '/var is 98% full', severity => 'critical',
                              resource => 'db-1', key => 'disk-db1', link => '(no link)');

# alert text that is markdown for a TextBlock: bold, a link, a list; no
# severity, no resource, no description
our $Markdown = '{"key": "md-1", "title": "**bold** [x](https://evil.example)", '
              . '"link": "[Reset your password](https://evil.example)", "status": "firing"}';
our $MarkdownCard = firing_card(style => 'emphasis', title => '**bold** [x](https://evil.example)', description => '(no description)',
                                severity => 'unknown', resource => '-', key => 'md-1',
                                link => '[Reset your password](https://evil.example)');

# Teams' ~28 KB message: a 2000-character title is cut to 1000 bytes, a
# 20000-byte description to 16000, on a UTF-8 character
our $Long = '{"key": "long-1", "title": "' . ('T' x 2000) . '", "description": "' . ('d' x 15996) . '\u00e9' . ('d' x 4000) . '", '
          . '"resource": "r", "severity": "warning", "link": "https://grafana.example/d/' . ('x' x 3000) . '"}';
our $LongCard = firing_card(style => 'warning', title => ('T' x 997) . "\x{2026}", description => ('d' x 15996) . "\x{2026}",
                            severity => 'warning', resource => 'r', key => 'long-1',
                            link => 'https://grafana.example/d/' . ('x' x (1997 - length('https://grafana.example/d/'))) . "\x{2026}");
utf8::encode($LongCard);

our $Url = 'POST http://prod-00.westeurope.logic.azure.com/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke'
         . '?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK';

ItsmPreset::suite('teams', create => $FiringCard);

run_tests();

__DATA__

=== TEST 1: firing: the exact card the workflow receives, at the workflow's URL; its 202 is a success
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a green card when it resolves, a new card after that
--- lifecycle: created commented resolved created
--- itsm_log eval
"$::Url\n$::FiringCard\n"
. "$::Url\n" . ::repeat_card('Disk full on db-1', 'critical', '/var is 99% full') . "\n"
. "$::Url\n" . ::resolved_card('Disk full on db-1', '/var is 70% full') . "\n"
. "$::Url\n$::FiringCard\n"
--- no_error_log
[error]



=== TEST 3: the preset's reminder interval (1h): a repeat within it posts nothing
--- cooldown



=== TEST 4: severity -> the header's style
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 qr/^(?:POST \S+\n[^\n]*"style":"attention"[^\n]*\n){2}POST \S+\n[^\n]*"style":"warning"[^\n]*\nPOST \S+\n[^\n]*"style":"accent"[^\n]*\n(?:POST \S+\n[^\n]*"style":"emphasis"[^\n]*\n){2}\z/]



=== TEST 5: a wrong signature (401 from Logic Apps): 502 with its error
--- credential_refused eval: [qr/sig=FAKE/, 'sig=WRONG', '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}']



=== TEST 6: the workflow was deleted (404): 502 with its error
--- create_refused eval: [post => 404, '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}']



=== TEST 7: throttled (429 with Retry-After): 503 with the workflow's Retry-After
--- unavailable eval: [post => 429, '{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}', 17]



=== TEST 8: the workflow fails (502): 503 with the default Retry-After
--- unavailable eval: [post => 502, '{"error":{"code":"NoResponse","message":"The server did not receive a response from an upstream server."}}']



=== TEST 9: markdown in alert text arrives as TextRun text, which Adaptive Cards never render as markdown; missing fields are the defaults, not null; the reminder and the resolved card too
--- fired_twice_resolved eval
[$::Markdown, "$::Url\n$::MarkdownCard\n"
 . "$::Url\n" . ::repeat_card('**bold** [x](https://evil.example)', 'unknown', '(no description)', 'emphasis') . "\n"
 . "$::Url\n" . ::resolved_card('**bold** [x](https://evil.example)', '(no description)') . "\n"]
--- no_error_log
[error]



=== TEST 10: the message size: a 2000-character title is cut to 1000 bytes, a 20000-byte description to 16000 on a UTF-8 character, a 3000-byte link to 2000; each cut ends with U+2026
--- config eval: ::config(mock => "    client_body_buffer_size 64k;\n" . ::mock(log => 't10'))
--- request eval: [::req($::Long), "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, ItsmPreset::log_like("$::Url\n$::LongCard\n")]
--- no_error_log
[error]
