# The test infrastructure itself (t/lib/ItsmFake.pm, t/lib/ItsmProxy.pm):
# the fake ITSM keeps state the way the ITSMs do and finds tickets the way
# their search APIs do, and each fault it injects does what it says; the
# proxy drops the answer of exactly the request it was told to, after the
# ITSM did the work, in front of the fake and in front of the real Request
# Tracker (when util/test.sh started one on TEST_NGINX_RT_PORT).  Also a
# worked example of their APIs for new tests.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use IO::Socket::INET;
use ItsmFake;
use ItsmProxy;

my $J = JSON::PP->new->canonical(1);
my $fake = ItsmFake->start(auth => {rt => 'token 1-14-x'});
my $base = 'http://' . $fake->addr;

sub req {
    my ($method, $url, $body, %h) = @_;
    my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    return $http->request($method, $url, {
        headers => {'Content-Type' => 'application/json', %h},
        defined $body ? (content => $body) : ()});
}

my %RT = (Authorization => 'token 1-14-x');

# ---- Request Tracker: state, errors as RT 5.0.3 answers them, search ------

my $r = req(POST => "$base/REST/2.0/ticket", '{"Subject":"x"}', %RT);
is("$r->{status} $r->{content}",
   '400 {"message":"Could not create ticket. Queue not set"}',
   'rt: a create without a queue');

$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is("$r->{status} $r->{content}", '401 {"message":"Unauthorized"}',
   'rt: no credential');

$r = req(POST => "$base/REST/2.0/ticket",
         '{"Queue":"General","Subject":"disk","CustomFields":{"AlertKey":"k1"}}',
         %RT);
is($r->{status}, 201, 'rt: created');
is($J->decode($r->{content})->{id}, '1', 'rt: id 1, as a string');

$r = req(POST => "$base/REST/2.0/ticket/1/comment",
         '{"Content":"c","ContentType":"text/plain","Status":"resolved"}', %RT);
is("$r->{status} $r->{content}",
   qq(201 ["Comments added","Status changed from 'new' to 'resolved'"]),
   'rt: a comment that resolves');

$r = req(POST => "$base/REST/2.0/ticket/9/comment",
         '{"Content":"c","ContentType":"text/plain"}', %RT);
is("$r->{status} $r->{content}",
   '400 {"message":"Message could not be recorded"}',
   'rt: a comment on a ticket that does not exist');

my $q = "'CF.{AlertKey}' = 'k1' AND Status != 'resolved'";
(my $qe = $q) =~ s/([^A-Za-z0-9])/sprintf('%%%02X', ord $1)/ge;
$r = req(GET => "$base/REST/2.0/tickets?query=$qe", undef, %RT);
is($J->decode($r->{content})->{total}, 0, 'rt: search: the ticket is resolved');

$q = "'CF.{AlertKey}' = 'k1'";
($qe = $q) =~ s/([^A-Za-z0-9])/sprintf('%%%02X', ord $1)/ge;
$r = req(GET => "$base/REST/2.0/tickets?query=$qe&fields=Status", undef, %RT);
is($J->encode($J->decode($r->{content})->{items}),
   '[{"Status":"resolved","_url":"' . $base . '/REST/2.0/ticket/1","id":"1","type":"ticket"}]',
   'rt: search by custom field, with fields');

# the presets' find: the newest active ticket with the key
req(POST => "$base/REST/2.0/ticket",
    '{"Queue":"General","Subject":"again","CustomFields":{"AlertKey":"k1"}}',
    %RT);
$q = "'CF.{AlertKey}'='k1' AND Status='__Active__'";
($qe = $q) =~ s/([^A-Za-z0-9])/sprintf('%%%02X', ord $1)/ge;
$r = req(GET => "$base/REST/2.0/tickets?query=$qe&orderby=Created&order=DESC"
         . "&per_page=1", undef, %RT);
is(join(',', map { $_->{id} } @{$J->decode($r->{content})->{items}}), '2',
   'rt: search: __Active__, newest first, one per page');
$q = "'CF.{AlertKey}'='k1' AND Status='__Inactive__'";
($qe = $q) =~ s/([^A-Za-z0-9])/sprintf('%%%02X', ord $1)/ge;
$r = req(GET => "$base/REST/2.0/tickets?query=$qe", undef, %RT);
is(join(',', map { $_->{id} } @{$J->decode($r->{content})->{items}}), '1',
   'rt: search: __Inactive__');
