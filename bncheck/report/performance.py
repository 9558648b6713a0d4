"""``performance.md`` and the ``bncheck bench`` table: speed and memory against the targets.

The only report whose bytes change from run to run (timings); it names the machine. Its lines
in the index carry no numbers, so the index itself stays byte-stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from bncheck.benchmark import Timing, machine, run
from bncheck.report.build import HEADER, Built

__all__ = ["TARGETS", "build", "render_table", "verdicts"]

TORCH = "PyTorch CPU (2 threads)"

#: (what, threshold, how it is computed): DESIGN / issue targets, checked on the measurements
TARGETS = (
    ("bncheck time / PyTorch time, float32 train", 2.5),
    ("bncheck time / PyTorch time, float64 train", 4.0),
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
        row.append(f"{by[(case, 'bncheck')].peak_inputs:.2f}")
        rows.append(row)
    headers = [
        "case",
        *[f"{i} (ms)" for i in impls],
        "bncheck / PyTorch",
        "naive / bncheck",
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
    naive = [by[(c, "naive staged")].median_s / by[(c, "bncheck")].median_s for c in trains]
    peak = [t.peak_inputs for t in timings if t.implementation == "bncheck"]
    measured = [max(f32, default=math.nan), max(f64, default=math.nan), min(naive), max(peak)]
    out = []
    for (what, limit), value in zip(TARGETS, measured, strict=True):
        if math.isnan(value):
            out.append((what, "not measured (PyTorch not installed)", "—"))
            continue
        met = value >= limit if "at least" in what else value <= limit
        out.append((f"{what}: {limit:g}", f"{value:.2f}", "met" if met else "NOT met"))
    return out


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
        "copy of x). Timings change from run to run; nothing else in reports/ does.",
        "",
        render_table(timings),
        "",
        "## Targets",
        "",
        tabulate(verdicts(timings), headers=["target", "measured", ""], tablefmt="github"),
        "",
        "## Trade-offs",
        "",
        "bncheck computes every reduction in float64 with pairwise sums, compensates the means "
        "of x and dy, and switches to a cancellation-free projection when the backward would "
        "cancel (m = 2, dy nearly parallel to x_hat); float16/float32 inputs are converted to "
        "float64 once. These buy the accuracy of numerical_error.md and cost passes over the "
        "data that a BN computing in the input dtype does not make.",
    ]
    md = out / "performance.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = [
        "Train (forward + backward) and eval on (4096, 1024) and (64, 64, 32, 32) float32 and "
        "(4096, 1024) float64: bncheck beside a naive staged NumPy BN"
        + (
            " and PyTorch CPU (2 threads)."
            if any(t.implementation == TORCH for t in timings)
            else "."
        ),
        "Timings and the target verdicts are in performance.md, with the machine they were "
        "measured on (they change from run to run, so this index carries no numbers).",
        "Peak extra memory is measured with tracemalloc in input-sized arrays.",
    ]
    return Built([md], summary)
