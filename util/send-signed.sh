#!/usr/bin/env bash
# Signs a JSON file the Standard Webhooks way and POSTs it: the companion
# of the quickstart's /alerts/signed (docs/access.md).
#
#   util/send-signed.sh [-u URL] [-s SECRET_FILE] [-i ID] [-t TIMESTAMP] [-n] FILE
#
#   -u  where to send it     (default http://127.0.0.1:8080/alerts/signed)
#   -s  the secret: a file whose first line is whsec_<base64>
#                            (default var/signed.secret, written by make run)
#   -i  the webhook-id       (default msg_ and 16 random hex digits)
#   -t  the webhook-timestamp (default now); with -i, repeats a delivery
#   -n  print the request instead of sending it
#
# The signature is HMAC-SHA256, with the base64-decoded key after "whsec_",
# over "<id>.<timestamp>.<body>", base64: the header is "v1,<signature>".
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
url=http://127.0.0.1:8080/alerts/signed
secret_file=$repo/var/signed.secret
id=
ts=
dry=

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while getopts "u:s:i:t:nh" opt; do
    case $opt in
        u) url=$OPTARG ;;
        s) secret_file=$OPTARG ;;
        i) id=$OPTARG ;;
        t) ts=$OPTARG ;;
        n) dry=1 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage

body=$1
[ -r "$body" ] || { echo "send-signed: cannot read $body" >&2; exit 1; }
[ -r "$secret_file" ] || { echo "send-signed: no secret in $secret_file (run make run first, or use -s)" >&2; exit 1; }

secret=$(grep -v -e '^#' -e '^[[:space:]]*$' "$secret_file" | head -n 1 | tr -d '[:space:]')
key=${secret#whsec_}
hexkey=$(printf '%s' "$key" | base64 -d | od -An -v -tx1 | tr -d ' \n')
[ -n "$hexkey" ] || { echo "send-signed: the secret is not whsec_<base64>" >&2; exit 1; }

id=${id:-msg_$(openssl rand -hex 8)}
ts=${ts:-$(date +%s)}

sig=$({ printf '%s.%s.' "$id" "$ts"; cat "$body"; } \
      | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64)

headers=(-H 'Content-Type: application/json'
         -H "webhook-id: $id"
         -H "webhook-timestamp: $ts"
         -H "webhook-signature: v1,$sig")

if [ -n "$dry" ]; then
    printf 'curl -s -X POST %q' "$url"
    printf ' %q' "${headers[@]}"
    printf ' --data-binary @%q\n' "$body"
    exit 0
fi

echo "send-signed: webhook-id $id, webhook-timestamp $ts" >&2
curl -sS -X POST "$url" "${headers[@]}" --data-binary "@$body" \
     -w '\nHTTP %{http_code}\n'
