#!/usr/bin/env bash
# `just bench encoder`: the `bert` architecture (all-MiniLM-L6-v2, from `just fetch-encoder`)
#   1. fine-tuning throughput (examples/s, whole model trained, same rows, batch 16, texts
#      cut at 64 tokens, 2 threads) against PyTorch on CPU training the same checkpoint with
#      the same heads (scripts/bench_torch_bert.py, torch + transformers from PyPI in a venv
#      under ~/.cache; the tests never need them) -- reported as a ratio;
#   2. a frozen-encoder experiment run twice on the same rows: the first computes the frozen
#      layers' features, the second reads them from the store's cache (wall times, ratio);
#   3. `cairn scan` of the frozen version's ONNX export against the Python tokenizers +
#      onnxruntime pipeline on the same export (batched throughput, single-text p50/p95).
set -euo pipefail
cairn=${1:?usage: bench-encoder.sh <cairn binary>}
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/fetch-encoder.sh" >&2
enc="$root/encoders/all-minilm-l6-v2"
venv="${CAIRN_BENCH_VENV:-$HOME/.cache/cairn-torch}"
if ! "$venv/bin/python" -c "import torch, transformers" >/dev/null 2>&1; then
  echo "bench: installing torch and transformers (PyPI) into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.9.0 transformers tokenizers==0.22.2 numpy
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
threads=2
# 1,008 training rows (every 20th base row) and 100 test rows.
python3 - "$root/datasets" "$dir" <<'PY'
import glob, sys
src, out = sys.argv[1], sys.argv[2]
rows = [l for p in sorted(glob.glob(src + "/base/*.jsonl")) for l in open(p, encoding="utf-8")]
open(out + "/rows.jsonl", "w", encoding="utf-8").writelines(rows[::20])
open(out + "/test.jsonl", "w", encoding="utf-8").writelines(open(src + "/test.jsonl", encoding="utf-8").readlines()[::25])
PY
n=$(wc -l < "$dir/rows.jsonl")
experiment() { # version, epochs, learning rate, [train] extra lines, onnx
  cat > "$dir/$1.toml" <<TOML
[experiment]
name = "bench"
version = "$1"
[data]
base = ["rows.jsonl"]
test = "test.jsonl"
validation_split = 0.0
[tokenizer]
max_length = 64
[model]
architecture = "bert"
pretrained = { weights = "$enc/model.safetensors", config = "$enc/config.json", tokenizer = "$enc/tokenizer.json" }
[train]
seed = 1
epochs = $2
batch_size = 16
learning_rate = $3
threads = $threads
$4
[export]
onnx = $5
TOML
}
store="$dir/store"
wall() { local t0; t0=$(date +%s%N); "$@" >/dev/null 2>"$dir/wall.err" || { cat "$dir/wall.err" >&2; exit 1; }; echo $(( ($(date +%s%N) - t0) / 1000000 )); }
rate() { "$cairn" --store "$store" --json show "$1" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_examples_per_second"], 2))'; }

echo "1. fine-tuning all of bert (MiniLM-L6), $n rows, batch 16, max 64 tokens, $threads threads" >&2
experiment 1.0.0 1 0.00002 "" false
"$cairn" --store "$store" -q run "$dir/1.0.0.toml" >/dev/null
ours=$(rate bench@1.0.0)
theirs=$(TRANSFORMERS_VERBOSITY=error "$venv/bin/python" "$root/scripts/bench_torch_bert.py" --encoder "$enc" --data "$dir/rows.jsonl" --max-length 64 --batch 16 --threads "$threads")

echo "2. frozen encoder, first run and a second experiment on the same rows" >&2
experiment 2.0.0 10 0.01 "trainable_layers = 0" true
experiment 2.0.1 10 0.005 "trainable_layers = 0" true
first=$(wall "$cairn" --store "$store" run "$dir/2.0.0.toml")
second=$(wall "$cairn" --store "$store" run "$dir/2.0.1.toml")

echo "3. scan of the frozen version's ONNX export" >&2
"$cairn" --store "$store" -q deploy bench@2.0.0 --to "$dir/prod"
python3 - "$root/datasets/base" "$dir/texts.txt" <<'PY'
import glob, json, sys
rows = [json.loads(l)["text"] for p in sorted(glob.glob(sys.argv[1] + "/*.jsonl")) for l in open(p, encoding="utf-8")]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for t in rows[::10]:
        out.write(t.replace("\n", " ").replace("\r", " ") + "\n")
PY
head -n 300 "$dir/texts.txt" > "$dir/single.txt"
figures() { "$@" 2>&1 >/dev/null | grep '^scanned' | sed -E 's/.*: ([0-9]+) texts\/s; .* p50 ([0-9.]+) ms, p95 ([0-9.]+) ms.*/\1 \2 \3/'; }
read -r c_tps _ _ <<<"$(figures "$cairn" --store "$store" scan --model bench@2.0.0 --threads "$threads" --file "$dir/texts.txt" --batch 64)"
read -r p_tps _ _ <<<"$(figures python3 "$root/scripts/scan_peer.py" --model "$dir/prod" --threads "$threads" --file "$dir/texts.txt" --batch 64)"
read -r _ c50 c95 <<<"$(figures "$cairn" --store "$store" scan --model bench@2.0.0 --threads "$threads" --file "$dir/single.txt" --batch 1)"
read -r _ p50 p95 <<<"$(figures python3 "$root/scripts/scan_peer.py" --model "$dir/prod" --threads "$threads" --file "$dir/single.txt" --batch 1)"
texts=$(wc -l < "$dir/texts.txt")

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "encoder benchmark: bert (all-MiniLM-L6-v2, 22.7M parameters), $threads threads"
echo "  fine-tune, cairn (burn ndarray)      $ours examples/s"
echo "  fine-tune, PyTorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') CPU          $theirs examples/s"
echo "  ratio                                $(ratio "$ours" "$theirs")x PyTorch's throughput"
echo "  frozen encoder, first run            $first ms (computes the frozen features)"
echo "  frozen encoder, second experiment    $second ms (features from the store's cache; $(ratio "$first" "$second")x faster)"
echo "  scan batch 64 ($texts texts), cairn     $c_tps texts/s; python tokenizers + onnxruntime $p_tps texts/s ($(ratio "$c_tps" "$p_tps")x)"
echo "  scan single text (300), cairn        p50 $c50 ms, p95 $c95 ms"
echo "  scan single text (300), python       p50 $p50 ms, p95 $p95 ms"
