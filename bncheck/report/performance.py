"""``performance.md`` and the ``bncheck bench`` table: speed and memory against the targets.

The only report whose bytes change from run to run (timings); it names the machine. Its lines
in the index carry no numbers, so the index itself stays byte-stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from bncheck.report.bench import (
    FLOOR,
    FUNCTIONAL,
    LAYER,
    LAYER_NO_GRAD,
    TORCH,
    Timing,
    machine,
    paired_ratio,
    run,
)
from bncheck.report.build import HEADER, Built

__all__ = ["RATIOS", "TARGETS", "build", "render_table", "verdicts"]

#: (what, threshold): the performance targets of docs/design.md (reports), checked on the
#: measurements: time ratios to PyTorch (worst case over the cases of that kind), and the peak
#: extra memory of a train step (forward + backward) in input-sized arrays
TARGETS = (
    ("bncheck / PyTorch, eval, functional", 1.1),
    ("bncheck / PyTorch, eval, layer with grad=False (as PyTorch's no_grad)", 1.1),
    ("bncheck / PyTorch, eval, layer (keeps x for a backward)", 1.1),
    ("bncheck / PyTorch, float32 train, functional", 1.0),
    ("bncheck / PyTorch, float32 train, layer", 1.0),
    ("bncheck / PyTorch, float64 train, functional", 0.9),
    ("bncheck / PyTorch, float64 train, layer", 0.9),
    ("bncheck peak extra memory of a train step, input-sized arrays (growth with the batch)", 1.0),
    ("bncheck / PyTorch, LayerNorm, forward and fwd+bwd (the worse)", 1.5),
    ("bncheck / PyTorch, RMSNorm, forward and fwd+bwd (the worse)", 1.5),
    ("bncheck / PyTorch, GroupNorm, forward and fwd+bwd (the worse)", 1.5),
)
#: the family's members, as the family's case names start (bncheck.report.bench.CASES)
MEMBERS = ("LayerNorm", "RMSNorm", "GroupNorm")

#: the ratio columns of the table: (header, numerator, denominator)
RATIOS = (
    ("bncheck / PyTorch", FUNCTIONAL, TORCH),
    ("layer / PyTorch", LAYER, TORCH),
    ("layer grad=False / PyTorch", LAYER_NO_GRAD, TORCH),
    ("bncheck / floor", FUNCTIONAL, FLOOR),
    ("PyTorch / floor", TORCH, FLOOR),
)


def _by(timings: list[Timing]) -> dict[tuple[str, str], Timing]:
    return {(t.case, t.implementation): t for t in timings}


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.2f}"


def _peak_cell(t: Timing) -> str:
    if math.isnan(t.peak_growth):
        return f"{t.peak_inputs:.2f}"
    return f"{t.peak_inputs:.2f} ({t.peak_growth:.2f})"


def render_table(timings: list[Timing]) -> str:
    by = _by(timings)
    cases = list(dict.fromkeys(t.case for t in timings))
    impls = list(dict.fromkeys(t.implementation for t in timings))
    rows = []
    for case in cases:
        row: list[str] = [case]
        for impl in impls:
            t = by.get((case, impl))
            row.append("" if t is None else f"{t.median_s * 1e3:.2f}")
        row += [_fmt(paired_ratio(timings, case, num, den)) for _, num, den in RATIOS]
        peaks = [by[(case, i)] for i in (FUNCTIONAL, LAYER) if (case, i) in by]
        row.append(" / ".join(_peak_cell(t) for t in peaks))
        rows.append(row)
    headers = [
        "case",
        *[f"{i} (ms)" for i in impls],
        *[h for h, _, _ in RATIOS],
        "peak extra memory, bncheck / layer (× input: whole (growth with the batch))",
    ]
    text: str = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return text


def verdicts(timings: list[Timing]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) for each of :data:`TARGETS` the measurements can judge."""
    cases = list(dict.fromkeys(t.case for t in timings))

    def worst(prefix: str, dtype: str, impl: str) -> float:
        vals = [
            paired_ratio(timings, c, impl, TORCH)
            for c in cases
            if c.startswith(prefix) and dtype in c
        ]
        return max(vals, default=math.nan)

    peak = [
        t.peak_growth
        for t in timings
        if t.case.startswith("train") and t.implementation in (FUNCTIONAL, LAYER)
    ]
    measured = [
        worst("eval", "", FUNCTIONAL),
        worst("eval", "", LAYER_NO_GRAD),
        worst("eval", "", LAYER),
        worst("train", "float32", FUNCTIONAL),
        worst("train", "float32", LAYER),
        worst("train", "float64", FUNCTIONAL),
        worst("train", "float64", LAYER),
        max(peak, default=math.nan),
        *[worst(member, "", FUNCTIONAL) for member in MEMBERS],
    ]
    out = []
    for (what, limit), value in zip(TARGETS, measured, strict=True):
        if math.isnan(value):
            out.append((f"{what}: {limit:g}", "not measured (PyTorch not installed)", "—"))
            continue
        if "memory" in what:
            # tracemalloc counts the Python objects a call makes as well (a few hundred bytes
            # against megabytes): the memory figure is judged at the two decimals it is shown to
            value = round(value, 2)
        out.append((f"{what}: {limit:g}", f"{value:.2f}", "met" if value <= limit else "NOT met"))
    return out


