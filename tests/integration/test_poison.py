"""Poison messages on the input topics: whatever a
broken or hostile client writes to tecg.contributions or
tecg.training-completions, the aggregator puts it in tecg.dead-letter with
the original key and bytes, the stage that refused it, the reason written
in the table below and its source (topic/partition/offset); it never
crashes, never counts any of it, and the partition keeps flowing: the valid
events written after each poison, on the same key and so the same
partition, are all counted (the dashboards match the model, and the
aggregator's counters say exactly how many were counted and refused).

The bodies are built byte by byte (and checked against fastavro for the
valid ones), so each case says where the damage is and the expected reason
names the field and the body byte."""
import os
import random
import re
import struct
import time

from tecgpy.signing import SignedProducer as KafkaProducer

from conftest import ROOT, scaled
from tecgpy import avro_frames, events, kafka_util
from tecgpy.model import Model
from test_pipeline import http_port, start_dashboard, wait_documents

NATION = "GRC"
C = "contributions"
T = "training-completions"
SO = b"\xc3\x01"                                   # single-object magic
FP_CONTRIBUTION = bytes.fromhex("fa26e2c03bf3d58d")  # README: wire bytes
FP_TRAINING = bytes.fromhex("db65c399a8188022")
# Computed, not written down: the nation-state schema grows with the
# aggregator's state, and any of its fingerprints is as foreign here.
FP_NATION_STATE = struct.pack("<Q", avro_frames.Codec(
    os.path.join(ROOT, "schemas")).by_name["nation_state"][0])
MAGIC_HELP = "(expected 0xC3 for single-object encoding or 0x00 for Confluent wire format)"
SIZE_LIMIT = 300  # limits.message.bytes of the aggregator under test


# ---- Avro binary, by hand ------------------------------------------------

def varint(u):
    out = bytearray()
    while True:
        b = u & 0x7F
        u >>= 7
        if u:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def long_(n):
    """Avro long/int: zig-zag, then varint."""
    return varint((n << 1) ^ (n >> 63))


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return long_(len(b)) + b


WHEN_MS = 1117616400000  # 2005-06-01T09:00:00Z


def funding_body(event_id="GRC-poison", nation=NATION, amount=125000, currency="EUR",
                 channel=0, stage=0, branch=0, offset=0):
    """ContributionEvent / Funding. Byte map with the defaults: event_id
    0-10, nation 11-14, occurred_at 15-20, utc_offset_minutes 21, detail
    branch 22, amount_minor 23-25, currency 26-29, channel 30, stage 31."""
    return (string(event_id) + string(nation) + long_(WHEN_MS) + long_(offset)
            + long_(branch) + long_(amount) + string(currency) + long_(channel)
            + long_(stage))


def training_body(event_id="GRC-poison-t", nation=NATION, course="Staff course", level=2,
                  location=0, venue=None, trainees=12):
    """TrainingCompletion. With the defaults: event_id 0-12, nation 13-16,
    occurred_at 17-22, offset 23, course 24-36, level 37, location 38,
    venue 39, trainees 40."""
    v = long_(0) if venue is None else long_(1) + string(venue)
    return (string(event_id) + string(nation) + long_(WHEN_MS) + long_(0)
            + string(course) + long_(level) + long_(location) + v + long_(trainees))


def so(fp, body):
    return SO + fp + body


FUNDING = so(FP_CONTRIBUTION, funding_body())
TRAINING = so(FP_TRAINING, training_body())
RANDOM_FP = random.Random(4).randbytes(8)


def random_bytes(seed, n):
    """n random bytes whose first one is no magic byte, so the reason is
    known."""
    b = bytearray(random.Random(seed).randbytes(n))
    if b[0] in (0x00, 0xC3):
        b[0] = 0x5A
    return bytes(b)


def magic(b):
    return f"unknown magic byte 0x{b[0]:02X} {MAGIC_HELP}"


def long_training():
    """A valid training event of more than SIZE_LIMIT bytes."""
    return so(FP_TRAINING, training_body(event_id="GRC-poison-long", course="C" * 200,
                                         venue="V" * 150))


