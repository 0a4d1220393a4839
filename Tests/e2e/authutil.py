"""Helpers of the auth tests: HS256 JWTs written with the standard library, and the apikey CLI."""
import base64
import hashlib
import hmac
import json
import os
import subprocess

from conftest import BIN


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret, alg="HS256", header=None):
    h = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())
    if alg == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return signing_input + "." + b64url(hmac.new(secret.encode(), signing_input.encode(), digest).digest())


def apikey(database_url, *args, check=True):
    """Runs `duragraph apikey ARGS`; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "JWT_", "RATE_LIMIT_"))}
    env["DATABASE_URL"] = database_url
    p = subprocess.run([BIN, "apikey", *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def create_key(database_url, name, scope):
    p = apikey(database_url, "create", "--name", name, "--scope", scope)
    key = p.stdout.strip()
    assert key.startswith("dg_") and len(key) == 46, p.stdout
    key_id = p.stderr.split("created API key ", 1)[1].split()[0]
    return key, key_id
