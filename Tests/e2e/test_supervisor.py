"""The supervisor: embedded PostgreSQL, restarts, drain, readiness."""
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import BIN, Process, alive, children_of, fresh_database, wait_for

ROLES = {"api", "scheduler", "webhook-dispatcher", "metrics"}


def test_embedded_postgres_restart_and_drain():
    p = Process("serve")   # no DATABASE_URL: embedded PostgreSQL
    try:
        p.wait_healthy(timeout=60)
        body = requests.get(p.base + "/health").json()
        assert body["status"] == "ok" and body["checks"]["database"] == "ok" and body["version"]

        def four_roles():
            r = p.roles()
            return r if set(r) == ROLES else None
        roles = wait_for(four_roles, 10, what="four roles")
        kids = children_of(p.pid)
        postgres = [pid for pid, cmd in kids.items() if "postgres" in cmd.split()[0]]
        assert len(postgres) == 1, kids
        pg_backends = list(children_of(postgres[0]))
        assert pg_backends, "postgres has no server processes"

        old = roles["scheduler"]
        os.kill(old, signal.SIGKILL)
        def replaced():
            n = p.roles().get("scheduler")
            return n if n and n != old else None
        new = wait_for(replaced, 15, what="replacement scheduler")
        assert new != old
        assert requests.get(p.base + "/health").status_code == 200
        assert "role exited; restarting" in p.logs() and "signal 9" in p.logs()

        everything = list(p.roles().values()) + postgres + pg_backends
        start = time.monotonic()
        assert p.stop(signal.SIGTERM, timeout=30) == 0, p.logs()
        assert time.monotonic() - start < 10 + 5   # DRAIN_TIMEOUT=10 plus PostgreSQL shutdown
        wait_for(lambda: not any(alive(x) for x in everything), 5, what="every process gone")
        assert "stopped cleanly" in p.logs()
    finally:
        p.stop(signal.SIGKILL)


def test_ready_only_after_all_roles(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(60)
    p = Process("serve", database_url=fresh_database(), env={"NOTIFY_SOCKET": path})
    try:
        messages = []
        while True:
            msg = sock.recv(4096).decode()
            messages.append(msg)
            if "READY=1" in msg.split("\n"):
                break
        # When READY=1 arrives every role has already reported ready to the supervisor ...
        ready_lines = [l for l in p.logs().splitlines() if "role ready" in l]
        assert {r for r in ROLES if any(f"role={r}" in l for l in ready_lines)} == ROLES, p.logs()
        # ... and they are all running children that serve.
        assert set(p.roles()) == ROLES
        assert requests.get(p.base + "/health", timeout=2).status_code == 200
        # Roles' own notifications go to the supervisor, not to systemd.
        assert not any("DURAGRAPH_ROLE" in m for m in messages)
        assert any(m.startswith("STATUS=") for m in messages)
        assert p.stop() == 0
        msg = sock.recv(4096).decode()
        while "STOPPING=1" not in msg:
            msg = sock.recv(4096).decode()
    finally:
        p.stop(signal.SIGKILL)
        sock.close()


def test_watchdog_pings_when_requested(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(30)
    p = Process("serve", database_url=fresh_database(), env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and seen.count("WATCHDOG=1") < 2:
            seen.extend(sock.recv(4096).decode().split("\n"))
        assert seen.count("WATCHDOG=1") >= 2, seen
        assert "READY=1" in seen
    finally:
        p.stop()
        sock.close()


def test_each_role_runs_alone():
    url = fresh_database()
    for role in ["api", "scheduler", "webhook-dispatcher", "metrics"]:
        p = Process(role, database_url=url)
        try:
            wait_for(lambda: "ready" in p.logs(), 30, what=f"{role} ready")
            if role == "api":
                p.wait_healthy(10)
            if role == "metrics":
                r = requests.get(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=2)
                assert r.status_code == 200 and "duragraph_build_info" in r.text
            assert p.stop() == 0, p.logs()
        finally:
            p.stop(signal.SIGKILL)


def test_role_without_database_url_fails_clearly():
    p = Process("scheduler")
    assert p.proc.wait(10) == 2
    assert "DATABASE_URL is not set" in p.logs()


def test_health_503_while_database_down_then_recovers():
    from conftest import PG_CTL, PG_DIR, PG_PORT
    url = fresh_database()
    p = Process("api", database_url=url)
    try:
        p.wait_healthy(30)
        subprocess.run([PG_CTL, "stop", PG_DIR, PG_PORT], check=True)
        try:
            def down():
                start = time.monotonic()
                r = requests.get(p.base + "/health", timeout=5)
                assert time.monotonic() - start < 1.5, "health must answer without waiting on the database"
                return r.status_code == 503 and r.json()["checks"]["database"] != "ok" and r.json()
            body = wait_for(down, 15, what="503 while PostgreSQL is down")
            assert body["status"] == "unavailable"
        finally:
            subprocess.run([PG_CTL, "start", PG_DIR, PG_PORT], check=True)
        p.wait_healthy(30)
        assert p.stop() == 0
    finally:
        p.stop(signal.SIGKILL)


def test_cli_help_version_and_config_errors(tmp_path):
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "serve" in out.stdout and "migrate" in out.stdout
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("duragraph ")
    out = subprocess.run([BIN, "bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown command" in out.stderr
    env = dict(os.environ, API_PORT="not-a-port")
    out = subprocess.run([BIN, "api"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "API_PORT" in out.stderr
    out = subprocess.run([BIN, "--config", str(tmp_path / "missing.env"), "api"], capture_output=True, text=True)
    assert out.returncode == 2 and "cannot read config file" in out.stderr


def test_config_file_and_json_logs(tmp_path):
    url = fresh_database()
    cfg = tmp_path / "duragraph.env"
    port = __import__("conftest").free_port()
    cfg.write_text(f"# comment\nexport DATABASE_URL='{url}'\nAPI_PORT={port}\nLOG_FORMAT=json\n")
    env = {k: v for k, v in os.environ.items() if k not in ("API_PORT", "DATABASE_URL")}
    log = open(tmp_path / "log", "w")
    proc = subprocess.Popen([BIN, "--config", str(cfg), "api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200, 30,
                 what="api on the port from the config file")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        import json
        lines = [json.loads(l) for l in (tmp_path / "log").read_text().splitlines() if l.strip()]
        assert lines and all({"ts", "level", "role", "msg"} <= set(l) for l in lines)
        assert any(l["msg"] == "ready" and l["role"] == "api" for l in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
