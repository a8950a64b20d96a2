#!/usr/bin/env bash
# Training speed of the VAE models x estimators on MNIST (batch 24), as a Markdown table with
# the cost model: the matrix products' FLOPs per training iteration (counted from their
# shapes), the achieved GFLOP/s, the GEMM peak of this machine on the same shapes (`relax vae
# --speed`: each shape timed alone, hot, with the same threads) and the fraction of it, on
# one thread and on two.
#
#   scripts/vae-speed.sh                 # this checkout's binary (cargo build --release)
#   scripts/vae-speed.sh BEFORE AFTER    # also BEFORE's iterations/s (a binary without
#                                        # --threads/--speed: one thread) and AFTER/BEFORE
#
# The runs of BEFORE and AFTER (1 and 2 threads) are interleaved, REPEATS times each; the
# table gives medians (iterations/s of the timed iterations only: REBAR's and RELAX's
# pre-training and the one-image validation are not timed). Environment: ITERS (300),
# REPEATS (3), PRETRAIN (1000), MODELS ("linear1 linear2 nonlinear"), ESTS ("nvil muprop
# concrete rebar relax rloo disarm"), BEFORE_FLAGS (flags of BEFORE's runs, e.g. "--threads
# 1" for a BEFORE that has --threads). Needs MNIST (RELAX_MNIST_DIR or ../shared/data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-300}
REPEATS=${REPEATS:-3}
PRETRAIN=${PRETRAIN:-1000}
MODELS=${MODELS:-linear1 linear2 nonlinear}
ESTS=${ESTS:-nvil muprop concrete rebar relax rloo disarm}
read -r -a BEFORE_FLAGS <<<"${BEFORE_FLAGS:-}"
if [ $# -ge 2 ]; then
  BEFORE="$(realpath "$1")"
  AFTER="$(realpath "$2")"
else
  cargo build --release -p host
  BEFORE=""
  AFTER="$PWD/target/release/relax"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
source scripts/median.sh
# run BIN MODEL EST [FLAGS...]: prints the `speed:` line (AFTER) or the iterations/s (BEFORE)
run() {
  local bin=$1 m=$2 e=$3
  shift 3
  rm -rf "$out/r"
  "$bin" --out "$out/r" vae --model "$m" --estimator "$e" --epochs 1 --max-iters "$ITERS" \
    --pretrain "$PRETRAIN" --valid-limit 1 --no-test "$@" 2>/dev/null >"$out/log"
  if [[ " $* " == *" --speed "* ]]; then
    grep '^speed:' "$out/log"
  else
    tail -n 1 "$out/r/vae-mnist-$m/curves-$e.csv" | awk -F, '{print $NF}'
  fi
}
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
if [ -n "$BEFORE" ]; then
  echo "| model | estimator | MFLOP/iter | before it/s | 1 thread it/s | x before | GFLOP/s | peak | fraction | 2 threads it/s | x 1 thread | GFLOP/s | peak | fraction |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
else
  echo "| model | estimator | MFLOP/iter | 1 thread it/s | GFLOP/s | peak | fraction | 2 threads it/s | x 1 thread | GFLOP/s | peak | fraction |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
fi
for m in $MODELS; do
  for e in $ESTS; do
    : >"$out/b"; : >"$out/a1"; : >"$out/a2"
    for _ in $(seq "$REPEATS"); do
      [ -n "$BEFORE" ] && run "$BEFORE" "$m" "$e" "${BEFORE_FLAGS[@]}" >>"$out/b"
      run "$AFTER" "$m" "$e" --threads 1 --speed >>"$out/a1"
      run "$AFTER" "$m" "$e" --threads 2 --speed >>"$out/a2"
    done
    mf=$(field MFLOP/iter <"$out/a1" | median)
    row="| $m | $e | $mf |"
    i1=$(field iters/s <"$out/a1" | median)
    if [ -n "$BEFORE" ]; then
      b=$(median <"$out/b")
      row="$row $(printf '%.0f' "$b") | $(printf '%.0f' "$i1") | $(awk -v a="$i1" -v b="$b" 'BEGIN{printf "%.2f", a/b}') |"
    else
      row="$row $(printf '%.0f' "$i1") |"
    fi
    g1=$(field GFLOP/s <"$out/a1" | median); p1=$(field peak <"$out/a1" | median)
    f1=$(field fraction <"$out/a1" | median)
    i2=$(field iters/s <"$out/a2" | median)
    g2=$(field GFLOP/s <"$out/a2" | median); p2=$(field peak <"$out/a2" | median)
    f2=$(field fraction <"$out/a2" | median)
    row="$row $g1 | $p1 | $f1 | $(printf '%.0f' "$i2") | $(awk -v a="$i2" -v b="$i1" 'BEGIN{printf "%.2f", a/b}') | $g2 | $p2 | $f2 |"
    echo "$row"
  done
done
