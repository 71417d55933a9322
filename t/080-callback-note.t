# Notes carried back to the source: a note added in the ITSM (an RT
# comment, a Jira comment, a PagerDuty annotation, an Opsgenie AddNote, a
# ServiceNow work note, a generic note=) is a note-only event: it changes
# no state, is answered 200 "noted" (counted), and runs the way back's
# "on_ticket note" action once per event (a retried delivery posts no
# second comment).  The source is a mock that logs what it got (GET
# /srclog), as in t/078.  Notes are cut at 4096 bytes on a UTF-8 boundary.
use FindBin;
use lib "$FindBin::Bin/lib";
use ItsmCallback;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(sha256_hex);
use Digest::MD5 qw(md5_hex);

our $Tok = 'itsmcb_test-token-of-the-note-test-00000000000000';
$ENV{TEST_NGINX_CB_TOK} = sha256_hex($Tok);

# the event's UUID the way back sees: MD5(connector \0 ticket \0 event id)
sub uuid { my $h = md5_hex(join "\0", @_);
    join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4), substr($h, 20) }

our $Locations = <<'_EOC_';
    location /_itsm/mock/ { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/; }
    location = /mock/ticket { return 201 '{"id":"$arg_id"}'; }
    location /mock/ { return 200 '{}'; }
    location /_itsm/src/ { internal; proxy_ignore_client_abort on; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src/; }
    location /src/ { client_body_buffer_size 64k; access_log logs/src.log itsm_src; proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/srcans/; }
    location /srcans/ { return 200 '{}'; }
    location = /srclog { alias logs/src.log; }
    location = /alerts { itsm_source alertmanager; itsm_pass mock; }
    location = /cb { itsm_callback mock profile=rt; }
    location = /cb/generic { itsm_callback mock ticket=/t status=/s event_id=/id note=/text; }
    location = /cb/servicenow { itsm_callback mock profile=servicenow; }
    location = /status { itsm_status; }
_EOC_

our $Http = <<'_EOC_' . ItsmCallback::mock(resolve => 1) . <<'_EOC_';
    log_format itsm_src escape=none '$request_method $request_uri "$http_authorization" $http_content_type $request_body';
_EOC_
    itsm_callback_source case {
        callbacks_of  mock;
        location      /_itsm/src;
        header        Authorization "Bearer src-token";
        on_ticket  note      PUT "/comments/{{ /callback/event_uuid }}" 'body={"properties": {"message": "{{ /callback/note }}"}, "ticket": "{{ /callback/ticket }}", "state": "{{ /callback/state }}"}';
        on_ticket  resolved  PUT "/case/{{ ticket_id }}" 'body={"status": "Closed", "note": "{{ /callback/note }}"}';
    }
_EOC_