def _list(timings: list[Timing], cases: list[str], num: str, den: str) -> str:
    vals = [paired_ratio(timings, c, num, den) for c in cases]
    vals = [v for v in vals if not math.isnan(v)]
    return ", ".join(f"{v:.2f}" for v in vals) if vals else "not measured"


def _family(timings: list[Timing], cases: list[str]) -> str:
    """The family's trade-off, with its measured ratios to PyTorch."""
    ratios, floors = [], []
    for member in MEMBERS:
        for mode in ("forward", "fwd+bwd"):
            mine = [c for c in cases if c.startswith(f"{member} {mode}")]
            ratios.append(f"{member} {mode} {_list(timings, mine, FUNCTIONAL, TORCH)}")
            floors.append(
                f"{member} {mode} {_list(timings, mine, FUNCTIONAL, FLOOR)} "
                f"(PyTorch {_list(timings, mine, TORCH, FLOOR)})"
            )
    return (
        "- **The normalization family** (LayerNorm, RMSNorm, GroupNorm: `bncheck.family`) "
        "rounds every result once from a double-double computation, like the BN; its target "
        "is 1.5 times PyTorch's time. bncheck / PyTorch here: "
        + "; ".join(ratios)
        + ". Its floor is arithmetic, not traffic: compiled C on the same threads doing "
        "the least a two-pass member computed in plain double does (Σ x, Σ (x − mean)², y; "
        "the backward's two sums, dx, the parameter sums), with no compensated sum, no "
        "rounding check and no checksum, so not correctly rounded. bncheck / floor (PyTorch "
        "/ floor): "
        + "; ".join(floors)
        + ". PyTorch computes in float32 (16 lanes to a 512-bit vector where double has 8), "
        "so its time can fall below this floor; what bncheck spends over the floor is the "
        "accuracy guarantee. What it does beyond PyTorch's kernels (the forward keeps x "
        "itself, with a checksum per set, as the BN does: one fresh input-sized array per "
        "call, y): it computes in float64 lanes with a double-double Σ x, a variance pass "
        "and a bound and rounding check per element, against PyTorch's float32 two-pass kernels "
        '(docs/numerics.md, "The normalization family", measures each on one thread). '
        "PyTorch's CPU RMSNorm is not one fused kernel. These are wall-clock ratios of one "
        "run; on a machine shared with other work they vary from run to run, and "
        "`python benchmarks/bench_family.py --single-thread-cpu` compares instead the CPU "
        "time each consumes on one thread (docs/numerics.md)."
    )


