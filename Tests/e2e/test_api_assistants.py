"""/api/v1/assistants against the running `api` and a real PostgreSQL: round trips, versions,
filters, pagination (with concurrent inserts), deletes that cascade to versions and runs."""
import json
import threading
import uuid

import pytest
import requests

from conftest import psql
from native import TS_RE, V1, assert_error, db_url, walk


def create(api, **body):
    r = requests.post(api.base + V1 + "/assistants", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def newest_first(items, key):
    ks = [(i["created_at"], i[key]) for i in items]
    return all(a > b for a, b in zip(ks, ks[1:]))


def test_create_and_get_round_trip(api):
    aid = str(uuid.uuid4())
    body = {"assistant_id": aid.upper(), "name": "Researcher", "description": "finds things", "graph_id": "echo",
            "config": {"model": "m", "temperature": 0.2, "tools": [{"name": "search"}]},
            "metadata": {"owner": "u1", "nested": {"a": [1, 2]}}, "ignored_field": 1}
    a = create(api, **body)
    assert a["assistant_id"] == aid
    assert (a["name"], a["description"], a["graph_id"]) == ("Researcher", "finds things", "echo")
    assert a["config"] == body["config"] and a["metadata"] == body["metadata"]
    assert a["version"] == 1
    assert TS_RE.match(a["created_at"]) and a["created_at"] == a["updated_at"]
    assert "ignored_field" not in a
    g = requests.get(api.base + V1 + "/assistants/" + aid)
    assert g.status_code == 200 and g.json() == a
    assert requests.get(api.base + V1 + "/assistants/" + aid.upper()).json() == a


def test_create_defaults(api):
    a = create(api)
    assert a["name"] == "agent" and a["graph_id"] == "agent"
    assert a["description"] is None and a["config"] == {} and a["metadata"] == {} and a["version"] == 1
    assert uuid.UUID(a["assistant_id"]).version == 4
    a = create(api, graph_id="echo", description=None, config=None, metadata=None)
    assert a["name"] == "echo" and a["description"] is None and a["config"] == {} and a["metadata"] == {}


def test_duplicate_id_is_409_and_keeps_the_first(api):
    a = create(api, name="first")
    r = requests.post(api.base + V1 + "/assistants", json={"assistant_id": a["assistant_id"], "name": "second"})
    assert_error(r, 409, "resource_conflict")
    assert requests.get(api.base + V1 + "/assistants/" + a["assistant_id"]).json() == a
    v = requests.get(api.base + V1 + f"/assistants/{a['assistant_id']}/versions").json()
    assert [x["version"] for x in v["data"]] == [1]


def test_every_update_creates_a_listable_version(api):
    a = create(api, name="v1", description="d1", config={"k": 1}, metadata={"a": 1})
    url = api.base + V1 + "/assistants/" + a["assistant_id"]
    steps = [
        ({"name": "v2"}, {"name": "v2", "description": "d1", "config": {"k": 1}, "metadata": {"a": 1}, "graph_id": "agent"}),
        ({"metadata": {"b": 2}}, {"name": "v2", "description": "d1", "config": {"k": 1}, "metadata": {"a": 1, "b": 2}, "graph_id": "agent"}),
        ({"config": {"k": 2}, "graph_id": "echo"}, {"name": "v2", "description": "d1", "config": {"k": 2}, "metadata": {"a": 1, "b": 2}, "graph_id": "echo"}),
        ({"description": None}, {"name": "v2", "description": None, "config": {"k": 2}, "metadata": {"a": 1, "b": 2}, "graph_id": "echo"}),
        ({}, {"name": "v2", "description": None, "config": {"k": 2}, "metadata": {"a": 1, "b": 2}, "graph_id": "echo"}),
        ({"metadata": {"a": None}, "description": "d6"}, {"name": "v2", "description": "d6", "config": {"k": 2}, "metadata": {"a": None, "b": 2}, "graph_id": "echo"}),
    ]
    expected_versions = [{"name": "v1", "description": "d1", "config": {"k": 1}, "metadata": {"a": 1}, "graph_id": "agent"}]
    last_updated = a["updated_at"]
    for n, (patch, want) in enumerate(steps, start=2):
        r = requests.patch(url, json=patch)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["version"] == n
        assert {k: got[k] for k in want} == want, (patch, got)
        assert got["created_at"] == a["created_at"] and got["updated_at"] > last_updated
        last_updated = got["updated_at"]
        assert requests.get(url).json() == got
        expected_versions.append(want)
    # Newest first, each version as it was.
    versions, _ = walk(api, V1 + f"/assistants/{a['assistant_id']}/versions", {})
    assert [v["version"] for v in versions] == list(range(len(steps) + 1, 0, -1))
    for v, want in zip(versions, reversed(expected_versions)):
        assert v["assistant_id"] == a["assistant_id"]
        assert {k: v[k] for k in want} == want
        assert TS_RE.match(v["created_at"])
    # Pages of two, following the cursor.
    paged, pages = walk(api, V1 + f"/assistants/{a['assistant_id']}/versions", {"limit": 2})
    assert paged == versions and pages == 4


def test_rejected_update_creates_no_version(api):
    a = create(api)
    url = api.base + V1 + "/assistants/" + a["assistant_id"]
    for bad, field in [({"name": ""}, "name"), ({"graph_id": "nope"}, "graph_id"), ({"config": [1]}, "config"),
                       ({"metadata": 1}, "metadata"), ({"name": "ok", "description": 5}, "description")]:
        assert_error(requests.patch(url, json=bad), 422, "validation_error", field=field)
    assert requests.get(url).json() == a
    assert requests.get(url + "/versions").json()["data"][0]["version"] == 1


def test_update_of_unknown_assistant_is_404(api):
    missing = str(uuid.uuid4())
    assert_error(requests.patch(api.base + V1 + "/assistants/" + missing, json={"name": "x"}), 404, "resource_not_found")
    assert_error(requests.get(api.base + V1 + f"/assistants/{missing}/versions"), 404, "resource_not_found")


def test_delete_removes_versions_and_runs(api):
    a = create(api, name="doomed")
    aid = a["assistant_id"]
    requests.patch(api.base + V1 + "/assistants/" + aid, json={"name": "doomed2"}).raise_for_status()
    t = requests.post(api.base + V1 + "/threads", json={}).json()
    runs = []
    for _ in range(3):
        r = requests.post(api.base + V1 + "/runs", json={"thread_id": t["thread_id"], "assistant_id": aid})
        assert r.status_code == 201, r.text
        runs.append(r.json()["run_id"])
    other = create(api, name="survivor")
    other_run = requests.post(api.base + V1 + "/runs", json={"thread_id": t["thread_id"], "assistant_id": other["assistant_id"]}).json()
    url = db_url(api)
    assert psql(f"SELECT count(*) FROM assistant_versions WHERE assistant_id = '{aid}'", url) == "2"

    r = requests.delete(api.base + V1 + "/assistants/" + aid)
    assert r.status_code == 204 and r.content == b""
    assert_error(requests.get(api.base + V1 + "/assistants/" + aid), 404, "resource_not_found")
    assert_error(requests.get(api.base + V1 + f"/assistants/{aid}/versions"), 404, "resource_not_found")
    for rid in runs:
        assert_error(requests.get(api.base + V1 + "/runs/" + rid), 404, "resource_not_found")
    assert psql(f"SELECT count(*) FROM assistant_versions WHERE assistant_id = '{aid}'", url) == "0"
    assert psql(f"SELECT count(*) FROM runs WHERE assistant_id = '{aid}'", url) == "0"
    # Only that assistant's runs: the thread and the other assistant's run stay.
    assert requests.get(api.base + V1 + "/threads/" + t["thread_id"]).status_code == 200
    listed = requests.get(api.base + V1 + f"/threads/{t['thread_id']}/runs").json()["data"]
    assert [x["run_id"] for x in listed] == [other_run["run_id"]]
    assert requests.get(api.base + V1 + "/assistants/" + other["assistant_id"]).status_code == 200
    # Gone means gone.
    assert_error(requests.delete(api.base + V1 + "/assistants/" + aid), 404, "resource_not_found")


def test_deleting_an_assistant_frees_the_threads_its_runs_kept_busy(api):
    """Its queued runs are deleted with it, so their thread has no active run left: idle, not busy."""
    a = create(api)
    t = requests.post(api.base + V1 + "/threads", json={}).json()
    requests.post(api.base + V1 + "/runs", json={"thread_id": t["thread_id"], "assistant_id": a["assistant_id"]}).raise_for_status()
    assert requests.get(api.base + V1 + "/threads/" + t["thread_id"]).json()["status"] == "busy"
    assert requests.delete(api.base + V1 + "/assistants/" + a["assistant_id"]).status_code == 204
    assert requests.get(api.base + V1 + f"/threads/{t['thread_id']}/runs").json()["data"] == []
    assert requests.get(api.base + V1 + "/threads/" + t["thread_id"]).json()["status"] == "idle"


def test_list_filters(api):
    tag = uuid.uuid4().hex
    a1 = create(api, name="alpha-" + tag, graph_id="agent", metadata={"suite": tag, "team": "red", "n": {"x": 1, "y": 2}})
    a2 = create(api, name="beta-" + tag, graph_id="echo", metadata={"suite": tag, "team": "blue"})
    a3 = create(api, name="alpha-" + tag, graph_id="echo", metadata={"suite": tag, "team": "red", "extra": True})

    def ids(**params):
        r = requests.get(api.base + V1 + "/assistants", params=params)
        assert r.status_code == 200, r.text
        return [x["assistant_id"] for x in r.json()["data"]]

    m = lambda o: json.dumps(o)  # noqa: E731
    assert ids(metadata=m({"suite": tag})) == [a3["assistant_id"], a2["assistant_id"], a1["assistant_id"]]
    assert ids(metadata=m({"suite": tag, "team": "red"})) == [a3["assistant_id"], a1["assistant_id"]]
    assert ids(metadata=m({"suite": tag, "n": {"x": 1}})) == [a1["assistant_id"]]
    assert ids(metadata=m({"suite": tag, "team": "green"})) == []
    assert ids(metadata=m({"suite": tag}), graph_id="echo") == [a3["assistant_id"], a2["assistant_id"]]
    assert ids(name="alpha-" + tag) == [a3["assistant_id"], a1["assistant_id"]]
    assert ids(name="alpha-" + tag, graph_id="agent") == [a1["assistant_id"]]
    assert ids(name="alpha-" + tag, metadata=m({"extra": True})) == [a3["assistant_id"]]
    # Updated metadata is what the filter sees.
    requests.patch(api.base + V1 + "/assistants/" + a2["assistant_id"], json={"metadata": {"team": "red"}}).raise_for_status()
    assert ids(metadata=m({"suite": tag, "team": "red"})) == [a3["assistant_id"], a2["assistant_id"], a1["assistant_id"]]
    for bad in ["{", "[]", '"x"', "1", "null", "not json"]:
        assert_error(requests.get(api.base + V1 + "/assistants", params={"metadata": bad}), 422, "validation_error", field="metadata")


@pytest.fixture(scope="module")
def tagged(api):
    """60 assistants sharing a metadata tag, oldest first."""
    tag = uuid.uuid4().hex
    return tag, [create(api, name=f"page-{i}", metadata={"suite": tag, "i": i}) for i in range(60)]


def test_limit_default_50_max_100_others_422(api, tagged):
    tag, made = tagged
    q = {"metadata": json.dumps({"suite": tag})}
    r = requests.get(api.base + V1 + "/assistants", params=q).json()
    assert len(r["data"]) == 50 and r["has_more"] is True and r["next_cursor"]
    assert [x["assistant_id"] for x in r["data"]] == [a["assistant_id"] for a in reversed(made)][:50]
    r = requests.get(api.base + V1 + "/assistants", params={**q, "limit": 100}).json()
    assert len(r["data"]) == 60 and r["has_more"] is False and r["next_cursor"] is None
    r = requests.get(api.base + V1 + "/assistants", params={**q, "limit": 60}).json()
    assert len(r["data"]) == 60 and r["has_more"] is False and r["next_cursor"] is None
    r = requests.get(api.base + V1 + "/assistants", params={**q, "limit": 1}).json()
    assert len(r["data"]) == 1 and r["has_more"] is True
    for bad in ["0", "101", "-5", "abc", "", "50.0", "1e2", "9999999999999999999999"]:
        assert_error(requests.get(api.base + V1 + "/assistants", params={**q, "limit": bad}), 422, "validation_error", field="limit")


def test_bad_cursor_is_422(api, tagged):
    tag, made = tagged
    # A versions cursor needs more than one version.
    for _ in range(2):
        requests.patch(api.base + V1 + "/assistants/" + made[0]["assistant_id"], json={}).raise_for_status()
    v = requests.get(api.base + V1 + f"/assistants/{made[0]['assistant_id']}/versions", params={"limit": 1}).json()
    versions_cursor = v["next_cursor"]
    assert versions_cursor
    list_cursor = requests.get(api.base + V1 + "/assistants", params={"limit": 1}).json()["next_cursor"]
    assert list_cursor
    for bad in ["garbage", "!!!", "eA", "MjAyNi0wMS0wMXx4", versions_cursor, "a" * 300]:
        assert_error(requests.get(api.base + V1 + "/assistants", params={"cursor": bad}), 422, "validation_error", field="cursor")
    for bad in ["garbage", list_cursor]:
        assert_error(requests.get(api.base + V1 + f"/assistants/{made[0]['assistant_id']}/versions", params={"cursor": bad}),
                     422, "validation_error", field="cursor")


def test_walk_newest_first_while_inserting_returns_every_existing_row_once(api, tagged):
    tag, made = tagged
    q = {"metadata": json.dumps({"suite": tag}), "limit": 7}
    inserted = []
    stop = threading.Event()

    def writer():
        while not stop.is_set() and len(inserted) < 200:
            inserted.append(create(api, name="late", metadata={"suite": tag, "late": True})["assistant_id"])

    th = threading.Thread(target=writer)
    th.start()
    try:
        # Besides the background writer, insert between every two pages for certain.
        items, pages = walk(api, V1 + "/assistants", q,
                            on_page=lambda n: inserted.append(create(api, name="late", metadata={"suite": tag, "late": True})["assistant_id"]))
    finally:
        stop.set()
        th.join()
    ids = [x["assistant_id"] for x in items]
    assert len(ids) == len(set(ids)), "an item was returned twice"
    existing = [a["assistant_id"] for a in made]
    assert sorted(i for i in ids if i in set(existing)) == sorted(existing)
    assert set(ids) - set(existing) <= set(inserted)
    assert pages >= 60 // 7
    assert newest_first(items, "assistant_id")
    # The pre-existing rows come in creation order, newest first.
    assert [i for i in ids if i in set(existing)] == list(reversed(existing))
