# The verify probe of a connector's credentials (ngx_http_itsm_verify.c):
# "verify GET PATH [every=TIME]" is sent at start, after a reload and on
# its interval, through the replay location, as a subrequest to the
# connector's location (its headers and credentials with it).  The
# registry (itsm_connectors) shows when, the ITSM's status, how long, the
# last time it passed, and the ITSM's own words when it failed; the
# delivery history has a line per probe; a failure is logged.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmConf;
use ItsmHttp;
use ItsmNginx;
use JSON::PP;
use Time::HiRes qw(sleep time);

master_on();
workers(2);
no_shuffle();

our $Json = JSON::PP->new->canonical;

# the registry's "verify" of each connector, once each has $want probes
# (up to $wait seconds)
sub verified {
    my ($want, $wait, @names) = @_;
    my $until = time + ($wait // 5);
    my %v;
    while (1) {
        my ($code, $body) = ItsmHttp::call('GET', '/connectors');
        my $doc = eval { $Json->decode($body) } || {};
        %v = map { $_->{name} => $_->{verify} } @{$doc->{connectors} || []};
        last if !grep { !ref $v{$_} || ($v{$_}{probes} // 0) < $want } @names;
        last if time > $until;
        sleep 0.1;
    }
    return \%v;
}

# what varies from run to run (times, ms) made fixed, the rest as it was
sub fixed {
    my ($v) = @_;
    my %c = %$v;
    $c{at} = $c{at} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/ ? 'TIME' : "bad: $c{at}" if defined $c{at};
    $c{last_verified} = $c{last_verified} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/ ? 'TIME' : "bad"
        if defined $c{last_verified};
    $c{ms} = $c{ms} =~ /^\d+$/ ? 'MS' : "bad: $c{ms}" if exists $c{ms};
    return $Json->encode(\%c);
}

our $Http = <<'_EOC_';
    log_format probe '$itsm_action $itsm_request_method $uri';
    itsm_zone itsm:1m;
    itsm_store logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_delivery_log logs/deliveries.log;
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={}';
        header    Authorization "Basic c2VjcmV0LXRva2Vu";
        verify    GET /rest/api/3/myself;
    }
    itsm_connector refused {
        location  /_itsm/refused;
        create    POST /issue 'body={}';
        verify    GET /rest/api/3/myself every=1h;
    }
    itsm_connector down {
        location  /_itsm/down;
        create    POST /issue 'body={}';
        verify    GET /ping;
    }
    itsm_connector quiet {
        location  /_itsm/quiet;
        create    POST /issue 'body={}';
    }
_EOC_

our $Config = <<'_EOC_';
    location = /_itsm/replay { itsm_replay; }
    location = /connectors { itsm_connectors; }
    location = /metrics { itsm_status prometheus; }
    location /_itsm/jira/ {
        internal;
        log_subrequest on;
        access_log logs/probe.log probe;
        if ($http_authorization != "Basic c2VjcmV0LXRva2Vu") { return 401; }
        return 200 '{"accountId":"5b10a2844c20165700ede21g"}';
    }
    location /_itsm/refused/ {
        internal;
        return 401 '{"errorMessages":["Client must be authenticated to access this resource."]}';
    }
    location /_itsm/down/ { internal; proxy_pass http://127.0.0.1:1/; }
_EOC_

# connector $name (default "a") with "verify GET /x $params"
sub conn_verify {
    my ($params, $name) = @_;
    $name //= 'a';
    return "    itsm_connector $name {\n        location /_itsm/$name;\n        create POST /x 'body={}';\n"
         . "        verify GET /x $params;\n    }\n";
}

run_tests();

__DATA__

=== TEST 1: at start each connector with "verify" is probed once: a 2xx verified, a 401 with the ITSM's words, no answer; one without "verify" has null
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my $v = ::verified(1, 10, qw(jira refused down));
Test::More::is(::fixed($v->{jira}), '{"at":"TIME","error":"","failures":0,"last_verified":"TIME","ms":"MS","path":"/rest/api/3/myself","probes":1,"status":200,"verified":true}', "jira: verified, with its header's credentials");
Test::More::is(::fixed($v->{refused}), '{"at":"TIME","error":"{\"errorMessages\":[\"Client must be authenticated to access this resource.\"]}","failures":1,"last_verified":null,"ms":"MS","path":"/rest/api/3/myself","probes":1,"status":401,"verified":false}', "refused: the ITSM's own words");
Test::More::is(::fixed($v->{down}), '{"at":"TIME","error":"","failures":1,"last_verified":null,"ms":"MS","path":"/ping","probes":1,"status":502,"verified":false}', "down: no answer is a 502");
Test::More::ok(exists $v->{quiet} && !defined $v->{quiet}, "quiet (no verify): null");
my @h = grep { /"step":"verify"/ } ItsmHttp::log_lines("deliveries.log", 3);
Test::More::is(scalar(@h), 3, "the history has a line per probe");
my ($j) = grep { /"connector":"jira"/ } @h;
Test::More::like($j // '', qr/^\{"time":"[^"]+","connector":"jira","action":"verify","step":"verify","key":"","ticket":"","method":"GET","uri":"\/_itsm\/jira\/rest\/api\/3\/myself","status":200,/, "jira's line");
Test::More::unlike(join("\n", ItsmHttp::read_lines("deliveries.log")), qr/c2VjcmV0|secret-token/, "the credential is not in the history");
my (undef, $m) = ItsmHttp::call('GET', '/metrics');
Test::More::is(join("\n", grep { /verify/ } split /\n/, $m),
               join("\n", "# HELP itsm_connector_verify_probes_total Verify probes of the connector's credentials, by result.",
                    "# TYPE itsm_connector_verify_probes_total counter",
                    'itsm_connector_verify_probes_total{connector="jira",result="ok"} 1',
                    'itsm_connector_verify_probes_total{connector="jira",result="failed"} 0',
                    'itsm_connector_verify_probes_total{connector="refused",result="ok"} 0',
                    'itsm_connector_verify_probes_total{connector="refused",result="failed"} 1',
                    'itsm_connector_verify_probes_total{connector="down",result="ok"} 0',
                    'itsm_connector_verify_probes_total{connector="down",result="failed"} 1'),
               "Prometheus: each probed connector's probes by result");
Test::More::is(join("\n", ItsmHttp::log_lines("probe.log", 1)), 'verify GET /_itsm/jira/rest/api/3/myself', '$itsm_action says verify in the ITSM location');
# (nginx's own debug lines of the test's "if" show it; the module's do not)
Test::More::is(join("\n", grep { /itsm/ && /c2VjcmV0|secret-token/ } ItsmHttp::read_lines("error.log")), '', "nor in the module's log lines");
--- request
GET /connectors
--- response_body_like: "verify":null
--- error_log eval
[qr/itsm verify: connector "refused" failed its probe: the ITSM answered 401: "\{"errorMessages"/,
 qr/itsm verify: connector "down" failed its probe: the ITSM answered 502 \(no answer\)/]
--- timeout: 20



=== TEST 2: every=10s: a connector that stops working is seen at its next probe; last_verified keeps the time it last passed
--- http_config
    itsm_store logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_connector flip {
        location  /_itsm/flip;
        create    POST /issue 'body={}';
        verify    GET /health every=10s;
    }
--- config
    location = /_itsm/replay { itsm_replay; }
    location = /connectors { itsm_connectors; }
    location /_itsm/flip/ {
        internal;
        if (-f $document_root/broken) { return 503 '{"error":"maintenance"}'; }
        return 204;
    }
--- init
unlink "$ENV{TEST_NGINX_SERVROOT}/html/broken" if $ENV{TEST_NGINX_SERVROOT};
my $v = ::verified(1, 10, 'flip');
my $first = $v->{flip}{last_verified} // '';
Test::More::is(::fixed($v->{flip}), '{"at":"TIME","error":"","failures":0,"last_verified":"TIME","ms":"MS","path":"/health","probes":1,"status":204,"verified":true}', "the first probe passed");
my $root = Test::Nginx::Util::server_root() . "/html";
open(my $f, '>', "$root/broken") or die "$root/broken: $!"; close $f;
sleep 5;
Test::More::is(::verified(1, 1, 'flip')->{flip}{probes}, 1, "5 s after it, no second probe yet");
$v = ::verified(2, 15, 'flip');
unlink "$root/broken";
Test::More::is(::fixed($v->{flip}), '{"at":"TIME","error":"{\"error\":\"maintenance\"}","failures":1,"last_verified":"TIME","ms":"MS","path":"/health","probes":2,"status":503,"verified":false}', "the second, 10 s later, failed");
Test::More::is($v->{flip}{last_verified}, $first, "last_verified is the first probe's time");
Test::More::isnt($v->{flip}{at}, $first, "at is the second's");
--- request
GET /connectors
--- response_body_like: "probes":2
--- timeout: 40



=== TEST 3: a reload probes again at once; the outcome is kept by name across it
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config eval: $::Http
--- config eval: $::Config
--- init
# (under valgrind, where nginx is not kept across blocks, the block is
# skipped: skip_eval is read after init)
return if $ENV{TEST_NGINX_USE_VALGRIND};
my $v = ::verified(1, 10, qw(jira refused down));
Test::More::is(join(',', map { $v->{$_}{probes} } qw(jira refused down)), '1,1,1', "one probe each before the reload");
ItsmNginx::reload();
$v = ::verified(2, 10, qw(jira refused down));
Test::More::is(join(',', map { "$v->{$_}{probes}/$v->{$_}{failures}" } qw(jira refused down)), '2/0,2/2,2/2', "a second each after it");
--- request
GET /connectors
--- response_body_like: "probes":2
--- timeout: 30



=== TEST 4: "verify" needs the replay location
--- http_config
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={}';
        verify    GET /rest/api/3/myself;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_connector "jira" \(\S+nginx\.conf:\d+\): "verify" is sent through the replay location: declare "itsm_store" and "itsm_replay_url" at http level and a location with "itsm_replay;"/



=== TEST 5: a probe only reads: another method is refused
--- http_config
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={}';
        verify    POST /rest/api/3/myself;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid method "POST" in "verify": a verify only reads, use GET in \S+nginx\.conf:\d+/



=== TEST 6: the path carries no placeholder
--- http_config
    itsm_connector jira {
        location  /_itsm/jira;
        create    POST /issue 'body={}';
        verify    GET "/rest/api/3/issue/{{ ticket_id }}";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid path "\/rest\/api\/3\/issue\/\{\{ ticket_id \}\}" in "verify": the probe carries no alert, write the path without placeholders/



=== TEST 7: every=9s, below the least
--- http_config eval: ::conn_verify('every=9s')
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid every "9s" in "verify"; expected 10s to 1d, e\.g\. every=5m in \S+nginx\.conf:\d+/



=== TEST 8: every=86401s, above the most
--- http_config eval: ::conn_verify('every=86401s')
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid every "86401s" in "verify"; expected 10s to 1d/



=== TEST 9: every=soon is no time
--- http_config eval: ::conn_verify('every=soon')
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid every "soon" in "verify"; expected 10s to 1d/



=== TEST 10: another parameter
--- http_config eval: ::conn_verify('often=1m')
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "often=1m" in "verify"; expected every=TIME, how often the probe is sent, e\.g\. every=5m/



=== TEST 11: "verify" twice in a connector
--- http_config eval: ::conn_verify("every=1m;\n        verify GET /y")
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"verify" is duplicate in itsm_connector "a"/



=== TEST 12: every=10s and every=86400s (1d) are taken
--- http_config eval: ::conn_verify('every=10s') . "    itsm_store logs/state.mdb;\n    itsm_replay_url http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_itsm/replay;\n" . ::conn_verify('every=86400s', 'b')
--- config
    location = /_itsm/replay { itsm_replay; }
    location /_itsm/ { internal; return 200; }
    location = /connectors { itsm_connectors; }
--- init
my $v = ::verified(1, 10, qw(a b));
Test::More::is(join(',', map { "$v->{$_}{probes}:$v->{$_}{status}:" . ($v->{$_}{verified} ? 'ok' : 'failed') } qw(a b)), '1:200:ok,1:200:ok', "both probed at start");
--- request
GET /connectors
--- response_body_like: "verified":true
