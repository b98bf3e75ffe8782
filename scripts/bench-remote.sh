#!/usr/bin/env bash
# `just bench remote`: push and pull of a store holding a 1 GiB dataset object and 20
# versions, against the loopback S3 server of the tests (moto, started here by
# scripts/with-s3.sh), side by side with the AWS CLI's `s3 sync` moving the same folder;
# then the time of a push with nothing to send, and of the AWS CLI's sync with nothing to send.
#   BENCH_SIZE_MIB (default 1024), BENCH_VERSIONS (default 20)
set -euo pipefail
cairn=${1:?usage: bench-remote.sh <cairn binary>}
if [[ -z "${CAIRN_TEST_S3:-}" ]]; then
  exec "$(dirname "$0")/with-s3.sh" "$0" "$@"
fi
size_mib=${BENCH_SIZE_MIB:-1024}
versions=${BENCH_VERSIONS:-20}
venv="${CAIRN_S3_VENV:-$HOME/.cache/cairn-s3}"
endpoint="${CAIRN_TEST_S3%/*}"
bucket="${CAIRN_TEST_S3##*/}"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="$endpoint" AWS_ALLOW_HTTP=true
aws() { "$venv/bin/aws" --endpoint-url "$endpoint" "$@"; }

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
store="$dir/store"
fixtures="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/run"
cp "$fixtures"/{train,test,additions}.jsonl "$dir/"

echo "bench: a ${size_mib} MiB dataset object and ${versions} versions" >&2
"$cairn" --store "$store" -q init
head -c $((size_mib << 20)) /dev/urandom >"$dir/big.jsonl.bin"
hash=$("$cairn" --store "$store" -q add "$dir/big.jsonl.bin" | awk '{print $1}')
"$cairn" --store "$store" -q ref set data/big "$hash"
rm "$dir/big.jsonl.bin"
parent=""
for i in $(seq 0 $((versions - 1))); do
  {
    printf '[experiment]\nname = "bench"\nversion = "1.%d.0"\n\n[data]\nbase = ["train.jsonl"]\ntest = "test.jsonl"\n' "$i"
    [[ $i -gt 0 ]] && printf 'additions = ["additions.jsonl"]\nnew_data_boost = %d.0\n' "$((i + 1))"
    printf '\n[tokenizer]\nvocab_size = 400\nmax_length = 32\n\n[model]\narchitecture = "bag"\nembed_dim = 16\nhidden = 32\nbuckets = 4096\n'
    [[ -n "$parent" ]] && printf 'parent = "%s"\n' "$parent"
    printf '\n[train]\nseed = 7\nepochs = 1\nbatch_size = 32\nlearning_rate = 0.005\n'
  } >"$dir/v$i.toml"
  (cd "$dir" && "$cairn" --store "$store" -q run --force "v$i.toml" >/dev/null)
  parent="bench@1.$i.0"
done
objects=$(find "$store/objects" -type f | wc -l)
bytes=$(du -sb "$store/objects" | awk '{print $1}')
echo "bench: the store holds $objects objects, $bytes bytes" >&2

now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

"$cairn" --store "$store" -q remote add bench "s3://$bucket/cairn"
t=$(now); "$cairn" --store "$store" -q push bench >/dev/null; push_cairn=$(ms "$t")
t=$(now); aws s3 sync --quiet "$store/objects" "s3://$bucket/peer/objects"; push_peer=$(ms "$t")
t=$(now); "$cairn" --store "$dir/clone" -q clone "s3://$bucket/cairn" >/dev/null; pull_cairn=$(ms "$t")
t=$(now); aws s3 sync --quiet "s3://$bucket/peer/objects" "$dir/peer-objects"; pull_peer=$(ms "$t")
"$cairn" --store "$dir/clone" -q fsck
t=$(now); "$cairn" --store "$store" -q push bench >/dev/null; noop_cairn=$(ms "$t")
t=$(now); aws s3 sync --quiet "$store/objects" "s3://$bucket/peer/objects"; noop_peer=$(ms "$t")

mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "remote benchmark: $objects objects, $mib MiB, against moto's S3 server on loopback"
echo "  push   cairn ${push_cairn} ms ($(awk -v b="$bytes" -v t="$push_cairn" 'BEGIN { printf "%.1f", b / 1048576 / (t / 1000) }') MiB/s)   aws s3 sync ${push_peer} ms   ratio (aws / cairn) $(ratio "$push_peer" "$push_cairn")"
echo "  pull   cairn ${pull_cairn} ms ($(awk -v b="$bytes" -v t="$pull_cairn" 'BEGIN { printf "%.1f", b / 1048576 / (t / 1000) }') MiB/s; clone, every object re-hashed)   aws s3 sync ${pull_peer} ms   ratio $(ratio "$pull_peer" "$pull_cairn")"
echo "  no-op  cairn push ${noop_cairn} ms   aws s3 sync ${noop_peer} ms"
