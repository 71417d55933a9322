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
    name => 'jsm',
    kind => 'jsm',
    connector => 'jsm',
    auth => {jsm => $Auth, jira => $Auth},
    secret_include => [[qr/^[ \t]*proxy_set_header[ \t]+Authorization[^;]*;/m,
                        'jsm-auth.conf',
                        qq(proxy_set_header Authorization "$Auth";)]],
    alert => \&ItsmExampleFlow::generic_alert,
    ticket => sub { "ITS-$_[0]" },
    find => sub {
        my ($a) = @_;
        my $sha = sha256_hex($a->{key});
        return {method => 'GET', status => 200,
                uri => "/rest/api/3/search/jql?jql=labels%20%3D%20%22itsm-$sha"
                     . "%22%20AND%20statusCategory%20%21%3D%20Done%20ORDER%20BY"
                     . "%20created%20DESC&fields=key&maxResults=1"};
    },
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/rest/servicedeskapi/request',
                status => 201, headers => \%Headers,
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
                status => 201, headers => \%Headers,
                body => ItsmExample::like_text(
                    '{"body":"The alert is firing (seen 2 times since TIME, '
                  . 'severity critical).\n/var is 99% full","public":false}')};
    },
    itsm_503 => [{'Retry-After' => 1},
                 '{"errorMessage":"Service unavailable","i18nErrorMessage":{}}'],
);

done_testing();
