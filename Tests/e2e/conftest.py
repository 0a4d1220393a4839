"""Shared fixtures: real `duragraph` processes against a real PostgreSQL started by scripts/test.sh."""
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from fake_llm import FakeLLM

BIN = os.environ["DURAGRAPH_BIN"]
PG_URL = os.environ["DURAGRAPH_TEST_PG_URL"]
PG_CTL = os.environ["DURAGRAPH_TEST_PG_CTL"]
PG_DIR = os.environ["DURAGRAPH_TEST_PG_DIR"]
PG_PORT = os.environ["DURAGRAPH_TEST_PG_PORT"]
TMP = os.environ["DURAGRAPH_TEST_TMP"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql, url=PG_URL):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def fresh_database(prefix="dg"):
    """A new empty database on the test cluster; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    return PG_URL.replace("dbname=postgres", f"dbname={name}")


def children_of(pid):
    """{pid: cmdline} of the direct children of pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out[int(d)] = f.read().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except requests.RequestException as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Process:
    """One `duragraph <command>` process with its own ports, data dir and log file."""

    def __init__(self, command="serve", database_url=None, env=None, args=()):
        self.api_port = free_port()
        self.metrics_port = free_port()
        self.data_dir = os.path.join(TMP, "data-" + uuid.uuid4().hex[:8])
        self.log_path = self.data_dir + ".log"
        e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NOTIFY_SOCKET")}
        e.update(API_PORT=str(self.api_port), METRICS_PORT=str(self.metrics_port),
                 DURAGRAPH_DATA_DIR=self.data_dir, DRAIN_TIMEOUT="10")
        if database_url:
            e["DATABASE_URL"] = database_url
        e.update(env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, *args, command], env=e, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.api_port}"

    @property
    def pid(self):
        return self.proc.pid

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_healthy(self, timeout=60):
        def ok():
            assert self.proc.poll() is None, f"exited early:\n{self.logs()}"
            return requests.get(self.base + "/health", timeout=2).status_code == 200
        wait_for(ok, timeout, what="/health 200")
        return self

    def roles(self):
        """{role: pid} of the supervisor's role children."""
        out = {}
        for pid, cmd in children_of(self.pid).items():
            parts = cmd.split()
            if parts and parts[0].endswith("duragraph"):
                out[parts[-1]] = pid
        return out

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def api():
    """The api role alone against its own database, for the API tests: no scheduler runs, so runs
    stay queued and the API's own behaviour (multitask strategies, cancel) is deterministic."""
    p = Process("api", database_url=fresh_database("api"))
    try:
        p.wait_healthy()
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def llm():
    """A fake OpenAI/Anthropic server (fake_llm.py), one per test module."""
    f = FakeLLM()
    yield f
    f.close()
