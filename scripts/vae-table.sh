#!/usr/bin/env bash
# The VAE results tables of docs/results.md (Tables 1, 3, 4 of the paper, at a stated budget): MNIST
# linear one-layer and two-layer, REBAR, RELAX, RLOO, DisARM and NVIL, seed 0, full
# validation (IWAE-100 on 10,000 images) every epoch, test IWAE-100 of the best-validation
# parameters. Two runs at a time (the machine has 2 cores). Writes results/vae-mnist-*/.
set -euo pipefail
cd "$(dirname "$0")/.."
E1=${E1:-40}
E2=${E2:-20}
cargo build --release -p host
for spec in "linear1 $E1" "linear2 $E2"; do
    set -- $spec
    rm -f results/vae-mnist-$1/curves-*.csv results/vae-mnist-$1/summary*.json
    start=$(date +%s)
    ./target/release/relax --seed 0 vae --model "$1" --estimator relax,rebar,rloo,disarm,nvil \
        --epochs "$2" --jobs 2
    echo "vae $1 ($2 epochs): $(( $(date +%s) - start )) s wall"
done
