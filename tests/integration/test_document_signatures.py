"""Signed dashboards end to end (docs/design.md §9.2): every document
version tecg-dashboard pushes, serves or publishes verifies with
tools/tecg-verify against the public key the dashboard serves, and a
document with one byte changed does not.

No producer or aggregator is needed: once nation-state (empty here) is read
to its end the dashboard composes version 1 of each document, pushes it to
the sink, serves it and writes it to <prefix>dashboards."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

from conftest import BUILD, DASHBOARD_TOKEN, ROOT

VERIFY = [sys.executable, os.path.join(ROOT, "tools", "tecg-verify")]
DASHBOARD = os.path.join(BUILD, "consumers", "dashboard", "tecg-dashboard")
NAMES = ("funding", "staffing", "training")


def verify(*args):
    # The dashboard serves its key and documents to token holders only.
    res = subprocess.run([*VERIFY, "--token", DASHBOARD_TOKEN, *args], capture_output=True,
                         text=True, timeout=60)
    print(res.stdout, res.stderr)
    return res


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers, r.read()


@pytest.fixture
def signed(daemon_factory, sink_factory, tmp_path):
    """A dashboard pushing to a sink, once every document reached it."""
    sink = sink_factory()
    port_file = tmp_path / "dashboard.port"
    d = daemon_factory("dashboard", http__port=0, http__port__file=port_file,
                       compose__interval__ms=50, sink__bi__url=sink.url,
                       sink__bi__backoff__max__ms=500).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (port_file.exists() and port_file.read_text().strip()
                and all(sink.latest(n) for n in NAMES)):
            break
        assert d.alive(), d.log_text()
        time.sleep(0.1)
    else:
        raise AssertionError("no documents pushed:\n" + d.log_text())
    base = f"http://127.0.0.1:{int(port_file.read_text())}/"
    return d, sink, base


def received_signature(sink, name):
    _, _, body = get(sink.url + "received")
    sigs = [r["signature"] for r in json.loads(body) if r["dashboard"] == name]
    assert sigs and sigs[-1], body
    return sigs[-1]


def test_served_public_key_is_the_printed_one(signed):
    d, _, base = signed
    status, headers, body = get(base + ".well-known/tecg-signing-key")
    assert status == 200 and headers["Content-Type"] == "application/json"
    served = json.loads(body)
    assert served["algorithm"] == "Ed25519" and served["key_id"] == "test-dashboard"
    assert served["domain"] == "tecg-document-v1"
    printed = subprocess.run([DASHBOARD, "--config", str(d.config), "--print-public-key"],
                             capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == served
    assert "seed" not in printed.stdout and "seed" not in body.decode()


def test_pushed_document_verifies_and_one_flipped_byte_does_not(signed, tmp_path):
    _, sink, base = signed
    for name in NAMES:
        res = verify("--key", base, "--url", sink.url + f"dashboards/{name}")
        assert res.returncode == 0, res.stderr
        assert f"{name} (" in res.stdout and "verified with key test-dashboard" in res.stdout

    # The bytes as the sink received them, with the header it got.
    body = (sink.out / "funding.json").read_bytes()
    sig = received_signature(sink, "funding")
    doc = tmp_path / "funding.json"
    doc.write_bytes(body)
    assert verify("--key", base, "--file", str(doc), "--signature", sig).returncode == 0
    i = body.index(b'"version":') + len(b'"version":')
    flipped = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]  # version 1 -> 0
    doc.write_bytes(flipped)
    res = verify("--key", base, "--file", str(doc), "--signature", sig)
    assert res.returncode == 1
    assert "NOT VERIFIED" in res.stderr and "does not match" in res.stderr
    # The right bytes under another document's name do not verify either.
    doc.write_bytes(body)
    res = verify("--key", base, "--file", str(doc), "--signature", sig, "--name", "staffing")
    assert res.returncode == 1, res.stderr


def test_served_document_verifies(signed, tmp_path):
    _, _, base = signed
    res = verify("--key", base, "--url", base + "api/dashboards/staffing")
    assert res.returncode == 0, res.stderr
    # A response saved whole (curl -si) verifies too, and not once altered.
    status, headers, body = get(base + "api/dashboards/training")
    raw = f"HTTP/1.1 {status} OK\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
    saved = tmp_path / "training.http"
    saved.write_bytes(raw + body)
    assert verify("--key", base, "--response", str(saved)).returncode == 0
    saved.write_bytes(raw + body.replace(b'"dashboard":"training"', b'"dashboard":"training" '))
    assert verify("--key", base, "--response", str(saved)).returncode == 1


def test_another_key_or_no_signature_is_refused(signed, tmp_path):
    _, sink, base = signed
    other = tmp_path / "other.key"
    made = subprocess.run([DASHBOARD, "--keygen", "--key-id", "test-dashboard",
                           "--out", str(other)], capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    assert oct(other.stat().st_mode & 0o777) == "0o600"
    pub = tmp_path / "other.json"
    pub.write_text(made.stdout)
    res = verify("--key", str(pub), "--url", sink.url + "dashboards/funding")
    assert res.returncode == 1 and "does not match" in res.stderr
    # The export is derived from the document and carries no signature.
    res = verify("--key", base, "--url", base + "api/export/funding.csv", "--name", "funding")
    assert res.returncode == 1 and "not signed" in res.stderr


def test_dashboards_topic_message_verifies(signed, bootstrap, prefix, tmp_path):
    _, _, base = signed
    res = verify("--key", base, "--kafka", bootstrap, "--prefix", prefix)
    assert res.returncode == 0, res.stderr
    for name in NAMES:
        assert f"{name} (" in res.stdout

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-signatures",
                  "enable.auto.commit": False})
    topic = prefix + "dashboards"
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    m = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            break
    c.close()
    assert m is not None and not m.error()
    headers = dict(m.headers())
    value = tmp_path / "value.json"
    value.write_bytes(m.value())
    args = ["--key", base, "--value", str(value), "--name", m.key().decode(),
            "--key-id", headers["tecg-key-id"].decode(),
            "--sig", headers["tecg-signature"].decode()]
    assert verify(*args).returncode == 0
    value.write_bytes(m.value()[:-1] + b" ")
    res = verify(*args)
    assert res.returncode == 1 and "NOT VERIFIED" in res.stderr


def test_key_file_is_checked_at_start(tmp_path):
    """--keygen never overwrites and refuses a bad key id; a dashboard
    without a key, or with one others may read, does not start (exit 2);
    security.signing=off starts with a warning."""
    key = tmp_path / "k.key"
    keygen = [DASHBOARD, "--keygen", "--key-id", "k-1", "--out", str(key)]
    assert subprocess.run(keygen, capture_output=True, timeout=30).returncode == 0
    before = key.read_bytes()
    again = subprocess.run(keygen, capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "cannot create" in again.stderr
    assert key.read_bytes() == before
    bad = subprocess.run([DASHBOARD, "--keygen", "--key-id", "a b", "--out",
                          str(tmp_path / "x.key")], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and not (tmp_path / "x.key").exists()
    extra = subprocess.run([*keygen, "--force"], capture_output=True, text=True, timeout=30)
    assert extra.returncode == 2 and "Usage" in extra.stderr

    conf = tmp_path / "d.conf"
    conf.write_text(f"nations.file = {ROOT}/deploy/nations.csv\nhttp.auth = none\n")

    def check(*x):
        return subprocess.run([DASHBOARD, "--config", str(conf), "--check-config", *x],
                              capture_output=True, text=True, timeout=30)
    res = check()
    assert res.returncode == 2 and "security.signing.key is required" in res.stderr
    key.chmod(0o640)
    res = check("-X", f"security.signing.key={key}")
    assert res.returncode == 2 and "readable by its owner only" in res.stderr
    key.chmod(0o600)
    res = check("-X", f"security.signing.key={key}")
    assert res.returncode == 0 and "signed with key k-1" in res.stderr
    assert before.decode().split("seed=")[1].strip() not in res.stderr + res.stdout
    res = check("-X", "security.signing=off")
    assert res.returncode == 0 and "WARN" in res.stderr and "unsigned" in res.stderr