req(PUT => "$base/REST/2.0/ticket/2", '{"Status":"resolved"}', %RT);

is($fake->count('rt'), 2, 'rt: two tickets');
is($fake->tickets('rt')->[0]{Status}, 'resolved', 'rt: its state');

# ---- faults -----------------------------------------------------------------

$fake->reset;
$fake->auth(rt => undef);

$fake->fault(method => 'POST', path => '^/REST/2\.0/ticket$', lost => 1);
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is($r->{status}, 599, 'lost: the client gets no answer');
is($fake->count('rt'), 1, 'lost: but the ticket was made');

$fake->fault(path => '^/REST/2\.0/ticket$', reset => 1);
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
like($r->{content}, qr/reset/i, 'reset: the connection is reset');
is($fake->count('rt'), 1, 'reset: nothing was made');

$fake->fault(path => '^/REST/2\.0/ticket$', status => 429, retry_after => 7,
             body => '{"message":"slow down"}');
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is("$r->{status} $r->{headers}{'retry-after'} $r->{content}",
   '429 7 {"message":"slow down"}', '429 with Retry-After in seconds');

$fake->fault(path => '^/REST/2\.0/ticket$', status => 503,
             retry_after_date => 120);
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
like($r->{headers}{'retry-after'},
     qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/,
     '503 with Retry-After as an HTTP-date');

$fake->fault(path => '^/REST/2\.0/ticket$', status => 201, work => 1,
             body => '{"type":"ticket"}');
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is("$r->{status} $r->{content}", '201 {"type":"ticket"}',
   '2xx without the id');
is($fake->count('rt'), 2, '... after the ticket was made');

$fake->fault(path => '^/REST/2\.0/ticket$', status => 201, work => 1,
             body => 'Created', content_type => 'text/plain');
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is("$r->{status} $r->{headers}{'content-type'} $r->{content}",
   '201 text/plain Created', 'a non-JSON 2xx');

$fake->fault(path => '^/REST/2\.0/ticket$', pad => 4096, pad_at => 'start');
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is(length $r->{content}, 4096, 'an oversized answer, padded first');
like($r->{content}, qr/^\{"pad":"x+","_url":/, '... the pad first');

$fake->fault(path => '^/REST/2\.0/ticket$', pad => 70000);
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
like($r->{content}, qr/"type":"ticket","pad":"x{60000,}"\}$/,
     'an oversized answer, padded last');

$fake->fault(path => '^/REST/2\.0/ticket$', delay => 300, delay_after => 300);
$r = req(POST => "$base/REST/2.0/ticket", '{"Queue":"General"}');
is($r->{status}, 201, 'delays before and after the work: answered');

# skip, times and match_body
$fake->fault(path => '^/REST/2\.0/ticket$', match_body => '"Subject":"b"',
             skip => 1, times => 2, status => 500);
my @st = map { req(POST => "$base/REST/2.0/ticket",
                   qq({"Queue":"General","Subject":"$_"}))->{status} }
         qw(a b b b b);
is("@st", '201 201 500 500 201',
   'a fault for the 2nd and 3rd match of its body only');

my $log = $fake->requests(method => 'POST', body => qr/"Subject":"b"/);
is(join(' ', map { $_->{status} } @$log), '201 500 500 201',
   'the requests log filters by body');
is($fake->requests(outcome => 'lost')->[0]{uri}, '/REST/2.0/ticket',
   'the requests log keeps how a request ended');

# ---- the other ITSMs' searches -----------------------------------------------

$fake->reset;

req(POST => "$base/rest/api/3/issue",
    '{"fields":{"project":{"key":"OPS"},"summary":"s","labels":["alert-k7"]}}');
$r = req(GET => "$base/rest/api/3/search/jql?jql="
         . 'labels%20%3D%20%22alert-k7%22%20AND%20statusCategory%20!%3D%20Done');
is(join(',', map { $_->{key} } @{$J->decode($r->{content})->{issues}}),
   'OPS-1', 'jira: JQL by label');
req(POST => "$base/rest/api/3/issue/OPS-1/transitions",
    '{"transition":{"id":"31"}}');
$r = req(GET => "$base/rest/api/3/search/jql?jql="
         . 'labels%20%3D%20%22alert-k7%22%20AND%20statusCategory%20!%3D%20Done');
is(scalar @{$J->decode($r->{content})->{issues}}, 0,
   'jira: done after the transition');

