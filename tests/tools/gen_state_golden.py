#!/usr/bin/env python3
"""Writes the nation-state golden files of tests/data/state/ with fastavro,
an independent Avro implementation, so the C state codec
(consumers/state_codec.c) is checked against it byte for byte:

  fingerprint.txt   CRC-64-AVRO of schemas/nation_state.avsc's Parsing
                    Canonical Form, as fastavro prints it (the 8 bytes that
                    follow C3 01 on the wire, in hex)
  empty.hex         single-object message of a fresh state of "NLD"
  full.hex          single-object message of the state that the events of
                    full_events[] in tests/unit/common/test_state_codec.c add up to
  full.json         the record full.hex holds, for people
  fingerprint_v1.txt, empty_v1.hex, full_v1.hex
                    the same written with v1, the schema before the
                    per-type last_* fields (nation_state.avsc without them):
                    states on the topic from before still decode
  fingerprint_v2.txt, empty_v2.hex, full_v2.hex
                    the same written with v2, the schema before the months,
                    corrections and dead letters

The expected state below is worked out by hand from those events (listed in
the comments), not by the C aggregation, so the test checks both the codec
and tecg_nation_state_apply().

Regenerate (needs fastavro; the output is deterministic):
  python3 tests/tools/gen_state_golden.py
and commit the diff; tests/unit/common/test_state_codec.c reads these files
through $TECG_TEST_DATA.
"""
import io
import json
import os
from datetime import datetime

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "state")
SCHEMA = os.path.join(ROOT, "schemas", "nation_state.avsc")


def ms(rfc3339):
    """Milliseconds since the epoch of an RFC 3339 time with offset."""
    dt = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000


def write(name, text):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


EMPTY = {
    "nation": "NLD", "version": 0, "events": 0, "as_of": None,
    "funding": [], "equipment_quantity": [], "equipment_values": [],
    "personnel": [], "training": [],
    "last_funding": None, "last_equipment": None, "last_personnel": None,
    "last_training": None,
    "funding_months": [], "training_months": [], "strength_months": [],
    "supersessions": 0, "retractions": 0, "recent_corrections": [],
    "dead_letters": 0, "dead_letter_months": [], "recent_dead_letters": [],
}

