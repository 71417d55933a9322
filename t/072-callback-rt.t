# ITSM callbacks against a real Request Tracker 5 (util/test.sh starts it,
# with the module's callback scrip, util/rt-callback.pl): the loop of
# issue 12 with RT's real behaviour.
#
#   1. an alert opens a ticket in RT;
#   2. a person resolves it through RT's REST API; RT's scrip posts the
#      status change to the callback location, and the module knows it
#      (the callbacks' "applied" count on the status page goes up; polled,
#      the time is printed, not asserted);
#   3. the next firing of the alert reopens that ticket (on_refire reopen,
#      within the window): RT shows it open, and RT's history of the
#      ticket has no comment from the module after the person's resolve;
#   4. the module resolves the ticket itself (the alert resolved): the
#      scrip's post of that change arrives while the alert holds the key
#      ("in_flight", the alert's own outcome stands); then a person
#      reopens it in RT, and the next firing comments on the open ticket
#      (the scrip's post of that comment, a note, is in flight too);
#   5. a person comments in RT: the scrip posts it as a note ("noted").
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket;
use ItsmHttp;
use ItsmConf;
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);

my ($port, $why) = ItsmHttp::rt();
my $sd = $ENV{ITSM_TEST_RT_STATEDIR};

if (!$port) {
    plan skip_all => $why;
} elsif (!$sd || !-d $sd) {
    plan skip_all => "ITSM_TEST_RT_STATEDIR is not set: util/test.sh tells where its RT's callback scrip reads its url and token";
} else {
    plan 'no_plan';
}

# a test-only token; RT's scrip reads it with the url from its file
our $Token = 'itsmcb_rt-callback-test-token-' . $$ . '-' . int(time());
$ENV{TEST_NGINX_CB_HASH} = sha256_hex($Token);
our $Run = "cb" . int(time()) . "-$$";
our $Json = JSON::PP->new;
our $Http = HTTP::Tiny->new(timeout => 30);
our $Nginx = "http://127.0.0.1:" . ($ENV{TEST_NGINX_SERVER_PORT} || 1984);
our $RT = "http://127.0.0.1:$port/REST/2.0";
our %RTAuth = (Authorization => 'Basic cm9vdDpwYXNzd29yZA==');

if ($sd) {
    my $f = "$sd/itsm-callback";
    open(my $fh, '>', $f) or die "$f: $!";
    chmod 0600, $f;
    print $fh "url $Nginx/itsm/callback/rt\ntoken $Token\n";
    close $fh;
}
END { local $?; unlink "$sd/itsm-callback" if $sd }

sub alert {
    my ($status) = @_;
    my $r = $Http->post("$Nginx/alerts", {headers => {'Content-Type' => 'application/json'},
            content => qq{{"key": "$Run", "title": "$Run disk full", "status": "$status"}}});
    return ($r->{status}, $r->{content} ? $Json->decode($r->{content}) : {});
}

sub rt_put_status {
    my ($id, $status) = @_;
    my $r = $Http->request('PUT', "$RT/ticket/$id", {headers => {%RTAuth, 'Content-Type' => 'application/json'},
            content => qq{{"Status": "$status"}}});
    die "RT PUT: $r->{status} $r->{content}\n" unless $r->{success};
}

sub rt_ticket {
    my ($id) = @_;
    my $r = $Http->get("$RT/ticket/$id", {headers => \%RTAuth});
    return $Json->decode($r->{content});
}

