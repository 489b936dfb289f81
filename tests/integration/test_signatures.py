"""Signed national reports (docs/design.md §9.1) against the real broker:
only a nation's own key reports for it. Forged, replayed, misplaced,
expired and revoked messages go to the dead-letter topic with a reason
that says which, and never reach the nation-state."""
import os
import re
import subprocess
import time

from conftest import BUILD, scaled
from tecgpy import events, kafka_util, signing

C = "contributions"


def metrics(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out = {m.group(1): int(float(m.group(2)))
           for m in re.finditer(r"^tecg_aggregator_(\w+) (\S+)$", text, re.M)}
    for m in re.finditer(r'^tecg_aggregator_signature_refused_total\{reason="(\w+)"\} (\S+)$',
                         text, re.M):
        out["refused_" + m.group(1)] = int(float(m.group(2)))
    return out


def wait_metrics(path, want, timeout=60):
    deadline = time.time() + scaled(timeout)
    got = {}
    while time.time() < deadline:
        got = metrics(path)
        if all(got.get(k) == v for k, v in want.items()):
            return got
        time.sleep(0.2)
    raise AssertionError(f"aggregator counters {got} never reached {want}")


def start_aggregator(daemon_factory, tmp_path, **settings):
    metrics_file = tmp_path / "aggregator.prom"
    daemon_factory("aggregator", batch__max__ms=50, stats__interval__ms=200,
                   metrics__file=metrics_file, **settings).start()
    return metrics_file


def personnel(nation, event_id, headcount):
    return {"type": "personnel", "event_id": event_id, "nation": nation,
            "occurred_at": "2005-06-01T09:00:00Z", "role": "TRAINER",
            "location": "IN_IRAQ", "headcount": headcount}


def states(bootstrap, prefix, codec):
    """Every nation-state record: (partition, nation, record)."""
    out = []
    for m in kafka_util.consume_all(bootstrap, [prefix + "nation-state"], idle=2.0):
        _, rec = codec.decode(m.value())
        out.append((m.partition(), m.key().decode(), rec))
    return out


def dead_letters(bootstrap, prefix, expected):
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=expected,
                                  timeout=scaled(30))
    return [(dict(m.headers())["tecg.stage"].decode(),
             dict(m.headers())["tecg.error"].decode(), m) for m in dead]


def test_forged_replayed_and_misplaced_events_are_refused(
        producer_factory, daemon_factory, bootstrap, prefix, codec, tmp_path):
    metrics_file = start_aggregator(daemon_factory, tmp_path)
    topic = prefix + C

    # One genuine DEU event, signed by tecg-producer with DEU's key.
    p = producer_factory("DEU").start()
    p.drop("DEU-1", events.ndjson([personnel("DEU", "DEU-p-1", 12)]))
    p.wait_done("DEU-1")
    wait_metrics(metrics_file, {"counted_total": 1})
    (genuine,) = kafka_util.consume_all(bootstrap, [topic], expected=1, timeout=scaled(30))
    hdrs = genuine.headers()
    assert dict(hdrs)[signing.HDR_KEY_ID] == signing.session_keys().keys["DEU"].key_id.encode()
    assert len(dict(hdrs)[signing.HDR_SIGNATURE]) == 64

    # 1. The forgery of the probe: kcat -P -k FRA, no signature.
    forged = tmp_path / "forged.avro"
    forged.write_bytes(codec.encode(*events.expected_record(personnel("FRA", "FRA-x", 999))))
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-k", "FRA", str(forged)],
                   check=True, timeout=30)

    # 2. DEU's signed event replayed as FRA: headers and timestamp copied.
    # 3. The same signed DEU event copied to another partition.
    # 4. DEU's signed event with one byte of its value changed.
    kp = signing.SignedProducer({"bootstrap.servers": bootstrap}, keys={})
    ts = genuine.timestamp()[1]
    kp.produce(topic, key=b"FRA", value=genuine.value(), headers=hdrs, timestamp=ts)
    other = (genuine.partition() + 1) % 3
    kp.produce(topic, key=b"DEU", value=genuine.value(), headers=hdrs, timestamp=ts,
               partition=other)
    flipped = bytearray(genuine.value())
    flipped[-1] ^= 1
    kp.produce(topic, key=b"DEU", value=bytes(flipped), headers=hdrs, timestamp=ts,
               partition=genuine.partition())
    assert kp.flush(30) == 0

    got = wait_metrics(metrics_file, {"counted_total": 1, "dead_lettered_total": 4,
                                      "refused_unsigned": 1, "refused_other_nation": 1,
                                      "refused_wrong_partition": 1,
                                      "refused_bad_signature": 1})
    assert got["duplicates_total"] == 0
    reasons = sorted(why for stage, why, _ in dead_letters(bootstrap, prefix, 4)
                     if stage == "signature")
    assert len(reasons) == 4, reasons
    assert reasons[0].startswith("bad signature"), reasons
    assert reasons[1].startswith("key of another nation: key id DEU-test-1 belongs to DEU, "
                                 "the message key says FRA"), reasons
    assert reasons[2].startswith("unsigned"), reasons
    assert reasons[3].startswith(f"wrong partition: DEU maps to partition "
                                 f"{genuine.partition()} of 3, the message is on {other}"), \
        reasons

    # FRA has no state at all, DEU exactly one record on its own partition.
    recs = states(bootstrap, prefix, codec)
    assert [n for _, n, _ in recs if n == "FRA"] == []
    deu = [(part, rec) for part, n, rec in recs if n == "DEU"]
    assert {part for part, _ in deu} == {genuine.partition()}, deu
    assert deu[-1][1]["events"] == 1
    assert [s["headcount"] for s in deu[-1][1]["personnel"]] == [12]


