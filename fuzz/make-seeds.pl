#!/usr/bin/env perl
# Writes the seed corpus in fuzz/corpus/<target>/ and the fixture key set
# fuzz/jwks-fixture.json (public keys only; the private keys are made in a
# temporary directory and thrown away), and the same key set as a C string
# for fuzz_jwt, fuzz/jwks_fixture.h.  Run from the repository root:
#   perl fuzz/make-seeds.pl
# The outputs are committed; run it again only to refresh them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use ItsmJwt;
use JSON::PP ();

my $dir = "$FindBin::Bin/corpus";
my $json = JSON::PP->new->canonical;

sub seed {
    my ($target, $name, $bytes) = @_;
    mkdir "$dir/$target";
    open(my $fh, '>:raw', "$dir/$target/$name") or die $!;
    print $fh $bytes;
    close $fh;
}

# signature headers: the first byte chooses the parser (fuzz_sig_headers.c)
seed('sig_headers', 'standard-vector', "\x00v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
seed('sig_headers', 'standard-many', "\x00v1a,AAAA v1,c29tZXRoaW5nIGVsc2U=  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=");
seed('sig_headers', 'stripe', "\x01t=1700000000,v1=13941114bb88ac44a76abcfddea5b92aa6182a4b63d8be3aae908a616083bd7e,v0=00");
seed('sig_headers', 'stripe-spaces', "\x01t=1700000000, v1=" . ('ab' x 32) . ", v1=" . ('cd' x 32));
seed('sig_headers', 'github', "\x02sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
seed('sig_headers', 'slack', "\x82v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
seed('sig_headers', 'shopify', "\x03VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=");
seed('sig_headers', 'timestamp', "\x041614265330");
seed('sig_headers', 'id', "\x05msg_p5jXN8AQM9LWM0D4loKWxJek");
seed('sig_headers', 'codec', "\x06aGVsbG8gd29ybGQ=");
seed('sig_headers', 'codec-url', "\x86aGVsbG8-d29ybGQ_");
seed('sig_headers', 'roundtrip', "\x07\x00\x01\x02\xfb\xfc\xfd\xfe\xff");

# key sets: the fixture (also the key set of fuzz_jwt) and variants
my $rsa = ItsmJwt::key('fuzz-rsa', 'rsa');
my $ec = ItsmJwt::key('fuzz-ec', 'ec');
my @keys = (ItsmJwt::jwk($rsa, 'rsa1', use => 'sig', alg => 'RS256'),
            ItsmJwt::jwk($ec, 'ec1'));
my $set = $json->encode({ keys => \@keys });

open(my $fh, '>', "$FindBin::Bin/jwks-fixture.json") or die $!;
print $fh "$set\n";
close $fh;

# the C string, 56 characters of JSON a line (cut before escaping)
open($fh, '>', "$FindBin::Bin/jwks_fixture.h") or die $!;
print $fh "/*\n * The key set of fuzz_jwt, fuzz/jwks-fixture.json as a C string; both are\n"
          . " * written by fuzz/make-seeds.pl.\n */\n\nstatic const char  jwks_fixture[] =\n";
my @lines = map { (my $l = $_) =~ s/(["\\])/\\$1/g; "    \"$l\"" } ($set =~ /(.{1,56})/gs);
print $fh join("\n", @lines), ";\n";
close $fh;

seed('jwks', 'fixture', $set);
seed('jwks', 'skipped', $json->encode({ keys => [
    { kty => 'oct', k => 'c2VjcmV0' }, { kty => 'EC', crv => 'P-384', x => 'AA', y => 'AA' },
    { kty => 'RSA', use => 'enc', n => 'AQAB', e => 'AQAB' }, @keys ] }));
seed('jwks', 'bad-point', $json->encode({ keys => [
    { kty => 'EC', crv => 'P-256', x => ItsmJwt::b64url("\x01" x 32), y => ItsmJwt::b64url("\x02" x 32) } ] }));

# tokens, at the fuzz target's clock (1700000000)
my %v1 = (iss => 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
          aud => 'api://itsm', iat => 1699999000, nbf => 1699999000, exp => 1700003600,
          appid => '461e8683-5575-4561-ac7f-899cc907d62a', roles => ['ActionGroupsSecureWebhook'],
          tid => '72f988bf-86f1-41af-91ab-2d7cd011db47', ver => '1.0');
my %v2 = (%v1, iss => 'https://issuer.test/', aud => ['x', '9f3b1c2d-aaaa-4bbb-8ccc-123456789abc'],
          azp => '461e8683-5575-4561-ac7f-899cc907d62a', ver => '2.0');
delete $v2{appid};

seed('jwt', 'rs256-v1', ItsmJwt::token($rsa, { alg => 'RS256', typ => 'JWT', kid => 'rsa1' }, \%v1));
seed('jwt', 'es256-v2', ItsmJwt::token($ec, { alg => 'ES256', kid => 'ec1' }, \%v2));
seed('jwt', 'nokid', ItsmJwt::token($rsa, { alg => 'RS256' }, { %v1, exp => 1 }));
seed('jwt', 'none', ItsmJwt::token(undef, { alg => 'none' }, \%v1));
seed('jwt', 'hs256', ItsmJwt::hs256('k', { alg => 'HS256' }, \%v1));
seed('jwt', 'crit', ItsmJwt::token($rsa, { alg => 'RS256', crit => ['b64'] }, \%v1));

# the same, in fuzz_jwt's structured form: "\x01" header NUL claims NUL sig
seed('jwt', 'structured-v1', "\x01" . $json->encode({ alg => 'RS256', kid => 'rsa1' }) . "\0"
                             . $json->encode(\%v1) . "\0" . ('s' x 256));
seed('jwt', 'structured-v2', "\x01" . $json->encode({ alg => 'ES256', kid => 'ec1' }) . "\0"
                             . $json->encode({ %v2, roles => 'x', nbf => 'soon' }) . "\0" . ('s' x 64));

# alert bodies for the depth check
seed('json_depth', 'alert', '{"key": "db-1", "title": "Disk \"full\" \\\\ on db-1", "labels": {"a": [1, {"b": null}]}}');
seed('json_depth', 'deep', ('[' x 40) . (']' x 40));
seed('json_depth', 'strings', '["[[[[", "\\"{{{{", {"k\\\\": "]]]]"}]');

print "fuzz: seeds in $dir, fixture in fuzz/jwks-fixture.json and fuzz/jwks_fixture.h\n";
