"""The pipeline on the secured broker (deploy/kafka/start --secure:
SASL_SSL, SCRAM-SHA-512, ACLs): it delivers; a client without credentials
or with a wrong password writes nothing; a nation's credentials write only
its input topics; an aggregator whose restore group is denied stops with a
clean error. Runs only with TECG_KAFKA_SECURITY=sasl_ssl (scripts/test's
secured pass); see tecgpy/secure.py."""
import signal
import time
import uuid

import pytest
from confluent_kafka import KafkaError
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)

from conftest import scaled
from tecgpy import events, kafka_util, secure
from tecgpy.model import Model
from test_pipeline import http_port, start_dashboard, wait_documents
from test_shutdown import SHUTDOWN_MS, assert_quick, timed_stop
from test_signatures import dead_letters, personnel, start_aggregator, states, wait_metrics

pytestmark = pytest.mark.skipif(not secure.SECURE,
                                reason="needs the secured broker (TECG_KAFKA_SECURITY=sasl_ssl)")


def produce_once(bootstrap, settings, topic, key=b"DEU", value=b"forged"):
    """One message through a confluent-kafka producer with these client
    settings. Returns (delivery error or None, client errors seen)."""
    errors, results = [], []
    p = KafkaProducer({"bootstrap.servers": bootstrap, "message.timeout.ms": 6000,
                       "log_level": 0, "error_cb": lambda e: errors.append(e), **settings})
    p.produce(topic, key=key, value=value, on_delivery=lambda e, m: results.append(e))
    p.flush(scaled(15))
    assert results, "no delivery report"
    return results[0], errors


def input_count(bootstrap, prefix):
    return sum(kafka_util.end_offsets(bootstrap, prefix + t)
               for t in ("contributions", "training-completions"))


def test_pipeline_delivers_with_scram_and_acls(producer_factory, daemon_factory, prefix):
    p = producer_factory("DEU").start()
    daemon_factory("aggregator", batch__max__ms=50).start()
    port = http_port(start_dashboard(daemon_factory))
    model = Model()
    evs = events.generate("DEU", 20, seed=5)
    for e in evs:
        model.add(e)
    p.drop("DEU-1", events.ndjson(evs))
    p.wait_done("DEU-1")
    wait_documents(port, model)


@pytest.mark.parametrize("how", ["no credentials", "wrong password"])
def test_a_client_that_cannot_log_in_writes_nothing(bootstrap, prefix, how):
    if how == "no credentials":
        settings = {}  # PLAINTEXT to a SASL_SSL listener
    else:
        settings = {**secure.librdkafka_settings("producer-DEU"),
                    "sasl.password": secure.password("producer-DEU") + "x"}
    err, client_errors = produce_once(bootstrap, settings, prefix + "contributions")
    assert err is not None and err.code() == KafkaError._MSG_TIMED_OUT
    if how == "wrong password":
        assert any(e.code() == KafkaError._AUTHENTICATION for e in client_errors), client_errors
    assert input_count(bootstrap, prefix) == 0


def test_a_nation_writes_only_its_input_topics(bootstrap, prefix):
    deu = secure.librdkafka_settings("producer-DEU")
    # The same credentials do log in and write an input topic ...
    err, _ = produce_once(bootstrap, deu, prefix + "contributions", value=b"x")
    assert err is None
    # ... but not the aggregator's output, whatever the key.
    for topic in ("nation-state", "dead-letter", "dashboards"):
        err, _ = produce_once(bootstrap, deu, prefix + topic, key=b"FRA")
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (topic, err)
        assert kafka_util.end_offsets(bootstrap, prefix + topic) == 0


