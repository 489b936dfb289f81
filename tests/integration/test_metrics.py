"""Monitoring on the real broker: every daemon's /metrics passes
`promtool check metrics` (and so do the metrics files), /healthz says
ready once Kafka answers and, for the aggregator, its partitions are
restored and caught up, and 503 with the reason otherwise; the mission
gauges say what the documents say; the Grafana dashboard
(deploy/grafana/tecg.json) charts only metrics some daemon serves."""
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, Producer, scaled
from test_pipeline import crafted, feed, http_port, start_dashboard, wait_documents
from tecgpy import events
from tecgpy.model import Model

PROMTOOL = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "tecg", "promtool", "promtool")
GRAFANA = os.path.join(ROOT, "deploy", "grafana", "tecg.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, token=None):
    """(status, body text) of a GET on the monitoring listener; no token
    unless given (conftest's opener adds the dashboard's otherwise)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    req.add_unredirected_header("Authorization", f"Bearer {token}" if token else "Bearer -")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_dashboard(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read().decode()


def wait_health(port, want, proc, timeout=60):
    """Polls /healthz until it answers `want`; returns its JSON."""
    deadline = time.time() + scaled(timeout)
    last = None
    while time.time() < deadline:
        assert proc.alive(), proc.log_text()
        try:
            status, body = get(port, "/healthz")
            last = (status, body)
            if status == want:
                return json.loads(body)
        except OSError as e:
            last = repr(e)
        time.sleep(0.2)
    raise AssertionError(f"/healthz never answered {want}: {last}\n{proc.log_text()[-3000:]}")


def promtool_check(text, what):
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(f"no promtool at {PROMTOOL}: run scripts/install-deps", pytrace=False)
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, f"promtool check metrics on {what}:\n{res.stdout}{res.stderr}"


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def names(text):
    return {name for name, _ in samples(text)}


def test_every_daemon_serves_metrics_and_health(producer_factory, daemon_factory, sink_factory,
                                                tmp_path):
    pport, aport = free_port(), free_port()
    prod = producer_factory("FRA", {"metrics.http.port": pport,
                                    "metrics.file": tmp_path / "producer.prom",
                                    "stats.interval.ms": 300}).start()
    agg = daemon_factory("aggregator", metrics__http__port=aport,
                         metrics__file=tmp_path / "aggregator.prom",
                         stats__interval__ms=300, batch__max__ms=50).start()
    # A sink, so that the sink metrics the Grafana dashboard charts exist.
    dash = start_dashboard(daemon_factory, sink_factory().url, mission__authorized__strength=500)
    dport = http_port(dash)

    health = wait_health(pport, 200, prod)
    assert health["status"] == "ok" and health["nation"] == "FRA" and health["kafka"] == "up"
    health = wait_health(aport, 200, agg)
    assert health["status"] == "ok" and health["kafka"] == "up"
    assert health["partitions"] > 0 and health["restoring"] == 0

    model = Model()
    evs = crafted("FRA") + events.generate("FRA", 40, seed=5, id_prefix="FRA-m")
    feed({"FRA": prod}, model, {"FRA": evs}, "FRA-1")
    docs = wait_documents(dport, model)

    # The aggregator is caught up once it has counted everything.
    deadline = time.time() + scaled(60)
    while True:
        h = wait_health(aport, 200, agg)
        atext = get(aport, "/metrics")[1]
        s = samples(atext)
        if s.get(("tecg_aggregator_counted_total", frozenset())) == len(evs):
            break
        assert time.time() < deadline, atext
        time.sleep(0.3)
    assert h["lag"] == 0
    assert s[("tecg_aggregator_ready", frozenset())] == 1
    assert s[("tecg_aggregator_lag_messages", frozenset())] == 0
    # Commits are timed (whole milliseconds each, so a fast broker may sum
    # to 0): served, and a slow commit is one of the transactions.
    txns = s[("tecg_aggregator_transactions_total", frozenset())]
    assert txns >= 1
    assert 0 <= s[("tecg_aggregator_commit_seconds_total", frozenset())] <= 30 * txns
    assert 0 <= s[("tecg_aggregator_slow_commits_total", frozenset())] <= txns
    # Every event signed: at least one Ed25519 check, never more than one an event.
    assert 1 <= s[("tecg_aggregator_signature_checks_total", frozenset())] <= len(evs)

    ptext = get(pport, "/metrics")[1]
    ps = samples(ptext)
    assert ps[("tecg_producer_delivered_total", frozenset({("nation", "FRA")}))] == len(evs)
    assert ps[("tecg_producer_ready", frozenset({("nation", "FRA")}))] == 1

    dstatus, dtext = get_dashboard(dport, "/metrics")
    assert dstatus == 200
    for what, text in (("producer /metrics", ptext), ("aggregator /metrics", atext),
                       ("dashboard /metrics", dtext)):
        promtool_check(text, what)
    # The files the same figures go to, once written.
    for f in ("producer.prom", "aggregator.prom"):
        path = tmp_path / f
        deadline = time.time() + scaled(30)
        while not path.exists():
            assert time.time() < deadline, f"no {f}"
            time.sleep(0.1)
        promtool_check(path.read_text(), f)
    assert names(ptext) - {"tecg_producer_ready"} == names((tmp_path / "producer.prom").read_text())

    # Mission gauges: what the documents say.
    ds = samples(dtext)
    staffing = next(r for r in docs["staffing"]["nations"] if r["nation"] == "FRA")
    for loc in ("in_iraq", "outside_iraq"):
        key = ("tecg_mission_strength", frozenset({("nation", "FRA"), ("location", loc)}))
        assert ds[key] == staffing[loc], key
    assert staffing["in_iraq"] > 0
    assert ds[("tecg_mission_authorized_strength", frozenset())] == 500
    assert ds[("tecg_mission_fill_rate", frozenset())] == pytest.approx(
        docs["staffing"]["total"]["fill_rate"])
    training = [r for r in docs["training"]["nations"] if r["nation"] == "FRA"]
    assert training
    for r in training:
        for loc in ("in_iraq", "outside_iraq"):
            key = ("tecg_mission_trainees", frozenset({("nation", "FRA"), ("year", str(r["year"])),
                                                       ("location", loc)}))
            assert ds[key] == r[loc]["trainees"], key
    funding = next(r for r in docs["funding"]["nations"] if r["nation"] == "FRA")
    cur = docs["funding"]["reporting_currency"]
    for kind in ("pledged", "disbursed"):
        key = (f"tecg_mission_{kind}", frozenset({("nation", "FRA"), ("currency", cur)}))
        assert ds[key] == pytest.approx(float(funding[kind]["converted"])), key
    assert float(funding["pledged"]["converted"]) > 0
    assert ("tecg_dashboard_nation_report_age_seconds", frozenset({("nation", "FRA")})) in ds

    # Grafana: valid JSON, and each tecg_ metric a query names is served.
    served = names(ptext) | names(atext) | names(dtext)
    with open(GRAFANA) as f:
        board = json.load(f)
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs
    referenced = {n for e in exprs for n in re.findall(r"\btecg_[a-z0-9_]+", e)}
    variables = [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    referenced |= {n for v in variables for n in re.findall(r"\btecg_[a-z0-9_]+", v)}
    assert referenced - served == set(), f"charted but not served: {referenced - served}"
    # And the mission gauges are all charted.
    assert {"tecg_mission_strength", "tecg_mission_trainees", "tecg_mission_pledged",
            "tecg_mission_disbursed", "tecg_dashboard_nation_report_age_seconds"} <= referenced


def test_not_ready_says_why(tmp_path):
    """No broker: the producer runs and says Kafka is not reachable; the
    aggregator, still starting (it cannot initialise its transactions),
    says so."""
    pport, aport = free_port(), free_port()
    prod = Producer(tmp_path, "127.0.0.1:1", "tnone.", "FRA",
                    {"metrics.http.port": pport}).start()
    cfg = tmp_path / "aggregator.conf"
    cfg.write_text("kafka.bootstrap.servers = 127.0.0.1:1\nsecurity.signatures = off\n"
                   f"store.dir = {tmp_path / 'store'}\n"
                   f"nations.file = {ROOT}/deploy/nations.csv\n"
                   f"metrics.http.port = {aport}\n")
    log = open(tmp_path / "aggregator.log", "wb")
    agg = subprocess.Popen([os.path.join(os.environ.get("TECG_BUILD_DIR") or
                                         os.path.join(ROOT, "build"),
                                         "consumers", "aggregator", "tecg-aggregator"),
                            "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        health = wait_health(pport, 503, prod, timeout=30)
        # Either librdkafka already said every broker is down, or the
        # snapshot is not there yet: a reason either way.
        assert health["status"] == "unavailable" and health["reason"], health
        deadline = time.time() + scaled(30)
        while True:
            h = wait_health(pport, 503, prod)
            if "Kafka" in h["reason"]:
                break
            assert time.time() < deadline, h
            time.sleep(0.3)
        status = None
        deadline = time.time() + scaled(30)
        while status != 503:
            assert time.time() < deadline and agg.poll() is None, \
                (tmp_path / "aggregator.log").read_text()
            try:
                status, body = get(aport, "/healthz")
            except OSError:
                time.sleep(0.2)
        assert json.loads(body)["reason"] == "starting"
        status, text = get(pport, "/metrics")
        assert status == 200 and 'tecg_producer_ready{nation="FRA"} 0' in text
    finally:
        agg.terminate()
        agg.wait(30)
        log.close()
        prod.stop()


def test_tokens_and_loopback(tmp_path):
    """With metrics.http.tokens, /metrics needs a token granted /metrics;
    /healthz needs none. Off loopback without tokens: a configuration
    error."""
    token, other = os.urandom(32).hex(), os.urandom(32).hex()
    import hashlib
    tokens = tmp_path / "metrics-tokens"
    tokens.write_text(
        f"prometheus sha256:{hashlib.sha256(token.encode()).hexdigest()} /metrics\n"
        f"bi sha256:{hashlib.sha256(other.encode()).hexdigest()} /api/export/\n")
    tokens.chmod(0o600)
    port = free_port()
    prod = Producer(tmp_path, "127.0.0.1:1", "tnone.", "FRA",
                    {"metrics.http.port": port, "metrics.http.tokens": tokens}).start()
    try:
        deadline = time.time() + scaled(30)
        while True:
            try:
                status, _ = get(port, "/healthz")
                break
            except OSError:
                assert time.time() < deadline and prod.alive(), prod.log_text()
                time.sleep(0.1)
        assert status in (200, 503)
        assert get(port, "/metrics")[0] == 401
        assert get(port, "/metrics", other)[0] == 403
        status, text = get(port, "/metrics", token)
        assert status == 200 and "tecg_producer_lines_total" in text
        assert get(port, "/nothing", token)[0] == 404
    finally:
        prod.stop()
    assert token not in prod.log_text() and other not in prod.log_text()

    open_conf = Producer(tmp_path, "127.0.0.1:1", "tnone.", "DEU",
                         {"metrics.http.port": 0, "metrics.http.address": "0.0.0.0"})
    res = subprocess.run([open_conf.binary, "--config", str(open_conf.config),
                          "--check-config"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "metrics.http.tokens" in res.stderr
