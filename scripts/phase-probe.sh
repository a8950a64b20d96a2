#!/usr/bin/env bash
# Where a VAE training iteration's time goes, phase by phase, on one thread and on two
# (docs/results.md, "Twenty-second round"). The timers are temporary code, kept out of
# main: this script checks out BASE (the commit scripts/phase-probe.patch was made against;
# the training code of 94616a9, before the temperature rows joined the relaxed pass in 4dc7c52)
# in a scratch worktree, applies the patch there, builds it into its own target directory
# (target/phase-probe), and runs `relax vae` REPEATS times at one thread and at two,
# alternating. It prints, for each timed phase, the microseconds a call at each thread count
# (medians over the runs) and their ratio, then the iterations/s of each run.
#
#   scripts/phase-probe.sh            # linear1 RELAX (MODEL=linear1 EST=rebar for REBAR)
#
# Environment: MODEL (linear1), EST (relax), ITERS (2000), PRETRAIN (300), REPEATS (2).
# Needs git, python3 and MNIST (RELAX_MNIST_DIR or ../shared/data/mnist). Calls are counted
# over the pre-training iterations too (about 1.15 a timed iteration for a once-an-iteration
# phase with the defaults); the microseconds are per call. The timers cost a few percent:
# compare the two columns with each other, not with `relax vae --speed`. Run it on an idle
# machine, and read the cores' placement first (`core_latency`, README): a round trip near
# 30 ns means the two CPUs are one core's two hyperthreads, above 150 ns two dies.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=da75aa346e3ebbc20c8286bac427c99843683069
MODEL=${MODEL:-linear1}
EST=${EST:-relax}
ITERS=${ITERS:-2000}
PRETRAIN=${PRETRAIN:-300}
REPEATS=${REPEATS:-2}
if [ -z "${RELAX_MNIST_DIR:-}" ] && [ -d ../shared/data/mnist ]; then
  RELAX_MNIST_DIR=$(cd ../shared/data/mnist && pwd)
  export RELAX_MNIST_DIR
fi
root=$PWD
target=$root/target/phase-probe
wt=$(mktemp -d)
out=$(mktemp -d)
cleanup() {
  git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
  rm -rf "$out"
}
trap cleanup EXIT
git worktree add --detach "$wt" "$BASE" >/dev/null 2>&1 || {
  echo "phase-probe: cannot check out $BASE (a clone with main's history is needed)" >&2
  exit 1
}
git -C "$wt" apply "$root/scripts/phase-probe.patch"
(cd "$wt" && CARGO_TARGET_DIR="$target" cargo build --release -p host >/dev/null 2>&1) || {
  echo "phase-probe: the patched tree does not build (cd $wt && cargo build --release -p host)" >&2
  exit 1
}
for i in $(seq "$REPEATS"); do
  for t in 1 2; do
    rm -rf "$out/run"
    "$target/release/relax" --out "$out/run" vae --model "$MODEL" --estimator "$EST" --epochs 1 \
      --max-iters "$ITERS" --pretrain "$PRETRAIN" --valid-limit 1 --no-test --threads "$t" \
      >"$out/t$t-$i.txt" 2>&1
  done
done
python3 - "$out" "$REPEATS" <<'PY'
import re, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
# The sites of the patched tree (file:line) and what each times.
names = {
    "train.rs:271": "data batch",
    "train.rs:273": "estimator step (the phases below)",
    "estimators/relaxed.rs:242": "  draw (first encoder, generator's words, samples)",
    "estimators/sample.rs:70": "    its rows",
    "estimators/relaxed.rs:250": "  hard pass forward",
    "estimators/relaxed.rs:254": "  hard pass backward",
    "estimators/relaxed.rs:267": "  scores",
    "estimators/relaxed.rs:269": "  RELAX's network at z (r_passes)",
    "estimators/rnet.rs:95": "    its input rows",
    "estimators/relaxed.rs:271": "  relaxed passes (soft_eval)",
    "estimators/relaxed.rs:274": "  temperature passes (soft_eval_pair)",
    "estimators/relaxed.rs:151": "    relaxing its rows (one thread)",
    "estimators/relaxed.rs:163": "    its z-gradients (one thread)",
    "estimators/mod.rs:454": "  relax_layer",
    "estimators/relaxed.rs:393": "    its rows",
    "estimators/relaxed.rs:295": "  RELAX's network's mixed derivative (r_mixed)",
    "estimators/relaxed.rs:303": "  encoder backward",
    "estimators/relaxed.rs:309": "  RELAX's network's Adam step (r_step)",
    "train.rs:276": "model's Adam step",
    "model.rs:324": "f of each row (all passes)",
    "model.rs:359": "pixel gradient (all passes)",
    "dense.rs:234": "split forward products (mul_rows)",
    "dense.rs:328": "split weight gradients",
    "layers.rs:148": "network forward: activation",
    "layers.rs:193": "network backward: activation derivative",
    "layers.rs:252": "r_mixed: ReLU derivative passes",
    "layers.rs:274": "r_mixed: tangent's ReLU pass",
    "data.rs:320": "data rows",
}
row = re.compile(r"^\s*host/src/vae/(\S+:\d+)\s+([\d.]+)\s+([\d.]+)")
rate = re.compile(r"([\d.]+) it/s")
per_call = {1: {}, 2: {}}
calls, rates = {}, {1: [], 2: []}
for t in (1, 2):
    for i in range(1, reps + 1):
        for line in open(f"{out}/t{t}-{i}.txt"):
            m = row.match(line)
            if m and float(m.group(2)) > 0:
                site, n, us = m.group(1), float(m.group(2)), float(m.group(3))
                per_call[t].setdefault(site, []).append(us / n)
                calls[site] = n
            m = rate.search(line)
            if m and "epoch" in line:
                rates[t].append(float(m.group(1)))
print("| phase | site | calls a timed iteration | 1 thread us a call | 2 threads us a call | 1 / 2 |")
print("|---|---|---|---|---|---|")
order = [s for s in names if s in per_call[1] and s in per_call[2]]
order += sorted(s for s in per_call[1] if s in per_call[2] and s not in names)
for s in order:
    a, b = statistics.median(per_call[1][s]), statistics.median(per_call[2][s])
    if a < 0.05 and b < 0.05:
        continue  # a phase this estimator does not have (RELAX's network in REBAR)
    print(f"| {names.get(s, '?')} | {s} | {calls[s]:.2f} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
print()
print("iterations/s, one thread:", " ".join(f"{r:.0f}" for r in rates[1]),
      "; two threads:", " ".join(f"{r:.0f}" for r in rates[2]))
PY
