"""Many clients doing random things to a few threads at once against two schedulers; then the
invariants: no 5xx, every stream and wait ends, no run left queued or running, no thread left
busy, and every ended run's stream ends with its terminal event."""
import random
import signal
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
    """LangGraph paths: runs with every multitask strategy, cancels, thread deletes and re-creates,
    state updates, joins, resumes, copies. It found streams that never ended once their run was
    rolled back or its thread deleted, and a resumed run's wait that started after its end."""
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


TOOLS = [{"name": "get_weather", "description": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
HUMAN = {"entry": "ask", "nodes": {"ask": {"type": "human", "prompt": "ok?"}, "echo": {"type": "echo"}}, "edges": [{"from": "ask", "to": "echo"}]}


def test_native_runs_with_tools_humans_cancels_and_a_killed_scheduler(llm):
    """The native API's paths: agent runs that stop for client-side tools, human nodes, a slow LLM,
    cancels, tool outputs and resumes, thread deletes; one of two schedulers SIGKILLed midway.
    It found a deadlock between a thread delete and a run saving its progress (500 on the delete)."""
    stack = Stack(llm, schedulers=2)
    try:
        h = httpx.Client(base_url=stack.base, timeout=30)
        aids = [stack.assistant(graph_id="agent", config={"model": "tool", "tools": TOOLS}),
                stack.assistant(graph_id="agent", config={"model": "slow-3"}),
                stack.assistant(config={"graph": HUMAN}),
                stack.assistant(graph_id="echo")]
        threads = [stack.thread() for _ in range(4)]
        runs, lock, failures, seen = [], threading.Lock(), [], {}

        def rec(what, r):
            with lock:
                seen[(what, r.status_code)] = seen.get((what, r.status_code), 0) + 1
                if r.status_code >= 500:
                    failures.append((what, r.status_code, r.text[:200]))

        def one(rng):
            t = rng.choice(threads)
            k = rng.randrange(8)
            with lock:
                known = rng.choice(runs[-50:]) if runs else None
            if k <= 2:
                r = h.post("/runs", json={"thread_id": t, "assistant_id": rng.choice(aids), "input": {"message": "go"}})
                rec("create", r)
                if r.status_code == 201:
                    with lock:
                        runs.append(r.json()["run_id"])
            elif k == 3 and known:
                run = h.get(f"/runs/{known}")
                if run.status_code == 200 and run.json()["status"] == "requires_action":
                    ra = run.json()["required_action"]
                    if ra["type"] == "submit_tool_outputs":
                        rec("tool outputs", h.post(f"/runs/{known}/submit_tool_outputs", json={"tool_outputs": [
                            {"tool_call_id": c["id"], "output": "sunny"} for c in ra["tool_calls"]]}))
                    else:
                        rec("resume", h.post(f"/runs/{known}/resume", json={"input": "yes"}))
            elif k == 4 and known:
                rec("cancel", h.post(f"/runs/{known}/cancel"))
            elif k == 5 and rng.random() < 0.2:
                rec("delete thread", h.delete(f"/threads/{t}"))
                r = h.post("/threads", json={})
                with lock:
                    if t in threads:
                        threads[threads.index(t)] = r.json()["thread_id"]
            elif k == 6 and known:
                started = time.monotonic()
                with h.stream("GET", f"/runs/{known}/stream", timeout=20) as r:
                    rec("stream", r)
                    for line in r.iter_lines():
                        if line.startswith("event: run.requires_action"):
                            break
                        if time.monotonic() - started > 30:
                            with lock:
                                failures.append(("stream did not end", known))
                            break
            else:
                rec("message", h.post(f"/threads/{t}/messages", json={"role": "user", "content": "m"}))

        def worker(i):
            rng = random.Random(i)
            end = time.monotonic() + 20
            while time.monotonic() < end:
                try:
                    one(rng)
                except httpx.HTTPError as e:
                    with lock:
                        failures.append(("request", repr(e)))
        ws = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for w in ws:
            w.start()
        time.sleep(8)
        victim = stack.schedulers.pop(0)
        victim.stop(signal.SIGKILL)
        stack.schedulers.append(stack.add_scheduler())
        for w in ws:
            w.join()
        assert not failures, failures[:10]
        assert seen.get(("create", 201), 0) > 50 and seen.get(("tool outputs", 200), 0) + seen.get(("resume", 200), 0) > 0, seen

        def active():
            return [r for s in ("queued", "in_progress") for r in h.get("/runs", params={"status": s, "limit": 100}).json()["data"]]
        deadline = time.monotonic() + 60
        while active() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not active(), active()[:5]
        for t in threads:
            th = h.get(f"/threads/{t}").json()
            assert th["status"] != "busy", th
        for rid in runs[-200:]:
            r = h.get(f"/runs/{rid}")
            if r.status_code != 200:
                continue
            st = r.json()["status"]
            if st in ("completed", "failed", "cancelled"):
                types = [line[7:] for line in h.get(f"/runs/{rid}/stream").text.splitlines() if line.startswith("event: ")]
                assert types and types[-1] == "run." + st, (rid, st, types[-4:])
    finally:
        stack.close()
