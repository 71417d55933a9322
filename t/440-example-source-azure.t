# examples/source-azure/nginx.conf as shipped (its alert server, its replay
# server) against the stateful fake of Request Tracker
# (t/lib/ItsmFake.pm), with Azure Monitor's common alert schema on the
# plain Webhook endpoint: the cooldown's held comment and a queued create
# are delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  Credentials as the
# example tells users to keep them: the URI's token in a token file
# (itsm_token ... file=), the RT token in an included file.  Azure sends
# one "Fired" per alert id, which itsm_dedup answers from its first answer
# when it comes again; the repeat here is another delivery (its own
# Idempotency-Key) of the still-firing alert, as a retrying relay sends it.
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

my $Query = '9f1c2b3a4d5e6f708192a3b4c5d6e7f80123456789abcdef0123456789abcdef';

my $Sub = '/subscriptions/11111111-1111-1111-1111-111111111111';

sub id { "$Sub/providers/Microsoft.AlertsManagement/alerts/"
         . "12345678-1234-1234-1234-00000000000$_[0]" }
sub target { "$Sub/resourcegroups/ops/providers/Microsoft.Compute/"
             . "virtualMachines/db-$_[0]" }

sub alert {
    my ($k, $v) = @_;
    my $desc = $v == 1 ? '/var is 98% full' : '/var is 99% full';
    return {path => "/alerts/azure?token=$Query", key => id($k),
            headers => {'Idempotency-Key' => "azure-delivery-$k-$v"},
            body => '{"schemaId":"azureMonitorCommonAlertSchema","data":'
                  . '{"essentials":{"alertId":"' . id($k) . '","alertRule":'
                  . '"disk-full-db-' . $k . '","severity":"Sev0",'
                  . '"signalType":"Metric","monitorCondition":"Fired",'
                  . '"monitoringService":"Platform","alertTargetIDs":["'
                  . target($k) . '"],"configurationItems":["db-' . $k . '"],'
                  . '"firedDateTime":"2026-11-22T05:36:15.3468506Z",'
                  . '"description":"' . $desc . '","essentialsVersion":"1.0",'
                  . '"alertContextVersion":"1.0"},"alertContext":{}}}'};
}

ItsmExampleFlow::rt(
    name => 'source-azure',
    replace => [[qr/itsm_token[ \t]+\$arg_token[ \t]+FAKE[^;]*;/,
                 'itsm_token $arg_token '
                 . 'file=/etc/nginx/itsm/azure-webhook.tokens;']],
    files => {'etc/itsm/azure-webhook.tokens' => "$Query\n"},
    alert => \&alert,
    create => sub {
        my ($a, $k) = @_;
        return '{"Queue":"General","Subject":"disk-full-db-' . $k
               . '","Priority":"100","Content":"/var is 98% full\n\n'
               . 'Severity: Sev0 (critical)\nResource: db-' . $k
               . '\nTargets: ' . target($k) . '\nSignal: Metric '
               . '(Platform)\nFired: 2026-11-22T05:36:15.3468506Z\n'
               . 'Link: \nAlert id: ' . id($k) . '",'
               . '"ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
               . sha256_hex($a->{key}) . '","ITSM Configuration Item":"db-' . $k . '"}}';
    },
);

done_testing();
