"""tecg-ctl on the secured broker, logged in as its own SCRAM user ctl
(deploy/kafka/TecgKafkaAdmin.java, tecgAcls; docs/operations.md, "Users and
ACLs"): status, decode of an input topic, nation-state, event-ids,
dashboards and dead-letter, dead-letter list and replay all work with its
grants; writing the aggregator's or the dashboard's topics, committing to
the aggregator's group, fetching another daemon's group's offsets and
creating topics are refused by the broker. Runs only with TECG_KAFKA_SECURITY=sasl_ssl
(scripts/test's secured pass); see tecgpy/secure.py."""
import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import scaled
from tecgpy import events, kafka_util, secure, signing
from test_ctl import CTL, ctl, ctl_config, json_lines, wait_for
from test_secure import produce_once
from test_signatures import personnel

pytestmark = pytest.mark.skipif(not secure.SECURE,
                                reason="needs the secured broker (TECG_KAFKA_SECURITY=sasl_ssl)")

# The aggregator's group as the tests' aggregators use it (the default
# group.id), which the ACL table grants ctl Describe on.
AGG_GROUP = "tecg-aggregator"


@pytest.fixture
def ctl_conf(tmp_path, bootstrap, prefix):
    """tecg-ctl's config file with the login of the user ctl."""
    problem = secure.scram_problem(CTL)
    if problem:
        pytest.fail(problem, pytrace=False)
    login = [f"{k} = {v}" for k, v in secure.tecg_settings(secure.user_for("ctl")).items()]
    assert any(line == "kafka.sasl.username = ctl" for line in login), login
    return ctl_config(tmp_path, bootstrap, prefix, *login)


def _input_topic(name):
    return "training-completions" if name == "training" else "contributions"


def test_ctl_reads_every_topic_and_replays_as_ctl(daemon_factory, bootstrap, prefix, codec,
                                                  ctl_conf):
    daemon_factory("aggregator", batch__max__ms=50).start()
    # Signed DEU events (counted) and one unsigned FRA event (dead-lettered
    # at the signature check), written here as admin, partitioned as
    # tecg-producer does (murmur2 of the nation).
    evs = events.generate("DEU", 4, seed=21, id_prefix="DEU-ctl")
    conf = kafka_util.client_conf(bootstrap, partitioner="murmur2_random")
    kp = signing.SignedProducer(conf)
    for e in evs:
        name, rec = events.expected_record(e)
        kp.produce(prefix + _input_topic(name), key=b"DEU", value=codec.encode(name, rec))
    unsigned = signing.SignedProducer(conf, keys={})
    unsigned.produce(prefix + "contributions", key=b"FRA",
                     value=codec.encode(*events.expected_record(personnel("FRA", "FRA-u", 3))))
    assert kp.flush(scaled(30)) == 0 and unsigned.flush(scaled(30)) == 0

    # status: the aggregator group's committed offsets (Describe on it),
    # nation-state and dashboards read.
    def caught_up():
        rc, out, err = ctl("status", "--json", config=ctl_conf)
        st = json_lines(out)[0] if out else {}
        deu = next((n for n in st.get("nations", []) if n["nation"] == "DEU"), {})
        done = (rc == 0 and sum(r["lag"] for r in st["lag"]) == 0
                and deu.get("events") == len(evs))
        return done, (rc, err, st)
    _, _, st = wait_for("lag 0 and DEU counted, seen by ctl", caught_up, 90)
    assert any(r["committed"] for r in st["lag"]), st["lag"]
    # Its login never shows, not even with -v.
    rc, out, err = ctl("status", "-v", config=ctl_conf)
    assert rc == 0 and prefix + "contributions" in out, err
    assert secure.password("ctl") not in out + err

    # decode: both input topics, nation-state, event-ids, dashboards.
    inputs = []
    for topic in ("contributions", "training-completions"):
        rc, out, err = ctl("decode", "--topic", topic, config=ctl_conf)
        assert rc == 0, err
        inputs += json_lines(out)
    assert sorted(m["value"]["event_id"] for m in inputs if m["key"] == "DEU") == \
        sorted(e["event_id"] for e in evs)
    rc, out, err = ctl("decode", "--topic", "nation-state", config=ctl_conf)
    assert rc == 0, err
    assert [m["value"]["events"] for m in json_lines(out) if m["key"] == "DEU"][-1] == len(evs)
    rc, out, err = ctl("decode", "--topic", "event-ids", config=ctl_conf)
    assert rc == 0, err
    assert {f"DEU/{e['event_id']}" for e in evs} <= {m["key"] for m in json_lines(out)}
    rc, out, err = ctl("decode", "--topic", "dashboards", config=ctl_conf)
    assert (rc, out) == (0, ""), err  # no dashboard ran: read, and empty

    # dead letters: decode, list, replay back to the input topic.
    rc, out, err = ctl("decode", "--topic", "dead-letter", config=ctl_conf)
    assert rc == 0, err
    (dl,) = json_lines(out)
    assert dl["headers"]["tecg.stage"] == "signature" and dl["key"] == "FRA"
    rc, out, err = ctl("dead-letter", "list", "--json", config=ctl_conf)
    assert rc == 0, err
    (listed,) = json_lines(out)
    assert listed["id"] == f"{dl['partition']}:{dl['offset']}"
    rc, out, err = ctl("dead-letter", "replay", "--json", listed["id"], config=ctl_conf)
    assert rc == 0, err
    assert [r["outcome"] for r in json_lines(out)] == ["replayed"]
    rc, out, err = ctl("decode", "--topic", "contributions", config=ctl_conf)
    assert rc == 0, err
    fra = [m for m in json_lines(out) if m["key"] == "FRA"]
    assert len(fra) == 2 and fra[1]["headers"]["tecg.replay-of"].startswith(
        prefix + "dead-letter/")
    assert fra[1]["value"] == fra[0]["value"]

    # Still unsigned: the aggregator dead-letters the replayed copy too.
    def relisted():
        rc, out, err = ctl("dead-letter", "list", "--json", config=ctl_conf)
        got = json_lines(out) if rc == 0 else []
        return len(got) == 2, (rc, err, got)
    wait_for("the replayed copy dead-lettered again", relisted, 60)