# Events of full_events[] (test_state_codec.c), all of nation NLD:
#   funding   TRUST_FUND/PLEDGED 652000.00 EUR + 1.00 EUR, 50.00 USD;
#             COMMON_FUNDING/DISBURSED 1234.56 GBP; BILATERAL/PLEDGED
#             7000000 JPY
#   equipment VEHICLES/DELIVERED 40 worth 12345.67 EUR and 2 worth 10.00
#             USD; UNIFORMS/OFFERED 1000 without value; MEDICAL/ACCEPTED 5
#             worth 0.00 EUR
#   personnel TRAINER/IN_IRAQ: 12 (NLD-p-1) and 15 (NLD-p-2), both at
#             2005-03-01T00:00:00Z (the greater id wins), 99 (NLD-p-9) at
#             2005-02-01 (older, loses); FORCE_PROTECTION/OUTSIDE_IRAQ: 0
#             (NLD-p-3) at 2005-04-01T12:00:00+03:00
#   training  20 JUNIOR IN_IRAQ at 2005-01-01T01:00:00+02:00 (UTC 2004);
#             30 JUNIOR IN_IRAQ at 2004-12-31T23:30:00-01:00 (UTC 2005);
#             25 + 5 SENIOR OUTSIDE_IRAQ in June and July 2005
#   17 events; the latest is the SENIOR course of 2005-07-01T10:00:00Z.
# Notes of full_state() after the events:
#   correction NLD-f-2 supersedes NLD-f-0 (funding, arrived before its
#             target) at 2005-02-22T09:00:00Z; NLD-r-1 retracts NLD-t-9
#             (training) at 2005-07-01T09:00:00Z, reason "counted twice é"
#   dead letters at 2005-03-05T00:00:00Z (signature, "bad signature") and
#             2005-03-06T00:00:00Z (correction, "supersedes NLD-f-9, which
#             was already retracted by NLD-r-2")
# The aggregator's caller set version 7.
FULL = {
    "nation": "NLD", "version": 7, "events": 17,
    "as_of": ms("2005-07-01T10:00:00Z"),
    "funding": [
        {"channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "EUR", "amount_minor": 65200100},
        {"channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "USD", "amount_minor": 5000},
        {"channel": "COMMON_FUNDING", "stage": "DISBURSED", "currency": "GBP", "amount_minor": 123456},
        {"channel": "BILATERAL", "stage": "PLEDGED", "currency": "JPY", "amount_minor": 7000000},
    ],
    "equipment_quantity": [
        {"category": "VEHICLES", "stage": "DELIVERED", "quantity": 42},
        {"category": "MEDICAL", "stage": "ACCEPTED", "quantity": 5},
        {"category": "UNIFORMS", "stage": "OFFERED", "quantity": 1000},
    ],
    "equipment_values": [
        {"category": "VEHICLES", "stage": "DELIVERED", "currency": "EUR", "value_minor": 1234567},
        {"category": "VEHICLES", "stage": "DELIVERED", "currency": "USD", "value_minor": 1000},
        {"category": "MEDICAL", "stage": "ACCEPTED", "currency": "EUR", "value_minor": 0},
    ],
    "personnel": [
        {"role": "TRAINER", "location": "IN_IRAQ", "occurred_at": ms("2005-03-01T00:00:00Z"),
         "event_id": "NLD-p-2", "headcount": 15},
        {"role": "FORCE_PROTECTION", "location": "OUTSIDE_IRAQ",
         "occurred_at": ms("2005-04-01T12:00:00+03:00"), "event_id": "NLD-p-3", "headcount": 0},
    ],
    "training": [
        {"year": 2004, "location": "IN_IRAQ", "level": "JUNIOR", "trainees": 20},
        {"year": 2005, "location": "IN_IRAQ", "level": "JUNIOR", "trainees": 30},
        {"year": 2005, "location": "OUTSIDE_IRAQ", "level": "SENIOR", "trainees": 30},
    ],
    # The latest occurred_at per type among the events above.
    "last_funding": ms("2005-02-22T09:00:00Z"),
    "last_equipment": ms("2005-03-01T00:00:00Z"),
    "last_personnel": ms("2005-04-01T12:00:00+03:00"),
    "last_training": ms("2005-07-01T10:00:00Z"),
    # The same events per UTC month: the training of 2005-01-01T01:00+02:00
    # is December 2004, the one of 2004-12-31T23:30-01:00 January 2005.
    "funding_months": [
        {"month": 200502, "channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "EUR",
         "amount_minor": 65200100},
        {"month": 200502, "channel": "TRUST_FUND", "stage": "PLEDGED", "currency": "USD",
         "amount_minor": 5000},
        {"month": 200502, "channel": "COMMON_FUNDING", "stage": "DISBURSED", "currency": "GBP",
         "amount_minor": 123456},
        {"month": 200502, "channel": "BILATERAL", "stage": "PLEDGED", "currency": "JPY",
         "amount_minor": 7000000},
    ],
    "training_months": [
        {"month": 200412, "location": "IN_IRAQ", "level": "JUNIOR", "trainees": 20},
        {"month": 200501, "location": "IN_IRAQ", "level": "JUNIOR", "trainees": 30},
        {"month": 200506, "location": "OUTSIDE_IRAQ", "level": "SENIOR", "trainees": 25},
        {"month": 200507, "location": "OUTSIDE_IRAQ", "level": "SENIOR", "trainees": 5},
    ],
    # Per month the winner: NLD-p-9 alone in February, NLD-p-2 over NLD-p-1
    # in March, NLD-p-3 (09:00 UTC) in April.
    "strength_months": [
        {"month": 200502, "role": "TRAINER", "location": "IN_IRAQ",
         "occurred_at": ms("2005-02-01T00:00:00Z"), "event_id": "NLD-p-9", "headcount": 99},
        {"month": 200503, "role": "TRAINER", "location": "IN_IRAQ",
         "occurred_at": ms("2005-03-01T00:00:00Z"), "event_id": "NLD-p-2", "headcount": 15},
        {"month": 200504, "role": "FORCE_PROTECTION", "location": "OUTSIDE_IRAQ",
         "occurred_at": ms("2005-04-01T12:00:00+03:00"), "event_id": "NLD-p-3", "headcount": 0},
    ],
    "supersessions": 1,
    "retractions": 1,
    "recent_corrections": [
        {"kind": "RETRACT", "type": "training", "event_id": "NLD-r-1", "target_id": "NLD-t-9",
         "occurred_at": ms("2005-07-01T09:00:00Z"),
         "before": "training IN_IRAQ SENIOR 10 trainees", "after": "",
         "reason": "counted twice \u00e9"},
        {"kind": "SUPERSEDE", "type": "funding", "event_id": "NLD-f-2", "target_id": "NLD-f-0",
         "occurred_at": ms("2005-02-22T09:00:00Z"), "before": "",
         "after": "funding TRUST_FUND PLEDGED 1.00 EUR", "reason": None},
    ],
    "dead_letters": 2,
    "dead_letter_months": [{"month": 200503, "count": 2}],
    "recent_dead_letters": [
        {"at": ms("2005-03-06T00:00:00Z"), "stage": "correction",
         "reason": "supersedes NLD-f-9, which was already retracted by NLD-r-2"},
        {"at": ms("2005-03-05T00:00:00Z"), "stage": "signature", "reason": "bad signature"},
    ],
}

# Fields v2 appended to v1, and v3 (the current schema) to v2.
V2_FIELDS = ("last_funding", "last_equipment", "last_personnel", "last_training")
V3_FIELDS = ("funding_months", "training_months", "strength_months", "supersessions",
             "retractions", "recent_corrections", "dead_letters", "dead_letter_months",
             "recent_dead_letters")


def writer(raw):
    """(fingerprint hex, function record -> single-object bytes)."""
    pcf = to_parsing_canonical_form(parse_schema(raw, _write_hint=False))
    fp = fingerprint(pcf, "CRC-64-AVRO")
    schema = parse_schema(raw)

    def single_object(record):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, record)
        return b"\xc3\x01" + bytes.fromhex(fp) + buf.getvalue()

    return fp, single_object


def main():
    with open(SCHEMA, encoding="utf-8") as f:
        raw = json.load(f)
    fp, single_object = writer(raw)
    write("fingerprint.txt", fp + "\n")
    write("empty.hex", single_object(EMPTY).hex() + "\n")
    write("full.hex", single_object(FULL).hex() + "\n")
    write("full.json", json.dumps(FULL, indent=2) + "\n")

    for name, dropped in (("v1", V2_FIELDS + V3_FIELDS), ("v2", V3_FIELDS)):
        older = dict(raw, fields=[f for f in raw["fields"] if f["name"] not in dropped])
        fp_old, single_object_old = writer(older)

        def old(record):
            return {k: v for k, v in record.items() if k not in dropped}

        write(f"fingerprint_{name}.txt", fp_old + "\n")
        write(f"empty_{name}.hex", single_object_old(old(EMPTY)).hex() + "\n")
        write(f"full_{name}.hex", single_object_old(old(FULL)).hex() + "\n")


if __name__ == "__main__":
    main()
