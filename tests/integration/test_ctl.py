"""tecg-ctl, the operator's tool, against the real broker: validate gives
the producer's reasons, decode shows every kind of topic, dead letters are
listed and replayed (counted once), status shows the aggregator's lag and
the nations' last reports, schema check says which field breaks a
proposed schema."""
import base64
import json
import os
import struct
import subprocess
import time
import urllib.request

import fastavro.schema
import pytest

from conftest import BUILD, ROOT, aggregator_group, scaled
from tecgpy import events, kafka_util, signing
from tecgpy.signing import SignedProducer as KafkaProducer
from test_pipeline import http_port, start_dashboard

CTL = os.path.join(BUILD, "tools", "ctl", "tecg-ctl")


def ctl(*args, config=None, stdin=None, timeout=60):
    argv = [CTL, args[0]] + (["-c", str(config)] if config else []) + list(args[1:])
    res = subprocess.run(argv, input=stdin, capture_output=True, timeout=scaled(timeout))
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ctl_config(tmp_path, bootstrap, prefix, *extra):
    """tecg-ctl's own configuration file: the daemons' shared keys."""
    path = tmp_path / "ctl.conf"
    path.write_text("\n".join([f"topic.prefix = {prefix}",
                               f"kafka.bootstrap.servers = {bootstrap}",
                               f"nations.file = {ROOT}/deploy/nations.csv",
                               f"group.id = {aggregator_group(prefix)}",
                               "ctl.timeout.ms = 20000", *extra]) + "\n")
    return path


def wait_for(what, check, timeout):
    deadline = time.time() + scaled(timeout)
    last = None
    while time.time() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} never happened; last: {last}")


# -------------------------------------------------------------- validate

BAD = [
    (b'{"type":"funding","event_id":"x1","nation":"DEU","occurred_at":"2005-02-22T09:00:00Z",'
     b'"amount":"-5.00","currency":"EUR","channel":"TRUST_FUND","stage":"PLEDGED"}', "'amount'"),
    (b'{"type":"personnel","event_id":"x2","nation":"FRA","occurred_at":"2005-02-22T09:00:00Z",'
     b'"role":"TRAINER","location":"IN_IRAQ","headcount":3}', "'nation'"),
    (b'not json at all', "JSON"),
    (b'{"type":"personnel","event_id":"x4","nation":"DEU","occurred_at":"2005-02-22T09:00:00Z",'
     b'"role":"TRAINER","location":"IN_IRAQ","headcount":3,"headcont":4}', "'headcont'"),
]


def test_validate_gives_the_producers_reasons_and_exit_status(producer_factory, tmp_path):
    good = events.ndjson(events.generate("DEU", 4, seed=5)).splitlines()
    lines = [good[0], BAD[0][0], good[1], BAD[1][0], good[2], BAD[2][0], good[3], BAD[3][0]]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "DEU-1.ndjson"
    path.write_bytes(data)

    rc, out, err = ctl("validate", "-X", f"nations.file={ROOT}/deploy/nations.csv", "--nation", "DEU",
                     str(path))
    assert rc == 1, err
    got = out.splitlines()
    assert [g.split(": ", 1)[0] for g in got] == [f"{path}:{n}" for n in (2, 4, 6, 8)]
    for text, (_line, field) in zip(got, BAD):
        assert field in text, text
    assert f"{path}: 8 lines, 4 bad" in err

    # The producer, given the same file, rejects the same lines with the
    # same reasons.
    p = producer_factory("DEU").start()
    p.drop("DEU-1", data)
    p.wait_done("DEU-1")
    errors, _ = p.rejected("DEU-1")
    assert [e.split(": ", 1)[1] for e in errors] == [g.split(": ", 1)[1] for g in got]

    # --json, standard input, any nation of the list (FRA is then good).
    rc, out, _ = ctl("validate", "-X", f"nations.file={ROOT}/deploy/nations.csv", "--json", "-",
                     stdin=data)
    assert rc == 1
    assert [(o["file"], o["line"]) for o in json_lines(out)] == [("-", 2), ("-", 6), ("-", 8)]

    rc, out, err = ctl("validate", "-X", f"nations.file={ROOT}/deploy/nations.csv", "-",
                       stdin=b"\n".join(good) + b"\n")
    assert (rc, out) == (0, ""), err
    # A nation that is not in the list is a usage error, a missing file a failure.
    nations = f"nations.file={ROOT}/deploy/nations.csv"
    assert ctl("validate", "-X", nations, "--nation", "XXX", str(path))[0] == 2
    assert ctl("validate", "-X", nations, str(tmp_path / "missing.ndjson"))[0] == 3


