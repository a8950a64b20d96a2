#!/usr/bin/env bash
# Host speed of two `relax` binaries, measured in one run with their runs interleaved
# (on a shared machine the load drifts; alternating the order every round and taking the
# median of the rounds keeps that drift out of the ratio).
#
#   scripts/bench-compare.sh BEFORE AFTER [ROUNDS] [SECONDS]
#
# Per round and binary (the order alternates between rounds):
#   - `relax bench --seconds SECONDS`: ns per estimate of every case (bench.csv);
#   - `relax toy --estimators relax` at TOY_STEPS1 and TOY_STEPS2 steps (one log point, 2
#     variance samples): the difference of the two wall times over the difference of the
#     steps is the cost of one training step with the plots, the start-up and the output
#     cancelled out.
# Prints the median over the rounds of each figure, AFTER/BEFORE speed-ups, and the toy's
# cost per step over the bench's RELAX (training) at N = 1 for each binary.
# Defaults: 5 rounds, 0.3 s per bench case, toy steps 100000 and 400000.
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,17p' "$0" >&2
  exit 64
fi
before=$(realpath "$1")
after=$(realpath "$2")
rounds=${3:-5}
seconds=${4:-0.3}
steps1=${TOY_STEPS1:-100000}
steps2=${TOY_STEPS2:-400000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
toy_seconds() { # BIN STEPS -> wall seconds of one toy run
  local t0 t1
  t0=$(now)
  "$1" --out "$tmp/toy" toy --estimators relax --steps "$2" --log-every "$2" --var-samples 2 \
    >/dev/null 2>&1
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
  for which in $order; do
    bin=$before
    [ "$which" = after ] && bin=$after
    "$bin" --out "$tmp/b-$which-$r" bench --seconds "$seconds" >/dev/null 2>&1
    t1=$(toy_seconds "$bin" "$steps1")
    t2=$(toy_seconds "$bin" "$steps2")
    echo "$which $r toy_ns_per_step $(echo "($t2 - $t1) * 1000000000 / ($steps2 - $steps1)" | bc -l)" \
      >>"$tmp/toy.txt"
  done
  echo "round $r of $rounds done" >&2
done

python3 - "$tmp" "$rounds" <<'EOF'
import csv, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
ns = {"before": {}, "after": {}}
for which in ns:
    for r in range(1, rounds + 1):
        with open(f"{tmp}/b-{which}-{r}/bench/bench.csv") as f:
            for row in csv.DictReader(f):
                ns[which].setdefault((row["estimator"], int(row["n"])), []).append(float(row["ns_per_estimate"]))
toy = {"before": [], "after": []}
for line in open(f"{tmp}/toy.txt"):
    which, _, _, v = line.split()
    toy[which].append(float(v))
med = statistics.median
print(f"median of {rounds} interleaved rounds; speed-up = before / after")
print(f"{'case':<32} {'N':>4} {'before ns':>11} {'after ns':>11} {'speed-up':>9}")
for key in ns["before"]:
    b, a = med(ns["before"][key]), med(ns["after"].get(key, [float("nan")]))
    print(f"{key[0]:<32} {key[1]:>4} {b:>11.1f} {a:>11.1f} {b / a:>8.2f}x")
tb, ta = med(toy["before"]), med(toy["after"])
print(f"{'toy RELAX, one training step':<32} {1:>4} {tb:>11.1f} {ta:>11.1f} {tb / ta:>8.2f}x")
for which, t in (("before", tb), ("after", ta)):
    bench = med(ns[which][("RELAX (training)", 1)])
    print(f"{which}: toy step / bench RELAX (training) N=1 = {t:.1f} / {bench:.1f} = {t / bench:.2f}")
EOF
