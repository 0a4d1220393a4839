"""/api/v1/runs against the running `api` and a real PostgreSQL: creation (queued; no run executes
in this build), multitask strategies on a busy thread, cancel, submit_tool_outputs, filters and
pagination (with concurrent inserts).

States a run reaches only by executing (in_progress, requires_action, completed) are set with SQL,
to reach the API's answers for them."""
import json
import threading
import uuid

import pytest
import requests

from conftest import psql
from native import TS_RE, V1, assert_error, db_url, walk


@pytest.fixture(scope="module")
def assistant(api):
    r = requests.post(api.base + V1 + "/assistants", json={"name": "runs-suite", "graph_id": "echo"})
    assert r.status_code == 201
    return r.json()["assistant_id"]


def new_thread(api):
    r = requests.post(api.base + V1 + "/threads", json={})
    assert r.status_code == 201
    return r.json()["thread_id"]


def post_run(api, thread_id, assistant_id, **extra):
    return requests.post(api.base + V1 + "/runs", json={"thread_id": thread_id, "assistant_id": assistant_id, **extra})


def start_run(api, thread_id, assistant_id, **extra):
    r = post_run(api, thread_id, assistant_id, **extra)
    assert r.status_code == 201, r.text
    return r.json()


def get_run(api, run_id):
    return requests.get(api.base + V1 + "/runs/" + run_id)


def thread_status(api, thread_id):
    return requests.get(api.base + V1 + "/threads/" + thread_id).json()["status"]


def set_state(api, run_id, sql_set):
    psql(f"UPDATE runs SET {sql_set} WHERE run_id = '{run_id}'", db_url(api))


# ---------------------------------------------------------------- create

def test_create_and_get_round_trip(api, assistant):
    tid = new_thread(api)
    assert thread_status(api, tid) == "idle"
    body = {"input": {"messages": [{"role": "user", "content": "hi"}]}, "config": {"temperature": 0},
            "metadata": {"source": "test"}, "webhook": "https://example.invalid/hook", "ignored": 1}
    run = start_run(api, tid.upper(), assistant.upper(), **body)
    assert run["thread_id"] == tid and run["assistant_id"] == assistant and uuid.UUID(run["run_id"])
    assert run["status"] == "queued"
    assert (run["input"], run["config"], run["metadata"], run["webhook"]) == (body["input"], body["config"], body["metadata"], body["webhook"])
    assert run["multitask_strategy"] == "enqueue" and run["attempt"] == 0
    assert run["output"] is None and run["error"] is None and run["required_action"] is None
    assert run["started_at"] is None and run["ended_at"] is None
    assert TS_RE.match(run["created_at"]) and TS_RE.match(run["updated_at"])
    assert "ignored" not in run
    g = get_run(api, run["run_id"])
    assert g.status_code == 200 and g.json() == run
    assert thread_status(api, tid) == "busy"


def test_create_defaults(api, assistant):
    run = start_run(api, new_thread(api), assistant, input=None, config=None, metadata=None, webhook=None)
    assert run["input"] == {} and run["config"] == {} and run["metadata"] == {} and run["webhook"] is None
    assert run["multitask_strategy"] == "enqueue"


def test_create_on_unknown_thread_or_assistant_is_404_and_creates_nothing(api, assistant):
    tid = new_thread(api)
    b = assert_error(post_run(api, str(uuid.uuid4()), assistant), 404, "resource_not_found")
    assert b["details"]["resource"] == "thread"
    b = assert_error(post_run(api, tid, str(uuid.uuid4())), 404, "resource_not_found")
    assert b["details"]["resource"] == "assistant"
    assert requests.get(api.base + V1 + f"/threads/{tid}/runs").json()["data"] == []
    assert thread_status(api, tid) == "idle"


# ---------------------------------------------------------------- multitask strategies on a busy thread

def test_reject_on_busy_thread_is_409_and_creates_nothing(api, assistant):
    tid = new_thread(api)
    first = start_run(api, tid, assistant)
    b = assert_error(post_run(api, tid, assistant, multitask_strategy="reject"), 409, "resource_conflict")
    assert tid in b["message"]
    runs = requests.get(api.base + V1 + f"/threads/{tid}/runs").json()["data"]
    assert [r["run_id"] for r in runs] == [first["run_id"]]
    assert get_run(api, first["run_id"]).json()["status"] == "queued"
    # On an idle thread, reject just creates the run.
    other = new_thread(api)
    assert start_run(api, other, assistant, multitask_strategy="reject")["status"] == "queued"


