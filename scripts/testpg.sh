#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: testpg.sh start|stop|restart DIR PORT
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
set -euo pipefail
cmd=$1 dir=$2 port=$3
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir/data" "$dir/sock"
      chmod 755 "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" "$dir/data" "$dir/sock"
      as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log"
    fi
    as "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
      -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null ;;
  stop) as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true ;;
  restart) as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart \
      -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null ;;
  *) echo "usage: $0 start|stop|restart DIR PORT" >&2; exit 2 ;;
esac
