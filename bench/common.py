"""Shared helpers for the benchmarks: start a server, percentiles, a tiny SSE reader."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DURAGRAPH_BIN") or next(
    (p for p in [f"{ROOT}/.build/release/duragraph", f"{ROOT}/.build/debug/duragraph"] if os.path.exists(p)), None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def ms(x):
    return f"{x * 1000:.1f} ms"


class Server:
    """`duragraph serve` with its embedded PostgreSQL in a temporary directory (or roles given)."""

    def __init__(self, env=None, command="serve"):
        self.dir = tempfile.mkdtemp(prefix="dg-bench-")
        os.chmod(self.dir, 0o755)
        self.port, self.metrics = free_port(), free_port()
        e = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        e.update(DURAGRAPH_DATA_DIR=self.dir + "/data", API_PORT=str(self.port), METRICS_PORT=str(self.metrics), LOG_LEVEL="warn",
                 **(env or {}))
        self.log = open(self.dir + "/server.log", "w")
        self.proc = subprocess.Popen([BIN, command], env=e, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not start; see " + self.dir + "/server.log")

    def children(self):
        out = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = open(f"/proc/{d}/stat").read()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
                        out[cmd[-2].decode() if len(cmd) > 1 else "?"] = int(d)
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def header():
    print(f"# binary: {BIN}  ({'release' if '/release/' in BIN else 'DEBUG build: figures are pessimistic'})")
    print(f"# machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    sys.stdout.flush()
