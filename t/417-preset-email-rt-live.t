# examples/email-rt/ against a real Request Tracker 5 (Debian's
# request-tracker5), started by util/test.sh on $TEST_NGINX_RT_PORT
# (skipped without): the preset's own connector, maps and "mail" line,
# embedded as they are (t/lib/ItsmPreset.pm), with plain HTTP on loopback.
# RT's gateway opens a ticket for the firing email and one for the
# resolved email, with the preset's templated subjects, read back through
# RT's REST 2 API.  The preset's sender as shipped (alerts@example.com) is
# no RT user and "Everyone" may not create tickets in this RT: RT answers
# 200 "not ok", which the preset's "answer_ok ok" makes a 502; the first
# blocks send as RT's root (root@localhost), a sender RT knows.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;

ItsmHttp::plan_rt();

# a title no earlier run has used, so that a search finds this run's tickets
our $Token = "itsm-email-" . time() . "-$$";

sub http {
    my ($from) = @_;
    return ItsmPreset::http_config('email-rt', upstream => '127.0.0.1:$TEST_NGINX_RT_PORT',
                                   edit => sub { s/"alerts\@example\.com"/"$from"/ });
}

our $Config = ItsmPreset::config('email-rt') . ItsmConf::rt_api();    # RT's API for the checks

sub alert {
    my ($key, $status) = @_;
    qq{POST /alerts/generic\n{"key": "$key", "title": "$::Token Disk full on db-1", "severity": "critical", "description": "/var is 98% full", "resource": "db-1", "status": "$status"}};
}

# RT's tickets whose subject has the run's token
sub search { "GET /rt/REST/2.0/tickets?query=Subject%20LIKE%20'$::Token'&fields=Subject,Queue" }

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: firing, then resolved: two emails, two RT tickets with the preset's subjects, in the preset's queue
--- http_config eval: ::http('root@localhost')
--- config eval: $::Config
--- request eval: [::alert("$::Token-1", 'firing'), ::alert("$::Token-1", 'resolved'), ::search()]
--- more_headers eval: ["Content-Type: application/json", "Content-Type: application/json", ""]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/^\{"status":"created","alerts":\[\{"key":"[^"]+","action":"create","outcome":"created","connector":"rt_mail"\}\]\}\n\z/,
 qr/^\{"status":"resolved","alerts":\[\{"key":"[^"]+","action":"resolve","outcome":"resolved","connector":"rt_mail"\}\]\}\n\z/,
 qr/^(?=.*"count"\s*:\s*2\b)(?=.*"Subject"\s*:\s*"\[critical\] \Q$::Token\E Disk full on db-1")(?=.*"Subject"\s*:\s*"Resolved: \[critical\] \Q$::Token\E Disk full on db-1")/s]
--- no_error_log
[error]



=== TEST 2: the preset's sender as shipped, unknown to this RT: RT's 200 "not ok" is a 502 with RT's words, and no ticket
--- http_config eval: ::http('alerts@example.com')
--- config eval: $::Config
--- request eval: [::alert("$::Token-2", 'firing'), ::search()]
--- more_headers eval: ["Content-Type: application/json", ""]
--- error_code eval: [502, 200]
--- response_body_like eval
[qr/^\{"error":"itsm_rejected","connector":"rt_mail","action":"create","itsm_status":200,"itsm_error":"not ok - operation unsuccessful\\n"\}\n\z/,
 qr/"count"\s*:\s*2\b/]
