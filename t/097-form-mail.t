# Bodies beyond JSON (ngx_http_itsm_form.c, ngx_http_itsm_mail.c): an
# action's "form" (application/x-www-form-urlencoded) and "multipart"
# (multipart/form-data) fields, and the RFC 5322 message of a connector's
# "mail" line that a field "@mail" carries (Request Tracker's mail
# gateway).  The mock ITSM logs the exact bytes it got; alert text that
# would break out of its field or header does not.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmConf;
use ItsmHttp;
use MIME::Base64 qw(decode_base64);
use Encode qw(decode);

no_shuffle();

# the sink: each request's method, URI and Content-Type, then its body
our $Sink = <<'_EOC_';
    location /_itsm/mail/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink/;
    }
    location /sink/ {
        access_log logs/sink.log sink;
        rewrite ^ /ok break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location = /ok { return 202 '{"id":"<20261207.1@mg.example.com>","message":"Queued. Thank you."}'; }
    location = /alerts { itsm_pass mail; }
_EOC_

our $SinkHttp = "    log_format sink escape=none '\$request_method \$request_uri \$content_type\\n\$request_body\\n.';\n";

# a connector that mails the alert through the sink, its title the subject
our $TitleMailHttp = $SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw multipart 'message=@mail';
        mail      'from=root@localhost' 'to=ops@example.com' 'subject={{ title }}';
    }
};

