#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL cluster on a free loopback port, its admin URL in
# CAIRN_TEST_POSTGRES, and stops and deletes the cluster when the command ends (however it
# ends). The server runs as an unprivileged user: the Debian package's `postgres` when this
# runs as root, the caller otherwise. PostgreSQL comes from Debian's packages (`scripts/setup.sh`
# installs it); without it, outside CI, the command runs with SQLite only and says so.
#
#   scripts/with-postgres.sh cargo test --workspace
set -euo pipefail

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      echo "$dir"
      return
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

bin="$(find_bin)"
if [[ -z "$bin" ]]; then
  if [[ -n "${CI:-}" ]]; then
    echo "with-postgres: PostgreSQL is not installed; run scripts/setup.sh" >&2
    exit 1
  fi
  echo "with-postgres: PostgreSQL is not installed (scripts/setup.sh installs it): the tracking tests run against SQLite only" >&2
  exec "$@"
fi

as_user=()
if [[ "$(id -u)" == 0 ]]; then
  # PostgreSQL refuses to run as root.
  as_user=(runuser -u postgres --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/cairn-pg.XXXXXX")"
chmod 755 "$dir"
if [[ ${#as_user[@]} -gt 0 ]]; then
  chown postgres: "$dir"
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  "${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_user[@]}" "$bin/initdb" -D "$dir/data" -U cairn --auth=trust --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# Loopback only, the socket in the cluster's own folder, fsync off: a test cluster.
"${as_user[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }

export CAIRN_TEST_POSTGRES="postgres://cairn@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
status=0
"$@" || status=$?
exit "$status"
