#!/usr/bin/env bash
# One-thread training speed of two binaries, A and B, measured side by side: each pair of runs
# (same model, estimator and iterations, --threads 1) goes at once, A pinned to one core and
# B to the other, then again with the cores swapped, REPEATS times. On a shared machine whose
# speed drifts by tens of percent from minute to minute, both runs of a pair see the same
# drift, so their ratio is steadier than that of runs made one after the other. Prints, per
# model x estimator, the median iterations/s of each and the median of the pairs' B/A ratios
# (with the smallest and largest).
#
#   scripts/vae-ab.sh A B        # e.g. a copy of the previous main's binary, target/release/relax
#
# Environment: ITERS (2000), REPEATS (2: 4 pairs), PRETRAIN (300), MODELS (linear1), ESTS
# ("rebar relax"). Needs 2 cores and MNIST (RELAX_MNIST_DIR or ../shared/data/mnist).
ITERS=${ITERS:-2000}
REPEATS=${REPEATS:-2}
# set -euo pipefail, cd to the repository; A, B, PRETRAIN, MODELS, ESTS, $out, median
source "$(dirname "$0")/ab-common.sh" "$@"
# run BIN CORE DIR MODEL EST: one run's iterations/s (the timed iterations only)
run() {
  rm -rf "$out/$3"
  taskset -c "$2" "$1" --out "$out/$3" vae --model "$4" --estimator "$5" --epochs 1 \
    --max-iters "$ITERS" --pretrain "$PRETRAIN" --valid-limit 1 --no-test --threads 1 \
    >/dev/null 2>&1
  tail -n 1 "$out/$3/vae-mnist-$4/curves-$5.csv" | awk -F, '{print $NF}'
}
echo "| model | estimator | A it/s | B it/s | B / A (median of pairs) | smallest | largest |"
echo "|---|---|---|---|---|---|---|"
for m in $MODELS; do
  for e in $ESTS; do
    : >"$out/a"; : >"$out/b"; : >"$out/r"
    for _ in $(seq "$REPEATS"); do
      for cores in "0 1" "1 0"; do
        read -r ca cb <<<"$cores"
        run "$A" "$ca" ra "$m" "$e" >"$out/ra.v" &
        run "$B" "$cb" rb "$m" "$e" >"$out/rb.v"
        wait
        cat "$out/ra.v" >>"$out/a"
        cat "$out/rb.v" >>"$out/b"
        paste "$out/ra.v" "$out/rb.v" | awk '{printf "%.4f\n", $2 / $1}' >>"$out/r"
      done
    done
    echo "| $m | $e | $(median <"$out/a" | xargs printf '%.0f') | $(median <"$out/b" | xargs printf '%.0f') | $(median <"$out/r" | xargs printf '%.2f') | $(sort -g "$out/r" | head -n 1 | xargs printf '%.2f') | $(sort -g "$out/r" | tail -n 1 | xargs printf '%.2f') |"
  done
done
