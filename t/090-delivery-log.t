# The delivery history (itsm_delivery_log): every request to an ITSM (an
# action, the find or lookup before it) is one JSON line with the time,
# connector, action, step, key, ticket, method, URI, status, latency and
# both bodies, cut at body= bytes.  No header is written, and the values
# of secret names (a default list, and redact=) are "[redacted]" in JSON
# bodies, form bodies and query strings.  Each block asserts the file's
# exact lines (time and latency by their form), that every line is JSON,
# and that no configured secret (each holds "SECRET") is anywhere in it.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use JSON::PP;

our $HttpConfig = <<'_EOC_';
    itsm_store logs/state.mdb;
    itsm_zone  itsm:1m;
    itsm_delivery_log logs/delivery.log body=256 redact=x_custom,SessionId;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_retry      attempts=1 backoff=1s max=1s;
    itsm_connector q {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
    }
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}", "routing_key": "SECRET-rk", "deep": {"Token": "SECRET-tok", "n": 1}, "x_custom": 42}';
        comment   POST "/ticket/{{ ticket_id }}/comment?api_key=SECRET-q&n={{ occurrences }}&SESSIONID=SECRET-sid" 'body={"text": "{{ description }}"}';
        find      GET "/tickets?key={{ correlation_key }}&password=SECRET-pw" take=/items/0/id settle=0;
        header    Authorization "Bearer SECRET-header";
        header    X-Key "{{ key }}";
        header    X-N "{{ occurrences }}";
        ticket_id /id;
        on_repeat comment cooldown=0;
    }
    map "$http_x_key:$http_x_n" $mock_create {
        default          '201 {"id":"T1","secret":"SECRET-answer"}';
        busy:1           '503 {"error":"maintenance"}';
        lost:1           444;
        long:1           '201 {"id":"T2","text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}';
        exact:1          '201 {"id":"T4","t":"123456"}';
        utf8cut:1        '201 {"id":"T8","t":"1234567é"}';
        prefix:1         '201 {"id":"T7","tokens":"kept","token":"SECRET-t","x_token":"kept too","Token":"SECRET-T"}';
        latin:1          '201 {"id":"T6","msg":"caf@E9@"}';
        quote:1          '201 {"id":"T3","msg":"a \\"quoted\\" word\\nand a line"}';
    }
_EOC_

