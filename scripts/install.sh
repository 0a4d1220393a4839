#!/usr/bin/env bash
# Installs DuraGraph on a Debian host with systemd (run as root from the source tree):
#   scripts/install.sh [--binary PATH] [--no-build] [--prefix /usr/local] [--no-start]
# Builds a release binary (unless --binary/--no-build), installs it, the systemd units, the
# documented configuration (kept if already present) and the docs; creates the `duragraph`
# system user and /var/lib/duragraph. Starts `duragraph serve` unless --no-start.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local binary="" build=1 start=1
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=$2; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    --prefix) prefix=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "systemd (systemctl) is required" >&2; exit 1; }

scripts/deps.sh
if [ -z "$binary" ]; then
  [ -d /opt/swift/usr/bin ] && export PATH="/opt/swift/usr/bin:$PATH"
  [ $build -eq 1 ] && swift build -c release --product duragraph
  binary=.build/release/duragraph
fi
[ -x "$binary" ] || { echo "no binary at $binary" >&2; exit 1; }

# The service user: no login, no home outside the data directory.
getent group duragraph >/dev/null || groupadd --system duragraph
getent passwd duragraph >/dev/null || useradd --system --gid duragraph --home-dir /var/lib/duragraph \
  --shell /usr/sbin/nologin --comment "DuraGraph" duragraph

install -m 0755 "$binary" "$prefix/bin/duragraph"
install -d -o duragraph -g duragraph -m 0750 /var/lib/duragraph
install -d -m 0755 /etc/duragraph
if [ ! -e /etc/duragraph/duragraph.env ]; then
  install -m 0640 -o root -g duragraph etc/duragraph.env.example /etc/duragraph/duragraph.env
else
  echo "keeping the existing /etc/duragraph/duragraph.env (compare with etc/duragraph.env.example)"
fi
for u in systemd/duragraph.service systemd/duragraph.socket systemd/duragraph-role@.service systemd/duragraph-roles.target; do
  sed "s#/usr/local/bin/duragraph#$prefix/bin/duragraph#" "$u" > "/etc/systemd/system/$(basename "$u")"
  chmod 0644 "/etc/systemd/system/$(basename "$u")"
done
install -d -m 0755 "$prefix/share/doc/duragraph"
install -m 0644 docs/*.md "$prefix/share/doc/duragraph/"
systemctl daemon-reload

# Apply migrations now when an external database is configured (the service also does at start).
if grep -Eq '^[[:space:]]*(export[[:space:]]+)?DATABASE_URL=' /etc/duragraph/duragraph.env; then
  runuser -u duragraph -- "$prefix/bin/duragraph" --config /etc/duragraph/duragraph.env migrate
fi
if [ $start -eq 1 ]; then
  systemctl enable duragraph.service
  systemctl restart duragraph.service
  systemctl --no-pager status duragraph.service | head -n 5 || true
fi
echo "installed $prefix/bin/duragraph ($("$prefix/bin/duragraph" --version))"