# RT's transactions of the ticket, oldest first: [type, field, new value]
sub rt_history {
    my ($id) = @_;
    my $r = $Http->get("$RT/ticket/$id/history?per_page=100&fields=Type,Field,NewValue", {headers => \%RTAuth});
    return [map { [$_->{Type}, $_->{Field} // '', $_->{NewValue} // ''] } @{$Json->decode($r->{content})->{items}}];
}

sub callbacks {
    my $r = $Http->get("$Nginx/status");
    return $Json->decode($r->{content})->{callbacks};
}

# polls the status page until the callbacks' "$what" count reaches $n:
# the seconds it took, or undef after 20 s
sub wait_callbacks {
    my ($what, $n, $t0) = @_;
    while (time - $t0 < 20) {
        return time - $t0 if (callbacks()->{$what} // 0) >= $n;
        sleep 0.02;
    }
    return undef;
}

sub flow {
    # 1. an alert opens a ticket
    my ($code, $a) = alert('firing');
    Test::More::is($code, 201, "the alert opens a ticket");
    my $id = $a->{alerts}[0]{ticket_id};
    Test::More::like($id // '', qr/^\d+$/, "RT's ticket id");

    # 2. a person resolves it in RT
    my $t0 = time;
    rt_put_status($id, 'resolved');
    my $took = wait_callbacks('applied', 1, $t0);
    Test::More::ok(defined $took, "the module learns of the resolve");
    Test::More::diag(sprintf "RT resolve -> the module knows: %.3f s (the scrip posts inside RT's request)", $took // -1);
    Test::More::is(rt_ticket($id)->{Status}, 'resolved', "RT: resolved");

    # 3. the next firing reopens it, no comment into the resolved ticket
    ($code, $a) = alert('firing');
    Test::More::is($code, 200, "the next firing: 200");
    Test::More::is($a->{alerts}[0]{action}, 'reopen', "the next firing reopens");
    Test::More::is($a->{alerts}[0]{ticket_id}, $id, "the same ticket");
    Test::More::is(rt_ticket($id)->{Status}, 'open', "RT: open again");
    my @h = @{rt_history($id)};
    my ($resolved) = grep { $h[$_][1] eq 'Status' && $h[$_][2] eq 'resolved' } 0 .. $#h;
    my @after = map { $_->[0] } @h[$resolved + 1 .. $#h];
    Test::More::is_deeply(\@after, ['Status'], "RT's history after the person's resolve: the reopen, no comment");

    # the reopen's own status change came back to the module while the
    # alert held the key
    Test::More::ok(defined wait_callbacks('in_flight', 1, time), "the echo of the module's reopen: in flight");

    # 4. the module resolves; a person reopens; the next firing comments
    ($code, $a) = alert('resolved');
    Test::More::is($a->{alerts}[0]{action}, 'resolve', "the alert resolved: the module resolves");
    Test::More::ok(defined wait_callbacks('in_flight', 2, time), "the echo of the module's resolve: in flight");
    $t0 = time;
    rt_put_status($id, 'open');
    $took = wait_callbacks('applied', 2, $t0);
    Test::More::ok(defined $took, "the module learns of the person's reopen");
    Test::More::diag(sprintf "RT reopen -> the module knows: %.3f s", $took // -1);
    ($code, $a) = alert('firing');
    Test::More::is($a->{alerts}[0]{action}, 'comment', "the next firing comments on the reopened ticket");
    Test::More::is($a->{alerts}[0]{ticket_id}, $id, "the same ticket");
    # the module's own comment came back as a note (the scrip's "On
    # Comment") while the alert held the key: in flight, not a note
    Test::More::ok(defined wait_callbacks('in_flight', 3, time), "the echo of the module's comment: in flight");

    # 5. a person comments in RT: a note, once
    $t0 = time;
    my $r = $Http->post("$RT/ticket/$id/comment", {headers => {%RTAuth, 'Content-Type' => 'application/json'},
            content => qq{{"Content": "looked at $Run", "ContentType": "text/plain"}}});
    Test::More::ok($r->{success}, "a person comments in RT") or Test::More::diag("RT: $r->{status} $r->{content}");
    $took = wait_callbacks('noted', 1, $t0);
    Test::More::ok(defined $took, "the module gets the comment as a note");
    Test::More::diag(sprintf "RT comment -> the module's note: %.3f s", $took // -1);
    Test::More::is(rt_ticket($id)->{Status}, 'open', "RT: still open (a note changes no state)");

    my $c = callbacks();
    Test::More::is_deeply([@$c{qw(applied in_flight noted unauthorized malformed unknown_ticket failed)}], [2, 3, 1, 0, 0, 0, 0],
                          "callbacks: 2 applied, 3 in flight, 1 noted, nothing refused");
}

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: alert -> RT ticket -> resolved by a person in RT -> the module knows -> the next firing reopens
--- http_config
    itsm_store logs/state.mdb;
    itsm_zone  itsm:4m;
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}", "Content": "{{ key }}", "ContentType": "text/plain"}';
        comment    POST "/REST/2.0/ticket/{{ ticket_id }}/comment" 'body={"Content": "fired again", "ContentType": "text/plain"}';
        resolve    PUT  "/REST/2.0/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}';
        reopen     PUT  "/REST/2.0/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        ticket_id  /id;
        on_repeat  comment cooldown=0;
        on_refire  reopen window=1h;
        callback_token sha256:$TEST_NGINX_CB_HASH;
        callback_status rt;
    }
--- config eval
ItsmConf::rt_itsm() . <<'_EOC_'
    location = /alerts { itsm_pass rt; }
    location = /itsm/callback/rt { itsm_callback rt profile=rt; }
    location = /status { itsm_status; }
_EOC_
--- init
::flow();
--- request
GET /alerts
--- error_code: 405
--- timeout: 120
