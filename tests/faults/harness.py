"""The pieces a fault scenario is made of: the broker or cluster
(deploy/kafka/*), the real daemons from the build directory, the sink, the
feeder of spool files, and the wait for the dashboards to catch up."""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from workload import DASHBOARDS, Expected, compare, unit_events
from tecgpy import events as tevents
from tecgpy import signing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
KAFKA = os.path.join(ROOT, "deploy", "kafka")
NATIONS_FILE = os.path.join(ROOT, "deploy", "nations.csv")


def log(msg):
    print(f"faults: {msg}", file=sys.stderr, flush=True)


class ScenarioError(Exception):
    """A scenario could not be carried out as written (not a count error)."""


class Skip(Exception):
    """The machine does not allow this scenario; the message says why."""


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- Kafka --------------------------------------------------------------


class Kafka:
    """A broker (nodes=1) or a KRaft cluster (nodes=3) started with
    deploy/kafka/start under the harness's own port and state directory."""

    def __init__(self, port, state, nodes=1, props=()):
        self.port, self.state, self.nodes = port, state, nodes
        self.props = list(props)
        self.bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(nodes))
        self.env = dict(os.environ, TECG_KAFKA_PORT=str(port), TECG_KAFKA_STATE=state)
        self.env.pop("TECG_KAFKA_CONTROLLER_PORT", None)

    def _run(self, argv, timeout=240, env=None, check=True):
        res = subprocess.run(argv, env=env or self.env, capture_output=True, text=True,
                             timeout=timeout)
        if check and res.returncode != 0:
            raise ScenarioError(f"{' '.join(argv)} failed ({res.returncode}):\n"
                                f"{res.stderr[-3000:]}")
        return res

    def start(self):
        argv = [os.path.join(KAFKA, "start")]
        if self.nodes > 1:
            argv += ["--nodes", str(self.nodes)]
        for p in self.props:
            argv += ["--set", p]
        res = self._run(argv)
        out = res.stdout.strip().splitlines()
        if out:
            self.bootstrap = out[-1].strip()
        return self.bootstrap

    def stop(self, wipe=True):
        self._run([os.path.join(KAFKA, "stop")] + (["--wipe"] if wipe else []), check=False)

    def topics(self, prefix):
        argv = [os.path.join(KAFKA, "topics"), "--bootstrap", self.bootstrap]
        if self.nodes > 1:
            argv += ["--replication-factor", "3", "--min-insync-replicas", "2"]
        env = dict(self.env, TECG_TOPIC_PREFIX=prefix)
        self._run(argv, env=env)

    # Faults on one node (1..nodes; node.id = n, broker on port + n - 1):
    # kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT), start.
    def node(self, n, action):
        self._run([os.path.join(KAFKA, "node"), "--port", str(self.port), str(n), action])

    def node_port(self, n):
        return self.port + n - 1


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# --- processes ----------------------------------------------------------


