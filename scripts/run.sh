#!/usr/bin/env bash
# Builds DuraGraph (release) and runs `duragraph serve`. Without DATABASE_URL it starts its own
# PostgreSQL under DURAGRAPH_DATA_DIR (default ./.duragraph). Extra arguments go to duragraph.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d /opt/swift/usr/bin ] && export PATH="/opt/swift/usr/bin:$PATH"
scripts/deps.sh
swift build -c release --product duragraph
exec .build/release/duragraph "$@" serve
