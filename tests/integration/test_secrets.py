"""No configured secret appears in what a daemon prints (docs/design.md §9.5):
each daemon is run with -v (the configuration dump at debug level, its
start-up lines, its errors) and with --check-config -v, with a password in a
URL's userinfo (sink.NAME.url, schema.registry.url), kafka.sasl.password,
kafka.ssl.key.password, a real private key in kafka.ssl.key.pem and a sink
token; every byte each run printed (stdout, stderr, metrics file, --help) is
searched for every secret value.

The secrets are a list per run: a run against a secured broker adds its
SCRAM passwords (and whatever else it configures) to the list by naming a
file, one secret a line, in TECG_TEST_SECRETS_FILE, and its client settings
(kafka.security.protocol, kafka.sasl.*, ...) as key = value lines in
TECG_TEST_KAFKA_CONF; both are optional."""
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (BUILD, ROOT, dashboard_signing_key, dashboard_tokens_file, scaled,
                      signing_settings)
from tecgpy import secure

BINARIES = {
    "producer": os.path.join(BUILD, "producers", "tecg-producer"),
    "aggregator": os.path.join(BUILD, "consumers", "aggregator", "tecg-aggregator"),
    "dashboard": os.path.join(BUILD, "consumers", "dashboard", "tecg-dashboard"),
}
RUN_S = 4  # how long each daemon runs before SIGTERM


def private_key_pem():
    res = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"],
                         capture_output=True, text=True, timeout=20, check=True)
    return res.stdout


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Run:
    """The secrets of one run and the configuration that carries them."""

    def __init__(self):
        tag = uuid.uuid4().hex[:8]
        self.url_password = f"UrlPass{tag}"
        self.registry_password = f"RegPass{tag}"
        self.sasl_password = f"SaslPass{tag}"
        self.key_password = f"KeyPass{tag}"
        self.sink_token = f"SinkToken{tag}"
        self.pem = private_key_pem()
        body = [line for line in self.pem.splitlines() if line and "-----" not in line]
        self.secrets = [self.url_password, self.registry_password, self.sasl_password,
                        self.key_password, self.sink_token, "PRIVATE KEY", *body]
        self.secrets += extra_secrets()
        self.port = closed_port()

    def common(self):
        """key = value lines every daemon gets (a file cannot hold the PEM's
        line breaks: it goes on the command line, see args())."""
        settings = {
            "nations.file": f"{ROOT}/deploy/nations.csv",
            "kafka.sasl.username": "tecg-test",
            "kafka.sasl.password": self.sasl_password,
            "kafka.ssl.key.password": self.key_password,
        }
        settings.update(extra_kafka_conf())
        return settings

    def args(self):
        return ["-X", f"kafka.ssl.key.pem={self.pem}"]


def extra_secrets():
    """The run's own secrets: TECG_TEST_SECRETS_FILE's lines and, against
    the secured broker, every SCRAM password it made ("user password" a
    line)."""
    found = []
    path = os.environ.get("TECG_TEST_SECRETS_FILE")
    if path:
        with open(path) as f:
            found += [line.strip() for line in f if line.strip()]
    if secure.SECURE:
        with open(os.path.join(secure.SECURE_DIR, "passwords")) as f:
            found += [line.split()[-1] for line in f if line.split()]
    return found


