package ItsmConf;

# What many t/*.t put into their blocks: the connectors and the locations
# of a test ITSM, and defaults for the sections every block of a file has.
#
#   connector(NAME, %o)   itsm_connector NAME: location /_itsm/NAME, create
#                         POST /api/ticket with the alert's title as body,
#                         ticket_id /id; create => 'METHOD PATH' and
#                         body => '...' (undef: none) change the create,
#                         ticket_id => '/pointer' the ticket id,
#                         lines => [...] adds directives to the block
#   directives($text)     "a b; c d;" as connector()'s lines
#   store_http(%o)        a zone, a store in logs/, connector mock with
#                         create POST /ticket (%o: connector()'s)
#   queue_http(%o)        the queue tests' (t/042, t/052): store => and
#                         retry => arguments, the replay URL, mock creates
#                         and resolves
#   access_http(@lines)   the connectors of the access tests, "mock" and
#                         "down" (as connector() makes them), then @lines
#                         at http{} level
#   access_itsm($id)      their ITSMs: /_itsm/mock/ answers 201 with ticket
#                         $id at once; /_itsm/down/ is a closed port, so a
#                         delivery that should not happen logs "connect()
#                         failed" at [error]
#   signed(%o)            the signature tests' (t/110-t/115) blocks: the
#                         access connectors and a replay zone, the ITSMs
#                         (ticket $o{ticket}), /alerts (signed with
#                         $o{alerts}, the replay cache, @{$o{extra}}, to
#                         mock), /down (signed with $o{down}, to down) and
#                         $o{locations}: defaults() of http_config and config
#                         (returns the config, for blocks that add to it);
#                         vector => [@lines]: /vector, signed as /alerts,
#                         @lines, 204 when the check passes; rotate =>
#                         'secret=NEW': /rotate, signed as /alerts and with
#                         NEW too, 204 with X-Secret (which secret matched);
#                         a block with "--- signed_alert" gets $main::Alert
#                         to /alerts signed by main::headers(): 201, the
#                         ticket, no [error]; "--- replayed" that twice:
#                         201, then a duplicate; "--- changed_byte: FROM
#                         TO" it with FROM made TO after signing, to
#                         /down: 401 signature_mismatch, no [error]
#   proxy_mock()          /_itsm/mock/ goes to /mock/ of the test server,
#                         whose own locations answer as the ITSM
#   tcp_mock(@lines)      /_itsm/mock/ goes to $TEST_NGINX_RAND_PORT_1 (a
#                         tcp_listen mock), Host itsm.test, and @lines
#   alerts(@lines)        location = /alerts { itsm_pass mock; @lines }
#   location(PATH, @lines)   location = PATH { @lines }
#   replay_http(@names)   the replay tests' (t/12*.t) connectors: mock,
#                         down, and @names; their seen-delivery zones
#   replay_config(%o)     their endpoints, each signed, with the replay
#                         cache: /alerts (mock), /down, /slow (an ITSM at
#                         $TEST_NGINX_RAND_PORT_1), /short (a tolerance of
#                         3s), /github (ttl $o{github_ttl}), /tiny (a zone
#                         that fills)
#   created(ticket => ID)  a block with "--- created: KEY": 201, the log
#                         line of ticket ID's create, no [error] (answer
#                         => 1: and the exact answer)
#   cases_of(@rows), cases()  a block's requests and what each must get,
#                         from one table ("--- cases eval: ...")
#   defaults(%sections)   a block preprocessor: a section a block does not
#                         have gets this text (or what a sub returns for
#                         the block, if defined); http_config only in a block that has
#                         a config (one without reuses the running nginx);
#                         when => SECTION: only in the blocks that have it;
#                         several calls apply in their order

use strict;
use warnings;

use ItsmAnswer ();

