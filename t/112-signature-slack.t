# itsm_signature slack: X-Slack-Signature "v0=<hex>" of HMAC-SHA256 over
# "v0:<X-Slack-Request-Timestamp>:<body>".  The worked example of Slack's
# documentation is the first test (it is from 2018: a wide tolerance).
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Secret = '8f742231b10e8888abcd99yyyzzz85a5';
our $Alert = '{"key": "sl-1", "title": "Slash command"}';

our $SlackBody = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';

sub headers { ItsmSig::headers('slack', secret => $Secret, body => $Alert, @_) }

# /vector: Slack's example is from 2018, a wide tolerance
ItsmConf::signed(ticket => 9, alerts => 'itsm_signature slack secret=8f742231b10e8888abcd99yyyzzz85a5',
                 vector => ['itsm_signature_tolerance 4000d'], rotate => 'secret=the-new-signing-secret');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Slack's worked example
--- request eval: "POST /vector\n$::SlackBody"
--- more_headers
Content-Type: application/x-www-form-urlencoded
X-Slack-Request-Timestamp: 1531420618
X-Slack-Signature: v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503
--- error_code: 204



=== TEST 2: a signed alert creates a ticket
--- signed_alert



=== TEST 3: the wrong secret
--- request eval: "POST /down\n$::Alert"
--- more_headers eval: ::headers(secret => 'another-signing-secret')
--- error_code: 401
--- response_body_like: ^\{"error":"signature_mismatch","message":"no slack signature
--- no_error_log
[error]



=== TEST 4: one changed byte of the body
--- changed_byte: sl-1 sl-2



=== TEST 5: no signature, then no timestamp
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(no_sig => 1), ::headers(no_ts => 1)]
--- error_code eval: [401, 401]
--- response_body eval
["{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Slack-Signature\\\" header; it must be signed (slack)\"}\n",
 "{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Slack-Request-Timestamp\\\" header; the slack signature covers it\"}\n"]
--- no_error_log
[error]



=== TEST 6: stale and future timestamps
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(ts => time() - 301 - 5), ::headers(ts => time() + 400)]
--- error_code eval: [401, 401]
--- response_body_like eval: ['^\{"error":"timestamp_too_old",', '^\{"error":"timestamp_in_future",.*clock skew']
--- no_error_log
[error]



=== TEST 7: a replayed request is a duplicate
--- replayed



=== TEST 8: rotation: the old and the new signing secret
--- request eval: ["POST /rotate\n$::Alert", "POST /rotate\n$::Alert", "POST /rotate\n$::Alert"]
--- more_headers eval: [::headers(), ::headers(secret => 'the-new-signing-secret'), ::headers(secret => 'x')]
--- error_code eval: [204, 204, 401]
--- response_headers eval: ["X-Secret: 1", "X-Secret: 2", "X-Secret:"]



=== TEST 9: a signature without "v0="
--- request eval: "POST /down\n$::Alert"
--- more_headers eval
my $h = ::headers();
$h =~ s/v0=//;
$h
--- error_code: 401
--- response_body_like: signature_malformed
