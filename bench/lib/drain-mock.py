#!/usr/bin/env python3
# bench/lib/drain-mock.py PORT DELAY_MS - the ITSM of bench/drain.sh: a
# threaded HTTP server that answers a create (POST /ticket, JSON with
# "key") after DELAY_MS with 201 {"id": "T<n>"}, or with 503 while it is
# "down"; it counts the creates it answered 201 per key.
#   POST /_mock/up, POST /_mock/down   switch
#   GET  /_mock/counts                 {"creates": N, "keys": K, "doubled": [...], "refused": R}
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

port, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
lock = threading.Lock()
state = {"up": False, "n": 0, "refused": 0, "keys": {}}


class Mock(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/_mock/counts":
            return self.answer(404, {})
        with lock:
            keys = state["keys"]
            doubled = [k for k, n in keys.items() if n > 1]
            self.answer(200, {"creates": state["n"], "keys": len(keys),
                              "doubled": doubled[:20], "ndoubled": len(doubled),
                              "refused": state["refused"]})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in ("/_mock/up", "/_mock/down"):
            with lock:
                state["up"] = self.path == "/_mock/up"
            return self.answer(200, {"up": state["up"]})
        if not state["up"]:
            with lock:
                state["refused"] += 1
            return self.answer(503, {"message": "maintenance"})
        time.sleep(delay)
        key = json.loads(body).get("key", "")
        with lock:
            state["n"] += 1
            state["keys"][key] = state["keys"].get(key, 0) + 1
            n = state["n"]
        self.answer(201, {"id": "T%d" % n})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
ThreadingHTTPServer(("127.0.0.1", port), Mock).serve_forever()
