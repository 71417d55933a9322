# itsm_signature_replay: the seen-delivery cache in shared memory.  A delivery
# whose first attempt failed is forgotten, so that the sender's resend is
# handled afresh; a full cache evicts its oldest entries first.  (Duplicates
# of each scheme: t/11*.t; what takes real time or one nginx across blocks,
# in flight, expiry: t/122-replay-time.t; reloads: t/121-replay-reload.t.)
use Test::Nginx::Socket 'no_plan';
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use IO::Socket::INET;
use POSIX ();
use File::Temp qw(tempdir);

our $Tmp = tempdir(CLEANUP => 1);

our $Secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $Alert = '{"key": "rp-1", "title": "Replayed"}';

sub std {
    my ($id, $ts, $crlf) = @_;
    $ts //= time();
    my $nl = $crlf ? "\r\n" : "\n";
    (my $key = $Secret) =~ s/^whsec_//;
    my $sig = encode_base64(hmac_sha256("$id.$ts.$Alert", decode_base64($key)), '');
    return "Content-Type: application/json${nl}webhook-id: $id${nl}"
           . "webhook-timestamp: $ts${nl}webhook-signature: v1,$sig${nl}";
}

sub raw {
    my ($uri, $id, $ts) = @_;
    return "POST $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . std($id, $ts, 1) . "Content-Length: " . length($Alert)
           . "\r\n\r\n$Alert";
}

sub gh {
    my ($body) = @_;
    return "X-Hub-Signature-256: sha256=" . hmac_sha256_hex($body, 'gh') . "\n";
}

our $HttpConfig = <<'_EOC_';
    itsm_connector mock {
        location   /_itsm/mock;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
    itsm_connector down {
        location   /_itsm/down;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
    itsm_connector slow {
        location   /_itsm/slow;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
    itsm_signature_replay_zone seen:1m;
    itsm_signature_replay_zone tiny:32k;
_EOC_

our $Config = <<'_EOC_';
    location /_itsm/mock/ { internal; return 201 '{"id":"14"}'; }
    location /_itsm/down/ { internal; proxy_pass http://127.0.0.1:1/; }
    location /_itsm/slow/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }

    location = /alerts {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        itsm_signature_replay zone=seen;
        itsm_pass mock;
    }

    location = /down {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        itsm_signature_replay zone=seen;
        itsm_pass down;
    }

    location = /slow {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        itsm_signature_replay zone=seen;
        itsm_pass slow;
    }

    location = /short {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        itsm_signature_tolerance 3s;
        itsm_signature_replay zone=seen;
        try_files /.none =204;
    }

    location = /github {
        itsm_signature github secret=gh;
        itsm_signature_replay zone=seen ttl=1s;
        try_files /.none =204;
    }

    location = /tiny {
        itsm_signature github secret=gh;
        itsm_signature_replay zone=tiny ttl=1h;
        try_files /.none =204;
    }
_EOC_

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a delivery whose first attempt failed (503) is handled again when resent
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
["POST /down\n$::Alert", "POST /down\n$::Alert"]
--- more_headers eval
my $h = ::std('msg_failed');
[$h, $h]
--- error_code eval
[503, 503]
--- response_body_like eval
['"error":"itsm_unavailable"', '"error":"itsm_unavailable"']
--- error_log
connect() failed



=== TEST 2: a full zone forgets its oldest deliveries first, and keeps working
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval
[ map({ "POST /tiny\n$::Alert $_" } 1 .. 400), "POST /tiny\n$::Alert 400", "POST /tiny\n$::Alert 1" ]
--- more_headers eval
[ map({ ::gh("$::Alert $_") } 1 .. 400), ::gh("$::Alert 400"), ::gh("$::Alert 1") ]
--- error_code eval
[ (204) x 400, 200, 204 ]
--- no_error_log
[alert]
[crit]
