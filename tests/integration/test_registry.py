"""With a schema registry configured, the producer frames messages in the
Confluent wire format (00 + 4-byte big-endian schema id + body) and the
aggregator reads them by asking the registry (docs/design.md §3)."""
import io
import json
import os
import struct
import subprocess
import sys
import urllib.request

import fastavro
import pytest
from tecgpy.signing import SignedProducer as KafkaProducer

from conftest import ROOT
from tecgpy import events, kafka_util
from tecgpy.model import Model
from test_pipeline import http_port, start_dashboard, wait_documents


@pytest.fixture
def registry():
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "tools",
                                                     "fake_schema_registry.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


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
    wait_documents(http_port(dashboard), model)

    # Every message is 00 + id + body, and the body is readable with the
    # schema the registry holds for that id (an independent decoder).
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
            with urllib.request.urlopen(f"{registry}/schemas/ids/{sid}") as r:
                schemas[sid] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
        rec = fastavro.schemaless_reader(io.BytesIO(v[5:]), schemas[sid], None)
        assert rec["nation"] == "NLD"
    assert len(schemas) == 2, "one id per event schema"

    # An id the registry does not know: dead letter, and the rest flows on.
    kp = KafkaProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    kp.produce(prefix + "contributions", key=b"NLD", value=b"\x00\x00\x00\x03\xe7abc")
    kp.flush(10)
    more = events.generate("NLD", 10, seed=45, id_prefix="m")
    for e in more:
        model.add(e)
    p.drop("NLD-2", events.ndjson(more))
    p.wait_done("NLD-2")
    wait_documents(http_port(dashboard), model)
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=1, timeout=30)
    assert len(dead) == 1
    assert "999" in dict(dead[0].headers())["tecg.error"].decode()


def test_corrections_under_their_own_subjects(producer_factory, bootstrap, prefix, registry):
    """A topic with two record types: the event record under TOPIC-value, the
    retraction under TOPIC-org.tecg.Retraction (docs/design.md §3.2). Every
    message carries the id of the schema it was written with, and fastavro
    reads it with that schema from the registry."""
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

    with urllib.request.urlopen(f"{registry}/subjects") as r:
        subjects = set(json.loads(r.read()))
    assert subjects == {prefix + "contributions-value",
                        prefix + "training-completions-value",
                        prefix + "contributions-org.tecg.Retraction",
                        prefix + "training-completions-org.tecg.Retraction"}

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
            with urllib.request.urlopen(f"{registry}/schemas/ids/{sid}") as r:
                schemas[sid] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
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
