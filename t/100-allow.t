# itsm_allow: CIDR allowlists, IPv4 and IPv6, inline and from files, behind
# the realip module.  A refused client gets 403 with a JSON error, the log
# names its address at itsm_allow_log_level, and nothing reaches the
# content handler: the alert endpoint's ITSM is a closed port, so any
# delivery would log "connect() failed" at [error].
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# a cloud provider's published ranges run to thousands of lines
our $Ranges = "# generated: 5000 IPv4 /24s, 2000 IPv6 /48s, comments\n\n";
for my $i (0 .. 4999) {
    $Ranges .= sprintf("10.%d.%d.0/24\n", $i >> 8, $i & 255);
}
for my $i (0 .. 1999) {
    $Ranges .= sprintf("  2001:db8:%x::/48   # region %d\n", $i, $i % 7);
}
$Ranges .= "203.0.113.77\n\r\n# the end\n";

our $HttpConfig = ItsmConf::connector('down');

# realip: the client address is the X-Forwarded-For of the test's requests
our $RealIp = "    set_real_ip_from 127.0.0.1;\n    real_ip_header X-Forwarded-For;\n";

# location /t with @lines, which serves a file when the client passes
sub allow_t {
    my (@lines) = @_;
    return ItsmConf::location('/t', @lines, 'alias $TEST_NGINX_HTML_DIR/index.html');
}

our $Alert = '{"key": "a", "title": "t"}';

# [address, allowed] pairs as a block's cases
sub edges {
    my (@pairs) = @_;
    return ItsmConf::cases_of(map { ["GET /t", "X-Forwarded-For: $_->[0]", $_->[1] ? 204 : 403,
                                     $_->[1] ? 'passed' : 'address_not_allowed'] } @pairs);
}

our $EdgeConfig = $RealIp . <<'_EOC_';
    location = /t {
        itsm_allow 203.0.113.0/24 198.51.100.128/25 192.0.2.7 192.0.2.9/32
                   100.64.0.0/10 10.0.0.0/8 172.16.0.0/12 192.0.2.64/31;
        itsm_allow 2001:db8:1::/48 2001:db8::10/127 2001:db8:0:1:8000::/65
                   2001:db8:ff::1 fd00::/7;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
_EOC_

# every prefix edge of $EdgeConfig: the last address below, the first and
# the last inside, the first above
our $V4 = edges(
    ['203.0.112.255', 0], ['203.0.113.0', 1], ['203.0.113.255', 1], ['203.0.114.0', 0],
    ['198.51.100.127', 0], ['198.51.100.128', 1], ['198.51.100.255', 1], ['198.51.101.0', 0],
    ['192.0.2.6', 0], ['192.0.2.7', 1], ['192.0.2.8', 0], ['192.0.2.9', 1], ['192.0.2.10', 0],
    ['100.63.255.255', 0], ['100.64.0.0', 1], ['100.127.255.255', 1], ['100.128.0.0', 0],
    ['9.255.255.255', 0], ['10.0.0.0', 1], ['10.255.255.255', 1], ['11.0.0.0', 0],
    ['172.15.255.255', 0], ['172.16.0.0', 1], ['172.31.255.255', 1], ['172.32.0.0', 0],
    ['192.0.2.63', 0], ['192.0.2.64', 1], ['192.0.2.65', 1], ['192.0.2.66', 0]);

our $V6 = edges(
    ['2001:db8:0:ffff:ffff:ffff:ffff:ffff', 0], ['2001:db8:1::', 1],
    ['2001:db8:1:ffff:ffff:ffff:ffff:ffff', 1], ['2001:db8:2::', 0],
    ['2001:db8::f', 0], ['2001:db8::10', 1], ['2001:db8::11', 1], ['2001:db8::12', 0],
    ['2001:db8:0:1:7fff:ffff:ffff:ffff', 0], ['2001:db8:0:1:8000::', 1],
    ['2001:db8:0:1:ffff:ffff:ffff:ffff', 1], ['2001:db8:0:2::', 0],
    ['2001:db8:ff::', 0], ['2001:db8:ff::1', 1], ['2001:db8:ff::2', 0],
    ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 0], ['fc00::', 1],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1], ['fe00::', 0]);

# an IPv4-mapped address is its IPv4 address: the same answers
our $Mapped = edges(map { ["::ffff:$_->[0]", $_->[1]] }
    ['203.0.112.255', 0], ['203.0.113.0', 1], ['203.0.113.255', 1], ['203.0.114.0', 0],
    ['198.51.100.127', 0], ['198.51.100.128', 1], ['198.51.100.255', 1], ['198.51.101.0', 0],
    ['192.0.2.6', 0], ['192.0.2.7', 1], ['192.0.2.8', 0],
    ['100.63.255.255', 0], ['100.64.0.0', 1], ['100.127.255.255', 1], ['100.128.0.0', 0]);

ItsmConf::cases();

