# Creates whose answers are lost, against a real Request Tracker 5: workers
# killed (kill -9) while creates are in flight, and an ITSM location whose
# proxy_read_timeout passes before RT answers a create it carries out.
# Each sender retries until it gets a 2xx, as Alertmanager does.  Every key
# must end with exactly one ticket in RT: the module writes the SHA-256 of
# the key into RT's "ITSM Alert Key" field (util/rt-data.pl) and, when a
# create's outcome is unknown, asks RT for it before creating again.
#
# ITSM_LOST_N (keys in the kill run, default 120), ITSM_LOST_KILLS (default
# 3) and ITSM_LOST_SLOW (keys in the timeout run, default 30) scale it;
# the figures are printed.
use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmHttp;
use ItsmNginx;
use ItsmConf;
use IO::Socket::INET;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep time);

my $port = ItsmHttp::plan_rt();

master_on();
workers(2);
worker_connections(1024);
no_shuffle();

our $Run = "lost" . time() . "-$$";
# under valgrind each request is many times slower: fewer keys, same kills
my $vg = $ENV{TEST_NGINX_USE_VALGRIND};
our $N = $ENV{ITSM_LOST_N} // ($vg ? 24 : 120);
our $Kills = $ENV{ITSM_LOST_KILLS} // 3;
our $Slow = $ENV{ITSM_LOST_SLOW} // ($vg ? 6 : 30);

# sends every alert of @keys to $uri, $conc at a time, each again after a
# non-2xx or a broken connection; calls $tick->($done) as they complete
sub send_all {
    my ($uri, $keys, $conc, $tick) = @_;
    my @todo = @$keys;
    my (%try, @flight, $done, $failed);
    $done = 0;
    my $deadline = time + 600;

    while ((@todo || @flight) && time < $deadline) {
        while (@todo && @flight < $conc) {
            my $k = shift @todo;
            $try{$k}++;
            push @flight, [$k, ItsmHttp::start(qq{{"key": "$k", "title": "$k"}}, uri => $uri, timeout => 60)];
        }
        my $f = shift @flight;
        my $a = ItsmHttp::finish($f->[1]);
        if (ItsmHttp::status($a) =~ /^2/) {
            $done++;
            $tick->($done) if $tick;
        } elsif ($try{$f->[0]} < 50) {
            push @todo, $f->[0];
            sleep 0.05;
        } else {
            $failed++;
        }
    }

    my $retries = 0;
    $retries += $try{$_} - 1 for keys %try;
    return ($done, $retries, $failed // 0);
}

# how many tickets RT has for each key (by the field the module wrote)
sub tickets_per_key {
    my (@keys) = @_;
    my %count;
    for my $k (@keys) {
        my $q = "%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27" . sha256_hex($k) . "%27";
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "RT: $!\n";
        print $s "GET /REST/2.0/tickets?query=$q&per_page=1 HTTP/1.0\r\nHost: localhost\r\n"
                 . "Authorization: Basic cm9vdDpwYXNzd29yZA==\r\n\r\n";
        local $/;
        my $r = <$s>;
        my ($total) = $r =~ /"total"\s*:\s*(\d+)/;
        $count{$total // 'none'}++;
    }
    return %count;
}

sub check_kills {
    my @keys = map { "$Run-k$_" } 1 .. $N;
    my %at = map { int($N * $_ / ($Kills + 1)) => 1 } 1 .. $Kills;
    my $killed = 0;
    my $t0 = time;
    my ($done, $retries, $failed) = send_all('/alerts', \@keys, 16, sub {
        return unless $at{$_[0]};
        delete $at{$_[0]};
        my @w = ItsmNginx::worker_pids();
        kill 'KILL', $w[0] if @w;
        $killed++;
    });
    my $took = time - $t0;
    my %count = tickets_per_key(@keys);
    Test::More::diag(sprintf "kill run: %d keys, %d workers killed, %d retries, %.1f s; keys by ticket count in RT: %s",
                     $N, $killed, $retries, $took, join(", ", map { "$_: $count{$_}" } sort keys %count));
    Test::More::is($done, $N, "every key was answered 2xx in the end ($failed gave up)");
    Test::More::is($killed, $Kills, "$Kills workers were killed");
    Test::More::is_deeply(\%count, {1 => $N}, "every key has exactly one ticket in RT");
}

sub check_timeouts {
    my @keys = map { "$Run-t$_" } 1 .. $Slow;
    my $t0 = time;
    my ($done, $retries, $failed) = send_all('/alerts/slow', \@keys, 8);
    my $took = time - $t0;
    my %count = tickets_per_key(@keys);
    Test::More::diag(sprintf "timeout run: %d keys, %d retries (creates answered after proxy_read_timeout), %.1f s; keys by ticket count in RT: %s",
                     $Slow, $retries, $took, join(", ", map { "$_: $count{$_}" } sort keys %count));
    Test::More::is($done, $Slow, "every key was answered 2xx in the end ($failed gave up)");
    Test::More::cmp_ok($retries, '>=', 1, "creates timed out after RT made the ticket");
    Test::More::is_deeply(\%count, {1 => $Slow}, "every key has exactly one ticket in RT");
}

run_tests();

__DATA__

=== TEST 1: workers killed during creates, and creates answered after the timeout: one RT ticket per key
--- http_config
    itsm_store logs/state.mdb;
    itsm_zone  itsm:4m;
    itsm_connector rt {
        location   /_itsm/rt;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}", "Content": "{{ key }}", "ContentType": "text/plain", "CustomFields": {"ITSM Alert Key": "{{ correlation_key | sha256 }}"}}';
        find       GET "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27{{ correlation_key | sha256 }}%27%20AND%20Status%3D%27__Active__%27&orderby=Created&order=DESC&per_page=1" take=/items/0/id;
        ticket_id  /id;
    }
    itsm_connector rtslow {
        location   /_itsm/rtslow;
        create     POST /REST/2.0/ticket 'body={"Queue": "General", "Subject": "{{ title }}", "Content": "{{ key }}", "ContentType": "text/plain", "CustomFields": {"ITSM Alert Key": "{{ correlation_key | sha256 }}"}}';
        find       GET "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27{{ correlation_key | sha256 }}%27%20AND%20Status%3D%27__Active__%27&orderby=Created&order=DESC&per_page=1" take=/items/0/id;
        ticket_id  /id;
    }
--- config eval
ItsmConf::rt_itsm() . ItsmConf::rt_itsm('rtslow') . <<'_EOC_'
    # RT gets the create and makes the ticket; its answer comes after the
    # time this location waits
    location = /_itsm/rtslow/REST/2.0/ticket {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RT_PORT/REST/2.0/ticket;
        proxy_set_header Authorization "Basic cm9vdDpwYXNzd29yZA==";
        proxy_read_timeout 15ms;
    }
    location = /alerts { itsm_pass rt; }
    location = /alerts/slow { itsm_pass rtslow; }
_EOC_
--- init
::check_kills();
::check_timeouts();
--- request
GET /alerts
--- error_code: 405
--- timeout: 900
