"""Signed national reports (docs/design.md §9.1) for the tests: nation keys
made with `tecg-producer --keygen`, their keyring, and a confluent-kafka
producer that signs what it writes the way tecg-producer does.

The signature is Ed25519 (libsodium through ctypes: the venv needs no
crypto package) over the domain "tecg-event-v1" and a NUL, then the
message key, the topic name, the timestamp (8 bytes big-endian ms) and the
value, each preceded by its length as 4 bytes big-endian (common/sign.h).

verify_event() checks what tecg-producer wrote, in either form (single or
sealed batch), with another implementation: the `cryptography` package's
Ed25519 and hashlib's SHA-256, RFC 9162's Merkle tree written out here."""
import base64
import ctypes
import ctypes.util
import hashlib
import os
import struct
import subprocess
import tempfile
import time

from confluent_kafka import Producer as _KafkaProducer

DOMAIN_EVENT = b"tecg-event-v1"
DOMAIN_EVENT_BATCH = b"tecg-event-batch-v1"
HDR_KEY_ID = "tecg-key-id"
HDR_SIGNATURE = "tecg-signature"
HDR_BATCH = "tecg-batch"
KEYRING_HEADER = "nation,key_id,public_key,valid_from,valid_until,revoked_at\n"

_sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
if _sodium.sodium_init() < 0:
    raise RuntimeError("libsodium did not initialise")


class Key:
    """A private key file of tecg-producer --keygen, usable from Python."""

    def __init__(self, path):
        self.path = str(path)
        fields = dict(line.split("=", 1) for line in
                      open(self.path).read().splitlines() if "=" in line)
        self.key_id = fields["key_id"]
        seed = base64.b64decode(fields["seed"])
        self.public = ctypes.create_string_buffer(32)
        self._secret = ctypes.create_string_buffer(64)
        if _sodium.crypto_sign_seed_keypair(self.public, self._secret, seed) != 0:
            raise ValueError(f"{self.path}: bad seed")

    @property
    def public_b64(self):
        return base64.b64encode(self.public.raw).decode()

    def sign(self, message: bytes) -> bytes:
        sig = ctypes.create_string_buffer(64)
        _sodium.crypto_sign_detached(sig, None, message, ctypes.c_ulonglong(len(message)),
                                     self._secret)
        return sig.raw


def frame(domain: bytes, *parts: bytes) -> bytes:
    out = domain + b"\0"
    for p in parts:
        out += struct.pack(">I", len(p)) + p
    return out


def event_signature(key: Key, msg_key: bytes, topic: str, timestamp_ms: int,
                    value: bytes) -> bytes:
    return key.sign(frame(DOMAIN_EVENT, msg_key, topic.encode(),
                          struct.pack(">q", timestamp_ms), value or b""))


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two below n (n >= 2): where RFC 9162 splits."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def merkle_tree(leaves: list):
    """RFC 9162 §2.1: the root of leaves (leaf hashes) and every leaf's
    inclusion proof, from the leaf up."""
    if len(leaves) == 1:
        return leaves[0], [[]]
    k = _split(len(leaves))
    left, lproofs = merkle_tree(leaves[:k])
    right, rproofs = merkle_tree(leaves[k:])
    return _node(left, right), [p + [right] for p in lproofs] + [p + [left] for p in rproofs]


def seal_events(key: "Key", msg_key: bytes, topic: str, items: list):
    """Seals [(timestamp_ms, value), ...] (2 to 64 events) as tecg-producer
    does (docs/design.md §9.1): the one signature and each event's
    tecg-batch header."""
    leaves = [hashlib.sha256(b"\x00" + frame(DOMAIN_EVENT, msg_key, topic.encode(),
                                              struct.pack(">q", ts), value or b"")).digest()
              for ts, value in items]
    root, proofs = merkle_tree(leaves)
    n = len(items)
    sig = key.sign(frame(DOMAIN_EVENT_BATCH, root, struct.pack(">I", n)))
    return sig, [struct.pack(">HH", n, i) + b"".join(p) for i, p in enumerate(proofs)]


