"""Many clients doing random things to a few threads at once (runs with every multitask strategy,
cancels, thread deletes and re-creates, state updates, joins, resumes, copies) against two
schedulers; then the invariants: no 5xx, no run left queued or running, no thread left busy, and
every ended run's stream ends with its terminal event. It found a run whose stream never ended
once the run was rolled back or its thread deleted."""
import random
import threading
import time
import uuid

import httpx
import pytest

from test_scheduler import Stack

WORKERS, SECONDS = 6, 15


@pytest.fixture(scope="module")
def stack(llm):
    s = Stack(llm, schedulers=2)
    yield s
    s.close()


def test_random_concurrent_operations_keep_the_invariants(stack):
    base = stack.api.base
    h = httpx.Client(base_url=base, timeout=30)
    aid = stack.assistant(graph_id="echo")
    threads = [str(uuid.uuid4()) for _ in range(4)]
    for t in threads:
        assert h.post("/threads", json={"thread_id": t}).status_code == 200
    runs, lock, failures, seen = [], threading.Lock(), [], {}

    def record(what, r):
        with lock:
            seen[(what, r.status_code)] = seen.get((what, r.status_code), 0) + 1
            if r.status_code >= 500:
                failures.append((what, r.status_code, r.text[:200]))

    def drain(r, what, run):
        # Heartbeats keep a stream that never ends from timing out: watch the clock instead.
        started = time.monotonic()
        for _ in r.iter_bytes():
            if time.monotonic() - started > 30:
                with lock:
                    failures.append((what, "did not end within 30 s", run))
                return

    def one(rng):
        t = rng.choice(threads)
        k = rng.randrange(11)
        with lock:
            known = rng.choice(runs) if runs else None
        if k <= 2:
            body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]},
                    "multitask_strategy": rng.choice(["reject", "interrupt", "rollback", "enqueue"])}
            if rng.random() < 0.2:
                body["interrupt_before"] = "*"
            if rng.random() < 0.1:
                body["after_seconds"] = 1
            r = h.post(f"/threads/{t}/runs", json=body)
            record("create", r)
            if r.status_code == 200:
                with lock:
                    runs.append((t, r.json()["run_id"]))
        elif k == 3:
            r = h.post("/api/v1/runs", json={"thread_id": t, "assistant_id": aid, "input": {"message": "x"}})
            record("native create", r)
            if r.status_code == 201:
                with lock:
                    runs.append((t, r.json()["run_id"]))
        elif k == 4 and known:
            record("cancel", h.post(f"/threads/{known[0]}/runs/{known[1]}/cancel",
                                    params={"action": rng.choice(["interrupt", "rollback"])}))
        elif k == 5 and known:
            record("native cancel", h.post(f"/api/v1/runs/{known[1]}/cancel"))
        elif k == 6:
            if rng.random() < 0.3:
                record("delete thread", h.delete(f"/threads/{t}"))
            record("create thread", h.post("/threads", json={"thread_id": t, "if_exists": "do_nothing"}))
        elif k == 7:
            record("update state", h.post(f"/threads/{t}/state", json={"values": {"messages": [
                {"role": "user", "content": "s", "id": str(uuid.uuid4())}]}}))
        elif k == 8 and known:
            # A join must end: with the run, or when the run is deleted.
            with h.stream("GET", f"/threads/{known[0]}/runs/{known[1]}/stream", timeout=20) as r:
                record("join stream", r)
                drain(r, "join stream", known[1])
        elif k == 9:
            with h.stream("POST", f"/threads/{t}/runs/wait", timeout=20,
                          json={"assistant_id": "echo", "command": {"resume": "ok"}, "multitask_strategy": "interrupt"}) as r:
                record("resume and wait", r)
                drain(r, "resume and wait", r.headers.get("content-location"))
        else:
            record("copy", h.post(f"/threads/{t}/copy"))

    def worker(i):
        rng = random.Random(i)
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            try:
                one(rng)
            except httpx.HTTPError as e:   # a read timeout: a join or wait that did not end
                with lock:
                    failures.append(("request", repr(e)))
    ws = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    assert not failures, failures[:10]
    assert seen.get(("create", 200), 0) > 50 and seen.get(("join stream", 200), 0) > 0, seen

    def active():
        return [r for s in ("queued", "in_progress") for r in h.get("/api/v1/runs", params={"status": s, "limit": 100}).json()["data"]]
    deadline = time.monotonic() + 60
    while active() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not active(), active()[:5]
    for t in threads:
        r = h.get(f"/threads/{t}")
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            assert r.json()["status"] != "busy", r.json()
    ended = 0
    for t, rid in runs[-300:]:
        r = h.get(f"/api/v1/runs/{rid}")
        if r.status_code == 404:
            continue
        status = r.json()["status"]
        if status in ("completed", "failed", "cancelled"):
            ended += 1
            types = [line[7:] for line in h.get(f"/api/v1/runs/{rid}/stream").text.splitlines() if line.startswith("event: ")]
            assert types and types[-1] == "run." + status, (rid, status, types[-3:])
    assert ended > 0
