"""Native API error paths, against the running `api` and a real PostgreSQL: the one error shape
{error, message, details}, unknown routes (404), wrong methods (405), X-Request-ID, malformed and
oversized bodies (400, 413), wrong types (422 naming the field), unknown and malformed ids (404)."""
import base64
import http.client
import json
import re
import uuid

import pytest
import requests

from native import V1, assert_error

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def ids(api):
    """One of each resource, for routes that need existing ids."""
    a = requests.post(api.base + V1 + "/assistants", json={"name": "errors"}).json()
    t = requests.post(api.base + V1 + "/threads", json={}).json()
    r = requests.post(api.base + V1 + "/runs", json={"thread_id": t["thread_id"], "assistant_id": a["assistant_id"]}).json()
    return {"assistant_id": a["assistant_id"], "thread_id": t["thread_id"], "run_id": r["run_id"]}


# ---------------------------------------------------------------- unknown routes and methods

@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/nope"),
    ("GET", "/api/v2/threads"),
    ("GET", "/api/v1"),
    ("POST", "/api/v1/thread"),
    ("GET", "/api/v1/threads/" + str(uuid.uuid4()) + "/state/history"),
    ("DELETE", "/api/v1/assistants/" + str(uuid.uuid4()) + "/versions/1"),
    ("GET", "/metricz"),
])
def test_unknown_route_is_404_in_error_shape(api, method, path):
    r = requests.request(method, api.base + path)
    body = assert_error(r, 404, "resource_not_found")
    assert body["details"] == {"path": path}
    assert body["message"] == f"No route for {method} {path}"


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/api/v1/threads", {"GET", "POST"}),
    ("DELETE", "/api/v1/assistants", {"GET", "POST"}),
    ("POST", "/api/v1/threads/{thread_id}", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/api/v1/assistants/{assistant_id}", {"GET", "PATCH", "DELETE"}),
    ("GET", "/api/v1/runs/{run_id}/cancel", {"POST"}),
    ("DELETE", "/api/v1/runs/{run_id}", {"GET"}),
    ("PATCH", "/api/v1/threads/{thread_id}/messages", {"GET", "POST"}),
    ("POST", "/api/v1/openapi.json", {"GET"}),
    ("POST", "/health", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, ids, method, path, allowed):
    r = requests.request(method, api.base + path.format(**ids), json={})
    body = assert_error(r, 405, "method_not_allowed")
    assert set(body["details"]["allowed"]) == allowed, body
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


# ---------------------------------------------------------------- X-Request-ID

@pytest.mark.parametrize("method,path,status", [
    ("GET", "/health", 200),
    ("GET", "/api/v1/threads", 200),
    ("GET", "/api/v1/nope", 404),
    ("PUT", "/api/v1/threads", 405),
    ("GET", "/api/v1/threads?limit=0", 422),
    ("POST", "/api/v1/assistants", 400),
])
def test_request_id_echoed_when_given_and_generated_otherwise(api, method, path, status):
    given = "req-" + uuid.uuid4().hex
    r = requests.request(method, api.base + path, headers={"X-Request-ID": given, "Content-Type": "application/json"}, data=b"")
    assert r.status_code == status, r.text
    assert r.headers["X-Request-ID"] == given
    r1 = requests.request(method, api.base + path, headers={"Content-Type": "application/json"}, data=b"")
    r2 = requests.request(method, api.base + path, headers={"Content-Type": "application/json"}, data=b"")
    assert r1.status_code == r2.status_code == status
    g1, g2 = r1.headers["X-Request-ID"], r2.headers["X-Request-ID"]
    assert UUID_RE.match(g1) and UUID_RE.match(g2) and g1 != g2


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "tab\there", "caf\u00e9"])
def test_unusable_request_id_is_replaced(api, bad):
    conn = http.client.HTTPConnection("127.0.0.1", int(api.base.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.putrequest("GET", "/health")
        conn.putheader("X-Request-ID", bad.encode("utf-8"))
        conn.endheaders()
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert UUID_RE.match(resp.getheader("X-Request-ID")), resp.getheader("X-Request-ID")
    finally:
        conn.close()


# ---------------------------------------------------------------- malformed bodies (400)

BODY_ROUTES = [
    ("POST", "/api/v1/assistants"),
    ("PATCH", "/api/v1/assistants/{assistant_id}"),
    ("POST", "/api/v1/threads"),
    ("PATCH", "/api/v1/threads/{thread_id}"),
    ("POST", "/api/v1/threads/{thread_id}/messages"),
    ("POST", "/api/v1/runs"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs"),
]


@pytest.mark.parametrize("method,path", BODY_ROUTES)
@pytest.mark.parametrize("raw", [b"{bad", b'{"a": 1,}', b'{"name": "x"', b"\xff\xfe", b'{"name": "\xff"}',
                                 b"[]", b'"text"', b"42", b"null", b"{} {}"])
def test_malformed_body_is_400(api, ids, method, path, raw):
    r = requests.request(method, api.base + path.format(**ids), data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


@pytest.mark.parametrize("method,path", BODY_ROUTES)
def test_wrong_content_type_is_400(api, ids, method, path):
    r = requests.request(method, api.base + path.format(**ids), data=b"{}", headers={"Content-Type": "text/plain"})
    body = assert_error(r, 400, "invalid_request")
    assert body["details"] == {"content_type": "text/plain"}


@pytest.mark.parametrize("method,path", [m for m in BODY_ROUTES if m != ("POST", "/api/v1/threads")])
def test_missing_required_body_is_400(api, ids, method, path):
    r = requests.request(method, api.base + path.format(**ids), data=b"  \n", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


def test_body_is_optional_where_documented(api):
    r = requests.post(api.base + V1 + "/threads")
    assert r.status_code == 201, r.text
    assert requests.get(api.base + V1 + "/threads/" + r.json()["thread_id"]).status_code == 200


def test_malformed_body_changes_nothing(api, ids):
    before = requests.get(api.base + V1 + "/assistants/" + ids["assistant_id"]).json()
    r = requests.patch(api.base + V1 + "/assistants/" + ids["assistant_id"], data=b'{"name": "changed"',
                       headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")
    assert requests.get(api.base + V1 + "/assistants/" + ids["assistant_id"]).json() == before


# ---------------------------------------------------------------- oversized bodies (413)

def raw_request(api, method, path, headers, body=b""):
    conn = http.client.HTTPConnection("127.0.0.1", int(api.base.rsplit(":", 1)[1]), timeout=30)
    try:
        conn.putrequest(method, path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("method,path", [("POST", "/api/v1/threads"), ("POST", "/api/v1/runs"),
                                         ("PATCH", "/api/v1/assistants/" + str(uuid.uuid4()))])
def test_declared_oversized_body_is_refused_before_it_is_sent(api, method, path):
    # Only the headers go out: the server must answer from Content-Length alone.
    status, headers, body = raw_request(api, method, path, {"Content-Type": "application/json",
                                                            "Content-Length": str(LIMIT + 1)})
    assert status == 413, body
    b = json.loads(body)
    assert set(b) == {"error", "message", "details"} and b["error"] == "payload_too_large"
    assert b["details"] == {"limit_bytes": LIMIT}


def test_chunked_oversized_body_is_413(api):
    def chunks():
        for _ in range(11):
            yield b" " * (1024 * 1024)
    r = requests.post(api.base + V1 + "/threads", data=chunks(), headers={"Content-Type": "application/json"})
    body = assert_error(r, 413, "payload_too_large")
    assert body["details"] == {"limit_bytes": LIMIT}
    # The server is fine afterwards.
    assert requests.get(api.base + "/health").status_code == 200


def test_body_of_exactly_the_limit_is_accepted(api):
    head, tail = b'{"metadata": {"size": "limit"}, "pad": "', b'"}'
    body = head + b"p" * (LIMIT - len(head) - len(tail)) + tail
    assert len(body) == LIMIT
    r = requests.post(api.base + V1 + "/threads", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text[:500]
    assert r.json()["metadata"] == {"size": "limit"}
    over = body[:-2] + b'p"}'
    r = requests.post(api.base + V1 + "/threads", data=over, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_oversized_body_response_carries_request_id(api):
    status, headers, _ = raw_request(api, "POST", "/api/v1/threads", {"Content-Type": "application/json",
                                                                      "Content-Length": str(LIMIT + 1),
                                                                      "X-Request-ID": "too-big-1"})
    assert status == 413
    assert {k.lower(): v for k, v in headers.items()}.get("x-request-id") == "too-big-1", headers


# ---------------------------------------------------------------- wrong types (422 with details.field)

WRONG_TYPES = [
    # (method, path, body, field)
    ("POST", "/api/v1/assistants", {"name": 5}, "name"),
    ("POST", "/api/v1/assistants", {"name": ""}, "name"),
    ("POST", "/api/v1/assistants", {"name": "   "}, "name"),
    ("POST", "/api/v1/assistants", {"name": "n" * 501}, "name"),
    ("POST", "/api/v1/assistants", {"description": ["x"]}, "description"),
    ("POST", "/api/v1/assistants", {"description": "d" * 10_001}, "description"),
    ("POST", "/api/v1/assistants", {"graph_id": 1}, "graph_id"),
    ("POST", "/api/v1/assistants", {"graph_id": "no-such-graph"}, "graph_id"),
    ("POST", "/api/v1/assistants", {"config": "x"}, "config"),
    ("POST", "/api/v1/assistants", {"config": []}, "config"),
    ("POST", "/api/v1/assistants", {"metadata": [1]}, "metadata"),
    ("POST", "/api/v1/assistants", {"metadata": 1.5}, "metadata"),
    ("POST", "/api/v1/assistants", {"assistant_id": "not-a-uuid"}, "assistant_id"),
    ("POST", "/api/v1/assistants", {"assistant_id": 12}, "assistant_id"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"name": True}, "name"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"name": ""}, "name"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"description": 3}, "description"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"graph_id": "nope"}, "graph_id"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"config": 1}, "config"),
    ("PATCH", "/api/v1/assistants/{assistant_id}", {"metadata": "x"}, "metadata"),
    ("POST", "/api/v1/threads", {"thread_id": "nope"}, "thread_id"),
    ("POST", "/api/v1/threads", {"thread_id": 7}, "thread_id"),
    ("POST", "/api/v1/threads", {"metadata": []}, "metadata"),
    ("PATCH", "/api/v1/threads/{thread_id}", {"metadata": "x"}, "metadata"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"content": "hi"}, "role"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "robot", "content": "hi"}, "role"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": 1, "content": "hi"}, "role"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user"}, "content"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": 5}, "content"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": {"a": 1}}, "content"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": "x", "id": ""}, "id"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": "x", "id": 3}, "id"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": "x", "name": []}, "name"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "tool", "content": "x", "tool_call_id": 1}, "tool_call_id"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "ai", "content": "x", "tool_calls": {}}, "tool_calls"),
    ("POST", "/api/v1/threads/{thread_id}/messages", {"role": "user", "content": "x", "metadata": "m"}, "metadata"),
    ("POST", "/api/v1/runs", {"assistant_id": "{assistant_id}"}, "thread_id"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}"}, "assistant_id"),
    ("POST", "/api/v1/runs", {"thread_id": "x", "assistant_id": "{assistant_id}"}, "thread_id"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": 4}, "assistant_id"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "input": [1]}, "input"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "input": "hi"}, "input"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "config": []}, "config"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "metadata": 0}, "metadata"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}",
                              "multitask_strategy": "sometimes"}, "multitask_strategy"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}",
                              "multitask_strategy": 1}, "multitask_strategy"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "webhook": "ftp://x.org/h"}, "webhook"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}", "webhook": 5}, "webhook"),
    ("POST", "/api/v1/runs", {"thread_id": "{thread_id}", "assistant_id": "{assistant_id}",
                              "webhook": "http://a b.org/"}, "webhook"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs", {}, "tool_outputs"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs", {"tool_outputs": {"a": 1}}, "tool_outputs"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs", {"tool_outputs": [{"output": 1}]}, "tool_outputs[0]"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs",
     {"tool_outputs": [{"tool_call_id": "a", "output": 1}, {"tool_call_id": 2, "output": 1}]}, "tool_outputs[1]"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs", {"tool_outputs": [{"tool_call_id": "a"}]}, "tool_outputs[0]"),
    ("POST", "/api/v1/runs/{run_id}/submit_tool_outputs", {"tool_outputs": ["x"]}, "tool_outputs[0]"),
]


