"""AUTH_ENABLED: API keys (CLI and admin routes), HS256 JWTs, scopes, public paths; rate limits
shared by api processes through PostgreSQL; start-up refusal without any credential source."""
import subprocess
import time

import pytest
import requests

from authutil import apikey, create_key, jwt
from conftest import BIN, Process, fresh_database, wait_for
from native import assert_error

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ISSUER = "https://issuer.test"
AUDIENCE = "duragraph-tests"


def claims(**kw):
    now = int(time.time())
    c = {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def authed():
    db = fresh_database("auth")
    keys = {scope: create_key(db, f"{scope}-key", scope) for scope in ("read", "write", "admin")}
    p = Process("api", database_url=db, env={"AUTH_ENABLED": "true", "JWT_SECRET": SECRET, "JWT_ISSUER": ISSUER,
                                              "JWT_AUDIENCE": AUDIENCE, "RATE_LIMIT_ENABLED": "false"})
    try:
        p.wait_healthy()
        p.db = db
        p.keys = keys
        yield p
    finally:
        p.stop()


ROUTES = [  # (method, path, body): one per route class
    ("GET", "/api/v1/threads", None),
    ("POST", "/api/v1/threads", {}),
    ("DELETE", "/api/v1/threads/00000000-0000-4000-8000-000000000000", None),
    ("GET", "/api/v1/apikeys", None),
    ("GET", "/api/v1/no-such-route", None),
    ("GET", "/api/v1/openapi.json", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_every_route_class_needs_credentials(authed, method, path, body):
    r = requests.request(method, authed.base + path, json=body)
    b = assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "X-Request-ID" in r.headers
    assert "Authorization" in b["message"]
    for headers in ({"Authorization": "Bearer dg_wrongwrongwrongwrongwrongwrongwrongwrongwrong"},
                    {"X-API-Key": "dg_wrong"}, {"x-api-key": "not-a-key"}, {"Authorization": "Basic Zm9vOmJhcg=="},
                    {"Authorization": "Bearer"}):
        assert_error(requests.request(method, authed.base + path, json=body, headers=headers), 401, "unauthorized")


def test_public_paths_stay_open(authed):
    assert requests.get(authed.base + "/health").status_code == 200
    assert requests.get(authed.base + "/health/live").status_code == 200
    assert requests.get(authed.base + "/health/ready").status_code == 200
    r = requests.get(authed.base + "/metrics")
    assert r.status_code == 200 and "duragraph_" in r.text


def test_cors_for_studio_origin_even_with_auth(authed):
    """LangGraph Studio (a browser app on smith.langchain.com) attaches: its preflight is answered
    without credentials; its real requests still need a key and carry the CORS headers."""
    studio = "https://smith.langchain.com"
    pre = requests.options(authed.base + "/threads/search", headers={
        "Origin": studio, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-api-key"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == studio
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "content-type,x-api-key"
    denied = requests.post(authed.base + "/threads/search", json={}, headers={"Origin": studio})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == studio
    ok = requests.post(authed.base + "/threads/search", json={}, headers={"Origin": studio, "X-API-Key": authed.keys["write"][0]})
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == studio
    assert "Location" in ok.headers["Access-Control-Expose-Headers"]
    # Another origin: no CORS headers, and its preflight is not answered as one.
    evil = "https://evil.example"
    r = requests.post(authed.base + "/threads/search", json={}, headers={"Origin": evil, "X-API-Key": authed.keys["write"][0]})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    pre = requests.options(authed.base + "/threads/search", headers={"Origin": evil, "Access-Control-Request-Method": "POST"})
    assert pre.status_code != 204 and "Access-Control-Allow-Origin" not in pre.headers


def test_scopes_of_api_keys(authed):
    read, write, admin = (authed.keys[s][0] for s in ("read", "write", "admin"))
    # read: GET and HEAD only
    assert requests.get(authed.base + "/api/v1/threads", headers={"X-API-Key": read}).status_code == 200
    assert requests.head(authed.base + "/api/v1/threads", headers=bearer(read)).status_code == 200
    b = assert_error(requests.post(authed.base + "/api/v1/threads", json={}, headers={"x-api-key": read}), 403, "forbidden")
    assert b["details"] == {"required_scope": "write", "granted_scope": "read"}
    assert_error(requests.delete(authed.base + "/api/v1/threads/00000000-0000-4000-8000-000000000000",
                                 headers=bearer(read)), 403, "forbidden")
    assert_error(requests.get(authed.base + "/api/v1/apikeys", headers=bearer(read)), 403, "forbidden")
    # write: everything but admin routes
    r = requests.post(authed.base + "/api/v1/threads", json={}, headers=bearer(write))
    assert r.status_code == 201, r.text
    tid = r.json()["thread_id"]
    assert requests.delete(authed.base + f"/api/v1/threads/{tid}", headers={"X-API-Key": write}).status_code == 204
    assert_error(requests.get(authed.base + "/api/v1/apikeys", headers=bearer(write)), 403, "forbidden")
    assert_error(requests.post(authed.base + "/api/v1/apikeys", json={"name": "x"}, headers=bearer(write)), 403, "forbidden")
    # admin: everything
    assert requests.get(authed.base + "/api/v1/apikeys", headers=bearer(admin)).status_code == 200
    assert requests.post(authed.base + "/api/v1/threads", json={}, headers=bearer(admin)).status_code == 201
    # an authenticated request to an unknown path is a plain 404
    assert_error(requests.get(authed.base + "/api/v1/no-such-route", headers=bearer(read)), 404, "resource_not_found")


def test_admin_routes_create_list_revoke(authed):
    admin = authed.keys["admin"][0]
    r = requests.post(authed.base + "/api/v1/apikeys", json={"name": "via-api", "scope": "read"}, headers=bearer(admin))
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("dg_") and created["scope"] == "read" and created["revoked"] is False
    assert created["prefix"] == key[:11]
    assert requests.get(authed.base + "/api/v1/threads", headers=bearer(key)).status_code == 200
    listed = requests.get(authed.base + "/api/v1/apikeys?limit=100", headers=bearer(admin)).json()["data"]
    mine = [k for k in listed if k["key_id"] == created["key_id"]]
    assert len(mine) == 1 and "key" not in mine[0] and mine[0]["name"] == "via-api"
    assert all("key" not in k and "key_hash" not in k for k in listed)
    got = requests.get(authed.base + f"/api/v1/apikeys/{created['key_id']}", headers=bearer(admin))
    assert got.status_code == 200 and got.json()["revoked"] is False
    assert requests.delete(authed.base + f"/api/v1/apikeys/{created['key_id']}", headers=bearer(admin)).status_code == 204
    b = assert_error(requests.get(authed.base + "/api/v1/threads", headers=bearer(key)), 401, "unauthorized")
    assert key not in b["message"]
    got = requests.get(authed.base + f"/api/v1/apikeys/{created['key_id']}", headers=bearer(admin)).json()
    assert got["revoked"] is True and got["revoked_at"]
    assert_error(requests.delete(authed.base + "/api/v1/apikeys/00000000-0000-4000-8000-000000000000",
                                 headers=bearer(admin)), 404, "resource_not_found")
    assert_error(requests.post(authed.base + "/api/v1/apikeys", json={"name": "x", "scope": "root"}, headers=bearer(admin)),
                 422, "validation_error")


def test_cli_list_and_revoke(authed):
    key, key_id = create_key(authed.db, "cli-key", "write")
    assert requests.post(authed.base + "/api/v1/threads", json={}, headers={"X-API-Key": key}).status_code == 201
    listing = apikey(authed.db, "list").stdout
    line = next(l for l in listing.splitlines() if l.startswith(key_id))
    assert "\tcli-key\twrite\t" + key[:11] in line and line.endswith("\t-")
    assert key not in listing
    apikey(authed.db, "revoke", key_id)
    assert_error(requests.get(authed.base + "/api/v1/threads", headers={"X-API-Key": key}), 401, "unauthorized")
    line = next(l for l in apikey(authed.db, "list").stdout.splitlines() if l.startswith(key_id))
    assert not line.endswith("\t-")
    missing = apikey(authed.db, "revoke", "00000000-0000-4000-8000-000000000000", check=False)
    assert missing.returncode == 1 and "no API key" in missing.stderr
    bad = apikey(authed.db, "create", "--name", "x", "--scope", "root", check=False)
    assert bad.returncode == 2 and "--scope" in bad.stderr and bad.stdout == ""


def test_jwt_scopes_and_default(authed):
    base = authed.base
    write_default = jwt(claims(), SECRET)
    assert requests.post(base + "/api/v1/threads", json={}, headers=bearer(write_default)).status_code == 201
    assert_error(requests.get(base + "/api/v1/apikeys", headers=bearer(write_default)), 403, "forbidden")
    read = jwt(claims(scope="read"), SECRET)
    assert requests.get(base + "/api/v1/threads", headers=bearer(read)).status_code == 200
    assert_error(requests.post(base + "/api/v1/threads", json={}, headers=bearer(read)), 403, "forbidden")
    admin = jwt(claims(scope="read admin"), SECRET)
    assert requests.get(base + "/api/v1/apikeys", headers=bearer(admin)).status_code == 200
    # the LangGraph client's header carries a token as well
    assert requests.get(base + "/api/v1/threads", headers={"x-api-key": read}).status_code == 200


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "alg_none", "alg_none_unsigned", "hs512", "other_secret",
                                  "wrong_issuer", "wrong_audience", "tampered", "bad_scope", "garbage"])
def test_bad_jwts_are_401(authed, case):
    now = int(time.time())
    token = {
        "expired": lambda: jwt(claims(exp=now - 120), SECRET),
        "not_yet_valid": lambda: jwt(claims(nbf=now + 600), SECRET),
        "alg_none": lambda: jwt(claims(), SECRET, header={"alg": "none", "typ": "JWT"}),
        "alg_none_unsigned": lambda: jwt(claims(), SECRET, alg="none"),
        "hs512": lambda: jwt(claims(), SECRET, alg="HS512"),
        "other_secret": lambda: jwt(claims(), "another-secret-0123456789-abcdefghijklmnop"),
        "wrong_issuer": lambda: jwt(claims(iss="https://evil.test"), SECRET),
        "wrong_audience": lambda: jwt(claims(aud="someone-else"), SECRET),
        "tampered": lambda: (lambda t: t.split(".")[0] + "." + jwt(claims(scope="admin"), SECRET).split(".")[1] + "."
                             + t.split(".")[2])(jwt(claims(scope="read"), SECRET)),
        "bad_scope": lambda: jwt(claims(scope="superuser"), SECRET),
        "garbage": lambda: "a.b.c",
    }[case]()
    b = assert_error(requests.get(authed.base + "/api/v1/threads", headers=bearer(token)), 401, "unauthorized")
    assert token not in b["message"] and SECRET not in b["message"]


def test_small_clock_skew_is_tolerated(authed):
    token = jwt(claims(exp=int(time.time()) - 5, nbf=int(time.time()) + 5), SECRET)
    assert requests.get(authed.base + "/api/v1/threads", headers=bearer(token)).status_code == 200


def test_secrets_never_logged(authed):
    logs = authed.logs()
    assert SECRET not in logs
    for key, _ in authed.keys.values():
        assert key not in logs
    assert "status=401" in logs and "status=403" in logs


def test_start_refused_without_secret_or_keys():
    db = fresh_database("authcfg")
    for command in ("api", "serve"):
        p = Process(command, database_url=db, env={"AUTH_ENABLED": "true", "JWT_SECRET": ""})
        try:
            p.proc.wait(60)
        finally:
            p.stop()
        assert p.proc.returncode == 2, p.logs()
        assert "AUTH_ENABLED=true needs JWT_SECRET or at least one API key" in p.logs()
    # one API key is enough
    create_key(db, "first", "admin")
    p = Process("api", database_url=db, env={"AUTH_ENABLED": "true", "JWT_SECRET": ""})
    try:
        p.wait_healthy()
    finally:
        p.stop()


def test_short_jwt_secret_is_a_configuration_error():
    short = "too-short"
    p = subprocess.run([BIN, "api"], env={"AUTH_ENABLED": "true", "JWT_SECRET": short, "DATABASE_URL": "host=/nonexistent"},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "JWT_SECRET must be at least 32 bytes" in p.stderr and short not in p.stderr


# MARK: rate limits

def test_rate_limit_shared_by_two_api_processes():
    db = fresh_database("rl")
    key, _ = create_key(db, "limited", "read")
    other, _ = create_key(db, "other", "read")
    env = {"AUTH_ENABLED": "true", "JWT_SECRET": SECRET, "RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "6"}
    procs = [Process("api", database_url=db, env=env) for _ in range(2)]
    try:
        for p in procs:
            p.wait_healthy()
        remaining = []
        for i in range(6):
            r = requests.get(procs[i % 2].base + "/api/v1/threads", headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
            assert r.headers["X-RateLimit-Limit"] == "6"
            remaining.append(int(r.headers["X-RateLimit-Remaining"]))
            reset = int(r.headers["X-RateLimit-Reset"])
            assert time.time() - 5 < reset < time.time() + 6 * 60 + 5
        assert remaining == [5, 4, 3, 2, 1, 0]
        for p in procs:
            r = requests.get(p.base + "/api/v1/threads", headers={"X-API-Key": key})
            assert r.status_code == 429, r.text
            body = r.json()
            assert body["error"] == "rate_limit_exceeded" and body["message"] == "Too many requests"
            assert isinstance(body["details"], dict)
            assert 1 <= body["retry_after"] <= 60
            assert r.headers["Retry-After"] == str(body["retry_after"])
            assert r.headers["X-RateLimit-Remaining"] == "0"
        # another key has its own bucket; public paths are not limited
        assert requests.get(procs[0].base + "/api/v1/threads", headers={"X-API-Key": other}).status_code == 200
        for _ in range(10):
            r = requests.get(procs[1].base + "/health")
            assert r.status_code == 200 and "X-RateLimit-Remaining" not in r.headers
        # errors of handlers carry the headers too (a JWT subject gets its own bucket)
        r = requests.get(procs[0].base + "/api/v1/threads/00000000-0000-4000-8000-000000000000",
                         headers=bearer(jwt({"sub": "rl-user", "exp": int(time.time()) + 60}, SECRET)))
        assert r.status_code == 404 and r.headers["X-RateLimit-Remaining"] == "5"
    finally:
        for p in procs:
            p.stop()


def test_rate_limit_per_address_without_auth():
    db = fresh_database("rl")
    p = Process("api", database_url=db, env={"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_PER_MINUTE": "60",
                                              "RATE_LIMIT_BURST": "3"})
    try:
        p.wait_healthy()
        statuses = [requests.get(p.base + "/api/v1/assistants").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = requests.get(p.base + "/api/v1/assistants")
        assert r.status_code == 429 and r.json()["retry_after"] == 1 and r.headers["Retry-After"] == "1"
        # 60 per minute = one token a second
        time.sleep(1.2)
        assert requests.get(p.base + "/api/v1/assistants").status_code == 200
    finally:
        p.stop()
