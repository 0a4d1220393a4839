"""Crons: LangGraph's crons API, and each fire time makes exactly one run even with two schedulers."""
import uuid

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from conftest import psql, wait_for
from fake_llm import FakeLLM
from test_scheduler import Stack


@pytest.fixture(scope="module")
def stack():
    llm = FakeLLM()
    s = Stack(llm, schedulers=2)
    yield s
    s.close()
    llm.close()


def test_cron_api_round_trip(stack):
    c = get_sync_client(url=stack.api.base, api_key=None)
    t = c.threads.create()["thread_id"]
    cron = c.crons.create_for_thread(t, "echo", schedule="30 8 * * mon", timezone="Europe/Paris",
                                     input={"messages": [{"role": "user", "content": "weekly"}]}, metadata={"k": "v"})
    assert cron["thread_id"] == t and cron["schedule"] == "30 8 * * mon" and cron["timezone"] == "Europe/Paris"
    # 08:30 in Paris is 07:30 UTC in winter.
    assert cron["next_run_date"].endswith("T07:30:00.000000Z")
    stateless = c.crons.create("echo", schedule="*/5 * * * *")
    assert stateless["thread_id"] is None
    found = c.crons.search(thread_id=t)
    assert [x["cron_id"] for x in found] == [cron["cron_id"]]
    assert c.crons.count(thread_id=t) == 1
    upd = c.crons.update(cron["cron_id"], schedule="0 12 * * *", enabled=False)
    assert upd["schedule"] == "0 12 * * *" and upd["enabled"] is False and upd["next_run_date"].endswith("T11:00:00.000000Z")
    with pytest.raises(UnprocessableEntityError):
        c.crons.create("echo", schedule="not a cron")
    with pytest.raises(UnprocessableEntityError):
        c.crons.create("echo", schedule="* * * * *", timezone="Mars/Olympus")
    c.crons.delete(cron["cron_id"])
    c.crons.delete(stateless["cron_id"])
    with pytest.raises(NotFoundError):
        c.crons.delete(cron["cron_id"])


def test_due_cron_fires_exactly_once_with_two_schedulers(stack):
    c = get_sync_client(url=stack.api.base, api_key=None)
    t = c.threads.create()["thread_id"]
    # Once a year, made due now (rather than waiting): both schedulers race for this one fire time,
    # and the next one is far away, so any second run would be a double fire.
    cron = c.crons.create_for_thread(t, "echo", schedule="0 0 1 1 *", input={"messages": [{"role": "user", "content": "tick"}]})
    psql(f"UPDATE crons SET next_run_at = clock_timestamp() WHERE cron_id = '{cron['cron_id']}'", stack.url)
    wait_for(lambda: psql(f"SELECT count(*) FROM runs WHERE thread_id = '{t}' AND status = 'completed'", stack.url) == "1",
             20, what="the cron's run")
    import time
    time.sleep(2.5)   # several more ticks of both schedulers
    assert psql(f"SELECT count(*) FROM runs WHERE thread_id = '{t}'", stack.url) == "1"
    assert psql(f"SELECT count(*) FROM cron_fires WHERE cron_id = '{cron['cron_id']}'", stack.url) == "1"
    run = c.runs.list(t)[0]
    assert run["metadata"]["cron_id"] == cron["cron_id"] and run["status"] == "success"
    assert c.threads.get_state(t)["values"]["messages"][-1]["content"] == "echo: tick"
    nxt = c.crons.search(thread_id=t)[0]["next_run_date"]
    assert nxt > run["created_at"], "the next fire time moved on"
    c.crons.delete(cron["cron_id"])
