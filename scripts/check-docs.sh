#!/usr/bin/env bash
# Checks the commands written in the documentation: every line of the ```sh blocks of
# README.md and docs/*.md.
#
#   - `cargo run --release -p host -- ARGS`, `relax ARGS` or `target/release/relax ARGS`:
#       ARGS in the SHORT list below (seconds each) run for real (once per distinct
#       ARGS), through the release binary, with `--out` pointed at a temporary directory (the global flag is accepted
#       after the subcommand, and the last --out wins), under `timeout 120`;
#       any other ARGS only have to parse: `relax ARGS --help` exits 0 only when clap
#       accepted everything before --help (an unknown flag, a bad value or a missing
#       subcommand exits 2). Not checked that way: `requires` between flags and checks the
#       program makes after parsing.
#   - `scripts/NAME ...`: the script exists, is executable and `bash -n` accepts it
#       (the documented scripts take minutes to hours; none is run).
#   - installs (cargo install, apt-get, rustup), the firmware (probe-rs on a board, the
#     firmware builds in firmware/) and the test suite are listed as skipped, with why.
#
# Prints one line per command and a summary `N passed, M failed`; exits 1 on any failure.
# Usage: scripts/check-docs.sh [--parse-only]   (--parse-only: run nothing, parse all)
# The short runs need what the commands need: MNIST for the VAE smoke run ($RELAX_MNIST_DIR
# or ../shared/data/mnist), Python with gymnasium for the gym smoke run (.venv, made on
# first use, or $RELAX_PYTHON).
set -uo pipefail
cd "$(dirname "$0")/.."

# Argument lists (after `relax`) that run for real: each takes seconds here.
SHORT=(
  "toy"
  "toy --seeds 5"
  "toy --fixed-theta"
  "bench"
  "rl cartpole --seeds 2 --episodes 300"
  "rl inverted-pendulum --seeds 1 --episodes 30"
  "vae --model linear1 --estimator relax --epochs 1 --max-iters 200 --valid-limit 100 --no-test"
  "data list"
)

parse_only=0
for arg in "$@"; do
  case "$arg" in
    --parse-only) parse_only=1 ;;
    *) echo "usage: $0 [--parse-only]" >&2; exit 64 ;;
  esac
done

echo "== cargo build --release -p host"
cargo build --release -p host --quiet || { echo "0 passed, 1 failed"; exit 1; }
relax="${CARGO_TARGET_DIR:-target}/release/relax"
[ -x "$relax" ] || { echo "no binary at $relax"; echo "0 passed, 1 failed"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# file:line<TAB>command for every command line of a ```sh block (comments dropped,
# backslash continuations joined).
extract() {
  awk '
    FNR == 1 { fence = 0; cont = "" }
    /^```/ {
      if (!fence && $0 ~ /^```(sh|bash|shell)[[:space:]]*$/) { fence = 1; next }
      if (fence) { fence = 0; next }
    }
    fence {
      line = $0
      if (cont != "") { line = cont " " line; cont = "" }
      if (line ~ /\\$/) { cont = substr(line, 1, length(line) - 1); next }
      sub(/^[[:space:]]+/, "", line)
      if (line == "" || line ~ /^#/) next
      sub(/[[:space:]]+#.*$/, "", line)
      sub(/[[:space:]]+$/, "", line)
      printf "%s:%d\t%s\n", FILENAME, FNR, line
    }
  ' README.md docs/*.md
}

# The VAE's data: MNIST where `relax vae` looks by default. Without it the VAE smoke run
# only has to parse (a fresh clone elsewhere has no ../shared/data/mnist).
mnist_present() {
  local d="${RELAX_MNIST_DIR:-../shared/data/mnist}"
  ls "$d"/train-images*idx3-ubyte* >/dev/null 2>&1
}

is_short() {
  local a
  for a in "${SHORT[@]}"; do [ "$1" = "$a" ] && return 0; done
  return 1
}

declare -A ran=() # short ARGS already run -> where
passed=0
failed=0
skipped=0
n=0
pass() { passed=$((passed + 1)); printf 'ok    %-22s %s  [%s]\n' "$where" "$cmd" "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %-22s %s  [%s]\n' "$where" "$cmd" "$1"; }
skip() { skipped=$((skipped + 1)); printf 'skip  %-22s %s  [%s]\n' "$where" "$cmd" "$1"; }

while IFS=$'\t' read -r where cmd; do
  n=$((n + 1))
  rest="$cmd"
  # Leading environment assignments (ITERS=1000 scripts/...).
  envs=()
  while [[ "$rest" =~ ^([A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*)[[:space:]]+(.*)$ ]]; do
    envs+=("${BASH_REMATCH[1]}")
    rest="${BASH_REMATCH[2]}"
  done
  args=""
  case "$rest" in
    "cargo run --release -p host -- "*) args="${rest#cargo run --release -p host -- }" ;;
    "relax "*) args="${rest#relax }" ;;
    "target/release/relax "* | "./target/release/relax "*) args="${rest#*target/release/relax }" ;;
  esac
  if [ -n "$args" ]; then
    read -r -a argv <<< "$args"
    if [ "$parse_only" = 0 ] && is_short "$args" && [ -n "${ran[$args]:-}" ]; then
      pass "ran above at ${ran[$args]}"
    elif [ "$parse_only" = 0 ] && is_short "$args" && [[ "$args" == vae* ]] && ! mnist_present; then
      if "$relax" "${argv[@]}" --help </dev/null >/dev/null 2>"$tmp/err"; then
        pass "parses; not run: no MNIST at \$RELAX_MNIST_DIR or ../shared/data/mnist"
      else
        fail "does not parse: $(grep -m1 . "$tmp/err")"
      fi
    elif [ "$parse_only" = 0 ] && is_short "$args"; then
      ran[$args]="$where"
      n_out="$tmp/out-$n"
      log="$tmp/log-$n"
      start=$(date +%s)
      if env ${envs[@]+"${envs[@]}"} timeout 120 "$relax" "${argv[@]}" --out "$n_out" </dev/null >"$log" 2>&1; then
        pass "ran, $(( $(date +%s) - start )) s"
      else
        rc=$?
        fail "ran: exit $rc"
        tail -n 15 "$log" | sed 's/^/      | /'
      fi
    else
      if "$relax" "${argv[@]}" --help </dev/null >/dev/null 2>"$tmp/err"; then
        pass "parses"
      else
        fail "does not parse: $(grep -m1 . "$tmp/err")"
      fi
    fi
    continue
  fi
  case "$rest" in
    scripts/*)
      script="${rest%% *}"
      if [ ! -f "$script" ]; then
        fail "no such script"
      elif [ ! -x "$script" ]; then
        fail "not executable"
      elif ! bash -n "$script" 2>"$tmp/err"; then
        fail "bash -n: $(grep -m1 . "$tmp/err")"
      else
        pass "script exists, executable, bash -n ok; not run (minutes)"
      fi
      ;;
    "cargo install "* | "apt-get "* | "sudo apt-get "* | "rustup "*)
      skip "install" ;;
    *probe-rs* | "cd firmware && cargo run --release"*)
      skip "needs a board and a probe" ;;
    "cd firmware && "*)
      skip "firmware build (tests/tests/firmware_qemu.rs in scripts/test-all.sh builds and runs it)" ;;
    "cargo test "*)
      skip "test suite: scripts/test-all.sh runs it" ;;
    *)
      skip "not a command of this project" ;;
  esac
done < <(extract)

echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$n" -gt 0 ]
