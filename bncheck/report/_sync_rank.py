"""One rank of the synchronized-statistics measurement (``python -m bncheck.report._sync_rank``).

Started K times by :mod:`bncheck.report.sync_stats`, each with ``RANK``, ``WORLD_SIZE`` and the
rendezvous address in its environment. Every rank draws the same global batches from a fixed
seed and keeps its own shard; the shard statistics are merged with real collectives of
PyTorch's gloo backend under each merge rule, and rank 0 prints one JSON object with the merged
statistics of every case (the parent compares them with the whole-batch truth).

Merge rules (what each rank contributes, then what the all-reduced sums give):

- ``count-weighted``: (n_s, Σx, M2_s = Σ(x − mean_s)²) all-reduced; mean = Σx / n and
  M2 = Σ M2_s + Σ n_s·(mean_s − mean)² (Chan et al.), the between-shard term from an
  all-gather of (n_s, mean_s).
- ``equal-weight``: mean_s and the biased var_s all-reduced and divided by K.
- ``no-between-term``: the count-weighted mean, but variance Σ M2_s / n (the between-shard
  term left out).
- ``one-pass``: (n_s, Σx, Σx²) all-reduced in the data's dtype; var = Σx²/n − mean².
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

import numpy as np

RULES = ("count-weighted", "equal-weight", "no-between-term", "one-pass")


def shard_sizes(n: int, k: int, largest: int) -> list[int]:
    """K shard sizes summing to ``n`` with the last one holding ``largest`` rows, the others
    as equal as possible (each at least 1)."""
    rest = n - largest
    if not (k - 1 <= rest and largest >= 1):
        raise ValueError(f"largest={largest} leaves {rest} rows for {k - 1} shards")
    base, extra = divmod(rest, k - 1)
    return [base + (1 if i < extra else 0) for i in range(k - 1)] + [largest]


def batches(case: dict[str, Any]) -> np.ndarray:
    """The global batches of one case, (replicas, n), the same on every rank."""
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(case["mean"], case["std"], size=(case["replicas"], case["n"]))
    return x.astype(case["dtype"])


def _merge(torch: Any, dist: Any, rule: str, xs: Any, k: int) -> tuple[Any, Any]:
    """Merged (mean, biased var) over all ranks, one per replica (float64 tensors)."""
    n_s = torch.full((xs.shape[0],), float(xs.shape[1]), dtype=torch.float64)
    if rule == "one-pass":
        s1, s2 = xs.sum(dim=1), (xs * xs).sum(dim=1)  # in the data's dtype
        stats = torch.stack([s1, s2])
        dist.all_reduce(stats)
        n = n_s.clone()
        dist.all_reduce(n)
        mean = stats[0].double() / n
        return mean, stats[1].double() / n - mean * mean
    x64 = xs.double()
    mean_s = x64.mean(dim=1)
    m2_s = ((x64 - mean_s[:, None]) ** 2).sum(dim=1)
    if rule == "equal-weight":
        stats = torch.stack([mean_s, m2_s / n_s])
        dist.all_reduce(stats)
        return stats[0] / k, stats[1] / k
    sums = torch.stack([n_s, x64.sum(dim=1), m2_s])
    dist.all_reduce(sums)
    n, mean = sums[0], sums[1] / sums[0]
    if rule == "no-between-term":
        return mean, sums[2] / n
    gathered = [torch.empty(2, xs.shape[0], dtype=torch.float64) for _ in range(k)]
    dist.all_gather(gathered, torch.stack([n_s, mean_s]))
    between = sum(g[0] * (g[1] - mean) ** 2 for g in gathered)
    return mean, (sums[2] + between) / n


def main() -> int:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank, k = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    with open(sys.argv[1], encoding="utf-8") as fh:
        cases = json.load(fh)
    dist.init_process_group("gloo", rank=rank, world_size=k, timeout=datetime.timedelta(seconds=60))
    try:
        results = []
        for case in cases:
            sizes = case["sizes"]
            start = sum(sizes[:rank])
            xs = torch.from_numpy(batches(case)[:, start : start + sizes[rank]].copy())
            merged = {}
            for rule in RULES:
                mean, var = _merge(torch, dist, rule, xs, k)
                merged[rule] = [mean.tolist(), var.tolist()]
            results.append(merged)
        if rank == 0:
            print(json.dumps(results))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