our $Alert = qq{POST /alerts\n{"version":"4","status":"firing","receiver":"itsm","groupKey":"g","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am.test:9093","alerts":[{"status":"firing","labels":{"severity":"critical","alertname":"DiskFull","instance":"db-1:9100"},"annotations":{"summary":"disk full"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom.test/g","fingerprint":"f1"}]}};

sub note { my ($text, $txn, $ticket) = @_; $ticket //= 'DiskFull';
    qq{POST /cb\n{"ticket": "$ticket", "note": "$text", "type": "Comment", "transaction": "$txn", "actor": "ann"}} }

sub put { my ($event, $msg, $state, $ticket) = @_; $state //= 'note'; $ticket //= 'DiskFull';
    "PUT /src/comments/" . uuid('mock', $ticket, $event) . qq{ "Bearer src-token" application/json {"properties":{"message":"$msg"},"ticket":"$ticket","state":"$state"}\n} }

our $Noted = qq{{"outcome":"noted","ticket":"DiskFull","key":"f1","state":"note"}\n};

ItsmCallback::bearer_blocks($::Tok, $::Http, $::Locations);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an RT comment: 200 noted, the key's state unchanged, and the source gets exactly one PUT of the note (its JSON escapes, the event's UUID)
--- request eval: [$::Alert, ::note('Restarted \"db-1\"\\nok <&> \\u00e9', 20), "GET /srclog", "POST /cb\n{\"ticket\": \"DiskFull\", \"status\": \"open\", \"old_status\": \"new\", \"transaction\": \"21\"}"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/^\Q$::Noted\E$/, qr/^\Q${\ ::put(20, 'Restarted \"db-1\"\\nok <&> é')}\E$/, qr/^\Q{"outcome":"applied","ticket":"DiskFull","key":"f1","status":"open","state":"open","key_state":"open"}\E\n$/]
--- no_error_log
[error]



=== TEST 2: a retried delivery of the same note: duplicate, no second comment; a new note: a second PUT
--- request eval: [$::Alert, ::note('first', 20), ::note('first', 20), ::note('second', 22), "GET /srclog", "GET /status?format=json"]
--- error_code eval: [201, 200, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/^\Q$::Noted\E$/, qr/^\Q{"outcome":"duplicate","ticket":"DiskFull","key":"f1","state":"note"}\E\n$/, qr/^\Q$::Noted\E$/, qr/^\Q${\ ::put(20, 'first')}${\ ::put(22, 'second')}\E$/, qr/"callbacks":\{[^}]*"noted":2,/]
--- no_error_log
[error]



=== TEST 3: a note for a ticket no key has: 200 unknown_ticket, nothing sent to the source
--- request eval: [$::Alert, ::note('who?', 20, 'Nope'), "GET /srclog"]
--- error_code eval: [201, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/^\Q{"outcome":"unknown_ticket","ticket":"Nope","state":"note"}\E\n$/, qr/^$/]
--- no_error_log
[error]



=== TEST 4: the length limit: 4096 bytes are kept whole; 4095 bytes and a 2-byte character (4097) are cut before the character, not in it
--- request eval: [$::Alert, ::note('a' x 4096, 20), ::note(('b' x 4095) . '\\u00e9', 21), ::note(('c' x 4094) . '\\u00e9', 22), "GET /srclog"]
--- error_code eval: [201, 200, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/noted/, qr/noted/, qr/noted/, qr/^\Q${\ ::put(20, 'a' x 4096)}${\ ::put(21, 'b' x 4095)}${\ ::put(22, ('c' x 4094) . 'é')}\E$/]
--- no_error_log
[error]



=== TEST 5: a generic note= without a status is a note; with a status it is the state's, and the note rides along (/callback/note)
--- request eval: [$::Alert, qq{POST /cb/generic\n{"t": "DiskFull", "id": "e1", "text": "looking"}}, qq{POST /cb/generic\n{"t": "DiskFull", "s": "resolved", "id": "e2", "text": "fixed it"}}, "GET /srclog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/^\Q$::Noted\E$/, qr/^\Q{"outcome":"applied","ticket":"DiskFull","key":"f1","status":"resolved","state":"resolved","key_state":"resolved"}\E\n$/, qr/^\Q${\ ::put('e1', 'looking')}PUT \/src\/case\/DiskFull "Bearer src-token" application\/json {"status":"Closed","note":"fixed it"}\E\n$/]
--- no_error_log
[error]



=== TEST 6: ServiceNow's note rule (work_notes, no state): noted; its sys_mod_count dedups a retry
--- request eval: [$::Alert, qq{POST /cb/servicenow\n{"number": "INC1", "sys_id": "DiskFull", "work_notes": "called the DBA", "sys_mod_count": "5"}}, qq{POST /cb/servicenow\n{"number": "INC1", "sys_id": "DiskFull", "work_notes": "called the DBA", "sys_mod_count": "5"}}, "GET /srclog"]
--- error_code eval: [201, 200, 200, 200]
--- response_body_like eval
[qr/"ticket_id":"DiskFull"/, qr/^\Q$::Noted\E$/, qr/"outcome":"duplicate"/, qr/^\QPUT \/src\/comments\/${\ ::uuid('mock', 'DiskFull', 'order:5')} "Bearer src-token" application\/json {"properties":{"message":"called the DBA"},"ticket":"DiskFull","state":"note"}\E\n$/]
--- no_error_log
[error]
