package Test::Nginx::Socket;

# Fallback Test::Nginx::Socket for this project, written fresh (no code from
# openresty/test-nginx).  It is used only when the real Test::Nginx is not
# installed: the test wrapper then puts t/fallback on PERL5LIB, and the same
# t/*.t files (`use Test::Nginx::Socket 'no_plan'; run_tests(); __DATA__`)
# run with the same block semantics and the same number of checks per block.
#
# Built on Debian's Test::Base, which provides the __DATA__ parser, section
# filters (eval, chomp, ...), ONLY/SKIP/LAST, blocks() and plan handling.
# Test::Nginx::Util holds the nginx side (config, processes, logs, mocks).
#
# Not implemented: HTTP/2-3 and curl transports, --- curl, systemtap (a
# block with --- stap reports one skipped check, as the real runner does
# without stap), HUP reload mode, check-leak/benchmark modes, udp_listen
# (bails out), skip_nginx2/skip_openssl/todo, response_body_filters,
# response_body_json_sort, charset, the deprecated *_eval sections,
# TEST_NGINX_IGNORE_MISSING_DIRECTIVES.

use Test::Base -Base;
# NB: -Base turns on Spiffy's source filter, which adds `my $self = shift;`
# to every `sub name {`.  All subs below are plain functions, so they are
# written `sub name() {` (the filter removes the empty parentheses).

use Test::Nginx::Util;
use POSIX qw(WIFSIGNALED);
use IO::Socket::INET;
use IO::Select;
use HTTP::Response;
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep);

# What test files get (plus Test::Base's is/like/plan/blocks/...).  Not
# Util's helpers like trim(): Test::Base would take a main::trim for its own
# `trim` section filter.
our @EXPORT = qw(
    run_tests run_test plan add_response_body_check env_to_nginx is_str
    repeat_each config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off log_level no_shuffle
    no_root_location use_hup server_name server_addr server_root html_dir
    server_port server_port_for_client timeout no_nginx_manager
    check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler
);

# Share the settings of Test::Nginx::Util under the same names here.
BEGIN {
    no strict 'refs';
    *{"Test::Nginx::Socket::$_"} = \${"Test::Nginx::Util::$_"}
        for qw(ServerAddr ServerPort ServerPortForClient ServerName RepeatEach
               NoShuffle Timeout UseValgrind NoClean ForceRestart ErrLogPos
               NginxPid MainPid ServRoot);
    *{"Test::Nginx::Socket::$_"} = \@{"Test::Nginx::Util::$_"}
        for qw(BlockPreprocessors TestCleanupHandlers Mocks);
}
our ($ServerAddr, $ServerPort, $ServerPortForClient, $ServerName, $RepeatEach,
     $NoShuffle, $Timeout, $UseValgrind, $NoClean, $ForceRestart, $ErrLogPos,
     $NginxPid, $MainPid, $ServRoot, @BlockPreprocessors, @TestCleanupHandlers,
     @Mocks);

our @ResponseBodyChecks;
our $DryRun;        # when set (a reason), checks are reported as skipped
our $PrevBlock;     # the last block run: its shutdown_error_log is checked
                    # when its nginx stops
our $PrevConfig;    # config text of the running nginx
our $RunStarted;    # run_tests() was called: END has an nginx to stop
our $RedisSkip;     # ITSM_TEST_STORE=redis: why the last block was skipped
our $NoSend;        # a skipped block: its requests are not sent

sub add_response_body_check() { push @ResponseBodyChecks, shift }

# Every check goes through here, so that a dry run (e.g. shutdown checks
# with TEST_NGINX_NO_CLEAN) keeps the same number of checks, as skips.
sub tap() {
    my ($how, $desc, @args) = @_;
    if (defined $DryRun) {
        SKIP: { Test::More::skip("$desc - tests skipped due to $DryRun", 1) }
        return;
    }
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::pass($desc) if $how eq 'pass';
    return Test::More::fail($desc) if $how eq 'fail';
    return is_str(@args, $desc) if $how eq 'is_str';
    return Test::More->can($how)->(@args, $desc);
}

