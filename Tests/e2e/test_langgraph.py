"""The official langgraph-sdk (pinned in tests-requirements.txt) against DuraGraph, unmodified."""
import asyncio
import threading
import time
import uuid

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from conftest import wait_for
from test_scheduler import Stack


@pytest.fixture(scope="module")
def stack(llm):
    s = Stack(llm)
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(stack):
    return get_sync_client(url=stack.api.base, api_key=None)


def human(text):
    return {"messages": [{"role": "user", "content": text}]}


def test_assistants(client):
    a = client.assistants.create(graph_id="echo", name="first", metadata={"team": "x"}, config={"configurable": {"k": 1}})
    assert a["graph_id"] == "echo" and a["version"] == 1 and a["metadata"] == {"team": "x"} and a["name"] == "first"
    assert client.assistants.get(a["assistant_id"])["assistant_id"] == a["assistant_id"]
    again = client.assistants.create(graph_id="echo", assistant_id=a["assistant_id"], if_exists="do_nothing")
    assert again["assistant_id"] == a["assistant_id"]
    with pytest.raises(ConflictError):
        client.assistants.create(graph_id="echo", assistant_id=a["assistant_id"])
    with pytest.raises(NotFoundError):
        client.assistants.create(graph_id="no-such-graph")
    u = client.assistants.update(a["assistant_id"], metadata={"extra": True}, name="second")
    assert u["version"] == 2 and u["metadata"] == {"team": "x", "extra": True} and u["name"] == "second"
    versions = client.assistants.get_versions(a["assistant_id"])
    assert [v["version"] for v in versions] == [2, 1]
    back = client.assistants.set_latest(a["assistant_id"], 1)
    assert back["version"] == 1 and back["name"] == "first"
    found = client.assistants.search(metadata={"team": "x"}, limit=100)
    assert a["assistant_id"] in [x["assistant_id"] for x in found]
    assert client.assistants.count(metadata={"team": "x"}) >= 1
    assert client.assistants.count(graph_id="echo") >= 2   # includes the graph's default assistant
    graph = client.assistants.get_graph(a["assistant_id"])
    assert {n["id"] for n in graph["nodes"]} >= {"__start__", "echo", "__end__"}
    schemas = client.assistants.get_schemas(a["assistant_id"])
    assert schemas["graph_id"] == "echo" and "input_schema" in schemas
    assert client.assistants.get_subgraphs(a["assistant_id"]) == {}
    # A graph name stands for that graph's default assistant (uuid5 as the official server).
    default = client.assistants.get("echo")
    assert default["assistant_id"] == str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "echo"))
    paged = client.assistants.search(limit=1, response_format="object")
    assert len(paged["assistants"]) == 1 and paged["next"] is not None
    client.assistants.delete(a["assistant_id"])
    with pytest.raises(NotFoundError):
        client.assistants.get(a["assistant_id"])


def test_threads_and_state(client):
    tid = str(uuid.uuid4())
    t = client.threads.create(thread_id=tid, metadata={"user": "u1"})
    assert t["thread_id"] == tid and t["status"] == "idle" and t["metadata"] == {"user": "u1"}
    assert client.threads.create(thread_id=tid, if_exists="do_nothing")["thread_id"] == tid
    with pytest.raises(ConflictError):
        client.threads.create(thread_id=tid)
    with pytest.raises(UnprocessableEntityError):
        client.threads.create(thread_id="not-a-uuid")
    with pytest.raises(NotFoundError):
        client.threads.get(str(uuid.uuid4()))
    assert client.threads.update(tid, metadata={"more": 1})["metadata"] == {"user": "u1", "more": 1}
    assert client.threads.update(tid, metadata={"min": 1}, return_minimal=True) is None
    assert tid in [x["thread_id"] for x in client.threads.search(metadata={"user": "u1"}, limit=50)]
    assert client.threads.count(metadata={"user": "u1"}) >= 1

    final = client.runs.wait(tid, "echo", input=human("hello"))
    assert [m["type"] for m in final["messages"]] == ["human", "ai"]
    assert final["messages"][1]["content"] == "echo: hello"
    state = client.threads.get_state(tid)
    assert state["next"] == [] and state["values"]["messages"][1]["content"] == "echo: hello"
    assert state["checkpoint"]["thread_id"] == tid and state["checkpoint"]["checkpoint_id"]
    at = client.threads.get_state(tid, checkpoint_id=state["checkpoint"]["checkpoint_id"])
    assert at["values"] == state["values"]
    upd = client.threads.update_state(tid, {"messages": [{"role": "user", "content": "edited", "id": "m-x"}], "topic": "t"}, as_node="echo")
    assert upd["checkpoint"]["thread_id"] == tid
    after = client.threads.get_state(tid)
    assert after["values"]["topic"] == "t" and after["values"]["messages"][-1]["content"] == "edited"
    history = client.threads.get_history(tid, limit=10)
    assert history[0]["checkpoint"]["checkpoint_id"] == after["checkpoint"]["checkpoint_id"]
    assert len(history) >= 2
    older = client.threads.get_history(tid, before=history[0]["checkpoint"])
    assert older and older[0]["checkpoint"]["checkpoint_id"] == history[1]["checkpoint"]["checkpoint_id"]
    copy = client.threads.copy(tid)
    assert copy["thread_id"] != tid and client.threads.get_state(copy["thread_id"])["values"]["topic"] == "t"
    assert client.threads.prune([copy["thread_id"]])["pruned_count"] == 1
    client.threads.delete(tid)
    with pytest.raises(NotFoundError):
        client.threads.get(tid)


