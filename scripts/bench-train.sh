#!/usr/bin/env bash
# `just bench train`, in one command on one store:
#   1. training throughput (examples/s) of both architectures on ndarray;
#   2. the weekly update: the incremental experiment (fine-tune on the additions plus a base
#      sample) against retraining the same data (full base + additions) from scratch.
set -euo pipefail
cairn=${1:?usage: bench-train.sh <cairn binary>}
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export CAIRN_STORE="$dir/store"
cd "$dir"
cp "$repo/experiments/quickstart.toml" "$repo/experiments/incremental.toml" .
sed -i "s|\.\./datasets|$repo/datasets|g" quickstart.toml incremental.toml

# The transformer at the sizes a user would start from, one epoch for throughput.
sed -e 's/^version = .*/version = "0.0.1-transformer"/' \
    -e 's/^architecture = "bag".*/architecture = "transformer"\nd_model = 64\nheads = 4\nlayers = 2\nd_ff = 128/' \
    -e '/^embed_dim\|^hidden\|^buckets/d' -e 's/^epochs = .*/epochs = 1/' quickstart.toml >transformer.toml
# Retrain-all: the incremental experiment's data (full base + additions), from scratch.
sed -e 's/^version = .*/version = "1.1.0-retrain"/' -e '/^parent/d' -e '/^base_sample/d' \
    -e 's/^epochs = .*/epochs = 4/' -e 's/^learning_rate = .*/learning_rate = 0.002/' incremental.toml >retrain.toml

now() { date +%s%N; }
timed() { local t; t=$(now); "$cairn" -q run "$1" >/dev/null; echo $(( ($(now) - t) / 1000000 )); }
rate() { "$cairn" --json show "$1" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_examples_per_second"]))'; }

echo "bench: quickstart (bag, full retrain)" >&2
q=$(timed quickstart.toml)
echo "bench: transformer (1 epoch)" >&2
timed transformer.toml >/dev/null
echo "bench: incremental (fine-tune)" >&2
i=$(timed incremental.toml)
echo "bench: retrain the same data from scratch" >&2
r=$(timed retrain.toml)

echo "train benchmark (ndarray, $(nproc) cores)"
echo "  throughput  bag          $(rate detector@1.0.0) examples/s"
echo "              transformer  $(rate detector@0.0.1-transformer) examples/s"
echo "  quickstart (retrain, 4 epochs)        ${q} ms"
echo "  incremental (fine-tune, 1 epoch)      ${i} ms"
echo "  retrain base + additions from scratch ${r} ms"
awk -v i="$i" -v r="$r" 'BEGIN { printf "ratio: incremental is %.1fx faster than retraining the same data (goal >= 10x)\n", r/i }'
"$cairn" --json show detector@1.1.0 | python3 -c 'import json,sys; m=json.load(sys.stdin)["metrics"]; print("incremental test metrics:", ", ".join(f"{k} {m[k]:.4f}" for k in ("accuracy","f1","fpr","fnr")))'
"$cairn" --json show detector@1.1.0-retrain | python3 -c 'import json,sys; m=json.load(sys.stdin)["metrics"]; print("retrain-all test metrics:", ", ".join(f"{k} {m[k]:.4f}" for k in ("accuracy","f1","fpr","fnr")))'
