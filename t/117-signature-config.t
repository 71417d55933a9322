# Every misuse of itsm_signature, itsm_signature_tolerance, itsm_signature_replay and
# itsm_signature_replay_zone fails at load ("nginx -t") with the file and line and a
# hint; no secret is ever printed.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid configuration of every scheme loads
--- http_config
    itsm_signature_replay_zone seen:64k;
--- user_files
>>> secrets.txt
# one secret a line
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u
--- config
    location = /a { itsm_signature standard_webhooks secret=file:$TEST_NGINX_HTML_DIR/secrets.txt; itsm_signature_replay zone=seen; }
    location = /b { itsm_signature github secret=x; itsm_signature_replay zone=seen ttl=1h; }
    location = /c { itsm_signature jira secret=x; }
    location = /d { itsm_signature slack secret=x; itsm_signature_tolerance 2m; }
    location = /e { itsm_signature stripe secret=whsec_x; }
    location = /f { itsm_signature grafana header=X-S timestamp_header=X-T secret=x; }
    location = /g { itsm_signature generic header=X-S algorithm=sha1 encoding=base64 prefix=p= "content={body}" secret=x; }
    location = /h { itsm_signature generic header=X-S "content={timestamp}:{id}:{body}" timestamp_header=X-T id_header=X-I secret=$http_x_nope; }
    location = /i { itsm_signature off; itsm_signature_replay off; }
--- request
GET /i
--- error_code: 404
--- no_error_log
[emerg]



