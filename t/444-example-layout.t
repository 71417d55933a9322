# Where a connector's location may be, and what nginx -t refuses, on
# examples/request-tracker/nginx.conf as users change it.  Besides
# README's layout (the ITSM location in the alert server, the replay server
# of its own: t/430), the ITSM location may be in the replay server only
# (the replay server on a unix socket is t/445).  Every layout in which an
# alert endpoint or the replay location cannot tell which server's
# location to use fails nginx -t with the file and line of the connector
# and of the endpoint or replay location, and says what to do.
#
# The running layout is driven through the cooldown path against the fake
# RT (t/lib/ItsmFake.pm): "cooldown=3s" stands for the example's 30
# minutes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ItsmFake;
use ItsmExample;
use ItsmExampleFlow;
use ItsmPorts;

my $fake = ItsmFake->start;

# the shipped ITSM location block of the alert server, as rendered
sub itsm_block {
    my ($text) = @_;
    $text =~ /^([ \t]*location \/_itsm\/rt\/ \{\n.*?^[ \t]*\}\n)/ms
        or die "no ITSM location in the example\n";
    return $1;
}

# the 1-based line of the first match of RE in TEXT
sub line_of {
    my ($text, $re) = @_;
    my $n = 1;
    for my $line (split /\n/, $text) {
        return $n if $line =~ $re;
        $n++;
    }
    die "no line like $re\n";
}

# the line of the "server {" that holds line N
sub server_of {
    my ($text, $n) = @_;
    my @lines = split /\n/, $text;
    for (my $i = $n - 1; $i >= 0; $i--) {
        return $i + 1 if $lines[$i] =~ /^\s*server\s*\{/;
    }
    die "line $n is in no server\n";
}

sub example {
    my (%opt) = @_;
    return ItsmExample->new('request-tracker', itsm => $fake->addr,
                            cooldown => '3s', %opt);
}

# the cooldown path, in short: create, a held repeat, the held comment
sub held_comment_arrives {
    my ($ex, $what) = @_;

    $fake->reset;
    $ex->start;

    my ($a1, $a2) = map { ItsmExampleFlow::generic_alert(1, $_) } 1, 2;

    is($ex->post($a1->{path}, $a1->{body})->{status}, 201,
       "$what: the alert creates a ticket");
    like($ex->post($a2->{path}, $a2->{body})->{content}, qr/"outcome":"cooldown"/,
         "$what: the repeat is held");

    my $got = eval { $fake->wait_requests(1, method => 'POST',
                                          uri => '/REST/2.0/ticket/1/comment',
                                          timeout => 20) };
    ok($got, "$what: the replay delivers the held comment") or diag($@);
    like(($got->[0] || {})->{body} // '', qr{/var is 99% full},
         "$what: with the repeat's state");

    unlike($ex->error_log, qr/open\(\) "[^"]*_itsm/,
           "$what: no static file was looked for");

    $ex->stop;
}


# ---- layouts that work ----------------------------------------------------

