# $itsm_action in an action's templates (its path and its body) names the
# action being sent: the comment of a repeat says "comment".  Found with
# examples/universal-webhook: ngx_http_itsm_deliver() rendered them before
# it set the delivery's action, so they named the one before ("create").
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the comment's path and body name the comment
--- http_config
    log_format sink escape=none '$request_uri $request_body';
    itsm_store  logs/action.mdb  size=1m;
    itsm_zone   itsm:1m;
    itsm_connector c {
        location   /_itsm/c;
        create     POST "/ev?a={{ $itsm_action }}" 'body={"a": "{{ $itsm_action }}"}';
        comment    POST "/ev?a={{ $itsm_action }}" 'body={"a": "{{ $itsm_action }}"}';
        ticket_id  /id;
        on_repeat  comment cooldown=0;
    }
--- config
    location /_itsm/c/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location = /ev {
        access_log logs/sink.log sink;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /ok { return 200 '{"id":"1"}'; }
    location = /alerts { itsm_pass c; }
    location = /sink { default_type text/plain; alias logs/sink.log; }
--- request eval
["POST /alerts\n{\"key\": \"k\"}", "POST /alerts\n{\"key\": \"k\"}", "GET /sink"]
--- more_headers eval: ["Content-Type: application/json", "Content-Type: application/json", ""]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"outcome":"created"/, qr/"outcome":"commented"/,
 qr/^\/ev\?a=create \{"a":"create"\}\n\/ev\?a=comment \{"a":"comment"\}\n\z/]
