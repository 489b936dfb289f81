"""The fault scenarios. Each one builds its pipeline in an Env (own topics,
daemons and workload on the shared broker or cluster), puts it under load,
injects its faults and returns an Outcome: the dashboard to check, the time
the last fault ended, and any further checks of its own. The runner (run)
then waits for the dashboards to equal the model and makes the row."""
import os
import random
import signal
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from harness import Skip, ScenarioError, wait_for
from tecgpy import events as tevents
from workload import unit_events

NATIONS = ("FRA", "DEU", "USA", "GBR", "ITA", "POL")


class Outcome:
    def __init__(self, dashboard, fault_end, deadline=30.0, also=None, checks=()):
        self.dashboard = dashboard
        self.fault_end = fault_end
        self.deadline = deadline      # seconds after fault_end to catch up
        self.also = also              # more to wait for (e.g. the sink has the latest)
        self.checks = list(checks)    # callables: None or a failure reason


class Size:
    """How much work a scenario does: --quick keeps the suite under 3
    minutes on 2 cores, --full is closer to an operator's test."""

    def __init__(self, full):
        self.full = full
        self.nations = NATIONS if full else NATIONS[:4]
        self.events = 30000 if full else 6000        # per nation
        self.files = 20 if full else 6               # per nation
        self.feed_s = 20.0 if full else 8.0          # load spread over


def pipeline(env, size, aggregators=1, sink=None, agg_extra=(), dash_extra=(),
             nations=None, producer_extra=(), agg_wrap=()):
    producers = [env.producer(n, producer_extra) for n in (nations or size.nations)]
    aggs = [env.aggregator(chr(ord("a") + i), agg_extra) for i in range(aggregators)]
    for a in aggs:
        a.wrap = list(agg_wrap)
    dash = env.dashboard(sink, dash_extra)
    for p in producers + aggs + [dash]:
        p.start()
    env.workload(producers, size.events, size.files)
    return producers, aggs, dash


def under_load(env, size, share=0.5):
    """Starts the feed and waits until part of it is in, so the fault hits a
    pipeline that is busy."""
    env.feed(size.feed_s)
    time.sleep(size.feed_s * share)


# --- daemons --------------------------------------------------------------


def input_messages(env):
    """Messages on the two input topics (sum of the partitions' end
    offsets), with one consumer kept for the scenario: fast enough to poll
    while a file is being sent."""
    if getattr(env, "offsets_consumer", None) is None:
        c = Consumer({"bootstrap.servers": env.kafka.bootstrap,
                      "group.id": env.prefix + "offsets"})
        env.cleanups.append(c.close)
        parts = []
        for t in ("contributions", "training-completions"):
            md = c.list_topics(env.prefix + t, timeout=10)
            parts += [TopicPartition(env.prefix + t, p) for p in md.topics[env.prefix + t].partitions]
        env.offsets_consumer, env.offsets_parts = c, parts
    c = env.offsets_consumer
    return sum(c.get_watermark_offsets(tp, timeout=10, cached=False)[1]
               for tp in env.offsets_parts)


