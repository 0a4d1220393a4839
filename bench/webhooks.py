"""Webhook delivery throughput to a local receiver and run-completed -> webhook-received latency.

    bench/webhooks.py [--deliveries 2000]
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from common import Server, header, ms, pct


class Receiver:
    def __init__(self):
        self.count = 0
        self.arrivals = {}
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                with outer.lock:
                    outer.count += 1
                    try:
                        d = json.loads(body)
                        if d.get("type") == "run.completed":
                            outer.arrivals[d["data"]["run_id"]] = now
                    except ValueError:
                        pass
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=2000)
    a = ap.parse_args()
    header()
    rec = Receiver()
    srv = Server(env={"WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8", "WEBHOOK_CONCURRENCY": os.environ.get("WEBHOOK_CONCURRENCY", "16")})
    try:
        s = requests.Session()
        base = srv.base + "/api/v1"
        w = s.post(base + "/webhooks", json={"url": f"http://127.0.0.1:{rec.port}/hook", "events": ["run.completed"]}).json()
        # Throughput: queue test pings while the dispatcher is paused, then time the drain.
        kids = srv.children()
        import signal
        os.kill(srv.proc.pid, signal.SIGSTOP)
        os.kill(kids["webhook-dispatcher"], signal.SIGSTOP)
        for _ in range(a.deliveries):
            s.post(f"{base}/webhooks/{w['webhook_id']}/test")
        start = time.monotonic()
        os.kill(kids["webhook-dispatcher"], signal.SIGCONT)
        os.kill(srv.proc.pid, signal.SIGCONT)
        while rec.count < a.deliveries and time.monotonic() - start < 300:
            time.sleep(0.01)
        print(f"deliveries: {rec.count} in {time.monotonic() - start:.2f}s = {rec.count / (time.monotonic() - start):.0f}/s")
        # Latency: run ended (its ended_at, PostgreSQL clock) -> receiver.
        aid = s.post(base + "/assistants", json={"name": "b", "graph_id": "echo"}).json()["assistant_id"]
        runs = []
        for _ in range(200):
            tid = s.post(base + "/threads", json={}).json()["thread_id"]
            runs.append(s.post(base + "/runs", json={"thread_id": tid, "assistant_id": aid}).json()["run_id"])
            time.sleep(0.01)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(r in rec.arrivals for r in runs):
            time.sleep(0.05)
        import datetime
        lat = []
        for r in runs:
            run = s.get(f"{base}/runs/{r}").json()
            ended = datetime.datetime.strptime(run["ended_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
            if r in rec.arrivals:
                lat.append(rec.arrivals[r] - ended)
        print(f"run completed -> webhook received: n={len(lat)} p50 {ms(pct(lat, 50))} p99 {ms(pct(lat, 99))}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
