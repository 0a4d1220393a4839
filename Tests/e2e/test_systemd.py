"""systemd integration: the units pass `systemd-analyze verify`, socket activation of the api
(alone and under the supervisor), the watchdog stops when the supervisor is wedged, role units
feed the watchdog, and the Swift binary runs with write-xor-execute memory enforced."""
import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import BIN, TMP, Process, fresh_database, free_port, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = ["duragraph.service", "duragraph.socket", "duragraph-role@.service", "duragraph-roles.target"]


def unit_copies(tmp_path):
    """The units with ExecStart pointing at the built binary (verify checks that it exists)."""
    d = tmp_path / "units"
    d.mkdir()
    for u in UNITS:
        with open(os.path.join(ROOT, "systemd", u)) as f:
            (d / u).write_text(f.read().replace("/usr/local/bin/duragraph", BIN))
    return d


def verify(paths, cwd):
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths], cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


def test_units_pass_systemd_analyze_verify(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (scripts/test.sh installs the systemd package)"
    d = unit_copies(tmp_path)
    # A control first: a broken unit must be reported, or a clean result below would mean nothing.
    (d / "broken.service").write_text((d / "duragraph.service").read_text().replace("Type=notify", "Type=bogus\nNoSuchKey=1"))
    rc, out = verify([str(d / "broken.service")], d)
    assert "NoSuchKey" in out and "bogus" in out, out
    rc, out = verify([str(d / u) for u in UNITS], d)
    assert rc == 0 and out == "", out
    rc, out = verify([str(d / "duragraph-role@.service").replace("@.service", "@scheduler.service")], d)
    assert rc == 0 and out == "", out


def service_section(name):
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read(os.path.join(ROOT, "systemd", name))
    return cp


def test_main_unit_settings():
    s = service_section("duragraph.service")["Service"]
    assert s["Type"] == "notify" and s["ExecStart"] == "/usr/local/bin/duragraph serve"
    assert s["User"] == "duragraph" and s["EnvironmentFile"] == "/etc/duragraph/duragraph.env"
    assert s["Restart"] == "on-failure" and s["KillMode"] == "mixed" and int(s["WatchdogSec"]) > 0
    assert s["RestartPreventExitStatus"] == "2"
    # TimeoutStopSec covers the default drain (20 s) plus stopping the embedded PostgreSQL (15 s).
    assert int(s["TimeoutStopSec"]) >= 20 + 15
    for k, v in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/duragraph",
                 "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
                 "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "RestrictNamespaces": "yes",
                 "LockPersonality": "yes", "SystemCallFilter": "@system-service", "CapabilityBoundingSet": "",
                 "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6"}.items():
        assert s[k] == v, k
    r = service_section("duragraph-role@.service")
    assert r["Service"]["ExecStart"] == "/usr/local/bin/duragraph %i"
    assert r["Install"]["WantedBy"] == "duragraph-roles.target" and r["Unit"]["PartOf"] == "duragraph-roles.target"
    assert service_section("duragraph.socket")["Socket"]["ListenStream"] == "127.0.0.1:8081"


def socket_activated(command, database_url):
    """`systemd-socket-activate -l 127.0.0.1:PORT duragraph COMMAND`; returns (proc, port, api_port, log path)."""
    assert shutil.which("systemd-socket-activate")
    port, api_port = free_port(), free_port()
    data = os.path.join(TMP, f"sa-{port}")
    log_path = data + ".log"
    env = {"DATABASE_URL": database_url, "DURAGRAPH_DATA_DIR": data, "API_PORT": str(api_port),
           "METRICS_PORT": str(free_port()), "DRAIN_TIMEOUT": "10", "PATH": os.environ["PATH"]}
    args = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}"]
    for k, v in env.items():
        args += ["-E", f"{k}={v}"]
    log = open(log_path, "w")
    proc = subprocess.Popen(args + [BIN, command], stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: f"Listening on 127.0.0.1:{port}" in read(log_path), 10, what="systemd-socket-activate listening")
    return proc, port, api_port, log_path


def read(path):
    with open(path) as f:
        return f.read()


