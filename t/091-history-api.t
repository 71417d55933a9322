# itsm_history: the newest lines of the delivery history, newest first, as
# one JSON answer, filtered by key and connector (exactly), failed (the
# status is not a 2xx) and limit; read from the last window= bytes of the
# file.  Each block sends its alerts first, then asks.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use JSON::PP;

our $HttpConfig = <<'_EOC_';
    itsm_delivery_log logs/delivery.log body=64;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
    }
    itsm_connector other {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
    }
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        if ($http_x_key ~ ^busy) { return 503 '{"error":"down"}'; }
        if ($http_x_key ~ ^gone) { return 404 '{"error":"no project"}'; }
        return 201 '{"id":"T1"}';
    }
    location = /alerts { itsm_pass mock; }
    location = /alerts/other { itsm_pass other; }
    location = /itsm/history { allow 127.0.0.1; deny all; itsm_history; }
    location = /itsm/small { itsm_history window=4k; }
_EOC_

sub post {
    my ($key, $uri) = @_;
    my $k = $key =~ s/(["\\])/\\$1/gr;
    ItsmHttp::finish(ItsmHttp::start(qq{{"key": "$k", "title": "t"}}, uri => $uri // '/alerts'));
}

# the answer's deliveries as "connector key status", newest first
sub listed {
    my ($body) = @_;
    my $doc = eval { JSON::PP->new->decode($body) } or return "not JSON: $body";
    return join(' | ', map { "$_->{connector} $_->{key} $_->{status}" } @{$doc->{deliveries}})
         . " ; scanned $doc->{scanned}, whole " . ($doc->{whole_file} ? 'yes' : 'no');
}

sub get { my ($q) = @_; my ($s, $b) = ItsmHttp::call("GET", "/itsm/history$q"); "$s " . listed($b) }

ItsmConf::defaults(http_config => $HttpConfig, config => $Config,
                   request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: no delivery yet: an empty history
--- request
GET /itsm/history
--- error_code: 200
--- response_body
{"deliveries":[],"scanned":0,"whole_file":true}



=== TEST 2: newest first; key= exactly (db-1 is not db-10); connector=; failed= (503 and 404, not 201); limit=
--- init
::post($_) for 'db-1', 'db-10', 'busy-1', 'gone-1';
::post('db-1', '/alerts/other');
ItsmHttp::log_lines('delivery.log', 5);
Test::More::is(::get(''), '200 other db-1 201 | mock gone-1 404 | mock busy-1 503 | mock db-10 201 | mock db-1 201 ; scanned 5, whole yes', 'all');
Test::More::is(::get('?key=db-1'), '200 other db-1 201 | mock db-1 201 ; scanned 5, whole yes', 'key=db-1');
Test::More::is(::get('?key=db-1&connector=mock'), '200 mock db-1 201 ; scanned 5, whole yes', 'and connector=mock');
Test::More::is(::get('?connector=moc'), '200  ; scanned 5, whole yes', 'connector= is exact');
Test::More::is(::get('?failed=1'), '200 mock gone-1 404 | mock busy-1 503 ; scanned 5, whole yes', 'failed=1');
Test::More::is(::get('?limit=2'), '200 other db-1 201 | mock gone-1 404 ; scanned 5, whole yes', 'limit=2 (scanned: the lines the window held)');
Test::More::is(::get('?limit=1000'), '200 other db-1 201 | mock gone-1 404 | mock busy-1 503 | mock db-10 201 | mock db-1 201 ; scanned 5, whole yes', 'limit=1000');
my ($s0, $b0) = ItsmHttp::call("GET", "/itsm/history?limit=0");
my ($s1, $b1) = ItsmHttp::call("GET", "/itsm/history?limit=1001");
Test::More::is("$s0 $b0", qq{400 {"error":"bad_limit","message":"limit= takes 1 to 1000"}\n}, 'limit=0');
Test::More::is("$s1 $b1", qq{400 {"error":"bad_limit","message":"limit= takes 1 to 1000"}\n}, 'limit=1001');



=== TEST 3: a key with a quote and a space, URL-encoded in the query: found as the history escaped it
--- init
::post('a "b" c');
::post('a');
ItsmHttp::log_lines('delivery.log', 2);
Test::More::is(::get('?key=a%20%22b%22%20c'), qq{200 mock a "b" c 201 ; scanned 2, whole yes}, 'found');



=== TEST 4: window=4k: the lines of the last 4 KiB only, from the first whole one; whole_file false
--- init
::post("k-$_") for 1 .. 20;
ItsmHttp::log_lines('delivery.log', 20);
my @all = ItsmHttp::read_lines('delivery.log');
my $size = 0; $size += length($_) + 1 for @all;
my ($s, $b) = ItsmHttp::call("GET", "/itsm/small?limit=1000");
my $doc = JSON::PP->new->decode($b);
my $fit = 0; my $sum = 0;
for my $l (reverse @all) { $sum += length($l) + 1; last if $sum > 4096; $fit++ }
Test::More::cmp_ok($size, '>', 4096, "the file is over 4 KiB ($size bytes)");
Test::More::is(scalar @{$doc->{deliveries}}, $fit, "the $fit whole lines of the window");
Test::More::is($doc->{deliveries}[0]{key}, 'k-20', 'newest first');
Test::More::ok(!$doc->{whole_file}, 'not the whole file');



=== TEST 5: POST is refused
--- request
POST /itsm/history
x
--- error_code: 405



=== TEST 6: config: itsm_history without itsm_delivery_log
--- http_config
--- config
    location = /h { itsm_history; }
--- must_die
--- error_log eval
qr/"itsm_history" in \S+nginx\.conf:\d+ reads the delivery history, and there is none: add "itsm_delivery_log PATH;" to the http block/



=== TEST 7: config: window= is 4k to 64m
--- config
    location = /h { itsm_history window=1k; }
--- must_die
--- error_log eval
qr/invalid window "1k" in "itsm_history"; expected 4k to 64m, e\.g\. window=4m in \S+nginx\.conf:\d+/



=== TEST 8: config: another parameter
--- config
    location = /h { itsm_history limit=5; }
--- must_die
--- error_log eval
qr/invalid parameter "limit=5" in "itsm_history"; expected window=SIZE, e\.g\. window=4m in \S+nginx\.conf:\d+/



=== TEST 9: window=4k, at its edge: a file of 4096 bytes is read whole; 4097 bytes whose window begins a line keeps that line; a window that begins inside a line starts after it
--- init
my $root = Test::Nginx::Util::server_root();
# $n lines of $len bytes (LF included), after $head
sub put {
    my ($head, $n, $len) = @_;
    open my $fh, '>', "$root/logs/delivery.log.new" or die $!;
    print $fh $head;
    for my $i (1 .. $n) {
        my $l = sprintf '{"connector":"c","key":"k-%02d","status":201,"pad":"', $i;
        print $fh $l, 'x' x ($len - length($l) - 3), "\"}\n";
    }
    close $fh;
    rename "$root/logs/delivery.log.new", "$root/logs/delivery.log" or die $!;
}
sub small {
    my ($s, $b) = ItsmHttp::call('GET', '/itsm/small?limit=1000');
    my $doc = JSON::PP->new->decode($b);
    my @k = map { $_->{key} } @{$doc->{deliveries}};
    return scalar(@k) . " $k[0]..$k[-1] " . ($doc->{whole_file} ? 'whole' : 'part') . " scanned $doc->{scanned}";
}
put('', 32, 128);
Test::More::is(small(), '32 k-32..k-01 whole scanned 32', '4096 bytes: the whole file');
put("\n", 32, 128);
Test::More::is(small(), '32 k-32..k-01 part scanned 32', '4097 bytes, the window at a line start: its 32 lines');
put('', 50, 100);
Test::More::is(small(), '40 k-50..k-11 part scanned 40', '5000 bytes, the window 4 bytes into a line: the 40 after it');
--- request
GET /alerts
--- error_code: 405



=== TEST 10: config: window=4096 and 64m are taken
--- config
    location = /a { itsm_history window=4096; }
    location = /b { itsm_history window=64m; }
--- request
GET /a
--- error_code: 200



=== TEST 11: config: window=4095
--- config
    location = /h { itsm_history window=4095; }
--- must_die
--- error_log eval
qr/invalid window "4095" in "itsm_history"; expected 4k to 64m/



=== TEST 12: config: window=65m
--- config
    location = /h { itsm_history window=65m; }
--- must_die
--- error_log eval
qr/invalid window "65m" in "itsm_history"; expected 4k to 64m/
