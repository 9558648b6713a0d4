"""Benchmark script: `bncheck bench`, optionally repeated (python benchmarks/bench_batchnorm.py).

Without options it is exactly ``bncheck bench``: one run, every figure a ratio from that run
(bncheck's functional API and layer against PyTorch CPU and against the compiled traffic
floor, and the peak extra memory). ``--repeat N`` makes N whole runs, prints each run's table,
then for every ratio the minimum and the median over the runs: on a shared machine one run can
be unlucky, and a ratio is only trusted when its median says the same as its minimum.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from bncheck.cli import main
from bncheck.report.bench import machine, paired_ratio, run
from bncheck.report.performance import RATIOS, render_table, verdicts


def repeated(runs: int, rounds: int) -> int:
    print(f"bncheck bench on {machine()}: {runs} runs of {rounds} interleaved rounds\n")
    tables = []
    for k in range(runs):
        timings = run(rounds=rounds)
        tables.append(timings)
        print(f"run {k + 1}\n\n{render_table(timings)}\n")
        for what, value, met in verdicts(timings):
            print(f"  {what}: {value} {met}")
        print()
    cases = list(dict.fromkeys(t.case for t in tables[0]))
    print("each ratio over the runs: min / median")
    for case in cases:
        parts = []
        for header, num, den in RATIOS:
            vals = [paired_ratio(t, case, num, den) for t in tables]
            vals = [v for v in vals if not math.isnan(v)]
            if vals:
                parts.append(f"{header} {min(vals):.2f} / {float(np.median(vals)):.2f}")
        print(f"  {case}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="whole runs (default 1)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per run")
    args = parser.parse_args()
    if args.repeat <= 1:
        sys.exit(main(["bench", "--rounds", str(args.rounds)]))
    sys.exit(repeated(args.repeat, args.rounds))
