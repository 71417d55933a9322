# Template filters: default:'TEXT' for a missing or empty value, slack for
# Slack's mrkdwn control characters, truncate:N on a UTF-8 character and
# outside an entity, counting what is sent.  What was sent is read from the module's debug log.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;

our $Mock = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/ticket { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
_EOC_

# an inline body in nginx's single quotes: a quote inside is \'
sub connector { my ($body) = @_; $body =~ s/'/\\'/g; <<"_EOC_" }
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST "/ticket" 'body=$body';
        ticket_id /id;
    }
_EOC_

sub alert { "POST /alerts\n" . $_[0] }

our $Body = qr/itsm deliver body: .*/;

# every block posts one alert through a connector of its own to the mock,
# gets 201 and reads the body that was sent
ItsmConf::defaults(config => $Mock);
ItsmConf::defaults(when => 'request', more_headers => "Content-Type: application/json\n",
                   error_code => 201, grep_error_log => $Body);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: default: a missing field, an empty one, a missing pointer as a whole value; a present value is kept
--- http_config eval: ::connector(q{{"d": "{{ description | default:'(no description)' }}", "r": "host {{ resource | default:'unknown' }}", "l": "{{ /labels/team | default:'ops' }}", "t": "{{ title | default:'x' }}"}})
--- request eval: ::alert('{"key": "k1", "title": "Disk full", "resource": ""}')
--- grep_error_log_out
itsm deliver body: {"d":"(no description)","r":"host unknown","l":"ops","t":"Disk full"}



=== TEST 2: truncate: ASCII, and UTF-8 cut on a character boundary, ended with U+2026; a short value is untouched
--- http_config eval: ::connector(q{{"a": "{{ title | truncate:10 }}", "b": "{{ description | truncate:8 }}", "c": "{{ resource | truncate:8 }}"}})
--- request eval: ::alert('{"key": "k1", "title": "Disk full on db-1", "description": "\u00e9\u00e9\u00e9\u00e9\u00e9", "resource": "db-1"}')
--- grep_error_log_out
itsm deliver body: {"a":"Disk fu…","b":"éé…","c":"db-1"}



=== TEST 3: slack: alert text cannot mention @channel or make a link; the JSON stays JSON
--- http_config eval: ::connector(q{{"text": "*{{ title | slack }}*", "whole": "{{ description | slack }}"}})
--- request eval: ::alert('{"key": "k1", "title": "<!channel> disk & <https://evil.example|click>", "description": "a \"quoted\" <b>"}')
--- grep_error_log_out
itsm deliver body: {"text":"*&lt;!channel&gt; disk &amp; &lt;https://evil.example|click&gt;*","whole":"a \"quoted\" &lt;b&gt;"}



=== TEST 4: slack escapes before truncate counts, whatever their order, and the cut is never inside an entity; a whole number stays a number
--- http_config eval: ::connector(q{{"t": "{{ title | slack | truncate:12 }}", "n": "{{ /count | truncate:8 }}", "s": "{{ /count | default:'0' }}"}})
--- request eval: ::alert('{"key": "k1", "title": "a<b & c>d efgh", "count": 1234567890}')
--- grep_error_log_out
itsm deliver body: {"t":"a&lt;b …","n":1234567890,"s":1234567890}



=== TEST 5: a filter inside a longer string and in a path
--- http_config
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST "/ticket?team={{ /labels/team | default:'ops' }}" 'body={"x": "[{{ severity | default:\'unknown\' }}] {{ title }}"}';
        ticket_id /id;
    }
--- request eval: ::alert('{"key": "k1", "title": "Disk full"}')
--- grep_error_log eval: qr/itsm deliver: create POST "[^"]+|itsm deliver body: .*/
--- grep_error_log_out
itsm deliver: create POST "/_itsm/mock/ticket?team=ops
itsm deliver body: {"x":"[unknown] Disk full"}



=== TEST 6: config: an unknown filter
--- http_config eval: ::connector(q{{"t": "{{ title | upper }}"}})
--- config
--- must_die
--- error_log eval: qr/unknown filter "upper" in template .*; use default:'TEXT', truncate:N, slack or sha256/



=== TEST 7: config: truncate needs at least 8 bytes
--- http_config eval: ::connector(q{{"t": "{{ title | truncate:2 }}"}})
--- config
--- must_die
--- error_log eval: qr/invalid filter "truncate:2" in template .*: truncate takes a number of bytes, at least 8/



=== TEST 8: config: an unterminated quote
--- http_config eval: ::connector(q{{"t": "{{ title | default:'x }}"}})
--- config
--- must_die
--- error_log eval: qr/unterminated quote in filter "default:'x" of template/



=== TEST 7: sha256: the value as 64 hex digits (a key the ITSM can search for, whatever it holds); a number is hashed as its text; default first
--- http_config eval: ::connector(q{{"k": "{{ key | sha256 }}", "q": "x-{{ title | sha256 }}", "n": "{{ /n | sha256 }}", "d": "{{ /none | default:'db-1' | sha256 }}", "e": "{{ description | sha256 }}"}})
--- request eval: ::alert('{"key": "db-1", "title": "it\'s \"quoted\" & <odd>", "n": 42, "description": ""}')
--- grep_error_log_out eval
use Digest::SHA qw(sha256_hex);
"itsm deliver body: {\"k\":\"" . sha256_hex("db-1") . "\",\"q\":\"x-" . sha256_hex(q{it's "quoted" & <odd>})
. "\",\"n\":\"" . sha256_hex("42") . "\",\"d\":\"" . sha256_hex("db-1") . "\",\"e\":\"" . sha256_hex("") . "\"}\n"