def test_runs_lifecycle(client):
    t = client.threads.create()["thread_id"]
    created = []
    run = client.runs.create(t, "echo", input=human("bg"), metadata={"m": 1}, on_run_created=created.append)
    assert run["status"] in ("pending", "running", "success") and run["metadata"] == {"m": 1}
    assert created and created[0]["run_id"] == run["run_id"] and created[0]["thread_id"] == t
    joined = client.runs.join(t, run["run_id"])
    assert joined["messages"][-1]["content"] == "echo: bg"
    got = client.runs.get(t, run["run_id"])
    assert got["status"] == "success" and got["kwargs"]["input"] == human("bg")
    assert [r["run_id"] for r in client.runs.list(t)] == [run["run_id"]]
    assert client.runs.list(t, status="success")[0]["run_id"] == run["run_id"]
    batch = client.runs.create_batch([{"assistant_id": "echo", "input": human("b1")}, {"assistant_id": "echo", "input": human("b2")}])
    assert len(batch) == 2 and all(b["run_id"] for b in batch)
    client.runs.delete(t, run["run_id"])
    with pytest.raises(NotFoundError):
        client.runs.get(t, run["run_id"])
    with pytest.raises(NotFoundError):
        client.runs.create(str(uuid.uuid4()), "echo", input=human("x"))
    # if_not_exists=create makes the thread.
    new_t = str(uuid.uuid4())
    client.runs.wait(new_t, "echo", input=human("made"), if_not_exists="create")
    assert client.threads.get(new_t)["status"] == "idle"


def test_multitask_reject_and_cancel(client, stack):
    aid = client.assistants.create(graph_id="agent", config={"configurable": {"model": "slow-20"}})["assistant_id"]
    t = client.threads.create()["thread_id"]
    first = client.runs.create(t, aid, input=human("long"))
    with pytest.raises(ConflictError):
        client.runs.create(t, aid, input=human("second"), multitask_strategy="reject")
    client.runs.cancel(t, first["run_id"])
    final = client.runs.join(t, first["run_id"])
    assert isinstance(final, dict)
    assert client.runs.get(t, first["run_id"])["status"] == "interrupted"
    q = client.runs.create(t, aid, input=human("queued"))
    client.runs.cancel_many(thread_id=t, run_ids=[q["run_id"]])
    client.runs.join(t, q["run_id"])   # a running run stops within about a second
    assert client.runs.get(t, q["run_id"])["status"] == "interrupted"


