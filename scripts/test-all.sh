#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs when missing, so a fresh
# machine (Debian, rustup, root or sudo) passes on its first run:
#   - the rustup target thumbv7em-none-eabihf and the llvm-tools component
#   - Debian's qemu-system-arm (firmware under QEMU)
#   - flip-link (the firmware's linker wrapper)
#   - a Python virtual environment in .venv with gymnasium (CartPole parity)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== core builds for thumbv7em-none-eabihf (no_std)"
cargo build -p core --target thumbv7em-none-eabihf --release
echo "== core with defmt::Format for thumbv7em-none-eabihf"
cargo build -p core --target thumbv7em-none-eabihf --release --features defmt
echo "== a user's no_std crate (examples/nostd-consumer) for thumbv7em-none-eabihf"
cargo build --manifest-path examples/nostd-consumer/Cargo.toml --target thumbv7em-none-eabihf --release
echo "== the core's docs: no rustdoc warnings (broken links included), every item documented"
RUSTDOCFLAGS="-D warnings" cargo doc -p core --no-deps
echo "== the commands of README.md and docs/ (short ones run, the rest parse)"
./scripts/check-docs.sh
echo "== a toy sweep as a Slurm job array on a private single-node Slurm, merged = one machine"
./scripts/test-slurm.sh
# Last, so that the output ends with cargo test's summary.
echo "== cargo test --workspace (optimized test profile)"
cargo test --workspace
