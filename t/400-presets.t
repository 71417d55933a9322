# Every preset in examples/*/ (but the quickstart, a template for "make
# run"), the ITSM presets and the source presets (examples/source-*, an
# alert source into Request Tracker), as a whole file: rendered with only its paths, listen ports and
# upstream addresses changed (t/lib/ItsmPreset.pm, render), it passes
# "nginx -t", starts, and takes an alert: the ITSM it talks to is this
# test's server, which answers the create as the ITSM documents it.  The
# contract tests t/401-t/410 check each ITSM preset's requests in detail,
# t/420-t/424 each source preset's.
#
# TEST 15 on: a create whose answer is lost, for every ticketing preset (the
# source presets file into Request Tracker).  The "ITSM" closes the
# connection without answering the create (503 to the sender); in the next
# block the preset nginx, still running with the key in doubt, meets a mock
# that answers the find: the ticket found is the key's and nothing is
# created, or none is found and the create goes out with the key's hash.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

# the presets this file has a block for, in the order of the blocks
our @Covered = qw(jira jsm servicenow pagerduty opsgenie request-tracker redmine slack teams
                  source-alertmanager source-azure source-grafana source-datadog source-siem);

my $Nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @Modules = grep { length } split /\s+/, ($ENV{TEST_NGINX_LOAD_MODULES} // '');
my %Pid;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub listening {
    my ($port) = @_;
    for (1 .. 100) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                          Timeout => 1);
        sleep 0.05;
    }
    return 0;
}

sub start_preset {
    my ($name) = @_;
    my $dir = tempdir("itsm-preset-$name-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;     # the workers' user reaches the store in it
    my ($alerts, $replay) = (free_port(), free_port());

    my $conf = ItsmPreset::render($name, dir => $dir, module => \@Modules,
                                  upstream => '127.0.0.1:' . server_port(),
                                  ports => {8080 => $alerts, 8089 => $replay});
    my @cmd = ($Nginx, '-p', "$dir/", '-c', $conf, '-e', "$dir/logs/error.log");

    my $out = qx{@cmd -t 2>&1};
    ok($? == 0, "examples/$name/nginx.conf: nginx -t") or diag($out);

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', "$dir/logs/stdout.log");
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd, '-g', 'daemon off;') or POSIX::_exit(127);
    }
    $Pid{$name} = $pid;

    ok(listening($alerts), "examples/$name/nginx.conf: nginx starts with it")
        or diag(ItsmPreset::slurp("$dir/logs/error.log"));

    (my $var = uc "TEST_NGINX_PRESET_PORT_$name") =~ tr/-/_/;
    $ENV{$var} = $alerts;
}

END {
    for my $pid (values %Pid) {
        kill 'QUIT', $pid;
    }
    for my $pid (values %Pid) {
        for (1 .. 100) {
            last if waitpid($pid, WNOHANG) != 0;
            sleep 0.05;
        }
        kill 'KILL', $pid if kill 0, $pid;
    }
}

is(join(' ', ItsmPreset::names()), join(' ', sort @Covered),
   'every preset in examples/ has a block here');

start_preset($_) for @Covered;

sub alert { "POST /preset/alerts/generic\n"
            . '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "status": "firing"}' }

# the source presets (examples/source-*) take their source's own payload
sub payload {
    my ($name) = @_;
    return ItsmPreset::slurp("$FindBin::Bin/payloads/$name");
}

# Grafana's signature headers for a payload, with the preset's secret
sub grafana_signed {
    my ($body) = @_;
    require Digest::SHA;
    my $ts = time();
    return "Content-Type: application/json\nX-Grafana-Alerting-Signature-Timestamp: $ts\n"
         . 'X-Grafana-Alerting-Signature: '
         . Digest::SHA::hmac_sha256_hex("$ts:$body", 'FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE');
}

# a whole answer, exactly, with its final newline
sub exact { my $s = shift; return qr/^\Q$s\E\n\z/ }

# an RT mock for the source presets, whose ITSM is Request Tracker
sub rt_mock {
    ItsmPreset::mock(log => $_[0], prefix => '/REST/2.0/',
        routes => [['POST', '/REST/2.0/ticket', 201, '{"id":"20","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20"}']])
}