def test_every_stream_mode(client):
    t = client.threads.create()["thread_id"]
    modes = ["values", "updates", "messages-tuple", "messages", "events", "debug", "tasks", "checkpoints", "custom"]
    parts = list(client.runs.stream(t, "echo", input=human("s"), stream_mode=modes))
    events = [p.event for p in parts]
    assert events[0] == "metadata" and parts[0].data["run_id"]
    for e in ["values", "updates", "messages", "messages/complete", "events", "debug", "tasks", "checkpoints"]:
        assert e in events, e
    values = [p.data for p in parts if p.event == "values"]
    assert values[0]["messages"][-1]["content"] == "s" and values[-1]["messages"][-1]["content"] == "echo: s"
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates == [{"echo": {"messages": [values[-1]["messages"][-1]]}}]
    msg, meta = next(p.data for p in parts if p.event == "messages")
    assert msg["content"] == "echo: s" and meta["langgraph_node"] == "echo"
    # Stateless stream.
    sl = list(client.runs.stream(None, "echo", input=human("nothread")))
    assert sl[-1].data["messages"][-1]["content"] == "echo: nothread"


def test_llm_tokens_and_errors_through_the_sdk(client):
    aid = client.assistants.create(graph_id="agent", config={"configurable": {"model": "slow-3"}})["assistant_id"]
    t = client.threads.create()["thread_id"]
    parts = list(client.runs.stream(t, aid, input=human("x"), stream_mode="messages-tuple"))
    tokens = [p.data[0]["content"] for p in parts if p.event == "messages"]
    assert tokens == ["t0 ", "t1 ", "t2 "]
    bad = client.assistants.create(graph_id="agent", config={"configurable": {"model": "error-500"}})["assistant_id"]
    errs = [p for p in client.runs.stream(t, bad, input=human("x")) if p.event == "error"]
    assert errs and errs[0].data["error"] == "llm_error" and "HTTP 500" in errs[0].data["message"]
    with pytest.raises(Exception) as exc:
        client.runs.wait(t, bad, input=human("y"))
    assert "llm_error" in str(exc.value)
    assert client.runs.wait(t, bad, input=human("z"), raise_error=False)["__error__"]["error"] == "llm_error"
    assert client.threads.get(t)["status"] == "error"


def test_join_stream_resumes_with_last_event_id(client):
    aid = client.assistants.create(graph_id="agent", config={"configurable": {"model": "slow-6"}})["assistant_id"]
    t = client.threads.create()["thread_id"]
    run = client.runs.create(t, aid, input=human("x"))
    first = []
    for p in client.runs.join_stream(t, run["run_id"], stream_mode="messages-tuple"):
        first.append(p)
        if p.event == "messages" and p.data[0]["content"] == "t1 ":
            break
    last_id = first[-1].id
    rest = list(client.runs.join_stream(t, run["run_id"], stream_mode="messages-tuple", last_event_id=last_id))
    tokens = [p.data[0]["content"] for p in first + rest if p.event == "messages"]
    assert tokens == [f"t{i} " for i in range(6)]


def test_thread_join_stream(client):
    t = client.threads.create()["thread_id"]
    client.runs.wait(t, "echo", input=human("one"))
    it = client.threads.join_stream(t, stream_mode=["values"])
    seen = []
    for p in it:
        seen.append(p)
        if p.event == "metadata" and p.data.get("status") == "run_done":
            break
    assert any(p.event == "values" for p in seen)


def test_store(client):
    client.store.put_item(["docs", "u1"], "k1", {"text": "hello", "n": 1})
    client.store.put_item(["docs", "u2"], "k2", {"text": "bye", "n": 2})
    item = client.store.get_item(["docs", "u1"], "k1")
    assert item["value"] == {"text": "hello", "n": 1} and item["namespace"] == ["docs", "u1"] and item["key"] == "k1"
    assert client.store.get_item(["docs", "u1"], "missing") is None
    found = client.store.search_items(["docs"], filter={"n": 2})["items"]
    assert [i["key"] for i in found] == ["k2"]
    assert len(client.store.search_items(["docs"])["items"]) == 2
    ns = client.store.list_namespaces(prefix=["docs"])["namespaces"]
    assert sorted(ns) == [["docs", "u1"], ["docs", "u2"]]
    assert client.store.list_namespaces(prefix=["docs"], max_depth=1)["namespaces"] == [["docs"]]
    client.store.delete_item(["docs", "u1"], "k1")
    assert client.store.get_item(["docs", "u1"], "k1") is None


