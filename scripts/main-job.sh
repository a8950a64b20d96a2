#!/usr/bin/env bash
# The main job: the paper's CartPole experiment (Table 2, Figure 5) on the core's learners,
# RELAX against A2C and REINFORCE, 10 seeds each, written to results/rl-cartpole/.
# Extra arguments go to `relax rl cartpole` (e.g. --seeds 5 --episodes 500).
set -euo pipefail
cd "$(dirname "$0")/.."
_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# The PNG labels need a TrueType font (or RELAX_FONT=/path/to/font.ttf).
if [ -z "${RELAX_FONT:-}" ] && [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-dejavu-core
fi
exec cargo run --release -p host -- rl cartpole --estimator relax,a2c,reinforce --seeds 10 "$@"