sub connector {
    my ($name, %o) = @_;
    my $create = $o{create} // 'POST /api/ticket';
    my $body = exists $o{body} ? $o{body} : '{"title": "{{ title }}"}';
    $create .= " 'body=$body'" if defined $body;

    my @d = (['location', "/_itsm/$name"], ['create', $create],
             ['ticket_id', $o{ticket_id} // '/id'], map { [split / /, $_, 2] } @{$o{lines} || []});

    return "    itsm_connector $name {\n"
           . join('', map { sprintf "        %-10s %s;\n", @$_ } @d)
           . "    }\n";
}

# the directives of "a b; c d;" (no ";" inside a quoted argument), as
# connector()'s lines
sub directives {
    my ($text) = @_;
    return map { s/^\s+|\s+\z//gr } grep { /\S/ } split /;/, $text;
}

# a zone, a store in logs/ and connector mock (create POST /ticket, %o as
# connector()'s)
sub store_http {
    my (%o) = @_;
    return "    itsm_zone  itsm:1m;\n    itsm_store logs/state.mdb;\n"
           . connector('mock', create => 'POST /ticket', %o);
}

# the queue tests' http{}: a zone, the store (store => its arguments), the
# replay URL of the test server, itsm_retry (retry => its arguments), and
# connector mock that creates and resolves (lines => more of its lines)
sub queue_http {
    my (%o) = @_;
    return "    itsm_zone       itsm:1m;\n"
           . "    itsm_store      " . ($o{store} // 'logs/state.mdb') . ";\n"
           . "    itsm_replay_url http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_itsm/replay;\n"
           . "    itsm_retry      $o{retry};\n"
           . connector('mock', create => 'POST /ticket',
                       lines => [q{resolve PUT "/ticket/{{ ticket_id }}" 'body={"status": "resolved"}'},
                                 @{$o{lines} || []}]);
}

# the real Request Tracker as the ITSM of connector NAME (root:password,
# the demo account util/rt.sh makes), at TIMEOUT (default 30s)
sub rt_itsm {
    my ($name, $timeout) = @_;
    $name //= 'rt';
    $timeout //= '30s';
    return "    location /_itsm/$name/ {\n        internal;\n"
         . "        proxy_pass http://127.0.0.1:\$TEST_NGINX_RT_PORT/;\n"
         . "        proxy_set_header Authorization \"Basic cm9vdDpwYXNzd29yZA==\";\n"
         . "        proxy_read_timeout $timeout;\n    }\n";
}

# RT's own API at /rt/, for the checks of what it holds
sub rt_api {
    return "    location /rt/ {\n"
         . "        proxy_pass http://127.0.0.1:\$TEST_NGINX_RT_PORT/;\n"
         . "        proxy_set_header Authorization \"Basic cm9vdDpwYXNzd29yZA==\";\n    }\n";
}

sub access_http {
    my (@lines) = @_;
    return connector('mock') . connector('down') . join '', map { "    $_\n" } @lines;
}

sub access_itsm {
    my ($id) = @_;
    return "    location /_itsm/mock/ { internal; return 201 '{\"id\":\"$id\"}'; }\n"
         . "    location /_itsm/down/ { internal; proxy_pass http://127.0.0.1:1/; }\n";
}

sub proxy_mock {
    return "    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/mock/; }\n";
}

sub tcp_mock {
    my (@lines) = @_;
    return "    location /_itsm/mock/ {\n        internal;\n"
           . "        proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/;\n"
           . "        proxy_set_header Host itsm.test;\n"
           . join('', map { "        $_;\n" } @lines) . "    }\n";
}

sub alerts {
    my (@lines) = @_;
    return "    location = /alerts { " . join(' ', map { "$_;" } 'itsm_pass mock', @lines) . " }\n";
}

sub location {
    my ($path, @lines) = @_;
    return "    location = $path {\n" . join('', map { "        $_;\n" } @lines) . "    }\n";
}

sub signed {
    my (%o) = @_;
    my $config = access_itsm($o{ticket})
               . location('/alerts', $o{alerts}, 'itsm_signature_replay zone=seen',
                          @{$o{extra} || []}, 'itsm_pass mock')
               . location('/down', $o{down} // $o{alerts}, 'itsm_pass down')
               . ($o{vector} ? location('/vector', $o{alerts}, @{$o{vector}}, 'try_files /.none =204') : '')
               . ($o{rotate} ? location('/rotate', "$o{alerts} $o{rotate}",
                                        'add_header X-Secret $itsm_access_secret always',
                                        'try_files /.none =204') : '')
               . ($o{locations} // '');
    defaults(http_config => access_http('itsm_signature_replay_zone seen:1m;'),
             config => $config);
    # a block with "--- signed_alert": the file's $Alert to /alerts, signed
    # by its headers(), creates the ticket, nothing logged at [error]
    defaults(when => 'signed_alert', request => sub { "POST /alerts\n$main::Alert" },
             more_headers => sub { main::headers() }, error_code => 201,
             response_body_like => qq("ticket_id":"$o{ticket}"), no_error_log => "[error]\n");
    # "--- replayed": that request twice with the same headers: created,
    # then answered as a duplicate
    defaults(when => 'replayed', request => sub { ["POST /alerts\n$main::Alert", "POST /alerts\n$main::Alert"] },
             more_headers => sub { my $h = main::headers(); [$h, $h] }, error_code => [201, 200],
             response_body_like => ['"status":"created"', '^\{"status":"duplicate",']);
    # "--- changed_byte: FROM TO": $Alert signed by headers(), then FROM
    # in it made TO, to /down: a signature mismatch, nothing delivered
    defaults(when => 'changed_byte',
             request => sub { my ($from, $to) = split ' ', $_[0]->changed_byte;
                              "POST /down\n" . ($main::Alert =~ s/\Q$from\E/$to/r) },
             more_headers => sub { main::headers() }, error_code => 401,
             response_body_like => 'signature_mismatch', no_error_log => "[error]\n");
    return $config;
}

# created(ticket => ID, ...): a block with "--- created: KEY" sends the
# alert KEY, which connector mock (connector => another) creates as ticket
# ID: 201, the log line of that create after the block's own error_log
# lines, no [error]; answer => 1: and the answer, exactly
sub created {
    my (%o) = @_;
    my $connector = $o{connector} // 'mock';

    &Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;
        my $key = $block->created;
        return unless defined $key;
        $block->set_value(error_code => 201);
        $block->set_value(error_log => ($block->error_log // '')
                          . qq{itsm: connector "$connector" created ticket "$o{ticket}" for alert "$key"\n});
        $block->set_value(no_error_log => "[error]\n");
        $block->set_value(response_body => ItsmAnswer::text('created', {key => $key, action => 'create',
                                                                        outcome => 'created', connector => $connector,
                                                                        ticket_id => $o{ticket}}))
            if $o{answer};
    });
}

# cases_of([REQUEST, HEADERS, CODE, RESULT], ...): one block's requests,
# each with its headers, the status it must get and the X-Result header
# it must carry ($itsm_access_result), as {request, headers, code,
# result}; a block with "--- cases eval: THAT" (after cases()) takes its
# request, more_headers, error_code and response_headers from it
sub cases_of {
    my (@c) = @_;
    return {
        request => [map { $_->[0] } @c],
        headers => [map { $_->[1] } @c],
        code => [map { $_->[2] } @c],
        result => [map { "X-Result: $_->[3]" } @c],
    };
}

sub cases {
    defaults(when => 'cases', request => sub { $_[0]->cases->{request} },
             more_headers => sub { $_[0]->cases->{headers} }, error_code => sub { $_[0]->cases->{code} },
             response_headers => sub { $_[0]->cases->{result} });
}

# the secret of the replay tests' Standard Webhooks endpoints
our $ReplaySecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $ReplaySig = "itsm_signature standard_webhooks secret=$ReplaySecret";

sub replay_http {
    my (@names) = @_;
    return access_http() . join('', map { connector($_) } @names)
           . "    itsm_signature_replay_zone seen:1m;\n"
           . "    itsm_signature_replay_zone tiny:32k;\n";
}

sub replay_config {
    my (%o) = @_;
    return access_itsm(14)
         . "    location /_itsm/slow/ { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/; }\n"
         . location('/alerts', $ReplaySig, 'itsm_signature_replay zone=seen', 'itsm_pass mock')
         . location('/down', $ReplaySig, 'itsm_signature_replay zone=seen', 'itsm_pass down')
         . location('/slow', $ReplaySig, 'itsm_signature_replay zone=seen', 'itsm_pass slow')
         . location('/short', $ReplaySig, 'itsm_signature_tolerance 3s', 'itsm_signature_replay zone=seen',
                    'try_files /.none =204')
         . location('/github', 'itsm_signature github secret=gh',
                    "itsm_signature_replay zone=seen ttl=$o{github_ttl}", 'try_files /.none =204')
         . location('/tiny', 'itsm_signature github secret=gh', 'itsm_signature_replay zone=tiny ttl=1h',
                    'try_files /.none =204');
}

# the default sets of the file, applied in the order they were given
our @Defaults;

sub defaults {
    my (%d) = @_;
    my $when = delete $d{when};

    my $fill = sub {
        my ($block) = @_;
        return if defined $when && !defined $block->$when;
        for my $k (sort grep { $_ ne 'http_config' } keys %d) {
            next if defined $block->$k;
            my $v = ref $d{$k} eq 'CODE' ? $d{$k}->($block) : $d{$k};
            $block->set_value($k, $v) if defined $v;
        }
        if (exists $d{http_config} && defined $block->config
            && !defined $block->http_config)
        {
            my $v = $d{http_config};
            $block->set_value(http_config => ref $v eq 'CODE' ? $v->($block) : $v);
        }
    };

    # one preprocessor for all of them: the runner's, real or fallback
    # (& passes the sub past its prototype)
    &Test::Nginx::Socket::add_block_preprocessor(sub { $_->($_[0]) for @Defaults })
        unless @Defaults;
    push @Defaults, $fill;
}

1;