{
    # the ITSM location in the replay server only: the alert server's
    # endpoints use it there
    my $ex = example(edit => sub {
        my $block = itsm_block($_);
        s/\Q$block\E//;
        s{(location = /_itsm/replay \{)}{${\ ($block =~ s/^\s+//r) }\n        $1};
    });

    my ($ok, $out) = $ex->test;
    ok($ok, 'the ITSM location in the replay server only passes nginx -t')
        or diag($out);
    held_comment_arrives($ex, 'ITSM location in the replay server');
}

{
    # the same, through a rewrite: the subrequest's next lookup starts from
    # its server again (ngx_http_core_post_rewrite_phase), the replay
    # server's, for the alert server's requests too
    my $ex = example(edit => sub {
        my $block = itsm_block($_);
        s/\Q$block\E//;
        (my $real = $block) =~ s{location /_itsm/rt/ \{}{location /_itsm/rt-real/ \{};
        $real =~ s/^\s+//;
        s{(location = /_itsm/replay \{)}{location /_itsm/rt/ { internal; rewrite ^/_itsm/rt/(.*)\$ /_itsm/rt-real/\$1 last; }\n        $real\n        $1};
    });

    my ($ok, $out) = $ex->test;
    ok($ok, 'the ITSM location in the replay server, through a rewrite, '
            . 'passes nginx -t') or diag($out);
    held_comment_arrives($ex, 'ITSM location behind a rewrite');
}

{
    # the ITSM location as a regular expression, marked internal
    my $ex = example(edit => sub {
        s{location /_itsm/rt/ \{}{location ~ ^/_itsm/rt/ \{};
        s{(proxy_pass\s+http://rt\.example\.com)/;}{$1;};
    });

    my ($ok, $out) = $ex->test;
    ok($ok, 'an internal regex ITSM location passes nginx -t') or diag($out);
    held_comment_arrives($ex, 'internal regex ITSM location');
}

{
    # a regex location of the site that would take the create's path, and
    # the ITSM location that keeps it with "^~"
    my $ex = example(edit => sub {
        s{(location /_itsm/rt/ \{)}{location ~ /ticket\$ { return 403; }\n        location ^~ /_itsm/rt/ \{};
    });

    my ($ok, $out) = $ex->test;
    ok($ok, 'a "^~" ITSM location before a regex of the site passes nginx -t')
        or diag($out);
}


# ---- layouts that nginx -t refuses ----------------------------------------

{
    # a regex location of the site takes the create's path away from the
    # ITSM location (a plain prefix: regexes win over it)
    my $ex = example(edit => sub {
        s{(location /_itsm/rt/ \{)}{location ~ /ticket\$ { return 403; }\n        $1};
    });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $conn = line_of($t, qr/^\s*itsm_connector rt \{/);
    my $s1 = server_of($t, line_of($t, qr/^\s*server_name\s+alerts;/));

    refused($ex, qr/itsm_connector "rt" \($conf:$conn\): in the server at $conf:$s1 the path of its create \("\/_itsm\/rt\/REST\/2\.0\/ticket"\) goes to the location "\/ticket\$", not to the connector's location "\/_itsm\/rt", while its other paths do/,
            'a regex of the site that takes the create\'s path');
}

sub refused {
    my ($ex, $re, $what) = @_;
    my ($ok, $out) = $ex->test;
    ok(!$ok, "$what: nginx -t refuses it");
    like($out, $re, "$what: and says where and what to do");
}

{
    # a second alert server with the ITSM location: the replay server has
    # none, and cannot tell which to use
    my $port = ItsmPorts::free();
    my $ex = example(edit => sub {
        my $block = itsm_block($_);
        s{(\n    server \{\n        listen  127\.0\.0\.1:\d+;\n\n        location = /_itsm/replay)}
         {\n    server {\n        listen 127.0.0.1:$port;\n$block        location = /alerts/other { itsm_pass rt; }\n    }\n$1};
    });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $conn = line_of($t, qr/^\s*itsm_connector rt \{/);
    my $s1 = server_of($t, line_of($t, qr/^\s*server_name\s+alerts;/));
    my $s2 = server_of($t, line_of($t, qr/^\s*listen 127\.0\.0\.1:$port;/));
    my $replay = line_of($t, qr{^\s*location = /_itsm/replay \{});
    my $s3 = server_of($t, $replay);

    refused($ex, qr/\[emerg\] itsm_connector "rt" \($conf:$conn\): its location "\/_itsm\/rt" is in 2 servers \($conf:$s1, $conf:$s2\) but not in the server at $conf:$s3 of the replay location "\/_itsm\/replay" at $conf:$replay \(itsm_replay_url "http:\/\/127\.0\.0\.1:\d+\/_itsm\/replay"\), which therefore cannot tell which one to use; put the location in that server too, or keep it in one server only/,
            'the ITSM location in two servers, none in the replay server');
}

{
    # the same, and an alert endpoint in the replay server
    my $port = ItsmPorts::free();
    my $ex = example(edit => sub {
        my $block = itsm_block($_);
        s{(\n    server \{\n        listen  127\.0\.0\.1:\d+;\n\n        location = /_itsm/replay \{)}
         {\n    server {\n        listen 127.0.0.1:$port;\n$block    }\n$1};
        s{(location = /_itsm/replay \{)}{location = /alerts/third {\n            itsm_pass rt;\n        }\n        $1};
    });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $conn = line_of($t, qr/^\s*itsm_connector rt \{/);
    my $pass = line_of($t, qr/^\s*itsm_pass rt;/);
    my $s3 = server_of($t, $pass);

    refused($ex, qr/itsm_connector "rt" \($conf:$conn\): its location "\/_itsm\/rt" is in 2 servers \($conf:\d+, $conf:\d+\) but not in the server at $conf:$s3 of "itsm_pass" at $conf:$pass, which therefore cannot tell which one to use/,
            'an alert endpoint in a server without the ITSM location, '
            . 'which two others have');
}

{
    # no server has the ITSM location
    my $ex = example(edit => sub { my $b = itsm_block($_); s/\Q$b\E//; });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $conn = line_of($t, qr/^\s*itsm_connector rt \{/);
    my $p1 = line_of($t, qr/^\s*itsm_pass\s+rt;/);
    my $s1 = server_of($t, $p1);

    refused($ex, qr/itsm_connector "rt" \($conf:$conn\) has its location "\/_itsm\/rt" in no server, so "itsm_pass" at $conf:(?:$p1|\d+) cannot deliver through it; add "location \/_itsm\/rt\/ \{ internal; proxy_pass \.\.\.; \}" to the server at $conf:$s1/,
            'no ITSM location anywhere');
}

{
    # an ITSM location that takes the create's path but not the others'
    my $ex = example(edit => sub {
        s{location /_itsm/rt/ \{}{location = /_itsm/rt/REST/2.0/ticket \{};
    });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $conn = line_of($t, qr/^\s*itsm_connector rt \{/);
    my $s1 = server_of($t, line_of($t, qr/^\s*server_name\s+alerts;/));

    # the first path the location does not take: the update's
    refused($ex, qr/itsm_connector "rt" \($conf:$conn\): in the server at $conf:$s1 the path of its update \("\/_itsm\/rt\/REST\/2\.0\/ticket\/"\) goes to the location "\/", not to the connector's location "\/_itsm\/rt", while its other paths do; give that server one location that takes every path under "\/_itsm\/rt\/"/,
            'an ITSM location for the create only');
}

# a replay URL that leads to no replay location of the configuration is
# warned about, not refused: it may go through something the configuration
# does not show (t/046 makes the replay answer wrongly on purpose)

sub warned {
    my ($ex, $re, $what) = @_;
    my ($ok, $out) = $ex->test;
    ok($ok, "$what: nginx -t accepts it");
    like($out, $re, "$what: with a warning that says what to do");
}

{
    # the replay URL on a port no server listens on
    my $port = ItsmPorts::free();
    my $ex = example(edit => sub {
        s{itsm_replay_url  http://127\.0\.0\.1:\d+/}{itsm_replay_url  http://127.0.0.1:$port/};
    });

    warned($ex, qr/\[warn\] itsm_replay_url "http:\/\/127\.0\.0\.1:$port\/_itsm\/replay": no server of this configuration listens on 127\.0\.0\.1:$port, so what waits for a cooldown or a retry would end as a dead letter; add "server \{ listen 127\.0\.0\.1:$port; location = \/_itsm\/replay \{ itsm_replay; \} \}"/,
           'a replay URL no server listens on');
}

{
    # the replay URL's path is not the replay location
    my $ex = example(edit => sub {
        s{location = /_itsm/replay \{}{location = /_itsm/replay-renamed \{};
    });

    my $t = $ex->text;
    my $conf = quotemeta $ex->conf;
    my $s3 = server_of($t, line_of($t, qr{^\s*location = /_itsm/replay-renamed \{}));

    warned($ex, qr/\[warn\] itsm_replay_url "http:\/\/127\.0\.0\.1:\d+\/_itsm\/replay" reaches the server at $conf:$s3, where "\/_itsm\/replay" goes to no location, not to a location with "itsm_replay": held and queued deliveries will end as dead letters; add "location = \/_itsm\/replay \{ itsm_replay; \}" to that server/,
           'a replay URL whose path has no replay location');
}

$fake->stop;

done_testing();
