"""Shared fixtures for the integration tests, which run against the real
Kafka broker that scripts/test starts (TECG_KAFKA_PORT).

Each test gets its own topic prefix, so tests never see each other's data
and can run in any order.

Checked runs (scripts/sanitize, scripts/valgrind-e2e): every tecg binary
the Producer and Daemon fixtures start is prefixed with TECG_WRAPPER (split
like a shell would; "{log}" in it becomes a path unique to that process
start, e.g. --log-file={log}.valgrind). When a process is stopped (or the
fixture tears it down), its stderr log and the wrapper's files are searched
for sanitizer and valgrind reports and the test fails with the excerpt.
TECG_TIMEOUT_SCALE multiplies the fixtures' timeouts (scaled()). Both are
harmless for normal runs: without a wrapper there is nothing to find."""
import glob
import hashlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tecgpy import avro_frames, kafka_util, secure, signing

ROOT = os.environ.get("TECG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TECG_BUILD_DIR") or os.path.join(ROOT, "build")
PORT = int(os.environ.get("TECG_KAFKA_PORT", "19092"))
BOOTSTRAP = f"127.0.0.1:{PORT}"
WRAPPER = shlex.split(os.environ.get("TECG_WRAPPER", ""))
TIMEOUT_SCALE = float(os.environ.get("TECG_TIMEOUT_SCALE") or 1)

_starts = itertools.count(1)

# What a sanitizer prints (ASan, LSan, UBSan) and what valgrind prints
# for an invalid access, whether or not the process ran to its end.
SANITIZER_REPORT = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")
VALGRIND_ERROR = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump"
    r"|Use of uninitialised|Syscall param|Source and destination overlap"
    r"|Argument '.*' of function)", re.M)
# Only a process that ran to its end writes these.
VALGRIND_LOST = re.compile(r"definitely lost: ([\d,]+) bytes")
VALGRIND_SUMMARY = re.compile(r"ERROR SUMMARY: ([\d,]+) errors")


# Private brokers (the shared one must stay up while a test stops its own):
# below the ephemeral range, two ports each (the broker's, its
# controller's), one pair per test module so that modules running at the
# same time (pytest -n) never share one.
PRIVATE_PORT_BASE = PORT % 10000 + 20010
PRIVATE_SLOTS = {"test_broker_outage": 0, "test_aggregator_recovery": 1,
                 "test_shutdown": 2, "test_http_input": 3}


class PrivateBroker:
    """A broker of a test module's own, started and stopped by the test
    (deploy/kafka/start and stop, its data kept between them); wiped by
    wipe(). With a prefix, start creates that prefix's topics."""

    def __init__(self, module, state, prefix=None):
        port = PRIVATE_PORT_BASE + 2 * PRIVATE_SLOTS[module]
        self.bootstrap = f"127.0.0.1:{port}"
        self.prefix = prefix
        self.state = state
        self._env = dict(os.environ, TECG_KAFKA_PORT=str(port), TECG_KAFKA_STATE=str(state))
        self._start = [os.path.join(ROOT, "deploy", "kafka", "start")]
        if prefix:
            self._env.update(TECG_TOPIC_PREFIX=prefix, TECG_PARTITIONS="3")
            self._start.append("--topics")

    def start(self):
        subprocess.run(self._start, env=self._env, check=True, capture_output=True,
                       timeout=180)

    def stop(self):
        subprocess.run([os.path.join(ROOT, "deploy", "kafka", "stop")], env=self._env,
                       check=True, capture_output=True, timeout=120)

    def wipe(self):
        subprocess.run([os.path.join(ROOT, "deploy", "kafka", "stop"), "--wipe"],
                       env=self._env, capture_output=True, timeout=120)
        shutil.rmtree(self.state, ignore_errors=True)