def test_ctl_is_refused_what_it_must_not_do(bootstrap, prefix, ctl_conf):
    settings = secure.librdkafka_settings(secure.user_for("ctl"))
    # Its login works and may write an input topic (what replay does) ...
    err, _ = produce_once(bootstrap, settings, prefix + "contributions", value=b"x")
    assert err is None
    # ... but none of the aggregator's or the dashboard's topics.
    for topic in ("nation-state", "event-ids", "dead-letter", "dashboards"):
        err, _ = produce_once(bootstrap, settings, prefix + topic, key=b"DEU")
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, err)
        assert kafka_util.end_offsets(bootstrap, prefix + topic) == 0

    # The aggregator's group: its offsets are read (status), never moved.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": AGG_GROUP,
                  "enable.auto.commit": False, "log_level": 0, **settings})
    try:
        with pytest.raises(KafkaException) as refused:
            c.commit(offsets=[TopicPartition(prefix + "contributions", 0, 1)],
                     asynchronous=False)
        assert refused.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused.value
    finally:
        c.close()

    # Its offsets can be fetched, another daemon's group's cannot.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **settings})

    def group_offsets(group):
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(prefix + "contributions", 0)])
        return admin.list_consumer_group_offsets([req], request_timeout=scaled(15))[group].result()
    assert group_offsets(AGG_GROUP).group_id == AGG_GROUP
    with pytest.raises(KafkaException) as refused:
        group_offsets("tecg-dashboard")
    assert refused.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused.value

    # No topic administration either.
    fut = admin.create_topics([NewTopic(prefix + "ctl-made", 1, 1)],
                              request_timeout=scaled(15))[prefix + "ctl-made"]
    with pytest.raises(KafkaException) as refused:
        fut.result()
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