# a block that starts nginx asks for /t, unless it says otherwise
ItsmConf::defaults(request => sub { defined $_[0]->must_die ? undef : "GET /t" });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an address in an inline prefix is let through
--- config
    location /in/ {
        itsm_allow 192.0.2.0/24 127.0.0.0/8;
        alias $TEST_NGINX_HTML_DIR/;
    }
--- request
GET /in/index.html
--- response_body_like: It works
--- no_error_log
[error]



=== TEST 2: an address outside every prefix: 403, JSON, logged with the address at error
--- http_config eval: $::HttpConfig
--- config
    location /_itsm/down/ { internal; proxy_pass http://127.0.0.1:1/; }
    location = /alerts {
        itsm_allow 192.0.2.0/24 2001:db8::/32;
        itsm_pass down;
    }
--- request eval: "POST /alerts\n$::Alert"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body
{"error":"address_not_allowed","message":"the client address 127.0.0.1 is not allowed to send here"}
--- error_log eval: qr/\[error\] .*itsm: client 127\.0\.0\.1 is not in the itsm_allow list/
--- no_error_log
connect() failed
itsm deliver
itsm: connector



=== TEST 3: itsm_allow_log_level sets the level of that line
--- config eval: ::allow_t('itsm_allow 192.0.2.1', 'itsm_allow_log_level info')
--- error_code: 403
--- error_log eval: qr/\[info\] .*itsm: client 127\.0\.0\.1 is not in the itsm_allow list/
--- no_error_log
[error]
[warn]



=== TEST 4: behind realip, the forwarded IPv4 address is the one checked
--- config eval: $::RealIp . ::allow_t('itsm_allow 203.0.113.0/24')
--- request eval: ["GET /t", "GET /t"]
--- more_headers eval: ["X-Forwarded-For: 203.0.113.9", "X-Forwarded-For: 198.51.100.1"]
--- error_code eval: [200, 403]
--- response_body_like eval: ["It works", "the client address 198\\.51\\.100\\.1 is not allowed"]



=== TEST 5: IPv6 prefixes, through realip
--- config eval: $::RealIp . ::allow_t('itsm_allow 2001:db8:1::/48 192.0.2.0/24')
--- request eval: ["GET /t", "GET /t", "GET /t"]
--- more_headers eval: ["X-Forwarded-For: 2001:db8:1:ffff::7", "X-Forwarded-For: 2001:db8:2::7", "X-Forwarded-For: 192.0.2.200"]
--- error_code eval: [200, 403, 200]



=== TEST 6: a refused IPv6 client is named in the answer and the log
--- config eval: $::RealIp . ::allow_t('itsm_allow 2001:db8:1::/48')
--- more_headers
X-Forwarded-For: 2001:db8:2::7
--- error_code: 403
--- response_body
{"error":"address_not_allowed","message":"the client address 2001:db8:2::7 is not allowed to send here"}
--- error_log
client 2001:db8:2::7 is not in the itsm_allow list



=== TEST 7: an IPv4-mapped IPv6 address is matched against the IPv4 prefixes
--- config eval: $::RealIp . ::allow_t('itsm_allow 203.0.113.0/24')
--- more_headers
X-Forwarded-For: ::ffff:203.0.113.9
--- error_code: 200



=== TEST 8: thousands of prefixes from a file, with comments and blank lines
--- user_files eval: ">>> ranges.txt\n$::Ranges"
--- config eval: $::RealIp . ::allow_t('itsm_allow file=$TEST_NGINX_HTML_DIR/ranges.txt')
--- request eval: ["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 10.19.135.4", "X-Forwarded-For: 10.19.136.4",
 "X-Forwarded-For: 2001:db8:7cf:1::1", "X-Forwarded-For: 2001:db8:7d0::1",
 "X-Forwarded-For: 203.0.113.77", "X-Forwarded-For: 203.0.113.78"]
--- error_code eval: [200, 403, 200, 403, 200, 403]



=== TEST 9: inline addresses and a file add up; several itsm_allow lines too
--- user_files
>>> few.txt
192.0.2.0/24
--- config eval: ::allow_t('itsm_allow file=$TEST_NGINX_HTML_DIR/few.txt', 'itsm_allow 127.0.0.1')
--- error_code: 200



=== TEST 10: a location's itsm_allow replaces the server's; "off" clears it
--- config
    itsm_allow 192.0.2.0/24;
    location = /server { alias $TEST_NGINX_HTML_DIR/index.html; }
    location = /own { itsm_allow 127.0.0.1; alias $TEST_NGINX_HTML_DIR/index.html; }
    location = /off { itsm_allow off; alias $TEST_NGINX_HTML_DIR/index.html; }
--- request eval: ["GET /server", "GET /own", "GET /off"]
--- error_code eval: [403, 200, 200]



=== TEST 11: "satisfy any" with "allow all" cannot overrule a refusal
--- config eval: ::allow_t('satisfy any', 'allow all', 'itsm_allow 192.0.2.0/24')
--- error_code: 403
--- response_body_like: address_not_allowed



=== TEST 12: nginx's own deny still applies to an allowed address
--- config eval: ::allow_t('itsm_allow 127.0.0.1', 'deny all')
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule



=== TEST 13: the whole IPv4 space (0.0.0.0/0) is a valid, if pointless, list
--- config
    location = /t { itsm_allow 0.0.0.0/0; alias $TEST_NGINX_HTML_DIR/index.html; }
--- error_code: 200



=== TEST 14: host bits set in a prefix: a warning, as nginx's allow gives
--- config
    location = /t { itsm_allow 127.0.0.1/8; alias $TEST_NGINX_HTML_DIR/index.html; }
--- error_code: 200
--- error_log eval: qr/\[warn\] .*itsm_allow: low address bits of "127\.0\.0\.1\/8" are meaningless/



=== TEST 15: an invalid inline address fails at load with file and line
--- config
    location = /t { itsm_allow 10.0.0.0/33; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_allow: invalid address "10\.0\.0\.0\/33"; write an address, a prefix such as 192\.0\.2\.0\/24 or 2001:db8::\/32, or file=<path> in \S+nginx\.conf:\d+/



=== TEST 16: an invalid line in a file names the file and the line
--- user_files
>>> bad.txt
# ok so far
192.0.2.0/24

192.0.2.300/32
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/bad.txt; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_allow: invalid address "192\.0\.2\.300\/32" on line 4 of "\S+bad\.txt"; .* in \S+nginx\.conf:\d+/



=== TEST 17: two addresses on one line of a file
--- user_files
>>> two.txt
192.0.2.0/24 198.51.100.0/24
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/two.txt; }
--- must_die
--- error_log eval: qr/\[emerg\] .*itsm_allow: more than one address on line 1 of "\S+two\.txt"/



=== TEST 18: a file that cannot be read
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/nope.txt; }
--- must_die
--- error_log eval: qr/\[emerg\] .*open\(\) "\S+nope\.txt" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 19: a file without any address would refuse everybody
--- user_files
>>> empty.txt
# nothing here yet
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/empty.txt; }
--- must_die
--- error_log eval: qr/\[emerg\] .*itsm_allow: "\S+empty\.txt" lists no address; an empty allowlist would refuse every client/



