package ItsmFake;

# A stateful fake of the ITSM APIs the presets talk to, in one process of
# its own (forked from the test; IO::Socket and select, no CPAN), for
# tests that run an example as shipped (t/lib/ItsmExample.pm).
#
# It keeps tickets the way each ITSM does, closely enough for the presets
# (research/formats.md part B, the contract mocks of t/40*.t, and, for
# Request Tracker, the real RT 5.0.3's own answers):
#
#   rt         Request Tracker REST 2: POST /REST/2.0/ticket, GET|PUT
#              /REST/2.0/ticket/N, POST .../N/comment|correspond, GET
#              .../N/history, GET /REST/2.0/tickets?query=TicketSQL
#              (=, !=, LIKE, NOT LIKE, AND, OR, parentheses; Status
#              with __Active__ and __Inactive__, Subject, Queue, id,
#              Priority, CF.{Name}; order=DESC, per_page)
#   jira       Jira Cloud v3: POST /rest/api/3/issue, GET|PUT .../issue/KEY,
#              POST .../KEY/comment, GET|POST .../KEY/transitions,
#              GET /rest/api/3/search/jql?jql=... (=, !=, ~, !~, in, not
#              in, is EMPTY, AND, OR, parentheses; ORDER BY ... DESC
#              reverses; maxResults)
#   jsm        Jira Service Management: POST /rest/servicedeskapi/request,
#              .../request/KEY/comment, GET|POST .../request/KEY/transition
#              (the same issues as jira: JSM issues are Jira issues)
#   servicenow Table API: POST|GET /api/now/table/incident, GET|PATCH|PUT
#              .../incident/SYS_ID; sysparm_query (=, !=, LIKE,
#              STARTSWITH, ISEMPTY, ISNOTEMPTY, IN; ^ and ^OR),
#              sysparm_fields, sysparm_limit; active follows the state
#   opsgenie   POST /v2/alerts (alias dedup: an open alert with the alias
#              counts up), POST /v2/alerts/ID/notes|close|acknowledge,
#              PUT .../priority, GET /v2/alerts/ID, each with
#              ?identifierType=id|alias|tiny; GET /v2/alerts/requests/RID
#   redmine    POST /issues.json, GET|PUT /issues/N.json (notes become
#              journals), GET /issues.json?cf_N=..&status_id=open|closed|*
#              &subject=~..&description=~..&sort=id:desc&limit=N
#   pagerduty  POST /v2/enqueue: trigger (a new alert unless one with the
#              dedup_key is open), acknowledge, resolve
#   slack      POST /services/T.../B.../SECRET: "ok"
#   teams      POST /workflows/.../triggers/manual/paths/invoke: 202
#
# Every request is recorded (method, URI, headers, body, the status sent
# or how the connection ended) and can be read by the test.  Faults are
# injected per request pattern (below).
#
# The test's side:
#
#   my $fake = ItsmFake->start(auth => {rt => 'token 1-14-...'});
#   $fake->port, $fake->addr                 127.0.0.1:PORT
#   $fake->requests(method => 'POST', path => qr{/comment$})
#       (filters: method, path, uri: a text is exact, a qr// matches;
#       body: a qr// on the body; outcome)
#       [{n, method, uri, path, query, version, headers => {lc name =>
#         value}, header_list => [[Name, value], ...], body, json (the body
#         decoded, if JSON), status (sent; undef while in progress),
#         outcome ('answered', 'lost', 'reset', 'pending'), fault (id)}]
#   $fake->wait_requests(N, %filter[, timeout => S])   the requests, once
#       there are N matching (dies after the timeout, 20 s by default)
#   $fake->tickets('rt')                     every ticket of that ITSM, in
#                                            creation order, as stored
#   $fake->count('rt')                       how many
#   $fake->fault(%spec)                      returns the fault's id
#   $fake->faults, $fake->clear_faults, $fake->reset (state, log, faults)
#   $fake->auth(kind => value)               credentials the ITSM checks
#   $fake->stop                              (also at exit)
#
# A fault: the first of them whose method, path (a regex on the URI, query
# included) and match_body (a regex on the request's body) match a request
# applies to it; "skip => N" lets the
# first N matches pass, "times => N" (default 1, 0: every time) is how many
# it then takes.  What it does, in this order:
#
#   delay => MS          wait before doing anything (other requests are
#                        served meanwhile)
#   reset => 1           a TCP reset (SO_LINGER 0); nothing is done unless
#                        work => 1 (then the work is done first)
#   lost => 1            the work is done, then the connection is closed
#                        without an answer (the answer lost); work => 0:
#                        closed without doing it
#   status => N, body => TEXT, headers => {..}, content_type => T
#                        this answer instead of the ITSM's own; the work is
#                        not done unless work => 1 (e.g. a 2xx without the
#                        expected field after a real create)
#   retry_after => S     a Retry-After header in seconds;
#   retry_after_date => S  the same as an HTTP-date S seconds ahead
#   pad => BYTES, pad_at => 'start'|'end'
#                        the JSON object answered grows to BYTES with a
#                        "pad" member placed first or last (oversized)
#   delay_after => MS    the work is done, then the answer waits MS

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER);
use POSIX ();
use Time::HiRes ();
use JSON::PP ();
use HTTP::Tiny;
use Scalar::Util qw(refaddr);

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmPorts;
use ItsmHttp;
use ItsmChild;
use parent -norequire, 'ItsmChild';

our $JSON = JSON::PP->new->utf8->canonical(1)->allow_nonref(1);


# ---- the test's side -----------------------------------------------------

sub start {
    my ($class, %opt) = @_;

    my $listen = $opt{listen} || ItsmPorts::listen_socket();
    return ItsmChild::start($class, $listen, sub { ItsmFake::Server->new($listen, %opt)->run },
                            fields => {http => HTTP::Tiny->new(timeout => 30, keep_alive => 0), json => $JSON,
                                       control => '_fake'});
}

