#!/usr/bin/env bash
# One table for every firmware target under QEMU: flash (text + data), static RAM (data +
# bss) plus peak stack, and instructions per environment step (mean, median, max), with
# the episode at which the learner solved CartPole (bit-identical to the host, checked by
# the target's test).
#
# For each target, its test (tests/tests/firmware_qemu*.rs) builds the QEMU image, runs it,
# checks every episode's return against the host and prints the sizes and the stack peak;
# then the image runs again under the instruction-count plugin (tools/qemu-insncount),
# which counts the instructions between consecutive calls of `bench_mark()` (one per
# environment step; each episode's learning and replay land on its last step, hence the
# max). Markdown on stdout (the table in docs/firmware.md); logs in firmware/target/measure/.
#
# Usage: scripts/targets-measure.sh [TARGET...]    TARGET: m4f m0 m33 riscv32 (default: all)
# Takes about 10 minutes on 2 cores (the soft-float targets run ~2 min each, twice).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh >&2

# name | test | Rust target | QEMU | machine | extra QEMU args
targets=(
  "m4f|firmware_qemu|thumbv7em-none-eabihf|qemu-system-arm|netduinoplus2|"
  "m0|firmware_qemu_m0|thumbv6m-none-eabi|qemu-system-arm|microbit|"
  "m33|firmware_qemu_m33|thumbv8m.main-none-eabihf|qemu-system-arm|mps2-an505|"
  "riscv32|firmware_qemu_riscv32|riscv32imac-unknown-none-elf|qemu-system-riscv32|virt|-bios none"
)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(m4f m0 m33 riscv32)
for w in "${wanted[@]}"; do
  case "$w" in m4f | m0 | m33 | riscv32) ;; *) echo "usage: $0 [m4f|m0|m33|riscv32]..." >&2; exit 64 ;; esac
done

root=$PWD
out=$root/firmware/target/measure
mkdir -p "$out"
llvm_bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if ! command -v gcc >/dev/null 2>&1; then
  echo "== apt-get install gcc (builds the QEMU plugin)" >&2
  _sudo apt-get update >&2
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y gcc >&2
fi
gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden \
  -o "$out/libinsncount.so" "$root/tools/qemu-insncount/insncount.c"

rows=()
status=0
for spec in "${targets[@]}"; do
  IFS='|' read -r name test triple qemu machine extra <<<"$spec"
  [[ " ${wanted[*]} " == *" $name "* ]] || continue
  log=$out/$name-test.log
  echo "== $name: cargo test -p tests --test $test" >&2
  if ! cargo test -p tests --test "$test" -- --nocapture --test-threads=1 >"$log" 2>&1 ||
    ! grep -q '^test result: ok' "$log"; then
    echo "$test FAILED: see $log" >&2
    status=1
    continue
  fi
  # "flash F B, static RAM S B, stack peak P B, RAM R B" (tests/tests/firmware_harness)
  read -r flash static_ram stack_peak ram < <(sed -n \
    's/^flash \([0-9]*\) B, static RAM \([0-9]*\) B, stack peak \([0-9]*\) B, RAM \([0-9]*\) B$/\1 \2 \3 \4/p' "$log")
  solved=$(sed -n 's/^INFO solved at episode \([0-9]*\)$/\1/p' "$log")
  seconds=$(sed -n 's/.*: QEMU ran \([0-9.]*\) s$/\1/p' "$log")

  elf=$root/firmware/target/qemu/$triple/release/firmware
  mark=0x$("$llvm_bin/llvm-nm" "$elf" | awk '$3 == "bench_mark" { print $1 }')
  echo "== $name: $qemu -machine $machine with the instruction-count plugin" >&2
  # shellcheck disable=SC2086 # $extra is a list of arguments
  "$qemu" -machine "$machine" -nographic -semihosting-config enable=on,target=native $extra \
    -plugin "$out/libinsncount.so,mark=$mark,out=$out/$name-insns.txt" -kernel "$elf" \
    >/dev/null 2>"$out/$name-plugin.err" || true
  # One mark at the start of every step plus one after the last: consecutive differences
  # are the steps.
  read -r mean median max nsteps < <(
    awk '/^mark/ { if (seen) print $4 - prev; prev = $4; seen = 1 }' "$out/$name-insns.txt" |
      sort -n |
      awk '{ d[NR] = $1; s += $1 } END { if (NR) printf "%.0f %d %d %d\n", s / NR, d[int((NR + 1) / 2)], d[NR], NR; else print "- - - 0" }')
  rows+=("$(printf '| %s `%s` | `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
    "$name" "$triple" "$machine" "$flash" "$static_ram" "$stack_peak" "$ram" \
    "$mean" "$median" "$max" "$solved ($nsteps steps)" "$seconds")")
done

echo
echo "| target | QEMU machine | flash B | static RAM B | peak stack B | RAM B | insns/step mean | median | max | solved at episode | QEMU s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
printf '%s\n' "${rows[@]}"
exit "$status"
