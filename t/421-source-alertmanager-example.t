# examples/source-alertmanager/: Alertmanager's webhook into Request
# Tracker, embedded as it is (t/lib/ItsmPreset.pm) in front of the RT
# contract mock of t/406-preset-rt.t.  The payloads are the ones a real
# Alertmanager 0.25 sent (t/payloads/alertmanager-*.json); each block
# asserts the exact requests RT receives: a group of three alerts makes
# three tickets, the same group again makes nothing, the group with one
# alert resolved resolves that one ticket, a resend after the dedup window
# comments, a re-fire reopens; the bearer token of alertmanager.yml is
# required (itsm_token): a missing or wrong one gets the module's own 401,
# counted on the status page, and RT receives nothing.  alertmanager.yml
# itself passes "amtool check-config".
use Digest::SHA qw(sha256_hex);
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use ItsmConf;
use ItsmSource;
use Test::Nginx::Socket 'no_plan';

our $Token = 'Authorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKE';
our $Api = 'http://rt.example.com/REST/2.0/ticket';

sub post { "POST /alerts/alertmanager\n" . ItsmSource::payload($_[0]) }

# a resend after the dedup window: the endpoint with itsm_dedup off (which
# stands for the hour passed; the mock logs as LOG), and the group twice,
# then the contract's log
sub dedup_off_config {
    my ($log) = @_;
    return ::config(mock => ::mock(log => $log), edit => sub { s/(itsm_source alertmanager;)/$1\n        itsm_dedup off;/ });
}

sub resend { [post('alertmanager-firing.json'), post('alertmanager-firing.json'), "GET /contract"] }

# the firing group with db-2 firing again (a new startsAt: a new episode)
sub refire {
    my $p = ItsmSource::payload('alertmanager-firing.json');
    $p =~ s/("instance":"db-2:9100".*?"startsAt":")[^"]+/${1}2026-11-22T07:02:11.5Z/ or die;
    return "POST /alerts/alertmanager\n$p";
}

# the creates, in the payload's order
our $Creates = ItsmPreset::rt_creates($Api,
  q{{"Queue":"General","Subject":"HostDiskFull: Disk /var on db-1 is 97% full","Priority":"100","Content":"Less than 3% of /var is left on db-1:9100.\n\nSeverity: critical\nInstance: db-1:9100\nLabels: {\"alertname\":\"HostDiskFull\",\"instance\":\"db-1:9100\",\"job\":\"node\",\"mountpoint\":\"/var\",\"severity\":\"critical\"}\nRunbook: https://runbooks.example/disk\nExpression: http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.03&g0.tab=1\nAlertmanager: http://alertmanager.example:9093\nAlert key (fingerprint): e89f0b4e228ce84f","ContentType":"text/plain"}},
  q{{"Queue":"General","Subject":"HostDiskFull: Disk /var on db-2 is 98% full","Priority":"100","Content":"Less than 2% of /var is left on db-2:9100.\n\nSeverity: critical\nInstance: db-2:9100\nLabels: {\"alertname\":\"HostDiskFull\",\"instance\":\"db-2:9100\",\"job\":\"node\",\"mountpoint\":\"/var\",\"severity\":\"critical\"}\nRunbook: \nExpression: http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.03&g0.tab=1\nAlertmanager: http://alertmanager.example:9093\nAlert key (fingerprint): a95c4c431a852cd0","ContentType":"text/plain"}},
  q{{"Queue":"General","Subject":"HostDiskFull: Disk / on web-1 is 91% full","Priority":"50","Content":"Disk / on web-1 is 91% full\n\nSeverity: warning\nInstance: web-1:9100\nLabels: {\"alertname\":\"HostDiskFull\",\"instance\":\"web-1:9100\",\"job\":\"node\",\"mountpoint\":\"/\",\"severity\":\"warning\"}\nRunbook: \nExpression: http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.1&g0.tab=1\nAlertmanager: http://alertmanager.example:9093\nAlert key (fingerprint): 67852b92253594b5","ContentType":"text/plain"}});

our $Resolve = "POST $Api/20/comment\n"
  . q{{"Content":"The alert resolved (first seen TIME); resolved by ngx_itsm_module.\nLess than 2% of /var is left on db-2:9100.","ContentType":"text/plain","Status":"resolved"}} . "\n";

# the three alerts' answers when they create; then, sent again: their first
# answers, replayed
our @Created = (['e89f0b4e228ce84f', 'create', 'created'],
                ['a95c4c431a852cd0', 'create', 'created'],
                ['67852b92253594b5', 'create', 'created']);

our @Replayed = map { [@$_, 'replayed'] } @Created;

