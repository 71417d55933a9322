# The signed quickstart, tried as a new user would, against a real Request
# Tracker 5 (util/test.sh starts one on $TEST_NGINX_RT_PORT): a secret made
# the way "make run" makes var/signed.secret, an endpoint configured as
# examples/quickstart's /alerts/signed, and util/send-signed.sh.  A signed
# alert creates a ticket; the same request again is answered 200
# "duplicate"; the request with one byte of the body changed gets 401; RT
# has exactly one ticket.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;
use File::Temp qw(tempdir);

my ($port, $why) = ItsmHttp::rt();

if (!$port) {
    plan skip_all => $why;
} else {
    plan 'no_plan';
}

our $Send = "$FindBin::Bin/../util/send-signed.sh";
our $Dir = tempdir(CLEANUP => 1);
our $Token = "itsm-s" . time() . "-$$";

# as util/run.sh does: whsec_ and the base64 of 24 random bytes
$ENV{TEST_NGINX_SIGNED_SECRET} = "$Dir/signed.secret";
system("umask 077 && printf 'whsec_%s\\n' \"\$(openssl rand -base64 24)\" > $Dir/signed.secret") == 0
    or die "cannot write the secret";

open(my $fh, '>', "$Dir/alert.json") or die $!;
print $fh qq({"key": "$Token-cert", "title": "$Token certificate expires", "severity": "warning", "description": "in 7 days", "status": "firing"}\n);
close $fh;

# runs a command, returns its output (stderr included)
sub sh { my $out = `$_[0] 2>&1`; return $out; }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: signed: a ticket; again: duplicate; one byte changed: 401; RT has one ticket
--- http_config
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}", "Content": "{{ description }}", "ContentType": "text/plain"}';
        ticket_id  /id;
    }
    itsm_signature_replay_zone  webhooks:1m;
--- config eval
ItsmConf::rt_itsm() . <<'_EOC_' . ItsmConf::rt_api()
    location = /alerts/signed {
        itsm_signature         standard_webhooks
                               secret=file:$TEST_NGINX_SIGNED_SECRET;
        itsm_signature_replay  zone=webhooks;
        itsm_pass              rt;
    }
_EOC_
--- init
my $url = "http://127.0.0.1:$Test::Nginx::Util::ServerPortForClient/alerts/signed";
my @args = ("-u", $url, "-s", $::ENV{TEST_NGINX_SIGNED_SECRET});
my $ts = time();
my $cmd = "$::Send @args -i msg_$::Token -t $ts $::Dir/alert.json";

Test::More::like(::sh($cmd), qr/"status":"created".*"ticket_id":"\d+".*HTTP 201/s,
                 "a signed alert creates a ticket");
Test::More::like(::sh($cmd), qr/^\{"status":"duplicate",.*HTTP 200/ms,
                 "the same request again is a duplicate");

my $curl = ::sh("$::Send -n @args -i msg_$::Token-2 $::Dir/alert.json");
system("sed -i 's/7 days/8 days/' $::Dir/alert.json");
Test::More::like(::sh($curl), qr/^\{"error":"signature_mismatch",/,
                 "the request with one byte changed is refused");
--- request eval: "GET /rt/REST/2.0/tickets?query=Subject%3D'$::Token%20certificate%20expires'&fields=Subject"
--- timeout: 30
--- response_body_like eval: qr/"count"\s*:\s*1\b/
--- no_error_log
[error]
