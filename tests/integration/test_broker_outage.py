"""The producer against a broker that is not there at start, goes away
mid-run and comes back: it waits, says so, loses nothing. Uses a second,
private broker (the shared one must stay up for the other tests)."""
import time
import uuid

import pytest

from conftest import PrivateBroker, Producer
from tecgpy import events, kafka_util


@pytest.fixture
def private_broker(tmp_path, request):
    b = PrivateBroker(request.module.__name__, tmp_path / "kafka-state",
                      prefix=f"o{uuid.uuid4().hex[:8]}.")
    yield b
    b.wipe()


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_unreachable_at_start_and_outage_mid_run(tmp_path, private_broker, codec):
    b = private_broker
    p = Producer(tmp_path, b.bootstrap, b.prefix, "NOR",
                 extra={"shutdown.timeout.ms": 2000})
    p.start()
    evs = events.generate("NOR", 900, seed=21)
    a, bb, c = evs[:300], evs[300:600], evs[600:]

    # 1. No broker: the file waits in incoming/, the log says why.
    p.drop("NOR-a", events.ndjson(a))
    time.sleep(3)
    assert (p.spool / "incoming" / "NOR-a.ndjson").exists()
    wait_for(lambda: "no Kafka broker reachable" in p.log_text(), 30, "unreachable log")

    # 2. The broker appears: everything goes through.
    b.start()
    p.wait_done("NOR-a", timeout=120)

    # 3. The broker goes away mid-run, then comes back.
    b.stop()
    p.drop("NOR-b", events.ndjson(bb))
    time.sleep(3)
    assert (p.spool / "incoming" / "NOR-b.ndjson").exists()
    b.start()
    p.wait_done("NOR-b", timeout=120)

    # 4. SIGTERM while the broker is down: bounded wait, exit 3, the file
    #    stays in incoming/ and goes at the next start.
    b.stop()
    p.drop("NOR-c", events.ndjson(c))
    time.sleep(2)
    t0 = time.time()
    assert p.stop(timeout=60) == 3
    assert time.time() - t0 < 30
    assert (p.spool / "incoming" / "NOR-c.ndjson").exists()
    assert "not acknowledged" in p.log_text()
    b.start()
    p.start()
    p.wait_done("NOR-c", timeout=120)
    assert p.stop() == 0

    msgs = kafka_util.consume_all(b.bootstrap, [b.prefix + "contributions",
                                                b.prefix + "training-completions"],
                                  expected=900, timeout=60)
    ids = [codec.decode(m.value())[1]["event_id"] for m in msgs]
    # Nothing lost. File c may have been partly sent before SIGTERM and is
    # sent again whole: only its events may appear twice (the aggregator
    # counts each event_id once).
    assert set(ids) == {e["event_id"] for e in evs}
    c_ids = {e["event_id"] for e in c}
    dups = [i for i in set(ids) if ids.count(i) > 1]
    assert all(i in c_ids for i in dups), dups
    assert "Kafka acknowledges again" in p.log_text()
