#!/usr/bin/env python3
"""Copies a results tree with everything that depends on the clock or the command line
removed, so two runs of the same computation compare equal byte for byte.

usage: normalize-results.py SRC DST

CSV: columns named in TIMING are dropped. JSON: keys named in TIMING (at any depth) are
dropped; the rest is re-serialised with sorted keys and floats printed by repr (exact).
PNG files are skipped (plots are not compared). Every other number is kept as written.
"""
import csv, io, json, os, sys

TIMING = {
    # wall-clock and throughput figures
    "wall_time_s", "wall_seconds", "wall_seconds_per_seed", "steps_per_second",
    "train_seconds", "iters_per_s", "seconds", "estimates", "estimates_per_s",
    "ns_per_estimate",
    # the command line (it names the binary's path)
    "command",
}


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in TIMING}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def main(src, dst):
    n = 0
    for root, _dirs, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            out = os.path.join(dst, rel)
            if name.endswith(".csv"):
                with open(path, newline="") as f:
                    rows = list(csv.reader(f))
                keep = [i for i, h in enumerate(rows[0]) if h not in TIMING] if rows else []
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                for r in rows:
                    w.writerow([r[i] for i in keep if i < len(r)])
                text = buf.getvalue()
            elif name.endswith(".json"):
                with open(path) as f:
                    text = json.dumps(strip(json.load(f)), indent=1, sort_keys=True) + "\n"
            else:
                continue
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "w") as f:
                f.write(text)
            n += 1
    print(f"normalized {n} files from {src} into {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
