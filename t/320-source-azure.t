# Azure Monitor, common alert schema: one payload is one alert instance.
# The payloads in t/payloads are Microsoft's documented samples
# (MicrosoftDocs/azure-docs, articles/azure-monitor/alerts/
# alerts-payload-samples.md: metric, log v1 and v2, activity log,
# ServiceHealth, ResourceHealth, cost budget) and a managed Prometheus
# alert published by cloudadministrator.net (2022-11-08).  Where a test
# needs the other half of a pair (the Fired twin of a Resolved sample), it
# is derived from the sample here, field by field.  Each alert's normalized
# fields are asserted as the ITSM receives them (t/lib/ItsmSource.pm).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;
use ItsmConf;
use JSON::PP ();

our $Sub = '/subscriptions/11111111-1111-1111-1111-111111111111';
our $Id = "$Sub/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab";
our $Workspace = "$Sub/resourcegroups/test-RG/providers/microsoft.operationalinsights/workspaces/test-logAnalyticsWorkspace";
our $Vm = "$Sub/resourcegroups/test-RG/providers/microsoft.compute/virtualmachines/test-VM";

# a sample, changed by $edit (a sub given the decoded payload)
sub derived {
    my ($name, $edit) = @_;
    my $json = JSON::PP->new->canonical;
    my $doc = $json->decode(ItsmSource::payload($name));
    $edit->($doc);
    return "POST /alerts\n" . $json->encode($doc);
}

sub post { ItsmSource::post(@_) }

our %Metric = (
    key => $Id, source => 'azure', status => 'firing',
    severity => 'info', severity_raw => 'Sev3',
    title => 'test-metricAlertRule', description => 'Alert rule description',
    resource => 'test-storageAccount',
    configuration_items => 'test-storageAccount',
    target_ids => "$Sub/resourcegroups/test-RG/providers/Microsoft.Storage/storageAccounts/test-storageAccount",
    starts_at => '2021-11-15T09:35:24.3468506Z',
);

our %Resolved = (
    key => '/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330',
    source => 'azure', status => 'firing',
    severity => 'info', severity_raw => 'Sev3', title => 'WCUS-R2-Gen2',
    resource => 'wcus-r2-gen2', configuration_items => 'wcus-r2-gen2',
    target_ids => '/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/microsoft.compute/virtualmachines/wcus-r2-gen2',
    starts_at => '2019-03-22T13:58:24.3713213Z',
);

our %Log = (
    key => $Id, source => 'azure', status => 'firing',
    severity => 'info', severity_raw => 'Sev3',
    description => 'Alert rule description',
    resource => 'test-computer', configuration_items => 'test-computer',
    target_ids => $Workspace,
);

our $Communication = ItsmSource::payload('azure-servicehealth.json') =~ /"communication":"(.*?)",\n/
    ? JSON::PP->new->allow_nonref->decode("\"$1\"") : die "no communication";

our %ServiceHealth = (
    key => 'ABC1-DEF', source => 'azure', status => 'firing',
    severity => 'low', severity_raw => 'Sev4',
    title => 'Test Action Group - Test Service Health Alert',
    description => 'Alert rule description',
    resource => '11111111-1111-1111-1111-111111111111', target_ids => $Sub,
    starts_at => '2021-11-17T05:34:48.0623172Z',
);

our %ResourceHealth = (
    key => $Vm, source => 'azure', status => 'firing',
    severity => 'low', severity_raw => 'Sev4', title => 'Rebooted by user',
    description => 'Alert rule description', resource => 'test-VM',
    configuration_items => 'test-VM', target_ids => $Vm,
    starts_at => '2021-11-16T09:54:08.9938123Z',
);

# --- created eval: [SAMPLE, {FIELDS}]: the sample creates ticket T1 for
# the key in FIELDS, and the ITSM got the create with FIELDS
ItsmConf::defaults(when => 'created',
    request => sub { [post($_[0]->created->[0]), "GET /sent"] },
    error_code => [201, 200],
    response_body => sub {
        my $f = $_[0]->created->[1];
        [ItsmSource::answer([$f->{key}, 'create', 'created', 'T1']), ItsmSource::sent([create => $f])] });

