# Every preset in examples/*/ (but the quickstart, a template for "make
# run"), the ITSM presets, the email presets, the universal webhook and the
# source presets (examples/source-*, an alert source into Request
# Tracker), as a whole file: rendered with only its paths, listen ports and
# upstream addresses changed (t/lib/ItsmPreset.pm, render), it passes
# "nginx -t", starts, and takes an alert: the ITSM it talks to is this
# test's server, which answers the create as the ITSM documents it.  The
# contract tests t/401-t/410 check each ITSM preset's requests in detail,
# t/411-t/415 each email preset's (examples/email-*), t/416 the universal
# webhook's, t/420-t/424 each source preset's.
#
# TEST 15 on: a create whose answer is lost, for every ticketing preset (the
# source presets file into Request Tracker).  The "ITSM" closes the
# connection without answering the create (503 to the sender); in the next
# block the preset nginx, still running with the key in doubt, meets a mock
# that answers the find: the ticket found is the key's and nothing is
# created, or none is found and the create goes out with the key's hash.
# That next copy waits for the find's settle (5 s after the loss), as the
# preset's sender would.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use ItsmAnswer;
use ItsmSig;
use ItsmBlocks;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

# the presets this file has a block for, in the order of the blocks
our @Covered = qw(jira jsm servicenow pagerduty opsgenie request-tracker redmine slack teams
                  source-alertmanager source-azure source-grafana source-datadog source-siem
                  email-sendgrid email-mailgun email-postmark email-graph email-rt universal-webhook);

is(join(' ', ItsmPreset::names()), join(' ', sort @Covered),
   'every preset in examples/ has a block here');

ItsmPreset::start($_) for @Covered;

# the source presets (examples/source-*) take their source's own payload
sub payload {
    my ($name) = @_;
    return ItsmPreset::slurp("$FindBin::Bin/payloads/$name");
}

# Grafana's signature headers for a payload, with the preset's secret
sub grafana_signed {
    ItsmSig::headers('grafana_ts', secret => 'FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE', body => $_[0],
                     ts_header => 'X-Grafana-Alerting-Signature-Timestamp') =~ s/\n\z//r;
}

# a source's payload with other keys than in TEST 10-14 (those have
# tickets), so that these alerts are new
sub fresh {
    my ($name, %map) = @_;
    my $p = payload($name) =~ s/\s+\z//r;
    for my $from (sort keys %map) {
        $p =~ s/\Q$from\E/$map{$from}/g or die "$name: no $from";
    }
    return $p;
}

our %AmKeys = (e89f0b4e228ce84f => 'f000000000000001', a95c4c431a852cd0 => 'f000000000000002',
               '67852b92253594b5' => 'f000000000000003');
our %GrafanaKeys = (c6eadffa33fcdf37 => 'f000000000000004', bc97ff14869b13e3 => 'f000000000000005');
our $AzureKey = '/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/99999999-1234-1234-1234-1234567890ab';

