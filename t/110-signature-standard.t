# itsm_signature standard_webhooks: webhook-id, webhook-timestamp and
# webhook-signature ("v1,<base64>" ...), HMAC-SHA256 over id.timestamp.body
# with the base64 key of a whsec_ secret.  The published test vector of the
# Standard Webhooks libraries is the first test.  Refused requests go to an
# endpoint whose ITSM is a closed port: a delivery would log
# "connect() failed" at [error].
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use MIME::Base64 qw(encode_base64);
use ItsmConf;
use ItsmSig;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $Secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $NewSecret = 'whsec_' . encode_base64('0123456789abcdefghijklmn', '');
our $Alert = '{"key": "db-1", "title": "Disk full on db-1"}';

# the headers of a delivery signed now (ts => another time), with $Secret
# (secret => another)
sub headers {
    my (%o) = @_;
    return ItsmSig::headers('standard_webhooks', secret => $Secret, body => $Alert,
                            id => $o{id} // 'msg_' . int(rand(1e9)), %o);
}

# the published vector: its request, and its headers with a signature
our $VectorRequest = qq{POST /vector\n{"test": 2432232314}};

sub vector_headers {
    return "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\nwebhook-signature: v1,$_[0]\n";
}

# the published vector is from 2021: a tolerance of 4000 days
our $Config = ItsmConf::signed(ticket => 7,
                               alerts => 'itsm_signature standard_webhooks secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
                               vector => ['itsm_signature_tolerance 4000d', 'add_header X-Secret $itsm_access_secret always',
                                          'add_header X-Id $itsm_access_id always']);

# --- created: KEY: the alert KEY becomes ticket 7, answered and logged
ItsmConf::created(ticket => 7, answer => 1);

# a refused delivery is sent to /down, whose ITSM is a closed port: no
# [error] there shows that nothing was delivered
ItsmConf::defaults(request => "POST /down\n$Alert");
ItsmConf::defaults(no_error_log => sub { !ref $_[0]->request && $_[0]->request =~ m{^POST /down\n} ? "[error]\n" : undef });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the published test vector is accepted
--- request eval: $::VectorRequest
--- more_headers eval: ::vector_headers('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
--- error_code: 204
--- response_headers
X-Secret: 1
X-Id: msg_p5jXN8AQM9LWM0D4loKWxJek
--- no_error_log
[error]



=== TEST 2: the published negative vector is refused
--- request eval: $::VectorRequest
--- more_headers eval: ::vector_headers('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=')
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body
{"error":"signature_mismatch","message":"no standard_webhooks signature in the request matches the body with any of the secrets of this endpoint"}



=== TEST 3: a delivery signed now creates a ticket; the body reaches the content handler intact
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval: ::headers()
--- created: db-1



=== TEST 4: the wrong secret
--- more_headers eval: ::headers(secret => $::NewSecret)
--- error_code: 401
--- response_body_like: ^\{"error":"signature_mismatch",



=== TEST 5: one changed byte of the body
--- changed_byte: db-1"} db-2"}
--- response_body_like: ^\{"error":"signature_mismatch",



=== TEST 6: no webhook-signature header
--- more_headers eval: ::headers(no_sig => 1)
--- error_code: 401
--- response_body
{"error":"signature_missing","message":"the request has no \"webhook-signature\" header; it must be signed (standard_webhooks)"}



=== TEST 7: no webhook-id header
--- more_headers eval: ::headers(no_id => 1)
--- error_code: 401
--- response_body
{"error":"signature_missing","message":"the request has no \"webhook-id\" header; the standard_webhooks signature covers it"}



=== TEST 8: no webhook-timestamp header
--- more_headers eval: ::headers(no_ts => 1)
--- error_code: 401
--- response_body
{"error":"signature_missing","message":"the request has no \"webhook-timestamp\" header; the standard_webhooks signature covers it"}



=== TEST 9: a stale timestamp (10 minutes old), correctly signed
--- more_headers eval: ::headers(ts => time() - 600)
--- error_code: 401
--- response_body_like: ^\{"error":"timestamp_too_old","message":"the signature timestamp is [56]\d\d s old, more than the 300 s allowed \(itsm_signature_tolerance\): a replay, a late resend, or clock skew between the sender and this server"\}$



=== TEST 10: a timestamp 10 minutes in the future: clock skew
--- more_headers eval: ::headers(ts => time() + 600)
--- error_code: 401
--- response_body_like: ^\{"error":"timestamp_in_future","message":"the signature timestamp is [56]\d\d s in the future, more than the 300 s allowed \(itsm_signature_tolerance\): clock skew, the sender's clock or this server's is wrong"\}$



=== TEST 11: a timestamp inside the tolerance, 4 minutes either way, is fine
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::headers(ts => time() - 240), ::headers(ts => time() + 240)]
--- error_code eval: [201, 201]



=== TEST 12: the same delivery again: answered as a duplicate, not delivered twice
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval
my $h = ::headers(id => 'msg_replayed');
[$h, $h]
--- error_code eval: [201, 200]
--- response_body eval
['{"status":"created","alerts":[{"key":"db-1","action":"create","outcome":"created","connector":"mock","ticket_id":"7"}]}
',
'{"status":"duplicate","message":"this delivery was already accepted; it is not processed again"}
']



=== TEST 13: a resend re-signed with a new timestamp keeps its id: still a duplicate
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::headers(id => 'msg_resent', ts => time() - 30), ::headers(id => 'msg_resent')]
--- error_code eval: [201, 200]
--- response_body_like eval: ['"status":"created"', '"status":"duplicate"']



=== TEST 14: rotation: the old secret (inline) and the new one (a file) both pass
--- user_files eval: ">>> signed.secret\n# the new secret; the old one is in nginx.conf\n$::NewSecret\n"
--- config eval
$::Config . <<'_EOC_';
    location = /rotate {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                       secret=file:$TEST_NGINX_HTML_DIR/signed.secret;
        add_header X-Secret $itsm_access_secret always;
        try_files /.none =204;
    }
_EOC_
--- request eval: ["POST /rotate\n$::Alert", "POST /rotate\n$::Alert", "POST /rotate\n$::Alert"]
--- more_headers eval
[::headers(), ::headers(secret => $::NewSecret),
 ::headers(secret => 'whsec_' . MIME::Base64::encode_base64('some other key', ''))]
--- error_code eval: [204, 204, 401]
--- response_headers eval: ["X-Secret: 1", "X-Secret: 2", "X-Secret:"]



=== TEST 15: several signatures in the header; ed25519 (v1a) entries are skipped
--- request eval: "POST /alerts\n$::Alert"
--- more_headers eval
my $good = ItsmSig::value('standard_webhooks', secret => $::Secret, id => 'msg_many', body => $::Alert);
::headers(id => 'msg_many', value => "v1a,AAAA v1,c29tZXRoaW5nIGVsc2U= $good")
--- error_code: 201



=== TEST 16: a header without any v1 signature
--- more_headers eval: ::headers(value => "v2,abcd v1,not-base64!")
--- error_code: 401
--- response_body
{"error":"signature_malformed","message":"the \"webhook-signature\" header is not a standard_webhooks signature"}



=== TEST 17: a webhook-id with a "." could shift the signed content
--- more_headers eval: ::headers(id => 'msg.1')
--- error_code: 401
--- response_body_like: ^\{"error":"signature_malformed","message":"the \\"webhook-id\\" header is not one delivery id



=== TEST 18: a timestamp that is not a unix time
--- more_headers eval: ::headers(ts => '2026-11-22T10:00:00Z')
--- error_code: 401
--- response_body
{"error":"signature_malformed","message":"the signature timestamp is not a unix time in seconds"}



=== TEST 19: the signature header twice
--- more_headers eval: ::headers() . "webhook-signature: v1,AAAA\n"
--- error_code: 401
--- response_body
{"error":"signature_malformed","message":"the \"webhook-signature\" header appears 2 times"}



=== TEST 20: a secret from a variable
--- config eval
$::Config . <<'_EOC_';
    location = /var {
        set $whsec whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        itsm_signature standard_webhooks secret=$whsec;
        try_files /.none =204;
    }
_EOC_
--- request eval: ["POST /var\n$::Alert", "POST /var\n$::Alert"]
--- more_headers eval: [::headers(), ::headers(secret => $::NewSecret)]
--- error_code eval: [204, 401]



=== TEST 21: a GET without headers is refused before any body is read
--- request
GET /down
--- error_code: 401
--- response_body_like: signature_missing
--- no_error_log
[error]
