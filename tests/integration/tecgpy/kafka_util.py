"""Kafka helpers for the tests, on confluent-kafka (a peer client)."""
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tecgpy import secure

TOPICS = ("contributions", "training-completions", "nation-state",
          "event-ids", "dashboards", "dead-letter")
COMPACTED = ("nation-state", "event-ids", "dashboards")


def client_conf(bootstrap, **settings):
    """A confluent-kafka configuration for the tests' own clients: on the
    secured broker they log in as admin (tecgpy/secure.py)."""
    conf = {"bootstrap.servers": bootstrap}
    conf.update(secure.librdkafka_settings("admin"))
    conf.update({k.replace("_", "."): v for k, v in settings.items()})
    return conf


def broker_answers(bootstrap, timeout=10):
    admin = AdminClient(client_conf(bootstrap))
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def create_topics(bootstrap, prefix, partitions=3):
    admin = AdminClient(client_conf(bootstrap))
    new = []
    for t in TOPICS:
        cfg = {"cleanup.policy": "compact"} if t in COMPACTED else {}
        new.append(NewTopic(prefix + t, num_partitions=partitions,
                            replication_factor=1, config=cfg))
    for fut in admin.create_topics(new, operation_timeout=30).values():
        fut.result()
    # Wait until the metadata shows every partition with a leader.
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(timeout=10)
        if all(prefix + t in md.topics and md.topics[prefix + t].error is None
               and len(md.topics[prefix + t].partitions) == partitions
               for t in TOPICS):
            return
        time.sleep(0.1)
    raise AssertionError("topics not ready")


def delete_topics(bootstrap, prefix):
    admin = AdminClient(client_conf(bootstrap))
    try:
        for fut in admin.delete_topics([prefix + t for t in TOPICS],
                                       operation_timeout=30).values():
            fut.result()
    except Exception:  # best effort: a unique prefix never collides anyway
        pass


def end_offsets(bootstrap, topic):
    c = Consumer(client_conf(bootstrap, group_id="tecg-test-offsets"))
    try:
        md = c.list_topics(topic, timeout=10)
        total = 0
        for p in md.topics[topic].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += hi - lo
        return total
    finally:
        c.close()


def consume_all(bootstrap, topics, expected=None, timeout=30, idle=2.0):
    """Reads the topics from the beginning. Stops when `expected` messages
    were read (then waits `idle` more seconds to catch extras), or when
    nothing new arrived for `idle` seconds without an expectation."""
    c = Consumer({
        **client_conf(bootstrap),
        "group.id": "tecg-test-" + str(time.time_ns()),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    c.subscribe(list(topics))
    out = []
    deadline = time.time() + timeout
    last = time.time()
    try:
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                enough = expected is None or len(out) >= expected
                if enough and time.time() - last > idle:
                    break
                continue
            if m.error():
                continue
            out.append(m)
            last = time.time()
    finally:
        c.close()
    return out
