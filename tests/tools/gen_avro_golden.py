#!/usr/bin/env python3
"""Writes the Avro golden files of tests/data/avro/ with fastavro, an
independent implementation, so the C codec is checked against it:

  <schema>.pcf             Parsing Canonical Form of schemas/<schema>.avsc
  fingerprints.txt         "<schema> <CRC-64-AVRO as fastavro prints it>"
                           (hex of the 8 fingerprint bytes, little-endian,
                           as they follow C3 01 on the wire)
  crc64.txt                "<fingerprint hex>\t<input>" vectors
  pcf_cases.ndjson         {"schema": text, "pcf": ..., "fingerprint": ...}
                           for schemas that exercise every PCF rule
  events/<name>.hex        single-object (or Confluent) messages fastavro
                           wrote for the fixed events of tests/unit/common/test_avro_codec.c
  events/<name>.json       the record each .hex holds, for people
  evolution/*.avsc, *.hex  older writer schemas and messages written with them
                           (and evolution/*_v1_*.hex: messages of the previous
                           writers still built in, schemas/*_v1.avsc)

Regenerate (needs fastavro; the output is deterministic):
  python3 tests/tools/gen_avro_golden.py
and commit the diff; tests/unit/common/test_avro_codec.c, test_framing.c and test_canonical.c read these
files through $TECG_TEST_DATA.
"""
import io
import json
import os
import struct
import sys

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "avro")


def load_avsc(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pcf_and_fp(schema):
    pcf = to_parsing_canonical_form(parse_schema(schema))
    return pcf, fingerprint(pcf, "CRC-64-AVRO")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def single_object(schema, record):
    """C3 01 + fingerprint bytes + schemaless body."""
    _, fp = pcf_and_fp(schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parse_schema(schema), record)
    return b"\xc3\x01" + bytes.fromhex(fp) + buf.getvalue()


def confluent(schema, schema_id, record):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parse_schema(schema), record)
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


# The fixed events; tests/unit/common/test_avro_codec.c has the same ones as tecg_event_t
# under the same names.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INT32_MIN = -(2**31)

CONTRIBUTION_EVENTS = {
    "funding_basic": {
        "event_id": "NLD-2005-0001", "nation": "NLD",
        "occurred_at": 1109062800000, "utc_offset_minutes": 0,
        "detail": ("org.tecg.Funding", {
            "amount_minor": 65200000, "currency": "EUR",
            "channel": "TRUST_FUND", "stage": "PLEDGED"}),
    },
    "funding_extreme": {
        "event_id": "x", "nation": "USA",
        "occurred_at": INT64_MIN, "utc_offset_minutes": INT32_MIN,
        "detail": ("org.tecg.Funding", {
            "amount_minor": INT64_MAX, "currency": "USD",
            "channel": "BILATERAL", "stage": "DISBURSED"}),
    },
    "equipment_value": {
        "event_id": "DEU-eq-17", "nation": "DEU",
        "occurred_at": 1109066400000, "utc_offset_minutes": 60,
        "detail": ("org.tecg.Equipment", {
            "item": "Unimog 435 trucks", "category": "VEHICLES",
            "quantity": 40, "value_minor": 1234567, "currency": "EUR",
            "stage": "DELIVERED"}),
    },
    "equipment_novalue": {
        "event_id": "POL:eq.2", "nation": "POL",
        "occurred_at": 1110000000123, "utc_offset_minutes": -90,
        "detail": ("org.tecg.Equipment", {
            "item": "Helme \u2014 Gr\u00f6\u00dfe M \U0001F6E1", "category": "UNIFORMS",
            "quantity": 1, "value_minor": None, "currency": None,
            "stage": "OFFERED"}),
    },
    "personnel": {
        "event_id": "ITA_2005.03", "nation": "ITA",
        "occurred_at": 1112000000000, "utc_offset_minutes": 180,
        "detail": ("org.tecg.Personnel", {
            "role": "FORCE_PROTECTION", "location": "OUTSIDE_IRAQ",
            "headcount": 0}),
    },
    "funding_supersedes": {
        "event_id": "NLD-2005-0002", "nation": "NLD",
        "occurred_at": 1109149200000, "utc_offset_minutes": 60,
        "detail": ("org.tecg.Funding", {
            "amount_minor": 81000000, "currency": "EUR",
            "channel": "TRUST_FUND", "stage": "PLEDGED"}),
        "supersedes": "NLD-2005-0001",
    },
}
# Events without "supersedes" write null (the default).
for _rec in CONTRIBUTION_EVENTS.values():
    _rec.setdefault("supersedes", None)

