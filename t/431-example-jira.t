# examples/jira/nginx.conf as shipped (its alert server, its replay server)
# against the stateful fake of Jira Cloud's REST API v3 (t/lib/ItsmFake.pm):
# the cooldown's held comment and a queued create are delivered by the
# replay server, exactly once each (t/lib/ItsmExampleFlow.pm says what is
# checked).  The Basic credential is in a file the configuration includes,
# as the example tells users to keep it.  "cooldown=3s" and "itsm_retry
# backoff=1s" stand for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Auth = 'Basic dGVzdEBleGFtcGxlLmNvbTp0ZXN0LWppcmEtdG9rZW4=';

my %Headers = (Authorization => $Auth, 'Content-Type' => 'application/json',
               Accept => 'application/json',
               Host => 'your-domain.atlassian.net');

sub text { '{"type":"text","text":"' . $_[0] . '"}' }
sub para { '{"type":"paragraph","content":[' . join(',', @_) . ']}' }
sub item { '{"type":"listItem","content":[' . para(text($_[0])) . ']}' }

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'jira',
    credential => ['Authorization', $Auth, 'jira-auth.conf'],
    ticket => sub { "OPS-$_[0]" },
    find => 'jira',
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/rest/api/3/issue', status => 201,
                body => '{"fields":{"project":{"key":"OPS"},"issuetype":'
                      . '{"name":"Task"},"summary":"Disk full on db-' . $k
                      . '","priority":{"name":"Highest"},"labels":["alert",'
                      . '"alert-source-generic","itsm-' . sha256_hex($a->{key})
                      . '"],"description":{"type":"doc",'
                      . '"version":1,"content":['
                      . para(text('Description: /var is 98% full')) . ','
                      . '{"type":"bulletList","content":['
                      . join(',', item('Severity: critical'),
                                  item("Resource: db-$k"),
                                  item('Source: generic'),
                                  item("Alert key: disk-db$k"))
                      . ']}]}}}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'POST', uri => "/rest/api/3/issue/$ticket/comment",
                status => 201,
                body => ItsmExample::like_text(
                    '{"body":{"type":"doc","version":1,"content":['
                  . para(text('The alert is firing (seen 2 times since TIME, '
                              . 'severity critical).')) . ','
                  . para(text('Description: /var is 99% full')) . ']}}')};
    },
    itsm_503 => [{'Retry-After' => 1},
                 '{"errorMessages":["Service unavailable"],"errors":{}}'],
);

done_testing();