=== TEST 20: "off" mixed with addresses
--- config
    location = /t { itsm_allow off 127.0.0.1; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_allow off" cannot be combined with addresses in the same block in \S+nginx\.conf:\d+/



=== TEST 21: an unknown log level
--- config
    location = /t { itsm_allow 127.0.0.1; itsm_allow_log_level debug; }
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid value "debug" in \S+nginx\.conf:\d+/



=== TEST 22: IPv4: both sides of every prefix's edges (/8, /10, /12, /24, /25, /31, /32)
--- config eval: $::EdgeConfig
--- cases eval: $::V4



=== TEST 23: IPv6: both sides of every prefix's edges (/7, /48, /65, /127, /128)
--- config eval: $::EdgeConfig
--- cases eval: $::V6



=== TEST 24: an IPv4-mapped client (::ffff:a.b.c.d) gets the answer of its IPv4 address, on both sides of the edges
--- config eval: $::EdgeConfig
--- cases eval: $::Mapped



=== TEST 25: a mapped prefix in the list (::ffff:198.51.100.0/120) is the IPv4 prefix it maps: both spellings of a client match it
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow ::ffff:198.51.100.0/120 ::ffff:192.0.2.1;
        add_header X-Result $itsm_access_result always;
        try_files /.none =204;
    }
--- request eval: [("GET /t") x 10]
--- more_headers eval
[map { "X-Forwarded-For: $_" } '198.51.99.255', '198.51.100.0', '198.51.100.255',
 '198.51.101.0', '::ffff:198.51.99.255', '::ffff:198.51.100.9', '192.0.2.1',
 '::ffff:192.0.2.1', '192.0.2.2', '::ffff:192.0.2.0']
--- error_code eval: [403, 204, 204, 403, 403, 204, 204, 204, 403, 403]



=== TEST 26: IPv6 prefixes do not cover IPv4 clients, mapped or not; IPv4 prefixes do not cover IPv6 clients
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /six { itsm_allow ::/0; try_files /.none =204; }
    location = /four { itsm_allow 0.0.0.0/0; try_files /.none =204; }
--- request eval: ["GET /six", "GET /six", "GET /six", "GET /four", "GET /four", "GET /four"]
--- more_headers eval
[map { "X-Forwarded-For: $_" } '2001:db8::1', '::ffff:203.0.113.9', '203.0.113.9',
 '203.0.113.9', '::ffff:203.0.113.9', '2001:db8::1']
--- error_code eval: [204, 403, 403, 204, 204, 403]



=== TEST 27: a mapped prefix shorter than /96 is not an IPv4 prefix: it stays an IPv6 one and matches no IPv4 client
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t { itsm_allow ::ffff:0:0/95; try_files /.none =204; }
--- request eval: ["GET /t", "GET /t", "GET /t"]
--- more_headers eval: [map { "X-Forwarded-For: $_" } '::ffff:203.0.113.9', '203.0.113.9', '::fffe:0:1']
--- error_code eval: [403, 403, 204]
