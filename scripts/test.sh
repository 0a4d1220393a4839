#!/usr/bin/env bash
# Runs every test: installs what it needs, builds, starts a throwaway PostgreSQL, runs the Swift
# tests and the end-to-end tests (Python, real processes, real PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -d /opt/swift/usr/bin ] && export PATH="/opt/swift/usr/bin:$PATH"
scripts/deps.sh python3-venv prometheus chromium chromium-driver systemd

# Python tools for the end-to-end tests.
if [ ! -x .venv/bin/pytest ] || ! cmp -s tests-requirements.txt .venv/.requirements; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests-requirements.txt
  cp tests-requirements.txt .venv/.requirements
fi

swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
swift build --build-tests -q   # fails the script on a build error

work=$(mktemp -d /tmp/duragraph-test.XXXXXX)
chmod 755 "$work"
port=$(( 20000 + RANDOM % 20000 ))
cleanup() { scripts/testpg.sh stop "$work/pg" "$port"; rm -rf "$work" 2>/dev/null || true; }
trap cleanup EXIT
scripts/testpg.sh start "$work/pg" "$port"

export DURAGRAPH_TEST_PG_URL="host=$work/pg/sock port=$port user=postgres dbname=postgres"
export DURAGRAPH_TEST_PG_CTL="$root/scripts/testpg.sh"
export DURAGRAPH_TEST_PG_DIR="$work/pg"
export DURAGRAPH_TEST_PG_PORT="$port"
export DURAGRAPH_BIN="$root/.build/debug/duragraph"
export DURAGRAPH_TEST_TMP="$work"

swift test --skip-build
.venv/bin/pytest -q -p no:cacheprovider Tests/e2e "$@"
