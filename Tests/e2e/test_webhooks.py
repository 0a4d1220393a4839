"""Webhooks: the dispatcher, Standard Webhooks signatures, retries, delivery log, SSRF guard."""
import base64
import hashlib
import hmac
import json
import signal
import time

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from conftest import Process, fresh_database, psql, wait_for
from fake_llm import FakeLLM
from webhook_receiver import Receiver

LOCAL = "127.0.0.0/8,::1/128"
RUN_SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()


class Stack:
    def __init__(self, allowed=LOCAL, roles=("scheduler", "webhook-dispatcher"), env=None):
        self.url = fresh_database("wh")
        self.env = {"WEBHOOK_ALLOWED_CIDRS": allowed, "WEBHOOK_RETRY_SCHEDULE": "0.3,0.3,0.3", "WEBHOOK_TIMEOUT": "1",
                    "WEBHOOK_POLL_INTERVAL": "0.2", "WEBHOOK_SECRET": RUN_SECRET, **(env or {})}
        self.api = Process("api", database_url=self.url, env=self.env).wait_healthy()
        self.base = self.api.base + "/api/v1"
        self.procs = {r: self.start(r) for r in roles}

    def start(self, role):
        p = Process(role, database_url=self.url, env=self.env)
        wait_for(lambda: "ready" in p.logs(), 30, what=f"{role} ready")
        return p

    def post(self, path, body=None, status=None):
        r = requests.post(self.base + path, json=body if body is not None else {}, timeout=10)
        if status:
            assert r.status_code == status, r.text
        return r.json() if r.content else None

    def get(self, path):
        r = requests.get(self.base + path, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def webhook(self, url, events=("*",), **kw):
        return self.post("/webhooks", {"url": url, "events": list(events), **kw}, 201)

    def deliveries(self, wid):
        return self.get(f"/webhooks/{wid}/deliveries?limit=100")["data"]

    def close(self):
        for p in [self.api, *self.procs.values()]:
            p.stop()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def stack():
    s = Stack()
    yield s
    s.close()


def independent_check(hit, secret):
    h = hit["headers"]
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    msg = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + hit["body"]
    expected = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return expected in [s.split(",", 1)[1] for s in h["webhook-signature"].split(" ")]


def test_run_events_are_signed_and_logged(stack, receiver):
    w = stack.webhook(receiver.url("/ok"), events=["*"], description="all")
    assert w["secret"].startswith("whsec_") and len(base64.b64decode(w["secret"][6:])) == 32
    assert "secret" not in stack.get(f"/webhooks/{w['webhook_id']}")
    aid = stack.post("/assistants", {"name": "e", "graph_id": "echo"}, 201)["assistant_id"]
    tid = stack.post("/threads", {}, 201)["thread_id"]
    run = stack.post("/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "hi"}}, 201)
    hits = wait_for(lambda: (h := receiver.on("/ok")) and len([x for x in h if json.loads(x["body"])["data"].get("run_id") == run["run_id"]]) >= 3 and h,
                    20, what="three run events")
    mine = [h for h in hits if json.loads(h["body"])["data"].get("run_id") == run["run_id"]]
    types = sorted(json.loads(h["body"])["type"] for h in mine)
    assert types == ["run.completed", "run.created", "run.started"]
    wh = Webhook(w["secret"])
    for h in mine:
        payload = wh.verify(h["body"], h["headers"])   # raises when the signature is wrong
        assert payload["type"].startswith("run.") and payload["timestamp"] and payload["data"]["thread_id"] == tid
        assert independent_check(h, w["secret"])
        assert h["headers"]["content-type"] == "application/json"
        assert h["headers"]["user-agent"].startswith("DuraGraph")
        assert abs(int(h["headers"]["webhook-timestamp"]) - time.time()) < 60
    completed = next(json.loads(h["body"]) for h in mine if json.loads(h["body"])["type"] == "run.completed")
    assert completed["data"]["status"] == "completed" and completed["data"]["output"]["response"] == "echo: hi"
    # Tampering is detected by the library.
    with pytest.raises(Exception):
        wh.verify(mine[0]["body"] + b" ", mine[0]["headers"])
    ds = wait_for(lambda: (d := stack.deliveries(w["webhook_id"])) and all(x["status"] == "succeeded" for x in d) and len(d) >= 3 and d,
                  10, what="deliveries logged")
    for d in ds:
        assert d["attempt_count"] == 1 and d["attempts"][0]["status_code"] == 200 and d["attempts"][0]["duration_ms"] >= 0
        assert d["attempts"][0]["response_body"] == '{"received": true}'


def test_subscriptions_filter_events(stack, receiver):
    w = stack.webhook(receiver.url("/ok?only-completed"), events=["run.completed"])
    aid = stack.post("/assistants", {"name": "e", "graph_id": "echo"}, 201)["assistant_id"]
    run = stack.post("/runs", {"thread_id": stack.post("/threads", {}, 201)["thread_id"], "assistant_id": aid}, 201)
    wait_for(lambda: len(stack.deliveries(w["webhook_id"])) >= 1, 10, what="a delivery")
    time.sleep(0.5)
    assert [d["event_type"] for d in stack.deliveries(w["webhook_id"])] == ["run.completed"]
    assert stack.deliveries(w["webhook_id"])[0]["run_id"] == run["run_id"]


def test_retries_after_500_with_the_same_webhook_id(stack, receiver):
    w = stack.webhook(receiver.url("/fail-2"))
    d = stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
    done = wait_for(lambda: (x := stack.deliveries(w["webhook_id"])[0])["status"] == "succeeded" and x, 15, what="delivered after retries")
    assert [a["status_code"] for a in done["attempts"]] == [500, 500, 200]
    hits = [h for h in receiver.on("/fail-2") if h["headers"]["webhook-id"] == "msg_" + d["delivery_id"]]
    assert len(hits) == 3 and len({h["headers"]["webhook-id"] for h in hits}) == 1
    assert json.loads(hits[0]["body"])["type"] == "ping"


def test_timeout_is_retried(stack, receiver):
    w = stack.webhook(receiver.url("/slow-1"))
    stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
    done = wait_for(lambda: (x := stack.deliveries(w["webhook_id"])[0])["status"] == "succeeded" and x, 20, what="delivered after a timeout")
    assert done["attempts"][0]["status_code"] is None and "imeout" in done["attempts"][0]["error"]
    assert done["attempts"][1]["status_code"] == 200


def test_retry_after_is_honoured(stack, receiver):
    w = stack.webhook(receiver.url("/retry-after-2"))
    stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
    done = wait_for(lambda: (x := stack.deliveries(w["webhook_id"])[0])["status"] == "succeeded" and x, 15, what="delivered")
    assert [a["status_code"] for a in done["attempts"]] == [429, 200]
    hits = receiver.on("/retry-after-2")
    assert hits[-1]["at"] - hits[-2]["at"] >= 1.7, "the schedule says 0.3 s but Retry-After says 2 s"


def test_410_disables_the_endpoint_and_redirects_are_not_followed(stack, receiver):
    gone = stack.webhook(receiver.url("/gone"))
    stack.post(f"/webhooks/{gone['webhook_id']}/test", None, 202)
    wait_for(lambda: stack.deliveries(gone["webhook_id"])[0]["status"] == "failed", 10, what="410 recorded")
    w = stack.get(f"/webhooks/{gone['webhook_id']}")
    assert w["enabled"] is False and "410" in w["disabled_reason"]
    assert stack.deliveries(gone["webhook_id"])[0]["attempt_count"] == 1
    # Re-enabling works.
    r = requests.patch(f"{stack.base}/webhooks/{gone['webhook_id']}", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True and r.json()["disabled_reason"] is None

    before = len(receiver.on("/ok"))
    red = stack.webhook(receiver.url("/redirect"))
    stack.post(f"/webhooks/{red['webhook_id']}/test", None, 202)
    done = wait_for(lambda: (x := stack.deliveries(red["webhook_id"])[0])["status"] == "failed" and x, 15, what="redirect gives up")
    assert {a["status_code"] for a in done["attempts"]} == {302} and len(done["attempts"]) == 4
    assert len(receiver.on("/ok")) == before, "the redirect target was never called"


def test_redelivery_and_secret_rotation(stack, receiver):
    w = stack.webhook(receiver.url("/ok?rot"), secret="my-plain-secret")
    assert "secret" not in w
    d = stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
    wait_for(lambda: len([h for h in receiver.on("/ok?rot")]) == 1, 10, what="first delivery")
    first = receiver.on("/ok?rot")[0]
    assert independent_check(first, "my-plain-secret")
    Webhook.__init__  # the library only takes whsec_ secrets; plain secrets are checked independently above
    stack.post(f"/webhooks/{w['webhook_id']}/deliveries/{d['delivery_id']}/redeliver", None, 202)
    wait_for(lambda: len(receiver.on("/ok?rot")) == 2, 10, what="redelivery")
    assert receiver.on("/ok?rot")[1]["headers"]["webhook-id"] == first["headers"]["webhook-id"]

    r = requests.patch(f"{stack.base}/webhooks/{w['webhook_id']}", json={"rotate_secret": True})
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new.startswith("whsec_")
    stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
    wait_for(lambda: len(receiver.on("/ok?rot")) == 3, 10, what="delivery after rotation")
    hit = receiver.on("/ok?rot")[2]
    assert len(hit["headers"]["webhook-signature"].split(" ")) == 2
    assert independent_check(hit, new) and independent_check(hit, "my-plain-secret")
    Webhook(new).verify(hit["body"], hit["headers"])


def test_per_run_webhook_url_gets_the_end_of_the_run(stack, receiver):
    aid = stack.post("/assistants", {"name": "e", "graph_id": "echo"}, 201)["assistant_id"]
    tid = stack.post("/threads", {}, 201)["thread_id"]
    run = stack.post("/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "x"},
                               "webhook": receiver.url("/ok?run")}, 201)
    hit = wait_for(lambda: receiver.on("/ok?run"), 15, what="per-run webhook")[0]
    body = Webhook(RUN_SECRET).verify(hit["body"], hit["headers"])
    assert body["type"] == "run.completed" and body["data"]["run_id"] == run["run_id"]
    time.sleep(0.5)
    assert len(receiver.on("/ok?run")) == 1


def test_redeliver_refuses_a_delivery_in_flight(receiver):
    stack = Stack(env={"WEBHOOK_TIMEOUT": "10"})   # the attempt below stays in flight the receiver's 3 s
    try:
        w = stack.webhook(receiver.url("/slow-1"))
        d = stack.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
        mine = lambda: [h for h in receiver.on("/slow-1") if h["headers"]["webhook-id"] == "msg_" + d["delivery_id"]]
        wait_for(mine, 10, what="the attempt reaches the receiver")
        r = requests.post(f"{stack.base}/webhooks/{w['webhook_id']}/deliveries/{d['delivery_id']}/redeliver")
        assert r.status_code == 409 and r.json()["error"] == "resource_conflict", r.text
        # Once the attempt is recorded, redelivery is accepted and sends it again.
        wait_for(lambda: stack.deliveries(w["webhook_id"])[0]["status"] == "succeeded", 15, what="attempt recorded")
        stack.post(f"/webhooks/{w['webhook_id']}/deliveries/{d['delivery_id']}/redeliver", None, 202)
        wait_for(lambda: len(mine()) >= 2, 10, what="redelivered")
    finally:
        stack.close()


def test_langgraph_run_webhook_gets_the_run_with_values(stack, receiver):
    """A run made through the LangGraph API posts LangGraph's body to its own webhook: the run as
    that API shows it, plus the final values (LangChain messages) and the error."""
    from langgraph_sdk import get_sync_client
    client = get_sync_client(url=stack.api.base, api_key=None)
    t = client.threads.create()["thread_id"]
    run = client.runs.create(t, "echo", input={"messages": [{"role": "user", "content": "hook me"}]},
                             webhook=receiver.url("/ok?lg"), metadata={"source": "sdk"})
    hit = wait_for(lambda: receiver.on("/ok?lg"), 15, what="LangGraph per-run webhook")[0]
    body = Webhook(RUN_SECRET).verify(hit["body"], hit["headers"])
    assert body["run_id"] == run["run_id"] and body["thread_id"] == t and body["status"] == "success"
    assert body["metadata"] == {"source": "sdk"} and body["error"] is None
    assert body["kwargs"]["webhook"] == receiver.url("/ok?lg")
    assert [(m["type"], m["content"]) for m in body["values"]["messages"]] == [("human", "hook me"), ("ai", "echo: hook me")]
    assert body["created_at"] and body["updated_at"]


def test_ssrf_guard():
    s = Stack(allowed="", roles=("webhook-dispatcher",))
    rec = Receiver()
    try:
        for url in ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]:8080/",
                    "http://192.168.1.1/", "http://[::ffff:127.0.0.1]/", "ftp://example.com/", "not a url"]:
            r = requests.post(s.base + "/webhooks", json={"url": url, "events": ["*"]})
            assert r.status_code == 422 and r.json()["details"]["field"] == "url", (url, r.text)
        # A hostname that resolves to loopback passes registration but is refused when sending.
        w = s.webhook(rec.url("/ok", host="localhost"))
        s.post(f"/webhooks/{w['webhook_id']}/test", None, 202)
        d = wait_for(lambda: (x := s.deliveries(w["webhook_id"])[0])["status"] == "failed" and x, 10, what="refused delivery")
        assert "refused" in d["attempts"][0]["error"] and "not public" in d["attempts"][0]["error"]
        assert rec.on("/ok") == []
    finally:
        rec.close()
        s.close()


