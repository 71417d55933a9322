# The seen-delivery cache lives in shared memory: it is shared by the
# workers and survives a reload (HUP), and so do the access counters.  A master process is needed for
# both (nginx without one does not serve again after a HUP).
use Test::Nginx::Socket;

# a reload needs one nginx across blocks, which Test::Nginx's valgrind mode
# does not keep (it restarts nginx after every block)
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks');
} else {
    plan('no_plan');
}

use Digest::SHA qw(hmac_sha256_hex);

master_on();
workers(2);

our $Alert = '{"key": "rl-1", "title": "Reloaded"}';
our $Headers = "Content-Type: application/json\nX-Hub-Signature-256: sha256="
               . hmac_sha256_hex($Alert, 'gh') . "\n";

our $HttpConfig = <<'_EOC_';
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
    itsm_signature_replay_zone seen:1m;
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; return 201 '{"id":"16"}'; }
    location = /alerts {
        itsm_signature github secret=gh;
        itsm_signature_replay zone=seen ttl=1h;
        itsm_pass mock;
    }
    location = /counters { return 200 "$itsm_access_counters\n"; }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a delivery, then its copies, whichever of two workers gets them
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /alerts\n$::Alert", "POST /alerts\n$::Alert", "POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval
[$::Headers, $::Headers, $::Headers, $::Headers]
--- error_code eval
[201, 200, 200, 200]



=== TEST 2: after a reload (HUP) the copy is still a duplicate
--- init
open(my $fh, '<', "$Test::Nginx::Util::ServRoot/logs/nginx.pid") or die $!;
my $pid = <$fh>;
chomp $pid;
kill 'HUP', $pid;
select(undef, undef, undef, 1);
--- request eval
"POST /alerts\n$::Alert"
--- more_headers eval
$::Headers
--- error_code: 200
--- response_body_like: ^\{"status":"duplicate",



=== TEST 3: the counters of both workers, before and after the reload
--- request
GET /counters
--- response_body_like: ^\{"passed":1,.*"duplicate":4,
