# itsmctl (tools/itsmctl*.c, build/itsmctl): the command-line companion.
#
# Offline first (at load, before any block): usage errors exit 2 with a
# message, --help and --version exit 0; "send --dry-run" signs the
# published test vectors (../shared/research/formats.md) byte for byte;
# "token" prints what build/itsm-token prints; "render" refuses a broken
# template or payload with exit 4 and a missing file with 3.
#
# Then against nginx with the module (one block each): "send" with every
# scheme of t/lib/ItsmSig.pm to a location verifying it (201 and exit 0; a
# wrong secret gets the module's 401 and exit 1; a 503 exit 1; a closed
# port exit 3) and each source's sample to a location of that source; a
# token from "itsmctl token new" accepted by itsm_callback; dead-letters
# list, show and requeue against an itsm_requeue location with a dead
# letter; and "render" giving the very bytes the module sent to the mock
# for the same body, path and header templates and alert; over HTTPS,
# --cacert trusting the edge's self-signed certificate (another refused)
# and -k checking none, for send and dead-letters.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use ItsmPorts;
use ItsmSig;
use IPC::Run ();
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);

our $Tool = $ENV{ITSMCTL} // "$FindBin::Bin/../build/itsmctl";
our $TokenTool = $ENV{ITSM_TOKEN} // "$FindBin::Bin/../build/itsm-token";
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

-x $Tool or die "t/600: no $Tool: run \"make build/itsmctl\" (or tools/test-itsmctl.sh), or set ITSMCTL\n";
-x $TokenTool or die "t/600: no $TokenTool: run \"make build/itsm-token\", or set ITSM_TOKEN\n";

