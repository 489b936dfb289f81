"""Each daemon stops within shutdown.timeout.ms of SIGTERM while Kafka is
down, with its documented exit status and nothing lost; and the dashboard
resumes within 10 s of the broker's return. Uses a private broker (the
shared one must stay up for the other tests), stopped with its data kept
(deploy/kafka/stop without --wipe) and started again."""
import json
import socket
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka.admin import AdminClient

from conftest import Daemon, PrivateBroker, Producer, scaled
from tecgpy import events, kafka_util

SHUTDOWN_MS = 3000
# Process start-up, signal delivery and the last poll slice: what may come
# on top of shutdown.timeout.ms.
MARGIN_S = 1.5


@pytest.fixture(scope="module")
def broker(tmp_path_factory, request):
    b = PrivateBroker(request.module.__name__, tmp_path_factory.mktemp("kafka-state-shutdown"))
    b.start()
    yield b
    b.wipe()


@pytest.fixture
def up(broker):
    """The private broker, running, with a fresh topic prefix."""
    if not kafka_util.broker_answers(broker.bootstrap, timeout=5):
        broker.start()
    prefix = f"s{uuid.uuid4().hex[:8]}."
    kafka_util.create_topics(broker.bootstrap, prefix, partitions=3)
    broker.prefix = prefix
    yield broker
    if not kafka_util.broker_answers(broker.bootstrap, timeout=5):
        broker.start()


def wait_for(pred, timeout, what):
    deadline = time.time() + scaled(timeout)
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def timed_stop(proc_owner):
    """SIGTERM; (exit status, seconds until the exit)."""
    t0 = time.monotonic()
    rc = proc_owner.stop(timeout=60)
    return rc, time.monotonic() - t0


def assert_quick(took, what):
    bound = scaled(SHUTDOWN_MS / 1000 + MARGIN_S)
    assert took < bound, f"{what} took {took:.1f} s to stop (bound {bound:.1f} s)"


