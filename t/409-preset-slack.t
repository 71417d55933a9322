# examples/slack/ against the contract mock of a Slack incoming webhook
# (t/lib/ItsmPreset.pm, %Contract; Alertmanager's notify/slack): the
# preset's own connector, map and templates, embedded as they are.
# The mock logs each message and answers as Slack does: 200 with the text
# "ok"; errors as text codes (400 invalid_payload, 403 action_prohibited,
# 404 no_service, 410 channel_is_archived); 429 with Retry-After; 500.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

sub firing_body {
    my (%a) = @_;
    my $b = qq({"text":"$a{icon} $a{text}","blocks":[)
          . qq({"type":"header","text":{"type":"plain_text","emoji":true,"text":"$a{icon} $a{header}"}},)
          . qq({"type":"section","text":{"type":"plain_text","emoji":false,"text":"$a{description}"}},)
          . qq({"type":"section","fields":[)
          . qq({"type":"mrkdwn","verbatim":true,"text":"*Severity*\\n$a{severity}"},)
          . qq({"type":"mrkdwn","verbatim":true,"text":"*Resource*\\n$a{resource}"},)
          . qq({"type":"mrkdwn","verbatim":true,"text":"*Source*\\ngeneric"},)
          . qq({"type":"mrkdwn","verbatim":true,"text":"*Alert key*\\n$a{key}"}]},)
          . qq({"type":"context","elements":[{"type":"mrkdwn","verbatim":true,"text":"$a{link}"}]}]});
    return $b;
}

sub repeat_body {
    my ($text, $mrkdwn, $severity, $description) = @_;
    return qq({"text":":repeat: Still firing: $text","blocks":[)
         . qq({"type":"section","text":{"type":"mrkdwn","verbatim":true,"text":":repeat: *Still firing:* $mrkdwn"}},)
         . qq({"type":"context","elements":[{"type":"plain_text","emoji":false,"text":"Seen 2 times since TIME, severity $severity"}]},)
         . qq({"type":"section","text":{"type":"plain_text","emoji":false,"text":"$description"}}]});
}

sub resolved_body {
    my ($text, $mrkdwn, $description) = @_;
    return qq({"text":":white_check_mark: Resolved: $text","blocks":[)
         . qq({"type":"section","text":{"type":"mrkdwn","verbatim":true,"text":":white_check_mark: *Resolved:* $mrkdwn"}},)
         . qq({"type":"context","elements":[{"type":"plain_text","emoji":false,"text":"First seen TIME"}]},)
         . qq({"type":"section","text":{"type":"plain_text","emoji":false,"text":"$description"}}]});
}

our $FiringBody = firing_body(icon => ':red_circle:', text => 'Disk full on db-1', header => 'Disk full on db-1',
                              description => '/var is 98% full', severity => 'critical', resource => 'db-1',
                              key => 'disk-db1', link => '(no link)');

# alert text that is Slack markup: a mention, a link, an @user, a URL
# with & and >.  In mrkdwn it arrives escaped; in plain_text as typed.
our $Evil = '{"key": "evil-1", "title": "<!channel> disk & <https://evil.example|click>", "severity": "critical", '
          . '"description": "*bold* <!here> & <https://evil.example|click>", "resource": "<@U012AB3CD> db&1", '
          . '"link": "https://grafana.example/d/x?from=now-1h&to=now&var-q=a>b", "status": "firing"}';
our $EvilTitle = '&lt;!channel&gt; disk &amp; &lt;https://evil.example|click&gt;';
our $EvilDescription = '*bold* <!here> & <https://evil.example|click>';
our $EvilBody = firing_body(icon => ':red_circle:', text => $EvilTitle, header => '<!channel> disk & <https://evil.example|click>',
                            description => $EvilDescription, severity => 'critical',
                            resource => '&lt;@U012AB3CD&gt; db&amp;1', key => 'evil-1',
                            link => '<https://grafana.example/d/x?from=now-1h&amp;to=now&amp;var-q=a&gt;b|Open the alert>');

# Slack's limits: a 300-character title, a 4000-byte description, a
# resource of 500 "&" and a key of 400 "<"
our $Long = '{"key": "' . ('<' x 400) . '", "title": "' . ('T' x 300) . '", "description": "' . ('d' x 2996) . '\u00e9' . ('d' x 1000) . '", '
          . '"resource": "' . ('&' x 500) . '", "severity": "warning"}';
our $LongBody = firing_body(icon => ':large_yellow_circle:', text => 'T' x 300, header => ('T' x 125) . "\x{2026}",
                            description => ('d' x 2996) . "\x{2026}", severity => 'warning',
                            resource => ('&amp;' x 395) . "\x{2026}", key => ('&lt;' x 400),
                            link => '(no link)');
utf8::encode($LongBody);

our $Url = "POST http://hooks.slack.com/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE";

ItsmPreset::suite('slack', create => $FiringBody);

run_tests();

__DATA__

=== TEST 1: firing: the exact message the webhook receives; Slack's "ok" is a success without a ticket id
--- exact_create
--- no_error_log
[error]



