"""The dashboard (dashboard/, plain HTML + JS modules) in a real headless Chromium against a real
`duragraph serve` (api, scheduler, webhook dispatcher, metrics). Each check reads what the page
shows: output text, status badges, streamed tokens, deliveries. Screenshots go to docs/images/.

Needs Debian's chromium and chromium-driver (scripts/test.sh installs them).
"""
import json
import os
import shutil
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from conftest import Process, fresh_database, wait_for
from webhook_receiver import Receiver

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "dashboard")
# The committed screenshots (docs/images) are refreshed with DURAGRAPH_UPDATE_SCREENSHOTS=1;
# otherwise they go to the test's scratch directory, so a test run leaves the tree clean.
IMAGES = (os.path.join(ROOT, "docs", "images") if os.environ.get("DURAGRAPH_UPDATE_SCREENSHOTS") == "1"
          else os.path.join(os.environ.get("DURAGRAPH_TEST_TMP", "/tmp"), "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# scripts/test.sh installs them: a missing browser is a failure, not a skip.
assert CHROMIUM and CHROMEDRIVER, "chromium and chromium-driver are not installed (scripts/deps.sh chromium chromium-driver)"

HUMAN_GRAPH = {"entry": "ask", "nodes": {"ask": {"type": "human", "prompt": "Approve?"}, "echo": {"type": "echo"}},
               "edges": [{"from": "ask", "to": "echo"}]}


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def server(llm):
    p = Process("serve", database_url=fresh_database("dash"),
                env={"DASHBOARD_DIR": DASHBOARD, "OPENAI_BASE_URL": llm.openai_url, "OPENAI_API_KEY": "x",
                     "WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8"})
    try:
        p.wait_healthy()
        wait_for(lambda: len(p.roles()) == 4, 30, what="four roles")
        wait_for(lambda: roles_ready(p) == 4, 30, what="four roles ready in /health")
        yield p
    finally:
        p.stop()


def roles_ready(p):
    roles = requests.get(p.base + "/health", timeout=5).json().get("details", {}).get("roles", [])
    return sum(1 for r in roles if r.get("ready"))


class Browser:
    def __init__(self, base):
        o = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
            o.add_argument(a)
        o.binary_location = CHROMIUM
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=o)
        self.base = base

    def open(self, route, base=None):
        # /dashboard/index.html, not /dashboard/: see the note in docs/dashboard.md.
        # A full load every time (a hash-only change would leave the previous view briefly on screen).
        self.d.get("about:blank")
        self.d.get(f"{base or self.base}/dashboard/index.html#{route}")

    def wait(self, predicate, timeout=15, what="condition"):
        last = []

        def check(_):
            try:
                v = predicate()
                last[:] = [v]
                return v
            except Exception as e:  # stale elements while a view re-renders
                last[:] = [e]
                return False
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(check)
        except Exception:
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}; page:\n{self.text('#view')[:3000]}")

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        try:
            return self.find(css).text
        except Exception:
            return ""

    def wait_text(self, css, needle, timeout=15):
        return self.wait(lambda: needle in self.text(css) and self.text(css), timeout, f"{needle!r} in {css}")

    def shot(self, name):
        os.makedirs(IMAGES, exist_ok=True)
        self.d.save_screenshot(os.path.join(IMAGES, name))

    def errors(self):
        """JavaScript errors (not the failed requests that some checks cause on purpose)."""
        return [l for l in self.d.get_log("browser") if l["level"] == "SEVERE"
                and "Failed to load resource" not in l["message"] and "net::ERR" not in l["message"]]


@pytest.fixture(scope="module")
def browser(server):
    b = Browser(server.base)
    yield b
    b.d.quit()


def api(server, method, path, body=None, status=None):
    r = requests.request(method, server.base + "/api/v1" + path, json=body, timeout=10)
    if status:
        assert r.status_code == status, r.text
    return r.json() if r.content else None


def run_status(server, run_id):
    return api(server, "GET", f"/runs/{run_id}")["status"]