def refused(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_api_adopts_a_passed_socket():
    proc, port, api_port, log = socket_activated("api", fresh_database())
    try:
        # systemd-socket-activate starts the command on the first connection; that connection is
        # served (503 while the first database check is pending, then 200).
        r = requests.get(f"http://127.0.0.1:{port}/health/live", timeout=60)
        assert r.status_code == 200, r.text
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200, 30, what="/health 200")
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/assistants", timeout=5).status_code == 200
        assert f"address=127.0.0.1:{port}" in read(log) and "socket_activated=true" in read(log)
        assert refused(api_port), "the api bound API_PORT although it was given a socket"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0, read(log)


def test_supervisor_hands_the_socket_to_its_api_across_restarts():
    proc, port, api_port, log = socket_activated("serve", fresh_database())
    try:
        assert requests.get(f"http://127.0.0.1:{port}/health/live", timeout=60).status_code == 200
        wait_for(lambda: "all roles ready" in read(log), 60, what="all roles ready")
        assert "socket activation: the api adopts the passed socket" in read(log)
        assert refused(api_port)
        api_pid = int(re.findall(r"role started pid=(\d+) restarts=0 role=api", read(log))[0])
        os.kill(api_pid, signal.SIGKILL)
        # The supervisor keeps the socket open: connections queue until the new api accepts them.
        r = requests.get(f"http://127.0.0.1:{port}/health/live", timeout=60)
        assert r.status_code == 200
        assert "restarts=1 role=api" in read(log)
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200, 30, what="/health 200")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0, read(log)


def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(0.5)
    return sock, path


def drain_messages(sock, seconds):
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.extend(sock.recv(4096).decode().split("\n"))
        except socket.timeout:
            pass
    return out


def test_watchdog_stops_when_the_supervisor_is_wedged(tmp_path):
    sock, path = notify_socket(tmp_path)
    p = Process("serve", database_url=fresh_database(),
                env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "DURAGRAPH_TEST_WEDGE_AFTER": "4"})
    try:
        before = drain_messages(sock, 3.5)
        assert before.count("WATCHDOG=1") >= 3, before
        wait_for(lambda: "supervisor loop wedged" in p.logs(), 10, what="the wedge")
        drain_messages(sock, 0.6)   # a ping already in flight
        after = drain_messages(sock, 3)
        assert "WATCHDOG=1" not in after, after
        assert p.proc.poll() is None   # still running: systemd would now kill and restart it
    finally:
        p.stop()
        sock.close()


def test_a_role_alone_feeds_the_watchdog(tmp_path):
    sock, path = notify_socket(tmp_path)
    p = Process("scheduler", database_url=fresh_database(), env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    try:
        seen = drain_messages(sock, 6)
        assert "READY=1" in seen and seen.count("WATCHDOG=1") >= 3, seen
    finally:
        p.stop()
        sock.close()


MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:   # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
assert libc.prctl(66, 0, 0, 0, 0) == 1   # PR_GET_MDWE
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_swift_binary_runs_with_memory_deny_write_execute():
    """The kernel's MDWE (what MemoryDenyWriteExecute= asks for) does not stop the Swift runtime."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
    env.update(DATABASE_URL=fresh_database(), API_PORT=str(port), DURAGRAPH_DATA_DIR=os.path.join(TMP, f"mdwe-{port}"))
    log = open(os.path.join(TMP, f"mdwe-{port}.log"), "w")
    proc = subprocess.Popen([sys.executable, "-c", MDWE, BIN, "api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            proc.wait(1)
            if proc.returncode == 77:
                pytest.skip("this kernel has no PR_SET_MDWE")
        except subprocess.TimeoutExpired:
            pass
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(base + "/health", timeout=2).status_code == 200, 60, what="/health under MDWE")
        r = requests.post(base + "/api/v1/threads", json={"metadata": {"a": 1}})
        assert r.status_code == 201, r.text
        assert requests.get(base + "/api/v1/openapi.json").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    assert proc.returncode == 0


def test_install_script_parses_and_documents_itself():
    assert subprocess.run(["bash", "-n", os.path.join(ROOT, "scripts", "install.sh")]).returncode == 0
    p = subprocess.run([os.path.join(ROOT, "scripts", "install.sh"), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "Installs DuraGraph" in p.stdout
