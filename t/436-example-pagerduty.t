# examples/pagerduty/nginx.conf as shipped (its alert server, its replay
# server) against the stateful fake of PagerDuty's Events API v2
# (t/lib/ItsmFake.pm): the cooldown's held update (a trigger with the same
# dedup_key) and a queued trigger are delivered by the replay server,
# exactly once each (t/lib/ItsmExampleFlow.pm says what is checked).  The
# routing key's map is in a file the configuration includes, as the
# example tells users to keep it.  "cooldown=3s" and "itsm_retry
# backoff=1s" stand for the example's 30 minutes and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmExampleFlow;
use ItsmExample;

my $Key = 'R0123456789abcdef0123456789abcd';
$Key .= 'e';                  # 32 characters, as PagerDuty's are

my %Headers = ('Content-Type' => 'application/json',
               Accept => 'application/json', Host => 'events.pagerduty.com');

sub trigger {
    my ($k, $desc, $n, $first_seen) = @_;
    return '{"routing_key":"' . $Key . '","event_action":"trigger",'
         . '"dedup_key":"disk-db' . $k . '","payload":{"summary":"Disk full '
         . 'on db-' . $k . '","source":"db-' . $k . '","severity":"critical",'
         . '"custom_details":{"description":"' . $desc . '","alert_key":'
         . '"disk-db' . $k . '","alert_source":"generic","resource":"db-' . $k
         . '","link":null,"occurrences":' . $n
         . ($first_seen ? ',"first_seen":"TIME"' : '')
         . ',"labels":null}},"client":"ngx_itsm_module"}';
}

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'pagerduty',
    secret_include => [[qr/^[ \t]*map[ \t]+\$itsm_connector[ \t]+\$pagerduty_routing_key[ \t]*\{[^}]*\}/m,
                        'pagerduty-routing-key.conf',
                        "map \$itsm_connector \$pagerduty_routing_key {\n"
                        . "    default  $Key;\n}"]],
    ticket => sub { "disk-db$_[0]" },      # the dedup_key PagerDuty answers
    held_outcome => 'update',
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/v2/enqueue', status => 202,
                body => trigger($k, '/var is 98% full', 1)};
    },
    held => sub {
        my ($a, $k) = @_;
        # the create and the update share the path: the update carries
        # first_seen
        return {method => 'POST', uri => '/v2/enqueue', status => 202,
                match_body => '"dedup_key":"disk-db' . $k . '".*"first_seen"',
                body => ItsmExample::like_text(
                    trigger($k, '/var is 99% full', 2, 1))};
    },
    itsm_503 => [{}, '{"status":"unavailable","message":"Service '
                   . 'Unavailable"}'],
);

done_testing();
