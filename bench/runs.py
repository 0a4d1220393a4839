"""Echo-graph run throughput and latency, end to end through the api and the scheduler.

    bench/runs.py [--runs N]

Prints runs completed per second at several client concurrencies, create-to-completed latency
p50/p99 (client clock), and scheduler throughput with 1 and 2 scheduler processes (a backlog of
queued runs drained). Two client loops: a new thread for every run (create thread + create run +
read its stream to the end: three requests per run), and conversations (ten runs, one after the
other, on each thread: create run + read its stream, plus a thread every tenth run)."""
import argparse
import http.client
import json
import multiprocessing as mp
import threading
import time
from urllib.parse import urlsplit

import requests

from common import Server, free_port, header, ms, pct


def setup(base):
    aid = requests.post(base + "/api/v1/assistants", json={"name": "bench", "graph_id": "echo"}).json()["assistant_id"]
    return aid


class Client:
    """A keep-alive HTTP/1.1 client on http.client: `requests` costs the client more CPU than the
    server spends on a run, and client and server share the same two cores."""

    def __init__(self, base):
        u = urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
        return json.loads(data)

    def stream(self, path):
        # The run's stream ends at its terminal event: reading it to the end is "wait".
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        if b"run.completed" not in body:
            raise RuntimeError(f"{path}: stream ended without run.completed")


def one_run(client, aid, tid):
    t1 = time.monotonic()
    run = client.post("/api/v1/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "hi"}})
    client.stream(f"/api/v1/runs/{run['run_id']}/stream")
    return time.monotonic() - t1


def client_process(base, aid, threads, total, turns, counter, out):
    lat = []

    def worker():
        c = Client(base)
        n = 0
        while True:
            with counter.get_lock():
                if counter.value >= total:
                    return
                counter.value += 1
            if n % turns == 0:
                tid = c.post("/api/v1/threads", {})["thread_id"]
            n += 1
            lat.append(one_run(c, aid, tid))
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(lat)


def closed_loop(base, aid, concurrency, total, turns=1):
    """`concurrency` clients, each creating a run and waiting for it, in a loop, on a new thread
    every `turns` runs. Spread over two client processes (past one client) so the client's GIL
    is not the limit."""
    procs = 1 if concurrency == 1 else 2
    counter, out = mp.Value("i", 0), mp.Queue()
    ps = [mp.Process(target=client_process, args=(base, aid, concurrency // procs, total, turns, counter, out)) for _ in range(procs)]
    start = time.monotonic()
    for p in ps:
        p.start()
    lat = []
    for _ in ps:
        lat += out.get()
    for p in ps:
        p.join()
    return total / (time.monotonic() - start), lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=400)
    a = ap.parse_args()
    header()
    srv = Server(env={"SCHEDULER_CONCURRENCY": "16", "HTTP_THREADS": "8"})
    try:
        aid = setup(srv.base)
        closed_loop(srv.base, aid, 4, 50)   # warm-up
        for turns, what in [(1, "a new thread per run"), (10, "conversations: 10 runs per thread")]:
            print(f"# {what}")
            print("concurrency  runs/s   p50        p99")
            for c in [1, 4, 16, 32]:
                rate, lat = closed_loop(srv.base, aid, c, a.runs, turns)
                print(f"{c:11d}  {rate:7.1f}  {ms(pct(lat, 50)):>9}  {ms(pct(lat, 99)):>9}")
    finally:
        srv.stop()
    for schedulers in [1, 2]:
        # Schedulers stopped while the backlog is queued: run the api alone against the same cluster.
        srv = Server(env={"SCHEDULER_CONCURRENCY": "16"})
        try:
            aid = setup(srv.base)
            kids = srv.children()
            import os, signal, subprocess
            os.kill(srv.proc.pid, signal.SIGSTOP)   # keep the supervisor from restarting the scheduler
            os.kill(kids["scheduler"], signal.SIGSTOP)
            s = requests.Session()
            ids = []
            for _ in range(a.runs):
                tid = s.post(srv.base + "/api/v1/threads", json={}).json()["thread_id"]
                s.post(srv.base + "/api/v1/runs", json={"thread_id": tid, "assistant_id": aid, "input": {"message": "x"}})
            extra = None
            env = dict(os.environ, DATABASE_URL=f"host={srv.dir}/data/run port=5432 user=duragraph dbname=duragraph",
                       SCHEDULER_CONCURRENCY="16", LOG_LEVEL="warn", METRICS_DIR=f"{srv.dir}/data/run/metrics")
            start = time.monotonic()
            os.kill(kids["scheduler"], signal.SIGCONT)
            if schedulers == 2:
                from common import BIN
                extra = subprocess.Popen([BIN, "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                r = s.get(srv.base + "/api/v1/runs?status=queued&limit=1").json()
                r2 = s.get(srv.base + "/api/v1/runs?status=in_progress&limit=1").json()
                if not r["data"] and not r2["data"]:
                    break
                time.sleep(0.02)
            rate = a.runs / (time.monotonic() - start)
            print(f"scheduler drain, {schedulers} scheduler process(es): {rate:.1f} runs/s ({a.runs} queued echo runs)")
            if extra:
                extra.terminate()
                extra.wait()
            os.kill(srv.proc.pid, signal.SIGCONT)
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
