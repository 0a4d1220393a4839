"""Metrics: one Prometheus page for every role, checked by promtool, prometheus_client and a real Prometheus."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Process, TMP, free_port, fresh_database, wait_for
from webhook_receiver import Receiver

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def served():
    p = Process("serve", database_url=fresh_database("metrics"),
                env={"WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8", "WEBHOOK_POLL_INTERVAL": "0.2"}).wait_healthy()
    yield p
    p.stop()


def page(url):
    r = requests.get(url, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def value(text, name, **labels):
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def run_echo(base, n):
    aid = requests.post(base + "/api/v1/assistants", json={"name": "m", "graph_id": "echo"}).json()["assistant_id"]
    ids = []
    for _ in range(n):
        tid = requests.post(base + "/api/v1/threads", json={}).json()["thread_id"]
        ids.append(requests.post(base + "/api/v1/runs", json={"thread_id": tid, "assistant_id": aid, "input": {"message": "x"}}).json()["run_id"])
    for r in ids:
        wait_for(lambda: requests.get(f"{base}/api/v1/runs/{r}").json()["status"] == "completed", 20, what="run completed")
    return ids


def test_page_is_valid_and_values_move(served):
    run_echo(served.base, 2)
    metrics_url = f"http://127.0.0.1:{served.metrics_port}/metrics"
    wait_for(lambda: value(t := page(metrics_url), "duragraph_runs_completed_total", status="completed") >= 2
             and value(t, "duragraph_runs_created_total") >= 2 and value(t, "duragraph_runs", status="completed") >= 2,
             15, what="runs counted (files are published once a second, database gauges every 5 s)")
    for url in [served.base + "/metrics", metrics_url]:
        text = page(url)
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        fams = list(text_string_to_metric_families(text))
        names = {f.name for f in fams}
        assert len(names) == len(fams), "every family once"
        for expected in ["duragraph_http_requests", "duragraph_runs_created", "duragraph_runs_completed", "duragraph_runs",
                         "duragraph_run_duration_seconds", "duragraph_run_queue_wait_seconds", "duragraph_node_executions",
                         "duragraph_db_pool_connections", "duragraph_process_resident_memory_bytes", "duragraph_process_cpu_seconds",
                         "duragraph_process_open_fds", "duragraph_process_start_time_seconds", "duragraph_build_info",
                         "duragraph_role_up", "duragraph_role_restarts", "duragraph_scheduler_leases_held",
                         "duragraph_listen_reconnects", "duragraph_oldest_queued_run_age_seconds", "duragraph_webhook_backlog"]:
            assert expected in names, expected
        roles = {s.labels["role"] for f in fams for s in f.samples if f.name == "duragraph_build_info"}
        assert roles == {"supervisor", "api", "scheduler", "webhook-dispatcher", "metrics"}
        for f in fams:
            for s in f.samples:
                for k, v in s.labels.items():
                    assert not UUID.search(v), f"unbounded label {k}={v} on {s.name}"
                    if k == "route":
                        assert v == "unmatched" or v.startswith("/"), v
    before = page(metrics_url)
    run_echo(served.base, 3)
    wait_for(lambda: value(t := page(metrics_url), "duragraph_runs_completed_total", status="completed")
             >= value(before, "duragraph_runs_completed_total", status="completed") + 3
             and value(t, "duragraph_runs", status="completed") >= 5
             and value(t, "duragraph_runs_created_total") >= value(before, "duragraph_runs_created_total") + 3, 15, what="counters moved")
    after = page(metrics_url)
    assert value(after, "duragraph_runs_created_total") >= value(before, "duragraph_runs_created_total") + 3
    assert value(after, "duragraph_http_requests_total", route="/api/v1/runs", method="POST", status="201") >= 5
    assert value(after, "duragraph_runs", status="completed") >= 5
    assert value(after, "duragraph_role_up", child="scheduler") == 1


def test_webhook_metrics_move(served):
    rec = Receiver()
    try:
        w = requests.post(served.base + "/api/v1/webhooks", json={"url": rec.url("/ok"), "events": ["run.completed"]}).json()
        for _ in range(3):
            assert requests.post(f"{served.base}/api/v1/webhooks/{w['webhook_id']}/test").status_code == 202
        url = f"http://127.0.0.1:{served.metrics_port}/metrics"
        wait_for(lambda: value(page(url), "duragraph_webhook_attempts_total", outcome="success") >= 3, 15, what="webhook metrics")
        assert value(page(url), "duragraph_webhook_delivery_latency_seconds_count") >= 3
    finally:
        rec.close()


def test_a_killed_role_does_not_break_the_page(served):
    old = served.roles()["scheduler"]
    os.kill(old, signal.SIGKILL)
    url = f"http://127.0.0.1:{served.metrics_port}/metrics"
    text = page(url)
    assert subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True).returncode == 0
    wait_for(lambda: value(page(url), "duragraph_role_restarts_total", child="scheduler") >= 1, 15, what="restart counted")
    new = wait_for(lambda: (n := served.roles().get("scheduler")) and n != old and n, 15, what="new scheduler")
    wait_for(lambda: f'pid="{new}"' in page(url) and f'pid="{old}"' not in page(url), 15, what="new process series, old gone")
    health = requests.get(served.base + "/health").json()
    sched = next(r for r in health["details"]["roles"] if r["role"] == "scheduler")
    assert sched["restarts"] >= 1 and "signal 9" in sched["last_exit"]


def test_real_prometheus_scrapes_it(served, tmp_path):
    run_echo(served.base, 2)
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: duragraph
    static_configs:
      - targets: ['127.0.0.1:{served.metrics_port}']
""")
    log = open(tmp_path / "prom.log", "w")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        def query():
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/query",
                             params={"query": 'sum(duragraph_runs_completed_total{status="completed"})'}, timeout=2)
            res = r.json()["data"]["result"]
            return res and float(res[0]["value"][1]) >= 2 and res
        res = wait_for(query, 60, interval=0.5, what="prometheus query result")
        assert float(res[0]["value"][1]) >= 2
        up = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"}).json()["data"]["result"]
        assert up and up[0]["value"][1] == "1"
    finally:
        prom.terminate()
        prom.wait(10)
        log.close()
