"""A network partition between one daemon and chosen brokers, without
firewall tools: the daemon runs in its own network namespace (unshare -n,
needs root), where this module, run as a program, listens on 127.0.0.1 at
every broker port (the brokers advertise 127.0.0.1:PORT, so the daemon's
connections all land here) and passes each connection through a Unix socket
(the file system is shared) to the Relay in the harness, which connects to
the real broker. Relay.block(port) stops the bytes to and from that broker,
both ways, and leaves new connections unanswered, as a partition does;
Relay.heal(port) lets them flow again.

  python3 netns.py --sockdir DIR --ports P1,P2,... -- ARGV...
      (inside the namespace) starts ARGV as a child, relays until it exits,
      exits with its status; SIGTERM/SIGINT are passed on to it, and the
      child dies with this process."""
import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def _pump(src, dst, gate=None):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if gate is not None:
                while gate():
                    time.sleep(0.05)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _pair(a, b, gate=None):
    for src, dst in ((a, b), (b, a)):
        threading.Thread(target=_pump, args=(src, dst, gate), daemon=True).start()


class Relay:
    """The harness's side: DIR/PORT.sock -> 127.0.0.1:PORT for each port."""

    def __init__(self, sockdir, ports):
        self.sockdir, self.ports = sockdir, list(ports)
        self.blocked = set()
        os.makedirs(sockdir, exist_ok=True)
        self.servers = []
        for port in self.ports:
            path = os.path.join(sockdir, f"{port}.sock")
            if os.path.exists(path):
                os.unlink(path)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(path)
            srv.listen(64)
            self.servers.append(srv)
            threading.Thread(target=self._accept, args=(srv, port), daemon=True).start()

    def _accept(self, srv, port):
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(conn, port), daemon=True).start()

    def _connect(self, conn, port):
        while port in self.blocked:        # a SYN that gets no answer
            time.sleep(0.05)
        try:
            up = socket.create_connection(("127.0.0.1", port), timeout=10)
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        _pair(conn, up, gate=lambda: port in self.blocked)

    def block(self, port):
        self.blocked.add(port)

    def heal(self, port):
        self.blocked.discard(port)

    def close(self):
        for srv in self.servers:
            srv.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockdir", required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for port in (int(p) for p in args.ports.split(",")):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(64)

        def accept(srv=srv, port=port):
            while True:
                conn, _ = srv.accept()
                try:
                    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    up.connect(os.path.join(args.sockdir, f"{port}.sock"))
                except OSError:
                    conn.close()
                    continue
                _pair(conn, up)
        threading.Thread(target=accept, daemon=True).start()

    libc = ctypes.CDLL(None, use_errno=True)

    def die_with_parent():
        libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    child = subprocess.Popen(argv, preexec_fn=die_with_parent)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    rc = child.wait()
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
