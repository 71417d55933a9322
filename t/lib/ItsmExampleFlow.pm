package ItsmExampleFlow;

# The checks every example that keeps work for later (a cooldown or a
# queue) gets, run on the example as shipped (t/lib/ItsmExample.pm) against
# the stateful fake ITSM (t/lib/ItsmFake.pm).  Each t/43*.t file gives what
# is particular to its example (how its sender posts an alert, the exact
# requests its ITSM must get) and calls run().
#
#   nginx -t    the shipped file, only addresses, paths and credentials
#               substituted, passes
#   cooldown    two keys: each created; a repeat of each inside the
#               cooldown is held (the sender gets "cooldown", the ITSM
#               nothing); when the cooldown ends the replay server delivers
#               the held update: key 1's at once, key 2's after the ITSM
#               answered its first try with 503; each exactly once, and the
#               exact request the ITSM got is checked
#   queue       with "itsm_queue on" added (the examples ship without it;
#               README tells users of senders that retry little to add
#               it): the ITSM answers a create 503 with Retry-After, the
#               sender gets 202 "queued", the ITSM comes back, the replay
#               delivers the create exactly once: one ticket, the same
#               request twice, nothing after
#
# The examples' cooldowns are 30 minutes to an hour and itsm_retry's
# first backoff is 30 s: the runs use "cooldown=3s" and "itsm_retry
# backoff=1s" instead, the only changes besides addresses, paths and
# credentials.
#
# run(%x):
#   name       the example (examples/NAME)
#   kind       the fake's ITSM (rt, jira, jsm, servicenow, opsgenie, ...)
#   connector  the connector's name, as the answers give it
#   auth       {kind => credential}: what the fake ITSM insists on
#   replace, files, secret_include   the credentials (ItsmExample)
#   alert      sub { my ($k, $v) = @_; {path, body, headers, key} }: the
#              sender's request for key number K (1, 2, 3), variant V (1:
#              the first firing, 2: the repeat, with another description)
#   create     sub { my ($a, $k) = @_; {method, uri, body, headers} }: the
#              exact create the ITSM must get for alert $a
#   held       sub { my ($a, $k, $ticket) = @_; {...} }: the exact update
#              the ITSM must get when the cooldown of key K ends, $a the
#              repeat (its latest state)
#   find       sub { my ($a, $k) = @_; {method, uri, status} }: the request
#              that looks for the ticket of alert $a before a create whose
#              outcome is in doubt (an earlier create answered 503), for
#              the presets that have a "find" line
#   ticket     sub { my ($n) = @_; ... }: the ticket id the n-th create of
#              the fake gives, as the answer names it (undef: none)
#   held_outcome  the held update's action ("comment" or "update")
#   itsm_503   [headers, body] of the ITSM's outage answer
#
# A request's body is compared exactly; a body given as qr// is matched;
# ItsmExample::like_text() makes one where TIME stands for a UTC time.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use Digest::SHA ();

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmFake;
use ItsmExample;
use ItsmPreset ();

my $J = JSON::PP->new->allow_nonref(1);

# the alert most presets take at /alerts/generic: key number K, variant V
# (1: the first firing, 2: the repeat, the disk fuller)
sub generic_alert {
    my ($k, $v) = @_;
    my $desc = $v == 1 ? '/var is 98% full' : '/var is 99% full';
    return {path => '/alerts/generic', key => "disk-db$k",
            body => qq({"key": "disk-db$k", "title": "Disk full on db-$k", )
                  . qq("severity": "critical", "description": "$desc", )
                  . qq("resource": "db-$k", "status": "firing"})};
}

# examples/source-siem: a Microsoft Sentinel incident as the playbook
# posts it, key number K, variant V (1: New, High; 2: changed to Low; 3:
# High again, later), and the options that run the example with its
# playbook's token in a token file, as it advises
our $SentinelToken = 'c6f1e2d3b4a5968778695a4b3c2d1e0f5b3f0c2e9d7a41c8';

sub sentinel_id { "73e01a99-5cd7-4139-a149-9f2736ff2ab$_[0]" }

sub sentinel_alert {
    my ($k, $v) = @_;
    my ($severity, $at) = @{{1 => ['High', '13:15:30'], 2 => ['Low', '13:17:00'],
                             3 => ['High', '13:20:00']}->{$v}};
    my $ws = '/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/'
           . 'myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace';
    return {path => '/alerts/siem', key => sentinel_id($k),
            headers => {'X-ITSM-Token' => $SentinelToken},
            body => '{"id":"' . $ws . '/providers/Microsoft.SecurityInsights/'
                  . 'incidents/' . sentinel_id($k) . '","name":"' . sentinel_id($k) . '",'
                  . '"properties":{"lastModifiedTimeUtc":"2019-01-01T' . $at
                  . 'Z","firstActivityTimeUtc":"2019-01-01T13:00:30Z",'
                  . '"description":"Sign-ins from a new country","title":'
                  . '"Unfamiliar sign-in on db-' . $k . '","owner":'
                  . '{"assignedTo":null},"severity":"' . $severity . '",'
                  . '"status":"New","incidentUrl":"https://portal.azure.com/'
                  . '#incident/' . $k . '","incidentNumber":' . (3170 + $k)
                  . ',"additionalData":{"alertsCount":1,"tactics":'
                  . '["InitialAccess"]}}}'};
}