def test_sigkill_dispatcher_during_a_burst_loses_nothing(receiver):
    s = Stack(roles=("webhook-dispatcher",), env={"WEBHOOK_CONCURRENCY": "8"})
    try:
        w = s.webhook(receiver.url("/delay-5"))
        ids = []
        session = requests.Session()
        for _ in range(1000):
            r = session.post(f"{s.base}/webhooks/{w['webhook_id']}/test", timeout=10)
            assert r.status_code == 202
            ids.append("msg_" + r.json()["delivery_id"])
        wait_for(lambda: len(receiver.on("/delay-5")) >= 100, 30, what="some deliveries")
        s.procs["webhook-dispatcher"].proc.send_signal(signal.SIGKILL)
        s.procs["webhook-dispatcher"].proc.wait()
        arrived_before = len(receiver.on("/delay-5"))
        assert arrived_before < 1000
        s.procs["webhook-dispatcher"] = s.start("webhook-dispatcher")
        got = wait_for(lambda: (seen := {h["headers"]["webhook-id"] for h in receiver.on("/delay-5")}) >= set(ids) and seen,
                       120, interval=0.5, what="every delivery at least once")
        assert set(ids) <= got
        assert psql("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'", s.url) == "0"
        # Each webhook-id is complete: one body per id, identical on every copy.
        bodies = {}
        for h in receiver.on("/delay-5"):
            bodies.setdefault(h["headers"]["webhook-id"], set()).add(h["body"])
        assert all(len(b) == 1 for b in bodies.values())
    finally:
        s.close()
