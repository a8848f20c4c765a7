#!/usr/bin/env python3
"""Time `daiban app list` end to end (process start, catalogue load, query,
output) on a populated home: median of 21 runs, with `daiban version` as
the floor of starting a process. Usage: time-cli.py DAIBAN (with
DAIBAN_HOME set)."""
import statistics
import subprocess
import sys
import time

DAIBAN = sys.argv[1]
CASES = (
    ["app", "list", "--limit", "50"],
    ["app", "list", "--status", "accepted", "--limit", "50"],
    ["app", "list", "--overdue", "--limit", "50"],
    ["version"],
)


def timed(args, runs=21):
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([DAIBAN, *args], capture_output=True, check=True)
        ms.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ms), min(ms), max(ms), r.stdout.count(b"\n")


for args in CASES:
    med, lo, hi, lines = timed(args)
    print(f"  {' '.join(args):42s} median {med:5.1f} ms (min {lo:.1f}, max {hi:.1f}), {lines} lines")