# ---- the run loop ----

sub run_tests() {
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    $RunStarted = 1;
    local $SIG{PIPE} = 'IGNORE';    # nginx may close while we still write
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $i (0 .. $#blocks) {
        my $block = $blocks[$i];
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        # a next block without config will need this nginx (valgrind mode)
        run_block($block, $i < $#blocks && !defined $blocks[$i + 1]->config);
        $_->($block) for @TestCleanupHandlers;
        $PrevBlock = $block;
    }
    Test::Nginx::Util::cleanup();
}

sub run_test() { run_block(@_) }

sub run_block() {
    my ($block, $keep_nginx) = @_;
    my $name = $block->name;
    my $ports = {};                 # $TEST_NGINX_RAND_PORT_N of this block
    $Test::Nginx::Util::RandPorts = $ports;
    my $config = expand_env_in_text(scalar $block->config, $name, $ports);
    my ($skip_n, $skip_why) = skip_spec($block);
    bail_out("$name - --- udp_listen is not supported by the fallback runner")
        if defined $block->udp_listen;

    # ITSM_TEST_STORE=redis (t/lib/ItsmTestStore.pm): a block marked
    # --- skip_redis, one whose nginx needs an LMDB store for now, and one
    # that would reuse such a block's nginx run dry: every check it has
    # is reported as skipped with the reason, nothing is sent
    my $redis_skip;
    if (ItsmTestStore::active()) {
        if (defined(my $why = $block->skip_redis)) {
            $why =~ s/^\s+|\s+\z//g;
            $redis_skip = "ITSM_TEST_STORE=redis: $why";
        } elsif (!defined $config && !defined $block->must_die) {
            $redis_skip = $RedisSkip;
        }
    }
    $RedisSkip = undef;

    if (defined $redis_skip) {
        stop_and_check_shutdown();
        $PrevConfig = undef;
    } elsif (defined $block->must_die) {
        return run_must_die($block, $config, $ports) unless $skip_n;
    } elsif (!defined $config) {
        # no config: keep using the nginx (and config) of the previous block
        bail_out("$name - No '--- config' section specified and could not get previous one.")
            unless defined $PrevConfig;
    } elsif (!$skip_n && ($ForceRestart || !defined $PrevConfig || $config ne $PrevConfig)) {
        prepare_server($block, $config, $ports);
        my $why = Test::Nginx::Util::start_nginx($block);
        if (defined $why) {
            $redis_skip = "ITSM_TEST_STORE=redis: $why";
            $PrevConfig = undef;
        }
    }
    if (defined $redis_skip) {
        $RedisSkip = $redis_skip;
        local $DryRun = $redis_skip;
        local $NoSend = 1;
        return run_must_die($block, $config, $ports) if defined $block->must_die;
        for my $rep (0 .. $RepeatEach - 1) {
            run_requests($block, $rep, $ports);
        }
        return;
    }

    if (defined(my $init = $block->init)) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogPos = 0;      # the first log check of a block sees the whole log
    for my $rep (0 .. $RepeatEach - 1) {
        my $tcp = defined $block->tcp_listen ? Test::Nginx::Util::start_tcp_mock($block, $ports) : undef;
        @Mocks = $tcp ? ($tcp) : ();      # so that bail_out stops it too
        Test::Nginx::Util::write_user_files($block, $ports) if $rep > 0;

        if ($skip_n) {
            SKIP: { Test::More::skip("$name - $skip_why", $skip_n) }
        } else {
            run_requests($block, $rep, $ports);
            if ($tcp) {
                my $got = Test::Nginx::Util::mock_query($tcp);
                tap('is_str', "$name - tcp_query ok", $got, scalar $block->tcp_query)
                    if defined $block->tcp_query;
                tap('is', "$name - TCP query length ok", length $got, scalar $block->tcp_query_len)
                    if defined $block->tcp_query_len;
            }
        }
        Test::Nginx::Util::stop_mock(shift @Mocks) while @Mocks;
    }

    # Under valgrind nginx is stopped after every block (unless the next
    # block reuses it) so that its leak report belongs to this block.  Unlike
    # the real Test::Nginx, which only prints valgrind's findings on stderr
    # and passes, the fallback fails the block.  Under the real runner the
    # wrapper must scan stderr instead: util/valgrind-check does that.
    if ($UseValgrind && $NginxPid && !$keep_nginx) {
        my $errors = Test::Nginx::Util::stop_nginx($name);
        Test::More::fail("$name - valgrind reported errors: $errors") if $errors;
    }
}

# Returns (count, reason) when --- skip_eval / skip_nginx asks to skip
# `count` checks of this block instead of running it.
sub skip_spec() {
    my ($block) = @_;
    my $name = $block->name;
    if (defined(my $s = $block->skip_eval)) {       # "N: perl code"
        $s =~ /^\s*(\d+)\s*:\s*(.*)/s or bail_out("$name - bad skip_eval: $s");
        my ($n, $yes) = ($1, eval $2);
        bail_out("$name - skip_eval failed: $@") if $@;
        return ($n, 'skip_eval') if $yes;
    }
    if (defined(my $s = $block->skip_nginx)) {      # "N: < 1.21.0[: reason]"
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - bad skip_nginx: $s");
        my $have = Test::Nginx::Util::nginx_version() // 0;
        my $want = $3 * 1e6 + $4 * 1e3 + $5;
        return ($1, $6 || "nginx version $2 $3.$4.$5") if eval "$have $2 $want";
    }
    return (0);
}

# Stop nginx (unless $keep_running) and check --- shutdown_error_log of the
# block that ran last on it.
sub stop_and_check_shutdown() {
    my ($keep_running) = @_;
    my $label = $PrevBlock ? $PrevBlock->name : 'END';
    my $errors = $keep_running ? undef : Test::Nginx::Util::stop_nginx($label);
    Test::More::fail("$label - valgrind reported errors: $errors") if $errors;
    my $block = $PrevBlock or return;
    return unless defined $block->shutdown_error_log || defined $block->no_shutdown_error_log;
    # with NO_CLEAN nginx is left running at the end: nothing to check
    local $DryRun = $NoClean ? 'TEST_NGINX_NO_CLEAN' : undef;
    my $lines = Test::Nginx::Util::error_log_lines();
    log_must_match($block, $lines, scalar $block->shutdown_error_log, 'error.log', '');
    log_must_not_match($block, $lines, scalar $block->no_shutdown_error_log, 'error.log', '');
    check_assertions($block, $lines);
}

# --- must_die: nginx must refuse to start; then the error_log checks run on
# what it logged.  Repeated repeat_each() times like any block.
sub run_must_die() {
    my ($block, $config, $ports) = @_;
    my $name = $block->name;
    # never under valgrind: a config that does start would block us
    local $Test::Nginx::Util::UseValgrind;
    prepare_server($block, $config // '', $ports);
    $ErrLogPos = 0;
    my $want = $block->must_die;
    # ITSM_TEST_STORE=redis: a block that dies because what it configures
    # needs an LMDB store for now (and does not test that refusal) is
    # skipped, as in run_block
    local $DryRun = $DryRun;
    if (ItsmTestStore::active() && !defined $DryRun) {
        my $status = Test::Nginx::Util::run_nginx_once(1);
        Test::Nginx::Util::stop_nginx($name) if $status == 0;
        my $why = ItsmTestStore::refused(Test::Nginx::Util::slurp($Test::Nginx::Util::ErrLogFile));
        my $expects = join ' ', grep { defined } map { scalar $block->$_ } qw(error_log grep_error_log);
        $DryRun = "ITSM_TEST_STORE=redis: $why" if defined $why && $expects !~ /issue 14/;
        prepare_server($block, $config // '', $ports);
    }
    for my $rep (0 .. $RepeatEach - 1) {
        my $status = defined $DryRun ? 256
                   : Test::Nginx::Util::run_nginx_once(defined $block->suppress_stderr);
        if (WIFSIGNALED($status)) {
            Test::More::fail("$name - nginx crashed (wait status $status)");
        } elsif (looks_like_number($want)) {
            tap('is', "$name - die with the expected exit code", $want, $status >> 8);
        } else {
            tap('isnt', "$name - die as expected", $status, 0);
        }
        check_error_log($block, $rep);
        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $rep)\n";
            Test::Nginx::Util::stop_nginx($name);
        }
    }
}

sub prepare_server() {
    my ($block, $config, $ports) = @_;
    stop_and_check_shutdown();
    Test::Nginx::Util::setup_server_root();
    if (defined(my $code = $block->post_setup_server_root)) {
        eval $code;
        bail_out($block->name . " - post_setup_server_root failed: $@") if $@;
    }
    Test::Nginx::Util::write_user_files($block, $ports);
    Test::Nginx::Util::write_config($block, $config, $ports);
    $PrevConfig = $config;
}

# ---- requests ----

# "Name: value" lines of --- more_headers -> (CRLF header text, is_chunked);
# lines starting with # are comments.
sub format_more_headers() {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Turn the test's short request ("GET /foo\nbody", possibly split into
# packets) into real HTTP: full request line, Host and Connection unless
# given, more_headers, and Content-Length for a body.  The body is trimmed of
# surrounding whitespace when we add Content-Length ourselves; it is sent as
# is when more_headers has Content-Length or chunked encoding.
# Returns the packets with the same split points.
sub build_http() {
    my ($name, $hdrs, $chunked, $conn, $packets) = @_;
    my $all = join '', @$packets;
    my $nl = index $all, "\n";
    my $first_len = $nl < 0 ? length $all : $nl + 1;
    my @words = split ' ', substr($all, 0, $first_len);
    bail_out("$name - Request line should be 'method [uri [version]]', got: "
             . substr($all, 0, $first_len)) if !@words || @words > 3;
    my ($method, $uri, $ver) = @words;
    my $line = "$method " . ($uri // '/') . ' ' . ($ver // 'HTTP/1.1') . "\r\n";
    my $body = substr $all, $first_len;
    my ($lead, $len_hdr) = (0, '');
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $lead = length $1 if $body =~ s/^(\s+)//;
        $body =~ s/\s+$//;
        $len_hdr = 'Content-Length: ' . length($body) . "\r\n";
    }
    my $head = $line;
    $head .= "Host: $ServerName\r\n" unless $hdrs =~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n" unless $hdrs =~ /(?:^|\n)Connection/i;
    $head .= "$hdrs$len_hdr\r\n";
    my $new = $head . $body;

    # map each original split point into the rewritten text: inside the
    # request line it stays there; after it, headers go with the first part
    my @out;
    my ($from, $orig) = (0, 0);
    for my $p (@$packets[0 .. $#$packets - 1]) {
        $orig += length $p;
        my $to = $orig < $first_len ? List::Util::min($orig, length($line) - 2)
               : length($head) + List::Util::max(0, List::Util::min(length $body,
                                                    $orig - $first_len - $lead));
        $to = $from if $to < $from;
        push @out, substr($new, $from, $to - $from);
        $from = $to;
    }
    push @out, substr($new, $from);
    return \@out;
}

# All requests of a block: a list of connections, each a list of packets
# {value, delay_before}.
sub build_requests() {
    my ($block, $ports) = @_;
    my $name = $block->name;
    if (defined(my $raw = $block->raw_request)) {
        return [[ map { { value => $_ } } ref $raw eq 'ARRAY' ? @$raw : ($raw) ]];
    }
    my $req = $block->request;
    if (defined $req && !ref $req) {
        1 while $req =~ s/^\s*#[^\n]*\n|^\s+//;   # leading comment lines
    }
    my $more = $block->more_headers // '';
    my $hdrs_for = sub {
        my ($i) = @_;
        return format_more_headers($more) unless ref $more eq 'ARRAY';
        bail_out("$name - --- more_headers lacks data for request $i") unless defined $more->[$i];
        return format_more_headers($more->[$i]);
    };

    if (defined(my $pipe = $block->pipelined_requests)) {
        ref $pipe eq 'ARRAY' or bail_out("$name - invalid entries in --- pipelined_requests");
        my $data = '';
        for my $i (0 .. $#$pipe) {
            my $r = expand_env_in_text($pipe->[$i], $name, $ports);
            my $conn = $i == $#$pipe ? 'close' : 'keep-alive';
            $data .= build_http($name, $hdrs_for->($i), $conn, [$r])->[0];
        }
        return [[ { value => $data } ]];
    }
    return [] unless defined $req;
    my @list = ref $req eq 'ARRAY' ? @$req : ($req);
    my @conns;
    for my $i (0 .. $#list) {
        my $one = $list[$i];
        my @parts = ref $one eq 'ARRAY'
            ? map { ref $_ eq 'HASH' ? { %$_ } : { value => $_ } } @$one
            : ({ value => $one });
        my $out = build_http($name, $hdrs_for->($i), 'close', [ map { $_->{value} } @parts ]);
        $parts[$_]{value} = $out->[$_] for 0 .. $#parts;
        push @conns, \@parts;
    }
    return \@conns;
}

# One connection: write the packets (with their delays), then read until
# nginx closes.  Each wait for I/O has the block's timeout; on expiry the
# block fails unless --- abort.  Returns (raw response, is HEAD request).
sub send_request() {
    my ($packets, $block, $timeout) = @_;
    my $name = $block->name;
    my $is_head = join('', map { $_->{value} } @$packets) =~ /^\s*HEAD\s/;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $sock;
    for my $try (1 .. 30) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout) and last;
        last if $NginxPid && Test::Nginx::Util::process_gone($NginxPid);   # it died
        sleep 0.1;
    }
    if (!$sock) {
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: $! (aborted)");
        return (undef, $is_head);
    }
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my @todo = @$packets;
    my $out = (shift @todo)->{value} // '';
    my ($writing, $resp) = (1, '');
    while (1) {
        if ($writing && $out eq '') {
            if (@todo) {
                my $p = shift @todo;
                my $delay = $p->{delay_before} // $block->raw_request_middle_delay;
                sleep $delay if $delay;
                $out = $p->{value} // '';
                next;
            }
            $writing = 0;
            if (defined(my $how = $block->shutdown)) {
                shutdown($sock, $how eq '' ? 1 : $how);
            }
        }
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            Test::More::fail("ERROR: client socket timed out - $name") unless defined $block->abort;
            last;
        }
        if ($w && @$w) {
            my $n = syswrite($sock, $out);
            if (defined $n) {
                substr($out, 0, $n, '');
            } elsif (!$!{EAGAIN}) {
                warn "WARNING: $name - write failed: $!\n";
                $writing = 0;          # still read what nginx answered
            }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $buf, 65536);
            if (!defined $n) {
                next if $!{EAGAIN};
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $buf;
        }
    }
    close $sock;
    return ($resp, $is_head);
}