class Proc:
    """One of the real daemons, with its config file and its stderr log."""

    def __init__(self, name, binary, config_lines, workdir, wrap=()):
        self.name, self.binary = name, binary
        self.config = os.path.join(workdir, f"{name}.conf")
        self.log = os.path.join(workdir, f"{name}.log")
        self.wrap = list(wrap)
        # Later "key = value" lines replace earlier ones: a daemon refuses a
        # key set twice.
        settings = {}
        for line in config_lines:
            key, value = (x.strip() for x in line.split("=", 1))
            settings[key] = value
        with open(self.config, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.proc = None
        self.exits = []        # exit statuses of earlier runs

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise ScenarioError(f"{self.binary} is not built")
        logf = open(self.log, "ab")
        logf.write(f"--- faults: start at {time.strftime('%H:%M:%S')}\n".encode())
        logf.flush()
        self.exit_time = None
        self.proc = subprocess.Popen(self.wrap + [self.binary, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=logf, start_new_session=True)
        logf.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def _wait(self, timeout):
        """Waits for the exit and notes when it was seen (polled, so that
        several processes signalled at once are each timed right)."""
        deadline = time.time() + timeout
        while self.proc.poll() is None:
            if time.time() > deadline:
                raise subprocess.TimeoutExpired(self.binary, timeout)
            time.sleep(0.02)
        self.exit_time = time.time()
        return self.proc.returncode

    def kill(self):
        """SIGKILL, then reaped."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.kill()
        rc = self.proc.wait()
        self.exits.append(rc)
        self.proc = None
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal, wait up to timeout; returns (exit status, seconds) or
        (None, seconds) when it had to be killed."""
        if self.proc is None:
            return None, 0.0
        t0 = time.time()
        self.send(sig)
        try:
            rc = self._wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.proc.kill()
            self.proc.wait()
        took = time.time() - t0
        self.exit_time = self.exit_time or time.time()
        self.exits.append(rc if rc is not None else self.proc.returncode)
        self.proc = None
        return rc, took

    def tail(self, lines=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def build_binary(build, *parts):
    return os.path.join(build, *parts)


class Producer(Proc):
    def __init__(self, env, nation, extra=()):
        self.nation = nation
        self.spool = os.path.join(env.workdir, f"spool-{nation}")
        os.makedirs(os.path.join(self.spool, "incoming"), exist_ok=True)
        lines = [f"nation = {nation}", f"spool.dir = {self.spool}",
                 f"nations.file = {NATIONS_FILE}", f"topic.prefix = {env.prefix}",
                 "spool.scan.interval.ms = 100", "shutdown.timeout.ms = 5000",
                 "spool.retry.interval.ms = 1000",
                 f"kafka.bootstrap.servers = {env.kafka.bootstrap}",
                 # Signed reports (docs/design.md §9.1): keys made per run.
                 f"security.signing.key = {signing.session_keys(env.build).keys[nation].path}",
                 f"security.keyring = {signing.session_keys(env.build).keyring}", *extra]
        super().__init__(f"producer-{nation}",
                         build_binary(env.build, "producers", "tecg-producer"),
                         lines, env.workdir)

    def drop(self, name, data):
        """As a national system must: NAME.tmp, then the rename."""
        incoming = os.path.join(self.spool, "incoming")
        tmp = os.path.join(incoming, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(incoming, name + ".ndjson"))

    def pending(self):
        """Files still in incoming/ (not fully acknowledged)."""
        try:
            return sorted(f for f in os.listdir(os.path.join(self.spool, "incoming"))
                          if f.endswith(".ndjson"))
        except FileNotFoundError:
            return []


class Aggregator(Proc):
    def __init__(self, env, instance, extra=()):
        lines = [f"instance.id = {env.prefix}{instance}", f"group.id = {env.prefix}agg",
                 f"nations.file = {NATIONS_FILE}", f"topic.prefix = {env.prefix}",
                 "batch.max.ms = 100", f"kafka.bootstrap.servers = {env.kafka.bootstrap}",
                 f"security.keyring = {signing.session_keys(env.build).keyring}",
                 # Its id store (docs/design.md §4.4): a killed instance
                 # restarts on it and catches up from its marker.
                 f"store.dir = {os.path.join(env.workdir, f'aggregator-{instance}-store')}",
                 *extra]
        super().__init__(f"aggregator-{instance}",
                         build_binary(env.build, "consumers", "aggregator", "tecg-aggregator"),
                         lines, env.workdir)


class Dashboard(Proc):
    """The dashboard listens on a port the kernel picks (http.port = 0) and
    writes it to http.port.file: a fixed port in the ephemeral range can be
    held by any client socket of the machine at that moment."""

    def __init__(self, env, port, sink_url=None, extra=()):
        del port  # the kernel's choice, read from the port file
        self.port_file = os.path.join(env.workdir, "dashboard.port")
        lines = [f"nations.file = {NATIONS_FILE}", f"topic.prefix = {env.prefix}",
                 "http.address = 127.0.0.1", "http.port = 0",
                 f"http.port.file = {self.port_file}",
                 f"kafka.bootstrap.servers = {env.kafka.bootstrap}", *extra]
        if sink_url:
            lines += [f"sink.faults.url = {sink_url}", "sink.faults.backoff.max.ms = 2000"]
        binary = build_binary(env.build, "consumers", "dashboard", "tecg-dashboard")
        # Documents are signed (docs/design.md §9.2): a key of its own.
        key = os.path.join(env.workdir, "dashboard-signing.key")
        if not os.path.exists(key):
            subprocess.run([binary, "--keygen", "--key-id", "faults", "--out", key],
                           check=True, capture_output=True, timeout=30)
        lines.append(f"security.signing.key = {key}")
        # Operators need a token (docs/design.md §5.6): one for the harness,
        # every route, only its hash in the tokens file.
        self.token = os.urandom(32).hex()
        tokens = os.path.join(env.workdir, "dashboard-tokens")
        with open(os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"faults  sha256:{hashlib.sha256(self.token.encode()).hexdigest()}  *\n")
        lines.append(f"http.auth.tokens = {tokens}")
        super().__init__("dashboard", binary, lines, env.workdir)

    def start(self):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        return super().start()

    @property
    def port(self):
        """The port of the running dashboard; an error (caught by the
        callers' polling like any failed request) until it has written it."""
        try:
            with open(self.port_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError) as e:
            raise OSError(f"the dashboard has not written its port yet: {e}") from e

    def documents(self):
        out = {}
        port = self.port
        for n in DASHBOARDS:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/dashboards/{n}",
                                         headers={"Authorization": f"Bearer {self.token}"})
            with urllib.request.urlopen(req, timeout=5) as r:
                out[n] = json.loads(r.read())
        return out


class Sink:
    """tests/tools/http_sink_server.py on a fixed port; every accepted
    document is appended to OUT/received.ndjson, across restarts."""

    def __init__(self, env, port):
        self.port = port
        self.out = os.path.join(env.workdir, "sink")
        self.url = f"http://127.0.0.1:{port}/"
        self.log = os.path.join(env.workdir, "sink.log")
        self.proc = None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "tools", "http_sink_server.py"),
             "--port", str(self.port), "--out", self.out],
            stdout=subprocess.PIPE, stderr=logf, text=True, start_new_session=True)
        logf.close()
        line = self.proc.stdout.readline()
        if not line:
            raise ScenarioError(f"the sink did not start on port {self.port}")
        return self

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def stats(self):
        return self._get("/stats")

    def latest(self, name):
        try:
            return self._get(f"/dashboards/{name}")
        except urllib.error.HTTPError:
            return None

    def received(self):
        path = os.path.join(self.out, "received.ndjson")
        try:
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


