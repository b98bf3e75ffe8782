#!/usr/bin/env bash
# `just bench store`: cairn's ingest against what a shell script does, in one command.
#   ingest:  cairn add          vs  b3sum FILE && cp FILE DEST && sync
#   re-add:  cairn add (stored) vs  b3sum FILE
# Each is run REPEAT times, alternating, and the medians are compared.
set -euo pipefail
cairn=${1:?usage: bench-store.sh <cairn binary>}
size_mib=${BENCH_SIZE_MIB:-1024}
repeat=${BENCH_REPEAT:-5}

if ! command -v b3sum >/dev/null 2>&1; then
  echo "bench: installing b3sum from crates.io (once)" >&2
  cargo install --quiet --locked b3sum
fi

dir=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cairn-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
file="$dir/input.bin"
echo "bench: writing a ${size_mib} MiB input file" >&2
head -c $((size_mib << 20)) /dev/urandom >"$file"
sync
cat "$file" >/dev/null # both sides start from a warm page cache

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ingest_cairn=() ingest_peer=() readd_cairn=() readd_peer=()
for i in $(seq "$repeat"); do
  rm -rf "$dir/store" "$dir/copy"; mkdir -p "$dir/copy"; sync

  t=$(now); b3sum "$file" >/dev/null && cp "$file" "$dir/copy/" && sync; ingest_peer+=($(( $(now) - t )))
  rm -rf "$dir/copy"; sync

  t=$(now); "$cairn" --store "$dir/store" -q add "$file" >/dev/null; ingest_cairn+=($(( $(now) - t )))
  sync

  t=$(now); b3sum "$file" >/dev/null; readd_peer+=($(( $(now) - t )))
  t=$(now); "$cairn" --store "$dir/store" -q add "$file" >/dev/null; readd_cairn+=($(( $(now) - t )))
  echo "bench: round $i done" >&2
done

ic=$(printf '%s\n' "${ingest_cairn[@]}" | median)
ip=$(printf '%s\n' "${ingest_peer[@]}" | median)
rc=$(printf '%s\n' "${readd_cairn[@]}" | median)
rp=$(printf '%s\n' "${readd_peer[@]}" | median)
awk -v ic="$ic" -v ip="$ip" -v rc="$rc" -v rp="$rp" -v mib="$size_mib" 'BEGIN {
  printf "store benchmark, %d MiB file, median of runs (ms)\n", mib
  printf "  ingest  cairn add            %8.0f   (%.0f MiB/s)\n", ic/1e6, mib/(ic/1e9)
  printf "          b3sum + cp + sync    %8.0f\n", ip/1e6
  printf "  re-add  cairn add (stored)   %8.0f   (%.0f MiB/s)\n", rc/1e6, mib/(rc/1e9)
  printf "          b3sum                %8.0f\n", rp/1e6
  printf "ratio ingest: %.2fx faster than hash + copy + sync (goal >= 1.2x)\n", ip/ic
  printf "ratio re-add: %.2fx of b3sum speed (goal >= 0.8x)\n", rp/rc
}'
