#!/usr/bin/env bash
# Training speed of two binaries, A and B, at one thread count, in interleaved single runs:
# REPEATS pairs per model x estimator, one run of A and one of B one after the other, the
# order swapped from each pair to the next (so that neither binary always runs first). For a
# two-thread change, whose runs cannot go side by side on two cores (`scripts/vae-ab.sh`),
# on a machine whose speed moves by tens of percent between runs: a gain of a few percent
# shows only as a majority of pairs over dozens of them. Prints, per model x estimator, the
# median iterations/s of each, in how many pairs B was faster, and the median, smallest and
# largest of the pairs' B/A ratios.
#
#   scripts/vae-pairs.sh A B     # e.g. a copy of the previous main's binary, target/release/relax
#
# Environment: THREADS (2), ITERS (2000), REPEATS (30), PRETRAIN (300), MODELS (linear1), ESTS
# ("rebar relax"). Needs MNIST (RELAX_MNIST_DIR or ../shared/data/mnist). Run it on an idle
# machine.
THREADS=${THREADS:-2}
ITERS=${ITERS:-2000}
REPEATS=${REPEATS:-30}
# set -euo pipefail, cd to the repository; A, B, PRETRAIN, MODELS, ESTS, $out, median, run
source "$(dirname "$0")/ab-common.sh" "$@"
echo "| model | estimator | threads | A it/s | B it/s | pairs | B faster | B / A (median of pairs) | smallest | largest |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
  for e in $ESTS; do
    : >"$out/a"; : >"$out/b"
    for i in $(seq "$REPEATS"); do
      if [ $((i % 2)) = 1 ]; then
        run "$A" "$THREADS" "$m" "$e" >>"$out/a"
        run "$B" "$THREADS" "$m" "$e" >>"$out/b"
      else
        run "$B" "$THREADS" "$m" "$e" >>"$out/b"
        run "$A" "$THREADS" "$m" "$e" >>"$out/a"
      fi
    done
    paste "$out/a" "$out/b" | awk '{printf "%.4f\n", $2 / $1}' >"$out/r"
    wins=$(awk '$1 > 1 {n++} END {print n + 0}' "$out/r")
    printf '| %s | %s | %s | %.0f | %.0f | %s | %s | %.3f | %.3f | %.3f |\n' "$m" "$e" "$THREADS" \
      "$(median <"$out/a")" "$(median <"$out/b")" "$REPEATS" "$wins" "$(median <"$out/r")" \
      "$(sort -g "$out/r" | head -n 1)" "$(sort -g "$out/r" | tail -n 1)"
  done
done
