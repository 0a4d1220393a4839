"""Echo-graph run throughput and latency, end to end through the api and the scheduler.

    bench/runs.py [--runs N]

Prints runs completed per second at several client concurrencies (create + wait until
completed), create-to-completed latency p50/p99 (client clock), and scheduler throughput with 1
and 2 scheduler processes (a backlog of queued runs drained)."""
import argparse
import json
import threading
import time

import requests

from common import Server, free_port, header, ms, pct


def setup(base):
    aid = requests.post(base + "/api/v1/assistants", json={"name": "bench", "graph_id": "echo"}).json()["assistant_id"]
    return aid


def one_run(session, base, aid, lat):
    t0 = time.monotonic()
    tid = session.post(base + "/api/v1/threads", json={}).json()["thread_id"]
    t1 = time.monotonic()
    run = session.post(base + "/api/v1/runs", json={"thread_id": tid, "assistant_id": aid, "input": {"message": "hi"}}).json()
    # The run's stream closes at its terminal event: that is "wait".
    with session.get(f"{base}/api/v1/runs/{run['run_id']}/stream", stream=True, timeout=30) as r:
        for _ in r.iter_content(65536):
            pass
    lat.append(time.monotonic() - t1)
    return t0


def closed_loop(base, aid, concurrency, total):
    lat = []
    done = [0]
    lock = threading.Lock()

    def worker():
        s = requests.Session()
        while True:
            with lock:
                if done[0] >= total:
                    return
                done[0] += 1
            one_run(s, base, aid, lat)
    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
        print("concurrency  runs/s   p50        p99")
        for c in [1, 4, 16, 32]:
            rate, lat = closed_loop(srv.base, aid, c, a.runs)
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