def test_overview_shows_counts_runs_and_roles(server, browser):
    aid = api(server, "POST", "/assistants", {"name": "overview echo", "graph_id": "echo"}, 201)["assistant_id"]
    tid = api(server, "POST", "/threads", {}, 201)["thread_id"]
    run = api(server, "POST", "/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "x"}}, 201)
    wait_for(lambda: run_status(server, run["run_id"]) == "completed", 20, what="echo run")
    browser.open("/")
    browser.wait_text("#view", "webhook-dispatcher")
    tile = lambda label: browser.text(f'[data-tile="{label}"] .tile-value')
    browser.wait(lambda: tile("completed") == "1", what="1 completed run")
    assert tile("assistants") == "1" and tile("threads") == "1" and tile("failed") == "0"
    assert "1 runs in the last hour" in browser.text(".chart-axis")
    roles = browser.text("#view table")
    for role in ("api", "scheduler", "webhook-dispatcher", "metrics"):
        assert role in roles
    assert roles.count("ready") == 4
    browser.shot("overview.png")
    assert browser.errors() == []


def test_create_edit_assistant_and_thread(server, browser):
    browser.open("/assistants/new")
    f = browser.wait(lambda: browser.find("#assistant-form"))
    f.find_element(By.NAME, "name").send_keys("dash echo")
    Select(f.find_element(By.NAME, "graph_id")).select_by_value("echo")
    f.find_element(By.NAME, "metadata").send_keys('{"team": "web"}')
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait(lambda: "/assistants/" in browser.d.current_url and "/new" not in browser.d.current_url, what="assistant page")
    aid = browser.d.current_url.rsplit("/", 1)[1]
    browser.wait_text("h1", "dash echo")
    assert api(server, "GET", f"/assistants/{aid}")["metadata"] == {"team": "web"}

    # Edit: a new version with a new name and config.
    browser.find("a.button.secondary[href$='/edit']").click()
    f = browser.wait(lambda: browser.find("#assistant-form"))
    name = f.find_element(By.NAME, "name")
    name.clear()
    name.send_keys("dash echo v2")
    cfg = f.find_element(By.NAME, "config")
    cfg.clear()
    cfg.send_keys('{"note": "edited"}')
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("h1", "dash echo v2")
    assert "v2" in browser.text("h1")
    browser.wait_text("#view", "edited")
    browser.wait(lambda: "v1" in browser.text("#view .paged table") and "v2" in browser.text("#view .paged table"), what="two versions")
    browser.shot("assistant-detail.png")
    a = api(server, "GET", f"/assistants/{aid}")
    assert a["version"] == 2 and a["config"] == {"note": "edited"}

    browser.open("/assistants")
    browser.wait_text("#view table", "dash echo v2")
    browser.shot("assistants.png")

    # A thread with metadata, then a metadata search that finds only it.
    browser.open("/threads")
    form = browser.wait(lambda: browser.find("#thread-create"))
    form.find_element(By.NAME, "metadata").send_keys('{"customer": "acme"}')
    form.find_element(By.CSS_SELECTOR, "button").click()
    browser.wait(lambda: "/threads/" in browser.d.current_url, what="thread page")
    tid = browser.d.current_url.rsplit("/", 1)[1]
    browser.wait_text("#view", "acme")
    assert api(server, "GET", f"/threads/{tid}")["metadata"] == {"customer": "acme"}
    api(server, "POST", "/threads", {"metadata": {"customer": "other"}}, 201)
    browser.open("/threads")
    search = browser.wait(lambda: browser.find("#thread-search"))
    search.find_element(By.NAME, "metadata").send_keys('{"customer": "acme"}')
    search.find_element(By.CSS_SELECTOR, "button").click()
    browser.wait(lambda: "acme" in browser.text("#view table") and "other" not in browser.text("#view table"), what="search result")
    assert tid[:8] in browser.text("#view table")
    browser.shot("threads.png")


def test_echo_run_from_the_form_streams_live(server, browser):
    aid = api(server, "POST", "/assistants", {"name": "form echo", "graph_id": "echo"}, 201)["assistant_id"]
    browser.open(f"/new-run?assistant_id={aid}")
    f = browser.wait(lambda: browser.find("#new-run-form"))
    assert Select(f.find_element(By.NAME, "assistant_id")).first_selected_option.get_attribute("value") == aid
    f.find_element(By.NAME, "message").send_keys("hello from the dashboard")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#run-response", "echo: hello from the dashboard")
    browser.wait(lambda: browser.all('#run-events tr[data-event="run.completed"]'), what="run.completed event")
    events = [e.get_attribute("data-event") for e in browser.all("#run-events tbody tr")]
    assert events[0] == "run.started" and "node.completed" in events and events[-1] == "run.completed"
    ids = [int(e.get_attribute("data-id")) for e in browser.all("#run-events tbody tr")]
    assert ids == list(range(1, len(ids) + 1))
    browser.wait(lambda: browser.text("#run-status .badge") == "completed", what="completed badge")
    browser.wait(lambda: browser.find("#stream-state").get_attribute("data-state") == "closed", what="stream closed")
    run_id = browser.find(".run-view").get_attribute("data-run-id")
    run = api(server, "GET", f"/runs/{run_id}")
    assert run["status"] == "completed" and run["input"] == {"message": "hello from the dashboard"}

    browser.open(f"/runs/{run_id}")
    browser.wait_text("#run-response", "echo: hello from the dashboard")
    browser.wait(lambda: browser.find("#stream-state").get_attribute("data-state") == "closed", what="replayed")
    browser.shot("run-detail.png")

    # The thread: messages, its run, the state history.
    browser.open(f"/threads/{run['thread_id']}")
    browser.wait(lambda: len(browser.all(".messages .msg")) == 2, what="two messages")
    msgs = [m.text for m in browser.all(".messages .msg")]
    assert "hello from the dashboard" in msgs[0] and "echo: hello from the dashboard" in msgs[1]
    browser.wait_text("#view", "step 1")
    assert run_id[:8] in browser.text("#view")
    browser.shot("thread-detail.png")

    browser.open("/runs?status=completed")
    browser.wait_text("#view table", run_id[:8])
    assert "completed" in browser.text("#view table")
    browser.open("/runs?status=failed")
    browser.wait_text("#view", "No failed runs.")


def test_slow_run_streams_tokens_then_cancel(server, browser):
    aid = api(server, "POST", "/assistants", {"name": "slow agent", "graph_id": "agent", "config": {"model": "slow-40"}}, 201)["assistant_id"]
    tid = api(server, "POST", "/threads", {}, 201)["thread_id"]
    run = api(server, "POST", "/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "go"}}, 201)
    browser.open(f"/runs/{run['run_id']}")
    browser.wait(lambda: len(browser.all("#run-tokens .token")) >= 3, 20, "three streamed tokens")
    assert browser.text("#run-tokens").startswith("t0 t1 t2")
    browser.wait(lambda: browser.text("#run-status .badge") == "in progress", what="in progress badge")
    assert run_status(server, run["run_id"]) == "in_progress"
    browser.shot("run-streaming.png")
    browser.find("#cancel-run").click()
    browser.wait(lambda: browser.text("#run-status .badge") == "cancelled", 10, "cancelled badge")
    browser.wait(lambda: browser.all('#run-events tr[data-event="run.cancelled"]'), what="run.cancelled event")
    assert run_status(server, run["run_id"]) == "cancelled"
    assert len(browser.all("#run-tokens .token")) < 40
    assert not browser.all("#cancel-run")


def test_stream_resumes_after_the_api_restarts(server, browser):
    """Killing the api role mid-stream: the page reconnects with Last-Event-ID, every token once."""
    aid = api(server, "POST", "/assistants", {"name": "resume agent", "graph_id": "agent", "config": {"model": "slow-16"}}, 201)["assistant_id"]
    tid = api(server, "POST", "/threads", {}, 201)["thread_id"]
    run = api(server, "POST", "/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "go"}}, 201)
    browser.open(f"/runs/{run['run_id']}")
    browser.wait(lambda: len(browser.all("#run-tokens .token")) >= 2, 20, "two tokens")
    os.kill(server.roles()["api"], signal.SIGKILL)
    browser.wait(lambda: browser.text("#run-status .badge") == "completed", 40, "completed after reconnect")
    browser.wait(lambda: browser.find("#stream-state").get_attribute("data-state") == "closed", what="stream closed")
    assert browser.find("#run-tokens").get_attribute("textContent") == "".join(f"t{i} " for i in range(16))
    ids = [int(e.get_attribute("data-id")) for e in browser.all("#run-events tbody tr")]
    assert ids == list(range(1, len(ids) + 1)), ids
    assert "reconnected" in browser.text("#stream-state")
    server.wait_healthy()


def test_human_input_run_is_resumed_from_the_page(server, browser):
    aid = api(server, "POST", "/assistants", {"name": "approver", "config": {"graph": HUMAN_GRAPH}}, 201)["assistant_id"]
    tid = api(server, "POST", "/threads", {}, 201)["thread_id"]
    run = api(server, "POST", "/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "draft"}}, 201)
    browser.open(f"/runs/{run['run_id']}")
    form = browser.wait(lambda: browser.find("#resume-form"), 20)
    assert "Approve?" in form.text
    assert browser.text("#run-status .badge") == "requires action"
    browser.shot("run-human-input.png")
    form.find_element(By.NAME, "input").send_keys("approved")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.wait_text("#run-response", "echo: approved", 20)
    browser.wait(lambda: browser.text("#run-status .badge") == "completed", what="completed badge")
    assert not browser.all("#resume-form")
    assert api(server, "GET", f"/runs/{run['run_id']}")["output"]["response"] == "echo: approved"


def test_webhook_endpoint_test_delivery_and_disable(server, browser, receiver):
    browser.open("/webhooks")
    f = browser.wait(lambda: browser.find("#webhook-form"))
    f.find_element(By.NAME, "url").send_keys(receiver.url("/ok"))
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    secret = browser.wait(lambda: browser.text("#webhook-secret"))
    assert secret.startswith("whsec_")
    browser.wait_text("#view table", receiver.url("/ok"))
    browser.shot("webhooks.png")
    browser.find(f'#view table a[href^="#/webhooks/"]').click()
    browser.wait(lambda: browser.all("#test-webhook"))
    wid = browser.d.current_url.rsplit("/", 1)[1]
    browser.find("#test-webhook").click()
    browser.wait(lambda: "succeeded" in browser.text("#deliveries table"), 20, "succeeded delivery")
    row = browser.text("#deliveries table tbody tr")
    assert "ping" in row and "200" in row
    assert len(receiver.on("/ok")) == 1
    browser.find("#deliveries details summary").click()
    browser.wait(lambda: "DuraGraph test event" in browser.text("#deliveries"), what="payload")
    assert "200" in browser.text("#deliveries details table")
    browser.shot("webhook-deliveries.png")
    # Redeliver: a second attempt on the same delivery.
    browser.find("#deliveries button").click()
    wait_for(lambda: len(receiver.on("/ok")) == 2, 15, what="redelivery")
    hits = receiver.on("/ok")
    assert hits[0]["headers"]["webhook-id"] == hits[1]["headers"]["webhook-id"]
    browser.wait(lambda: "2" in [c.text for c in browser.all("#deliveries table tbody tr td[data-label=Attempts]")], 10, "2 attempts")
    # Disable.
    browser.find("#toggle-webhook").click()
    browser.wait(lambda: browser.text("h1 .badge") == "disabled", what="disabled badge")
    assert api(server, "GET", f"/webhooks/{wid}")["enabled"] is False
    browser.find("#toggle-webhook").click()
    browser.wait(lambda: browser.text("h1 .badge") == "enabled", what="enabled badge")
    assert api(server, "GET", f"/webhooks/{wid}")["enabled"] is True


class KeyProxy:
    """Stands in for AUTH_ENABLED: forwards to the server, answering 401 to any /api/, /threads or
    /metrics request without X-API-Key: <key>. Records every request path and key header."""

    def __init__(self, upstream, key):
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                outer.seen.append((self.command, self.path, self.headers.get("X-API-Key")))
                path = urlsplit(self.path).path
                if (path.startswith(("/api/", "/threads", "/metrics"))) and self.headers.get("X-API-Key") != key:
                    data = b'{"error":"unauthorized","message":"missing or invalid API key"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "x-api-key", "connection")}
                r = requests.request(self.command, upstream + self.path, data=body or None, headers=headers,
                                     stream=True, allow_redirects=False, timeout=60)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in r.raw.stream(1024, decode_content=False):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    r.close()
                self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_api_key_prompt_on_401_kept_in_session_storage_only(server, browser):
    aid = api(server, "POST", "/assistants", {"name": "keyed echo", "graph_id": "echo"}, 201)["assistant_id"]
    tid = api(server, "POST", "/threads", {}, 201)["thread_id"]
    run = api(server, "POST", "/runs", {"thread_id": tid, "assistant_id": aid, "input": {"message": "secret hello"}}, 201)
    wait_for(lambda: run_status(server, run["run_id"]) == "completed", 20, what="echo run")
    key = "dg-test-key-4711"
    proxy = KeyProxy(server.base, key)
    try:
        browser.open("/runs", base=proxy.base)
        browser.wait(lambda: browser.find("#key-dialog").is_displayed(), what="key prompt")
        assert "401" in browser.text("#key-reason")
        browser.shot("api-key-prompt.png")
        browser.find("#key-input").send_keys(key)
        browser.find("#key-form button[type=submit]").click()
        browser.wait_text("#view table", run["run_id"][:8])
        assert not browser.find("#key-dialog").is_displayed()
        # The run page streams with fetch() and the header (EventSource could not send it).
        browser.open(f"/runs/{run['run_id']}", base=proxy.base)
        browser.wait_text("#run-response", "echo: secret hello")
        browser.wait(lambda: browser.all('#run-events tr[data-event="run.completed"]'), what="events through the key")
        browser.open(f"/threads/{tid}", base=proxy.base)
        browser.wait_text("#view", "step 1")  # POST /threads/{id}/history with the key
        stored = browser.d.execute_script("return [sessionStorage.getItem('duragraph.apiKey'), JSON.stringify(localStorage), document.cookie]")
        assert stored == [key, "{}", ""]
        assert not any(key in path for _, path, _ in proxy.seen)
        assert any(p.startswith("/api/v1/runs/") and p.endswith("/stream") and k == key for _, p, k in proxy.seen)
        # A wrong key: the prompt comes back.
        browser.d.execute_script("sessionStorage.setItem('duragraph.apiKey', 'wrong')")
        browser.open("/assistants", base=proxy.base)
        browser.wait(lambda: browser.find("#key-dialog").is_displayed(), what="key prompt again")
        assert "rejected" in browser.text("#key-reason")
    finally:
        browser.d.execute_script("sessionStorage.clear()")
        proxy.close()


def test_narrow_window(server, browser):
    browser.d.set_window_size(420, 900)
    try:
        for route, needle in (("/runs", "completed"), ("/", "webhook-dispatcher")):
            browser.open(route)
            browser.wait_text("#view", needle)
            width = browser.d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1] + 1, width
        browser.open("/runs")
        browser.wait_text("#view", "completed")
        assert browser.find("#nav").is_displayed()
        browser.shot("runs-narrow.png")
    finally:
        browser.d.set_window_size(1280, 900)
    browser.open("/runs")
    browser.wait_text("#view", "completed")
    browser.shot("runs.png")
    assert browser.errors() == []


def test_dashboard_slash_serves_index(server):
    r = requests.get(server.base + "/dashboard/", allow_redirects=False, timeout=5)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    r = requests.get(server.base + "/dashboard", allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    assert requests.get(server.base + "/dashboard/../README.md", timeout=5).status_code == 404
