"""The producer's HTTP input (docs/design.md §2.8) against the real broker:
curl-like clients (http.client) post NDJSON bodies to POST /v1/events and
get every line's outcome once Kafka acknowledged the accepted ones; the
events are signed like a spool file's and count in the aggregator; tokens,
sizes and content types are checked before a line is read; while the
broker is down the answer is 503 with Retry-After and nothing is lost."""
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import time

from conftest import BUILD, Producer, scaled
from tecgpy import events, kafka_util

from test_broker_outage import private_broker  # noqa: F401
from test_signatures import start_aggregator, wait_metrics

NDJSON = "application/x-ndjson"


def tokens_file(directory, entries):
    """A tokens file in the dashboard's format; entries: (name, token, routes)."""
    path = directory / "producer-tokens"
    path.write_text("".join(f"{name}  sha256:{hashlib.sha256(tok.encode()).hexdigest()}  "
                            f"{routes}\n" for name, tok, routes in entries))
    path.chmod(0o600)
    return path


class HttpProducer(Producer):
    """A producer with its HTTP input on an ephemeral port."""

    def __init__(self, tmp_path, bootstrap, prefix, nation, extra=None):
        self.token = os.urandom(32).hex()
        self.other_token = os.urandom(32).hex()
        self.port_file = tmp_path / f"producer-{nation}.port"
        tokens = tokens_file(tmp_path, [(f"{nation.lower()}-system", self.token, "/v1/events"),
                                        ("bi", self.other_token, "/api/export/")])
        settings = {"http.port": 0, "http.port.file": self.port_file,
                    "http.auth.tokens": tokens, "stats.interval.ms": 200,
                    "metrics.file": tmp_path / f"producer-{nation}.prom",
                    **(extra or {})}
        super().__init__(tmp_path, bootstrap, prefix, nation, settings)
        self.metrics_file = settings["metrics.file"]

    def start(self):
        if self.port_file.exists():
            self.port_file.unlink()
        super().start()
        deadline = time.time() + scaled(30)
        while not self.port_file.exists() or not self.port_file.read_text().strip():
            assert time.time() < deadline, "no http.port.file:\n" + self.log_text()
            assert self.proc.poll() is None, "producer exited:\n" + self.log_text()
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())
        return self

    def post(self, body, token="own", ctype=NDJSON, path="/v1/events", method="POST",
             timeout=60):
        token = self.token if token == "own" else token
        headers = {}
        if ctype:
            headers["Content-Type"] = ctype
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=scaled(timeout))
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()


def post_json(p, body, **kw):
    status, headers, data = p.post(body, **kw)
    return status, headers, json.loads(data)


