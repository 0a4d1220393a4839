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

WORKERS = 6


@pytest.fixture(scope="module")
def stack(llm):
    s = Stack(llm, schedulers=2)
    yield s
    s.close()


class Chaos:
    """What the clients saw (status counts, failures) and the invariants checked afterwards, through
    the native API (`native`: a client on /api/v1)."""

    def __init__(self, native):
        self.native = native
        self.lock = threading.Lock()
        self.failures, self.seen = [], {}

    def record(self, what, r):
        with self.lock:
            self.seen[(what, r.status_code)] = self.seen.get((what, r.status_code), 0) + 1
            if r.status_code >= 500:
                self.failures.append((what, r.status_code, r.text[:200]))

    def count(self, what, status):
        return self.seen.get((what, status), 0)

    def drain(self, r, what, run, until=lambda line: False):
        """Reads a stream or wait to its end (or to a line `until` accepts). Heartbeats keep one
        that never ends from timing out: watch the clock instead."""
        started = time.monotonic()
        for line in r.iter_lines():
            if until(line):
                return
            if time.monotonic() - started > 30:
                with self.lock:
                    self.failures.append((what, "did not end within 30 s", run))
                return

    def run(self, one, seconds, midway=None):
        """`one(rng)` in a loop on WORKERS threads for `seconds`; `midway()` halfway through."""
        def worker(i):
            rng = random.Random(i)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    one(rng)
                except httpx.HTTPError as e:
                    with self.lock:
                        self.failures.append(("request", repr(e)))
        ws = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for w in ws:
            w.start()
        if midway:
            time.sleep(seconds / 2)
            midway()
        for w in ws:
            w.join()
        assert not self.failures, self.failures[:10]

    def assert_settles(self):
        """No run left queued or running (within a minute)."""
        def active():
            return [r for s in ("queued", "in_progress") for r in self.native.get("/runs", params={"status": s, "limit": 100}).json()["data"]]
        deadline = time.monotonic() + 60
        while active() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not active(), active()[:5]

    def assert_streams_end(self, run_ids):
        """Every ended run among `run_ids` has a stream ending with its terminal event; how many."""
        ended = 0
        for rid in run_ids:
            r = self.native.get(f"/runs/{rid}")
            if r.status_code == 404:
                continue
            status = r.json()["status"]
            if status in ("completed", "failed", "cancelled"):
                ended += 1
                types = [line[7:] for line in self.native.get(f"/runs/{rid}/stream").text.splitlines() if line.startswith("event: ")]
                assert types and types[-1] == "run." + status, (rid, status, types[-4:])
        return ended


def test_random_concurrent_operations_keep_the_invariants(stack):
    """LangGraph paths: runs with every multitask strategy, cancels, thread deletes and re-creates,
    state updates, joins, resumes, copies. It found streams that never ended once their run was
    rolled back or its thread deleted, and a resumed run's wait that started after its end."""
    h = httpx.Client(base_url=stack.api.base, timeout=30)
    c = Chaos(httpx.Client(base_url=stack.base, timeout=30))
    aid = stack.assistant(graph_id="echo")
    threads = [str(uuid.uuid4()) for _ in range(4)]
    for t in threads:
        assert h.post("/threads", json={"thread_id": t}).status_code == 200
    runs = []

    def one(rng):
        t = rng.choice(threads)
        k = rng.randrange(11)
        with c.lock:
            known = rng.choice(runs) if runs else None
        if k <= 2:
            body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]},
                    "multitask_strategy": rng.choice(["reject", "interrupt", "rollback", "enqueue"])}
            if rng.random() < 0.2:
                body["interrupt_before"] = "*"
            if rng.random() < 0.1:
                body["after_seconds"] = 1
            r = h.post(f"/threads/{t}/runs", json=body)
            c.record("create", r)
            if r.status_code == 200:
                with c.lock:
                    runs.append((t, r.json()["run_id"]))
        elif k == 3:
            r = c.native.post("/runs", json={"thread_id": t, "assistant_id": aid, "input": {"message": "x"}})
            c.record("native create", r)
            if r.status_code == 201:
                with c.lock:
                    runs.append((t, r.json()["run_id"]))
        elif k == 4 and known:
            c.record("cancel", h.post(f"/threads/{known[0]}/runs/{known[1]}/cancel",
                                      params={"action": rng.choice(["interrupt", "rollback"])}))
        elif k == 5 and known:
            c.record("native cancel", c.native.post(f"/runs/{known[1]}/cancel"))
        elif k == 6:
            if rng.random() < 0.3:
                c.record("delete thread", h.delete(f"/threads/{t}"))
            c.record("create thread", h.post("/threads", json={"thread_id": t, "if_exists": "do_nothing"}))
        elif k == 7:
            c.record("update state", h.post(f"/threads/{t}/state", json={"values": {"messages": [
                {"role": "user", "content": "s", "id": str(uuid.uuid4())}]}}))
        elif k == 8 and known:
            # A join must end: with the run, or when the run is deleted.
            with h.stream("GET", f"/threads/{known[0]}/runs/{known[1]}/stream", timeout=20) as r:
                c.record("join stream", r)
                c.drain(r, "join stream", known[1])
        elif k == 9:
            with h.stream("POST", f"/threads/{t}/runs/wait", timeout=20,
                          json={"assistant_id": "echo", "command": {"resume": "ok"}, "multitask_strategy": "interrupt"}) as r:
                c.record("resume and wait", r)
                c.drain(r, "resume and wait", r.headers.get("content-location"))
        else:
            c.record("copy", h.post(f"/threads/{t}/copy"))

    c.run(one, seconds=15)
    assert c.count("create", 200) > 50 and c.count("join stream", 200) > 0, c.seen
    c.assert_settles()
    for t in threads:
        r = h.get(f"/threads/{t}")
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            assert r.json()["status"] != "busy", r.json()
    assert c.assert_streams_end([rid for _, rid in runs[-300:]]) > 0


