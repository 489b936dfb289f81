"""The dashboard's HTTP server as an attacker on the network meets it
(docs/design.md §5.6): HTTPS with a CA made here by openssl, a token per
client with its routes (401 without, 403 outside them), a client
certificate as an alternative, the Host allow-list, the encoded-NUL path,
rate-limited bad-request logs, 200 slow connections that leave a normal
client served, held event streams that do not lock another client out,
and start-up checks of the TLS and token files (--check-config, no
broker)."""
import http.client
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BUILD, ROOT, Daemon, dashboard_signing_key, stop_all
from tecgpy import kafka_util

DASHBOARD = os.path.join(BUILD, "consumers", "dashboard", "tecg-dashboard")
TIMEOUT_MS = 3000  # http.request.timeout.ms of the served dashboard


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d, name, cn, ca, san=None):
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", str(ext), cwd=d)
    os.chmod(d / f"{name}.key", 0o600)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=tecg test CA",
            cwd=d)
    make_cert(d, "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "client", "wall-display", "ca")
    make_cert(d, "stranger", "nobody-listed", "ca")
    return d


def new_token(name, *routes):
    res = subprocess.run([DASHBOARD, "--new-token", name, *routes], capture_output=True,
                         text=True, timeout=20, check=True)
    token, line = res.stdout.splitlines()
    assert len(token) == 64 and token not in line and line.startswith(f"{name}  sha256:")
    return token, line


@pytest.fixture(scope="module")
def served(pki, tmp_path_factory, bootstrap):
    d = tmp_path_factory.mktemp("dash")
    tokens = {"ops": new_token("ops", "/", "/api/dashboards/", "/api/stream"),
              "bi": new_token("bi", "/api/export/"),
              "mon": new_token("mon", "/metrics"),
              "wall-display": new_token("wall-display", "/", "/api/dashboards/")}
    tf = d / "tokens"
    tf.write_text("# test clients\n" + "".join(line + "\n" for _, line in tokens.values()))
    tf.chmod(0o600)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    kafka_util.create_topics(bootstrap, prefix, partitions=3)
    port_file = d / "port"
    dash = Daemon(d, "dashboard", bootstrap, prefix, {
        "http.port": 0, "http.port.file": port_file, "http.auth.tokens": tf,
        "http.tls.cert": pki / "server.crt", "http.tls.key": pki / "server.key",
        "http.tls.client.ca": pki / "ca.crt", "http.request.timeout.ms": TIMEOUT_MS,
        "compose.interval.ms": 50})
    dash.start()
    deadline = time.monotonic() + 90
    while not (port_file.exists() and port_file.read_text().strip()):
        assert dash.alive(), dash.log_text()
        assert time.monotonic() < deadline, "the dashboard never listened"
        time.sleep(0.2)
    port = int(port_file.read_text())
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    srv = type("Served", (), {"port": port, "tokens": {k: t for k, (t, _) in tokens.items()},
                              "ctx": ctx, "pki": pki, "daemon": dash})
    # Until the first documents are composed.
    while request(srv, "/api/dashboards/funding", "ops")[0] != 200:
        assert time.monotonic() < deadline, dash.log_text()
        time.sleep(0.3)
    yield srv
    stop_all([dash])
    kafka_util.delete_topics(bootstrap, prefix)


def request(srv, path, who=None, method="GET", headers=None, ctx=None, source="127.0.0.1",
            body=None):
    h = dict(headers or {})
    if who:
        h["Authorization"] = f"Bearer {srv.tokens[who]}"
    c = http.client.HTTPSConnection("localhost", srv.port, context=ctx or srv.ctx, timeout=10,
                                    source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


ROUTES = ["/", "/static/page.js", "/api/dashboards", "/api/dashboards/funding",
          "/api/export/funding.csv", "/api/export/staffing.ndjson", "/metrics", "/nope"]
GRANTED = {
    "ops": {"/", "/api/dashboards", "/api/dashboards/funding"},
    "bi": {"/api/export/funding.csv", "/api/export/staffing.ndjson"},
    "mon": {"/metrics"},
}


def test_every_route_but_healthz_needs_a_token(served):
    assert request(served, "/healthz")[0] in (200, 503)
    for path in ROUTES + ["/api/stream"]:
        status, headers, _ = request(served, path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer"), path
        status, headers, _ = request(served, path, headers={"Authorization": "Bearer " + "0" * 64})
        assert status == 401 and "invalid_token" in headers["WWW-Authenticate"], path


def test_each_token_reads_its_routes_only(served):
    for who, granted in GRANTED.items():
        for path in ROUTES:
            status = request(served, path, who)[0]
            if path in granted:
                assert status == 200, (who, path)
            elif path == "/nope" or path == "/static/page.js":
                assert status in (403, 404), (who, path)
            else:
                assert status == 403, (who, path)


def test_https_headers_and_session_cookie(served):
    status, h, _ = request(served, "/", "ops")
    assert status == 200
    csp = h["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "unsafe-inline' " not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert h["Strict-Transport-Security"].startswith("max-age=")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    status, h, _ = request(served, "/login", "ops", method="POST")
    assert status == 204
    cookie = h["Set-Cookie"]
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie, attr
    session = cookie.split(";")[0]
    assert request(served, "/api/dashboards/funding", headers={"Cookie": session})[0] == 200
    assert request(served, "/metrics", headers={"Cookie": session})[0] == 403
    # The form a browser posts: back to the page with the cookie.
    status, h, _ = request(served, "/login", method="POST",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           body=f"token={served.tokens['bi']}")
    assert status == 303 and h["Location"] == "/" and "tecg_session=bi." in h["Set-Cookie"]


def test_client_certificate_names_a_client(served):
    ctx = ssl.create_default_context(cafile=str(served.pki / "ca.crt"))
    ctx.load_cert_chain(served.pki / "client.crt", served.pki / "client.key")
    assert request(served, "/api/dashboards/funding", ctx=ctx)[0] == 200
    assert request(served, "/metrics", ctx=ctx)[0] == 403  # wall-display's routes
    other = ssl.create_default_context(cafile=str(served.pki / "ca.crt"))
    other.load_cert_chain(served.pki / "stranger.crt", served.pki / "stranger.key")
    assert request(served, "/api/dashboards/funding", ctx=other)[0] == 401


def test_plain_http_is_not_served(served):
    c = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status != 200
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    finally:
        c.close()


def test_host_header_allow_list(served):
    # DNS rebinding: a browser at evil.example resolving to this address.
    for host in ("evil.example", f"evil.example:{served.port}", f"localhost:{served.port + 1}"):
        status = request(served, "/api/dashboards/funding", "ops", headers={"Host": host})[0]
        assert status == 421, host
    assert request(served, "/healthz", headers={"Host": "evil.example"})[0] == 421
    for host in (f"localhost:{served.port}", f"127.0.0.1:{served.port}"):
        assert request(served, "/api/dashboards/funding", "ops", headers={"Host": host})[0] == 200


def test_control_characters_in_the_path_and_log_rate(served):
    log_before = served.daemon.log_text()
    for path in ("/api/dashboards/funding%00.json", "/api/dashboards/fund%0Aing",
                 "/api/export/funding.csv%00", "/api/%2e%2e/metrics"):
        status, _, body = request(served, path, "ops")
        assert status == 400, path
        assert b'"bad_path"' in body
    for _ in range(100):
        assert request(served, "/api/dashboards/funding%00.json", "ops")[0] == 400
    new = served.daemon.log_text()[len(log_before):]
    lines = [line for line in new.splitlines() if "control character" in line]
    # 104 bad requests, at most 10 lines per 10 s.
    assert 1 <= len(lines) <= 10, len(lines)


def test_slow_connections_leave_a_normal_client_served(served):
    """200 clients (each its own address) trickle a request one byte a
    second; a normal client is answered meanwhile, and the slow ones are
    closed at the request deadline."""
    slow, lock = [], threading.Lock()

    def open_slow(i):
        raw = socket.create_connection(("127.0.0.1", served.port), timeout=10,
                                       source_address=(f"127.0.{1 + i // 250}.{2 + i % 250}", 0))
        s = served.ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /api/dashboards/funding HTTP/1.1\r\nHost: localhost\r\n")
        with lock:
            slow.append(s)

    threads = [threading.Thread(target=open_slow, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(slow) == 200
    started = time.monotonic()
    closed = set()
    try:
        while time.monotonic() - started < TIMEOUT_MS / 1000 + 4:
            t0 = time.monotonic()
            assert request(served, "/api/dashboards/funding", "ops",
                           source="127.0.9.9")[0] == 200
            assert time.monotonic() - t0 < 3, "a normal client waited"
            for i, s in enumerate(slow):
                if i in closed:
                    continue
                try:
                    s.sendall(b"X")
                except OSError:
                    closed.add(i)
            time.sleep(1)
        for i, s in enumerate(slow):
            if i in closed:
                continue
            s.settimeout(0.5)
            try:
                if s.recv(64) == b"":
                    closed.add(i)
            except (OSError, ssl.SSLError):
                closed.add(i)
        assert len(closed) == 200, f"{200 - len(closed)} slow connections still open"
        status, _, body = request(served, "/metrics", "mon")
        assert status == 200
        counted = next(line for line in body.decode().splitlines()
                       if line.startswith("tecg_http_slow_closed_total "))
        assert int(counted.split()[1]) >= 200
    finally:
        for s in slow:
            s.close()


def test_held_streams_do_not_lock_out_another_client(served):
    held = []
    try:
        for _ in range(40):
            try:
                c = http.client.HTTPSConnection("localhost", served.port, context=served.ctx,
                                                timeout=5)
                c.request("GET", "/api/stream",
                          headers={"Authorization": f"Bearer {served.tokens['ops']}"})
                r = c.getresponse()
                if r.status == 200:
                    held.append((c, r))
                else:
                    c.close()
            except (OSError, http.client.HTTPException):
                pass  # refused: over this client's connection limit
        assert len(held) >= 30
        c = http.client.HTTPSConnection("localhost", served.port, context=served.ctx, timeout=5,
                                        source_address=("127.0.8.8", 0))
        c.request("GET", "/api/stream",
                  headers={"Authorization": f"Bearer {served.tokens['ops']}"})
        r = c.getresponse()
        assert r.status == 200
        assert r.read(17) == b": tecg dashboards"
        c.close()
    finally:
        for c, _ in held:
            c.close()


# ---------------------------------------------------------------------------
# Start-up checks (--check-config: no broker)

def check_config(tmp_path, text):
    conf = tmp_path / "dashboard.conf"
    conf.write_text(f"nations.file = {ROOT}/deploy/nations.csv\n"
                    f"security.signing.key = {dashboard_signing_key(tmp_path)}\n" + text)
    return subprocess.run([DASHBOARD, "--config", str(conf), "--check-config"],
                          capture_output=True, text=True, timeout=20)


def test_start_up_checks(pki, tmp_path):
    _, line = new_token("ops", "/")
    tf = tmp_path / "tokens"
    tf.write_text(line + "\n")
    tf.chmod(0o600)
    tls = (f"http.tls.cert = {pki}/server.crt\nhttp.tls.key = {pki}/server.key\n")
    ok = check_config(tmp_path, f"http.auth.tokens = {tf}\n" + tls)
    assert ok.returncode == 0, ok.stderr
    # Neither tokens nor an explicit none.
    res = check_config(tmp_path, "")
    assert res.returncode == 2 and "http.auth.tokens is not set" in res.stderr
    res = check_config(tmp_path, "http.auth = none\n")
    assert res.returncode == 0, res.stderr
    res = check_config(tmp_path, "http.auth = none\nhttp.address = 0.0.0.0\n")
    assert res.returncode == 2 and "loopback" in res.stderr
    # A tokens file others may read or group may write.
    tf.chmod(0o644)
    res = check_config(tmp_path, f"http.auth.tokens = {tf}\n")
    assert res.returncode == 2 and "mode 0644" in res.stderr
    tf.chmod(0o600)
    # A readable private key; a key that is not the certificate's.
    key = tmp_path / "server.key"
    key.write_bytes((pki / "server.key").read_bytes())
    key.chmod(0o640)
    res = check_config(tmp_path, f"http.auth.tokens = {tf}\nhttp.tls.cert = {pki}/server.crt\n"
                                 f"http.tls.key = {key}\n")
    assert res.returncode == 2 and "mode 0640" in res.stderr
    res = check_config(tmp_path, f"http.auth.tokens = {tf}\nhttp.tls.cert = {pki}/server.crt\n"
                                 f"http.tls.key = {pki}/client.key\n")
    assert res.returncode == 2 and "certificate and key" in res.stderr
    res = check_config(tmp_path, f"http.auth.tokens = {tf}\nhttp.tls.cert = {pki}/server.crt\n")
    assert res.returncode == 2 and "go together" in res.stderr
    # No key material in what --check-config prints.
    key_text = (pki / "server.key").read_text()
    body = key_text.splitlines()[1]
    assert body not in ok.stdout + ok.stderr


def test_a_client_closing_its_stream_is_not_a_warning(served):
    """Browsers close event streams all the time (a reload, a closed tab):
    the dashboard notes it at debug level only."""
    log = served.daemon.log
    start = log.stat().st_size
    for _ in range(5):
        # From an address of its own: the other tests' connections may not
        # be closed yet and count against 127.0.0.1's limit.
        raw = socket.create_connection(("localhost", served.port), timeout=5,
                                       source_address=("127.0.9.9", 0))
        # An abortive close (RST), as a killed browser does.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s = served.ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /api/stream HTTP/1.1\r\nHost: localhost\r\n"
                  + f"Authorization: Bearer {served.tokens['ops']}\r\n\r\n".encode())
        assert b"200" in s.recv(64)
        s.close()
    # A new document version makes the server write to every stream it
    # still thinks is open; wait past that and the heartbeat.
    time.sleep(3 * TIMEOUT_MS / 1000)
    with open(log, "rb") as f:
        f.seek(start)
        since = f.read().decode(errors="replace")
    warned = [line for line in since.splitlines() if " WARN " in line]
    assert not warned, "\n".join(warned)
    assert served.daemon.alive()
