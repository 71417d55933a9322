package ItsmJwt;

# Keys, key sets and tokens for the JWT tests, made at test time with the
# openssl command and core Perl (no CPAN module).  Nothing here is a fixed
# key: every run makes its own.

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

my $Json = JSON::PP->new->canonical;

our $Dir = tempdir('itsm-jwt-XXXXXX', TMPDIR => 1, CLEANUP => 1);


sub b64url {
    my ($bytes) = @_;
    my $s = encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}


sub run {
    my ($cmd) = @_;
    my $out = `$cmd`;
    die "ItsmJwt: \"$cmd\" failed\n" if $?;
    return $out;
}


# an RSA (bits) or P-256 key in $Dir/<name>.pem
sub key {
    my ($name, $type, $bits) = @_;
    my $pem = "$Dir/$name.pem";
    return $pem if -e $pem;

    if ($type eq 'rsa') {
        run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"
            . ($bits || 2048) . " -out $pem 2>/dev/null");
    } else {
        run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
            . " -out $pem 2>/dev/null");
    }

    return $pem;
}


# the public JWK of a key
sub jwk {
    my ($pem, $kid, %extra) = @_;
    my $text = run("openssl pkey -in $pem -noout -text 2>/dev/null");
    my %jwk;

    if ($text =~ /Private-Key: \((\d+) bit/ && $text =~ /modulus:/) {
        my ($mod) = run("openssl rsa -in $pem -noout -modulus 2>/dev/null")
                    =~ /Modulus=([0-9A-F]+)/;
        %jwk = (kty => 'RSA', n => b64url(pack('H*', $mod)), e => 'AQAB');

    } else {
        my $der = run("openssl pkey -in $pem -pubout -outform DER 2>/dev/null");
        my $point = substr($der, -65);
        %jwk = (kty => 'EC', crv => 'P-256',
                x => b64url(substr($point, 1, 32)),
                y => b64url(substr($point, 33, 32)));
    }

    $jwk{kid} = $kid if defined $kid;
    return { %jwk, %extra };
}


# a key set file; returns its path
sub jwks {
    my ($name, @keys) = @_;
    my $path = "$Dir/$name";
    open(my $fh, '>', "$path.tmp") or die $!;
    print $fh $Json->encode({ keys => [@keys] });
    close $fh;
    rename("$path.tmp", $path) or die $!;
    return $path;
}


# a compact JWS; $header and $claims are hashes or raw JSON text
sub token {
    my ($pem, $header, $claims) = @_;
    my $h = ref $header ? $Json->encode($header) : $header;
    my $c = ref $claims ? $Json->encode($claims) : $claims;
    my $input = b64url($h) . '.' . b64url($c);
    my $alg = ref $header ? $header->{alg} : '';

    return "$input." if !defined $pem;

    open(my $fh, '>', "$Dir/input") or die $!;
    print $fh $input;
    close $fh;

    my $sig = run("openssl dgst -sha256 -sign $pem -binary $Dir/input");

    if ($alg eq 'ES256') {
        $sig = der_to_raw($sig);
    }

    return "$input." . b64url($sig);
}


# an HS256 token signed with any bytes as the key (for alg confusion)
sub hs256 {
    my ($key, $header, $claims) = @_;
    require Digest::SHA;
    my $input = b64url($Json->encode($header)) . '.'
                . b64url($Json->encode($claims));
    return "$input." . b64url(Digest::SHA::hmac_sha256($input, $key));
}


# ECDSA-Sig-Value (DER) to the JWS form: r and s, 32 bytes each
sub der_to_raw {
    my ($der) = @_;
    my @b = unpack('C*', $der);
    my $i = 2;
    $i++ if $b[1] & 0x80;
    my @out;
    for (1 .. 2) {
        die "ItsmJwt: bad DER" unless $b[$i] == 0x02;
        my $len = $b[$i + 1];
        my $int = substr($der, $i + 2, $len);
        $int =~ s/^\x00+//;
        push @out, ("\x00" x (32 - length $int)) . $int;
        $i += 2 + $len;
    }
    return join('', @out);
}


sub pem_text {
    my ($pem) = @_;
    return run("openssl pkey -in $pem -pubout 2>/dev/null");
}


1;