class BlackHole:
    """A receiver that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def close(self):
        self.sock.close()


def dashboard(tmp_path, b, **settings):
    port_file = tmp_path / f"dashboard-{uuid.uuid4().hex[:6]}.port"
    base = {"http.port": 0, "http.port.file": port_file,
            "shutdown.timeout.ms": SHUTDOWN_MS, "compose.interval.ms": 100}
    base.update(settings)
    d = Daemon(tmp_path, "dashboard", b.bootstrap, b.prefix, base)
    d.port_file = port_file
    return d


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def sink_pending(d, name):
    """tecg_sink_pending of sink `name` in the dashboard's /metrics, or None."""
    try:
        port = int(d.port_file.read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except (OSError, ValueError):
        return None
    for line in text.splitlines():
        if line.startswith(f'tecg_sink_pending{{sink="{name}"}} '):
            return float(line.split()[-1])
    return None


def healthy(d):
    try:
        port = int(d.port_file.read_text())
        return get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
    except (OSError, ValueError):
        return False


def test_producer_stops_in_time_and_keeps_its_file(tmp_path, up, codec):
    b = up
    p = Producer(tmp_path, b.bootstrap, b.prefix, "NOR",
                 extra={"shutdown.timeout.ms": SHUTDOWN_MS})
    evs = events.generate("NOR", 400, seed=31)
    first, second = evs[:100], evs[100:]
    try:
        p.start()
        p.drop("NOR-1", events.ndjson(first))
        p.wait_done("NOR-1", timeout=60)

        # Broker down, a file in flight, SIGTERM.
        b.stop()
        p.drop("NOR-2", events.ndjson(second))
        time.sleep(2)  # read and sent, never acknowledged
        rc, took = timed_stop(p)
        assert rc == 3, p.log_text()
        assert_quick(took, "tecg-producer")
        print(f"producer stopped {took:.2f} s after SIGTERM, Kafka down")
        assert (p.spool / "incoming" / "NOR-2.ndjson").exists()
        assert "NOR-2.ndjson: " in p.log_text()
        assert "not acknowledged" in p.log_text()

        # Broker and producer back: the file goes whole.
        b.start()
        p.start()
        p.wait_done("NOR-2", timeout=120)
        assert p.stop() == 0
    finally:
        if p.proc:
            p.stop()
    msgs = kafka_util.consume_all(b.bootstrap, [b.prefix + "contributions",
                                                b.prefix + "training-completions"],
                                  expected=len(evs), timeout=60)
    ids = {codec.decode(m.value())[1]["event_id"] for m in msgs}
    assert ids == {e["event_id"] for e in evs}


def test_aggregator_stops_in_time(tmp_path, up):
    b = up
    a = Daemon(tmp_path, "aggregator", b.bootstrap, b.prefix,
               {"shutdown.timeout.ms": SHUTDOWN_MS, "batch.max.ms": 50})
    p = Producer(tmp_path, b.bootstrap, b.prefix, "NOR")
    try:
        a.start()
        wait_for(lambda: "assigned" in a.log_text() or not a.alive(), 60,
                 "the aggregator's partitions")
        assert a.alive(), a.log_text()
        # Input in flight while the broker goes: a batch may be open.
        p.start()
        p.drop("NOR-1", events.ndjson(events.generate("NOR", 300, seed=32)))
        p.wait_done("NOR-1", timeout=60)
        b.stop()
        time.sleep(2)
        rc, took = timed_stop(a)
        assert rc == 0, a.log_text()
        assert_quick(took, "tecg-aggregator")
    finally:
        for d in (a, p):
            if d.proc:
                d.proc.kill()
                d.proc.wait()
                d.proc = None


def test_aggregator_stops_in_time_while_init_transactions_cannot_complete(tmp_path):
    """A "broker" that accepts connections and never answers, as one whose
    login keeps failing never lets InitProducerId complete: the aggregator
    is still in init_transactions when SIGTERM comes, and stops within
    shutdown.timeout.ms all the same, with status 0. No broker needed."""
    hole = BlackHole()
    bootstrap = hole.url[len("http://"):].rstrip("/")
    a = Daemon(tmp_path, "aggregator", bootstrap, f"h{uuid.uuid4().hex[:8]}.",
               {"shutdown.timeout.ms": SHUTDOWN_MS, "instance.id": "hole"})
    try:
        a.start()
        time.sleep(scaled(3))
        assert a.alive(), a.log_text()
        assert "started:" not in a.log_text()  # still initialising
        rc, took = timed_stop(a)
        assert rc == 0, a.log_text()
        assert_quick(took, "tecg-aggregator in init_transactions")
        print(f"aggregator stopped {took:.2f} s after SIGTERM in init_transactions")
        assert "init_transactions" in a.log_text()
    finally:
        if a.proc:
            a.proc.kill()
            a.proc.wait()
            a.proc = None
        hole.close()


def test_dashboard_stops_in_time_with_dead_sinks(tmp_path, up):
    """Two sinks that never answer (per-POST timeout 30 s) and no broker:
    one budget for the whole stop, not one per sink."""
    b = up
    holes = [BlackHole(), BlackHole()]
    d = dashboard(tmp_path, b, **{
        "sink.a.url": holes[0].url, "sink.a.timeout.ms": 30000,
        "sink.b.url": holes[1].url, "sink.b.timeout.ms": 30000})
    try:
        d.start()
        wait_for(lambda: healthy(d) or not d.alive(), 60, "the dashboard caught up")
        assert d.alive(), d.log_text()
        # A version reaches the sinks once the dashboards topic holds it
        # (docs/design.md §5.4): the broker goes only after that.
        wait_for(lambda: sink_pending(d, "a") == 4 and sink_pending(d, "b") == 4, 60,
                 "both sinks were offered the four documents")
        b.stop()
        time.sleep(2)
        rc, took = timed_stop(d)
        assert rc == 0, d.log_text()
        assert_quick(took, "tecg-dashboard")
        print(f"dashboard stopped {took:.2f} s after SIGTERM, Kafka and sinks down")
        log = d.log_text()
        assert "a: stopped; 4 dashboard(s) not delivered" in log, log
        assert "b: stopped; 4 dashboard(s) not delivered" in log, log
    finally:
        for h in holes:
            h.close()


def test_dashboard_stops_in_time_during_startup_without_kafka(tmp_path, up):
    b = up
    b.stop()
    d = dashboard(tmp_path, b)
    d.start()
    time.sleep(2)  # in start-up, waiting for metadata
    assert d.alive(), d.log_text()
    rc, took = timed_stop(d)
    assert rc == 0, d.log_text()
    assert_quick(took, "tecg-dashboard in start-up")


def nation_state(nation, version, amount_minor):
    return {"nation": nation, "version": version, "events": version, "as_of": None,
            "funding": [{"channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "EUR",
                         "amount_minor": amount_minor}],
            "equipment_quantity": [], "equipment_values": [], "personnel": [],
            "training": []}


def test_dashboard_resumes_within_10s_of_the_broker(tmp_path, up, codec):
    b = up
    d = dashboard(tmp_path, b)
    kp = None
    try:
        d.start()
        wait_for(lambda: healthy(d) or not d.alive(), 60, "the dashboard caught up")
        port = int(d.port_file.read_text())
        funding = f"http://127.0.0.1:{port}/api/dashboards/funding"
        v0 = get_json(funding)[1]["version"]

        # The dashboard is no consumer group member: static membership
        # (group.instance.id) has nothing to keep for it.
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "log_level": 0})
        group = admin.describe_consumer_groups(["tecg-dashboard"])["tecg-dashboard"]
        assert group.result(timeout=30).members == []

        b.stop()
        time.sleep(20)  # past the session and metadata timeouts that matter
        b.start()
        back = time.monotonic()
        kp = KafkaProducer({"bootstrap.servers": b.bootstrap, "log_level": 0})
        kp.produce(b.prefix + "nation-state", key=b"NOR",
                   value=codec.encode("nation_state", nation_state("NOR", 1, 12345)))
        assert kp.flush(30) == 0
        wait_for(lambda: get_json(funding)[1]["version"] > v0, 30, "the next version")
        took = time.monotonic() - back
        print(f"dashboard: new version on the HTTP API {took:.2f} s after the broker's return")
        assert took <= 10, f"{took:.1f} s after the broker's return"
        assert d.stop() == 0
    finally:
        if d.proc:
            d.stop()
