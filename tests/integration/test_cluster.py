"""A private 3-node cluster (deploy/kafka/start --nodes 3) with replicated
topics (RF 3, min.insync.replicas 2): the partition leader of a producer's
nation is SIGKILLed (deploy/kafka/node N kill) while the producer sends,
and every event still arrives; the node starts again on its state, pauses
and resumes; and deploy/kafka/topics refuses a replication factor larger
than the cluster.
The shared broker of the other tests is not touched."""
import os
import shutil
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import ROOT, Producer
from tecgpy import events, kafka_util

PORT = int(os.environ.get("TECG_TEST_CLUSTER_PORT", "19310"))
NODES = 3
BOOTSTRAP = ",".join(f"127.0.0.1:{PORT + k}" for k in range(NODES))


def kafka_cmd(env, *argv, check=True, timeout=180):
    res = subprocess.run([f"{ROOT}/deploy/kafka/{argv[0]}", *argv[1:]], env=env,
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"deploy/kafka/{' '.join(argv)} exited {res.returncode}:\n"
                             f"{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture
def cluster(tmp_path):
    state = tmp_path / "kafka-cluster"
    prefix = f"c{uuid.uuid4().hex[:8]}."
    env = dict(os.environ, TECG_KAFKA_PORT=str(PORT), TECG_KAFKA_STATE=str(state),
               TECG_TOPIC_PREFIX=prefix)
    env.pop("TECG_KAFKA_BOOTSTRAP", None)
    try:
        res = kafka_cmd(env, "start", "--nodes", str(NODES))
        assert res.stdout.strip() == BOOTSTRAP
        yield env, prefix, state
    finally:
        kafka_cmd(env, "stop", "--wipe", check=False, timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def watermarks(topic):
    """{partition: high watermark} of a topic on the cluster."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "tecg-test-wm"})
    try:
        md = c.list_topics(topic, timeout=10)
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in md.topics[topic].partitions}
    finally:
        c.close()


def proc_state(pid):
    """The state letter of /proc/PID/stat (T = stopped)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_partition_leader_killed_under_load(tmp_path, cluster, codec):
    env, prefix, state = cluster

    # A replication factor larger than the cluster is refused, clearly.
    res = kafka_cmd(env, "topics", "--replication-factor", "4", check=False)
    assert res.returncode != 0
    assert "replication factor 4 is larger than the cluster: 3 brokers" in res.stderr

    # The default on 3 nodes: RF 3, min ISR 2, reported per topic.
    res = kafka_cmd(env, "topics")
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines()}
    assert len(lines) == 6, res.stdout
    for t in kafka_util.TOPICS:
        assert " replicas=3 min.insync.replicas=2 " in lines[prefix + t], lines[prefix + t]
        assert lines[prefix + t].endswith("(created)")
    assert "partitions=8 " in lines[prefix + "contributions"]

    p = Producer(tmp_path, BOOTSTRAP, prefix, "NOR",
                 extra={"shutdown.timeout.ms": 5000})
    p.start()
    # The big file must take long enough to send that the kill lands in it.
    evs = events.generate("NOR", 210000, seed=9)
    first, big, after = evs[:200], evs[200:200000], evs[200000:]
    try:
        p.drop("NOR-1", events.ndjson(first))
        p.wait_done("NOR-1", timeout=60)

        # NOR's partition and its leader.
        topic = prefix + "contributions"
        wm = watermarks(topic)
        [part] = [q for q, hi in wm.items() if hi > 0]
        md = AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(topic, timeout=10)
        leader = md.topics[topic].partitions[part].leader
        assert 1 <= leader <= NODES
        base = wm[part]

        # Kill the leader once the big file is on its way.
        p.drop("NOR-2", events.ndjson(big))
        deadline = time.time() + 30
        while (hi := watermarks(topic)[part]) == base:
            assert time.time() < deadline, "the big file never started"
            time.sleep(0.02)
        kafka_cmd(env, "node", str(leader), "kill")
        # (Its contributions are 3/4 of the file.)
        assert hi < base + len(big) // 2, "the file was through before the kill: make it bigger"
        p.drop("NOR-3", events.ndjson(after))
        p.wait_done("NOR-2", timeout=120)
        p.wait_done("NOR-3", timeout=120)

        # Another node leads now; the cluster still has min ISR.
        md = AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(topic, timeout=10)
        assert md.topics[topic].partitions[part].leader not in (leader, -1)

        # Every event arrived, once (idempotent producer across the
        # leader change).
        msgs = kafka_util.consume_all(BOOTSTRAP, [topic, prefix + "training-completions"],
                                      expected=len(evs), timeout=60)
        ids = [codec.decode(m.value())[1]["event_id"] for m in msgs]
        assert set(ids) == {e["event_id"] for e in evs}
        assert len(ids) == len(evs)
        assert p.stop() == 0
    finally:
        p.stop()

    # Misuse is an error with a reason: the killed node is not running.
    res = kafka_cmd(env, "node", str(leader), "kill", check=False)
    assert res.returncode == 1 and f"node {leader} is not running" in res.stderr

    # The killed node starts again on its state and rejoins.
    res = kafka_cmd(env, "node", str(leader), "start")
    assert res.stdout.strip() == f"127.0.0.1:{PORT + leader - 1}"
    deadline = time.time() + 30
    while len(AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=10).brokers) < NODES:
        assert time.time() < deadline, f"node {leader} did not rejoin"
        time.sleep(0.2)

    # pause freezes the process (SIGSTOP), resume thaws it.
    pid = int((state / f"node-{leader}" / "broker.pid").read_text())
    kafka_cmd(env, "node", str(leader), "pause")
    assert proc_state(pid) == "T"
    kafka_cmd(env, "node", str(leader), "resume")
    assert proc_state(pid) != "T"
