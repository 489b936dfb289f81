"""SIGHUP on every daemon (README, "Signals"): the configuration is read
again; log.level changes at once, any other changed key is named as
needing a restart (a secret's value never shown), an invalid file changes
nothing; the daemon keeps running and still stops cleanly on SIGTERM."""
import os
import signal
import time

import pytest


def wait_log(daemon, text, since, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = daemon.log_text()[since:]
        if text in got:
            return got
        assert daemon.alive(), daemon.log_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"never logged {text!r}:\n" + daemon.log_text()[since:][-3000:])


def hup(daemon):
    since = len(daemon.log_text())
    daemon.proc.send_signal(signal.SIGHUP)
    return since


@pytest.mark.parametrize("kind", ["producer", "aggregator", "dashboard"])
def test_sighup_reads_the_configuration_again(kind, producer_factory, daemon_factory):
    if kind == "producer":
        d = producer_factory("FRA").start()
    else:
        d = daemon_factory(kind, http__port=0) if kind == "dashboard" else daemon_factory(kind)
        d.start()
    time.sleep(1.0)  # past start-up: the handler is installed before the main loop
    original = d.config.read_text()

    # The same file again: nothing changed.
    since = hup(d)
    wait_log(d, "SIGHUP: the configuration has not changed", since)

    # log.level applies at once; a Kafka key and a secret-looking one wait
    # for a restart, the secret's value unnamed.
    d.config.write_text(original + "log.level = debug\nstats.interval.ms = 1234\n"
                        "kafka.sasl.password = hunter2-secret\n")
    since = hup(d)
    got = wait_log(d, "take effect only at the next start", since)
    assert "SIGHUP: log.level is now debug" in got
    assert "stats.interval.ms" in got and "1234" in got
    assert "kafka.sasl.password" in got
    assert "hunter2-secret" not in d.log_text()

    # A broken file: said, and nothing changes.
    d.config.write_text(original + "no.such.key = 1\n")
    since = hup(d)
    got = wait_log(d, "the configuration in use stays", since)
    assert "no.such.key" in got

    d.config.write_text(original)
    assert d.alive()
    assert d.stop() == 0
    assert not os.path.exists(str(d.config) + ".tmp")
