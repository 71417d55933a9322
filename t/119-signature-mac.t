# The MAC and its encoding, scheme by scheme, on both sides of every edge:
# a MAC is compared whole and only with one of its own length (a 3-byte
# prefix of the right MAC, a MAC one byte short or one byte long, an empty
# one are refused); hex is read without regard to case but only in pairs
# of hex digits; base64 with or without padding, but not base64url, nor
# too much padding; the prefix without regard to case.  Header counts:
# a signature, timestamp or id header given twice is refused.  Timestamps
# of up to 12 digits, ids of up to 256 characters.
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::Nginx::Socket 'no_plan';
use ItsmConf;
use ItsmBlocks;
use ItsmSig;

our $Config = '';

for my $s (@ItsmSig::All) {
    $Config .= "    location = /$s {\n        "
               . ItsmSig::directive($s, ItsmSig::secret($s, 'secret'))
               . "\n        add_header X-Result \$itsm_access_result always;\n"
               . "        try_files /.none =204;\n    }\n";
}

our $T = time();

# the MAC's length in bytes
sub len { length ItsmSig::mac($_[0], key => 'secret', body => '', ts => 0, id => '') }

# [headers, status, $itsm_access_result] for a scheme
sub lengths {
    my ($s) = @_;
    my $n = len($s);
    return (
        [ItsmSig::headers($s), 204, 'passed'],
        [ItsmSig::headers($s, mac => sub { substr($_[0], 0, 3) }), 401, 'signature_mismatch'],
        [ItsmSig::headers($s, mac => sub { substr($_[0], 0, -1) }), 401, 'signature_mismatch'],
        # a MAC longer than SHA-512's 64 bytes cannot be one at all
        [ItsmSig::headers($s, mac => sub { $_[0] . "\x01" }), 401,
         $n == 64 ? 'signature_malformed' : 'signature_mismatch'],
        [ItsmSig::headers($s, mac => sub { $_[0] . $_[0] }), 401,
         $n * 2 > 64 ? 'signature_malformed' : 'signature_mismatch'],
        [ItsmSig::headers($s, sig => ''), 401, 'signature_malformed'],
        [ItsmSig::headers($s, mac => sub { my $m = shift; substr($m, -1, 1) ^= "\x01"; $m }), 401, 'signature_mismatch'],
        [ItsmSig::headers($s, mac => sub { my $m = shift; substr($m, 0, 1) ^= "\x80"; $m }), 401, 'signature_mismatch'],
    );
}

# a body whose MAC's base64 holds "+" or "/", at a fixed timestamp and id
sub b64_body {
    my ($s) = @_;
    for my $i (1 .. 1000) {
        my $body = qq({"key": "b64-$i"});
        my $m = ItsmSig::encode($s, ItsmSig::mac($s, key => 'secret', body => $body,
                                                 ts => $::T, id => 'd-b64'));
        return $body if $m =~ m{[+/]};
    }
    die "no body with + or / in its MAC\n";
}

