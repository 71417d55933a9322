# examples/source-siem/nginx.conf as shipped (its alert server, its
# replay server) against the stateful fake of Request Tracker
# (t/lib/ItsmFake.pm), with Microsoft Sentinel incidents as the playbook
# posts them: the 10-minute cooldown's held update and a queued create are
# delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  Credentials as the
# example tells users to keep them: the playbook's token in a token file
# (itsm_token ... file=), the RT token in an included file.  The repeat is
# the incident changed in Sentinel (High to Low, a later
# lastModifiedTimeUtc) without a new note: it waits out the cooldown, and
# the update that ends it carries the latest state.  "cooldown=3s" and
# "itsm_retry backoff=1s" stand for the example's 10 minutes and the
# default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;

sub id { ItsmExampleFlow::sentinel_id($_[0]) }

ItsmExampleFlow::rt(
    ItsmExampleFlow::sentinel_options(),
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"[Sentinel #' . (3170 + $k)
               . '] Unfamiliar sign-in on db-' . $k . '","Priority":"75",'
               . '"Content":"Sign-ins from a new country\n\nSeverity: High\n'
               . 'Status in Sentinel: New\nOwner: \nTactics: '
               . '[\"InitialAccess\"]\nAlerts: 1\nFirst activity: '
               . '2019-01-01T13:00:30Z\nIncident: https://portal.azure.com/'
               . '#incident/' . $k . '\nIncident id: ' . id($k) . '\n\n",'
               . '"ContentType":"text/plain","CustomFields":{"ITSM Alert '
               . 'Key":"' . sha256_hex($a->{key}) . '"}}';
    },
    held_outcome => 'update',
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'PUT', uri => "/REST/2.0/ticket/$ticket", status => 200,
                body => '{"Subject":"[Sentinel #' . (3170 + $k) . '] Unfamiliar '
                      . 'sign-in on db-' . $k . '","Priority":"0"}'};
    },
);

done_testing();