# ---- the table -------------------------------------------------------------
# (name, topic, key, value, stage, reason): reason is the exact tecg.error
# text, with "{prefix}" (the test's topic prefix) and "{len}" (the value's
# length) filled in.
CASES = [
    # Framing
    ("random 1 byte", C, NATION, random_bytes(1, 1), "decode", magic(random_bytes(1, 1))),
    ("random 64 bytes", C, NATION, random_bytes(2, 64), "decode", magic(random_bytes(2, 64))),
    ("random 250 bytes", T, NATION, random_bytes(3, 250), "decode", magic(random_bytes(3, 250))),
    ("magic C3 02", C, NATION, b"\xc3\x02" + FUNDING[2:], "decode",
     "unknown magic byte 0x02 after 0xC3 (single-object encoding starts C3 01)"),
    ("magic 01", C, NATION, b"\x01" + FUNDING[1:], "decode", magic(b"\x01")),
    ("magic only C3", C, NATION, b"\xc3", "decode", "single-object header truncated: 1 of 10 bytes"),
    ("empty value", C, NATION, b"", "decode", "empty message"),
    ("null value", T, NATION, None, "decode", "empty message (no value)"),
    ("unknown fingerprint", C, NATION, so(RANDOM_FP, funding_body()), "decode",
     "unknown writer schema fingerprint " + RANDOM_FP.hex()),
    ("fingerprint of a non-event schema", C, NATION, so(FP_NATION_STATE, funding_body()),
     "decode", "schema nation_state (org.tecg.state.NationState) is not an event schema"),
    ("Confluent unknown id", C, NATION, b"\x00" + struct.pack(">I", 4242) + funding_body(),
     "decode", "schema registry id 4242 unknown"),
    ("Confluent header truncated", T, NATION, b"\x00\x00\x01", "decode",
     "Confluent header truncated: 3 of 5 bytes"),
    # Truncated bodies: a valid message cut at several points
    ("cut in the header", C, NATION, FUNDING[:6], "decode",
     "single-object header truncated: 6 of 10 bytes"),
    ("cut after the header", C, NATION, FUNDING[:10], "decode",
     "body empty after the 10-byte single-object header"),
    ("cut in event_id", C, NATION, FUNDING[:10 + 5], "decode",
     "string length 10 exceeds the 4 bytes left (field event_id, body byte 0)"),
    ("cut in nation", C, NATION, FUNDING[:10 + 13], "decode",
     "string length 3 exceeds the 1 bytes left (field nation, body byte 11)"),
    ("cut in occurred_at", C, NATION, FUNDING[:10 + 17], "decode",
     "body ends inside a varint (field occurred_at, body byte 15)"),
    ("cut before the union", C, NATION, FUNDING[:10 + 22], "decode",
     "body ends inside a varint (field detail, body byte 22)"),
    ("cut before the last enum", C, NATION, FUNDING[:-1], "decode",
     "body ends inside a varint (field detail.Funding.stage, body byte 31)"),
    ("cut in a training string", T, NATION, TRAINING[:10 + 30], "decode",
     "string length 12 exceeds the 5 bytes left (field course, body byte 24)"),
    # Longer than the schema
    ("3 trailing bytes", C, NATION, FUNDING + b"\x00\x01\x02", "decode",
     "body longer than its schema: 3 trailing bytes (body byte 32)"),
    ("a second record appended", T, NATION, TRAINING + TRAINING[10:], "decode",
     "body longer than its schema: 41 trailing bytes (body byte 41)"),
    # Length prefixes
    ("string length 2^40", C, NATION, so(FP_CONTRIBUTION, long_(1 << 40) + b"GRC-x"),
     "decode", "string length 1099511627776 exceeds the 5 bytes left "
               "(field event_id, body byte 0)"),
    ("string length 2^62 in a nested field", C, NATION,
     so(FP_CONTRIBUTION, funding_body()[:26] + long_(1 << 62) + b"EUR\x00\x00"), "decode",
     "string length 4611686018427387904 exceeds the 5 bytes left "
     "(field detail.Funding.currency, body byte 26)"),
    ("negative string length", C, NATION, so(FP_CONTRIBUTION, long_(-5) + b"GRC-x"),
     "decode", "negative string length -5 (field event_id, body byte 0)"),
    ("negative length in a nested field", T, NATION,
     so(FP_TRAINING, training_body()[:24] + long_(-1 << 40) + b"x" * 20), "decode",
     "negative string length -1099511627776 (field course, body byte 24)"),
    ("varint of 11 bytes", C, NATION, so(FP_CONTRIBUTION, b"\xff" * 11 + b"\x01"), "decode",
     "varint does not fit 64 bits (field event_id, body byte 0)"),
    ("int varint of 6 bytes", T, NATION,
     so(FP_TRAINING, training_body()[:23] + b"\xff\xff\xff\xff\xff\x01" + b"\x00" * 20),
     "decode", "varint does not fit 32 bits (field utc_offset_minutes, body byte 23)"),
    ("invalid UTF-8 in a string", C, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id=b"GRC-\xff\xfe")), "decode",
     "string is not valid UTF-8 (field event_id, body byte 0)"),
    # Union branches and enum indexes
    ("union branch 3 of 3", C, NATION, so(FP_CONTRIBUTION, funding_body(branch=3)), "decode",
     "union branch index 3 out of range (3 branches) (field detail, body byte 22)"),
    ("union branch -1", C, NATION, so(FP_CONTRIBUTION, funding_body(branch=-1)), "decode",
     "union branch index -1 out of range (3 branches) (field detail, body byte 22)"),
    ("enum index 5 of 3", C, NATION, so(FP_CONTRIBUTION, funding_body(channel=5)), "decode",
     "enum index 5 out of range (3 symbols) (field detail.Funding.channel, body byte 30)"),
    ("enum index -2", T, NATION, so(FP_TRAINING, training_body(level=-2)), "decode",
     "enum index -2 out of range (3 symbols) (field level, body byte 37)"),
    ("optional venue branch 2", T, NATION,
     so(FP_TRAINING, training_body()[:39] + long_(2) + b"\x18"), "decode",
     "union branch index 2 out of range (2 branches) (field venue, body byte 39)"),
    # Valid Avro that breaks the contract
    ("training event on contributions", C, NATION,
     so(FP_TRAINING, training_body(event_id="GRC-wrong-topic-t")), "contract",
     "a training event does not belong on {prefix}contributions"),
    ("funding event on training-completions", T, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id="GRC-wrong-topic-f")), "contract",
     "a funding event does not belong on {prefix}training-completions"),
    ("key is not the nation", C, NATION, so(FP_CONTRIBUTION, funding_body(
        event_id="DEU-wrong-key", nation="DEU")), "contract",
     "message key does not equal the event's nation DEU"),
    ("amount 0", C, NATION, so(FP_CONTRIBUTION, funding_body(event_id="GRC-zero", amount=0)),
     "contract", "field 'amount': must be > 0"),
    ("nation not in the list", C, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id="XXX-1", nation="XXX")), "contract",
     "field 'nation': XXX is not in the nations list"),
    ("unknown currency", C, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id="GRC-zzz", currency="ZZZ")), "contract",
     'field \'currency\': unknown ISO 4217 code "ZZZ"'),
    ("bad event_id", C, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id="GRC poison!")), "contract",
     "field 'event_id': must be 1-64 characters of [A-Za-z0-9._:-]"),
    ("offset of 24 hours", C, NATION,
     so(FP_CONTRIBUTION, funding_body(event_id="GRC-tz", offset=1440)), "contract",
     "field 'occurred_at': offset of 1440 minutes is out of range"),
    ("no trainees", T, NATION,
     so(FP_TRAINING, training_body(event_id="GRC-none", trainees=0)), "contract",
     "field 'trainees': must be > 0"),
    # Size limit (item 3): refused before any decoding
    ("valid but longer than limits.message.bytes", T, NATION, long_training(), "decode",
     "message of {len} bytes exceeds limits.message.bytes (%d)" % SIZE_LIMIT),
    ("random bytes longer than limits.message.bytes", C, NATION, random_bytes(5, 4000),
     "decode", "message of 4000 bytes exceeds limits.message.bytes (%d)" % SIZE_LIMIT),
]