def kafka_settings(role, nation=None):
    """The tecg config settings (kafka.*) a daemon of `role` ("producer" of
    `nation`, "aggregator", "dashboard") needs to log in to the broker
    under test: its SCRAM user's fragment on the secured broker
    (TECG_KAFKA_SECURITY=sasl_ssl, tecgpy/secure.py), none on the plain one."""
    if secure.SECURE:
        binary = os.path.join(BUILD, "producers", "tecg-producer") if role == "producer" \
            else os.path.join(BUILD, "consumers", role, f"tecg-{role}")
        problem = secure.scram_problem(binary)
        if problem:
            pytest.fail(problem, pytrace=False)
    return secure.tecg_settings(secure.user_for(role, nation))


def scaled(seconds):
    """A timeout, longer under valgrind or sanitizers (TECG_TIMEOUT_SCALE)."""
    return seconds * TIMEOUT_SCALE


def wrapped(argv, log):
    """argv behind TECG_WRAPPER, and the base path its "{log}" became (None
    without a wrapper)."""
    if not WRAPPER:
        return list(argv), None
    base = f"{log}.{next(_starts)}"
    return [t.replace("{log}", base) for t in WRAPPER] + list(argv), base


def _excerpt(text, m, before=300, after=3000):
    start = text.rfind("\n", 0, max(0, m.start() - before)) + 1
    return text[start:m.start() + after]


def find_reports(text, killed=False):
    """Sanitizer or valgrind findings in a process's output, as excerpts.
    A SIGKILLed process never got to its exit-time checks (leaks, valgrind's
    summaries): only errors reported while it ran count then."""
    found = []
    for pattern in (SANITIZER_REPORT, VALGRIND_ERROR):
        m = pattern.search(text)
        if m and not (killed and "LeakSanitizer" in m.group(0)):
            found.append(_excerpt(text, m))
    if not killed:
        for pattern in (VALGRIND_LOST, VALGRIND_SUMMARY):
            for m in pattern.finditer(text):
                if int(m.group(1).replace(",", "")) > 0:
                    found.append(_excerpt(text, m, before=4000, after=200))
                    break
    return found


def check_reports(what, rc, texts):
    """Fails the test when a sanitizer or valgrind reported something.
    texts: (label, text) pairs; rc: the exit status (-9 = SIGKILLed)."""
    killed = rc == -signal.SIGKILL
    problems = []
    for label, text in texts:
        for excerpt in find_reports(text, killed=killed):
            problems.append(f"--- {label}:\n{excerpt}")
    if problems:
        pytest.fail(f"{what} (exit status {rc}): sanitizer/valgrind report\n"
                    + "\n".join(problems), pytrace=False)


def wrapper_texts(base):
    """The files the wrapper wrote for one process start: "{log}" (= base)
    itself or "{log}.SUFFIX"."""
    if not base:
        return []
    out = []
    for path in [base] + sorted(glob.glob(glob.escape(base) + ".*")):
        if os.path.isfile(path):
            with open(path, errors="replace") as f:
                out.append((path, f.read()))
    return out


