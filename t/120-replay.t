# itsm_signature_replay: the seen-delivery cache in shared memory.  A delivery
# whose first attempt failed is forgotten, so that the sender's resend is
# handled afresh; a full cache evicts its oldest entries first.  (Duplicates
# of each scheme: t/11*.t; what takes real time or one nginx across blocks,
# in flight, expiry: t/122-replay-time.t; reloads: t/121-replay-reload.t.)
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Alert = '{"key": "rp-1", "title": "Replayed"}';

sub std { ItsmSig::headers('standard_webhooks', secret => $ItsmConf::ReplaySecret, body => $Alert, id => $_[0]) }
sub gh { ItsmSig::headers('github', key => 'gh', body => $_[0], bare => 1) }

our $HttpConfig = ItsmConf::replay_http('slow');
our $Config = ItsmConf::replay_config(github_ttl => '1s');

ItsmConf::defaults(http_config => $HttpConfig, config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a delivery whose first attempt failed (503) is handled again when resent
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
my $h = ::std('msg_failed');
[$h, $h]
--- error_code eval: [503, 503]
--- response_body_like eval: ['"error":"itsm_unavailable"', '"error":"itsm_unavailable"']
--- error_log
connect() failed



=== TEST 2: a full zone forgets its oldest deliveries first, and keeps working
--- request eval: [ map({ "POST /tiny\n$::Alert $_" } 1 .. 400), "POST /tiny\n$::Alert 400", "POST /tiny\n$::Alert 1" ]
--- more_headers eval: [ map({ ::gh("$::Alert $_") } 1 .. 400), ::gh("$::Alert 400"), ::gh("$::Alert 1") ]
--- error_code eval: [ (204) x 400, 200, 204 ]
--- no_error_log
[alert]
[crit]