def test_enqueue_is_the_default_and_queues_a_second_run(api, assistant):
    tid = new_thread(api)
    first = start_run(api, tid, assistant)
    second = start_run(api, tid, assistant)
    third = start_run(api, tid, assistant, multitask_strategy="enqueue")
    assert second["multitask_strategy"] == "enqueue" and second["status"] == "queued"
    for r in (first, second, third):
        assert get_run(api, r["run_id"]).json()["status"] == "queued"
    runs = requests.get(api.base + V1 + f"/threads/{tid}/runs").json()["data"]
    assert [r["run_id"] for r in runs] == [third["run_id"], second["run_id"], first["run_id"]]
    assert thread_status(api, tid) == "busy"


def test_interrupt_cancels_the_earlier_queued_runs(api, assistant):
    tid = new_thread(api)
    earlier = [start_run(api, tid, assistant) for _ in range(2)]
    other_tid = new_thread(api)
    bystander = start_run(api, other_tid, assistant)
    new = start_run(api, tid, assistant, multitask_strategy="interrupt")
    assert new["status"] == "queued" and new["multitask_strategy"] == "interrupt"
    for r in earlier:
        g = get_run(api, r["run_id"]).json()
        assert g["status"] == "cancelled", g
        assert g["error"]["code"] == "interrupted" and new["run_id"] in g["error"]["message"]
        assert TS_RE.match(g["ended_at"]) and g["updated_at"] > r["updated_at"]
    assert get_run(api, new["run_id"]).json()["status"] == "queued"
    assert get_run(api, bystander["run_id"]).json()["status"] == "queued"
    assert thread_status(api, tid) == "busy"
    listed = requests.get(api.base + V1 + f"/threads/{tid}/runs", params={"status": "cancelled"}).json()["data"]
    assert {r["run_id"] for r in listed} == {r["run_id"] for r in earlier}


def test_rollback_deletes_the_earlier_queued_runs(api, assistant):
    tid = new_thread(api)
    earlier = [start_run(api, tid, assistant) for _ in range(2)]
    done = start_run(api, new_thread(api), assistant)
    new = start_run(api, tid, assistant, multitask_strategy="rollback")
    assert new["status"] == "queued" and new["multitask_strategy"] == "rollback"
    for r in earlier:
        assert_error(get_run(api, r["run_id"]), 404, "resource_not_found")
    runs = requests.get(api.base + V1 + f"/threads/{tid}/runs").json()["data"]
    assert [r["run_id"] for r in runs] == [new["run_id"]]
    assert get_run(api, done["run_id"]).status_code == 200
    assert thread_status(api, tid) == "busy"


def test_strategies_leave_finished_runs_alone(api, assistant):
    tid = new_thread(api)
    finished = start_run(api, tid, assistant)
    set_state(api, finished["run_id"], "status = 'completed', ended_at = clock_timestamp()")
    cancelled = start_run(api, tid, assistant)
    requests.post(api.base + V1 + f"/runs/{cancelled['run_id']}/cancel").raise_for_status()
    # Nothing active: reject accepts; then rollback and interrupt touch only the active run.
    a = start_run(api, tid, assistant, multitask_strategy="reject")
    b = start_run(api, tid, assistant, multitask_strategy="rollback")
    assert_error(get_run(api, a["run_id"]), 404, "resource_not_found")
    start_run(api, tid, assistant, multitask_strategy="interrupt")
    assert get_run(api, b["run_id"]).json()["status"] == "cancelled"
    assert get_run(api, finished["run_id"]).json()["status"] == "completed"
    assert get_run(api, cancelled["run_id"]).json()["error"] is None


# ---------------------------------------------------------------- cancel

def test_cancel_queued_is_200_cancelled_then_409(api, assistant):
    tid = new_thread(api)
    run = start_run(api, tid, assistant)
    r = requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["run_id"] == run["run_id"] and c["status"] == "cancelled" and TS_RE.match(c["ended_at"])
    assert get_run(api, run["run_id"]).json() == c
    assert thread_status(api, tid) == "idle"
    r = requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel")
    b = assert_error(r, 409, "resource_conflict")
    assert b["details"] == {"status": "cancelled"}
    assert get_run(api, run["run_id"]).json() == c