def test_async_client(stack):
    async def main():
        c = get_client(url=stack.api.base, api_key=None)
        a = await c.assistants.create(graph_id="echo")
        t = await c.threads.create()
        parts = [p async for p in c.runs.stream(t["thread_id"], a["assistant_id"], input=human("async"), stream_mode="updates")]
        assert [p.event for p in parts] == ["metadata", "updates"]
        res = await c.runs.wait(t["thread_id"], a["assistant_id"], input=human("w"))
        assert res["messages"][-1]["content"] == "echo: w"
        assert (await c.threads.get_state(t["thread_id"]))["values"]["messages"][-1]["content"] == "echo: w"
        with pytest.raises(NotFoundError):
            await c.runs.get(t["thread_id"], str(uuid.uuid4()))
    asyncio.run(main())


def test_interrupt_before_and_resume_with_command(client):
    t = client.threads.create()["thread_id"]
    a = client.assistants.create(graph_id="echo", config={"graph": {
        "entry": "draft", "nodes": {"draft": {"type": "echo"}, "publish": {"type": "transform", "set": {"published": True}}},
        "edges": [{"from": "draft", "to": "publish"}]}})["assistant_id"]
    first = client.runs.wait(t, a, input=human("post"), interrupt_before=["publish"])
    assert first.get("__interrupt__") == [] or "__interrupt__" in first
    assert client.threads.get(t)["status"] == "interrupted"
    assert client.threads.get_state(t)["next"] == ["publish"]
    final = client.runs.wait(t, a, command={"resume": "ok"})
    assert final["published"] is True
    assert client.threads.get(t)["status"] == "idle"
    assert client.threads.get_state(t)["next"] == []


def two_step_assistant(client):
    return client.assistants.create(graph_id="echo", config={"graph": {
        "entry": "draft", "nodes": {"draft": {"type": "echo"}, "publish": {"type": "transform", "set": {"published": True}}},
        "edges": [{"from": "draft", "to": "publish"}]}})["assistant_id"]


def test_after_seconds_delays_the_start(client):
    t = client.threads.create()["thread_id"]
    t0 = time.monotonic()
    run = client.runs.create(t, "echo", input=human("later"), after_seconds=1.5)
    time.sleep(0.6)
    assert client.runs.get(t, run["run_id"])["status"] == "pending"
    assert client.threads.get(t)["status"] == "busy"
    joined = client.runs.join(t, run["run_id"])
    assert time.monotonic() - t0 >= 1.5
    assert joined["messages"][-1]["content"] == "echo: later"
    assert client.runs.get(t, run["run_id"])["kwargs"]["after_seconds"] == 1.5
    with pytest.raises(UnprocessableEntityError):
        client.runs.create(t, "echo", input=human("x"), after_seconds=-1)


def test_command_goto_starts_at_the_named_node(client):
    a = two_step_assistant(client)
    t = client.threads.create()["thread_id"]
    out = client.runs.wait(t, a, input=human("skip the draft"), command={"goto": "publish"})
    assert out["published"] is True
    assert [m["content"] for m in out["messages"]] == ["skip the draft"]   # draft (the echo) never ran
    sent = client.runs.wait(t, a, command={"goto": {"node": "publish", "input": {"note": "via send"}}})
    assert sent["note"] == "via send" and sent["published"] is True
    for bad in ["nope", ["draft", "publish"], {"input": {}}]:
        with pytest.raises(UnprocessableEntityError):
            client.runs.create(t, a, input=human("x"), command={"goto": bad})


def test_stateless_runs_delete_their_thread_unless_kept(client):
    gone = client.runs.create(None, "echo", input=human("ephemeral"))
    kept = client.runs.create(None, "echo", input=human("kept"), on_completion="keep")
    assert client.runs.join(kept["thread_id"], kept["run_id"])["messages"][-1]["content"] == "echo: kept"

    def deleted():
        try:
            client.threads.get(gone["thread_id"])
            return False
        except NotFoundError:
            return True
    wait_for(deleted, 30, what="stateless thread deleted after its run")
    assert client.threads.get(kept["thread_id"])["status"] == "idle"
    assert client.runs.get(kept["thread_id"], kept["run_id"])["status"] == "success"
    with pytest.raises(UnprocessableEntityError):
        client.runs.create(None, "echo", input=human("x"), on_completion="sometimes")