# itsmctl ARGS (stdin => TEXT): "EXIT\nSTDOUT", and stderr
sub ctl {
    my (@args) = @_;
    my %o = ref $args[-1] eq 'HASH' ? %{pop @args} : ();
    my ($in, $out, $err) = ($o{stdin} // '', '', '');
    IPC::Run::run([$o{tool} // $Tool, @args], \$in, \$out, \$err);
    return ($? >> 8, $out, $err);
}

sub is_run {
    my ($args, $rc, $out, $err, $name) = @_;
    my ($grc, $gout, $gerr) = ctl(@$args);
    Test::More::is("$grc\n$gout", "$rc\n$out", "$name: exit and stdout");
    if (ref $err) {
        Test::More::like($gerr, $err, "$name: stderr");
    } elsif (defined $err) {
        Test::More::is($gerr, $err, "$name: stderr");
    }
}

my $tmp = tempdir(CLEANUP => 1);

sub file {
    my ($name, $text) = @_;
    open my $fh, '>', "$tmp/$name" or die $!;
    print $fh $text;
    close $fh;
    return "$tmp/$name";
}


# usage: exit 2 and a message that says what to do

is_run([], 2, '', qr/^usage: itsmctl COMMAND/, 'no command');
is_run(['frob'], 2, '', "itsmctl: unknown command \"frob\"\n(see \"itsmctl --help\")\n", 'unknown command');
is_run(['send'], 2, '', "itsmctl: the URL to send to is required\n(see \"itsmctl send --help\")\n", 'send without URL');
is_run(['send', 'http://127.0.0.1:1/', '--scheme'], 2, '', qr/^itsmctl: --scheme needs a value\n/, 'send: option without value');
is_run(['send', 'http://127.0.0.1:1/', '--scheme', 'sha3'], 2, '', qr/^itsmctl: --scheme sha3 needs --secret-file or --secret\n/, 'send: a scheme without a secret');
is_run(['send', 'http://127.0.0.1:1/', '--scheme', 'sha3', '--secret', 's'], 2, '', qr/^itsmctl: unknown scheme "sha3"; one of: standard_webhooks, github, jira, slack, stripe, grafana, generic\n/, 'send: unknown scheme');
is_run(['send', 'http://127.0.0.1:1/', '--source', 'zabbix'], 2, '', qr/^itsmctl: no sample for source "zabbix"/, 'send: unknown source');
is_run(['send', 'http://127.0.0.1:1/', '--secret', 's'], 2, '', qr/^itsmctl: a secret without --scheme\n/, 'send: a secret without a scheme');
is_run(['send', 'http://127.0.0.1:1/', '--scheme', 'generic', '--secret', 's'], 2, '', qr/^itsmctl: --scheme generic needs --sig-header\n/, 'send: generic without its header');
is_run(['dead-letters', 'list'], 2, '', qr/^itsmctl: --url of the itsm_requeue location is required\n/, 'dead-letters without --url');
is_run(['dead-letters', 'show', '--url', 'http://127.0.0.1:1/'], 2, '', qr/^itsmctl: show needs a KEY\n/, 'dead-letters show without a key');
is_run(['dead-letters', 'purge', '--url', 'http://127.0.0.1:1/'], 2, '', qr/^itsmctl: list, show or requeue\n/, 'dead-letters: unknown verb');
is_run(['render', 'only-one'], 2, '', qr/^itsmctl: a TEMPLATE and a PAYLOAD.json are required\n/, 'render with one file');
is_run(['render', 'a', 'b', '--as', 'xml'], 2, '', qr/^itsmctl: --as takes body, path, header, form or raw, not "xml"\n/, 'render: unknown --as');
is_run(['render', 'a', 'b', '--now', '-1'], 2, '', qr/^itsmctl: --now takes a number, not "-1"\n/, 'render: a bad number');
is_run(['token'], 2, '', qr/^usage: itsmctl token new CONNECTOR/, 'token without verb');

for my $cmd ([], ['send'], ['token'], ['dead-letters'], ['render']) {
    my ($rc, $out) = ctl(@$cmd, '--help');
    Test::More::is($rc, 0, "@$cmd --help: exit 0");
    my $word = $cmd->[0] // 'COMMAND';
    Test::More::like($out, qr/^usage: itsmctl \Q$word\E/, "@$cmd --help: the usage on stdout");
}
# the package's version (debian/changelog's first entry)
my ($Version) = do {
    open my $fh, '<', "$FindBin::Bin/../debian/changelog" or die "debian/changelog: $!";
    (<$fh> =~ /^\S+ \(([^)]+)\)/);
};
is_run(['--version'], 0, "itsmctl $Version\n", '', '--version');


# send --dry-run: the published vectors

my $vbody = file('sw.json', '{"test": 2432232314}');
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'standard_webhooks',
        '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '--id', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        '--timestamp', '1614265330'], 0,
       "POST -\nContent-Type: application/json\nwebhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\n"
       . "webhook-timestamp: 1614265330\nwebhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n\n"
       . qq{{"test": 2432232314}\n}, '', 'standard_webhooks vector');
my $gh_secret = file('gh.secret', "# GitHub's documented secret\n\n  It's a Secret to Everybody \r\n");
$vbody = file('gh.json', 'Hello, World!');
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'github', '--secret-file', $gh_secret], 0,
       "POST -\nContent-Type: application/json\n"
       . "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n\nHello, World!\n",
       '', 'github vector (secret file: comment, blank line, blanks and CR trimmed)');
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'jira', '--secret-file', $gh_secret], 0,
       "POST -\nContent-Type: application/json\n"
       . "X-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n\nHello, World!\n",
       '', 'jira: the same value in X-Hub-Signature');
$vbody = file('stripe.json', '{"id":"evt_test"}');
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'stripe', '--secret', 'whsec_test_secret', '--timestamp', '1700000000'], 0,
       "POST -\nContent-Type: application/json\n"
       . "Stripe-Signature: t=1700000000,v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e\n\n{\"id\":\"evt_test\"}\n",
       '', 'stripe vector (the whsec_ string is the key, not decoded)');
$vbody = file('shopify.json', '{"id":1}');
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'generic', '--sig-header', 'X-Shopify-Hmac-Sha256',
        '--encoding', 'base64', '--secret', 'hush'], 0,
       "POST -\nContent-Type: application/json\nX-Shopify-Hmac-Sha256: VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=\n\n{\"id\":1}\n",
       '', 'generic base64 (Shopify vector)');
my $slack_body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
$vbody = file('slack.txt', $slack_body);
is_run(['send', '--dry-run', '--body', $vbody, '--scheme', 'slack', '--secret', '8f742231b10e8888abcd99yyyzzz85a5', '--timestamp', '1531420618'], 0,
       "POST -\nContent-Type: application/json\nX-Slack-Request-Timestamp: 1531420618\n"
       . "X-Slack-Signature: v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503\n\n$slack_body\n",
       '', 'slack vector');
is_run(['send', '--dry-run', '--scheme', 'standard_webhooks', '--secret', 'not-whsec'], 4, '',
       "itsmctl: a standard_webhooks secret starts with \"whsec_\"\n", 'standard_webhooks: a secret without whsec_ is a bad input');