def test_cancel_one_of_two_queued_keeps_thread_busy(api, assistant):
    tid = new_thread(api)
    a, b = start_run(api, tid, assistant), start_run(api, tid, assistant)
    assert requests.post(api.base + V1 + f"/runs/{a['run_id']}/cancel").status_code == 200
    assert thread_status(api, tid) == "busy"
    assert requests.post(api.base + V1 + f"/runs/{b['run_id']}/cancel").status_code == 200
    assert thread_status(api, tid) == "idle"


def test_cancel_waiting_run_is_200(api, assistant):
    tid = new_thread(api)
    run = start_run(api, tid, assistant)
    set_state(api, run["run_id"], "status = 'requires_action', "
              """required_action = '{"type": "submit_tool_outputs", "tool_calls": [{"id": "c1"}]}'""")
    r = requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["required_action"] is None


def test_cancel_executing_run_is_202_and_asks_it_to_stop(api, assistant):
    run = start_run(api, new_thread(api), assistant)
    set_state(api, run["run_id"], "status = 'in_progress', started_at = clock_timestamp()")
    r = requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "in_progress" and r.json()["run_id"] == run["run_id"]
    assert psql(f"SELECT cancel_requested FROM runs WHERE run_id = '{run['run_id']}'", db_url(api)) == "t"


