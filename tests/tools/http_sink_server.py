#!/usr/bin/env python3
"""A dashboard receiver for tests and the demo: what a push sink talks to.

POST (any path) with a JSON body and the headers tecg's push sink sends:
    X-Tecg-Dashboard: NAME     which dashboard ([A-Za-z0-9_.-], required)
    X-Tecg-Version: N          its version (unsigned integer, required)
    Authorization: Bearer T    when the server runs with --token T
    Tecg-Signature: keyid=ID,sig=B64   when the documents are signed (kept)
Answers, in this order:
    401  with --token and a missing or wrong token
    S    (--fail-status, default 500) for the first --fail-first N POSTs,
         with "Retry-After: R" when --retry-after R is given
    400  missing/invalid headers or a body that is not JSON
    200  {"status": "stale", ...} when N is not newer than the latest version
         held for NAME: the document is dropped and counted, as a receiver is
         expected to do with the version header
    200  {"status": "accepted", "conn": C, "length": L, "sha256": H, ...}
Every connection gets an id (1, 2, ...), reported with each accepted document,
so a test can see whether the sender reused its keep-alive connection.

GET endpoints (no token needed: they are for looking, not for pushing):
    /                  HTML page: latest document per dashboard and version
    /received          JSON array: one object per accepted document
                       {dashboard, version, time, conn, length, signature}
    /stats             JSON counters: posts, accepted, stale, failed_injected,
                       unauthorized, bad_request, connections
    /dashboards/NAME   the latest document for NAME as received (404 if none),
                       with the Tecg-Signature header it came with

With --out DIR each accepted document is written to DIR/NAME.json (atomically)
and a line is appended to DIR/received.ndjson.

--port 0 picks a free port; the port is always the first line on stdout and
nothing else goes to stdout (request logs go to stderr with --verbose).
--tls-cert/--tls-key serve HTTPS instead of HTTP.

Example (demo):  python3 tests/tools/http_sink_server.py --port 8088 --out /tmp/sink
then open http://127.0.0.1:8088/ and point a sink at http://127.0.0.1:8088/.
"""
import argparse
import hashlib
import html
import http.server
import itertools
import json
import os
import re
import signal
import ssl
import sys
import threading
import time

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.latest = {}        # dashboard -> dict(version, body, time, conn)
        self.received = []      # accepted documents, in arrival order
        self.fail_left = args.fail_first
        self.conn_ids = itertools.count(1)
        self.stats = dict(posts=0, accepted=0, stale=0, failed_injected=0,
                          unauthorized=0, bad_request=0, connections=0)

    def record(self, dashboard, version, body, conn, signature=None):
        """Keeps the document if it is newer; returns the entry or None."""
        with self.lock:
            cur = self.latest.get(dashboard)
            if cur is not None and version <= cur["version"]:
                self.stats["stale"] += 1
                return None, cur["version"]
            now = time.time()
            entry = dict(dashboard=dashboard, version=version, time=now,
                         conn=conn, length=len(body), signature=signature)
            self.latest[dashboard] = dict(entry, body=body)
            self.received.append(entry)
            self.stats["accepted"] += 1
            out = self.args.out
            if out:
                path = os.path.join(out, dashboard + ".json")
                tmp = path + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(body)
                os.replace(tmp, path)
                with open(os.path.join(out, "received.ndjson"), "a") as f:
                    f.write(json.dumps(entry) + "\n")
            return entry, version


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    server_version = "tecg-test-sink/1"
    state = None                    # set in main()

    def setup(self):
        super().setup()
        with self.state.lock:
            self.conn_id = next(self.state.conn_ids)
            self.state.stats["connections"] += 1

    def log_message(self, fmt, *args):
        if self.state.args.verbose:
            sys.stderr.write("sink-server: conn %d: %s\n"
                             % (self.conn_id, fmt % args))

    def reply(self, status, body, ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        st = self.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        with st.lock:
            st.stats["posts"] += 1
        token = st.args.token
        if token is not None and \
                self.headers.get("Authorization") != "Bearer " + token:
            with st.lock:
                st.stats["unauthorized"] += 1
            return self.reply(401, {"error": "missing or wrong bearer token"},
                              headers=[("WWW-Authenticate", "Bearer")])
        with st.lock:
            fail = st.fail_left > 0
            if fail:
                st.fail_left -= 1
                st.stats["failed_injected"] += 1
        if fail:
            extra = []
            if st.args.retry_after is not None:
                extra.append(("Retry-After", str(st.args.retry_after)))
            return self.reply(st.args.fail_status,
                              {"error": "injected failure (--fail-first)"},
                              headers=extra)
        dashboard = self.headers.get("X-Tecg-Dashboard", "")
        version = self.headers.get("X-Tecg-Version", "")
        err = None
        if not NAME_RE.match(dashboard):
            err = "missing or invalid X-Tecg-Dashboard"
        elif not version.isdigit():
            err = "missing or invalid X-Tecg-Version"
        else:
            try:
                json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                err = "body is not JSON: %s" % e
        if err:
            with st.lock:
                st.stats["bad_request"] += 1
            return self.reply(400, {"error": err})
        entry, latest = st.record(dashboard, int(version), body, self.conn_id,
                                  self.headers.get("Tecg-Signature"))
        if entry is None:
            return self.reply(200, {"status": "stale", "dashboard": dashboard,
                                    "version": int(version),
                                    "latest": latest})
        return self.reply(200, {"status": "accepted", "dashboard": dashboard,
                                "version": int(version), "conn": self.conn_id,
                                "length": len(body),
                                "content_type":
                                    self.headers.get("Content-Type", ""),
                                "sha256": hashlib.sha256(body).hexdigest()})

    def do_GET(self):
        st = self.state
        path = self.path.split("?", 1)[0]
        if path == "/received":
            with st.lock:
                return self.reply(200, list(st.received))
        if path == "/stats":
            with st.lock:
                return self.reply(200, dict(st.stats))
        if path.startswith("/dashboards/"):
            with st.lock:
                cur = st.latest.get(path[len("/dashboards/"):])
            if cur is None:
                return self.reply(404, {"error": "no such dashboard"})
            headers = [("X-Tecg-Version", str(cur["version"]))]
            if cur.get("signature"):
                headers.append(("Tecg-Signature", cur["signature"]))
            return self.reply(200, cur["body"], headers=headers)
        if path == "/":
            return self.reply(200, self.page(), "text/html; charset=utf-8")
        return self.reply(404, {"error": "not found"})

    def page(self):
        st = self.state
        with st.lock:
            latest = sorted(st.latest.items())
            stats = dict(st.stats)
        rows = []
        for name, cur in latest:
            try:
                pretty = json.dumps(json.loads(cur["body"]), indent=2,
                                    ensure_ascii=False)
            except ValueError:
                pretty = cur["body"].decode("utf-8", "replace")
            rows.append(
                "<h2>%s &mdash; version %d</h2><p>received %s on connection %d,"
                " %d bytes</p><pre>%s</pre>"
                % (html.escape(name), cur["version"],
                   time.strftime("%Y-%m-%d %H:%M:%S",
                                 time.localtime(cur["time"])),
                   cur["conn"], cur["length"], html.escape(pretty)))
        return ("<!doctype html><html><head><meta charset='utf-8'>"
                "<meta http-equiv='refresh' content='5'>"
                "<title>tecg test sink</title></head><body>"
                "<h1>tecg test sink</h1><p>%s</p>%s</body></html>"
                % (html.escape(", ".join("%s %d" % kv
                                         for kv in sorted(stats.items()))),
                   "".join(rows) or "<p>nothing received yet</p>"))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's thread, so a
        # client that never completes it cannot block the accept loop.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if self.tls is None or not isinstance(sys.exc_info()[1], ssl.SSLError):
            if self.RequestHandlerClass.state.args.verbose:
                super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8088,
                    help="0 = any free port; printed on stdout's first line")
    ap.add_argument("--fail-first", type=int, default=0, metavar="N",
                    help="answer --fail-status to the first N POSTs")
    ap.add_argument("--fail-status", type=int, default=500, metavar="S")
    ap.add_argument("--retry-after", type=int, default=None, metavar="SEC",
                    help="send Retry-After with the injected failures")
    ap.add_argument("--token", default=None,
                    help="require 'Authorization: Bearer TOKEN' on POST")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="write DIR/<dashboard>.json and DIR/received.ndjson")
    ap.add_argument("--tls-cert", default=None)
    ap.add_argument("--tls-key", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    if args.out:
        os.makedirs(args.out, exist_ok=True)
    Handler.state = State(args)
    srv = Server((args.host, args.port), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.tls = ctx
    sys.stdout.write("%d\n" % srv.server_address[1])
    sys.stdout.flush()
    # SIGTERM (how tests stop it) exits cleanly like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