=== TEST 2: the lifecycle: a reminder while it fires, a resolved message, a new firing message after that
--- lifecycle: created commented resolved created
--- itsm_log eval
"$::Url\n$::FiringBody\n"
. "$::Url\n" . ::repeat_body('Disk full on db-1', 'Disk full on db-1', 'critical', '/var is 99% full') . "\n"
. "$::Url\n" . ::resolved_body('Disk full on db-1', 'Disk full on db-1', '/var is 70% full') . "\n"
. "$::Url\n$::FiringBody\n"
--- no_error_log
[error]



=== TEST 3: the preset's reminder interval (1h): a repeat within it posts nothing
--- cooldown



=== TEST 4: severity -> emoji, in the fallback text and the header
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[(map { ::req(qq{{"key": "k-$_", "title": "t", "severity": "$_"}}) } qw(critical high warning info low bogus)),
 "GET /contract"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 200]
--- response_body_like eval
[(qr/"outcome":"created"/) x 6,
 qr/^POST \S+\n\{"text":":red_circle: t","blocks":\[\{"type":"header","text":\{"type":"plain_text","emoji":true,"text":":red_circle: t"\}[^\n]*\nPOST \S+\n\{"text":":large_orange_circle: t",[^\n]*"text":":large_orange_circle: t"\}[^\n]*\nPOST \S+\n\{"text":":large_yellow_circle: t",[^\n]*"text":":large_yellow_circle: t"\}[^\n]*\nPOST \S+\n\{"text":":large_blue_circle: t",[^\n]*"text":":large_blue_circle: t"\}[^\n]*\nPOST \S+\n\{"text":":white_circle: t",[^\n]*"text":":white_circle: t"\}[^\n]*\nPOST \S+\n\{"text":":white_circle: t",[^\n]*"text":":white_circle: t"\}[^\n]*\n\z/]



=== TEST 5: a payload Slack refuses (400 invalid_payload): 502 with Slack's code
--- create_refused eval: [post => 400, 'invalid_payload']



=== TEST 6: the channel was archived (410 channel_is_archived): 502, not retried
--- create_refused eval: [post => 410, 'channel_is_archived']



=== TEST 7: the webhook was removed (404 no_service): 502
--- create_refused eval: [post => 404, 'no_service']



=== TEST 8: rate limited (429 with Retry-After): 503 with Slack's Retry-After
--- unavailable eval: [post => 429, 'rate_limited', 3]



=== TEST 9: Slack fails (500): 503 with the default Retry-After
--- unavailable eval: [post => 500, 'internal_error']



=== TEST 10: alert text that is Slack markup: escaped in mrkdwn (the fallback text, the fields, the reminder, the resolved message, the URL of the link), as typed in plain_text (the header, the description); the link is the preset's
--- fired_twice_resolved eval
[$::Evil, "$::Url\n$::EvilBody\n"
 . "$::Url\n" . ::repeat_body($::EvilTitle, $::EvilTitle, 'critical', $::EvilDescription) . "\n"
 . "$::Url\n" . ::resolved_body($::EvilTitle, $::EvilTitle, $::EvilDescription) . "\n"]
--- no_error_log
[error]



=== TEST 11: Slack's limits: a 300-character title is cut to 128 bytes in the header (150 with the icon), a description to 3000 bytes on a UTF-8 character, a field value to 1980 bytes as sent, escapes included and never cut inside one (Slack's 2000 per field); each cut ends with U+2026
--- created_as eval: [$::Long, "$::Url\n$::LongBody\n"]
--- no_error_log
[error]



=== TEST 12: one Alertmanager delivery, two alerts: the link maps ("volatile") are evaluated for each alert, with and without a link
--- config eval: ::config(mock => ::mock(log => 't12'))
--- request eval
['POST /alerts/alertmanager
{"version": "4", "groupKey": "{}:{alertname=\"HostDiskFull\"}", "status": "firing", "receiver": "itsm", "groupLabels": {"alertname": "HostDiskFull"}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": [{"status": "firing", "labels": {"alertname": "HostDiskFull", "instance": "db-1"}, "annotations": {}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph?g0.expr=a&g0.tab=1", "fingerprint": "f1"}, {"status": "firing", "labels": {"alertname": "HostDiskFull", "instance": "db-2"}, "annotations": {}, "startsAt": "2026-11-22T05:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "f2"}]}',
 "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"key":"f1".*"key":"f2"/,
 qr/^POST \S+\n[^\n]*"text":"\*Alert key\*\\nf1"\}\]\},\{"type":"context","elements":\[\{"type":"mrkdwn","verbatim":true,"text":"<http:\/\/prometheus:9090\/graph\?g0\.expr=a&amp;g0\.tab=1\|Open the alert>"\}\]\}\]\}\nPOST \S+\n[^\n]*"text":"\*Alert key\*\\nf2"\}\]\},\{"type":"context","elements":\[\{"type":"mrkdwn","verbatim":true,"text":"\(no link\)"\}\]\}\]\}\n\z/]
--- no_error_log
[error]