ItsmSource::defaults('itsm_source azure;');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a metric alert fires (dynamic threshold, custom properties): key alertId, Sev3 is info, the storage account its configuration item
--- created eval
['azure-metric-fired.json', {%::Metric}]
--- no_error_log
[error]



=== TEST 2: a metric alert fires, then resolves: the same alertId resolves its ticket, resolvedDateTime is its end
--- request eval
[::derived('azure-metric-resolved.json', sub {
     my $e = $_[0]{data}{essentials};
     $e->{monitorCondition} = 'Fired';
     delete $e->{resolvedDateTime};
 }),
 ::post('azure-metric-resolved.json'), "GET /sent"]
--- error_code eval: [201, 200, 200]
--- response_body eval
[ItsmSource::answer([$::Resolved{key}, 'create', 'created', 'T1']),
 ItsmSource::answer([$::Resolved{key}, 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => \%::Resolved],
                  [resolve => {%::Resolved, status => 'resolved',
                               ends_at => '2019-03-22T14:03:16.2246313Z'}])]



=== TEST 3: Sev0 to Sev4 are critical, high, warning, info, low
--- request eval
[(map { my $n = $_;
        ::derived('azure-metric-fired.json', sub {
            $_[0]{data}{essentials}{severity} = "Sev$n";
            $_[0]{data}{essentials}{alertId} = "a$n";
        }) } 0 .. 4),
 "GET /sent"]
--- error_code eval: [201, 201, 201, 201, 201, 200]
--- response_body eval
[(map { ItsmSource::answer(["a$_", 'create', 'created', 'T1']) } 0 .. 4),
 ItsmSource::sent(
    map { [create => {%::Metric, key => "a$_", severity_raw => "Sev$_",
                      severity => (qw(critical high warning info low))[$_]}] }
        0 .. 4)]



=== TEST 4: a log search alert (v1): the filtered search results are its link
--- created eval
['azure-log-v1.json', {%::Log,
    title => 'test-logAlertRule-v1-numResults',
    starts_at => '2021-11-16T15:15:58.3302205Z',
    link => 'https://portal.azure.com#@aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/source/Alerts.EmailLinks/scope/%7B%22resources%22%3A%5B%7B%22resourceId%22%3A%22%2Fsubscriptions%2F11111111-1111-1111-1111-111111111111%2FresourceGroups%2Ftest-RG%2Fproviders%2FMicrosoft.OperationalInsights%2Fworkspaces%2Ftest-logAnalyticsWorkspace%22%7D%5D%7D/q/aBcDeFgHi%2ABCDE%3D%3D/prettify/1/timespan/2021-11-15T15%3a15%3a24.0000000Z%2f2021-11-16T15%3a15%3a24.0000000Z'}]



=== TEST 5: a log search alert (v2): the link is in its condition
--- created eval
['azure-log-v2.json', {%::Log,
    title => 'test-logAlertRule-v2',
    starts_at => '2021-11-16T11:47:41.4728231Z',
    link => 'https://portal.azure.com#@aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/source/Alerts.EmailLinks/scope/%7B%22resources%22%3A%5B%7B%22resourceId%22%3A%22%2Fsubscriptions%2F11111111-1111-1111-1111-111111111111%2FresourceGroups%2Ftest-RG%2Fproviders%2FMicrosoft.OperationalInsights%2Fworkspaces%2Ftest-logAnalyticsWorkspace%22%7D%5D%7D/q/aBcDeFgHiJkLmN%2Fl35oOTZoKioEOouaBcDeFgHiJkLmN%2BaBcDeFgHiJkLmN%2BaBcDeFgHiJkLmN7HHgOCZTR0Ak%2FaBcDeFgHiJkLmN1234567890Ltcw%2FOqZS%2FuX0L5d%2Bx3iMHNzQiu3Y%2BzsjpFSWlOzgA87vAxeHW2MoAtQxe6OUvVrZR3XYZPXrd%2FIE/prettify/1/timespan/2021-11-16T10%3a17%3a39.0000000Z%2f2021-11-16T11%3a17%3a39.0000000Z'}]



=== TEST 6: an activity log alert (Administrative): Sev4 is low, the rule is the title
--- created eval
['azure-activity-administrative.json', {%::ResourceHealth, key => $::Id,
    title => 'test-activityLogAlertRule',
    starts_at => '2021-11-16T08:29:01.2932462Z'}]



