"""End to end on the real broker: NDJSON files through tecg-producer,
tecg-aggregator and tecg-dashboard to the documents served over HTTP and
pushed to a sink, compared with totals this test computes itself
(tecgpy/model.py)."""
import json
import os
import signal
import time
import urllib.request

import pytest
from tecgpy.signing import SignedProducer as KafkaProducer

from tecgpy import events, kafka_util
from tecgpy.model import Model, check_documents

import jsonschema
from conftest import ROOT

NATIONS = ["FRA", "DEU", "USA"]


def ev(nation, kind, event_id, when, **fields):
    e = {"type": kind, "event_id": event_id, "nation": nation, "occurred_at": when}
    e.update(fields)
    return e


def crafted(nation):
    """The cases the design names: out-of-order and equal-time personnel
    reports, year boundaries in other time zones, several currencies."""
    return [
        ev(nation, "funding", f"{nation}-f1", "2005-03-01T10:00:00+01:00", amount="652000.00",
           currency="EUR", channel="TRUST_FUND", stage="PLEDGED"),
        ev(nation, "funding", f"{nation}-f2", "2005-04-01T10:00:00-05:00", amount="1000000.50",
           currency="USD", channel="BILATERAL", stage="PLEDGED"),
        ev(nation, "funding", f"{nation}-f3", "2005-06-01T10:00:00Z", amount="150000",
           currency="JPY", channel="COMMON_FUNDING", stage="DISBURSED"),
        ev(nation, "funding", f"{nation}-f4", "2005-07-01T10:00:00Z", amount="1.125",
           currency="KWD", channel="TRUST_FUND", stage="DISBURSED"),
        ev(nation, "equipment", f"{nation}-q1", "2005-04-01T10:00:00Z", item="T-72 tanks",
           category="VEHICLES", quantity=77, stage="OFFERED"),
        ev(nation, "equipment", f"{nation}-q2", "2005-05-01T10:00:00Z", item="Radios",
           category="COMMUNICATIONS", quantity=12, value="9000.00", currency="GBP",
           stage="DELIVERED"),
        # Newer report first, older one later: the newer must win. (2006:
        # later than every generated report, which are all in 2005.)
        ev(nation, "personnel", f"{nation}-p-new", "2006-06-01T09:00:00Z", role="TRAINER",
           location="IN_IRAQ", headcount=40),
        ev(nation, "personnel", f"{nation}-p-old", "2006-05-01T09:00:00Z", role="TRAINER",
           location="IN_IRAQ", headcount=5),
        # Same instant: the greater event_id wins, whatever the order.
        ev(nation, "personnel", f"{nation}-p-b", "2006-06-01T12:00:00+02:00", role="MENTOR",
           location="IN_IRAQ", headcount=9),
        ev(nation, "personnel", f"{nation}-p-a", "2006-06-01T10:00:00Z", role="MENTOR",
           location="IN_IRAQ", headcount=7),
        # Year boundaries in other zones: 2004 in UTC, then 2005 in UTC.
        ev(nation, "training", f"{nation}-t1", "2005-01-01T01:00:00+02:00",
           course="Staff course", level="SENIOR", location="OUTSIDE_IRAQ", trainees=11),
        ev(nation, "training", f"{nation}-t2", "2004-12-31T23:30:00-01:00",
           course="Staff course", level="MIDDLE", location="IN_IRAQ", trainees=13),
    ]


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def documents(port):
    return {n: get_json(f"http://127.0.0.1:{port}/api/dashboards/{n}")
            for n in ("funding", "staffing", "training")}


def wait_documents(port, model, timeout=90):
    """Polls the API until the documents match the model."""
    deadline = time.time() + timeout
    diffs = ["no documents yet"]
    while time.time() < deadline:
        try:
            docs = documents(port)
            diffs = check_documents(model, docs)
            if not diffs:
                return docs
        except (OSError, ValueError, KeyError) as e:
            diffs = [repr(e)]
        time.sleep(0.3)
    raise AssertionError("documents never matched:\n" + "\n".join(diffs[:20]))


def http_port(dashboard, timeout=60):
    path = dashboard.config.with_suffix(".port")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert dashboard.alive(), dashboard.log_text()
        time.sleep(0.05)
    raise AssertionError("dashboard did not start:\n" + dashboard.log_text())


