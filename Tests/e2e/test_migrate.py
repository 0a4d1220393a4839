"""Migrations: versioned, applied once even when several processes start together."""
import subprocess

from conftest import BIN, fresh_database, psql


def test_three_concurrent_migrations_apply_each_version_once(tmp_path):
    url = fresh_database()
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([BIN, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    versions = psql("SELECT version FROM schema_migrations ORDER BY version", url).split()
    assert versions and len(versions) == len(set(versions))
    assert versions[0] == "1"
    applied = sum(o.count("migration applied") for o in outs)
    assert applied == len(versions), outs
    # A fourth run applies nothing.
    out = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "migration applied" not in out.stderr
    assert psql("SELECT count(*) FROM schema_migrations", url) == str(len(versions))


def test_migrate_without_database_fails():
    out = subprocess.run([BIN, "migrate"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.returncode == 2 and "DATABASE_URL" in out.stderr
