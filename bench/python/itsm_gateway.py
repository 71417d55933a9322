"""The Python peer of bench/compare.sh: ngx_itsm_module's generic alert
endpoint as a small Flask service, run under gunicorn (Debian's
python3-flask, gunicorn and python3-requests) as its users run it: one
worker process, gthread, a few threads (bench/lib/servers.sh).

POST a generic JSON alert ({"key", "title", "severity", "description",
"status"}) to /alerts: a firing alert whose key has no ticket creates one
with a POST to the ITSM (a requests.Session per thread: keep-alive), reads
its id and remembers key -> ticket in a dict; a later alert for the key is
answered "duplicate" without a request to the ITSM.  Concurrent first
alerts for one key make one ticket: the first claims the key under a lock
(an Event in `claims`), the others wait on that Event for the ticket.
/alerts/signed verifies the body first (Standard Webhooks, HMAC-SHA256).
The answers have the module's JSON shapes and codes.

Not done, as most users would not do it either: no durable state (the dict
is lost on restart), no retry queue, no sharing between worker processes
(one worker), no lifecycle beyond create/duplicate/ignored/left_open.

Environment: ITSM_URL (the create URL), ITSM_CONNECTOR, WEBHOOK_SECRET
(whsec_<base64>), WEBHOOK_TOLERANCE (seconds), CLAIM_LEASE (seconds).
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time

import requests
from flask import Flask, Response, request

ITSM_URL = os.environ.get("ITSM_URL", "http://127.0.0.1:51000/REST/2.0/ticket")
CONNECTOR = os.environ.get("ITSM_CONNECTOR", "rt")
SECRET = os.environ.get("WEBHOOK_SECRET", "")
SECRET_KEY = base64.b64decode(SECRET[len("whsec_"):]) if SECRET.startswith("whsec_") else None
TOLERANCE = int(os.environ.get("WEBHOOK_TOLERANCE", "300"))
LEASE = float(os.environ.get("CLAIM_LEASE", "60"))

RESOLVED = {"resolved", "ok", "recovered", "closed"}
JSON_TYPES = ("application/json",)

app = Flask(__name__)

lock = threading.Lock()
tickets = {}        # key -> ticket id
claims = {}         # key -> Event, set when the first create ends
occurrences = {}    # key -> how often it fired

local = threading.local()


def session():
    """One keep-alive session to the ITSM per thread."""
    s = getattr(local, "session", None)
    if s is None:
        s = local.session = requests.Session()
    return s


def reply(status, doc, headers=None):
    return Response(json.dumps(doc, separators=(",", ":")), status=status,
                    mimetype="application/json", headers=headers)


def fail(status, error, message, headers=None):
    return reply(status, {"error": error, "message": message}, headers)


def result(status, outcome, action, key, ticket=None, reason=None):
    r = {"key": key, "action": action, "outcome": outcome, "connector": CONNECTOR}
    if ticket is not None:
        r["ticket_id"] = ticket
    if reason is not None:
        r["reason"] = reason
    return reply(status, {"status": outcome, "alerts": [r]})


def verify(body):
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of id.timestamp.body>."""
    msg_id = request.headers.get("webhook-id")
    ts = request.headers.get("webhook-timestamp")
    sigs = request.headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "signature_missing", "the request is not signed"
    try:
        t = int(ts)
    except ValueError:
        return "timestamp_out_of_range", "webhook-timestamp is not a number"
    if abs(time.time() - t) > TOLERANCE:
        return "timestamp_out_of_range", "webhook-timestamp is outside the tolerance"
    mac = hmac.new(SECRET_KEY, msg_id.encode() + b"." + ts.encode() + b"." + body,
                   hashlib.sha256).digest()
    want = base64.b64encode(mac).decode()
    for part in sigs.split():
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, want):
            return None, None
    return "signature_mismatch", "no signature matches the body"


