#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs when missing, so a fresh
# machine (Debian, rustup, root or sudo) passes on its first run:
#   - the rustup targets thumbv6m-none-eabi, thumbv7em-none-eabihf,
#     thumbv8m.main-none-eabihf, riscv32imac-unknown-none-elf and the llvm-tools component
#   - Debian's qemu-system-arm and qemu-system-misc (firmware under QEMU: Cortex-M, RISC-V)
#   - flip-link (the firmware's linker wrapper)
#   - a Python virtual environment in .venv with gymnasium (CartPole parity)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
# The microcontroller targets (scripts/ensure-deps.sh installs them): Cortex-M0/M0+ (soft
# float, no atomic read-modify-write), Cortex-M4F, Cortex-M33, 32-bit RISC-V. The core
# builds for each with no change of source.
for target in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf riscv32imac-unknown-none-elf; do
  echo "== core builds for $target (no_std), with and without defmt::Format"
  cargo build -p core --target "$target" --release
  cargo build -p core --target "$target" --release --features defmt
  echo "== a user's no_std crate (examples/nostd-consumer) for $target"
  cargo build --manifest-path examples/nostd-consumer/Cargo.toml --target "$target" --release
done
# The firmware's real boards (defmt over RTT, flashed with probe-rs; docs/firmware.md):
# each board's image links (its memory layout, the Pico's second-stage bootloader). The
# QEMU images are built and run by the firmware_qemu* tests below.
for board in stm32f411:thumbv7em-none-eabihf nrf52840:thumbv7em-none-eabihf \
  pico:thumbv6m-none-eabi microbit:thumbv6m-none-eabi; do
  echo "== firmware for the ${board%%:*} board links (${board#*:})"
  (cd firmware && cargo build --release --target "${board#*:}" --features "${board%%:*}")
done
echo "== the core's docs: no rustdoc warnings (broken links included), every item documented"
RUSTDOCFLAGS="-D warnings" cargo doc -p core --no-deps
echo "== the commands of README.md and docs/ (short ones run, the rest parse)"
./scripts/check-docs.sh
echo "== a toy sweep as a Slurm job array on a private single-node Slurm, merged = one machine"
./scripts/test-slurm.sh
# Last, so that the output ends with cargo test's summary.
echo "== cargo test --workspace (optimized test profile)"
cargo test --workspace
