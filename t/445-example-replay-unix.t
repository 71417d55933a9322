# README's first choice for the replay server: a unix socket
# ("itsm_replay_url unix:/run/nginx/itsm.sock:/_itsm/replay;" and
# "listen unix:/run/nginx/itsm.sock;"), on examples/request-tracker/nginx.conf
# otherwise as shipped, against the fake RT (t/lib/ItsmFake.pm): the
# cooldown's held comment goes through the replay server on the socket.
# "cooldown=3s" stands for the example's 30 minutes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmFake;
use ItsmExample;
use ItsmExampleFlow;

my $fake = ItsmFake->start;

my $ex = ItsmExample->new('request-tracker', itsm => $fake->addr,
    cooldown => '3s',
    replace => [
        [qr/listen  127\.0\.0\.1:8089;/, 'listen  unix:/run/nginx/itsm.sock;'],
        [qr{itsm_replay_url  http://127\.0\.0\.1:8089/_itsm/replay;},
         'itsm_replay_url  unix:/run/nginx/itsm.sock:/_itsm/replay;']]);

my ($ok, $out) = $ex->test;
ok($ok, 'the replay server on a unix socket passes nginx -t') or diag($out);

$ex->start;

my ($a1, $a2) = map { ItsmExampleFlow::generic_alert(1, $_) } 1, 2;

is($ex->post($a1->{path}, $a1->{body})->{status}, 201,
   'the alert creates a ticket');
like($ex->post($a2->{path}, $a2->{body})->{content}, qr/"outcome":"cooldown"/,
     'the repeat is held');

my $got = eval { $fake->wait_requests(1, method => 'POST',
                                      uri => '/REST/2.0/ticket/1/comment',
                                      timeout => 20) };
ok($got, 'the replay over the unix socket delivers the held comment')
    or diag($@);
like(($got->[0] || {})->{body} // '',
     ItsmExample::like_text('{"Content":"The alert is firing (seen 2 times '
                            . 'since TIME, severity critical).\n/var is 99% '
                            . 'full","ContentType":"text/plain"}'),
     "with the repeat's state");

unlike($ex->error_log, qr/a pending delivery failed/,
       'the replay request reached the socket');

$ex->stop;
$fake->stop;

done_testing();
