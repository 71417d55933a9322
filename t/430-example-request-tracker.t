# examples/request-tracker/nginx.conf as shipped -- its alert server and its
# replay server on a port of its own -- against the stateful fake of
# Request Tracker's REST 2 API (t/lib/ItsmFake.pm): the cooldown's held
# comment and a queued create are delivered by the replay server, exactly
# once each (t/lib/ItsmExampleFlow.pm says what is checked).  The RT token
# is in a file the configuration includes, as the example tells users to
# keep it.  Runs in about 10 s: "cooldown=3s" and "itsm_retry backoff=1s"
# stand for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use ItsmExampleFlow;
use ItsmExample;


ItsmExampleFlow::rt(
    name => 'request-tracker',
    alert => \&ItsmExampleFlow::generic_alert,
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"Disk full on db-' . $k
               . '","Priority":"100","Content":"/var is 98% full\n\n'
               . 'Severity: critical\nResource: db-' . $k
               . '\nSource: generic\nAlert key: disk-db' . $k
               . '\nLink: ","ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
               . sha256_hex($a->{key}) . '","ITSM Configuration Item":""}}';
    },
);

done_testing();
