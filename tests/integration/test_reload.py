"""SIGHUP on every daemon (README, "Signals"): the configuration is read
again; log.level, the dashboard's sinks, the nations list (and the
aggregator's keyring) and the producer's limits change at once, any other
changed key is named as needing a restart (a secret's value never shown),
an invalid file changes nothing; the daemon keeps running and still stops
cleanly on SIGTERM."""
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from tecgpy import events, signing
from test_signatures import dead_letters, wait_metrics


def wait_log(daemon, text, since, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = daemon.log_text()[since:]
        if text in got:
            return got
        assert daemon.alive(), daemon.log_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"never logged {text!r}:\n" + daemon.log_text()[since:][-3000:])


def hup(daemon):
    since = len(daemon.log_text())
    daemon.proc.send_signal(signal.SIGHUP)
    return since


@pytest.mark.parametrize("kind", ["producer", "aggregator", "dashboard"])
def test_sighup_reads_the_configuration_again(kind, producer_factory, daemon_factory):
    if kind == "producer":
        d = producer_factory("FRA").start()
    else:
        d = daemon_factory(kind, http__port=0) if kind == "dashboard" else daemon_factory(kind)
        d.start()
    time.sleep(1.0)  # past start-up: the handler is installed before the main loop
    original = d.config.read_text()

    # The same file again: nothing changed.
    since = hup(d)
    wait_log(d, "SIGHUP: the configuration has not changed", since)

    # log.level applies at once; a Kafka key and a secret-looking one wait
    # for a restart, the secret's value unnamed.
    d.config.write_text(original + "log.level = debug\nstats.interval.ms = 1234\n"
                        "kafka.sasl.password = hunter2-secret\n")
    since = hup(d)
    got = wait_log(d, "take effect only at the next start", since)
    assert "SIGHUP: log.level is now debug" in got
    assert "stats.interval.ms" in got and "1234" in got
    assert "kafka.sasl.password" in got
    assert "hunter2-secret" not in d.log_text()

    # A broken file: said, and nothing changes.
    d.config.write_text(original + "no.such.key = 1\n")
    since = hup(d)
    got = wait_log(d, "the configuration in use stays", since)
    assert "no.such.key" in got

    d.config.write_text(original)
    assert d.alive()
    assert d.stop() == 0
    assert not os.path.exists(str(d.config) + ".tmp")


# ---------------------------------------------------------------- live keys
# docs/design.md §6 "Signals": the sinks, the nations list (with the
# keyring beside it) and the producer's limits change without a restart.

def nations_without(tmp_path, *codes, name="nations.csv"):
    """A copy of deploy/nations.csv without the nations `codes`."""
    rows = (Path(ROOT) / "deploy" / "nations.csv").read_text().splitlines(keepends=True)
    path = tmp_path / name
    path.write_text("".join(r for r in rows if r[:3] not in codes))
    return path


def keyring_without(tmp_path, *codes, revoked=()):
    """A copy of the session's keyring without the keys of `codes`, and the
    keys of `revoked` revoked a minute ago."""
    rows = Path(signing.session_keys().keyring).read_text().splitlines(keepends=True)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    out = []
    for r in rows:
        if r[:3] in codes:
            continue
        if r[:3] in revoked:
            r = r.rstrip("\n").rsplit(",", 1)[0] + f",{when}\n"
        out.append(r)
    path = tmp_path / "nation-keys.csv"
    path.write_text("".join(out))
    return path


def line(nation, event_id, pad=0):
    ev = {"type": "personnel", "event_id": event_id, "nation": nation,
          "occurred_at": "2005-06-01T09:00:00Z", "role": "TRAINER",
          "location": "IN_IRAQ", "headcount": 3}
    return (json.dumps(ev)[:-1] + " " * pad + "}\n").encode()


def rejected_reasons(p, name):
    p.wait_done(name)
    errors, _ = p.rejected(name)
    return errors


def test_producer_nations_and_limits_change_live(producer_factory, tmp_path):
    nations = nations_without(tmp_path, "NOR")
    p = producer_factory("FRA", extra={"nations.file": nations,
                                       "security.keyring": keyring_without(tmp_path, "NOR")})
    text = p.config.read_text()
    p.config.write_text(text.replace(f"nations.file = {ROOT}/deploy/nations.csv\n", ""))
    p.start()
    wait_log(p, "watching", 0)

    # Before: NOR is unknown; a 2000-byte line is within limits.line.bytes.
    p.drop("a", line("NOR", "NOR-a") + line("FRA", "FRA-long-a", pad=2000))
    errors = rejected_reasons(p, "a")
    assert len(errors) == 1 and "NOR is not in the nations list" in errors[0], errors

    # An unreadable list changes nothing, and says where and why.
    nations.write_text("code,name,status\nFRA,France,member\nNO,Norway,member\n")
    since = hup(p)
    got = wait_log(p, "the configuration in use stays", since)
    assert f"{nations}:3:" in got, got
    # A list without this producer's own nation is refused too.
    nations.write_text("code,name,status\nNOR,Norway,member\n")
    since = hup(p)
    got = wait_log(p, "the configuration in use stays", since)
    assert "FRA is not in" in got, got
    p.drop("b", line("NOR", "NOR-b") + line("FRA", "FRA-long-b", pad=2000))
    errors = rejected_reasons(p, "b")
    assert len(errors) == 1 and "NOR is not in the nations list" in errors[0], errors

    # NOR joins the list and the line limit drops, in one reload.
    (tmp_path / "nations.csv").write_text(
        (Path(ROOT) / "deploy" / "nations.csv").read_text())
    p.config.write_text(p.config.read_text() + "limits.line.bytes = 1024\n")
    since = hup(p)
    got = wait_log(p, "SIGHUP: limits.line.bytes applied", since)
    assert "added: NOR" in got, got
    assert "next start" not in got, got
    p.drop("c", line("NOR", "NOR-c") + line("FRA", "FRA-long-c", pad=2000)
           + line("FRA", "FRA-short-c"))
    errors = rejected_reasons(p, "c")
    # NOR is a nation now, so its line fails only as another nation's.
    assert len(errors) == 2, errors
    assert "event for NOR, but this producer reports for FRA" in errors[0], errors
    assert "longer than limits.line.bytes" in errors[1], errors
    assert p.stop() == 0


