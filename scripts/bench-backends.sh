#!/usr/bin/env bash
# `just bench backends`: training throughput (examples/s, as each run records it) of the
# bag, transformer and bert architectures on every backend of one cairn build with the wgpu
# and tch features: ndarray, wgpu (on the machine's default adapter: Mesa's lavapipe where
# there is no GPU) and tch (libtorch's CPU device, or `CAIRN_BENCH_TCH_DEVICE=cuda:0`), as
# ratios to ndarray. Same rows, seed, batch and thread count everywhere; bert is
# all-MiniLM-L6-v2 from `just fetch-encoder`, fine-tuned whole. The wgpu and tch runs may
# use binaries of their own (built with one feature each), given as the second and third
# arguments; the store is the same.
set -euo pipefail
cairn=${1:?usage: bench-backends.sh <cairn built with --features wgpu,tch> [<cairn with wgpu>] [<cairn with tch>]}
declare -A bin=([ndarray]=$cairn [wgpu]=${2:-$cairn} [tch]=${3:-$cairn})
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/fetch-encoder.sh" >&2
enc="$root/encoders/all-minilm-l6-v2"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
store="$dir/store"
threads=2
rows=${CAIRN_BENCH_ROWS:-600}
python3 - "$root/datasets" "$dir" "$rows" <<'PY'
import glob, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [l for p in sorted(glob.glob(src + "/base/*.jsonl")) for l in open(p, encoding="utf-8")]
step = max(1, len(rows) // n)
open(out + "/rows.jsonl", "w", encoding="utf-8").writelines(rows[::step][:n])
open(out + "/test.jsonl", "w", encoding="utf-8").writelines(open(src + "/test.jsonl", encoding="utf-8").readlines()[::50])
PY
model() { # architecture → its [model] and [tokenizer] lines
  case $1 in
    bag) printf '[model]\narchitecture = "bag"\nembed_dim = 64\nhidden = 128\nbuckets = 32768\n' ;;
    transformer) printf '[model]\narchitecture = "transformer"\nd_model = 64\nheads = 4\nlayers = 2\nd_ff = 128\n' ;;
    bert) printf '[tokenizer]\nmax_length = 64\n[model]\narchitecture = "bert"\npretrained = { weights = "%s/model.safetensors", config = "%s/config.json", tokenizer = "%s/tokenizer.json" }\n' "$enc" "$enc" "$enc" ;;
  esac
}
experiment() { # architecture, backend, device
  local device=""
  [[ -n "$3" ]] && device="device = \"$3\""
  cat > "$dir/$1-$2.toml" <<TOML
[experiment]
name = "$1-$2"
version = "1.0.0"
[data]
base = ["rows.jsonl"]
test = "test.jsonl"
validation_split = 0.0
$(model "$1")
[train]
seed = 1
epochs = 1
batch_size = 16
learning_rate = $([[ $1 == bert ]] && echo 0.00002 || echo 0.002)
threads = $threads
backend = "$2"
$device
[export]
onnx = false
TOML
}
rate() { "$cairn" --store "$store" --json show "$1@1.0.0" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_examples_per_second"], 2))'; }
hardware() { "$cairn" --store "$store" --json show "$1@1.0.0" | python3 -c 'import json,sys; h=json.load(sys.stdin).get("hardware") or {}; print(h.get("name","?"), "/", h.get("detail","?"))'; }
declare -A got
for arch in bag transformer bert; do
  for backend in ndarray wgpu tch; do
    device=""
    [[ $backend == tch ]] && device=${CAIRN_BENCH_TCH_DEVICE:-}
    experiment "$arch" "$backend" "$device"
    echo "bench: $arch on $backend" >&2
    "${bin[$backend]}" --store "$store" -q run "$dir/$arch-$backend.toml" >/dev/null
    got[$arch-$backend]=$(rate "$arch-$backend")
  done
done
echo "backends benchmark: training examples/s, $rows rows, 1 epoch, batch 16, $threads threads"
for backend in ndarray wgpu tch; do
  echo "  $backend on $(hardware "bag-$backend")"
done
printf '  %-12s %12s %20s %20s\n' architecture ndarray "wgpu (× ndarray)" "tch (× ndarray)"
for arch in bag transformer bert; do
  n=${got[$arch-ndarray]}
  w=${got[$arch-wgpu]}
  t=${got[$arch-tch]}
  printf '  %-12s %12s %20s %20s\n' "$arch" "$n" "$w ($(python3 -c "print(f'{$w/$n:.2f}')")×)" "$t ($(python3 -c "print(f'{$t/$n:.2f}')")×)"
done