# ---------------------------------------------------------------- schema

def _schema(tmp_path, name, change):
    with open(os.path.join(ROOT, "schemas", "contribution.avsc")) as f:
        s = json.load(f)
    change(s)
    path = tmp_path / name
    path.write_text(json.dumps(s))
    return path


def _find(node, name):
    if isinstance(node, dict):
        if node.get("name") in (name, f"org.tecg.{name}"):
            return node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            hit = _find(v, name)
            if hit:
                return hit
    return None


def test_schema_show_and_check(tmp_path):
    rc, out, err = ctl("schema", "show", "--json")
    assert rc == 0, err
    shown = {o["name"]: o for o in json_lines(out)}
    # The fingerprint as fastavro computes it from the schema file.
    with open(os.path.join(ROOT, "schemas", "contribution.avsc")) as f:
        canonical = fastavro.schema.to_parsing_canonical_form(json.load(f))
    want = fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    assert shown["contribution"]["fingerprint"] == want
    assert shown["training"]["record"] == "org.tecg.TrainingCompletion"

    def check(path):
        rc, out, err = ctl("schema", "check", "--json", str(path))
        return rc, (json_lines(out) or [None])[0], err

    # An optional field with a default: compatible both ways.
    ok = _schema(tmp_path, "ok.avsc", lambda s: s["fields"].append(
        {"name": "note", "type": ["null", "string"], "default": None}))
    rc, res, err = check(ok)
    assert rc == 0, err
    assert res["backward"] == {"compatible": True} and res["forward"] == {"compatible": True}

    # A new field without a default: new readers cannot read old data.
    nodef = _schema(tmp_path, "nodef.avsc",
                    lambda s: s["fields"].append({"name": "note", "type": "string"}))
    rc, res, _ = check(nodef)
    assert rc == 1
    assert not res["backward"]["compatible"] and res["forward"]["compatible"]
    assert res["backward"]["reason"].startswith("field note: ")

    # A new enum symbol: today's readers cannot read it.
    sym = _schema(tmp_path, "sym.avsc",
                  lambda s: _find(s, "FundingStage")["symbols"].append("REFUNDED"))
    rc, res, _ = check(sym)
    assert rc == 1
    assert res["backward"]["compatible"] and not res["forward"]["compatible"]
    assert "detail.Funding.stage" in res["forward"]["reason"]
    assert "REFUNDED" in res["forward"]["reason"]

    # A reordered enum breaks tecg's positional readers both ways.
    def reorder(s):
        _find(s, "Role")["symbols"][0:2] = ["MENTOR", "TRAINER"]
    rc, out, _ = ctl("schema", "check", str(_schema(tmp_path, "order.avsc", reorder)))
    assert rc == 1
    assert out.count("INCOMPATIBLE") == 2 and "detail.Personnel.role" in out

    # A changed type names the field; not a schema at all is a "no" too.
    rc, res, _ = check(_schema(tmp_path, "type.avsc",
                               lambda s: s["fields"][3].update(type="string")))
    assert rc == 1 and "utc_offset_minutes" in res["backward"]["reason"]
    (tmp_path / "junk.avsc").write_text("{\"type\": ")
    assert ctl("schema", "check", str(tmp_path / "junk.avsc"))[0] == 1


# ------------------------------------- dead letters, replay, decode of all

MISSING = "NOR"  # the nation the first aggregator's nations list lacks