def test_aggregator_nations_and_revoked_key_change_live(daemon_factory, bootstrap, prefix,
                                                        codec, tmp_path):
    nations = nations_without(tmp_path, "NOR")
    keyring = keyring_without(tmp_path, "NOR")
    metrics_file = tmp_path / "aggregator.prom"
    d = daemon_factory("aggregator", batch__max__ms=50, stats__interval__ms=200,
                       metrics__file=metrics_file, security__keyring=keyring)
    d.config.write_text(d.config.read_text().replace(
        f"nations.file = {ROOT}/deploy/nations.csv", f"nations.file = {nations}"))
    d.start()
    topic = prefix + "contributions"
    kp = signing.SignedProducer({"bootstrap.servers": bootstrap,
                                 "partitioner": "murmur2_random"})

    def send(nation, event_id):
        ev = json.loads(line(nation, event_id))
        kp.produce(topic, key=nation.encode(), value=codec.encode(*events.expected_record(ev)))
        assert kp.flush(30) == 0

    # Before: DEU's key is good, NOR is in neither list.
    send("DEU", "DEU-1")
    send("NOR", "NOR-1")
    wait_metrics(metrics_file, {"counted_total": 1, "dead_lettered_total": 1})

    # An invalid keyring: nothing changes (NOR stays unknown).
    keyring.write_text("nation,key_id\n")
    since = hup(d)
    got = wait_log(d, "the configuration in use stays", since)
    assert f"{keyring}:1:" in got, got

    # NOR joins with its key; DEU's key is revoked.
    nations.write_text((Path(ROOT) / "deploy" / "nations.csv").read_text())
    keyring_without(tmp_path, revoked=("DEU",))
    since = hup(d)
    got = wait_log(d, "keyring in force from the next message", since)
    assert "added: NOR" in got, got
    send("NOR", "NOR-2")
    send("DEU", "DEU-2")
    got = wait_metrics(metrics_file, {"counted_total": 2, "dead_lettered_total": 2,
                                      "refused_revoked": 1})
    reasons = sorted(why for _, why, _ in dead_letters(bootstrap, prefix, 2))
    assert any(r.startswith("key revoked: key id DEU-test-1 of DEU") for r in reasons), reasons
    assert any(r.startswith('unknown key id "NOR-test-1"') for r in reasons), reasons
    assert d.stop() == 0


def test_dashboard_sinks_and_nations_change_live(daemon_factory, sink_factory, tmp_path):
    nations = nations_without(tmp_path, "NOR")
    a, b = sink_factory(), sink_factory()
    port_file = tmp_path / "dashboard.port"
    d = daemon_factory("dashboard", http__port=0, http__port__file=port_file,
                       compose__interval__ms=100, **{"sink.a.url": a.url})
    d.config.write_text(d.config.read_text().replace(
        f"nations.file = {ROOT}/deploy/nations.csv", f"nations.file = {nations}"))
    d.start()
    first = wait_version(a, "staffing", 1)
    port = wait_port(port_file)
    assert health(port)["sinks"] == 1
    not_reported = set(first["not_reported"])
    assert "NOR" not in not_reported and "DEU" in not_reported

    # b joins: it gets the current version of each document at once.
    original = d.config.read_text()
    d.config.write_text(original + f"sink.b.url = {b.url}\n"
                        "sink.b.token = reload-secret-token\n")
    since = hup(d)
    got = wait_log(d, "SIGHUP: sink.b.url applied", since)
    assert "next start" not in got, got
    assert "SIGHUP: sink.b.token applied (***)" in got, got
    for name in ("funding", "staffing", "training"):
        assert wait_version(b, name, 1)["version"] == a.latest(name)["version"]
    assert health(port)["sinks"] == 2

    # a leaves, NOR joins the list: the new version (NOR not reported) goes
    # to b only.
    before = a.latest("staffing")["version"]
    d.config.write_text(original.replace(f"sink.a.url = {a.url}\n", "")
                        + f"sink.b.url = {b.url}\nsink.b.token = reload-secret-token\n")
    nations.write_text((Path(ROOT) / "deploy" / "nations.csv").read_text())
    since = hup(d)
    got = wait_log(d, "added: NOR", since)
    newer = wait_version(b, "staffing", before + 1)
    assert "NOR" in newer["not_reported"]
    assert a.latest("staffing")["version"] == before
    assert health(port)["sinks"] == 1
    assert nation_status(port, "NOR") == 200

    # An invalid nations file: nothing changes.
    nations.write_text("code,name,status\nNOR,Norway,citizen\n")
    since = hup(d)
    got = wait_log(d, "the configuration in use stays", since)
    assert f"{nations}:2:" in got, got
    assert nation_status(port, "NOR") == 200
    assert d.stop() == 0
    assert "reload-secret-token" not in d.log_text()


def wait_version(sink, name, at_least, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        doc = sink.latest(name)
        if doc and doc.get("version", 0) >= at_least:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"{name} version {at_least} never reached the sink")


def wait_port(path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError("no dashboard port file")


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:  # 503 while catching up
        return json.loads(e.read())


def nation_status(port, code):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/nation/{code}",
                                    timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