# an ITSM that answers in Latin-1: a raw 0xe9
$HttpConfig =~ s/\@E9\@/\xe9/;

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket {
        if (-f $document_root/ok) { return 201 '{"id":"T5"}'; }
        if ($http_x_key ~ ^dead) { return 503 '{"error":"down"}'; }
        if ($mock_create = 444) { return 444; }
        if ($mock_create ~ "^503 (.*)") { return 503 $1; }
        if ($mock_create ~ "^201 (.*)") { return 201 $1; }
        return 500;
    }
    location ~ ^/mock/ticket/[^/]+/comment$ { return 201 '{}'; }
    location = /mock/tickets {
        if ($arg_key = busy) { return 200 '{"items":[]}'; }
        return 200 '{"items":[{"id":"T9"}]}';
    }
    location = /alerts { itsm_pass mock; }
    location = /alerts/q { itsm_queue on; itsm_retry_after 1s; itsm_pass q; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /itsm/requeue { allow 127.0.0.1; deny all; itsm_requeue; }
    location = /deliveries { default_type text/plain; alias logs/delivery.log; }
_EOC_

# a JSON string's inside, as the module writes it
sub esc { my ($s) = @_; $s =~ s/(["\\])/\\$1/g; $s =~ s/\n/\\n/g; $s }

# an exact line of the log: the fields in their order (bodies raw, escaped
# here), the time and the latency by their form
sub rec {
    my (%f) = @_;
    my $re = '^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"';
    for my $k (qw(connector action step key ticket method uri status)) {
        my $v = $f{$k};
        $re .= ",\"replay\":$f{replay}" if $k eq 'status' && $f{replay};
        $re .= $k eq 'status' ? ",\"status\":$v,\"ms\":\\d+" : ",\"$k\":\"\Q$v\E\"";
    }
    $re .= ",\"request\":\"\Q@{[esc($f{request})]}\E\",\"request_bytes\":" . ($f{request_bytes} // length $f{request});
    $re .= ",\"response\":\"\Q@{[esc($f{response})]}\E\",\"response_bytes\":" . ($f{response_bytes} // length $f{response});
    $re .= ",\"response_cut\":true" if $f{response_cut};
    $re .= ",\"error\":\"\Q$f{error}\E\"" if $f{error};
    return $re . '\}$';
}

# the log against @want (one regex a line), each line JSON in UTF-8, no
# secret
sub check_log {
    my ($name, @want) = @_;
    my @got = ItsmHttp::log_lines('delivery.log', scalar @want);
    Test::More::is(scalar @got, scalar @want, "$name: " . scalar(@want) . " lines");
    for my $i (0 .. $#want) {
        Test::More::like($got[$i] // '', qr/$want[$i]/, "$name: line " . ($i + 1));
        my $ok = eval { JSON::PP->new->utf8->decode($got[$i] // ''); 1 };
        Test::More::ok($ok, "$name: line " . ($i + 1) . " is JSON");
    }
    my @secret = grep { /SECRET/ } @got;
    Test::More::is(scalar @secret, 0, "$name: no secret in the log") or Test::More::diag(join "\n", @secret);
}

sub post {
    my ($key, %o) = @_;
    my $d = $o{description} // 'd';
    return ItsmHttp::finish(ItsmHttp::start(qq{{"key": "$key", "title": "Disk full", "description": "$d"}}, uri => $o{uri} // '/alerts'));
}

# the create as sent, and as the log has it
# (an inline template is sent compact)
our $Sent = '{"title":"Disk full","routing_key":"SECRET-rk","deep":{"Token":"SECRET-tok","n":1},"x_custom":42}';
our $Logged = '{"title":"Disk full","routing_key":"[redacted]","deep":{"Token":"[redacted]","n":1},"x_custom":"[redacted]"}';

sub create {
    my ($key, $status, $response, %o) = @_;
    return rec(connector => 'mock', action => 'create', step => 'action', key => $key, ticket => '',
               method => 'POST', uri => '/_itsm/mock/ticket', status => $status,
               request => $Logged, request_bytes => length $Sent, response => $response, %o);
}

ItsmConf::defaults(http_config => $HttpConfig, config => $Config,
                   request => "GET /alerts\n", error_code => 405);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a create: one line with both bodies, secrets redacted at any depth (default names, redact= names, any case), no header
--- init
my $a = ::post('db-1');
Test::More::is(ItsmHttp::status($a), 201, 'created');
::check_log('create', ::create('db-1', 201, '{"id":"T1","secret":"[redacted]"}', response_bytes => 36));



=== TEST 2: a repeat comments: the ticket and the query string (its secrets redacted, redact= names in any case, the rest kept)
--- init
::post('db-2');
::post('db-2', description => 'again');
::check_log('comment', ::create('db-2', 201, '{"id":"T1","secret":"[redacted]"}', response_bytes => 36),
    ::rec(connector => 'mock', action => 'comment', step => 'action', key => 'db-2', ticket => 'T1',
          method => 'POST', uri => '/_itsm/mock/ticket/T1/comment?api_key=[redacted]&n=2&SESSIONID=[redacted]', status => 201,
          request => '{"text":"again"}', response => '{}'));



=== TEST 3: a 503 (the ITSM may have made it), then the retry: its find finds none, the create again; the ITSM's own words in each line
--- init
my @a = (::post('busy'), ::post('busy'));
Test::More::is(join(',', map { ItsmHttp::status($_) } @a), '503,201', '503, then created');
::check_log('retry', ::create('busy', 503, '{"error":"maintenance"}'),
    ::rec(connector => 'mock', action => 'create', step => 'find', key => 'busy', ticket => '',
          method => 'GET', uri => '/_itsm/mock/tickets?key=busy&password=[redacted]', status => 200,
          request => '', response => '{"items":[]}'),
    ::create('busy', 201, '{"id":"T1","secret":"[redacted]"}', response_bytes => 36));



=== TEST 4: no answer: status 502 and the error; the next copy's find has its own line (step "find", its query's password redacted)
--- init
my @a = (::post('lost'), ::post('lost'));
Test::More::is(join(',', map { ItsmHttp::status($_) } @a), '503,201', 'lost, then found');
::check_log('lost', ::create('lost', 502, '', error => 'no answer from the ITSM: the connection was refused, reset or timed out'),
    ::rec(connector => 'mock', action => 'create', step => 'find', key => 'lost', ticket => '',
          method => 'GET', uri => '/_itsm/mock/tickets?key=lost&password=[redacted]', status => 200,
          request => '', response => '{"items":[{"id":"T9"}]}'));



=== TEST 5: escapes: quotes, backslashes and a newline in the ITSM's answer stay one JSON line
--- init
::post('quote');
::check_log('escape', ::create('quote', 201, qq{{"id":"T3","msg":"a \\"quoted\\" word\\nand a line"}}));



=== TEST 6: body=24: bodies cut at 24 bytes (the sizes say how long they were); an answer of exactly 24 bytes whole; a character across the cut left out whole
--- http_config eval: $::HttpConfig =~ s/body=256/body=24/r
--- init
::post('long');
::post('exact');
::post('utf8cut');
my $resp = '{"id":"T2","text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"}';
::check_log('cut',
    ::create('long', 201, substr($resp, 0, 24), response_bytes => length $resp, request => substr($::Sent, 0, 24)),
    ::create('exact', 201, '{"id":"T4","t":"123456"}', request => substr($::Sent, 0, 24)),
    # an "é" in bytes 24 and 25: left out whole, 23 bytes kept
    ::create('utf8cut', 201, '{"id":"T8","t":"1234567', response_bytes => 27, request => substr($::Sent, 0, 24)));



=== TEST 7: a queued alert whose one retry fails too (itsm_retry attempts=1): the sender's create, then the replay's ("replay":1), the dead letter
--- init
my $a = ::post('dead', uri => '/alerts/q');
Test::More::is(ItsmHttp::status($a), 202, 'queued');
my $until = time + 20;
sleep 0.2 while ItsmHttp::read_lines('delivery.log') < 2 && time < $until;
my %c = (connector => 'q', action => 'create', step => 'action', key => 'dead', ticket => '',
         method => 'POST', uri => '/_itsm/mock/ticket', status => 503,
         request => '{"title":"Disk full"}', response => '{"error":"down"}');
::check_log('dead letter', ::rec(%c), ::rec(%c, replay => 1));
--- grep_error_log eval: qr/itsm: dead letter after 1 attempt: connector "q", key "dead"/
--- grep_error_log_out
itsm: dead letter after 1 attempt: connector "q", key "dead"
--- timeout: 30



=== TEST 8: USR1 reopens the file, as it does an access log: the next line goes to the new file
--- init
::post('r-1');
my $root = Test::Nginx::Util::server_root();
rename "$root/logs/delivery.log", "$root/logs/delivery.log.1" or die "rename: $!";
open my $fh, '<', "$root/logs/nginx.pid" or die "pid: $!";
my ($pid) = <$fh> =~ /(\d+)/;
kill 'USR1', $pid;
my $until = time + 10;
sleep 0.1 until -e "$root/logs/delivery.log" || time > $until;
::post('r-2');
my @old = ItsmHttp::read_lines('delivery.log.1');
Test::More::is(scalar(@old) . ' ' . ($old[0] =~ /"key":"r-1"/ ? 'r-1' : $old[0]), '1 r-1', 'the old file has the line before');
::check_log('reopen', ::create('r-2', 201, '{"id":"T1","secret":"[redacted]"}', response_bytes => 36));



=== TEST 9: config: body= is 0 to 64k
--- http_config
    itsm_delivery_log logs/delivery.log body=65k;
--- config
--- must_die
--- error_log eval
qr/invalid body size "65k" in "itsm_delivery_log"; expected 0 to 64k, e\.g\. body=4k \(0 writes no bodies\) in \S+nginx\.conf:\d+/



=== TEST 10: config: redact= names are 1 to 64 bytes
--- http_config
    itsm_delivery_log logs/delivery.log redact=a,,b;
--- config
--- must_die
--- error_log eval
qr/invalid redact="a,,b" in "itsm_delivery_log"; expected names of 1 to 64 bytes separated by commas, e\.g\. redact=routing_key,api_key in \S+nginx\.conf:\d+/



=== TEST 11: config: an unknown parameter
--- http_config
    itsm_delivery_log logs/delivery.log keep=7d;
--- config
--- must_die
--- error_log eval
qr/invalid parameter "keep=7d" in "itsm_delivery_log"; expected body=SIZE or redact=NAME\[,NAME...\] in \S+nginx\.conf:\d+/



=== TEST 12: config: off with a parameter
--- http_config
    itsm_delivery_log off body=1k;
--- config
--- must_die
--- error_log eval
qr/"itsm_delivery_log off" takes no parameters in \S+nginx\.conf:\d+/



=== TEST 13: config: body=64k (the bound) is taken
--- http_config
    itsm_delivery_log logs/delivery.log body=64k redact=a;
--- config
--- request
GET /nothing
--- error_code: 404



=== TEST 14: config: twice is refused
--- http_config
    itsm_delivery_log logs/delivery.log body=0;
    itsm_delivery_log logs/other.log;
--- config
--- must_die
--- error_log eval
qr/"itsm_delivery_log" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 15: the debug log's "itsm deliver body" hides them too, and no line of the module's names one (nginx's own debug lines show proxy's headers: debug logs are for a test bench)
--- init
::post('dbg');
--- grep_error_log eval: qr/itsm deliver body: .*/
--- grep_error_log_out
itsm deliver body: {"title":"Disk full","routing_key":"[redacted]","deep":{"Token":"[redacted]","n":1},"x_custom":"[redacted]"}
--- no_error_log eval
qr/itsm[^\n]*SECRET/



=== TEST 16: itsm_requeue: GET lists the dead letters with the last failed request of each; POST ?key= puts back that one, ?connector= those of a connector, none: all
--- init
::post($_, uri => '/alerts/q') for 'dead', 'dead-2';
my $until = time + 20;
sleep 0.2 while ItsmHttp::read_lines('delivery.log') < 4 && time < $until;
sleep 0.5;
my ($s, $body) = ItsmHttp::call('GET', '/itsm/requeue');
my $doc = JSON::PP->new->decode($body);
my @l = sort { $a->{key} cmp $b->{key} } @{$doc->{dead_letters}};
Test::More::is("$s $doc->{count} " . join(' | ', map { "$_->{connector} $_->{key} $_->{attempts} $_->{last_failure}{status} $_->{last_failure}{response} replay=$_->{last_failure}{replay}" } @l),
               '200 2 q dead 1 503 {"error":"down"} replay=1 | q dead-2 1 503 {"error":"down"} replay=1', 'two dead letters, each with what the ITSM said last');
my $root = Test::Nginx::Util::server_root();
open my $fh, '>', "$root/html/ok" or die $!; close $fh;
Test::More::is(join(' ', ItsmHttp::call('POST', '/itsm/requeue?connector=nope')), qq{200 {"requeued":0}\n}, 'connector=nope: none');
Test::More::is(join(' ', ItsmHttp::call('POST', '/itsm/requeue?key=dea')), qq{200 {"requeued":0}\n}, 'key=dea (a prefix): none');
Test::More::is(join(' ', ItsmHttp::call('POST', '/itsm/requeue?key=dead&connector=q')), qq{200 {"requeued":1}\n}, 'key=dead: one');
($s, $body) = ItsmHttp::call('GET', '/itsm/requeue');
$doc = JSON::PP->new->decode($body);
Test::More::is("$s $doc->{count} " . join(',', map { $_->{key} } @{$doc->{dead_letters}}), '200 1 dead-2', 'dead-2 is left');
$until = time + 20;
sleep 0.2 while !(grep { /"key":"dead",.*"status":201/ } ItsmHttp::read_lines('delivery.log')) && time < $until;
Test::More::ok((grep { /"key":"dead",.*"replay":1,"status":201/ } ItsmHttp::read_lines('delivery.log')), 'the requeued one was delivered (replay 1, 201)');
Test::More::is(join(' ', ItsmHttp::call('POST', '/itsm/requeue')), qq{200 {"requeued":1}\n}, 'all: dead-2');
Test::More::is(join(' ', ItsmHttp::call('PUT', '/itsm/requeue')), qq{405 {"error":"method_not_allowed","message":"GET lists the dead letters, POST puts them back in the queue"}\n}, 'PUT: 405');
--- timeout: 60



=== TEST 17: an answer in Latin-1: the line stays JSON in UTF-8 (0xe9 written as U+00E9); response_bytes counts what came
--- init
::post('latin');
::check_log('latin-1', ::create('latin', 201, qq{{"id":"T6","msg":"caf\xc3\xa9"}}, response_bytes => length(qq{{"id":"T6","msg":"caf\xe9"}})));



=== TEST 18: names match whole: "token" and "Token" redacted, "tokens" and "x_token" kept
--- init
::post('prefix');
::check_log('prefix', ::create('prefix', 201, '{"id":"T7","tokens":"kept","token":"[redacted]","x_token":"kept too","Token":"[redacted]"}',
                               response_bytes => length('{"id":"T7","tokens":"kept","token":"SECRET-t","x_token":"kept too","Token":"SECRET-T"}')));



=== TEST 19: config: a redact= name of 64 bytes is taken
--- http_config eval
"    itsm_delivery_log logs/a.log redact=" . ('n' x 64) . ";\n"
--- config
--- request
GET /nothing
--- error_code: 404



=== TEST 20: config: a redact= name of 65 bytes
--- http_config eval
"    itsm_delivery_log logs/a.log redact=a," . ('n' x 65) . ";\n"
--- config
--- must_die
--- error_log eval
qr/invalid redact="a,n{65}" in "itsm_delivery_log"; expected names of 1 to 64 bytes/
