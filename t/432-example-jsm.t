# examples/jsm/nginx.conf as shipped (its alert server, its replay server)
# against the stateful fake of Jira Service Management
# (/rest/servicedeskapi, t/lib/ItsmFake.pm): the cooldown's held comment (an
# internal one) and a queued request are delivered by the replay server,
# exactly once each (t/lib/ItsmExampleFlow.pm says what is checked).  The
# Basic credential is in a file the configuration includes, as the example
# tells users to keep it.  "cooldown=3s" and "itsm_retry backoff=1s" stand
# for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Auth = 'Basic YWdlbnRAZXhhbXBsZS5jb206dGVzdC1qc20tdG9rZW4=';

my %Headers = (Authorization => $Auth, 'Content-Type' => 'application/json',
               Accept => 'application/json',
               Host => 'your-domain.atlassian.net');

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'jsm',
    auth => {jsm => $Auth, jira => $Auth},
    credential => ['Authorization', $Auth, 'jsm-auth.conf'],
    ticket => sub { "ITS-$_[0]" },
    find => 'jsm',
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/rest/servicedeskapi/request',
                status => 201,
                body => '{"serviceDeskId":"1","requestTypeId":"10",'
                      . '"requestFieldValues":{"summary":"Disk full on db-' . $k
                      . '","description":"/var is 98% full\n\nSeverity: '
                      . 'critical\nResource: db-' . $k . '\nSource: generic\n'
                      . 'Alert key: disk-db' . $k . '","priority":{"name":'
                      . '"Highest"},"labels":["itsm-' . sha256_hex($a->{key})
                      . '"]}}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'POST',
                uri => "/rest/servicedeskapi/request/$ticket/comment",
                status => 201,
                body => ItsmExample::like_text(
                    '{"body":"The alert is firing (seen 2 times since TIME, '
                  . 'severity critical).\n/var is 99% full","public":false}')};
    },
    itsm_503 => [{'Retry-After' => 1},
                 '{"errorMessage":"Service unavailable","i18nErrorMessage":{}}'],
);

done_testing();
