# itsm_allow: CIDR allowlists, IPv4 and IPv6, inline and from files, behind
# the realip module.  A refused client gets 403 with a JSON error, the log
# names its address at itsm_allow_log_level, and nothing reaches the
# content handler: the alert endpoint's ITSM is a closed port, so any
# delivery would log "connect() failed" at [error].
use Test::Nginx::Socket 'no_plan';

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

our $HttpConfig = <<'_EOC_';
    itsm_connector down {
        location   /_itsm/down;
        create     POST /api/ticket 'body={"title": "{{ title }}"}';
        ticket_id  /id;
    }
_EOC_

our $Alert = '{"key": "a", "title": "t"}';

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
--- request eval
"POST /alerts\n$::Alert"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers
Content-Type: application/json
--- response_body
{"error":"address_not_allowed","message":"the client address 127.0.0.1 is not allowed to send here"}
--- error_log eval
qr/\[error\] .*itsm: client 127\.0\.0\.1 is not in the itsm_allow list/
--- no_error_log
connect() failed
itsm deliver
itsm: connector



=== TEST 3: itsm_allow_log_level sets the level of that line
--- config
    location = /t {
        itsm_allow 192.0.2.1;
        itsm_allow_log_level info;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- error_code: 403
--- error_log eval
qr/\[info\] .*itsm: client 127\.0\.0\.1 is not in the itsm_allow list/
--- no_error_log
[error]
[warn]



=== TEST 4: behind realip, the forwarded IPv4 address is the one checked
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow 203.0.113.0/24;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 203.0.113.9", "X-Forwarded-For: 198.51.100.1"]
--- error_code eval
[200, 403]
--- response_body_like eval
["It works", "the client address 198\\.51\\.100\\.1 is not allowed"]



=== TEST 5: IPv6 prefixes, through realip
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow 2001:db8:1::/48 192.0.2.0/24;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 2001:db8:1:ffff::7", "X-Forwarded-For: 2001:db8:2::7", "X-Forwarded-For: 192.0.2.200"]
--- error_code eval
[200, 403, 200]



=== TEST 6: a refused IPv6 client is named in the answer and the log
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow 2001:db8:1::/48;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- more_headers
X-Forwarded-For: 2001:db8:2::7
--- error_code: 403
--- response_body
{"error":"address_not_allowed","message":"the client address 2001:db8:2::7 is not allowed to send here"}
--- error_log
client 2001:db8:2::7 is not in the itsm_allow list



=== TEST 7: an IPv4-mapped IPv6 address is matched against the IPv4 prefixes
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow 203.0.113.0/24;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- more_headers
X-Forwarded-For: ::ffff:203.0.113.9
--- error_code: 200



=== TEST 8: thousands of prefixes from a file, with comments and blank lines
--- user_files eval
">>> ranges.txt\n$::Ranges"
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location = /t {
        itsm_allow file=$TEST_NGINX_HTML_DIR/ranges.txt;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Forwarded-For: 10.19.135.4", "X-Forwarded-For: 10.19.136.4",
 "X-Forwarded-For: 2001:db8:7cf:1::1", "X-Forwarded-For: 2001:db8:7d0::1",
 "X-Forwarded-For: 203.0.113.77", "X-Forwarded-For: 203.0.113.78"]
--- error_code eval
[200, 403, 200, 403, 200, 403]



=== TEST 9: inline addresses and a file add up; several itsm_allow lines too
--- user_files
>>> few.txt
192.0.2.0/24
--- config
    location = /t {
        itsm_allow file=$TEST_NGINX_HTML_DIR/few.txt;
        itsm_allow 127.0.0.1;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- error_code: 200



=== TEST 10: a location's itsm_allow replaces the server's; "off" clears it
--- config
    itsm_allow 192.0.2.0/24;
    location = /server { alias $TEST_NGINX_HTML_DIR/index.html; }
    location = /own { itsm_allow 127.0.0.1; alias $TEST_NGINX_HTML_DIR/index.html; }
    location = /off { itsm_allow off; alias $TEST_NGINX_HTML_DIR/index.html; }
--- request eval
["GET /server", "GET /own", "GET /off"]
--- error_code eval
[403, 200, 200]



=== TEST 11: "satisfy any" with "allow all" cannot overrule a refusal
--- config
    location = /t {
        satisfy any;
        allow all;
        itsm_allow 192.0.2.0/24;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: address_not_allowed



=== TEST 12: nginx's own deny still applies to an allowed address
--- config
    location = /t {
        itsm_allow 127.0.0.1;
        deny all;
        alias $TEST_NGINX_HTML_DIR/index.html;
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule



=== TEST 13: the whole IPv4 space (0.0.0.0/0) is a valid, if pointless, list
--- config
    location = /t { itsm_allow 0.0.0.0/0; alias $TEST_NGINX_HTML_DIR/index.html; }
--- request
GET /t
--- error_code: 200



=== TEST 14: host bits set in a prefix: a warning, as nginx's allow gives
--- config
    location = /t { itsm_allow 127.0.0.1/8; alias $TEST_NGINX_HTML_DIR/index.html; }
--- request
GET /t
--- error_code: 200
--- error_log eval
qr/\[warn\] .*itsm_allow: low address bits of "127\.0\.0\.1\/8" are meaningless/



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
--- error_log eval
qr/\[emerg\] .*itsm_allow: more than one address on line 1 of "\S+two\.txt"/



=== TEST 18: a file that cannot be read
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/nope.txt; }
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) "\S+nope\.txt" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 19: a file without any address would refuse everybody
--- user_files
>>> empty.txt
# nothing here yet
--- config
    location = /t { itsm_allow file=$TEST_NGINX_HTML_DIR/empty.txt; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_allow: "\S+empty\.txt" lists no address; an empty allowlist would refuse every client/



=== TEST 20: "off" mixed with addresses
--- config
    location = /t { itsm_allow off 127.0.0.1; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_allow off" cannot be combined with addresses in the same block in \S+nginx\.conf:\d+/



=== TEST 21: an unknown log level
--- config
    location = /t { itsm_allow 127.0.0.1; itsm_allow_log_level debug; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "debug" in \S+nginx\.conf:\d+/
