#!/usr/bin/env bash
# Measures the Cortex-M4F firmware (QEMU build, the profile in firmware/Cargo.toml):
#   flash = text + data, static RAM = data + bss   (llvm-size, Berkeley format)
#   peak stack                                      (the firmware's painted-stack log line)
#   instructions per environment step               (QEMU TCG plugin, tools/qemu-insncount)
# against the budgets flash <= 64 KiB and static RAM + peak stack <= 32 KiB.
# The build and the QEMU run with the log come from tests/tests/firmware_qemu.rs, which
# also checks the run (exit code, bit-identity with the host) and the same budgets.
# Exits non-zero when the test fails or a budget is exceeded.
#
# Usage: scripts/firmware-measure.sh [--cross-check] [--profile]
#   --profile      also write the per-function instruction profile of the run
#                  (firmware/target/measure/profile.txt: the plugin's per-address counts
#                  mapped to inlined functions by scripts/insn-profile.py).
#   --cross-check  also count with QEMU's one-instruction-per-block exec trace (no
#                  plugin; ~100 bytes of trace per instruction piped through awk: the
#                  learner runs ~1.4e9 instructions, so this takes well over 10 minutes).
# Outputs stay in firmware/target/measure/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

cross_check=0
profile=0
for arg in "$@"; do
  case "$arg" in
    --cross-check) cross_check=1 ;;
    --profile) profile=1 ;;
    *) echo "usage: $0 [--cross-check] [--profile]" >&2; exit 64 ;;
  esac
done

FLASH_BUDGET=$((64 * 1024))
RAM_BUDGET=$((32 * 1024))
root=$PWD
out=$root/firmware/target/measure
elf=$root/firmware/target/qemu/thumbv7em-none-eabihf/release/firmware   # `cargo build-qemu`
llvm_bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
qemu=(qemu-system-arm -machine netduinoplus2 -nographic
      -semihosting-config enable=on,target=native)
mkdir -p "$out"

if ! command -v gcc >/dev/null 2>&1; then
  echo "== apt-get install gcc (builds the QEMU plugin)"
  _sudo apt-get update
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y gcc
fi

echo "== build + QEMU run + checks: cargo test -p tests --test firmware_qemu"
test_status=0
cargo test -p tests --test firmware_qemu -- --nocapture --test-threads=1 \
  2>&1 | tee "$out/test.log" || test_status=$?
# tee hides the test's status from `||`; PIPESTATUS is gone by then, so check the log.
grep -q '^test result: ok' "$out/test.log" || test_status=1

# --- sizes
read -r text data bss _ < <("$llvm_bin/llvm-size" "$elf" | awk 'NR == 2')
flash=$((text + data))
static_ram=$((data + bss))
stack_peak=$(sed -n 's/^INFO stack_peak_bytes \([0-9]*\)$/\1/p' "$out/test.log" | head -n 1)
if [ -z "$stack_peak" ]; then
  echo "no 'stack_peak_bytes' line in the firmware log ($out/test.log)" >&2
  exit 1
fi
ram=$((static_ram + stack_peak))

# --- instructions per step
qemu_version=$(qemu-system-arm --version | sed -n '1s/.*version \([0-9.]*\).*/\1/p')
mark=0x$("$llvm_bin/llvm-nm" "$elf" | awk '$3 == "bench_mark" { print $1 }')
[ "$mark" != 0x ] || { echo "no bench_mark symbol in $elf" >&2; exit 1; }

