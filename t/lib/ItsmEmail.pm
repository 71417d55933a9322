package ItsmEmail;

# The email presets' words, alike in each (t/411-t/414): the subject and
# text of the firing, reminder and resolved messages of the suite's alert
# ($Firing, $Again, $Resolved of ItsmPreset::suite), and the alert whose
# text would break a JSON body or add a header.  json_suite() sets them up
# for a preset that sends its message as JSON; each file says only its
# service's message (the JSON around subject and text), its URL and its
# service's answers.

use strict;
use warnings;
use ItsmPreset;
use ItsmMultipart;
use ItsmBlocks;

# [subject, text] of each message, the text as the template makes it
our %Mail = (
    firing   => ['[critical] Disk full on db-1',
                 "/var is 98% full\n\nSeverity: critical\nResource: db-1\nSource: generic\nAlert key: disk-db1\nLink: -"],
    repeat   => ['Still firing: [critical] Disk full on db-1',
                 "Still firing: seen 2 times since TIME.\n\n/var is 99% full\n\nSeverity: critical\nAlert key: disk-db1"],
    resolved => ['Resolved: [critical] Disk full on db-1',
                 "Resolved. First seen TIME.\n\n/var is 70% full\n\nSeverity: critical\nAlert key: disk-db1"],
);

# alert text that would break the JSON or the message: quotes, a CR LF
# and a header of its own, a backslash; no description, no resource.
# Its subject and text as they stand in a JSON body.
our $Evil = '{"key": "evil-1", "title": "x\"}\r\nBcc: victim@example.com\\\\", "severity": "warning", "status": "firing"}';
our @EvilJson = ('[warning] x\"}\r\nBcc: victim@example.com\\\\',
                 '(no description)\n\nSeverity: warning\nResource: -\nSource: generic\nAlert key: evil-1\nLink: -');

# the scenarios in which a message is sent as it should be: nginx's log
# has no [error] in them
our @Clean = qw(exact_create created_sent lifecycle created_as);

# json_suite(NAME, URL, MESSAGE, FIELD): ItsmPreset::suite(NAME) with the create
# the firing message; in main: $Firing_mail, $Repeat_mail, $Resolved_mail
# (MESSAGE(SUBJECT, TEXT) of each, the text's line breaks as JSON's \n),
# $Evil and $EvilMail, $Url (URL: the method and URL the ITSM's log
# shows), sent(MESSAGE, ...): the ITSM's log of those messages, a regex,
# and $Lifecycle: the log of firing, reminder, resolved, firing; and the
# file's json_blocks(FIELD) (FIELD: the subject's name in the service's
# JSON)
sub json_suite {
    my ($name, $url, $message, $field) = @_;
    my %m = map { $_ => $message->($Mail{$_}[0], $Mail{$_}[1] =~ s/\n/\\n/gr) } keys %Mail;

    no strict 'refs';
    no warnings 'redefine';
    ${"main::Url"} = $url;
    ${"main::Firing_mail"} = $m{firing};
    ${"main::Repeat_mail"} = $m{repeat};
    ${"main::Resolved_mail"} = $m{resolved};
    ${"main::Evil"} = $Evil;
    ${"main::EvilMail"} = $message->(@EvilJson);
    *{"main::sent"} = sub { ItsmPreset::log_like(join '', map { "$url\n$_\n" } @_) };
    ${"main::Lifecycle"} = main::sent(@m{qw(firing repeat resolved firing)});

    ItsmPreset::suite($name, create => $m{firing}, clean => \@Clean);
    json_blocks($field);
}

# json_blocks(FIELD): the blocks every JSON preset's file has after its
# first (the exact request), for the line "%%% json_blocks" of its
# __DATA__: the lifecycle, the preset's reminder interval, and the alert
# text that would break out of the JSON (FIELD: the subject's name in the
# service's JSON, for the title)
sub json_blocks {
    my ($field) = @_;
    ItsmBlocks::expand(json_blocks => <<'_EOB_' =~ s/\@FIELD\@/$field/r);
=== TEST #: the lifecycle: a reminder while it fires, a resolved message, a new firing message after that
--- lifecycle: created commented resolved created
--- itsm_log eval: $::Lifecycle



=== TEST #: the preset's reminder interval (4h): a repeat within it sends nothing
--- cooldown



=== TEST #: alert text with quotes, CR LF and a "Bcc:" stays inside the JSON @FIELD@; a missing description and resource are the defaults
--- created_as eval: [$::Evil, "$::Url\n$::EvilMail\n"]



_EOB_
}

# multipart_suite(NAME, %o): ItsmPreset::suite(NAME, %o) for a preset that
# posts multipart/form-data (t/lib/ItsmMultipart.pm): the ITSM's log
# shows each request's Content-Type and credential, and in main:
# sent(MESSAGE, ...): that log of those requests (ItsmMultipart::log_of),
# the one of each scenario that checks what the ITSM got
sub multipart_suite {
    my ($name, %o) = @_;
    ItsmPreset::suite($name, %o, sent => \&ItsmMultipart::log_of, clean => \@Clean);

    no strict 'refs';
    no warnings 'redefine';
    my $http = \&main::http;
    *{"main::http"} = sub { ItsmMultipart::log_http($http->(@_)) };
    *{"main::sent"} = \&ItsmMultipart::log_of;
}

1;
