# Sourced by scripts/vae-ab.sh and scripts/vae-ab-threads.sh, not run on its own. Takes the
# two binaries A and B from the arguments (paths relative to where the caller ran), moves to
# the repository's root, takes the settings from the environment (defaults: ITERS and
# REPEATS as the caller set them, PRETRAIN 300, MODELS linear1, ESTS "rebar relax"), makes
# the scratch directory $out (removed on exit) and sources scripts/median.sh (`median`).
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
