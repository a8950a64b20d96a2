# Sourced by the test and run scripts: installs what the project needs when missing.
# Every step is skipped when its tool is already there.
_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed 2>/dev/null | grep -q '^thumbv7em-none-eabihf$'; then
  echo "== rustup target add thumbv7em-none-eabihf"
  rustup target add thumbv7em-none-eabihf
fi