@pytest.mark.parametrize("final", ["completed", "failed"])
def test_cancel_finished_run_is_409(api, assistant, final):
    run = start_run(api, new_thread(api), assistant)
    set_state(api, run["run_id"], f"status = '{final}', ended_at = clock_timestamp()")
    b = assert_error(requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel"), 409, "resource_conflict")
    assert b["details"] == {"status": final}
    assert get_run(api, run["run_id"]).json()["status"] == final


# ---------------------------------------------------------------- submit_tool_outputs

OUTPUTS = {"tool_outputs": [{"tool_call_id": "c1", "output": "42"}]}


@pytest.mark.parametrize("state", ["queued", "cancelled", "in_progress", "completed", "failed"])
def test_submit_tool_outputs_when_not_waiting_is_409(api, assistant, state):
    run = start_run(api, new_thread(api), assistant)
    if state == "cancelled":
        requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel").raise_for_status()
    elif state != "queued":
        set_state(api, run["run_id"], f"status = '{state}'")
    b = assert_error(requests.post(api.base + V1 + f"/runs/{run['run_id']}/submit_tool_outputs", json=OUTPUTS),
                     409, "resource_conflict")
    assert b["details"] == {"status": state}
    assert get_run(api, run["run_id"]).json()["status"] == state


def test_submit_tool_outputs_resumes_a_waiting_run(api, assistant):
    tid = new_thread(api)
    run = start_run(api, tid, assistant)
    set_state(api, run["run_id"], "status = 'requires_action', "
              """required_action = '{"type": "submit_tool_outputs", "tool_calls": [{"id": "c1", "name": "f"}, {"id": "c2", "name": "g"}]}'""")
    psql(f"UPDATE threads SET status = 'interrupted' WHERE thread_id = '{tid}'", db_url(api))
    url = api.base + V1 + f"/runs/{run['run_id']}/submit_tool_outputs"
    # Outputs that do not match the pending calls: 422, nothing changes.
    b = assert_error(requests.post(url, json={"tool_outputs": [{"tool_call_id": "c1", "output": 1}, {"tool_call_id": "zz", "output": 2}]}),
                     422, "validation_error", field="tool_outputs")
    assert b["details"]["unknown"] == ["zz"] and b["details"]["missing"] == ["c2"]
    assert get_run(api, run["run_id"]).json()["status"] == "requires_action"
    # The right outputs: queued again, waiting no more.
    r = requests.post(url, json={"tool_outputs": [{"tool_call_id": "c2", "output": {"x": 1}}, {"tool_call_id": "c1", "output": None}]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["required_action"] is None
    assert get_run(api, run["run_id"]).json() == r.json()
    assert thread_status(api, tid) == "busy"
    assert json.loads(psql(f"SELECT tool_outputs FROM runs WHERE run_id = '{run['run_id']}'", db_url(api))) == \
        [{"tool_call_id": "c2", "output": {"x": 1}}, {"tool_call_id": "c1", "output": None}]
    assert_error(requests.post(url, json=OUTPUTS), 409, "resource_conflict")


# ---------------------------------------------------------------- lists

def test_filters_by_status_and_thread(api, assistant):
    tid, other = new_thread(api), new_thread(api)
    q1, q2 = start_run(api, tid, assistant), start_run(api, tid, assistant)
    c = start_run(api, tid, assistant)
    requests.post(api.base + V1 + f"/runs/{c['run_id']}/cancel").raise_for_status()
    o = start_run(api, other, assistant)

    def ids(path, **params):
        r = requests.get(api.base + V1 + path, params=params)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        if "status" in params:
            assert all(x["status"] == params["status"] for x in data)
        return [x["run_id"] for x in data]

    assert ids(f"/threads/{tid}/runs") == [c["run_id"], q2["run_id"], q1["run_id"]]
    assert ids(f"/threads/{tid}/runs", status="queued") == [q2["run_id"], q1["run_id"]]
    assert ids(f"/threads/{tid}/runs", status="cancelled") == [c["run_id"]]
    assert ids(f"/threads/{tid}/runs", status="completed") == []
    assert ids("/runs", thread_id=tid) == [c["run_id"], q2["run_id"], q1["run_id"]]
    assert ids("/runs", thread_id=tid, status="queued") == [q2["run_id"], q1["run_id"]]
    assert ids("/runs", thread_id=other) == [o["run_id"]]
    everything = ids("/runs", status="queued", limit=100)
    assert c["run_id"] not in everything
    assert_error(requests.get(api.base + V1 + "/runs", params={"status": "QUEUED"}), 422, "validation_error", field="status")
    assert_error(requests.get(api.base + V1 + f"/threads/{tid}/runs", params={"status": "x"}), 422, "validation_error", field="status")
    assert_error(requests.get(api.base + V1 + "/runs", params={"thread_id": "nope"}), 422, "validation_error", field="thread_id")
    assert_error(requests.get(api.base + V1 + f"/threads/{uuid.uuid4()}/runs"), 404, "resource_not_found")
    assert ids("/runs", thread_id=str(uuid.uuid4())) == []


@pytest.fixture(scope="module")
def busy_thread(api, assistant):
    """A thread with 60 queued runs, oldest first."""
    tid = new_thread(api)
    return tid, [start_run(api, tid, assistant)["run_id"] for _ in range(60)]


def test_limit_default_50_max_100_others_422(api, busy_thread):
    tid, made = busy_thread
    for path, q in [(f"/threads/{tid}/runs", {}), ("/runs", {"thread_id": tid})]:
        r = requests.get(api.base + V1 + path, params=q).json()
        assert [x["run_id"] for x in r["data"]] == list(reversed(made))[:50] and r["has_more"] is True
        r = requests.get(api.base + V1 + path, params={**q, "limit": 100}).json()
        assert len(r["data"]) == 60 and r["has_more"] is False and r["next_cursor"] is None
        for bad in ["0", "101", "-1", "x", ""]:
            assert_error(requests.get(api.base + V1 + path, params={**q, "limit": bad}), 422, "validation_error", field="limit")
        for bad in ["bad", "YWJj", "MTIzfDQ1Ng"]:
            assert_error(requests.get(api.base + V1 + path, params={**q, "cursor": bad}), 422, "validation_error", field="cursor")


@pytest.mark.parametrize("via", ["thread", "runs"])
def test_walk_newest_first_while_inserting_returns_every_existing_row_once(api, assistant, busy_thread, via):
    tid, made = busy_thread
    path, q = (f"/threads/{tid}/runs", {"limit": 8}) if via == "thread" else ("/runs", {"thread_id": tid, "limit": 8})
    before = [x["run_id"] for x in walk(api, V1 + path, {**q, "limit": 100})[0]]
    assert set(made) <= set(before)
    inserted = []
    stop = threading.Event()

    def writer():
        while not stop.is_set() and len(inserted) < 200:
            inserted.append(start_run(api, tid, assistant)["run_id"])

    th = threading.Thread(target=writer)
    th.start()
    try:
        items, pages = walk(api, V1 + path, q, on_page=lambda n: inserted.append(start_run(api, tid, assistant)["run_id"]))
    finally:
        stop.set()
        th.join()
    ids = [x["run_id"] for x in items]
    assert len(ids) == len(set(ids)), "an item was returned twice"
    assert [i for i in ids if i in set(before)] == before
    assert set(ids) - set(before) <= set(inserted)
    assert pages >= len(before) // 8 and len(inserted) >= pages
    keys = [(x["created_at"], x["run_id"]) for x in items]
    assert all(a > b for a, b in zip(keys, keys[1:])), "not newest first"