def test_thread_ttl_deletes_the_thread(client):
    short = client.threads.create(ttl=0.02)["thread_id"]              # 1.2 s
    long = client.threads.create(ttl={"ttl": 60, "strategy": "delete"})["thread_id"]

    def deleted():
        try:
            client.threads.get(short)
            return False
        except NotFoundError:
            return True
    wait_for(deleted, 30, what="thread deleted at its ttl")
    assert client.threads.get(long)["thread_id"] == long
    client.threads.update(long, metadata={"k": 1}, ttl=0.02)   # a new ttl counts from now
    wait_for(lambda: not client.threads.search(ids=[long]), 30, what="thread deleted at its updated ttl")
    for bad in [0, -5, {"ttl": 5, "strategy": "archive"}]:
        with pytest.raises(UnprocessableEntityError):
            client.threads.create(ttl=bad)


def test_on_disconnect_cancel_stops_the_run_when_the_client_leaves(client):
    aid = client.assistants.create(graph_id="agent", config={"configurable": {"model": "slow-60"}})["assistant_id"]
    t = client.threads.create()["thread_id"]
    parts = client.runs.stream(t, aid, input=human("leave early"), on_disconnect="cancel", stream_mode="values")
    first = next(iter(parts))                     # the metadata event: the run exists and streams
    run_id = first.data["run_id"]
    parts.close()                                  # the client leaves
    wait_for(lambda: client.runs.get(t, run_id)["status"] == "interrupted", 20, what="run cancelled on disconnect")
    # continue (the default): the run outlives its client.
    kept = client.runs.stream(t, "echo", input=human("stay"), on_disconnect="continue")
    run2 = next(iter(kept)).data["run_id"]
    kept.close()
    assert client.runs.join(t, run2)["messages"][-1]["content"] == "echo: stay"
    assert client.runs.get(t, run2)["status"] == "success"
    # runs.wait surfaces the 422 as httpx's error (it reads the body as a stream), as against LangGraph.
    with pytest.raises(httpx.HTTPStatusError) as bad:
        client.runs.wait(t, "echo", input=human("x"), on_disconnect="explode")
    assert bad.value.response.status_code == 422
    assert client.runs.list(t, limit=10)[0]["run_id"] == run2   # the refused run was never created


def test_runs_from_a_checkpoint_fork_and_replay(client):
    t = client.threads.create()["thread_id"]
    client.runs.wait(t, "echo", input=human("one"))
    after_one = client.threads.get_state(t)["checkpoint"]["checkpoint_id"]
    client.runs.wait(t, "echo", input=human("two"))
    assert [m["content"] for m in client.threads.get_state(t)["values"]["messages"]] == ["one", "echo: one", "two", "echo: two"]
    # Fork: new input on the state as it was after the first run; the second exchange is dropped.
    forked = client.runs.wait(t, "echo", input=human("branch"), checkpoint_id=after_one)
    assert [m["content"] for m in forked["messages"]] == ["one", "echo: one", "branch", "echo: branch"]
    # The next ordinary run continues the fork, not the abandoned branch.
    nxt = client.runs.wait(t, "echo", input=human("three"))
    assert [m["content"] for m in nxt["messages"]] == ["one", "echo: one", "branch", "echo: branch", "three", "echo: three"]
    # Replay: no input, from a checkpoint paused before a node -> that node runs (the paused run
    # gives way: multitask interrupt).
    a = two_step_assistant(client)
    t2 = client.threads.create()["thread_id"]
    client.runs.wait(t2, a, input=human("post"), interrupt_before=["publish"])
    paused = client.threads.get_state(t2)
    assert paused["next"] == ["publish"]
    replayed = client.runs.wait(t2, a, checkpoint={"checkpoint_id": paused["checkpoint"]["checkpoint_id"]}, multitask_strategy="interrupt")
    assert replayed["published"] is True
    with pytest.raises(NotFoundError):
        client.runs.create(t, "echo", input=human("x"), checkpoint_id=str(uuid.uuid4()))
    with pytest.raises(UnprocessableEntityError):
        client.runs.create(t, "echo", input=human("x"), checkpoint_id="not-a-uuid")