# Once dead-lettered, the same event (same nation and event_id) sent
# properly must still be counted: a refused message leaves no trace in the
# dedupe state.
RESENT = {
    "training event on contributions": dict(
        type="training", event_id="GRC-wrong-topic-t", nation=NATION,
        occurred_at="2005-06-01T09:00:00Z", course="Staff course", level="SENIOR",
        location="IN_IRAQ", trainees=12),
    "funding event on training-completions": dict(
        type="funding", event_id="GRC-wrong-topic-f", nation=NATION,
        occurred_at="2005-06-01T09:00:00Z", amount="1250.00", currency="EUR",
        channel="TRUST_FUND", stage="PLEDGED"),
    "key is not the nation": dict(
        type="funding", event_id="DEU-wrong-key", nation="DEU",
        occurred_at="2005-06-01T09:00:00Z", amount="1250.00", currency="EUR",
        channel="TRUST_FUND", stage="PLEDGED"),
}


def test_hand_built_bodies_match_fastavro(codec):
    """The byte maps above are right: the valid bodies are what fastavro
    writes for the same records (with the first versions of the event
    schemas, whose fingerprints they carry: still known writers)."""
    assert FUNDING == codec.encode("contribution_v1", {
        "event_id": "GRC-poison", "nation": NATION, "occurred_at": WHEN_MS,
        "utc_offset_minutes": 0, "detail": ("org.tecg.Funding", {
            "amount_minor": 125000, "currency": "EUR", "channel": "TRUST_FUND",
            "stage": "PLEDGED"})})
    assert TRAINING == codec.encode("training_v1", {
        "event_id": "GRC-poison-t", "nation": NATION, "occurred_at": WHEN_MS,
        "utc_offset_minutes": 0, "course": "Staff course", "level": "SENIOR",
        "location": "IN_IRAQ", "venue": None, "trainees": 12})
    assert len(FUNDING) == 10 + 32 and len(TRAINING) == 10 + 41
    assert len(long_training()) > SIZE_LIMIT
    for name, _topic, _key, value, _stage, _reason in CASES:
        if value is not None and not name.endswith("limits.message.bytes"):
            assert len(value) <= SIZE_LIMIT, name


