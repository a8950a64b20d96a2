#!/usr/bin/env bash
# How much a second core gives the VAE's training on this machine: for each estimator, the
# iterations/s of one run on one thread alone, of two such runs at once (their sum: the
# machine's own two-core throughput on this work)
# and of one run with `--threads 2`, with where the training thread's time goes in the one-run
# cases (`relax vae --speed`: products, Adam, the rest). Interleaved REPEATS times; prints
# medians.
#
#   scripts/vae-scaling.sh            # this checkout's binary (cargo build --release)
#   scripts/vae-scaling.sh BIN        # another binary
#
# Environment: ITERS (1500), REPEATS (3), PRETRAIN (300), MODEL (linear1), ESTS ("rebar
# relax"). Needs MNIST (RELAX_MNIST_DIR or ../shared/data/mnist). Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-1500}
REPEATS=${REPEATS:-3}
PRETRAIN=${PRETRAIN:-300}
MODEL=${MODEL:-linear1}
ESTS=${ESTS:-rebar relax}
if [ $# -ge 1 ]; then
  BIN="$(realpath "$1")"
else
  cargo build --release -p host
  BIN="$PWD/target/release/relax"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
source scripts/median.sh
# run DIR EST THREADS [SPLIT]: one run's iterations/s (the timed iterations only); with SPLIT,
# also appends its `--speed` time split (ms per iteration: products, Adam, other) to SPLIT.
run() {
  rm -rf "$out/$1"
  local speed=()
  [ $# -ge 4 ] && speed=(--speed)
  "$BIN" --out "$out/$1" vae --model "$MODEL" --estimator "$2" --epochs 1 --max-iters "$ITERS" \
    --pretrain "$PRETRAIN" --valid-limit 1 --no-test --threads "$3" "${speed[@]}" >"$out/$1.log" 2>&1
  [ $# -ge 4 ] && grep 'ms/iter' "$out/$1.log" >>"$4"
  tail -n 1 "$out/$1/vae-mnist-$MODEL/curves-$2.csv" | awk -F, '{print $NF}'
}
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
# tsplit FILE: "total / products / Adam / other" medians (ms per iteration)
tsplit() {
  local f=$1
  printf '%.2f / %.2f / %.2f / %.2f' "$(field ms/iter <"$f" | median)" "$(field products <"$f" | median)" \
    "$(field adam <"$f" | median)" "$(field other <"$f" | median)"
}
echo "| model | estimator | 1 run, 1 thread it/s | 2 runs at once, sum it/s | x | 1 run, --threads 2 it/s | x | ms/iter 1 thread: total / products / Adam / other | --threads 2 |"
echo "|---|---|---|---|---|---|---|---|---|"
for e in $ESTS; do
  : >"$out/one"; : >"$out/pair"; : >"$out/two"; : >"$out/s1"; : >"$out/s2"
  for _ in $(seq "$REPEATS"); do
    run a "$e" 1 "$out/s1" >>"$out/one"
    run a "$e" 1 >"$out/pa" &
    run b "$e" 1 >"$out/pb"
    wait
    awk '{s += $1} END {print s}' "$out/pa" "$out/pb" >>"$out/pair"
    run a "$e" 2 "$out/s2" >>"$out/two"
  done
  one=$(median <"$out/one"); pair=$(median <"$out/pair"); two=$(median <"$out/two")
  echo "| $MODEL | $e | $(printf '%.0f' "$one") | $(printf '%.0f' "$pair") | $(awk -v a="$pair" -v b="$one" 'BEGIN{printf "%.2f", a/b}') | $(printf '%.0f' "$two") | $(awk -v a="$two" -v b="$one" 'BEGIN{printf "%.2f", a/b}') | $(tsplit "$out/s1") | $(tsplit "$out/s2") |"
done
