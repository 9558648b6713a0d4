"""``sync_stats.md``: merging batch statistics across processes, measured on real collectives.

Synchronized BN computes one batch's mean and variance from K shards held by K processes. This
report runs K = 4 processes of PyTorch's gloo backend on localhost (:mod:`bncheck.report.
_sync_rank`), merges the shard statistics with each rule through real ``all_reduce`` and
``all_gather`` calls, and compares the merged statistics with those of the whole batch, as the
largest shard grows from an equal split to nearly the whole batch. It needs PyTorch; without
it the page says so. Like ``numerical_error_frameworks.md`` it depends on an optional
framework's build, so it is regenerated but never compared byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from bncheck.report import _plot
from bncheck.report._sync_rank import RULES, batches, shard_sizes
from bncheck.report.bench import machine
from bncheck.report.build import HEADER, Built

__all__ = ["build", "measure"]

K = 4
N = 64
LARGEST = (16, 24, 32, 40, 48, 56, 61)
#: the index's lines: the same with or without PyTorch, so the index never depends on it
SUMMARY = (
    f"K = {K} processes of PyTorch's gloo backend merge shard statistics through real "
    "collectives under four rules (count-weighted, equal-weight, no between-shard term, "
    "one-pass), against shard imbalance and mean/sigma.",
    "The numbers depend on PyTorch's build (and need it installed), so they are in "
    "sync_stats.md and this index carries none of them.",
    "Count-weighted merging is the correct rule; the errors of the others follow their closed "
    "forms (tests/report/test_sync_stats.py).",
)
#: wall-clock seconds for all ranks together; a hung rank is killed with the others
DEADLINE = 300.0


def _cases(replicas: int) -> list[dict[str, Any]]:
    cases = [
        {
            "n": N,
            "sizes": shard_sizes(N, K, big),
            "mean": 5.0,
            "std": 2.0,
            "dtype": "float64",
            "replicas": replicas,
            "seed": 1000 + big,
        }
        for big in LARGEST
    ]
    cases += [
        {
            "n": N,
            "sizes": shard_sizes(N, K, N // K),
            "mean": ratio,
            "std": 1.0,
            "dtype": "float32",
            "replicas": replicas,
            "seed": 2000 + i,
        }
        for i, ratio in enumerate((10.0, 100.0, 1000.0))
    ]
    return cases


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_ranks(cases: list[dict[str, Any]]) -> list[dict[str, list[list[float]]]]:
    """Start K rank processes, feed them the cases, return rank 0's merged statistics."""
    env = dict(
        os.environ,
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        WORLD_SIZE=str(K),
        OMP_NUM_THREADS="1",
    )
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cases_file = Path(tmp) / "cases.json"
        cases_file.write_text(json.dumps(cases), encoding="utf-8")
        return _collect(procs, cases_file, env)


