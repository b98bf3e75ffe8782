#!/usr/bin/env bash
# Runs a command with a throw-away S3-compatible server (moto's server mode, from PyPI, in the
# venv `scripts/setup.sh` makes at ~/.cache/cairn-s3) on a free loopback port, one bucket
# made in it, and its address in CAIRN_TEST_S3 (`http://127.0.0.1:<port>/<bucket>`); stops it
# when the command ends. moto implements S3's conditional writes (If-None-Match: * and
# If-Match: <etag> on PutObject), which cairn's remote refs rely on. Without the server,
# outside CI, the command runs without it and says so.
#
#   scripts/with-s3.sh cargo test --workspace
set -euo pipefail

venv="${CAIRN_S3_VENV:-$HOME/.cache/cairn-s3}"
server="$venv/bin/moto_server"
if [[ ! -x "$server" ]]; then
  if [[ -n "${CI:-}" ]]; then
    echo "with-s3: the S3 test server is not installed; run scripts/setup.sh" >&2
    exit 1
  fi
  echo "with-s3: the S3 test server is not installed (scripts/setup.sh installs it): the S3 remote tests are skipped" >&2
  exec "$@"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp "${TMPDIR:-/tmp}/cairn-s3.XXXXXX")"
"$server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop EXIT

bucket=cairn-test
for _ in $(seq 1 100); do
  if curl -fsS -X PUT "http://127.0.0.1:$port/$bucket" >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/$bucket" >/dev/null || { cat "$log" >&2; exit 1; }

export CAIRN_TEST_S3="http://127.0.0.1:$port/$bucket"
echo "with-s3: moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)') on 127.0.0.1:$port, bucket $bucket" >&2
status=0
"$@" || status=$?
exit "$status"
