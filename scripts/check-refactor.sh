#!/usr/bin/env bash
# Proves that a refactor changed no number: runs the five reference commands with the
# `relax` binary given (default: a fresh `cargo build --release` of this checkout), strips
# what depends on the clock or the command line (scripts/normalize-results.py), and compares
# every CSV and JSON file byte for byte with tests/golden/refactor/, recorded with the
# binary of main at fedf2f4 (before the host redesign of issue 12). Plots are not compared.
# The VAE runs on one thread: with N threads its weights are stored in N column blocks and
# its input gradients summed in N parts, which changes the last bits (docs/results.md).
#
#   scripts/check-refactor.sh [BIN]           # compare
#   RECORD=1 scripts/check-refactor.sh [BIN]  # (re)record the golden files from BIN
#
# Needs MNIST (RELAX_MNIST_DIR or ../shared/data/mnist) and the gymnasium bridge (.venv,
# made on first use); about 1 minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
  BIN="$(realpath "$1")"
else
  cargo build --release -p host
  BIN="$PWD/target/release/relax"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run() { echo "== relax $*"; "$BIN" --out "$tmp/raw" "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }; }
run toy
run rl cartpole --estimator relax,a2c,reinforce --seeds 3
run rl inverted-pendulum --seeds 1 --episodes 300
run vae --model linear1 --estimator relax,disarm --epochs 1 --max-iters 200 --valid-limit 10 --no-test --threads 1
run bench --seconds 0.05
python3 scripts/normalize-results.py "$tmp/raw" "$tmp/norm" >/dev/null
golden=tests/golden/refactor
if [ "${RECORD:-0}" = 1 ]; then
  rm -rf "$golden"
  mkdir -p "$(dirname "$golden")"
  cp -r "$tmp/norm" "$golden"
  echo "recorded $(find "$golden" -type f | wc -l) files into $golden"
  exit 0
fi
if diff -r "$golden" "$tmp/norm" >"$tmp/diff"; then
  echo "identical: $(find "$golden" -type f | wc -l) CSV and JSON files, every number equal"
else
  head -40 "$tmp/diff"
  echo "DIFFERENT: see above (golden < > this binary)"
  exit 1
fi