req(POST => "$base/rest/api/3/issue",
    '{"fields":{"project":{"key":"OPS"},"summary":"t","labels":["alert-k7"]}}');
$r = req(GET => "$base/rest/api/3/search/jql?jql="
         . 'labels%20%3D%20%22alert-k7%22%20ORDER%20BY%20created%20DESC'
         . '&fields=key&maxResults=1');
is(join(',', map { $_->{key} } @{$J->decode($r->{content})->{issues}}),
   'OPS-2', 'jira: ORDER BY ... DESC and maxResults');

req(POST => "$base/api/now/table/incident",
    '{"short_description":"s","correlation_id":"k7"}');
$r = req(GET => "$base/api/now/table/incident?sysparm_query="
         . 'correlation_id=k7%5Eactive=true&sysparm_fields=number');
is($r->{content}, '{"result":[{"number":"INC0010001"}]}',
   'servicenow: sysparm_query by correlation_id');

req(POST => "$base/v2/alerts", '{"message":"m","alias":"a/b"}');
req(POST => "$base/v2/alerts", '{"message":"m","alias":"a/b"}');
$r = req(GET => "$base/v2/alerts/a%2Fb?identifierType=alias");
is($J->decode($r->{content})->{data}{count}, 2,
   'opsgenie: an open alias counts up; GET by alias');

req(POST => "$base/issues.json",
    '{"issue":{"project_id":"1","subject":"s","custom_fields":[{"id":4,"value":"k7"}]}}');
$r = req(GET => "$base/issues.json?cf_4=k7&status_id=open");
is($J->decode($r->{content})->{total_count}, 1,
   'redmine: by custom field');
req(POST => "$base/issues.json",
    '{"issue":{"project_id":"1","subject":"s2","description":"key: k7",'
    . '"custom_fields":[{"id":4,"value":"k7"}]}}');
$r = req(GET => "$base/issues.json?cf_4=k7&description=~k7&status_id=open"
         . "&sort=id:desc&limit=1");
is(join(',', map { $_->{id} } @{$J->decode($r->{content})->{issues}}), '2',
   'redmine: description=~, newest first, limit');

my $pd = '{"routing_key":"R0123456789abcdef0123456789abcde","event_action":'
       . '"trigger","dedup_key":"k7","payload":{"summary":"s","source":"h",'
       . '"severity":"critical"}}';
req(POST => "$base/v2/enqueue", $pd) for 1, 2;
is($fake->count('pagerduty'), 1, 'pagerduty: one alert per open dedup_key');

# ---- the proxy ----------------------------------------------------------------

$fake->reset;

my $proxy = ItsmProxy->start(to => $fake->addr);
$proxy->drop(method => 'POST', path => '^/REST/2\.0/ticket$', nth => 2);

@st = map { req(POST => 'http://' . $proxy->addr . '/REST/2.0/ticket',
                '{"Queue":"General"}')->{status} } 1 .. 3;
is("@st", '201 599 201', 'proxy: the second answer is dropped');
is($fake->count('rt'), 3, 'proxy: after the ITSM made the ticket');
is(join(' ', map { ($_->{dropped} ? 'dropped ' : '') . $_->{status} }
             @{$proxy->log}),
   '201 dropped 201 201', 'proxy: its log');
$proxy->stop;

SKIP: {
    my $port = $ENV{TEST_NGINX_RT_PORT};
    skip 'no Request Tracker on TEST_NGINX_RT_PORT', 3
        unless $port && IO::Socket::INET->new("127.0.0.1:$port");

    my $rt = ItsmProxy->start(to => "127.0.0.1:$port");
    $rt->drop(method => 'POST', path => '^/REST/2\.0/ticket$');

    my $subject = "harness-$$-" . time();
    my %auth = (Authorization => 'Basic cm9vdDpwYXNzd29yZA==');
    $r = req(POST => 'http://' . $rt->addr . '/REST/2.0/ticket',
             qq({"Queue":"General","Subject":"$subject"}), %auth);
    is($r->{status}, 599, 'real RT behind the proxy: the answer is lost');

    $r = req(GET => 'http://' . $rt->addr . "/REST/2.0/tickets?query="
             . "Subject%3D'$subject'", undef, %auth);
    is($J->decode($r->{content})->{total}, 1, 'real RT: the ticket exists');
    is($rt->log->[0]{status}, 201, 'real RT: it had answered 201');
    $rt->stop;
}

$fake->stop;

done_testing();
