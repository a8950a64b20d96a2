#!/usr/bin/env python3
"""Per-function instruction profile of a firmware run.

Reads the per-address execution counts written by the QEMU plugin
(tools/qemu-insncount, `profile=FILE`), maps every address to its chain of inlined
functions with llvm-symbolizer (the ELF keeps its debug info), and prints:

- self: instructions whose innermost (inlined) function is F;
- inclusive: instructions executed inside F, inlined callees included (an address
  counts once per function of its inline chain);
- lines: the hottest source lines (innermost frame).

LTO inlines nearly everything into `workload::run`, so symbol sizes alone (llvm-nm) would
put the whole learner in one function; the inline chains of the DWARF line table are what
make the profile per function.

Usage: scripts/insn-profile.py ELF PROFILE [--top N] [--symbolizer PATH]
"""

import argparse
import collections
import re
import shutil
import subprocess
import sys


def clean(name: str) -> str:
    """A readable Rust name: legacy mangling escapes decoded, hash and generics dropped."""
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$C$", ","), ("$u20$", " "), ("$RF$", "&"),
                 ("$BP$", "*"), ("$u5b$", "["), ("$u5d$", "]"), ("$u7b$", "{"), ("$u7d$", "}"),
                 ("$u3b$", ";"), ("$u27$", "'"), ("..", "::")):
        name = name.replace(a, b)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    name = name.lstrip("_")
    # Drop generic arguments (nested) to group monomorphisations: Foo<_,_>::bar -> Foo::bar.
    prev = None
    while prev != name:
        prev = name
        name = re.sub(r"<[^<>]*>", "", name)
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("elf")
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--symbolizer", default=shutil.which("llvm-symbolizer") or "llvm-symbolizer")
    a = ap.parse_args()

    counts = {}
    other = 0
    with open(a.profile) as f:
        for line in f:
            addr, n = line.split()
            if addr == "other":
                other = int(n)
            else:
                counts[int(addr, 16)] = int(n)
    addrs = sorted(counts)
    out = subprocess.run(
        [a.symbolizer, f"--obj={a.elf}", "--inlining", "--functions=linkage"],
        input="".join(f"{x:#x}\n" for x in addrs), capture_output=True, text=True, check=True,
    ).stdout
    # One block per address: (function, file:line:col) pairs, innermost first, blank-separated.
    blocks = out.strip("\n").split("\n\n")
    if len(blocks) != len(addrs):
        print(f"llvm-symbolizer gave {len(blocks)} blocks for {len(addrs)} addresses", file=sys.stderr)
        return 1

    total = sum(counts.values()) + other
    self_c = collections.Counter()
    incl = collections.Counter()
    lines = collections.Counter()
    for addr, block in zip(addrs, blocks):
        n = counts[addr]
        rows = block.split("\n")
        frames = [(clean(rows[i]), rows[i + 1]) for i in range(0, len(rows) - 1, 2)]
        if not frames or frames[0][0] == "??":
            self_c["(no debug info)"] += n
            continue
        self_c[frames[0][0]] += n
        loc = re.sub(r":\d+$", "", frames[0][1])          # drop the column
        loc = re.sub(r"^.*/(core|firmware|\.cargo/registry/src/[^/]+)/", r"\1/", loc)
        lines[f"{loc}  ({frames[0][0].split('::')[-1]})"] += n
        for fn in dict.fromkeys(f for f, _ in frames):
            incl[fn] += n
    if other:
        self_c["(outside flash)"] += other

    def table(title, counter):
        print(f"\n{title}")
        print(f"  {'instructions':>14} {'share':>6}  function")
        for fn, n in counter.most_common(a.top):
            print(f"  {n:>14,} {100 * n / total:>5.1f}%  {fn}")

    print(f"total {total:,} instructions")
    table("self (innermost inlined function)", self_c)
    table("inclusive (inlined callees included)", incl)
    table("hottest source lines (innermost frame)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
