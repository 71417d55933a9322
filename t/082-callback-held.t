# A person changes the ticket while the module's own request about it is
# under way: RT's callback comes while the alert holds the key ("in
# flight") and cannot change the key then; the claim's end applies it.
# examples/source-siem as shipped (its cooldown as 0 s: the repeat updates
# at once) against the stateful fake of RT, whose answer to the update
# waits 2 s after doing it; in those 2 s RT's scrip posts "resolved" for
# the ticket (a person resolved it).  Then the key is resolved, and the
# next firing reopens the ticket (on_refire reopen) instead of commenting
# or updating a ticket RT has resolved.  A callback that is the echo of
# the alert's own action changes nothing (t/072-callback-rt.t, real RT).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use JSON::PP ();
use Time::HiRes ();
use ItsmExampleFlow;
use ItsmExample;
use ItsmFake;

my $Cb = 'itsmcb_test-token-of-rt-for-the-held-callback-00000';
my $A = \&ItsmExampleFlow::sentinel_alert;

my %x = ItsmExampleFlow::defaults(
    ItsmExampleFlow::sentinel_options(), kind => 'rt', connector => 'rt',
    credential => ['Authorization', $ItsmExampleFlow::RtToken, 'rt-auth.conf']);
push @{$x{replace}}, [qr/callback_token(\s+)sha256:[0-9a-f]{64}/, 'callback_token$1sha256:' . sha256_hex($Cb)];
$x{replace}[-1][1] = 'callback_token sha256:' . sha256_hex($Cb);

my $fake = ItsmFake->start(auth => $x{auth});
my $ex = ItsmExampleFlow::example(\%x, $fake, cooldown => '0s');
$ex->start;

sub post { my ($a) = @_; $ex->post($a->{path}, $a->{body}, $a->{headers}) }

my $res = post($A->(1, 1));
is($res->{status}, 201, 'the incident opens ticket 1');

# the update's answer waits 2 s after RT did it
$fake->fault(method => 'PUT', path => '^/REST/2\.0/ticket/1$', delay_after => 2000);

my $url = $ex->url('/alerts/siem');
my $a2 = $A->(1, 2);
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $r = HTTP::Tiny->new(timeout => 30)->post($url, {content => $a2->{body},
                headers => {%{$a2->{headers}}, 'Content-Type' => 'application/json'}});
    exit($r->{status} == 200 && $r->{content} =~ /"outcome":"updated"/ ? 0 : 1);
}

# RT has the update (its answer not sent yet): a person resolves the ticket
my $seen = ItsmExample::wait_for(sub { scalar @{$fake->requests(method => 'PUT')} }, 10);
ok($seen, 'RT got the update');

$res = $ex->post('/itsm/callback/rt',
                 '{"ticket": "1", "old_status": "open", "status": "resolved", "transaction": "101"}',
                 {Authorization => "Bearer $Cb"});
is($res->{status}, 200, "RT's callback: 200");
like($res->{content}, qr/^\{"outcome":"in_flight","ticket":"1",/, 'in flight: the alert holds the key');

waitpid($pid, 0);
is($? >> 8, 0, "the alert's own update: 200 updated");

my $st = $ex->status;
is_deeply([@{$st->{store}}{qw(open_tickets resolved_tickets claimed)}], [0, 1, 0],
          "the claim's end applied RT's resolve: the key is resolved");
like($ex->error_log, qr/\[notice\].*ticket "1" of connector "rt": the ITSM's change that came while an alert held its key is applied now \(key state 1 -> 2\)/,
     'logged at notice');

# the next firing: RT's ticket is resolved, so it is reopened
$fake->clear_faults;
$res = post($A->(1, 3));
is($res->{status}, 200, 'the next firing: 200');
like($res->{content}, qr/"action":"reopen","outcome":"reopened"/, 'it reopens the ticket');

# (the way back's PUT of the incident, Closed, went to the same fake: not RT's)
my @rt = grep { $_->{uri} =~ m{^/REST/} } @{$fake->requests};
is_deeply([map { "$_->{method} $_->{uri}" } @rt],
          ['POST /REST/2.0/ticket', 'PUT /REST/2.0/ticket/1', 'POST /REST/2.0/ticket/1/comment'],
          'RT got: the create, the update, the reopen');
like(($rt[2] || {})->{body} // '', qr/"Status":"open"/, 'the reopen sets the status open');

$ex->stop;
$fake->stop;
done_testing();
