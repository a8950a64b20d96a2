#!/usr/bin/env bash
# The paper's full budget for Tables 1, 3 and 4: MNIST linear one-layer, REBAR and RELAX,
# 960 epochs (960 x 2083 = 1,999,680 iterations of batch 24), seed 0, fixed binarization seed
# 0, IWAE-100 on all 10,000 validation images after every 10th epoch (and the last), test
# IWAE-100 of the best-validation parameters. Both runs at once (one core each), a checkpoint
# every 5 epochs: run the script again after an interruption (a killed job, a lost machine with
# the results directory kept) and it resumes each run where its checkpoint left it, with the
# numbers of an uninterrupted run. MODEL=linear2 for the two-layer rows.
#
#   scripts/vae-full-budget.sh            # results/full/vae-mnist-linear1/
#   EPOCHS=960 MODEL=linear1 OUT=results/full scripts/vae-full-budget.sh
#   scripts/vae-full-budget.sh --max-iters 20 --valid-limit 50   # extra flags go to `relax vae`
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-linear1}
EPOCHS=${EPOCHS:-960}
OUT=${OUT:-results/full}
cargo build --release -p host
dir="$OUT/vae-mnist-$MODEL"
resume=()
if ls "$dir"/checkpoint-*.bin >/dev/null 2>&1; then
    resume=(--resume "$dir")
    echo "resuming from $dir"
fi
start=$(date +%s)
"${CARGO_TARGET_DIR:-target}/release/relax" --seed 0 --out "$OUT" vae --model "$MODEL" --estimator rebar,relax \
    --epochs "$EPOCHS" --valid-every 10 --checkpoint-every 5epochs --jobs 2 "${resume[@]}" "$@"
echo "vae $MODEL ($EPOCHS epochs): $(( $(date +%s) - start )) s wall in this process"