def start_dashboard(daemon_factory, sink_url=None, **extra):
    settings = dict(extra)
    d = daemon_factory("dashboard", http__port=0, compose__interval__ms=50, **settings)
    d.config.write_text(d.config.read_text() + f"http.port.file = {d.config.with_suffix('.port')}\n"
                        + (f"sink.bi.url = {sink_url}\nsink.bi.backoff.max.ms = 500\n"
                           if sink_url else ""))
    return d.start()


def schemas():
    out = {}
    for n in ("funding", "staffing", "training"):
        with open(os.path.join(ROOT, "schemas", f"dashboard-{n}.schema.json")) as f:
            out[n] = json.load(f)
    return out


def feed(producers, model, evs_by_nation, name, bad=()):
    for n, p in producers.items():
        evs = evs_by_nation[n]
        for e in evs:
            model.add(e)
        p.drop(name, events.ndjson(evs) + b"".join(b + b"\n" for b in bad))
    for n, p in producers.items():
        p.wait_done(name)


def test_end_to_end_with_restarts(producer_factory, daemon_factory, sink_factory,
                                  bootstrap, prefix):
    sink = sink_factory()
    producers = {n: producer_factory(n).start() for n in NATIONS}
    aggregator = daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory, sink.url)
    model = Model()

    # Round 1: crafted cases, generated events, a bad line, duplicates.
    first = {n: crafted(n)[::2] + events.generate(n, 150, seed=len(n) + 1, id_prefix=f"{n}-g")
             for n in NATIONS}
    feed(producers, model, first, "round1", bad=[b'{"type":"funding","bad":1}'])
    docs = wait_documents(http_port(dashboard), model)
    for n, schema in schemas().items():
        jsonschema.validate(docs[n], schema, format_checker=jsonschema.FormatChecker())

    # Crash the aggregator and stop the dashboard mid-run; round 2 arrives
    # while they are down, with re-sent duplicates of round 1.
    assert aggregator.stop(sig=signal.SIGKILL) is not None
    v_before = docs["staffing"]["version"]
    assert dashboard.stop() == 0
    second = {n: crafted(n)[1::2] + first[n][:20] +
              events.generate(n, 150, seed=len(n) + 7, id_prefix=f"{n}-h")
              for n in NATIONS}
    feed(producers, model, second, "round2")
    aggregator = daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory, sink.url)
    docs = wait_documents(http_port(dashboard), model)
    assert docs["staffing"]["version"] > v_before, "versions continue after a restart"
    for n, schema in schemas().items():
        jsonschema.validate(docs[n], schema, format_checker=jsonschema.FormatChecker())

    # The crafted personnel cases, explicitly.
    for n in NATIONS:
        row = next(r for r in docs["staffing"]["nations"] if r["nation"] == n)
        assert row["roles"]["TRAINER"]["IN_IRAQ"] == 40, "newer report wins over an older one arriving later"
        assert row["roles"]["MENTOR"]["IN_IRAQ"] == 9, "same instant: the greater event_id wins"

    # The sink received the latest version of each document.
    deadline = time.time() + 30
    while time.time() < deadline:
        got = {n: sink.latest(n) for n in docs}
        if all(got[n] and got[n]["version"] >= docs[n]["version"] for n in docs):
            break
        time.sleep(0.2)
    for n in docs:
        assert sink.latest(n)["version"] >= docs[n]["version"]
        assert check_documents(model, {**docs, n: sink.latest(n)}) == []

    # A restart with nothing new changes nothing: same versions, same content.
    assert dashboard.stop() == 0
    dashboard = start_dashboard(daemon_factory, sink.url)
    again = wait_documents(http_port(dashboard), model)
    for n in docs:
        assert again[n]["version"] == docs[n]["version"]
        a, b = dict(again[n]), dict(docs[n])
        a.pop("generated_at"), b.pop("generated_at")
        assert a == b
    for p in producers.values():
        assert p.stop() == 0


