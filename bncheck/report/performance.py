"""``performance.md`` and the ``bncheck bench`` table: speed and memory against the targets.

The only report whose bytes change from run to run (timings); it names the machine. Its lines
in the index carry no numbers, so the index itself stays byte-stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from bncheck.report.bench import FLOOR, Timing, machine, run
from bncheck.report.build import HEADER, Built

__all__ = ["TARGETS", "build", "render_table", "verdicts"]

TORCH = "PyTorch CPU (2 threads)"

#: (what, threshold): the performance targets of docs/design.md (reports), checked on the
#: measurements
TARGETS = (
    ("bncheck time / PyTorch time, float32 train", 2.5),
    ("bncheck time / PyTorch time, float64 train", 4.0),
    ("bncheck time / PyTorch time, eval (worst case)", 1.5),
    ("naive staged time / bncheck time (at least)", 5.0),
    ("bncheck peak extra memory, input-sized arrays", 3.0),
)


def _by(timings: list[Timing]) -> dict[tuple[str, str], Timing]:
    return {(t.case, t.implementation): t for t in timings}


def render_table(timings: list[Timing]) -> str:
    by = _by(timings)
    cases = list(dict.fromkeys(t.case for t in timings))
    impls = list(dict.fromkeys(t.implementation for t in timings))
    rows = []
    for case in cases:
        row: list[str] = [case]
        for impl in impls:
            t = by.get((case, impl))
            row.append("" if t is None else f"{t.median_s * 1e3:.1f}")
        ours = by[(case, "bncheck")].median_s
        naive = by[(case, "naive staged")].median_s
        torch = by.get((case, TORCH))
        row.append(f"{ours / torch.median_s:.2f}" if torch else "")
        row.append(f"{naive / ours:.2f}")
        floor = by.get((case, FLOOR))
        row.append(f"{naive / floor.median_s:.2f}" if floor else "")
        row.append(f"{by[(case, 'bncheck')].peak_inputs:.2f}")
        rows.append(row)
    headers = [
        "case",
        *[f"{i} (ms)" for i in impls],
        "bncheck / PyTorch",
        "naive / bncheck",
        "naive / floor",
        "bncheck peak extra memory (× input)",
    ]
    text: str = tabulate(rows, headers=headers, tablefmt="github")
    return text


def verdicts(timings: list[Timing]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) for each of :data:`TARGETS` the measurements can judge."""
    by = _by(timings)
    trains = [
        t.case for t in timings if t.implementation == "bncheck" and t.case.startswith("train")
    ]

    def ratio(case: str) -> float:
        torch = by.get((case, TORCH))
        return by[(case, "bncheck")].median_s / torch.median_s if torch else math.nan

    f32 = [ratio(c) for c in trains if "float32" in c]
    f64 = [ratio(c) for c in trains if "float64" in c]
    mine = [t.case for t in timings if t.implementation == "bncheck"]
    evals = [ratio(c) for c in mine if c.startswith("eval")]
    naive = [by[(c, "naive staged")].median_s / by[(c, "bncheck")].median_s for c in trains]
    peak = [t.peak_inputs for t in timings if t.implementation == "bncheck"]
    measured = [
        max(f32, default=math.nan),
        max(f64, default=math.nan),
        max(evals, default=math.nan),
        min(naive),
        max(peak),
    ]
    out = []
    for (what, limit), value in zip(TARGETS, measured, strict=True):
        if math.isnan(value):
            out.append((what, "not measured (PyTorch not installed)", "—"))
            continue
        met = value >= limit if "at least" in what else value <= limit
        out.append((f"{what}: {limit:g}", f"{value:.2f}", "met" if met else "NOT met"))
    return out


def _ratios(by: dict[tuple[str, str], Timing], cases: list[str], num: str, den: str) -> str:
    vals = [by[(c, num)].median_s / by[(c, den)].median_s for c in cases if (c, den) in by]
    return ", ".join(f"{v:.1f}" for v in vals) if vals else "not measured"


def _tradeoffs(timings: list[Timing]) -> list[str]:
    by = _by(timings)
    trains = [t.case for t in timings if t.implementation == FLOOR and t.case.startswith("train")]
    within = ", ".join(
        f"{by[(c, 'naive staged')].median_s / by[(c, FLOOR)].median_s / 5:.1f}" for c in trains
    )
    return [
        "- **Where the time goes.** bncheck's kernels are compiled C (bncheck/bn/_csrc, called "
        "as an extension, on channel ranges, one per OpenMP thread). The *traffic floor* column "
        "streams "
        "just the bytes a two-pass BN must move (x twice in the forward, x and dy twice in the "
        "backward, y and dx written), with no arithmetic, in one NumPy thread. On the train "
        f"cases bncheck takes {_ratios(by, trains, 'bncheck', FLOOR)} times the floor; on top "
        "of the floor it does BN's arithmetic, in double-double where needed, and copies x "
        "into the cache, so that the backward cannot see a caller's later edits.",
        "- **The naive target.** The naive staged BN takes "
        f"{_ratios(by, trains, 'naive staged', FLOOR)} times the floor on the train cases. "
        f"Being 5 times faster than it would mean running within {within} times the floor: "
        "barely more than streaming the data, with all of BN's arithmetic still to do. "
        f"PyTorch is {_ratios(by, trains, 'naive staged', TORCH)} times faster than the naive "
        "BN on the same cases. bncheck does not meet this target, and we know of no way to "
        "meet it without giving up the private copy of x or the two-pass statistics.",
        "- **What accuracy costs.** float64 carries every sum and x − mu as double-double "
        "(error-free two_sum/two_prod, fused multiply-add on x86-64-v3). float32 computes in "
        "plain float64 (29 spare bits) with double-double sums, and recomputes in double-double "
        "only the channels whose dx bracket cancels by more than 2^21 (dy nearly in the span of "
        "1 and x_hat), so the common case does not pay for the rare one. The train cases take "
        f"{_ratios(by, trains, 'bncheck', TORCH)} times PyTorch's time.",
        "- **Threads.** Each kernel call splits the channels into one range per thread "
        "(`BNCHECK_NUM_THREADS`, default the usable CPUs, at most 8); per channel the "
        "arithmetic does not depend on the split, so results are bitwise the same for any "
        "thread count.",
    ]


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    timings = run(rounds=3 if quick else 9, progress=progress)
    lines = [
        HEADER,
        "# Performance",
        "",
        f"Measured on: {machine()}. Each implementation runs interleaved with the others, one "
        f"call per round, {3 if quick else 9} rounds; the table gives the median. Train = "
        "forward + backward; eval = forward with running statistics. Peak extra memory: "
        "tracemalloc's peak during one call, in arrays of the input's size (the cache holds one "
        "copy of x). Timings change from run to run, so this file (like "
        "numerical_error_frameworks.md) is regenerated but never compared byte for byte.",
        "",
        render_table(timings),
        "",
        "## Targets",
        "",
        tabulate(verdicts(timings), headers=["target", "measured", ""], tablefmt="github"),
        "",
        "## Trade-offs",
        "",
        *_tradeoffs(timings),
    ]
    md = out / "performance.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = [
        "Train (forward + backward) and eval on (4096, 1024) and (64, 64, 32, 32) float32 and "
        "(4096, 1024) float64: bncheck beside a naive staged NumPy BN and, where it is "
        "installed, PyTorch CPU (2 threads).",
        "Timings and the target verdicts are in performance.md, with the machine they were "
        "measured on (they change from run to run, so this index carries no numbers).",
        "Peak extra memory is measured with tracemalloc in input-sized arrays.",
    ]
    return Built([md], summary)