def create(alert, key):
    """The first create of a key; the caller holds its claim."""
    doc = {
        "Queue": "General",
        "Subject": "[%s] %s" % (alert.get("severity") or "", alert.get("title") or key),
        "Content": "%s\n\nAlert key: %s" % (alert.get("description") or "", key),
    }
    ticket = None
    try:
        try:
            r = session().post(ITSM_URL, json=doc, timeout=(2, 10))
        except requests.RequestException as e:
            return fail(503, "itsm_unavailable", "the ITSM cannot be reached: %s" % e,
                        {"Retry-After": "30"})
        if r.status_code in (408, 429) or r.status_code >= 500:
            return fail(503, "itsm_unavailable", "the ITSM answered %d" % r.status_code,
                        {"Retry-After": "30"})
        if not 200 <= r.status_code <= 299:
            return fail(502, "itsm_rejected", "the ITSM answered %d" % r.status_code)
        try:
            ticket = r.json().get("id")
        except ValueError:
            ticket = None
        if isinstance(ticket, int):
            ticket = str(ticket)
        if not isinstance(ticket, str) or not ticket:
            ticket = None
            return fail(502, "itsm_bad_response", "no ticket id at /id in the ITSM's answer")
        return result(201, "created", "create", key, ticket)
    finally:
        # the ticket (or, after a failure, nothing) replaces the claim;
        # its waiters wake up
        with lock:
            if ticket is not None:
                tickets[key] = ticket
            claims.pop(key).set()


def handle(signed):
    if request.mimetype not in JSON_TYPES and not (
            request.mimetype.startswith("application/") and request.mimetype.endswith("+json")):
        return fail(415, "unsupported_media_type",
                    'the alert must be sent with "Content-Type: application/json"')
    body = request.get_data()
    if not body:
        return fail(400, "invalid_json", "the body is empty")
    if signed:
        err, message = verify(body)
        if err:
            return fail(401, err, message)
    try:
        alert = json.loads(body)
    except ValueError as e:
        return fail(400, "invalid_json", "the body is not valid JSON: %s" % e)
    if not isinstance(alert, dict):
        return fail(400, "invalid_json", "the body is not a JSON object")
    key = alert.get("key")
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key:
        return fail(400, "invalid_alert", 'missing field "key"')
    resolved = alert.get("status", "firing") in RESOLVED

    with lock:
        occurrences[key] = occurrences.get(key, 0) + 1

    # at most two rounds: a claim released by a failed create is taken
    # over by one of its waiters
    for _ in range(2):
        with lock:
            ticket = tickets.get(key)
            claim = claims.get(key) if ticket is None else None
            mine = False
            if ticket is None and claim is None and not resolved:
                claim = claims[key] = threading.Event()
                mine = True
        if mine:
            return create(alert, key)
        if claim is not None:
            if not claim.wait(LEASE):
                return fail(503, "store_unavailable", "the key stayed claimed past its lease",
                            {"Retry-After": "30"})
            with lock:
                ticket = tickets.get(key)
            if ticket is None:
                continue
        if ticket is None:
            return result(200, "ignored", "none", key, None,
                          "the alert is resolved and no ticket is open for its key")
        if resolved:
            return result(200, "left_open", "none", key, ticket,
                          "on_resolve nothing: the ticket stays open")
        return result(200, "duplicate", "none", key, ticket,
                      "a ticket is already open for this key")
    return fail(503, "itsm_unavailable", "the first create for this key failed",
                {"Retry-After": "30"})


@app.route("/alerts", methods=["POST"])
def alerts():
    return handle(False)


@app.route("/alerts/signed", methods=["POST"])
def alerts_signed():
    if SECRET_KEY is None:
        return fail(500, "internal_error", "WEBHOOK_SECRET is not set")
    return handle(True)


@app.errorhandler(405)
def method_not_allowed(_):
    return fail(405, "method_not_allowed", "alerts are sent with POST", {"Allow": "POST"})
