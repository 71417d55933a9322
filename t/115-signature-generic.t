# itsm_signature generic: any "HMAC of some content in some header":
# header=, algorithm=sha1|sha256|sha512, encoding=hex|base64, prefix=,
# content= (a template of {body}, {timestamp}, {id} and literal text),
# timestamp_header=, id_header=.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Alert = '{"key": "ge-1", "title": "Generic"}';

# sha512, base64, "v1=" prefix, content "{timestamp}.{id}.{body}|end"
sub headers {
    my (%o) = @_;
    return ItsmSig::headers('generic_sha512', secret => 'first', body => $Alert,
                            id => $o{id} // 'evt-' . int(rand(1e9)), %o);
}

ItsmConf::signed(ticket => 12,
                 alerts => 'itsm_signature generic header=X-Sig algorithm=sha512 encoding=base64 prefix=v1= "content={timestamp}.{id}.{body}|end" timestamp_header=X-Ts id_header=X-Id secret=first secret=second',
                 down => 'itsm_signature generic header=X-Sig algorithm=sha512 encoding=base64 prefix=v1= "content={timestamp}.{id}.{body}|end" timestamp_header=X-Ts id_header=X-Id secret=first',
                 extra => ['add_header X-Secret $itsm_access_secret always'],
                 locations => <<'_EOC_');
    location = /shopify {
        itsm_signature generic header=X-Shopify-Hmac-Sha256 encoding=base64
                       secret=hush;
        try_files /.none =204;
    }

    location = /sha1 {
        itsm_signature generic header=X-Hub-Signature algorithm=sha1
                       prefix=sha1= secret=legacy;
        try_files /.none =204;
    }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a Shopify-style base64 signature (vector recomputed in formats.md)
--- request
POST /shopify
{"id":1}
--- more_headers
X-Shopify-Hmac-Sha256: VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=
--- error_code: 204



=== TEST 2: GitHub's legacy sha1= header, as a generic signature
--- request eval: ["POST /sha1\n$::Alert", "POST /sha1\n$::Alert"]
--- more_headers eval
[map { ItsmSig::headers('generic_sha1', secret => 'legacy', body => $_, header => 'X-Hub-Signature', bare => 1) }
     $::Alert, "$::Alert "]
--- error_code eval: [204, 401]



=== TEST 3: sha512, base64, a prefix and a template with text after the body
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: ::headers()
--- error_code: 201
--- response_headers
X-Secret: 1
--- response_body_like: "ticket_id":"12"
--- no_error_log
[error]



=== TEST 4: the wrong secret, a changed byte, a sha256 MAC in place of sha512
--- request eval: ["POST /down\n$::Alert", "POST /down\n" . uc($::Alert), "POST /down\n$::Alert"]
--- more_headers eval
my $ts = time();
[::headers(secret => 'third'), ::headers(),
 "Content-Type: application/json\nX-Ts: $ts\nX-Id: e1\nX-Sig: v1="
 . MIME::Base64::encode_base64(Digest::SHA::hmac_sha256("$ts.e1.$::Alert|end", 'first'), '')]
--- error_code eval: [401, 401, 401]
--- response_body_like eval
['^\{"error":"signature_mismatch","message":"no generic signature', 'signature_mismatch', 'signature_mismatch']
--- no_error_log
[error]



=== TEST 5: a missing signature, timestamp or id header
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(no_sig => 1), ::headers(no_ts => 1), ::headers(no_id => 1)]
--- error_code eval: [401, 401, 401]
--- response_body eval
["{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Sig\\\" header; it must be signed (generic)\"}\n",
 "{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Ts\\\" header; the generic signature covers it\"}\n",
 "{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Id\\\" header; the generic signature covers it\"}\n"]



=== TEST 6: stale and future timestamps
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(ts => time() - 1000), ::headers(ts => time() + 1000)]
--- error_code eval: [401, 401]
--- response_body_like eval: ['timestamp_too_old', 'timestamp_in_future']



=== TEST 7: the signed id is the replay key: a re-signed resend is a duplicate
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval
[::headers(id => 'evt-7', ts => time() - 10), ::headers(id => 'evt-7'),
 ::headers(id => 'evt-8')]
--- error_code eval: [201, 200, 201]
--- response_body_like eval: ['"status":"created"', '^\{"status":"duplicate",', '"status":"created"']



=== TEST 8: rotation: both secrets
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::headers(secret => 'second'), ::headers(secret => 'first')]
--- error_code eval: [201, 201]
--- response_headers eval: ["X-Secret: 2", "X-Secret: 1"]
