# Alert bodies are parsed by the module's own parser
# (ngx_http_itsm_json_parse.c), which must give exactly what jansson's
# json_loadb(JSON_REJECT_DUPLICATES) gave before it: the same values (the
# ITSM gets them through a JSON Pointer of the connector's template,
# dumped as JSON text), and for what it declines, jansson's own answer
# byte for byte -- duplicate keys at any depth, "\u0000", lone
# surrogates, invalid UTF-8, numbers out of range -- and "too_deep" at
# one level past itsm_max_depth, before any other complaint.  Every
# answer here is the one the module gave with jansson alone.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmSource;
use ItsmConf;

# no store: every firing alert creates, and its "v" reaches the ITSM
our $HttpConfig = <<'_EOC_';
    log_format itsm_sent escape=none '$request_body';
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"v": "{{ /v }}", "t": "{{ title }}"}';
        ticket_id /id;
    }
_EOC_

# a block with "--- v" (the JSON text of the alert's "v") and "--- sent"
# (what the ITSM must get): the alert is created, then the ITSM's log (set
# first: the defaults of a block with a request follow)
ItsmConf::defaults(when => 'sent', request => sub { [::alert($_[0]->v), "GET /sent"] }, error_code => [201, 200],
                   response_body => sub { [$::Created, $_[0]->sent] }, no_error_log => "[error]\n");

ItsmConf::defaults(when => 'request', config => ItsmSource::config(
    'itsm_max_depth 4; client_body_buffer_size 1k;'),
    more_headers => "Content-Type: application/json\n");
ItsmConf::defaults(http_config => $HttpConfig);

sub alert { "POST /alerts\n" . '{"key": "k", "title": "t", "v": ' . $_[0] . '}' }

# the answer to a create, and the ITSM's log after it
our $Created = ItsmSource::answer(['k', 'create', 'created', 'T1']);
sub sent { join '', map { "{\"v\":\"$_\",\"t\":\"t\"}\n" } @_ }

# a value that is no string is the template's value as it is, JSON text
sub sent_json { join '', map { "{\"v\":$_,\"t\":\"t\"}\n" } @_ }

