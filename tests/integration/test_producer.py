"""tecg-producer against the real broker: what goes in a spool comes out of
the topics, decoded by an independent Avro implementation (fastavro) and
compared line by line with the input."""
import json
import os
import subprocess
import time

import pytest

from conftest import ROOT, check_reports, scaled, wrapped, wrapper_texts
from tecgpy import events, kafka_util

TOPICS = ("contributions", "training-completions")


def read_back(bootstrap, prefix, codec, expected):
    msgs = kafka_util.consume_all(bootstrap, [prefix + t for t in TOPICS],
                                  expected=expected, timeout=60)
    out = []
    for m in msgs:
        name, rec = events.normalize_decoded(*codec.decode(m.value()))
        out.append((m.topic(), m.partition(), m.key(), name, rec))
    return out


def assert_same_events(got, evs, prefix):
    """Every input event exactly once, on the right topic, keyed by nation,
    with the exact field values."""
    by_id = {}
    for topic, _part, key, name, rec in got:
        ident = (rec["nation"], rec["event_id"])
        assert ident not in by_id, f"event {ident} delivered twice"
        by_id[ident] = (topic, key, name, rec)
    assert len(by_id) == len(evs)
    for ev in evs:
        topic, key, name, rec = by_id[(ev["nation"], ev["event_id"])]
        exp_name, exp_rec = events.expected_record(ev)
        assert (name, rec) == (exp_name, exp_rec), f"line for {ev['event_id']}"
        assert key == ev["nation"].encode()
        # A retraction travels with the type it retracts (docs/design.md §2.9).
        routed = ev["retracts_type"] if ev["type"] == "retraction" else ev["type"]
        want_topic = "training-completions" if routed == "training" else "contributions"
        assert topic == prefix + want_topic


def test_spool_file_round_trip(producer_factory, bootstrap, prefix, codec):
    p = producer_factory("FRA").start()
    evs = events.generate("FRA", 400, seed=7)
    p.drop("FRA-0001", events.ndjson(evs))
    done = p.wait_done("FRA-0001")
    assert done.read_bytes() == events.ndjson(evs), "done/ keeps the file intact"
    assert_same_events(read_back(bootstrap, prefix, codec, 400), evs, prefix)
    assert p.stop() == 0
    log = p.log_text()
    assert "FRA-0001.ndjson: 400 lines, 400 delivered, 0 rejected" in log
    assert p.rejected("FRA-0001") == ([], b"")


def test_stdin_left_open_delivers_what_it_read(producer_factory, bootstrap, prefix, codec,
                                               tmp_path):
    """A national system that pipes its events and keeps the pipe open: what
    was read is signed (a seal does not wait to fill) and delivered while
    stdin waits for more, not when it ends."""
    p = producer_factory("FRA").without_spool()
    evs = events.generate("FRA", 5, seed=11)
    log = tmp_path / "stdin-open.log"
    argv, base = wrapped([p.binary, "--config", str(p.config), "-"], str(log) + ".wrap")
    with open(log, "wb") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=logf)
    try:
        proc.stdin.write(events.ndjson(evs))
        proc.stdin.flush()
        assert_same_events(read_back(bootstrap, prefix, codec, len(evs)), evs, prefix)
        assert proc.poll() is None, "stdin is still open: the producer reads on"
        proc.stdin.close()
        rc = proc.wait(timeout=scaled(60))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    check_reports("tecg-producer FRA (stdin left open)", rc,
                  [("log", text)] + wrapper_texts(base))
    assert rc == 0, text
    assert "stdin: 5 lines, 5 delivered, 0 rejected" in text


