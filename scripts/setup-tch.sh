#!/usr/bin/env bash
# What the `tch` feature needs: libtorch, taken from PyPI's torch 2.9.0 wheel (the version
# burn-tch 0.22's torch-sys is built for) in a virtual environment under ~/.cache. PyPI's
# Linux wheel is the CUDA build: its libtorch links the CUDA runtime, which comes as the
# nvidia-* wheels beside it (about 7 GB in all; they load on a machine without a GPU too).
#
#   scripts/setup-tch.sh          install (once) and say where
#   scripts/setup-tch.sh --env    also print the exports a build and its binary need
set -euo pipefail
venv="${CAIRN_TORCH_VENV:-$HOME/.cache/cairn-torch}"
want=2.9.0
have_torch() {
  "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$want')" \
    >/dev/null 2>&1
}
if ! have_torch; then
  echo "setup-tch: installing torch==$want from PyPI into $venv (several GB)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$want"
  have_torch || { echo "setup-tch: torch $want did not install into $venv" >&2; exit 1; }
fi
lib=$("$venv/bin/python" -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
echo "setup-tch: libtorch $want in $lib" >&2
if [[ "${1:-}" == "--env" ]]; then
  # torch-sys finds libtorch through this Python (LIBTORCH_USE_PYTORCH); the binary loads it
  # from torch's lib folder, and libtorch finds the nvidia-* libraries by its own rpath.
  echo "export LIBTORCH_USE_PYTORCH=1"
  echo "export PATH=\"$venv/bin:\$PATH\""
  echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
fi
