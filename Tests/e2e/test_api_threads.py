"""/api/v1/threads and their messages against the running `api` and a real PostgreSQL: round
trips, metadata merge and filters, status, messages in conversation order, pagination (with
concurrent inserts), deletes that cascade to runs and messages."""
import json
import threading
import uuid

import pytest
import requests

from conftest import psql
from native import TS_RE, V1, assert_error, db_url, walk


def create(api, **body):
    r = requests.post(api.base + V1 + "/threads", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def add_message(api, thread_id, **body):
    r = requests.post(api.base + V1 + f"/threads/{thread_id}/messages", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def assistant(api):
    r = requests.post(api.base + V1 + "/assistants", json={"name": "threads-suite"})
    assert r.status_code == 201
    return r.json()["assistant_id"]


def test_create_and_get_round_trip(api):
    tid = str(uuid.uuid4())
    t = create(api, thread_id=tid.upper(), metadata={"user": "u1", "tags": ["a", "b"], "n": 1.5}, unknown="ignored")
    assert set(t) == {"thread_id", "metadata", "status", "created_at", "updated_at"}
    assert t["thread_id"] == tid and t["metadata"] == {"user": "u1", "tags": ["a", "b"], "n": 1.5}
    assert t["status"] == "idle" and TS_RE.match(t["created_at"]) and t["created_at"] == t["updated_at"]
    g = requests.get(api.base + V1 + "/threads/" + tid)
    assert g.status_code == 200 and g.json() == t


def test_create_without_body_or_with_empty_object(api):
    for kwargs in ({}, {"json": {}}, {"json": {"thread_id": None, "metadata": None}}):
        r = requests.post(api.base + V1 + "/threads", **kwargs)
        assert r.status_code == 201, r.text
        t = r.json()
        assert uuid.UUID(t["thread_id"]) and t["metadata"] == {} and t["status"] == "idle"


def test_duplicate_id_is_409_and_keeps_the_first(api):
    t = create(api, metadata={"first": True})
    assert_error(requests.post(api.base + V1 + "/threads", json={"thread_id": t["thread_id"], "metadata": {"second": True}}),
                 409, "resource_conflict")
    assert requests.get(api.base + V1 + "/threads/" + t["thread_id"]).json() == t


def test_update_merges_metadata(api):
    t = create(api, metadata={"a": 1, "b": {"x": 1}})
    url = api.base + V1 + "/threads/" + t["thread_id"]
    r = requests.patch(url, json={"metadata": {"b": {"y": 2}, "c": 3}})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["metadata"] == {"a": 1, "b": {"y": 2}, "c": 3}   # top-level merge: keys replaced, others kept
    assert u["created_at"] == t["created_at"] and u["updated_at"] > t["updated_at"]
    assert requests.get(url).json() == u
    r = requests.patch(url, json={})
    assert r.status_code == 200 and r.json()["metadata"] == u["metadata"]
    assert_error(requests.patch(url, json={"metadata": [1]}), 422, "validation_error", field="metadata")
    assert requests.get(url).json()["metadata"] == u["metadata"]


def test_status_follows_runs_and_filters(api, assistant):
    tag = uuid.uuid4().hex
    busy = create(api, metadata={"suite": tag, "kind": "busy"})
    idle = create(api, metadata={"suite": tag, "kind": "idle"})
    run = requests.post(api.base + V1 + "/runs", json={"thread_id": busy["thread_id"], "assistant_id": assistant}).json()
    assert requests.get(api.base + V1 + "/threads/" + busy["thread_id"]).json()["status"] == "busy"

    def ids(**params):
        r = requests.get(api.base + V1 + "/threads", params=params)
        assert r.status_code == 200, r.text
        assert all(x["status"] == params["status"] for x in r.json()["data"]) if "status" in params else True
        return [x["thread_id"] for x in r.json()["data"]]

    m = {"metadata": json.dumps({"suite": tag})}
    assert ids(**m) == [idle["thread_id"], busy["thread_id"]]
    assert ids(**m, status="busy") == [busy["thread_id"]]
    assert ids(**m, status="idle") == [idle["thread_id"]]
    assert ids(**m, status="error") == []
    assert ids(metadata=json.dumps({"suite": tag, "kind": "idle"})) == [idle["thread_id"]]
    assert ids(metadata=json.dumps({"kind": "idle", "suite": "other-" + tag})) == []
    requests.post(api.base + V1 + f"/runs/{run['run_id']}/cancel").raise_for_status()
    assert ids(**m, status="busy") == []
    assert ids(**m, status="idle") == [idle["thread_id"], busy["thread_id"]]
    for bad in ["{", "[1]", "3", "true"]:
        assert_error(requests.get(api.base + V1 + "/threads", params={"metadata": bad}), 422, "validation_error", field="metadata")
    assert_error(requests.get(api.base + V1 + "/threads", params={"status": "sleeping"}), 422, "validation_error", field="status")


# ---------------------------------------------------------------- messages

def test_messages_round_trip_in_conversation_order(api):
    t = create(api)
    tid = t["thread_id"]
    m1 = add_message(api, tid, role="user", content="hello", metadata={"lang": "en"})
    assert set(m1) >= {"id", "role", "content", "created_at", "metadata", "run_id"}
    assert m1["role"] == "user" and m1["content"] == "hello" and m1["metadata"] == {"lang": "en"}
    assert m1["run_id"] is None and uuid.UUID(m1["id"]) and TS_RE.match(m1["created_at"])
    m2 = add_message(api, tid, id="call-msg", role="ai", content=[{"type": "text", "text": "calling"}],
                     tool_calls=[{"id": "c1", "name": "search", "args": {"q": "x"}}])
    assert m2["id"] == "call-msg" and m2["content"] == [{"type": "text", "text": "calling"}]
    assert m2["tool_calls"] == [{"id": "c1", "name": "search", "args": {"q": "x"}}] and m2["metadata"] == {}
    m3 = add_message(api, tid, role="tool", content="result", tool_call_id="c1", name="search")
    assert m3["tool_call_id"] == "c1" and m3["name"] == "search"
    for role in ["assistant", "system", "human"]:
        add_message(api, tid, role=role, content="")
    listed = requests.get(api.base + V1 + f"/threads/{tid}/messages").json()
    assert listed["has_more"] is False and listed["next_cursor"] is None
    assert [m["id"] for m in listed["data"]][:3] == [m1["id"], "call-msg", m3["id"]]
    assert listed["data"][:3] == [m1, m2, m3]
    assert [m["role"] for m in listed["data"]] == ["user", "ai", "tool", "assistant", "system", "human"]
    # Appending touches the thread.
    assert requests.get(api.base + V1 + "/threads/" + tid).json()["updated_at"] > t["updated_at"]


def test_duplicate_message_id_is_409_per_thread(api):
    t1, t2 = create(api), create(api)
    add_message(api, t1["thread_id"], id="m-1", role="user", content="a")
    assert_error(requests.post(api.base + V1 + f"/threads/{t1['thread_id']}/messages", json={"id": "m-1", "role": "user", "content": "b"}),
                 409, "resource_conflict")
    # The same id in another thread is a different message.
    add_message(api, t2["thread_id"], id="m-1", role="user", content="c")
    data = requests.get(api.base + V1 + f"/threads/{t1['thread_id']}/messages").json()["data"]
    assert [(m["id"], m["content"]) for m in data] == [("m-1", "a")]


def test_messages_pagination_while_appending(api):
    t = create(api)
    tid = t["thread_id"]
    existing = [add_message(api, tid, role="user", content=f"m{i}")["id"] for i in range(23)]
    appended = []
    items, pages = walk(api, V1 + f"/threads/{tid}/messages", {"limit": 5},
                        on_page=lambda n: appended.append(add_message(api, tid, role="ai", content=f"late{n}")["id"]))
    ids = [m["id"] for m in items]
    assert len(ids) == len(set(ids))
    # Oldest first: the existing messages, in order, then those appended while walking, in order.
    assert ids[:23] == existing
    assert ids[23:] == appended[:len(ids) - 23]
    assert pages >= 5
    # Default page size 50, maximum 100.
    for i in range(30):
        add_message(api, tid, role="user", content=f"more{i}")
    total = len(walk(api, V1 + f"/threads/{tid}/messages", {"limit": 100})[0])
    assert total > 50
    r = requests.get(api.base + V1 + f"/threads/{tid}/messages").json()
    assert len(r["data"]) == 50 and r["has_more"] is True
    r = requests.get(api.base + V1 + f"/threads/{tid}/messages", params={"limit": 100}).json()
    assert len(r["data"]) == min(total, 100) and r["has_more"] is (total > 100)
    for bad in ["0", "101", "x", ""]:
        assert_error(requests.get(api.base + V1 + f"/threads/{tid}/messages", params={"limit": bad}), 422, "validation_error", field="limit")
    list_cursor = requests.get(api.base + V1 + "/threads", params={"limit": 1}).json()["next_cursor"]
    for bad in ["zzz", list_cursor, "LTE"]:   # LTE = base64("-1")
        assert_error(requests.get(api.base + V1 + f"/threads/{tid}/messages", params={"cursor": bad}), 422, "validation_error", field="cursor")


# ---------------------------------------------------------------- delete

def test_delete_removes_runs_and_messages(api, assistant):
    t = create(api, metadata={"doomed": True})
    tid = t["thread_id"]
    for i in range(3):
        add_message(api, tid, role="user", content=f"m{i}")
    runs = [requests.post(api.base + V1 + "/runs", json={"thread_id": tid, "assistant_id": assistant}).json()["run_id"] for _ in range(2)]
    keep = create(api)
    add_message(api, keep["thread_id"], role="user", content="stays")
    keep_run = requests.post(api.base + V1 + "/runs", json={"thread_id": keep["thread_id"], "assistant_id": assistant}).json()["run_id"]
    url = db_url(api)
    assert psql(f"SELECT count(*) FROM thread_messages WHERE thread_id = '{tid}'", url) == "3"

    r = requests.delete(api.base + V1 + "/threads/" + tid)
    assert r.status_code == 204 and r.content == b""
    assert_error(requests.get(api.base + V1 + "/threads/" + tid), 404, "resource_not_found")
    assert_error(requests.get(api.base + V1 + f"/threads/{tid}/messages"), 404, "resource_not_found")
    assert_error(requests.get(api.base + V1 + f"/threads/{tid}/runs"), 404, "resource_not_found")
    for rid in runs:
        assert_error(requests.get(api.base + V1 + "/runs/" + rid), 404, "resource_not_found")
    assert requests.get(api.base + V1 + "/runs", params={"thread_id": tid}).json()["data"] == []
    assert psql(f"SELECT count(*) FROM thread_messages WHERE thread_id = '{tid}'", url) == "0"
    assert psql(f"SELECT count(*) FROM runs WHERE thread_id = '{tid}'", url) == "0"
    # Nothing else went with it.
    assert requests.get(api.base + V1 + "/assistants/" + assistant).status_code == 200
    assert requests.get(api.base + V1 + "/runs/" + keep_run).status_code == 200
    assert len(requests.get(api.base + V1 + f"/threads/{keep['thread_id']}/messages").json()["data"]) == 1
    assert_error(requests.delete(api.base + V1 + "/threads/" + tid), 404, "resource_not_found")
    assert_error(requests.post(api.base + V1 + f"/threads/{tid}/messages", json={"role": "user", "content": "x"}),
                 404, "resource_not_found")


# ---------------------------------------------------------------- list pagination

@pytest.fixture(scope="module")
def tagged(api):
    """60 threads sharing a metadata tag, oldest first."""
    tag = uuid.uuid4().hex
    return tag, [create(api, metadata={"suite": tag, "i": i}) for i in range(60)]


def test_limit_default_50_max_100_others_422(api, tagged):
    tag, made = tagged
    q = {"metadata": json.dumps({"suite": tag})}
    r = requests.get(api.base + V1 + "/threads", params=q).json()
    assert len(r["data"]) == 50 and r["has_more"] is True and r["next_cursor"]
    assert [x["thread_id"] for x in r["data"]] == [t["thread_id"] for t in reversed(made)][:50]
    rest = requests.get(api.base + V1 + "/threads", params={**q, "cursor": r["next_cursor"]}).json()
    assert [x["thread_id"] for x in rest["data"]] == [t["thread_id"] for t in reversed(made)][50:]
    assert rest["has_more"] is False and rest["next_cursor"] is None
    r = requests.get(api.base + V1 + "/threads", params={**q, "limit": 100}).json()
    assert len(r["data"]) == 60 and r["has_more"] is False
    for bad in ["0", "101", "-1", "many", "", " 5"]:
        assert_error(requests.get(api.base + V1 + "/threads", params={**q, "limit": bad}), 422, "validation_error", field="limit")


def test_bad_cursor_is_422(api, tagged):
    tid = tagged[1][0]["thread_id"]
    for i in range(3):
        add_message(api, tid, role="user", content=str(i))
    messages_cursor = requests.get(api.base + V1 + f"/threads/{tid}/messages", params={"limit": 1}).json()["next_cursor"]
    assert messages_cursor
    for bad in ["nope", "####", messages_cursor, "MjAyNi0xMy0wMVQwMDowMDowMC4wMDAwMDBafG5vdC1hLXV1aWQ"]:
        assert_error(requests.get(api.base + V1 + "/threads", params={"cursor": bad}), 422, "validation_error", field="cursor")


def test_walk_newest_first_while_inserting_returns_every_existing_row_once(api, tagged):
    tag, made = tagged
    q = {"metadata": json.dumps({"suite": tag}), "limit": 9}
    inserted = []
    stop = threading.Event()

    def writer():
        while not stop.is_set() and len(inserted) < 200:
            inserted.append(create(api, metadata={"suite": tag, "late": True})["thread_id"])

    th = threading.Thread(target=writer)
    th.start()
    try:
        items, pages = walk(api, V1 + "/threads", q,
                            on_page=lambda n: inserted.append(create(api, metadata={"suite": tag, "late": True})["thread_id"]))
    finally:
        stop.set()
        th.join()
    ids = [x["thread_id"] for x in items]
    assert len(ids) == len(set(ids)), "an item was returned twice"
    existing = [t["thread_id"] for t in made]
    assert [i for i in ids if i in set(existing)] == list(reversed(existing))
    assert set(ids) - set(existing) <= set(inserted)
    assert pages >= 60 // 9 and len(inserted) >= pages
    keys = [(x["created_at"], x["thread_id"]) for x in items]
    assert all(a > b for a, b in zip(keys, keys[1:])), "not newest first"


def test_metadata_numbers_round_trip_or_are_refused(api):
    exact = {"max": 9223372036854775807, "min": -9223372036854775808, "big": 9007199254740993,
             "tenth": 0.1, "huge": 1.5e300, "tiny": 1e-07, "neg": -2.5}
    t = create(api, metadata=exact)
    assert t["metadata"] == exact
    assert requests.get(api.base + V1 + "/threads/" + t["thread_id"]).json()["metadata"] == exact
    # A number no double can hold must not silently become something else (it became null).
    for raw in [b'{"metadata": {"n": 1e400}}', b'{"metadata": {"n": -1e400}}']:
        r = requests.post(api.base + V1 + "/threads", data=raw, headers={"Content-Type": "application/json"})
        if r.status_code == 201:
            assert r.json()["metadata"]["n"] is not None, f"{raw!r} was stored as {r.json()['metadata']}"
        else:
            assert r.status_code in (400, 422), r.text