sub filter {
    my ($list, %f) = @_;

    return [grep {
        my $r = $_;
        (!defined $f{method} || $r->{method} eq $f{method})
        && (!defined $f{path} || $r->{path} =~ (ref $f{path} ? $f{path}
                                                : qr/^\Q$f{path}\E\z/))
        && (!defined $f{uri} || $r->{uri} =~ (ref $f{uri} ? $f{uri}
                                              : qr/^\Q$f{uri}\E\z/))
        && (!defined $f{outcome} || ($r->{outcome} // '') eq $f{outcome})
        && (!defined $f{body} || $r->{body} =~ $f{body})
    } @$list];
}

sub requests {
    my ($self, %f) = @_;
    return filter($self->call('GET', 'requests'), %f);
}

sub wait_requests {
    my ($self, $n, %f) = @_;
    my $timeout = delete $f{timeout} // 20;
    my $until = Time::HiRes::time() + $timeout;
    my $got;

    for (;;) {
        $got = $self->requests(%f);

        # a request counts once its answer went out (or was dropped)
        my $done = grep { ($_->{outcome} // 'pending') ne 'pending' } @$got;
        return $got if $done >= $n;

        if (Time::HiRes::time() > $until) {
            die sprintf("ItsmFake: %d of %d requests (%s) after %d s; "
                        . "received: %s\n", $done, $n,
                        join(', ', map { "$_=$f{$_}" } sort keys %f),
                        $timeout,
                        join(', ', map { "$_->{method} $_->{uri} "
                                         . ($_->{status} // $_->{outcome}) }
                                   @{$self->requests}));
        }

        Time::HiRes::sleep(0.05);
    }
}

sub tickets {
    my ($self, $kind) = @_;
    return $self->call('GET', "tickets/$kind");
}

sub count {
    my ($self, $kind) = @_;
    return scalar @{$self->tickets($kind)};
}

sub fault {
    my ($self, %spec) = @_;
    ref $spec{$_} and $spec{$_} = "$spec{$_}" for qw(path match_body);
    return $self->call('POST', 'faults', \%spec)->{id};
}

sub faults       { $_[0]->call('GET', 'faults') }
sub clear_faults { $_[0]->call('DELETE', 'faults') }
sub reset        { $_[0]->call('POST', 'reset') }

sub auth {
    my ($self, %a) = @_;
    return $self->call('POST', 'auth', \%a);
}



# ---- the fake's side: one process, one select loop ----------------------

package ItsmFake::Server;

use strict;
use warnings;

use Socket qw(SOL_SOCKET SO_LINGER);
use Scalar::Util qw(refaddr);

our $SJSON = $ItsmFake::JSON;

sub new {
    my ($class, $listen, %opt) = @_;

    my $self = bless {
        listen   => $listen,
        conns    => {},
        timers   => [],
        requests => [],
        faults   => [],
        nfault   => 0,
        auth     => $opt{auth} || {},
        jsm_project => $opt{jsm_project} // 'ITS',
    }, $class;

    $self->fresh();

    return $self;
}

sub fresh {
    my ($self) = @_;
    $self->{s} = {
        rt         => {next => 1, txn => 30, tickets => {}},
        jira       => {next => 10000, comment => 10100, issues => {},
                       seq => {}},
        servicenow => {next => 10001, incidents => {}},
        opsgenie   => {next => 1, alerts => [], requests => {}},
        redmine    => {next => 1, journal => 1, issues => {}},
        pagerduty  => {next => 1, alerts => []},
        slack      => {messages => []},
        teams      => {messages => []},
    };
}

sub now { Time::HiRes::time() }

sub timer {
    my ($self, $ms, $code) = @_;
    push @{$self->{timers}}, [now() + $ms / 1000, $code];
    @{$self->{timers}} = sort { $a->[0] <=> $b->[0] } @{$self->{timers}};
}

sub run {
    my ($self) = @_;

    $self->{listen}->blocking(0);

    for (;;) {
        my $r = IO::Select->new($self->{listen});
        my $w = IO::Select->new;

        for my $c (values %{$self->{conns}}) {
            $r->add($c->{sock}) unless $c->{eof};
            $w->add($c->{sock}) if length $c->{wbuf};
        }

        my $timeout = 1;
        if (@{$self->{timers}}) {
            $timeout = $self->{timers}[0][0] - now();
            $timeout = 0 if $timeout < 0;
        }

        my ($rr, $ww) = IO::Select->select($r, $w, undef, $timeout);

        for my $s (@{$rr || []}) {
            if ($s == $self->{listen}) {
                while (my $cs = $self->{listen}->accept) {
                    $cs->blocking(0);
                    $self->{conns}{refaddr $cs} = {sock => $cs, rbuf => '',
                                                   wbuf => ''};
                }
                next;
            }

            my $c = $self->{conns}{refaddr $s} or next;
            my $n = sysread($s, my $buf, 65536);

            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                $self->drop($c);
                next;
            }

            if ($n == 0) {
                $c->{eof} = 1;
                $self->drop($c) unless $c->{busy} || length $c->{wbuf};
                next;
            }

            $c->{rbuf} .= $buf;
            $self->parse($c);
        }

        for my $s (@{$ww || []}) {
            my $c = $self->{conns}{refaddr $s} or next;
            $self->flush($c);
        }

        while (@{$self->{timers}} && $self->{timers}[0][0] <= now()) {
            my $t = shift @{$self->{timers}};
            $t->[1]->();
        }
    }
}

sub flush {
    my ($self, $c) = @_;

    if (length $c->{wbuf}) {
        my $n = syswrite($c->{sock}, $c->{wbuf});
        if (!defined $n) {
            return if $!{EAGAIN} || $!{EINTR};
            return $self->drop($c);
        }
        substr($c->{wbuf}, 0, $n, '');
    }

    if (!length $c->{wbuf} && ($c->{close} || ($c->{eof} && !$c->{busy}))) {
        $self->drop($c);
    }
}

sub drop {
    my ($self, $c) = @_;
    delete $self->{conns}{refaddr $c->{sock}};
    close $c->{sock};
    $c->{dead} = 1;
}

sub reset_conn {
    my ($self, $c) = @_;
    setsockopt($c->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    $self->drop($c);
}

# one request at a time per connection; the next waits in rbuf
sub parse {
    my ($self, $c) = @_;

    return if $c->{busy} || $c->{dead};

    my $end = index($c->{rbuf}, "\r\n\r\n");
    return if $end < 0;

    my $head = substr($c->{rbuf}, 0, $end);
    my ($line, @lines) = split /\r\n/, $head;

    my ($method, $uri, $version) = $line =~ m{^(\S+) (\S+) HTTP/(\d\.\d)$}
        or return $self->reset_conn($c);

    my (%h, @list);
    for (@lines) {
        my ($n, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @list, [$n, $v];
        $h{lc $n} = exists $h{lc $n} ? "$h{lc $n}, $v" : $v;
    }

    my $pos = $end + 4;
    my $body = '';

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        for (;;) {
            my $le = index($c->{rbuf}, "\r\n", $pos);
            return if $le < 0;
            my $size = hex substr($c->{rbuf}, $pos, $le - $pos);
            return if length($c->{rbuf}) < $le + 2 + $size + 2;
            $body .= substr($c->{rbuf}, $le + 2, $size);
            $pos = $le + 2 + $size + 2;
            if ($size == 0) {
                # trailers are not used by anyone here
                last;
            }
        }

    } elsif (my $len = $h{'content-length'}) {
        return if length($c->{rbuf}) < $pos + $len;
        $body = substr($c->{rbuf}, $pos, $len);
        $pos += $len;
    }

    substr($c->{rbuf}, 0, $pos, '');

    my ($path, $query) = split /\?/, $uri, 2;

    my $req = {
        method => $method, uri => $uri, path => $path,
        query => $query // '', version => $version,
        headers => \%h, header_list => \@list, body => $body,
    };

    my $conn = lc($h{connection} // '');
    $c->{keep} = $version eq '1.1' ? $conn !~ /close/
                                   : $conn =~ /keep-alive/;
    $c->{busy} = 1;

    if ($path =~ m{^/_fake/}) {
        $self->send($c, $self->control($req));
        return;
    }

    $self->itsm($c, $req);
}

my %Reason = (200 => 'OK', 201 => 'Created', 202 => 'Accepted',
              204 => 'No Content', 400 => 'Bad Request',
              401 => 'Unauthorized', 403 => 'Forbidden', 404 => 'Not Found',
              405 => 'Method Not Allowed', 409 => 'Conflict',
              410 => 'Gone', 415 => 'Unsupported Media Type',
              422 => 'Unprocessable Entity', 429 => 'Too Many Requests',
              500 => 'Internal Server Error', 502 => 'Bad Gateway',
              503 => 'Service Unavailable', 504 => 'Gateway Timeout');

# (STATUS, {HEADER => VALUE}, BODY): BODY a reference is sent as JSON
sub send {
    my ($self, $c, $status, $headers, $body) = @_;

    $headers = {%{$headers || {}}};

    if (ref $body) {
        $body = $SJSON->encode($body);
        $headers->{'Content-Type'} //= 'application/json;charset=UTF-8';
    }

    $body //= '';

    my $out = "HTTP/1.1 $status " . ($Reason{$status} // 'Whatever') . "\r\n";
    $out .= "Server: ItsmFake\r\n";
    $out .= "Content-Length: " . length($body) . "\r\n"
        unless $status == 204 || $status == 304;
    $out .= "$_: $headers->{$_}\r\n" for sort keys %$headers;
    $out .= $c->{keep} ? '' : "Connection: close\r\n";
    $out .= "\r\n";
    $out .= $body unless $status == 204 || $status == 304;

    $c->{busy} = 0;

    return if $c->{dead};

    $c->{wbuf} .= $out;
    $c->{close} = 1 unless $c->{keep};

    $self->flush($c);
    $self->parse($c) unless $c->{dead} || $c->{close};
}


# ---- the control API (/_fake/...) ----------------------------------------

sub control {
    my ($self, $req) = @_;
    my $m = $req->{method};
    my $p = $req->{path};
    my $in = length $req->{body} ? eval { $SJSON->decode($req->{body}) } : undef;

    if ($m eq 'GET' && $p eq '/_fake/requests') {
        return (200, {}, [map { $self->public($_) } @{$self->{requests}}]);
    }

    if ($m eq 'POST' && $p eq '/_fake/faults') {
        my $f = {%{$in || {}}, id => ++$self->{nfault}, used => 0,
                 seen => 0};
        $f->{times} //= 1;
        push @{$self->{faults}}, $f;
        return (200, {}, {id => $f->{id}});
    }

    if ($m eq 'GET' && $p eq '/_fake/faults') {
        return (200, {}, $self->{faults});
    }

    if ($m eq 'DELETE' && $p eq '/_fake/faults') {
        $self->{faults} = [];
        return (200, {}, {});
    }

    if ($m eq 'POST' && $p eq '/_fake/reset') {
        $self->{faults} = [];
        $self->{requests} = [];
        $self->fresh();
        return (200, {}, {});
    }

    if ($m eq 'POST' && $p eq '/_fake/auth') {
        $self->{auth} = {%{$self->{auth}}, %{$in || {}}};
        return (200, {}, $self->{auth});
    }

    if ($m eq 'GET' && $p =~ m{^/_fake/tickets/(\w+)$}) {
        return (200, {}, $self->tickets($1));
    }

    return (404, {}, {error => "no control $m $p"});
}

sub public {
    my ($self, $r) = @_;
    my %p = map { $_ => $r->{$_} }
            qw(n method uri path query version headers header_list body
               status outcome fault kind);
    $p{json} = eval { $SJSON->decode($r->{body}) } if length $r->{body};
    return \%p;
}

sub tickets {
    my ($self, $kind) = @_;
    my $s = $self->{s};

    return [map { $s->{rt}{tickets}{$_} }
            sort { $a <=> $b } keys %{$s->{rt}{tickets}}]
        if $kind eq 'rt';

    if ($kind eq 'jira' || $kind eq 'jsm') {
        return [grep { $_->{via} eq $kind }
                map { $s->{jira}{issues}{$_} }
                sort { $s->{jira}{issues}{$a}{id} <=> $s->{jira}{issues}{$b}{id} }
                keys %{$s->{jira}{issues}}];
    }

    return [sort { $a->{number} cmp $b->{number} }
            values %{$s->{servicenow}{incidents}}]
        if $kind eq 'servicenow';

    return $s->{opsgenie}{alerts} if $kind eq 'opsgenie';

    return [map { $s->{redmine}{issues}{$_} }
            sort { $a <=> $b } keys %{$s->{redmine}{issues}}]
        if $kind eq 'redmine';

    return $s->{pagerduty}{alerts} if $kind eq 'pagerduty';
    return $s->{slack}{messages} if $kind eq 'slack';
    return $s->{teams}{messages} if $kind eq 'teams';

    return [];
}


# ---- faults --------------------------------------------------------------

sub match_fault {
    my ($self, $req) = @_;

    for my $f (@{$self->{faults}}) {
        next if defined $f->{method} && $f->{method} ne $req->{method};
        next if defined $f->{path} && $req->{uri} !~ /$f->{path}/;
        next if defined $f->{match_body} && $req->{body} !~ /$f->{match_body}/;
        next if $f->{times} && $f->{used} >= $f->{times};

        $f->{seen}++;
        next if $f->{seen} <= ($f->{skip} // 0);

        $f->{used}++;
        return $f;
    }

    return undef;
}

sub itsm {
    my ($self, $c, $req) = @_;

    my $rec = {%$req, n => scalar(@{$self->{requests}}) + 1,
               outcome => 'pending'};
    push @{$self->{requests}}, $rec;

    my $f = $self->match_fault($req);
    $rec->{fault} = $f->{id} if $f;

    for my $r (our @Routes) {
        if ($req->{method} eq $r->[0] && $req->{path} =~ $r->[1]) {
            $rec->{kind} = $r->[2];
            last;
        }
    }

    my $go = sub {
        my $work = $f ? ($f->{work} // ((defined $f->{status}
                                         || $f->{reset}) ? 0 : 1))
                      : 1;

        if ($f && $f->{reset} && !$work) {
            $rec->{outcome} = 'reset';
            return $self->reset_conn($c);
        }

        if ($f && $f->{lost} && !$work) {
            $rec->{outcome} = 'lost';
            return $self->drop($c);
        }

        my ($status, $headers, $body);

        if ($work) {
            ($status, $headers, $body) = $self->api($req, $rec);
        }

        if ($f && $f->{reset}) {
            $rec->{outcome} = 'reset';
            return $self->reset_conn($c);
        }

        if ($f && $f->{lost}) {
            $rec->{outcome} = 'lost';
            return $self->drop($c);
        }

        if ($f && defined $f->{status}) {
            $status = $f->{status};
            $body = $f->{body} // '';
            $headers = {%{$f->{headers} || {}}};
            $headers->{'Content-Type'} = $f->{content_type}
                if defined $f->{content_type};
        }

        if ($f && defined $f->{retry_after}) {
            $headers->{'Retry-After'} = $f->{retry_after};
        }

        if ($f && defined $f->{retry_after_date}) {
            $headers->{'Retry-After'} = POSIX::strftime(
                '%a, %d %b %Y %H:%M:%S GMT',
                gmtime(time() + $f->{retry_after_date}));
        }

        if ($f && $f->{pad}) {
            $body = $SJSON->encode($body) if ref $body;
            $headers->{'Content-Type'} //= 'application/json;charset=UTF-8';
            my $room = $f->{pad} - length($body) - length('"pad":"",');
            my $pad = '"pad":"' . ('x' x ($room > 0 ? $room : 0)) . '"';
            if (($f->{pad_at} // 'end') eq 'start') {
                $body =~ s/^\{/{$pad,/;
            } else {
                $body =~ s/\}\s*$/,$pad}/;
            }
        }

        my $answer = sub {
            $rec->{status} = $status;
            $rec->{outcome} = $c->{dead} ? 'lost' : 'answered';
            $self->send($c, $status, $headers, $body);
        };

        if ($f && $f->{delay_after}) {
            $self->timer($f->{delay_after}, $answer);
        } else {
            $answer->();
        }
    };

    if ($f && $f->{delay}) {
        $self->timer($f->{delay}, $go);
    } else {
        $go->();
    }
}


# ---- the ITSMs -----------------------------------------------------------

# [METHOD, PATH REGEX, KIND, HANDLER]; captures are URI-decoded
our @Routes = (
    ['POST', qr{^/REST/2\.0/ticket$}, 'rt', \&rt_create],
    ['GET', qr{^/REST/2\.0/ticket/(\d+)$}, 'rt', \&rt_get],
    ['PUT', qr{^/REST/2\.0/ticket/(\d+)$}, 'rt', \&rt_put],
    ['POST', qr{^/REST/2\.0/ticket/(\d+)/(comment|correspond)$}, 'rt',
     \&rt_comment],
    ['GET', qr{^/REST/2\.0/ticket/(\d+)/history$}, 'rt', \&rt_history],
    ['GET', qr{^/REST/2\.0/tickets$}, 'rt', \&rt_search],

    ['POST', qr{^/rest/api/[23]/issue$}, 'jira', \&jira_create],
    ['GET', qr{^/rest/api/[23]/issue/([^/]+)$}, 'jira', \&jira_get],
    ['PUT', qr{^/rest/api/[23]/issue/([^/]+)$}, 'jira', \&jira_edit],
    ['POST', qr{^/rest/api/[23]/issue/([^/]+)/comment$}, 'jira',
     \&jira_comment],
    ['GET', qr{^/rest/api/[23]/issue/([^/]+)/transitions$}, 'jira',
     \&jira_transitions],
    ['POST', qr{^/rest/api/[23]/issue/([^/]+)/transitions$}, 'jira',
     \&jira_transition],
    ['GET', qr{^/rest/api/3/search/jql$}, 'jira', \&jira_search],
    ['GET', qr{^/rest/api/[23]/search$}, 'jira', \&jira_search_gone],

    ['POST', qr{^/rest/servicedeskapi/request$}, 'jsm', \&jsm_create],
    ['POST', qr{^/rest/servicedeskapi/request/([^/]+)/comment$}, 'jsm',
     \&jsm_comment],
    ['GET', qr{^/rest/servicedeskapi/request/([^/]+)/transition$}, 'jsm',
     \&jsm_transitions],
    ['POST', qr{^/rest/servicedeskapi/request/([^/]+)/transition$}, 'jsm',
     \&jsm_transition],

    ['POST', qr{^/api/now/(?:v[12]/)?table/incident$}, 'servicenow',
     \&snow_create],
    ['GET', qr{^/api/now/(?:v[12]/)?table/incident$}, 'servicenow',
     \&snow_list],
    ['GET', qr{^/api/now/(?:v[12]/)?table/incident/([^/]+)$}, 'servicenow',
     \&snow_get],
    ['PATCH', qr{^/api/now/(?:v[12]/)?table/incident/([^/]+)$},
     'servicenow', \&snow_update],
    ['PUT', qr{^/api/now/(?:v[12]/)?table/incident/([^/]+)$}, 'servicenow',
     \&snow_update],

    ['POST', qr{^/v2/alerts$}, 'opsgenie', \&og_create],
    ['GET', qr{^/v2/alerts/requests/([^/]+)$}, 'opsgenie', \&og_request],
    ['POST', qr{^/v2/alerts/(.+)/(notes|close|acknowledge)$}, 'opsgenie',
     \&og_action],
    ['PUT', qr{^/v2/alerts/(.+)/(priority)$}, 'opsgenie', \&og_action],
    ['GET', qr{^/v2/alerts/(.+)$}, 'opsgenie', \&og_get],

    ['POST', qr{^/issues\.json$}, 'redmine', \&rm_create],
    ['GET', qr{^/issues\.json$}, 'redmine', \&rm_list],
    ['GET', qr{^/issues/(\d+)\.json$}, 'redmine', \&rm_get],
    ['PUT', qr{^/issues/(\d+)\.json$}, 'redmine', \&rm_update],

    ['POST', qr{^/v2/enqueue$}, 'pagerduty', \&pd_enqueue],

    ['POST', qr{^/services/T\w+/B\w+/\w+$}, 'slack', \&slack_post],

    ['POST', qr{^/workflows/\w+/triggers/manual/paths/invoke$}, 'teams',
     \&teams_post],
);

# the credential each ITSM reads, when the test configured one
my %AuthHeader = (rt => 'authorization', jira => 'authorization',
                  jsm => 'authorization', servicenow => 'authorization',
                  opsgenie => 'authorization',
                  redmine => 'x-redmine-api-key');

my %AuthRefusal = (
    rt => [401, {message => 'Unauthorized'}],
    jira => [401, 'Client must be authenticated to access this resource.'],
    jsm => [401, 'Client must be authenticated to access this resource.'],
    servicenow => [401, {error => {message => 'User Not Authenticated',
                                   detail => 'Required to provide Auth information'},
                         status => 'failure'}],
    opsgenie => [401, {message => 'Could not authenticate', took => 0.0,
                       requestId => '0f2bd3d6-7a2f-4b44-9a0e-3b4a4a0a7f4c'}],
    redmine => [401, ''],
);

sub uri_unescape {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub query_params {
    my ($q) = @_;
    my %p;
    for (split /&/, $q // '') {
        my ($k, $v) = split /=/, $_, 2;
        next unless defined $k;
        $v //= '';
        tr/+/ / for $k, $v;
        $p{uri_unescape($k)} = uri_unescape($v);
    }
    return \%p;
}

sub api {
    my ($self, $req, $rec) = @_;

    for my $r (@Routes) {
        next unless $req->{method} eq $r->[0] && $req->{path} =~ $r->[1];
        my @cap = map { defined $_ ? uri_unescape($_) : undef } @{^CAPTURE};

        $rec->{kind} = $r->[2];

        my $want = $self->{auth}{$r->[2]};
        if (defined $want && exists $AuthHeader{$r->[2]}) {
            my $got = $req->{headers}{$AuthHeader{$r->[2]}};
            if (!defined $got || $got ne $want) {
                my ($st, $b) = @{$AuthRefusal{$r->[2]}};
                return ($st, {}, $b);
            }
        }

        $req->{params} = query_params($req->{query});

        return $r->[3]->($self, $req, @cap);
    }

    # nothing of the APIs: what an API gateway answers
    return (404, {}, {message => "no such resource: $req->{method} $req->{path}"});
}

# the JSON body, or undef and why not
sub body_json {
    my ($req) = @_;
    my $v = eval { $SJSON->decode($req->{body}) };
    return $v;
}

sub is_json_type {
    my ($req) = @_;
    return ($req->{headers}{'content-type'} // '') =~ m{^application/json}i;
}

sub host { $_[0]{headers}{host} // 'itsm.test' }

sub iso_now {
    return POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime);
}


# ---- Request Tracker REST 2 ---------------------------------------------

sub rt_url { "http://" . host($_[0]) . "/REST/2.0/$_[1]" }

sub rt_body {
    my ($req) = @_;

    return (undef, 415, {}, {message => 'Unsupported Media Type'})
        unless is_json_type($req);

    my $b = body_json($req);
    return (undef, 400, {}, {message => 'JSON object expected'})
        unless ref $b eq 'HASH';

    return ($b);
}

sub rt_create {
    my ($self, $req) = @_;
    my ($b, @err) = rt_body($req);
    return @err unless $b;

    return (400, {}, {message => 'Could not create ticket. Queue not set'})
        unless defined $b->{Queue} && length $b->{Queue};

    return (400, {}, {message => 'ContentType is a required field for '
                                 . 'application/json'})
        if defined $b->{Content} && !defined $b->{ContentType};

    my $rt = $self->{s}{rt};
    my $id = $rt->{next}++;

    my $t = {
        id => $id,
        Queue => $b->{Queue},
        Subject => $b->{Subject} // '',
        Status => $b->{Status} // 'new',
        Priority => $b->{Priority} // 0,
        Requestor => $b->{Requestor},
        CustomFields => $b->{CustomFields} || {},
        Content => $b->{Content},
        created => time(),
        transactions => [{type => 'Create', Content => $b->{Content},
                          ContentType => $b->{ContentType}}],
        fields => $b,
    };

    $rt->{tickets}{$id} = $t;

    return (201, {Location => "/REST/2.0/ticket/$id"},
            {type => 'ticket', id => "$id", _url => rt_url($req, "ticket/$id")});
}

sub rt_ticket_json {
    my ($req, $t) = @_;
    return {
        id => $t->{id} + 0,
        Type => 'ticket',
        Subject => $t->{Subject},
        Status => $t->{Status},
        Priority => "$t->{Priority}",
        Queue => {type => 'queue', id => '1', _url => rt_url($req, 'queue/1')},
        CustomFields => [map { {name => $_, values => ref $t->{CustomFields}{$_}
                                                     ? $t->{CustomFields}{$_}
                                                     : [$t->{CustomFields}{$_}]} }
                         sort keys %{$t->{CustomFields}}],
    };
}

sub rt_get {
    my ($self, $req, $id) = @_;
    my $t = $self->{s}{rt}{tickets}{$id}
        or return (404, {}, {message => 'Not Found'});
    return (200, {}, rt_ticket_json($req, $t));
}

sub rt_history {
    my ($self, $req, $id) = @_;
    my $t = $self->{s}{rt}{tickets}{$id}
        or return (404, {}, {message => 'Not Found'});
    my @items = map { {type => 'transaction', id => $_} }
                1 .. scalar @{$t->{transactions}};
    return (200, {}, {count => scalar @items, page => 1, per_page => 20,
                      total => scalar @items, items => \@items});
}

sub rt_set {
    my ($t, $b, $prefix) = @_;
    my @msg;

    for my $f (qw(Subject Status Priority Owner)) {
        next unless exists $b->{$f};
        my $old = $t->{$f} // '';
        next if $old eq ($b->{$f} // '');
        push @msg, "${prefix}$f changed from '$old' to '$b->{$f}'";
        $t->{$f} = $b->{$f};
    }

    if (ref $b->{CustomFields} eq 'HASH') {
        for my $cf (sort keys %{$b->{CustomFields}}) {
            $t->{CustomFields}{$cf} = $b->{CustomFields}{$cf};
            push @msg, "${prefix}$cf $b->{CustomFields}{$cf} added";
        }
    }

    return @msg;
}

sub rt_put {
    my ($self, $req, $id) = @_;
    my ($b, @err) = rt_body($req);
    return @err unless $b;

    my $t = $self->{s}{rt}{tickets}{$id}
        or return (404, {}, {message => 'Resource does not exist; use POST '
                                        . 'to create'});

    my @msg = rt_set($t, $b, "Ticket $id: ");
    push @{$t->{transactions}}, {type => 'Set', fields => $b};

    return (200, {}, \@msg);
}

sub rt_comment {
    my ($self, $req, $id, $kind) = @_;
    my ($b, @err) = rt_body($req);
    return @err unless $b;

    # what RT 5.0.3 answers for a ticket that does not exist
    my $t = $self->{s}{rt}{tickets}{$id}
        or return (400, {}, {message => 'Message could not be recorded'});

    return (400, {}, {message => 'ContentType is a required field for '
                                 . 'application/json'})
        if defined $b->{Content} && !defined $b->{ContentType};

    push @{$t->{transactions}}, {type => ucfirst $kind,
                                 Content => $b->{Content},
                                 ContentType => $b->{ContentType},
                                 Subject => $b->{Subject}};

    my @msg = ($kind eq 'comment' ? 'Comments added' : 'Correspondence added');
    push @msg, rt_set($t, $b, '');

    return (201, {Location => "/REST/2.0/transaction/"
                              . ++$self->{s}{rt}{txn}}, \@msg);
}

# TicketSQL, the part a find step needs
sub rt_search {
    my ($self, $req) = @_;
    my $q = $req->{params}{query} // '';

    my $cond = eval { sql_parse($q) };
    return (400, {}, {message => "Invalid query: $@"}) if $@ || !$cond;

    my @fields = grep { length } split /,/, ($req->{params}{fields} // '');
    my @found;
    my @all = @{$self->tickets('rt')};
    @all = reverse @all if uc($req->{params}{order} // '') eq 'DESC';

    for my $t (@all) {
        next unless sql_eval($cond, sub { rt_field($t, @_) });
        my $item = {type => 'ticket', id => "$t->{id}",
                    _url => rt_url($req, "ticket/$t->{id}")};
        $item->{$_} = rt_field($t, $_) for @fields;
        push @found, $item;
    }

    my $per = $req->{params}{per_page} || 20;
    my @page = splice(@found, 0, $per);

    return (200, {}, {per_page => $per + 0, count => scalar @page,
                      pages => (@page ? 1 : 0), total => scalar @page,
                      page => 1, items => \@page});
}

sub rt_field {
    my ($t, $name, undef, $want) = @_;

    if ($name =~ /^CF\.\{(.+)\}$/i || $name =~ /^CF\.(\w+)$/i
        || $name =~ /^CustomField\.\{(.+)\}$/i)
    {
        return $t->{CustomFields}{$1};
    }

    return $t->{id} if lc $name eq 'id';
    return $t->{Queue} if lc $name eq 'queue';

    # RT's pseudo-statuses: Status = '__Active__' / '__Inactive__'
    if (lc $name eq 'status' && defined $want
        && $want =~ /^__(Active|Inactive)__$/)
    {
        my $which = $1;
        my $active = $t->{Status} =~ /^(?:new|open|stalled)$/ ? 1 : 0;
        return ($which eq 'Active' ? 1 : 0) == $active ? $want : $t->{Status};
    }

    for (qw(Subject Status Priority Owner)) {
        return $t->{$_} if lc $name eq lc $_;
    }

    return undef;
}

# a condition tree from TicketSQL (or JQL: the same grammar, other words)
sub sql_parse {
    my ($text) = @_;
    my @tok;

    while (length $text) {
        $text =~ s/^\s+//;
        last unless length $text;

        if ($text =~ s/^('((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")//) {
            my $v = defined $2 ? $2 : $3;
            $v =~ s/\\(.)/$1/g;
            push @tok, ['str', $v];
        } elsif ($text =~ s/^(!=|<>|!~|>=|<=|=|~|<|>|\(|\)|,)//) {
            push @tok, ['op', $1];
        } elsif ($text =~ s/^([^\s()=!<>~,'"]+)//) {
            push @tok, ['word', $1];
        } else {
            die "cannot read near \"$text\"\n";
        }
    }

    my $i = 0;
    my $peek = sub { $tok[$i] };
    my $kw = sub { my $t = $tok[$i]; $t && $t->[0] eq 'word' && uc $t->[1] eq $_[0] };

    my ($or, $and, $factor);

    $or = sub {
        my @a = ($and->());
        while ($kw->('OR')) { $i++; push @a, $and->() }
        return @a == 1 ? $a[0] : ['or', @a];
    };

    $and = sub {
        my @a = ($factor->());
        while ($kw->('AND')) { $i++; push @a, $factor->() }
        return @a == 1 ? $a[0] : ['and', @a];
    };

    $factor = sub {
        my $t = $peek->() or die "condition expected\n";

        if ($t->[0] eq 'op' && $t->[1] eq '(') {
            $i++;
            my $e = $or->();
            my $c = $tok[$i++];
            die "\")\" expected\n" unless $c && $c->[1] eq ')';
            return $e;
        }

        my $field = $t->[1];
        $i++;

        my $op;
        my $o = $tok[$i] or die "operator expected after $field\n";

        if ($o->[0] eq 'op') {
            $op = $o->[1];
            $i++;
        } elsif (uc $o->[1] eq 'NOT') {
            my $n = $tok[$i + 1] or die "operator expected\n";
            $op = 'NOT ' . uc $n->[1];
            $i += 2;
        } elsif (uc $o->[1] eq 'IS') {
            $i++;
            if ($kw->('NOT')) { $op = 'IS NOT'; $i++ } else { $op = 'IS' }
        } else {
            $op = uc $o->[1];
            $i++;
        }

        if ($op eq 'IN' || $op eq 'NOT IN') {
            my $p = $tok[$i++];
            die "\"(\" expected\n" unless $p && $p->[1] eq '(';
            my @v;
            for (;;) {
                my $v = $tok[$i++] or die "\")\" expected\n";
                last if $v->[0] eq 'op' && $v->[1] eq ')';
                next if $v->[0] eq 'op' && $v->[1] eq ',';
                push @v, $v->[1];
            }
            return ['cmp', $field, $op, \@v];
        }

        my $v = $tok[$i++] or die "value expected after $field $op\n";

        return ['cmp', $field, $op, $v->[1]];
    };

    my $e = $or->();

    # JQL's ORDER BY: not a condition
    if ($kw->('ORDER')) {
        $i = @tok;
    }

    die "unexpected \"$tok[$i][1]\"\n" if $i < @tok;

    return $e;
}

sub sql_eval {
    my ($e, $get) = @_;

    if ($e->[0] eq 'and') {
        sql_eval($_, $get) || return 0 for @{$e}[1 .. $#$e];
        return 1;
    }

    if ($e->[0] eq 'or') {
        sql_eval($_, $get) && return 1 for @{$e}[1 .. $#$e];
        return 0;
    }

    my (undef, $field, $op, $want) = @$e;
    my $got = $get->($field, $op, $want);

    # a field with several values (labels, a multi-value custom field)
    # matches when one of them does
    my @got = ref $got eq 'ARRAY' ? @$got : defined $got ? ($got) : ();

    if ($op eq 'IS' || $op eq 'IS NOT') {
        my $empty = !grep { length } @got;
        return $op eq 'IS' ? $empty : !$empty;
    }

    my $one = sub {
        my ($g, $w) = @_;
        return $g eq $w if $op eq '=';
        return lc($g) =~ /\Q${\ lc $w}\E/ if $op eq 'LIKE' || $op eq '~';
        return 0;
    };

    if ($op eq '=' || $op eq 'LIKE' || $op eq '~') {
        return scalar grep { $one->($_, $want) } @got;
    }

    if ($op eq '!=' || $op eq '<>') {
        return !grep { $_ eq $want } @got;
    }

    if ($op eq 'NOT LIKE' || $op eq '!~') {
        return !grep { lc($_) =~ /\Q${\ lc $want}\E/ } @got;
    }

    if ($op eq 'IN' || $op eq 'NOT IN') {
        my %w = map { $_ => 1 } @$want;
        my $in = grep { $w{$_} } @got;
        return $op eq 'IN' ? $in : !$in;
    }

    die "operator $op is not supported by the fake\n";
}


# ---- Jira Cloud (v3) and Jira Service Management ------------------------

my @JiraTransitions = (
    {id => '11', name => 'To Do', to => 'To Do', category => 'new'},
    {id => '21', name => 'In Progress', to => 'In Progress',
     category => 'indeterminate'},
    {id => '31', name => 'Done', to => 'Done', category => 'done'},
);

# JSM's IT service management workflow
my @JsmTransitions = (
    {id => '761', name => 'Resolve this issue', to => 'Resolved',
     category => 'done'},
    {id => '781', name => 'Reopen issue', to => 'Waiting for support',
     category => 'new'},
);

my %JiraNotFound = (errorMessages => ['Issue does not exist or you do not '
                                      . 'have permission to see it.'],
                    errors => {});

sub jira_body {
    my ($req) = @_;
    return (undef, 415, {}, '') unless is_json_type($req);
    my $b = body_json($req);
    return (undef, 400, {}, {errorMessages => ['Unexpected character in the '
                                               . 'request body.'],
                             errors => {}})
        unless ref $b eq 'HASH';
    return ($b);
}

# the body (a JSON object) of a request on an issue, and that issue; or
# the answer when either is missing: (undef, undef, STATUS, HEADERS, BODY),
# a 404 with $not_found (default: Jira's) for the issue
sub jira_body_issue {
    my ($self, $req, $key, $not_found) = @_;
    my ($b, @err) = jira_body($req);
    return (undef, undef, @err) unless $b;
    my $issue = $self->jira_issue($key) or return (undef, undef, 404, {}, $not_found // \%JiraNotFound);
    return ($b, $issue);
}

# JSM's 404 body for a request that does not exist
sub jsm_not_found {
    my ($key) = @_;
    return {errorMessage => "Request '$key' does not exist", i18nErrorMessage => {}};
}

sub jira_issue {
    my ($self, $key) = @_;
    my $j = $self->{s}{jira};
    return $j->{issues}{$key} if $j->{issues}{$key};
    for (values %{$j->{issues}}) {
        return $_ if $_->{id} eq $key;
    }
    return undef;
}

sub jira_new {
    my ($self, $req, $project, $fields, $via) = @_;
    my $j = $self->{s}{jira};
    my $id = $j->{next}++;
    my $key = $project . '-' . ++$j->{seq}{$project};

    my $issue = {
        id => "$id", key => $key, via => $via, project => $project,
        fields => $fields,
        status => $via eq 'jsm' ? 'Waiting for support' : 'To Do',
        category => 'new',
        comments => [], transitions_done => [],
        self => "http://" . host($req) . "/rest/api/3/issue/$id",
    };

    $j->{issues}{$key} = $issue;

    return $issue;
}

sub jira_create {
    my ($self, $req) = @_;
    my ($b, @err) = jira_body($req);
    return @err unless $b;

    my $f = $b->{fields} || {};

    return (400, {}, {errorMessages => [],
                      errors => {summary => 'You must specify a summary of '
                                            . 'the issue.'}})
        unless defined $f->{summary} && length $f->{summary};

    my $project = ref $f->{project} eq 'HASH' ? $f->{project}{key} // 'OPS'
                                              : 'OPS';
    my $issue = $self->jira_new($req, $project, $f, 'jira');

    return (201, {}, {id => $issue->{id}, key => $issue->{key},
                      self => $issue->{self}});
}

sub jira_json {
    my ($issue) = @_;
    return {
        id => $issue->{id}, key => $issue->{key}, self => $issue->{self},
        fields => {
            %{$issue->{fields}},
            status => {name => $issue->{status},
                       statusCategory => {key => $issue->{category}}},
            comment => {total => scalar @{$issue->{comments}},
                        comments => $issue->{comments}},
        },
    };
}

sub jira_get {
    my ($self, $req, $key) = @_;
    my $issue = $self->jira_issue($key) or return (404, {}, \%JiraNotFound);
    return (200, {}, jira_json($issue));
}

sub jira_edit {
    my ($self, $req, $key) = @_;
    my ($b, $issue, @err) = $self->jira_body_issue($req, $key);
    return @err unless $issue;

    my $f = $b->{fields} || {};
    $issue->{fields}{$_} = $f->{$_} for keys %$f;

    for my $op (@{($b->{update} || {})->{labels} || []}) {
        push @{$issue->{fields}{labels}}, $op->{add} if defined $op->{add};
    }

    for my $op (@{($b->{update} || {})->{comment} || []}) {
        push @{$issue->{comments}}, $op->{add}{body} if $op->{add};
    }

    return (204, {}, '');
}

sub jira_comment {
    my ($self, $req, $key) = @_;
    my ($b, $issue, @err) = $self->jira_body_issue($req, $key);
    return @err unless $issue;

    return (400, {}, {errorMessages => [],
                      errors => {comment => 'Comment body can not be empty!'}})
        unless defined $b->{body};

    my $cid = $self->{s}{jira}{comment}++;
    push @{$issue->{comments}}, {id => "$cid", body => $b->{body}};

    return (201, {}, {self => "$issue->{self}/comment/$cid", id => "$cid",
                      created => iso_now(), body => $b->{body}});
}

sub jira_transition_list {
    my ($issue) = @_;
    return $issue->{via} eq 'jsm' ? \@JsmTransitions : \@JiraTransitions;
}

sub jira_transitions {
    my ($self, $req, $key) = @_;
    my $issue = $self->jira_issue($key) or return (404, {}, \%JiraNotFound);

    # a workflow offers no transition to the status the issue is in
    my @t = map { {id => $_->{id}, name => $_->{name}, hasScreen => JSON::PP::false,
                   to => {name => $_->{to},
                          statusCategory => {key => $_->{category}}}} }
            grep { $_->{to} ne $issue->{status} }
            @{jira_transition_list($issue)};

    return (200, {}, {expand => 'transitions', transitions => \@t});
}

sub jira_do_transition {
    my ($self, $issue, $id, $comment) = @_;

    my ($t) = grep { $_->{id} eq $id && $_->{to} ne $issue->{status} }
              @{jira_transition_list($issue)};

    return (400, {}, {errorMessages => ["Transition id '$id' is not valid for "
                                        . "this issue."], errors => {}})
        unless $t;

    $issue->{status} = $t->{to};
    $issue->{category} = $t->{category};
    push @{$issue->{transitions_done}}, $t->{name};
    push @{$issue->{comments}}, $comment if defined $comment;

    return (204, {}, '');
}

sub jira_transition {
    my ($self, $req, $key) = @_;
    my ($b, $issue, @err) = $self->jira_body_issue($req, $key);
    return @err unless $issue;

    my $id = ref $b->{transition} eq 'HASH' ? $b->{transition}{id} : undef;
    return (400, {}, {errorMessages => ['Missing transition id'], errors => {}})
        unless defined $id;

    my $comment;
    for my $op (@{($b->{update} || {})->{comment} || []}) {
        $comment = $op->{add}{body} if $op->{add};
    }

    $issue->{fields}{$_} = $b->{fields}{$_} for keys %{$b->{fields} || {}};

    return $self->jira_do_transition($issue, "$id", $comment);
}

sub jira_field {
    my ($issue, $name) = @_;
    my $n = lc $name;

    return $issue->{project} if $n eq 'project';
    return $issue->{key} if $n eq 'key' || $n eq 'issuekey';
    return $issue->{status} if $n eq 'status';
    return {new => 'To Do', indeterminate => 'In Progress',
            done => 'Done'}->{$issue->{category}}
        if $n eq 'statuscategory';

    my $v = $issue->{fields}{$name};
    $v = $issue->{fields}{"customfield_$1"}
        if !defined $v && $name =~ /^cf\[(\d+)\]$/i;
    return $v->{name} // $v->{key} // $v->{value} if ref $v eq 'HASH';
    return $v;
}

sub jira_search {
    my ($self, $req) = @_;
    my $jql = $req->{params}{jql} // '';

    my $cond = eval { sql_parse($jql) };
    return (400, {}, {errorMessages => ["Error in the JQL Query: $@"],
                      errors => {}})
        if $@ || !$cond;

    my @issues;
    my @all = sort { $a->{id} <=> $b->{id} } values %{$self->{s}{jira}{issues}};
    @all = reverse @all if $jql =~ /\bORDER\s+BY\s+\w+\s+DESC\b/i;

    for my $issue (@all) {
        next unless sql_eval($cond, sub { jira_field($issue, $_[0]) });
        push @issues, jira_json($issue);
        last if $req->{params}{maxResults}
                && @issues >= $req->{params}{maxResults};
    }

    return (200, {}, {issues => \@issues, isLast => JSON::PP::true});
}

sub jira_search_gone {
    return (410, {}, {errorMessages => ['The requested API has been removed. '
                                        . 'Please migrate to the '
                                        . '/rest/api/3/search/jql API.'],
                      errors => {}});
}

sub jsm_create {
    my ($self, $req) = @_;
    my ($b, @err) = jira_body($req);
    return @err unless $b;

    my $v = $b->{requestFieldValues} || {};

    return (400, {}, {errorMessage => 'Your request could not be created. '
                                      . 'Please check the fields have been '
                                      . 'correctly filled in.',
                      i18nErrorMessage => {}})
        unless defined $b->{serviceDeskId} && defined $b->{requestTypeId}
               && defined $v->{summary} && length $v->{summary};

    my $issue = $self->jira_new($req, $self->{jsm_project}, $v, 'jsm');
    $issue->{request} = $b;

    return (201, {}, {
        issueId => $issue->{id}, issueKey => $issue->{key},
        requestTypeId => "$b->{requestTypeId}",
        serviceDeskId => "$b->{serviceDeskId}",
        currentStatus => {status => $issue->{status},
                          statusCategory => 'NEW'},
        _links => {web => "http://" . host($req) . "/servicedesk/customer/"
                          . "portal/1/$issue->{key}"},
    });
}

sub jsm_comment {
    my ($self, $req, $key) = @_;
    my ($b, $issue, @err) = $self->jira_body_issue($req, $key, jsm_not_found($key));
    return @err unless $issue;

    my $cid = $self->{s}{jira}{comment}++;
    push @{$issue->{comments}}, {id => "$cid", body => $b->{body},
                                 public => $b->{public}};

    return (201, {}, {id => "$cid", body => $b->{body},
                      public => $b->{public} ? JSON::PP::true : JSON::PP::false,
                      created => {iso8601 => iso_now()}});
}

sub jsm_transitions {
    my ($self, $req, $key) = @_;
    my $issue = $self->jira_issue($key) or return (404, {}, jsm_not_found($key));

    my @v = map { {id => $_->{id}, name => $_->{name}} }
            grep { $_->{to} ne $issue->{status} }
            @{jira_transition_list($issue)};

    return (200, {}, {size => scalar @v, start => 0, limit => 50,
                      isLastPage => JSON::PP::true, values => \@v});
}

sub jsm_transition {
    my ($self, $req, $key) = @_;
    my ($b, $issue, @err) = $self->jira_body_issue($req, $key, jsm_not_found($key));
    return @err unless $issue;

    my $comment = ref $b->{additionalComment} eq 'HASH'
                  ? $b->{additionalComment}{body} : undef;

    return $self->jira_do_transition($issue, "$b->{id}", $comment);
}


# ---- ServiceNow Table API ------------------------------------------------

my %SnowNotFound = (error => {message => 'No Record found',
                              detail => "Record doesn't exist or ACL "
                                        . 'restricts the record retrieval'},
                    status => 'failure');

sub snow_body {
    my ($req) = @_;
    my $b = body_json($req);
    return (undef, 400, {}, {error => {message => 'Exception while reading '
                                                  . 'request',
                                       detail => 'The payload is not valid '
                                                 . 'JSON.'},
                             status => 'failure'})
        unless ref $b eq 'HASH';
    return ($b);
}

sub snow_fields {
    my ($req, $inc) = @_;
    my %r = %{$inc->{record}};
    $r{active} = ($r{state} // '1') =~ /^[678]$/ ? 'false' : 'true';
    $r{work_notes} = '';
    $r{comments} = '';

    my @only = grep { length } split /,/, ($req->{params}{sysparm_fields} // '');
    return {map { $_ => $r{$_} // '' } @only} if @only;
    return \%r;
}

sub snow_create {
    my ($self, $req) = @_;
    my ($b, @err) = snow_body($req);
    return @err unless $b;

    my $sn = $self->{s}{servicenow};
    my $n = $sn->{next}++;
    my $sys_id = unpack('H32', pack('N4', 0x9d385017, 0xc6112287, 0x01d22104,
                                    $n));

    my %rec = (%$b, sys_id => $sys_id, number => sprintf('INC%07d', $n),
               state => $b->{state} // '1', opened_at => iso_now());
    delete @rec{qw(work_notes comments)};

    my $inc = {record => \%rec, work_notes => [], comments => [],
               updates => []};
    push @{$inc->{work_notes}}, $b->{work_notes} if defined $b->{work_notes};
    push @{$inc->{comments}}, $b->{comments} if defined $b->{comments};

    $sn->{incidents}{$sys_id} = $inc;
    $inc->{number} = $rec{number};

    return (201, {Location => "http://" . host($req)
                              . "/api/now/table/incident/$sys_id"},
            {result => snow_fields($req, $inc)});
}

sub snow_get {
    my ($self, $req, $sys_id) = @_;
    my $inc = $self->{s}{servicenow}{incidents}{$sys_id}
        or return (404, {}, \%SnowNotFound);
    return (200, {}, {result => snow_fields($req, $inc)});
}

sub snow_update {
    my ($self, $req, $sys_id) = @_;
    my ($b, @err) = snow_body($req);
    return @err unless $b;
    my $inc = $self->{s}{servicenow}{incidents}{$sys_id}
        or return (404, {}, \%SnowNotFound);

    push @{$inc->{updates}}, $b;

    for my $k (keys %$b) {
        if ($k eq 'work_notes' || $k eq 'comments') {
            push @{$inc->{$k}}, $b->{$k} if length $b->{$k};
            next;
        }
        $inc->{record}{$k} = $b->{$k};
    }

    return (200, {}, {result => snow_fields($req, $inc)});
}

# sysparm_query: field=value^field!=value^ORfield=value ...
sub snow_match {
    my ($inc, $query) = @_;
    my %r = %{$inc->{record}};
    $r{active} = ($r{state} // '1') =~ /^[678]$/ ? 'false' : 'true';

    my @or = ([]);
    for my $part (split /\^/, $query) {
        next if $part eq '' || $part =~ /^ORDERBY/ || $part eq 'NQ';
        if ($part =~ s/^OR//) { push @or, [] }
        push @{$or[-1]}, $part;
    }

    GROUP: for my $group (@or) {
        for my $c (@$group) {
            my ($f, $op, $v) = $c =~ /^(\w+?)(!=|=|LIKE|STARTSWITH|ISEMPTY|ISNOTEMPTY|IN)(.*)$/
                or die "unsupported condition \"$c\"\n";
            my $g = $r{$f} // '';
            my $ok = $op eq '=' ? $g eq $v
                   : $op eq '!=' ? $g ne $v
                   : $op eq 'LIKE' ? index(lc $g, lc $v) >= 0
                   : $op eq 'STARTSWITH' ? index(lc $g, lc $v) == 0
                   : $op eq 'ISEMPTY' ? $g eq ''
                   : $op eq 'ISNOTEMPTY' ? $g ne ''
                   : scalar grep { $_ eq $g } split /,/, $v;
            next GROUP unless $ok;
        }
        return 1;
    }

    return 0;
}

sub snow_list {
    my ($self, $req) = @_;
    my $q = $req->{params}{sysparm_query} // '';
    my $limit = $req->{params}{sysparm_limit} || 10000;
    my @r;

    for my $inc (@{$self->tickets('servicenow')}) {
        my $ok = eval { snow_match($inc, $q) };
        return (400, {}, {error => {message => 'Invalid query', detail => $@},
                          status => 'failure'})
            if $@;
        push @r, snow_fields($req, $inc) if $ok;
        last if @r >= $limit;
    }

    return (200, {'X-Total-Count' => scalar @r}, {result => \@r});
}


# ---- Opsgenie ------------------------------------------------------------

sub og_reqid {
    my ($self) = @_;
    return sprintf('43a29c5c-3dbf-4fa4-9c26-%012d', $self->{s}{opsgenie}{next}++);
}

sub og_find {
    my ($self, $req, $ident) = @_;
    my $type = $req->{params}{identifierType} // 'id';
    my @a = @{$self->{s}{opsgenie}{alerts}};

    if ($type eq 'alias') {
        # the open alert with the alias, else the latest one
        my ($open) = grep { $_->{alias} eq $ident && $_->{status} eq 'open' } @a;
        return $open if $open;
        my ($last) = reverse grep { $_->{alias} eq $ident } @a;
        return $last;
    }

    if ($type eq 'tiny') {
        my ($x) = grep { $_->{tinyId} eq $ident } @a;
        return $x;
    }

    my ($x) = grep { $_->{id} eq $ident } @a;
    return $x;
}

sub og_accepted {
    my ($self, $rid) = @_;
    return (202, {}, {result => 'Request will be processed', took => 0.011,
                      requestId => $rid});
}

sub og_create {
    my ($self, $req) = @_;
    my $b = body_json($req);
    my $rid = $self->og_reqid;

    return (422, {}, {message => 'Request body is not processable. Please '
                                 . 'check the errors.',
                      errors => {message => 'Message can not be empty.'},
                      took => 0.001, requestId => $rid})
        unless ref $b eq 'HASH' && defined $b->{message}
               && length $b->{message};

    my $og = $self->{s}{opsgenie};
    my $alias = $b->{alias} // '';
    my ($open) = grep { length $alias && $_->{alias} eq $alias
                        && $_->{status} eq 'open' } @{$og->{alerts}};

    if ($open) {
        $open->{count}++;
    } else {
        my $n = scalar(@{$og->{alerts}}) + 1;
        $open = {id => sprintf('70413a06-38d6-4c85-92b8-%012d', $n),
                 tinyId => "$n", alias => $alias, message => $b->{message},
                 status => 'open', count => 1,
                 priority => $b->{priority} // 'P3', notes => [],
                 create => $b};
        push @{$og->{alerts}}, $open;
    }

    $og->{requests}{$rid} = {action => 'Create', alertId => $open->{id},
                             alias => $alias};

    return $self->og_accepted($rid);
}

# Opsgenie processes actions later: an unknown alert is still 202, and the
# request's status says it failed
sub og_action {
    my ($self, $req, $ident, $action) = @_;
    my $b = body_json($req) // {};
    my $rid = $self->og_reqid;
    my $a = $self->og_find($req, $ident);

    $self->{s}{opsgenie}{requests}{$rid} = {action => ucfirst $action,
                                            alertId => $a ? $a->{id} : '',
                                            alias => $a ? $a->{alias} : '',
                                            failed => !$a};
    return $self->og_accepted($rid) unless $a;

    if ($action eq 'notes') {
        push @{$a->{notes}}, $b->{note};
    } elsif ($action eq 'close') {
        $a->{status} = 'closed';
        push @{$a->{notes}}, $b->{note} if defined $b->{note};
    } elsif ($action eq 'acknowledge') {
        $a->{acknowledged} = 1;
    } elsif ($action eq 'priority') {
        $a->{priority} = $b->{priority};
    }

    return $self->og_accepted($rid);
}

sub og_get {
    my ($self, $req, $ident) = @_;
    my $a = $self->og_find($req, $ident);

    return (404, {}, {message => "Alert with id [$ident] does not exist",
                      took => 0.004, requestId => $self->og_reqid})
        unless $a;

    my %data = map { $_ => $a->{$_} } qw(id tinyId alias message status count
                                          priority);
    $data{acknowledged} = $a->{acknowledged} ? JSON::PP::true : JSON::PP::false;

    return (200, {}, {data => \%data, took => 0.003,
                      requestId => $self->og_reqid});
}

sub og_request {
    my ($self, $req, $rid) = @_;
    my $r = $self->{s}{opsgenie}{requests}{$rid}
        or return (404, {}, {message => 'Request not found. It might not be '
                                        . 'processed, yet.',
                             took => 0.002, requestId => $self->og_reqid});

    return (200, {}, {data => {success => $r->{failed} ? JSON::PP::false
                                                       : JSON::PP::true,
                               action => $r->{action},
                               isSuccess => $r->{failed} ? JSON::PP::false
                                                         : JSON::PP::true,
                               status => $r->{failed} ? 'Alert does not exist'
                                                      : "$r->{action} done",
                               alertId => $r->{alertId},
                               alias => $r->{alias}},
                      took => 0.002, requestId => $self->og_reqid});
}


# ---- Redmine -------------------------------------------------------------

my %RedmineStatus = (1 => 'New', 2 => 'In Progress', 3 => 'Resolved',
                     4 => 'Feedback', 5 => 'Closed', 6 => 'Rejected');

sub rm_body {
    my ($req) = @_;
    return (undef, 422, {}, {errors => ['Request body is not JSON']})
        unless is_json_type($req);
    my $b = body_json($req);
    return (undef, 400, {}, '')
        unless ref $b eq 'HASH' && ref $b->{issue} eq 'HASH';
    return ($b->{issue});
}

sub rm_json {
    my ($issue, $journals) = @_;
    my %j = (
        id => $issue->{id} + 0,
        project => {id => $issue->{project_id} + 0, name => 'Ops'},
        tracker => {id => ($issue->{tracker_id} // 1) + 0, name => 'Bug'},
        status => {id => $issue->{status_id} + 0,
                   name => $RedmineStatus{$issue->{status_id}} // 'Custom'},
        priority => {id => ($issue->{priority_id} // 2) + 0, name => 'Normal'},
        subject => $issue->{subject},
        description => $issue->{description},
        custom_fields => [map { {id => $_ + 0, name => "cf$_",
                                 value => $issue->{cf}{$_}} }
                          sort { $a <=> $b } keys %{$issue->{cf}}],
    );
    $j{journals} = [map { {id => $_->{id}, notes => $_->{notes} // ''} }
                    @{$issue->{journals}}]
        if $journals;
    return \%j;
}

sub rm_create {
    my ($self, $req) = @_;
    my ($b, @err) = rm_body($req);
    return @err unless $b;

    return (422, {}, {errors => ['Subject cannot be blank']})
        unless defined $b->{subject} && length $b->{subject};
    return (422, {}, {errors => ['Project cannot be blank']})
        unless defined $b->{project_id} && length $b->{project_id};

    my $rm = $self->{s}{redmine};
    my $id = $rm->{next}++;

    my $issue = {%$b, id => $id, status_id => $b->{status_id} // 1,
                 cf => {}, journals => []};
    for my $cf (@{$b->{custom_fields} || []}) {
        $issue->{cf}{$cf->{id}} = $cf->{value};
    }

    $rm->{issues}{$id} = $issue;

    return (201, {Location => "http://" . host($req) . "/issues/$id.json"},
            {issue => rm_json($issue)});
}

sub rm_get {
    my ($self, $req, $id) = @_;
    my $issue = $self->{s}{redmine}{issues}{$id} or return (404, {}, '');
    return (200, {}, {issue => rm_json($issue, ($req->{params}{include} // '')
                                               =~ /journals/)});
}

sub rm_update {
    my ($self, $req, $id) = @_;
    my ($b, @err) = rm_body($req);
    return @err unless $b;
    my $issue = $self->{s}{redmine}{issues}{$id} or return (404, {}, '');

    my %details = %$b;
    my $notes = delete $details{notes};

    for my $k (keys %details) {
        if ($k eq 'custom_fields') {
            $issue->{cf}{$_->{id}} = $_->{value} for @{$details{$k} || []};
            next;
        }
        $issue->{$k} = $details{$k};
    }

    push @{$issue->{journals}}, {id => $self->{s}{redmine}{journal}++,
                                 notes => $notes, details => \%details};

    return (204, {}, '');
}

sub rm_list {
    my ($self, $req) = @_;
    my $p = $req->{params};
    my $st = $p->{status_id} // 'open';
    my @r;
    my @all = @{$self->tickets('redmine')};
    @all = reverse @all if ($p->{sort} // '') =~ /:desc$/;

    for my $issue (@all) {
        my $closed = $issue->{status_id} == 5 || $issue->{status_id} == 6;
        next if $st eq 'open' && $closed;
        next if $st eq 'closed' && !$closed;
        next if $st =~ /^\d+$/ && $issue->{status_id} != $st;
        next if defined $p->{project_id}
                && $issue->{project_id} ne $p->{project_id};

        my $ok = 1;
        for my $k (grep { /^cf_\d+$/ } keys %$p) {
            my ($n) = $k =~ /(\d+)/;
            $ok = 0 unless ($issue->{cf}{$n} // '') eq $p->{$k};
        }
        # "~text": contains (Redmine's filter operator)
        for my $k (qw(subject description)) {
            next unless defined $p->{$k};
            my ($op, $v) = $p->{$k} =~ /^(~?)(.*)$/s;
            my $g = $issue->{$k} // '';
            $ok = 0 unless $op ? index($g, $v) >= 0 : $g eq $v;
        }
        push @r, rm_json($issue) if $ok;
        last if $p->{limit} && @r >= $p->{limit};
    }

    return (200, {}, {issues => \@r, total_count => scalar @r, offset => 0,
                      limit => 25});
}


# ---- PagerDuty Events API v2 --------------------------------------------

sub pd_invalid {
    my (@errors) = @_;
    return (400, {}, {status => 'invalid event',
                      message => 'Event object is invalid',
                      errors => \@errors});
}

sub pd_enqueue {
    my ($self, $req) = @_;
    my $b = body_json($req);

    return pd_invalid('body is not JSON') unless ref $b eq 'HASH';
    return pd_invalid("'routing_key' is missing or blank")
        unless defined $b->{routing_key} && length $b->{routing_key};
    return pd_invalid("'routing_key' is invalid")
        unless length $b->{routing_key} == 32;

    my $action = $b->{event_action} // '';
    return pd_invalid("'event_action' is invalid")
        unless $action =~ /^(trigger|acknowledge|resolve)$/;

    my $pd = $self->{s}{pagerduty};
    my $dedup = $b->{dedup_key};

    if ($action eq 'trigger') {
        my $p = $b->{payload};
        return pd_invalid("'payload' is missing") unless ref $p eq 'HASH';
        for (qw(summary source severity)) {
            return pd_invalid("'payload.$_' is missing or blank")
                unless defined $p->{$_} && length $p->{$_};
        }
        return pd_invalid("'payload.severity' is invalid")
            unless $p->{severity} =~ /^(critical|error|warning|info)$/;

        $dedup = sprintf('%032x', $pd->{next}++)
            unless defined $dedup && length $dedup;

        my ($open) = grep { $_->{dedup_key} eq $dedup
                            && $_->{status} ne 'resolved' } @{$pd->{alerts}};
        if ($open) {
            push @{$open->{events}}, $b;
        } else {
            push @{$pd->{alerts}}, {dedup_key => $dedup, status => 'triggered',
                                   events => [$b]};
        }

    } else {
        return pd_invalid("'dedup_key' is missing or blank")
            unless defined $dedup && length $dedup;

        my ($open) = grep { $_->{dedup_key} eq $dedup
                            && $_->{status} ne 'resolved' } @{$pd->{alerts}};
        if ($open) {
            $open->{status} = $action eq 'resolve' ? 'resolved'
                                                   : 'acknowledged';
            push @{$open->{events}}, $b;
        }
    }

    return (202, {}, {status => 'success', message => 'Event processed',
                      dedup_key => $dedup});
}


# ---- Slack and Teams webhooks -------------------------------------------

sub slack_post {
    my ($self, $req) = @_;
    my $b = body_json($req);

    return (400, {'Content-Type' => 'text/html'}, 'invalid_payload')
        unless ref $b eq 'HASH';
    return (400, {'Content-Type' => 'text/html'}, 'no_text')
        unless defined $b->{text} || defined $b->{blocks};

    push @{$self->{s}{slack}{messages}}, $b;

    return (200, {'Content-Type' => 'text/html'}, 'ok');
}

sub teams_post {
    my ($self, $req) = @_;
    my $b = body_json($req);

    return (400, {}, {error => {code => 'InvalidRequestContent',
                                message => 'The request content is not valid '
                                           . 'and could not be deserialized.'}})
        unless ref $b eq 'HASH';

    push @{$self->{s}{teams}{messages}}, $b;

    return (202, {}, '');
}

1;