=== TEST 7: ServiceHealth (numeric channels, eventSource and level): one ticket per incident (trackingId), its updates comment, "Resolved" resolves
--- request eval
[::derived('azure-servicehealth.json', sub {
     my $d = $_[0]{data};
     $d->{essentials}{alertId} .= '-1';
     $d->{essentials}{description} = '';
     $d->{alertContext}{status} = 'Active';
     $d->{alertContext}{properties}{stage} = 'Active';
 }),
 ::derived('azure-servicehealth.json', sub {
     my $d = $_[0]{data};
     $d->{essentials}{alertId} .= '-2';
     $d->{alertContext}{status} = 'Updated';
 }),
 ::post('azure-servicehealth.json'), "GET /sent"]
--- error_code eval: [201, 200, 200, 200]
--- response_body eval
[ItsmSource::answer(['ABC1-DEF', 'create', 'created', 'T1']),
 ItsmSource::answer(['ABC1-DEF', 'comment', 'commented', 'T1']),
 ItsmSource::answer(['ABC1-DEF', 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => {%::ServiceHealth,
                              description => $::Communication}],
                  [comment => \%::ServiceHealth],
                  [resolve => {%::ServiceHealth, status => 'resolved'}])]



=== TEST 8: ResourceHealth: the resource is the key, so that its "Available" event resolves the ticket of its outage
--- request eval
[::post('azure-resourcehealth.json'),
 ::derived('azure-resourcehealth.json', sub {
     my $d = $_[0]{data};
     $d->{essentials}{alertId} =~ s/ab$/cd/;
     $d->{essentials}{firedDateTime} = '2021-11-16T10:04:08.1234567Z';
     $d->{alertContext}{status} = 'Resolved';
     $d->{alertContext}{operationName} = 'Microsoft.Resourcehealth/healthevent/Resolved/action';
     $d->{alertContext}{properties}{title} = 'Available again';
     $d->{alertContext}{properties}{currentHealthStatus} = 'Available';
     $d->{alertContext}{properties}{previousHealthStatus} = 'Unavailable';
 }),
 "GET /sent"]
--- error_code eval: [201, 200, 200]
--- response_body eval
[ItsmSource::answer([$::Vm, 'create', 'created', 'T1']),
 ItsmSource::answer([$::Vm, 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => \%::ResourceHealth],
                  [resolve => {%::ResourceHealth, status => 'resolved',
                               title => 'Available again',
                               starts_at => '2021-11-16T10:04:08.1234567Z'}])]



=== TEST 9: a managed Prometheus alert: its labels stay in the payload for templates
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"key": "{{ key }}", "title": "{{ title }}", "description": "{{ description }}", "resource": "{{ resource }}", "severity": "{{ severity }}", "instance": "{{ /data/alertContext/labels/instance }}", "labels": "{{ /data/alertContext/labels }}", "expression": "{{ /data/alertContext/expression }}"}';
        ticket_id /id;
    }
    log_format itsm_sent escape=none '$request_method $uri $request_body';
--- request eval: [::post('azure-prometheus.json'), "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['/subscriptions/<subscription id>/providers/Microsoft.AlertsManagement/alerts/2e0b05ad-6367-db4d-efed-f1cd039d5592', 'create', 'created', 'T1']),
 'POST /mock/ticket {"key":"/subscriptions/<subscription id>/providers/Microsoft.AlertsManagement/alerts/2e0b05ad-6367-db4d-efed-f1cd039d5592","title":"RecommendedCIAlerts-aks0001/Average node CPU utilization is greater than 80%","description":"Average node CPU utilization is greater than 80%","resource":"aks0001","severity":"low","instance":"aks-agentpool-27465642-vmss000000","labels":{"alertname":"Average node CPU utilization is greater than 80%","cluster":"aks0001","cpu":"0","instance":"aks-agentpool-27465642-vmss000000","job":"node","metrics_path":"/metrics","mode":"idle"},"expression":"(  (1 - rate(node_cpu_seconds_total{job=\"node\", mode=\"idle\"}[5m]) ) / ignoring(cpu) group_left count without (cpu)( node_cpu_seconds_total{job=\"node\", mode=\"idle\"}) ) < .8 "}' . "\n"]



