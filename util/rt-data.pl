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

@CustomFields = (
    {
        Name        => 'ITSM Alert Key',
        Type        => 'FreeformSingle',
        LookupType  => 'RT::Queue-RT::Ticket',
        Description => 'SHA-256 of the alert correlation key (ngx_itsm_module)',
        Queue       => 0,
    },
);

1;
