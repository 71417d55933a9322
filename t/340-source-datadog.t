# Datadog's webhook integration with its default payload: one payload is
# one monitor notification, every value a $VARIABLE substituted as text.
# t/payloads/datadog-*.json are the default payload of Datadog's webhooks
# documentation (https://docs.datadoghq.com/integrations/webhooks/) filled
# with the example values the same page gives for each variable; the
# recovery is the same monitor's "Recovered" notification.  Each alert's
# normalized fields are asserted as the ITSM receives them
# (t/lib/ItsmSource.pm).
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;
use JSON::PP ();

our $Scope = 'availability-zone:us-east-1a, role:computing-node';

our %Triggered = (
    key => "1234|$Scope", source => 'datadog', status => 'firing',
    severity => 'critical', severity_raw => 'P1',
    title => '[Triggered on {host:ip-012345}] Host is Down',
    description => '@webhook-url Sending to the webhook',
    resource => 'my-host', configuration_items => $Scope,
    starts_at => '2014-07-29T19:37:52Z',
);

# the triggered sample, changed by $edit (a sub given the decoded payload)
sub derived {
    my ($edit) = @_;
    my $json = JSON::PP->new->canonical;
    my $doc = $json->decode(ItsmSource::payload('datadog-triggered.json'));
    $edit->($doc);
    return "POST /alerts\n" . $json->encode($doc);
}

ItsmSource::defaults('itsm_source datadog;');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a monitor triggers, then recovers: the monitor id and scope are the key, P1 is critical, $DATE (epoch ms) the start, then the end
--- request eval
[ItsmSource::post('datadog-triggered.json'),
 ItsmSource::post('datadog-recovered.json'), "GET /sent"]
--- error_code eval: [201, 200, 200]
--- response_body eval
[ItsmSource::answer(["1234|$::Scope", 'create', 'created', 'T1']),
 ItsmSource::answer(["1234|$::Scope", 'resolve', 'resolved', 'T1']),
 ItsmSource::sent([create => \%::Triggered],
                  [resolve => {%::Triggered, status => 'resolved',
                     title => '[Recovered on {host:ip-012345}] Host is Down',
                     starts_at => undef, ends_at => '2014-07-29T19:43:52Z'}])]
--- no_error_log
[error]



=== TEST 2: a payload given $ALERT_CYCLE_KEY, $LINK and $AGGREG_KEY: the cycle key is the key
--- request eval
[::derived(sub {
     $_[0]{alert_cycle_key} = '7185829046374421113';
     $_[0]{link} = 'https://app.datadoghq.com/event/event?id=1234567';
     $_[0]{aggreg_key} = '9bd4ac313a4d1e8fae2482df7b77628';
 }),
 "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[ItsmSource::answer(['7185829046374421113', 'create', 'created', 'T1']),
 ItsmSource::sent([create => {%::Triggered, key => '7185829046374421113',
    link => 'https://app.datadoghq.com/event/event?id=1234567',
    group_key => '9bd4ac313a4d1e8fae2482df7b77628'}])]



=== TEST 3: P2 to P5 are high, warning, info, low; without a priority the alert type says (warning); Warn, No Data and Renotify fire
--- http_config eval: ItsmSource::http_config(store => 0)
--- request eval
[(map { my $n = $_; ::derived(sub { $_[0]{alert_priority} = "P$n"; $_[0]{alert_id} = $n }) } 2 .. 5),
 ::derived(sub { $_[0]{alert_priority} = ''; $_[0]{alert_type} = 'warning';
                 $_[0]{alert_transition} = 'Warn'; $_[0]{alert_id} = 6 }),
 ::derived(sub { $_[0]{alert_transition} = 'Re-No Data'; $_[0]{alert_id} = 7 }),
 ::derived(sub { $_[0]{alert_transition} = 'renotify'; $_[0]{alert_id} = 8 }),
 "GET /sent"]
--- error_code eval: [201, 201, 201, 201, 201, 201, 201, 200]
--- response_body eval
[(map { ItsmSource::answer(["$_|$::Scope", 'create', 'created', 'T1']) } 2 .. 8),
 ItsmSource::sent(
    (map { [create => {%::Triggered, key => "$_|$::Scope",
                       severity_raw => "P$_",
                       severity => (qw(x x high warning info low))[$_]}] }
         2 .. 5),
    [create => {%::Triggered, key => "6|$::Scope", severity => 'warning',
                severity_raw => 'warning'}],
    [create => {%::Triggered, key => "7|$::Scope"}],
    [create => {%::Triggered, key => "8|$::Scope"}])]



