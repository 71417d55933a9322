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
#   * body=FILE becomes the absolute path of the preset's template;
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

    } elsif ($d eq 'access_log' && $a->[1] ne 'off') {
        $a->[1] = 'logs/' . basename($a->[1]);

    } elsif ($d eq 'proxy_pass') {
        $a->[1] =~ s{^https://}{http://};

    } elsif ($d eq 'proxy_set_header' && $opt->{header}
             && exists $opt->{header}{$a->[1]})
    {
        $a->[2] = $opt->{header}{$a->[1]};

    } elsif ($parent eq 'itsm_connector') {
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

1;
