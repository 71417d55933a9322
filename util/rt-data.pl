# Request Tracker data the module's presets and tests rely on, installed by
# util/rt.sh into its private RT with
#   rt-setup-database --action insert --datafile util/rt-data.pl
# (RT's initialdata format: lib/RT/Handle.pm, InsertData).
#
# "ITSM Alert Key": a global ticket custom field.  The RT presets write the
# SHA-256 of the alert's correlation key into it when they create a ticket
# ("CustomFields" of rt-create.json), and their "find" line searches for it
# with TicketSQL when a create's answer was lost, so that the ticket the
# lost create made is found instead of made twice.  On your own RT, create
# the same field (Admin > Custom Fields > Create: name "ITSM Alert Key",
# type "Enter one value", applies to Tickets, applied globally or to your
# alert queues) and grant SeeCustomField / ModifyCustomField to the user
# whose token the connector uses.
#
# "ITSM Configuration Item": a global ticket custom field the RT presets
# bind the alert's configuration item to (Azure's configurationItems, the
# "configuration_items" field of any source), so that the ticket names
# the CI it is about.  Create it the same way on your own RT.

# A database of an earlier version (util/rt.sh's marker) has some of them
# already: only the fields it lacks are created (RT is loaded when the
# file is read).
@CustomFields = grep {
    my $cf = RT::CustomField->new(RT->SystemUser);
    $cf->LoadByName(Name => $_->{Name}, LookupType => $_->{LookupType});
    !$cf->id;
} (
    {
        Name        => 'ITSM Alert Key',
        Type        => 'FreeformSingle',
        LookupType  => 'RT::Queue-RT::Ticket',
        Description => 'SHA-256 of the alert correlation key (ngx_itsm_module)',
        Queue       => 0,
    },
    {
        Name        => 'ITSM Configuration Item',
        Type        => 'FreeformSingle',
        LookupType  => 'RT::Queue-RT::Ticket',
        Description => 'the configuration item of the alert (ngx_itsm_module)',
        Queue       => 0,
    },
);

1;