def extra_kafka_conf():
    path = os.environ.get("TECG_TEST_KAFKA_CONF")
    if not path:
        return {}
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def daemon_settings(kind, run, tmp_path, bootstrap, prefix):
    s = run.common()
    # Against the secured broker: the role's real SCRAM login.
    s.update(secure.tecg_settings(secure.user_for(kind, "NOR")))
    s.update(signing_settings(kind, "NOR"))
    s["kafka.bootstrap.servers"] = bootstrap
    s["topic.prefix"] = prefix
    s["stats.interval.ms"] = 1000
    if kind == "producer":
        s["nation"] = "NOR"
        s["spool.dir"] = tmp_path / "spool"
        s["metrics.file"] = tmp_path / "producer.prom"
        # Refused at start: the error quotes the registry's URL.
        s["schema.registry.url"] = (f"http://tecg:{run.registry_password}"
                                    f"@127.0.0.1:{run.port}")
    elif kind == "aggregator":
        s["instance.id"] = f"secrets-{uuid.uuid4().hex[:6]}"
        s["metrics.file"] = tmp_path / "aggregator.prom"
        s["store.dir"] = tmp_path / "aggregator-store"
        s["schema.registry.url"] = (f"http://tecg:{run.registry_password}"
                                    f"@127.0.0.1:{run.port}")
    else:
        s["http.port"] = 0
        s["security.signing.key"] = dashboard_signing_key(tmp_path)
        s["http.auth.tokens"] = dashboard_tokens_file(tmp_path)
        s["sink.bi.url"] = f"http://bi:{run.url_password}@127.0.0.1:{run.port}/push"
        s["sink.bi.token"] = run.sink_token
    return s


def write_conf(tmp_path, kind, settings):
    conf = tmp_path / f"{kind}-secrets.conf"
    conf.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    return conf


def assert_no_secret(what, text, run):
    found = [s for s in run.secrets if s in text]
    assert not found, f"{what} shows {found}:\n{text}"


@pytest.fixture
def run():
    return Run()


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_check_config_verbose_shows_no_secret(kind, run, tmp_path, bootstrap, prefix):
    conf = write_conf(tmp_path, kind, daemon_settings(kind, run, tmp_path, bootstrap, prefix))
    res = subprocess.run([BINARIES[kind], "--config", str(conf), "--check-config", "-v",
                          *run.args()], capture_output=True, text=True, timeout=scaled(30))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "configuration OK" in res.stdout
    # The dump is there, the secrets are not.
    assert "kafka.sasl.password = ***" in out, out
    assert "kafka.ssl.key.pem = ***" in out, out
    assert_no_secret(f"tecg-{kind} --check-config -v", out, run)


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_verbose_run_shows_no_secret(kind, run, tmp_path, bootstrap, prefix):
    conf = write_conf(tmp_path, kind, daemon_settings(kind, run, tmp_path, bootstrap, prefix))
    log = tmp_path / f"{kind}.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([BINARIES[kind], "--config", str(conf), "-v", *run.args()],
                                stdout=subprocess.PIPE, stderr=logf)
        try:
            deadline = time.time() + scaled(RUN_S)
            while time.time() < deadline and proc.poll() is None:
                time.sleep(0.1)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=scaled(30))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text(errors="replace") + stdout.decode(errors="replace")
    assert "DEBUG config:" in text, text
    if kind == "producer":
        # Exits at start: the registry does not answer; the error names it.
        assert f"127.0.0.1:{run.port}" in text, text
    if kind == "dashboard":
        assert "sink bi: pushing to http://***@127.0.0.1" in text, text
    assert_no_secret(f"tecg-{kind} -v", text, run)
    for prom in tmp_path.glob("*.prom"):
        assert_no_secret(str(prom), prom.read_text(errors="replace"), run)


@pytest.mark.parametrize("kind", sorted(BINARIES))
def test_help_and_config_errors_show_no_secret(kind, run, tmp_path):
    res = subprocess.run([BINARIES[kind], "--help"], capture_output=True, text=True,
                         timeout=scaled(20))
    assert_no_secret(f"tecg-{kind} --help", res.stdout + res.stderr, run)
    # A value refused by the table or by librdkafka is not repeated when
    # it is a secret.
    for bad in (f"stats.interval.ms=http://u:{run.url_password}@h/",
                f"kafka.sasl.password={run.sasl_password}\x01",
                f"kafka.ssl.key.pem=-----BEGIN PRIVATE KEY-----{run.key_password}"):
        res = subprocess.run([BINARIES[kind], "--check-config", "-X",
                              f"nations.file={ROOT}/deploy/nations.csv", "-X", bad,
                              "-X", "kafka.security.protocol=nonsense"],
                             capture_output=True, text=True, timeout=scaled(20))
        assert res.returncode == 2, res.stderr
        assert_no_secret(f"tecg-{kind} -X {bad.split('=')[0]}", res.stdout + res.stderr, run)
