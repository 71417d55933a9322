# The body is read whole in the access phase and verified over its raw
# bytes wherever nginx keeps it: several memory buffers, a temporary file,
# a chunked body, a body that arrives late.  It stays in place for the
# content handler.  Bodies over itsm_max_body get 413 with a JSON error,
# before anything is read when Content-Length announces them.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmHttp;
use ItsmSig;

our $Secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $Big = '{"key": "big-1", "title": "A large alert", "description": "'
           . ('0123456789abcdef' x 1250) . '"}';
our $Small = '{"key": "small-1", "title": "A small alert"}';

# a JSON alert of exactly $n bytes
sub sized {
    my ($n) = @_;
    my $head = '{"key": "edge-' . $n . '", "title": "t", "pad": "';
    return $head . ('p' x ($n - length($head) - 2)) . '"}';
}

# a POST signed with $Secret as raw bytes; chunked => N as chunks of N bytes
sub raw {
    my ($uri, $body, $id, %o) = @_;
    return ItsmHttp::raw($uri, ItsmSig::headers('standard_webhooks', secret => $Secret,
                                                id => $id, body => $body), $body, %o);
}

our $HttpConfig = ItsmConf::connector('mock', body => '{"title": "{{ title }}", "size": "{{ description }}"}')
                  . ItsmConf::connector('down');

# the signature of every location, and the answer of those that only check
our $Sig = 'itsm_signature standard_webhooks secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our @Checked = ('add_header X-Result $itsm_access_result always', 'try_files /.none =204');

our $Config = ItsmConf::access_itsm(13)
    . ItsmConf::location('/alerts', 'client_body_buffer_size 1k', $Sig, 'itsm_pass mock')
    . ItsmConf::location('/file-only', 'client_body_in_file_only clean', $Sig, 'itsm_pass mock')
    . ItsmConf::location('/edge', 'client_body_buffer_size 1k', 'itsm_max_body 4k', $Sig, @Checked)
    . ItsmConf::location('/limited', 'client_body_buffer_size 1k', 'itsm_max_body 4k', $Sig, 'itsm_pass down')
    . ItsmConf::location('/own', 'client_body_buffer_size 1k', 'itsm_access_max_body 4k', $Sig, @Checked)
    . ItsmConf::location('/own-first', 'client_body_buffer_size 1k', 'itsm_max_body 8k', 'itsm_access_max_body 4k',
                         $Sig, 'itsm_pass mock')
    . "    location /outer/ {\n        itsm_access_max_body 4k;\n"
    . ItsmConf::location('/outer/in', $Sig, 'try_files /.none =204') =~ s/^/    /gmr
    . "    }\n"
    . ItsmConf::location('/default', 'client_max_body_size 1m', $Sig, @Checked);

ItsmConf::defaults(http_config => $HttpConfig, config => $Config);

# --- created: KEY: the alert KEY passes and becomes ticket 13
ItsmConf::created(ticket => 13);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a 20 KB body in a temporary file is verified and reaches the content handler
--- raw_request eval: ::raw('/alerts', $::Big, 'msg_big')
--- response_body_like: "ticket_id":"13"
--- error_log
a client request body is buffered to a temporary file
--- created: big-1



=== TEST 2: one changed byte at the end of a body in a temporary file
--- raw_request eval
my $r = ::raw('/alerts', $::Big, 'msg_big2');
$r =~ s/ef"\}$/eF"}/;
$r
--- error_code: 401
--- response_body_like: signature_mismatch
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
created ticket



=== TEST 3: client_body_in_file_only: the body is only in the file
--- raw_request eval: ::raw('/file-only', $::Small, 'msg_file')
--- created: small-1



=== TEST 4: a chunked body, in many small chunks and several buffers
--- raw_request eval: ::raw('/alerts', $::Big, 'msg_chunked', chunked => 777)
--- created: big-1



=== TEST 5: a body that arrives in two parts: the access phase waits and resumes
--- raw_request eval
my $r = ::raw('/alerts', $::Small, 'msg_slow');
[substr($r, 0, -20), substr($r, -20)]
--- raw_request_middle_delay: 0.3
--- error_log
itsm access: waiting for the body
itsm access: body read, async:1
--- created: small-1



=== TEST 6: a slow body with a wrong signature is refused after it is read
--- raw_request eval
my $r = ::raw('/alerts', $::Small, 'msg_slow2');
$r =~ s/small-1/small-2/;
[substr($r, 0, -20), substr($r, -20)]
--- raw_request_middle_delay: 0.3
--- error_code: 401
--- response_body_like: signature_mismatch
--- error_log
itsm access: body read, async:1
--- no_error_log
created ticket