def fill(v, ids):
    if isinstance(v, str):
        return v.format(**ids) if v.startswith("{") and v.endswith("}") and v[1:-1] in ids else v
    if isinstance(v, dict):
        return {k: fill(x, ids) for k, x in v.items()}
    return v


@pytest.mark.parametrize("method,path,body,field", WRONG_TYPES,
                         ids=[f"{m} {p} {f}" for m, p, _, f in WRONG_TYPES])
def test_wrong_type_is_422_naming_the_field(api, ids, method, path, body, field):
    r = requests.request(method, api.base + path.format(**ids), json=fill(body, ids))
    assert_error(r, 422, "validation_error", field=field)


@pytest.mark.parametrize("path,field", [
    ("/api/v1/assistants?limit=0", "limit"),
    ("/api/v1/threads?limit=101", "limit"),
    ("/api/v1/runs?limit=-1", "limit"),
    ("/api/v1/runs?limit=ten", "limit"),
    ("/api/v1/threads?limit=", "limit"),
    ("/api/v1/threads?limit=1.5", "limit"),
    ("/api/v1/assistants?cursor=bm9wZQ", "cursor"),
    ("/api/v1/threads?cursor=%%%", "cursor"),
    ("/api/v1/threads?metadata=nope", "metadata"),
    ("/api/v1/threads?metadata=%5B1%5D", "metadata"),
    ("/api/v1/assistants?metadata=%22x%22", "metadata"),
    ("/api/v1/threads?status=asleep", "status"),
    ("/api/v1/runs?status=done", "status"),
    ("/api/v1/runs?thread_id=abc", "thread_id"),
    ("/api/v1/threads/{thread_id}/runs?status=done", "status"),
    ("/api/v1/threads/{thread_id}/runs?limit=500", "limit"),
    ("/api/v1/threads/{thread_id}/messages?limit=0", "limit"),
    ("/api/v1/assistants/{assistant_id}/versions?limit=101", "limit"),
])
def test_bad_query_is_422_naming_the_parameter(api, ids, path, field):
    assert_error(requests.get(api.base + path.format(**ids)), 422, "validation_error", field=field)


