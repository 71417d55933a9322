# examples/source-siem/: a SIEM's "sync this case" into Request Tracker,
# with the generic source, JSON Pointers and a state map, embedded as it is
# (t/lib/ItsmPreset.pm) in front of the RT contract mock of
# t/406-preset-rt.t.  The case is a Microsoft Sentinel incident
# (t/payloads/sentinel-incident.json, the shape of the example of
# Sentinel's REST API "Incidents - Get"; see t/payloads/README.md), synced
# as Sentinel changes it: New, the same sync again, Active with a new
# severity and an owner, Closed with a classification, Active again.
# Each block asserts the exact requests RT receives: the same incident
# creates its ticket, then updates it, then resolves it, then reopens it;
# each note on the case (the playbook adds the newest as "newestComment")
# is one comment, at once, while the syncs without a new note wait out the
# example's 10-minute cooldown (one update with the latest state);
# the shared-secret header is required (itsm_token): a missing or wrong
# one gets the module's own 401, counted on the status page, and RT
# receives nothing.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Digest::SHA qw(sha256_hex);
use ItsmSource;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Token = 'X-ITSM-Token: FAKE-siem-sync-token-FAKEFAKEFAKEFAKE';
our $Api = 'http://rt.example.com/REST/2.0/ticket';
our $Id = '73e01a99-5cd7-4139-a149-9f2736ff2ab5';


# the incident after a change in Sentinel: $edit gets its properties
sub synced {
    my ($edit) = @_;
    my $json = JSON::PP->new->canonical;
    my $doc = $json->decode(ItsmSource::payload('sentinel-incident.json'));
    $edit->($doc->{properties}) if $edit;
    return "POST /alerts/siem\n" . $json->encode($doc);
}

our $New = synced();

# an analyst takes it: Active, High, an owner
our $Active = synced(sub {
    my ($p) = @_;
    @$p{qw(status severity lastModifiedTimeUtc)} = ('Active', 'High', '2019-01-01T13:20:00Z');
    $p->{owner} = {objectId => '2046feea-040d-4a46-9e2b-91c2941bfa70', email => 'john.doe@contoso.com',
                   userPrincipalName => 'john@contoso.com', assignedTo => 'john doe'};
});

# and closes it, as in the documented example
our $Closed = synced(sub {
    my ($p) = @_;
    @$p{qw(status severity lastModifiedTimeUtc)} = ('Closed', 'High', '2019-01-01T14:00:00Z');
    $p->{owner} = {objectId => '2046feea-040d-4a46-9e2b-91c2941bfa70', assignedTo => 'john doe'};
    @$p{qw(classification classificationReason classificationComment)}
        = ('FalsePositive', 'IncorrectAlertLogic', 'Not a malicious activity');
});

# then reopens it
our $Reopened = synced(sub {
    my ($p) = @_;
    @$p{qw(status severity lastModifiedTimeUtc)} = ('Active', 'High', '2019-01-02T09:00:00Z');
    $p->{owner} = {assignedTo => 'jane roe'};
});

our $Create = "POST $Api\n"
  . q({"Queue":"General","Subject":"[Sentinel #3177] My incident","Priority":"50","Content":"This is a demo incident\n\nSeverity: Medium\nStatus in Sentinel: New\nOwner: \nTactics: [\"InitialAccess\",\"Persistence\"]\nAlerts: 1\nFirst activity: 2019-01-01T13:00:30Z\nIncident: https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5\nIncident id: 73e01a99-5cd7-4139-a149-9f2736ff2ab5\n\n","ContentType":"text/plain",)
  . q("CustomFields":{"ITSM Alert Key":") . sha256_hex('73e01a99-5cd7-4139-a149-9f2736ff2ab5') . q("}}) . "\n";

our $Update = "PUT $Api/20\n" . q({"Subject":"[Sentinel #3177] My incident","Priority":"75"}) . "\n";

our $Resolve = "POST $Api/20/comment\n"
  . q({"Content":"The Sentinel incident was closed: FalsePositive (IncorrectAlertLogic).\nNot a malicious activity\nClosed by: john doe","ContentType":"text/plain","Status":"resolved"}) . "\n";

our $Reopen = "POST $Api/20/comment\n"
  . q({"Content":"The Sentinel incident was reopened (status Active, severity High, owner jane roe).","ContentType":"text/plain","Status":"open"}) . "\n";

# a sync that carries the case's newest note (by a person), as the
# playbook adds it, with the time Sentinel modified the case
sub noted {
    my ($status, $severity, $at, $note) = @_;
    return synced(sub {
        my ($p) = @_;
        @$p{qw(status severity lastModifiedTimeUtc)} = ($status, $severity, "2019-01-01T$at:00Z");
    }) =~ s/\}\z/,"newestComment":{"name":"c-$at","properties":{"message":"$note","createdTimeUtc":"2019-01-01T$at:00Z","author":{"objectId":"a1","name":"Jane Roe"}}}}/r;
}

