#!/usr/bin/env python3
"""A minimal Confluent-compatible schema registry for the tests that need
one that misbehaves on purpose (the others run against Apicurio Registry,
deploy/registry/): the two calls tecg makes, with the same JSON shapes.

  POST /subjects/SUBJECT/versions   {"schema": "..."}  ->  {"id": N}
       (the same schema text under any subject keeps its id)
  GET  /schemas/ids/N                                  ->  {"schema": "..."}
                                                           404 {"error_code": 40403}
  GET  /subjects                                       ->  ["SUBJECT", ...]
  GET  /stats                                          ->  {"failed_lookups": N}

--fail-lookups N answers the first N GET /schemas/ids/N with 503 (a registry
restarting: a consumer must wait, not give the event up).

--port 0 picks a free port, printed alone on the first stdout line."""
import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SCHEMAS = {}   # id -> schema text
IDS = {}       # normalised schema text -> id
SUBJECTS = {}  # subject -> ids registered under it
FAIL = {"left": 0, "failed": 0}  # --fail-lookups: 503s still to give, given


def normalise(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        m = re.fullmatch(r"/subjects/([^/]+)/versions", self.path)
        length = int(self.headers.get("Content-Length", 0))
        try:
            schema = json.loads(self.rfile.read(length))["schema"]
            key = normalise(schema)
        except (ValueError, KeyError, TypeError):
            return self.reply(422, {"error_code": 42201, "message": "Invalid schema"})
        if not m:
            return self.reply(404, {"error_code": 404, "message": "not found"})
        with LOCK:
            if key not in IDS:
                IDS[key] = len(IDS) + 1
                SCHEMAS[IDS[key]] = schema
            SUBJECTS.setdefault(m.group(1), set()).add(IDS[key])
            self.reply(200, {"id": IDS[key]})

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                return self.reply(200, {"failed_lookups": FAIL["failed"]})
        if self.path.startswith("/schemas/ids/"):
            with LOCK:
                fail = FAIL["left"] > 0
                if fail:
                    FAIL["left"] -= 1
                    FAIL["failed"] += 1
            if fail:
                return self.reply(503, {"error_code": 50003, "message": "restarting"})
        if self.path == "/subjects":
            with LOCK:
                names = sorted(SUBJECTS)
            return self.reply(200, names)
        m = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        with LOCK:
            schema = SCHEMAS.get(int(m.group(1))) if m else None
        if schema is None:
            return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
        self.reply(200, {"schema": schema})

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-lookups", type=int, default=0)
    args = ap.parse_args()
    FAIL["left"] = args.fail_lookups
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
