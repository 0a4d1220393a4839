"""Native SSE streams: order, completeness, late join, resume, fan-out across api processes."""
import json
import socket
import threading
import time

import pytest
import requests

from conftest import Process, wait_for
from test_scheduler import TERMINAL, Stack


def read_sse(resp, until=None, limit=10_000):
    """Parses an SSE response into [(id, event, data)] until the server closes or `until` matches."""
    out, cur = [], {}
    for raw in resp.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if "event" in cur:
                out.append((int(cur["id"]), cur["event"], json.loads(cur["data"])))
                if until and until(out[-1]) or len(out) >= limit:
                    break
            cur = {}
        elif raw.startswith(":"):
            continue
        else:
            k, _, v = raw.partition(":")
            cur[k] = v[1:] if v.startswith(" ") else v
    return out


def read_sse_in_background(url):
    """Reads an SSE stream to its end on a thread: the thread, and the dict its events land in."""
    out = {}

    def consume():
        with requests.get(url, stream=True, timeout=20) as r:
            out["events"] = read_sse(r)
    t = threading.Thread(target=consume)
    t.start()
    return t, out


@pytest.fixture
def stack(llm):
    s = Stack(llm)
    yield s
    s.close()


MULTI = {"entry": "a", "nodes": {"a": {"type": "echo"}, "b": {"type": "transform", "set": {"k": 1}}, "c": {"type": "echo"}},
         "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}


def test_multi_node_run_events_in_order_and_stream_closes(stack):
    aid = stack.assistant(config={"graph": MULTI})
    run = stack.run(aid, input={"message": "x"})
    with requests.get(f"{stack.base}/stream", params={"run_id": run["run_id"]}, stream=True, timeout=15) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        events = read_sse(r)   # returns only when the server closes the stream
    ids = [e[0] for e in events]
    assert ids == list(range(1, len(ids) + 1))
    types = [e[1] for e in events]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert [e[2]["data"]["node"] for e in events if e[1] == "node.started"] == ["a", "b", "c"]
    assert types.count("checkpoint.saved") == 3
    for i, t, d in events:
        assert d["seq"] == i and d["type"] == t and d["run_id"] == run["run_id"] and d["thread_id"] == run["thread_id"] and d["ts"]


def test_unknown_run_is_404_json(stack):
    r = requests.get(f"{stack.base}/stream", params={"run_id": "00000000-0000-4000-8000-000000000000"})
    assert r.status_code == 404 and r.json()["error"] == "resource_not_found"
    r = requests.get(f"{stack.base}/runs/00000000-0000-4000-8000-000000000000/stream")
    assert r.status_code == 404
    r = requests.get(f"{stack.base}/stream")
    assert r.status_code == 422


def test_tokens_arrive_before_completion_then_resume_with_last_event_id(stack):
    aid = stack.assistant(graph_id="agent", config={"model": "slow-6"})
    run = stack.run(aid, input={"message": "go"})
    seen = []
    with requests.get(f"{stack.base}/runs/{run['run_id']}/stream", stream=True, timeout=15) as r:
        seen = read_sse(r, until=lambda e: e[1] == "llm.token" and e[2]["data"]["token"] == "t1 ")
    assert stack.get(f"/runs/{run['run_id']}")["status"] == "in_progress"
    assert [e[2]["data"]["token"] for e in seen if e[1] == "llm.token"] == ["t0 ", "t1 "]
    last = seen[-1][0]
    # Reconnect with Last-Event-ID: no gap, no duplicate.
    with requests.get(f"{stack.base}/runs/{run['run_id']}/stream", headers={"Last-Event-ID": str(last)}, stream=True, timeout=15) as r:
        rest = read_sse(r)
    assert [e[0] for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    tokens = [e[2]["data"]["token"] for e in seen + rest if e[1] == "llm.token"]
    assert tokens == [f"t{i} " for i in range(6)]
    assert rest[-1][1] == "run.completed"
    # ?last_event_id= works too, and a late join after the end replays the log then closes.
    with requests.get(f"{stack.base}/stream", params={"run_id": run["run_id"], "last_event_id": 0}, stream=True, timeout=15) as r:
        again = read_sse(r)
    assert [e[0] for e in again] == [e[0] for e in seen + rest]


def test_resume_across_api_restart_and_two_api_processes(llm):
    s = Stack(llm)
    second = Process("api", database_url=s.url, env=s.env).wait_healthy()
    try:
        aid = s.assistant(graph_id="agent", config={"model": "slow-8"})
        run = s.run(aid, input={"message": "go"})
        got = {}

        def consume(name, base):
            with requests.get(f"{base}/api/v1/runs/{run['run_id']}/stream", stream=True, timeout=20) as r:
                got[name] = read_sse(r)
        threads = [threading.Thread(target=consume, args=("a", s.api.base)), threading.Thread(target=consume, args=("b", second.base))]
        for t in threads:
            t.start()
        # Meanwhile a third client reads half, then its api process restarts, then it resumes elsewhere.
        with requests.get(f"{s.api.base}/api/v1/runs/{run['run_id']}/stream", stream=True, timeout=20) as r:
            part = read_sse(r, until=lambda e: e[1] == "llm.token" and e[2]["data"]["token"] == "t2 ")
        for t in threads:
            t.join(30)
        assert got["a"] == got["b"], "both api processes stream the same events"
        assert got["a"][-1][1] == "run.completed"
        s.api.stop()
        s.api = Process("api", database_url=s.url, env=s.env).wait_healthy()
        with requests.get(f"{s.api.base}/api/v1/runs/{run['run_id']}/stream", headers={"Last-Event-ID": str(part[-1][0])},
                          stream=True, timeout=20) as r:
            rest = read_sse(r)
        assert part + rest == got["a"]
    finally:
        second.stop()
        s.close()


def test_thread_stream_relays_every_run_and_stays_open(stack):
    aid = stack.assistant(graph_id="echo")
    tid = stack.thread()
    first = stack.run(aid, tid, input={"message": "one"})
    stack.wait_status(first["run_id"], TERMINAL)
    with requests.get(f"{stack.base}/threads/{tid}/stream", stream=True, timeout=15) as r:
        def second_started(e):
            return e[1] == "run.completed" and e[2]["run_id"] != first["run_id"]
        timer = threading.Timer(0.5, lambda: stack.run(aid, tid, input={"message": "two"}))
        timer.start()
        events = read_sse(r, until=second_started)
    runs = [e[2]["run_id"] for e in events]
    assert runs[0] == first["run_id"] and runs[-1] != first["run_id"]
    ids = [e[0] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e[1] for e in events].count("run.completed") == 2


def test_a_client_that_stops_reading_does_not_slow_the_run(stack):
    aid = stack.assistant(graph_id="agent", config={"model": "slow-5"})
    run = stack.run(aid, input={"message": "go"})
    host, port = "127.0.0.1", stack.api.api_port
    stuck = socket.create_connection((host, port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(f"GET /api/v1/runs/{run['run_id']}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    # It never reads; another client still gets everything, and the run completes on time.
    t0 = time.monotonic()
    with requests.get(f"{stack.base}/runs/{run['run_id']}/stream", stream=True, timeout=20) as r:
        events = read_sse(r)
    assert events[-1][1] == "run.completed"
    assert time.monotonic() - t0 < 10
    assert requests.get(stack.api.base + "/health", timeout=2).status_code == 200
    stuck.close()


def test_cancelling_a_queued_run_ends_its_stream(stack):
    aid = stack.assistant(graph_id="agent", config={"model": "slow-20"})
    tid = stack.thread()
    busy = stack.run(aid, tid, input={"message": "long"})
    queued = stack.run(aid, tid, input={"message": "waits"})
    t, result = read_sse_in_background(f"{stack.base}/runs/{queued['run_id']}/stream")
    time.sleep(0.5)
    assert requests.post(f"{stack.base}/runs/{queued['run_id']}/cancel").json()["status"] == "cancelled"
    t.join(10)
    assert not t.is_alive(), "the stream of a cancelled queued run must end"
    assert [e[1] for e in result["events"]] == ["run.cancelled"]
    requests.post(f"{stack.base}/runs/{busy['run_id']}/cancel")


def test_deleting_the_thread_ends_its_streams_and_its_runs_streams(stack):
    # Found by a chaos test: a run deleted before its end (thread deleted, multitask rollback)
    # never logs a terminal event, and its streams sent heartbeats forever.
    aid = stack.assistant(graph_id="agent", config={"model": "slow-20"})
    tid = stack.thread()
    busy = stack.run(aid, tid, input={"message": "long"})
    queued = stack.run(aid, tid, input={"message": "waits"})
    readers = {k: read_sse_in_background(stack.base + path) for k, path in
               [("busy", f"/runs/{busy['run_id']}/stream"), ("queued", f"/runs/{queued['run_id']}/stream"), ("thread", f"/threads/{tid}/stream")]}
    wait_for(lambda: requests.get(f"{stack.base}/runs/{busy['run_id']}").json()["status"] == "in_progress", 10, what="run started")
    time.sleep(0.5)
    assert requests.delete(f"{stack.base}/threads/{tid}").status_code == 204
    for t, _ in readers.values():
        t.join(10)
        assert not t.is_alive(), "a deleted run's or thread's stream must end"
    result = {k: out["events"] for k, (_, out) in readers.items()}
    assert result["queued"] == [(0, "run.deleted", result["queued"][0][2])]
    assert result["queued"][0][2]["run_id"] == queued["run_id"] and "deleted" in result["queued"][0][2]["data"]["message"]
    assert result["busy"][0][1] == "run.started" and result["busy"][-1][1] == "run.deleted"
    assert result["thread"][-1][1] == "thread.deleted" and result["thread"][-1][2]["thread_id"] == tid
    assert requests.get(f"{stack.base}/runs/{queued['run_id']}/stream").status_code == 404
