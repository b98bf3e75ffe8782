#!/usr/bin/env bash
# `just bench validate`: `cairn validate` on a 1M-line JSONL file against the Python script a
# team would write (json.loads per line plus the same range checks), in one command.
set -euo pipefail
cairn=${1:?usage: bench-validate.sh <cairn binary>}
lines=${BENCH_LINES:-1000000}
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
file="$dir/big.jsonl"

# Rows of the project's own datasets, made unique by a counter.
python3 - "$file" "$lines" <<'PY'
import json, sys, glob
rows = [json.loads(l) for f in sorted(glob.glob("datasets/base/*.jsonl")) for l in open(f)]
out, n = sys.argv[1], int(sys.argv[2])
with open(out, "w") as f:
    for i in range(n):
        r = dict(rows[i % len(rows)])
        r["text"] = f"{r['text']} #{i}"
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
cat >"$dir/peer.py" <<'PY'
import json, sys
families = ["benign", "PI", "JB", "CMD", "PII", "ENC", "RAG", "HC"]
contexts = ["conversational", "technical", "educational", "business", "creative", "attack"]
seen, problems = {}, 0
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    r = json.loads(line)
    ok = (isinstance(r.get("text"), str) and r["text"].strip() and r.get("label") in (0, 1)
          and r.get("family") in families and families.index(r["family"]) == r.get("family_idx")
          and r.get("context") in contexts and contexts.index(r["context"]) == r.get("context_idx")
          and 0 <= r.get("severity_score", -1) <= 1 and 0 <= r.get("confidence", -1) <= 1
          and r.get("weight_multiplier", 0) > 0 and isinstance(r.get("source"), str)
          and (r["label"] == 0) == (r["family"] == "benign"))
    key = " ".join(r["text"].lower().split())
    if not ok or key in seen:
        problems += 1
    seen[key] = r["label"]
print(f"{n} lines, {problems} problems")
PY
now() { date +%s%N; }
t=$(now); "$cairn" validate "$file" >/dev/null; c=$(( $(now) - t ))
t=$(now); python3 "$dir/peer.py" "$file" >/dev/null; p=$(( $(now) - t ))
awk -v c="$c" -v p="$p" -v n="$lines" 'BEGIN {
  printf "validate benchmark, %d lines\n", n
  printf "  cairn validate        %8.0f ms  (%.0f lines/s)\n", c/1e6, n/(c/1e9)
  printf "  python json + checks  %8.0f ms\n", p/1e6
  printf "ratio: cairn validate is %.1fx faster than the Python script\n", p/c
}'
