"""Webhook delivery throughput to a local receiver and run-completed -> webhook-received latency.

    bench/webhooks.py [--deliveries 2000]
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import time

import requests

from common import Server, header, ms, pct


class Receiver:
    """A minimal HTTP/1.1 receiver in two processes sharing one port (SO_REUSEPORT), on asyncio:
    Python's http.server tops out below the dispatcher on these two cores and would measure
    itself. Counts every delivery; reports when each run.completed arrived."""

    def __init__(self, processes=2):
        self.count_v = mp.Value("i", 0)
        self.arrivals_q = mp.Queue()
        self.arrivals = {}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.procs = [mp.Process(target=_serve, args=(self.port, self.count_v, self.arrivals_q), daemon=True)
                      for _ in range(processes)]
        for p in self.procs:
            p.start()
        time.sleep(0.5)

    @property
    def count(self):
        return self.count_v.value

    def collect(self):
        while not self.arrivals_q.empty():
            run_id, at = self.arrivals_q.get()
            self.arrivals[run_id] = at


def _serve(port, count, arrivals):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                now = time.time()
                with count.get_lock():
                    count.value += 1
                if b'"run.completed"' in body:
                    d = json.loads(body)
                    if d.get("type") == "run.completed":
                        arrivals.put((d["data"]["run_id"], now))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_port=True)
        await server.serve_forever()
    asyncio.run(main())


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
            rec.collect()
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