def producer_kill(env, size, times):
    """Each kill hits a producer sending a big file: it is killed once the
    input topics grow after the drop, and the file, partly acknowledged, is
    sent again whole after the restart (the aggregator counts each id once).
    The input topics holding more messages than there are events at the
    end shows that files were indeed cut mid-way."""
    producers, _aggs, dash = pipeline(env, size)
    victim = env.producer("NOR")
    victim.start()
    big = size.events * (20 if not size.full else 10)
    evs = unit_events(victim.nation, big * times, seed=99, id_prefix="big-")
    for ev in evs:
        env.expected.add(ev)
    env.feed(size.feed_s)
    fault_end = time.time()
    for i in range(times):
        time.sleep(size.feed_s / (times + 1))
        # The other producers pause, so that the input topics grow with the
        # big file only: killed at its first acknowledgements.
        env.feed_paused = True
        wait_for(lambda: not any(p.pending() for p in producers), 60,
                 "the other producers to send what they have")
        before = input_messages(env)
        victim.drop(f"NOR-big-{i}", tevents.ndjson(evs[i * big:(i + 1) * big]))
        wait_for(lambda: input_messages(env) > before, 60,
                 "the big file's first acknowledgements", interval=0.002)
        victim.kill()
        env.feed_paused = False
        env.note(f"SIGKILL {victim.name} with {len(victim.pending())} file(s) of "
                 f"{big} events in incoming/")
        time.sleep(0.5)
        victim.start()
        fault_end = time.time()
    env.drop_all()

    def cut_mid_file():
        resent = input_messages(env) - env.expected.events
        env.note(f"input topics: {resent} messages more than events (sent again after a kill)")
        return None if resent > 0 else "no kill hit a file mid-way (nothing was sent twice)"
    return Outcome(dash, fault_end, checks=[cut_mid_file])


def aggregators_kill(env, size, times, instances=2):
    _producers, aggs, dash = pipeline(env, size, aggregators=instances)
    env.feed(size.feed_s)
    time.sleep(2)
    fault_end = time.time()
    gap = max(1.0, size.feed_s / times)
    for i in range(times):
        a = aggs[i % len(aggs)]
        a.kill()
        env.note(f"SIGKILL {a.name}")
        a.start()
        fault_end = time.time()
        if i + 1 < times:
            time.sleep(gap)
    env.drop_all()
    return Outcome(dash, fault_end)


def sink_checks(env, sink, dash):
    """The sink's part of a dashboard scenario: it ends with the documents
    the API serves (also), every accepted version was newer than the one
    before, and no POST was ever older than what the sink held."""

    def has_latest():
        try:
            docs = dash.documents()
        except OSError:
            return False
        for name, doc in docs.items():
            got = sink.latest(name)
            if got is None or got.get("version") != doc["version"] or got != doc:
                return False
        return True

    def monotonic():
        last = {}
        for r in sink.received():
            if r["version"] <= last.get(r["dashboard"], 0):
                return (f"sink received {r['dashboard']} version {r['version']} "
                        f"after {last[r['dashboard']]}")
            last[r["dashboard"]] = r["version"]
        return None

    def no_stale():
        stale = sink.stats().get("stale", 0)
        return f"sink got {stale} POST(s) not newer than the version it held" if stale else None

    return has_latest, [monotonic, no_stale]


def dashboard_kill(env, size, times):
    sink = env.sink().start()
    _producers, _aggs, dash = pipeline(env, size, sink=sink)
    env.feed(size.feed_s)
    fault_end = time.time()
    for i in range(times):
        time.sleep(size.feed_s / (times + 1))
        posted = sink.stats().get("accepted", 0)
        dash.kill()
        env.note(f"SIGKILL dashboard after {posted} documents at the sink")
        time.sleep(0.3)
        dash.start()
        fault_end = time.time()
    env.drop_all()
    also, checks = sink_checks(env, sink, dash)
    return Outcome(dash, fault_end, also=also, checks=checks)


def sink_down(env, size, seconds):
    sink = env.sink().start()
    _producers, _aggs, dash = pipeline(env, size, sink=sink)
    under_load(env, size, 0.3)
    sink.stop()
    env.note(f"sink down for {seconds}s")
    time.sleep(seconds)
    sink.start()
    fault_end = time.time()
    env.drop_all()
    also, checks = sink_checks(env, sink, dash)
    # After the outage the first retry may wait one full backoff (2 s here).
    return Outcome(dash, fault_end, also=also, checks=checks)


# --- the broker -----------------------------------------------------------


def broker_kill(env, size, times, down_s=5.0):
    _producers, _aggs, dash = pipeline(env, size)
    env.feed(size.feed_s)
    fault_end = time.time()
    for _ in range(times):
        time.sleep(size.feed_s / (times + 1))
        env.kafka.node(1, "kill")
        env.note(f"SIGKILL broker, down {down_s:.0f}s")
        time.sleep(down_s)
        env.kafka.node(1, "start")
        fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


