# examples/redmine/nginx.conf as shipped (its alert server, its replay
# server) against the stateful fake of Redmine's REST API
# (t/lib/ItsmFake.pm): the cooldown's held note (a PUT, answered 204) and a
# queued issue are delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  The API key is in a
# file the configuration includes, as the example tells users to keep it.
# "cooldown=3s" and "itsm_retry backoff=1s" stand for the example's 30
# minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Key = '0123456789abcdef0123456789abcdef01234567';

my %Headers = ('X-Redmine-API-Key' => $Key,
               'Content-Type' => 'application/json',
               Accept => 'application/json', Host => 'redmine.example.com');

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'redmine',
    credential => ['X-Redmine-API-Key', $Key, 'redmine-auth.conf'],
    ticket => sub { "$_[0]" },
    find => 'redmine',
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/issues.json', status => 201,
                body => '{"issue":{"project_id":"1","tracker_id":"1",'
                      . '"priority_id":"5","subject":"Disk full on db-' . $k
                      . '","description":"/var is 98% full\n\nSeverity: '
                      . 'critical\nResource: db-' . $k . '\nSource: generic\n'
                      . 'Alert key: disk-db' . $k . '\nLink: \nITSM key: '
                      . sha256_hex($a->{key}) . '","custom_fields":[{"id":"1",'
                      . '"value":"' . sha256_hex($a->{key}) . '"},{"id":"2",'
                      . '"value":""}]}}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'PUT', uri => "/issues/$ticket.json", status => 204,
                body => ItsmExample::like_text(
                    '{"issue":{"notes":"The alert is firing (seen 2 times '
                  . 'since TIME, severity critical).\n/var is 99% full"}}')};
    },
    itsm_503 => [{'Content-Type' => 'text/html'},
                 "<html><body><h1>503 Service Unavailable</h1></body></html>\n"],
);

done_testing();
