#!/usr/bin/env bash
# `just bench serve`: the HTTP API's read endpoints under load on loopback, over the store's
# SQLite file and over PostgreSQL (a throw-away cluster from scripts/with-postgres.sh), and
# `cairn reindex` time for a store of 1,000 runs into each.
#
# The store: the quickstart detector, a red-team test of it and the fine-tune that test
# caused (real runs), plus 1,000 run manifests made from the real one by changing its version
# and start time (so reindex reads 1,000 distinct runs). The load: ApacheBench (Debian's
# apache2-utils, installed if missing), a fixed number of keep-alive requests per endpoint at
# a fixed concurrency; requests/s, p50 and p99 latency, and errors (failed or non-2xx).
set -euo pipefail
cairn=${1:?usage: bench-serve.sh <cairn binary>}
root=$(cd "$(dirname "$0")/.." && pwd)
requests=${BENCH_REQUESTS:-2000}
concurrency=${BENCH_CONCURRENCY:-8}
runs=${BENCH_RUNS:-1000}
# The whole bench runs inside a throw-away PostgreSQL cluster.
if [[ -z "${BENCH_IN_CLUSTER:-}" ]]; then
  export BENCH_IN_CLUSTER=1
  exec "$root/scripts/with-postgres.sh" "$0" "$@"
fi

if ! command -v ab >/dev/null 2>&1; then
  echo "bench: installing ApacheBench (Debian package apache2-utils)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2-utils >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2-utils >/dev/null; }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'kill "$(cat "$dir/serve.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
export CAIRN_STORE="$dir/store"
unset CAIRN_DB

echo "bench: training the quickstart detector, red-teaming and retraining it (not timed)" >&2
"$cairn" -q run "$root/experiments/quickstart.toml" >/dev/null
"$cairn" --json redteam run --suite "$root/suites/default.toml" --all > "$dir/test.json"
result=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$dir/test.json")
"$cairn" -q redteam retrain "${result#blake3:}" >/dev/null || true

echo "bench: adding $runs run manifests" >&2
run=$("$cairn" --json show detector@1.0.0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
mkdir "$dir/runs"
"$cairn" cat "$run" > "$dir/run.json"
python3 - "$dir" "$runs" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
run = json.load(open(f"{d}/run.json", encoding="utf-8"))
for i in range(n):
    run["version"] = f"9.{i // 100}.{i % 100}"
    run["started"] = f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
    with open(f"{d}/runs/{i:04d}.json", "w", encoding="utf-8") as f:
        json.dump(run, f, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
PY
"$cairn" -q add "$dir"/runs/*.json >/dev/null

# The median wall time of three `cairn reindex`, in seconds, and the runs it indexed.
reindex() {
  python3 - "$cairn" <<'PY'
import json, statistics, subprocess, sys, time
times, summary = [], None
for _ in range(3):
    t = time.perf_counter()
    out = subprocess.run([sys.argv[1], "--json", "reindex"], check=True, capture_output=True)
    times.append(time.perf_counter() - t)
    summary = json.loads(out.stdout)
print(f"{statistics.median(times):.3f} {summary['runs']}")
PY
}

# Starts `cairn serve` on a free port (its pid in serve.pid); prints its address.
serve() {
  "$cairn" serve --addr 127.0.0.1:0 --suite "$root/suites/default.toml" > "$dir/serve.out" 2>/dev/null &
  echo $! > "$dir/serve.pid"
  for _ in $(seq 100); do
    if grep -q "listening on" "$dir/serve.out" 2>/dev/null; then
      sed -n 's|listening on http://||p' "$dir/serve.out"
      return
    fi
    sleep 0.1
  done
  echo "bench: cairn serve did not start" >&2
  exit 1
}

# ApacheBench's report on stdin -> `<backend> <endpoint> <requests/s> <p50 ms> <p99 ms> <errors> <bytes>`.
cat > "$dir/parse.py" <<'PY'
import re, sys
out = sys.stdin.read()
def grab(pattern, default="0"):
    m = re.search(pattern, out, re.M)
    return m.group(1) if m else default
errors = int(grab(r"^Failed requests:\s+(\d+)")) + int(grab(r"^Non-2xx responses:\s+(\d+)"))
print(sys.argv[1], sys.argv[2], grab(r"^Requests per second:\s+([\d.]+)"),
      grab(r"^\s+50%\s+(\d+)"), grab(r"^\s+99%\s+(\d+)"), errors,
      grab(r"^Document Length:\s+(\d+)"))
PY

# One line per read endpoint.
load() {
  local backend=$1 addr endpoint
  addr=$(serve)
  for endpoint in /health /red-team/tests /model/failures /retraining/logs /runs; do
    # A warm-up pass, then the measured one.
    ab -q -k -n 50 -c 2 "http://$addr$endpoint" >/dev/null
    ab -q -k -n "$requests" -c "$concurrency" "http://$addr$endpoint" |
      python3 "$dir/parse.py" "$backend" "$endpoint"
  done
  kill "$(cat "$dir/serve.pid")"
  wait 2>/dev/null || true
}

echo "bench: reindex and load over SQLite" >&2
read -r sqlite_reindex indexed < <(reindex)
load sqlite > "$dir/results"

if [[ -n "${CAIRN_TEST_POSTGRES:-}" ]]; then
  echo "bench: reindex and load over PostgreSQL" >&2
  psql "$CAIRN_TEST_POSTGRES" -qc "CREATE DATABASE bench"
  export CAIRN_DB="${CAIRN_TEST_POSTGRES%/*}/bench"
  read -r pg_reindex _ < <(reindex)
  load postgres >> "$dir/results"
else
  echo "bench: no PostgreSQL here (scripts/setup.sh installs it): SQLite only" >&2
  pg_reindex=0
fi

python3 - "$dir/results" "$indexed" "$sqlite_reindex" "$pg_reindex" "$requests" "$concurrency" <<'PY'
import sys
path, indexed, sq, pg, n, c = sys.argv[1:]
rows = [line.split() for line in open(path)]
print(f"cairn reindex of {indexed} runs: SQLite {float(sq):.2f} s, PostgreSQL {float(pg):.2f} s (median of 3)")
print(f"{n} keep-alive requests per endpoint, {c} at a time, on loopback:")
print(f"{'database':<10} {'endpoint':<18} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'bytes':>8}")
for backend, endpoint, rps, p50, p99, errors, size in rows:
    print(f"{backend:<10} {endpoint:<18} {float(rps):>9.0f} {p50:>7} {p99:>7} {errors:>7} {size:>8}")
by = {(b, e): float(r) for b, e, r, *_ in rows}
for e in sorted({e for _, e in by}):
    if ("sqlite", e) in by and ("postgres", e) in by and by[("postgres", e)] > 0:
        print(f"SQLite/PostgreSQL throughput on {e}: {by[('sqlite', e)] / by[('postgres', e)]:.2f}x")
if any(int(r[5]) for r in rows):
    sys.exit("bench: some requests failed")
PY
