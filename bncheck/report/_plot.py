"""Deterministic PNG plots for the reports: same code, data and matplotlib give the same bytes.

Figures are :class:`matplotlib.figure.Figure` objects drawn on an Agg canvas directly, so pyplot
(its global figure registry and interactive backend) is never involved and nothing has to be
closed. Every figure is created, drawn and saved inside :func:`style`, which starts from
matplotlib's defaults (ignoring any user ``matplotlibrc``) and applies :data:`RC`; the PNG is
written without the ``Software`` tag, the only metadata matplotlib adds by default.

Typical use::

    with figure(out / "running_bias.png", ncols=2) as (fig, (ax1, ax2)):
        ax1.plot(x, rounded(y))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cycler import cycler
from matplotlib import style as mpl_style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from numpy.typing import ArrayLike, NDArray

from bncheck.report._portable import round_sig

__all__ = [
    "COLORS",
    "DPI",
    "FIGSIZE",
    "RC",
    "figure",
    "legend_below",
    "log_xticks",
    "new_figure",
    "rounded",
    "save_png",
    "style",
    "use_agg",
]

DPI = 100
#: width, height in inches of a one-row figure (900 × 340 pixels at DPI)
FIGSIZE = (9.0, 3.4)
#: a fixed colour cycle (matplotlib's tab10 order, written out so a new default cannot move it)
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.0,
    "legend.frameon": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": FIGSIZE,
    "text.usetex": False,
    "mathtext.fontset": "dejavusans",
    "svg.hashsalt": "bncheck",
    "path.simplify": False,
    "axes.prop_cycle": cycler(color=list(COLORS)),
}


def use_agg() -> type[FigureCanvasAgg]:
    """The Agg canvas class. Selecting it per figure leaves the process-wide backend alone."""
    return FigureCanvasAgg


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib defaults plus :data:`RC`, for the duration of the block only."""
    with mpl_style.context(["default", RC]):
        yield


def new_figure(
    nrows: int = 1, ncols: int = 1, *, height: float | None = None
) -> tuple[Figure, list[Axes]]:
    """A figure of fixed width ``FIGSIZE[0]`` on an Agg canvas, and its axes (row-major list).

    Call it (and draw) inside :func:`style`, or use :func:`figure` which does both.
    """
    h = FIGSIZE[1] * nrows if height is None else height
    fig = Figure(figsize=(FIGSIZE[0], h), dpi=DPI, layout="constrained")
    use_agg()(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a byte-deterministic PNG (fixed dpi, no Software tag) and release it."""
    with style():
        fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    fig.clear()
    return path


@contextlib.contextmanager
def figure(
    path: Path, nrows: int = 1, ncols: int = 1, *, height: float | None = None
) -> Iterator[tuple[Figure, list[Axes]]]:
    """Create a figure in the fixed style, let the block draw, then :func:`save_png` it."""
    with style():
        fig, axes = new_figure(nrows, ncols, height=height)
        yield fig, axes
        save_png(fig, path)


def log_xticks(ax: Axes, ticks: ArrayLike, labels: Sequence[str] | None = None) -> None:
    """A log x axis with labelled major ticks exactly at ``ticks`` and no minor ticks."""
    values = [float(t) for t in np.asarray(ticks, dtype=np.float64).ravel()]
    ax.set_xscale("log")
    ax.set_xticks(values, [f"{t:g}" for t in values] if labels is None else list(labels))
    ax.xaxis.set_minor_locator(NullLocator())


def legend_below(ax: Axes, ncols: int = 2) -> None:
    """The legend under the axes (constrained layout makes room), for crowded panels."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=ncols)


def rounded(values: ArrayLike, sig: int = 6) -> NDArray[np.float64]:
    """``values`` rounded to ``sig`` significant digits (NaN/Inf kept).

    Plotting rounded data keeps last-bit differences of a summation order (BLAS, NumPy version)
    from moving an anti-aliased pixel and so a byte of the PNG.
    """
    return round_sig(values, sig)