TRAINING_EVENTS = {
    "training_venue": {
        "event_id": "GBR-T-1", "nation": "GBR",
        "occurred_at": 1120000000000, "utc_offset_minutes": 0,
        "course": "Staff officer course", "level": "SENIOR",
        "location": "OUTSIDE_IRAQ", "venue": "NATO School Oberammergau",
        "trainees": 25,
    },
    "training_novenue": {
        "event_id": "TUR-1969", "nation": "TUR",
        "occurred_at": -31536000001, "utc_offset_minutes": -300,
        "course": "", "level": "JUNIOR", "location": "IN_IRAQ",
        "venue": None, "trainees": 2147483647,
    },
    "training_supersedes": {
        "event_id": "GBR-T-2", "nation": "GBR",
        "occurred_at": 1120000060000, "utc_offset_minutes": 0,
        "course": "Staff officer course", "level": "SENIOR",
        "location": "OUTSIDE_IRAQ", "venue": None, "trainees": 24,
        "supersedes": "GBR-T-1",
    },
}
for _rec in TRAINING_EVENTS.values():
    _rec.setdefault("supersedes", None)

RETRACTION_EVENTS = {
    "retraction_funding": {
        "event_id": "NLD-2005-0003", "nation": "NLD",
        "occurred_at": 1109235600000, "utc_offset_minutes": 0,
        "retracts": "NLD-2005-0002", "retracts_type": "funding",
        "reason": "Pledge entered twice \u2014 see NLD-2005-0001",
    },
    "retraction_training": {
        "event_id": "GBR-R-1", "nation": "GBR",
        "occurred_at": 1120000120000, "utc_offset_minutes": -300,
        "retracts": "GBR-T-2", "retracts_type": "training",
        "reason": "x",
    },
}

# Older writer schemas: the reader must fill defaults, promote int to long,
# skip fields it does not know and map enum symbols of a shorter list.
TRAINING_V0 = {
    "type": "record", "name": "TrainingCompletion", "namespace": "org.tecg",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "nation", "type": "string"},
        {"name": "occurred_at", "type": "long"},
        {"name": "utc_offset_minutes", "type": "int"},
        {"name": "instructor", "type": "string"},
        {"name": "course", "type": "string"},
        {"name": "level", "type": {"type": "enum", "name": "TrainingLevel",
                                   "symbols": ["JUNIOR", "MIDDLE", "SENIOR"]}},
        {"name": "location", "type": {"type": "enum", "name": "TrainingLocation",
                                      "symbols": ["IN_IRAQ", "OUTSIDE_IRAQ"]}},
        {"name": "trainees", "type": "int"},
    ],
}

CONTRIBUTION_V0 = {
    "type": "record", "name": "ContributionEvent", "namespace": "org.tecg",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "nation", "type": "string"},
        {"name": "occurred_at", "type": "long"},
        {"name": "utc_offset_minutes", "type": "int"},
        {"name": "detail", "type": [
            {"type": "record", "name": "Funding", "fields": [
                {"name": "amount_minor", "type": "long"},
                {"name": "currency", "type": "string"},
                {"name": "channel", "type": {"type": "enum", "name": "FundingChannel",
                                             "symbols": ["TRUST_FUND", "COMMON_FUNDING"]}},
                {"name": "stage", "type": {"type": "enum", "name": "FundingStage",
                                           "symbols": ["PLEDGED", "DISBURSED"]}},
            ]},
            {"type": "record", "name": "Equipment", "fields": [
                {"name": "item", "type": "string"},
                {"name": "category", "type": {"type": "enum", "name": "EquipmentCategory",
                                              "symbols": ["VEHICLES", "WEAPONS", "AMMUNITION",
                                                          "COMMUNICATIONS", "MEDICAL",
                                                          "UNIFORMS", "OTHER"]}},
                {"name": "quantity", "type": "int"},
                {"name": "stage", "type": {"type": "enum", "name": "EquipmentStage",
                                           "symbols": ["OFFERED", "ACCEPTED", "DELIVERED"]}},
            ]},
            {"type": "record", "name": "Personnel", "fields": [
                {"name": "role", "type": {"type": "enum", "name": "Role",
                                          "symbols": ["TRAINER", "MENTOR", "STAFF",
                                                      "SUPPORT", "FORCE_PROTECTION"]}},
                {"name": "location", "type": {"type": "enum", "name": "Location",
                                              "symbols": ["IN_IRAQ", "OUTSIDE_IRAQ"]}},
                {"name": "headcount", "type": "int"},
            ]},
        ]},
    ],
}

