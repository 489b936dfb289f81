"""With a schema registry configured, the producer frames messages in the
Confluent wire format (00 + 4-byte big-endian schema id + body) and the
aggregator reads them by asking the registry (docs/design.md §3).

Against a real registry: Apicurio Registry through its Confluent-compatible
API (conftest's `registry` fixture, deploy/registry/), with the global
compatibility rule BACKWARD. Only test_registry_outage_is_waited_out uses the
stand-in (tests/tools/fake_schema_registry.py): it needs a registry that
fails on purpose."""
import datetime
import io
import json
import os
import struct
import subprocess
import sys
import urllib.error
import urllib.request

import fastavro
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from tecgpy.signing import SignedProducer as KafkaProducer

from conftest import BUILD, ROOT, scaled
from tecgpy import events, kafka_util
from tecgpy.model import Model
from test_pipeline import http_port, start_dashboard, wait_documents

CTL = os.path.join(BUILD, "tools", "ctl", "tecg-ctl")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _schema_text(name):
    with open(os.path.join(ROOT, "schemas", name)) as f:
        return f.read()


def _call(url, body=None, method=None):
    """(status, JSON answer) of one registry call; 4xx/5xx are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _register(registry, subject, schema_text):
    return _call(f"{registry}/subjects/{subject}/versions", {"schema": schema_text})


def _without_default_added(schema_text):
    """The schema with one more field and no default: a reader with it
    cannot read what the previous version wrote (not BACKWARD)."""
    s = json.loads(schema_text)
    s["fields"].append({"name": "added_without_default", "type": "string"})
    return json.dumps(s)


def test_register_look_up_and_evolve(registry, prefix):
    """The registry calls tecg makes, and the compatibility rule that
    guards a subject's versions."""
    assert _call(f"{registry}/config") == (200, {"compatibilityLevel": "BACKWARD"})
    subject = prefix + "contributions-value"
    v1 = _schema_text("contribution_v1.avsc")
    status, first = _register(registry, subject, v1)
    assert status == 200 and first["id"] > 0
    # The same schema again: the same id, no new version.
    assert _register(registry, subject, v1) == (200, first)
    status, got = _call(f"{registry}/schemas/ids/{first['id']}")
    assert status == 200
    assert fastavro.parse_schema(json.loads(got["schema"])) == \
        fastavro.parse_schema(json.loads(v1))
    assert _call(f"{registry}/subjects/{subject}/versions") == (200, [1])

    # A compatible evolution (the current schema reads v1's data): a new
    # version with an id of its own.
    status, second = _register(registry, subject, _schema_text("contribution.avsc"))
    assert status == 200 and second["id"] != first["id"]
    assert _call(f"{registry}/subjects/{subject}/versions") == (200, [1, 2])

    # An incompatible one is refused with 409 and leaves the subject as it was.
    bad = _without_default_added(_schema_text("contribution.avsc"))
    status, answer = _register(registry, subject, bad)
    assert status == 409 and answer["error_code"] == 409, answer
    assert _call(f"{registry}/subjects/{subject}/versions") == (200, [1, 2])
    assert _call(f"{registry}/compatibility/subjects/{subject}/versions/latest",
                 {"schema": bad}) == (200, {"is_compatible": False})

    # Why the retraction has a subject of its own on each topic (docs/design.md
    # §3.2): another record under TOPIC-value is no evolution of the event
    # record, so BACKWARD refuses it there; under TOPIC-org.tecg.Retraction
    # it is the first version.
    retraction = _schema_text("retraction.avsc")
    assert _register(registry, subject, retraction)[0] == 409
    status, rid = _register(registry, prefix + "contributions-org.tecg.Retraction", retraction)
    assert status == 200 and rid["id"] not in (first["id"], second["id"])
    assert _call(f"{registry}/schemas/ids/999999999")[0] == 404


