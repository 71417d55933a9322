# examples/universal-webhook/ against a contract mock of the receiver its
# comments describe (t/lib/ItsmPreset.pm, %Contract): a bearer token (401
# otherwise), 200 {"id"} for every event.  The example's sample alert
# (examples/universal-webhook/sample-alert.json), which has every field,
# fills every placeholder of webhook-event.json: the exact event is
# asserted, field by field as the example documents them, for the create,
# the reminder, the resolve and the reopen; and what an alert with only a
# key fills.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use Test::Nginx::Socket 'no_plan';

our $Firing = ItsmPreset::slurp(ItsmPreset::dir('universal-webhook') . '/sample-alert.json') =~ s/\s+\z//r;
# each event's request line: the path names the action
our %U = map { $_ => "POST http://hooks.example.com/itsm/events?event=$_" } qw(create comment resolve reopen);

# the event as the receiver gets it, for the sample alert; %o changes a
# field's JSON value (TIME: a UTC time)
sub event {
    my (%o) = @_;
    my @f = (
        connector => '"webhook"', key => '"disk-db1"', correlation_key => '"disk-db1"',
        correlation_key_sha256 => '"' . sha256_hex('disk-db1') . '"', source => '"generic"', status => '"firing"',
        severity => '"critical"', severity_raw => '"Critical"', title => '"Disk full on db-1"',
        summary => '"[critical] Disk full on db-1"', description => '"/var is 98% full"', resource => '"db-1"',
        configuration_items => '"db-1, db-1-var"',
        target_ids => '"/subscriptions/0000/resourceGroups/db/providers/Microsoft.Compute/virtualMachines/db-1"',
        group_key => '"{}:{alertname=\"HostDiskFull\"}"', starts_at => '"2026-12-07T05:30:00Z"', ends_at => 'null',
        link => '"https://grafana.example.com/d/disk?var-host=db-1"', external_url => '"https://alertmanager.example.com"',
        note => '"Cleaning /var/log first"', ticket_id => '""', occurrences => '1', first_seen => '"TIME"',
        last_seen => '"TIME"', lookup => 'null',
        labels => '{"alertname":"HostDiskFull","team":"dba","instance":"db-1:9100"}', team => '"dba"',
        environment => '"production"');
    my $s = '';
    while (my ($k, $v) = splice @f, 0, 2) {
        $s .= ($s eq '' ? '{' : ',') . qq("$k":) . ($o{$k} // $v);
    }
    return "$s}";
}

our $Create = event();
our $Comment = event(ticket_id => '"EVT-1"', occurrences => 2, description => '"/var is 99% full"');
our $Resolve = event(ticket_id => '"EVT-1"', occurrences => 3, status => '"resolved"',
                     description => '"/var is 70% full"');
our $Reopen = event(ticket_id => '"EVT-1"', occurrences => 4);

# an alert with only a key: what every field is then
our $Bare = '{"key": "bare-1"}';
our $BareEvent = event(key => '"bare-1"', correlation_key => '"bare-1"', correlation_key_sha256 => '"' . sha256_hex('bare-1') . '"',
                       severity => 'null', severity_raw => 'null', title => '"bare-1"', summary => '"[unknown] bare-1"',
                       description => '"(no description)"', resource => 'null', configuration_items => 'null',
                       target_ids => 'null', group_key => 'null', starts_at => 'null', link => 'null',
                       external_url => 'null', note => 'null', labels => 'null', team => '"ops"');

ItsmPreset::suite('universal-webhook', create => $Create);

run_tests();

__DATA__

=== TEST 1: the sample alert fills every placeholder: the exact event the receiver gets, and its id is the ticket
--- created_as eval: [$::Firing, "$::U{create}\n$::Create\n"]
--- no_error_log
[error]



=== TEST 2: the lifecycle: each event's path names its action; the events carry the receiver's id, the count (each alert counted: 2, 3, 4) and the times
--- lifecycle: created commented resolved reopened
--- itsm_log eval
"$::U{create}\n$::Create\n$::U{comment}\n$::Comment\n$::U{resolve}\n$::Resolve\n$::U{reopen}\n$::Reopen\n"
--- no_error_log
[error]



=== TEST 3: an alert with only a key: the fields it lacks are null, the title is the key, the defaults fill the rest
--- created_as eval: [$::Bare, "$::U{create}\n$::BareEvent\n"]
--- no_error_log
[error]



=== TEST 4: a wrong token (401 from the receiver): 502 with its words
--- http_config eval: ::http(edit => sub { s/Bearer FAKE-webhook/Bearer WRONG-webhook/ })
--- config eval: ::config(edit => sub { s/Bearer FAKE-webhook/Bearer WRONG-webhook/ })
--- error_code: 502
--- response_body_like eval: ::error("itsm_rejected", "create", 401, '{"error":"unauthorized"}')



=== TEST 5: the receiver answers without an id: 502 that says so
--- config eval: ::config(mock => ::mock(events => [200, '{"status":"accepted"}']))
--- error_code: 502
--- response_body_like: ^\{"error":"itsm_bad_response"
