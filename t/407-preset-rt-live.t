# examples/request-tracker/ against a real Request Tracker 5 (Debian's
# request-tracker5), started by util/test.sh on $TEST_NGINX_RT_PORT: the
# preset's own connector and templates, embedded as they are
# (t/lib/ItsmPreset.pm), with two changes for this RT: plain HTTP on
# loopback and RT's demo account (root/password) instead of the preset's
# fake token.  A ticket is created, commented, resolved and reopened, and
# checked through RT's own REST API each time.
#
# TEST 5 on: a create whose answer is lost.  t/lib/ItsmLossy.pm sits
# between nginx and RT: it forwards the create, RT makes the ticket, and
# the proxy closes nginx's connection without RT's answer; the next copy of
# the alert finds that ticket by its custom field "ITSM Alert Key" (the
# SHA-256 of the key, Digest::SHA here) and RT keeps exactly one.  The
# same for a create that never reached RT, and for the quickstart's
# nginx.conf (examples/quickstart), which util/rt.sh's RT serves.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use ItsmLossy;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;

my $port = ItsmHttp::plan_rt();

# the proxy that loses answers (TEST 5 on); TEST_NGINX_LOSSY_PORT picks
# its port, else a free one
$ENV{TEST_NGINX_LOSSY_PORT} = ItsmLossy::start(backend => "127.0.0.1:$port",
                                               port => $ENV{TEST_NGINX_LOSSY_PORT});

# a subject no earlier run has used, so that a search finds one ticket
our $Token = "itsm-preset-" . time() . "-$$";

our %Opt = (upstream => '127.0.0.1:$TEST_NGINX_RT_PORT', cooldown => '0s',
            header => {Authorization => '"Basic cm9vdDpwYXNzd29yZA=="'});

sub http { my (%opt) = @_; ItsmPreset::http_config('request-tracker', %Opt, %opt) }

sub config {
    my (%opt) = @_;
    ItsmPreset::config('request-tracker', %Opt, %opt) . ItsmConf::rt_api();    # RT's API for the checks
}

sub alert {
    my ($status, $text) = @_;
    qq{POST /alerts/generic\n{"key": "$::Token", "title": "$::Token Disk full on db-1", "severity": "critical", "description": "$text", "resource": "db-1", "status": "$status"}};
}

# the tickets with the run's subject: exactly one, in this status
sub search { "GET /rt/REST/2.0/tickets?query=Subject%3D'$::Token%20Disk%20full%20on%20db-1'&fields=Subject,Status,Priority,Queue" }

sub one_ticket {
    my ($status) = @_;
    return qr/^(?=.*"count"\s*:\s*1\b)(?=.*"Status"\s*:\s*"$status")(?=.*"Priority"\s*:\s*"100")/s;
}

# ---- the create's answer lost (TEST 5 on) ---------------------------------

our %Lossy = (%Opt, upstream => '127.0.0.1:$TEST_NGINX_LOSSY_PORT');

# an alert of key $::Token-$tag titled "$::Token $tag"; a description
# holding LOSE-THE-ANSWER or LOSE-THE-REQUEST makes the proxy lose it
sub lossy_alert {
    my ($tag, $status, $text) = @_;
    qq{POST /alerts/generic\n{"key": "$::Token-$tag", "title": "$::Token $tag", "severity": "critical", "description": "$text", "resource": "db-1", "status": "$status"}};
}

# RT's tickets titled "$::Token $tag", and those whose "ITSM Alert Key" is
# the SHA-256 of the key $::Token-$tag (resolved ones too)
sub by_subject { "GET /rt/REST/2.0/tickets?query=Subject%3D'$::Token%20$_[0]'&fields=Subject,Status" }

sub by_key {
    my $h = sha256_hex("$::Token-$_[0]");
    "GET /rt/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27$h%27&fields=Subject,Status";
}

