"""tecg-aggregator through crashes and broker outages on the real broker:
a SIGKILL'd instance restarted with the same instance.id (static
membership) resumes within 10 s; a broker outage longer than
transaction.timeout.ms with a transaction open does not end it and counts
everything exactly once when the broker returns; SIGTERM while the broker
is down ends it within shutdown.timeout.ms with status 0, and the next
start counts what was left. Counts are checked on the dashboard's
documents against a model of every event sent (tecgpy/model.py).

The outage test uses a private broker on its own port (the shared one must
stay up for the other tests), stopped without --wipe so that it comes back
with its data. Each measured time is printed (pytest -s shows them)."""
import signal
import threading
import time
import uuid

import pytest

from conftest import Daemon, PrivateBroker, Producer, stop_all
from tecgpy import events
from tecgpy.model import Model, check_documents
from test_pipeline import documents, feed, http_port, wait_documents

NATIONS = ["FRA", "DEU", "NOR"]
RESUME_S = 10


def dashboard_for(tmp_path, bootstrap, prefix):
    d = Daemon(tmp_path, "dashboard", bootstrap, prefix,
               {"http.port": 0, "compose.interval.ms": 50})
    d.config.write_text(d.config.read_text()
                        + f"http.port.file = {d.config.with_suffix('.port')}\n")
    return d.start()


def drop_all(producers, model, evs_by_nation, name):
    for n, p in producers.items():
        for e in evs_by_nation[n]:
            model.add(e)
        p.drop(name, events.ndjson(evs_by_nation[n]))


def wait_started(daemon, starts, timeout=30):
    """Until the log shows `starts` start lines (signal handlers are in
    place by then)."""
    deadline = time.time() + timeout
    while daemon.log_text().count("INFO main: started") < starts:
        assert daemon.alive(), daemon.log_text()[-4000:]
        assert time.time() < deadline, "not started:\n" + daemon.log_text()[-4000:]
        time.sleep(0.05)


class Feeder:
    """Drops a file of `per_file` events per nation every `interval` s
    until stopped: events flow through whatever happens meanwhile, so the
    aggregator is inside a transaction when the broker goes away."""

    def __init__(self, producers, model, tag, per_file=300, interval=0.2):
        self.producers, self.model, self.tag = producers, model, tag
        self.per_file, self.interval = per_file, interval
        self.names = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stopped.is_set():
            name = f"{self.tag}{i:03d}"
            evs = {n: events.generate(n, self.per_file, seed=len(n) * 100 + i,
                                      id_prefix=f"{n}-{name}-")
                   for n in self.producers}
            drop_all(self.producers, self.model, evs, name)
            self.names.append(name)
            i += 1
            self.stopped.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()

    def wait_done(self, timeout=120):
        for p in self.producers.values():
            for name in self.names:
                p.wait_done(name, timeout=timeout)


def test_sigkill_restart_with_the_same_instance_id_resumes_within_10s(
        producer_factory, daemon_factory, bootstrap, prefix, tmp_path):
    producers = {n: producer_factory(n).start() for n in NATIONS}
    # Transactions of at most 2000 events: the files below take a few
    # seconds to count, so the kill lands while events flow.
    aggregator = daemon_factory("aggregator", instance__id="agg-restart",
                                batch__max__ms=50, batch__max__messages=2000)
    aggregator.start()
    dashboard = dashboard_for(tmp_path, bootstrap, prefix)
    daemons = [dashboard]
    try:
        port = http_port(dashboard)
        model = Model()
        first = {n: events.generate(n, 200, seed=len(n) + 3, id_prefix=f"{n}-a")
                 for n in NATIONS}
        feed(producers, model, first, "a")
        wait_documents(port, model)

        # Events flowing: a large file per nation; the aggregator is killed
        # while it counts them, with a transaction open or about to be.
        second = {n: events.generate(n, 10000, seed=len(n) + 5, id_prefix=f"{n}-b")
                  for n in NATIONS}
        versions = {n: d["version"] for n, d in documents(port).items()}
        drop_all(producers, model, second, "b")
        deadline = time.time() + 30
        while all(d["version"] == versions[n] for n, d in documents(port).items()):
            assert time.time() < deadline, "nothing of the large files counted"
            time.sleep(0.05)
        assert aggregator.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        at_kill = documents(port)
        t_start = time.time()
        aggregator.start()
        wait_started(aggregator, 2)
        for p in producers.values():
            p.wait_done("b")
        wait_documents(port, model, timeout=60)
        resumed = time.time() - t_start
        assert check_documents(model, at_kill), "the kill was not while events flowed"
        print(f"\naggregator SIGKILL + restart (same instance.id): all counted "
              f"{resumed:.1f} s after the new process started")
        assert aggregator.alive(), aggregator.log_text()
        assert resumed < RESUME_S, (
            f"counted {resumed:.1f} s after the restart:\n" + aggregator.log_text()[-4000:])
        assert aggregator.stop() == 0
    finally:
        stop_all(daemons)


