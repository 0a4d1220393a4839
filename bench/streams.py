"""Stream delivery: time from an event's commit to its arrival at a subscriber (p50/p99), and how
many concurrent idle streams one api process holds, with its memory.

    bench/streams.py [--streams 5000]

Latency: a run on the agent graph streams tokens from a local fake LLM; each llm.token event
carries its commit time (the event's ts, PostgreSQL's clock, same machine) and is compared with
the client's clock when the frame arrives. Idle streams: N clients stream a run paused for human
input (no events flow); the api's resident memory is read from /proc."""
import argparse
import datetime
import json
import os
import resource
import socket
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "e2e"))
from fake_llm import FakeLLM  # noqa: E402

from common import Server, header, ms, pct, rss_mb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--tokens", type=int, default=200)
    a = ap.parse_args()
    header()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    llm = FakeLLM()
    srv = Server(env={"OPENAI_BASE_URL": llm.openai_url, "OPENAI_API_KEY": "x", "HTTP_CONNECTION_LIMIT": "20000"})
    try:
        base = srv.base + "/api/v1"
        s = requests.Session()
        aid = s.post(base + "/assistants", json={"name": "b", "graph_id": "agent", "config": {"model": "echo"}}).json()["assistant_id"]
        lat = []
        for _ in range(5):
            tid = s.post(base + "/threads", json={}).json()["thread_id"]
            words = " ".join(f"w{i}" for i in range(a.tokens // 5))
            run = s.post(base + "/runs", json={"thread_id": tid, "assistant_id": aid, "input": {"message": words}}).json()
            with s.get(f"{base}/runs/{run['run_id']}/stream", stream=True, timeout=60) as r:
                for line in r.iter_lines(decode_unicode=True):
                    if line and line.startswith("data: "):
                        now = time.time()
                        ev = json.loads(line[6:])
                        ts = datetime.datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
                        if ev["type"] == "llm.token":
                            lat.append(now - ts)
        print(f"event commit -> subscriber: n={len(lat)} p50 {ms(pct(lat, 50))} p99 {ms(pct(lat, 99))}")

        # Idle streams on a paused run.
        graph = {"entry": "ask", "nodes": {"ask": {"type": "human"}}, "edges": []}
        pa = s.post(base + "/assistants", json={"name": "p", "config": {"graph": graph}}).json()["assistant_id"]
        tid = s.post(base + "/threads", json={}).json()["thread_id"]
        run = s.post(base + "/runs", json={"thread_id": tid, "assistant_id": pa}).json()
        while s.get(f"{base}/runs/{run['run_id']}").json()["status"] != "requires_action":
            time.sleep(0.05)
        api_pid = srv.children()["api"]
        before = rss_mb(api_pid)
        socks = []
        req = f"GET /api/v1/runs/{run['run_id']}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        t0 = time.monotonic()
        for i in range(a.streams):
            c = socket.create_connection(("127.0.0.1", srv.port))
            c.sendall(req)
            socks.append(c)
        # Every stream got its backlog (the run's events so far): read each once.
        ok = 0
        for c in socks:
            c.settimeout(10)
            data = c.recv(65536)
            if b"200 OK" in data:
                ok += 1
        elapsed = time.monotonic() - t0
        time.sleep(1)
        after = rss_mb(api_pid)
        health = requests.get(srv.base + "/health", timeout=5).status_code
        print(f"idle streams: {ok}/{a.streams} open in {elapsed:.1f}s; api RSS {before:.0f} MB -> {after:.0f} MB "
              f"({(after - before) * 1024 / max(ok, 1):.1f} KB per stream); /health {health}")
        for c in socks:
            c.close()
    finally:
        srv.stop()
        llm.close()


if __name__ == "__main__":
    main()