def _without(path_in, path_out, nation):
    lines = open(path_in).read().splitlines(keepends=True)
    path_out.write_text("".join(l for l in lines if not l.startswith(nation + ",")))
    return path_out


def _state_events(config, nation):
    rc, out, err = ctl("decode", "--topic", "nation-state", config=config)
    assert rc == 0, err
    states = [m for m in json_lines(out) if m["key"] == nation]
    return states[-1]["value"]["events"] if states else 0


def test_dead_letters_replayed_are_counted_once_and_every_topic_decodes(
        producer_factory, daemon_factory, bootstrap, prefix, tmp_path):
    keys = signing.session_keys()
    nations = _without(os.path.join(ROOT, "deploy", "nations.csv"),
                       tmp_path / "nations-old.csv", MISSING)
    keyring = _without(keys.keyring, tmp_path / "keys-old.csv", MISSING)
    agg = daemon_factory("aggregator", batch__max__ms=50, security__keyring=keyring)
    agg.config.write_text(agg.config.read_text().replace(
        f"nations.file = {ROOT}/deploy/nations.csv", f"nations.file = {nations}"))
    agg.start()
    config = agg.config  # tecg-ctl reads the aggregator's own file
    evs = events.generate(MISSING, 8, seed=9, id_prefix="NOR-r")
    ok = events.generate("DNK", 4, seed=10, id_prefix="DNK-r")
    producer_factory(MISSING).start().drop("NOR-1", events.ndjson(evs))
    producer_factory("DNK").start().drop("DNK-1", events.ndjson(ok))

    def listed():
        rc, out, err = ctl("dead-letter", "list", "--json", config=config)
        assert rc == 0, err
        got = json_lines(out)
        return len(got) == len(evs), got
    dead = wait_for("8 dead letters", listed, 60)
    assert {d["stage"] for d in dead} <= {"signature", "contract"}
    assert all(d["key"] == MISSING and d["source"].startswith(prefix) for d in dead)
    rc, out, _ = ctl("dead-letter", "list", config=config)
    assert rc == 0 and out.splitlines()[0].split()[:2] == ["ID", "STAGE"]
    assert len(out.splitlines()) == 1 + len(evs)

    # show: the headers and the original event, decoded.
    rc, out, err = ctl("dead-letter", "show", "--json", dead[0]["id"], config=config)
    assert rc == 0, err
    shown = json_lines(out)[0]
    assert shown["headers"]["tecg.source"] == dead[0]["source"]
    assert shown["value"]["nation"] == MISSING
    assert shown["value"]["event_id"] in {e["event_id"] for e in evs}
    assert ctl("dead-letter", "show", "0:999999", config=config)[0] == 1

    # The nations list (and keyring) are fixed; replay everything, twice.
    agg.stop()
    agg2 = daemon_factory("aggregator", batch__max__ms=50, metrics__file=tmp_path / "m.prom",
                          stats__interval__ms=200).start()
    config = agg2.config
    rc, out, err = ctl("dead-letter", "replay", "--dry-run", "--all", config=config)
    assert rc == 0, err
    assert out.count("would replay") == len(evs)
    for _ in range(2):
        rc, out, err = ctl("dead-letter", "replay", "--json", "--all", config=config)
        assert rc == 0, err
        results = json_lines(out)
        assert [r["outcome"] for r in results] == ["replayed"] * len(evs)
    wait_for("the replays counted", lambda: (_state_events(config, MISSING) == len(evs),
                                             _state_events(config, MISSING)), 60)

    def counters():
        text = (tmp_path / "m.prom").read_text() if (tmp_path / "m.prom").exists() else ""
        c = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
             if l.startswith("tecg_aggregator_") and " " in l}
        return c.get("tecg_aggregator_duplicates_total") == len(evs), c
    got = wait_for("the second replay seen as duplicates", counters, 60)
    assert got["tecg_aggregator_counted_total"] == len(evs)

    # decode: the input topic holds each original and its two replays with
    # the same key, value, timestamp and signature headers.
    rc, out, err = ctl("decode", "--topic", "contributions", config=config)
    assert rc == 0, err
    msgs = [m for m in json_lines(out) if m["key"] == MISSING]
    training = json_lines(ctl("decode", "--topic", prefix + "training-completions",
                              config=config)[1])
    msgs += [m for m in training if m["key"] == MISSING]
    assert len(msgs) == 3 * len(evs)
    by_id = {}
    for m in msgs:
        assert m["value"]["nation"] == MISSING and m["topic"].startswith(prefix)
        assert {"partition", "offset", "timestamp", "time"} <= m.keys()
        by_id.setdefault(m["value"]["event_id"], []).append(m)
    assert set(by_id) == {e["event_id"] for e in evs}
    for copies in by_id.values():
        first = copies[0]
        assert "tecg.replay-of" not in first["headers"]
        for c in copies[1:]:
            assert c["headers"]["tecg.replay-of"].startswith(prefix + "dead-letter/")
            for k in ("partition", "timestamp", "value"):
                assert c[k] == first[k], k
            for h in (signing.HDR_KEY_ID, signing.HDR_SIGNATURE):
                assert c["headers"][h] == first["headers"][h]
    fund = next(m["value"] for m in msgs if m["value"]["type"] == "funding")
    orig = next(e for e in evs if e["event_id"] == fund["event_id"])
    assert (fund["amount"], fund["currency"]) == (orig["amount"], orig["currency"])

    # event-ids: the id record under NATION/event_id; dead-letter: headers.
    rc, out, _ = ctl("decode", "--topic", "event-ids", config=config)
    ids = {m["key"]: m["value"] for m in json_lines(out)}
    assert {f"{MISSING}/{e['event_id']}" for e in evs} <= ids.keys()
    assert all(v["status"] == "active" and "effect" in v for v in ids.values()), ids
    rec = ids[f"{MISSING}/{fund['event_id']}"]
    assert rec["type"] == "funding" and rec["effect"]["amount"] == fund["amount"]
    rc, out, _ = ctl("decode", "--topic", "dead-letter", "--count", "3", config=config)
    got = json_lines(out)
    assert rc == 0 and len(got) == 3
    assert all(m["headers"]["tecg.stage"] in ("signature", "contract") for m in got)
    # --from-time after everything: nothing; --partition out of range: failure.
    rc, out, _ = ctl("decode", "--topic", "dead-letter", "--from-time", "2999-01-01T00:00:00Z",
                     config=config)
    assert (rc, out) == (0, "")
    assert ctl("decode", "--topic", "dead-letter", "--partition", "7", config=config)[0] == 3
    assert ctl("decode", "--topic", "nope", config=config)[0] == 2

    # dashboards: JSON documents, once the dashboard made them.
    start_dashboard(daemon_factory)

    def dashboards():
        rc, out, _ = ctl("decode", "--topic", "dashboards", config=config)
        docs = {m["key"]: m["value"] for m in json_lines(out)}
        return {"funding", "staffing", "training"} <= docs.keys(), docs
    docs = wait_for("dashboards", dashboards, 60)
    assert docs["funding"]["dashboard"] == "funding"