sub encodings {
    my ($s) = @_;
    my $hex = $ItsmSig::Scheme{$s}[3] eq 'hex';
    my $prefix = $ItsmSig::Scheme{$s}[2];
    my @c;

    if ($hex) {
        push @c, [ItsmSig::headers($s, text => sub { uc $_[0] }), 204, 'passed'],
                 [ItsmSig::headers($s, text => sub { substr($_[0], 0, -1) }), 401, 'signature_malformed'],
                 [ItsmSig::headers($s, text => sub { $_[0] . '0' }), 401, 'signature_malformed'],
                 [ItsmSig::headers($s, text => sub { 'g' . substr($_[0], 1) }), 401, 'signature_malformed'],
                 [ItsmSig::headers($s, text => sub { substr($_[0], 0, -1) . 'G' }), 401, 'signature_malformed'];
    } else {
        my $body = b64_body($s);
        my %o = (body => $body, ts => $::T, id => 'd-b64');
        push @c, [ItsmSig::headers($s, %o), 204, 'passed', $body],
                 [ItsmSig::headers($s, %o, text => sub { (my $t = shift) =~ s/=+$//; $t }), 204, 'passed', $body],
                 [ItsmSig::headers($s, %o, text => sub { $_[0] . '=' }), 401, 'signature_malformed', $body],
                 [ItsmSig::headers($s, %o, text => sub { (my $t = shift) =~ tr{+/}{-_}; $t }), 401, 'signature_malformed', $body],
                 [ItsmSig::headers($s, %o, text => sub { substr($_[0], 0, 1) . '!' . substr($_[0], 2) }), 401, 'signature_malformed', $body];
    }

    if (length $prefix && $s ne 'stripe' && $s ne 'standard_webhooks') {
        push @c, [ItsmSig::headers($s, prefix => uc $prefix), 204, 'passed'],
                 [ItsmSig::headers($s, prefix => ''), 401, 'signature_malformed'],
                 [ItsmSig::headers($s, prefix => substr($prefix, 0, -1)), 401, 'signature_malformed'];
    }

    return @c;
}

# the same header twice: the signature's, the timestamp's, the id's
sub twice {
    my ($s) = @_;
    my ($header, $ts_header, $id_header) = @{$ItsmSig::Scheme{$s}}[1, 6, 7];
    my $h = ItsmSig::headers($s);
    my @c;
    my ($line) = $h =~ /^(\Q$header\E: .*\n)/m;
    push @c, [$h . $line, 401, 'signature_malformed'];
    if ($ts_header) {
        my ($l) = $h =~ /^(\Q$ts_header\E: .*\n)/m;
        push @c, [$h . $l, 401, 'signature_malformed'];
    }
    if ($id_header) {
        my ($l) = $h =~ /^(\Q$id_header\E: .*\n)/m;
        push @c, [$h . $l, 401, 'signature_malformed'];
    }
    return @c;
}

# as a block's cases (ItsmConf::cases_of)
sub block {
    my ($s, @cases) = @_;
    return ItsmConf::cases_of(map { ["POST /$s\n" . ($_->[3] // $ItsmSig::Body), @$_[0 .. 2]] } @cases);
}

our %B;
for my $s (@ItsmSig::All) {
    $B{len}{$s} = block($s, lengths($s));
    $B{enc}{$s} = block($s, encodings($s));
    $B{twice}{$s} = block($s, twice($s));
}

# timestamps: up to 12 digits (zero-padded), nothing but digits
our %Ts;
for my $s (@ItsmSig::Timed) {
    $Ts{$s} = block($s,
        [ItsmSig::headers($s, ts => sprintf('%012d', $T)), 204, 'passed'],
        [ItsmSig::headers($s, ts => sprintf('%013d', $T)), 401, 'signature_malformed'],
        [ItsmSig::headers($s, ts => "+$T"), 401, 'signature_malformed'],
        [ItsmSig::headers($s, ts => "$T.0"), 401, 'signature_malformed'],
        [ItsmSig::headers($s, ts => "-$T"), 401, 'signature_malformed'],
        [ItsmSig::headers($s, ts => "0x" . sprintf('%x', $T)), 401, 'signature_malformed']);
}

# signed ids: 1 to 256 printable characters, no "." and no space
our %Id;
for my $s (qw(standard_webhooks generic_sha512)) {
    $Id{$s} = block($s,
        [ItsmSig::headers($s, id => 'i' x 256), 204, 'passed'],
        [ItsmSig::headers($s, id => 'i' x 257), 401, 'signature_malformed'],
        [ItsmSig::headers($s, id => 'x'), 204, 'passed'],
        [ItsmSig::headers($s, id => 'a.b'), 401, 'signature_malformed'],
        [ItsmSig::headers($s, id => "a\x7fb"), 401, 'signature_malformed']);
}

# signatures of other keys, as the scheme writes them
sub wrong {
    my ($s, $n) = @_;
    return map { ItsmSig::encode($s, ItsmSig::mac($s, key => "other-$_", body => 'x',
                                                  ts => 0, id => 'x')) } 1 .. $n;
}

# every signature of a list is tried: the right one first, 9th, 41st or
# last of 200, between entries of other versions or that do not decode
our $Many = block('standard_webhooks',
    map({ my ($before, $after) = @$_;
          [ItsmSig::headers('standard_webhooks', text => sub {
              join(' ', (map { "v1,$_" } wrong('standard_webhooks', $before)),
                        "v1,$_[0]",
                        (map { "v1,$_" } wrong('standard_webhooks', $after))) },
              prefix => ''),
           204, 'passed'] } [0, 40], [8, 0], [40, 0], [199, 0], [20, 20]),
    [ItsmSig::headers('standard_webhooks', text => sub {
        join(' ', 'v1a,xyz', 'v1,not*base64', (map { "v1,$_" } wrong('standard_webhooks', 30)),
                  'v2,AAAA', "v1,$_[0]") }, prefix => ''), 204, 'passed'],
    [ItsmSig::headers('standard_webhooks', text => sub {
        join(' ', map { "v1,$_" } wrong('standard_webhooks', 200)) }, prefix => ''),
     401, 'signature_mismatch']);

our $ManyStripe = block('stripe',
    map({ my ($before, $after) = @$_;
          [ItsmSig::headers('stripe', text => sub {
              join(',', (map { "v1=$_" } wrong('stripe', $before)), "v1=$_[0]",
                        (map { "v1=$_" } wrong('stripe', $after))) }, prefix => ''),
           204, 'passed'] } [0, 40], [8, 0], [40, 0], [150, 0]),
    [ItsmSig::headers('stripe', text => sub {
        join(',', 'v0=abcd', (map { "v1=$_" } wrong('stripe', 30)), 'v1=zz', "v1=$_[0]") },
        prefix => ''), 204, 'passed'],
    [ItsmSig::headers('stripe', text => sub {
        join(',', map { "v1=$_" } wrong('stripe', 150)) }, prefix => ''),
     401, 'signature_mismatch']);

# the one limit left is nginx's own on a header line: with
# large_client_header_buffers 4 1k, "name: value" of 1022 bytes is read,
# 1023 is not (400); the right signature is the last thing in the line
sub line_of {
    my ($len) = @_;
    return ItsmSig::headers('standard_webhooks', text => sub {
        my $tail = " v1,$_[0]";
        my $head = join(' ', map { "v1,$_" } wrong('standard_webhooks', 18));
        my $pad = $len - length("webhook-signature: ") - length($head) - length($tail) - 1;
        die "line_of: $len is too short\n" if $pad < 5;
        return "$head v1a," . ('x' x ($pad - 4)) . $tail;
    }, prefix => '');
}

our $Lines = {
    request => [("POST /standard_webhooks\n$ItsmSig::Body") x 2],
    headers => [line_of(1022), line_of(1023)],
};

# the blocks of the MAC lengths, one a scheme: [scheme, title]
our @Lengths = (
    [standard_webhooks => 'standard_webhooks: only the whole MAC passes (prefix, one byte short or long, empty, one bit off)'],
    [github => 'github: the same'],
    [jira => 'jira: the same'],
    [slack => 'slack: the same'],
    [stripe => 'stripe: the same'],
    [grafana => 'grafana: the same'],
    [grafana_ts => 'grafana with a timestamp: the same'],
    [generic_sha1 => 'generic, sha1 hex: the same (20 bytes)'],
    [generic_b64 => 'generic, sha256 base64: the same'],
    [generic_sha512 => 'generic, sha512 base64: the same (64 bytes: one more cannot be a MAC)']);

ItsmBlocks::expand(lengths => join '', map {
    my ($s, $title) = @$_;
    "=== TEST #: $title\n"
    . join('', map { "--- $_->[0] eval: \$::B{len}{$s}{$_->[1]}\n" }
                   [request => 'request'], [more_headers => 'headers'], [error_code => 'code'],
                   [response_headers => 'result'])
    . "\n\n\n"
} @Lengths);

ItsmConf::cases();
ItsmConf::defaults(config => $Config);

no_shuffle();
run_tests();

__DATA__

%%% lengths
=== TEST 11: encodings, every scheme: hex case, odd hex, non-hex digits; base64 padding, base64url, bad characters; the prefix's case, no prefix, a cut prefix
--- request eval: [map { @{$::B{enc}{$_}{request}} } @ItsmSig::All]
--- more_headers eval: [map { @{$::B{enc}{$_}{headers}} } @ItsmSig::All]
--- error_code eval: [map { @{$::B{enc}{$_}{code}} } @ItsmSig::All]
--- response_headers eval: [map { @{$::B{enc}{$_}{result}} } @ItsmSig::All]



=== TEST 12: a signature, timestamp or id header twice, every scheme
--- request eval: [map { @{$::B{twice}{$_}{request}} } @ItsmSig::All]
--- more_headers eval: [map { @{$::B{twice}{$_}{headers}} } @ItsmSig::All]
--- error_code eval: [map { @{$::B{twice}{$_}{code}} } @ItsmSig::All]
--- response_headers eval: [map { @{$::B{twice}{$_}{result}} } @ItsmSig::All]



=== TEST 13: timestamps: 12 digits pass, 13 do not; no sign, fraction or hex
--- request eval: [map { @{$::Ts{$_}{request}} } @ItsmSig::Timed]
--- more_headers eval: [map { @{$::Ts{$_}{headers}} } @ItsmSig::Timed]
--- error_code eval: [map { @{$::Ts{$_}{code}} } @ItsmSig::Timed]
--- response_headers eval: [map { @{$::Ts{$_}{result}} } @ItsmSig::Timed]



=== TEST 14: signed ids: 256 characters pass, 257 do not; one character passes; no "." or control character
--- request eval: [map { @{$::Id{$_}{request}} } qw(standard_webhooks generic_sha512)]
--- more_headers eval: [map { @{$::Id{$_}{headers}} } qw(standard_webhooks generic_sha512)]
--- error_code eval: [map { @{$::Id{$_}{code}} } qw(standard_webhooks generic_sha512)]
--- response_headers eval: [map { @{$::Id{$_}{result}} } qw(standard_webhooks generic_sha512)]



=== TEST 15: every signature in a header is tried, however many (standard_webhooks, up to 200)
--- config eval: "large_client_header_buffers 4 16k;\n" . $::Config
--- cases eval: $::Many



=== TEST 16: the same for stripe's v1= entries (up to 150)
--- config eval: "large_client_header_buffers 4 16k;\n" . $::Config
--- cases eval: $::ManyStripe



=== TEST 17: the limit is nginx's header line: 1022 bytes with 1k buffers are verified (the right signature last), 1023 are refused by nginx
--- config eval: "large_client_header_buffers 4 1k;\n" . $::Config
--- request eval: $::Lines->{request}
--- more_headers eval: $::Lines->{headers}
--- error_code eval: [204, 400]
