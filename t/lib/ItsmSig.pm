package ItsmSig;

# One signer for every itsm_signature scheme, so that a test can send the
# same case (a file secret, a truncated MAC, a MAC one byte long, ...) to
# each scheme in turn and cannot skip one by accident.
#
#   my $h = ItsmSig::headers('slack', key => 'k', ts => $t, mac => sub {...});
#
# key is the HMAC key as bytes (the base64-decoded whsec_ key for
# standard_webhooks); secret() gives the text a configuration or a secret
# file holds for that key.  mac => sub { my ($bytes) = @_; ... } changes
# the MAC before it is encoded, text => sub { my ($encoded) = @_; ... }
# the encoded value after; sig => '...' replaces the encoded value
# (everything after the scheme's prefix); prefix => '...' the prefix;
# value => '...' the whole header value (Stripe's "t=...,v1=...");
# extra => "Name: value\n" adds headers.  secret => '...' is the key as
# the configuration writes it (secret() reversed).  header => and
# ts_header => rename the signature's and the timestamp's header (a scheme
# configured with header= or timestamp_header=); no_id, no_ts and no_sig
# leave the id, the timestamp or the signature header out; bare => 1 the
# Content-Type header.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha1 hmac_sha256 hmac_sha512);
use MIME::Base64 qw(encode_base64 decode_base64);

our $Body = '{"key": "sig-1", "title": "Signed"}';

# name => [directive parameters, header, prefix, encoding, digest,
#          content, timestamp header, id header]
our %Scheme = (
    standard_webhooks => ['standard_webhooks', 'webhook-signature', 'v1,',
                          'base64', \&hmac_sha256, '{id}.{timestamp}.{body}',
                          'webhook-timestamp', 'webhook-id'],
    github  => ['github', 'X-Hub-Signature-256', 'sha256=', 'hex',
                \&hmac_sha256, '{body}'],
    jira    => ['jira', 'X-Hub-Signature', 'sha256=', 'hex', \&hmac_sha256,
                '{body}', undef, 'X-Atlassian-Webhook-Identifier'],
    slack   => ['slack', 'X-Slack-Signature', 'v0=', 'hex', \&hmac_sha256,
                'v0:{timestamp}:{body}', 'X-Slack-Request-Timestamp'],
    stripe  => ['stripe', 'Stripe-Signature', 'v1=', 'hex', \&hmac_sha256,
                '{timestamp}.{body}'],
    grafana => ['grafana', 'X-Grafana-Alerting-Signature', '', 'hex',
                \&hmac_sha256, '{body}'],
    grafana_ts => ['grafana timestamp_header=X-Grafana-Timestamp',
                   'X-Grafana-Alerting-Signature', '', 'hex', \&hmac_sha256,
                   '{timestamp}:{body}', 'X-Grafana-Timestamp'],
    generic_sha1 => ['generic header=X-Sig algorithm=sha1 prefix=sha1=',
                     'X-Sig', 'sha1=', 'hex', \&hmac_sha1, '{body}'],
    generic_b64 => ['generic header=X-Shopify-Hmac-Sha256 encoding=base64',
                    'X-Shopify-Hmac-Sha256', '', 'base64', \&hmac_sha256,
                    '{body}'],
    generic_sha512 => ['generic header=X-Sig algorithm=sha512 '
                       . 'encoding=base64 prefix=v1= '
                       . '"content={timestamp}.{id}.{body}|end" '
                       . 'timestamp_header=X-Ts id_header=X-Id',
                       'X-Sig', 'v1=', 'base64', \&hmac_sha512,
                       '{timestamp}.{id}.{body}|end', 'X-Ts', 'X-Id'],
);

# every scheme, in a fixed order
our @All = qw(standard_webhooks github jira slack stripe grafana grafana_ts
              generic_sha1 generic_b64 generic_sha512);

# the schemes whose key is the secret's bytes as written
our @Raw = grep { $_ ne 'standard_webhooks' } @All;

# the schemes that sign a timestamp
our @Timed = qw(standard_webhooks slack stripe grafana_ts generic_sha512);


sub encode {
    my ($name, $bytes) = @_;
    return $Scheme{$name}[3] eq 'hex' ? unpack('H*', $bytes)
                                      : encode_base64($bytes, '');
}


# the text of a secret for this key, as nginx.conf or a secret file has it
sub secret {
    my ($name, $key) = @_;
    return $name eq 'standard_webhooks' ? 'whsec_' . encode_base64($key, '')
                                        : $key;
}

# the key of a secret as nginx.conf or a secret file has it
sub key {
    my ($name, $secret) = @_;
    return $name eq 'standard_webhooks' ? decode_base64($secret =~ s/^whsec_//r)
                                        : $secret;
}


# "itsm_signature ... secret=...;" for a location
sub directive {
    my ($name, @secrets) = @_;
    return "itsm_signature $Scheme{$name}[0] "
           . join(' ', map { "\"secret=$_\"" } @secrets) . ";";
}


# the MAC bytes of a request
sub mac {
    my ($name, %o) = @_;
    my ($digest, $content) = @{$Scheme{$name}}[4, 5];
    my $text = $content;
    $text =~ s/\{id\}/$o{id} \/\/ ''/ge;
    $text =~ s/\{timestamp\}/$o{ts}/g;
    $text =~ s/\{body\}/$o{body}/g;
    return $digest->($text, $o{key});
}


# the options filled in: what a request signs when the caller does not say
sub defaults {
    my ($name, %o) = @_;
    $o{body} //= $Body;
    $o{ts} //= time();
    # a random id only where the scheme has one
    $o{id} //= 'd-' . int(rand(1e9))
        if $Scheme{$name}[7] || $Scheme{$name}[5] =~ /\{id\}/;
    $o{key} //= defined $o{secret} ? key($name, $o{secret}) : 'secret';
    return %o;
}

# the signature header's value of a request signed with key (and ts, id)
# over body
sub value {
    my ($name, %o) = @_;
    my $s = $Scheme{$name} or die "ItsmSig: no scheme $name\n";
    %o = defaults($name, %o);

    my $mac = mac($name, %o);
    $mac = $o{mac}->($mac) if $o{mac};
    my $sig = $o{sig} // encode($name, $mac);
    $sig = $o{text}->($sig) if $o{text};

    my $prefix = $o{prefix} // $s->[2];
    return $o{value} // ($name eq 'stripe' ? "t=$o{ts},$prefix$sig" : "$prefix$sig");
}

# the headers of a request signed with key (and ts, id) over body
sub headers {
    my ($name, %o) = @_;
    my $s = $Scheme{$name} or die "ItsmSig: no scheme $name\n";
    my ($header, $ts_header, $id_header) = @{$s}[1, 6, 7];
    %o = defaults($name, %o);

    $header = $o{header} if defined $o{header};
    $ts_header = $o{ts_header} if defined $o{ts_header};

    my $h = ($o{bare} ? '' : "Content-Type: application/json\n") . ($o{extra} // '');
    $h .= "$id_header: $o{id}\n" if $id_header && !$o{no_id};
    $h .= "$ts_header: $o{ts}\n" if $ts_header && !$o{no_ts};
    $h .= "$header: " . value($name, %o) . "\n" unless $o{no_sig};
    return $h;
}

1;