def broker_pause(env, size, seconds):
    _producers, _aggs, dash = pipeline(env, size)
    under_load(env, size)
    env.kafka.node(1, "pause")
    env.note(f"SIGSTOP broker for {seconds}s")
    try:
        time.sleep(seconds)
    finally:
        env.kafka.node(1, "resume")
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


TXN_TIMEOUT_MS = 15000


def broker_down_past_txn_timeout(env, size):
    _producers, aggs, dash = pipeline(
        env, size, agg_extra=[f"kafka.transaction.timeout.ms = {TXN_TIMEOUT_MS}"])
    under_load(env, size)
    env.kafka.node(1, "kill")
    down = TXN_TIMEOUT_MS / 1000 + 15
    env.note(f"SIGKILL broker, down {down:.0f}s (transaction.timeout.ms {TXN_TIMEOUT_MS})")
    time.sleep(down)
    if not aggs[0].alive():
        raise ScenarioError(f"the aggregator exited (status {aggs[0].proc.returncode}) "
                            "while the broker was down:\n" + aggs[0].tail())
    env.kafka.node(1, "start")
    fault_end = time.time()
    env.drop_all()

    def still_running():
        return None if aggs[0].alive() and not aggs[0].exits else \
            f"the aggregator exited: {aggs[0].exits}"
    return Outcome(dash, fault_end, checks=[still_running])


def _accepts(binary, key):
    try:
        res = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    # --help lists the configuration keys, one per line, indented.
    return any(line.split()[:1] == [key] for line in (res.stdout + res.stderr).splitlines())


def sigterm_kafka_down(env, size):
    """SIGTERM to every daemon with the broker down: each must exit within
    its shutdown.timeout.ms (+2 s for the process to end); after the broker
    and the daemons are back, the counts are right."""
    producer_extra = ["shutdown.timeout.ms = 5000"]
    dash_extra = ["shutdown.timeout.ms = 5000"]
    agg_extra = []
    probe = env.aggregator("probe")
    env.procs.remove(probe)
    agg_bound = 30.0
    if _accepts(probe.binary, "shutdown.timeout.ms"):
        agg_extra.append("shutdown.timeout.ms = 5000")
        agg_bound = 5.0
    else:
        env.note("tecg-aggregator has no shutdown.timeout.ms: bound 30 s (docs/design.md §6)")
    producers, aggs, dash = pipeline(env, size, agg_extra=agg_extra, dash_extra=dash_extra,
                                     producer_extra=producer_extra)
    under_load(env, size)
    env.kafka.node(1, "kill")
    time.sleep(3)
    slow = []
    # All at once, as a host going down does; each timed from the signal.
    daemons = [(p, 5.0) for p in producers] + [(aggs[0], agg_bound), (dash, 5.0)]
    t0 = time.time()
    for p, _bound in daemons:
        p.send(signal.SIGTERM)
    exited = {}
    while len(exited) < len(daemons) and time.time() < t0 + agg_bound + 30:
        for p, _bound in daemons:
            if p.name not in exited and p.proc.poll() is not None:
                exited[p.name] = time.time() - t0
        time.sleep(0.02)
    for p, bound in daemons:
        rc, _ = p.stop(signal.SIGKILL, timeout=10) if p.name not in exited else \
            p.stop(signal.SIGTERM, timeout=1)
        took = exited.get(p.name, time.time() - t0)
        rc = rc if p.name in exited else None
        env.note(f"SIGTERM {p.name}: exit {rc} after {took:.1f}s (bound {bound:.0f}s)")
        if rc is None or took > bound + 2:
            slow.append(f"{p.name} took {took:.1f}s (exit {rc}), bound {bound:.0f}s")
    env.kafka.node(1, "start")
    for p in producers + aggs + [dash]:
        p.start()
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end, checks=[lambda: "; ".join(slow) or None])


