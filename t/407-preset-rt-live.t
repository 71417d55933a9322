# examples/request-tracker/ against a real Request Tracker 5 (Debian's
# request-tracker5), started by util/test.sh on $TEST_NGINX_RT_PORT: the
# preset's own connector and templates, embedded as they are
# (t/lib/ItsmPreset.pm), with two changes for this RT: plain HTTP on
# loopback and RT's demo account (root/password) instead of the preset's
# fake token.  A ticket is created, commented, resolved and reopened, and
# checked through RT's own REST API each time.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket;
use IO::Socket::INET;

my $port = $ENV{TEST_NGINX_RT_PORT};

if (!$port) {
    plan skip_all => "TEST_NGINX_RT_PORT is not set: no Request Tracker to "
                     . "test against (util/test.sh starts one)";

} elsif (!IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2)) {
    plan skip_all => "no Request Tracker answers on 127.0.0.1:$port "
                     . "(start one with: util/rt.sh start $port var/test-rt)";

} else {
    plan 'no_plan';
}

# a subject no earlier run has used, so that a search finds one ticket
our $Token = "itsm-preset-" . time() . "-$$";

our %Opt = (upstream => '127.0.0.1:$TEST_NGINX_RT_PORT', cooldown => '0s',
            header => {Authorization => '"Basic cm9vdDpwYXNzd29yZA=="'});

sub http { my (%opt) = @_; ItsmPreset::http_config('request-tracker', %Opt, %opt) }

sub config {
    my (%opt) = @_;
    ItsmPreset::config('request-tracker', %Opt, %opt) . <<'_EOC_';
    # RT's API for the checks
    location /rt/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RT_PORT/;
        proxy_set_header Authorization "Basic cm9vdDpwYXNzd29yZA==";
    }
_EOC_
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
--- error_code eval
[201, 200, 200, 200, 200, 200, 200]
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
--- error_code eval
[201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"commented"/,
 qr/^(?=.*"count"\s*:\s*2\b)(?=.*"Content"\s*:\s*"\Q$::Token-t2 \/var is 91% full\n\nSeverity: warning\nResource: db-2\nSource: generic\nAlert key: $::Token-t2\nLink: \E")(?=.*"Content"\s*:\s*"The alert is firing \(seen 2 times since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, severity warning\)\.\\n\Q$::Token-t2 \/var is 92% full\E")/s]



=== TEST 3: RT refuses a queue it does not have: 502 with RT's own message
--- http_config eval: ::http(edit => sub { s/default General;/default NoSuchQueue;/ })
--- config eval: ::config()
--- request eval
"POST /alerts/generic\n" . qq{{"key": "$::Token-q", "title": "$::Token goes nowhere"}}
--- more_headers
Content-Type: application/json
--- timeout: 30
--- error_code: 502
--- response_body_like: ^\{"error":"itsm_rejected","connector":"rt","action":"create","itsm_status":40[03],"itsm_error":"\{.*NoSuchQueue