def producer_metrics(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ""
    return text


def test_bodies_accounted_signed_and_counted(tmp_path, bootstrap, prefix, daemon_factory):
    metrics_file = start_aggregator(daemon_factory, tmp_path)
    p = HttpProducer(tmp_path, bootstrap, prefix, "NOR")
    p.start()
    try:
        good = events.generate("NOR", 40, seed=5, id_prefix="h")
        lines = [json.dumps(e) for e in good[:20]]
        # Bad lines among the good, each with the validator's reason.
        lines.insert(3, "not json")
        lines.insert(7, json.dumps({**good[20], "nation": "FRA"}))
        lines.insert(11, "")
        body = ("\n".join(lines) + "\n").encode()
        status, headers, ans = post_json(p, body)
        assert status == 200, ans
        assert ans["lines"] == 23 and ans["accepted"] == 20 and ans["rejected"] == 3
        results = ans["results"]
        assert [r["line"] for r in results] == list(range(1, 24))
        bad = {r["line"]: r for r in results if r["status"] == "rejected"}
        assert sorted(bad) == [4, 8, 12]
        assert "JSON" in bad[4]["reason"] or "json" in bad[4]["reason"], bad[4]
        assert "nation" in bad[8]["reason"] and bad[8]["event_id"] == good[20]["event_id"]
        assert bad[12]["reason"] == "empty line"
        accepted = [r["event_id"] for r in results if r["status"] == "accepted"]
        assert accepted == [e["event_id"] for e in good[:20]]

        # The same lines again: accepted again (Kafka has them twice) and
        # counted once by the aggregator; plus the 20 others.
        status, _, ans2 = post_json(p, body)
        assert status == 200 and ans2["accepted"] == 20
        rest = events.ndjson(good[21:])
        status, _, ans3 = post_json(p, rest, ctype="application/jsonl; charset=utf-8")
        assert status == 200 and ans3["accepted"] == 19 and ans3["rejected"] == 0
        # Signed: the aggregator requires signatures and counts them all.
        wait_metrics(metrics_file, {"counted_total": 39, "duplicates_total": 20,
                                    "dead_lettered_total": 0})

        # Counted like the spool's lines, and as the HTTP input's.
        def counters():
            text = producer_metrics(p.metrics_file)
            return (re.search(r'^tecg_producer_http_lines_total\{nation="NOR",'
                              r'outcome="accepted"\} (\S+)$', text, re.M),
                    re.search(r'^tecg_producer_rejected_total\{nation="NOR"\} (\S+)$',
                              text, re.M),
                    re.search(r'^tecg_producer_http_requests_total\{nation="NOR",'
                              r'code="200"\} (\S+)$', text, re.M))
        deadline = time.time() + scaled(20)
        while time.time() < deadline:
            acc, rej, req = counters()
            if acc and float(acc.group(1)) == 59:
                break
            time.sleep(0.2)
        acc, rej, req = counters()
        assert acc and float(acc.group(1)) == 59, producer_metrics(p.metrics_file)
        assert float(rej.group(1)) == 6 and float(req.group(1)) == 3
        # The reasons went to the client, not to rejected/.
        rejected = p.spool / "rejected"
        assert not rejected.exists() or not list(rejected.iterdir())
    finally:
        assert p.stop() == 0


def test_refusals_before_any_line_is_read(tmp_path, bootstrap, prefix):
    p = HttpProducer(tmp_path, bootstrap, prefix, "NOR",
                     extra={"http.max.body.bytes": 4096})
    p.start()
    try:
        one = events.ndjson(events.generate("NOR", 1, seed=9, id_prefix="r"))
        cases = [
            ({"token": None}, 401, "unauthorized"),
            ({"token": "0" * 64}, 401, "unauthorized"),
            ({"token": p.other_token}, 403, "forbidden"),
            ({"ctype": "application/json"}, 415, "unsupported_media_type"),
            ({"ctype": None}, 415, "unsupported_media_type"),
            ({"path": "/v1/other"}, 404, "not_found"),
            ({"method": "PUT"}, 405, "method_not_allowed"),
        ]
        for kw, want, code in cases:
            status, headers, ans = post_json(p, one, **kw)
            assert (status, ans["error"]) == (want, code), (kw, status, ans)
            if want == 401:
                assert headers["WWW-Authenticate"].startswith("Bearer")
        status, _, ans = post_json(p, b"x" * 5000)
        assert status == 413 and ans["error"] == "too_large"
        # Not a line read: no batch was made.
        assert "ingest: http:" not in p.log_text(), p.log_text()
    finally:
        assert p.stop() == 0


def test_broker_outage_503_then_nothing_lost(tmp_path, private_broker, codec):  # noqa: F811
    b = private_broker
    b.start()
    p = HttpProducer(tmp_path, b.bootstrap, b.prefix, "NOR",
                     extra={"http.response.timeout.ms": 4000, "http.retry.after.s": 3,
                            "shutdown.timeout.ms": 3000})
    p.start()
    evs = events.generate("NOR", 60, seed=31, id_prefix="o")
    first, during = evs[:20], evs[20:]
    status, _, ans = post_json(p, events.ndjson(first))
    assert status == 200 and ans["accepted"] == 20, ans

    b.stop()
    # While the broker is down no answer says "accepted": 503 with
    # Retry-After, whether the producer knew before reading the body or
    # waited for acknowledgements that did not come.
    seen_503 = 0
    deadline = time.time() + scaled(60)
    while time.time() < deadline and seen_503 < 2:
        status, headers, ans = post_json(p, events.ndjson(during))
        assert status == 503, ans
        assert headers["Retry-After"] == "3"
        assert "post the same lines again" in ans["message"]
        seen_503 += 1

    b.start()
    # Posting again once Kafka is back: every line accepted.
    deadline = time.time() + scaled(120)
    while True:
        status, _, ans = post_json(p, events.ndjson(during))
        if status == 200:
            break
        assert status == 503 and time.time() < deadline, ans
        time.sleep(1)
    assert ans["accepted"] == 40 and ans["rejected"] == 0
    assert p.stop() == 0

    # Nothing lost: every event of both bodies is in Kafka (lines a 503
    # left in flight may be there twice; the aggregator counts them once).
    msgs = kafka_util.consume_all(b.bootstrap, [b.prefix + "contributions",
                                                b.prefix + "training-completions"],
                                  expected=60, timeout=scaled(60))
    ids = set()
    for m in msgs:
        _, rec = codec.decode(m.value())
        ids.add(rec["event_id"])
    assert ids == {e["event_id"] for e in evs}


def test_sigterm_lets_a_request_finish(tmp_path, bootstrap, prefix):
    p = HttpProducer(tmp_path, bootstrap, prefix, "NOR")
    p.start()
    body = events.ndjson(events.generate("NOR", 500, seed=3, id_prefix="s"))
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=scaled(60))
    conn.request("POST", "/v1/events", body=body,
                 headers={"Content-Type": NDJSON, "Authorization": f"Bearer {p.token}"})
    time.sleep(0.05)
    p.proc.send_signal(signal.SIGTERM)
    resp = conn.getresponse()
    ans = json.loads(resp.read())
    conn.close()
    # Either served whole, or refused whole: never part of it.
    assert resp.status in (200, 503), ans
    if resp.status == 200:
        assert ans["accepted"] == 500
    assert p.stop() == 0
    # No new connection once stopping.
    try:
        http.client.HTTPConnection("127.0.0.1", p.port, timeout=2).request("GET", "/")
        refused = False
    except OSError:
        refused = True
    assert refused


def test_new_token_and_start_checks(tmp_path):
    exe = os.path.join(BUILD, "producers", "tecg-producer")
    res = subprocess.run([exe, "--new-token", "deu-system"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    token, line = res.stdout.splitlines()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert line.split() == ["deu-system", "sha256:" + hashlib.sha256(token.encode()).hexdigest(),
                            "/v1/events"]
    # http.port without tokens: refused, unless http.auth = none on loopback.
    base = tmp_path / "p.conf"
    common = ("nation = NOR\nnations.file = deploy/nations.csv\nsecurity.signing = off\n"
              "kafka.bootstrap.servers = 127.0.0.1:1\nhttp.port = 0\n")
    root = os.environ.get("TECG_SOURCE_DIR") or os.getcwd()
    common = common.replace("deploy/", root + "/deploy/")
    base.write_text(common)
    res = subprocess.run([exe, "--config", str(base), "--check-config"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 2 and "http.auth.tokens is not" in res.stderr, res.stderr
    base.write_text(common + "http.auth = none\nhttp.address = 0.0.0.0\n")
    res = subprocess.run([exe, "--config", str(base), "--check-config"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 2 and "loopback" in res.stderr, res.stderr
    base.write_text(common + "http.auth = none\n")
    res = subprocess.run([exe, "--config", str(base), "--check-config"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