def test_confluent_framing_end_to_end(producer_factory, daemon_factory, bootstrap, prefix,
                                      registry):
    p = producer_factory("NLD", extra={"schema.registry.url": registry}).start()
    daemon_factory("aggregator", batch__max__ms=50, schema__registry__url=registry).start()
    dashboard = start_dashboard(daemon_factory)
    evs = events.generate("NLD", 80, seed=44)
    model = Model()
    for e in evs:
        model.add(e)
    p.drop("NLD-1", events.ndjson(evs))
    p.wait_done("NLD-1")
    # The aggregator counted every Confluent-framed event.
    wait_documents(http_port(dashboard), model)

    # Every message is 00 + id + body, and the body is readable with the
    # schema the registry holds for that id (an independent decoder)...
    msgs = kafka_util.consume_all(bootstrap, [prefix + "contributions",
                                              prefix + "training-completions"],
                                  expected=80, timeout=30)
    assert len(msgs) == 80
    schemas = {}
    for m in msgs:
        v = m.value()
        assert v[0] == 0
        (sid,) = struct.unpack(">I", v[1:5])
        if sid not in schemas:
            status, got = _call(f"{registry}/schemas/ids/{sid}")
            assert status == 200
            schemas[sid] = fastavro.parse_schema(json.loads(got["schema"]))
        rec = fastavro.schemaless_reader(io.BytesIO(v[5:]), schemas[sid], None)
        assert rec["nation"] == "NLD"
    assert len(schemas) == 2, "one id per event schema"

    # ...and by a Confluent client's own deserializer, which asks the
    # registry for each id as any Confluent consumer would.
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    by_id = {e["event_id"]: e for e in evs}
    for m in msgs:
        rec = deserialize(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
        e = by_id.pop(rec["event_id"])
        # occurred_at is a timestamp-millis: a datetime to this reader.
        assert (rec["nation"], rec["occurred_at"]) == (
            "NLD", datetime.datetime.fromisoformat(e["occurred_at"]))
        assert m.topic() == prefix + ("training-completions" if e["type"] == "training"
                                      else "contributions")
    assert not by_id

    # An id the registry does not know: dead letter, and the rest flows on.
    kp = KafkaProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    kp.produce(prefix + "contributions", key=b"NLD",
               value=b"\x00" + struct.pack(">I", 999999999) + b"abc")
    kp.flush(10)
    more = events.generate("NLD", 10, seed=45, id_prefix="m")
    for e in more:
        model.add(e)
    p.drop("NLD-2", events.ndjson(more))
    p.wait_done("NLD-2")
    wait_documents(http_port(dashboard), model)
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=1, timeout=30)
    assert len(dead) == 1
    assert "999999999" in dict(dead[0].headers())["tecg.error"].decode()


def test_corrections_under_their_own_subjects(producer_factory, bootstrap, prefix, registry):
    """A topic with two record types: the event record under TOPIC-value, the
    retraction under TOPIC-org.tecg.Retraction (docs/design.md §3.2), which
    the registry's BACKWARD rule accepts since each subject holds one record.
    Every message carries the id of the schema it was written with, and
    fastavro reads it with that schema from the registry."""
    p = producer_factory("NLD", extra={"schema.registry.url": registry}).start()
    base = events.generate("NLD", 4, seed=46, id_prefix="c")
    evs = list(base)
    for i, target in enumerate(base):
        evs.append(dict(target, event_id=f"s{i}", supersedes=target["event_id"]))
        evs.append({"type": "retraction", "event_id": f"r{i}", "nation": "NLD",
                    "occurred_at": "2005-03-01T10:00:00Z", "retracts": f"s{i}",
                    "retracts_type": target["type"], "reason": f"wrong figure {i}"})
    p.drop("NLD-c", events.ndjson(evs))
    p.wait_done("NLD-c")

    # The registry lists at most apicurio.ccompat.max-subjects names, and a
    # reused one holds other runs' subjects: the ones with this prefix.
    status, subjects = _call(f"{registry}/subjects")
    assert status == 200
    mine = {s for s in subjects if s.startswith(prefix)}
    expected = {prefix + "contributions-value", prefix + "training-completions-value",
                prefix + "contributions-org.tecg.Retraction",
                prefix + "training-completions-org.tecg.Retraction"}
    assert mine == expected or len(subjects) >= 1000
    for s in expected:
        assert _call(f"{registry}/subjects/{s}/versions") == (200, [1])

    msgs = kafka_util.consume_all(bootstrap, [prefix + "contributions",
                                              prefix + "training-completions"],
                                  expected=len(evs), timeout=30)
    assert len(msgs) == len(evs)
    schemas, seen = {}, {}
    for m in msgs:
        v = m.value()
        assert v[0] == 0
        (sid,) = struct.unpack(">I", v[1:5])
        if sid not in schemas:
            schemas[sid] = fastavro.parse_schema(
                json.loads(_call(f"{registry}/schemas/ids/{sid}")[1]["schema"]))
        buf = io.BytesIO(v[5:])
        rec = fastavro.schemaless_reader(buf, schemas[sid], None)
        assert buf.tell() == len(v) - 5
        seen[rec["event_id"]] = (m.topic(), schemas[sid]["name"], rec)
    for e in evs:
        topic, name, rec = seen[e["event_id"]]
        if e["type"] == "retraction":
            assert name == "org.tecg.Retraction"
            assert (rec["retracts"], rec["retracts_type"], rec["reason"]) == (
                e["retracts"], e["retracts_type"], e["reason"])
            routed = e["retracts_type"]
        else:
            assert rec["supersedes"] == e.get("supersedes")
            routed = e["type"]
        assert topic == prefix + ("training-completions" if routed == "training"
                                  else "contributions")
    assert p.stop() == 0


