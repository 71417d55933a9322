package ItsmMultipart;

# For the contract tests of presets that send multipart/form-data
# (t/412-preset-email-mailgun.t, t/415-preset-email-rt.t): the module draws
# a boundary at random for every request, so a request cannot be compared
# byte for byte.  These build a regex of the request as the contract mock
# logs it, with the boundary matched once (in the Content-Type) and every
# other byte exact:
#
#     METHOD http://HOST/URI
#     CONTENT-TYPE AUTHORIZATION
#     BODY
#
# log_http(HTTP) is the test's http{} with the contract log in that form
# (ItsmPreset's log has no Content-Type).  In a value, TIME stands for a
# UTC time (first_seen), and for the RFC 5322 message the Date and
# Message-ID headers stand for any of the module's.

use strict;
use warnings;

our $Time = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';

sub log_http {
    my ($http) = @_;
    $http =~ s{(log_format contract escape=none '\$request_method http://\$http_host\$request_uri\\n)}
              {$1\$content_type \$http_authorization\\n}
        or die "ItsmMultipart: no contract log_format in the http part\n";
    return $http;
}

# a value, exact but for TIME
sub value {
    my ($v) = @_;
    return join $Time, map { quotemeta } split /TIME/, $v, -1;
}

# the message of a "mail" line (ngx_http_itsm_mail.c), Date and Message-ID
# any of the module's
sub mail {
    my (%h) = @_;
    return "From: " . value($h{from}) . "\r\nTo: " . value($h{to}) . "\r\nSubject: " . value($h{subject}) . "\r\n"
         . "Date: \\w{3}, \\d\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000\r\n"
         . "Message-ID: <itsm\\.\\d+\\.[0-9a-f]{16}@[^>\r\n]+>\r\n"
         . "MIME-Version: 1\\.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         . value($h{body} =~ s/\n/\r\n/gr) . "\r\n";
}

# one request: its line, the type with the boundary, the credential, then
# each [NAME, VALUE-REGEX] as a part; ends with the closing boundary
sub request {
    my ($line, $auth, @parts) = @_;
    my $re = quotemeta($line) . "\nmultipart/form-data; boundary=(itsm-[0-9a-f]{32}) " . quotemeta($auth) . "\n";
    for my $p (@parts) {
        $re .= "--\\g{-1}\r\nContent-Disposition: form-data; name=\"$p->[0]\"\r\n\r\n$p->[1]\r\n";
    }
    return $re . "--\\g{-1}--\r\n\n";
}

# the whole log: the requests in order, nothing else
sub log_of { my $re = join '', @_; qr/^$re\z/ }

1;