is_run(['send', '--dry-run', '--scheme', 'github', '--secret-file', file('empty.secret', "# only a comment\n\n")], 4, '',
       qr/^itsmctl: no secret in /, 'a secret file without a secret: bad input');
is_run(['send', '--dry-run', '--body', "$tmp/none.json"], 3, '', qr/^itsmctl: cannot open "[^"]+none.json": No such file or directory\n/,
       'a body file that is not there: I/O');


# token: what build/itsm-token prints, in the same form

my ($rc, $new) = ctl('token', 'new', 'rt');
my ($token) = $new =~ /^(itsmcb_[A-Za-z0-9_-]{43})$/m;
my ($hash) = $new =~ /^callback_token sha256:([0-9a-f]{64});$/m;
Test::More::is($rc, 0, 'token new: exit 0');
Test::More::is($hash, sha256_hex($token // ''), 'token new: the line holds the token\'s SHA-256');
(my $shape = $new) =~ s/\Q$token\E/TOKEN/g; $shape =~ s/$hash/HASH/g;
my (undef, $old) = ctl('new', 'rt', { tool => $TokenTool });
my ($otoken) = $old =~ /^(itsmcb_[A-Za-z0-9_-]{43})$/m;
my ($ohash) = $old =~ /^callback_token sha256:([0-9a-f]{64});$/m;
(my $oshape = $old) =~ s/\Q$otoken\E/TOKEN/g; $oshape =~ s/$ohash/HASH/g;
Test::More::is($shape, $oshape, 'token new: the same output as itsm-token new, but for the token');
is_run(['token', 'hash', { stdin => "$token\n" }], 0, "callback_token sha256:$hash;\n", '', 'token hash: the line of new');
Test::More::is(join('|', ctl('hash', { stdin => "$token\n", tool => $TokenTool })), "0|callback_token sha256:$hash;\n|", 'itsm-token hash: the same line');
is_run(['token', 'new', 'a b'], 2, '', qr/^itsm-token: "a b" is not a connector name/, 'token new: a bad name, exit 2 as itsm-token');
$ENV{TEST_NGINX_CB_HASH} = $hash;
our $Token = $token;


# render, offline: what is refused

my $payload = file('p.json', '{"key": "k1", "title": "Disk full"}');
is_run(['render', file('bad.json', '{"a": "{{ title }"}'), $payload], 4, '',
       qr/^itsmctl: unterminated "\{\{" in template "\{"a": "\{\{ title \}"\}"\nitsmctl: in body template "inline body"\nitsmctl: template "[^"]+bad.json" refused\n\z/,
       'render: an unterminated placeholder, in the words of nginx -t');
is_run(['render', file('unknown.json', '{"a": "{{ titel }}"}'), $payload], 4, '',
       qr/^itsmctl: unknown name "titel" in template /, 'render: an unknown name');
is_run(['render', file('filter.json', '{"a": "{{ title | truncate:7 }}"}'), $payload], 4, '',
       qr/^itsmctl: invalid filter "truncate:7" in template .*truncate takes a number of bytes, at least 8\n/, 'render: truncate:7');
is_run(['render', file('notjson.json', '{"a": }'), $payload], 4, '',
       qr/^itsmctl: invalid JSON in body template "inline body": /, 'render: a body that is not JSON');
is_run(['render', file('ok.json', '{"a": "{{ title }}"}'), file('nokey.json', '{"title": "x"}')], 4, '',
       qr/^itsmctl: payload "[^"]+nokey.json" is not an alert: missing field "key" \(JSON Pointer "\/key"\): every alert needs a key/, 'render: a payload without a key');
is_run(['render', "$tmp/ok.json", file('broken.json', '{"key": ')], 4, '',
       qr/^itsmctl: payload "[^"]+broken.json" is not JSON: /, 'render: a payload that is not JSON');
is_run(['render', "$tmp/nothere.json", $payload], 3, '', qr/^itsmctl: cannot open "[^"]+nothere.json"/, 'render: no template file');
is_run(['render', "$tmp/ok.json", $payload], 0, '{"a":"Disk full"}', '', 'render: a template');
is_run(['render', "$tmp/ok.json", '-', { stdin => '{"key": "k", "title": "from stdin"}' }], 0, '{"a":"from stdin"}', '', 'render: the payload on stdin');
is_run(['render', file('vars.json', '{"v": "{{ $itsm_action }}", "w": "{{ $nope | default:\'none\' }}", "t": "{{ ticket_id }}", "f": "{{ first_seen }}", "l": "{{ last_seen }}", "c": "{{ correlation_key }}", "o": "{{ occurrences }}", "lk": "{{ lookup }}"}'),
        $payload, '--var', 'itsm_action=comment', '--ticket-id', 'T-9', '--first-seen', '1700000000', '--now', '1700000100',
        '--occurrences', '3', '--lookup', 'L'], 0,
       '{"v":"comment","w":"none","t":"T-9","f":"2023-11-14T22:13:20Z","l":"2023-11-14T22:15:00Z","c":"k1","o":3,"lk":"L"}', '',
       'render: variables, the key\'s facts, the clock');


# the manual page renders, without a warning from groff
if (-x '/usr/bin/man') {
    my ($in, $out, $err) = ('', '', '');
    IPC::Run::run(['man', '--warnings', '-l', "$FindBin::Bin/../docs/itsmctl.1"], \$in, \$out, \$err,
                  init => sub { $ENV{MANWIDTH} = 80; $ENV{MANPAGER} = 'cat'; $ENV{PAGER} = 'cat' });
    Test::More::is($? >> 8, 0, 'man -l docs/itsmctl.1: exit 0');
    Test::More::like($out, qr/^ITSMCTL\(1\).*^EXIT STATUS\n.*^\s+4\s+a bad input/ms, 'man -l docs/itsmctl.1: the page, with its exit status');
    Test::More::is($err, '', 'man -l docs/itsmctl.1: no warning');
}


# the server blocks: send, callback, dead letters, render against the module

our $Secret = 'itsmctl-secret-0123';

# itsmctl's options for each scheme of ItsmSig
our %Opts = (
    standard_webhooks => [qw(--scheme standard_webhooks)],
    github => [qw(--scheme github)], jira => [qw(--scheme jira)],
    slack => [qw(--scheme slack)], stripe => [qw(--scheme stripe)],
    grafana => [qw(--scheme grafana)],
    grafana_ts => [qw(--scheme grafana --timestamp-header X-Grafana-Timestamp)],
    generic_sha1 => [qw(--scheme generic --sig-header X-Sig --algorithm sha1 --prefix sha1=)],
    generic_b64 => [qw(--scheme generic --sig-header X-Shopify-Hmac-Sha256 --encoding base64)],
    generic_sha512 => [qw(--scheme generic --sig-header X-Sig --algorithm sha512 --encoding base64 --prefix v1=
                          --content {timestamp}.{id}.{body}|end --timestamp-header X-Ts --id-header X-Id)],
);

our $SendConfig = ItsmConf::proxy_mock() . "    location = /mock/ticket { return 201 '{\"id\":\"T1\"}'; }\n"
    . "    location = /down { return 503 '{\"message\":\"maintenance\"}'; }\n";
for my $s (@ItsmSig::All) {
    $SendConfig .= "    location = /s/$s { " . ItsmSig::directive($s, "file:\$TEST_NGINX_HTML_DIR/$s.secret") . " itsm_pass mock; }\n";
}
for my $src (qw(alertmanager azure grafana datadog generic)) {
    $SendConfig .= "    location = /src/$src { itsm_source $src; itsm_pass mock; }\n";
}
our $SecretFiles = join '', map { ">>> $_.secret\n" . ItsmSig::secret($_, $Secret) . "\n" } @ItsmSig::All;
our $Wrong = file('wrong.secret', "whsec_" . MIME::Base64::encode_base64('not-the-secret', '') . "\n");
# HTTPS (TEST 7): the edge's self-signed certificate for 127.0.0.1, and
# another one that is not the edge's
our ($EdgeCert, $EdgeKey, $OtherCert) = map { "$tmp/$_" } qw(edge.pem edge.key other.pem);
for my $c ([$EdgeCert, $EdgeKey], [$OtherCert, "$tmp/other.key"]) {
    my ($o, $e);
    IPC::Run::run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', $c->[1],
                   '-out', $c->[0], '-days', '2', '-subj', '/CN=127.0.0.1',
                   '-addext', 'subjectAltName=IP:127.0.0.1'], \undef, \$o, \$e)
        or die "t/600: openssl req: $e";
}
our $TlsPort = ItsmPorts::free();