=== TEST 7: Content-Length over itsm_max_body: 413 before anything is read
--- raw_request eval: ::raw('/limited', $::Big, 'msg_large')
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 20061 bytes, more than the 4096 allowed by itsm_max_body"}
--- no_error_log
a client request body is buffered to a temporary file
[error]



=== TEST 8: a chunked body over itsm_max_body: 413 once it is read
--- raw_request eval: ::raw('/limited', $::Big, 'msg_large2', chunked => 4000)
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 20061 bytes, more than the 4096 allowed by itsm_max_body"}
--- no_error_log
[error]



=== TEST 9: a signed empty body (Content-Length: 0) is verified like any other
--- config eval
$::Config . <<'_EOC_';
    location = /verify {
        itsm_signature standard_webhooks
                       secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        try_files /.none =204;
    }
_EOC_
--- raw_request eval: ::raw('/verify', '', 'msg_empty')
--- error_code: 204



=== TEST 10: a refusal before the body is read keeps the connection usable
--- pipelined_requests eval: ["POST /alerts\n$::Small", "GET /nope"]
--- more_headers
Content-Type: application/json
--- error_code eval: [401, 404]



=== TEST 11: itsm_max_body 4k: a Content-Length of exactly 4096 bytes is read and verified
--- raw_request eval: ::raw('/edge', ::sized(4096), 'msg_edge_1')
--- error_code: 204
--- response_headers
X-Result: passed



=== TEST 12: ... 4097 bytes are refused before they are read
--- raw_request eval: ::raw('/edge', ::sized(4097), 'msg_edge_2')
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_max_body"}



=== TEST 13: ... a chunked body of exactly 4096 bytes is read and verified
--- raw_request eval: ::raw('/edge', ::sized(4096), 'msg_edge_3', chunked => 1000)
--- error_code: 204
--- response_headers
X-Result: passed
--- no_error_log
[alert]
[error]



=== TEST 14: ... and a chunked body of 4097 bytes is refused once read
--- raw_request eval: ::raw('/edge', ::sized(4097), 'msg_edge_4', chunked => 1000)
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_max_body"}
--- no_error_log
[alert]
[error]



=== TEST 15: itsm_access_max_body 4k guards a location without itsm_pass: exactly 4096 bytes are read and verified, 4097 refused before they are read
--- raw_request eval: [::raw('/own', ::sized(4096), 'msg_own_1'), ::raw('/own', ::sized(4097), 'msg_own_2')]
--- error_code eval: [204, 413]
--- response_headers eval: ["X-Result: passed", "X-Result: body_too_large"]
--- response_body eval
["", qq({"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_access_max_body"}\n)]



=== TEST 16: ... a chunked body of exactly 4096 bytes is read and verified, one of 4097 refused once read
--- raw_request eval
[::raw('/own', ::sized(4096), 'msg_own_3', chunked => 1000),
 ::raw('/own', ::sized(4097), 'msg_own_4', chunked => 1000)]
--- error_code eval: [204, 413]
--- response_body eval
["", qq({"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_access_max_body"}\n)]



=== TEST 17: itsm_access_max_body wins over the location's itsm_max_body (8k) in the access phase
--- raw_request eval: ::raw('/own-first', ::sized(4097), 'msg_own_5')
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_access_max_body"}
--- no_error_log
created ticket



=== TEST 18: itsm_access_max_body is inherited from the enclosing location: 4096 bytes pass, 4097 do not
--- raw_request eval: [::raw('/outer/in', ::sized(4096), 'msg_own_6'), ::raw('/outer/in', ::sized(4097), 'msg_own_7')]
--- error_code eval: [204, 413]
--- response_body eval
["", qq({"error":"body_too_large","message":"the body has 4097 bytes, more than the 4096 allowed by itsm_access_max_body"}\n)]



=== TEST 19: without either directive the limit is itsm_max_body's default, 256k: 262144 bytes pass, 262145 do not
--- raw_request eval: [::raw('/default', ::sized(262144), 'msg_default_1'), ::raw('/default', ::sized(262145), 'msg_default_2')]
--- error_code eval: [204, 413]
--- response_body eval
["", qq({"error":"body_too_large","message":"the body has 262145 bytes, more than the 262144 allowed by itsm_max_body"}\n)]
