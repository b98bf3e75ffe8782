#!/usr/bin/env bash
# `just bench redteam`: the red-team cycle on three models, one of which passes the suite
# (the quickstart bag model, the same bag model at a threshold chosen for 5 % validation
# FPR, and the frozen-MiniLM detector from `just fetch-encoder`):
#   cycle       `cairn redteam run` + `cairn redteam retrain` (fine-tunes only the models
#               that failed, each on its own failures plus a base sample, then re-tests them);
#   retrain-all the scripted way: retrain all three from scratch on their base data plus
#               every model's failures, then re-test all three.
# Wall time of each (model set-up excluded), the ratio, and detection before/after per model.
set -euo pipefail
cairn=${1:?usage: bench-redteam.sh <cairn binary>}
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/fetch-encoder.sh" >&2
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/experiments"
ln -s "$root/datasets" "$dir/datasets"
ln -s "$root/encoders" "$dir/encoders"
export CAIRN_STORE="$dir/store"
sensitive() { sed -e 's/^name = "detector"/name = "detector-sensitive"/' "$root/experiments/quickstart.toml"; printf '\n[evaluate]\ntarget_fpr = 0.05\n'; }
cp "$root/experiments/quickstart.toml" "$dir/experiments/detector.toml"
sensitive > "$dir/experiments/detector-sensitive.toml"
cp "$root/experiments/encoder.toml" "$dir/experiments/detector-minilm.toml"
models=(detector detector-sensitive detector-minilm)
echo "bench: training the three models (not timed)" >&2
for m in "${models[@]}"; do
  "$cairn" -q run "$dir/experiments/$m.toml" >/dev/null
done
refs=$(IFS=,; echo "${models[*]/%/@1.0.0}")
suite="$root/suites/default.toml"

echo "bench: cycle (test, retrain only the failing, re-test)" >&2
t0=$(date +%s.%N)
"$cairn" --json redteam run --suite "$suite" --models "$refs" > "$dir/test.json"
result=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$dir/test.json")
"$cairn" --json redteam retrain "${result#blake3:}" > "$dir/retrain.json" || true
t1=$(date +%s.%N)

echo "bench: retrain-all (every model from scratch on base + all failures, re-test all)" >&2
"$cairn" cat "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["attack_set"])' "$dir/test.json")" > "$dir/attacks.jsonl"
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
rows = open(f"{d}/attacks.jsonl", encoding="utf-8").read().splitlines()
test = json.load(open(f"{d}/test.json"))
missed = sorted({f["row"] for m in test["models"] for f in m["missed"]})
open(f"{d}/experiments/failures.jsonl", "w", encoding="utf-8").write("".join(rows[i] + "\n" for i in missed))
PY
t2=$(date +%s.%N)
for m in "${models[@]}"; do
  sed -e 's/^version = "1.0.0"/version = "2.0.0"/' \
      -e 's|^base = \["../datasets/base"\]|base = ["../datasets/base"]\nadditions = ["failures.jsonl"]\nnew_data_boost = 2.0|' \
      "$dir/experiments/$m.toml" > "$dir/experiments/$m-all.toml"
  "$cairn" -q run "$dir/experiments/$m-all.toml" >/dev/null || true
done
refs_all=$(IFS=,; echo "${models[*]/%/@2.0.0}")
"$cairn" --json redteam run --suite "$suite" --models "$refs_all" > "$dir/all.json"
t3=$(date +%s.%N)

python3 - "$dir" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
d, t0, t1, t2, t3 = sys.argv[1], *map(float, sys.argv[2:])
test = json.load(open(f"{d}/test.json"))
retrain = json.load(open(f"{d}/retrain.json"))
after_all = {m["ref"].split("@")[0]: m for m in json.load(open(f"{d}/all.json"))["models"]}
cycle, everything = t1 - t0, t3 - t2
print(f"red-team cycle on 3 models: {cycle:.1f} s; retrain-all: {everything:.1f} s; retrain-all / cycle = {everything / cycle:.2f}x")
print(f"{'model':<28} {'failures':>8} {'before':>8} {'cycle after':>12} {'status':>12} {'retrain-all after':>18}")
for m in test["models"]:
    name = m["ref"].split("@")[0]
    r = next((r for r in retrain["retrained"] if r["ref"] == m["ref"]), None)
    after = "skipped" if r is None else (f"{r['detection_after']:.3f}" if r.get("detection_after") is not None else "-")
    status = "skipped" if r is None else r["status"]
    print(f"{m['ref']:<28} {m['failures']:>8} {m['detection_rate']:>8.3f} {after:>12} {status:>12} {after_all[name]['detection_rate']:>18.3f}")
PY
