"""Corrections and retractions end to end on the real broker
(docs/design.md §2.9, §4.4): each before and after its target, through an
aggregator SIGKILL and a lost store, compared with tecgpy/model.py; the
same events in reverse order give the same figures; a second correction of
one target, or one of the wrong type, is dead-lettered with its reason."""
import shutil
import signal

from tecgpy import events, kafka_util
from tecgpy.model import Model

from test_pipeline import http_port, start_dashboard, wait_documents


def ev(nation, kind, event_id, when, **fields):
    e = {"type": kind, "event_id": event_id, "nation": nation, "occurred_at": when}
    e.update(fields)
    return e


def retraction(nation, event_id, target, target_type, reason, when="2005-08-01T00:00:00Z"):
    return ev(nation, "retraction", event_id, when, retracts=target,
              retracts_type=target_type, reason=reason)


def targets(n):
    return [
        ev(n, "funding", "f1", "2005-03-01T10:00:00Z", amount="8100000.00", currency="EUR",
           channel="TRUST_FUND", stage="PLEDGED"),
        ev(n, "funding", "f2", "2005-04-01T10:00:00Z", amount="500000.00", currency="USD",
           channel="BILATERAL", stage="DISBURSED"),
        ev(n, "funding", "f3", "2005-05-01T10:00:00Z", amount="1000.00", currency="EUR",
           channel="COMMON_FUNDING", stage="PLEDGED"),
        ev(n, "funding", "f4", "2005-05-02T10:00:00Z", amount="2000.00", currency="EUR",
           channel="TRUST_FUND", stage="DISBURSED"),
        ev(n, "equipment", "q1", "2005-03-05T10:00:00Z", item="Trucks", category="VEHICLES",
           quantity=10, stage="OFFERED"),
        ev(n, "equipment", "q2", "2005-03-06T10:00:00Z", item="Kits", category="MEDICAL",
           quantity=4, value="100.00", currency="EUR", stage="ACCEPTED"),
        ev(n, "personnel", "p1", "2005-06-01T09:00:00Z", role="TRAINER", location="IN_IRAQ",
           headcount=40),
        ev(n, "personnel", "p2", "2005-07-01T09:00:00Z", role="TRAINER", location="IN_IRAQ",
           headcount=45),
        ev(n, "personnel", "p3", "2005-07-01T09:00:00Z", role="STAFF",
           location="OUTSIDE_IRAQ", headcount=7),
        ev(n, "training", "t1", "2005-02-01T10:00:00Z", course="Staff course", level="SENIOR",
           location="IN_IRAQ", trainees=25),
        ev(n, "training", "t2", "2005-12-31T23:30:00-01:00", course="Drivers",
           level="JUNIOR", location="OUTSIDE_IRAQ", trainees=9),
    ]


def corrections(n):
    return [
        # The pledge of 8,100,000 that should have been 810,000.
        ev(n, "funding", "f1b", "2005-03-02T10:00:00Z", supersedes="f1", amount="810000.00",
           currency="EUR", channel="TRUST_FUND", stage="PLEDGED"),
        ev(n, "funding", "f2b", "2005-04-02T10:00:00Z", supersedes="f2", amount="600000.00",
           currency="USD", channel="BILATERAL", stage="DISBURSED"),
        # A chain: f4 replaced by f4b, which is then taken back: neither counts.
        ev(n, "funding", "f4b", "2005-05-03T10:00:00Z", supersedes="f4", amount="2500.00",
           currency="EUR", channel="TRUST_FUND", stage="DISBURSED"),
        retraction(n, "r5", "f4b", "funding", "paid from another budget line"),
        retraction(n, "r1", "q1", "equipment", "offer withdrawn"),
        # The latest TRAINER report is taken back: the earlier one (40) counts again.
        retraction(n, "r4", "p2", "personnel", "reported twice"),
        ev(n, "training", "t1b", "2005-02-02T10:00:00Z", supersedes="t1",
           course="Staff course", level="SENIOR", location="IN_IRAQ", trainees=20),
        ev(n, "personnel", "p3b", "2005-07-02T09:00:00Z", supersedes="p3", role="STAFF",
           location="OUTSIDE_IRAQ", headcount=8),
    ]


def refused(n):
    """Each one is dead-lettered: the target was taken back already, or is of
    another type than the correction says."""
    return [
        retraction(n, "r6", "q1", "equipment", "withdrawn again"),
        ev(n, "equipment", "s1", "2005-05-04T10:00:00Z", supersedes="f3", item="Tents",
           category="OTHER", quantity=1, stage="OFFERED"),
        retraction(n, "r7", "f3", "equipment", "wrong type named"),
    ]


def drop(producer, model, name, evs):
    for e in evs:
        model.add(e)
    producer.drop(name, events.ndjson(evs))
    producer.wait_done(name)