# jansson's message, as the module escapes it into its answer
sub invalid { (my $m = $_[0]) =~ s/(["\\])/\\$1/g;
              qq{{"error":"invalid_json","message":"the body is not valid JSON: $m"}\n} }

our $TooDeep = qq{{"error":"too_deep","message":"the JSON is nested deeper than 4 levels (itsm_max_depth)"}\n};

# 80 lines of a log with escapes and UTF-8, 3.5 KiB in the body; and as
# the ITSM gets it, escaped again by the template
our $Long = join '', map { "line $_: \\\"quoted\\\"\\tand \\u00e9t\\u00e9 \xe2\x82\xac\\n" } 1 .. 80;
our $LongSent = join '', map { "line $_: \\\"quoted\\\"\\tand \xc3\xa9t\xc3\xa9 \xe2\x82\xac\\n" } 1 .. 80;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: strings: escapes decoded, a surrogate pair is one character, UTF-8 kept as it is
--- v eval: '"a\"b\\\\c\/d\b\f\n\r\t \u00e9 \u20ac \ud83d\ude00 \uD83D\uDE00 é € 😀"'
--- sent eval: ::sent('a\\"b\\\\c/d\\b\\f\\n\\r\\t é € 😀 😀 é € 😀')



=== TEST 2: numbers: -0 is the integer 0, the extremes of a 64-bit integer, reals as jansson prints them (an underflow is 0.0)
--- v eval: '[-0, 0, -9223372036854775808, 9223372036854775807, 1.5, -2.5e3, 1E2, 1e-400, -0.0]'
--- sent eval: ::sent_json('[0,0,-9223372036854775808,9223372036854775807,1.5,-2500.0,100.0,0.0,-0.0]')



=== TEST 3: objects keep their members' order, with escaped keys; true, false, null, empty containers
--- v eval: '{"z": 1, "a\"b": true, "m": false, "n": null, "e": {}, "l": [ ], "": "empty key"}'
--- sent eval: ::sent_json('{"z":1,"a\\"b":true,"m":false,"n":null,"e":{},"l":[],"":"empty key"}')



=== TEST 4: nested exactly itsm_max_depth deep (4: the alert's object and three arrays) is parsed
--- v eval: '[[[1]]]'
--- sent eval: ::sent_json('[[[1]]]')



=== TEST 5: one level past itsm_max_depth is too deep
--- request eval: ::alert('[[[[1]]]]')
--- error_code: 400
--- response_body eval: $::TooDeep



=== TEST 6: one level past itsm_max_depth with objects, the depth reached inside a string's brackets not counted
--- request eval: ::alert('{"a": {"b": "[[[[{{{{", "c": {"d": {}}}}')
--- error_code: 400
--- response_body eval: $::TooDeep



=== TEST 7: too deep comes before invalid, wherever the error is
--- request eval
[::alert('[[[[1]]]], oops}'), "POST /alerts\n" . '{"key": oops, "v": [[[[1]]]]}']
--- error_code eval: [400, 400]
--- response_body eval
[$::TooDeep, $::TooDeep]



=== TEST 8: a key given twice deep inside is refused by name, as at the top
--- request eval
[::alert('{"a": {"b": 1, "b": 2}}'), "POST /alerts\n" . '{"key": "k", "v": [{"x": 1}, {"y": 1, "y": 1}]}']
--- error_code eval: [400, 400]
--- response_body eval
[::invalid(q{duplicate object key near '"b"' (line 1, column 50)}),
 ::invalid(q{duplicate object key near '"y"' (line 1, column 41)})]



=== TEST 9: "\u0000" is refused, in a value and in a key
--- request eval
[::alert('"a\u0000b"'), ::alert('{"a\u0000": 1}')]
--- error_code eval: [400, 400]
--- response_body eval
[::invalid(q{\u0000 is not allowed without JSON_ALLOW_NUL near '"a\u0000b"' (line 1, column 42)}),
 ::invalid(q{NUL byte in object key not supported near '"a\u0000"' (line 1, column 42)})]



=== TEST 10: lone surrogates are refused: a low one, a high one at the end, a high one before another character
--- request eval
[::alert('"\udc00"'), ::alert('"x\ud800"'), ::alert('"\ud800\u0041"')]
--- error_code eval: [400, 400, 400]
--- response_body eval
[::invalid(q{invalid Unicode '\uDC00' near '"\udc00"' (line 1, column 40)}),
 ::invalid(q{invalid Unicode '\uD800' near '"x\ud800"' (line 1, column 41)}),
 ::invalid(q{invalid Unicode '\uD800\u0041' near '"\ud800\u0041"' (line 1, column 46)})]



=== TEST 11: invalid UTF-8 in a string: an overlong form, an encoded surrogate, past U+10FFFF, a cut sequence
--- request eval
[::alert(qq{"\xc0\x80"}), ::alert(qq{"\xed\xa0\x80"}), ::alert(qq{"\xf4\x90\x80\x80"}), ::alert(qq{"\xe2\x82"})]
--- error_code eval: [400, 400, 400, 400]
--- response_body eval
[::invalid(q{unable to decode byte 0xc0 near '"' (line 1, column 33)}),
 ::invalid(q{unable to decode byte 0xed near '"' (line 1, column 33)}),
 ::invalid(q{unable to decode byte 0xf4 near '"' (line 1, column 33)}),
 ::invalid(q{unable to decode byte 0xe2 near '"' (line 1, column 33)})]



=== TEST 12: integers past 64 bits and reals past a double are refused
--- request eval
[::alert('18446744073709551616'), ::alert('-9223372036854775809'), ::alert('9223372036854775808'), ::alert('1e400'), ::alert('-1e400')]
--- error_code eval: [400, 400, 400, 400, 400]
--- response_body eval
[::invalid(q{too big integer near '18446744073709551616' (line 1, column 52)}),
 ::invalid(q{too big negative integer near '-9223372036854775809' (line 1, column 52)}),
 ::invalid(q{too big integer near '9223372036854775808' (line 1, column 51)}),
 ::invalid(q{real number overflow near '1e400' (line 1, column 37)}),
 ::invalid(q{real number overflow near '-1e400' (line 1, column 38)})]



=== TEST 13: bad syntax: a leading zero, a bare point, a word with more letters, a trailing comma, text after the object
--- request eval
[::alert('01'), ::alert('1.'), ::alert('truex'), ::alert('[1,]'), "POST /alerts\n" . '{"key": "k"} x']
--- error_code eval: [400, 400, 400, 400, 400]
--- response_body eval
[::invalid(q{invalid token near '0' (line 1, column 33)}),
 ::invalid(q{invalid token near '1.' (line 1, column 34)}),
 ::invalid(q{invalid token near 'truex' (line 1, column 37)}),
 ::invalid(q{unexpected token near ']' (line 1, column 36)}),
 ::invalid(q{end of file expected near 'x' (line 1, column 14)})]



=== TEST 14: a body of 3 KiB, past client_body_buffer_size (read from its temp file), reaches the ITSM whole
--- v eval: '"' . $::Long . '"'
--- sent eval: ::sent($::LongSent)



=== TEST 15: a JSON Pointer segment names a key of up to 256 bytes; one byte longer names nothing (unescaped, and with "~1")
--- http_config eval
my $k256 = 'k' x 256; my $k257 = 'k' x 257; my $e256 = 'k' x 254 . '~1';
qq{    log_format itsm_sent escape=none '\$request_body';
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"a": "{{ /$k256 }}", "b": "{{ /$k257 }}", "c": "{{ /$e256 }}"}';
        ticket_id /id;
    }
}
--- request eval
["POST /alerts\n" . '{"key": "k", "' . ('k' x 256) . '": "256", "' . ('k' x 257) . '": "257", "' . ('k' x 254) . '/": "escaped"}', "GET /sent"]
--- error_code eval: [201, 200]
--- response_body eval
[$::Created, qq{{"a":"256","b":null,"c":"escaped"}\n}]
--- no_error_log
[error]
