# Each connector's requests, counted in shared memory by every worker
# (ngx_http_itsm_registry_counts.c): on the status page (JSON, Prometheus
# labelled by connector) and in the registry ("sent"), with no delivery
# log.  A reload keeps the counts, and a connector keeps its own by name:
# the reload below swaps the connectors' order in nginx.conf.  A master
# process is needed for the reload.
use Test::Nginx::Socket;

# a reload needs one nginx across blocks, which Test::Nginx's valgrind mode
# does not keep (it restarts nginx after every block)
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs one nginx across blocks');
} else {
    plan('no_plan');
}

use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmNginx;
use ItsmConf;

master_on();
workers(2);

our $First = ItsmConf::connector('first');
our $Second = ItsmConf::connector('second');

our $Config = <<'_EOC_';
    location /_itsm/first/ { internal; return 201 '{"id":"7"}'; }
    location /_itsm/second/ { internal; return 503 '{"error":"down"}'; }
    location = /alerts/first { itsm_pass first; }
    location = /alerts/second { itsm_pass second; }
    location = /status { itsm_status; }
    location = /metrics { itsm_status prometheus; }
    location = /connectors { itsm_connectors; }
_EOC_

# the two connectors in the other order, in the running nginx.conf
sub swap {
    my $file = "$ENV{TEST_NGINX_SERVROOT}/conf/nginx.conf";
    $file = Test::Nginx::Util::server_root() . "/conf/nginx.conf" unless -f $file;
    open my $in, '<', $file or die "$file: $!";
    my $conf = do { local $/; <$in> };
    close $in;
    $conf =~ s/\Q$First$Second\E/$Second$First/ or die "the connectors are not in $file";
    open my $out, '>', $file or die "$file: $!";
    print {$out} $conf;
    close $out;
}

# the four series, in whatever order the configuration gives the connectors
our $Prom = qr/\A(?=(?s:.*)^itsm_connector_requests_total\{connector="first",action="create"\}\ 3$)
                (?=(?s:.*)^itsm_connector_requests_total\{connector="second",action="create"\}\ 2$)
                (?=(?s:.*)^itsm_connector_failures_total\{connector="first",action="create"\}\ 0$)
                (?=(?s:.*)^itsm_connector_failures_total\{connector="second",action="create"\}\ 2$)/xm;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: three creates that succeed, two that fail (503), on two connectors
--- http_config eval: "    itsm_zone itsm:1m;\n$::First$::Second"
--- config eval: $::Config
--- request eval
["POST /alerts/first\n{\"key\":\"a\"}", "POST /alerts/first\n{\"key\":\"b\"}",
                   "POST /alerts/first\n{\"key\":\"c\"}", "POST /alerts/second\n{\"key\":\"a\"}",
                   "POST /alerts/second\n{\"key\":\"b\"}", "GET /metrics"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 201, 503, 503, 200]
--- response_body_like eval
[qr/created/, qr/created/, qr/created/, qr/itsm_unavailable/, qr/itsm_unavailable/, $::Prom]



=== TEST 2: after a reload that swaps the connectors' order, each keeps its own counts
--- init
::swap();
ItsmNginx::reload();
--- request
GET /metrics
--- error_code: 200
--- response_body_like eval: $::Prom



=== TEST 3: the JSON status and the registry say the same; one more create counts on
--- request eval: ["POST /alerts/first\n{\"key\":\"d\"}", "GET /status", "GET /connectors"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/created/,
 qr/"connector_requests":\{"second":\{"create":2\},"first":\{"create":4\}\},"connector_failures":\{"second":\{"create":2\},"first":\{"create":0\}\}/,
 qr/"name":"second",.*"sent":\{"create":\{"ok":0,"failed":2\}\}.*"name":"first",.*"sent":\{"create":\{"ok":4,"failed":0\}\}/s]



=== TEST 4: a connector's name of 64 bytes has a slot of its own; one of 65 is counted in the totals only
--- http_config eval: "    itsm_zone itsm:1m;\n" . ItsmConf::connector('n' x 64) . ItsmConf::connector('m' x 65)
--- config eval
join('', map { "    location /_itsm/$_/ { internal; return 201 '{\"id\":\"7\"}'; }\n" } 'n' x 64, 'm' x 65) . '
    location = /status { itsm_status; }
    location = /a64 { itsm_pass ' . ('n' x 64) . '; }
    location = /a65 { itsm_pass ' . ('m' x 65) . '; }'
--- request eval
["POST /a64\n{\"key\":\"a\"}", "POST /a65\n{\"key\":\"a\"}", "GET /status"]
--- more_headers
Content-Type: application/json
--- error_code eval: [201, 201, 200]
--- response_body_like eval
[qr/created/, qr/created/,
 qr/"actions":\{"create":\{"ok":2,"failed":0\},.*"connector_requests":\{"n{64}":\{"create":1\}\},"connector_failures":\{"n{64}":\{"create":0\}\}/]



=== TEST 5: nginx -t of that configuration warns of the 65-byte name, with its file and line, and not of the 64
--- init
my $root = Test::Nginx::Util::server_root();
my $out = qx{$ENV{TEST_NGINX_BINARY} -t -p $root/ -c $root/conf/nginx.conf 2>&1};
Test::More::like($out, qr/\[warn\] .*itsm_connector "m{65}" \(\S+nginx\.conf:\d+\): its requests are counted in the totals only \(more than 64 connectors, or a name longer than 64 bytes\)/, 'the 65 bytes');
Test::More::unlike($out, qr/itsm_connector "n{64}"/, 'not the 64');
--- request
GET /status
--- error_code: 200
