#!/usr/bin/env bash
# `just bench lineage`: `cairn diff` of two versions 100 generations apart, with 100k-row
# training sets, on a synthetic store built for the purpose. Goal: under one second.
set -euo pipefail
cairn=${1:?usage: bench-lineage.sh <cairn binary>}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cargo run --quiet --release --locked -p cairn-lineage --example synth_lineage -- "$dir/store" >&2
now() { date +%s%N; }
times=()
for i in 1 2 3; do
  t=$(now); "$cairn" --store "$dir/store" diff synth@0.0.0 synth@0.0.99 >/dev/null; times+=($(( ($(now) - t) / 1000000 )))
done
best=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
"$cairn" --store "$dir/store" diff synth@0.0.0 synth@0.0.99 | sed -n '1,3p;/^training data/,/^  added/p'
echo "lineage benchmark: diff across 100 generations, 100k-row training sets"
echo "  cairn diff  median ${median} ms, best ${best} ms (goal < 1000 ms)"
