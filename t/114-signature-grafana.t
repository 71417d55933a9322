# itsm_signature grafana: X-Grafana-Alerting-Signature (configurable with
# header=) with the bare hex HMAC-SHA256 of the body, or of
# "<timestamp>:<body>" when timestamp_header= is set (Grafana has no default
# name for it).  Grafana publishes no vector; the first tests are the ones
# recomputed in research/formats.md §D.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmSig;

our $Alert = '{"key": "gr-1", "title": "High CPU"}';

# with the timestamp header of /alerts (header => another signature header)
sub headers {
    ItsmSig::headers('grafana_ts', secret => 'grafana-secret', body => $Alert,
                     ts_header => 'X-Grafana-Alerting-Signature-Timestamp', @_);
}

ItsmConf::signed(ticket => 11,
                 alerts => 'itsm_signature grafana timestamp_header=X-Grafana-Alerting-Signature-Timestamp secret=grafana-secret secret=grafana-next',
                 down => 'itsm_signature grafana timestamp_header=X-Grafana-Alerting-Signature-Timestamp secret=grafana-secret',
                 extra => ['add_header X-Secret $itsm_access_secret always'],
                 locations => <<'_EOC_');
    location = /plain {
        itsm_signature grafana secret=secret;
        try_files /.none =204;
    }

    location = /ts {
        itsm_signature grafana timestamp_header=X-Ts secret=secret;
        itsm_signature_tolerance 4000d;
        try_files /.none =204;
    }

    location = /renamed {
        itsm_signature grafana header=X-Signature secret=secret;
        try_files /.none =204;
    }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the recomputed vector, body only
--- request
POST /plain
test message
--- more_headers
X-Grafana-Alerting-Signature: 3bcebf43c85d20bba6e3b6ba278af1d2ba3ab0d57de271b0ad30b833e851c5a6
--- error_code: 204



=== TEST 2: the recomputed vector with a timestamp
--- request
POST /ts
test message
--- more_headers
X-Ts: 1700000000
X-Grafana-Alerting-Signature: 36fa366a807205a13fc507ea4413374566ad5808c7ca7653f94d121fe5e64c2d
--- error_code: 204



=== TEST 3: header= renames the signature header
--- request eval: ["POST /renamed\ntest message", "POST /renamed\ntest message"]
--- more_headers eval
["X-Signature: 3bcebf43c85d20bba6e3b6ba278af1d2ba3ab0d57de271b0ad30b833e851c5a6",
 "X-Grafana-Alerting-Signature: 3bcebf43c85d20bba6e3b6ba278af1d2ba3ab0d57de271b0ad30b833e851c5a6"]
--- error_code eval: [204, 401]



=== TEST 4: a signed alert creates a ticket
--- signed_alert



=== TEST 5: the wrong secret, and one changed byte
--- request eval: ["POST /down\n$::Alert", "POST /down\n" . substr($::Alert, 0, -2) . "X\"}"]
--- more_headers eval: [::headers(secret => 'nope'), ::headers()]
--- error_code eval: [401, 401]
--- response_body_like eval: ['^\{"error":"signature_mismatch","message":"no grafana signature', 'signature_mismatch']
--- no_error_log
[error]



=== TEST 6: no signature; no timestamp
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(no_sig => 1), ::headers(no_ts => 1)]
--- error_code eval: [401, 401]
--- response_body eval
["{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Grafana-Alerting-Signature\\\" header; it must be signed (grafana)\"}\n",
 "{\"error\":\"signature_missing\",\"message\":\"the request has no \\\"X-Grafana-Alerting-Signature-Timestamp\\\" header; the grafana signature covers it\"}\n"]



=== TEST 7: stale and future timestamps
--- request eval: ["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval: [::headers(ts => time() - 900), ::headers(ts => time() + 900)]
--- error_code eval: [401, 401]
--- response_body_like eval: ['timestamp_too_old', 'timestamp_in_future']



=== TEST 8: a replayed request is a duplicate
--- replayed



=== TEST 9: rotation: both secrets of the location
--- request eval: ["POST /alerts\n$::Alert", "POST /alerts\n$::Alert"]
--- more_headers eval: [::headers(secret => 'grafana-next', ts => time() - 2), ::headers(ts => time() - 3)]
--- error_code eval: [201, 201]
--- response_headers eval: ["X-Secret: 2", "X-Secret: 1"]
