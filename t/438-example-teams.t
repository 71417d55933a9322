# examples/teams/nginx.conf as shipped (its alert server, its replay
# server) against the fake of a Teams Workflows webhook
# (t/lib/ItsmFake.pm, 202 to every card): the cooldown's held reminder and
# a queued card are delivered by the replay server, exactly once each
# (t/lib/ItsmExampleFlow.pm says what is checked).  The workflow URL, whose
# "sig" is the credential, is in a file the configuration includes, as a
# user keeps it.  "cooldown=3s" and "itsm_retry backoff=1s" stand for the
# example's hour and the default 30 s.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmExampleFlow;
use ItsmExample;

my $Url = '/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/'
        . 'invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0'
        . '&sig=T3stS1gT3stS1gT3stS1gT3stS1gT3stS1gT3stS1g';

my %Headers = ('Content-Type' => 'application/json',
               Host => 'prod-00.westeurope.logic.azure.com');

sub card {
    return '{"type":"message","attachments":[{"contentType":'
         . '"application/vnd.microsoft.card.adaptive","contentUrl":null,'
         . '"content":{"$schema":"http://adaptivecards.io/schemas/'
         . 'adaptive-card.json","type":"AdaptiveCard","version":"1.4",'
         . '"body":[' . join(',', @_) . ']}}]}';
}

sub trun { my ($text, $attrs) = @_; $attrs //= '';
           '{"type":"TextRun",' . $attrs . '"text":"' . $text . '"}' }
sub rich { '{"type":"RichTextBlock","inlines":[' . join(',', @_) . ']}' }

sub header {
    my ($label, $title, $size) = @_;
    my $a = ($size ? '"size":"Medium",' : '') . '"weight":"Bolder",';
    return '{"type":"Container","style":"attention","bleed":true,"items":['
         . rich(trun($label, $a), trun($title, $a)) . ']}';
}

my $S = '"isSubtle":true,';
my $B = '"isSubtle":true,"weight":"Bolder",';

ItsmExampleFlow::run(
    headers => \%Headers,
    name => 'teams',
    secret_include => [[qr/^[ \t]*proxy_pass[ \t]+https:\/\/prod-00[^;]*;/m,
                        'teams-workflow.conf',
                        "proxy_pass https://prod-00.westeurope.logic.azure.com$Url;"]],
    ticket => sub { undef },      # the workflow answers 202 with nothing
    create => sub {
        my ($a, $k) = @_;
        return {method => 'POST', uri => $Url, status => 202,
                body => card(header('Firing: ', "Disk full on db-$k", 1),
                             rich(trun('/var is 98% full')),
                             rich(trun('Severity: ', $B), trun('critical', $S),
                                  trun(' | Resource: ', $B), trun("db-$k", $S),
                                  trun(' | Source: ', $B), trun('generic', $S),
                                  trun(' | Alert key: ', $B),
                                  trun("disk-db$k", $S)),
                             rich(trun('Link: ', $B), trun('(no link)', $S)))};
    },
    held => sub {
        my ($a, $k) = @_;
        # the first card and the reminder share the URL
        return {method => 'POST', uri => $Url, status => 202,
                match_body => "\"Still firing: \"\\},\\{[^}]*\"text\":\"Disk full on db-$k\"",
                body => ItsmExample::like_text(
                    card(header('Still firing: ', "Disk full on db-$k"),
                         rich(trun('Seen 2 times since TIME, severity '
                                   . 'critical.', $S)),
                         rich(trun('/var is 99% full'))))};
    },
    itsm_503 => [{}, '{"error":{"code":"ServiceUnavailable","message":"The '
                   . 'service is unavailable."}}'],
);

done_testing();
