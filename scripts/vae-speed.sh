#!/usr/bin/env bash
# Training iterations per second of every VAE model x estimator on MNIST (batch 24, one
# thread: the training loop is single-threaded; --jobs 1 runs one at a time). Each run
# trains 300 iterations after REBAR's and RELAX's 1000 pre-training steps, which are not
# timed; the validation bound is taken on a single image so it costs nothing. Prints a
# Markdown table. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-300}
cargo build --release -p host
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ests="nvil muprop concrete rebar relax rloo disarm"
printf '| model |'; for e in $ests; do printf ' %s |' "$e"; done; echo
printf '|---|'; for e in $ests; do printf -- '---|'; done; echo
for m in linear1 linear2 nonlinear; do
    printf '| %s |' "$m"
    for e in $ests; do
        ./target/release/relax --out "$out" vae --model "$m" --estimator "$e" --epochs 1 \
            --max-iters "$ITERS" --valid-limit 1 --no-test >/dev/null 2>&1
        # curves-<e>.csv: estimator,epoch,...,iters_per_s (last column)
        its=$(tail -n 1 "$out/vae-mnist-$m/curves-$e.csv" | awk -F, '{printf "%.0f", $NF}')
        printf ' %s |' "$its"
    done
    echo
done
