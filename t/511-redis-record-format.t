# A record on Redis that is not what itsm_store redis writes
# (ngx_http_itsm_store_redis.c, the decoder of "r1 doubt hash ... keylen\n"
# + the key's text + the codec's bytes): the alert of that key is answered
# 503 + Retry-After with the store's JSON error, nothing goes to the ITSM,
# the error log says so; the worker lives on (the next key is created).
# Each block creates key "k", then overwrites its :r key in Redis with one
# malformed value, then sends the alert again: a key's length one past the
# record's end, and 2^64-1, which, added to the pointer before the check
# (as the decoder did), wrapped around to inside the record.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmHttp;
use ItsmRedis;

our $Redis = ItsmRedis->start;
our $Port = $Redis->port;
our $N = 0;

# the :r key of the one record under prefix P
sub rkey {
    my ($p) = @_;
    my ($k) = grep { /:r$/ } split /\n/, $Redis->cli('--scan', '--pattern', "$p*");
    return $k;
}

# creates "k", overwrites its record with what $make returns (given the
# record as written), sends "k" again, and sends a new key "fresh"
sub corrupt {
    my ($p, $make) = @_;
    my ($s) = ItsmHttp::call('POST', '/alerts', '{"key": "k", "title": "t"}');
    Test::More::is($s, 201, 'k created');
    my $k = rkey($p);
    my $rec = $Redis->cli('--raw', 'GET', $k);
    chomp $rec;
    my $bad = $make->($rec);
    # redis-cli -x reads the value from stdin: the bytes as they are
    open my $w, '|-', "redis-cli -p $Port -x SET '$k' >/dev/null" or die $!;
    print $w $bad;
    close $w;
    my ($s2, $b2, $h2) = ItsmHttp::call_head('POST', '/alerts', '{"key": "k", "title": "t"}');
    Test::More::is($s2, 503, 'the malformed record: 503');
    Test::More::like($b2, qr/^\{"error":"store_unavailable"/, 'the store\'s JSON error');
    Test::More::like($h2, qr/^Retry-After: \d+\r?$/mi, 'with Retry-After');
    Test::More::is(scalar ItsmHttp::read_lines('creates.log'), 1, 'one create only, nothing for the malformed record');
    my ($s3) = ItsmHttp::call('POST', '/alerts', '{"key": "fresh", "title": "t"}');
    Test::More::is($s3, 201, 'the worker lives on: another key created');
}

our $Http = <<"EOF";
    itsm_redis address=127.0.0.1:$Port prefix=PREFIX;
    itsm_store redis;
    itsm_connector mock {
        location  /_itsm/mock;
        create    POST /ticket 'body={"title": "{{ title }}"}';
        ticket_id /id;
    }
EOF

our $Config = <<'EOF';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { access_log logs/creates.log; return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
EOF

sub http { $Http =~ s/PREFIX/$_[0]/r }

# the header's last field (the key's length) set to $n
sub keylen { my ($n) = @_; sub { $_[0] =~ s/^(r1(?: \S+){10}) \d+\n/$1 $n\n/r } }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the key's length past the record's end (its own length + 1 would reach past; 2^64-1 would overflow the pointer)
--- http_config eval: ::http('f1:')
--- config eval: $::Config
--- init
::corrupt('f1:', ::keylen('18446744073709551615'));
--- request
GET /mock/ticket
--- error_code: 201
--- error_log
itsm_store redis: a record of an unknown format is ignored



=== TEST 2: the key's length one past the text's end
--- http_config eval: ::http('f2:')
--- config eval: $::Config
--- init
::corrupt('f2:', sub { my ($r) = @_; my ($h, $rest) = split /\n/, $r, 2; $h =~ s/ \d+\z/ @{[length($rest) + 1]}/; "$h\n$rest" });
--- request
GET /mock/ticket
--- error_code: 201
--- error_log
itsm_store redis: a record of an unknown format is ignored



=== TEST 3: not "r1 ": another version's record
--- http_config eval: ::http('f3:')
--- config eval: $::Config
--- init
::corrupt('f3:', sub { $_[0] =~ s/^r1 /r9 /r });
--- request
GET /mock/ticket
--- error_code: 201
--- error_log
itsm_store redis: a record of an unknown format is ignored



=== TEST 4: a header cut short (no key length) and no newline
--- http_config eval: ::http('f4:')
--- config eval: $::Config
--- init
::corrupt('f4:', sub { 'r1 0 0' });
--- request
GET /mock/ticket
--- error_code: 201
--- error_log
itsm_store redis: a record of an unknown format is ignored