def test_a_denied_restore_group_stops_the_aggregator_cleanly(bootstrap, prefix,
                                                             producer_factory, daemon_factory):
    # A group of its own: the aggregator may use it, not "<group>-restore".
    group = f"tecg-test-norestore-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka_util.client_conf(bootstrap))
    allow = AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:aggregator",
                       "*", AclOperation.READ, AclPermissionType.ALLOW)
    for f in admin.create_acls([allow]).values():
        f.result()
    try:
        p = producer_factory("DEU").start()
        p.drop("DEU-1", events.ndjson(events.generate("DEU", 3, seed=2)))
        p.wait_done("DEU-1")
        agg = daemon_factory("aggregator", group__id=group, batch__max__ms=50).start()
        deadline = time.time() + scaled(90)
        while agg.alive() and time.time() < deadline:
            time.sleep(0.2)
        if agg.alive():
            agg.stop(signal.SIGKILL)
            pytest.fail("the aggregator still runs with its restore group denied:\n"
                        + agg.log_text()[-3000:])
        rc = agg.proc.returncode
        log = agg.log_text()
        assert rc > 0, f"exit status {rc} (a negative one is a signal):\n{log[-3000:]}"
        assert f"{group}-restore" in log or "Group authorization failed" in log, log[-3000:]
        assert kafka_util.end_offsets(bootstrap, prefix + "nation-state") == 0
    finally:
        flt = AclBindingFilter(ResourceType.GROUP, group, ResourcePatternType.LITERAL, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)
        for f in admin.delete_acls([flt]).values():
            f.result()


def test_a_nation_credential_cannot_report_for_another_nation(
        producer_factory, daemon_factory, prefix, bootstrap, codec, tmp_path):
    # The probe's forgery on the secured broker: DEU's valid SCRAM login
    # writes an unsigned FRA personnel event (the ACL lets it: Kafka cannot
    # restrict a key). The signature check refuses it; no dashboard moves.
    metrics_file = start_aggregator(daemon_factory, tmp_path)
    port = http_port(start_dashboard(daemon_factory))
    forged = codec.encode(*events.expected_record(personnel("FRA", "FRA-forged", 999)))
    err, _ = produce_once(bootstrap, secure.librdkafka_settings("producer-DEU"),
                          prefix + "contributions", key=b"FRA", value=forged)
    assert err is None
    model = Model()
    evs = events.generate("DEU", 10, seed=9)
    for e in evs:
        model.add(e)
    p = producer_factory("DEU").start()
    p.drop("DEU-1", events.ndjson(evs))
    p.wait_done("DEU-1")
    wait_metrics(metrics_file, {"refused_unsigned": 1, "dead_lettered_total": 1})
    # The dashboards match a model that has DEU's events only.
    wait_documents(port, model)
    (stage, why, m), = dead_letters(bootstrap, prefix, 1)
    assert stage == "signature" and why.startswith("unsigned"), why
    assert m.key() == b"FRA"
    assert [n for _, n, _ in states(bootstrap, prefix, codec)].count("FRA") == 0


@pytest.mark.parametrize("kind", ["producer", "aggregator", "dashboard"])
def test_a_daemon_whose_login_fails_still_stops_in_time(kind, producer_factory,
                                                        daemon_factory):
    # A wrong SCRAM password keeps the aggregator in init_transactions (it
    # once ignored SIGTERM there for 31 s), the producer without a broker
    # and the dashboard before its first read: each stops within
    # shutdown.timeout.ms all the same.
    user = secure.user_for(kind, "DEU")
    wrong = {"kafka.sasl.password": secure.password(user) + "x",
             "shutdown.timeout.ms": SHUTDOWN_MS}
    if kind == "producer":
        d = producer_factory("DEU", extra=wrong).start()
    else:
        d = daemon_factory(kind, **{k.replace(".", "__"): v for k, v in wrong.items()}).start()
    time.sleep(scaled(4))
    assert d.proc.poll() is None, d.log_text()
    rc, took = timed_stop(d)
    assert rc == 0, d.log_text()
    assert_quick(took, f"tecg-{kind} with a failing login")
    assert "uthentication" in d.log_text(), d.log_text()[-3000:]
