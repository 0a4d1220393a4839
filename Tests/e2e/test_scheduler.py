"""Run execution: the scheduler, leases and recovery, cancellation, tools, human input, LLMs."""
import signal
import time

import pytest
import requests

from conftest import Process, fresh_database, psql, wait_for

TERMINAL = {"completed", "failed", "cancelled"}


class Stack:
    """An api process and N scheduler processes on one fresh database."""

    def __init__(self, llm, schedulers=1, env=None):
        self.url = fresh_database("sched")
        self.env = {"OPENAI_BASE_URL": llm.openai_url, "OPENAI_API_KEY": "sk-test-secret-123",
                    "ANTHROPIC_BASE_URL": llm.anthropic_url, "ANTHROPIC_API_KEY": "ak-test-secret-456",
                    "SCHEDULER_LEASE_SECONDS": "2", "SCHEDULER_POLL_INTERVAL": "0.5", **(env or {})}
        self.api = Process("api", database_url=self.url, env=self.env).wait_healthy()
        self.schedulers = [self.add_scheduler() for _ in range(schedulers)]
        self.base = self.api.base + "/api/v1"

    def add_scheduler(self, env=None):
        p = Process("scheduler", database_url=self.url, env={**self.env, **(env or {})})
        wait_for(lambda: "ready" in p.logs(), 30, what="scheduler ready")
        return p

    def post(self, path, body=None, status=None):
        r = requests.post(self.base + path, json=body or {}, timeout=10)
        if status:
            assert r.status_code == status, r.text
        return r.json() if r.content else None

    def get(self, path):
        r = requests.get(self.base + path, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def assistant(self, **body):
        return self.post("/assistants", {"name": "t", **body}, 201)["assistant_id"]

    def thread(self):
        return self.post("/threads", {}, 201)["thread_id"]

    def run(self, aid, tid=None, **body):
        return self.post("/runs", {"thread_id": tid or self.thread(), "assistant_id": aid, **body}, 201)

    def wait_status(self, run_id, statuses, timeout=30):
        def check():
            r = self.get(f"/runs/{run_id}")
            return r if r["status"] in statuses else None
        return wait_for(check, timeout, what=f"run {run_id} in {statuses}")

    def events(self, run_id):
        rows = psql(f"SELECT seq || '|' || type FROM run_events WHERE run_id = '{run_id}' ORDER BY seq", self.url)
        return [tuple(r.split("|", 1)) for r in rows.splitlines()]

    def close(self):
        for p in [self.api, *self.schedulers]:
            p.stop()


@pytest.fixture
def stack(llm):
    s = Stack(llm)
    yield s
    s.close()


def test_echo_run_completes_with_output_events_and_messages(stack):
    aid = stack.assistant(graph_id="echo")
    tid = stack.thread()
    run = stack.run(aid, tid, input={"message": "Hello"})
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "completed", done
    assert done["output"]["response"] == "echo: Hello"
    assert done["started_at"] and done["ended_at"] and done["attempt"] == 1
    types = [t for _, t in stack.events(run["run_id"])]
    assert types == ["run.started", "node.started", "node.completed", "checkpoint.saved", "run.completed"]
    seqs = [int(s) for s, _ in stack.events(run["run_id"])]
    assert seqs == list(range(1, len(seqs) + 1))
    msgs = stack.get(f"/threads/{tid}/messages")["data"]
    assert [(m["role"], m["content"]) for m in msgs] == [("user", "Hello"), ("assistant", "echo: Hello")]
    assert stack.get(f"/threads/{tid}")["status"] == "idle"
    # A second run on the thread sees the conversation so far.
    run2 = stack.run(aid, tid, input={"message": "again"})
    assert stack.wait_status(run2["run_id"], TERMINAL)["output"]["response"] == "echo: again"
    assert len(stack.get(f"/threads/{tid}/messages")["data"]) == 4


def test_enqueued_runs_on_one_thread_run_in_order(stack):
    aid = stack.assistant(graph_id="echo")
    tid = stack.thread()
    runs = [stack.run(aid, tid, input={"message": f"m{i}"})["run_id"] for i in range(5)]
    for r in runs:
        stack.wait_status(r, TERMINAL)
    started = psql("SELECT run_id FROM runs WHERE thread_id = '%s' ORDER BY started_at" % tid, stack.url).split()
    assert started == runs
    texts = [m["content"] for m in stack.get(f"/threads/{tid}/messages?limit=100")["data"]]
    assert texts == [x for i in range(5) for x in (f"m{i}", f"echo: m{i}")]


def test_user_defined_graph_with_conditional_edges(stack):
    graph = {"entry": "start", "nodes": {
        "start": {"type": "transform", "set": {"mood": "happy"}},
        "route": {"type": "router"},
        "yes": {"type": "transform", "message": {"role": "assistant", "content": "glad"}},
        "no": {"type": "transform", "message": {"role": "assistant", "content": "sorry"}}},
        "edges": [{"from": "start", "to": "route"},
                  {"from": "route", "to": "yes", "when": {"key": "mood", "equals": "happy"}},
                  {"from": "route", "to": "no"},
                  {"from": "yes", "to": "__end__"}, {"from": "no", "to": "__end__"}]}
    aid = stack.assistant(graph_id="echo", config={"graph": graph})
    run = stack.run(aid, input={"message": "hi"})
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "completed" and done["output"]["response"] == "glad"
    nodes = psql(f"SELECT data->>'node' FROM run_events WHERE run_id = '{run['run_id']}' AND type = 'node.started' ORDER BY seq", stack.url).split()
    assert nodes == ["start", "route", "yes"]


def test_invalid_graph_rejected_with_422(stack):
    r = requests.post(stack.base + "/assistants", json={"name": "bad", "config": {"graph": {
        "entry": "a", "nodes": {"a": {"type": "echo"}}, "edges": [{"from": "a", "to": "missing"}]}}})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error" and "missing" in body["message"] and body["details"]["field"] == "config.graph"


def test_recursion_limit_fails_the_run(stack):
    graph = {"entry": "a", "recursion_limit": 5, "nodes": {"a": {"type": "router"}}, "edges": [{"from": "a", "to": "a"}]}
    aid = stack.assistant(config={"graph": graph})
    done = stack.wait_status(stack.run(aid)["run_id"], TERMINAL)
    assert done["status"] == "failed" and done["error"]["code"] == "recursion_limit"
    assert stack.get(f"/threads/{done['thread_id']}")["status"] == "error"


def test_human_node_interrupt_and_resume(stack):
    graph = {"entry": "ask", "nodes": {"ask": {"type": "human", "prompt": "Approve?"}, "echo": {"type": "echo"}},
             "edges": [{"from": "ask", "to": "echo"}]}
    aid = stack.assistant(config={"graph": graph})
    run = stack.run(aid, input={"message": "draft"})
    paused = stack.wait_status(run["run_id"], {"requires_action"} | TERMINAL)
    assert paused["status"] == "requires_action"
    assert paused["required_action"] == {"type": "human_input", "node": "ask", "prompt": "Approve?"}
    assert stack.get(f"/threads/{run['thread_id']}")["status"] == "interrupted"
    r = requests.post(f"{stack.base}/runs/{run['run_id']}/submit_tool_outputs", json={"tool_outputs": []})
    assert r.status_code == 409 and r.json()["details"]["required_action"] == "human_input"
    resumed = stack.post(f"/runs/{run['run_id']}/resume", {"input": "approved"}, 200)
    assert resumed["status"] == "queued"
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "completed" and done["output"]["response"] == "echo: approved"
    assert stack.post(f"/runs/{run['run_id']}/resume", {"input": "again"}, 409)["error"] == "resource_conflict"


@pytest.mark.parametrize("provider,model", [("openai", "tool"), ("anthropic", "tool")])
def test_agent_tool_call_round_trip(stack, llm, provider, model):
    aid = stack.assistant(graph_id="agent", config={"provider": provider, "model": model, "system_prompt": "be brief",
                                                    "tools": [{"name": "get_weather", "description": "weather",
                                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
    run = stack.run(aid, input={"message": "weather in Paris?"})
    paused = stack.wait_status(run["run_id"], {"requires_action"} | TERMINAL)
    assert paused["status"] == "requires_action", paused
    calls = paused["required_action"]["tool_calls"]
    assert paused["required_action"]["type"] == "submit_tool_outputs"
    assert calls == [{"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}]
    assert "tool.call" in [t for _, t in stack.events(run["run_id"])]
    bad = requests.post(f"{stack.base}/runs/{run['run_id']}/submit_tool_outputs",
                        json={"tool_outputs": [{"tool_call_id": "nope", "output": "x"}]})
    assert bad.status_code == 422 and bad.json()["details"]["unknown"] == ["nope"] and bad.json()["details"]["missing"] == ["call_1"]
    stack.post(f"/runs/{run['run_id']}/submit_tool_outputs", {"tool_outputs": [{"tool_call_id": "call_1", "output": "sunny"}]}, 200)
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "completed", done
    assert done["output"]["response"] == "done: sunny"
    sent = [r for r in llm.requests if r["body"].get("model") == model]
    if provider == "openai":
        assert sent[-1]["headers"]["Authorization"] == "Bearer sk-test-secret-123"
        assert sent[-1]["body"]["messages"][0] == {"role": "system", "content": "be brief"}
        assert sent[-1]["body"]["tools"][0]["function"]["name"] == "get_weather"
    else:
        assert sent[-1]["headers"]["x-api-key"] == "ak-test-secret-456"
        assert sent[-1]["body"]["system"] == "be brief"
        assert sent[-1]["body"]["tools"][0]["name"] == "get_weather"
    # Keys never reach the logs.
    for p in [stack.api, *stack.schedulers]:
        assert "sk-test-secret-123" not in p.logs() and "ak-test-secret-456" not in p.logs()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_llm_tokens_stream_one_by_one(stack, provider):
    aid = stack.assistant(graph_id="agent", config={"provider": provider, "model": "slow-4"})
    run = stack.run(aid, input={"message": "count"})
    # Tokens are in the log before the run completes.
    def some_tokens():
        rows = stack.events(run["run_id"])
        return [t for _, t in rows].count("llm.token") >= 2 and rows
    rows = wait_for(some_tokens, 20, what="tokens while running")
    assert stack.get(f"/runs/{run['run_id']}")["status"] == "in_progress"
    assert "run.completed" not in [t for _, t in rows]
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["output"]["response"] == "t0 t1 t2 t3 "
    tokens = psql(f"SELECT string_agg(data->>'token', '|' ORDER BY seq) || '|' FROM run_events WHERE run_id = '{run['run_id']}' AND type = 'llm.token'", stack.url)
    assert tokens.split("|") == ["t0 ", "t1 ", "t2 ", "t3 ", ""]


def test_llm_errors_fail_the_run_clearly_and_429_is_retried(stack):
    aid = stack.assistant(graph_id="agent", config={"model": "error-500"})
    done = stack.wait_status(stack.run(aid, input={"message": "x"})["run_id"], TERMINAL, timeout=60)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "llm_error" and "HTTP 500" in done["error"]["message"] and "exploded" in done["error"]["message"]
    assert "sk-test" not in str(done)
    aid = stack.assistant(graph_id="agent", config={"model": "flaky"})
    done = stack.wait_status(stack.run(aid, input={"message": "retry me"})["run_id"], TERMINAL, timeout=30)
    assert done["status"] == "completed" and done["output"]["response"] == "you said: retry me"


def test_missing_provider_key_fails_with_message(llm):
    s = Stack(llm, env={"OPENAI_API_KEY": ""})
    try:
        aid = s.assistant(graph_id="agent", config={"model": "echo"})
        done = s.wait_status(s.run(aid, input={"message": "x"})["run_id"], TERMINAL)
        assert done["status"] == "failed" and "OPENAI_API_KEY is not configured" in done["error"]["message"]
    finally:
        s.close()


def test_cancel_queued_and_running(stack):
    aid = stack.assistant(graph_id="agent", config={"model": "slow-30"})
    tid = stack.thread()
    running = stack.run(aid, tid, input={"message": "long"})
    queued = stack.run(aid, tid, input={"message": "waits"})
    stack.wait_status(running["run_id"], {"in_progress"})
    assert stack.get(f"/runs/{queued['run_id']}")["status"] == "queued"
    r = requests.post(f"{stack.base}/runs/{queued['run_id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    t0 = time.monotonic()
    r = requests.post(f"{stack.base}/runs/{running['run_id']}/cancel")
    assert r.status_code == 202
    done = stack.wait_status(running["run_id"], TERMINAL, timeout=10)
    assert done["status"] == "cancelled"
    assert time.monotonic() - t0 < 3, "a running run stops within about a second"
    assert "run.cancelled" in [t for _, t in stack.events(running["run_id"])]
    assert stack.get(f"/threads/{tid}")["status"] == "idle"


def test_run_timeout(llm):
    s = Stack(llm, env={"RUN_TIMEOUT": "1"})
    try:
        aid = s.assistant(graph_id="agent", config={"model": "slow-30"})
        done = s.wait_status(s.run(aid, input={"message": "x"})["run_id"], TERMINAL, timeout=20)
        assert done["status"] == "failed" and done["error"]["code"] == "timeout"
    finally:
        s.close()


def test_sigkill_scheduler_runs_recovered_by_another(llm):
    s = Stack(llm, schedulers=1)
    try:
        graph = {"entry": "first", "nodes": {"first": {"type": "echo"}, "slow": {"type": "llm", "model": "slow-10"}},
                 "edges": [{"from": "first", "to": "slow"}]}
        aid = s.assistant(config={"graph": graph})
        runs = [s.run(aid, input={"message": f"r{i}"})["run_id"] for i in range(3)]
        for r in runs:
            s.wait_status(r, {"in_progress"})
        owner = psql(f"SELECT DISTINCT lease_owner FROM runs WHERE run_id = '{runs[0]}'", s.url)
        # Wait until the first step's checkpoint is saved, then kill the scheduler mid-LLM call.
        wait_for(lambda: psql(f"SELECT count(*) FROM checkpoints WHERE run_id = '{runs[0]}'", s.url) == "1", 10, what="checkpoint")
        s.schedulers[0].proc.send_signal(signal.SIGKILL)
        s.schedulers[0].proc.wait()
        s.schedulers.append(s.add_scheduler())
        for r in runs:
            done = s.wait_status(r, TERMINAL, timeout=40)
            assert done["status"] == "completed", done
            assert done["attempt"] == 2
            assert done["output"]["response"] == "t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 "
        new_owner_log = s.schedulers[1].logs()
        assert "recovered a run" in new_owner_log
        # The completed first step was not executed again: it continued from the checkpoint.
        firsts = psql(f"SELECT count(*) FROM run_events WHERE run_id = '{runs[0]}' AND type = 'node.started' AND data->>'node' = 'first'", s.url)
        assert firsts == "1"
        resumed = psql(f"SELECT data->>'resumed' FROM run_events WHERE run_id = '{runs[0]}' AND type = 'run.started' ORDER BY seq", s.url).split()
        assert resumed == ["false", "true"]
        assert owner and owner not in psql(f"SELECT string_agg(coalesce(lease_owner,''), ',') FROM runs", s.url)
    finally:
        s.close()


def test_a_scheduler_that_lost_its_lease_writes_nothing_more(llm):
    """A scheduler frozen mid-run (SIGSTOP) past its lease: another one takes the run over and
    completes it; the first, thawed, finds its lease gone and its writes refused."""
    s = Stack(llm, schedulers=1)
    frozen = s.schedulers[0].proc
    try:
        graph = {"entry": "first", "nodes": {"first": {"type": "echo"}, "slow": {"type": "llm", "model": "slow-10"}},
                 "edges": [{"from": "first", "to": "slow"}]}
        aid = s.assistant(config={"graph": graph})
        run = s.run(aid, input={"message": "x"})["run_id"]
        wait_for(lambda: psql(f"SELECT count(*) FROM checkpoints WHERE run_id = '{run}'", s.url) == "1", 10, what="checkpoint")
        frozen.send_signal(signal.SIGSTOP)
        s.schedulers.append(s.add_scheduler())
        done = s.wait_status(run, TERMINAL, timeout=40)
        assert done["status"] == "completed" and done["attempt"] == 2, done
        events = psql(f"SELECT count(*) FROM run_events WHERE run_id = '{run}'", s.url)
        frozen.send_signal(signal.SIGCONT)
        wait_for(lambda: "lost the lease" in s.schedulers[0].logs(), 20, what="the thawed scheduler to notice")
        assert psql(f"SELECT count(*) FROM run_events WHERE run_id = '{run}'", s.url) == events
        assert psql(f"SELECT count(*) FROM run_events WHERE run_id = '{run}' AND type = 'run.completed'", s.url) == "1"
        assert s.get(f"/runs/{run}")["output"] == done["output"]
    finally:
        frozen.send_signal(signal.SIGCONT)
        s.close()


def test_two_schedulers_never_execute_a_run_twice(llm):
    s = Stack(llm, schedulers=2)
    try:
        aid = s.assistant(graph_id="echo")
        threads = [s.thread() for _ in range(10)]
        runs = [s.run(aid, threads[i % 10], input={"message": f"m{i}"})["run_id"] for i in range(60)]
        for r in runs:
            s.wait_status(r, TERMINAL, timeout=60)
        assert psql("SELECT count(*) FROM runs WHERE status = 'completed'", s.url) == "60"
        assert psql("SELECT count(*) FROM runs WHERE attempt <> 1", s.url) == "0"
        # Exactly one execution of each step: one run.started and one node.started per run.
        dup = psql("SELECT count(*) FROM (SELECT run_id FROM run_events WHERE type IN ('run.started', 'node.started') "
                   "GROUP BY run_id HAVING count(*) <> 2) d", s.url)
        assert dup == "0"
        owners = psql("SELECT count(DISTINCT lease_owner) FROM runs", s.url)
        assert owners == "0"   # every lease released
    finally:
        s.close()


def test_interrupt_before_and_after_then_resume(stack):
    graph = {"entry": "a", "nodes": {"a": {"type": "echo"}, "b": {"type": "transform", "set": {"done": True}}},
             "edges": [{"from": "a", "to": "b"}]}
    aid = stack.assistant(config={"graph": graph})
    run = stack.run(aid, input={"message": "x"}, interrupt_before=["b"])
    paused = stack.wait_status(run["run_id"], {"requires_action"} | TERMINAL)
    assert paused["status"] == "requires_action"
    assert paused["required_action"] == {"type": "interrupt", "when": "before", "node": "b"}
    assert stack.get(f"/threads/{run['thread_id']}")["status"] == "interrupted"
    stack.post(f"/runs/{run['run_id']}/resume", {"input": {"note": "approved"}}, 200)
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "completed"
    nodes = psql(f"SELECT string_agg(data->>'node', ',' ORDER BY seq) FROM run_events WHERE run_id = '{run['run_id']}' "
                 f"AND type = 'node.started'", stack.url)
    assert nodes == "a,b", "b ran once, after the resume"
    run2 = stack.run(aid, input={"message": "y"}, interrupt_after="*")
    p2 = stack.wait_status(run2["run_id"], {"requires_action"} | TERMINAL)
    assert p2["required_action"] == {"type": "interrupt", "when": "after", "node": "a"}
    stack.post(f"/runs/{run2['run_id']}/resume", {"input": {}}, 200)
    p3 = stack.wait_status(run2["run_id"], {"requires_action"} | TERMINAL, timeout=10)
    assert p3["status"] == "completed"   # b is the last node: nothing after it to pause before
    r = requests.post(stack.base + "/runs", json={"thread_id": stack.thread(), "assistant_id": aid, "interrupt_before": 5})
    assert r.status_code == 422 and r.json()["details"]["field"] == "interrupt_before"


def test_a_graph_that_became_invalid_fails_the_run_and_ends_its_stream(stack):
    aid = stack.assistant(graph_id="echo")
    # Only possible by editing the row directly: the API refuses invalid graphs.
    psql(f"""UPDATE assistants SET config = '{{"graph": {{"entry": "x", "nodes": {{}}}}}}' WHERE assistant_id = '{aid}'""", stack.url)
    run = stack.run(aid, input={"message": "x"})
    done = stack.wait_status(run["run_id"], TERMINAL)
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_graph"
    assert [t for _, t in stack.events(run["run_id"])] == ["run.started", "run.failed"]
    with requests.get(f"{stack.base}/runs/{run['run_id']}/stream", stream=True, timeout=10) as r:
        assert r.text.rstrip().endswith("}") and "event: run.failed" in r.text