def test_corrections_decode_with_fastavro(producer_factory, bootstrap, prefix, codec):
    """supersedes on every counted type and retractions of every type, as
    tecg writes them, read by fastavro with nothing but schemas/*.avsc: the
    new field and the new writer schema are plain Avro. Field by field
    equal to the input, each retraction on its target's topic."""
    p = producer_factory("FRA").start()
    base = events.generate("FRA", 8, seed=11)
    evs = list(base)
    for i, target in enumerate(base):
        fixed = dict(target, event_id=f"fix-{i}", supersedes=target["event_id"])
        evs.append(fixed)
        evs.append({"type": "retraction", "event_id": f"ret-{i}", "nation": "FRA",
                    "occurred_at": "2005-03-01T10:00:00+01:00",
                    "retracts": fixed["event_id"], "retracts_type": target["type"],
                    "reason": "Chiffre saisi deux fois \u2014 corrig\u00e9 " + "x" * i})
    kinds = {e["type"] for e in base}
    assert kinds == {"funding", "equipment", "personnel", "training"}, kinds
    p.drop("FRA-corr", events.ndjson(evs))
    p.wait_done("FRA-corr")
    got = read_back(bootstrap, prefix, codec, len(evs))
    assert_same_events(got, evs, prefix)
    names = {name for _t, _p, _k, name, _r in got}
    assert names == {"contribution", "training", "retraction"}
    # A retraction shares its target's partition (key = nation).
    part = {(rec["event_id"], topic): part for topic, part, _k, _n, rec in got}
    for e in evs:
        if e["type"] == "retraction":
            topic = prefix + ("training-completions" if e["retracts_type"] == "training"
                              else "contributions")
            assert part[(e["event_id"], topic)] == part[(e["retracts"], topic)]
    assert p.stop() == 0


def test_bad_lines_are_rejected_with_reasons_and_the_rest_delivered(
        producer_factory, bootstrap, prefix, codec):
    p = producer_factory("DEU").start()
    good = events.generate("DEU", 6, seed=3)
    bad = [
        b'{"type":"funding","event_id":"x1","nation":"DEU","occurred_at":"2005-02-22T09:00:00Z",'
        b'"amount":"-5.00","currency":"EUR","channel":"TRUST_FUND","stage":"PLEDGED"}',
        b'{"type":"personnel","event_id":"x2","nation":"FRA","occurred_at":"2005-02-22T09:00:00Z",'
        b'"role":"TRAINER","location":"IN_IRAQ","headcount":3}',
        b'not json at all',
        b'{"type":"training","event_id":"x3","nation":"DEU","occurred_at":"2005-02-30T09:00:00Z",'
        b'"course":"c","level":"SENIOR","location":"IN_IRAQ","trainees":3}',
        b'{"type":"personnel","event_id":"x4","nation":"DEU","occurred_at":"2005-02-22T09:00:00Z",'
        b'"role":"TRAINER","location":"IN_IRAQ","headcount":3,"headcont":4}',
    ]
    good_lines = events.ndjson(good).splitlines()
    lines = [good_lines[0], bad[0], good_lines[1], bad[1], good_lines[2], bad[2],
             good_lines[3], bad[3], good_lines[4], bad[4], good_lines[5]]
    p.drop("DEU-7", b"\n".join(lines) + b"\n")
    p.wait_done("DEU-7")
    assert_same_events(read_back(bootstrap, prefix, codec, 6), good, prefix)

    errors, rejected_lines = p.rejected("DEU-7")
    assert rejected_lines == b"\n".join(bad) + b"\n"
    assert len(errors) == 5
    expect = [(2, "'amount'"), (4, "'nation'"), (6, ""), (8, "'occurred_at'"),
              (10, "'headcont'")]
    for text, (lineno, field) in zip(errors, expect):
        assert text.startswith(f"DEU-7.ndjson:{lineno}: "), text
        assert field in text, text
    assert "FRA" in errors[1] and "DEU" in errors[1]
    assert "DEU-7.ndjson: 11 lines, 6 delivered, 5 rejected" in p.log_text()


def test_crlf_no_final_newline_and_duplicate_lines(producer_factory, bootstrap,
                                                   prefix, codec):
    p = producer_factory("ITA").start()
    evs = events.generate("ITA", 20, seed=11)
    data = events.ndjson(evs, newline="\r\n", final_newline=False)
    # The same events again: every line is delivered; counting each event_id
    # once is the aggregator's job (docs/design.md §4).
    dup = events.ndjson(evs[:5])
    p.drop("ITA-crlf", data)
    p.drop("ITA-dup", dup)
    p.wait_done("ITA-crlf")
    p.wait_done("ITA-dup")
    got = read_back(bootstrap, prefix, codec, 25)
    assert len(got) == 25
    ids = sorted(r[4]["event_id"] for r in got)
    assert ids == sorted([e["event_id"] for e in evs] + [e["event_id"] for e in evs[:5]])
    first = {r[4]["event_id"]: r for r in got}
    assert_same_events(list(first.values()), evs, prefix)
    assert "ITA-crlf.ndjson: 20 lines, 20 delivered, 0 rejected" in p.log_text()