sub sentinel_options {
    return (name => 'source-siem', alert => \&sentinel_alert,
            replace => [[qr/itsm_token[ \t]+\$http_x_itsm_token[ \t]+FAKE[^;]*;/,
                         'itsm_token $http_x_itsm_token file=/etc/nginx/itsm/siem.tokens;']],
            files => {'etc/itsm/siem.tokens' => "$SentinelToken\n"});
}

# how long a delivery may take to arrive: longer under valgrind (nginx
# 20-50x slower, the kick's replay of a held alert through it), a bound on
# the wait, not a time asserted
our $Wait = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 20;

# the sender's answer, exactly as the module writes it
sub answer {
    my ($status, @results) = @_;
    my @a;
    for my $r (@results) {
        my $s = '{"key":' . $J->encode($r->{key}) . ',"action":"' . $r->{action}
              . '","outcome":"' . $r->{outcome} . '","connector":"'
              . $r->{connector} . '"';
        $s .= ',"ticket_id":' . $J->encode($r->{ticket_id})
            if defined $r->{ticket_id} && length $r->{ticket_id};
        $s .= ',"reason":' . $J->encode($r->{reason}) if defined $r->{reason};
        push @a, "$s}";
    }
    return qq({"status":"$status","alerts":[) . join(',', @a) . "]}\n";
}

our $CooldownReason = 'the ticket was updated within the cooldown; the '
                    . 'latest state is sent when it ends';
our $QueuedReason = 'the ITSM is unavailable; the alert is kept and '
                  . 'delivered when it answers';

sub check_request {
    my ($got, $want, $what) = @_;

    subtest $what => sub {
        is($got->{method}, $want->{method}, 'method');
        is($got->{uri}, $want->{uri}, 'URI');

        if (ref $want->{body}) {
            like($got->{body}, $want->{body}, 'body');
        } else {
            is($got->{body}, $want->{body}, 'body');
        }

        for my $h (sort keys %{$want->{headers} || {}}) {
            is($got->{headers}{lc $h}, $want->{headers}{$h}, "header $h");
        }
    };
}

sub post {
    my ($ex, $a) = @_;
    return $ex->post($a->{path}, $a->{body}, $a->{headers});
}

# nothing at error level or above but the outage the test made
sub quiet_log {
    my ($ex, $what) = @_;
    my @bad = grep { /\[(?:error|crit|alert|emerg)\]/
                     && !/: the ITSM answered 503: / }
              split /\n/, $ex->error_log;
    is(join("\n", @bad), '', "$what: no error in the error log");
}

sub uri_re {
    my ($want) = @_;
    return '^' . quotemeta($want->{uri}) . '$';
}

sub example {
    my ($x, $fake, %more) = @_;
    return ItsmExample->new($x->{name}, itsm => $fake->addr,
                            replace => $x->{replace},
                            files => {%{$x->{files} || {}}},
                            secret_include => $x->{secret_include},
                            %more);
}

# an example whose ITSM is Request Tracker (the RT preset and the source
# presets): run() with what is the same for all of them (the RT token in
# an included file, RT's find by custom field, the comment the held
# repeat becomes, RT's web server's 503); create => sub { my ($a, $k) = @_;
# ... } gives the create's body only
our $RtToken = 'token 1-14-0123456789abcdef0123456789abcdef';
our %RtHeaders = (Authorization => $RtToken, 'Content-Type' => 'application/json',
                  Accept => 'application/json', Host => 'rt.example.com');

sub rt {
    my (%x) = @_;
    my $body = delete $x{create};
    run(kind => 'rt', connector => 'rt',
        credential => ['Authorization', $RtToken, 'rt-auth.conf'],
        headers => \%RtHeaders,
        ticket => sub { "$_[0]" },
        find => 'request-tracker',
        create => sub {
            return {method => 'POST', uri => '/REST/2.0/ticket', status => 201, body => $body->(@_)};
        },
        held => sub {
            my ($a, $k, $ticket) = @_;
            return {method => 'POST', uri => "/REST/2.0/ticket/$ticket/comment", status => 201,
                    body => ItsmExample::like_text(
                        '{"Content":"The alert is firing (seen 2 times since '
                      . 'TIME, severity critical).\n/var is 99% full",'
                      . '"ContentType":"text/plain"}')};
        },
        itsm_503 => [{'Content-Type' => 'text/html'},
                     "<html><head><title>503 Service Unavailable</title></head></html>\n"],
        %x);
}

# What run() derives from the options that many examples share:
#   kind, connector   the example's name, unless given
#   alert      generic_alert, unless given
#   credential => [HEADER, VALUE, FILE]: the ITSM insists on HEADER: VALUE
#              (auth) and the example keeps its proxy_set_header in the
#              included FILE (secret_include), as the example tells users
#   headers    the headers every request the ITSM gets carries: a create
#              or held that names none has these
#   find       (a name) the find of that ITSM's contract mock, the same
#              request as the preset's
sub defaults {
    my (%x) = @_;
    $x{kind} //= $x{name};
    $x{connector} //= $x{kind};
    $x{alert} //= \&generic_alert;
    if (my $c = $x{credential}) {
        my ($header, $value, $file) = @$c;
        $x{auth} //= {$x{kind} => $value};
        $x{secret_include} //= [[qr/^[ \t]*proxy_set_header[ \t]+\Q$header\E[^;]*;/m,
                                 $file, qq(proxy_set_header $header "$value";)]];
    }
    if (defined $x{find} && !ref $x{find}) {
        # the find of the ITSM's contract (t/lib/ItsmPreset.pm)
        my $uri = $ItsmPreset::Contract{$x{find}}{find};
        $x{find} = sub { {method => 'GET', status => 200, uri => $uri->($_[0]{key})} };
    }
    if (my $h = $x{headers}) {
        for my $which (qw(create held)) {
            my $sub = $x{$which} or next;
            $x{$which} = sub { my $r = $sub->(@_); $r->{headers} //= $h; $r };
        }
    }
    return %x;
}

sub run {
    my (%x) = defaults(@_);
    my $name = $x{name};
    my $conn = $x{connector};
    my ($h503, $b503) = @{$x{itsm_503} || [{}, '']};
    my $held_action = $x{held_outcome} // 'comment';
    my %outcome = (comment => 'commented', update => 'updated');

    my $fake = ItsmFake->start(auth => $x{auth});

    # ---- nginx -t of the shipped file -------------------------------------

    {
        my ($ok, $out) = example(\%x, $fake)->test;
        ok($ok, "examples/$name/nginx.conf as shipped passes nginx -t")
            or diag($out);
    }

    # ---- the cooldown path ------------------------------------------------

    my $ex = example(\%x, $fake, cooldown => '3s', retry => 'backoff=1s');
    $ex->start;

    my @first = map { $x{alert}->($_, 1) } 1, 2;
    my @again = map { $x{alert}->($_, 2) } 1, 2;

    for my $k (1, 2) {
        my $res = post($ex, $first[$k - 1]);
        is($res->{status}, 201, "cooldown: key $k: created");
        is($res->{content}, answer('created', {
               key => $first[$k - 1]{key}, action => 'create',
               outcome => 'created', connector => $conn,
               ticket_id => $x{ticket}->($k)}),
           "cooldown: key $k: the sender's answer");
    }

    my $reqs = $fake->requests;
    is(scalar @$reqs, 2, 'cooldown: the ITSM got two requests, the creates');
    for my $k (1, 2) {
        check_request($reqs->[$k - 1], $x{create}->($first[$k - 1], $k),
                      "cooldown: key $k: the create");
    }

    # key 2's held update meets an outage at its first try
    my @held = map { $x{held}->($again[$_ - 1], $_, $x{ticket}->($_)) } 1, 2;
    $fake->fault(method => $held[1]{method}, path => uri_re($held[1]),
                 match_body => $held[1]{match_body}, status => 503,
                 retry_after => 1, headers => $h503, body => $b503);

    for my $k (1, 2) {
        my $res = post($ex, $again[$k - 1]);
        is($res->{status}, 200, "cooldown: key $k: the repeat is held");
        is($res->{content}, answer('cooldown', {
               key => $again[$k - 1]{key}, action => 'none',
               outcome => 'cooldown', connector => $conn,
               ticket_id => $x{ticket}->($k), reason => $CooldownReason}),
           "cooldown: key $k: the sender's answer");
    }

    is(scalar @{$fake->requests}, 2,
       'cooldown: nothing went to the ITSM for the repeats');

    # the held updates, delivered by the replay server when the cooldown ends
    my @f = map { (method => $held[$_]{method}, uri => $held[$_]{uri},
                   defined $held[$_]{match_body}
                   ? (body => qr/$held[$_]{match_body}/) : ()) } 0;
    my @g = map { (method => $held[$_]{method}, uri => $held[$_]{uri},
                   defined $held[$_]{match_body}
                   ? (body => qr/$held[$_]{match_body}/) : ()) } 1;

    my $got1 = eval { $fake->wait_requests(1, @f, timeout => $Wait) };
    ok($got1, "cooldown: key 1: the held $held_action arrived") or diag($@);
    my $got2 = eval { $fake->wait_requests(2, @g, timeout => $Wait) };
    ok($got2, "cooldown: key 2: the held $held_action arrived after the 503")
        or diag($@);
    $got1 ||= [];
    $got2 ||= [];

    is(scalar @$got1, 1, "cooldown: key 1: one $held_action");
    check_request($got1->[0] || {}, $held[0],
                  "cooldown: key 1: the held $held_action");
    is(($got1->[0] || {})->{status} // 0, $held[0]{status},
       "cooldown: key 1: the ITSM took it");

    is(scalar @$got2, 2, "cooldown: key 2: two tries");
    is(join(' ', map { $_->{status} // 'none' } @$got2),
       "503 $held[1]{status}",
       'cooldown: key 2: the first met the outage, the second went through');
    check_request($got2->[$_] || {}, $held[1],
                  "cooldown: key 2: try " . ($_ + 1) . " of the held "
                  . $held_action)
        for 0, 1;

    # nothing is left, nothing comes again
    my $st = ItsmExample::wait_for(sub {
        my $s = $ex->status;
        return $s && $s->{store}{queued} == 0 ? $s : undef;
    }, $Wait);
    sleep 3;     # three rounds of the kick, as below

    is(($st || {})->{store}{queued}, 0, 'cooldown: nothing is queued');
    is(($st || {})->{store}{dead_letters}, 0, 'cooldown: no dead letter');

    is(scalar @{$fake->requests}, 5,
       'cooldown: five requests in all: two creates, a held update, '
       . 'the other twice')
        or diag(join "\n", map { "$_->{method} $_->{uri} "
                                 . ($_->{status} // $_->{outcome}) }
                           @{$fake->requests});

    quiet_log($ex, 'cooldown');
    $ex->stop;

    # ---- the queue path ---------------------------------------------------

    $fake->reset;

    $ex = example(\%x, $fake, queue => 1);
    $ex->start;

    my $a3 = $x{alert}->(3, 1);
    my $create3 = $x{create}->($a3, 3);

    $fake->fault(method => $create3->{method}, path => uri_re($create3),
                 status => 503, retry_after => 1, headers => $h503,
                 body => $b503);

    my $res = post($ex, $a3);
    is($res->{status}, 202, 'queue: the sender gets 202');
    is($res->{content}, answer('queued', {
           key => $a3->{key}, action => 'create', outcome => 'queued',
           connector => $conn, reason => $QueuedReason}),
       "queue: the sender's answer");

    my $got = eval { $fake->wait_requests(2, method => $create3->{method},
                                          uri => $create3->{uri},
                                          timeout => $Wait) };
    ok($got, 'queue: the replay sent the create again') or diag($@);
    $got ||= [];

    is(join(' ', map { $_->{status} // 'none' } @$got),
       "503 $create3->{status}",
       'queue: the first create met the outage, the second went through');
    check_request($got->[$_] || {}, $create3, 'queue: create try ' . ($_ + 1))
        for 0, 1;

    $st = ItsmExample::wait_for(sub {
        my $s = $ex->status;
        return $s && $s->{store}{queued} == 0 ? $s : undef;
    }, $Wait);
    # the kick looks for due work every second: three of its rounds for a
    # delivery made twice to show
    sleep 3;

    is(($st || {})->{store}{queued}, 0, 'queue: nothing is queued any more');
    is(($st || {})->{store}{open_tickets}, 1, 'queue: the key has its ticket');

    is($fake->count($x{kind}), 1, 'queue: exactly one ticket in the ITSM');

    # between the two creates, the find of a preset that has one: the 503
    # may have come from a gateway after the ITSM made the ticket
    my $find3 = $x{find} ? $x{find}->($a3, 3) : undef;
    my $all = $fake->requests;
    is(join("\n", map { "$_->{method} $_->{uri} " . ($_->{status} // 'none') }
                  @$all),
       join("\n", map { "$_->{method} $_->{uri} $_->{status}" }
                  {%$create3, status => 503}, $find3 ? ($find3) : (),
                  $create3),
       'queue: the requests in all' . ($find3 ? ', the find between the '
                                               . 'creates' : ''));
    is(scalar @$all, $find3 ? 3 : 2, 'queue: nothing else')
        or diag(join "\n", map { "$_->{method} $_->{uri} "
                                 . ($_->{status} // $_->{outcome}) }
                           @{$fake->requests});

    quiet_log($ex, 'queue');
    $ex->stop;
    $fake->stop;
}

1;