def test_rotated_keys_count_and_revoked_or_expired_keys_do_not(
        daemon_factory, bootstrap, prefix, codec, tmp_path):
    tecg_producer = os.path.join(BUILD, "producers", "tecg-producer")
    keys = {}
    for kid in ("NOR-old", "NOR-new", "NOR-expired", "NOR-revoked"):
        keys[kid], _ = signing.keygen(tecg_producer, "NOR", kid, tmp_path / f"{kid}.key")
    keyring = tmp_path / "nation-keys.csv"
    keyring.write_text(
        signing.KEYRING_HEADER
        # Rotation: the old key until an hour from now, the new one since
        # an hour ago; both windows hold now.
        + signing.keyring_line("NOR", keys["NOR-old"], valid_until=iso(+3600))
        + signing.keyring_line("NOR", keys["NOR-new"], valid_from=iso(-3600))
        + signing.keyring_line("NOR", keys["NOR-expired"], valid_from="2005-01-01T00:00:00Z",
                               valid_until=iso(-60))
        # Revoked an hour from now: refused all the same (nobody knows
        # when a stolen key was first used).
        + signing.keyring_line("NOR", keys["NOR-revoked"], revoked_at=iso(+3600)))
    metrics_file = start_aggregator(daemon_factory, tmp_path, security__keyring=keyring)

    topic = prefix + C
    evs = [personnel("NOR", f"NOR-{kid}", i + 1) for i, kid in enumerate(keys)]
    for kid, e in zip(keys, evs):
        kp = signing.SignedProducer({"bootstrap.servers": bootstrap,
                                     "partitioner": "murmur2_random"}, keys={"NOR": keys[kid]})
        kp.produce(topic, key=b"NOR", value=codec.encode(*events.expected_record(e)))
        assert kp.flush(30) == 0

    wait_metrics(metrics_file, {"counted_total": 2, "dead_lettered_total": 2,
                                "refused_expired": 1, "refused_revoked": 1})
    reasons = sorted(why for _, why, _ in dead_letters(bootstrap, prefix, 2))
    assert reasons[0].startswith("key not valid at the message's timestamp: key id "
                                 "NOR-expired expired at "), reasons
    assert reasons[1].startswith("key revoked: key id NOR-revoked of NOR"), reasons
    recs = [rec for _, n, rec in states(bootstrap, prefix, codec) if n == "NOR"]
    assert recs[-1]["events"] == 2
    # Only the two valid keys' events can have won the one cell.
    assert [s["event_id"] for s in recs[-1]["personnel"]] in (["NOR-NOR-old"], ["NOR-NOR-new"])


def iso(seconds_from_now):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def test_sealed_batches_verify_event_by_event_in_another_implementation(
        producer_factory, daemon_factory, bootstrap, prefix, tmp_path):
    """A file read at full speed is signed in sealed batches (one signature
    for many events, each carrying its proof): Python's `cryptography` and
    hashlib verify every event alone, the aggregator counts every one, and
    an event given a neighbour's proof is refused by both."""
    n = 3000
    metrics_file = start_aggregator(daemon_factory, tmp_path)
    topic = prefix + C
    p = producer_factory("DEU").start()
    p.drop("DEU-bulk", events.ndjson([personnel("DEU", f"DEU-s-{i}", i % 50 + 1)
                                      for i in range(n)]))
    p.wait_done("DEU-bulk")
    wait_metrics(metrics_file, {"counted_total": n})

    public = signing.session_keys().keys["DEU"].public.raw
    msgs = kafka_util.consume_all(bootstrap, [topic], expected=n, timeout=scaled(60))
    assert len(msgs) == n
    sealed = {}
    for m in msgs:
        hdrs = dict(m.headers())
        batch = hdrs.get(signing.HDR_BATCH)
        assert signing.verify_event(public, m.key(), topic, m.timestamp()[1], m.value(),
                                    hdrs[signing.HDR_SIGNATURE], batch), m.offset()
        if batch is not None:
            sealed.setdefault(hdrs[signing.HDR_SIGNATURE], []).append(m)
    # At full speed most events share a signature with others.
    assert sum(len(b) for b in sealed.values()) > n // 2, len(sealed)
    assert len(sealed) < n // 4

    # Two events of one batch: the first given the second's proof.
    first, second = next(b for b in sealed.values() if len(b) >= 2)[:2]
    swapped = [(k, v) for k, v in first.headers() if k != signing.HDR_BATCH]
    swapped.append((signing.HDR_BATCH, dict(second.headers())[signing.HDR_BATCH]))
    assert not signing.verify_event(public, first.key(), topic, first.timestamp()[1],
                                    first.value(), dict(swapped)[signing.HDR_SIGNATURE],
                                    dict(swapped)[signing.HDR_BATCH])
    kp = signing.SignedProducer({"bootstrap.servers": bootstrap}, keys={})
    kp.produce(topic, key=first.key(), value=first.value(), headers=swapped,
               timestamp=first.timestamp()[1], partition=first.partition())
    assert kp.flush(30) == 0
    wait_metrics(metrics_file, {"counted_total": n, "dead_lettered_total": 1,
                                "refused_bad_signature": 1})
    ((stage, why, _),) = dead_letters(bootstrap, prefix, 1)
    assert stage == "signature"
    assert why.startswith("bad signature: does not verify with key id DEU-test-1 over key, "
                          "topic, timestamp and value (sealed batch: proof and root)"), why
