# The module's callback scrip for Request Tracker 5, installed with
#   rt-setup-database --action insert --datafile util/rt-callback.pl
# (util/rt.sh does it in its RT; RT's initialdata format, lib/RT/Handle.pm).
#
# On every status change of a ticket (condition "On Status Change"), a
# user-defined action posts to the module's callback location:
#
#   POST <url>   Authorization: Bearer <token>   Content-Type: application/json
#   {"ticket": "42", "old_status": "open", "status": "resolved",
#    "transaction": "917", "actor": "root", "time": "2024-05-01 10:00:00"}
#
# On every comment and correspondence (conditions "On Comment", "On
# Correspond"), the same action posts the transaction's text as a note, no
# status (a note-only event: it changes no state, and the module's way back
# runs its "on_ticket note" action once, e.g. a comment on the SIEM case):
#
#   {"ticket": "42", "note": "Restarted the pod.", "type": "Comment",
#    "transaction": "918", "actor": "ann", "time": "..."}
#
# The module's own comments come back this way too, while the alert that
# made them holds the key: the module answers them "in_flight" and sends
# nothing back (no loop).
#
# "transaction" is the id of RT's transaction: the same in a retried
# delivery (the event's id), and greater in every later change (the order
# that makes an older event change nothing).  The module's side:
#   location = /itsm/callback/rt { itsm_callback rt profile=rt; }
#
# Where to post, and with which token, is read at each status change from
# the file named by $ITSMCallbackFile in RT's site config (so a token can be
# rotated without restarting RT), two lines:
#   url   http://127.0.0.1:8080/itsm/callback/rt
#   token itsmcb_...            (build/itsm-token new rt prints one)
# Keep the file readable by RT's user only.  No file, or no $ITSMCallbackFile:
# nothing is posted.  A failed post is logged in RT's log and does not stop
# the change (RT answers its client all the same); the scrip waits at most
# 3 s for the module.

@ScripActions = (
    {
        Name        => 'ITSM callback',
        Description => 'Posts the status change to ngx_itsm_module (util/rt-callback.pl)',
        ExecModule  => 'UserDefined',
    },
);

my $itsm_callback_code = <<'END_OF_CODE';
my $file = RT->Config->Get('ITSMCallbackFile');
return 1 unless $file && -r $file;

my %conf;
if (open(my $fh, '<', $file)) {
    while (my $line = <$fh>) {
        $conf{$1} = $2 if $line =~ /^\s*(url|token)\s+(\S+)\s*$/;
    }
    close $fh;
}
return 1 unless $conf{url} && $conf{token};

my $txn = $self->TransactionObj;
my $ticket = $self->TicketObj;

require HTTP::Tiny;
require JSON;

my %event = (
    ticket      => "" . $ticket->id,
    transaction => "" . $txn->id,
    actor       => "" . ($txn->CreatorObj->Name // ''),
    time        => "" . $txn->Created,
);

if ($txn->Type eq 'Comment' || $txn->Type eq 'Correspond') {
    my $content = $txn->Content // '';
    return 1 unless length $content;
    $event{note} = "" . $content;
    $event{type} = "" . $txn->Type;
} else {
    $event{old_status} = "" . ($txn->OldValue // '');
    $event{status} = "" . ($txn->NewValue // '');
}

my $body = JSON::encode_json(\%event);

my $res = HTTP::Tiny->new(timeout => 3)->post($conf{url}, {
    headers => {
        'Content-Type'  => 'application/json',
        'Authorization' => "Bearer $conf{token}",
    },
    content => $body,
});

if (!$res->{success}) {
    RT->Logger->warning("ITSM callback for ticket " . $ticket->id
                        . " (transaction " . $txn->id . ") to $conf{url}: "
                        . "$res->{status} $res->{reason}");
} else {
    RT->Logger->info("ITSM callback for ticket " . $ticket->id
                     . " (transaction " . $txn->id . "): $res->{status}");
}

return 1;
END_OF_CODE

@Scrips = (
    {
        Description    => 'On Status Change ITSM callback',
        ScripCondition => 'On Status Change',
        ScripAction    => 'ITSM callback',
        Template       => 'Blank',
        CustomPrepareCode => 'return 1;',
        CustomCommitCode  => $itsm_callback_code,
    },
    {
        Description    => 'On Comment ITSM callback',
        ScripCondition => 'On Comment',
        ScripAction    => 'ITSM callback',
        Template       => 'Blank',
        CustomPrepareCode => 'return 1;',
        CustomCommitCode  => $itsm_callback_code,
    },
    {
        Description    => 'On Correspond ITSM callback',
        ScripCondition => 'On Correspond',
        ScripAction    => 'ITSM callback',
        Template       => 'Blank',
        CustomPrepareCode => 'return 1;',
        CustomCommitCode  => $itsm_callback_code,
    },
);

1;