no_shuffle();
run_tests();

__DATA__

=== TEST 1: send: every scheme, signed as the module verifies it, creates (201, exit 0); a wrong secret gets the module's 401 and exit 1
--- http_config eval: ItsmConf::connector('mock', create => 'POST /ticket')
--- config eval: $::SendConfig
--- user_files eval: $::SecretFiles
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
for my $s (@ItsmSig::All) {
    my @o = (@{$::Opts{$s}}, '--secret-file', "$ENV{TEST_NGINX_HTML_DIR}/$s.secret");
    my ($rc, $out, $err) = ::ctl('send', "http://127.0.0.1:$port/s/$s", @o);
    Test::More::is("$rc $out$err", qq{0 201\n{"status":"created","alerts":[{"key":"itsmctl-test","action":"create","outcome":"created","connector":"mock","ticket_id":"T1"}]}\n}, "send $s: 201, exit 0");
    ($rc, $out, $err) = ::ctl('send', "http://127.0.0.1:$port/s/$s", @{$::Opts{$s}}, '--secret-file', $::Wrong);
        my ($word) = $ItsmSig::Scheme{$s}[0] =~ /^(\w+)/;
    Test::More::is("$rc $out$err", qq{1 401\n{"error":"signature_mismatch","message":"no $word signature in the request matches the body with any of the secrets of this endpoint"}\n}, "send $s, a wrong secret: 401, exit 1");
}
--- request
GET /mock/ticket
--- error_code: 201



