# examples/teams/ against a contract mock of a Microsoft Teams Workflows
# webhook (research/formats.md B5; the Zabbix msteams-workflow media type):
# the preset's own connector, map and templates, embedded as they are
# (t/lib/ItsmPreset.pm).  The mock checks the workflow URL's query (its
# "sig" is the credential), logs each card and answers as a workflow does:
# 202 Accepted with an empty body; errors in Azure Logic Apps' shape
# {"error":{"code","message"}} (the codes are Logic Apps'; the texts are
# examples): 400, 401, 404 for a deleted workflow, 429 with Retry-After,
# 502.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $Path = '/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke';
our $Query = 'api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK';

sub mock {
    my (%over) = @_;
    ItsmPreset::mock(
        log    => $over{log} // 'teams',
        prefix => '/workflows/',
        check  => [['$args', $Query, 401, '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}'],
                   ['$http_content_type', 'application/json', 400, '{"error":{"code":"InvalidRequestContent","message":"The request content is not valid and could not be deserialized."}}']],
        routes => [['POST', $Path, @{$over{post} || [202, '']}]],
    );
}

sub http { my (%opt) = @_; ItsmPreset::mock_http() . ItsmPreset::http_config('teams', %opt) }
sub config { my (%opt) = @_; my $m = delete $opt{mock} // mock(); ItsmPreset::config('teams', %opt) . $m }

our $Firing = '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}';
our $Again = $Firing =~ s/98%/99%/r;
our $Resolved = $Firing =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

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

our $Url = "POST http://prod-00.westeurope.logic.azure.com$Path?$Query";

sub req { "POST /alerts/generic\n$_[0]" }

sub answer {
    my ($status, $action, $outcome, $extra) = @_;
    $extra //= '';
    my $a = qq{{"status":"$status","alerts":[{"key":"disk-db1","action":"$action","outcome":"$outcome","connector":"teams"$extra}]}\n};
    return qr/^\Q$a\E\z/;
}

sub error {
    my ($error, $action, $status, $text) = @_;
    $text =~ s/(["\\])/\\$1/g;
    my $a = qq{{"error":"$error","connector":"teams","action":"$action","itsm_status":$status,"itsm_error":"$text"}\n};
    return qr/^\Q$a\E\z/;
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: firing: the exact card the workflow receives, at the workflow's URL; its 202 is a success
--- http_config eval: ::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1')
--- config eval: ::config()
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST $::Path?$::Query HTTP/1.1\r
Host: prod-00.westeurope.logic.azure.com\r
Content-Length: " . length($::FiringCard) . "\r
Content-Type: application/json\r
\r
$::FiringCard"
--- tcp_reply eval
"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nx-ms-workflow-run-id: 08584530000000000000000000000CU00\r\n\r\n"
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 201
--- response_body_like eval: ::answer("created", "create", "created")
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a green card when it resolves, a new card after that
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval
[::req($::Firing), ::req($::Again), ::req($::Resolved), ::req($::Firing), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200, 201, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("commented", "comment", "commented"),
 ::answer("resolved", "resolve", "resolved"),
 ::answer("created", "create", "created"),
 ItsmPreset::log_like("$::Url\n$::FiringCard\n"
     . "$::Url\n" . ::repeat_card('Disk full on db-1', 'critical', '/var is 99% full') . "\n"
     . "$::Url\n" . ::resolved_card('Disk full on db-1', '/var is 70% full') . "\n"
     . "$::Url\n$::FiringCard\n")]
--- no_error_log
[error]



=== TEST 3: the preset's reminder interval (1h): a repeat within it posts nothing
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't3'))
--- request eval
[::req($::Firing), ::req($::Again), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[::answer("created", "create", "created"),
 ::answer("cooldown", "none", "cooldown", ',"reason":"the ticket was updated within the cooldown; the latest state is sent when it ends"'),
 ItsmPreset::log_like("$::Url\n$::FiringCard\n")]



=== TEST 4: severity -> the header's style
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 qr/^(?:POST \S+\n[^\n]*"style":"attention"[^\n]*\n){2}POST \S+\n[^\n]*"style":"warning"[^\n]*\nPOST \S+\n[^\n]*"style":"accent"[^\n]*\n(?:POST \S+\n[^\n]*"style":"emphasis"[^\n]*\n){2}\z/]



=== TEST 5: a wrong signature (401 from Logic Apps): 502 with its error
--- http_config eval: ::http(edit => sub { s/sig=FAKE/sig=WRONG/ })
--- config eval: ::config(edit => sub { s/sig=FAKE/sig=WRONG/ })
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_headers
! Retry-After
--- response_body_like eval
::error("itsm_rejected", "create", 401, '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}')



=== TEST 6: the workflow was deleted (404): 502 with its error
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [404, '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 502
--- response_body_like eval
::error("itsm_rejected", "create", 404, '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found."}}')



=== TEST 7: throttled (429 with Retry-After): 503 with the workflow's Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [429, '{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}', {'Retry-After' => 17}]))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 17
--- response_body_like eval
::error("itsm_unavailable", "create", 429, '{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}')



=== TEST 8: the workflow fails (502): 503 with the default Retry-After
--- http_config eval: ::http()
--- config eval: ::config(mock => ::mock(post => [502, '{"error":{"code":"NoResponse","message":"The server did not receive a response from an upstream server."}}']))
--- request eval: ::req($::Firing)
--- more_headers
Content-Type: application/json
--- error_code: 503
--- response_headers
Retry-After: 30



=== TEST 9: markdown in alert text arrives as TextRun text, which Adaptive Cards never render as markdown; missing fields are the defaults, not null; the reminder and the resolved card too
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't9'))
--- request eval
[::req($::Markdown), ::req($::Markdown), ::req($::Markdown =~ s/"firing"/"resolved"/r), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"commented"/, qr/"outcome":"resolved"/,
 ItsmPreset::log_like("$::Url\n$::MarkdownCard\n"
     . "$::Url\n" . ::repeat_card('**bold** [x](https://evil.example)', 'unknown', '(no description)', 'emphasis') . "\n"
     . "$::Url\n" . ::resolved_card('**bold** [x](https://evil.example)', '(no description)') . "\n")]
--- no_error_log
[error]



=== TEST 10: the message size: a 2000-character title is cut to 1000 bytes, a 20000-byte description to 16000 on a UTF-8 character, a 3000-byte link to 2000; each cut ends with U+2026
--- http_config eval: ::http()
--- config eval: ::config(mock => "    client_body_buffer_size 64k;\n" . ::mock(log => 't10'))
--- request eval
[::req($::Long), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/"outcome":"created"/, ItsmPreset::log_like("$::Url\n$::LongCard\n")]
--- no_error_log
[error]