# A writer with fields of every other Avro type after the ones the reader
# knows: the body checks walk them, Avro-C skips them.
TRAINING_WIDE = json.loads(json.dumps(TRAINING_V0))
TRAINING_WIDE["fields"] = [f for f in TRAINING_WIDE["fields"] if f["name"] != "instructor"] + [
    {"name": "venue", "type": ["null", "string"], "default": None},
    {"name": "flag", "type": "boolean"},
    {"name": "ratio", "type": "float"},
    {"name": "score", "type": "double"},
    {"name": "blob", "type": "bytes"},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "counts", "type": {"type": "map", "values": "long"}},
    {"name": "extra", "type": {"type": "record", "name": "Extra", "fields": [
        {"name": "a", "type": "int"},
        {"name": "nested", "type": ["null", "Extra"]}]}},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    {"name": "opt", "type": ["null", "Digest"]},
]
TRAINING_WIDE_RECORD = {
    "event_id": "ESP-w", "nation": "ESP", "occurred_at": 1, "utc_offset_minutes": 0,
    "course": "C", "level": "SENIOR", "location": "OUTSIDE_IRAQ", "trainees": 3,
    "venue": "V", "flag": True, "ratio": 0.5, "score": -2.25, "blob": b"\x00\xff",
    "digest": b"abcd", "tags": ["x", "y\u00e9"], "counts": {"k": -1, "l": 2**40},
    "extra": {"a": 1, "nested": {"a": 2, "nested": None}}, "kind": "B",
    "opt": b"wxyz",
}

# Symbols reordered: Avro-C would map them by position, so the codec must
# refuse this writer.
CONTRIBUTION_BADENUM = json.loads(json.dumps(CONTRIBUTION_V0))
CONTRIBUTION_BADENUM["fields"][4]["type"][0]["fields"][2]["type"]["symbols"] = [
    "COMMON_FUNDING", "TRUST_FUND"]

CRC_INPUTS = ["", "a", "int", '"int"', '"string"', '"null"', '"long"',
              "The quick brown fox jumps over the lazy dog",
              "{\"type\":\"fixed\",\"name\":\"md5\",\"size\":16}"]

# Not here: "namespace": "" (the null namespace in the spec and in Java;
# fastavro 1.13 keeps the enclosing one), checked in test_framing.c instead.
PCF_CASES = [
    '"int"',
    '{"type": "int"}',
    '{"type": "long", "logicalType": "timestamp-millis"}',
    '{"type": "string", "avro.java.string": "String"}',
    '["null", {"type": "double"}, "bytes"]',
    '{"type": "array", "items": {"type": "map", "values": "boolean"}, "doc": "x"}',
    '{"fields": [{"type": "int", "name": "a", "default": 0, "order": "descending"}],'
    ' "name": "R", "type": "record", "doc": "d", "aliases": ["Q"]}',
    '{"type": "record", "name": "Outer", "namespace": "a.b", "fields": ['
    ' {"name": "s", "type": {"type": "record", "name": "S", "fields": ['
    '   {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"],'
    '     "doc": "\\u00e9", "default": "X"}}]}},'
    ' {"name": "t", "type": {"type": "record", "name": "T", "namespace": "x.y", "fields": ['
    '   {"name": "u", "type": {"type": "fixed", "name": "U", "size": 16}},'
    '   {"name": "again", "type": "a.b.E"}]}},'
    ' {"name": "s2", "type": "S"},'
    ' {"name": "u2", "type": ["null", "x.y.U"]},'
    ' {"name": "full", "type": {"type": "record", "name": "c.d.Full", "namespace": "ignored",'
    '   "fields": [{"name": "n", "type": {"type": "enum", "name": "N", "symbols": ["A"]}}]}},'
    ' {"name": "nn", "type": "c.d.N"}'
    ']}',
    '{"type": "record", "name": "List", "fields": ['
    ' {"name": "v", "type": "long"}, {"name": "next", "type": ["null", "List"]}]}',
]