# --- the spool disk -------------------------------------------------------


def spool_full(env, size):
    """The producer's spool file system fills up (a tmpfs): every file has
    invalid lines, whose rejection must be written before the next line is
    sent; it holds, says so, loses nothing and resumes when space returns."""
    nation = size.nations[0]
    spool = os.path.join(env.workdir, f"spool-{nation}")
    os.makedirs(spool, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", spool],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise Skip(f"cannot mount a tmpfs ({res.stderr.strip() or res.returncode})")
    env.cleanups.append(lambda: subprocess.run(["umount", "-l", spool], capture_output=True))
    p = env.producer(nation)
    aggs = [env.aggregator("a")]
    dash = env.dashboard()
    for d in aggs + [dash]:
        d.start()
    events = min(size.events, 20000)
    env.workload([p], events, 4, bad_every=500)
    bad = sum(data.count(b'"event_id": "bad"') for _p, _n, data in env.files)
    env.drop_all()
    filler = os.path.join(spool, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    env.note(f"spool file system full; {len(p.pending())} files with {bad} bad lines")
    p.start()
    time.sleep(8)
    held = p.pending()
    text = p.log_text()
    said = any(w in text.lower() for w in ("no space", "disk full", "enospc"))
    os.remove(filler)
    fault_end = time.time()
    env.note(f"space back; {len(held)} file(s) were held")

    def held_and_said():
        out = []
        if not held:
            out.append("no file was held while the disk was full")
        if not said:
            out.append("the producer log does not say the disk is full")
        return "; ".join(out) or None

    def rejected_all():
        path = os.path.join(spool, "rejected")
        n = 0
        for name in os.listdir(path) if os.path.isdir(path) else []:
            if name.endswith(".errors"):
                with open(os.path.join(path, name)) as f:
                    n += sum(1 for _ in f)
        return None if n == bad else f"{n} rejected lines recorded, {bad} bad lines sent"

    return Outcome(dash, fault_end, also=lambda: not p.pending(),
                   checks=[held_and_said, rejected_all])


# --- three nodes ----------------------------------------------------------


def partition_leader(env, topic_suffix="contributions", nation=None):
    """Node id of the leader of the partition most of the load goes to
    (that of the first nation's events)."""
    admin = AdminClient({"bootstrap.servers": env.kafka.bootstrap})
    md = admin.list_topics(env.prefix + topic_suffix, timeout=10)
    parts = md.topics[env.prefix + topic_suffix].partitions
    leaders = [p.leader for p in parts.values() if p.leader >= 0]
    if not leaders:
        raise ScenarioError("no partition leader in the metadata")
    # The node leading the most partitions carries most of the load.
    return max(set(leaders), key=leaders.count)


def active_controller(env):
    """The KRaft quorum leader, from kafka-metadata-quorum."""
    libs = subprocess.run([os.path.join(env.run.root, "deploy", "kafka", "fetch"), "--libs"],
                          capture_output=True, text=True, check=True).stdout.strip()
    res = subprocess.run(
        ["java", "-Xmx128m", "-cp", f"{libs}/*",
         f"-Dlog4j2.configurationFile={env.run.root}/deploy/kafka/log4j2-tools.xml",
         "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server",
         env.kafka.bootstrap.split(",")[0], "describe", "--status"],
        capture_output=True, text=True, timeout=60)
    for line in res.stdout.splitlines():
        if line.strip().startswith("LeaderId:"):
            return int(line.split(":")[1])
    raise ScenarioError(f"cannot find the active controller:\n{res.stdout}{res.stderr}")


def node_of(env, node_id):
    """deploy/kafka/node numbers nodes 1..3 and uses N as node.id."""
    return node_id


def wait_in_sync(env, timeout=120):
    """Every partition of the scenario's topics has all its replicas in sync."""
    admin = AdminClient({"bootstrap.servers": env.kafka.bootstrap})

    def ok():
        try:
            md = admin.list_topics(timeout=5)
        except Exception:
            return False
        for name, t in md.topics.items():
            if not name.startswith(env.prefix):
                continue
            for p in t.partitions.values():
                if p.leader < 0 or len(p.isrs) < len(p.replicas):
                    return False
        return True
    wait_for(ok, timeout, "all replicas back in sync", interval=0.5)


def cluster_leader_kill(env, size):
    _producers, _aggs, dash = pipeline(env, size)
    under_load(env, size)
    n = node_of(env, partition_leader(env))
    env.kafka.node(n, "kill")
    env.note(f"SIGKILL node {n} (leads the most input partitions), down 10s")
    time.sleep(10)
    env.kafka.node(n, "start")
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


def cluster_controller_kill(env, size):
    _producers, _aggs, dash = pipeline(env, size)
    under_load(env, size)
    n = node_of(env, active_controller(env))
    env.kafka.node(n, "kill")
    env.note(f"SIGKILL node {n} (active controller), down 10s")
    time.sleep(10)
    env.kafka.node(n, "start")
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


def cluster_node_pause(env, size, seconds):
    _producers, _aggs, dash = pipeline(env, size)
    under_load(env, size)
    n = node_of(env, partition_leader(env))
    env.kafka.node(n, "pause")
    env.note(f"SIGSTOP node {n} for {seconds}s")
    try:
        time.sleep(seconds)
    finally:
        env.kafka.node(n, "resume")
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


def cluster_rolling_restart(env, size):
    size.feed_s *= 3      # the load lasts the whole restart
    _producers, _aggs, dash = pipeline(env, size)
    under_load(env, size, 0.1)
    for n in (1, 2, 3):
        env.kafka.node(n, "kill")
        time.sleep(2)
        env.kafka.node(n, "start")
        wait_in_sync(env)
        env.note(f"node {n} restarted and back in sync")
    fault_end = time.time()
    env.drop_all()
    return Outcome(dash, fault_end)


# --- the network --------------------------------------------------------------


def net_partition(env, size, seconds=30):
    """The aggregator cut off from the broker leading most input partitions
    (the only broker on one node) for `seconds`, under load; producers and
    dashboard still reach it. The aggregator runs in a network namespace of
    its own behind a relay (netns.py)."""
    import sys
    from netns import Relay
    if os.geteuid() != 0:
        raise Skip("a network namespace (unshare -n) needs root")
    res = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise Skip(f"unshare -n does not work here: {res.stderr.strip()}")
    ports = [env.kafka.node_port(n) for n in range(1, env.kafka.nodes + 1)]
    sockdir = os.path.join(env.workdir, "relay")
    relay = Relay(sockdir, ports)
    env.cleanups.append(relay.close)
    wrap = ["unshare", "-n", "--", sys.executable, os.path.join(os.path.dirname(__file__),
                                                                "netns.py"),
            "--sockdir", sockdir, "--ports", ",".join(map(str, ports)), "--"]
    _producers, aggs, dash = pipeline(env, size, agg_wrap=wrap)
    under_load(env, size)
    port = env.kafka.node_port(node_of(env, partition_leader(env)))
    relay.block(port)
    env.note(f"aggregator cut off from the broker on port {port} for {seconds}s")
    try:
        # What it had in flight settles first; then, if the partition holds,
        # the dashboards stop moving although the feed goes on.
        time.sleep(5)
        before = env.check(dash)
        time.sleep(seconds - 5)
        after = env.check(dash)
    finally:
        relay.heal(port)
    fault_end = time.time()
    env.drop_all()
    cut_off = env.kafka.nodes > 1 or (before and after and before[0] == after[0] and after[0])
    env.note(f"missing from the dashboards 5 s into the partition and at its end: "
             f"{before and before[0]}, {after and after[0]}")

    def still_running():
        return None if aggs[0].alive() and not aggs[0].exits else \
            f"the aggregator exited: {aggs[0].exits}"

    def effective():
        return None if cut_off else "the partition did not stop the aggregator"
    return Outcome(dash, fault_end, checks=[still_running, effective])


# --- the table of scenarios -------------------------------------------------

# name -> (function, nodes, in --quick, in --full, description)
SCENARIOS = {}


def scenario(name, nodes, quick, full, doc):
    def register(fn):
        SCENARIOS[name] = dict(fn=fn, nodes=nodes, quick=quick, full=full, doc=doc)
        return fn
    return register


scenario("producer-kill", 1, True, False, "SIGKILL one producer mid-file")(
    lambda env, size: producer_kill(env, size, 1))
scenario("producer-kill-x3", 1, False, True, "SIGKILL producers mid-file, 3 times")(
    lambda env, size: producer_kill(env, size, 3))
scenario("aggregator-kill", 1, True, False, "SIGKILL the aggregator once, restart it")(
    lambda env, size: aggregators_kill(env, size, 1, instances=1))
scenario("aggregators-kill-x10", 1, False, True,
         "two aggregators, SIGKILL 10 times alternately")(
    lambda env, size: aggregators_kill(env, size, 10, instances=2))
scenario("dashboard-kill", 1, True, False,
         "SIGKILL the dashboard while it pushes to a sink")(
    lambda env, size: dashboard_kill(env, size, 1))
scenario("dashboard-kill-x3", 1, False, True,
         "SIGKILL the dashboard 3 times while it pushes to a sink: versions stay "
         "monotonic at the sink, which ends with the latest")(
    lambda env, size: dashboard_kill(env, size, 3))
scenario("broker-kill", 1, True, False, "SIGKILL the single broker under load")(
    lambda env, size: broker_kill(env, size, 1))
scenario("broker-kill-x2", 1, False, True, "SIGKILL the single broker under load, twice")(
    lambda env, size: broker_kill(env, size, 2))
scenario("broker-pause-30s", 1, False, True, "SIGSTOP the broker for 30 s under load")(
    lambda env, size: broker_pause(env, size, 30))
scenario("broker-down-past-txn-timeout", 1, False, True,
         f"broker down 15 s longer than transaction.timeout.ms ({TXN_TIMEOUT_MS} ms): "
         "the aggregator must not exit")(broker_down_past_txn_timeout)
scenario("sigterm-kafka-down", 1, False, True,
         "SIGTERM to each daemon with the broker down: exit within shutdown.timeout.ms, "
         "counts right after restart")(sigterm_kafka_down)
scenario("sink-down-60s", 1, False, True,
         "the sink down 60 s: it ends with the latest, versions monotonic")(
    lambda env, size: sink_down(env, size, 60))
scenario("spool-disk-full", 1, False, True,
         "the producer's spool file system (a small tmpfs) full: it holds, says so, "
         "loses nothing, resumes when space returns")(spool_full)
scenario("cluster-leader-kill", 3, False, True,
         "3 nodes: SIGKILL the node leading the most input partitions, under load")(
    cluster_leader_kill)
scenario("cluster-controller-kill", 3, False, True,
         "3 nodes: SIGKILL the active controller, under load")(cluster_controller_kill)
scenario("cluster-node-pause-30s", 3, False, True,
         "3 nodes: SIGSTOP a partition leader for 30 s")(
    lambda env, size: cluster_node_pause(env, size, 30))
scenario("cluster-rolling-restart", 3, False, True,
         "3 nodes: restart each node in turn under load, waiting for the replicas")(
    cluster_rolling_restart)
scenario("net-partition", 1, False, True,
         "the aggregator cut off from the broker for 30 s (network namespace), "
         "producers and dashboard not")(net_partition)
scenario("cluster-net-partition-leader", 3, False, True,
         "3 nodes: the aggregator cut off from the leader of most input partitions "
         "for 30 s (network namespace)")(net_partition)