def log_since(path, offset):
    """What a process appended to its log since it started."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def log_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


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
    if secure.SECURE:
        # The ACLs of the pipeline's users for this prefix's topics, from
        # the one table deploy/kafka/start --secure uses.
        res = subprocess.run([os.path.join(ROOT, "deploy", "kafka", "topics"), "--port",
                              str(PORT), "--prefix", p, "--partitions", "3", "--acls"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"deploy/kafka/topics --acls failed:\n{res.stderr}"
    yield p
    kafka_util.delete_topics(bootstrap, p)


def signing_settings(kind, nation=None):
    """Signed national reports (docs/design.md §9.1): the settings that give
    a producer its nation's key and an aggregator the keyring, from keys
    made once per session (tecgpy/signing.py), so every test runs with
    signatures required."""
    keys = signing.session_keys()
    if kind == "producer" and nation in keys.keys:
        return {"security.signing.key": keys.keys[nation].path,
                "security.keyring": keys.keyring}
    if kind == "aggregator":
        return {"security.keyring": keys.keyring}
    return {}


def stop_all(processes):
    """Fixture teardown: stops every process still running or exited by
    itself (so its log is checked too), then reports what was found."""
    reports, error = [], None
    for p in processes:
        if p.proc:
            try:
                p.stop()
            except pytest.fail.Exception as e:
                reports.append(str(e))
            except Exception as e:
                error = error or e
    if reports:
        pytest.fail("\n".join(reports), pytrace=False)
    if error:
        raise error



def stop_process(p, label, sig, timeout):
    """Signals a started tecg process (Producer or Daemon), waits for it
    (killing it past the timeout), then fails the test on any sanitizer or
    valgrind report in what it logged since it started. Returns the exit
    status seen within the timeout (None if it had to be killed)."""
    if not p.proc:
        return None
    p.proc.send_signal(sig)
    try:
        rc = p.proc.wait(scaled(timeout))
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
        p.logf.close()
    rc_final, p.proc = p.proc.returncode, None
    check_reports(label, rc_final,
                  [(str(p.log), log_since(p.log, p.log_start))]
                  + wrapper_texts(p.wrap_base))
    return rc


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
        settings = {**kafka_settings("producer", nation), **signing_settings("producer", nation),
                    **(extra or {})}
        lines += [f"{k} = {v}" for k, v in settings.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    @property
    def binary(self):
        return os.path.join(BUILD, "producers", "tecg-producer")

    def start(self):
        self.log_start = log_size(self.log)
        argv, self.wrap_base = wrapped([self.binary, "--config", str(self.config)],
                                       self.log)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.logf)
        return self

    def without_spool(self):
        """Its config for stdin alone: no spool.dir."""
        self.config.write_text("".join(line for line in self.config.read_text().splitlines(True)
                                       if not line.startswith("spool.dir")))
        return self

    def run_stdin(self, data: bytes, timeout=60, args=()):
        argv, base = wrapped([self.binary, "--config", str(self.config), *args, "-"],
                             str(self.log) + ".stdin")
        res = subprocess.run(argv, input=data, capture_output=True,
                             timeout=scaled(timeout))
        check_reports(f"tecg-producer {self.nation} (stdin)", res.returncode,
                      [("stderr", res.stderr.decode(errors="replace"))]
                      + wrapper_texts(base))
        return res

    def drop(self, name, data: bytes):
        """Writes a file the way a national system must: .tmp, then rename."""
        incoming = self.spool / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(incoming / (name + ".ndjson"))

    def wait_done(self, name, timeout=60):
        target = self.spool / "done" / (name + ".ndjson")
        deadline = time.time() + scaled(timeout)
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
        return stop_process(self, f"tecg-producer {self.nation}", signal.SIGTERM, timeout)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

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
    stop_all(started)


def dashboard_signing_key(tmp_path):
    """A signing key for tecg-dashboard (docs/design.md §9.2), made once per
    test directory with its --keygen: the dashboard refuses to start
    without one unless security.signing=off."""
    path = tmp_path / "dashboard-signing.key"
    if not path.exists():
        subprocess.run([os.path.join(BUILD, "consumers", "dashboard", "tecg-dashboard"),
                        "--keygen", "--key-id", "test-dashboard", "--out", str(path)],
                       check=True, capture_output=True, timeout=30)
    return path


# The dashboard answers operators with a bearer token only (docs/design.md
# §5.6): one token for the run, granted every route in a tokens file each
# test's dashboard reads, and sent by every urllib request of the tests.
DASHBOARD_TOKEN = os.urandom(32).hex()


class _DashboardBearer(urllib.request.BaseHandler):
    handler_order = 100

    def http_request(self, req):
        if not req.has_header("Authorization"):
            req.add_unredirected_header("Authorization", f"Bearer {DASHBOARD_TOKEN}")
        return req

    https_request = http_request


urllib.request.install_opener(urllib.request.build_opener(_DashboardBearer()))


def dashboard_tokens_file(directory, name="tests", routes="*"):
    """A tokens file granting DASHBOARD_TOKEN `routes`, mode 0600."""
    path = directory / f"dashboard-tokens-{name}"
    digest = hashlib.sha256(DASHBOARD_TOKEN.encode()).hexdigest()
    path.write_text(f"{name}  sha256:{digest}  {routes}\n")
    path.chmod(0o600)
    return path


def aggregator_group(prefix):
    """The consumer group of the aggregators the fixtures start for
    `prefix`: one per prefix (the secured broker's ACLs grant the
    default group only; its tests run one at a time)."""
    return "tecg-aggregator" if secure.SECURE else f"{prefix}aggregator"


class Daemon:
    """tecg-aggregator or tecg-dashboard with its own config file."""

    def __init__(self, tmp_path, kind, bootstrap, prefix, settings):
        if kind == "dashboard":
            settings = {"security.signing.key": dashboard_signing_key(tmp_path), **settings}
        if kind == "dashboard" and "http.auth" not in settings:
            settings = {"http.auth.tokens": dashboard_tokens_file(tmp_path), **settings}
        self.kind = kind
        self.config = tmp_path / f"{kind}-{uuid.uuid4().hex[:6]}.conf"
        self.log = tmp_path / f"{kind}.log"
        lines = [f"topic.prefix = {prefix}", f"kafka.bootstrap.servers = {bootstrap}",
                 f"nations.file = {ROOT}/deploy/nations.csv"]
        if kind == "aggregator":
            # Test files run two at a time on the shared broker: an
            # aggregator's transactional id and group are the broker's, not
            # the prefix's, so each prefix gets its own, or one test's
            # aggregator fences or rebalances another's.
            settings = {"instance.id": "i" + prefix.rstrip("."),
                        **({"group.id": aggregator_group(prefix)} if not secure.SECURE else {}),
                        **settings}
        if kind == "aggregator" and "store.dir" not in settings:
            # docs/design.md §4.4: one id store per instance, kept across
            # restarts of this daemon (a restart catches up from it).
            settings = {"store.dir": tmp_path / f"aggregator-store-{uuid.uuid4().hex[:6]}",
                        **settings}
        settings = {**kafka_settings(kind), **signing_settings(kind), **settings}
        lines += [f"{k} = {v}" for k, v in settings.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None

    @property
    def binary(self):
        return os.path.join(BUILD, "consumers", self.kind, f"tecg-{self.kind}")

    def start(self):
        self.log_start = log_size(self.log)
        argv, self.wrap_base = wrapped([self.binary, "--config", str(self.config)],
                                       self.log)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.logf)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        return stop_process(self, f"tecg-{self.kind}", sig, timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class SinkServer:
    """tests/tools/http_sink_server.py: a receiver of pushed dashboards."""

    def __init__(self, tmp_path, *args):
        self.out = tmp_path / f"sink-{uuid.uuid4().hex[:6]}"
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "tools", "http_sink_server.py"),
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
    stop_all(started)


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


# ------------------------------------------------------- schema registry

REGISTRY_PORT = int(os.environ.get("TECG_REGISTRY_PORT") or PORT + 50)


def _registry_ready(base):
    try:
        with urllib.request.urlopen(f"{base}/health/ready", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def registry():
    """The Confluent-compatible URL of a real schema registry (Apicurio,
    deploy/registry/): TECG_REGISTRY_URL when scripts/test started one,
    else one that is up on TECG_REGISTRY_PORT (default broker port + 50),
    else one started here for the session (and stopped, wiped, after it).
    Every test's subjects carry its own topic prefix, so tests share it."""
    url = os.environ.get("TECG_REGISTRY_URL")
    if url:
        yield url.rstrip("/")
        return
    base = f"http://127.0.0.1:{REGISTRY_PORT}"
    env = dict(os.environ, TECG_REGISTRY_PORT=str(REGISTRY_PORT))
    env.setdefault("TECG_REGISTRY_STATE", os.path.join(BUILD, f"registry-state-{REGISTRY_PORT}"))
    started = not _registry_ready(base)
    # start also sets the compatibility rule on a registry that was up.
    res = subprocess.run([os.path.join(ROOT, "deploy", "registry", "start")], env=env,
                         capture_output=True, text=True, timeout=scaled(300))
    if res.returncode != 0:
        pytest.fail(f"deploy/registry/start failed:\n{res.stderr}", pytrace=False)
    yield res.stdout.strip()
    if started:
        subprocess.run([os.path.join(ROOT, "deploy", "registry", "stop"), "--wipe"], env=env,
                       capture_output=True, timeout=60)