# alertmanager.yml as Alertmanager itself reads it
SKIP: {
    my $amtool = `command -v amtool 2>/dev/null`;
    chomp $amtool;
    skip 'amtool is not installed (Debian: prometheus-alertmanager)', 1 unless $amtool;
    my $out = `$amtool check-config $ItsmPreset::Root/examples/source-alertmanager/alertmanager.yml 2>&1`;
    ok($? == 0 && $out =~ /SUCCESS/, 'examples/source-alertmanager/alertmanager.yml: amtool check-config')
        or diag($out);
}

ItsmPreset::suite('source-alertmanager');

# every block of its own posts as Alertmanager does, with the token
ItsmConf::defaults(when => 'config', more_headers => "Content-Type: application/json\n$Token");

run_tests();

__DATA__

=== TEST 1: a group of three firing alerts: three tickets, each with its summary, labels, runbook and links; severity label -> priority
--- config eval: ::config(mock => ::mock())
--- request eval: [::post('alertmanager-firing.json'), "GET /contract"]
--- error_code eval: [201, 200]
--- response_body_like eval: [::answers(@::Created), ItsmPreset::log_like($::Creates)]
--- no_error_log
[error]



=== TEST 2: the same group again (a retry, an HA peer) sends nothing; the group with db-2 resolved resolves its ticket only
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval
[::post('alertmanager-firing.json'), ::post('alertmanager-firing.json'),
 ::post('alertmanager-mixed.json'), "GET /contract"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answers(@::Created), ::answers(@::Replayed),
 ::answers($::Replayed[0], ['a95c4c431a852cd0', 'resolve', 'resolved'], $::Replayed[2]),
 ItsmPreset::log_like($::Creates . $::Resolve)]
--- no_error_log
[error]



=== TEST 3: a resend after the dedup window (itsm_dedup off stands for the hour), within the preset's 30 min cooldown: kept for later, nothing sent now
--- config eval: ::dedup_off_config('t3')
--- request eval: ::resend()
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answers(@::Created),
 qr/^\{"status":"processed","alerts":\[(?:\{"key":"\w+","action":"none","outcome":"cooldown","connector":"rt","ticket_id":"20","reason":"[^"]+"\},?){3}\]\}\n\z/,
 ItsmPreset::log_like($::Creates)]



=== TEST 4: the same resend once the cooldown is over: one comment per alert, with how often it fired
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::dedup_off_config('t4')
--- request eval: ::resend()
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[::answers(@::Created),
 ::answers(map { [$_->[0], 'comment', 'commented'] } @::Created),
 ItsmPreset::log_like($::Creates
     . "POST $::Api/20/comment\n" . q{{"Content":"The alert is firing (seen 2 times since TIME, severity critical).\nLess than 3% of /var is left on db-1:9100.","ContentType":"text/plain"}} . "\n"
     . "POST $::Api/20/comment\n" . q{{"Content":"The alert is firing (seen 2 times since TIME, severity critical).\nLess than 2% of /var is left on db-2:9100.","ContentType":"text/plain"}} . "\n"
     . "POST $::Api/20/comment\n" . q{{"Content":"The alert is firing (seen 2 times since TIME, severity warning).\nDisk / on web-1 is 91% full","ContentType":"text/plain"}} . "\n")]



=== TEST 5: db-2 fires again after it resolved (a new startsAt): its ticket is reopened, the others are duplicates
--- config eval: ::config(mock => ::mock(log => 't5'))
--- request eval: [::post('alertmanager-firing.json'), ::post('alertmanager-mixed.json'), ::refire(), "GET /contract"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[::answers(@::Created),
 ::answers($::Replayed[0], ['a95c4c431a852cd0', 'resolve', 'resolved'], $::Replayed[2]),
 ::answers($::Replayed[0], ['a95c4c431a852cd0', 'reopen', 'reopened'], $::Replayed[2]),
 ItsmPreset::log_like($::Creates . $::Resolve
     . "POST $::Api/20/comment\n" . q{{"Content":"The alert fired again (seen 3 times since TIME, severity critical); reopened by ngx_itsm_module.\nLess than 2% of /var is left on db-2:9100.","ContentType":"text/plain","Status":"open"}} . "\n")]
--- no_error_log
[error]



=== TEST 6: no bearer token, another one, or the token without "Bearer ": the module's JSON 401 with its Bearer challenge (itsm_token), counted on the status page, and RT receives nothing
--- token_refused eval
['$http_authorization', [::post('alertmanager-firing.json'), '', 'missing'],
 [::post('alertmanager-firing.json'), 'Authorization: Bearer FAKE-alertmanager-token-FAKEFAKEFAKEFAKF', 'invalid'],
 [::post('alertmanager-firing.json'), 'Authorization: FAKE-alertmanager-token-FAKEFAKEFAKEFAKE', 'invalid']]
--- no_error_log eval: [qr/\[error\]/, qr/\[(?:info|notice|warn|error|crit|alert|emerg)\].*FAKE-alertmanager-token/]