our $Cooldown = qq{{"status":"cooldown","alerts":[{"key":"$Id","action":"none","outcome":"cooldown","connector":"rt","ticket_id":"20","reason":"the ticket was updated within the cooldown; the latest state is sent when it ends"}]}\n};

sub comment { "POST $Api/20/comment\n" . q({"Content":"A note on the Sentinel incident:\n) . $_[0] . q(","ContentType":"text/plain"}) . "\n" }

sub update { "PUT $Api/20\n" . q({"Subject":"[Sentinel #3177] My incident","Priority":") . $_[0] . q("}) . "\n" }

ItsmPreset::suite('source-siem', key => $Id,
                  answers => {put => [200, q{["Ticket 20: Priority changed from '50' to '75'"]}]});

run_tests();

__DATA__

=== TEST 1: one incident's life (the cooldown 0s): New creates its ticket, the same sync again sends nothing, Active/High updates it, Closed resolves it, Active again reopens it
--- http_config eval: ::http(cooldown => '0s')
--- config eval: ::config(mock => ::mock(log => 't1'))
--- request eval: [$::New, $::New, $::Active, $::Closed, $::Reopened, "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[::answer('created', 'create', 'created'), ::answer('created', 'create', 'created', replayed => 1), ::answer('updated', 'update', 'updated'),
 ::answer('resolved', 'resolve', 'resolved'), ::answer('reopened', 'reopen', 'reopened'),
 ItsmPreset::log_like($::Create . $::Update . $::Resolve . $::Reopen)]
--- no_error_log
[error]



=== TEST 2: a state the map does not know is refused (400): no ticket is opened for a case that may have been closed
--- config eval: ::config(mock => ::mock(log => 't2'))
--- request eval: [::synced(sub { $_[0]{status} = 'Resolved?' }), "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [400, 200]
--- response_body_like eval
[qr{^\Q{"error":"invalid_alert","message":"unknown status \"Resolved?\" (JSON Pointer \"/properties/status\"): expected \"firing\" or \"resolved\", or a word of itsm_state_map: \"New\", \"Active\", \"Closed\""}\E\n\z}, qr/^\z/]



=== TEST 3: no X-ITSM-Token header, another token, or the token in another header: the module's JSON 401 with its Bearer challenge (itsm_token), counted on the status page, and RT receives nothing
--- token_refused eval
['$http_x_itsm_token', [$::New, '', 'missing'],
 [$::New, 'X-ITSM-Token: FAKE-siem-sync-token', 'invalid'],
 [$::New, 'Authorization: Bearer FAKE-siem-sync-token-FAKEFAKEFAKEFAKE', 'missing']]
--- no_error_log eval: [qr/\[error\]/, qr/\[(?:info|notice|warn|error|crit|alert|emerg)\].*FAKE-siem-sync-token/]



=== TEST 4: notes, with the example's 10-minute cooldown: a change without a note waits (cooldown, RT gets nothing); a new note is commented at once, then the update with the latest state; the same note in later syncs is no second comment (and the change waits again); a second note is one more comment; an empty note and a sync without newestComment comment nothing
--- config eval: ::config(mock => ::mock(log => 't4'))
--- request eval
[$::New, ::noted('Active', 'High', '13:20', ''), ::noted('Active', 'High', '13:21', 'Called the user: he did not log in.'),
 ::noted('Active', 'Low', '13:22', 'Called the user: he did not log in.'), ::noted('Active', 'Low', '13:23', 'Password reset; \\"watching\\" the account.'),
 ::noted('Active', 'Low', '13:24', 'Password reset; \\"watching\\" the account.'), ::synced(sub { @{$_[0]}{qw(status severity lastModifiedTimeUtc)} = ('Active', 'Medium', '2019-01-01T13:25:00Z') }),
 "GET /contract"]
--- more_headers eval: "Content-Type: application/json\n$::Token"
--- error_code eval: [201, (200) x 7]
--- response_body_like eval
[::answer('created', 'create', 'created'), qr/^\Q$::Cooldown\E\z/, ::answer('updated', 'update', 'updated'), qr/^\Q$::Cooldown\E\z/,
 ::answer('updated', 'update', 'updated'), qr/^\Q$::Cooldown\E\z/, qr/^\Q$::Cooldown\E\z/,
 ItsmPreset::log_like($::Create . ::comment('Called the user: he did not log in.') . ::update(75)
                      . ::comment('Password reset; \\"watching\\" the account.') . ::update(0))]
--- no_error_log
[error]