def test_sink_down_then_up_gets_the_latest_version(producer_factory, daemon_factory,
                                                   sink_factory):
    sink = sink_factory("--fail-first", "6")
    p = producer_factory("ITA").start()
    daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory, sink.url)
    model = Model()
    for i in range(4):
        evs = events.generate("ITA", 30, seed=100 + i, id_prefix=f"i{i}-")
        for e in evs:
            model.add(e)
        p.drop(f"ITA-{i}", events.ndjson(evs))
        p.wait_done(f"ITA-{i}")
        time.sleep(0.3)
    docs = wait_documents(http_port(dashboard), model)
    deadline = time.time() + 60
    while time.time() < deadline:
        got = [sink.latest(n) for n in docs]
        if all(g and g["version"] == docs[n]["version"] for g, n in zip(got, docs)):
            break
        time.sleep(0.2)
    for n in docs:
        assert sink.latest(n)["version"] == docs[n]["version"], n
    received = [json.loads(line) for line in (sink.out / "received.ndjson").read_text().splitlines()]
    for n in docs:
        versions = [r["version"] for r in received if r["dashboard"] == n]
        assert versions == sorted(versions), "never an older version after a newer one"


def test_garbage_goes_to_dead_letter_and_the_partition_keeps_flowing(
        producer_factory, daemon_factory, bootstrap, prefix, codec):
    daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory)
    port = http_port(dashboard)
    kp = KafkaProducer(kafka_util.client_conf(bootstrap, partitioner="murmur2_random"))
    bad_values = [b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"body", b""]
    for v in bad_values:
        kp.produce(prefix + "contributions", key=b"GRC", value=v)
    # A valid event under the wrong key, and one for a nation not in the list.
    good = events.generate("GRC", 1, seed=3)[0]
    kp.produce(prefix + "contributions", key=b"FRA",
               value=codec.encode(*events.expected_record(good)))
    kp.flush(10)

    model = Model()
    p = producer_factory("GRC").start()
    evs = events.generate("GRC", 40, seed=9)
    for e in evs:
        model.add(e)
    p.drop("GRC-1", events.ndjson(evs))
    p.wait_done("GRC-1")
    wait_documents(port, model)

    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=4, timeout=30)
    assert len(dead) == 4
    reasons = {bytes(m.value()): dict(m.headers())["tecg.error"].decode() for m in dead}
    assert set(reasons) == set(bad_values) | {codec.encode(*events.expected_record(good))}
    for m in dead:
        h = dict(m.headers())
        assert h["tecg.stage"] in (b"decode", b"contract")
        assert h["tecg.source"].decode().startswith(prefix + "contributions/")
    assert "key does not equal" in reasons[codec.encode(*events.expected_record(good))]


def test_a_nation_missing_from_the_dashboards_list_is_shown_unlisted(
        producer_factory, daemon_factory, tmp_path):
    """The aggregator accepts ITA, the dashboard's own nations list lacks it
    (e.g. edited on one machine only): its figures are still counted, in a
    row with status "unlisted" and no name, as compose.h promises."""
    listed = os.path.join(ROOT, "deploy", "nations.csv")
    with open(listed) as f:
        lines = f.read().splitlines(keepends=True)
    without_ita = tmp_path / "nations-without-ITA.csv"
    without_ita.write_text("".join(l for l in lines if not l.startswith("ITA,")))
    assert "ITA," not in without_ita.read_text()

    p = producer_factory("ITA").start()
    daemon_factory("aggregator", batch__max__ms=50).start()
    d = daemon_factory("dashboard", http__port=0, compose__interval__ms=50)
    d.config.write_text(d.config.read_text().replace(f"nations.file = {listed}",
                                                     f"nations.file = {without_ita}")
                        + f"http.port.file = {d.config.with_suffix('.port')}\n")
    dashboard = d.start()
    model = Model()
    evs = crafted("ITA") + events.generate("ITA", 40, seed=21)
    for e in evs:
        model.add(e)
    p.drop("ITA-1", events.ndjson(evs))
    p.wait_done("ITA-1")
    docs = wait_documents(http_port(dashboard), model)

    for n, schema in schemas().items():
        jsonschema.validate(docs[n], schema, format_checker=jsonschema.FormatChecker())
        rows = [r for r in docs[n]["nations"] if r["nation"] == "ITA"]
        assert rows, n
        assert all(r["status"] == "unlisted" and r["name"] is None for r in rows), rows
        assert "ITA" not in docs[n]["not_reported"], n
    staffing = docs["staffing"]
    assert staffing["total"]["nations_reported"] == 1
    assert staffing["total"]["in_iraq"] == next(
        r["in_iraq"] for r in staffing["nations"] if r["nation"] == "ITA") > 0
    assert docs["funding"]["total"]["nations_reported"] == 1
    assert "shown as unlisted" in dashboard.log_text()
    assert dashboard.alive()
