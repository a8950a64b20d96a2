#!/usr/bin/env bash
# What a second thread gives the VAE's weight-sized work (host/examples/thread_probe.rs): a
# linear1-shaped iteration's products and Adam step on one thread (for the whole batch and for
# half of it), split in two (`--threads 2`; and with the other worker kept awake), as two
# batch halves on two threads, as those halves with a private copy of the weights on the
# second thread, and with each thread owning half the columns of every weight matrix (at a
# spinning and at a sleeping barrier), the training's own layers in one and two column blocks
# (blocked-one, blocked), pure multiply-adds cut as finely as a training iteration on one and
# two threads (fma-one, fma: the machine's ceiling at that grain, with no memory traffic),
# plus two one-thread processes at once (the machine's own two-core throughput). ROUNDS interleaved rounds of ITERS iterations; prints the medians
# of ms per iteration, the speed-ups over one thread, and each two-thread mode's speed-up over
# the same round's one thread. Run it on an idle machine.
#
#   scripts/thread-probe.sh                              # ROUNDS=5 ITERS=3000, every mode
#   MODES="one owned" ROUNDS=11 scripts/thread-probe.sh  # some modes (one is the reference)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-3000}
cargo build --release -p host --example thread_probe
bin="${CARGO_TARGET_DIR:-target}/release/examples/thread_probe"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
source scripts/median.sh
# total ms/iter of one run's output line
total() { awk '{print $(NF-1)}'; }
modes=${MODES:-one one-half split split-awake halves replica owned owned-sleep blocked-one blocked fma-one fma}
case " $modes " in *" one "*) ;; *) echo "MODES must include one (the reference), not: $modes" >&2; exit 2 ;; esac
for r in $(seq "$ROUNDS"); do
  line="round $r:"
  for mode in $modes; do
    "$bin" "$mode" "$ITERS" | tee -a "$out/$mode.lines" | total >>"$out/$mode"
    line="$line $mode $(tail -n1 "$out/$mode")"
  done
  "$bin" one "$ITERS" >"$out/p1" &
  "$bin" one "$ITERS" >"$out/p2"
  wait
  cat "$out/p1" "$out/p2" | total | awk '{s += $1} END {print s / NR}' >>"$out/pair"
  echo "$line pair $(tail -n1 "$out/pair") ms/iter"
done
one=$(median <"$out/one")
echo "medians of $ROUNDS rounds, ms per iteration:"
echo "| run | products | Adam | total | iterations/s over one thread's |"
echo "|---|---|---|---|---|"
for mode in $modes; do
  m=$(median <"$out/$mode")
  p=$(awk '{print $3}' "$out/$mode.lines" | median)
  a=$(awk '{print $5}' "$out/$mode.lines" | median)
  echo "| $mode | $p | $a | $m | $(awk -v a="$one" -v b="$m" 'BEGIN {printf "%.2f", a / b}') |"
done
m=$(median <"$out/pair")
echo "| two one-thread processes at once (each) | | | $m | $(awk -v a="$one" -v b="$m" 'BEGIN {printf "%.2f", 2 * a / b}') (both together) |"
# Per round, each two-thread mode against the same round's `one` (fma against fma-one).
for mode in $modes; do
  ref=one
  case $mode in one | one-half | blocked-one | fma-one) continue ;; fma) ref=fma-one ;; esac
  [ -f "$out/$ref" ] || continue
  paste "$out/$ref" "$out/$mode" | awk -v m="$mode" -v r0="$ref" '{r = $1 / $2; s = s sprintf(" %.2f", r); if (r >= 1.7) k++}
    END {printf "%s over %s, per round:%s (%d of %d rounds >= 1.70)\n", m, r0, s, k, NR}'
done
