# itsm_signature stripe: Stripe-Signature "t=<ts>,v1=<hex>[,v1=...][,v0=...]"
# with HMAC-SHA256 over "<t>.<body>"; the key is the whole whsec_ string
# (not base64-decoded, unlike Standard Webhooks).  Stripe publishes no
# vector; the first test is the one recomputed in research/formats.md §D.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

use MIME::Base64 ();

our $Secret = 'whsec_test_secret';
our $Alert = '{"key": "st-1", "title": "Payment failed"}';

sub headers { ItsmSig::headers('stripe', secret => $Secret, body => $Alert, @_) }

ItsmConf::signed(ticket => 10, alerts => 'itsm_signature stripe secret=whsec_test_secret',
                 vector => ['itsm_signature_tolerance 4000d'], rotate => 'secret=whsec_rolled');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the recomputed vector
--- request
POST /vector
{"id":"evt_test"}
--- more_headers
Stripe-Signature: t=1700000000,v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e
--- error_code: 204



=== TEST 2: a signed alert creates a ticket
--- signed_alert



=== TEST 3: the wrong secret; the whsec_ key used base64-decoded (as Standard Webhooks would) is wrong too
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(secret => 'whsec_other'), ::headers(secret => MIME::Base64::decode_base64('test_secret'))]
--- error_code eval: [401, 401]
--- response_body_like eval: ['^\{"error":"signature_mismatch","message":"no stripe signature', 'signature_mismatch']
--- no_error_log
[error]



=== TEST 4: one changed byte of the body
--- changed_byte: st-1 st-0



=== TEST 5: no header; a header without t=; a header without v1=
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
[::headers(no_sig => 1), ::headers(value => 'v1=' . ('ab' x 32)),
 ::headers(value => 't=' . time() . ',v0=' . ('ab' x 32))]
--- error_code eval: [401, 401, 401]
--- response_body eval
["{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"Stripe-Signature\\\" header; it must be signed (stripe)\"}\n",
 "{\"error\":\"signature_malformed\",\"message\":\"the \\\"Stripe-Signature\\\" header is not a stripe signature\"}\n",
 "{\"error\":\"signature_malformed\",\"message\":\"the \\\"Stripe-Signature\\\" header is not a stripe signature\"}\n"]
--- no_error_log
[error]



=== TEST 6: two t= values are refused
--- request eval: "POST /down\n$::Alert"
--- more_headers eval
my $ts = time();
my $sig = Digest::SHA::hmac_sha256_hex("$ts.$::Alert", $::Secret);
::headers(value => "t=$ts,t=1,v1=$sig")
--- error_code: 401
--- response_body_like: signature_malformed



=== TEST 7: stale and future t=
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(ts => time() - 3600), ::headers(ts => time() + 3600)]
--- error_code eval: [401, 401]
--- response_body_like eval
['^\{"error":"timestamp_too_old","message":"the signature timestamp is 3[56]\d\d s old', '^\{"error":"timestamp_in_future","message":"the signature timestamp is 3[56]\d\d s in the future']



=== TEST 8: several v1 signatures (Stripe's own rotation) and a v0: one match is enough
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval
my $ts = time();
my $sig = Digest::SHA::hmac_sha256_hex("$ts.$::Alert", $::Secret);
::headers(value => "t=$ts, v1=" . ('00' x 32) . ", v1=$sig, v0=" . ('11' x 32))
--- error_code: 201



=== TEST 9: a replayed request is a duplicate
--- replayed
--- more_headers eval
my $h = ::headers(ts => time() - 1);
[$h, $h]



=== TEST 10: rotation: the old and the rolled secret
--- request eval: ["POST /rotate\n$::Alert", "POST /rotate\n$::Alert"]
--- more_headers eval: [::headers(), ::headers(secret => 'whsec_rolled')]
--- error_code eval: [204, 204]
--- response_headers eval: ["X-Secret: 1", "X-Secret: 2"]
