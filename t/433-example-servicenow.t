# examples/servicenow/nginx.conf as shipped (its alert server, its replay
# server) against the stateful fake of ServiceNow's Table API
# (t/lib/ItsmFake.pm): the cooldown's held work note and a queued incident
# are delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  The Basic credential is
# in a file the configuration includes, as the example tells users to keep
# it.  "cooldown=3s" and "itsm_retry backoff=1s" stand for the example's
# 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

my $Auth = 'Basic aXRzbS1pbnRlZ3JhdGlvbjp0ZXN0LXBhc3N3b3Jk';

my %Headers = (Authorization => $Auth, 'Content-Type' => 'application/json',
               Accept => 'application/json',
               Host => 'your-instance.service-now.com');

my $Fields = '?sysparm_fields=sys_id,number,state';

# the sys_id the fake gives its n-th incident
sub sys_id { sprintf('9d385017c611228701d22104%08x', 10000 + $_[0]) }

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'servicenow',
    credential => ['Authorization', $Auth, 'servicenow-auth.conf'],
    ticket => \&sys_id,
    find => 'servicenow',
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => "/api/now/table/incident$Fields",
                status => 201,
                body => '{"short_description":"Disk full on db-' . $k
                      . '","description":"/var is 98% full\n\nSeverity: '
                      . 'critical\nResource: db-' . $k . '\nSource: generic\n'
                      . 'Alert key: disk-db' . $k . '","impact":"1","urgency":'
                      . '"1","category":"software","assignment_group":"",'
                      . '"caller_id":"","cmdb_ci":"","correlation_id":"' . sha256_hex($a->{key})
                      . '","correlation_display":"ngx_itsm_module"}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'PATCH',
                uri => "/api/now/table/incident/$ticket$Fields",
                status => 200,
                body => ItsmExample::like_text(
                    '{"work_notes":"The alert is firing (seen 2 times since '
                  . 'TIME, severity critical).\n/var is 99% full"}')};
    },
    itsm_503 => [{}, '{"error":{"message":"Service Unavailable","detail":'
                   . '"The instance is hibernating"},"status":"failure"}'],
);

done_testing();
