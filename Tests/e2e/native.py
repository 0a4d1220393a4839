"""Helpers shared by the native API suites (test_api_*.py, test_auth.py): the error shape,
keyset pagination, and the database an api process runs against."""
import re

import requests

V1 = "/api/v1"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_error(r, status, code, field=None):
    """The native error shape {error, message, details}, with this status, code and (for 422)
    details.field."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error", "message", "details"}, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["details"], dict), body
    if field is not None:
        assert body["details"].get("field") == field, body
    return body


def db_url(api):
    """The DATABASE_URL the api process runs against (for checks the API cannot make)."""
    with open(f"/proc/{api.pid}/environ", "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    return env[b"DATABASE_URL"].decode()


def walk(api, path, params, on_page=None, max_pages=1000):
    """Every item of a paginated list, following next_cursor; on_page(n) runs after page n."""
    items, cursor, pages = [], None, 0
    while True:
        p = dict(params, **({"cursor": cursor} if cursor else {}))
        r = requests.get(api.base + path, params=p)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "has_more", "next_cursor"}, body
        items += body["data"]
        pages += 1
        if on_page:
            on_page(pages)
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return items, pages
        assert isinstance(body["next_cursor"], str) and body["next_cursor"]
        cursor = body["next_cursor"]
        assert pages < max_pages