# Raw response -> (HTTP::Response, raw header block, bytes after this
# response).  Decodes chunked bodies; with Content-Length, extra bytes are
# the next pipelined response.
sub parse_response() {
    my ($name, $raw, $is_head) = @_;
    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    $res->code(undef) if defined $code && $code !~ /^\d+$/;
    return ($res, $raw_headers) if defined $code && ($code eq '304' || $code eq '101');
    my $body = $res->content // '';
    my $len = $res->header('Content-Length');
    my $rest;
    if (($res->header('Transfer-Encoding') // '') eq 'chunked') {
        my ($decoded, $err);
        ($decoded, $rest, $err) = decode_chunked($body);
        if (defined $err) {
            Test::More::fail("$name - invalid chunked body received: $err");
            return (undef, $raw_headers);
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $is_head;
        } elsif (length $body > $len) {
            $rest = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $rest);
}

# chunked body -> (decoded, bytes after it, error message or undef)
sub decode_chunked() {
    my ($body) = @_;
    my ($out, $pos) = ('', 0);
    while (1) {
        pos($body) = $pos;
        $body =~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc
            or return (undef, undef, $pos < length $body ? substr($body, $pos, 40) : 'no last chunk');
        my $size = hex $1;
        $pos = pos $body;
        if ($size == 0) {              # last chunk, optional trailers, CRLF
            $pos = pos $body while $body =~ /\G[^\r\n]+\r\n/gc;
            return (undef, undef, 'no final CRLF') if substr($body, $pos, 2) ne "\r\n";
            return ($out, substr($body, $pos + 2));
        }
        return (undef, undef, "bad chunk of size $size")
            if substr($body, $pos + $size, 2) ne "\r\n";
        $out .= substr $body, $pos, $size;
        $pos += $size + 2;
    }
}

# ---- running the requests of a block, and the checks ----

sub run_requests() {
    my ($block, $rep, $ports) = @_;
    my $name = $block->name;
    my $conns = build_requests($block, $ports);
    bail_out("$name - request empty") unless @$conns;
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $pipe = $block->pipelined_requests;
    my $per_conn = $pipe ? @$pipe : 1;      # responses read from one connection
    my $need_array = $pipe ? 1 : @$conns > 1;
    my $ignore = defined $block->ignore_response;
    my $idx = 0;
    for my $c (0 .. $#$conns) {
        my ($raw, $is_head) = $NoSend
            ? ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0)
            : send_request($conns->[$c], $block, $timeout);
        for my $k (1 .. $per_conn) {
            unless ($ignore) {
                my ($res, $raw_headers, $rest);
                if (defined $block->http09) {
                    ($res, $raw_headers) = (HTTP::Response->new(200, 'OK', [], $raw), '');
                } else {
                    ($res, $raw_headers, $rest) = parse_response($name, $raw // '', $is_head);
                }
                if ($k < $per_conn) {
                    $raw = $rest;
                } elsif (defined $rest && length $rest && !$pipe) {
                    (my $shown = $rest) =~ s/([^\x20-\x7e])/sprintf '\\x{%02x}', ord $1/ge;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in response: \"$shown\"\n";
                }
                check_response($block, $res, $raw_headers, $idx, $rep, $need_array, $ports);
            }
            # multi-request blocks check the error log after every request
            checkpoint($block, $rep) unless $k == $per_conn && $c == $#$conns;
            $idx++;
        }
    }
    sleep parse_time(scalar $block->wait) if $block->wait;
    if (defined $block->stap) {
        SKIP: { Test::More::skip("$name - stap_out - tests skipped due to env TEST_NGINX_USE_STAP is not set", 1) }
    }
    check_error_log($block, $rep);
    check_access_log($block, $rep) unless $ignore;
}

sub checkpoint() {
    my ($block, $rep) = @_;
    sleep parse_time(scalar $block->wait) if $block->wait;
    check_error_log($block, $rep);
    check_access_log($block, $rep) unless defined $block->ignore_response;
}

# The expectation for request $idx: an array of them when the block sends
# several requests, else the value itself (or the first of an array).
sub indexed() {
    my ($block, $value, $idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$idx];
    }
    bail_out($block->name . " - You asked for many requests, the expected results should be arrays as well.")
        if $need_array;
    return $value;
}

sub with_port() {
    my ($s) = @_;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    return $s;
}

# --- response_headers: "Name: value" (exact) or "! Name" (absent), one
# check per distinct name.  A line without a colon also means "absent".
sub header_spec() {
    my ($text) = @_;
    my (@order, %val);
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $v) = $line =~ s/^!\s*// ? ($line, undef) : split(/\s*:\s*/, $line, 2);
        push @order, $key unless exists $val{$key};
        $val{$key} = $v;
    }
    return map { [$_, $val{$_}] } @order;
}