=== TEST 2: send: each source's sample is an alert of that source (2xx); a 503 exits 1, a closed port 3
--- http_config eval: ItsmConf::connector('mock', create => 'POST /ticket')
--- config eval: $::SendConfig
--- user_files eval: $::SecretFiles
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
for my $src (qw(alertmanager azure grafana datadog generic)) {
    my ($rc, $out, $err) = ::ctl('send', "http://127.0.0.1:$port/src/$src", '--source', $src);
    Test::More::like("$rc $out$err", qr/^0 201\n\{"status":"(?:created|processed)","alerts":\[\{"key":"[^"]+","action":"create","outcome":"created","connector":"mock","ticket_id":"T1"\}/, "send --source $src: created, exit 0");
}
my ($rc, $out, $err) = ::ctl('send', "http://127.0.0.1:$port/down");
Test::More::is("$rc $out$err", qq{1 503\n{"message":"maintenance"}\n}, 'a 503: printed, exit 1');
my $closed = ItsmPorts::free();
($rc, $out, $err) = ::ctl('send', "http://127.0.0.1:$closed/alerts");
Test::More::like("$rc $out$err", qr/^3 itsmctl: POST http:\/\/127.0.0.1:$closed\/alerts: Couldn't connect to server\n\z/, 'a closed port: exit 3');
--- request
GET /mock/ticket
--- error_code: 201



=== TEST 3: token: the line "itsmctl token new" printed, in a connector; its token accepted by the callback location, one byte less refused
--- http_config
    itsm_store logs/state.mdb;
    itsm_connector rt {
        location  /_itsm/rt;
        create    POST /ticket 'body={}';
        callback_token sha256:$TEST_NGINX_CB_HASH;
    }
--- config
    location = /cb { itsm_callback rt profile=rt; }
--- request eval
["POST /cb\n{\"ticket\": \"7\", \"status\": \"resolved\", \"transaction\": \"1\"}",
 "POST /cb\n{\"ticket\": \"7\", \"status\": \"resolved\", \"transaction\": \"1\"}"]
--- more_headers eval
["Content-Type: application/json\nAuthorization: Bearer $::Token",
 "Content-Type: application/json\nAuthorization: Bearer " . substr($::Token, 0, -1)]
--- error_code eval: [200, 401]
--- response_body eval
[qq{{"outcome":"unknown_ticket","ticket":"7","status":"resolved","state":"resolved"}\n},
 qq{{"error":"token_invalid","message":"the token is not one of this connector's callback tokens"}\n}]



=== TEST 4: dead-letters: list (a table, --json), show KEY, show of another key (exit 1), requeue KEY, then none; a location that is not itsm_requeue (exit 4), a 403 (exit 1)
--- http_config
    itsm_store logs/state.mdb;
    itsm_zone  itsm:1m;
    itsm_delivery_log logs/delivery.log;
    itsm_replay_url http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_itsm/replay;
    itsm_retry      attempts=1 backoff=1s max=1s;
    itsm_connector q {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        header    X-Key "{{ key }}";
        ticket_id /id;
    }
--- config eval
ItsmConf::proxy_mock() . <<'_EOC_'
    location = /mock/ticket {
        if (-f $document_root/ok) { return 201 '{"id":"T5"}'; }
        return 503 '{"error":"down"}';
    }
    location = /alerts/q { itsm_queue on; itsm_retry_after 1s; itsm_pass q; }
    location = /_itsm/replay { allow 127.0.0.1; deny all; itsm_replay; }
    location = /itsm/requeue { itsm_requeue; }
    location = /itsm/closed { return 403 '{"error":"forbidden"}'; }
    location = /itsm/other { return 200 'not json'; }
_EOC_
--- init
my $port = $ENV{TEST_NGINX_SERVER_PORT};
my $url = "http://127.0.0.1:$port/itsm/requeue";
ItsmHttp::call('POST', '/alerts/q', qq{{"key": "$_", "title": "Disk full"}}) for 'dead 1/x', 'dead-2';
my $until = time + 30;
sleep 0.2 while ItsmHttp::call('GET', '/itsm/requeue') !~ /"count":2/ && time < $until;
my ($s, $body) = ItsmHttp::call('GET', '/itsm/requeue');
Test::More::like($body, qr/"count":2/, 'two dead letters');
my $head = sprintf("%-20s %-40s %8s %6s\n", 'CONNECTOR', 'KEY', 'ATTEMPTS', 'STATUS');
my ($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $url);
Test::More::is("$rc\n$out$err", "0\n$head" . sprintf("%-20s %-40s %8s %6s\n", 'q', 'dead 1/x', 1, 503)
               . sprintf("%-20s %-40s %8s %6s\n", 'q', 'dead-2', 1, 503), 'list: a table, with the last failure\'s status');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $url, '--json');
Test::More::is("$rc\n$out$err", "0\n$body", 'list --json: the location\'s own answer');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $url, '--connector', 'nope');
Test::More::is("$rc\n$out$err", "0\n$head", 'list --connector nope: none');
($rc, $out, $err) = ::ctl('dead-letters', 'show', 'dead 1/x', '--url', $url);
Test::More::like("$rc\n$out$err", qr/^0\n\{"connector":"q","key":"dead 1\/x","attempts":1,"last_failure":\{.*"status":503,.*"response":"\{\\"error\\":\\"down\\"\}".*\}\}\n\z/, 'show KEY: its entry, with its last failure');
($rc, $out, $err) = ::ctl('dead-letters', 'show', 'dead 1', '--url', $url);
Test::More::is("$rc\n$out$err", "1\nitsmctl: no dead letter for key \"dead 1\"\n", 'show of a key that has none (a prefix): exit 1');
($rc, $out, $err) = ::ctl('dead-letters', 'show', 'dead-2', '--connector', 'nope', '--url', $url);
Test::More::is("$rc\n$out$err", "1\nitsmctl: no dead letter for key \"dead-2\" of connector nope\n", 'show of a key of another connector: exit 1');
($rc, $out, $err) = ::ctl('dead-letters', 'requeue', 'dead 1', '--url', $url);
Test::More::is("$rc\n$out$err", "0\nrequeued 0\n", 'requeue of a prefix: none');
my $root = Test::Nginx::Util::server_root();
open my $fh, '>', "$root/html/ok" or die $!; close $fh;
($rc, $out, $err) = ::ctl('dead-letters', 'requeue', 'dead 1/x', '--connector', 'q', '--url', $url, '--json');
Test::More::is("$rc\n$out$err", qq{0\n{"requeued":1}\n}, 'requeue KEY --connector --json: that one (the key escaped in the query)');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $url);
Test::More::is("$rc\n$out$err", "0\n$head" . sprintf("%-20s %-40s %8s %6s\n", 'q', 'dead-2', 1, 503), 'dead-2 is left');
$until = time + 30;
sleep 0.2 while !(grep { /"key":"dead 1\/x",.*"status":201/ } ItsmHttp::read_lines('delivery.log')) && time < $until;
Test::More::ok((grep { /"key":"dead 1\/x",.*"status":201/ } ItsmHttp::read_lines('delivery.log')), 'the requeued one was delivered');
($rc, $out, $err) = ::ctl('dead-letters', 'requeue', '--url', $url);
Test::More::is("$rc\n$out$err", "0\nrequeued 1\n", 'requeue all: dead-2');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', "http://127.0.0.1:$port/itsm/closed");
Test::More::is("$rc\n$out$err", qq{1\nitsmctl: GET http://127.0.0.1:$port/itsm/closed answered 403: {"error":"forbidden"}\n}, 'a 403: exit 1');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', "http://127.0.0.1:$port/itsm/other");
Test::More::is("$rc\n$out$err", "4\nitsmctl: http://127.0.0.1:$port/itsm/other is not an itsm_requeue location: its answer is not a JSON object\n", 'not the API: exit 4');
--- request
GET /itsm/requeue
--- response_body
{"dead_letters":[],"count":0}
--- timeout: 90



=== TEST 5: render: the body, the path and the header the module sent to the ITSM for an alert are the bytes itsmctl render gives for the same templates and alert
--- http_config
    log_format itsm_sent escape=none '$request_uri|$http_x_r|$request_body';
    itsm_connector cmp {
        location  /_itsm/cmp;
        create    POST "/ticket/{{ key }}/x?t={{ title }}&l={{ /labels/b }}" body=$TEST_NGINX_HTML_DIR/cmp.json;
        header    X-R "{{ description }} {{ title | slack | truncate:12 }}";
        ticket_id /id;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            client_body_buffer_size 64k;
            access_log logs/sent.log itsm_sent;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/itsm/;
        }
    }
--- config
    location /_itsm/cmp/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location /itsm/ { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass cmp; }
--- user_files
>>> cmp.json
{
    "s": "[{{ severity }}] {{ title }}",
    "d": "{{ description }}\n--\n{{ key }}",
    "labels": "{{ /labels }}",
    "n": "{{ /count }}",
    "missing": "{{ /nope }}",
    "team": "{{ /labels/team | default:'ops' }}",
    "slack": "{{ title | slack | truncate:16 }}",
    "h": "{{ key | sha256 }}",
    "hn": "{{ /count | sha256 }}",
    "occ": "{{ occurrences }}",
    "arr": ["{{ resource }}", 1, 2.5, true, null, {"k": "x{{ /labels/a }}y"}],
    "lit": "é \u00e9 \"q\" \\ \t \u0001 </script>",
    "ck": "{{ correlation_key }}"
}
>>> alert.json
{"key": "db/1 ..", "title": "<!channel> Disk & \"full\" é", "severity": "critical",
 "description": "line1\nline2\ttab \u0001 ctl \u2028 é", "resource": "db-1",
 "labels": {"a": "1", "b": [1, 2.5, "x y"]}, "count": 42}
--- init
my $html = $ENV{TEST_NGINX_HTML_DIR};
my ($s, $body) = ItsmHttp::call('POST', '/alerts', do { local (@ARGV, $/) = "$html/alert.json"; <> });
Test::More::is($s, 201, 'the module created');
my @sent = ItsmHttp::log_lines('sent.log', 1);
my ($uri, $header, $sent) = split /\|/, $sent[0] // '', 3;
$uri =~ s{^/_itsm/cmp}{};
my ($rc, $out, $err) = ::ctl('render', "$html/cmp.json", "$html/alert.json");
Test::More::is("$rc\n$out$err", "0\n$sent", 'the body: the same bytes');
Test::More::like($sent, qr/"h":"[0-9a-f]{64}","hn":"[0-9a-f]{64}","occ":1,/, 'the body holds the hashes and the count it should');
my $path = ::file('path.tpl', "/ticket/{{ key }}/x?t={{ title }}&l={{ /labels/b }}");
($rc, $out, $err) = ::ctl('render', $path, "$html/alert.json", '--as', 'path');
Test::More::is("$rc\n$out$err", "0\n$uri", 'the path: the same bytes');
Test::More::like($uri, qr{^/ticket/db%2F1%20\.\./x\?t=}, 'the path is escaped as it should');
my $hdr = ::file('header.tpl', "{{ description }} {{ title | slack | truncate:12 }}\n");
($rc, $out, $err) = ::ctl('render', $hdr, "$html/alert.json", '--as', 'header');
Test::More::is("$rc\n$out$err", "0\n$header", 'the header: the same bytes (its final newline is not the template\'s)');
--- request
GET /itsm/x
--- error_code: 201



=== TEST 6: render --as form: the value of a form field the module sent is what itsmctl render gives for the field's template
--- http_config
    log_format itsm_sent escape=none '$request_body';
    itsm_connector frm {
        location  /_itsm/frm;
        create    POST /f form 'msg=[{{ severity }}] {{ title }} & {{ description | truncate:20 }}';
        ticket_id /id;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            client_body_buffer_size 64k;
            access_log logs/sent.log itsm_sent;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/itsm/;
        }
    }
--- config
    location /_itsm/frm/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location /itsm/ { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass frm; }
--- init
my $alert = '{"key": "k=1&2", "title": "a+b=c & d/é", "severity": "warning", "description": "x%20y\nz ~ é é é é é"}';
my ($s) = ItsmHttp::call('POST', '/alerts', $alert);
Test::More::is($s, 201, 'the module created');
my @sent = ItsmHttp::log_lines('sent.log', 1);
(my $value = $sent[0] // '') =~ s/^msg=//;
my ($rc, $out, $err) = ::ctl('render', ::file('form.tpl', "[{{ severity }}] {{ title }} & {{ description | truncate:20 }}\n"),
                             ::file('form-alert.json', $alert), '--as', 'form');
Test::More::is("$rc\n$out$err", "0\n$value", 'the field\'s value: the same bytes');
Test::More::like($value, qr/^%5Bwarning%5D%20a%2Bb%3Dc%20%26%20d%2F%C3%A9%20%26%20x%2520y%0Az/, 'escaped as a form value');
--- request
GET /itsm/x
--- error_code: 201


=== TEST 7: HTTPS: the edge's self-signed certificate refused (exit 3), trusted with --cacert (201, exit 0), still refused with another --cacert, not checked with -k or --insecure; dead-letters the same; a --cacert that cannot be read exits 3, one without a file 2
--- http_config eval
ItsmConf::connector('mock', create => 'POST /ticket') . <<"EOF"
    server {
        listen 127.0.0.1:$::TlsPort ssl;
        ssl_certificate     $::EdgeCert;
        ssl_certificate_key $::EdgeKey;
        location = /alerts { itsm_pass mock; }
        location = /dl { return 403 '{"error":"forbidden"}'; }
    }
EOF
--- config eval: $::SendConfig
--- user_files eval: $::SecretFiles
--- init
my $url = "https://127.0.0.1:$::TlsPort/alerts";
my ($rc, $out, $err) = ::ctl('send', $url);
Test::More::like("$rc $out$err", qr/^3 itsmctl: POST \Q$url\E: .*(?:SSL|certificate)/i, 'send, no option: the certificate refused, exit 3');
($rc, $out, $err) = ::ctl('send', $url, '--cacert', $::EdgeCert);
Test::More::like("$rc $out$err", qr/^0 201\n\{"status":"(?:created|processed)","alerts":\[\{"key":"[^"]+","action":"create","outcome":"created","connector":"mock","ticket_id":"T1"\}/, 'send --cacert the edge\'s: created, exit 0');
($rc, $out, $err) = ::ctl('send', $url, '--cacert', $::OtherCert);
Test::More::like("$rc $out$err", qr/^3 itsmctl: POST \Q$url\E: .*(?:SSL|certificate)/i, 'send --cacert another: refused, exit 3');
for my $k ('-k', '--insecure') {
    ($rc, $out, $err) = ::ctl('send', $k, $url);
    Test::More::like("$rc $out$err", qr/^0 201\n/, "send $k: created, exit 0");
}
($rc, $out, $err) = ::ctl('send', $url, '--cacert', "$::EdgeCert.missing");
Test::More::is("$rc $out$err", "3 itsmctl: --cacert $::EdgeCert.missing: No such file or directory\n", 'send --cacert a missing file: exit 3 (a file that cannot be read)');
($rc, $out, $err) = ::ctl('send', $url, '--cacert');
Test::More::is("$rc $out$err", "2 itsmctl: --cacert needs a file of PEM certificates\n(see \"itsmctl send --help\")\n", 'send --cacert without a file: exit 2');
my $dl = "https://127.0.0.1:$::TlsPort/dl";
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $dl);
Test::More::like("$rc $out$err", qr/^3 itsmctl: GET \Q$dl\E: .*(?:SSL|certificate)/i, 'dead-letters, no option: refused, exit 3');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '--url', $dl, '--cacert', $::EdgeCert);
Test::More::is("$rc $out$err", qq{1 itsmctl: GET $dl answered 403: {"error":"forbidden"}\n}, 'dead-letters --cacert: the edge\'s answer, exit 1');
($rc, $out, $err) = ::ctl('dead-letters', 'list', '-k', '--url', $dl);
Test::More::is("$rc $out$err", qq{1 itsmctl: GET $dl answered 403: {"error":"forbidden"}\n}, 'dead-letters -k: the edge\'s answer, exit 1');
--- request
GET /mock/ticket
--- error_code: 201
