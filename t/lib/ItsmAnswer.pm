package ItsmAnswer;

# The module's answers to the sender, byte for byte as
# ngx_http_itsm_answer.c writes them: one JSON object and a newline.  Every
# test builds them here, so that a change of the answer's shape is one
# change here, not one per file.
#
#   text($status, @results)     {"status":...,"alerts":[...]}; a result is
#                               {key, action, outcome, connector} and what
#                               it has of ticket_id, reason, replayed
#   failure(%f)                 the ITSM failed: {error, connector, action,
#                               itsm_status, itsm_error}
#   refusal($error, $message)   the module refused: {error, message}
#   exact($text)                a regex that matches exactly $text
#
# A file whose blocks answer for one alert of one connector names them
# once, and its blocks call main::answer() and main::error():
#
#   use ItsmAnswer key => 'disk-db1', connector => 'jira', ticket_id => 'OPS-17';
#
#   ::answer($status, $action, $outcome, %more)       exact(text(...))
#   ::answers([$key, $action, $outcome, $replayed], ...)   several alerts
#   ::error($error, $action, $itsm_status, $text)     exact(failure(...))
#
# %more overrides the defaults (ticket_id => undef: none) and adds reason
# or replayed => 1.  %Reason holds the module's reasons and
# ::refused($error, $message) is exact(refusal(...)), for every file.

use strict;
use warnings;

our %Reason = (
    found     => 'an earlier create of this key made the ticket, but its '
                 . 'answer was lost; the ticket was found in the ITSM',
    cooldown  => 'the ticket was updated within the cooldown; the latest '
                 . 'state is sent when it ends',
    recreated => 'the ticket no longer existed in the ITSM; a new one was '
                 . 'created',
    forgot    => 'the ticket no longer exists in the ITSM; the key forgot it',
    queued    => 'the ITSM is unavailable; the alert is kept and delivered '
                 . 'when it answers',
);

our $NoAnswer = 'no answer from the ITSM: the connection was refused, reset '
              . 'or timed out (see the error log)';

sub import {
    my ($class, %defaults) = @_;
    install(scalar caller, %defaults);
}

# what import gives, for a package other than the caller
sub install {
    my ($to, %defaults) = @_;

    no strict 'refs';
    *{"${to}::Reason"} = \%Reason;
    *{"${to}::refused"} = sub { exact(refusal(@_)) };
    return unless %defaults;

    *{"${to}::answer"} = sub {
        my ($status, $action, $outcome, %more) = @_;
        return exact(text($status, {%defaults, action => $action,
                                    outcome => $outcome, %more}));
    };
    *{"${to}::error"} = sub {
        my ($error, $action, $status, $itsm_error) = @_;
        return exact(failure(error => $error, connector => $defaults{connector},
                             action => $action, itsm_status => $status,
                             itsm_error => $itsm_error));
    };
    # several alerts: [KEY, ACTION, OUTCOME, REPLAYED] each; the status is
    # the outcome of a single one, "processed" for more
    *{"${to}::answers"} = sub {
        my @r = map { {%defaults, key => $_->[0], action => $_->[1],
                       outcome => $_->[2], replayed => $_->[3]} } @_;
        return exact(text(@r == 1 ? $r[0]{outcome} : 'processed', @r));
    };
}

# a JSON string as nginx's ngx_escape_json() writes it
sub json_string {
    my ($s) = @_;

    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/\x08/\\b/g;
    $s =~ s/\f/\\f/g;
    $s =~ s/([\x00-\x1f])/sprintf("\\u%04X", ord $1)/ge;

    return "\"$s\"";
}

sub result {
    my ($r) = @_;
    my $s = '{"key":' . json_string($r->{key})
          . ',"action":"' . $r->{action} . '","outcome":"' . $r->{outcome}
          . '","connector":"' . $r->{connector} . '"';
    $s .= ',"ticket_id":' . json_string($r->{ticket_id})
        if defined $r->{ticket_id} && length $r->{ticket_id};
    $s .= ',"reason":' . json_string($r->{reason}) if defined $r->{reason};
    $s .= ',"replayed":true' if $r->{replayed};
    return "$s}";
}

sub text {
    my ($status, @results) = @_;
    return qq({"status":"$status","alerts":[)
           . join(',', map { result($_) } @results) . "]}\n";
}

sub failure {
    my (%f) = @_;
    return '{"error":"' . $f{error} . '","connector":"' . $f{connector}
           . '","action":"' . $f{action} . '","itsm_status":' . $f{itsm_status}
           . ',"itsm_error":' . json_string($f{itsm_error}) . "}\n";
}

sub refusal {
    my ($error, $message) = @_;
    return '{"error":"' . $error . '","message":' . json_string($message) . "}\n";
}

sub exact {
    my ($text) = @_;
    return qr/^\Q$text\E\z/;
}

1;