# --- the environment of one scenario ------------------------------------


class Env:
    """Everything one scenario runs in: its topics (a unique prefix on the
    shared broker or cluster), work directory, daemons and workload."""

    def __init__(self, run, name, kafka):
        self.run, self.name, self.kafka = run, name, kafka
        self.build = run.build
        self.prefix = f"f{int(time.time()) % 100000}{name[:12].replace('-', '')}."
        self.workdir = os.path.join(run.workdir, name)
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        self.procs = []
        self.sinks = []
        self.expected = Expected()
        self.files = []            # (producer, name, bytes) not dropped yet
        self.feeder = None
        self.feed_paused = False
        self.feed_lock = threading.Lock()
        self.max_double = 0
        self.notes = []
        self.cleanups = []         # run after the daemons are stopped
        kafka.topics(self.prefix)

    def note(self, msg):
        log(f"{self.name}: {msg}")
        self.notes.append(msg)

    # Daemons ------------------------------------------------------------
    def producer(self, nation, extra=()):
        p = Producer(self, nation, extra)
        self.procs.append(p)
        return p

    def aggregator(self, instance="a", extra=()):
        a = Aggregator(self, instance, extra)
        self.procs.append(a)
        return a

    def dashboard(self, sink=None, extra=()):
        d = Dashboard(self, self.run.port_for("http"), sink.url if sink else None, extra)
        self.procs.append(d)
        return d

    def sink(self):
        s = Sink(self, self.run.port_for("sink"))
        self.sinks.append(s)
        return s

    def teardown(self):
        for p in self.procs:
            if p.alive():
                p.stop(signal.SIGKILL, timeout=10)
        for s in self.sinks:
            s.stop()
        for c in reversed(self.cleanups):
            c()

    # Workload -----------------------------------------------------------
    def workload(self, producers, events_per_nation, files_per_nation, seed=7,
                 bad_every=0):
        """Generates the events, splits them into spool files (kept here,
        dropped by feed()/drop_all()); bad_every > 0 adds an invalid line
        after every bad_every-th event (rejected by the producer, never
        counted)."""
        for k, p in enumerate(producers):
            evs = unit_events(p.nation, events_per_nation, seed=seed + k,
                              id_prefix=f"{self.name[:8]}-")
            for ev in evs:
                self.expected.add(ev)
            per = -(-len(evs) // files_per_nation)
            for f in range(files_per_nation):
                chunk = evs[f * per:(f + 1) * per]
                if not chunk:
                    continue
                data = tevents.ndjson(chunk)
                if bad_every:
                    lines = data.splitlines(keepends=True)
                    out = []
                    for i, line in enumerate(lines, 1):
                        out.append(line)
                        if i % bad_every == 0:
                            out.append(b'{"type": "funding", "event_id": "bad"}\n')
                    data = b"".join(out)
                self.files.append((p, f"{p.nation}-{f:04d}", data))
        # Interleave the nations so that a feed spreads over all of them.
        self.files.sort(key=lambda x: (x[1].split("-")[1], x[0].nation))

    def feed(self, seconds):
        """Drops the files evenly over `seconds` in a thread: load while the
        faults happen. drop_all() drops the rest at once."""
        files = list(self.files)
        gap = seconds / max(1, len(files))

        def run():
            for item in files:
                while self.feed_paused:
                    time.sleep(0.05)
                with self.feed_lock:
                    if item not in self.files:
                        continue
                    self.files.remove(item)
                    p, name, data = item
                    p.drop(name, data)
                time.sleep(gap)
        self.feeder = threading.Thread(target=run, daemon=True)
        self.feeder.start()

    def drop_all(self):
        with self.feed_lock:
            for p, name, data in self.files:
                p.drop(name, data)
            self.files.clear()

    def pending_files(self):
        return sum(len(p.pending()) for p in self.procs if isinstance(p, Producer))

    # The check ----------------------------------------------------------
    def check(self, dashboard):
        """(lost, double, diffs, model_diffs) now, or None when the
        dashboard does not answer."""
        try:
            docs = dashboard.documents()
        except (OSError, ValueError):
            return None
        lost, double, diffs, model_diffs = compare(self.expected, docs)
        self.max_double = max(self.max_double, double)
        return lost, double, diffs, model_diffs

    def wait_caught_up(self, dashboard, since, deadline, also=None):
        """Polls the dashboard until its documents equal the model (and
        `also()` holds, when given); returns seconds since `since`, or None
        past the deadline (seconds after `since`)."""
        self.last = None
        while True:
            res = self.check(dashboard)
            if res is not None:
                self.last = res
                lost, double, diffs, model_diffs = res
                if not lost and not double and not model_diffs and (also is None or also()):
                    return time.time() - since
            if time.time() - since > deadline:
                return None
            for p in self.procs:
                if p.proc is not None and p.proc.poll() is not None:
                    raise ScenarioError(f"{p.name} exited with status {p.proc.returncode}:\n"
                                        + p.tail())
            time.sleep(0.25)


def sleep_random(lo, hi):
    time.sleep(random.uniform(lo, hi))