# what the sink got: (method and URI, content type, body) of each request,
# once it has $want (default 1)
sub sunk {
    my ($want) = @_;
    my $path = Test::Nginx::Util::server_root() . "/logs/sink.log";
    my $all = '';
    for (1 .. 40) {
        if (open my $fh, '<', $path) { local $/; $all = <$fh>; close $fh }
        my $n = () = $all =~ /\n\.\n/g;
        last if $n >= ($want // 1);
        select(undef, undef, undef, 0.05);
    }
    my @r;
    while ($all =~ /\G(\S+ \S+) ([^\n]*)\n(.*?)\n\.\n/gs) {
        push @r, [$1, $2, $3];
    }
    return @r;
}

# the message with its Date and Message-ID made fixed
sub fixed_mail {
    my ($m) = @_;
    $m =~ s/^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r$/Date: DATE\r/m;
    $m =~ s/^Message-ID: <itsm\.\d+\.[0-9a-f]{16}@[^>\r\n]+>\r$/Message-ID: ID\r/m;
    return $m;
}

our $Alert = '{"key": "db-1", "title": "Disk full on db-1 \u2014 98%", "description": "line 1\nline 2\r\nline 3", "severity": "critical"}';

run_tests();

__DATA__

=== TEST 1: multipart with the message (RT's mail gateway): the exact body, a random boundary, an RFC 2047 subject, CRLF line ends
--- http_config eval
$::SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /REST/1.0/NoAuth/mail-gateway multipart
                  'queue=General' 'action=correspond' 'SessionType=REST'
                  'message=@mail';
        mail      'from=root@localhost' 'to=rt@example.com'
                  'subject=[{{ severity }}] {{ title }}';
    }
}
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', "$::Alert");
Test::More::is($code, 201, 'the alert: 201');
Test::More::like($answer, qr/"outcome":"created"/, 'its answer');
my @r = ::sunk();
Test::More::is(scalar @r, 1, "one request");
my ($line, $type, $body) = @{$r[0] || []};
Test::More::is($line, 'POST /sink/REST/1.0/NoAuth/mail-gateway', "the path");
my ($b) = ($type // '') =~ /^multipart\/form-data; boundary=(itsm-[0-9a-f]{32})$/;
Test::More::ok($b, "a boundary of its own: $type");
$b //= 'none';
my $subject = "=?UTF-8?B?" . MIME::Base64::encode_base64("[critical] Disk full on db-1 \xe2\x80\x94 98%", '') . "?=";
my $want = "--$b\r\nContent-Disposition: form-data; name=\"queue\"\r\n\r\nGeneral\r\n"
         . "--$b\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\ncorrespond\r\n"
         . "--$b\r\nContent-Disposition: form-data; name=\"SessionType\"\r\n\r\nREST\r\n"
         . "--$b\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n"
         . "From: root\@localhost\r\nTo: rt\@example.com\r\nSubject: $subject\r\nDate: DATE\r\nMessage-ID: ID\r\n"
         . "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         . "line 1\r\nline 2\r\nline 3\r\n\r\n--$b--\r\n";
Test::More::is(::fixed_mail($body // ''), $want, "the exact body");
--- request
GET /ok
--- error_code: 202



=== TEST 2: form (Mailgun's messages): each value escaped but for unreserved characters, so "&", "=", "+" and UTF-8 stay in their field
--- http_config eval
$::SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /v3/mg.example.com/messages form
                  'from=Alerts <alerts@mg.example.com>' 'to=ops@example.com'
                  'subject=[{{ severity }}] {{ title }}' 'text={{ description }}'
                  'o:tag=itsm';
        ticket_id /id;
    }
}
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', q{{"key": "k", "title": "a&b=c+d é", "description": "x\ny", "severity": "warning"}});
Test::More::is($code, 201, 'the alert: 201');
Test::More::like($answer, qr/"ticket_id":"<20261207\.1\@mg\.example\.com>"/, 'its answer');
my ($r) = ::sunk();
Test::More::is(CORE::join("\n", @{$r || []}),
               "POST /sink/v3/mg.example.com/messages\napplication/x-www-form-urlencoded\n"
               . "from=Alerts%20%3Calerts%40mg.example.com%3E&to=ops%40example.com"
               . "&subject=%5Bwarning%5D%20a%26b%3Dc%2Bd%20%C3%A9&text=x%0Ay&o:tag=itsm",
               "the exact request");
--- request
GET /ok
--- error_code: 202



=== TEST 3: a title with CR LF cannot add a header to the message (Bcc), nor end the subject
--- http_config eval
$::SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw multipart 'message=@mail';
        mail      'from=root@localhost' 'to={{ /labels/team }}@example.com'
                  'subject={{ title }}' 'body=Alert: {{ title }}';
    }
}
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', q{{"key": "k", "title": "Hello\r\nBcc: victim@example.com\r\n\r\nbody", "labels": {"team": "ops\nCc: x@example.com"}}});
Test::More::is($code, 201, 'the alert: 201');
my ($r) = ::sunk();
my ($head, $text) = split /\r\n\r\n/, (($r->[2] // '') =~ /name="message"\r\n\r\n(.*)\r\n--itsm-/s)[0] // '', 2;
Test::More::is(join("|", grep { !/^(Date|Message-ID):/ } split /\r\n/, $head // ''),
               "From: root\@localhost|To: ops Cc: x\@example.com\@example.com|Subject: Hello  Bcc: victim\@example.com    body"
               . "|MIME-Version: 1.0|Content-Type: text/plain; charset=utf-8|Content-Transfer-Encoding: 8bit",
               "every header on its own line, the alert's line breaks made spaces");
Test::More::is($text, "Alert: Hello\r\nBcc: victim\@example.com\r\n\r\nbody\r\n", "the body keeps its lines");
--- request
GET /ok
--- error_code: 202



=== TEST 4: a long subject that is not ASCII: encoded words of at most 75 characters, folded, that decode to it
--- http_config eval: $::TitleMailHttp
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', "{\"key\": \"k\", \"title\": \"" . ("\\u00e9t\\u00e9 \\u2014 \\ud83d\\udd25 " x 12) . "\"}");
Test::More::is($code, 201, 'the alert: 201');
my ($r) = ::sunk();
my ($subject) = ($r->[2] // '') =~ /\r\nSubject: (.*?)\r\n(?=\S)/s;
my @words = split /\r\n /, $subject // '';
Test::More::ok(@words > 1, scalar(@words) . " words");
Test::More::is(join(',', grep { length($_) > 75 || !/^=\?UTF-8\?B\?[A-Za-z0-9+\/=]+\?=$/ } @words), '', "each word is an encoded word of at most 75 characters");
my $decoded = join '', map { /^=\?UTF-8\?B\?(.*)\?=$/ ? MIME::Base64::decode_base64($1) : '' } @words;
Test::More::ok(Encode::decode('UTF-8', $decoded, Encode::FB_CROAK | Encode::LEAVE_SRC), "each word is whole UTF-8");
Test::More::is($decoded, "\xc3\xa9t\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x94\xa5 " x 12, "they decode to the title");
--- request
GET /ok
--- error_code: 202



=== TEST 5: a body line of 2,500 bytes is broken into lines of at most 998 bytes, between characters
--- http_config eval
$::SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw multipart 'message=@mail';
        mail      'from=root@localhost' 'to=ops@example.com' 'subject=s';
    }
}
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', "{\"key\": \"k\", \"description\": \"" . ("a\\u00e9" x 833) . ("b" x 1) . "\"}");
Test::More::is($code, 201, 'the alert: 201');
my ($r) = ::sunk();
my ($text) = ($r->[2] // '') =~ /\r\n\r\n.*?\r\n\r\n(.*)\r\n--itsm-/s;
my @lines = split /\r\n/, $text // '';
Test::More::is(join(',', map { length } @lines), '996,996,508', "three lines, none over 998 bytes");
Test::More::is(join('', @lines), ("a\xc3\xa9" x 833) . "b", "together the description");
--- request
GET /ok
--- error_code: 202



=== TEST 6: "@mail" without a "mail" line
--- http_config
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw multipart 'message=@mail';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_connector "mail" \(\S+nginx\.conf:\d+\): field "message=\@mail" of action "create" carries the connector's message: add a line "mail 'from=\.\.\.' 'to=\.\.\.' 'subject=\.\.\.';"/



=== TEST 7: a field without "="
--- http_config
    itsm_connector a {
        location  /_itsm/a;
        create    POST /gw form 'subject';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid field "subject" in "form": write 'name=TEMPLATE', the name of 1 to 64 letters, digits and "-_\.:\[\]"/



=== TEST 8: a name with a space
--- http_config
    itsm_connector a {
        location  /_itsm/a;
        create    POST /gw multipart 'sub ject=x';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid field "sub ject=x" in "multipart"/



=== TEST 9: fields need a body
--- http_config
    itsm_connector a {
        location  /_itsm/a;
        create    GET /gw form 'a=b';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"form" needs a method that sends a body: use POST, PUT or PATCH/



=== TEST 10: 16 fields are sent, in their order
--- http_config eval
$::SinkHttp . "    itsm_connector mail {\n        location /_itsm/mail;\n        create POST /gw form " . CORE::join(' ', map { "'f$_=$_'" } 1 .. 16) . ";\n    }\n"
--- config eval: $::Sink
--- init
my ($code) = ItsmHttp::call('POST', '/alerts', '{"key": "k"}');
Test::More::is($code, 201, 'the alert: 201');
my ($r) = ::sunk();
Test::More::is($r->[2], CORE::join('&', map { "f$_=$_" } 1 .. 16), "16 fields");
--- request
GET /ok
--- error_code: 202



=== TEST 11: 17 fields are not
--- http_config eval
"    itsm_connector b {\n        location /_itsm/b;\n        create POST /gw form " . CORE::join(' ', map { "'f$_=$_'" } 1 .. 17) . ";\n    }\n"
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"form" takes 1 to 16 fields, each 'name=TEMPLATE', e\.g\. form 'subject=\{\{ title \}\}'/



=== TEST 12: "mail" without subject=, and with a parameter twice
--- http_config
    itsm_connector a {
        location  /_itsm/a;
        create    POST /gw multipart 'message=@mail';
        mail      'from=a@example.com' 'to=b@example.com';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"mail" needs from=, to= and subject=/



=== TEST 13: "mail" with to= twice
--- http_config
    itsm_connector a {
        location  /_itsm/a;
        create    POST /gw multipart 'message=@mail';
        mail      'from=a@example.com' 'to=b@example.com' 'to=c@example.com';
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "to=c\@example\.com" in "mail"; expected from=, to=, subject= and body= once each/



=== TEST 14: answer_ok: a 2xx that starts with it is done (also 64 bytes of it), one that differs in a byte is refused with its words
--- http_config eval
$::SinkHttp . <<'_C_';
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw form 'a=b';
        answer_ok '{"id":"<2026';
    }
    itsm_connector bad {
        location  /_itsm/mail;
        create    POST /gw form 'a=b';
        answer_ok '{"id":"<2027';
    }
    itsm_connector long {
        location  /_itsm/mail;
        create    POST /gw form 'a=b';
        answer_ok '{"id":"<20261207.1@mg.example.com>","message":"Queued. Thank you';
    }
_C_
--- config eval
$::Sink . q{
    location = /alerts/bad { itsm_pass bad; }
    location = /alerts/long { itsm_pass long; }
}
--- init
my @r = map { [ItsmHttp::call('POST', $_, '{"key": "k"}')] } qw(/alerts /alerts/bad /alerts/long);
Test::More::is($r[0][0], 201, 'good: created');
Test::More::is($r[1][0] . ' ' . $r[1][1], qq{502 {"error":"itsm_rejected","connector":"bad","action":"create","itsm_status":202,"itsm_error":"{\\"id\\":\\"<20261207.1\@mg.example.com>\\",\\"message\\":\\"Queued. Thank you.\\"}"}\n}, 'bad: refused with the answer');
Test::More::is($r[2][0], 201, 'long: 64 bytes, the first 64 of the answer');
--- request
GET /ok
--- error_code: 202



=== TEST 15: answer_ok of 65 bytes, or empty
--- http_config eval
"    itsm_connector a {\n        location /_itsm/a;\n        create POST /gw 'body={}';\n        answer_ok '" . ('x' x 65) . "';\n    }\n"
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"answer_ok" takes 1 to 64 bytes, the start of a 2xx answer that means done, e\.g\. answer_ok ok/



=== TEST 16: a subject of 998 bytes is sent whole, one of 999 is cut to 998 (the line limit of RFC 5322)
--- http_config eval: $::TitleMailHttp
--- config eval: $::Sink
--- init
for my $n (998, 999) {
    my ($code) = ItsmHttp::call('POST', '/alerts', '{"key": "k' . $n . '", "title": "' . ('x' x $n) . '"}');
    Test::More::is($code, 201, "title of $n: 201");
}
my @s = map { ($_->[2] // '') =~ /\r\nSubject: ([^\r]*)\r\n/ ? length($1) : -1 } ::sunk(2);
Test::More::is("@s", '998 998', 'the subject lines: 998 and 998 bytes');
--- request
GET /ok
--- error_code: 202



=== TEST 17: in the subject each control character becomes a space; the body keeps them (a NUL, made a space there, never gets this far: the JSON parser refuses \u0000)
--- http_config eval
$::SinkHttp . q{
    itsm_connector mail {
        location  /_itsm/mail;
        create    POST /gw multipart 'message=@mail';
        mail      'from=root@localhost' 'to=ops@example.com'
                  'subject={{ title }}' 'body={{ description }}';
    }
}
--- config eval: $::Sink
--- init
my ($code, $answer) = ItsmHttp::call('POST', '/alerts', q{{"key": "k", "title": "a\u0001b\u0007c\td", "description": "a\u0001b\u0007c\td\u001fe"}});
Test::More::is($code, 201, 'the alert: 201');
my ($r) = ::sunk();
my ($head, $text) = split /\r\n\r\n/, (($r->[2] // '') =~ /name="message"\r\n\r\n(.*)\r\n--itsm-/s)[0] // '', 2;
Test::More::is((grep { /^Subject:/ } split /\r\n/, $head // '')[0], "Subject: a b c d", "the subject: control characters made spaces");
Test::More::is($text, "a\x01b\x07c\td\x1fe\r\n", "the body: its control characters as they were");
--- request
GET /ok
--- error_code: 202
