# examples/opsgenie/nginx.conf as shipped (its alert server, its replay
# server) against the stateful fake of Opsgenie's Alert API
# (t/lib/ItsmFake.pm; alerts by alias, every action answered 202): the
# cooldown's held note and a queued alert are delivered by the replay
# server, exactly once each (t/lib/ItsmExampleFlow.pm says what is
# checked).  The GenieKey is in a file the configuration includes, as the
# example tells users to keep it.  "cooldown=3s" and "itsm_retry
# backoff=1s" stand for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmExampleFlow;
use ItsmExample;

my $Auth = 'GenieKey 0a1b2c3d-0000-4000-8000-123456789abc';

my %Headers = (Authorization => $Auth, 'Content-Type' => 'application/json',
               Accept => 'application/json', Host => 'api.opsgenie.com');

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'opsgenie',
    credential => ['Authorization', $Auth, 'opsgenie-auth.conf'],
    ticket => sub { undef },      # Opsgenie answers a request id: no ticket id
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/v2/alerts', status => 202,
                body => '{"message":"Disk full on db-' . $k . '","alias":'
                      . '"disk-db' . $k . '","description":"/var is 98% '
                      . 'full\n\nSeverity: critical\nResource: db-' . $k
                      . '\nSource: generic\nLink: ","priority":"P1","tags":'
                      . '["alert","source:generic","severity:critical"],'
                      . '"details":{"alert_key":"disk-db' . $k . '","source":'
                      . '"generic"},"source":"ngx_itsm_module"}'};
    },
    held => sub {
        my ($a, $k) = @_;
        return {method => 'POST',
                uri => "/v2/alerts/disk-db$k/notes?identifierType=alias",
                status => 202,
                body => ItsmExample::like_text(
                    '{"user":"ngx_itsm_module","source":"ngx_itsm_module",'
                  . '"note":"The alert is firing (seen 2 times since TIME, '
                  . 'severity critical).\n/var is 99% full"}')};
    },
    itsm_503 => [{}, '{"message":"Service Unavailable","took":0.0,'
                   . '"requestId":"00000000-0000-4000-8000-000000000503"}'],
);

done_testing();
