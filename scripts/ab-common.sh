# Sourced by scripts/vae-ab.sh, vae-ab-threads.sh and vae-pairs.sh, not run on its own. Takes the
# two binaries A and B from the arguments (paths relative to where the caller ran), moves to
# the repository's root, takes the settings from the environment (defaults: ITERS and
# REPEATS as the caller set them, PRETRAIN 300, MODELS linear1, ESTS "rebar relax"), makes
# the scratch directory $out (removed on exit), sources scripts/median.sh (`median`) and
# defines `run` (one training run's iterations/s; the side-by-side script has its own,
# pinned to a core).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 A B" >&2
  exit 2
fi
A="$(realpath "$1")"
B="$(realpath "$2")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PRETRAIN=${PRETRAIN:-300}
MODELS=${MODELS:-linear1}
ESTS=${ESTS:-rebar relax}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
source scripts/median.sh
# run BIN THREADS MODEL EST [DIR]: one run's iterations/s (the timed iterations only; ITERS
# from the caller)
run() {
  local dir="$out/${5:-run}"
  rm -rf "$dir"
  "$1" --out "$dir" vae --model "$3" --estimator "$4" --epochs 1 --max-iters "$ITERS" \
    --pretrain "$PRETRAIN" --valid-limit 1 --no-test --threads "$2" >/dev/null 2>&1
  tail -n 1 "$dir/vae-mnist-$3/curves-$4.csv" | awk -F, '{print $NF}'
}
