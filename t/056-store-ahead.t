# The store keeps room written ahead of LMDB's last page (zeros, 2 MiB past
# it, written again when less than 512 KiB is left, never past size=), so
# that the flushes of new pages overwrite blocks the file has instead of
# growing it (on ext4 a flush that grows a file also commits the journal).
# The status page's "bytes" are still the pages LMDB uses, not the file.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use JSON::PP;
use IO::Socket::INET;

our $HttpConfig = <<'_EOC_';
    itsm_zone  itsm:1m;
    itsm_store logs/state.mdb size=@SIZE@;
_EOC_

our $Config = ItsmConf::proxy_mock() . <<'_EOC_';
    location = /mock/api/ticket { return 201 '{"id":"T1"}'; }
    location = /alerts { itsm_pass mock; }
    location = /status { itsm_status; }
_EOC_

sub http_config { my ($size) = @_; (my $c = $HttpConfig) =~ s/\@SIZE\@/$size/; $c . ItsmConf::connector('mock') }
sub file_size { -s "$ENV{TEST_NGINX_SERVROOT}/logs/state.mdb" }
sub alert { my ($key) = @_; "POST /alerts\n{\"key\": \"$key\", \"title\": \"Disk full\"}" }

# the status page's store, read from Perl
sub store {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}", Timeout => 10)
        or die "connect: $!";
    print $s "GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my ($text) = <$s> =~ /\r\n\r\n(.*)\z/s;
    return decode_json($text)->{store};
}

# a block that starts nginx (its own store) has the file's locations,
# unless it says otherwise
ItsmConf::defaults(when => 'http_config', config => $Config);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: size=64m: a key created, and the status page's bytes (the pages used, not the file)
--- skip_redis: LMDB's file and the room written ahead of its last page
--- http_config eval: ::http_config("64m")
--- request eval: [::alert("k-1"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"store":\{"keys":1,"open_tickets":1,.*"bytes":\d+,"size_bytes":67108864,/]



=== TEST 2: ... the file holds 2 MiB of room past those pages, at least 512 KiB of it unused
--- skip_redis: LMDB's file and the room written ahead of its last page
--- init
my $bytes = ::store()->{bytes};
my $size = ::file_size();
Test::More::cmp_ok($bytes, '<', 512 * 1024, "the pages used: $bytes bytes");
Test::More::cmp_ok($size - $bytes, '>=', 512 * 1024, "room past them: $size - $bytes");
Test::More::cmp_ok($size, '<=', $bytes + 2 * 1024 * 1024 + 4096 * 8, "no more than 2 MiB of room past them: $size");
--- request
GET /status
--- response_body_like: "store":\{"keys":1,"open_tickets":1,



=== TEST 3: size=1m: the room stops at size=, exactly
--- skip_redis: LMDB's file and the room written ahead of its last page
--- http_config eval: ::http_config("1m")
--- request eval: [::alert("k-2"), "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200]
--- response_body_like eval: [qr/"outcome":"created"/, qr/"size_bytes":1048576,/]



=== TEST 4: ... the file is 1 MiB long, not a byte more
--- skip_redis: LMDB's file and the room written ahead of its last page
--- init
Test::More::is(::file_size(), 1048576, "the file stops at size=");
--- request
GET /status
--- response_body_like: "size_bytes":1048576,