=== TEST 4: lenient: numbers for text, no scope, no transition (an event: its type says), no host, a date in seconds or with milliseconds, or one of the payload's own
--- http_config eval: ItsmSource::http_config(store => 0)
--- request eval
[::derived(sub { $_[0]{alert_id} = 1234; $_[0]{alert_scope} = '';
                 $_[0]{date} = 1406662672; delete $_[0]{host_name} }),
 ::derived(sub { $_[0]{alert_transition} = ''; $_[0]{alert_type} = 'info';
                 $_[0]{alert_id} = 2; $_[0]{date} = '1406662672123' }),
 ::derived(sub { $_[0]{alert_transition} = ''; $_[0]{alert_type} = 'success';
                 $_[0]{alert_id} = 3 }),
 ::derived(sub { $_[0]{date} = '2014-07-29 19:37'; $_[0]{alert_id} = 4;
                 $_[0]{alert_title} = ''; $_[0]{body} = '' }),
 "GET /sent"]
--- error_code eval: [201, 201, 200, 201, 200]
--- response_body eval
[ItsmSource::answer(['1234', 'create', 'created', 'T1']),
 ItsmSource::answer(["2|$::Scope", 'create', 'created', 'T1']),
 ItsmSource::answer(["3|$::Scope", 'none', 'ignored', undef,
                     'the alert is resolved and no ticket is open for its key']),
 ItsmSource::answer(["4|$::Scope", 'create', 'created', 'T1']),
 ItsmSource::sent(
    [create => {%::Triggered, key => '1234', resource => undef,
                configuration_items => undef}],
    [create => {%::Triggered, key => "2|$::Scope",
                starts_at => '2014-07-29T19:37:52.123Z'}],
    [create => {%::Triggered, key => "4|$::Scope",
                title => '[Triggered] [Memory Alert]',
                description => 'system.load.1 over host:my-host was > 0 at least once during the last 1m',
                starts_at => '2014-07-29 19:37'}])]



=== TEST 5: strict: no monitor id, an unknown transition, an object for text: a 400 naming the pointer
--- request eval
[::derived(sub { $_[0]{alert_id} = '' }),
 ::derived(sub { delete $_[0]{alert_id} }),
 ::derived(sub { $_[0]{alert_transition} = 'Exploded' }),
 ::derived(sub { $_[0]{alert_title} = {text => 'x'} }),
 "POST /alerts\n[\"\$ALERT_ID\"]",
 "GET /sent"]
--- error_code eval: [400, 400, 400, 400, 400, 200]
--- response_body eval
["{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/alert_cycle_key\\\" or \\\"/alert_id\\\"): every alert needs a key that identifies its problem; the default payload has \\\"alert_id\\\": \\\"\$ALERT_ID\\\"\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"missing field \\\"key\\\" (JSON Pointer \\\"/alert_cycle_key\\\" or \\\"/alert_id\\\"): every alert needs a key that identifies its problem; the default payload has \\\"alert_id\\\": \\\"\$ALERT_ID\\\"\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"unknown status \\\"Exploded\\\" (JSON Pointer \\\"/alert_transition\\\"): expected a Datadog transition such as \\\"Triggered\\\" or \\\"Recovered\\\", or a word mapped by itsm_state_map\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"field \\\"/alert_title\\\" must be a string or a number\"}\n",
 "{\"error\":\"invalid_alert\",\"message\":\"the payload must be a JSON object: a Datadog webhook payload\"}\n",
 ""]
--- no_error_log
[error]



=== TEST 6: itsm_state_map and itsm_severity_map come before Datadog's own words
--- http_config eval: ItsmSource::http_config(store => 0)
--- config eval: ItsmSource::config('itsm_source datadog; itsm_state_map "resolved=No Data,Re-No Data"; itsm_severity_map warning=P1;')
--- request eval
[::derived(sub { $_[0]{alert_transition} = 'No Data' }),
 ItsmSource::post("datadog-triggered.json"),
 "GET /sent"]
--- error_code eval: [200, 201, 200]
--- response_body eval
[ItsmSource::answer(["1234|$::Scope", 'none', 'ignored', undef,
                     'the alert is resolved and no ticket is open for its key']),
 ItsmSource::answer(["1234|$::Scope", 'create', 'created', 'T1']),
 ItsmSource::sent([create => {%::Triggered, severity => 'warning'}])]
