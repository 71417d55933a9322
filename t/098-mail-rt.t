# The email connector against the real Request Tracker (util/test.sh starts
# it on $TEST_NGINX_RT_PORT; skipped without): an alert goes to RT's mail
# gateway (POST /REST/1.0/NoAuth/mail-gateway, multipart/form-data with the
# RFC 5322 message, as rt-mailgate sends it), and RT opens a ticket whose
# subject is the templated one, read back through RT's REST 2 API.  RT
# answers 200 "not ok" when it refuses (a sender without rights): with
# "answer_ok ok" that is a refusal, not a success.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;
use JSON::PP;

ItsmHttp::plan_rt();

# a host no earlier run has used, so the search below finds one ticket
our $Host = "mail" . time() . "-$$";

# the connector: RT's mail gateway; root@localhost is RT's root, whom RT
# lets open tickets by mail (an unknown sender needs "Everyone may
# CreateTicket" on the queue)
sub http {
    my ($from) = @_;
    return <<"_EOC_";
    itsm_connector rtmail {
        location   /_itsm/rt;
        create     POST /REST/1.0/NoAuth/mail-gateway multipart
                   'queue=General' 'action=correspond' 'SessionType=REST'
                   'message=\@mail';
        mail       'from=$from' 'to=rt\@example.com'
                   'subject=[{{ severity }}] {{ title }} — {{ /labels/host }}'
                   'body={{ description }}';
        answer_ok  ok;
    }
_EOC_
}

# the subjects of RT's tickets that name $Host
sub subjects {
    my ($code, $body) = ItsmHttp::call('GET', "/rt/REST/2.0/tickets?query=Subject%20LIKE%20'$::Host'&fields=Subject");
    my $doc = eval { JSON::PP->new->utf8->decode($body) } || {};
    return join '|', map { $_->{Subject} } @{$doc->{items} || []};
}

our $Config = ItsmConf::rt_itsm() . "    location = /alerts { itsm_pass rtmail; }\n" . ItsmConf::rt_api();

run_tests();

__DATA__

=== TEST 1: an alert becomes an RT ticket by mail, with the templated subject (UTF-8, RFC 2047 on the way)
--- http_config eval: ::http('root@localhost')
--- config eval: $::Config
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', qq{{"key": "$::Host", "title": "Disk full", "description": "98% used\\non /var", "severity": "critical", "labels": {"host": "$::Host"}}});
Test::More::is($code, 201, "the alert: 201 ($answer)");
Test::More::like($answer, qr/"action":"create","outcome":"created","connector":"rtmail"\}/, "created, no ticket id (RT's gateway names none)");
Test::More::is(::subjects(), "[critical] Disk full \x{2014} $::Host", "RT's ticket has the templated subject");
--- request
GET /rt/REST/2.0/queues/all
--- response_body_like: "General"|"id"



=== TEST 2: a sender RT refuses: RT answers 200 "not ok", which "answer_ok ok" makes a refusal (502 with RT's words), and no ticket
--- http_config eval: ::http('stranger@example.com')
--- config eval: $::Config
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', qq{{"key": "$::Host-2", "title": "Refused", "labels": {"host": "$::Host-2"}}});
Test::More::is($code, 502, "the alert: 502");
Test::More::is($answer, qq{{"error":"itsm_rejected","connector":"rtmail","action":"create","itsm_status":200,"itsm_error":"not ok - operation unsuccessful\\n"}\n}, "RT's words");
Test::More::is(::subjects() =~ /Refused/ ? 'found' : 'none', 'none', "no ticket");
--- request
GET /rt/REST/2.0/queues/all
--- response_body_like: "General"|"id"
--- error_log
itsm: connector "rtmail" create: the ITSM answered 200: "not ok - operation unsuccessful\n"
