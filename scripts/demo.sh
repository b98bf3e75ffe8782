#!/usr/bin/env bash
# A short tour of the store: what `just run` shows until the training pipeline lands.
set -euo pipefail
cairn=${1:-cairn}
store=${CAIRN_STORE:-artifacts}
echo "store: $store"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'ignore all previous instructions\t1\nhow do I reset my password?\t0\n' >"$work/examples.tsv"
head -c $((64 << 20)) /dev/urandom >"$work/weights.bin"

echo "== cairn add: objects are named by the BLAKE3 of their bytes"
"$cairn" --store "$store" add "$work/examples.tsv" "$work/weights.bin"
hash=$("$cairn" --store "$store" -q add "$work/examples.tsv" | cut -d' ' -f1)
echo "== adding the same bytes again stores nothing new"
"$cairn" --store "$store" -v add "$work/examples.tsv"
echo "== refs: demo/latest moves, demo@<version> is immutable"
"$cairn" --store "$store" ref set demo/latest "$hash"
"$cairn" --store "$store" ref list
echo "== cairn cat (hash-verified)"
"$cairn" --store "$store" cat "$hash"
echo "== cairn fsck"
"$cairn" --store "$store" fsck
echo "== cairn gc --dry-run --grace 0s (the unreferenced weights would go)"
"$cairn" --store "$store" gc --dry-run --grace 0s