def test_thread_supersteps_and_update_state_at_a_checkpoint(client):
    t = client.threads.create(supersteps=[
        {"updates": [{"values": {"messages": [{"role": "user", "content": "hi", "id": "m1"}]}, "as_node": "__input__"}]},
        {"updates": [{"values": {"messages": [{"role": "assistant", "content": "hello", "id": "m2"}], "topic": "greeting"},
                      "as_node": "echo"}]},
    ])["thread_id"]
    state = client.threads.get_state(t)
    assert [(m["type"], m["content"]) for m in state["values"]["messages"]] == [("human", "hi"), ("ai", "hello")]
    assert state["values"]["topic"] == "greeting"
    history = client.threads.get_history(t)
    assert len(history) == 2 and history[1]["values"]["messages"][0]["content"] == "hi"
    # The next run continues from the copied state.
    out = client.runs.wait(t, "echo", input=human("again"))
    assert [m["content"] for m in out["messages"]] == ["hi", "hello", "again", "echo: again"]
    # update_state at the first checkpoint forks from there.
    first = history[1]["checkpoint"]["checkpoint_id"]
    client.threads.update_state(t, {"topic": "fork"}, checkpoint_id=first)
    forked = client.threads.get_state(t)["values"]
    assert forked["topic"] == "fork" and [m["content"] for m in forked["messages"]] == ["hi"]
    with pytest.raises(UnprocessableEntityError):
        client.threads.create(supersteps=[{"updates": [{"values": [1, 2], "as_node": "x"}]}])


def test_native_rollback_forgets_what_the_paused_run_wrote(client, stack):
    """Through the native API a run paused for input is active: rollback deletes it and what it
    wrote (its checkpoints, its messages, the thread's values)."""
    a = two_step_assistant(client)
    t = client.threads.create()["thread_id"]
    client.runs.wait(t, a, input=human("one"))
    paused = client.runs.create(t, a, input=human("two"), interrupt_before=["publish"])
    client.runs.join(t, paused["run_id"])
    assert client.threads.get(t)["status"] == "interrupted"
    assert [m["content"] for m in client.threads.get(t)["values"]["messages"]][-1] == "echo: two"
    run = stack.post("/runs", {"thread_id": t, "assistant_id": a, "input": {"message": "three"}, "multitask_strategy": "rollback"}, 201)
    wait_for(lambda: stack.get(f"/runs/{run['run_id']}")["status"] == "completed", 20, what="the rollback run")
    with pytest.raises(NotFoundError):
        client.runs.get(t, paused["run_id"])
    state = client.threads.get_state(t)["values"]
    assert [m["content"] for m in state["messages"]] == ["one", "echo: one", "three", "echo: three"]
    assert all("two" not in m["content"] for s in client.threads.get_history(t, limit=50) for m in s["values"].get("messages", []))
    assert client.threads.get(t)["status"] == "idle"


def test_new_input_on_an_interrupted_thread_moves_on(client):
    """As on LangGraph: the interrupted run is over (success); a run with new input continues
    from the interrupted state, whatever the multitask strategy, and the thread ends idle."""
    a = two_step_assistant(client)
    for strategy in ["enqueue", "reject", "rollback"]:
        t = client.threads.create()["thread_id"]
        paused = client.runs.create(t, a, input=human("post"), interrupt_before=["publish"])
        client.runs.join(t, paused["run_id"])
        assert client.threads.get(t)["status"] == "interrupted"
        out = client.runs.wait(t, a, input=human("fresh"), multitask_strategy=strategy)
        assert [m["content"] for m in out["messages"]] == ["post", "echo: post", "fresh", "echo: fresh"], strategy
        assert out["published"] is True
        assert client.runs.get(t, paused["run_id"])["status"] == "success"
        assert client.threads.get(t)["status"] == "idle"


def test_webhook_urls_are_checked_against_the_ssrf_policy(client):
    t = client.threads.create()["thread_id"]
    for hook in ["http://127.0.0.1:9/x", "http://10.1.2.3/hook", "http://169.254.169.254/latest", "ftp://example.com/x"]:
        with pytest.raises(UnprocessableEntityError):
            client.runs.create(t, "echo", input=human("x"), webhook=hook)
        with pytest.raises(UnprocessableEntityError):
            client.crons.create("echo", schedule="*/5 * * * *", webhook=hook)
    assert client.runs.list(t) == [] and client.crons.search() == []
    ok = client.runs.create(t, "echo", input=human("x"), webhook="https://example.invalid/hook")
    assert ok["kwargs"]["webhook"] == "https://example.invalid/hook"


