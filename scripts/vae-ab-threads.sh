#!/usr/bin/env bash
# Training speed of two binaries, A and B, on one thread and with --threads 2: for each model
# x estimator, REPEATS rounds of four runs one after another (A 1 thread, B 1 thread, A 2
# threads, B 2 threads), so that the machine's drift falls on all four alike. Prints the
# median iterations/s of each, B's two-thread speed against A's two-thread and one-thread
# speed and against its own one-thread speed, and in how many rounds B's two threads beat
# A's. (`scripts/vae-ab.sh` compares one-thread speed more steadily, side by side on the two
# cores; two-thread runs cannot be paired that way.) Each round also times the machine's own
# ceiling for work cut as finely as the training's (`thread_probe fma-one` and `fma`: 40
# pieces of pure multiply-adds an iteration, each about 25 microseconds, on one thread and
# split on two): the columns after the rounds give the median over rounds of B's own two-thread speed-up
# in the round and of that ceiling, which moves with the other tenants of the machine. The
# owned ceiling column does the same for the weight-sized work alone with each thread owning its
# columns (`thread_probe one` and `owned`: linear1's products and Adam, no element-wise
# work): what the machine's shared cache and memory let a second thread gain in that round,
# which pure arithmetic does not show. The replica ceiling column is the same training with
# nothing shared and nothing to wait for: in each round B's one-thread run twice at once,
# side by side on the two cores, their summed iterations/s over B's one-thread run alone
# (the machine's two-core throughput on this very work; a split run's synchronization is what
# keeps it below). Where the machine's two cores are also moves: the round trip of a cache
# line between them (`core_latency`) is measured before and after each of B's two-thread
# runs, each round is put in a class by the larger of the two (below 45 ns: "smt", the two
# cores are one physical core's two hardware threads; 45-150 ns: "die", two cores of one
# die; above: "dies", two dies; these bounds fit this project's AMD EPYC guest, whose round
# trips come at about 30, 55-100 and 320-360 ns), the last column gives B's two-thread
# speed-up over the rounds of class "die" only, and the rounds are listed after the table.
#
#   scripts/vae-ab-threads.sh A B        # e.g. a copy of the previous main's binary, target/release/relax
#
# Environment: ITERS (1500), REPEATS (5), PRETRAIN (300), MODELS (linear1), ESTS ("rebar
# relax"). Needs MNIST (RELAX_MNIST_DIR or ../shared/data/mnist). Run it on an idle machine.
ITERS=${ITERS:-1500}
REPEATS=${REPEATS:-5}
# set -euo pipefail, cd to the repository; A, B, PRETRAIN, MODELS, ESTS, $out, median, run
source "$(dirname "$0")/ab-common.sh" "$@"
# replicas MODEL EST: B's one-thread run twice at once; their summed iterations/s over B's
# one-thread run of this round (the last line of $out/b1)
replicas() {
  local r1 r2
  run "$B" 1 "$1" "$2" rep1 >"$out/rep1.v" &
  run "$B" 1 "$1" "$2" rep2 >"$out/rep2.v"
  wait
  r1=$(cat "$out/rep1.v"); r2=$(cat "$out/rep2.v")
  awk -v a="$r1" -v b="$r2" -v s="$(tail -n 1 "$out/b1")" 'BEGIN {printf "%.2f", (a + b) / s}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
cargo build --release -p host --example thread_probe >/dev/null 2>&1
cargo build --release -p host --example core_latency >/dev/null 2>&1
probe="${CARGO_TARGET_DIR:-target}/release/examples/thread_probe"
latency_bin="${CARGO_TARGET_DIR:-target}/release/examples/core_latency"
# latency: the cores' round trip now, in ns
latency() { "$latency_bin" | awk '{print $4}'; }
# place NS1 NS2: the class of the larger round trip
place() {
  awk -v a="$1" -v b="$2" 'BEGIN {m = a > b ? a : b; print m < 45 ? "smt" : m <= 150 ? "die" : "dies"}'
}
# probe_ratio ONE TWO: the probe's ms/iter in mode ONE over its ms/iter in mode TWO (the
# ceiling: fma-one over fma; the owned ceiling: one over owned)
probe_ratio() {
  local one two
  one=$("$probe" "$1" 300 | awk '{print $(NF-1)}')
  two=$("$probe" "$2" 300 | awk '{print $(NF-1)}')
  ratio "$one" "$two"
}
echo "| model | estimator | A 1 thread | A 2 threads | B 1 thread | B 2 threads | B 2 / A 2 | B 2 / A 1 | B 2 / B 1 | rounds B 2 > A 2 | B 2 / B 1 per round | ceiling per round | owned ceiling per round | replica ceiling per round | B 2 / B 1 per round, cores on one die (rounds) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
: >"$out/rounds"
for m in $MODELS; do
  for e in $ESTS; do
    : >"$out/a1"; : >"$out/b1"; : >"$out/a2"; : >"$out/b2"; : >"$out/own"; : >"$out/ceil"; : >"$out/oceil"; : >"$out/rceil"; : >"$out/die"
    for _ in $(seq "$REPEATS"); do
      run "$A" 1 "$m" "$e" >>"$out/a1"
      run "$B" 1 "$m" "$e" >>"$out/b1"
      run "$A" 2 "$m" "$e" >>"$out/a2"
      ns1=$(latency)
      run "$B" 2 "$m" "$e" >>"$out/b2"
      ns2=$(latency)
      own=$(ratio "$(tail -n 1 "$out/b2")" "$(tail -n 1 "$out/b1")")
      echo "$own" >>"$out/own"
      cls=$(place "$ns1" "$ns2")
      if [ "$cls" = die ]; then echo "$own" >>"$out/die"; fi
      echo "$m $e: B 2 / B 1 $own, round trip before $ns1 ns, after $ns2 ns: $cls" >>"$out/rounds"
      probe_ratio fma-one fma >>"$out/ceil"
      echo >>"$out/ceil"
      probe_ratio one owned >>"$out/oceil"
      echo >>"$out/oceil"
      replicas "$m" "$e" >>"$out/rceil"
      echo >>"$out/rceil"
    done
    a1=$(median <"$out/a1"); b1=$(median <"$out/b1"); a2=$(median <"$out/a2"); b2=$(median <"$out/b2")
    wins=$(paste "$out/a2" "$out/b2" | awk '$2 > $1 {n++} END {print n + 0}')
    ndie=$(wc -l <"$out/die")
    if [ "$ndie" -gt 0 ]; then die=$(median <"$out/die" | awk '{printf "%.2f", $1}'); else die="-"; fi
    printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s | %s | %s of %s | %.2f | %.2f | %.2f | %.2f | %s (%s) |\n' "$m" "$e" \
      "$a1" "$a2" "$b1" "$b2" "$(ratio "$b2" "$a2")" "$(ratio "$b2" "$a1")" "$(ratio "$b2" "$b1")" \
      "$wins" "$REPEATS" "$(median <"$out/own")" "$(median <"$out/ceil")" "$(median <"$out/oceil")" \
      "$(median <"$out/rceil")" "$die" "$ndie"
  done
done
echo
echo "Rounds (the cores' round trip before and after B's two-thread run, and its class):"
cat "$out/rounds"