# ---- a create whose answer is lost, then the find (TEST 15 on) ----------

our $Found = 'an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM';

# a generic alert with a key of its own (TEST 1-9 used disk-db1)
sub alert_key { "POST /preset/alerts/generic\n"
                . qq{{"key": "$_[0]", "title": "Disk full on db-1", "severity": "critical", "status": "firing"}} }

# The ITSM takes the create and closes the connection without an answer
# (it may have made the ticket): the request is logged (its body is never
# read, so the log has none) and the preset gets no answer at all.
sub lost {
    my ($tag, $path) = @_;
    return "location = $path { access_log logs/contract-$tag.log contract; return 444; }\n"
         . "location = /contract { default_type text/plain; alias logs/contract-$tag.log; }\n";
}

# what the sender gets for a create without an answer
sub no_answer {
    exact(qq{{"error":"itsm_unavailable","connector":"$_[0]","action":"create","itsm_status":502,"itsm_error":"no answer from the ITSM: the connection was refused, reset or timed out (see the error log)"}});
}

sub created {
    my ($key, $connector, $ticket, $found) = @_;
    my $reason = $found ? qq{,"reason":"$Found"} : '';
    exact(qq{{"status":"created","alerts":[{"key":"$key","action":"create","outcome":"created","connector":"$connector","ticket_id":"$ticket"$reason}]}});
}

# the find requests each ITSM receives for a key, exactly
sub jql_find {
    my $h = sha256_hex($_[0]);
    "GET http://your-domain.atlassian.net/rest/api/3/search/jql?jql=labels%20%3D%20%22itsm-$h%22%20AND%20statusCategory%20%21%3D%20Done%20ORDER%20BY%20created%20DESC&fields=key&maxResults=1\n\n";
}

sub snow_find {
    my $h = sha256_hex($_[0]);
    "GET http://your-instance.service-now.com/api/now/table/incident?sysparm_query=correlation_id%3D$h%5Eactive%3Dtrue%5EORDERBYDESCsys_created_on&sysparm_fields=sys_id&sysparm_limit=1\n\n";
}

sub rt_find {
    my $h = sha256_hex($_[0]);
    "GET http://rt.example.com/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27$h%27%20AND%20Status%3D%27__Active__%27&orderby=Created&order=DESC&per_page=1\n\n";
}

sub redmine_find {
    my $h = sha256_hex($_[0]);
    "GET http://redmine.example.com/issues.json?cf_1=$h&description=~$h&status_id=open&sort=id:desc&limit=1\n\n";
}

# the search answers, as each API shapes them
our $JiraFound = '{"issues":[{"expand":"operations,versionedRepresentations,editmeta,changelog,renderedFields","id":"10000","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000","key":"OPS-17"}],"isLast":true}';
our $JiraNone = '{"issues":[],"isLast":true}';
our $SnowFound = '{"result":[{"sys_id":"9d385017c611228701d22104cc95c371"}]}';
our $SnowNone = '{"result":[]}';
our $RtFound = '{"total":1,"count":1,"page":1,"pages":1,"per_page":1,"items":[{"type":"ticket","id":"20","_url":"https://rt.example.com/REST/2.0/ticket/20"}]}';
our $RtNone = '{"total":0,"count":0,"page":1,"pages":0,"per_page":1,"items":[]}';
our $RedmineFound = '{"issues":[{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New","is_closed":false},"subject":"Disk full on db-1"}],"total_count":1,"offset":0,"limit":1}';
our $RedmineNone = '{"issues":[],"total_count":0,"offset":0,"limit":1}';

