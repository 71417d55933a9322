# itsm_connectors: the connector registry.  Each connector with who owns
# it, what it is for and the events it serves (its owner, description and
# events lines), where it is declared, its location and actions, whether
# it finds lost creates and takes callbacks, the kind of credential its
# header lines carry (never the value), and from the delivery history its
# requests by action and result, its last success and its last failure.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use JSON::PP;

our $HttpConfig = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_delivery_log logs/delivery.log;
    itsm_connector jira {
        owner       "team-ops@example.com";
        description "Incidents of the payment platform";
        events      "Alertmanager: severity critical";
        location    /_itsm/mock;
        create      POST /ticket 'body={"title": "{{ title }}"}';
        comment     POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "{{ description }}"}';
        find        GET "/tickets?key={{ correlation_key }}" take=/items/0/id settle=0;
        header      Authorization "Basic SECRET-basic";
        header      X-Redmine-API-Key "SECRET-apikey";
        header      X-Key "{{ key }}";
        ticket_id   /id;
        on_repeat   comment cooldown=0;
    }
    itsm_connector raw {
        location    /_itsm/mock;
        create      POST /ticket;
        header      Authorization "SECRET-raw-token";
        header      X-Auth-Token "SECRET-t";
    }
    itsm_connector tmpl {
        location    /_itsm/mock;
        create      POST /ticket;
        header      Authorization "SECRET-prefix{{ key }}";
    }
    itsm_connector bare {
        location    /_itsm/mock;
        create      POST /ticket;
        ticket_id   /id;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        if ($http_x_key ~ ^busy) { return 503 '{"error":"maintenance"}'; }
        return 201 '{"id":"T1"}';
    }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '{}'; }
    location = /mock/tickets { return 200 '{"items":[]}'; }
    location = /alerts { itsm_pass jira; }
    location = /alerts/bare { itsm_pass bare; }
    location = /itsm/connectors { allow 127.0.0.1; deny all; itsm_connectors; }
_EOC_

