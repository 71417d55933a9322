# End to end with real components only: Debian's Alertmanager receives
# alerts on its API and sends its real webhooks through nginx and the
# module into a real Request Tracker (started by util/test.sh on
# $TEST_NGINX_RT_PORT).  Firing: one ticket; still firing, resent by
# Alertmanager: no second ticket; resolved: the ticket is resolved in RT,
# as RT's own REST API says.
use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmAlertmanager;
use HTTP::Tiny;
use IO::Socket::INET;

our $Rt = $ENV{TEST_NGINX_RT_PORT};
our ($Hook, $Api);

# a rule name no earlier run used: RT keeps its tickets between runs
our $Rule = "DiskFull" . time() . "x$$";
our $Auth = 'Basic cm9vdDpwYXNzd29yZA==';          # root:password, demo RT

if (my $why = ItsmAlertmanager::missing()) {
    plan skip_all => $why;

} elsif (!$Rt || !IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Rt", Timeout => 2)) {
    plan skip_all => "no Request Tracker on TEST_NGINX_RT_PORT (util/test.sh starts one)";

} else {
    ($Hook, $Api, my $why) = ItsmAlertmanager::start(
        dir => 'itsm-am-rt', group_by => '[alertname, instance]', repeat_interval => '2s',
        path => '/alerts/alertmanager');
    plan $why ? (skip_all => $why) : 'no_plan';
}

sub alert { my ($ends) = @_;
    "[{\"labels\": {\"alertname\": \"$::Rule\", \"instance\": \"db-1:9100\", "
    . "\"severity\": \"critical\"}, \"annotations\": {\"summary\": \"/var is 98% full\"}"
    . ($ends ? ", \"endsAt\": \"$ends\"" : "") . "}]" }

# RT's tickets for this run's rule: (count, status of the first)
sub rt_tickets {
    my $http = HTTP::Tiny->new(timeout => 5);
    my $q = "Subject LIKE '$::Rule'";
    $q =~ s/([^A-Za-z0-9])/sprintf("%%%02X", ord $1)/ge;
    my $res = $http->get("http://127.0.0.1:$::Rt/REST/2.0/tickets?query=$q&fields=Status,Subject",
                         { headers => { Authorization => $::Auth } });
    return (-1, '') unless $res->{success};
    my ($count) = $res->{content} =~ /"count"\s*:\s*(\d+)/;
    my ($status) = $res->{content} =~ /"Status"\s*:\s*"(\w+)"/;
    return ($count // 0, $status // '');
}

# waits (at most 30 s) until RT shows what is expected
sub wait_rt {
    my ($count, $status) = @_;
    for (1 .. 150) {
        my ($c, $s) = rt_tickets();
        return if $c == $count && ($status eq '' || $s eq $status);
        select undef, undef, undef, 0.2;
    }
}

# RT may show the change before nginx has read RT's answer and recorded it:
# waits (at most 30 s) until the module's status page shows "$what"
sub wait_status {
    my ($what) = @_;
    my $http = HTTP::Tiny->new(timeout => 5);
    for (1 .. 150) {
        my $res = $http->get("http://127.0.0.1:$::Hook/itsm/status");
        return if $res->{success} && index($res->{content}, $what) >= 0;
        select undef, undef, undef, 0.2;
    }
}

sub now_iso {
    my @t = gmtime(time - 1);
    sprintf "%04d-%02d-%02dT%02d:%02d:%02dZ", $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0];
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Alertmanager gets a firing alert and sends it: one ticket in RT
--- http_config eval
"    itsm_zone  itsm:1m;
    itsm_store logs/state.mdb;
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={\"Queue\": \"General\", \"Subject\": \"{{ title }} on {{ resource }}\", \"Content\": \"{{ description }}\", \"ContentType\": \"text/plain\"}';
        comment    POST \"/REST/2.0/ticket/{{ ticket_id }}/comment\" 'body={\"Content\": \"still firing\", \"ContentType\": \"text/plain\"}';
        resolve    PUT \"/REST/2.0/ticket/{{ ticket_id }}\" 'body={\"Status\": \"resolved\"}';
        ticket_id  /id;
    }
    server {
        listen 127.0.0.1:$::Hook;
        location /_itsm/rt/ {
            internal;
            proxy_pass http://127.0.0.1:$::Rt/;
            proxy_set_header Authorization \"$::Auth\";
            proxy_read_timeout 30s;
        }
        location = /alerts/alertmanager { itsm_source alertmanager; itsm_pass rt; }
        location = /itsm/status { itsm_status; }
    }
"
--- config eval
"location /am/ { proxy_pass http://127.0.0.1:$::Api/; }
 location /hook/ { proxy_pass http://127.0.0.1:$::Hook/; }"
--- request eval: "POST /am/api/v2/alerts\n" . ::alert()
--- more_headers
Content-Type: application/json
--- error_code: 200



=== TEST 2: RT has the ticket; its subject is the alert's rule and instance
--- init
::wait_rt(1);
::wait_status('"claimed":0');
--- request eval: "GET /hook/itsm/status"
--- error_code: 200
--- response_body_like: "alertmanager":\{"created":1,
--- error_log eval: qr/itsm: connector "rt" created ticket "\d+" for alert "[0-9a-f]{16}"/



=== TEST 3: still firing, sent again by Alertmanager: no second ticket
--- init
sleep 5;
--- request eval: "GET /hook/itsm/status"
--- error_code: 200
--- response_body_like: "alertmanager":\{"created":1,"commented":0,"updated":0,"resolved":0,"reopened":0,"duplicate":[1-9]
--- no_error_log
[error]



=== TEST 4: the alert ends: Alertmanager sends it resolved
--- request eval: "POST /am/api/v2/alerts\n" . ::alert(::now_iso())
--- more_headers
Content-Type: application/json
--- error_code: 200



=== TEST 5: the ticket is resolved in RT, and RT has exactly one ticket for the rule
--- init
::wait_rt(1, 'resolved');
::wait_status('"claimed":0');
--- request eval: "GET /hook/itsm/status"
--- error_code: 200
--- response_body_like: "alertmanager":\{"created":1,"commented":0,"updated":0,"resolved":1,
--- error_log eval: qr/itsm: connector "rt" resolved ticket "\d+" for alert "[0-9a-f]{16}"/



=== TEST 6: RT's own API: one ticket, resolved, subject from the alert
--- request eval: "GET /rt/REST/2.0/tickets?query=Subject%20LIKE%20'$::Rule'&fields=Status,Subject"
--- config eval: "location /rt/ { proxy_pass http://127.0.0.1:$::Rt/; proxy_set_header Authorization \"$::Auth\"; }"
--- error_code: 200
--- response_body_like eval: qr/^(?=.*"count"\s*:\s*1\b)(?=.*"Status"\s*:\s*"resolved")(?=.*"Subject"\s*:\s*"$::Rule on db-1:9100")/s