def test_a_refused_stateless_run_leaves_no_thread(client):
    before = client.threads.count()
    for bad in [dict(after_seconds=-1), dict(on_completion="never"), dict(multitask_strategy="shove"),
                dict(webhook="http://10.0.0.1/x"), dict(command={"goto": "nope"}), dict(metadata=[1])]:
        with pytest.raises(UnprocessableEntityError):
            client.runs.create(None, "echo", input=human("x"), **bad)
    with pytest.raises(UnprocessableEntityError):
        client.runs.create(None, "echo", input=[1, 2])
    assert client.threads.count() == before


def test_out_of_range_paging_and_integers_are_422_not_500(client, stack):
    # Found by fuzzing every operation: negative limit/offset reached PostgreSQL (LIMIT must not be
    # negative) and integers past int32 overflowed a cast; the official server validates them (422).
    t = client.threads.create()["thread_id"]
    a = client.assistants.create("echo")["assistant_id"]
    calls = [lambda **kw: client.threads.search(**kw), lambda **kw: client.assistants.search(**kw),
             lambda **kw: client.crons.search(**kw), lambda **kw: client.runs.list(t, **kw),
             lambda **kw: client.store.search_items(["ns"], **kw), lambda **kw: client.store.list_namespaces(**kw),
             lambda **kw: client.assistants.get_versions(a, **kw)]
    for call in calls:
        for bad in [dict(limit=-1), dict(offset=-1), dict(limit=0)]:
            with pytest.raises(UnprocessableEntityError):
                call(**bad)
        assert isinstance(call(limit=2, offset=0), (list, dict))
    for bad in [dict(limit=1001), dict(limit=-5)]:
        with pytest.raises(UnprocessableEntityError):
            client.threads.get_history(t, **bad)
    for body in [{"version": 99999999999}, {"version": -1}, {"version": "x"}]:
        r = httpx.post(f"{stack.api.base}/assistants/{a}/latest", json=body)
        assert r.status_code == 422 and "version" in r.json()["detail"], r.text
    assert client.assistants.set_latest(a, 1)["version"] == 1
    r = httpx.post(f"{stack.api.base}/store/namespaces", json={"max_depth": 99999999999})
    assert r.status_code == 422 and "max_depth" in r.json()["detail"], r.text
    r = httpx.get(f"{stack.api.base}/threads/{t}/runs", params={"limit": "abc"})
    assert r.status_code == 422 and "limit" in r.json()["detail"], r.text
    for ttl in [1e300, -1, "soon"]:   # 1e300 minutes was past PostgreSQL's timestamps
        r = httpx.put(f"{stack.api.base}/store/items", json={"namespace": ["ns"], "key": "k", "value": {}, "ttl": ttl})
        assert r.status_code == 422 and "ttl" in r.json()["detail"], r.text
    client.store.put_item(["ns"], "k", {"v": 1}, ttl=5)
    assert client.store.get_item(["ns"], "k")["value"] == {"v": 1}


def test_a_rolled_back_run_ends_its_joiners(client):
    # A run deleted by a later run's multitask rollback never ends on its own: join and
    # join_stream must still return (with an error), not wait forever.
    t = client.threads.create()["thread_id"]
    doomed = client.runs.create(t, "echo", input=human("later"), after_seconds=30)
    out = {}

    def join():
        out["join"] = client.runs.join(t, doomed["run_id"])

    def join_stream():
        out["stream"] = [(p.event, p.data) for p in client.runs.join_stream(t, doomed["run_id"])]
    ts = [threading.Thread(target=join), threading.Thread(target=join_stream)]
    for th in ts:
        th.start()
    time.sleep(0.5)
    client.runs.create(t, "echo", input=human("now"), multitask_strategy="rollback")
    for th in ts:
        th.join(10)
        assert not th.is_alive(), "joining a rolled-back run must end"
    assert out["join"]["__error__"]["error"] == "RunDeleted"
    assert out["stream"][-1][0] == "error" and out["stream"][-1][1]["error"] == "RunDeleted"
    with pytest.raises(NotFoundError):
        client.runs.get(t, doomed["run_id"])