# every ticketing preset: the answers to two creates are lost; the next
# copy of the first finds its ticket (how the preset finds it); the
# second finds none and is created (with what; the ITSM's log of it)
our @LostAnswers = (
    ['jira',
     "asks Jira's search, which has the issue",
     "the create is sent, with the key's label",
     q~qr/\QPOST http:\/\/your-domain.atlassian.net\/rest\/api\/3\/issue\E\n\{"fields":\{[^\n]*"labels":\["alert","alert-source-generic","itsm-@{[::sha256_hex('lost-b')]}"\][^\n]*\n\z/~],
    ['jsm',
     "asks Jira's search, which has the request",
     "the request is raised, with the key's label",
     q~qr/\QPOST http:\/\/your-domain.atlassian.net\/rest\/servicedeskapi\/request\E\n\{"serviceDeskId":"1",[^\n]*"labels":\["itsm-@{[::sha256_hex('lost-b')]}"\]\}\}\n\z/~],
    ['servicenow',
     'finds the incident by correlation_id',
     "the incident is created, with the key's hash as correlation_id",
     q~qr/\QPOST http:\/\/your-instance.service-now.com\/api\/now\/table\/incident?sysparm_fields=sys_id,number,state\E\n\{[^\n]*"correlation_id":"@{[::sha256_hex('lost-b')]}",[^\n]*\n\z/~],
    ['request-tracker',
     'finds the ticket by its custom field',
     "the ticket is created, with the key's hash in its custom field",
     q~qr/\QPOST http:\/\/rt.example.com\/REST\/2.0\/ticket\E\n\{"Queue":"General",[^\n]*,"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('lost-b')]}","ITSM Configuration Item":""\}\}\n\z/~],
    ['redmine',
     'finds the issue by its custom field and description',
     "the issue is created, with the key's hash in the custom field and the description",
     q~qr/\QPOST http:\/\/redmine.example.com\/issues.json\E\n\{"issue":\{[^\n]*\\\\nITSM key: @{[::sha256_hex('lost-b')]}","custom_fields":\[\{"id":"1","value":"@{[::sha256_hex('lost-b')]}"\},\{"id":"2","value":""\}\]\}\}\n\z/~]);

our $LostAnswerBlocks = <<'_EOB_';
=== TEST #: @PRESET@: the answers to two creates are lost: 503 to each sender
--- preset: @PRESET@
--- lost



=== TEST #: @PRESET@: the next copy of the first @FOUND@: no second create
--- preset: @PRESET@
--- found



=== TEST #: @PRESET@: the second finds none: @NONE@
--- preset: @PRESET@
--- none eval: @LOG@



_EOB_

# the sources whose sender sends a token in a header, each: its payload,
# the header and its variable, its token, the answer, the ITSM's log and
# the tickets open after the alert; for the block of a lost answer, the
# payload with other ids (fresh()) and the key that makes
our %TokenSource = (
    alertmanager => {what => 'a group of three alerts becomes three tickets', file => 'alertmanager-firing.json',
                     header => 'Authorization: Bearer ', var => 'http_authorization', token => 'FAKE-alertmanager-token',
                     open => 3,
                     answer => q~qr/^\{"status":"processed","alerts":\[\{"key":"e89f0b4e228ce84f","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\},.*\]\}\n\z/~,
                     creates => q~qr{^(?:POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"HostDiskFull: [^\n]*\n){3}\z}~},
    datadog => {what => 'a Datadog monitor notification becomes a ticket', file => 'datadog-triggered.json',
                token => 'FAKE-datadog-webhook-token', key => '1234|availability-zone:us-east-1a, role:computing-node',
                subject => '\[Triggered on \{host:ip-012345\}\] Host is Down', priority => 100,
                fresh => q{'"alert_id": "1234"' => '"alert_id": "5678"', '"id": "1234567"' => '"id": "7654321"'},
                fresh_key => '5678|availability-zone:us-east-1a, role:computing-node', again => 'Datadog sends it again'},
    siem    => {what => 'a Sentinel incident synced becomes a ticket', file => 'sentinel-incident.json',
                token => 'FAKE-siem-sync-token', key => '73e01a99-5cd7-4139-a149-9f2736ff2ab5',
                subject => '\[Sentinel #3177\] My incident', priority => 50,
                fresh => q{'73e01a99-5cd7-4139-a149-9f2736ff2ab5' => '99e01a99-5cd7-4139-a149-9f2736ff2ab5'},
                fresh_key => '99e01a99-5cd7-4139-a149-9f2736ff2ab5', again => 'the playbook syncs it again'},
);

# the X-ITSM-Token sources: one alert, one ticket, its key in the answer,
# its subject and priority in the create
for my $t (grep { !$_->{answer} } values %TokenSource) {
    @$t{qw(header var open)} = ('X-ITSM-Token: ', 'http_x_itsm_token', 1);
    $t->{answer} = 'qr/^\Q{"status":"created","alerts":[{"key":"' . $t->{key}
                   . '","action":"create","outcome":"created","connector":"rt","ticket_id":"20"}]}\E\n\z/';
    $t->{creates} = 'qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"' . $t->{subject}
                    . '","Priority":"' . $t->{priority} . '",[^\n]*\n\z}';
}

# the text of a block template with @NAME@ filled from a source's entry
# in %$table (and @S@, the source's name)
sub fill {
    my ($text, $s, $table) = @_;
    my %v = (%{($table // \%TokenSource)->{$s}}, s => $s);
    return $text =~ s/\@(\w+)\@/$v{lc $1} \/\/ die "no $1 for $s"/ger;
}

# the sources that send a group of alerts: the log's tag, the payload and
# its keys made fresh, the headers of a request, and the fresh keys in the
# group's order (the find is for the first)
our %GroupSource = (
    alertmanager => {tag => 'am', file => 'alertmanager-firing.json', keys => 'AmKeys', number => 'three',
                     headers => '"Content-Type: application/json\nAuthorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKE"',
                     fresh_keys => [qw(f000000000000001 f000000000000002 f000000000000003)]},
    grafana      => {tag => 'grafana', file => 'grafana-firing.json', keys => 'GrafanaKeys', number => 'two',
                     headers => "::grafana_signed(::fresh('grafana-firing.json', %::GrafanaKeys))",
                     fresh_keys => [qw(f000000000000004 f000000000000005)]},
);

for my $g (values %GroupSource) {
    my ($first, @rest) = @{$g->{fresh_keys}};
    $g->{first} = $first;
    $g->{rest_alerts} = join '', map { qq(\\{"key":"$_",.*) } @rest;
    $g->{rest_creates} = join '', map { qq(POST [^\\n]+\\n[^\\n]*"\@{[::sha256_hex('$_')]}"\\}\\}\\n) } @rest;
}

# the answer to the group's first create is lost; the group again finds
# none for its first alert and creates them all
our $GroupLostBlocks = <<'_EOB_';
=== TEST #: source-@S@: the answer to the group's first create is lost: 503, the group ends there
--- preset: source-@S@
--- mock eval: ItsmPreset::lost('@TAG@-lost', '/REST/2.0/ticket')
--- request eval: ["POST /preset/alerts/@S@\n" . ::fresh('@FILE@', %::@KEYS@), "GET /contract"]
--- more_headers eval: [@HEADERS@, ""]
--- error_code eval: [503, 200]
--- response_body_like eval: [qr/^\{"error":"itsm_unavailable",/, qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST #: source-@S@: the group again: a find for the first alert (none found), then @NUMBER@ creates
--- preset: source-@S@
--- timeout: 20
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => '@TAG@-none', create => [201, $ItsmPreset::Second{'request-tracker'}[0]])
--- request eval: ["POST /preset/alerts/@S@\n" . ::fresh('@FILE@', %::@KEYS@), "GET /contract"]
--- more_headers eval: [@HEADERS@, ""]
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/^\{"status":"processed","alerts":\[\{"key":"@FIRST@","action":"create","outcome":"created","connector":"rt","ticket_id":"21"\},@REST_ALERTS@\]\}\n\z/,
 qr/^\Q@{[ItsmPreset::find_of('request-tracker', '@FIRST@')]}\EPOST [^\n]+\n[^\n]*"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('@FIRST@')]}"\}\}\n@REST_CREATES@\z/]



_EOB_

# each: no token, a wrong one, the right one (a ticket), then the
# contract's log and the status page
our $TokenBlock = <<'_EOB_';
=== TEST #: source-@S@: @WHAT@
--- preset: source-@S@
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => 'source-@S@')
--- request eval
[("POST /preset/alerts/@S@\n" . ::payload('@FILE@')) x 3, "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\n@HEADER@@TOKEN@",
 "Content-Type: application/json\n@HEADER@@TOKEN@-FAKEFAKEFAKEFAKE", "", ""]
--- error_code eval: [401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::refused('token_missing', 'the request carries no token (expected in $@VAR@)'),
 ::refused('token_invalid', 'the token in $@VAR@ is not one this endpoint accepts'),
 @ANSWER@,
 @CREATES@,
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open @OPEN@\n/m]



_EOB_

# the answer to a create is lost (503); the sender sends it again and the
# find has the ticket
our $LostBlocks = <<'_EOB_';
=== TEST #: source-@S@: the answer to a create is lost: 503
--- preset: source-@S@
--- mock eval: ItsmPreset::lost('@S@-lost', '/REST/2.0/ticket')
--- request eval
["POST /preset/alerts/@S@\n" . ::fresh('@FILE@', @FRESH@), "GET /contract"]
--- more_headers eval: ["Content-Type: application/json\n@HEADER@@TOKEN@-FAKEFAKEFAKEFAKE", ""]
--- error_code eval: [503, 200]
--- response_body_like eval
[ItsmAnswer::exact(ItsmAnswer::failure(error => 'itsm_unavailable', connector => 'rt', action => 'create', itsm_status => 502, itsm_error => $ItsmAnswer::NoAnswer)), qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST #: source-@S@: @AGAIN@: the find has the ticket: no second create
--- preset: source-@S@
--- timeout: 20
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => '@S@-found', search => [200, $ItsmPreset::Contract{'request-tracker'}{found}], create => [201, $ItsmPreset::Second{'request-tracker'}[0]])
--- request eval
["POST /preset/alerts/@S@\n" . ::fresh('@FILE@', @FRESH@), "GET /contract"]
--- more_headers eval: ["Content-Type: application/json\n@HEADER@@TOKEN@-FAKEFAKEFAKEFAKE", ""]
--- error_code eval: [201, 200]
--- response_body_like eval
[ItsmPreset::created('@FRESH_KEY@', 'rt', '20', 1), qr/^\Q@{[ItsmPreset::find_of('request-tracker', '@FRESH_KEY@')]}\E\z/]



_EOB_

ItsmBlocks::expand(token_alertmanager => fill($TokenBlock, 'alertmanager'),
                   token_sources => join('', map { fill($TokenBlock, $_) } qw(datadog siem)),
                   group_lost_alertmanager => fill($GroupLostBlocks, 'alertmanager', \%GroupSource),
                   group_lost_grafana => fill($GroupLostBlocks, 'grafana', \%GroupSource),
                   lost_sources => join('', map { fill($LostBlocks, $_) } qw(datadog siem)),
                   lost_answers => join('', map {
                       my %v = (PRESET => $_->[0], FOUND => $_->[1], NONE => $_->[2], LOG => $_->[3]);
                       $LostAnswerBlocks =~ s/\@(\w+)\@/$v{$1}/gr
                   } @LostAnswers));

ItsmPreset::whole_blocks();

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: jira: an alert becomes an issue, the status page answers
--- preset: jira
--- creates eval: qr{^POST http://your-domain\.atlassian\.net/rest/api/3/issue\n\{"fields":\{"project":\{"key":"OPS"\},.*"priority":\{"name":"Highest"\},"labels":\["alert","alert-source-generic","itsm-@{[::sha256_hex('disk-db1')]}"\],.*\n\z}



=== TEST 2: jsm: an alert becomes a service request
--- preset: jsm
--- creates eval: qr{^POST http://your-domain\.atlassian\.net/rest/servicedeskapi/request\n\{"serviceDeskId":"1",.*"priority":\{"name":"Highest"\},"labels":\["itsm-@{[::sha256_hex('disk-db1')]}"\]\}\}\n\z}



=== TEST 3: servicenow: an alert becomes an incident
--- preset: servicenow
--- creates eval: qr{^POST http://your-instance\.service-now\.com/api/now/table/incident\?sysparm_fields=sys_id,number,state\n\{"short_description":"Disk full on db-1",.*"impact":"1","urgency":"1",.*"correlation_id":"@{[::sha256_hex('disk-db1')]}",.*\n\z}



=== TEST 4: pagerduty: an alert becomes a PagerDuty alert
--- preset: pagerduty
--- creates eval: qr{^POST http://events\.pagerduty\.com/v2/enqueue\n\{"routing_key":"FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE","event_action":"trigger","dedup_key":"disk-db1",.*"severity":"critical",.*\n\z}



=== TEST 5: opsgenie: an alert becomes an Opsgenie alert
--- preset: opsgenie
--- creates eval: qr{^POST http://api\.opsgenie\.com/v2/alerts\n\{"message":"Disk full on db-1","alias":"disk-db1",.*"priority":"P1",.*\n\z}



=== TEST 6: request-tracker: an alert becomes a ticket
--- preset: request-tracker
--- creates eval: qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"Disk full on db-1","Priority":"100",.*,"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('disk-db1')]}","ITSM Configuration Item":""\}\}\n\z}



=== TEST 7: redmine: an alert becomes an issue
--- preset: redmine
--- creates eval: qr{^POST http://redmine\.example\.com/issues\.json\n\{"issue":\{"project_id":"1","tracker_id":"1","priority_id":"5","subject":"Disk full on db-1",.*\\nITSM key: @{[::sha256_hex('disk-db1')]}","custom_fields":\[\{"id":"1","value":"@{[::sha256_hex('disk-db1')]}"\},\{"id":"2","value":""\}\]\}\}\n\z}



=== TEST 8: slack: an alert becomes a message
--- preset: slack
--- creates eval: qr{^POST http://hooks\.slack\.com/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE\n\{"text":":red_circle: Disk full on db-1",.*\n\z}



=== TEST 9: teams: an alert becomes an Adaptive Card in the channel
--- preset: teams
--- creates eval: qr{^POST http://prod-00\.westeurope\.logic\.azure\.com/workflows/0+/triggers/manual/paths/invoke\?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1\.0&sig=FAKE\w+\n\{"type":"message","attachments":\[\{"contentType":"application/vnd\.microsoft\.card\.adaptive",.*"style":"attention",.*\n\z}



%%% token_alertmanager
=== TEST 11: source-azure: an Azure Monitor alert to the Webhook endpoint becomes a ticket
--- preset: source-azure
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => 'source-azure')
--- request eval
["POST /preset/alerts/azure\n" . ::payload('azure-metric-fired.json'),
 "POST /preset/alerts/azure?token=FAKE-azure-webhook-token\n" . ::payload('azure-metric-fired.json'),
 "POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::payload('azure-metric-fired.json'), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- error_code eval: [401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::refused('token_missing', 'the request carries no token (expected in $arg_token)'),
 ::refused('token_invalid', 'the token in $arg_token is not one this endpoint accepts'),
 qr{^\{"status":"created","alerts":\[\{"key":"/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft\.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\}\]\}\n\z},
 qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"test-metricAlertRule","Priority":"25",[^\n]*\n\z},
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open 1\n/m]



=== TEST 12: source-grafana: a signed Grafana group of two alerts becomes two tickets
--- preset: source-grafana
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => 'source-grafana')
--- request eval
["POST /preset/alerts/grafana\n" . (::payload('grafana-firing.json') =~ s/\s+\z//r), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval: [::grafana_signed(::payload('grafana-firing.json') =~ s/\s+\z//r), "", ""]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/^\{"status":"processed","alerts":\[\{"key":"c6eadffa33fcdf37","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\},\{"key":"bc97ff14869b13e3",.*\]\}\n\z/,
 qr{^(?:POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"High [^\n]*\n){2}\z},
 qr/^itsm_tickets_open 2\n/m]



%%% token_sources
%%% lost_answers
%%% group_lost_alertmanager
=== TEST 32: source-azure: the answer to a create is lost: 503
--- preset: source-azure
--- mock eval: ItsmPreset::lost('azure-lost', '/REST/2.0/ticket')
--- request eval
["POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::fresh('azure-metric-fired.json', '12345678-1234-1234-1234-1234567890ab' => '99999999-1234-1234-1234-1234567890ab'), "GET /contract"]
--- error_code eval: [503, 200]
--- response_body_like eval
[ItsmAnswer::exact(ItsmAnswer::failure(error => 'itsm_unavailable', connector => 'rt', action => 'create', itsm_status => 502, itsm_error => $ItsmAnswer::NoAnswer)), qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 33: source-azure: Azure sends it again: the find has the ticket: no second create
--- preset: source-azure
--- timeout: 20
--- mock eval: ItsmPreset::contract_mock('request-tracker', log => 'azure-found', search => [200, $ItsmPreset::Contract{'request-tracker'}{found}], create => [201, $ItsmPreset::Second{'request-tracker'}[0]])
--- request eval
["POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::fresh('azure-metric-fired.json', '12345678-1234-1234-1234-1234567890ab' => '99999999-1234-1234-1234-1234567890ab'), "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [ItsmPreset::created($::AzureKey, 'rt', '20', 1), qr/^\Q@{[ItsmPreset::find_of('request-tracker', $::AzureKey)]}\E\z/]



%%% group_lost_grafana
%%% lost_sources
=== TEST 40: email-sendgrid: an alert becomes an email through SendGrid
--- preset: email-sendgrid
--- creates eval: qr{^POST http://api\.sendgrid\.com/v3/mail/send\n\{"personalizations":\[\{"to":\[\{"email":"oncall\@example\.com"\}\]\}\],"from":\{"email":"alerts\@example\.com","name":"Alerts"\},"subject":"\[critical\] Disk full on db-1",.*\n\z}



=== TEST 41: email-mailgun: an alert becomes an email through Mailgun, as multipart fields
--- preset: email-mailgun
--- creates eval: qr{^POST http://api\.mailgun\.net/v3/mg\.example\.com/messages\n--(itsm-[0-9a-f]{32})\r\nContent-Disposition: form-data; name="from"\r\n\r\nAlerts <alerts\@mg\.example\.com>\r\n(?s:.*)name="subject"\r\n\r\n\[critical\] Disk full on db-1\r\n(?s:.*)--\1--\r\n\n\z}



=== TEST 42: email-postmark: an alert becomes an email through Postmark
--- preset: email-postmark
--- creates eval: qr{^POST http://api\.postmarkapp\.com/email\n\{"From":"Alerts <alerts\@example\.com>","To":"oncall\@example\.com","Subject":"\[critical\] Disk full on db-1",.*"MessageStream":"outbound"\}\n\z}



=== TEST 43: email-graph: an alert becomes an email from the Microsoft 365 mailbox
--- preset: email-graph
--- creates eval: qr{^POST http://graph\.microsoft\.com/v1\.0/users/alerts\@example\.com/sendMail\n\{"message":\{"subject":"\[critical\] Disk full on db-1",.*"saveToSentItems":false\}\n\z}



=== TEST 44: email-rt: an alert becomes an email to Request Tracker's mail gateway, with the message the module writes
--- preset: email-rt
--- creates eval: qr{^POST http://rt\.example\.com/REST/1\.0/NoAuth/mail-gateway\n--(itsm-[0-9a-f]{32})\r\nContent-Disposition: form-data; name="queue"\r\n\r\nGeneral\r\n(?s:.*)name="message"\r\n\r\nFrom: alerts\@example\.com\r\nTo: rt\@rt\.example\.com\r\nSubject: \[critical\] Disk full on db-1\r\n(?s:.*)--\1--\r\n\n\z}



=== TEST 45: universal-webhook: an alert becomes an event at your receiver, every placeholder filled
--- preset: universal-webhook
--- creates eval: qr{^POST http://hooks\.example\.com/itsm/events\?event=create\n\{"connector":"webhook","key":"disk-db1","correlation_key":"disk-db1","correlation_key_sha256":"@{[::sha256_hex('disk-db1')]}","source":"generic","status":"firing","severity":"critical",.*"ticket_id":"","occurrences":1,.*"environment":"production"\}\n\z}
