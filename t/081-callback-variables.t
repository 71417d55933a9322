# The callback location's variables, through a log_format and a header:
# $itsm_callback_ticket, $itsm_callback_status (the ITSM's),
# $itsm_callback_state (mapped, "note" for a note), $itsm_callback_assignee
# and $itsm_callback_outcome; empty (escape=json) where a request said nothing
# (a refused token, a status the map lacks has no state), and nothing for
# a value with a control character.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmCallback;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);

our $Tok = 'itsmcb_test-token-of-the-variables-test-0000000000';
$ENV{TEST_NGINX_CB_TOK} = sha256_hex($Tok);

our $Http = <<'_EOC_' . ItsmCallback::mock();
    log_format itsm_cb escape=json '$itsm_callback_outcome t=$itsm_callback_ticket s=$itsm_callback_status st=$itsm_callback_state a=$itsm_callback_assignee';
_EOC_

our $Locations = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"$arg_id"}'; }
    location /mock/ { return 200 '{}'; }
    location = /alerts { itsm_source generic; itsm_field key /key; itsm_field title /title; itsm_pass mock; }
    location = /cb {
        access_log logs/cb.log itsm_cb;
        add_header X-Callback "$itsm_callback_outcome $itsm_callback_state" always;
        itsm_callback mock ticket=/ticket status=/status event_id=/txn note=/note;
    }
    location = /cblog { alias logs/cb.log; }
_EOC_

sub alert { qq{POST /alerts\n{"key": "db-1", "title": "T1", "status": "firing"}} }
sub cb { my ($json) = @_; "POST /cb\n$json" }

add_block_preprocessor(sub {
    my $b = shift;
    $b->set_value(timeout => 30) unless defined $b->timeout;
    $b->set_value(http_config => $::Http) unless defined $b->http_config;
    $b->set_value(config => $::Locations) unless defined $b->config;
    $b->set_value(more_headers => "Content-Type: application/json\nAuthorization: Bearer $::Tok\n")
        unless defined $b->more_headers;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: applied, a note, unmapped, unknown ticket, a control character: what the log and the header say
--- request eval: [::alert(), ::cb(q{{"ticket": "T1", "status": "stalled", "txn": "1"}}), ::cb(q{{"ticket": "T1", "note": "hi", "txn": "2"}}), ::cb(q{{"ticket": "T1", "status": "archived", "txn": "3"}}), ::cb(q{{"ticket": "T9", "status": "resolved", "txn": "4"}}), ::cb(q{{"ticket": "T1", "status": "re\r\nX-Evil: 1", "txn": "5"}}), "GET /cblog"]
--- error_code eval: [201, 200, 200, 200, 200, 200, 200]
--- response_headers_like eval
["", "X-Callback: applied acknowledged", "X-Callback: noted note", "X-Callback: unmapped ?", "X-Callback: unknown_ticket resolved", "X-Callback: unmapped ?", ""]
--- response_body_like eval
[qr/"ticket_id":"T1"/, qr/"outcome":"applied"/, qr/"outcome":"noted"/, qr/"outcome":"unmapped"/, qr/"outcome":"unknown_ticket"/, qr/"outcome":"unmapped"/,
 qr/^applied t=T1 s=stalled st=acknowledged a=\nnoted t=T1 s= st=note a=\nunmapped t=T1 s=archived st= a=\nunknown_ticket t=T9 s=resolved st=resolved a=\nunmapped t=T1 s= st= a=\n$/]



=== TEST 2: a token that is not the connector's: unauthorized, nothing else
--- more_headers
Content-Type: application/json
Authorization: Bearer itsmcb_wrong
--- request eval: [::cb(q{{"ticket": "T1", "status": "stalled", "txn": "1"}}), "GET /cblog"]
--- error_code eval: [401, 200]
--- response_headers_like eval
["X-Callback: unauthorized ?", ""]
--- response_body_like eval
[qr/"token_invalid"/, qr/^unauthorized t= s= st= a=\n$/]