=== TEST 2: an unknown scheme
--- config
    location = /t { itsm_signature hubspot secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown signature scheme "hubspot"; one of: standard_webhooks, github, jira, slack, stripe, grafana, generic in \S+nginx\.conf:\d+/



=== TEST 3: no secret
--- config
    location = /t { itsm_signature github; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_signature github" has no secret; add secret=<value>, secret=file:<path> or secret=\$variable \(several for rotation\) in \S+nginx\.conf:\d+/



=== TEST 4: an empty secret
--- config
    location = /t { itsm_signature github secret=; }
--- must_die
--- error_log eval: qr/\[emerg\] .*secret #1 is empty in \S+nginx\.conf:\d+/



=== TEST 5: a standard_webhooks secret that is not base64, named by position only
--- config
    location = /t { itsm_signature standard_webhooks secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw secret=whsec_not*base64; }
--- must_die
--- error_log eval
qr/\[emerg\] .*secret #2 is not a whsec_ secret \("whsec_" and base64\); the standard_webhooks scheme needs one in \S+nginx\.conf:\d+/
--- no_error_log
not*base64



=== TEST 6: a bad line in a secret file names the line, not the secret
--- user_files
>>> secrets.txt
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
this-is-not-base64!
--- config
    location = /t { itsm_signature standard_webhooks secret=file:$TEST_NGINX_HTML_DIR/secrets.txt; }
--- must_die
--- error_log eval: qr/\[emerg\] .*the secret on line 2 of "\S+secrets\.txt" is not a whsec_ secret/
--- no_error_log
this-is-not-base64



=== TEST 7: a secret file that does not exist
--- config
    location = /t { itsm_signature github secret=file:$TEST_NGINX_HTML_DIR/none.secret; }
--- must_die
--- error_log eval: qr/\[emerg\] .*open\(\) "\S+none\.secret" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 8: a secret file with no secret
--- user_files
>>> empty.secret
# to be filled in
--- config
    location = /t { itsm_signature github secret=file:$TEST_NGINX_HTML_DIR/empty.secret; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"\S+empty\.secret" holds no secret \(one a line; lines starting with # are comments\)/



=== TEST 9: more than 16 secrets
--- config
    location = /t { itsm_signature github secret=1 secret=2 secret=3 secret=4 secret=5 secret=6 secret=7 secret=8 secret=9 secret=10 secret=11 secret=12 secret=13 secret=14 secret=15 secret=16 secret=17; }
--- must_die
--- error_log eval: qr/\[emerg\] .*more than 16 secrets; keep only those in use in \S+nginx\.conf:\d+/



=== TEST 10: a parameter the scheme does not take
--- config
    location = /t { itsm_signature github header=X-Sig secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid parameter "header=X-Sig"; the github scheme takes only secret= in \S+nginx\.conf:\d+/



=== TEST 11: grafana's parameters
--- config
    location = /t { itsm_signature grafana algorithm=sha512 secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "algorithm=sha512"; the grafana scheme takes header=, timestamp_header= and secret=/



=== TEST 12: generic without header=
--- config
    location = /t { itsm_signature generic secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_signature generic" needs header=<name> of the header that carries the signature in \S+nginx\.conf:\d+/



=== TEST 13: an unknown algorithm
--- config
    location = /t { itsm_signature generic header=X-S algorithm=md5 secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*unknown signature algorithm "md5"; one of: sha1, sha256, sha512/



=== TEST 14: an unknown encoding
--- config
    location = /t { itsm_signature generic header=X-S encoding=base32 secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*unknown signature encoding "base32"; hex or base64/



=== TEST 15: content without {body}, or with it twice
--- config
    location = /t { itsm_signature generic header=X-S "content={body}{body}" secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*content="\{body\}\{body\}" must contain \{body\} exactly once/



=== TEST 16: an unknown placeholder
--- config
    location = /t { itsm_signature generic header=X-S "content={date}.{body}" secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown placeholder "\{date\}" in content="\{date\}\.\{body\}"; use \{body\}, \{timestamp\} and \{id\}/



=== TEST 17: {timestamp} without timestamp_header=
--- config
    location = /t { itsm_signature generic header=X-S "content={timestamp}.{body}" secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*content="\{timestamp\}\.\{body\}" signs \{timestamp\}: add timestamp_header=<name>/



=== TEST 18: {id} without id_header=
--- config
    location = /t { itsm_signature generic header=X-S "content={id}.{body}" secret=x; }
--- must_die
--- error_log eval: qr/\[emerg\] .*content="\{id\}\.\{body\}" signs \{id\}: add id_header=<name>/



=== TEST 19: a timestamp header that is not signed protects nothing
--- config
    location = /t { itsm_signature generic header=X-S timestamp_header=X-T secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*timestamp_header=X-T is not signed: add \{timestamp\} to content=, or the timestamp protects nothing/



=== TEST 20: a parameter without "="
--- config
    location = /t { itsm_signature generic header=X-S sha256 secret=x; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "sha256"; the generic scheme takes header=, algorithm=, encoding=, prefix=, content=, timestamp_header=, id_header= and secret=/



=== TEST 21: itsm_signature twice in one block
--- config
    location = /t { itsm_signature github secret=a; itsm_signature slack secret=b; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_signature" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 22: "off" with parameters
--- config
    location = /t { itsm_signature off secret=a; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_signature off" takes no parameters/



=== TEST 23: a tolerance of zero
--- config
    location = /t { itsm_signature_tolerance 0s; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_signature_tolerance" directive must be at least 1s in \S+nginx\.conf:\d+/



=== TEST 24: a tolerance that is not a time
--- config
    location = /t { itsm_signature_tolerance soon; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_signature_tolerance" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 25: itsm_signature_replay with a zone that is never declared
--- config
    location = /t { itsm_signature github secret=x; itsm_signature_replay zone=nowhere; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_signature_replay: unknown zone "nowhere" in \S+nginx\.conf:\d+; declare it at http level with "itsm_signature_replay_zone nowhere:1m;"/



=== TEST 26: itsm_signature_replay without zone=
--- config
    location = /t { itsm_signature github secret=x; itsm_signature_replay ttl=5m; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"itsm_signature_replay" must have the zone=<name> of an itsm_signature_replay_zone in \S+nginx\.conf:\d+/



=== TEST 27: itsm_signature_replay with a bad ttl, or an unknown parameter
--- http_config
    itsm_signature_replay_zone seen:64k;
--- config
    location = /t { itsm_signature github secret=x; itsm_signature_replay zone=seen ttl=never; }
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid ttl "never"; e\.g\. ttl=10m in \S+nginx\.conf:\d+/



=== TEST 28: an unknown itsm_signature_replay parameter
--- http_config
    itsm_signature_replay_zone seen:64k;
--- config
    location = /t { itsm_signature github secret=x; itsm_signature_replay zone=seen size=1m; }
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid parameter "size=1m"; write "itsm_signature_replay zone=<name> \[ttl=<time>\]"/



=== TEST 29: itsm_signature_replay in a location without a signature
--- http_config
    itsm_signature_replay_zone seen:64k;
--- config
    location = /t { itsm_signature_replay zone=seen; }
--- must_die
--- error_log eval
qr/\[emerg\] .*itsm_signature_replay in \S+nginx\.conf:\d+ acts on signed deliveries only; add itsm_signature to the location/



=== TEST 30: itsm_signature_replay_zone without a size
--- http_config
    itsm_signature_replay_zone seen;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid zone "seen"; write name:size, e\.g\. itsm_signature_replay_zone webhooks:1m in \S+nginx\.conf:\d+/



=== TEST 31: itsm_signature_replay_zone with a bad size
--- http_config
    itsm_signature_replay_zone seen:lots;
--- config
--- must_die
--- error_log eval: qr/\[emerg\] .*invalid zone size "seen:lots"; e\.g\. 1m in \S+nginx\.conf:\d+/



=== TEST 32: itsm_signature_replay_zone too small
--- http_config
    itsm_signature_replay_zone seen:4k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*zone "seen:4k" is too small; at least 32768 bytes \(1m holds about 8000 ids\) in \S+nginx\.conf:\d+/



=== TEST 33: the same zone declared twice
--- http_config
    itsm_signature_replay_zone seen:64k;
    itsm_signature_replay_zone seen:64k;
--- config
--- must_die
--- error_log eval: qr/\[emerg\] .*itsm_signature_replay_zone "seen" is already declared in \S+nginx\.conf:\d+/



=== TEST 34: itsm_signature_replay_zone outside the http block
--- config
    location = /t { itsm_signature_replay_zone seen:64k; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_signature_replay_zone" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 35: itsm_access_max_body and itsm_access_retry_after take a size and a time
--- config
    location = /t { itsm_access_max_body 4q; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_access_max_body" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 36: ... and a time for itsm_access_retry_after
--- config
    location = /t { itsm_access_retry_after soon; }
--- must_die
--- error_log eval: qr/\[emerg\] .*"itsm_access_retry_after" directive invalid value in \S+nginx\.conf:\d+/