# ---------------------------------------------------------------- status

def test_status_shows_lag_last_reports_and_health(producer_factory, daemon_factory, bootstrap,
                                                 prefix, tmp_path):
    config = ctl_config(tmp_path, bootstrap, prefix, "health.bogus.url = http://127.0.0.1:9/")
    evs = events.generate("BEL", 12, seed=3, id_prefix="BEL-s")
    p = producer_factory("BEL").start()
    p.drop("BEL-1", events.ndjson(evs))
    p.wait_done("BEL-1")

    rc, out, err = ctl("status", "--json", config=config)
    assert rc == 1, err  # the bogus health URL does not answer
    st = json_lines(out)[0]
    assert sum(r["lag"] for r in st["lag"]) == len(evs)
    assert all(r["committed"] is None for r in st["lag"])
    bel = next(n for n in st["nations"] if n["nation"] == "BEL")
    assert bel["last_report"] is None
    assert st["health"][0]["name"] == "bogus" and not st["health"][0]["healthy"]

    daemon_factory("aggregator", batch__max__ms=50).start()
    dashboard = start_dashboard(daemon_factory)
    port = http_port(dashboard)
    config = ctl_config(tmp_path, bootstrap, prefix,
                        f"health.dashboard.url = http://127.0.0.1:{port}/healthz")

    def caught_up():
        rc, out, err = ctl("status", "--json", config=config)
        st = json_lines(out)[0] if out else {}
        bel = next((n for n in st.get("nations", []) if n["nation"] == "BEL"), {})
        done = (rc == 0 and sum(r["lag"] for r in st["lag"]) == 0
                and bel.get("events") == len(evs) and len(st["dashboards"]) == 4)
        return done, (rc, err, st)
    _, _, st = wait_for("lag 0, BEL counted, four dashboards", caught_up, 90)
    # A partition the aggregator never read from has nothing committed.
    assert all(r["committed"] == r["end"] or (r["committed"] is None and r["end"] == 0)
               for r in st["lag"])
    assert any(r["committed"] for r in st["lag"])
    latest = max(events.parse_time(e["occurred_at"])[0] for e in evs)
    bel = next(n for n in st["nations"] if n["nation"] == "BEL")
    assert bel["age_ms"] >= int(time.time() * 1000) - latest - 60000
    assert st["health"] == [{"name": "dashboard", "url": f"http://127.0.0.1:{port}/healthz",
                             "status": 200, "healthy": True}]
    assert {d["dashboard"] for d in st["dashboards"]} == {"funding", "staffing", "training", "history"}
    assert all(d["version"] >= 1 for d in st["dashboards"])

    rc, out, err = ctl("status", config=config)
    assert rc == 0, err
    assert f"Consumer group {aggregator_group(prefix)}" in out and "BEL" in out


