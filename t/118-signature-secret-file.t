# secret=file:<path> for every scheme: the key is what the file holds, one
# secret a line (rotation), not what is left of the file's text once it is
# wiped.  A key that was wiped is all zero bytes, the same HMAC key as an
# empty one: a request signed with it must be refused, and a request
# signed with the real secret must pass, scheme by scheme.  Also a secret
# from a variable ($var, keyed per request) for the raw-byte schemes.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# the two lines of a rotation file, and keys that must not pass
our $Old = 'old-secret-0123456789';
our $New = 'new-secret-abcdefghij';
our $Zero = "\0" x 24;
our $Other = 'not-this-secret';

# one secret file and one location a scheme
our $Files = '';
our $Config = '';

for my $s (@ItsmSig::All) {
    $Files .= ">>> $s.secret\n# rotation: the old secret, then the new\n"
              . ItsmSig::secret($s, $Old) . "\r\n\n  "
              . ItsmSig::secret($s, $New) . "  \n";
    $Config .= "    location = /$s {\n        "
               . ItsmSig::directive($s, "file:\$TEST_NGINX_HTML_DIR/$s.secret")
               . "\n        add_header X-Secret \$itsm_access_secret always;\n"
               . "        add_header X-Result \$itsm_access_result always;\n"
               . "        try_files /.none =204;\n    }\n";
}

# secret=$variable: keyed per request from the variable's bytes
for my $s (@ItsmSig::Raw) {
    $Config .= "    location = /var/$s {\n"
               . "        set \$sig_secret '$New';\n        "
               . ItsmSig::directive($s, '$sig_secret')
               . "\n        add_header X-Result \$itsm_access_result always;\n"
               . "        try_files /.none =204;\n    }\n";
}

# requests to /<scheme>: signed with the old line, the new line, an
# all-zero key and another key
sub four {
    my ($s) = @_;
    return {
        request => [map { "POST /$s\n$ItsmSig::Body" } 1 .. 4],
        headers => [map { ItsmSig::headers($s, key => $_) }
                    $Old, $New, $Zero, $Other],
    };
}

ItsmConf::defaults(config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: standard_webhooks: both lines of the file pass; a zero key and another key do not
--- user_files eval: $::Files
--- request eval: ::four('standard_webhooks')->{request}
--- more_headers eval: ::four('standard_webhooks')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 2: github: the same
--- user_files eval: $::Files
--- request eval: ::four('github')->{request}
--- more_headers eval: ::four('github')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 3: jira: the same
--- user_files eval: $::Files
--- request eval: ::four('jira')->{request}
--- more_headers eval: ::four('jira')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 4: slack: the same
--- user_files eval: $::Files
--- request eval: ::four('slack')->{request}
--- more_headers eval: ::four('slack')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 5: stripe: the same
--- user_files eval: $::Files
--- request eval: ::four('stripe')->{request}
--- more_headers eval: ::four('stripe')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 6: grafana: the same
--- user_files eval: $::Files
--- request eval: ::four('grafana')->{request}
--- more_headers eval: ::four('grafana')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 7: grafana with a timestamp: the same
--- user_files eval: $::Files
--- request eval: ::four('grafana_ts')->{request}
--- more_headers eval: ::four('grafana_ts')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 8: generic, sha1 hex: the same
--- user_files eval: $::Files
--- request eval: ::four('generic_sha1')->{request}
--- more_headers eval: ::four('generic_sha1')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 9: generic, sha256 base64: the same
--- user_files eval: $::Files
--- request eval: ::four('generic_b64')->{request}
--- more_headers eval: ::four('generic_b64')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 10: generic, sha512 base64 over a template: the same
--- user_files eval: $::Files
--- request eval: ::four('generic_sha512')->{request}
--- more_headers eval: ::four('generic_sha512')->{headers}
--- error_code eval: [204, 204, 401, 401]
--- response_headers eval
["X-Secret: 1\nX-Result: passed", "X-Secret: 2\nX-Result: passed",
 "X-Secret: \nX-Result: signature_mismatch", "X-Secret: \nX-Result: signature_mismatch"]



=== TEST 11: secret=$variable, every raw-byte scheme: its value is the key; a zero key is refused
--- user_files eval: $::Files
--- request eval: [map { ("POST /var/$_\n$ItsmSig::Body") x 2 } @ItsmSig::Raw]
--- more_headers eval: [map { (ItsmSig::headers($_, key => $::New), ItsmSig::headers($_, key => $::Zero)) } @ItsmSig::Raw]
--- error_code eval: [map { (204, 401) } @ItsmSig::Raw]
--- response_headers eval: [map { ("X-Result: passed", "X-Result: signature_mismatch") } @ItsmSig::Raw]