TOOLS = [{"name": "get_weather", "description": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
HUMAN = {"entry": "ask", "nodes": {"ask": {"type": "human", "prompt": "ok?"}, "echo": {"type": "echo"}}, "edges": [{"from": "ask", "to": "echo"}]}


def test_native_runs_with_tools_humans_cancels_and_a_killed_scheduler(llm):
    """The native API's paths: agent runs that stop for client-side tools, human nodes, a slow LLM,
    cancels, tool outputs and resumes, thread deletes; one of two schedulers SIGKILLed midway.
    It found a deadlock between a thread delete and a run saving its progress (500 on the delete)."""
    stack = Stack(llm, schedulers=2)
    try:
        c = Chaos(httpx.Client(base_url=stack.base, timeout=30))
        h = c.native
        aids = [stack.assistant(graph_id="agent", config={"model": "tool", "tools": TOOLS}),
                stack.assistant(graph_id="agent", config={"model": "slow-3"}),
                stack.assistant(config={"graph": HUMAN}),
                stack.assistant(graph_id="echo")]
        threads = [stack.thread() for _ in range(4)]
        runs = []

        def one(rng):
            t = rng.choice(threads)
            k = rng.randrange(8)
            with c.lock:
                known = rng.choice(runs[-50:]) if runs else None
            if k <= 2:
                r = h.post("/runs", json={"thread_id": t, "assistant_id": rng.choice(aids), "input": {"message": "go"}})
                c.record("create", r)
                if r.status_code == 201:
                    with c.lock:
                        runs.append(r.json()["run_id"])
            elif k == 3 and known:
                run = h.get(f"/runs/{known}")
                if run.status_code == 200 and run.json()["status"] == "requires_action":
                    ra = run.json()["required_action"]
                    if ra["type"] == "submit_tool_outputs":
                        c.record("tool outputs", h.post(f"/runs/{known}/submit_tool_outputs", json={"tool_outputs": [
                            {"tool_call_id": call["id"], "output": "sunny"} for call in ra["tool_calls"]]}))
                    else:
                        c.record("resume", h.post(f"/runs/{known}/resume", json={"input": "yes"}))
            elif k == 4 and known:
                c.record("cancel", h.post(f"/runs/{known}/cancel"))
            elif k == 5 and rng.random() < 0.2:
                c.record("delete thread", h.delete(f"/threads/{t}"))
                r = h.post("/threads", json={})
                with c.lock:
                    if t in threads:
                        threads[threads.index(t)] = r.json()["thread_id"]
            elif k == 6 and known:
                # A native run stream stays open through a pause: reading to the pause is enough.
                with h.stream("GET", f"/runs/{known}/stream", timeout=20) as r:
                    c.record("stream", r)
                    c.drain(r, "stream", known, until=lambda line: line.startswith("event: run.requires_action"))
            else:
                c.record("message", h.post(f"/threads/{t}/messages", json={"role": "user", "content": "m"}))

        def kill_a_scheduler():
            stack.schedulers.pop(0).stop(signal.SIGKILL)
            stack.schedulers.append(stack.add_scheduler())

        c.run(one, seconds=20, midway=kill_a_scheduler)
        assert c.count("create", 201) > 50 and c.count("tool outputs", 200) + c.count("resume", 200) > 0, c.seen
        c.assert_settles()
        for t in threads:
            th = h.get(f"/threads/{t}").json()
            assert th["status"] != "busy", th
        c.assert_streams_end(runs[-200:])
    finally:
        stack.close()
