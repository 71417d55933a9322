# The verify probe against the real Request Tracker (util/test.sh starts it
# on $TEST_NGINX_RT_PORT; skipped without): RT's GET /REST/2.0/queues/all
# with the demo account's credentials is verified, with a wrong password
# it is RT's own 401 and words that the registry shows.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;
use JSON::PP;
use Time::HiRes qw(sleep time);

ItsmHttp::plan_rt();

master_on();
workers(2);

# the registry's "verify" of each connector once each was probed
sub verified {
    my (@names) = @_;
    my $until = time + 20;
    my %v;
    while (1) {
        my (undef, $body) = ItsmHttp::call('GET', '/connectors');
        my $doc = eval { JSON::PP->new->decode($body) } || {};
        %v = map { $_->{name} => $_->{verify} } @{$doc->{connectors} || []};
        last if !grep { !ref $v{$_} || !$v{$_}{probes} } @names;
        last if time > $until;
        sleep 0.2;
    }
    return \%v;
}

run_tests();

__DATA__

=== TEST 1: RT's queues with the demo account: verified; with a wrong password: RT's 401 {"message":"Unauthorized"}
--- http_config
    itsm_store logs/state.mdb;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}"}';
        verify     GET /REST/2.0/queues/all;
    }
    itsm_connector wrong {
        location   /_itsm/wrong;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}"}';
        verify     GET /REST/2.0/queues/all;
    }
--- config eval
ItsmConf::rt_itsm('rt') . q{
    location /_itsm/wrong/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RT_PORT/;
        proxy_set_header Authorization "Basic cm9vdDp3cm9uZw==";
    }
    location = /_itsm/replay { itsm_replay; }
    location = /connectors { itsm_connectors; }
}
--- init
my $v = ::verified(qw(rt wrong));
Test::More::is(join(' ', map { "$_=" . ($v->{rt}{$_} // 'null') } qw(verified status probes failures error)),
               'verified=1 status=200 probes=1 failures=0 error=', "rt: verified");
Test::More::is(join(' ', map { "$_=" . ($v->{wrong}{$_} // 'null') } qw(verified status probes failures error last_verified)),
               'verified=0 status=401 probes=1 failures=1 error={"message":"Unauthorized"} last_verified=null', "wrong: RT's 401 and words");
--- request
GET /connectors
--- response_body_like: "path":"/REST/2.0/queues/all"
--- error_log
itsm verify: connector "wrong" failed its probe: the ITSM answered 401: "{"message":"Unauthorized"}"
--- timeout: 40