def _collect(
    procs: list[subprocess.Popen[str]], cases_file: Path, env: dict[str, str]
) -> list[dict[str, list[list[float]]]]:
    try:
        for rank in range(K):
            p = subprocess.Popen(
                [sys.executable, "-m", "bncheck.report._sync_rank", str(cases_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(env, RANK=str(rank)),
                start_new_session=True,
            )
            procs.append(p)
        end = time.monotonic() + DEADLINE
        outputs = []
        for rank, p in enumerate(procs):
            out, err = p.communicate(timeout=max(1.0, end - time.monotonic()))
            if p.returncode != 0:
                raise RuntimeError(f"rank {rank} exited with {p.returncode}:\n{err[-4000:]}")
            outputs.append(out)
        result: list[dict[str, list[list[float]]]] = json.loads(outputs[0])
        return result
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure(replicas: int) -> list[dict[str, Any]]:
    """Per case: the shard sizes, the data, and per rule the RMS error of the merged mean (in
    units of sigma) and the RMS relative error of the merged variance, over ``replicas``."""
    cases = _cases(replicas)
    merged = _run_ranks(cases)
    rows = []
    for case, got in zip(cases, merged, strict=True):
        x = batches(case).astype(np.float64)
        mean = x.mean(axis=1)
        var = ((x - mean[:, None]) ** 2).mean(axis=1)
        errors = {}
        for rule in RULES:
            m, v = (np.asarray(a, dtype=np.float64) for a in got[rule])
            errors[rule] = (
                math.sqrt(float(np.mean((m - mean) ** 2))) / case["std"],
                math.sqrt(float(np.mean(((v - var) / var) ** 2))),
            )
        rows.append({"case": case, "errors": errors})
    return rows


def _equal_weight_closed_form(sizes: list[int]) -> float:
    """RMS error of the equal-weight mean in units of sigma, for iid data: the error is
    Σ_s (1/K − n_s/n)·mean_s, whose weights sum to 0 and mean_s has variance sigma²/n_s, so
    its RMS is sigma·sqrt(Σ_s (1/K − n_s/n)²/n_s)."""
    n = sum(sizes)
    return math.sqrt(sum((1.0 / len(sizes) - s / n) ** 2 / s for s in sizes))


def _torch_version() -> str | None:
    """PyTorch's version when it imports here (with its distributed package), else None."""
    try:
        import torch
        import torch.distributed as dist
    except Exception:  # an install that cannot be imported counts as absent
        return None
    return str(torch.__version__) if dist.is_available() else None


def _g(v: float) -> str:
    return f"{v:.3g}"


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    md = out / "sync_stats.md"
    lines = [HEADER, "# Synchronized batch statistics across processes", ""]
    version = _torch_version()
    if version is None:
        lines += [
            "PyTorch is not installed here (`pip install torch==2.13.0`), so nothing was "
            "measured: this page needs its gloo backend."
        ]
        md.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Built([md], list(SUMMARY))
    if progress is not None:
        progress("synchronized statistics on 4 gloo processes")
    replicas = 200 if quick else 2000
    rows = measure(replicas)
    imbalance = [r for r in rows if r["case"]["dtype"] == "float64"]
    onepass = [r for r in rows if r["case"]["dtype"] == "float32"]
    lines += [
        f"K = {K} processes of PyTorch's gloo backend on localhost ({machine()}) hold the "
        f"shards of one batch of n = {N} values; "
        "each merge rule runs through real `all_reduce`/`all_gather` calls, and the merged "
        "statistics are compared with the whole batch's (float64), "
        f"{replicas} batches per row. Mean error: RMS in units of sigma; variance error: RMS "
        "relative error. Rules: **count-weighted** (Chan's merge of (n, Σx, M2) with the "
        "between-shard term: what bncheck's `merge_shards` and a correct SyncBN do), "
        "**equal-weight** (the plain average of the shards' means and variances), "
        "**no-between-term** (the right mean, variance without Σ n_s·(mean_s − mean)²), "
        "**one-pass** (Σx and Σx² reduced in the data's dtype, var = E[x²] − E[x]²). "
        "This page depends on PyTorch's build, so it is regenerated but not compared byte "
        "for byte.",
        "",
        "## Against shard imbalance (float64 data from N(5, 4))",
        "",
    ]
    header = [
        "shard sizes",
        "largest share",
        *[f"mean: {r}" for r in RULES],
        "mean: equal-weight, closed form",
        *[f"var: {r}" for r in RULES],
    ]
    table = []
    for r in imbalance:
        sizes = r["case"]["sizes"]
        table.append(
            [
                " ".join(map(str, sizes)),
                _g(sizes[-1] / N),
                *[_g(r["errors"][k][0]) for k in RULES],
                _g(_equal_weight_closed_form(sizes)),
                *[_g(r["errors"][k][1]) for k in RULES],
            ]
        )
    lines += [tabulate(table, header, tablefmt="github"), ""]
    lines += [
        "## One-pass variance against mean/sigma (float32 data, equal shards)",
        "",
        tabulate(
            [[_g(r["case"]["mean"]), *[_g(r["errors"][k][1]) for k in RULES]] for r in onepass],
            ["mean/sigma", *[f"var: {r}" for r in RULES]],
            tablefmt="github",
        ),
        "",
        "![merge rules against imbalance](sync_stats.png)",
    ]
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    png = _plot_errors(out / "sync_stats.png", imbalance)
    summary = list(SUMMARY)
    return Built([md, png], summary)


def _plot_errors(path: Path, rows: list[dict[str, Any]]) -> Path:
    share = [r["case"]["sizes"][-1] / N for r in rows]
    with _plot.figure(path, ncols=2) as (_fig, axes):
        for col, (ax, what) in enumerate(
            zip(axes, ("mean (sigma)", "variance (relative)"), strict=True)
        ):
            for i, rule in enumerate(RULES):
                err = [max(r["errors"][rule][col], 1e-17) for r in rows]
                ax.semilogy(
                    share, _plot.rounded(err), marker="o", color=_plot.COLORS[i], label=rule
                )
            ax.set_xlabel("largest shard's share of the batch")
            ax.set_title(f"RMS error of the merged {what}")
        _plot.legend_below(axes[0], ncols=2)
    return path