def main():
    lines = []
    for name in ("contribution", "training", "retraction", "contribution_v1", "training_v1"):
        schema = load_avsc(os.path.join(ROOT, "schemas", name + ".avsc"))
        pcf, fp = pcf_and_fp(schema)
        write(os.path.join(OUT, name + ".pcf"), pcf)
        lines.append("%s %s\n" % (name, fp))
    write(os.path.join(OUT, "fingerprints.txt"), "".join(lines))

    write(os.path.join(OUT, "crc64.txt"), "".join(
        "%s\t%s\n" % (fingerprint(s, "CRC-64-AVRO"), s) for s in CRC_INPUTS))

    cases = []
    for text in PCF_CASES:
        schema = json.loads(text)
        pcf, fp = pcf_and_fp(schema)
        cases.append(json.dumps({"schema": text, "pcf": pcf, "fingerprint": fp},
                                ensure_ascii=False) + "\n")
    write(os.path.join(OUT, "pcf_cases.ndjson"), "".join(cases))

    contribution = load_avsc(os.path.join(ROOT, "schemas", "contribution.avsc"))
    training = load_avsc(os.path.join(ROOT, "schemas", "training.avsc"))
    ev_dir = os.path.join(OUT, "events")
    for name, rec in CONTRIBUTION_EVENTS.items():
        write(os.path.join(ev_dir, name + ".hex"),
              single_object(contribution, rec).hex() + "\n")
        shown = dict(rec, detail={rec["detail"][0]: rec["detail"][1]})
        write(os.path.join(ev_dir, name + ".json"),
              json.dumps(shown, ensure_ascii=False, indent=1) + "\n")
    for name, rec in TRAINING_EVENTS.items():
        write(os.path.join(ev_dir, name + ".hex"),
              single_object(training, rec).hex() + "\n")
        write(os.path.join(ev_dir, name + ".json"),
              json.dumps(rec, ensure_ascii=False, indent=1) + "\n")
    retraction = load_avsc(os.path.join(ROOT, "schemas", "retraction.avsc"))
    for name, rec in RETRACTION_EVENTS.items():
        write(os.path.join(ev_dir, name + ".hex"),
              single_object(retraction, rec).hex() + "\n")
        write(os.path.join(ev_dir, name + ".json"),
              json.dumps(rec, ensure_ascii=False, indent=1) + "\n")
    # Confluent framing, registry id 7, same record as training_venue.
    write(os.path.join(ev_dir, "training_venue_confluent7.hex"),
          confluent(training, 7, TRAINING_EVENTS["training_venue"]).hex() + "\n")

    evo = os.path.join(OUT, "evolution")
    for name, schema in (("training_v0", TRAINING_V0),
                         ("contribution_v0", CONTRIBUTION_V0),
                         ("contribution_badenum", CONTRIBUTION_BADENUM),
                         ("training_wide", TRAINING_WIDE)):
        write(os.path.join(evo, name + ".avsc"), json.dumps(schema, indent=1) + "\n")
    write(os.path.join(evo, "training_v0.hex"), single_object(TRAINING_V0, {
        "event_id": "FRA-old-1", "nation": "FRA", "occurred_at": 1100000000000,
        "utc_offset_minutes": 60, "instructor": "Lt Col Dupont",
        "course": "Logistics", "level": "MIDDLE", "location": "IN_IRAQ",
        "trainees": 12}).hex() + "\n")
    # Messages of the previous writers (before "supersedes"), which stay
    # built in: they must still decode, with supersedes empty.
    contribution_v1 = load_avsc(os.path.join(ROOT, "schemas", "contribution_v1.avsc"))
    training_v1 = load_avsc(os.path.join(ROOT, "schemas", "training_v1.avsc"))
    old = dict(CONTRIBUTION_EVENTS["funding_basic"])
    del old["supersedes"]
    write(os.path.join(evo, "contribution_v1_funding.hex"),
          single_object(contribution_v1, old).hex() + "\n")
    old = dict(TRAINING_EVENTS["training_venue"])
    del old["supersedes"]
    write(os.path.join(evo, "training_v1_venue.hex"),
          single_object(training_v1, old).hex() + "\n")
    write(os.path.join(evo, "training_wide.hex"),
          single_object(TRAINING_WIDE, TRAINING_WIDE_RECORD).hex() + "\n")
    write(os.path.join(evo, "contribution_v0_equipment.hex"), single_object(CONTRIBUTION_V0, {
        "event_id": "NOR-old-2", "nation": "NOR", "occurred_at": 1100000000000,
        "utc_offset_minutes": -60,
        "detail": ("org.tecg.Equipment", {
            "item": "Radios", "category": "COMMUNICATIONS", "quantity": -5,
            "stage": "ACCEPTED"})}).hex() + "\n")
    write(os.path.join(evo, "contribution_v0_funding.hex"), single_object(CONTRIBUTION_V0, {
        "event_id": "NOR-old-3", "nation": "NOR", "occurred_at": 1100000000000,
        "utc_offset_minutes": 0,
        "detail": ("org.tecg.Funding", {
            "amount_minor": 100, "currency": "NOK", "channel": "COMMON_FUNDING",
            "stage": "DISBURSED"})}).hex() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
