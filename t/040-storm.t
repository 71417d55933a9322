# An alert storm: 500 copies of one alert at once, over 500 connections, to
# two worker processes.  Exactly one create reaches the ITSM, and every
# sender gets a 2xx that names the same ticket.  The mock ITSM answers
# slowly (limit_rate), so that most copies arrive while the first create
# is in flight, and logs every request it receives.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmHttp;

master_on();
workers(2);
worker_connections(2048);
no_shuffle();

our $Copies = 500;

sub check_storm {
    my @answers = ItsmHttp::burst($Copies, '{"key": "storm-1", "title": "Disk full on db-1", "status": "firing"}');

    my (%status, %tickets, %outcomes);
    for my $a (@answers) {
        my ($code) = $a =~ m{^HTTP/1\.1 (\d+)};
        $status{$code // 'none'}++;
        $tickets{$1}++ if $a =~ /"ticket_id":"([^"]+)"/;
        $outcomes{$1}++ if $a =~ /"outcome":"([^"]+)"/;
    }

    my $ok = grep { /^2\d\d$/ } keys %status;
    my $twoxx = 0;
    $twoxx += $status{$_} for grep { /^2\d\d$/ } keys %status;

    Test::More::is($twoxx, $Copies, "every sender got a 2xx ("
                   . join(", ", map { "$_: $status{$_}" } sort keys %status) . ")");
    Test::More::is(scalar(keys %tickets), 1, "every answer names the same ticket ("
                   . join(", ", sort keys %tickets) . ")");
    Test::More::is($outcomes{created} // 0, 1, "one answer says created, the others "
                   . join(", ", map { "$_: $outcomes{$_}" } sort keys %outcomes));

    my $log = Test::Nginx::Util::server_root() . "/logs/mock.log";
    open my $fh, '<', $log or die "$log: $!\n";
    my $creates = grep { m{^POST /mock/ticket$} } <$fh>;
    close $fh;
    Test::More::is($creates, 1, "the ITSM received one create");

    # the copies were handled by both workers, so the claim worked across
    # processes, not only within one
    $log = Test::Nginx::Util::server_root() . "/logs/alerts.log";
    open $fh, '<', $log or die "$log: $!\n";
    my %pids = map { chomp; $_ => 1 } <$fh>;
    close $fh;
    Test::More::cmp_ok(scalar(keys %pids), '==', 2, "both workers took copies");
}

run_tests();

__DATA__

=== TEST 1: 500 concurrent copies of one alert, two workers: one ticket
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
    }
    log_format mock '$request_method $uri';
    log_format pid '$pid';
--- config
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/;
        proxy_read_timeout 30s;
    }
    location = /mock/ticket {
        access_log logs/mock.log mock;
        limit_rate 200;
        return 201 '{"id":"T$connection","padding":"..............................................................................................."}';
    }
    location = /alerts { itsm_pass mock; access_log logs/alerts.log pid; }
--- init
::check_storm();
--- request
GET /alerts
--- error_code: 405
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]