def test_a_second_process_with_the_same_instance_id_ends_the_first(
        producer_factory, daemon_factory, bootstrap, prefix, tmp_path):
    """Two aggregators named alike share group.instance.id and
    transactional.id: the broker fences the older group member, which says
    why and exits 1; the newer one goes on counting, once."""
    producers = {n: producer_factory(n).start() for n in NATIONS}
    older = daemon_factory("aggregator", instance__id="agg-twin", batch__max__ms=50).start()
    wait_started(older, 1)
    newer = daemon_factory("aggregator", instance__id="agg-twin", batch__max__ms=50)
    newer.log = tmp_path / "aggregator-newer.log"
    dashboard = dashboard_for(tmp_path, bootstrap, prefix)
    try:
        port = http_port(dashboard)
        model = Model()
        first = {n: events.generate(n, 200, seed=len(n) + 23, id_prefix=f"{n}-a")
                 for n in NATIONS}
        feed(producers, model, first, "a")
        wait_documents(port, model)
        newer.start()
        wait_started(newer, 1)
        deadline = time.time() + 30
        while older.alive():
            assert time.time() < deadline, "the older instance is still running"
            time.sleep(0.1)
        assert older.proc.returncode == 1
        assert "joined the group with this instance's group.instance.id" in older.log_text()
        second = {n: events.generate(n, 200, seed=len(n) + 29, id_prefix=f"{n}-b")
                  for n in NATIONS}
        feed(producers, model, second, "b")
        wait_documents(port, model)
        assert newer.alive(), newer.log_text()[-4000:]
        assert newer.stop() == 0
    finally:
        stop_all([dashboard])


@pytest.fixture
def private_broker(tmp_path, request):
    b = PrivateBroker(request.module.__name__, tmp_path / "kafka-state",
                      prefix=f"r{uuid.uuid4().hex[:8]}.")
    yield b
    b.wipe()


TXN_TIMEOUT_MS = 10000
SHUTDOWN_MS = 5000


def test_outage_longer_than_the_transaction_timeout_and_sigterm_while_down(
        tmp_path, private_broker):
    b = private_broker
    b.start()
    producers = {n: Producer(tmp_path, b.bootstrap, b.prefix, n,
                             extra={"shutdown.timeout.ms": 2000}).start()
                 for n in NATIONS}
    aggregator = Daemon(tmp_path, "aggregator", b.bootstrap, b.prefix, {
        "instance.id": "agg-outage", "batch.max.ms": 50,
        "kafka.transaction.timeout.ms": TXN_TIMEOUT_MS,
        "shutdown.timeout.ms": SHUTDOWN_MS}).start()
    dashboard = dashboard_for(tmp_path, b.bootstrap, b.prefix)
    daemons = list(producers.values()) + [aggregator, dashboard]
    wait_started(aggregator, 1)
    try:
        port = http_port(dashboard)
        model = Model()
        first = {n: events.generate(n, 200, seed=len(n) + 11, id_prefix=f"{n}-a")
                 for n in NATIONS}
        feed(producers, model, first, "a")
        wait_documents(port, model)

        # 1. The broker goes away while events flow (the aggregator is
        #    inside a transaction it cannot commit) and stays away longer
        #    than transaction.timeout.ms: the broker aborts that transaction
        #    when it returns and fences its producer epoch.
        # Files big and frequent enough that the aggregator spends most of
        # its time inside transactions when the broker goes.
        with Feeder(producers, model, "b", per_file=2000, interval=0.1) as feeder:
            time.sleep(2.0)
            b.stop()
        time.sleep(TXN_TIMEOUT_MS / 1000 + 5)
        assert aggregator.alive(), aggregator.log_text()[-4000:]
        b.start()
        t_up = time.time()
        feeder.wait_done()
        wait_documents(port, model, timeout=120)
        caught_up = time.time() - t_up
        log = aggregator.log_text()
        print(f"\nbroker down {TXN_TIMEOUT_MS / 1000 + 5:.0f} s (> transaction.timeout.ms): "
              f"all counted {caught_up:.1f} s after the broker answered again; "
              f"new transactional producers: "
              f"{log.count('a new transactional producer took over')}, "
              f"aborts: {log.count('aborting the transaction')}, transactional calls "
              f"that waited: {log.count('still trying after')}")
        assert aggregator.alive(), log[-4000:]
        assert "exiting" not in log
        assert caught_up < RESUME_S, f"counted {caught_up:.1f} s after the broker returned"

        # 2. SIGTERM while the broker is down: out within
        #    shutdown.timeout.ms, status 0; the next start counts the rest.
        with Feeder(producers, model, "c") as feeder:
            time.sleep(2.0)
            b.stop()
        time.sleep(2.0)
        t0 = time.time()
        rc = aggregator.stop(timeout=60)
        took = time.time() - t0
        print(f"SIGTERM with the broker down: exit status {rc} after {took:.1f} s "
              f"(shutdown.timeout.ms = {SHUTDOWN_MS})")
        assert rc == 0, aggregator.log_text()[-4000:]
        # Within the timeout (plus this test's own reaction time). A stop
        # inside librdkafka 2.0.2's send_offsets_to_transaction, which
        # ignores its timeout while the coordinator is down, is ended by
        # main's watchdog, still with status 0.
        assert took < SHUTDOWN_MS / 1000 + 0.3
        print("  (ended by the watchdog)" if "without finishing the cleanup"
              in aggregator.log_text() else "  (clean stop)")
        b.start()
        t_start = time.time()
        aggregator.start()
        wait_started(aggregator, 2)
        feeder.wait_done()
        wait_documents(port, model, timeout=120)
        print(f"restart after the SIGTERM: all counted {time.time() - t_start:.1f} s "
              f"after the new process started")
        assert aggregator.stop() == 0
    finally:
        stop_all(daemons)
