# The helpers with a static nginx (util/static.sh: the module linked in,
# no load_module line): t/lib/ItsmExample.pm asks the binary ("nginx -V")
# whether it was configured with --add-module of this repository's addon
# config, and only then runs an example with no module to load.
#
# The binaries here are shell scripts that print what "nginx -V" prints
# (on stderr, as nginx does): nothing runs nginx.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use ItsmExample;

my $Repo = "$FindBin::Bin/..";
my $Tmp = tempdir(CLEANUP => 1);

# another addon: a directory whose config is not ours
mkdir "$Tmp/other" or die "$Tmp/other: $!";
open(my $c, '>', "$Tmp/other/config") or die "$Tmp/other/config: $!";
print $c "ngx_addon_name=ngx_http_itsm_module_not\n";
close $c;

my $n = 0;
sub fake_nginx {
    my ($args) = @_;
    my $f = "$Tmp/nginx-" . ++$n;
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh "#!/bin/sh\n",
        "echo 'nginx version: nginx/1.22.1' >&2\n",
        "echo 'configure arguments: $args' >&2\n";
    close $fh;
    chmod 0755, $f;
    return $f;
}

sub ask {
    my ($bin, $load) = @_;
    local $ENV{TEST_NGINX_BINARY} = $bin;
    local $ENV{TEST_NGINX_LOAD_MODULES} = $load;
    my @m = eval { ItsmExample::modules() };
    return $@ ? "died: $@" : join(' ', 'modules:', @m);
}

my $ours = fake_nginx("--with-debug --add-module=$Repo --with-threads");
my $other = fake_nginx("--with-debug --add-module=$Tmp/other");
my $none = fake_nginx("--with-compat --with-debug");
my $gone = fake_nginx("--add-module=$Tmp/no-such-dir");

{
    local $ENV{TEST_NGINX_BINARY} = $ours;
    is(ItsmExample::static_binary(), 1, "--add-module=<this repo>: static");
}
{
    local $ENV{TEST_NGINX_BINARY} = $other;
    is(ItsmExample::static_binary(), 0, "--add-module of another addon: not static");
}
{
    local $ENV{TEST_NGINX_BINARY} = $none;
    is(ItsmExample::static_binary(), 0, "no --add-module: not static");
}
{
    local $ENV{TEST_NGINX_BINARY} = $gone;
    is(ItsmExample::static_binary(), 0, "--add-module of a directory that is gone: not static");
}

is(ask($ours, ''), 'modules:', 'static, no module named: no load_module line');
is(ask($ours, '/x/ngx_http_itsm_module.so'), 'modules: /x/ngx_http_itsm_module.so',
   'a module named is loaded even into a static binary');
is(ask($none, '/x/a.so  /x/b.so'), 'modules: /x/a.so /x/b.so', 'two modules named');
is(ask($none, ''),
   "died: ItsmExample: TEST_NGINX_LOAD_MODULES names no module (util/test.sh sets it), "
   . "and $none was not built with --add-module of this module (util/static.sh)\n",
   'not static, no module named: dies saying what to set');
is(ask($other, ' '),
   "died: ItsmExample: TEST_NGINX_LOAD_MODULES names no module (util/test.sh sets it), "
   . "and $other was not built with --add-module of this module (util/static.sh)\n",
   'another addon linked in, blanks named: dies');

# the example's text: the load_module line goes, nothing takes its place
{
    local $ENV{TEST_NGINX_BINARY} = $ours;
    local $ENV{TEST_NGINX_LOAD_MODULES} = '';
    my $ex = ItsmExample->new('request-tracker', itsm => '127.0.0.1:9');
    unlike($ex->text, qr/load_module/, 'static: the example has no load_module line');
    like($ex->text, qr/^http \{/m, 'static: the rest of the example is there');
}
{
    local $ENV{TEST_NGINX_BINARY} = $none;
    local $ENV{TEST_NGINX_LOAD_MODULES} = '/x/ngx_http_itsm_module.so';
    my $ex = ItsmExample->new('request-tracker', itsm => '127.0.0.1:9');
    like($ex->text, qr{^load_module /x/ngx_http_itsm_module\.so;$}m,
         'dynamic: the example loads the module named');
}

done_testing();
