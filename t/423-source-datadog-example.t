# examples/source-datadog/: Datadog's webhooks integration into Request
# Tracker, embedded as it is (t/lib/ItsmPreset.pm) in front of the RT
# contract mock of t/406-preset-rt.t.  The payloads are the preset's own
# examples/source-datadog/datadog-payload.json (what the user pastes into
# Datadog) with each $VARIABLE replaced as Datadog does, by the values of
# t/payloads/datadog-triggered.json and datadog-recovered.json (the
# example values of Datadog's webhooks documentation) and, for the
# variables the default payload lacks ($ALERT_CYCLE_KEY, $LINK,
# $AGGREG_KEY), the values of t/340-source-datadog.t.  A variable without
# a value fails the test.  Each block asserts the exact requests RT
# receives: Triggered creates, Datadog's retry of the same notification
# sends nothing, Renotify comments (after the cooldown), Recovered
# resolves; the shared-secret header is required (itsm_token): a missing
# or wrong one gets the module's own 401, counted on the status page, and
# RT receives nothing.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use ItsmSource;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Token = 'X-ITSM-Token: FAKE-datadog-webhook-token-FAKEFAKEFAKEFAKE';
our $Api = 'http://rt.example.com/REST/2.0/ticket';
our $Cycle = '7185829046374421113';


# datadog-payload.json as Datadog fills it in for a notification: each
# "$VARIABLE" string becomes the value the sample has at the same place
# (or %extra's, by variable name)
sub filled {
    my ($sample, %extra) = @_;
    my $json = JSON::PP->new->canonical;
    my $template = $json->decode(ItsmPreset::slurp(ItsmPreset::dir('source-datadog') . '/datadog-payload.json'));
    my $values = $json->decode(ItsmSource::payload($sample));

    my $fill;
    $fill = sub {
        my ($t, $v, $path) = @_;
        return { map { $_ => $fill->($t->{$_}, ref $v eq 'HASH' ? $v->{$_} : undef, "$path/$_") } keys %$t }
            if ref $t eq 'HASH';
        my ($var) = $t =~ /^\$([A-Z_]+)$/ or die "datadog-payload.json$path: not a \$VARIABLE: $t\n";
        return $extra{$var} if exists $extra{$var};
        die "datadog-payload.json$path: no value for \$$var in $sample\n" unless defined $v;
        return $v;
    };

    return $json->encode($fill->($template, $values, ''));
}

our %Cycle = (ALERT_CYCLE_KEY => $Cycle, AGGREG_KEY => '9bd4ac313a4d1e8fae2482df7b77628');

our $Triggered = filled('datadog-triggered.json', %Cycle,
                        LINK => 'https://app.datadoghq.com/event/event?id=1234567');
our $Recovered = filled('datadog-recovered.json', %Cycle,
                        LINK => 'https://app.datadoghq.com/event/event?id=1234568');

# the monitor renotifies: the same cycle, another notification ($ID, $DATE)
our $Renotify = do {
    my $json = JSON::PP->new->canonical;
    my $d = $json->decode($Triggered);
    @$d{qw(id date last_updated alert_transition)} = ('1234569', '1406663272000', '1406663272000', 'Renotify');
    $d->{alert_status} = 'system.load.1 over host:my-host was > 0 at least once during the last 1m (still)';
    $json->encode($d);
};

sub post { "POST /alerts/datadog\n$_[0]" }

our $Create = "POST $Api\n"
  . q({"Queue":"General","Subject":"[Triggered on {host:ip-012345}] Host is Down","Priority":"100","Content":"@webhook-url Sending to the webhook\n\nStatus: system.load.1 over host:my-host was > 0 at least once during the last 1m\nSeverity: P1 (critical)\nHost: my-host\nScope: availability-zone:us-east-1a, role:computing-node\nMetric: system.load.1\nMonitor: 1234 (Datadog)\nLink: https://app.datadoghq.com/event/event?id=1234567\nAlert key: 7185829046374421113","ContentType":"text/plain",)
  . q("CustomFields":{"ITSM Alert Key":") . sha256_hex('7185829046374421113') . q("}}) . "\n";

our $Resolve = "POST $Api/20/comment\n"
  . q({"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\n@webhook-url Sending to the webhook","ContentType":"text/plain","Status":"resolved"}) . "\n";

ItsmPreset::suite('source-datadog', key => $Cycle);

run_tests();

__DATA__

=== TEST 1: Triggered creates a ticket keyed by $ALERT_CYCLE_KEY (P1: priority 100); Datadog's retry of it sends nothing; Recovered resolves it
--- config eval: ::config(mock => ::mock(log => 't1'))
--- request eval: [::post($::Triggered), ::post($::Triggered), ::post($::Recovered), "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('created', 'create', 'created', replayed => 1), ::answer('resolved', 'resolve', 'resolved'),
 ItsmPreset::log_like($::Create . $::Resolve)]
--- no_error_log
[error]



=== TEST 2: Renotify within the preset's 30 min cooldown: nothing sent now
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval: [::post($::Triggered), ::post($::Renotify), "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'),
 ::answer('cooldown', 'none', 'cooldown', reason => $::Reason{cooldown}),
 ItsmPreset::log_like($::Create)]



=== TEST 3: Renotify after the cooldown: a comment; then Recovered resolves
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't3'))
--- request eval: [::post($::Triggered), ::post($::Renotify), ::post($::Recovered), "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('commented', 'comment', 'commented'), ::answer('resolved', 'resolve', 'resolved'),
 ItsmPreset::log_like($::Create
     . "POST $::Api/20/comment\n" . q({"Content":"The alert is firing (seen 2 times since TIME, severity critical).\n@webhook-url Sending to the webhook","ContentType":"text/plain"}) . "\n"
     . $::Resolve)]
--- no_error_log
[error]



=== TEST 4: no X-ITSM-Token header, another token, or the token in another header: the module's JSON 401 with its Bearer challenge (itsm_token), counted on the status page, and RT receives nothing
--- token_refused eval
['$http_x_itsm_token', [::post($::Triggered), '', 'missing'],
 [::post($::Triggered), 'X-ITSM-Token: FAKE-datadog-webhook-token', 'invalid'],
 [::post($::Triggered), 'Authorization: Bearer FAKE-datadog-webhook-token-FAKEFAKEFAKEFAKE', 'missing']]
--- no_error_log eval: [qr/\[error\]/, qr/\[(?:info|notice|warn|error|crit|alert|emerg)\].*FAKE-datadog-webhook-token/]
