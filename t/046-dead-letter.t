# The log lines of a pending delivery that failed name the connector, the
# key, the action tried and the last error in the ITSM's own words (from the
# replay location's JSON answer), escaped so that no text from outside can
# cut or forge a log line; a replay location that failed by itself, or did
# not answer, is named as such.  itsm_retry attempts=1: the first replay
# that fails makes the dead letter.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $HttpConfig = <<'_EOC_';
    itsm_zone       itsm:1m;
    itsm_store      logs/state.mdb;
    itsm_replay_url http://127.0.0.1:@PORT@@REPLAY@;
    itsm_retry      attempts=1 backoff=1s max=1s;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location /mock/ { return 503 "ERROR: \"disk\" \\ full\nforged: line"; }
    location = /alerts { itsm_queue on; itsm_retry_after 1s; itsm_pass mock; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /fake/text { return 500 "oops\n<html>"; }
    location = /fake/json { return 503 '{"error":"store_unavailable","message":"could not claim the key"}'; }
    location = /fake/big { error_page 500 /big.txt; return 500; }
    location = /big.txt { internal; }
_EOC_

sub http_config { my ($replay, $port) = @_; (my $c = $HttpConfig) =~ s/\@REPLAY\@/$replay/;
    $port //= $ENV{TEST_NGINX_SERVER_PORT}; $c =~ s/\@PORT\@/$port/; $c }
sub config { $Config }

sub alert { my ($key) = @_; "POST /alerts\n{\"key\": \"$key\", \"title\": \"Disk full\"}" }

our $Tail = '; see the status page, and itsm_requeue to try again';

# every block posts one alert that its one attempt cannot deliver (202,
# queued) and reads the dead letter line the replay writes
ItsmConf::defaults(config => config(), more_headers => "Content-Type: application/json\n",
                   error_code => 202, wait => 3, grep_error_log => qr/itsm: dead letter .*/);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the ITSM's error text and the key are escaped: quotes, backslashes, a line feed
--- http_config eval: ::http_config("/_itsm/replay")
--- request eval: ::alert('db \\"1\\"')
--- grep_error_log_out eval
qq{itsm: dead letter after 1 attempt: connector "mock", key "db \\"1\\"", action create, last error: the ITSM answered 503: "ERROR: \\"disk\\" \\\\ full\\x0aforged: line"$::Tail\n}



=== TEST 2: the replay location answers something else than its JSON: its status and text, escaped
--- http_config eval: ::http_config("/fake/text")
--- request eval: ::alert("db-2")
--- grep_error_log_out eval
qq{itsm: dead letter after 1 attempt: connector "mock", key "db-2", action -, last error: the replay location answered 500: "oops\\x0a<html>"$::Tail\n}



=== TEST 3: the replay location failed by itself (no ITSM status): its error code and message
--- http_config eval: ::http_config("/fake/json")
--- request eval: ::alert("db-3")
--- grep_error_log_out eval
qq{itsm: dead letter after 1 attempt: connector "mock", key "db-3", action -, last error: the replay location answered 503 store_unavailable: "could not claim the key"$::Tail\n}



=== TEST 4: the replay location does not answer at all
--- http_config eval: ::http_config("/_itsm/replay", 1)
--- request eval: ::alert("db-4")
--- grep_error_log_out eval
qq{itsm: dead letter after 1 attempt: connector "mock", key "db-4", action -, last error: the replay location did not answer (Couldn't connect to server)$::Tail\n}



=== TEST 5: a long answer (9000 bytes): the line shows its first 1021 bytes and "...", so that the line keeps its end within nginx's 2048 bytes
--- http_config eval: ::http_config("/fake/big")
--- user_files eval: ">>> big.txt\n" . ("a" x 9000)
--- request eval: ::alert("db-5")
--- grep_error_log_out eval
qq{itsm: dead letter after 1 attempt: connector "mock", key "db-5", action -, last error: the replay location answered 500: "} . ("a" x 1021) . qq{..."$::Tail\n}