def figures(docs, nation):
    """A nation's figures in the three documents, without its name."""
    out = {}
    for name in ("funding", "staffing"):
        row = next(r for r in docs[name]["nations"] if r["nation"] == nation)
        out[name] = {k: v for k, v in row.items()
                     if k not in ("nation", "name", "dead_letters")}
    out["training"] = sorted((r["year"], r["trainees"]) for r in docs["training"]["nations"]
                             if r["nation"] == nation)
    return out


def same(a, b, what):
    """a == b, or which keys differ (nested one level)."""
    diffs = []
    for part in sorted(set(a) | set(b)):
        x, y = a.get(part), b.get(part)
        if isinstance(x, dict) and isinstance(y, dict):
            diffs += [(part, k, x.get(k), y.get(k)) for k in sorted(set(x) | set(y))
                      if x.get(k) != y.get(k)]
        elif x != y:
            diffs.append((part, None, x, y))
    assert not diffs, f"{what} differ: {diffs}"


def store_dir(aggregator):
    for line in aggregator.config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "store.dir":
            return value.strip()
    raise AssertionError("the aggregator's config names no store.dir")


def test_corrections_before_and_after_their_targets_through_a_crash(
        producer_factory, daemon_factory, bootstrap, prefix):
    producers = {n: producer_factory(n).start() for n in ("FRA", "DEU", "USA")}
    aggregator = daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory)
    port = http_port(dashboard)
    model = Model()

    # Phase 1. FRA: the targets. DEU: the corrections first (their targets
    # are not there yet). USA: everything at once, in reverse order.
    drop(producers["FRA"], model, "FRA-1", targets("FRA"))
    drop(producers["DEU"], model, "DEU-1", corrections("DEU"))
    drop(producers["USA"], model, "USA-1",
         list(reversed(corrections("USA"))) + list(reversed(targets("USA"))))
    wait_documents(port, model)

    # The aggregator dies with pending corrections in its store.
    assert aggregator.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    aggregator.start()

    # Phase 2: the other halves, a duplicate of a correction (dropped
    # silently) and the refused ones.
    drop(producers["FRA"], model, "FRA-2", corrections("FRA") + corrections("FRA")[:1]
         + refused("FRA"))
    drop(producers["DEU"], model, "DEU-2", targets("DEU") + refused("DEU"))
    drop(producers["USA"], model, "USA-2", refused("USA"))
    docs = wait_documents(port, model)

    # The model says so, and independently: the three orders agree.
    for other in ("DEU", "USA"):
        same(figures(docs, "FRA"), figures(docs, other), f"FRA and {other}")
    fra = next(r for r in docs["funding"]["nations"] if r["nation"] == "FRA")
    assert fra["pledged"]["by_currency"] == {"EUR": "811000.00"}
    assert fra["corrections"] == {"supersessions": 5, "retractions": 3}
    staffing = next(r for r in docs["staffing"]["nations"] if r["nation"] == "FRA")
    assert staffing["roles"]["TRAINER"]["IN_IRAQ"] == 40
    assert staffing["roles"]["STAFF"]["OUTSIDE_IRAQ"] == 8

    # The funding document lists the corrections, with what changed.
    recent = {(c["nation"], c["event_id"]): c for c in docs["funding"]["recent_corrections"]}
    f1b = recent[("FRA", "f1b")]
    assert f1b["kind"] == "supersede" and f1b["target_id"] == "f1"
    assert "8100000.00 EUR" in f1b["before"] and "810000.00 EUR" in f1b["after"]
    r5 = recent[("DEU", "r5")]
    assert r5["kind"] == "retract" and r5["reason"] == "paid from another budget line"
    # DEU's f1b came before f1: once f1 arrived, its effect is known too.
    assert "8100000.00 EUR" in recent[("DEU", "f1b")]["before"]

    # Nine refusals, each with its reason, on the dead-letter topic.
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=9, timeout=30)
    stages = [dict(m.headers())["tecg.stage"] for m in dead]
    assert stages == [b"correction"] * 9, stages
    reasons = sorted(dict(m.headers())["tecg.error"].decode() for m in dead)
    assert sum("already retracted" in r for r in reasons) == 3, reasons
    assert sum("f3, a funding event" in r for r in reasons) == 6, reasons
    for n in ("FRA", "DEU", "USA"):
        row = next(r for r in docs["staffing"]["nations"] if r["nation"] == n)
        assert row["dead_letters"]["count"] == 3, row
    assert len(model.refused) == 9

    # The store is lost while the aggregator is down: it is rebuilt from
    # the event-ids topic, and an event counted before can still be taken
    # back (its effect came back with it).
    assert aggregator.stop() == 0
    shutil.rmtree(store_dir(aggregator))
    aggregator.start()
    drop(producers["FRA"], model, "FRA-3",
         [retraction("FRA", "r8", "p1", "personnel", "left the mission")])
    docs = wait_documents(port, model)
    staffing = next(r for r in docs["staffing"]["nations"] if r["nation"] == "FRA")
    assert staffing["roles"]["TRAINER"]["IN_IRAQ"] == 0
    assert aggregator.stop() == 0