def merkle_root_from_proof(leaf: bytes, index: int, size: int, proof: list):
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or None."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_event(public_key: bytes, msg_key: bytes, topic: str, timestamp_ms: int,
                 value: bytes, sig: bytes, batch: bytes = None) -> bool:
    """Whether sig (and, when sealed, the tecg-batch header) proves the
    event came from public_key's owner (docs/design.md §9.1)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    event = frame(DOMAIN_EVENT, msg_key, topic.encode(), struct.pack(">q", timestamp_ms),
                  value or b"")
    if batch is None:
        message = event
    else:
        size, index = struct.unpack(">HH", batch[:4])
        rest = batch[4:]
        if size < 2 or len(rest) % 32:
            return False
        proof = [rest[i:i + 32] for i in range(0, len(rest), 32)]
        root = merkle_root_from_proof(hashlib.sha256(b"\x00" + event).digest(), index, size,
                                      proof)
        if root is None:
            return False
        message = frame(DOMAIN_EVENT_BATCH, root, struct.pack(">I", size))
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, message)
        return True
    except InvalidSignature:
        return False


def keygen(binary, nation, key_id, out):
    """tecg-producer --keygen: the new key and its keyring line."""
    res = subprocess.run([binary, "--keygen", nation, "--key-id", key_id, "--out", str(out)],
                         capture_output=True, text=True, timeout=30, check=True)
    return Key(out), res.stdout.strip()


def keyring_line(nation, key, valid_from="", valid_until="", revoked_at=""):
    return f"{nation},{key.key_id},{key.public_b64},{valid_from},{valid_until},{revoked_at}\n"


class NationKeys:
    """One key per nation of a nations file, made once, and their keyring."""

    def __init__(self, binary, nations_csv, directory):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.keys = {}
        lines = [KEYRING_HEADER]
        for row in open(nations_csv).read().splitlines()[1:]:
            nation = row.split(",", 1)[0].strip()
            if len(nation) != 3 or row.startswith("#"):
                continue
            key, line = keygen(binary, nation, f"{nation}-test-1",
                               os.path.join(directory, f"{nation}.key"))
            self.keys[nation] = key
            lines.append(line + "\n")
        self.keyring = os.path.join(directory, "nation-keys.csv")
        with open(self.keyring, "w") as f:
            f.writelines(lines)


_session = None


def session_keys(build=None):
    """The test session's NationKeys: made at first use, for every nation of
    deploy/nations.csv, in a temporary directory (never committed), with the
    tecg-producer of `build` (default: $TECG_BUILD_DIR or build/)."""
    global _session
    if _session is None:
        root = os.environ.get("TECG_SOURCE_DIR") or os.path.abspath(
            os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        build = build or os.environ.get("TECG_BUILD_DIR") or os.path.join(root, "build")
        _session = NationKeys(os.path.join(build, "producers", "tecg-producer"),
                              os.path.join(root, "deploy", "nations.csv"),
                              tempfile.mkdtemp(prefix="tecg-keys-"))
    return _session


class SignedProducer:
    """confluent_kafka.Producer whose produce() signs each message with the
    key of the nation in its message key, as tecg-producer would: explicit
    timestamp, tecg-key-id and tecg-signature headers. A message key that
    is no nation's is signed with the key of its first three letters (so
    the aggregator's nation check sees it), or not at all."""

    def __init__(self, config, keys=None):
        self._keys = keys if keys is not None else session_keys().keys
        self._p = _KafkaProducer(config)

    def produce(self, topic, value=None, key=None, **kw):
        k = key if isinstance(key, bytes) else (key or "").encode()
        signer = self._keys.get(k[:3].decode(errors="replace"))
        if signer and "headers" not in kw:
            ts = kw.pop("timestamp", None) or int(time.time() * 1000)
            kw["timestamp"] = ts
            kw["headers"] = [(HDR_KEY_ID, signer.key_id.encode()),
                             (HDR_SIGNATURE, event_signature(signer, k, topic, ts, value))]
        return self._p.produce(topic, value=value, key=key, **kw)

    def __getattr__(self, name):
        return getattr(self._p, name)
