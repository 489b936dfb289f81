"""An independent reader of what tecg writes: fastavro plus the framing rule
of docs/design.md §3, with nothing but schemas/*.avsc. If this decodes tecg's
messages, any Avro implementation can."""
import glob
import io
import json
import os
import struct

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form


class Codec:
    def __init__(self, schema_dir):
        self.by_fp = {}
        self.by_name = {}
        for path in sorted(glob.glob(os.path.join(schema_dir, "*.avsc"))):
            with open(path) as f:
                parsed = fastavro.parse_schema(json.load(f))
            # fastavro gives the fingerprint as the hex of its 8 wire bytes
            # (little-endian), exactly what follows C3 01 in a message.
            fp = int.from_bytes(bytes.fromhex(
                fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")), "little")
            name = os.path.splitext(os.path.basename(path))[0]
            self.by_fp[fp] = (name, parsed)
            self.by_name[name] = (fp, parsed)

    def decode(self, value: bytes):
        """Returns (schema name, record) of a single-object encoded message."""
        if len(value) < 10 or value[:2] != b"\xc3\x01":
            raise ValueError(f"not single-object encoded: {value[:10].hex()}")
        (fp,) = struct.unpack("<Q", value[2:10])
        if fp not in self.by_fp:
            raise ValueError(f"unknown fingerprint {fp:016x}")
        name, schema = self.by_fp[fp]
        buf = io.BytesIO(value[10:])
        record = fastavro.schemaless_reader(buf, schema, None,
                                             return_record_name=True)
        if buf.tell() != len(value) - 10:
            raise ValueError("trailing bytes after the record")
        return name, record

    def encode(self, name, record) -> bytes:
        fp, schema = self.by_name[name]
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, record)
        return b"\xc3\x01" + struct.pack("<Q", fp) + buf.getvalue()
