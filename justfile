# cairn's tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Builds go to one target folder outside the clone, so later runs (and CI) reuse them.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", home_directory() / ".cache" / "cairn-target")
export CAIRN_STORE := env_var_or_default("CAIRN_STORE", justfile_directory() / "artifacts")

cairn := CARGO_TARGET_DIR / "release" / "cairn"

default:
    @just --list

# Install what a fresh machine lacks (tools and libraries, not the build itself).
setup:
    scripts/setup.sh

# The main job: run an experiment (validate, merge, train, evaluate, register), e.g.
# `just run experiments/incremental.toml` after the default quickstart.
run experiment="experiments/quickstart.toml": build
    {{cairn}} run {{experiment}}

# A tour of the store (add, ref, cat, fsck, gc) in `artifacts/`.
demo: build
    scripts/demo.sh {{cairn}}

# Build the release binary.
build:
    cargo build --release --locked -p cairn

# Every test of the workspace (unit, property and end-to-end).
test:
    cargo test --workspace --locked

# Formatting and lints, as CI wants them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Benchmarks against peers run in the same command: `just bench store|validate|train`.
bench what: build
    scripts/bench-{{what}}.sh {{cairn}}

# `cairn` with any arguments, e.g. `just cairn fsck`.
cairn *args: build
    {{cairn}} {{args}}

# Regenerate the default datasets in `datasets/` from the project's own generator.
datasets: build
    {{cairn}} data generate --out datasets
