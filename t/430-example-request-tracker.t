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

my $Token = 'token 1-14-0123456789abcdef0123456789abcdef';

my %Headers = (Authorization => $Token, 'Content-Type' => 'application/json',
               Accept => 'application/json', Host => 'rt.example.com');

ItsmExampleFlow::run(
    name => 'request-tracker',
    kind => 'rt',
    connector => 'rt',
    auth => {rt => $Token},
    secret_include => [[qr/^[ \t]*proxy_set_header[ \t]+Authorization[^;]*;/m,
                        'rt-auth.conf',
                        qq(proxy_set_header Authorization "$Token";)]],
    alert => \&ItsmExampleFlow::generic_alert,
    ticket => sub { "$_[0]" },
    find => sub {
        my ($a) = @_;
        my $sha = sha256_hex($a->{key});
        return {method => 'GET', status => 200,
                uri => "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D"
                     . "%27%3D%27$sha%27%20AND%20Status%3D%27__Active__%27"
                     . "&orderby=Created&order=DESC&per_page=1"};
    },
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => '/REST/2.0/ticket', status => 201,
                headers => \%Headers,
                body => '{"Queue":"General","Subject":"Disk full on db-' . $k
                      . '","Priority":"100","Content":"/var is 98% full\n\n'
                      . 'Severity: critical\nResource: db-' . $k
                      . '\nSource: generic\nAlert key: disk-db' . $k
                      . '\nLink: ","ContentType":"text/plain","CustomFields":{"ITSM Alert Key":"'
                      . sha256_hex($a->{key}) . '"}}'};
    },
    held => sub {
        my ($a, $k, $ticket) = @_;
        return {method => 'POST', uri => "/REST/2.0/ticket/$ticket/comment",
                status => 201, headers => \%Headers,
                body => ItsmExample::like_text(
                    '{"Content":"The alert is firing (seen 2 times since '
                  . 'TIME, severity critical).\n/var is 99% full",'
                  . '"ContentType":"text/plain"}')};
    },
    itsm_503 => [{'Content-Type' => 'text/html'},
                 "<html><head><title>503 Service Unavailable</title></head></html>\n"],
);

done_testing();
