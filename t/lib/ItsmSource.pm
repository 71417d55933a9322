package ItsmSource;

# Shared by the source profile tests (t/3*.t): the normalized alert as the
# ITSM receives it.
#
# The mock connector sends every field of the alert in the body of each of
# its requests (create, comment, resolve, update), a field the source did
# not give as null.  Its ITSM is a location of the test server that logs
# the method, path and body of each request it gets ($request_body is only
# set where a body was read: here by the proxy_pass to the location that
# answers), and GET /sent returns that log: one line per delivered alert,
# in the order they were sent.  With a store, a resolved alert whose key
# has a ticket is delivered too (its resolve), so every alert of a payload
# can be asserted field by field.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmAnswer ();

our @Fields = qw(key source status severity severity_raw title description
                 resource configuration_items target_ids group_key starts_at
                 ends_at link external_url);

my %Known = map { $_ => 1 } @Fields;

our $Body = '{' . join(', ', map { "\"$_\": \"{{ $_ }}\"" } @Fields) . '}';


# the http{} part: the connector.  Options: store => 0 for none (every
# firing alert creates, a resolved one is ignored), policy => the
# connector's lifecycle lines (default "on_repeat comment cooldown=0;"), extra =>
# more lines for its block, http => more lines at http level.
sub http_config {
    my (%opt) = @_;

    my $store = (!exists $opt{store} || $opt{store})
                ? 'itsm_store logs/state.mdb;' : '';
    my $policy = $opt{policy} // 'on_repeat comment cooldown=0;';
    my $extra = $opt{extra} // '';
    my $http = $opt{http} // '';

    return <<"_EOC_";
    $http
    log_format itsm_sent escape=none '\$request_method \$uri \$request_body';
    $store
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body=$Body';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body=$Body';
        update    PATCH "/ticket/{{ ticket_id }}" 'body=$Body';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body=$Body';
        ticket_id /id;
        $policy
        $extra
    }
_EOC_
}


# the server{} part: the ITSM, the log of what it got, and /alerts with
# the given directives; $port is the server's own port when it is not the
# test server's
sub config {
    my ($alerts, $port) = @_;
    $port //= '$TEST_NGINX_SERVER_PORT';

    return <<"_EOC_";
    location /_itsm/mock/ {
        internal;
        proxy_pass http://127.0.0.1:$port/mock/;
    }
    location /mock/ {
        client_body_buffer_size 64k;
        access_log logs/sent.log itsm_sent;
        proxy_pass http://127.0.0.1:$port/itsm/;
    }
    location = /itsm/ticket { return 201 '{"id": "T1"}'; }
    location /itsm/ { return 200 '{}'; }
    location = /sent { alias logs/sent.log; }
    location = /alerts { itsm_pass mock; $alerts }
_EOC_
}


# defaults(ALERTS, %http): a file's blocks without http_config get
# http_config(%http), those without config get config(ALERTS), and those
# that send requests JSON (Test::Nginx's defaults, t/lib/ItsmConf.pm)
sub defaults {
    my ($alerts, %http) = @_;
    require ItsmConf;
    ItsmConf::defaults(when => 'request', config => config($alerts),
                       more_headers => "Content-Type: application/json\n");
    ItsmConf::defaults(http_config => http_config(%http));
}


sub payload {
    my ($name) = @_;

    open my $fh, '<', "$FindBin::Bin/payloads/$name"
        or die "cannot open t/payloads/$name: $!";
    local $/;
    my $text = <$fh>;
    close $fh;

    return $text;
}


# "POST /alerts" with a sample payload from t/payloads
sub post {
    my ($name) = @_;
    return "POST /alerts\n" . payload($name);
}


# a JSON string as nginx's ngx_escape_json() writes it
sub json_string { ItsmAnswer::json_string(@_) }


my %Requests = (
    create  => 'POST /mock/ticket',
    comment => 'POST /mock/ticket/T1/comment',
    update  => 'PATCH /mock/ticket/T1',
    resolve => 'PUT /mock/ticket/T1',
);


# one line of the ITSM's log: the action's request and the alert's fields
sub line {
    my ($action, $fields) = @_;

    for my $name (keys %$fields) {
        die "unknown alert field \"$name\"" unless $Known{$name};
    }

    die "unknown action \"$action\"" unless $Requests{$action};

    return "$Requests{$action} {"
           . join(',', map {
                 "\"$_\":" . (defined $fields->{$_}
                              ? json_string($fields->{$_}) : 'null')
             } @Fields)
           . "}\n";
}


# what GET /sent returns: [action, {fields}], ...
sub sent {
    return join '', map { line(@$_) } @_;
}


# the answer to the sender: [key, action, outcome, ticket_id, reason], ...
# (ItsmAnswer::text), for the connector "mock"
sub answer {
    my @r = map { {key => $_->[0], action => $_->[1], outcome => $_->[2],
                   connector => 'mock', ticket_id => $_->[3], reason => $_->[4]} } @_;
    return ItsmAnswer::text(@r == 1 ? $r[0]{outcome} : 'processed', @r);
}

1;
