# The callback token tool (tools/itsm-token.c, build/itsm-token): a fresh
# token is printed once, with the configuration line holding only its
# SHA-256; two runs differ; nothing is written to disk; "hash" reads a
# token on stdin.  Then the line it printed goes into a connector, and the
# token it printed is accepted by that connector's callback location.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use Cwd qw(getcwd);

my $tool = "$FindBin::Bin/../build/itsm-token";

# run in an empty directory: nothing may be left in it
my $dir = tempdir(CLEANUP => 1);
my $cwd = getcwd();
chdir $dir or die;
my $out1 = `$tool new rt 2>&1`;
my $rc1 = $?;
my $out2 = `$tool new rt 2>&1`;
chdir $cwd or die;

Test::More::is($rc1, 0, "new: exit 0");
my ($token) = $out1 =~ /^(itsmcb_[A-Za-z0-9_-]+)$/m;
my ($hash) = $out1 =~ /^callback_token sha256:([0-9a-f]+);$/m;
my ($token2) = $out2 =~ /^(itsmcb_[A-Za-z0-9_-]+)$/m;

Test::More::like($token // '', qr/^itsmcb_[A-Za-z0-9_-]{43}$/, "new: itsmcb_ and 32 bytes in base64url (43 characters)");
Test::More::is($hash, sha256_hex($token // ''), "new: the line holds the token's SHA-256");
my @seen = $out1 =~ /\Q$token\E/g;
Test::More::is(scalar @seen, 1, "new: the token is on the output once");
Test::More::isnt($token2, $token, "two runs give two tokens");
opendir(my $dh, $dir) or die;
my @left = grep { !/^\.\.?$/ } readdir $dh;
Test::More::is_deeply(\@left, [], "new: no file written");

# hash: the line for a token read on stdin (with or without a newline)
Test::More::is(`printf '%s\\n' '$token' | $tool hash`, "callback_token sha256:$hash;\n", "hash: the same line as new printed");
Test::More::is(`printf 'abc' | $tool hash`, "callback_token sha256:" . sha256_hex('abc') . ";\n", "hash: any token, no newline");
`printf '' | $tool hash 2>/dev/null`;
Test::More::isnt($?, 0, "hash: no token fails");
`$tool new 'a b' 2>/dev/null`;
Test::More::is($? >> 8, 2, "new: a name nginx.conf would need quoted is refused");
`$tool 2>/dev/null`;
Test::More::is($? >> 8, 2, "no verb: usage, exit 2");

$ENV{TEST_NGINX_CB_HASH} = $hash;
our $Token = $token;

# both blocks: the printed line in a connector, a callback to it; they
# differ in the token they send
ItsmConf::defaults(http_config => <<'_EOC_', config => <<'_EOC_', request => <<'_EOC_');
    itsm_store logs/state.mdb;
    itsm_connector rt {
        location  /_itsm/rt;
        create    POST /ticket 'body={}';
        callback_token sha256:$TEST_NGINX_CB_HASH;
    }
_EOC_
    location = /cb { itsm_callback rt profile=rt; }
_EOC_
POST /cb
{"ticket": "7", "status": "resolved", "transaction": "1"}
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the printed line in the connector, the printed token accepted (a ticket no key has: 200, counted)
--- more_headers eval
"Content-Type: application/json\nAuthorization: Bearer $::Token"
--- error_code: 200
--- response_body
{"outcome":"unknown_ticket","ticket":"7","status":"resolved","state":"resolved"}



=== TEST 2: one character less: 401
--- more_headers eval
"Content-Type: application/json\nAuthorization: Bearer " . substr($::Token, 0, -1)
--- error_code: 401
--- response_body
{"error":"token_invalid","message":"the token is not one of this connector's callback tokens"}
