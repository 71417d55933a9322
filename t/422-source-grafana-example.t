# examples/source-grafana/: Grafana's webhook contact point into Request
# Tracker, embedded as it is (t/lib/ItsmPreset.pm) in front of the RT
# contract mock of t/406-preset-rt.t.  The payloads are the sample of
# Grafana's webhook documentation (t/payloads/grafana-firing.json) and its
# derived follow-up with the CPU alert resolved (grafana-mixed.json), each
# signed here as Grafana signs it with the preset's HMAC secret and
# timestamp header (hex HMAC-SHA256 of "<timestamp>:<body>").  Each block
# asserts the exact requests RT receives: two alerts make two tickets, a
# resend makes nothing, the resolved alert resolves its ticket; an
# unsigned, mis-signed, stale or altered request is a JSON 401 and RT
# receives nothing; the same signed request twice is answered as a
# duplicate by the access phase.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use ItsmSource;
use ItsmSig;
use Test::Nginx::Socket 'no_plan';

our $Secret = 'FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKE';
our $Api = 'http://rt.example.com/REST/2.0/ticket';
our $Now = time();

# a payload as sent (Test::Nginx trims the request body: sign what is sent)
sub body { (my $b = ItsmSource::payload($_[0])) =~ s/\s+\z//; $b }

sub post { "POST /alerts/grafana\n" . body($_[0]) }

# Grafana's headers for a payload: timestamp and signature
sub signed {
    my ($name, %o) = @_;
    return ItsmSig::headers('grafana_ts', secret => $o{secret} // $Secret, ts => $o{ts} // $Now,
                            body => body($name), ts_header => 'X-Grafana-Alerting-Signature-Timestamp');
}

# the creates, in the payload's order
our $Creates = ItsmPreset::rt_creates($Api,
  q({"Queue":"General","Subject":"High memory usage: This alert was triggered for zone us-1","Priority":"50","Content":"The system has high memory usage\n\nSeverity: \nLabels: {\"alertname\":\"High memory usage\",\"team\":\"blue\",\"zone\":\"us-1\"}\nValues: {\"B\":44.23943737541908,\"C\":1}\nRunbook: https://myrunbook.com/runbook/1234\nRule: https://play.grafana.org/alerting/1afz29v7z/edit\nSilence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1\nDashboard: \nAlert key (fingerprint): c6eadffa33fcdf37","ContentType":"text/plain"}),
  q({"Queue":"General","Subject":"High CPU usage: This alert was triggered for zone eu-1","Priority":"50","Content":"The system has high CPU usage\n\nSeverity: \nLabels: {\"alertname\":\"High CPU usage\",\"team\":\"blue\",\"zone\":\"eu-1\"}\nValues: {\"B\":44.23943737541908,\"C\":1}\nRunbook: https://myrunbook.com/runbook/1234\nRule: https://play.grafana.org/alerting/d1rdpdv7k/edit\nSilence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1\nDashboard: \nAlert key (fingerprint): bc97ff14869b13e3","ContentType":"text/plain"}));

our $Resolve = "POST $Api/20/comment\n"
  . q({"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\nThe system has high CPU usage","ContentType":"text/plain","Status":"resolved"}) . "\n";

# the two alerts' answers when they create; then, sent again: their first
# answers, replayed
our @Created = (['c6eadffa33fcdf37', 'create', 'created'], ['bc97ff14869b13e3', 'create', 'created']);

our @Replayed = map { [@$_, 'replayed'] } @Created;

ItsmPreset::suite('source-grafana');

run_tests();

__DATA__

=== TEST 1: a signed group of two firing alerts: two tickets, each with its summary, labels, values, runbook, rule and silence links
--- config eval: ::config(mock => ::mock(log => 't1'))
--- request eval: [::post('grafana-firing.json'), "GET /contract"]
--- more_headers eval: [::signed('grafana-firing.json'), ""]
--- error_code eval: [201, 200]
--- response_body_like eval: [::answers(@::Created), ItsmPreset::log_like($::Creates)]
--- no_error_log
[error]



=== TEST 2: the group sent again (signed again, a second later) sends nothing; the group with the CPU alert resolved resolves its ticket only
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval: [::post('grafana-firing.json'), ::post('grafana-firing.json'), ::post('grafana-mixed.json'), "GET /contract"]
--- more_headers eval
[::signed('grafana-firing.json'), ::signed('grafana-firing.json', ts => $::Now + 1), ::signed('grafana-mixed.json'), ""]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answers(@::Created), ::answers(@::Replayed),
 ::answers($::Replayed[0], ['bc97ff14869b13e3', 'resolve', 'resolved']),
 ItsmPreset::log_like($::Creates . $::Resolve)]
--- no_error_log
[error]



=== TEST 3: the very same signed request twice: the second is a duplicate delivery, answered by the access phase, nothing sent
--- config eval: ::config(mock => ::mock(log => 't3'))
--- request eval: [::post('grafana-firing.json'), ::post('grafana-firing.json'), "GET /contract"]
--- more_headers eval: [::signed('grafana-firing.json'), ::signed('grafana-firing.json'), ""]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answers(@::Created),
 qr/^\{"status":"duplicate","message":"[^"]+"\}\n\z/,
 ItsmPreset::log_like($::Creates)]



=== TEST 4: unsigned, signed with another secret, a stale timestamp, a body changed after signing: a JSON 401 each, and RT receives nothing
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[::post('grafana-firing.json'), ::post('grafana-firing.json'), ::post('grafana-firing.json'),
 ::post('grafana-firing.json') =~ s/"firing"/"resolved"/r, "GET /contract"]
--- more_headers eval
["Content-Type: application/json",
 ::signed('grafana-firing.json', secret => 'FAKE-grafana-hmac-secret-FAKEFAKEFAKEFAKF'),
 ::signed('grafana-firing.json', ts => $::Now - 3600),
 ::signed('grafana-firing.json'),
 ""]
--- error_code eval: [401, 401, 401, 401, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json", ""]
--- response_body_like eval
[qr/^\Q{"error":"signature_missing","message":"the request has no \"X-Grafana-Alerting-Signature\" header; it must be signed (grafana)"}\E\n\z/,
 qr/^\{"error":"signature_mismatch","message":"[^"]+"\}\n\z/,
 qr/^\{"error":"timestamp_too_old","message":"the signature timestamp is \d+ s old, more than the 300 s allowed [^"]+"\}\n\z/,
 qr/^\{"error":"signature_mismatch","message":"[^"]+"\}\n\z/,
 qr/^\z/]



=== TEST 5: a group whose resolved alert has no ticket: the firing one creates, the resolved one is ignored; the alerts Grafana left out (truncatedAlerts) are logged
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval: ::post('grafana-mixed.json')
--- more_headers eval: ::signed('grafana-mixed.json')
--- error_code: 201
--- response_body_like eval
qr/^\Q{"status":"processed","alerts":[{"key":"c6eadffa33fcdf37","action":"create","outcome":"created","connector":"rt","ticket_id":"20"},{"key":"bc97ff14869b13e3","action":"none","outcome":"ignored","connector":"rt","reason":"the alert is resolved and no ticket is open for its key"}]}\E\n\z/
--- error_log eval: qr/\[warn\] .*itsm: grafana left 3 alerts of group "\{\}:\{\}" out of its payload/
--- no_error_log
[error]
