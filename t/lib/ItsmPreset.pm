package ItsmPreset;

# Shared by the preset tests (t/4*.t): the presets in examples/*/ are used
# as they are, not copied into the tests.
#
# embed(NAME, ...) reads examples/NAME/nginx.conf and returns the two parts
# a Test::Nginx block needs:
#
#   http_config  everything in http {} but the server blocks (maps, store,
#                zone, upstreams, connectors), minus what Test::Nginx sets
#                itself (default_type, access_log, temp paths)
#   config       the location blocks of every server block but "location /"
#                (the ITSM location, the alert endpoints, the status page,
#                the replay location), for the test's own server
#
# with the changes that make it run in a test and nothing else:
#
#   * every upstream's server becomes the mock (default: the test server
#     itself, 127.0.0.1:$TEST_NGINX_SERVER_PORT, whose --- config answers
#     like the ITSM; or a tcp_listen port), proxy_pass https:// becomes
#     http:// and nothing else of it changes (the upstream keeps its name,
#     so the Host header is the preset's; a proxy_pass without a URI part
#     stays without one, so the mock receives the action's path exactly as
#     the ITSM would: t/405-preset-opsgenie.t TEST 6);
#   * body=FILE becomes the absolute path of the preset's template (in
#     itsm_connector and itsm_callback_source blocks);
#   * itsm_store goes to logs/, itsm_replay_url to the test server, log
#     files to logs/.
#
# Options: upstream => "127.0.0.1:PORT"; cooldown => "0s" (every
# "cooldown=" of the connector); set => {directive => "args"} replaces the
# arguments of a directive wherever it is (e.g. on_refire); header =>
# {Authorization => '"Basic ..."'} replaces a proxy_set_header; edit =>
# sub { s/.../.../ } changes both texts at the end ($_).
#
# render(NAME, ...) is the whole file, for t/400-presets.t: only the paths
# (module, pid, logs, store, temp files), the listen ports and the upstream
# addresses are changed.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Copy qw(copy);
use Digest::SHA ();
use IO::Socket::INET;
use ItsmAnswer ();

our $Root = abs_path(dirname(__FILE__) . '/../..');

sub dir  { "$Root/examples/$_[0]" }
sub file { dir($_[0]) . '/nginx.conf' }

# every preset: a directory of examples/ with an nginx.conf, but the
# quickstart (a template for "make run", tested by t/020-rt.t's RT)
sub names {
    opendir(my $dh, "$Root/examples") or die "examples/: $!";
    my @n = sort grep { $_ ne 'quickstart' && -f file($_) } readdir $dh;
    closedir $dh;
    return @n;
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}


# ---- a small reader of nginx's configuration syntax ----------------------