# the queue's counts are LMDB's: on Redis (ITSM_TEST_STORE=redis, no
# shared queue yet) the registry says null, "not known here"
our $NoQueue = ($ENV{ITSM_TEST_STORE} // '') eq 'redis' ? undef : 0;

sub post { my ($key, $uri) = @_; ItsmHttp::finish(ItsmHttp::start(qq{{"key": "$key", "title": "t", "description": "d"}}, uri => $uri // '/alerts')) }

# the registry, each connector without its last_success/last_failure
# lines (checked by their fields)
sub registry {
    my ($s, $b) = ItsmHttp::call('GET', '/itsm/connectors');
    my $doc = JSON::PP->new->decode($b);
    return ($s, $b, $doc);
}

ItsmConf::defaults(http_config => $HttpConfig, config => $Config,
                   request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: before any delivery: what the configuration says; the credentials by kind (a scheme only when a credential follows it), X-Key not one; no value of a secret
--- init
my ($s, $b, $doc) = ::registry();
Test::More::is($s, 200, 'answers 200');
my $c = JSON::PP->new->canonical;
my @c = @{$doc->{connectors}};
like($c[0]{declared}, qr{/nginx\.conf:\d+$}, 'where jira is declared');
like($c[3]{declared}, qr{/nginx\.conf:\d+$}, 'where bare is declared');
delete $_->{declared} for @c;
Test::More::is($c->encode($c[0]), $c->encode({name => 'jira', owner => 'team-ops@example.com',
    description => 'Incidents of the payment platform', events => 'Alertmanager: severity critical',
    location => '/_itsm/mock', actions => ['create', 'comment'], find => JSON::PP::true, callbacks => JSON::PP::false,
    auth => ['Authorization: Basic', 'header X-Redmine-API-Key'], requests => {}, last_success => undef, last_failure => undef,
    sent => {create => {ok => 0, failed => 0}, comment => {ok => 0, failed => 0}},
    limit => {rate => undef, burst => 0, paused_for => 0, pauses => 0, waited => {}, held => {}}, verify => undef,
    queued => $::NoQueue, dead_letters => $::NoQueue}), 'jira');
# a credential of one word is the credential itself: only its presence;
# a scheme only before a space (SECRET-prefix{{ key }} has none)
Test::More::is($c->encode($c[1]{auth}), '["Authorization: (no scheme)","header X-Auth-Token"]', 'raw: a bare token is not a scheme');
Test::More::is($c->encode($c[2]{auth}), '["Authorization: (no scheme)"]', 'tmpl: text before a placeholder is not a scheme');
Test::More::is($c->encode($c[3]), $c->encode({name => 'bare', owner => undef, description => undef, events => undef,
    location => '/_itsm/mock', actions => ['create'], find => JSON::PP::false, callbacks => JSON::PP::false,
    auth => [], requests => {}, last_success => undef, last_failure => undef,
    sent => {create => {ok => 0, failed => 0}},
    limit => {rate => undef, burst => 0, paused_for => 0, pauses => 0, waited => {}, held => {}}, verify => undef,
    queued => $::NoQueue, dead_letters => $::NoQueue}), 'bare: nothing said of it');
Test::More::is($doc->{history}, JSON::PP::true, 'the figures come from the history');
Test::More::unlike($b, qr/SECRET/, 'no secret in the answer');



=== TEST 2: after deliveries: requests by action and result, the last success and the last failure in the ITSM's words
--- init
::post('db-1');
::post('db-1');
::post('busy-1');
::post('b-1', '/alerts/bare');
ItsmHttp::log_lines('delivery.log', 5);
my ($s, $b, $doc) = ::registry();
my ($jira, $bare) = @{$doc->{connectors}}[0, 3];
my $c = JSON::PP->new->canonical;
Test::More::is($c->encode($jira->{requests}), '{"comment":{"failed":0,"ok":1},"create":{"failed":1,"ok":1}}', 'jira: create 1 ok 1 failed, comment 1 ok');
Test::More::is(join(' ', @{$jira->{last_success}}{qw(action key status)}), 'comment db-1 201', 'jira: the last success');
Test::More::is(join(' ', @{$jira->{last_failure}}{qw(action key status response)}), 'create busy-1 503 {"error":"maintenance"}', 'jira: the last failure, in its words');
Test::More::is($c->encode($bare->{requests}), '{"create":{"failed":0,"ok":1}}', 'bare: one create');
# the counts in shared memory, kept without the history, say the same
Test::More::is($c->encode($jira->{sent}), '{"comment":{"failed":0,"ok":1},"create":{"failed":1,"ok":1}}', 'jira: the same counted');
Test::More::is($c->encode($bare->{sent}), '{"create":{"failed":0,"ok":1}}', 'bare: the same counted');
Test::More::is($bare->{last_failure}, undef, 'bare: no failure');
Test::More::unlike($b, qr/SECRET/, 'no secret in the answer');



=== TEST 3: config: owner twice
--- http_config
    itsm_connector x {
        location /_itsm/x;
        create   POST /t;
        owner    a;
        owner    b;
    }
--- config
--- must_die
--- error_log eval
qr/"owner" is duplicate in itsm_connector "x" in \S+nginx\.conf:\d+/



=== TEST 4: config: description of 257 bytes (256 is taken: TEST 5)
--- http_config eval
"    itsm_connector x {\n        location /_itsm/x;\n        create POST /t;\n        description \"" . ('d' x 257) . "\";\n    }\n"
--- config
--- must_die
--- error_log eval
qr/"description" of itsm_connector "x" takes 1 to 256 bytes of text, e\.g\. description "team-ops\@example\.com" in \S+nginx\.conf:\d+/



=== TEST 5: config: 256 bytes, and events "" refused
--- http_config eval
"    itsm_connector x {\n        location /_itsm/x;\n        create POST /t;\n        description \"" . ('d' x 256) . "\";\n        events \"\";\n    }\n"
--- config
--- must_die
--- error_log eval
qr/"events" of itsm_connector "x" takes 1 to 256 bytes of text/



=== TEST 6: config: owner text that is not UTF-8
--- http_config eval
"    itsm_connector x {\n        location /_itsm/x;\n        create POST /t;\n        owner \"caf\xe9\";\n    }\n"
--- config
--- must_die
--- error_log eval
qr/"owner" of itsm_connector "x" is not UTF-8 text in \S+nginx\.conf:\d+/



=== TEST 7: what waits for each connector in the store: two alerts queued for one (its ITSM down), none for the other; after their one attempt, two dead letters
--- skip_redis: a connector's own queue counts (null on Redis, where the status page has the shared queue's totals: t/503)
--- http_config
    itsm_store logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_retry attempts=1 backoff=1s max=1s;
    itsm_connector down {
        location  /_itsm/down;
        create    POST /ticket 'body={}';
        ticket_id /id;
    }
    itsm_connector up {
        location  /_itsm/up;
        create    POST /ticket 'body={}';
        ticket_id /id;
    }
--- config
    location /_itsm/down/ { internal; return 503 '{"error":"maintenance"}'; }
    location /_itsm/up/ { internal; return 201 '{"id":"U1"}'; }
    location = /alerts/down { itsm_queue on; itsm_retry_after 1s; itsm_pass down; }
    location = /alerts/up { itsm_queue on; itsm_pass up; }
    location = /_itsm/replay { itsm_replay; }
    location = /itsm/connectors { itsm_connectors; }
--- init
my $q = sub { my %c = map { $_->{name} => "$_->{queued}/$_->{dead_letters}" } @{JSON::PP->new->decode((ItsmHttp::call('GET', '/itsm/connectors'))[1])->{connectors}}; "down $c{down}, up $c{up}" };
my @a = map { (ItsmHttp::call('POST', '/alerts/down', qq{{"key": "k$_"}}))[0] } 1 .. 2;
push @a, (ItsmHttp::call('POST', '/alerts/up', '{"key": "u"}'))[0];
Test::More::is("@a", '202 202 201', 'two queued, one created');
Test::More::is($q->(), 'down 2/0, up 0/0', 'two queued for down');
my $v;
for (1 .. 60) { $v = $q->(); last if $v eq 'down 0/2, up 0/0'; select(undef, undef, undef, 0.1) }
Test::More::is($v, 'down 0/2, up 0/0', 'then two dead letters');
--- request
GET /itsm/connectors
--- error_code: 200
--- response_body_like: "queued":0,"dead_letters":2
--- timeout: 15
