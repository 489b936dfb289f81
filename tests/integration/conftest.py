"""Shared fixtures for the integration tests, which run against the real
Kafka broker that scripts/test starts (TECG_KAFKA_PORT).

Each test gets its own topic prefix, so tests never see each other's data
and can run in any order."""
import os
import signal
import subprocess
import time
import uuid

import pytest

from tecgpy import avro_frames, kafka_util

ROOT = os.environ.get("TECG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TECG_BUILD_DIR") or os.path.join(ROOT, "build")
PORT = int(os.environ.get("TECG_KAFKA_PORT", "39092"))
BOOTSTRAP = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="session")
def bootstrap():
    if not kafka_util.broker_answers(BOOTSTRAP, timeout=10):
        pytest.fail(f"no Kafka broker at {BOOTSTRAP}: run the tests with "
                    "scripts/test, which starts one")
    return BOOTSTRAP


@pytest.fixture(scope="session")
def codec():
    return avro_frames.Codec(os.path.join(ROOT, "schemas"))


@pytest.fixture
def prefix(bootstrap):
    """A fresh set of tecg topics under a unique prefix."""
    p = f"t{uuid.uuid4().hex[:10]}."
    kafka_util.create_topics(bootstrap, p, partitions=3)
    yield p
    kafka_util.delete_topics(bootstrap, p)


class Producer:
    """A tecg-producer process for one nation with its own spool and config."""

    def __init__(self, tmp_path, bootstrap, prefix, nation, extra=None):
        self.nation = nation
        self.spool = tmp_path / f"spool-{nation}"
        self.config = tmp_path / f"producer-{nation}.conf"
        self.log = tmp_path / f"producer-{nation}.log"
        lines = [
            f"nation = {nation}",
            f"spool.dir = {self.spool}",
            f"nations.file = {ROOT}/deploy/nations.csv",
            f"topic.prefix = {prefix}",
            "spool.scan.interval.ms = 100",
            f"kafka.bootstrap.servers = {bootstrap}",
        ]
        lines += [f"{k} = {v}" for k, v in (extra or {}).items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    @property
    def binary(self):
        return os.path.join(BUILD, "producers", "tecg-producer")

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--config", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=self.logf)
        return self

    def run_stdin(self, data: bytes, timeout=60, args=()):
        return subprocess.run(
            [self.binary, "--config", str(self.config), *args, "-"],
            input=data, capture_output=True, timeout=timeout)

    def drop(self, name, data: bytes):
        """Writes a file the way a national system must: .tmp, then rename."""
        incoming = self.spool / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(incoming / (name + ".ndjson"))

    def wait_done(self, name, timeout=60):
        target = self.spool / "done" / (name + ".ndjson")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if target.exists():
                return target
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"producer exited {self.proc.returncode}:\n"
                                     + self.log_text())
            time.sleep(0.05)
        raise AssertionError(f"{name} not in done/ after {timeout}s:\n"
                             + self.log_text())

    def stop(self, timeout=60):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.logf.close()
        self.proc = None
        return rc

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def rejected(self, name):
        d = self.spool / "rejected"
        errors = d / (name + ".errors")
        lines = d / (name + ".ndjson")
        return (errors.read_text().splitlines() if errors.exists() else [],
                lines.read_bytes() if lines.exists() else b"")


@pytest.fixture
def producer_factory(tmp_path, bootstrap, prefix):
    started = []

    def make(nation, extra=None):
        p = Producer(tmp_path, bootstrap, prefix, nation, extra)
        started.append(p)
        return p
    yield make
    for p in started:
        if p.proc:
            p.stop()


class Daemon:
    """tecg-aggregator or tecg-dashboard with its own config file."""

    def __init__(self, tmp_path, kind, bootstrap, prefix, settings):
        self.kind = kind
        self.config = tmp_path / f"{kind}-{uuid.uuid4().hex[:6]}.conf"
        self.log = tmp_path / f"{kind}.log"
        lines = [f"topic.prefix = {prefix}", f"kafka.bootstrap.servers = {bootstrap}",
                 f"nations.file = {ROOT}/deploy/nations.csv"]
        lines += [f"{k} = {v}" for k, v in settings.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    @property
    def binary(self):
        return os.path.join(BUILD, "consumers", f"tecg-{self.kind}")

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=self.logf)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.logf.close()
        self.proc = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class SinkServer:
    """tests/tools/http_sink_server.py: a receiver of pushed dashboards."""

    def __init__(self, tmp_path, *args):
        self.out = tmp_path / f"sink-{uuid.uuid4().hex[:6]}"
        self.proc = subprocess.Popen(
            ["python3", os.path.join(ROOT, "tests", "tools", "http_sink_server.py"),
             "--port", "0", "--out", str(self.out), *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(self.proc.stdout.readline().split()[-1])
        self.url = f"http://127.0.0.1:{self.port}/"

    def latest(self, name):
        path = self.out / f"{name}.json"
        if not path.exists():
            return None
        import json
        try:
            return json.loads(path.read_text())
        except ValueError:
            return None  # being written

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def daemon_factory(tmp_path, bootstrap, prefix):
    started = []

    def make(kind, **settings):
        settings = {k.replace("__", "."): v for k, v in settings.items()}
        d = Daemon(tmp_path, kind, bootstrap, prefix, settings)
        started.append(d)
        return d
    yield make
    for d in started:
        if d.alive():
            d.stop()


@pytest.fixture
def sink_factory(tmp_path):
    started = []

    def make(*args):
        s = SinkServer(tmp_path, *args)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()