# exactly $n tickets, the first (if any) titled "$::Token $tag" and in $status
sub tickets {
    my ($n, $tag, $status) = @_;
    return qr/^(?=.*"count"\s*:\s*0\b)(?=.*"items"\s*:\s*\[\s*\])/s if $n == 0;
    return qr/^(?=.*"count"\s*:\s*$n\b)(?=.*"Subject"\s*:\s*"$::Token $tag")(?=.*"Status"\s*:\s*"$status")/s;
}

sub lost_answer {
    my ($connector) = @_;
    qr/^\{"error":"itsm_unavailable","connector":"$connector","action":"create","itsm_status":502,"itsm_error":"no answer from the ITSM: /;
}

sub created {
    my ($tag, $connector, $found) = @_;
    my $reason = $found ? ',"reason":"an earlier create of this key made the ticket, but its answer was lost; the ticket was found in the ITSM"' : '';
    qr/^\{"status":"created","alerts":\[\{"key":"$::Token-$tag","action":"create","outcome":"created","connector":"$connector","ticket_id":"\d+"\Q$reason\E\}\]\}$/;
}

# the quickstart as "make run" writes it, its RT address replaced by the
# proxy's and its signing secret by one of this test's
our $Secret = do {
    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/signed.secret") or die "$dir/signed.secret: $!";
    print $fh "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
    close $fh;
    "$dir/signed.secret";
};

our %Quickstart = (edit => sub {
    s{http://127\.0\.0\.1:8081/}{http://127.0.0.1:\$TEST_NGINX_LOSSY_PORT/}g;
    s{secret=file:[^\s;]+}{secret=file:$::Secret}g;
});

sub quickstart_config {
    ItsmPreset::config('quickstart', %Quickstart) . <<'_EOC_';
    location /rt/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RT_PORT/;
        proxy_set_header Authorization "Basic cm9vdDpwYXNzd29yZA==";
    }
_EOC_
}

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: create, comment, resolve, reopen: one ticket in RT, in the state the alert says
--- http_config eval: ::http()
--- config eval: ::config()
--- request eval
[::alert("firing", "/var is 98% full"), ::search(),
 ::alert("firing", "/var is 99% full"),
 ::alert("resolved", "/var is 70% full"), ::search(),
 ::alert("firing", "/var is 97% full"), ::search()]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [201, 200, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"$::Token","action":"create","outcome":"created","connector":"rt","ticket_id":"\d+"\}\]\}$/,
 ::one_ticket("new"),
 qr/"action":"comment","outcome":"commented","connector":"rt","ticket_id":"\d+"/,
 qr/"action":"resolve","outcome":"resolved","connector":"rt","ticket_id":"\d+"/,
 ::one_ticket("resolved"),
 qr/"action":"reopen","outcome":"reopened","connector":"rt","ticket_id":"\d+"/,
 ::one_ticket("open")]
--- no_error_log
[error]



=== TEST 2: the texts of the preset's templates arrive in RT as they were rendered
--- http_config eval: ::http()
--- config eval: ::config()
--- request eval
["POST /alerts/generic\n" . qq{{"key": "$::Token-t2", "title": "$::Token texts", "severity": "warning", "description": "$::Token-t2 /var is 91% full", "resource": "db-2", "status": "firing"}},
 "POST /alerts/generic\n" . qq{{"key": "$::Token-t2", "title": "$::Token texts", "severity": "warning", "description": "$::Token-t2 /var is 92% full", "resource": "db-2", "status": "firing"}},
 "POST /rt/REST/2.0/attachments?fields=ContentType,Content&orderby=id&order=ASC\n" . qq{[{"field": "Content", "operator": "LIKE", "value": "$::Token-t2"}]}]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"commented"/,
 qr/^(?=.*"count"\s*:\s*2\b)(?=.*"Content"\s*:\s*"\Q$::Token-t2 \/var is 91% full\n\nSeverity: warning\nResource: db-2\nSource: generic\nAlert key: $::Token-t2\nLink: \E")(?=.*"Content"\s*:\s*"The alert is firing \(seen 2 times since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, severity warning\)\.\\n\Q$::Token-t2 \/var is 92% full\E")/s]