# ---------------------------------------------------------------- unknown and malformed ids (404)

ID_ROUTES = [
    ("GET", "/api/v1/assistants/{}", "assistant", None),
    ("PATCH", "/api/v1/assistants/{}", "assistant", {"name": "x"}),
    ("DELETE", "/api/v1/assistants/{}", "assistant", None),
    ("GET", "/api/v1/assistants/{}/versions", "assistant", None),
    ("GET", "/api/v1/threads/{}", "thread", None),
    ("PATCH", "/api/v1/threads/{}", "thread", {"metadata": {"a": 1}}),
    ("DELETE", "/api/v1/threads/{}", "thread", None),
    ("GET", "/api/v1/threads/{}/messages", "thread", None),
    ("POST", "/api/v1/threads/{}/messages", "thread", {"role": "user", "content": "hi"}),
    ("GET", "/api/v1/threads/{}/runs", "thread", None),
    ("GET", "/api/v1/runs/{}", "run", None),
    ("POST", "/api/v1/runs/{}/cancel", "run", None),
    ("POST", "/api/v1/runs/{}/submit_tool_outputs", "run", {"tool_outputs": [{"tool_call_id": "c", "output": 1}]}),
]


@pytest.mark.parametrize("method,path,resource,body", ID_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ID_ROUTES])
def test_unknown_id_is_404_naming_the_resource(api, method, path, resource, body):
    missing = str(uuid.uuid4())
    r = requests.request(method, api.base + path.format(missing), json=body)
    b = assert_error(r, 404, "resource_not_found")
    assert b["details"] == {"resource": resource, "id": missing}


