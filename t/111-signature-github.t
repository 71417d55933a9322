# itsm_signature github / jira: "sha256=<hex>" of HMAC-SHA256 over the raw
# body, in X-Hub-Signature-256 (GitHub) or X-Hub-Signature (Jira, and
# GitHub's legacy header).  No timestamp: replays are caught by the seen-id
# cache, keyed by the MAC, because X-GitHub-Delivery is not signed.  The
# published vector of GitHub's documentation is the first test.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Secret = "It's a Secret to Everybody";
our $Alert = '{"key": "gh-1", "title": "Build failed"}';

# id => sends it in X-GitHub-Delivery, which the MAC does not cover
sub headers {
    my (%o) = @_;
    return ItsmSig::headers('github', secret => $Secret, body => $Alert,
                            $o{id} ? (extra => "X-GitHub-Delivery: $o{id}\n") : (), %o);
}

our $Config = ItsmConf::signed(ticket => 8,
                               alerts => 'itsm_signature github "secret=It\'s a Secret to Everybody"',
                               vector => ['add_header X-Id $itsm_access_id always'],
                               locations => ItsmConf::location('/jira', q(itsm_signature jira "secret=It's a Secret to Everybody"),
                                                               'add_header X-Id $itsm_access_id always', 'try_files /.none =204'));

no_shuffle();
run_tests();

__DATA__

=== TEST 1: GitHub's published vector
--- request
POST /vector
Hello, World!
--- more_headers
X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958
X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 204
--- response_headers
X-Id: 72d3162e-cc78-11e3-81ab-4c9367dc0958



=== TEST 2: the same vector in Jira's X-Hub-Signature, with its webhook identifier
--- request
POST /jira
Hello, World!
--- more_headers
X-Atlassian-Webhook-Identifier: 1700000000000-42
X-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 204
--- response_headers
X-Id: 1700000000000-42



=== TEST 3: the github scheme reads X-Hub-Signature too, when -256 is absent
--- request
POST /vector
Hello, World!
--- more_headers
X-Hub-Signature: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 204



=== TEST 4: a signed alert creates a ticket
--- signed_alert
--- more_headers eval: ::headers(id => 'd-1')



=== TEST 5: the wrong secret
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::headers(secret => "It's a secret to everybody")
--- error_code: 401
--- response_body
{"error":"signature_mismatch","message":"no github signature in the request matches the body with any of the secrets of this endpoint"}
--- no_error_log
[error]



=== TEST 6: one changed byte of the body
--- changed_byte: failed Failed



=== TEST 7: no signature header
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::headers(no_sig => 1)
--- error_code: 401
--- response_body
{"error":"signature_missing","message":"the request has no \"X-Hub-Signature-256\" header; it must be signed (github)"}
--- no_error_log
[error]



=== TEST 8: a signature without the sha256= prefix, or GitHub's legacy sha1=
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(prefix => ''), ::headers(prefix => 'sha1=')]
--- error_code eval: [401, 401]
--- response_body eval
["{\"error\":\"signature_malformed\",\"message\":\"the \\\"X-Hub-Signature-256\\\" header is not a github signature (\\\"sha256=\\\" and the MAC)\"}\n",
 "{\"error\":\"signature_malformed\",\"message\":\"the \\\"X-Hub-Signature-256\\\" header is not a github signature (\\\"sha256=\\\" and the MAC)\"}\n"]



=== TEST 9: upper-case hex and prefix are accepted
--- request
POST /vector
Hello, World!
--- more_headers
X-Hub-Signature-256: SHA256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17
--- error_code: 204



=== TEST 10: a replay is a duplicate even under a new X-GitHub-Delivery (it is not signed)
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::headers(id => 'd-10'), ::headers(id => 'd-11')]
--- error_code eval: [201, 200]
--- response_body_like eval: ['"status":"created"', '^\{"status":"duplicate",']



=== TEST 11: rotation: two secrets, both accepted
--- config eval
$::Config . <<'_EOC_';
    location = /rotate {
        itsm_signature github "secret=It's a Secret to Everybody" secret=n3w-s3cr3t;
        add_header X-Secret $itsm_access_secret always;
        try_files /.none =204;
    }
_EOC_
--- request eval: ["POST /rotate\n$::Alert", "POST /rotate\n$::Alert", "POST /rotate\n$::Alert"]
--- more_headers eval: [::headers(), ::headers(secret => 'n3w-s3cr3t'), ::headers(secret => 'old-s3cr3t')]
--- error_code eval: [204, 204, 401]
--- response_headers eval: ["X-Secret: 1", "X-Secret: 2", "X-Secret:"]



=== TEST 12: jira reads only X-Hub-Signature
--- request
POST /jira
Hello, World!
--- more_headers
X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 401
--- response_body
{"error":"signature_missing","message":"the request has no \"X-Hub-Signature\" header; it must be signed (jira)"}