=== TEST 10: a cost budget alert: no rule, severity or condition (all null): it fires, its description is its title
--- created eval
['azure-cost-budget.json', {
    key => "$::Sub/providers/Microsoft.CostManagement/alerts/Test_Alert",
    source => 'azure', status => 'firing',
    title => 'Your spend for budget Test_actual_cost_budget is now $11,111.00 exceeding your specified threshold $25.00.',
    description => 'Your spend for budget Test_actual_cost_budget is now $11,111.00 exceeding your specified threshold $25.00.',
    resource => 'budgets', configuration_items => 'budgets',
    starts_at => '2022-12-07T21:13:20.645Z'}]



=== TEST 11: several configuration items and targets; an investigation link comes first
--- request eval
[::derived('azure-log-v1.json', sub {
     my $e = $_[0]{data}{essentials};
     $e->{configurationItems} = ['web-1', 'web-2', 'web-3'];
     $e->{alertTargetIDs} = ["$::Sub/a/web-1", "$::Sub/a/web-2"];
     $e->{investigationLink} = 'https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/Investigation.ReactView/alertId/x';
 }),
 "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer([$::Id, 'create', 'created', 'T1']),
 ItsmSource::sent([create => {%::Log,
    title => 'test-logAlertRule-v1-numResults',
    starts_at => '2021-11-16T15:15:58.3302205Z',
    resource => 'web-1', configuration_items => 'web-1, web-2, web-3',
    target_ids => "$::Sub/a/web-1, $::Sub/a/web-2",
    link => 'https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/Investigation.ReactView/alertId/x'}])]



=== TEST 12: no configuration item: the target's name is the resource
--- request eval
[::derived('azure-metric-fired.json', sub {
     $_[0]{data}{essentials}{configurationItems} = [];
 }),
 "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer([$::Id, 'create', 'created', 'T1']),
 ItsmSource::sent([create => {%::Metric, configuration_items => undef}])]



=== TEST 13: strict where it matters: another schema, no essentials, no alertId, an unknown condition, a bad list: a 400 naming the pointer
--- request eval
[::post('azure-budget-legacy.json'),
 "POST /alerts\n{\"data\": {\"alertContext\": {}}}",
 "POST /alerts\n{\"schemaId\": \"azureMonitorCommonAlertSchema\", \"data\": {\"essentials\": [1]}}",
 ::derived('azure-metric-fired.json', sub { delete $_[0]{data}{essentials}{alertId} }),
 ::derived('azure-metric-fired.json', sub { $_[0]{data}{essentials}{monitorCondition} = 'Flapping' }),
 ::derived('azure-metric-fired.json', sub { $_[0]{data}{essentials}{configurationItems} = [{name => 'x'}] }),
 ::derived('azure-metric-fired.json', sub { $_[0]{data}{essentials}{alertTargetIDs} = 'x' }),
 ::derived('azure-metric-fired.json', sub { $_[0]{data}{essentials}{alertRule} = ['x'] }),
 ::derived('azure-metric-fired.json', sub { $_[0]{data}{alertContext} = 'x' }),
 "POST /alerts\n[]",
 "GET /sent"]
--- error_code eval: [400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 200]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"\\\"/schemaId\\\" is \\\"AIP Budget Notification\\\", not \\\"azureMonitorCommonAlertSchema\\\": enable the common alert schema on the action group's webhook\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"/data/essentials\\\": not an Azure Monitor alert in the common alert schema; enable it on the action group's webhook\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/data/essentials\\\" must be an object\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/data/essentials/alertId\\\"): every alert needs a key that identifies its problem\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"unknown status \\\"Flapping\\\" (JSON Pointer \\\"/data/essentials/monitorCondition\\\"): expected \\\"Fired\\\" or \\\"Resolved\\\"\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/data/essentials/configurationItems/0\\\" must be a string\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/data/essentials/alertTargetIDs\\\" must be an array\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/data/essentials/alertRule\\\" must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/data/alertContext\\\" must be an object\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"the payload must be a JSON object: an Azure Monitor alert in the common alert schema\"}\n",
 ""]
--- no_error_log
[error]
