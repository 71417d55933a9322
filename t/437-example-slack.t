# examples/slack/nginx.conf as shipped (its alert server, its replay
# server) against the fake of a Slack incoming webhook (t/lib/ItsmFake.pm,
# "ok" to every message): the cooldown's held reminder and a queued
# message are delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  The webhook URL, the
# credential, is in a file the configuration includes, as the example
# tells users to keep it.  "cooldown=3s" and "itsm_retry backoff=1s" stand
# for the example's hour and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmExampleFlow;
use ItsmExample;

my $Hook = '/services/T0TEST0001/B0TEST0001/T3stS3cretT3stS3cretT3st';

my %Headers = ('Content-Type' => 'application/json',
               Host => 'hooks.slack.com');

sub firing {
    my ($k) = @_;
    return '{"text":":red_circle: Disk full on db-' . $k . '","blocks":['
         . '{"type":"header","text":{"type":"plain_text","emoji":true,'
         . '"text":":red_circle: Disk full on db-' . $k . '"}},'
         . '{"type":"section","text":{"type":"plain_text","emoji":false,'
         . '"text":"/var is 98% full"}},'
         . '{"type":"section","fields":['
         . '{"type":"mrkdwn","verbatim":true,"text":"*Severity*\ncritical"},'
         . '{"type":"mrkdwn","verbatim":true,"text":"*Resource*\ndb-' . $k . '"},'
         . '{"type":"mrkdwn","verbatim":true,"text":"*Source*\ngeneric"},'
         . '{"type":"mrkdwn","verbatim":true,"text":"*Alert key*\ndisk-db' . $k
         . '"}]},{"type":"context","elements":[{"type":"mrkdwn",'
         . '"verbatim":true,"text":"(no link)"}]}]}';
}

sub repeat {
    my ($k) = @_;
    return '{"text":":repeat: Still firing: Disk full on db-' . $k . '",'
         . '"blocks":[{"type":"section","text":{"type":"mrkdwn","verbatim":'
         . 'true,"text":":repeat: *Still firing:* Disk full on db-' . $k
         . '"}},{"type":"context","elements":[{"type":"plain_text","emoji":'
         . 'false,"text":"Seen 2 times since TIME, severity critical"}]},'
         . '{"type":"section","text":{"type":"plain_text","emoji":false,'
         . '"text":"/var is 99% full"}}]}';
}

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'slack',
    secret_include => [[qr/^[ \t]*proxy_pass[ \t]+https:\/\/hooks\.slack\.com\/[^;]*;/m,
                        'slack-webhook.conf',
                        "proxy_pass https://hooks.slack.com$Hook;"]],
    ticket => sub { undef },      # Slack answers "ok": no ticket id
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => $Hook, status => 200, body => firing($k)};
    },
    held => sub {
        my ($a, $k) = @_;
        # the first message and the reminder share the URL
        return {method => 'POST', uri => $Hook, status => 200,
                match_body => "Still firing: Disk full on db-$k\"",
                body => ItsmExample::like_text(repeat($k))};
    },
    itsm_503 => [{'Content-Type' => 'text/html'}, 'service_unavailable'],
);

done_testing();