# an RT mock that answers the find and the create
sub rt_find_mock {
    my ($tag, $search, $ticket) = @_;
    ItsmPreset::mock(log => $tag, prefix => '/REST/2.0/',
        routes => [['GET', '/REST/2.0/tickets', 200, $search],
                   ['POST', '/REST/2.0/ticket', 201, qq{{"id":"$ticket","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/$ticket"}}]]);
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

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: jira: an alert becomes an issue, the status page answers
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JIRA/; }'
. ItsmPreset::mock(log => 'jira', prefix => '/rest/',
      routes => [['POST', '/rest/api/3/issue', 201, '{"id":"10000","key":"OPS-17","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"jira","ticket_id":"OPS-17"}]}\E\n\z/,
 qr{^POST http://your-domain\.atlassian\.net/rest/api/3/issue\n\{"fields":\{"project":\{"key":"OPS"\},.*"priority":\{"name":"Highest"\},"labels":\["alert","alert-source-generic","itsm-@{[::sha256_hex('disk-db1')]}"\],.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 2: jsm: an alert becomes a service request
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JSM/; }'
. ItsmPreset::mock(log => 'jsm', prefix => '/rest/',
      routes => [['POST', '/rest/servicedeskapi/request', 201, '{"issueId":"10010","issueKey":"ITS-42","requestTypeId":"10","serviceDeskId":"1","currentStatus":{"status":"Waiting for support","statusCategory":"NEW"}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"jsm","ticket_id":"ITS-42"}]}\E\n\z/,
 qr{^POST http://your-domain\.atlassian\.net/rest/servicedeskapi/request\n\{"serviceDeskId":"1",.*"priority":\{"name":"Highest"\},"labels":\["itsm-@{[::sha256_hex('disk-db1')]}"\]\}\}\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 3: servicenow: an alert becomes an incident
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SERVICENOW/; }'
. ItsmPreset::mock(log => 'servicenow', prefix => '/api/now/',
      routes => [['POST', '/api/now/table/incident', 201, '{"result":{"sys_id":"9d385017c611228701d22104cc95c371","number":"INC0010002","state":"1"}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"servicenow","ticket_id":"9d385017c611228701d22104cc95c371"}]}\E\n\z/,
 qr{^POST http://your-instance\.service-now\.com/api/now/table/incident\?sysparm_fields=sys_id,number,state\n\{"short_description":"Disk full on db-1",.*"impact":"1","urgency":"1",.*"correlation_id":"@{[::sha256_hex('disk-db1')]}",.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 4: pagerduty: an alert becomes a PagerDuty alert
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_PAGERDUTY/; }'
. ItsmPreset::mock(log => 'pagerduty', prefix => '/v2/',
      routes => [['POST', '/v2/enqueue', 202, '{"status":"success","message":"Event processed","dedup_key":"disk-db1"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"pagerduty","ticket_id":"disk-db1"}]}\E\n\z/,
 qr{^POST http://events\.pagerduty\.com/v2/enqueue\n\{"routing_key":"FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE","event_action":"trigger","dedup_key":"disk-db1",.*"severity":"critical",.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 5: opsgenie: an alert becomes an Opsgenie alert
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_OPSGENIE/; }'
. ItsmPreset::mock(log => 'opsgenie', prefix => '/v2/',
      routes => [['POST', '/v2/alerts', 202, '{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"opsgenie"}]}\E\n\z/,
 qr{^POST http://api\.opsgenie\.com/v2/alerts\n\{"message":"Disk full on db-1","alias":"disk-db1",.*"priority":"P1",.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 6: request-tracker: an alert becomes a ticket
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REQUEST_TRACKER/; }'
. ItsmPreset::mock(log => 'rt', prefix => '/REST/2.0/',
      routes => [['POST', '/REST/2.0/ticket', 201, '{"id":"20","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"rt","ticket_id":"20"}]}\E\n\z/,
 qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"Disk full on db-1","Priority":"100",.*,"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('disk-db1')]}"\}\}\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 7: redmine: an alert becomes an issue
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REDMINE/; }'
. ItsmPreset::mock(log => 'redmine', prefix => '/issues',
      routes => [['POST', '/issues\.json', 201, '{"issue":{"id":123,"project":{"id":1,"name":"Ops"},"status":{"id":1,"name":"New"}}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"redmine","ticket_id":"123"}]}\E\n\z/,
 qr{^POST http://redmine\.example\.com/issues\.json\n\{"issue":\{"project_id":"1","tracker_id":"1","priority_id":"5","subject":"Disk full on db-1",.*\\nITSM key: @{[::sha256_hex('disk-db1')]}","custom_fields":\[\{"id":"1","value":"@{[::sha256_hex('disk-db1')]}"\}\]\}\}\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 8: slack: an alert becomes a message
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SLACK/; }'
. ItsmPreset::mock(log => 'slack', prefix => '/services/',
      routes => [['POST', '/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE', 200, 'ok']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"slack"}]}\E\n\z/,
 qr{^POST http://hooks\.slack\.com/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE\n\{"text":":red_circle: Disk full on db-1",.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 9: teams: an alert becomes an Adaptive Card in the channel
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_TEAMS/; }'
. ItsmPreset::mock(log => 'teams', prefix => '/workflows/',
      routes => [['POST', '/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke', 202, '']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\Q{"status":"created","alerts":[{"key":"disk-db1","action":"create","outcome":"created","connector":"teams"}]}\E\n\z/,
 qr{^POST http://prod-00\.westeurope\.logic\.azure\.com/workflows/0+/triggers/manual/paths/invoke\?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1\.0&sig=FAKE\w+\n\{"type":"message","attachments":\[\{"contentType":"application/vnd\.microsoft\.card\.adaptive",.*"style":"attention",.*\n\z},
 qr/^itsm_tickets_open 1\n/m]



=== TEST 10: source-alertmanager: a group of three alerts becomes three tickets
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_ALERTMANAGER/; }'
. ::rt_mock('source-alertmanager')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[("POST /preset/alerts/alertmanager\n" . ::payload('alertmanager-firing.json')) x 3, "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nAuthorization: Bearer FAKE-alertmanager-token",
 "Content-Type: application/json\nAuthorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKE", "", ""]
--- error_code eval
[401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::exact(q{{"error":"token_missing","message":"the request carries no token (expected in $http_authorization)"}}),
 ::exact(q{{"error":"token_invalid","message":"the token in $http_authorization is not one this endpoint accepts"}}),
 qr/^\{"status":"processed","alerts":\[\{"key":"e89f0b4e228ce84f","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\},.*\]\}\n\z/,
 qr{^(?:POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"HostDiskFull: [^\n]*\n){3}\z},
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open 3\n/m]



=== TEST 11: source-azure: an Azure Monitor alert to the Webhook endpoint becomes a ticket
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_AZURE/; }'
. ::rt_mock('source-azure')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/azure\n" . ::payload('azure-metric-fired.json'),
 "POST /preset/alerts/azure?token=FAKE-azure-webhook-token\n" . ::payload('azure-metric-fired.json'),
 "POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::payload('azure-metric-fired.json'), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers
Content-Type: application/json
--- error_code eval
[401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::exact(q{{"error":"token_missing","message":"the request carries no token (expected in $arg_token)"}}),
 ::exact(q{{"error":"token_invalid","message":"the token in $arg_token is not one this endpoint accepts"}}),
 qr{^\{"status":"created","alerts":\[\{"key":"/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft\.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\}\]\}\n\z},
 qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"test-metricAlertRule","Priority":"25",[^\n]*\n\z},
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open 1\n/m]



=== TEST 12: source-grafana: a signed Grafana group of two alerts becomes two tickets
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_GRAFANA/; }'
. ::rt_mock('source-grafana')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/grafana\n" . (::payload('grafana-firing.json') =~ s/\s+\z//r), "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval
[::grafana_signed(::payload('grafana-firing.json') =~ s/\s+\z//r), "", ""]
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/^\{"status":"processed","alerts":\[\{"key":"c6eadffa33fcdf37","action":"create","outcome":"created","connector":"rt","ticket_id":"20"\},\{"key":"bc97ff14869b13e3",.*\]\}\n\z/,
 qr{^(?:POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"High [^\n]*\n){2}\z},
 qr/^itsm_tickets_open 2\n/m]



=== TEST 13: source-datadog: a Datadog monitor notification becomes a ticket
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_DATADOG/; }'
. ::rt_mock('source-datadog')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[("POST /preset/alerts/datadog\n" . ::payload('datadog-triggered.json')) x 3, "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nX-ITSM-Token: FAKE-datadog-webhook-token",
 "Content-Type: application/json\nX-ITSM-Token: FAKE-datadog-webhook-token-FAKEFAKEFAKEFAKE", "", ""]
--- error_code eval
[401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::exact(q{{"error":"token_missing","message":"the request carries no token (expected in $http_x_itsm_token)"}}),
 ::exact(q{{"error":"token_invalid","message":"the token in $http_x_itsm_token is not one this endpoint accepts"}}),
 qr/^\Q{"status":"created","alerts":[{"key":"1234|availability-zone:us-east-1a, role:computing-node","action":"create","outcome":"created","connector":"rt","ticket_id":"20"}]}\E\n\z/,
 qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"\[Triggered on \{host:ip-012345\}\] Host is Down","Priority":"100",[^\n]*\n\z},
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open 1\n/m]



=== TEST 14: source-siem: a Sentinel incident synced becomes a ticket
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_SIEM/; }'
. ::rt_mock('source-siem')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[("POST /preset/alerts/siem\n" . ::payload('sentinel-incident.json')) x 3, "GET /contract", "GET /preset/itsm/status?format=prometheus"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nX-ITSM-Token: FAKE-siem-sync-token",
 "Content-Type: application/json\nX-ITSM-Token: FAKE-siem-sync-token-FAKEFAKEFAKEFAKE", "", ""]
--- error_code eval
[401, 401, 201, 200, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="itsm"', 'WWW-Authenticate: Bearer realm="itsm", error="invalid_token"', '', '', '']
--- response_body_like eval
[::exact(q{{"error":"token_missing","message":"the request carries no token (expected in $http_x_itsm_token)"}}),
 ::exact(q{{"error":"token_invalid","message":"the token in $http_x_itsm_token is not one this endpoint accepts"}}),
 qr/^\Q{"status":"created","alerts":[{"key":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","action":"create","outcome":"created","connector":"rt","ticket_id":"20"}]}\E\n\z/,
 qr{^POST http://rt\.example\.com/REST/2\.0/ticket\n\{"Queue":"General","Subject":"\[Sentinel #3177\] My incident","Priority":"50",[^\n]*\n\z},
 qr/^itsm_access_total\{result="token_missing"\} 1\n^itsm_access_total\{result="token_invalid"\} 1\n(?:.|\n)*^itsm_tickets_open 1\n/m]



=== TEST 15: jira: the answers to two creates are lost: 503 to each sender
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JIRA/; }'
. ::lost('jira-lost', '/rest/api/3/issue')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), ::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::no_answer('jira')) x 2, qr/^(?:POST http:\/\/your-domain\.atlassian\.net\/rest\/api\/3\/issue\n\n){2}\z/]



=== TEST 16: jira: the next copy of the first asks Jira's search, which has the issue: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JIRA/; }'
. ItsmPreset::mock(log => 'jira-found', prefix => '/rest/',
      routes => [['GET', '/rest/api/3/search/jql', 200, $::JiraFound],
                 ['POST', '/rest/api/3/issue', 201, '{"id":"10001","key":"OPS-18","self":"https://your-domain.atlassian.net/rest/api/3/issue/10001"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-a', 'jira', 'OPS-17', 1), qr/^\Q@{[::jql_find('lost-a')]}\E\z/]



=== TEST 17: jira: the second finds none: the create is sent, with the key's label
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JIRA/; }'
. ItsmPreset::mock(log => 'jira-none', prefix => '/rest/',
      routes => [['GET', '/rest/api/3/search/jql', 200, $::JiraNone],
                 ['POST', '/rest/api/3/issue', 201, '{"id":"10001","key":"OPS-18","self":"https://your-domain.atlassian.net/rest/api/3/issue/10001"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-b', 'jira', 'OPS-18'),
 qr/^\Q@{[::jql_find('lost-b')]}POST http:\/\/your-domain.atlassian.net\/rest\/api\/3\/issue\E\n\{"fields":\{[^\n]*"labels":\["alert","alert-source-generic","itsm-@{[::sha256_hex('lost-b')]}"\][^\n]*\n\z/]



=== TEST 18: jsm: the answers to two creates are lost: 503 to each sender
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JSM/; }'
. ::lost('jsm-lost', '/rest/servicedeskapi/request')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), ::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::no_answer('jsm')) x 2, qr/^(?:POST http:\/\/your-domain\.atlassian\.net\/rest\/servicedeskapi\/request\n\n){2}\z/]



=== TEST 19: jsm: the next copy of the first asks Jira's search, which has the request: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JSM/; }'
. ItsmPreset::mock(log => 'jsm-found', prefix => '/rest/',
      routes => [['GET', '/rest/api/3/search/jql', 200, $::JiraFound =~ s/OPS-17/ITS-42/r],
                 ['POST', '/rest/servicedeskapi/request', 201, '{"issueId":"10011","issueKey":"ITS-43","requestTypeId":"10","serviceDeskId":"1"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-a', 'jsm', 'ITS-42', 1), qr/^\Q@{[::jql_find('lost-a')]}\E\z/]



=== TEST 20: jsm: the second finds none: the request is raised, with the key's label
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_JSM/; }'
. ItsmPreset::mock(log => 'jsm-none', prefix => '/rest/',
      routes => [['GET', '/rest/api/3/search/jql', 200, $::JiraNone],
                 ['POST', '/rest/servicedeskapi/request', 201, '{"issueId":"10011","issueKey":"ITS-43","requestTypeId":"10","serviceDeskId":"1"}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-b', 'jsm', 'ITS-43'),
 qr/^\Q@{[::jql_find('lost-b')]}POST http:\/\/your-domain.atlassian.net\/rest\/servicedeskapi\/request\E\n\{"serviceDeskId":"1",[^\n]*"labels":\["itsm-@{[::sha256_hex('lost-b')]}"\]\}\}\n\z/]



=== TEST 21: servicenow: the answers to two creates are lost: 503 to each sender
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SERVICENOW/; }'
. ::lost('snow-lost', '/api/now/table/incident')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), ::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::no_answer('servicenow')) x 2, qr/^(?:POST http:\/\/your-instance\.service-now\.com\/api\/now\/table\/incident\?sysparm_fields=sys_id,number,state\n\n){2}\z/]



=== TEST 22: servicenow: the next copy of the first finds the incident by correlation_id: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SERVICENOW/; }'
. ItsmPreset::mock(log => 'snow-found', prefix => '/api/now/',
      routes => [['GET', '/api/now/table/incident', 200, $::SnowFound],
                 ['POST', '/api/now/table/incident', 201, '{"result":{"sys_id":"aaaa5017c611228701d22104cc95c371","number":"INC0010003","state":"1"}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-a', 'servicenow', '9d385017c611228701d22104cc95c371', 1), qr/^\Q@{[::snow_find('lost-a')]}\E\z/]



=== TEST 23: servicenow: the second finds none: the incident is created, with the key's hash as correlation_id
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SERVICENOW/; }'
. ItsmPreset::mock(log => 'snow-none', prefix => '/api/now/',
      routes => [['GET', '/api/now/table/incident', 200, $::SnowNone],
                 ['POST', '/api/now/table/incident', 201, '{"result":{"sys_id":"aaaa5017c611228701d22104cc95c371","number":"INC0010003","state":"1"}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-b', 'servicenow', 'aaaa5017c611228701d22104cc95c371'),
 qr/^\Q@{[::snow_find('lost-b')]}POST http:\/\/your-instance.service-now.com\/api\/now\/table\/incident?sysparm_fields=sys_id,number,state\E\n\{[^\n]*"correlation_id":"@{[::sha256_hex('lost-b')]}",[^\n]*\n\z/]



=== TEST 24: request-tracker: the answers to two creates are lost: 503 to each sender
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REQUEST_TRACKER/; }'
. ::lost('rt-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), ::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::no_answer('rt')) x 2, qr/^(?:POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n){2}\z/]



=== TEST 25: request-tracker: the next copy of the first finds the ticket by its custom field: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REQUEST_TRACKER/; }'
. ::rt_find_mock('rt-found', $::RtFound, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-a', 'rt', '20', 1), qr/^\Q@{[::rt_find('lost-a')]}\E\z/]



=== TEST 26: request-tracker: the second finds none: the ticket is created, with the key's hash in its custom field
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REQUEST_TRACKER/; }'
. ::rt_find_mock('rt-none', $::RtNone, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-b', 'rt', '21'),
 qr/^\Q@{[::rt_find('lost-b')]}POST http:\/\/rt.example.com\/REST\/2.0\/ticket\E\n\{"Queue":"General",[^\n]*,"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('lost-b')]}"\}\}\n\z/]



=== TEST 27: redmine: the answers to two creates are lost: 503 to each sender
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REDMINE/; }'
. ::lost('redmine-lost', '/issues.json')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), ::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(::no_answer('redmine')) x 2, qr/^(?:POST http:\/\/redmine\.example\.com\/issues\.json\n\n){2}\z/]



=== TEST 28: redmine: the next copy of the first finds the issue by its custom field and description: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REDMINE/; }'
. ItsmPreset::mock(log => 'redmine-found', prefix => '/issues',
      routes => [['GET', '/issues\.json', 200, $::RedmineFound],
                 ['POST', '/issues\.json', 201, '{"issue":{"id":124}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-a'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-a', 'redmine', '123', 1), qr/^\Q@{[::redmine_find('lost-a')]}\E\z/]



=== TEST 29: redmine: the second finds none: the issue is created, with the key's hash in the custom field and the description
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_REDMINE/; }'
. ItsmPreset::mock(log => 'redmine-none', prefix => '/issues',
      routes => [['GET', '/issues\.json', 200, $::RedmineNone],
                 ['POST', '/issues\.json', 201, '{"issue":{"id":124}}']])
--- http_config eval: ItsmPreset::mock_http()
--- request eval
[::alert_key('lost-b'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('lost-b', 'redmine', '124'),
 qr/^\Q@{[::redmine_find('lost-b')]}POST http:\/\/redmine.example.com\/issues.json\E\n\{"issue":\{[^\n]*\\nITSM key: @{[::sha256_hex('lost-b')]}","custom_fields":\[\{"id":"1","value":"@{[::sha256_hex('lost-b')]}"\}\]\}\}\n\z/]



=== TEST 30: source-alertmanager: the answer to the group's first create is lost: 503, the group ends there
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_ALERTMANAGER/; }'
. ::lost('am-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/alertmanager\n" . ::fresh('alertmanager-firing.json', %::AmKeys), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nAuthorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/^\{"error":"itsm_unavailable",/, qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 31: source-alertmanager: the group again: a find for the first alert (none found), then three creates
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_ALERTMANAGER/; }'
. ::rt_find_mock('am-none', $::RtNone, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/alertmanager\n" . ::fresh('alertmanager-firing.json', %::AmKeys), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nAuthorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"status":"processed","alerts":\[\{"key":"f000000000000001","action":"create","outcome":"created","connector":"rt","ticket_id":"21"\},\{"key":"f000000000000002",.*\{"key":"f000000000000003",.*\]\}\n\z/,
 qr/^\Q@{[::rt_find('f000000000000001')]}\EPOST [^\n]+\n[^\n]*"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('f000000000000001')]}"\}\}\nPOST [^\n]+\n[^\n]*"@{[::sha256_hex('f000000000000002')]}"\}\}\nPOST [^\n]+\n[^\n]*"@{[::sha256_hex('f000000000000003')]}"\}\}\n\z/]



=== TEST 32: source-azure: the answer to a create is lost: 503
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_AZURE/; }'
. ::lost('azure-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::fresh('azure-metric-fired.json', '12345678-1234-1234-1234-1234567890ab' => '99999999-1234-1234-1234-1234567890ab'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[503, 200]
--- response_body_like eval
[::no_answer('rt'), qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 33: source-azure: Azure sends it again: the find has the ticket: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_AZURE/; }'
. ::rt_find_mock('azure-found', $::RtFound, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/azure?token=FAKE-azure-webhook-token-FAKEFAKEFAKEFAKE\n" . ::fresh('azure-metric-fired.json', '12345678-1234-1234-1234-1234567890ab' => '99999999-1234-1234-1234-1234567890ab'), "GET /contract"]
--- more_headers
Content-Type: application/json
--- error_code eval
[201, 200]
--- response_body_like eval
[::created($::AzureKey, 'rt', '20', 1), qr/^\Q@{[::rt_find($::AzureKey)]}\E\z/]



=== TEST 34: source-grafana: the answer to the group's first create is lost: 503, the group ends there
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_GRAFANA/; }'
. ::lost('grafana-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/grafana\n" . ::fresh('grafana-firing.json', %::GrafanaKeys), "GET /contract"]
--- more_headers eval
[::grafana_signed(::fresh('grafana-firing.json', %::GrafanaKeys)), ""]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr/^\{"error":"itsm_unavailable",/, qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 35: source-grafana: the group again: a find for the first alert (none found), then two creates
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_GRAFANA/; }'
. ::rt_find_mock('grafana-none', $::RtNone, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/grafana\n" . ::fresh('grafana-firing.json', %::GrafanaKeys), "GET /contract"]
--- more_headers eval
[::grafana_signed(::fresh('grafana-firing.json', %::GrafanaKeys)), ""]
--- error_code eval
[201, 200]
--- response_body_like eval
[qr/^\{"status":"processed","alerts":\[\{"key":"f000000000000004","action":"create","outcome":"created","connector":"rt","ticket_id":"21"\},\{"key":"f000000000000005",.*\]\}\n\z/,
 qr/^\Q@{[::rt_find('f000000000000004')]}\EPOST [^\n]+\n[^\n]*"CustomFields":\{"ITSM Alert Key":"@{[::sha256_hex('f000000000000004')]}"\}\}\nPOST [^\n]+\n[^\n]*"@{[::sha256_hex('f000000000000005')]}"\}\}\n\z/]



=== TEST 36: source-datadog: the answer to a create is lost: 503
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_DATADOG/; }'
. ::lost('datadog-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/datadog\n" . ::fresh('datadog-triggered.json', '"alert_id": "1234"' => '"alert_id": "5678"', '"id": "1234567"' => '"id": "7654321"'), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nX-ITSM-Token: FAKE-datadog-webhook-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[503, 200]
--- response_body_like eval
[::no_answer('rt'), qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 37: source-datadog: Datadog sends it again: the find has the ticket: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_DATADOG/; }'
. ::rt_find_mock('datadog-found', $::RtFound, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/datadog\n" . ::fresh('datadog-triggered.json', '"alert_id": "1234"' => '"alert_id": "5678"', '"id": "1234567"' => '"id": "7654321"'), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nX-ITSM-Token: FAKE-datadog-webhook-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('5678|availability-zone:us-east-1a, role:computing-node', 'rt', '20', 1),
 qr/^\Q@{[::rt_find('5678|availability-zone:us-east-1a, role:computing-node')]}\E\z/]



=== TEST 38: source-siem: the answer to a create is lost: 503
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_SIEM/; }'
. ::lost('siem-lost', '/REST/2.0/ticket')
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/siem\n" . ::fresh('sentinel-incident.json', '73e01a99-5cd7-4139-a149-9f2736ff2ab5' => '99e01a99-5cd7-4139-a149-9f2736ff2ab5'), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nX-ITSM-Token: FAKE-siem-sync-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[503, 200]
--- response_body_like eval
[::no_answer('rt'), qr/^POST http:\/\/rt\.example\.com\/REST\/2\.0\/ticket\n\n\z/]



=== TEST 39: source-siem: the playbook syncs it again: the find has the ticket: no second create
--- config eval
'location /preset/ { proxy_pass http://127.0.0.1:$TEST_NGINX_PRESET_PORT_SOURCE_SIEM/; }'
. ::rt_find_mock('siem-found', $::RtFound, 21)
--- http_config eval: ItsmPreset::mock_http()
--- request eval
["POST /preset/alerts/siem\n" . ::fresh('sentinel-incident.json', '73e01a99-5cd7-4139-a149-9f2736ff2ab5' => '99e01a99-5cd7-4139-a149-9f2736ff2ab5'), "GET /contract"]
--- more_headers eval
["Content-Type: application/json\nX-ITSM-Token: FAKE-siem-sync-token-FAKEFAKEFAKEFAKE", ""]
--- error_code eval
[201, 200]
--- response_body_like eval
[::created('99e01a99-5cd7-4139-a149-9f2736ff2ab5', 'rt', '20', 1), qr/^\Q@{[::rt_find('99e01a99-5cd7-4139-a149-9f2736ff2ab5')]}\E\z/]
