# Sourced by the test and run scripts: installs what the project needs when missing.
# Every step is skipped when its tool is already there.
_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "== rustup component add rustfmt clippy"
  rustup component add rustfmt clippy
fi
# The microcontroller targets the core is built for and the firmware runs on under QEMU.
for _relax_target in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf riscv32imac-unknown-none-elf; do
  if ! rustup target list --installed 2>/dev/null | grep -qx "$_relax_target"; then
    echo "== rustup target add $_relax_target"
    rustup target add "$_relax_target"
  fi
done
unset _relax_target

# CartPole parity with gymnasium (tests/tests/gym_parity.rs): a Python virtual
# environment in .venv at the repository root, with the versions pinned in
# tests/python/requirements.txt. Skipped when .venv already has the pinned gymnasium.
_relax_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_relax_gym="$(sed -n 's/^gymnasium==//p' "$_relax_root/tests/python/requirements.txt")"
if [ "$("$_relax_root/.venv/bin/python" -c 'import gymnasium; print(gymnasium.__version__)' 2>/dev/null)" != "$_relax_gym" ]; then
  echo "== Python venv .venv with gymnasium $_relax_gym"
  # Debian's python3 makes venvs only with python3-venv (it carries ensurepip).
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "== apt-get install python3-venv"
    _sudo apt-get update
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
  fi
  # A .venv without a working pip (left by a failed attempt) is made again.
  if ! "$_relax_root/.venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$_relax_root/.venv"
    python3 -m venv "$_relax_root/.venv"
  fi
  "$_relax_root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$_relax_root/tests/python/requirements.txt"
fi
unset _relax_root _relax_gym

# Firmware (firmware/, tests/tests/firmware_qemu.rs, scripts/firmware-measure.sh):
# Debian's QEMU runs the firmware images (netduinoplus2, microbit, mps2-an505, virt); flip-link is the firmware's
# linker wrapper (firmware/.cargo/config.toml); llvm-tools gives llvm-size and llvm-nm
# for the size report. probe-rs (real boards only, a 15-minute build) is not installed
# here: see docs/firmware.md.
if ! command -v qemu-system-arm >/dev/null 2>&1; then
  echo "== apt-get install qemu-system-arm"
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-arm
fi
# qemu-system-riscv32 (the RISC-V firmware on QEMU's `virt`) is in qemu-system-misc.
if ! command -v qemu-system-riscv32 >/dev/null 2>&1; then
  echo "== apt-get install qemu-system-misc"
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-misc
fi
if ! command -v flip-link >/dev/null 2>&1; then
  echo "== cargo install flip-link"
  cargo install flip-link --locked
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
  echo "== rustup component add llvm-tools"
  rustup component add llvm-tools
fi

# Plots of the host harness (host/src/plot.rs, relax toy, host/tests/outputs.rs): text is
# drawn from a TrueType file read at run time; Debian's fonts-dejavu-core gives DejaVu Sans.
# RELAX_FONT names another .ttf instead.
if [ -z "${RELAX_FONT:-}" ] && [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  echo "== apt-get install fonts-dejavu-core"
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-dejavu-core
fi

# The Slurm test (scripts/test-slurm.sh, docs/cluster.md): Debian's Slurm controller, node
# daemon, client commands and munge, for a private single-node cluster started by the test.
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
  || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "== apt-get install slurmctld slurmd slurm-client munge"
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y slurmctld slurmd slurm-client munge
fi