def metrics(path):
    """The aggregator's counters from its metrics.file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return {m.group(1): int(float(m.group(2)))
            for m in re.finditer(r"^tecg_aggregator_(\w+) (\S+)$", text, re.M)}


def wait_metrics(path, want, timeout):
    deadline = time.time() + timeout
    got = {}
    while time.time() < deadline:
        got = metrics(path)
        if all(got.get(k) == v for k, v in want.items()):
            return got
        time.sleep(0.2)
    raise AssertionError(f"aggregator counters {got} never reached {want}")


def test_poison_messages_go_to_dead_letter_and_the_partition_keeps_flowing(
        daemon_factory, bootstrap, prefix, codec, tmp_path):
    metrics_file = tmp_path / "aggregator.prom"
    aggregator = daemon_factory("aggregator", batch__max__ms=50, stats__interval__ms=200,
                                metrics__file=metrics_file,
                                limits__message__bytes=SIZE_LIMIT).start()
    dashboard = start_dashboard(daemon_factory)
    port = http_port(dashboard)

    kp = KafkaProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                        "enable.idempotence": True, "linger.ms": 5})
    model = Model()
    valid = {C: [], T: []}
    for e in events.generate(NATION, 4 * (len(CASES) + 10), seed=77, id_prefix="GRC-v"):
        valid[T if e["type"] == "training" else C].append(e)
    sources = {}  # case name -> (partition, offset)
    sent_valid = 0

    def send_valid(topic, e):
        nonlocal sent_valid
        model.add(e)
        kp.produce(prefix + topic, key=e["nation"].encode(),
                   value=codec.encode(*events.expected_record(e)))
        sent_valid += 1

    def on_delivery(name):
        def cb(err, msg):
            assert err is None, f"{name}: {err}"
            sources[name] = (msg.partition(), msg.offset())
        return cb

    # Each poison is followed by a valid event on the same topic and key,
    # hence the same partition: it must be counted all the same.
    for name, topic, key, value, _stage, _reason in CASES:
        kp.produce(prefix + topic, key=key.encode(), value=value, on_delivery=on_delivery(name))
        send_valid(topic, valid[topic].pop())
        if name in RESENT:
            e = RESENT[name]
            send_valid(T if e["type"] == "training" else C, e)
    for topic in (C, T):  # and a tail after the last poison
        for _ in range(10):
            send_valid(topic, valid[topic].pop())
    assert kp.flush(30) == 0
    assert len(sources) == len(CASES)

    wait_documents(port, model, timeout=scaled(90))
    counters = wait_metrics(metrics_file, {"counted_total": sent_valid,
                                           "dead_lettered_total": len(CASES)},
                            timeout=scaled(60))
    assert counters["aborts_total"] == 0, "no poison may fail a transaction"
    assert counters["consumed_total"] == sent_valid + len(CASES)
    assert counters["duplicates_total"] == 0

    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=len(CASES),
                                  timeout=scaled(60))
    by_source = {}
    for m in dead:
        h = {k: v.decode() for k, v in m.headers()}
        assert h["tecg.source"] not in by_source, f"dead-lettered twice: {h}"
        by_source[h["tecg.source"]] = (m, h)
    failures = []
    for name, topic, key, value, stage, reason in CASES:
        part, off = sources[name]
        source = f"{prefix}{topic}/{part}/{off}"
        if source not in by_source:
            failures.append(f"{name}: nothing in dead-letter from {source}")
            continue
        m, h = by_source.pop(source)
        if m.key() != key.encode():
            failures.append(f"{name}: key {m.key()!r} != {key!r}")
        if m.value() != value:
            failures.append(f"{name}: value not the original bytes")
        if h.get("tecg.stage") != stage:
            failures.append(f"{name}: stage {h.get('tecg.stage')!r} != {stage!r}")
        exp = reason.format(prefix=prefix, len=len(value) if value else 0)
        if h.get("tecg.error") != exp:
            failures.append(f"{name}: reason {h.get('tecg.error')!r}, expected {exp!r}")
    failures += [f"unexpected dead letter {s}: {h}" for s, (_m, h) in by_source.items()]
    assert not failures, "\n".join(failures)
    assert aggregator.alive(), "the aggregator died:\n" + aggregator.log_text()




def test_default_size_limit_and_messages_too_big_for_a_dead_letter(
        daemon_factory, bootstrap, prefix, codec, tmp_path):
    """With the default limits.message.bytes (64 KiB), a larger message is
    dead-lettered whole. Near the broker's own limit (1 MiB by default) a
    message, or a key, is larger than the aggregator's producer may write
    (message.max.bytes, 10^6): its dead letter holds what fits and says so,
    or the transaction would fail and be replayed for ever."""
    metrics_file = tmp_path / "aggregator.prom"
    aggregator = daemon_factory("aggregator", batch__max__ms=50, stats__interval__ms=200,
                                metrics__file=metrics_file).start()
    kp = KafkaProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                        "enable.idempotence": True, "message.max.bytes": 1048000})
    valid = so(FP_CONTRIBUTION, funding_body(event_id="GRC-huge-key"))
    cases = [  # key, value, stage, reason; the dead letter holds the first cut bytes
        (NATION.encode(), random_bytes(6, 100000), "decode",
         "message of 100000 bytes exceeds limits.message.bytes (65536)"),
        (NATION.encode(), random_bytes(7, 1040000), "decode",
         "message of 1040000 bytes exceeds limits.message.bytes (65536)"
         "; the dead letter holds the first {cut} of its 1040000 bytes"),
        # Signed with GRC's key (tecgpy.signing), so the signature check
        # (docs/design.md §9.1) refuses it before the contract would.
        (NATION.encode() * 340000, valid, "signature",
         "key of another nation: key id GRC-test-1 belongs to GRC, the message key says "
         "(not a nation code)"
         "; the dead letter holds the first {cut} of its key's 1020000 bytes"),
    ]
    sources = {}
    evs = [e for e in events.generate(NATION, 16, seed=78, id_prefix="GRC-big")
           if e["type"] != "training"]
    for i, (key, value, _stage, _reason) in enumerate(cases):
        kp.produce(prefix + C, key=key, value=value,
                   on_delivery=lambda err, msg, i=i: sources.update(
                       {i: (err, f"{prefix}{C}/{msg.partition()}/{msg.offset()}")}))
        for e in evs[i::len(cases)]:
            kp.produce(prefix + C, key=NATION.encode(),
                       value=codec.encode(*events.expected_record(e)))
    assert kp.flush(30) == 0
    assert all(err is None for err, _ in sources.values()), sources
    counters = wait_metrics(metrics_file, {"counted_total": len(evs),
                                           "dead_lettered_total": len(cases)},
                            timeout=scaled(60))
    assert counters["aborts_total"] == 0, aggregator.log_text()
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=len(cases),
                                  timeout=scaled(30))
    by_source = {dict(m.headers())["tecg.source"].decode(): m for m in dead}
    assert len(dead) == len(by_source) == len(cases)
    for i, (key, value, stage, reason) in enumerate(cases):
        m = by_source[sources[i][1]]
        h = {k: v.decode() for k, v in m.headers()}
        assert h["tecg.stage"] == stage
        if "{cut}" not in reason:
            assert (m.key(), m.value()) == (key, value)
            assert h["tecg.error"] == reason
            continue
        cut_key, cut_value = m.key(), m.value()
        assert key.startswith(cut_key) and value.startswith(cut_value)
        if "key's" in reason:
            assert cut_value == value, "the value goes whole, the key is cut"
        cut = len(cut_value) if len(cut_value) < len(value) else len(cut_key)
        assert 0 < cut < 1000000
        assert h["tecg.error"] == reason.format(cut=cut)
    assert aggregator.alive(), aggregator.log_text()


def test_a_sum_that_would_overflow_is_refused_at_the_aggregate_stage(
        daemon_factory, bootstrap, prefix, codec, tmp_path):
    """Valid events whose sum no longer fits: the one that would overflow
    goes to dead-letter (stage aggregate) and the totals stay as they were."""
    metrics_file = tmp_path / "aggregator.prom"
    aggregator = daemon_factory("aggregator", batch__max__ms=50, stats__interval__ms=200,
                                metrics__file=metrics_file).start()
    dashboard = start_dashboard(daemon_factory)
    kp = KafkaProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                        "enable.idempotence": True})
    model = Model()
    huge = so(FP_CONTRIBUTION, funding_body(event_id="GRC-nok-1", currency="NOK",
                                             amount=(1 << 63) - 1000))
    model.add(dict(type="funding", event_id="GRC-nok-1", nation=NATION,
                   occurred_at="2005-06-01T09:00:00Z", amount="92233720368547748.08",
                   currency="NOK", channel="TRUST_FUND", stage="PLEDGED"))
    overflow = so(FP_CONTRIBUTION, funding_body(event_id="GRC-nok-2", currency="NOK",
                                                 amount=1000))
    evs = events.generate(NATION, 20, seed=79, id_prefix="GRC-o")
    offsets = []
    kp.produce(prefix + C, key=NATION.encode(), value=huge)
    kp.produce(prefix + C, key=NATION.encode(), value=overflow,
               on_delivery=lambda err, msg: offsets.append((err, msg.partition(), msg.offset())))
    for e in evs:
        model.add(e)
        kp.produce(prefix + (T if e["type"] == "training" else C), key=NATION.encode(),
                   value=codec.encode(*events.expected_record(e)))
    assert kp.flush(30) == 0
    counters = wait_metrics(metrics_file, {"counted_total": len(evs) + 1,
                                           "dead_lettered_total": 1}, timeout=scaled(60))
    assert counters["aborts_total"] == 0
    dead = kafka_util.consume_all(bootstrap, [prefix + "dead-letter"], expected=1,
                                  timeout=scaled(30))
    assert [m.value() for m in dead] == [overflow]
    h = {k: v.decode() for k, v in dead[0].headers()}
    assert h == {"tecg.stage": "aggregate",
                 "tecg.error": "funding TRUST_FUND PLEDGED NOK: sum would overflow int64",
                 "tecg.source": f"{prefix}{C}/{offsets[0][1]}/{offsets[0][2]}"}
    wait_documents(http_port(dashboard), model, timeout=scaled(90))
    assert aggregator.alive(), aggregator.log_text()
