#!/usr/bin/env bash
# `just bench scan`: `cairn scan --file` against the Python peer (scripts/scan_peer.py: the
# `tokenizers` and `onnxruntime` packages) on the same deployed model.onnx + tokenizer.json
# and the same texts, batched the same way (file order, 64 per ONNX Runtime call, each batch
# padded to its longest text; the same number of ONNX Runtime threads).
# Goals: throughput >= 2x the Python pipeline; single-text p95 < 1 ms (the bag model).
# Each side reports its own figures, measured the same way inside the process (model
# loading excluded); whole-command wall times are printed too. Median of 3 runs, after a
# warm-up run of each.
set -euo pipefail
cairn=${1:?usage: bench-scan.sh <cairn binary>}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
store="$dir/store"
threads=$(nproc)

echo "training experiments/quickstart.toml into a scratch store..." >&2
(cd "$dir" && cp -r "$root/experiments" "$root/datasets" . && "$cairn" --store "$store" -q run experiments/quickstart.toml >&2)
"$cairn" --store "$store" -q deploy detector@1.0.0 --to "$dir/prod"
# The 20,150 base texts, one per line.
python3 - "$root/datasets/base" "$dir/texts.txt" <<'PY'
import glob, json, sys
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for path in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
        for line in open(path, encoding="utf-8"):
            out.write(json.loads(line)["text"].replace("\n", " ").replace("\r", " ") + "\n")
PY
n=$(wc -l < "$dir/texts.txt")
head -n 2000 "$dir/texts.txt" > "$dir/single.txt"

# "<texts/s> <p95 ms> <wall ms>" of one run.
measure() {
  local t0 t1 line
  t0=$(date +%s%N)
  line=$("$@" 2>&1 >/dev/null | grep '^scanned')
  t1=$(date +%s%N)
  echo "$line" | sed -E 's/.*: ([0-9]+) texts\/s; .* p95 ([0-9.]+) ms.*/\1 \2/' | tr '\n' ' '
  echo "$(( (t1 - t0) / 1000000 ))"
}
# The median of each figure over 3 runs, after one warm-up run (page cache, CPU clocks).
median3() {
  local runs=()
  measure "$@" >/dev/null
  for _ in 1 2 3; do runs+=("$(measure "$@")"); done
  for col in 1 2 3; do
    printf '%s\n' "${runs[@]}" | awk -v c=$col '{print $c}' | sort -g | sed -n 2p
  done | tr '\n' ' '
  echo
}
ours=(   "$cairn" --store "$store" scan --model detector@1.0.0 --threads "$threads")
peer=(   python3 "$root/scripts/scan_peer.py" --model "$dir/prod" --threads "$threads")
tuned=(  python3 "$root/scripts/scan_peer.py" --model "$dir/prod" --threads "$threads" --no-spinning)

read -r c_tps c_p95 c_wall <<<"$(median3 "${ours[@]}" --file "$dir/texts.txt" --batch 64)"
read -r p_tps p_p95 p_wall <<<"$(median3 "${peer[@]}" --file "$dir/texts.txt" --batch 64)"
read -r t_tps t_p95 t_wall <<<"$(median3 "${tuned[@]}" --file "$dir/texts.txt" --batch 64)"
read -r c1_tps c1_p95 c1_wall <<<"$(median3 "${ours[@]}" --file "$dir/single.txt" --batch 1)"
read -r p1_tps p1_p95 p1_wall <<<"$(median3 "${peer[@]}" --file "$dir/single.txt" --batch 1)"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "scan benchmark: bag model (detector@1.0.0), $n texts, batch 64, $threads ONNX Runtime thread(s); median of 3"
echo "  cairn scan                          ${c_tps} texts/s (whole command ${c_wall} ms)"
echo "  python tokenizers + onnxruntime     ${p_tps} texts/s (whole command ${p_wall} ms)"
echo "  the same, ORT spinning disabled     ${t_tps} texts/s (whole command ${t_wall} ms)"
echo "  throughput ratio                    $(ratio "$c_tps" "$p_tps")x against the Python pipeline (goal >= 2x), $(ratio "$c_tps" "$t_tps")x against it with spinning disabled"
echo "  whole-command ratio                 $(ratio "$p_wall" "$c_wall")x"
echo "single text (batch 1, 2000 texts)"
echo "  cairn scan p95                      ${c1_p95} ms (goal < 1 ms)"
echo "  python p95                          ${p1_p95} ms ($(ratio "$p1_p95" "$c1_p95")x cairn's)"