sub check_response() {
    my ($block, $res, $raw_headers, $idx, $rep, $need_array, $ports) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    $raw_headers //= '';

    # status: always exactly one check, 200 expected by default
    if (defined(my $like = $block->error_code_like)) {
        my $p = indexed($block, $like, $idx, $need_array);
        tap('like', "$name - status code ok", $code, qr/$p/sm);
    } else {
        my $want = defined $block->error_code
                 ? indexed($block, scalar $block->error_code, $idx, $need_array) : 200;
        tap('is', "$name - status code ok", $code, $want);
    }

    for my $how (qw(like unlike)) {
        my $section = "raw_response_headers_$how";
        my $v = $block->$section;
        next unless defined $v;
        my $p = indexed($block, $v, $idx, $need_array);
        tap($how, "$name - raw resp headers $how", $raw_headers, qr/$p/s);
    }

    if (defined(my $spec = $block->response_headers)) {
        for (header_spec(indexed($block, $spec, $idx, $need_array))) {
            my ($key, $want) = @$_;
            if (!defined $want) {
                tap('unlike', "$name - header $key not present in the raw headers",
                    $raw_headers, qr/^\s*\Q$key\E\s*:/ms);
            } else {
                tap('is', "$name - header $key ok",
                    ($res ? $res->header($key) : undef) // '', with_port($want));
            }
        }
    } elsif (defined(my $like = $block->response_headers_like)) {
        for (header_spec(indexed($block, $like, $idx, $need_array))) {
            my ($key, $p) = @$_;
            $p //= '';
            tap('like', "$name - header $key like ok",
                ($res ? $res->header($key) : undef) // '', qr/^$p$/);
        }
    }

    my $content = $res ? $res->content : undef;
    if (defined $block->response_body) {
        my $want = indexed($block, scalar $block->response_body, $idx, $need_array);
        $want = expand_env_in_text(with_port($want), $name, $ports) unless ref $want;
        if (ref $want) {
            tap('like', "$name - response_body - like (repeated req $rep, req $idx)", $content, $want);
        } else {
            tap('is_str', "$name - response_body - response is expected (repeated req $rep, req $idx)",
                $content, $want);
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $how = defined $block->response_body_like ? 'like' : 'unlike';
        my $section = "response_body_$how";
        my $p = with_port(indexed($block, scalar $block->$section, $idx, $need_array));
        my $summary = trim($content) // '';
        tap($how, "$name - response_body_$how - response is expected ($summary)", $content, qr/$p/s);
    }
    $_->($block, $content, $idx, $rep, $DryRun) for @ResponseBodyChecks;
}

# ---- log checks ----

sub pattern_list() {
    my ($pats) = @_;
    return () unless defined $pats;
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats if ref $pats eq 'ARRAY';
    chomp $pats;
    return split /\n+/, $pats;
}

sub line_matches() {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub shown() {    # a log line or pattern on one line, for a test name
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# one check per pattern: it must match some line
sub log_must_match() {
    my ($block, $lines, $pats, $file, $suffix) = @_;
    my $name = $block->name;
    for my $p (pattern_list($pats)) {
        next unless defined $p;
        if (grep { line_matches($_, $p) } @$lines) {
            tap('pass', qq{$name - pattern "$p" matches a line in $file$suffix});
        } else {
            tap('fail', qq{$name - pattern "$p" should match a line in $file$suffix});
        }
    }
}

# one check per pattern: a pass when no line matches, else one failure for
# each matching line (so that all offending lines are shown)
sub log_must_not_match() {
    my ($block, $lines, $pats, $file, $suffix) = @_;
    my $name = $block->name;
    for my $p (pattern_list($pats)) {
        next unless defined $p;
        my @hits = grep { line_matches($_, $p) } @$lines;
        tap('pass', qq{$name - pattern "@{[shown($p)]}" does not match a line in $file$suffix})
            unless @hits;
        tap('fail', qq{$name - pattern "@{[shown($p)]}" should not match any line in $file }
                    . qq{but matches line "@{[shown($_)]}"$suffix}) for @hits;
    }
}

sub check_assertions() {
    my ($block, $lines) = @_;
    for (@$lines) {
        next unless /\bAssertion .*?failed\b/;
        chomp(my $l = $_);
        Test::More::fail($block->name . " - $l");
    }
}

# Log checks at a check point: grep_error_log, error_log, no_error_log (each
# sees only the lines logged since the previous check point).
sub check_error_log() {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = Test::Nginx::Util::error_log_lines();

    my $grep = $block->grep_error_log;
    my $grep_out = $block->grep_error_log_out;
    if (defined $grep) {
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $grep_out;
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        $grep_out = $grep_out->[$rep] if ref $grep_out eq 'ARRAY';
        $grep_out = expand_env_in_text($grep_out, $name, $Test::Nginx::Util::RandPorts);
        my $got = '';
        for my $line (@$lines) {
            next unless ref $grep ? $line =~ $grep : $line =~ /\Q$grep\E/;
            my $m = substr $line, $-[0], $+[0] - $-[0];    # the matched text
            $got .= "$m\n" unless $m =~ /\n/;
        }
        tap(ref $grep_out eq 'Regexp' ? 'like' : 'is_str',
            "$name - grep_error_log_out (req $rep)", $got, $grep_out);
    } elsif (defined $grep_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    log_must_match($block, $lines, scalar $block->error_log, 'error.log', " (req $rep)");
    log_must_not_match($block, $lines, scalar $block->no_error_log, 'error.log', " (req $rep)");

    # serious nginx messages the block did not mention are worth a warning
    my $mentioned = join "\n", map { "$_" } pattern_list(scalar $block->error_log),
                                           pattern_list(scalar $block->no_error_log);
    for my $level (qw(alert crit emerg)) {
        next if index($mentioned, "[$level") >= 0;
        for (grep { /\[$level\]/ } @$lines) {
            chomp(my $l = $_);
            warn "WARNING: $name - $l\n";
        }
    }
    check_assertions($block, $lines);
}

sub check_access_log() {
    my ($block, $rep) = @_;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = Test::Nginx::Util::access_log_lines();
    log_must_match($block, $lines, scalar $block->access_log, 'access.log', " (req $rep)");
    log_must_not_match($block, $lines, scalar $block->no_access_log, 'access.log', " (req $rep)");
}

# At exit: stop nginx and check the last block's shutdown_error_log.  Only
# when run_tests() ran: merely loading this module (`perl -MTest::Nginx::Socket
# -e1`, skip_all) must not stop an nginx somebody else started.
END {
    if (defined $MainPid && $$ == $MainPid && $RunStarted) {
        local $?;    # keep the test script's exit status
        Test::Nginx::Util::cleanup();
        # TEST_NGINX_NO_CLEAN leaves nginx running for a look at it
        stop_and_check_shutdown($NoClean && !$UseValgrind);
        if ($ENV{TEST_NGINX_RANDOMIZE} && $ServRoot =~ m{/t/servroot_\d+$}) {
            File::Path::remove_tree($ServRoot);
        }
    }
}