@pytest.mark.parametrize("method,path,resource,body", ID_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ID_ROUTES])
@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
def test_malformed_id_is_404(api, method, path, resource, body, bad):
    r = requests.request(method, api.base + path.format(bad), json=body)
    b = assert_error(r, 404, "resource_not_found")
    assert b["details"]["resource"] == resource


@pytest.mark.parametrize("body,resource", [
    ({"thread_id": "{missing}", "assistant_id": "{assistant_id}"}, "thread"),
    ({"thread_id": "{thread_id}", "assistant_id": "{missing}"}, "assistant"),
])
def test_run_on_unknown_thread_or_assistant_is_404(api, ids, body, resource):
    r = requests.post(api.base + V1 + "/runs", json=fill(body, {**ids, "missing": str(uuid.uuid4())}))
    b = assert_error(r, 404, "resource_not_found")
    assert b["details"]["resource"] == resource


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/api/v1/threads", "/api/v1/assistants", "/api/v1/runs", "/api/v1/threads/{thread_id}/runs"])
@pytest.mark.parametrize("key", ["2026-13-45T99:99:99.000000Z", "2026-02-30T00:00:00.000000Z"])
def test_forged_timestamp_cursor_with_impossible_date_is_422(api, ids, path, key):
    """Such a cursor has the shape of a real one but no date behind it: a client error, not a 500."""
    r = requests.get(api.base + path.format(**ids), params={"cursor": b64(f"{key}|{uuid.uuid4()}")})
    assert_error(r, 422, "validation_error", field="cursor")


@pytest.mark.parametrize("key", ["9999999999", "2147483648", "99999999999999999999"])
def test_forged_version_cursor_out_of_range_is_422_or_empty(api, ids, key):
    """A versions cursor above any version: an empty page or a 422, never a 500."""
    r = requests.get(api.base + f"/api/v1/assistants/{ids['assistant_id']}/versions", params={"cursor": b64(f"{key}|{ids['assistant_id']}")})
    if r.status_code == 200:
        assert [v["version"] for v in r.json()["data"]] == [1]
    else:
        assert_error(r, 422, "validation_error", field="cursor")


def test_uppercase_uuid_in_path_finds_the_resource(api, ids):
    r = requests.get(api.base + V1 + "/threads/" + ids["thread_id"].upper())
    assert r.status_code == 200 and r.json()["thread_id"] == ids["thread_id"]