def _tradeoffs(timings: list[Timing]) -> list[str]:
    cases = list(dict.fromkeys(t.case for t in timings))
    trains = [c for c in cases if c.startswith("train")]
    evals = [c for c in cases if c.startswith("eval")]
    family = [c for c in cases if c.startswith(MEMBERS)]
    return [
        "- **Where the time goes.** bncheck's kernels are compiled C (bncheck/bn/_csrc, called "
        "as an extension, on channel ranges, one per OpenMP thread). The *traffic floor* is "
        "compiled C too, on the same threads: it streams just the bytes a two-pass BN must move "
        "(train: x for the statistics, x → y, x and dy for the backward sums, x and dy → dx; "
        "eval: x → y) with next to no arithmetic. On the train cases bncheck takes "
        f"{_list(timings, trains, FUNCTIONAL, FLOOR)} times the floor and PyTorch "
        f"{_list(timings, trains, TORCH, FLOOR)}; on the eval cases bncheck "
        f"{_list(timings, evals, FUNCTIONAL, FLOOR)} and PyTorch "
        f"{_list(timings, evals, TORCH, FLOOR)}. What bncheck spends over the floor is BN's "
        "arithmetic done accurately: a compensated (double-double) Σ x, a separate pass for "
        "Σ (x − mu)² (two-pass variance), double-double sums in the backward.",
        "- **No copy of x.** The forward keeps a reference to x (the layer too, in eval mode), "
        "not a copy, with a 32-bit checksum per channel computed in the pass that already reads "
        "x (Σ x in training, the pass that writes y in eval mode); the backward computes it "
        "again in its own pass over x and raises, naming the channels, if x was modified in "
        "between. The layer's `grad=False` (like PyTorch's `no_grad`) skips even the checksum. "
        "Peak extra memory of a train step is therefore one input-sized array, the output, "
        "beside the per-channel statistics and gradients.",
        "- **What accuracy costs.** float64 carries every sum and x − mu as double-double "
        "(error-free two_sum/two_prod, fused multiply-add on x86-64-v3 and -v4). float32 "
        "computes in plain float64 (29 spare bits) with double-double sums, and recomputes in "
        "double-double only the channels whose dx bracket cancels by more than 2^21 (dy nearly "
        "in the span of 1 and x_hat), so the common case does not pay for the rare one. The "
        f"train cases take {_list(timings, trains, FUNCTIONAL, TORCH)} times PyTorch's time "
        f"(the layer {_list(timings, trains, LAYER, TORCH)}).",
        "- **Threads.** Each kernel call splits the channels into one range per thread "
        "(`BNCHECK_NUM_THREADS`, default the usable CPUs, at most 8); per channel the "
        "arithmetic does not depend on the split, so results are bitwise the same for any "
        "thread count.",
        *([_family(timings, family)] if family else []),
    ]


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    rounds = 3 if quick else 15
    timings = run(rounds=rounds, progress=progress)
    lines = [
        HEADER,
        "# Performance",
        "",
        f"Measured on: {machine()}. Each implementation runs interleaved with the others, one "
        f"call per round, {rounds} rounds; times are the medians, ratios the medians of the "
        "ratios within a round (one run). Train = forward + backward; eval = forward with "
        "running statistics (PyTorch under `no_grad`); for LayerNorm, RMSNorm and GroupNorm, "
        "fwd+bwd = forward + backward, forward = a train-mode forward alone (PyTorch under "
        "`no_grad`), eps = 1e-5. `bncheck` is the functional API, "
        "`bncheck layer` the `BatchNorm` layer (in eval mode it keeps x for a backward, with "
        "a checksum; `grad=False` keeps nothing). Peak extra memory: tracemalloc's peak during "
        "one call, in arrays of the input's size (the output is one), whole and, in brackets, "
        "its growth with the batch (the peak at the case's batch minus the peak at half of it, "
        "over the difference in input bytes): the input-sized arrays a call holds, without "
        "the per-channel statistics and gradients (mean, 1/sqrt(var + eps), dgamma, dbeta) "
        "that any BN keeps or returns and that do not grow with the batch. The memory target "
        "is on the growth: the whole peak is over 1 by those vectors alone (about 11 float64 "
        "values per channel, 0.5 % of (4096, 1024) float32), and no BN can return its output "
        "and its statistics in less than one input-sized array. Timings change from run "
        "to run, so this file (like numerical_error_frameworks.md) is regenerated but never "
        "compared byte for byte.",
        "",
        render_table(timings),
        "",
        "## Targets",
        "",
        tabulate(
            verdicts(timings),
            headers=["target", "measured", ""],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
        "## Trade-offs",
        "",
        *_tradeoffs(timings),
    ]
    md = out / "performance.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = [
        "Train (forward + backward) and eval on (4096, 1024) and (64, 64, 32, 32) float32 and "
        "(4096, 1024) float64: bncheck's functional API and layer beside, where it is "
        "installed, PyTorch CPU (2 threads), and a compiled traffic floor; LayerNorm and "
        "RMSNorm of (4096, 1024) and GroupNorm of (64, 64, 32, 32) (32 groups), forward and "
        "forward + backward, beside PyTorch's.",
        "Timings and the target verdicts are in performance.md, with the machine they were "
        "measured on (they change from run to run, so this index carries no numbers).",
        "Peak extra memory is measured with tracemalloc in input-sized arrays, whole and as "
        "its growth with the batch (the per-channel statistics apart).",
    ]
    return Built([md], summary)
