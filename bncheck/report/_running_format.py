"""Numbers, labels and tables as ``running_stats.md`` and its plots print them (3–4
significant digits, so regenerating on unchanged code changes no byte)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tabulate import tabulate

#: values below this (relative to sigma or sigma²) are shown as "< TINY": rounding, not error
TINY = 1e-12

Lines = list[str]


def sig(x: float, d: int = 3) -> str:
    if math.isinf(x):
        return "∞"
    return f"{x:.{d}g}"


def pm(x: float, se: float, d: int = 4) -> str:
    return f"{x:.{d}g} ± {se:.2g}"


def pct(x: float, d: int = 3) -> str:
    return f"{100 * x:.{d}g}%"


def tiny(x: float) -> str:
    return f"< {TINY:.0e}" if abs(x) < TINY else sig(x)


def momentum_text(momentum: float | None) -> str:
    return "None (cumulative)" if momentum is None else f"{momentum:g}"


def md_table(headers: str, rows: Sequence[Sequence[str]]) -> Lines:
    """A github-format table; ``headers`` separated by " | " (numbers are already strings)."""
    names = headers.split(" | ")
    text = tabulate(
        [list(r) for r in rows],
        headers=names,
        tablefmt="github",
        disable_numparse=True,
        colalign=("left",) + ("right",) * (len(names) - 1),
    )
    return [*text.splitlines(), ""]


def image(name: str, alt: str) -> Lines:
    return [f"![{alt}]({name})", ""]


def run_label(conv: str, momentum: float | None) -> str:
    return conv if momentum is None else f"{conv}({momentum:g})"
