# $itsm_request_method: the method of the request to the ITSM.  In the ITSM
# location's access log (log_subrequest on), $request_method is the alert's
# (the main request's POST), so a PUT or a lookup's GET was logged as POST.
# Every preset logs its ITSM requests with $itsm_request_method; the
# redmine preset (PUT for comment, update, resolve, reopen) is run with its
# own log_format, embedded as shipped (t/lib/ItsmPreset.pm).
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPreset;
use Test::Nginx::Socket 'no_plan';

our $HttpConfig = <<'_EOC_';
    itsm_zone  itsm:1m;
    itsm_store logs/state.mdb;
    log_format itsm_sub  '$itsm_connector $itsm_action key="$itsm_key" $itsm_request_method $uri alert=$request_method';
    log_format itsm_main '$request_method $uri $status itsm=$itsm_request_method';
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /issue 'body={"title": "{{ title }}"}';
        comment   POST "/issue/{{ ticket_id }}/comment" 'body={"n": "{{ occurrences }}"}';
        resolve   PUT "/issue/{{ ticket_id }}" 'body={"transition": "{{ lookup }}"}';
        lookup    resolve GET "/issue/{{ ticket_id }}/transitions" list=/transitions match=/name "want=Resolve Issue" take=/id;
        ticket_id /key;
        on_repeat comment cooldown=0;
    }
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/mock/ {
        internal;
        log_subrequest on;
        access_log logs/itsm.log itsm_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/;
    }
    location = /mock/issue { return 201 '{"key":"OPS-17"}'; }
    location = /mock/issue/OPS-17/comment { return 201 '{}'; }
    location = /mock/issue/OPS-17/transitions { return 200 '{"transitions":[{"id":"31","name":"Resolve Issue"}]}'; }
    location = /mock/issue/OPS-17 { return 204; }
    location = /alerts { access_log logs/alerts.log itsm_main; itsm_pass mock; }
    location = /log/itsm { alias logs/itsm.log; }
    location = /log/alerts { alias logs/alerts.log; }
_EOC_

sub alert { my ($status) = @_; "POST /alerts\n{\"key\": \"db-1\", \"title\": \"Disk full\", \"status\": \"$status\"}" }

# examples/*/nginx.conf: the log_format of each access_log in a location
# with "log_subrequest on" (the ITSM location), by name
sub itsm_formats {
    my ($name) = @_;
    my $text = ItsmPreset::slurp(ItsmPreset::file($name));
    my (%format, @used);

    while ($text =~ /^\s*log_format\s+(\S+)\s+((?:'[^']*'\s*)+);/mg) {
        my ($n, $f) = ($1, $2);
        $f =~ s/'\s*'//g;
        $f =~ s/^'|'$//g;
        $format{$n} = $f;
    }

    while ($text =~ /location\s[^{]*\{((?:[^{}]|\{[^{}]*\})*)\}/g) {
        my $body = $1;
        next unless $body =~ /^\s*log_subrequest\s+on;/m;
        push @used, $body =~ /^\s*access_log\s+\S+\s+(\S+?);/mg;
    }

    return map { [$_, $format{$_}] } @used;
}

# the quickstart too: it is what "make run" serves
our @Presets = (ItsmPreset::names(), 'quickstart');

our $Issue = '{"issue":{"id":123,"project":{"id":1,"name":"Ops"},"subject":"Disk full on db-1"}}';
our $RedmineMock = ItsmPreset::mock(log => 'redmine', prefix => '/issues',
    routes => [['POST', '/issues\.json', 201, $Issue], ['PUT', '/issues/[0-9]+\.json', 204, '']]);

sub redmine { my ($status) = @_;
    "POST /alerts/generic\n{\"key\": \"disk-db1\", \"title\": \"Disk full on db-1\", \"severity\": \"critical\", \"status\": \"$status\"}" }

# every preset logs its ITSM location with $itsm_request_method, never the
# alert's $request_method
for my $name (@Presets) {
    my @f = itsm_formats($name);
    Test::More::ok(scalar @f, "examples/$name/nginx.conf: the ITSM location has an access log");
    for (@f) {
        my ($fmt, $text) = @$_;
        Test::More::ok(defined $text, "examples/$name/nginx.conf: log_format $fmt is declared");
        Test::More::like($text // '', qr/\$itsm_request_method\b/,
                         "examples/$name/nginx.conf: log_format $fmt logs \$itsm_request_method");
        Test::More::unlike($text // '', qr/\$request_method\b/,
                           "examples/$name/nginx.conf: log_format $fmt does not log the alert's \$request_method");
    }
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: create (POST), comment (POST), the resolve's lookup (GET) and the resolve (PUT)
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: [::alert("firing"), ::alert("firing"), ::alert("resolved"), ::alert("resolved")]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"outcome":"commented"/, qr/"outcome":"resolved"/, qr/"outcome":"duplicate"/]



=== TEST 2: the ITSM location's log: each request with its own method; $request_method is the alert's
--- request
GET /log/itsm
--- response_body
mock create key="db-1" POST /_itsm/mock/issue alert=POST
mock comment key="db-1" POST /_itsm/mock/issue/OPS-17/comment alert=POST
mock resolve key="db-1" GET /_itsm/mock/issue/OPS-17/transitions alert=POST
mock resolve key="db-1" PUT /_itsm/mock/issue/OPS-17 alert=POST



=== TEST 3: the alert location's log: the method of the last request sent to the ITSM, "-" when none was sent (a duplicate)
--- request
GET /log/alerts
--- response_body
POST /alerts 201 itsm=POST
POST /alerts 200 itsm=POST
POST /alerts 200 itsm=PUT
POST /alerts 200 itsm=-



=== TEST 4: outside an alert request the variable is empty
--- config
    location = /t { return 200 "[$itsm_request_method]\n"; }
--- request
GET /t
--- response_body
[]



=== TEST 5: the redmine preset as shipped: a create (POST), then a resolve (PUT), logged as such in its ITSM log
--- http_config eval: ItsmPreset::mock_http() . ItsmPreset::http_config('redmine')
--- config eval: ItsmPreset::config('redmine') . $::RedmineMock . "    location = /log/itsm { alias logs/itsm-redmine.log; }\n"
--- request eval: [::redmine("firing"), ::redmine("resolved"), "GET /log/itsm"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"resolved"/,
 qr{^\S+ redmine create key="disk-db1" ticket="" POST /_itsm/redmine/issues\.json -> 201 in [\d.]+s\n\S+ redmine resolve key="disk-db1" ticket="123" PUT /_itsm/redmine/issues/123\.json -> 204 in [\d.]+s\n\z}]
