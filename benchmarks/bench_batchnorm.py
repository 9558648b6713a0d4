"""Benchmark script: the same as `bncheck bench` (python benchmarks/bench_batchnorm.py)."""

from __future__ import annotations

import sys

from bncheck.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