# Exec-trace counter: with one instruction per translation block and no block chaining,
# QEMU logs one "Trace" line per executed instruction, "[flags/PC/...]" giving the PC.
# Writes the same format as the plugin.
count_by_trace() {
  local one_insn=(-accel tcg,one-insn-per-tb=on)          # QEMU >= 8.1
  case "$qemu_version" in [1-7].* | 8.0.*) one_insn=(-singlestep) ;; esac
  "${qemu[@]}" "${one_insn[@]}" -d exec,nochain -kernel "$elf" 2>&1 >/dev/null |
    awk -v mark="$mark" '
      function norm(h) { h = tolower(h); sub(/^0x/, "", h); sub(/^0+/, "", h); return h }
      BEGIN { mark = norm(mark) }
      /^Trace/ {
        if (match($0, /\[[0-9a-fA-F]+\/[0-9a-fA-F]+\//)) {
          split(substr($0, RSTART + 1, RLENGTH - 2), f, "/")
          if (norm(f[2]) == mark) printf "mark %d at_insn %d\n", m++, n
        }
        n++
      }
      END { printf "insns %d\n", n }'
}

count_by_plugin() {
  gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden \
    -o "$out/libinsncount.so" "$root/tools/qemu-insncount/insncount.c"
  local opts="mark=$mark,out=$1"
  [ "$profile" = 0 ] || opts="$opts,profile=$out/insns-by-address.txt"
  "${qemu[@]}" -plugin "$out/libinsncount.so,$opts" -kernel "$elf" >/dev/null
}

# The plugin is written against plugin API v1 (QEMU 7.x); if this QEMU refuses it (no
# "insns" line; the firmware's own exit status does not matter here), count with the
# trace instead.
method="TCG plugin"
rm -f "$out/insns.txt"
count_by_plugin "$out/insns.txt" 2>"$out/plugin.err" || true
if ! grep -q '^insns' "$out/insns.txt" 2>/dev/null; then
  echo "plugin failed on QEMU $qemu_version ($(head -n 1 "$out/plugin.err")); using the exec trace"
  method="exec trace"
  count_by_trace >"$out/insns.txt"
fi
if [ "$cross_check" = 1 ]; then
  count_by_trace >"$out/insns-trace.txt"
  if cmp -s <(awk '{print $NF}' "$out/insns.txt") <(awk '{print $NF}' "$out/insns-trace.txt"); then
    echo "cross-check: plugin and exec trace agree on every mark and the total"
  else
    echo "cross-check FAILED: $out/insns.txt and $out/insns-trace.txt differ" >&2
    exit 1
  fi
fi
if [ "$profile" = 1 ]; then
  if [ "$method" = "TCG plugin" ]; then
    python3 scripts/insn-profile.py "$elf" "$out/insns-by-address.txt" >"$out/profile.txt"
    echo "per-function profile: $out/profile.txt"
  else
    echo "no profile: it needs the TCG plugin" >&2
  fi
fi
# One mark at the start of every step plus one after the last: consecutive differences
# are the steps (each episode's last step includes its episode-end bookkeeping and log).
steps=$(awk '/^mark/ { if (seen) print $4 - prev; prev = $4; seen = 1 }' "$out/insns.txt" |
  sort -n |
  awk '{ d[NR] = $1; s += $1 }
       END { if (NR) printf "mean %.1f, median %d, min %d, max %d over %d steps", s / NR, d[int((NR + 1) / 2)], d[1], d[NR], NR }')
total=$(sed -n 's/^insns //p' "$out/insns.txt")

verdict() { if [ "$1" -le "$2" ]; then echo "ok"; else echo "OVER BUDGET"; fi; }
echo
echo "== firmware measurements ($elf)"
row() { printf '  %-38s %7d B%s\n' "$1" "$2" "${3:+   budget $3 B  $(verdict "$2" "$3")}"; }
row "flash (text $text + data $data)" "$flash" "$FLASH_BUDGET"
row "static RAM (data $data + bss $bss)" "$static_ram"
row "peak stack (painted, from the log)" "$stack_peak"
row "static RAM + peak stack" "$ram" "$RAM_BUDGET"
echo "  instructions per environment step, learning included (mean is the figure; the"
echo "  learning of each episode lands on its last step): ${steps:-no steps counted}"
echo "  instructions in the whole run: $total (QEMU $qemu_version, $method)"

[ "$test_status" = 0 ] || { echo "firmware_qemu test FAILED: see $out/test.log" >&2; exit 1; }
[ "$flash" -le "$FLASH_BUDGET" ] && [ "$ram" -le "$RAM_BUDGET" ]
