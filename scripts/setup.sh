#!/usr/bin/env bash
# Installs what cairn needs on a fresh machine, from the package registries only.
# Idempotent: a second run installs nothing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
  echo "error: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
if ! have just; then
  echo "setup: installing just (PyPI package rust-just)"
  python3 -m pip install --quiet --disable-pip-version-check rust-just
fi
# ONNX Runtime: cairn loads the wheel's libonnxruntime.so at run time (ORT_DYLIB_PATH
# overrides); the Python packages also run the interop test and `just bench scan`.
if ! python3 -c "import onnxruntime, tokenizers, numpy" >/dev/null 2>&1; then
  echo "setup: installing onnxruntime and tokenizers (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
echo "setup: done"