def test_tmp_files_are_left_alone(producer_factory):
    p = producer_factory("ESP").start()
    incoming = p.spool / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "ESP-1.ndjson.tmp").write_bytes(events.ndjson(events.generate("ESP", 3)))
    (incoming / "notes.txt").write_text("not an input")
    time.sleep(1.0)
    assert (incoming / "ESP-1.ndjson.tmp").exists()
    assert (incoming / "notes.txt").exists()
    assert not any((p.spool / "done").iterdir())
    (incoming / "ESP-1.ndjson.tmp").rename(incoming / "ESP-1.ndjson")
    p.wait_done("ESP-1")


def test_several_nations_at_once_keep_their_partition(producer_factory, bootstrap,
                                                      prefix, codec):
    nations = ["BEL", "NLD", "POL", "USA", "GBR"]
    producers = [producer_factory(n).start() for n in nations]
    all_events = []
    for n, p in zip(nations, producers):
        evs = events.generate(n, 200, seed=hash(n) % 1000)
        all_events += evs
        p.drop(f"{n}-a", events.ndjson(evs[:120]))
        p.drop(f"{n}-b", events.ndjson(evs[120:]))
    for n, p in zip(nations, producers):
        p.wait_done(f"{n}-a")
        p.wait_done(f"{n}-b")
    got = read_back(bootstrap, prefix, codec, len(all_events))
    assert_same_events(got, all_events, prefix)
    # One aggregator must own all of a nation's events: same partition for
    # the nation on both topics.
    parts = {}
    for topic, part, key, _n, _r in got:
        parts.setdefault(key, set()).add(part)
    assert all(len(s) == 1 for s in parts.values()), parts
    for p in producers:
        assert p.stop() == 0


def test_stdin_mode(producer_factory, bootstrap, prefix, codec):
    p = producer_factory("CAN")
    evs = events.generate("CAN", 50, seed=5)
    data = events.ndjson(evs) + b'{"type":"nope"}\n'
    res = p.run_stdin(data)
    assert res.returncode == 0, res.stderr.decode()
    err = res.stderr.decode()
    assert "51 lines, 50 delivered, 1 rejected" in err
    assert ":51: rejected: field 'type'" in err
    assert_same_events(read_back(bootstrap, prefix, codec, 50), evs, prefix)


def test_config_errors_name_file_and_line(tmp_path):
    binary = os.path.join(os.environ.get("TECG_BUILD_DIR", "build"), "producers",
                          "tecg-producer")
    cases = [
        ("nation = FRA\nspool.dir = /tmp/x\nspool.scan.intervl.ms = 5\n",
         ":3: unknown key 'spool.scan.intervl.ms'"),
        ("nation = FRA\nspool.dir = /tmp/x\nshutdown.timeout.ms = soon\n",
         ":3: 'shutdown.timeout.ms': \"soon\" is not an integer"),
        ("nation = FRA\nspool.dir = /tmp/x\nkafka.no.such.property = 1\n",
         ":3: kafka.no.such.property: No such configuration property"),
        ("spool.dir = /tmp/x\n", "required key 'nation' is not set"),
        ("nation = XXX\nspool.dir = /tmp/x\n", "nation: \"XXX\" is not in"),
        ("nation = FRA\nnation = DEU\n", ":2: 'nation' is already set at"),
        ("nation FRA\n", ":1: expected 'key = value'"),
    ]
    # The compiled default of nations.file is the installed one
    # (/etc/tecg/nations.csv); the "XXX is not in" case needs a list.
    nations = os.path.join(ROOT, "deploy", "nations.csv")
    for text, want in cases:
        conf = tmp_path / "p.conf"
        conf.write_text(text)
        res = subprocess.run([binary, "--config", str(conf), "-X", f"nations.file={nations}",
                              "--check-config"],
                             capture_output=True, timeout=20)
        assert res.returncode == 2, (text, res.stderr)
        assert want in res.stderr.decode(), (want, res.stderr.decode())
    res = subprocess.run([binary, "--help"], capture_output=True, timeout=20)
    assert res.returncode == 0
    assert b"kafka.<property>" in res.stdout and b"spool.dir" in res.stdout
