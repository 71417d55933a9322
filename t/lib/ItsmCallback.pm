package ItsmCallback;

# What the callback tests of the ITSMs' own profiles (t/074-t/077) share:
# a mock ITSM whose ticket ids come from the alert's title (create POST
# /ticket?id={{ title }} answers {"id": TITLE, "key": TITLE}), a
# connector "NAME" on it with the lines given, /alerts, the callback
# location of the profile, and the signers.
#
#   http(NAME, @lines)      itsm_store, itsm_zone and the connector
#   config(NAME, PROFILE)   the mock's locations, /alerts, /cb (the
#                           callback of NAME), /cb/other (of connector
#                           "other", which has its own token), /status
#   alert(KEY, TITLE[, STATUS])   the request of an alert
#   post(URI, BODY)         a callback request
#   hub(SECRET, BODY)       X-Hub-Signature: sha256=<hex> of the body
#   pd(BODY, @SECRETS)      X-PagerDuty-Signature: v1=<hex>,... one a secret
#   blocks(NAME, PROFILE)   the file's blocks: "--- seq" (a list of
#                           (request, headers) pairs, see seq) gives the
#                           requests and their headers; a block with an
#                           http_config and no config gets config(NAME,
#                           PROFILE); and ::alert(KEY, TITLE[, STATUS]),
#                           ::seq(...) for the file's eval sections
#   mock(%o)                itsm_store, itsm_zone and connector "mock" on
#                           the mock ITSM, with its callback token
#                           $TEST_NGINX_CB_TOK and RT's statuses; o:
#                           resolve => 1 (resolve and reopen lines),
#                           retention => ' retention=...', lines => [...]
#   bearer_blocks(TOKEN[, HTTP, CONFIG])   the blocks' defaults: a 30 s
#                           timeout, JSON and "Bearer TOKEN" as the
#                           request headers, HTTP and CONFIG as the
#                           http_config and config

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex sha256_hex);

our %Tok = (own  => 'itsmcb_test-token-of-the-itsm-number-one-00000',
            own2 => 'itsmcb_test-token-of-the-itsm-number-two-00000',
            other => 'itsmcb_test-token-of-the-other-connector-0000');

sub hash { sha256_hex($Tok{$_[0]}) }

# the actions of the callback tests' connector to the mock ITSM (also
# t/071-callback.t's): ticket ids from the alert's title, a comment on
# every repeat, resolve and reopen by the status field
our $Actions = <<'_EOC_';
        create    POST "/ticket?id={{ title }}" 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={"text": "again"}';
        resolve   PUT "/ticket/{{ ticket_id }}" 'body={"Status": "resolved"}';
        reopen    PUT "/ticket/{{ ticket_id }}" 'body={"Status": "open"}';
        ticket_id /id;
        on_repeat comment cooldown=0;
_EOC_

sub http {
    my ($name, @lines) = @_;
    my $more = join '', map { "        $_;\n" } @lines;
    my $other = hash('other');
    return <<"_EOC_";
    itsm_store logs/state.mdb;
    itsm_zone  itsm:1m;
    itsm_connector $name {
        location  /_itsm/mock;
$Actions$more    }
    itsm_connector other {
        location  /_itsm/mock;
        create    POST "/ticket?id={{ title }}" 'body={}';
        ticket_id /id;
        callback_token sha256:$other;
        callback_status rt;
    }
_EOC_
}

sub config {
    my ($name, $profile, $more) = @_;
    $more //= '';
    return <<"_EOC_";
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"\$arg_id","key":"\$arg_id"}'; }
    location ~ ^/mock/ticket/[^/]+/comment\$ { return 201 '{}'; }
    location ~ ^/mock/ticket/[^/]+\$ { return 200 '{}'; }
    location = /alerts { itsm_pass $name; }
    location = /cb { itsm_callback $name profile=$profile $more; }
    location = /cb/other { itsm_callback other profile=rt; }
    location = /status { itsm_status; }
_EOC_
}

sub alert { my ($key, $title, $status) = @_; $status //= 'firing';
    qq{POST /alerts\n{"key": "$key", "title": "$title", "status": "$status"}} }

sub post { my ($uri, $body) = @_; "POST $uri\n$body" }

sub hub { my ($secret, $body) = @_; "X-Hub-Signature: sha256=" . hmac_sha256_hex($body, $secret) . "\n" }

sub pd { my ($body, @secrets) = @_;
    "X-PagerDuty-Signature: " . join(',', map { 'v1=' . hmac_sha256_hex($body, $_) } @secrets) . "\n" }

# [requests], [headers] of a list of (request, headers) pairs
sub seq { my (@r, @h); while (@_) { push @r, shift; push @h, shift } [\@r, \@h] }

sub blocks {
    my ($name, $profile) = @_;
    no strict 'refs';
    *{'main::alert'} = sub { (alert(@_), "Content-Type: application/json\n") };
    *{'main::seq'} = \&seq;
    &Test::Nginx::Socket::add_block_preprocessor(sub {
        my $b = shift;
        if (defined $b->seq) {
            my $s = eval $b->seq; die $@ if $@;
            $b->set_value(request => $s->[0]);
            $b->set_value(more_headers => $s->[1]);
        }
        $b->set_value(config => config($name, $profile))
            if defined $b->http_config && !defined $b->config;
    });
}

sub mock {
    my (%o) = @_;
    my $retention = $o{retention} // '';
    my $resolve = !$o{resolve} ? ''
        : qq{        resolve   PUT "/ticket/{{ ticket_id }}" 'body={}';\n}
        . qq{        reopen    PUT "/ticket/{{ ticket_id }}" 'body={}';\n};
    my $more = join '', map { "        $_\n" } @{ $o{lines} // [] };
    return <<"_EOC_";
    itsm_store logs/state.mdb$retention;
    itsm_zone  itsm:1m;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST "/ticket?id={{ title }}" 'body={"title": "{{ title }}"}';
        comment   POST "/ticket/{{ ticket_id }}/comment" 'body={}';
$resolve        ticket_id /id;
        on_repeat comment cooldown=0;
$more        callback_token sha256:\$TEST_NGINX_CB_TOK;
        callback_status rt;
    }
_EOC_
}

sub bearer_blocks {
    my ($tok, $http, $config) = @_;
    &Test::Nginx::Socket::add_block_preprocessor(sub {
        my $b = shift;
        # the first request of a file waits for nginx under valgrind
        $b->set_value(timeout => 30) unless defined $b->timeout;
        $b->set_value(http_config => $http) if defined $http && !defined $b->http_config;
        $b->set_value(config => $config) if defined $config && !defined $b->config;
        if ($b->request || $b->pipelined_requests) {
            $b->set_value(more_headers => "Content-Type: application/json\nAuthorization: Bearer $tok\n")
                unless defined $b->more_headers;
        }
    });
}

1;
