"""Start-up configuration of the three daemons: the shipped examples are
valid, and every mistake stops the daemon with exit status 2 and
`file:line: reason`. No broker needed."""
import os
import subprocess

import pytest

from conftest import BUILD, ROOT, dashboard_signing_key, dashboard_tokens_file
from tecgpy import signing

BINARIES = {
    "producer": os.path.join(BUILD, "producers", "tecg-producer"),
    "aggregator": os.path.join(BUILD, "consumers", "aggregator", "tecg-aggregator"),
    "dashboard": os.path.join(BUILD, "consumers", "dashboard", "tecg-dashboard"),
}


def check(kind, text, tmp_path, *extra):
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(text)
    if kind == "dashboard":  # a key file that exists (the example's is /etc/tecg/...)
        extra = ("-X", f"security.signing.key={dashboard_signing_key(tmp_path)}", *extra)
    if kind == "dashboard":  # the example's tokens file is under /etc
        extra = ("-X", f"http.auth.tokens={dashboard_tokens_file(tmp_path)}", *extra)
    return subprocess.run([BINARIES[kind], "--config", str(conf), "--check-config",
                           "-X", f"nations.file={ROOT}/deploy/nations.csv", *extra],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_shipped_example_is_valid(kind, tmp_path):
    text = open(os.path.join(ROOT, "deploy", f"{kind}.conf.example")).read()
    extra = []
    if kind == "producer":  # the example's key file is the operator's to make
        keys = signing.session_keys()
        extra = ["-X", f"security.signing.key={keys.keys['FRA'].path}",
                 "-X", f"security.keyring={keys.keyring}"]
    res = check(kind, text, tmp_path, *extra)
    assert res.returncode == 0, res.stderr
    assert "configuration OK" in res.stdout


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_help_lists_every_key(kind):
    res = subprocess.run([BINARIES[kind], "--help"], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0
    assert "kafka.<property>" in res.stdout and "topic.prefix" in res.stdout
    assert "Exit status" in res.stdout


def test_sink_booleans_are_spelled_as_everywhere(tmp_path):
    """sink.NAME.tls.verify takes every boolean spelling of the other keys."""
    for value in ("off", "no", "0", "FALSE", "on", "yes", "1", "true"):
        res = check("dashboard", f"sink.bi.url = https://x/\nsink.bi.tls.verify = {value}\n",
                    tmp_path)
        assert res.returncode == 0, (value, res.stderr)


def test_help_documents_sink_keys():
    res = subprocess.run([BINARIES["dashboard"], "--help"], capture_output=True, text=True,
                         timeout=20)
    for key in ("url", "token", "ca.file", "tls.verify", "timeout.ms", "backoff.max.ms"):
        assert f"sink.<name>.{key}" in res.stdout, key


@pytest.mark.parametrize("kind,text,want", [
    ("aggregator", "batch.max.ms = 0\n", ":1: 'batch.max.ms': 0 is out of range [1, 60000]"),
    ("aggregator", "# c\ninstance.id = a\ngroupid = x\n", ":3: unknown key 'groupid'"),
    ("aggregator", "log.level = loud\n", "log.level: \"loud\" is not a level"),
    ("dashboard", "rate.USD = -1\n", ":1: rate.USD:"),
    ("dashboard", "rate.XYZ = 1.0\n", ":1: rate.XYZ:"),
    ("dashboard", "reporting.currency = EURO\n", ":1:"),
    # sink.NAME.* is parsed by the property table: its reasons read like
    # every other key's ('key': reason).
    ("dashboard", "sink.bi.url = http://127.0.0.1:1/\nsink.bi.colour = red\n",
     ":2: 'sink.bi.colour': unknown sink setting 'colour' (url, token, ca.file, "
     "tls.verify, timeout.ms, backoff.max.ms)"),
    ("dashboard", "sink.bi.token = x\n", ":1: sink bi has no sink.bi.url"),
    ("dashboard", "sink.bi.timeout.ms = fast\nsink.bi.url = http://x/\n",
     ":1: 'sink.bi.timeout.ms': \"fast\" is not an integer"),
    ("dashboard", "sink.bi.url = http://x/\nsink.bi.backoff.max.ms = 0\n",
     ":2: 'sink.bi.backoff.max.ms': 0 is out of range [1, 3600000]"),
    ("dashboard", "sink.bi.url = http://x/\nsink.bi.tls.verify = maybe\n",
     ":2: 'sink.bi.tls.verify': \"maybe\" is not a boolean"),
    ("dashboard", "sink.bi.url = http://x/\nsink.bi.url = http://y/\n",
     ":2: 'sink.bi.url' is already set at "),
    ("dashboard", "sink.bi = http://x/\n", ":1: 'sink.bi': expected sink.NAME.KEY"),
    ("dashboard", "http.port = 70000\n", ":1: 'http.port': 70000 is out of range"),
    ("dashboard", "publish.topic = maybe\n", "'publish.topic': \"maybe\" is not a boolean"),
    ("producer", "nation = FRA\nkafka.acks = sometimes\nspool.dir = /tmp/x\n", ":2: kafka.acks:"),
])
def test_mistakes_are_reported_with_file_and_line(kind, text, want, tmp_path):
    res = check(kind, text, tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert want in res.stderr, res.stderr
    assert res.stderr.startswith(f"tecg-{kind}: ")