# nodes: {args => [tokens as written, quotes kept], children => [...] for a
# block}; comments are dropped
sub parse {
    my ($text, $what) = @_;
    my @stack = ([]);
    my @cur;

    for (;;) {
        if ($text =~ /\G\s+/gc || $text =~ /\G#[^\n]*/gc) {
            next;
        }

        if ($text =~ /\G;/gc) {
            push @{$stack[-1]}, {args => [@cur]};
            @cur = ();

        } elsif ($text =~ /\G\{/gc) {
            my $node = {args => [@cur], children => []};
            push @{$stack[-1]}, $node;
            push @stack, $node->{children};
            @cur = ();

        } elsif ($text =~ /\G\}/gc) {
            die "$what: unbalanced }\n" if @stack == 1;
            pop @stack;

        } elsif ($text =~ /\G("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/gcs
                 || $text =~ /\G([^\s;{}"'][^\s;{}]*)/gc)
        {
            push @cur, $1;

        } else {
            last;
        }
    }

    die "$what: cannot read near offset " . (pos($text) // 0) . "\n"
        if (pos($text) // 0) < length $text;
    die "$what: unclosed block\n" if @stack != 1;
    die "$what: directive without ;\n" if @cur;

    return $stack[0];
}

sub render_nodes {
    my ($nodes, $indent) = @_;
    my $out = '';

    for my $n (@$nodes) {
        my $head = $indent . join(' ', @{$n->{args}});

        if ($n->{children}) {
            $out .= "$head {\n" . render_nodes($n->{children}, "$indent    ")
                    . "$indent}\n";
        } else {
            $out .= "$head;\n";
        }
    }

    return $out;
}


# ---- embedding a preset into a Test::Nginx block -------------------------

sub embed {
    my ($name, %opt) = @_;
    my $top = parse(slurp(file($name)), file($name));

    my ($http) = grep { $_->{args}[0] eq 'http' } @$top;
    die "examples/$name/nginx.conf has no http block\n" unless $http;

    my (@http, @locations);

    for my $n (@{$http->{children}}) {
        my $d = $n->{args}[0];

        if ($d eq 'server') {
            push @locations, grep {
                $_->{args}[0] eq 'location'
                && !(@{$_->{args}} == 2 && $_->{args}[1] eq '/')
            } @{$n->{children}};
            next;
        }

        next if $d =~ /^(?:default_type|access_log|keepalive_timeout
                           |\w+_temp_path)$/x;
        push @http, $n;
    }

    fix($_, $name, \%opt, '') for @http, @locations;

    my @out = (render_nodes(\@http, '    '), render_nodes(\@locations, '    '));

    if ($opt{edit}) {
        $opt{edit}->() for @out;
    }

    return @out;
}

sub http_config { (embed(@_))[0] }
sub config      { (embed(@_))[1] }

sub fix {
    my ($n, $name, $opt, $parent) = @_;
    my $a = $n->{args};
    my $d = $a->[0];

    if ($opt->{set} && exists $opt->{set}{$d}) {
        @$a = ($d, $opt->{set}{$d});
    }

    if ($d eq 'server' && $parent eq 'upstream') {
        $a->[1] = $opt->{upstream} // '127.0.0.1:$TEST_NGINX_SERVER_PORT';

    } elsif ($d eq 'itsm_store') {
        $a->[1] = 'logs/' . basename($a->[1]);

    } elsif ($d eq 'itsm_replay_url') {
        $a->[1] =~ s{^http://[^/]+}{http://127.0.0.1:\$TEST_NGINX_SERVER_PORT};

    } elsif (($d eq 'access_log' || $d eq 'itsm_delivery_log') && $a->[1] ne 'off') {
        $a->[1] = 'logs/' . basename($a->[1]);

    } elsif ($d eq 'proxy_pass') {
        $a->[1] =~ s{^https://}{http://};

    } elsif ($d eq 'proxy_set_header' && $opt->{header}
             && exists $opt->{header}{$a->[1]})
    {
        $a->[2] = $opt->{header}{$a->[1]};

    } elsif ($parent eq 'itsm_connector' || $parent eq 'itsm_callback_source') {
        push @$a, "settle=$opt->{settle}" if $d eq 'find' && defined $opt->{settle};
        for (@$a) {
            s#^body=(?![{'"])(.+)$#'body=' . dir($name) . "/$1"#e;
            s{^cooldown=.*}{cooldown=$opt->{cooldown}} if $opt->{cooldown};
        }
    }

    if ($n->{children}) {
        fix($_, $name, $opt, $d) for @{$n->{children}};
    }
}


# ---- a contract mock of an ITSM API, in the test server -----------------

# mock(log => TAG, prefix => '/rest/', check => [[VAR, VALUE, STATUS, BODY]],
#      routes => [[METHOD, REGEX, STATUS, BODY, {HEADER => VALUE}], ...])
#
# Requests under each prefix are checked (a VAR that is not VALUE gets
# STATUS and BODY, as the ITSM would answer a missing credential or a wrong
# content type), logged to logs/contract-TAG.log as
#
#     METHOD http://HOST/URI
#     BODY
#
# and answered by the first route whose method and path (a regex on the
# URI without its query) match; anything else is a 404 that names itself.
# GET /contract returns the log.  mock_http() is the http{} part.

sub mock_http {
    return <<'_EOC_';
    log_format contract escape=none '$request_method http://$http_host$request_uri\n$request_body';
_EOC_
}

sub mock {
    my (%o) = @_;
    my $tag = $o{log} // 'itsm';
    my $out = '';

    for my $prefix (ref $o{prefix} ? @{$o{prefix}} : $o{prefix}) {
        $out .= "    location $prefix {\n";
        for my $c (@{$o{check} || []}) {
            my ($var, $value, $status, $body) = @$c;
            $body = $body eq '' ? '$http_x_mock_empty_body' : "'$body'";
            $out .= "        if ($var != \"$value\") { return $status $body; }\n";
        }
        $out .= "        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_mock\$request_uri;\n"
              . "        proxy_set_header Host \$http_host;\n"
              . "        access_log logs/contract-$tag.log contract;\n"
              . "    }\n";
    }

    my (%by, @order);
    for my $r (@{$o{routes}}) {
        push @order, $r->[1] unless $by{$r->[1]};
        push @{$by{$r->[1]}}, $r;
    }

    for my $re (@order) {
        $out .= "    location ~ \"^/_mock$re" . q{$"} . " {\n";
        for my $r (@{$by{$re}}) {
            my ($method, undef, $status, $body, $headers) = @$r;
            my $h = join '', map { "add_header $_ \"$headers->{$_}\" always; " }
                             sort keys %{$headers || {}};
            $body =~ s/'/\\'/g if defined $body;
            # an empty text would be nginx's own error page: an empty
            # variable makes an empty body, as many APIs send
            $body = !defined $body ? ''
                  : $body eq ''    ? ' $http_x_mock_empty_body'
                  :                  " '$body'";
            $out .= "        if (\$request_method = $method) { ${h}return $status$body; }\n";
        }
        $out .= "        return 405 'mock: no answer for this method';\n    }\n";
    }

    $out .= "    location /_mock/ { return 404 'mock: no route for \$request_method \$uri'; }\n"
          . "    location = /contract { default_type text/plain; alias logs/contract-$tag.log; }\n";

    return $out;
}


# the log as expected: TIME stands for a UTC time (first_seen, last_seen)
sub log_like {
    my ($text) = @_;
    my $re = join '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ',
                  map { quotemeta } split /TIME/, $text, -1;
    return qr/^$re\z/;
}


# the log as expected when each line is a request's first line and its body,
# the ones of interest alike but for a value: $template (a regex) with its
# %s replaced by each value in turn (an array of values for several %s)
sub lines {
    my ($template, @values) = @_;
    my $re = join '', map { sprintf $template, ref $_ ? @$_ : $_ } @values;
    return qr/^$re\z/;
}


# the creates of a group of alerts as RT's log shows them: each body with
# the SHA-256 of its alert's key (the fingerprint it names) in RT's custom
# field "ITSM Alert Key", as the source presets send them
sub rt_creates {
    my ($api, @bodies) = @_;
    return join '', map {
        my ($key) = /\(fingerprint\): ([0-9a-f]+)"/ or die "no fingerprint in $_";
        "POST $api\n" . s/\}\z/,"CustomFields":{"ITSM Alert Key":"@{[Digest::SHA::sha256_hex($key)]}"}}/r . "\n";
    } @bodies;
}


# ---- the whole file, for nginx -t and a start ----------------------------

# render(NAME, dir => DIR, module => PATH(S), upstream => ADDR,
#        ports => {8080 => P1, 8089 => P2}): DIR/nginx.conf and the
# templates next to it; returns the path of the configuration
sub render {
    my ($name, %opt) = @_;
    my $dir = $opt{dir};
    my $text = slurp(file($name));

    my $load = join '', map { "load_module $_;\n" } @{$opt{module}};
    $text =~ s{^load_module\s+\S*ngx_http_itsm_module\.so;[^\n]*\n}{$load}m
        or die "examples/$name/nginx.conf: no load_module line for the module\n";

    $text =~ s{/run/nginx\.pid}{$dir/nginx.pid}g;
    $text =~ s{/var/log/nginx/}{$dir/logs/}g;
    $text =~ s{/var/lib/nginx/itsm/}{$dir/state/}g;

    # upstream servers ("server host:port"; a server block has a "{")
    $text =~ s{^(\s*server\s+)[A-Za-z0-9.-]+:\d+}{$1$opt{upstream}}mg;
    $text =~ s{(proxy_pass\s+)https://}{$1http://}g;

    for my $port (sort keys %{$opt{ports}}) {
        $text =~ s{127\.0\.0\.1:$port\b}{127.0.0.1:$opt{ports}{$port}}g;
    }

    my $temp = join '', map { "    ${_}_temp_path $dir/temp/$_;\n" }
                        qw(client_body proxy fastcgi uwsgi scgi);
    $text =~ s{^(http\s*\{[^\n]*\n)}{$1$temp}m
        or die "examples/$name/nginx.conf: no http block\n";

    for my $sub (qw(logs state temp)) {
        mkdir "$dir/$sub" or die "$dir/$sub: $!" unless -d "$dir/$sub";
    }

    opendir(my $dh, dir($name)) or die dir($name) . ": $!";
    for my $f (grep { /\.json$/ } readdir $dh) {
        copy(dir($name) . "/$f", "$dir/$f") or die "$dir/$f: $!";
    }
    closedir $dh;

    my $conf = "$dir/nginx.conf";
    open(my $fh, '>', $conf) or die "$conf: $!";
    print $fh $text;
    close $fh;

    return $conf;
}


# ---- each ITSM's contract mock ------------------------------------------
#
# What an ITSM's API is documented to do (research/formats.md B1-B7), for
# mock(): what a request must carry (check: [VAR, VALUE, STATUS, BODY]),
# its routes ([NAME, METHOD, REGEX]) and the documented answer to each
# (answers: NAME => [STATUS, BODY, {HEADER => VALUE}]), more of http{}
# where a check needs a map.  And what a test needs to talk about it: the
# preset's connector, the ticket id the create's answer gives, the headers
# every request of the preset carries (in the order nginx sends them), the
# create's request line, the ITSM's raw answers to a create and a find,
# the find of a key and the search's answer that has the ticket.
#
# Jira Cloud's REST API v3 (B1) refuses a request without credentials
# (401) or without "Accept: application/json" (406); 201 with the issue
# key, 201 for a comment, 204 for an edit or a transition.  Jira Service
# Management (B1): requests and internal notes through /rest/servicedeskapi,
# transitions through Jira's platform API, errors as {"errorMessage",
# "i18nErrorMessage"}.  ServiceNow's Table API (B2): 401 "User Not
# Authenticated", 201/200 {"result": {...}}, errors as {"error": {"message",
# "detail"}, "status": "failure"}.  PagerDuty's Events API v2 (B3): 202
# {"status":"success",...,"dedup_key"}, 400 "invalid event".  Opsgenie's
# Alert API v2 (B4): 401 "Could not authenticate", 202 "Request will be
# processed" for a create, a note, a priority and a close.  RT 5's REST 2
# API (B6, as RT 5.0.3 answered on this machine): 401 {"message":
# "Unauthorized"} for a wrong token, 415 for a body that is not JSON, 201
# {"id":"20",...}, 201 with a list of messages for a comment, 200 and a
# list for a PUT.  Redmine (B7): 401 with an empty body for a wrong key,
# 422 for a body that is not JSON, 201 {"issue":{"id":123,...}}, 204 for a
# PUT.  A Slack incoming webhook (B5): 200 "ok", 400 invalid_payload.  A
# Teams Workflows webhook (B5): the URL's "sig" is the credential (401 in
# Azure Logic Apps' shape), 202 with an empty body.

sub jql_find {
    return "/rest/api/3/search/jql?jql=labels%20%3D%20%22itsm-" . Digest::SHA::sha256_hex($_[0])
           . "%22%20AND%20statusCategory%20%21%3D%20Done%20ORDER%20BY%20created%20DESC&fields=key&maxResults=1";
}

# RT and Redmine parse a body by its Content-Type; a GET has none ($word:
# how the regex writes \w, nginx reads \\w as \w)
sub body_type {
    my ($var, $word) = @_;
    return <<"_EOC_";
    map "\$request_method:\$http_content_type" \$$var {
        "~^GET:\$"                 json;
        "~^$word+:application/json\$"  json;
        default                   other;
    }
_EOC_
}

our $Gateway = '<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>';

my $JiraAuth = 'Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSklSQS1BUEktVE9LRU4=';
my $JsmAuth = 'Basic YWxlcnRzQGV4YW1wbGUuY29tOkZBS0UtSlNNLUFQSS1UT0tFTg==';
my $SnowAuth = 'Basic aXRzbS1pbnRlZ3JhdGlvbjpGQUtFLVBBU1NXT1JE';
my $SysId = '9d385017c611228701d22104cc95c371';
my $RtAuth = 'token 1-14-FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
my $RedmineKey = 'FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE';
my $TeamsPath = '/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke';
my $TeamsQuery = 'api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK';
my $OpsgenieAccepted = '{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}';

our %Contract = (
    jira => {
        connector => 'jira', ticket_id => 'OPS-17', log => 'jira', prefix => '/rest/',
        check  => [['$http_authorization', $JiraAuth, 401,
                    'Client must be authenticated to access this resource.'],
                   ['$http_accept', 'application/json', 406,
                    '{"errorMessages":["Not acceptable"]}']],
        routes => [[create => 'POST', '/rest/api/3/issue'],
                   [comment => 'POST', '/rest/api/3/issue/[^/]+/comment'],
                   [edit => 'PUT', '/rest/api/3/issue/[^/]+'],
                   [transitions => 'GET', '/rest/api/3/issue/[^/]+/transitions'],
                   [transition => 'POST', '/rest/api/3/issue/[^/]+/transitions'],
                   [search => 'GET', '/rest/api/3/search/jql']],
        answers => {
            create => [201, '{"id":"10000","key":"OPS-17","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000"}'],
            comment => [201, '{"self":"https://your-domain.atlassian.net/rest/api/3/issue/10000/comment/10100","id":"10100","created":"2026-11-22T05:40:00.000+0000"}'],
            edit => [204, ''],
            transition => [204, ''],
            # an open issue in Jira's software workflow
            transitions => [200, '{"expand":"transitions","transitions":[{"id":"11","name":"To Do","to":{"name":"To Do","statusCategory":{"key":"new"}},"hasScreen":false},{"id":"21","name":"In Progress","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}},"hasScreen":false},{"id":"31","name":"Done","to":{"name":"Done","statusCategory":{"key":"done"}},"hasScreen":false}]}'],
            search => [200, '{"issues":[],"isLast":true}'],
        },
        found => '{"issues":[{"expand":"renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations","id":"10000","self":"https://your-domain.atlassian.net/rest/api/3/issue/10000","key":"OPS-17"}],"isLast":true}',
        headers => ["Authorization: $JiraAuth", 'Accept: application/json', 'Host: your-domain.atlassian.net'],
        create => 'POST /rest/api/3/issue',
        create_reply => ["HTTP/1.1 201 Created\r\nContent-Type: application/json;charset=UTF-8\r\n"],
        find_type => 'application/json;charset=UTF-8',
        find => \&jql_find,
    },
    servicenow => {
        connector => 'servicenow', ticket_id => $SysId, log => 'snow', prefix => '/api/now/',
        check  => [['$http_authorization', $SnowAuth, 401,
                    '{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}']],
        routes => [[create => 'POST', '/api/now/table/incident'],
                   [patch => 'PATCH', '/api/now/table/incident/[0-9a-f]{32}'],
                   [search => 'GET', '/api/now/table/incident']],
        answers => {
            create => [201, qq{{"result":{"sys_id":"$SysId","number":"INC0010002","state":"1"}}}],
            patch => [200, qq{{"result":{"sys_id":"$SysId","number":"INC0010002","state":"2"}}}],
            search => [200, '{"result":[]}'],
        },
        found => qq{{"result":[{"sys_id":"$SysId"}]}},
        headers => ["Authorization: $SnowAuth", 'Accept: application/json', 'Host: your-instance.service-now.com'],
        create => 'POST /api/now/table/incident?sysparm_fields=sys_id,number,state',
        create_reply => ["HTTP/1.1 201 Created\r\nContent-Type: application/json;charset=UTF-8\r\n"
                         . "Location: https://your-instance.service-now.com/api/now/table/incident/$SysId\r\n"],
        find_type => 'application/json;charset=UTF-8',
        find => sub {
            "/api/now/table/incident?sysparm_query=correlation_id%3D" . Digest::SHA::sha256_hex($_[0])
            . "%5Eactive%3Dtrue%5EORDERBYDESCsys_created_on&sysparm_fields=sys_id&sysparm_limit=1";
        },
    },
    pagerduty => {
        connector => 'pagerduty', ticket_id => 'disk-db1', log => 'pd', prefix => '/v2/',
        check  => [['$http_content_type', 'application/json', 400,
                    '{"status":"invalid event","message":"Event object is invalid","errors":["body is not JSON"]}']],
        routes => [[enqueue => 'POST', '/v2/enqueue']],
        answers => {enqueue => [202, '{"status":"success","message":"Event processed","dedup_key":"disk-db1"}']},
        headers => ['Accept: application/json', 'Host: events.pagerduty.com'],
        create => 'POST /v2/enqueue',
        create_reply => ["HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"],
    },
    opsgenie => {
        connector => 'opsgenie', log => 'og', prefix => '/v2/',
        check  => [['$http_authorization', 'GenieKey FAKE0000-0000-0000-0000-000000000000', 401,
                    '{"message":"Could not authenticate","took":0.0,"requestId":"0f2bd3d6-7a2f-4b44-9a0e-3b4a4a0a7f4c"}']],
        # the routes match nginx's decoded URI, where an alias's %2F is a
        # "/" again: ".+", not "[^/]+" (the log keeps the bytes received)
        routes => [[create => 'POST', '/v2/alerts'],
                   [action => 'POST', '/v2/alerts/.+/(notes|close)'],
                   [action => 'PUT', '/v2/alerts/.+/priority']],
        answers => {create => [202, $OpsgenieAccepted], action => [202, $OpsgenieAccepted]},
        headers => ['Authorization: GenieKey FAKE0000-0000-0000-0000-000000000000', 'Accept: application/json',
                    'Host: api.opsgenie.com'],
        create => 'POST /v2/alerts',
        create_reply => ["HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                         . "X-Request-ID: 43a29c5c-3dbf-4fa4-9c26-f4f71023e120\r\n"],
    },
    'request-tracker' => {
        connector => 'rt', ticket_id => '20', log => 'rt', prefix => '/REST/2.0/',
        check  => [['$http_authorization', $RtAuth, 401, '{"message":"Unauthorized"}'],
                   ['$rt_body_type', 'json', 415, '{"message":"Unsupported Media Type"}']],
        http   => body_type('rt_body_type', '\\w'),
        routes => [[create => 'POST', '/REST/2.0/ticket'],
                   [comment => 'POST', '/REST/2.0/ticket/[0-9]+/comment'],
                   [put => 'PUT', '/REST/2.0/ticket/[0-9]+'],
                   [search => 'GET', '/REST/2.0/tickets']],
        answers => {
            create => [201, '{"id":"20","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20"}'],
            comment => [201, '["Comments added"]'],
            put => [200, q{["Ticket 20: Priority changed from '100' to '50'"]}],
            # RT 5.0.3's answers to the preset's find (util/rt.sh's RT)
            search => [200, '{"items":[],"count":0,"per_page":1,"total":0,"pages":0.0,"page":1}'],
        },
        found => '{"per_page":1,"count":1,"items":[{"type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/20","id":"20"}],"page":1,"pages":1,"total":1}',
        gateway => '<html><head><title>504 Gateway Time-out</title></head></html>',
        headers => ["Authorization: $RtAuth", 'Accept: application/json', 'Host: rt.example.com'],
        create => 'POST /REST/2.0/ticket',
        create_reply => ["HTTP/1.1 201 Created\r\nLocation: /REST/2.0/ticket/20\r\n"
                         . "Content-Type: application/json; charset=utf-8\r\n"],
        find_type => 'application/json; charset="utf-8"',
        find => sub {
            "/REST/2.0/tickets?query=%27CF.%7BITSM%20Alert%20Key%7D%27%3D%27" . Digest::SHA::sha256_hex($_[0])
            . "%27%20AND%20Status%3D%27__Active__%27&orderby=Created&order=DESC&per_page=1";
        },
    },
    redmine => {
        connector => 'redmine', ticket_id => '123', log => 'redmine', prefix => '/issues',
        check  => [['$http_x_redmine_api_key', $RedmineKey, 401, ''],
                   ['$redmine_body_type', 'json', 422, '{"errors":["Request body is not JSON"]}']],
        http   => body_type('redmine_body_type', '\\\\w'),
        routes => [[create => 'POST', '/issues\.json'],
                   [put => 'PUT', '/issues/[0-9]+\.json'],
                   [search => 'GET', '/issues\.json']],
        answers => {
            create => [201, '{"issue":{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New"},"priority":{"id":5,"name":"Immediate"},"subject":"Disk full on db-1","created_on":"2026-11-22T05:40:00Z"}}'],
            put => [204, ''],
            search => [200, '{"issues":[],"total_count":0,"offset":0,"limit":1}'],
        },
        found => '{"issues":[{"id":123,"project":{"id":1,"name":"Ops"},"tracker":{"id":1,"name":"Bug"},"status":{"id":1,"name":"New","is_closed":false},"priority":{"id":5,"name":"Immediate"},"author":{"id":5,"name":"Alerts"},"subject":"Disk full on db-1","custom_fields":[{"id":1,"name":"ITSM Alert Key","value":"' . Digest::SHA::sha256_hex('disk-db1') . '"}],"created_on":"2026-11-22T05:40:00Z"}],"total_count":1,"offset":0,"limit":1}',
        headers => ["X-Redmine-API-Key: $RedmineKey", 'Accept: application/json', 'Host: redmine.example.com'],
        create => 'POST /issues.json',
        create_reply => ["HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\n"
                         . "Location: https://redmine.example.com/issues/123\r\n"],
        find_type => 'application/json; charset=utf-8',
        find => sub {
            my $h = Digest::SHA::sha256_hex($_[0]);
            "/issues.json?cf_1=$h&description=~$h&status_id=open&sort=id:desc&limit=1";
        },
    },
    slack => {
        connector => 'slack', log => 'slack', prefix => '/services/',
        check  => [['$http_content_type', 'application/json', 400, 'invalid_payload']],
        routes => [[post => 'POST', '/services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE']],
        answers => {post => [200, 'ok']},
        headers => ['Host: hooks.slack.com'],
        create => 'POST /services/T00000000/B00000000/FAKEFAKEFAKEFAKEFAKEFAKE',
        create_reply => ["HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"],
    },
    teams => {
        connector => 'teams', log => 'teams', prefix => '/workflows/',
        check  => [['$args', $TeamsQuery, 401, '{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated only by Shared Access scheme."}}'],
                   ['$http_content_type', 'application/json', 400, '{"error":{"code":"InvalidRequestContent","message":"The request content is not valid and could not be deserialized."}}']],
        routes => [[post => 'POST', $TeamsPath]],
        answers => {post => [202, '']},
        headers => ['Host: prod-00.westeurope.logic.azure.com'],
        create => "POST $TeamsPath?$TeamsQuery",
        create_reply => ["HTTP/1.1 202 Accepted\r\n", "x-ms-workflow-run-id: 08584530000000000000000000000CU00\r\n"],
    },
);

# The email presets (examples/email-*, research/callbacks.md "Sending
# email"), notify only like Slack and Teams.  SendGrid's v3 Mail Send: 202
# with an empty body, errors as {"errors":[{"message","field","help"}]}
# (401 for a wrong key).  Postmark's Email API: 200 {"To",...,"ErrorCode":0,
# "Message":"OK"}, errors as {"ErrorCode","Message"} (401 ErrorCode 10 for a
# wrong token, 422 for a message it refuses).  Microsoft Graph's sendMail:
# 202 with an empty body, errors as {"error":{"code","message",
# "innerError"}} (401 InvalidAuthenticationToken).  Mailgun's Messages
# API: multipart/form-data (a body of another type is 400), 200
# {"id","message":"Queued. Thank you."}, 401 "Forbidden" for a wrong key.
# Request Tracker's mail gateway (RT 5.0.3 on this machine, t/098): 200
# "ok" and the ticket, 200 "not ok - ..." when it refuses.
my $SendgridAuth = 'Bearer SG.FAKEFAKEFAKEFAKEFAKEFA.FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK';
my $GraphAuth = 'Bearer FAKE.eyJGQUtFIjoiRkFLRSJ9.FAKEFAKEFAKEFAKE';
my $MailgunAuth = 'Basic YXBpOkZBS0UtTUFJTEdVTi1BUEktS0VZ';

# a multipart body with the module's boundary (itsm- and 32 hex digits)
sub multipart_type {
    my ($var) = @_;
    return <<"_EOC_";
    map \$http_content_type \$$var {
        "~^multipart/form-data; boundary=itsm-[0-9a-f]{32}\$"  multipart;
        default                                                 other;
    }
_EOC_
}

$Contract{'email-sendgrid'} = {
    connector => 'sendgrid', log => 'sendgrid', prefix => '/v3/',
    check  => [['$http_authorization', $SendgridAuth, 401,
                '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}'],
               ['$http_content_type', 'application/json', 400,
                '{"errors":[{"message":"Content-Type should be application/json.","field":null,"help":null}]}']],
    routes => [[send => 'POST', '/v3/mail/send']],
    answers => {send => [202, '']},
    headers => ["Authorization: $SendgridAuth", 'Host: api.sendgrid.com'],
    create => 'POST /v3/mail/send',
    create_reply => ["HTTP/1.1 202 Accepted\r\n", "X-Message-Id: W9fFAKEFAKEFAKEFAKEFAK\r\n"],
};

$Contract{'email-postmark'} = {
    connector => 'postmark', log => 'postmark', prefix => '/email',
    check  => [['$http_x_postmark_server_token', 'FAKEFAKE-FAKE-FAKE-FAKE-FAKEFAKEFAKE', 401,
                '{"ErrorCode":10,"Message":"The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token."}']],
    routes => [[send => 'POST', '/email']],
    answers => {send => [200, '{"To":"oncall@example.com","SubmittedAt":"2026-12-07T01:20:01.4178645-05:00","MessageID":"0a129aee-e1cd-480d-b08d-4f48548ff48d","ErrorCode":0,"Message":"OK"}']},
    headers => ['X-Postmark-Server-Token: FAKEFAKE-FAKE-FAKE-FAKE-FAKEFAKEFAKE', 'Accept: application/json',
                'Host: api.postmarkapp.com'],
    create => 'POST /email',
    create_reply => ["HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"],
};

$Contract{'email-graph'} = {
    connector => 'graph', log => 'graph', prefix => '/v1.0/',
    check  => [['$http_authorization', $GraphAuth, 401,
                '{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid.","innerError":{"date":"2026-12-07T06:20:00","request-id":"a1b2c3d4-1111-2222-3333-444455556666","client-request-id":"a1b2c3d4-1111-2222-3333-444455556666"}}}']],
    routes => [[send => 'POST', '/v1.0/users/alerts@example.com/sendMail']],
    answers => {send => [202, '']},
    headers => ["Authorization: $GraphAuth", 'Host: graph.microsoft.com'],
    create => 'POST /v1.0/users/alerts@example.com/sendMail',
    create_reply => ["HTTP/1.1 202 Accepted\r\n", "request-id: a1b2c3d4-1111-2222-3333-444455556666\r\n"],
};

$Contract{'email-mailgun'} = {
    connector => 'mailgun', log => 'mailgun', prefix => '/v3/',
    check  => [['$http_authorization', $MailgunAuth, 401, 'Forbidden'],
               ['$mailgun_body_type', 'multipart', 400, '{"message":"from parameter is missing"}']],
    http   => multipart_type('mailgun_body_type'),
    routes => [[send => 'POST', '/v3/mg\.example\.com/messages']],
    answers => {send => [200, '{"id":"<20261207062000.1.FAKEFAKEFAKE@mg.example.com>","message":"Queued. Thank you."}']},
    headers => ["Authorization: $MailgunAuth", 'Host: api.mailgun.net'],
    create => 'POST /v3/mg.example.com/messages',
};

$Contract{'email-rt'} = {
    connector => 'rt_mail', log => 'rt-mail', prefix => '/REST/1.0/',
    check  => [['$rt_mail_body_type', 'multipart', 200, 'not ok - no message'],],
    http   => multipart_type('rt_mail_body_type'),
    routes => [[gateway => 'POST', '/REST/1.0/NoAuth/mail-gateway']],
    answers => {gateway => [200, "ok\nTicket: 20\nQueue: General\nOwner: Nobody\nStatus: new\nSubject: [critical] Disk full on db-1\nRequestor: alerts\@example.com\n"]},
    headers => ['Host: rt.example.com'],
    create => 'POST /REST/1.0/NoAuth/mail-gateway',
};

# The universal webhook (examples/universal-webhook): a receiver of your
# own, as the example's comments describe it: a bearer token (401
# otherwise), 200 {"id"} for every event.
$Contract{'universal-webhook'} = {
    connector => 'webhook', ticket_id => 'EVT-1', log => 'webhook', prefix => '/itsm/',
    check  => [['$http_authorization', 'Bearer FAKE-webhook-token-FAKEFAKEFAKEFAKE', 401,
                '{"error":"unauthorized"}']],
    routes => [[events => 'POST', '/itsm/events']],
    answers => {events => [200, '{"id":"EVT-1","status":"accepted"}']},
    headers => ['Authorization: Bearer FAKE-webhook-token-FAKEFAKEFAKEFAKE', 'Host: hooks.example.com'],
    create => 'POST /itsm/events?event=create',
    create_reply => ["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"],
};

# Jira Service Management: requests and their internal notes through
# /rest/servicedeskapi, all else through Jira's platform API; its errors
# as {"errorMessage"}
$Contract{jsm} = {
    %{$Contract{jira}},
    connector => 'jsm', ticket_id => 'ITS-42', log => 'jsm',
    check  => [['$http_authorization', $JsmAuth, 401,
                'Client must be authenticated to access this resource.'],
               ['$http_accept', 'application/json', 406, '{"errorMessage":"Not acceptable"}']],
    routes => [[create => 'POST', '/rest/servicedeskapi/request'],
               [comment => 'POST', '/rest/servicedeskapi/request/[^/]+/comment'],
               @{$Contract{jira}{routes}}[2 .. 5]],
    answers => {
        %{$Contract{jira}{answers}},
        create => [201, '{"_expands":["participant","status","sla","requestType","serviceDesk","attachment","action","comment"],"issueId":"10010","issueKey":"ITS-42","requestTypeId":"10","serviceDeskId":"1","createdDate":{"iso8601":"2026-11-22T05:40:00+0000","epochMillis":1795239600000},"currentStatus":{"status":"Waiting for support","statusCategory":"NEW"},"_links":{"jiraRest":"https://your-domain.atlassian.net/rest/api/2/issue/10010","web":"https://your-domain.atlassian.net/servicedesk/customer/portal/1/ITS-42","self":"https://your-domain.atlassian.net/rest/servicedeskapi/request/10010"}}'],
        comment => [201, '{"id":"10100","body":"...","public":false,"created":{"iso8601":"2026-11-22T05:41:00+0000"}}'],
        # an issue in JSM's IT service management workflow
        transitions => [200, '{"expand":"transitions","transitions":[{"id":"7","name":"Respond to customer","to":{"name":"Waiting for customer"}},{"id":"5","name":"Resolve this issue","to":{"name":"Resolved","statusCategory":{"key":"done"}}},{"id":"3","name":"Reopen issue","to":{"name":"Waiting for support"}}]}'],
    },
    found => $Contract{jira}{found} =~ s/OPS-17/ITS-42/r,
    headers => ["Authorization: $JsmAuth", @{$Contract{jira}{headers}}[1, 2]],
    create => 'POST /rest/servicedeskapi/request',
};

# the source presets file into Request Tracker, through the same contract
$Contract{"source-$_"} = $Contract{'request-tracker'}
    for qw(alertmanager azure grafana datadog siem);

# contract_mock(NAME, %over): the ITSM's contract mock; %over replaces an
# answer (NAME => [STATUS, BODY, {HEADER => VALUE}]) and log => TAG names
# its log
sub contract_mock {
    my ($name, %over) = @_;
    my $c = $Contract{$name} or die "ItsmPreset: no contract for $name\n";
    my %r = (%{$c->{answers}}, %over);

    return mock(log => $over{log} // $c->{log}, prefix => $c->{prefix},
                check => $c->{check},
                routes => [map { [$_->[1], $_->[2], @{$r{$_->[0]}}] } @{$c->{routes}}]);
}

# an answer of the ITSM as raw bytes: the status line and $head (ends with
# CRLF), the length, the body
sub raw_answer {
    my ($head, $body, $extra) = @_;
    return $head . "Content-Length: " . length($body) . "\r\n" . ($extra // '') . "\r\n$body";
}


# ---- a preset's test file (t/401-t/410, t/420-t/424) ---------------------

# suite(NAME, %o): the file's blocks test examples/NAME/ against its ITSM's
# contract mock, in the test server.  It gives the file (main::)
#
#   mock(%over)     the contract mock (contract_mock)
#   http(%opt)      the http{} part: the mock's and the preset's (embed)
#   config(%opt)    the preset's locations and the mock (mock => TEXT for
#                   another one), for the test's own server
#   req($alert)     POST /alerts/generic with $alert
#   answer, error   the answers for the ITSM's connector and ticket and
#                   the key $o{key}, default disk-db1 (ItsmAnswer)
# and $o{edit} changes the preset's text as embed()'s edit does,
# $o{answers} replaces answers of the contract for the whole file,
# $o{clean} (names of sections) makes their blocks assert no [error];
#   $Url            the create's URL without its query (the ITSM's log
#                   names it so); a file that set it keeps its own
#   $Firing, $Again, $Resolved   the alert disk-db1 (severity
#                   $o{severity}, default critical) as it fires, fires
#                   again, resolves; a file that set them keeps its own
#
# and, for each block, defaults (a request with Content-Type
# application/json, http{} as http(), the request POSTs $Firing) and the
# scenarios every ITSM goes through, each a section that writes the
# block's other sections from the contract:
#
#   --- exact_create   the create goes to a raw TCP mock, which asserts the
#                      exact request (create => the body the preset sends
#                      for $Firing) and answers as the ITSM does: 201 and
#                      the ticket id for the sender
#   --- lost_create    the ITSM reads the exact create and closes the
#                      connection without an answer: 503, the key in doubt
#   --- lost_find      (after lost_create, same nginx) the next copy sends
#                      the exact find; the ITSM has the ticket: 201 with it
#   --- gateway_find   (value: what the ITSM gets after the find) the create
#                      is answered 504 by a gateway, the next copy finds
#                      the ticket, the one after comments on it
#   --- find_none      the same, and the find has nothing: the create again
#                      (in these three, the find's settle= is 0: the next
#                      copy asks at once; t/043 keeps the wait)
#   --- cooldown       a repeat within the preset's cooldown sends nothing
#                      (the ITSM's log: sent => SUB of suite() makes it of
#                      the create's body, else the create as create_log)
#   --- update         (value: [SEVERITY, TAIL, %answers]) on_repeat
#                      update: the repeat, with another severity, is the
#                      update action; TAIL is what the ITSM gets after the
#                      create
#   --- token_refused  (value: [VAR, [REQUEST, HEADER, 'missing' or
#                      'invalid'], ...]) a source preset's token: each
#                      request, with the header, is the module's 401 with
#                      its Bearer challenge; RT gets nothing; the status
#                      page counts them
#   --- lifecycle      (value: the outcome of each alert, e.g. "created
#                      commented resolved reopened"; --- itsm_log: what the
#                      ITSM then received, or a regex of it) fire, fire again, resolve, fire
#                      again and GET /contract, with a cooldown of 0s: 201
#                      for "created", else 200, and the answers
#   --- create_refused (value: [ROUTE, STATUS, BODY]) the mock answers the
#                      create's ROUTE with STATUS and BODY, a refusal: the
#                      sender gets 502 with them, and no Retry-After
#   --- credential_refused (value: [FROM, TO, BODY]) the preset's
#                      credential made wrong (FROM, a regex, replaced by TO
#                      in its text): the ITSM's 401 with BODY is a refusal,
#                      502 with it, and no Retry-After
#   --- unavailable    (value: [ROUTE, STATUS, BODY, RETRY_AFTER]) the mock
#                      answers the create's ROUTE with STATUS and BODY (and
#                      a Retry-After if given): 503 with them and the
#                      ITSM's Retry-After, or the default 30
#   --- paused         (value: [ROUTE, BODY, LOG]) the mock answers 429 with
#                      BODY and Retry-After 40: 503 with them, and the
#                      connector pauses: a second alert is not sent, the
#                      ITSM got LOG (a regex) only
#   --- subjects       (value: LOG, a regex) six alerts, one of each
#                      severity (critical high warning info low bogus) and
#                      title "t SEVERITY", are created; the ITSM got LOG
#   --- created_sent   (value: LOG, a regex) $Firing creates a ticket (201
#                      and the answer), and the ITSM got LOG
#   --- created_as     (value: [ALERT, LOG]) ALERT creates a ticket (201,
#                      "created"), and GET /contract shows that the ITSM
#                      got LOG (the method and URL, the body; or a regex)
#   --- gone_recreated (value: the mock's answers, e.g. [comment => [404,
#                      BODY]]) the ticket is gone: with a cooldown of 0s,
#                      the repeat's update finds so, and on_gone new makes
#                      a new ticket (201 and 201, reason "recreated")
#   --- fired_twice_resolved (value: [ALERT, LOG]) with a cooldown of 0s,
#                      ALERT, ALERT again, ALERT resolved and GET /contract:
#                      created, commented, resolved, and the ITSM got LOG
#   --- mock_cooldown_0s  (value: the mock, e.g. ::mock(log => 't13', ...))
#                      nginx with that mock and a cooldown of 0s, so that
#                      each repeat acts at once; the block says the rest
#
# The block's own sections win; blocks that take a mock's log name it after
# their number (TEST 2: t2).

our ($Name, %Suite);

# the action of each outcome an answer can report
our %Action = (created => 'create', commented => 'comment', updated => 'update',
               resolved => 'resolve', reopened => 'reopen');

sub suite {
    my ($name, %o) = @_;
    my $c = $Contract{$name} or die "ItsmPreset: no contract for $name\n";
    ($Name, %Suite) = ($name, %o);

    no strict 'refs';
    no warnings 'redefine';
    my @edit = $o{edit} ? (edit => $o{edit}) : ();
    my %answers = %{$o{answers} || {}};
    *{"main::mock"} = sub { contract_mock($name, %answers, @_) };
    *{"main::http"} = sub { mock_http() . ($c->{http} // '') . http_config($name, @edit, @_) };
    *{"main::config"} = sub {
        my (%opt) = @_;
        my $m = delete $opt{mock} // contract_mock($name, %answers);
        return config($name, @edit, %opt) . $m;
    };
    *{"main::req"} = sub { "POST /alerts/generic\n$_[0]" };

    ItsmAnswer::install('main', key => $o{key} // 'disk-db1', connector => $c->{connector},
                        ticket_id => $c->{ticket_id});

    # the search's answer that has the ticket
    ${"main::Search"} //= $c->{found};

    # the URL of the create, without its query, as the ITSM's log shows it
    ${"main::Url"} //= "http://" . host() . ((split / /, $c->{create})[1] =~ s/\?.*//r);

    my $severity = $o{severity} // 'critical';
    ${"main::Firing"} //= qq{{"key": "disk-db1", "title": "Disk full on db-1", "severity": "$severity", "description": "/var is 98% full", "resource": "db-1", "status": "firing"}};
    ${"main::Again"} //= ${"main::Firing"} =~ s/98%/99%/r;
    ${"main::Resolved"} //= ${"main::Firing"} =~ s/98%/70%/r =~ s/"firing"/"resolved"/r;

    # the one-shot ITSM of lost_create and lost_find (they share one
    # nginx): a port the kernel picks at random.  ItsmPorts would give the
    # first port of ITSM_TEST_PORTS every time, and the blocks before use
    # it may give it to a keepalive connection as its local port (both lie
    # in the kernel's ephemeral range): the mock could not listen on it.
    if ($c->{find}) {
        $ENV{TEST_NGINX_LOST_PORT} ||= do {
            my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
                or die "no free port: $!";
            $s->sockport;
        };
    }

    # as every preset file has had: the blocks in their order (lost_find
    # needs the nginx of lost_create), no "location /" of Test::Nginx's
    main::no_shuffle();
    main::no_root_location();
    &Test::Nginx::Socket::add_block_preprocessor(\&scenario);
}

# the headers every request carries, then what a request with a body adds
sub query {
    my ($line, $body) = @_;
    my $c = $Contract{$Name};
    my $q = "$line HTTP/1.1\r\n" . join('', map { "$_\r\n" } @{$c->{headers}});
    $q .= "Content-Length: " . length($body) . "\r\nContent-Type: application/json\r\n"
        if defined $body;
    return $q . "\r\n" . ($body // '');
}

# the ITSM's raw answer to a create: its own head, the answer of the
# create route
sub create_reply {
    my $c = $Contract{$Name};
    my ($head, $after) = @{$c->{create_reply}};
    return raw_answer($head, $c->{answers}{$c->{routes}[0][0]}[1], $after);
}

sub host { (grep { /^Host: / } @{$Contract{$Name}{headers}})[0] =~ s/^Host: //r }

# what the ITSM's log (GET /contract) shows of a create and a find
sub create_log { my ($m, $uri) = split / /, $Contract{$Name}{create}; "$m http://" . host() . "$uri\n$_[0]\n" }
sub find_log { "GET http://" . host() . $Contract{$Name}{find}->('disk-db1') . "\n\n" }

sub scenario {
    my ($block) = @_;
    my $c = $Contract{$Name};
    my ($n) = ($block->name // '') =~ /^TEST (\d+):/;
    my $log = "t" . ($n // 0);
    my ($firing, $again, $resolved) = map { no strict 'refs'; ${"main::$_"} } qw(Firing Again Resolved);
    my $gateway = $c->{gateway} // $Gateway;
    my $create = $Suite{create};
    my %s;

    if (defined $block->exact_create) {
        %s = (http_config => main::http(upstream => '127.0.0.1:$TEST_NGINX_RAND_PORT_1'),
              config => main::config(), tcp_listen => '$TEST_NGINX_RAND_PORT_1',
              tcp_query => query($c->{create}, $create), tcp_reply => create_reply(),
              error_code => 201, response_body_like => main::answer('created', 'create', 'created'));

    } elsif (defined $block->lost_create) {
        # the find's settle (5 s) is the module's to keep (t/043); here
        # the next copy asks at once
        %s = (http_config => main::http(upstream => '127.0.0.1:$TEST_NGINX_LOST_PORT', settle => 0),
              config => main::config(), tcp_listen => '$TEST_NGINX_LOST_PORT',
              tcp_query => query($c->{create}, $create), tcp_reply => '',
              error_code => 503,
              response_body_like => main::error('itsm_unavailable', 'create', 502, $ItsmAnswer::NoAnswer));

    } elsif (defined $block->lost_find) {
        %s = (tcp_listen => '$TEST_NGINX_LOST_PORT',
              tcp_query => query('GET ' . $c->{find}->('disk-db1')),
              tcp_reply => raw_answer("HTTP/1.1 200 OK\r\nContent-Type: $c->{find_type}\r\n",
                                      $c->{found}, "Connection: close\r\n"),
              request => main::req($again), error_code => 201,
              response_body_like => main::answer('created', 'create', 'created', reason => $ItsmAnswer::Reason{found}));

    } elsif (defined $block->gateway_find) {
        %s = (http_config => main::http(cooldown => '0s', settle => 0),
              config => main::config(mock => main::mock(log => $log, create => [504, $gateway], search => [200, $c->{found}])),
              request => [map { main::req($_) } $firing, $firing, $again], error_code => [503, 201, 200, 200],
              response_body_like => [main::error('itsm_unavailable', 'create', 504, $gateway),
                                     main::answer('created', 'create', 'created', reason => $ItsmAnswer::Reason{found}),
                                     main::answer('commented', 'comment', 'commented'),
                                     log_like(create_log($create) . find_log() . $block->gateway_find)]);
        push @{$s{request}}, "GET /contract";

    } elsif (defined $block->find_none) {
        %s = (http_config => main::http(settle => 0),
              config => main::config(mock => main::mock(log => $log, create => [504, $gateway])),
              request => [main::req($firing), main::req($firing), "GET /contract"], error_code => [503, 503, 200],
              response_body_like => [(main::error('itsm_unavailable', 'create', 504, $gateway)) x 2,
                                     log_like(create_log($create) . find_log() . create_log($create))]);

    } elsif (defined $block->cooldown) {
        %s = (config => main::config(mock => main::mock(log => $log)),
              request => [main::req($firing), main::req($again), "GET /contract"], error_code => [201, 200, 200],
              response_body_like => [main::answer('created', 'create', 'created'),
                                     main::answer('cooldown', 'none', 'cooldown', reason => $ItsmAnswer::Reason{cooldown}),
                                     $Suite{sent} ? $Suite{sent}->($create) : log_like(create_log($create))]);

    } elsif (defined $block->update) {
        my ($severity, $tail, %over) = @{$block->update};
        %s = (http_config => main::http(set => {on_repeat => 'update'}),
              config => main::config(mock => main::mock(log => $log, %over)),
              request => [main::req($firing), main::req($again =~ s/"severity": "\w+"/"severity": "$severity"/r),
                          "GET /contract"],
              error_code => [201, 200, 200],
              response_body_like => [main::answer('created', 'create', 'created'),
                                     main::answer('updated', 'update', 'updated'),
                                     log_like(create_log($create) . $tail)]);

    } elsif (defined $block->token_refused) {
        my ($var, @cases) = @{$block->token_refused};
        my %n = (missing => 0, invalid => 0);
        $n{$_->[2]}++ for @cases;
        my %challenge = (missing => 'Bearer realm="itsm"',
                         invalid => 'Bearer realm="itsm", error="invalid_token"');
        my %answer = (missing => ['token_missing', "the request carries no token (expected in $var)"],
                      invalid => ['token_invalid', "the token in $var is not one this endpoint accepts"]);
        %s = (config => main::config(mock => main::mock(log => $log)),
              request => [(map { $_->[0] } @cases), "GET /contract", "GET /itsm/status?format=prometheus"],
              more_headers => [(map { "Content-Type: application/json" . ($_->[1] ? "\n$_->[1]" : '') } @cases), "", ""],
              error_code => [(401) x @cases, 200, 200],
              response_headers => [(map { "Content-Type: application/json\nWWW-Authenticate: $challenge{$_->[2]}" } @cases), '', ''],
              response_body_like => [(map { ItsmAnswer::exact(ItsmAnswer::refusal(@{$answer{$_->[2]}})) } @cases),
                                     qr/^\z/,
                                     qr/^itsm_access_total\{result="passed"\} 0\n(?:.|\n)*^itsm_access_total\{result="token_missing"\} $n{missing}\n^itsm_access_total\{result="token_invalid"\} $n{invalid}\n(?:.|\n)*^itsm_tickets_open 0\n/m]);

    } elsif (defined $block->create_refused) {
        my ($route, $status, $body) = @{$block->create_refused};
        %s = (config => main::config(mock => main::mock($route => [$status, $body])),
              error_code => 502, response_headers => "! Retry-After\n",
              response_body_like => main::error('itsm_rejected', 'create', $status, $body));

    } elsif (defined $block->credential_refused) {
        my ($from, $to, $body) = @{$block->credential_refused};
        my $edit = sub { s/$from/$to/ };
        %s = (http_config => main::http(edit => $edit), config => main::config(edit => $edit),
              error_code => 502, response_headers => "! Retry-After\n",
              response_body_like => main::error('itsm_rejected', 'create', 401, $body));

    } elsif (defined $block->unavailable) {
        my ($route, $status, $body, $after) = @{$block->unavailable};
        %s = (config => main::config(mock => main::mock($route => [$status, $body, $after ? {'Retry-After' => $after} : ()])),
              error_code => 503, response_headers => "Retry-After: " . ($after // 30) . "\n",
              response_body_like => main::error('itsm_unavailable', 'create', $status, $body));

    } elsif (defined $block->paused) {
        my ($route, $body, $got) = @{$block->paused};
        %s = (config => main::config(mock => main::mock(log => $log, $route => [429, $body, {'Retry-After' => 40}])),
              request => [main::req($firing), main::req($firing =~ s/disk-db1/disk-db2/r), "GET /contract"],
              error_code => [503, 503, 200], response_headers => ["Retry-After: 40", "", ""],
              response_body_like => [main::error('itsm_unavailable', 'create', 429, $body),
                                     qr/^\{"error":"itsm_unavailable","connector":"\Q$c->{connector}\E","action":"create","itsm_status":0,"itsm_error":"not sent: the connector is paused after the ITSM answered 429 \(see Retry-After\)"\}\n\z/,
                                     $got]);

    } elsif (defined $block->subjects) {
        my @severities = qw(critical high warning info low bogus);
        %s = (config => main::config(mock => main::mock(log => $log)),
              request => [(map { main::req(qq{{"key": "k-$_", "title": "t $_", "severity": "$_"}}) } @severities), "GET /contract"],
              error_code => [(201) x @severities, 200],
              response_body_like => [(qr/"outcome":"created"/) x @severities, $block->subjects]);

    } elsif (defined $block->created_sent) {
        %s = (config => main::config(mock => main::mock(log => $log)),
              request => [main::req($firing), "GET /contract"], error_code => [201, 200],
              response_body_like => [main::answer('created', 'create', 'created'), $block->created_sent]);

    } elsif (defined $block->created_as) {
        my ($alert, $got) = @{$block->created_as};
        %s = (config => main::config(mock => main::mock(log => $log)),
              request => [main::req($alert), "GET /contract"], error_code => [201, 200],
              response_body_like => [qr/"outcome":"created"/, ref $got ? $got : log_like($got)]);

    } elsif (defined $block->gone_recreated) {
        %s = (http_config => main::http(cooldown => '0s'),
              config => main::config(mock => main::mock(@{$block->gone_recreated})),
              request => [main::req($firing), main::req($again)], error_code => [201, 201],
              response_body_like => [main::answer('created', 'create', 'created'),
                                     main::answer('created', 'create', 'created',
                                                  reason => $ItsmAnswer::Reason{recreated})]);

    } elsif (defined $block->fired_twice_resolved) {
        my ($alert, $got) = @{$block->fired_twice_resolved};
        %s = (http_config => main::http(cooldown => '0s'),
              config => main::config(mock => main::mock(log => $log)),
              request => [main::req($alert), main::req($alert),
                          main::req($alert =~ s/"firing"/"resolved"/r), "GET /contract"],
              error_code => [201, 200, 200, 200],
              response_body_like => [qr/"outcome":"created"/, qr/"outcome":"commented"/,
                                     qr/"outcome":"resolved"/, log_like($got)]);

    } elsif (defined $block->lifecycle) {
        my @outcomes = split ' ', $block->lifecycle;
        %s = (http_config => main::http(cooldown => '0s'),
              config => main::config(mock => main::mock(log => $log)),
              request => [(map { main::req($_) } $firing, $again, $resolved, $firing), "GET /contract"],
              error_code => [(map { $_ eq 'created' ? 201 : 200 } @outcomes), 200],
              response_body_like => [(map { main::answer($_, $Action{$_}, $_) } @outcomes),
                                     ref $block->itsm_log ? $block->itsm_log : log_like($block->itsm_log)]);
    }

    $s{more_headers} //= "Content-Type: application/json\n" if %s;

    # the suite's sections whose blocks assert no [error] in the log
    $s{no_error_log} = "[error]\n" if grep { defined $block->$_ } @{$Suite{clean} || []};

    if (defined $block->mock_cooldown_0s) {
        $s{http_config} = main::http(cooldown => '0s');
        $s{config} = main::config(mock => $block->mock_cooldown_0s);
    }

    # a block that starts nginx: the defaults
    if (defined($s{config} // $block->config)) {
        $s{http_config} //= main::http();
        $s{request} //= main::req($firing);
        $s{more_headers} //= "Content-Type: application/json\n";
    }

    for my $k (sort keys %s) {
        $block->set_value($k, $s{$k}) unless defined $block->$k;
    }
}

# ---- the whole presets, running (t/400-presets.t) -----------------------

# start(NAME): examples/NAME/nginx.conf rendered (render) passes "nginx -t"
# and runs, its upstreams pointing at the test server; two checks;
# $TEST_NGINX_PRESET_PORT_<NAME> is where it takes alerts.  They stop at
# the end of the file.

use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes ();
use ItsmPorts;

my $Nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my @Modules = grep { length } split /\s+/, ($ENV{TEST_NGINX_LOAD_MODULES} // '');
my %Pid;

sub listening {
    my ($port) = @_;
    for (1 .. 100) {
        return 1 if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                          Timeout => 1);
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

sub start {
    my ($name) = @_;
    my $dir = tempdir("itsm-preset-$name-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;     # the workers' user reaches the store in it
    my ($alerts, $replay) = (ItsmPorts::free(), ItsmPorts::free());

    my $conf = render($name, dir => $dir, module => \@Modules,
                                  upstream => '127.0.0.1:' . ($ENV{TEST_NGINX_SERVER_PORT} // 1984),
                                  ports => {8080 => $alerts, 8089 => $replay});
    my @cmd = ($Nginx, '-p', "$dir/", '-c', $conf, '-e', "$dir/logs/error.log");

    my $out = qx{@cmd -t 2>&1};
    Test::More::ok($? == 0, "examples/$name/nginx.conf: nginx -t") or Test::More::diag($out);

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', "$dir/logs/stdout.log");
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd, '-g', 'daemon off;') or POSIX::_exit(127);
    }
    $Pid{$name} = $pid;

    Test::More::ok(listening($alerts), "examples/$name/nginx.conf: nginx starts with it")
        or Test::More::diag(slurp("$dir/logs/error.log"));

    (my $var = uc "TEST_NGINX_PRESET_PORT_$name") =~ tr/-/_/;
    $ENV{$var} = $alerts;
}

END {
    local $?;    # waitpid/system here must not change the test's exit status
    for my $pid (values %Pid) {
        kill 'QUIT', $pid;
    }
    for my $pid (values %Pid) {
        for (1 .. 100) {
            last if waitpid($pid, WNOHANG) != 0;
            Time::HiRes::sleep(0.05);
        }
        kill 'KILL', $pid if kill 0, $pid;
    }
}


sub alert { "POST /preset/alerts/generic\n"
            . '{"key": "disk-db1", "title": "Disk full on db-1", "severity": "critical", "status": "firing"}' }

# the answer to the sender of alert $key, which the preset's connector
# created ($found: after its find found it)
sub created {
    my ($key, $connector, $ticket, $found) = @_;
    ItsmAnswer::exact(ItsmAnswer::text('created', {key => $key, action => 'create', outcome => 'created',
        connector => $connector, ticket_id => $ticket, $found ? (reason => $ItsmAnswer::Reason{found}) : ()}));
}

# a generic alert with a key of its own (TEST 1-9 used disk-db1)
sub alert_key { "POST /preset/alerts/generic\n"
                . qq{{"key": "$_[0]", "title": "Disk full on db-1", "severity": "critical", "status": "firing"}} }

# The ITSM takes the create and closes the connection without an answer
# (it may have made the ticket): the request is logged (its body is never
# read, so the log has none) and the preset gets no answer at all.
sub lost {
    my ($tag, $path) = @_;
    return "location = $path { access_log logs/contract-$tag.log contract; return 444; }\n"
         . "location = /contract { default_type text/plain; alias logs/contract-$tag.log; }\n";
}

# the ticket a second create makes, for each ITSM with a find: the answer
# and its id
our %Second = (
    jira => ['{"id":"10001","key":"OPS-18","self":"https://your-domain.atlassian.net/rest/api/3/issue/10001"}', 'OPS-18'],
    jsm => ['{"issueId":"10011","issueKey":"ITS-43","requestTypeId":"10","serviceDeskId":"1"}', 'ITS-43'],
    servicenow => ['{"result":{"sys_id":"aaaa5017c611228701d22104cc95c371","number":"INC0010003","state":"1"}}',
                   'aaaa5017c611228701d22104cc95c371'],
    'request-tracker' => ['{"id":"21","type":"ticket","_url":"https://rt.example.com/REST/2.0/ticket/21"}', '21'],
    redmine => ['{"issue":{"id":124}}', '124'],
);

# the find of $key as the ITSM's log shows it
sub find_of {
    my ($name, $key) = @_;
    my $c = $Contract{$name};
    my ($host) = map { /^Host: (.*)/ ? $1 : () } @{$c->{headers}};
    return "GET http://$host" . $c->{find}->($key) . "\n\n";
}

# whole_blocks(): each block talks to the running nginx of one preset (--- preset: NAME)
# through this server's /preset/, with the mock of its ITSM's contract
# (t/lib/ItsmPreset.pm) here; --- mock: what else the mock answers.  The
# blocks that every ITSM preset goes through are one section each:
#
#   --- creates  (the create's log, a regex) an alert becomes a ticket: 201,
#                the ITSM got exactly this, the status page counts it
#   --- lost     two creates whose answers are lost: 503 to each sender
#   --- found    the next copy of the first: the ITSM's search has its
#                ticket, no second create (the find waits for the
#                preset's settle, 5 s after the create was lost)
#   --- none     (the create after the find, a regex) the second's find
#                finds none: the create is sent, with the key's mark
sub whole_blocks {
    &Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;
        my $name = $block->preset // return;
        my $c = $Contract{$name};
        my $tag = {'request-tracker' => 'rt', servicenow => 'snow'}->{$name} // $name;
        my $port = uc "TEST_NGINX_PRESET_PORT_$name" =~ tr/-/_/r;
        my $proxy = "location /preset/ { proxy_pass http://127.0.0.1:\$$port/; }\n";
        my ($method, $path) = split / /, $c->{create};
        $path =~ s/\?.*//;
        my %s;

        if (defined $block->creates) {
            %s = (mock => contract_mock($name, log => $name),
                  request => [alert(), "GET /contract", "GET /preset/itsm/status?format=prometheus"],
                  error_code => [201, 200, 200],
                  response_body_like => [created('disk-db1', $c->{connector}, $c->{ticket_id}), $block->creates,
                                         qr/^itsm_tickets_open 1\n/m]);

        } elsif (defined $block->lost) {
            my ($host) = map { /^Host: (.*)/ ? $1 : () } @{$c->{headers}};
            my $line = "POST http://$host" . ($c->{create} =~ s/^POST //r);
            %s = (mock => lost("$tag-lost", $path),
                  request => [alert_key('lost-a'), alert_key('lost-b'), "GET /contract"],
                  error_code => [503, 503, 200],
                  response_body_like => [(ItsmAnswer::exact(ItsmAnswer::failure(
                                              error => 'itsm_unavailable', connector => $c->{connector},
                                              action => 'create', itsm_status => 502,
                                              itsm_error => $ItsmAnswer::NoAnswer))) x 2,
                                         qr/^(?:\Q$line\E\n\n){2}\z/]);

        } elsif (defined $block->found) {
            %s = (mock => contract_mock($name, log => "$tag-found", search => [200, $c->{found}],
                                                    create => [201, $Second{$name}[0]]),
                  request => [alert_key('lost-a'), "GET /contract"],
                  error_code => [201, 200],
                  response_body_like => [created('lost-a', $c->{connector}, $c->{ticket_id}, 1),
                                         qr/^\Q@{[find_of($name, 'lost-a')]}\E\z/]);

        } elsif (defined $block->none) {
            %s = (mock => contract_mock($name, log => "$tag-none", create => [201, $Second{$name}[0]]),
                  request => [alert_key('lost-b'), "GET /contract"],
                  error_code => [201, 200],
                  response_body_like => [created('lost-b', $c->{connector}, $Second{$name}[1]),
                                         qr/^\Q@{[find_of($name, 'lost-b')]}\E@{[$block->none]}/]);
        }

        $s{timeout} = 20 if defined $block->found || defined $block->none;

        my $mock = delete $s{mock} // $block->mock // '';
        $s{config} = $proxy . $mock;
        $s{http_config} = mock_http() . ($c->{http} // '');
        $s{more_headers} = "Content-Type: application/json\n";
        for my $k (sort keys %s) {
            $block->set_value($k, $s{$k}) unless defined $block->$k;
        }
    });
}

1;