# ------------------------------------------------- Confluent framing too

def test_decode_confluent_framed_events_with_the_registry(bootstrap, prefix, codec, tmp_path,
                                                          registry):
    """Messages in the Confluent wire format (00, schema id, body), written
    here by hand with ids from the registry (Apicurio, conftest's registry
    fixture), as any Confluent client would."""
    ids = {}
    for name, topic in (("contribution", "contributions"),
                        ("training", "training-completions")):
        with open(os.path.join(ROOT, "schemas", f"{name}.avsc")) as f:
            body = json.dumps({"schema": f.read()}).encode()
        req = urllib.request.Request(f"{registry}/subjects/{prefix}{topic}-value/versions",
                                     data=body, method="POST", headers={
                                         "Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            ids[name] = json.loads(r.read())["id"]
    evs = events.generate("NLD", 6, seed=4)
    kp = KafkaProducer(kafka_util.client_conf(bootstrap))
    for e in evs:
        name, rec = events.expected_record(e)
        value = b"\0" + struct.pack(">I", ids[name]) + codec.encode(name, rec)[10:]
        topic = "training-completions" if name == "training" else "contributions"
        kp.produce(prefix + topic, key=b"NLD", value=value)
    assert kp.flush(30) == 0

    config = ctl_config(tmp_path, bootstrap, prefix)
    # Without the registry the schema id is unknown: shown, exit 1.
    rc, out, _ = ctl("decode", "--topic", "contributions", config=config)
    got = json_lines(out)
    assert rc == 1 and got and all("registry id" in m["value_error"] for m in got)
    assert all(base64.b64decode(m["value_base64"])[0] == 0 for m in got)
    rc, out, err = ctl("decode", "--topic", "contributions", "-X",
                       f"schema.registry.url={registry}", config=config)
    assert rc == 0, err
    rc2, out2, err2 = ctl("decode", "--topic", "training-completions", "-X",
                          f"schema.registry.url={registry}", config=config)
    assert rc2 == 0, err2
    decoded = {m["value"]["event_id"]: m["value"] for m in json_lines(out) + json_lines(out2)}
    assert set(decoded) == {e["event_id"] for e in evs}
    for e in evs:
        assert decoded[e["event_id"]]["type"] == e["type"]
        assert decoded[e["event_id"]]["occurred_at"] == e["occurred_at"]