def test_producer_refused_by_the_compatibility_rule(producer_factory, prefix, registry):
    """A subject whose latest version the producer's schema cannot read
    (here one without a field tecg requires): the registry refuses the
    producer's schema with 409 and the producer does not start, rather
    than write messages no registered reader expects."""
    subject = prefix + "contributions-value"
    other = json.loads(_schema_text("contribution.avsc"))
    dropped = next(f for f in other["fields"] if "default" not in f)
    other["fields"].remove(dropped)
    assert _register(registry, subject, json.dumps(other))[0] == 200
    p = producer_factory("NLD", extra={"schema.registry.url": registry}).start()
    rc = p.proc.wait(scaled(60))
    log = p.log_text()
    assert rc != 0, log
    assert subject in log and "HTTP 409" in log, log
    assert p.stop() == rc


def _ctl_schema_check(registry, prefix, path):
    res = subprocess.run([CTL, "schema", "check", "--json", str(path), "-X",
                          f"schema.registry.url={registry}", "-X", f"topic.prefix={prefix}"],
                         capture_output=True, text=True, timeout=scaled(30))
    return res.returncode, (json.loads(res.stdout) if res.stdout.strip() else None), res.stderr


def test_ctl_schema_check_asks_the_registry(registry, prefix, tmp_path):
    """tecg-ctl schema check shows the registry's verdict for each subject
    the record is registered under, next to its own."""
    subject = prefix + "contributions-value"
    assert _register(registry, subject, _schema_text("contribution.avsc"))[0] == 200

    rc, out, err = _ctl_schema_check(registry, prefix,
                                     os.path.join(ROOT, "schemas", "contribution.avsc"))
    assert rc == 0, err
    assert out["registry"] == [{"subject": subject, "compatible": True}]
    assert out["backward"]["compatible"] and out["forward"]["compatible"]

    # A required field more: tecg's backward check and the registry's
    # BACKWARD rule both say no.
    bad = tmp_path / "contribution.avsc"
    bad.write_text(_without_default_added(_schema_text("contribution.avsc")))
    rc, out, err = _ctl_schema_check(registry, prefix, bad)
    assert rc == 1, err
    assert out["registry"] == [{"subject": subject, "compatible": False}]
    assert not out["backward"]["compatible"]
    assert "added_without_default" in out["backward"]["reason"]

    # The retraction: one subject per input topic, asked both.
    rc, out, err = _ctl_schema_check(registry, prefix,
                                     os.path.join(ROOT, "schemas", "retraction.avsc"))
    assert rc == 0, err
    assert [r["subject"] for r in out["registry"]] == [
        prefix + "contributions-org.tecg.Retraction",
        prefix + "training-completions-org.tecg.Retraction"]

    # A registry that cannot be asked: exit 3, and no verdict printed.
    res = subprocess.run([CTL, "schema", "check", os.path.join(ROOT, "schemas", "training.avsc"),
                          "-X", "schema.registry.url=http://127.0.0.1:1/apis/ccompat/v7"],
                         capture_output=True, text=True, timeout=scaled(30))
    assert res.returncode == 3 and "127.0.0.1:1" in res.stderr and not res.stdout


@pytest.fixture
def failing_registry():
    """The stand-in registry, answering 503 to the first two schema
    look-ups: what a registry restart looks like to a consumer."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "tools",
                                                          "fake_schema_registry.py"),
                             "--port", "0", "--fail-lookups", "2"],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_registry_outage_is_waited_out(producer_factory, daemon_factory, bootstrap, prefix,
                                       failing_registry):
    """A registry that cannot answer for now (5xx) is not a reason to
    dead-letter an event: the aggregator retries and counts it once the
    registry answers."""
    p = producer_factory("NLD", extra={"schema.registry.url": failing_registry}).start()
    evs = events.generate("NLD", 6, seed=47, id_prefix="o")
    model = Model()
    for e in evs:
        model.add(e)
    p.drop("NLD-o", events.ndjson(evs))
    p.wait_done("NLD-o")
    daemon_factory("aggregator", batch__max__ms=50,
                   schema__registry__url=failing_registry).start()
    dashboard = start_dashboard(daemon_factory)
    wait_documents(http_port(dashboard), model)
    assert _call(f"{failing_registry}/stats") == (200, {"failed_lookups": 2})
    assert kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], timeout=5) == []