=== TEST 3: the configuration item is bound: RT's custom field "ITSM Configuration Item" holds the alert's CI (Azure's configurationItems)
--- http_config eval: ::http()
--- config eval: ::config()
--- request eval
["POST /alerts/generic\n" . qq{{"key": "$::Token-ci", "title": "$::Token ci", "severity": "warning", "description": "d", "resource": "vm-web-01", "configuration_items": ["vm-web-01"], "status": "firing"}},
 "GET /rt/REST/2.0/tickets?query=Subject%3D'$::Token%20ci'&fields=Subject,CustomFields&fields[CustomFields]=name,values"]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [201, 200]
--- response_body_like eval
[qr/"outcome":"created"/,
 qr/^(?=.*"count"\s*:\s*1\b)(?=.*\{(?=[^{}]*"name"\s*:\s*"ITSM Configuration Item")(?=[^{}]*"values"\s*:\s*\[\s*"vm-web-01"\s*\])[^{}]*\})/s]



=== TEST 4: RT refuses a queue it does not have: 502 with RT's own message
--- http_config eval: ::http(edit => sub { s/default General;/default NoSuchQueue;/ })
--- config eval: ::config()
--- request eval: "POST /alerts/generic\n" . qq{{"key": "$::Token-q", "title": "$::Token goes nowhere"}}
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code: 502
--- response_body_like: ^\{"error":"itsm_rejected","connector":"rt","action":"create","itsm_status":40[03],"itsm_error":"\{.*NoSuchQueue



=== TEST 5: RT makes the ticket, its answer is lost: 503; the next copy finds it by its custom field and creates nothing; RT has one ticket, the one the key then resolves
--- http_config eval: ::http(%::Lossy)
--- config eval: ::config(%::Lossy)
--- request eval
[::lossy_alert("t4", "firing", "LOSE-THE-ANSWER /var is 98% full"), ::by_subject("t4"),
 ::lossy_alert("t4", "firing", "/var is 99% full"), ::by_key("t4"),
 ::lossy_alert("t4", "resolved", "/var is 70% full"), ::by_subject("t4")]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [503, 200, 201, 200, 200, 200]
--- response_body_like eval
[::lost_answer("rt"), ::tickets(1, "t4", "new"),
 ::created("t4", "rt", 1), ::tickets(1, "t4", "new"),
 qr/"action":"resolve","outcome":"resolved","connector":"rt","ticket_id":"\d+"/, ::tickets(1, "t4", "resolved")]



=== TEST 6: the create never reaches RT: 503; the next copy's find finds no ticket and creates it; RT has one, with the key's hash
--- http_config eval: ::http(%::Lossy)
--- config eval: ::config(%::Lossy)
--- request eval
[::lossy_alert("t5", "firing", "LOSE-THE-REQUEST /var is 98% full"), ::by_subject("t5"),
 ::lossy_alert("t5", "firing", "/var is 99% full"), ::by_key("t5")]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [503, 200, 201, 200]
--- response_body_like eval
[::lost_answer("rt"), ::tickets(0),
 ::created("t5", "rt"), ::tickets(1, "t5", "new")]



=== TEST 7: the quickstart: RT makes the ticket, its answer is lost: 503; the next copy finds it; one ticket, the one the key then resolves
--- http_config eval: ItsmPreset::http_config('quickstart', %::Quickstart)
--- config eval: ::quickstart_config()
--- request eval
[::lossy_alert("t6", "firing", "LOSE-THE-ANSWER /var is 98% full"), ::by_subject("t6"),
 ::lossy_alert("t6", "firing", "/var is 99% full"), ::by_key("t6"),
 ::lossy_alert("t6", "resolved", "/var is 70% full"), ::by_subject("t6")]
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code eval: [503, 200, 201, 200, 200, 200]
--- response_body_like eval
[::lost_answer("rt"), ::tickets(1, "t6", "new"),
 ::created("t6", "rt", 1), ::tickets(1, "t6", "new"),
 qr/"action":"resolve","outcome":"resolved","connector":"rt","ticket_id":"\d+"/, ::tickets(1, "t6", "resolved")]
